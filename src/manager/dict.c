/*
 * manager/dict.c - the shared dict (DictProxy) in the manager's region.
 *
 * A dict is a header (lock, table offset, version) and a table: entries in
 * insertion order (hash, key block, value block; a removed entry has key
 * 0) and an open-addressing index of entry numbers + 1.  Publishing stores:
 * a new entry becomes part of the dict when `used` covers it, a removal
 * when its key is zeroed, a new value when its offset is stored, a resized
 * table when the header's offset is.  The index and the live count are
 * derived, and rebuilt (repair) by whoever takes the lock from a dead
 * owner.  Key blocks hold the key's canonical bytes (equal keys, equal
 * bytes: 1, 1.0 and True share them) and its pickle.
 */
#include <errno.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "manager/obj_int.h"
#include "manager/remote_int.h"

struct dent {
	uint64_t hash;
	uint64_t key; /* key block offset; 0: removed */
	uint64_t val; /* value block offset */
};

struct dtable {
	uint64_t cap;  /* entries */
	uint64_t icap; /* index slots, a power of 2 >= 2 cap */
	uint64_t used; /* entries published */
	uint64_t live; /* entries not removed (derived) */
	struct dent e[];
	/* then uint32_t idx[icap] */
};

struct kblock {
	uint64_t clen; /* canonical bytes */
	uint64_t plen; /* pickle bytes, after them */
	unsigned char data[];
};

static struct dtable *tab(const mp_dictproxy_t *d)
{
	return mpi_at(d->r, d->table);
}

static uint32_t *idx_of(struct dtable *t)
{
	return (uint32_t *)(t->e + t->cap);
}

static int closed(const mp_dictproxy_t *d)
{
	if (d->remote == NULL && mpi_region_closed(d->r))
		return mpi_why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

static void index_put(struct dtable *t, uint64_t h, uint64_t j)
{
	uint32_t *idx = idx_of(t);
	uint64_t mask = t->icap - 1, i = h & mask;

	while (idx[i] != 0)
		i = (i + 1) & mask;
	idx[i] = (uint32_t)(j + 1);
}

/* Rebuild the derived parts after an owner died holding the lock. */
static void repair(mp_dictproxy_t *d)
{
	struct dtable *t = tab(d);
	uint64_t j, live = 0;

	memset(idx_of(t), 0, t->icap * sizeof(uint32_t));
	for (j = 0; j < t->used; j++) {
		if (t->e[j].key == 0)
			continue;
		index_put(t, t->e[j].hash, j);
		live++;
	}
	t->live = live;
	d->version++;
}

static void lock(mp_dictproxy_t *d)
{
	bool dead;

	mpi_obj_lock(&d->lock, &dead);
	if (dead)
		repair(d);
}

static void unlock(mp_dictproxy_t *d)
{
	mpi_obj_unlock(&d->lock);
}

static uint64_t new_table(struct mpi_region *r, uint64_t cap)
{
	uint64_t icap = 8, off, sz;
	struct dtable *t;

	while (icap < 2 * cap)
		icap *= 2;
	sz = sizeof(*t) + cap * sizeof(struct dent) + icap * sizeof(uint32_t);
	if (cap > UINT32_MAX / 4 || (off = mpi_region_alloc(r, sz)) == 0)
		return 0;
	t = mpi_at(r, off);
	t->cap = cap;
	t->icap = icap;
	t->used = 0;
	t->live = 0;
	memset(idx_of(t), 0, icap * sizeof(uint32_t));
	return off;
}

/* Replace the table by a compacted one with room for more. */
static int grow(mp_dictproxy_t *d)
{
	struct dtable *t = tab(d), *n;
	uint64_t off, old = d->table, j, k = 0;

	off = new_table(d->r, t->live < 4 ? 8 : t->live * 2);
	if (off == 0)
		return -ENOMEM;
	n = mpi_at(d->r, off);
	for (j = 0; j < t->used; j++) {
		if (t->e[j].key == 0)
			continue;
		n->e[k] = t->e[j];
		index_put(n, n->e[k].hash, k);
		k++;
	}
	n->used = k;
	n->live = k;
	__atomic_store_n(&d->table, off, __ATOMIC_RELEASE);
	mpi_region_free(d->r, old);
	return 0;
}

/*
 * A key being looked up: its canonical bytes and hash.  A str or bytes key
 * (the common case) does not build them: its canonical bytes are a tag, its
 * length (8 bytes) and its data, compared in place.
 */
struct key {
	const mp_obj_t *obj;
	struct mpi_kbuf kb;
	bool text;       /* str or bytes: kb unused */
	unsigned char tag[9];
	uint64_t h;
};

static size_t key_len(const struct key *k)
{
	return k->text ? 9 + k->obj->u.s.len : k->kb.len;
}

static int key_prep(const mp_dictproxy_t *d, const mp_obj_t *obj,
		    struct key *k)
{
	uint64_t len;
	int rc;

	k->obj = obj;
	mpi_kbuf_init(&k->kb);
	k->text = obj->kind == MP_OBJ_STR || obj->kind == MP_OBJ_BYTES;
	if (k->text) {
		/* the bytes mpi_key_canon writes for it */
		len = obj->u.s.len;
		k->tag[0] = obj->kind == MP_OBJ_STR ? 'S' : 'Y';
		memcpy(k->tag + 1, &len, 8);
		/* any function of the canonical bytes will do */
		k->h = mpi_key_hash(d->r->seed ^ obj->kind, obj->u.s.data,
				    obj->u.s.len);
		return 0;
	}
	if ((rc = mpi_key_canon(obj, &k->kb)) < 0) {
		mpi_kbuf_release(&k->kb);
		return rc;
	}
	k->h = mpi_key_hash(d->r->seed, k->kb.p, k->kb.len);
	return 0;
}

/* Write k's canonical bytes at p (key_len bytes). */
static void key_write(const struct key *k, unsigned char *p)
{
	if (k->text) {
		memcpy(p, k->tag, 9);
		memcpy(p + 9, k->obj->u.s.data, k->obj->u.s.len);
	} else {
		memcpy(p, k->kb.p, k->kb.len);
	}
}

static bool key_is(const mp_dictproxy_t *d, const struct dent *e,
		   const struct key *k)
{
	const struct kblock *b;

	if (e->key == 0 || e->hash != k->h)
		return false;
	b = mpi_at(d->r, e->key);
	if (b->clen != key_len(k))
		return false;
	if (k->text)
		return memcmp(b->data, k->tag, 9) == 0 &&
		       memcmp(b->data + 9, k->obj->u.s.data,
			      k->obj->u.s.len) == 0;
	return memcmp(b->data, k->kb.p, k->kb.len) == 0;
}

/* The entry of key k, or -1. */
static int64_t find(mp_dictproxy_t *d, const struct key *k)
{
	struct dtable *t = tab(d);
	uint32_t *idx = idx_of(t);
	uint64_t mask = t->icap - 1, i = k->h & mask, j;

	while (idx[i] != 0) {
		j = idx[i] - 1;
		if (j < t->used && key_is(d, &t->e[j], k))
			return (int64_t)j;
		i = (i + 1) & mask;
	}
	return -1;
}

static int key_error(const mp_obj_t *key)
{
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc;

	if ((rc = mpi_obj_repr(key, &b, &cap)) < 0) {
		mpi_free(b.data);
		return mpi_why(-ENOENT, "KeyError");
	}
	rc = mpi_why(-ENOENT, "KeyError: %s", b.data);
	mpi_free(b.data);
	return rc;
}

static int put_key(mp_dictproxy_t *d, const struct key *k, uint64_t *off)
{
	struct kblock *b;
	mp_bytes_t p;
	size_t n;
	int rc;

	if ((rc = mpi_pickle_dumps(k->obj, MP_PICKLE_DEFAULT_PROTOCOL, &p)) < 0)
		return rc;
	n = sizeof(*b) + key_len(k) + p.len;
	if ((*off = mpi_region_alloc(d->r, n)) == 0) {
		mpi_free(p.data);
		return -ENOMEM;
	}
	b = mpi_at(d->r, *off);
	b->clen = key_len(k);
	b->plen = p.len;
	key_write(k, b->data);
	memcpy(b->data + b->clen, p.data, p.len);
	mpi_free(p.data);
	return 0;
}

static int get_key(const mp_dictproxy_t *d, uint64_t off, mp_obj_t **out)
{
	const struct kblock *b = mpi_at(d->r, off);

	return mpi_pickle_loads(b->data + b->clen, b->plen, out);
}

/* Set under the lock: the value block voff is taken (freed on failure). */
static int set_locked(mp_dictproxy_t *d, const struct key *k, uint64_t voff)
{
	struct dtable *t;
	uint64_t koff, old, used;
	int64_t j = find(d, k);
	int rc;

	if (j >= 0) {
		t = tab(d);
		old = t->e[j].val;
		__atomic_store_n(&t->e[j].val, voff, __ATOMIC_RELEASE);
		mpi_region_free(d->r, old);
		return 0;
	}
	if ((rc = put_key(d, k, &koff)) < 0)
		goto fail;
	t = tab(d);
	if (t->used == t->cap) {
		if ((rc = grow(d)) < 0) {
			mpi_region_free(d->r, koff);
			goto fail;
		}
		t = tab(d);
	}
	used = t->used;
	t->e[used].hash = k->h;
	t->e[used].key = koff;
	t->e[used].val = voff;
	__atomic_store_n(&t->used, used + 1, __ATOMIC_RELEASE);
	index_put(t, k->h, used);
	t->live++;
	d->version++;
	return 0;
fail:
	mpi_region_free(d->r, voff);
	return rc;
}

static void del_locked(mp_dictproxy_t *d, uint64_t j)
{
	struct dtable *t = tab(d);
	uint64_t koff = t->e[j].key, voff = t->e[j].val;

	__atomic_store_n(&t->e[j].key, 0, __ATOMIC_RELEASE);
	t->live--;
	d->version++;
	mpi_region_free(d->r, koff);
	mpi_region_free(d->r, voff);
}

int mpi_dict_new(struct mpi_region *r, const mp_obj_t *init,
		 struct mp_dictproxy **out)
{
	struct mp_dictproxy *d;
	uint64_t off, toff;
	size_t i;
	int rc;

	if ((off = mpi_region_alloc(r, sizeof(*d))) == 0)
		return -ENOMEM;
	if ((toff = new_table(r, 8)) == 0) {
		mpi_region_free(r, off);
		return -ENOMEM;
	}
	d = mpi_at(r, off);
	d->lock = 0;
	d->table = toff;
	d->version = 0;
	d->r = r;
	for (i = 0; init != NULL && i < init->u.c.n; i++) {
		struct key k;
		uint64_t voff;

		if ((rc = key_prep(d, init->u.c.v[2 * i], &k)) < 0)
			return rc; /* the blocks stay: a leak in the region */
		rc = mpi_region_put_obj(r, init->u.c.v[2 * i + 1], &voff);
		if (rc == 0)
			rc = set_locked(d, &k, voff);
		mpi_kbuf_release(&k.kb);
		if (rc < 0)
			return rc;
	}
	*out = d;
	return 0;
}

/* ---- the public functions ---- */

#define CHECK_D(d)                                                            \
	do {                                                                  \
		MPI_CHECK_NULL(d);                                            \
		if ((rc = closed(d)) < 0)                                     \
			return MPI_RAISE(rc);                                 \
	} while (0)

/* d[key] into *out: 0, or -ENOENT with a KeyError reason, or a code. */
static int dict_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = key_prep(d, key, &k)) < 0)
		return rc;
	lock(d);
	j = find(d, &k);
	if (j < 0)
		rc = key_error(key);
	else
		rc = mpi_region_get_obj(d->r, tab(d)->e[j].val, out);
	unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

/* setdefault and popitem remotely: the result's shapes. */
static int rsetdefault(mp_dictproxy_t *d, const mp_obj_t *key,
		       const mp_obj_t *dflt, mp_obj_t **out)
{
	mp_obj_t *none = dflt ? NULL : mp_obj_none(), *r = NULL;
	int rc = mpi_rdict_op(d->remote, "setdefault", key, dflt ? dflt : none,
			      &r);

	mp_obj_free(none);
	if (out != NULL)
		*out = r;
	else
		mp_obj_free(r);
	return rc;
}

static int rpopitem(mp_dictproxy_t *d, mp_obj_t **key, mp_obj_t **value)
{
	const mp_obj_t *k, *v;
	mp_obj_t *r = NULL;
	int rc = mpi_rdict_op(d->remote, "popitem", NULL, NULL, &r);

	if (rc == 0 && (mp_obj_item(r, 0, &k) < 0 || mp_obj_item(r, 1, &v) < 0))
		rc = mpi_why(-EPROTO, "popitem() did not return a pair");
	if (rc == 0 && key != NULL && (*key = mp_obj_copy(k)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && value != NULL && (*value = mp_obj_copy(v)) == NULL) {
		rc = -ENOMEM;
		if (key != NULL) {
			mp_obj_free(*key);
			*key = NULL;
		}
	}
	mp_obj_free(r);
	return rc;
}

int mp_dictproxy_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__getitem__", key, NULL, out));
	if ((rc = dict_get(d, key, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_set(mp_dictproxy_t *d, const mp_obj_t *key,
		     const mp_obj_t *value)
{
	struct key k;
	uint64_t voff;
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	MPI_CHECK_NULL(value);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__setitem__", key, value, NULL));
	if ((rc = key_prep(d, key, &k)) < 0)
		return MPI_RAISE(rc);
	if ((rc = mpi_region_put_obj(d->r, value, &voff)) == 0) {
		lock(d);
		rc = set_locked(d, &k, voff);
		unlock(d);
	}
	mpi_kbuf_release(&k.kb);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

/* Remove key, its value into *out when out is not NULL. */
static int pop_key(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = key_prep(d, key, &k)) < 0)
		return rc;
	lock(d);
	j = find(d, &k);
	if (j < 0) {
		rc = key_error(key);
	} else {
		if (out != NULL)
			rc = mpi_region_get_obj(d->r, tab(d)->e[j].val, out);
		if (rc == 0)
			del_locked(d, (uint64_t)j);
	}
	unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_del(mp_dictproxy_t *d, const mp_obj_t *key)
{
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__delitem__", key, NULL, NULL));
	if ((rc = pop_key(d, key, NULL)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_pop(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "pop", key, NULL, out));
	if ((rc = pop_key(d, key, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_contains(mp_dictproxy_t *d, const mp_obj_t *key)
{
	struct key k;
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rint(d->remote, "__contains__", key));
	if ((rc = key_prep(d, key, &k)) < 0)
		return MPI_RAISE(rc);
	lock(d);
	rc = find(d, &k) >= 0;
	unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_len(mp_dictproxy_t *d)
{
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rint(d->remote, "__len__", NULL));
	lock(d);
	rc = (int)tab(d)->live;
	unlock(d);
	return rc;
}

/* (k, v) as a new tuple, taking both; NULL on -ENOMEM (both freed). */
static mp_obj_t *pair(mp_obj_t *k, mp_obj_t *v)
{
	mp_obj_t *t = mpi_obj_new(MP_OBJ_TUPLE);

	if (t == NULL) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return NULL;
	}
	if (mpi_obj_append(t, k) < 0) {
		mpi_obj_decref(v);
		mpi_obj_decref(t);
		return NULL;
	}
	if (mpi_obj_append(t, v) < 0) {
		mpi_obj_decref(t);
		return NULL;
	}
	return t;
}

enum { WANT_KEYS, WANT_VALUES, WANT_ITEMS, WANT_DICT };

static int collect(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	mp_obj_t *res, *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (d->remote != NULL)
		return mpi_rdict_op(d->remote, want == WANT_KEYS ? "keys"
				    : want == WANT_VALUES ? "values"
				    : want == WANT_ITEMS ? "items" : "copy",
				    NULL, NULL, out);
	res = mpi_obj_new(want == WANT_DICT ? MP_OBJ_DICT : MP_OBJ_LIST);
	if (res == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	lock(d);
	t = tab(d);
	for (j = 0; j < t->used && rc == 0; j++) {
		if (t->e[j].key == 0)
			continue;
		k = v = NULL;
		if (want != WANT_VALUES)
			rc = get_key(d, t->e[j].key, &k);
		if (rc == 0 && want != WANT_KEYS)
			rc = mpi_region_get_obj(d->r, t->e[j].val, &v);
		if (rc < 0) {
			mpi_obj_decref(k);
			break;
		}
		if (want == WANT_DICT)
			rc = mpi_obj_setitem(res, k, v);
		else if (want == WANT_ITEMS)
			rc = (k = pair(k, v)) != NULL
				     ? mpi_obj_append(res, k)
				     : mpi_why(-ENOMEM, "out of memory");
		else
			rc = mpi_obj_append(res, k != NULL ? k : v);
	}
	unlock(d);
	if (rc < 0) {
		mpi_obj_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

static int collect_pub(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	CHECK_D(d);
	if ((rc = collect(d, want, out)) < 0)
		return mpi_error(rc, want == WANT_KEYS     ? "mp_dictproxy_keys"
				     : want == WANT_VALUES ? "mp_dictproxy_values"
				     : want == WANT_ITEMS  ? "mp_dictproxy_items"
							   : "mp_dictproxy_copy",
				 "%s", mpi_reason(rc));
	return 0;
}

int mp_dictproxy_keys(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_KEYS, out);
}

int mp_dictproxy_values(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_VALUES, out);
}

int mp_dictproxy_items(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_ITEMS, out);
}

int mp_dictproxy_copy(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_DICT, out);
}

int mp_dictproxy_update(mp_dictproxy_t *d, const mp_obj_t *other)
{
	struct key k;
	uint64_t voff;
	size_t i;
	int rc = 0;

	CHECK_D(d);
	MPI_CHECK_NULL(other);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "update", other, NULL, NULL));
	if (other->kind != MP_OBJ_DICT)
		return MPI_ERR(-EINVAL, "TypeError: other is a '%s', not a "
					"dict", mp_obj_kind_name(other->kind));
	lock(d);
	for (i = 0; i < other->u.c.n && rc == 0; i++) {
		if ((rc = key_prep(d, other->u.c.v[2 * i], &k)) < 0)
			break;
		rc = mpi_region_put_obj(d->r, other->u.c.v[2 * i + 1], &voff);
		if (rc == 0)
			rc = set_locked(d, &k, voff);
		mpi_kbuf_release(&k.kb);
	}
	unlock(d);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_dictproxy_setdefault(mp_dictproxy_t *d, const mp_obj_t *key,
			    const mp_obj_t *dflt, mp_obj_t **out)
{
	mp_obj_t *none = NULL;
	struct key k;
	uint64_t voff = 0;
	int64_t j;
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(rsetdefault(d, key, dflt, out));
	if (dflt == NULL && (dflt = none = mpi_obj_new(MP_OBJ_NONE)) == NULL)
		return MPI_ERR(-ENOMEM, "out of memory");
	if ((rc = key_prep(d, key, &k)) < 0)
		goto out;
	lock(d);
	j = find(d, &k);
	if (j < 0 && (rc = mpi_region_put_obj(d->r, dflt, &voff)) == 0)
		rc = set_locked(d, &k, voff);
	if (rc == 0 && out != NULL) {
		j = find(d, &k);
		rc = mpi_region_get_obj(d->r, tab(d)->e[j].val, out);
	}
	unlock(d);
	mpi_kbuf_release(&k.kb);
out:
	mpi_obj_decref(none);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_dictproxy_popitem(mp_dictproxy_t *d, mp_obj_t **key, mp_obj_t **value)
{
	mp_obj_t *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (key != NULL)
		*key = NULL;
	if (value != NULL)
		*value = NULL;
	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(rpopitem(d, key, value));
	lock(d);
	t = tab(d);
	for (j = t->used; j > 0 && t->e[j - 1].key == 0; j--)
		;
	if (j == 0) {
		rc = mpi_why(-ENOENT, "KeyError: 'popitem(): dictionary is "
				      "empty'");
	} else {
		j--;
		if ((rc = get_key(d, t->e[j].key, &k)) == 0 &&
		    (rc = mpi_region_get_obj(d->r, t->e[j].val, &v)) == 0)
			del_locked(d, j);
	}
	unlock(d);
	if (rc < 0) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return MPI_RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	else
		mpi_obj_decref(k);
	if (value != NULL)
		*value = v;
	else
		mpi_obj_decref(v);
	return 0;
}

int mp_dictproxy_clear(mp_dictproxy_t *d)
{
	struct dtable *t;
	uint64_t j;
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "clear", NULL, NULL, NULL));
	lock(d);
	t = tab(d);
	for (j = t->used; j-- > 0;)
		if (t->e[j].key != 0)
			del_locked(d, j);
	unlock(d);
	return 0;
}

int mp_dictproxy_apply(mp_dictproxy_t *d, const mp_obj_t *key,
		       mp_dictproxy_apply_fn fn, void *arg)
{
	mp_obj_t *cur = NULL, *nv = NULL;
	struct key k;
	uint64_t voff;
	int64_t j;
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	MPI_CHECK_NULL(fn);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_why(-ENOTSUP, "a remote dict has no atomic apply: take a lock"));
	if ((rc = key_prep(d, key, &k)) < 0)
		return MPI_RAISE(rc);
	lock(d);
	j = find(d, &k);
	if (j >= 0)
		rc = mpi_region_get_obj(d->r, tab(d)->e[j].val, &cur);
	if (rc == 0 && (rc = fn(cur, arg, &nv)) < 0) {
		mpi_obj_decref(nv);
		nv = NULL;
		rc = mpi_why(rc, "callback failed: %s", mp_strerror(rc));
	}
	if (rc == 0 && nv != NULL &&
	    (rc = mpi_region_put_obj(d->r, nv, &voff)) == 0)
		rc = set_locked(d, &k, voff);
	unlock(d);
	mpi_obj_decref(nv);
	mpi_obj_decref(cur);
	mpi_kbuf_release(&k.kb);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_dictproxy_iter(mp_dictproxy_t *d, mp_dictproxy_iter_t *it)
{
	int rc;

	MPI_CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_why(-ENOTSUP, "a remote dict is not iterated: use keys or items"));
	lock(d);
	it->_pos = 0;
	it->_len = tab(d)->live;
	it->_version = d->version;
	unlock(d);
	return 0;
}

int mp_dictproxy_next(mp_dictproxy_t *d, mp_dictproxy_iter_t *it,
		      mp_obj_t **key, mp_obj_t **value)
{
	mp_obj_t *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (key != NULL)
		*key = NULL;
	if (value != NULL)
		*value = NULL;
	MPI_CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_why(-ENOTSUP, "a remote dict is not iterated: use keys or items"));
	lock(d);
	t = tab(d);
	if (t->live != it->_len)
		rc = mpi_why(-EBUSY, "RuntimeError: dictionary changed size "
				     "during iteration");
	else if (d->version != it->_version)
		rc = mpi_why(-EBUSY, "RuntimeError: dictionary keys changed "
				     "during iteration");
	for (j = it->_pos; rc == 0 && j < t->used && t->e[j].key == 0; j++)
		;
	if (rc == 0 && j < t->used) {
		if (key != NULL)
			rc = get_key(d, t->e[j].key, &k);
		if (rc == 0 && value != NULL)
			rc = mpi_region_get_obj(d->r, t->e[j].val, &v);
		it->_pos = j + 1;
		if (rc == 0)
			rc = 1;
	}
	unlock(d);
	if (rc < 0) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return MPI_RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	if (value != NULL)
		*value = v;
	return rc;
}

/* ---- NamespaceProxy: a dict of attribute names ---- */

/* Append n bytes to a growing text (NUL kept after it): 0 or -ENOMEM. */
int mpi_text_add(mp_bytes_t *b, size_t *cap, const char *s, size_t n)
{
	size_t need;
	char *p;

	if (__builtin_add_overflow(b->len, n + 1, &need))
		return -ENOMEM;
	if (need > *cap) {
		size_t c = *cap * 2 > need ? *cap * 2 : need + 32;

		if ((p = mpi_realloc(b->data, c)) == NULL)
			return -ENOMEM;
		b->data = p;
		*cap = c;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int mpi_namespace_new(struct mpi_region *r, struct mp_namespaceproxy **out)
{
	struct mp_namespaceproxy *ns;
	uint64_t off;
	int rc;

	if ((off = mpi_region_alloc(r, sizeof(*ns))) == 0)
		return -ENOMEM;
	ns = mpi_at(r, off);
	ns->remote = NULL;
	if ((rc = mpi_dict_new(r, NULL, &ns->d)) < 0) {
		mpi_region_free(r, off);
		return rc;
	}
	*out = ns;
	return 0;
}

/* The attribute name as a str key: 0, -EINVAL (reason), -EILSEQ. */
static int attr_key(const char *name, mp_obj_t **key)
{
	int rc = 0;

	if (name[0] == '\0')
		return mpi_why(-EINVAL, "the attribute name is empty");
	if (name[0] == '_')
		return mpi_why(-EINVAL, "'%s': names starting with '_' are the "
					"proxy's own, not the namespace's", name);
	*key = mpi_obj_str(MP_OBJ_STR, name, strlen(name), &rc);
	return *key == NULL ? rc : 0;
}

/* A Namespace's method remotely, on the attribute name (checked as
 * locally) and maybe a value. */
static int rns_op(mp_namespaceproxy_t *ns, const char *method,
		  const char *name, const mp_obj_t *value, mp_obj_t **out)
{
	mp_obj_t *key = NULL;
	int rc;

	if ((rc = attr_key(name, &key)) < 0)
		return rc;
	rc = mpi_rdict_op(ns->remote, method, key, value, out);
	mpi_obj_decref(key);
	return rc;
}

static int rns_repr(mp_namespaceproxy_t *ns, mp_bytes_t *out)
{
	const mp_bytes_t *t;
	mp_obj_t *r = NULL;
	int rc = mpi_rdict_op(ns->remote, "__repr__", NULL, NULL, &r);

	if (rc == 0 && mp_obj_as_str(r, &t) < 0)
		rc = mpi_why(-EPROTO, "__repr__() did not return a str");
	if (rc == 0 && (out->data = mpi_strndup(t->data, t->len)) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		out->len = t->len;
	mp_obj_free(r);
	return rc;
}

static int no_attr(const char *name)
{
	return mpi_why(-ENOENT, "AttributeError: 'Namespace' object has no "
				"attribute '%s'", name);
}

int mp_namespaceproxy_get(mp_namespaceproxy_t *ns, const char *name,
			  mp_obj_t **out)
{
	mp_obj_t *key = NULL;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(ns);
	MPI_CHECK_NULL(name);
	if (ns->remote != NULL)
		MPI_REMOTE(rns_op(ns, "__getattribute__", name, NULL, out));
	if ((rc = closed(ns->d)) < 0 || (rc = attr_key(name, &key)) < 0)
		return MPI_RAISE(rc);
	rc = dict_get(ns->d, key, out);
	mpi_obj_decref(key);
	if (rc == -ENOENT)
		rc = no_attr(name);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_namespaceproxy_set(mp_namespaceproxy_t *ns, const char *name,
			  const mp_obj_t *value)
{
	mp_obj_t *key = NULL;
	struct key k;
	uint64_t voff;
	int rc;

	MPI_CHECK_NULL(ns);
	MPI_CHECK_NULL(name);
	MPI_CHECK_NULL(value);
	if (ns->remote != NULL)
		MPI_REMOTE(rns_op(ns, "__setattr__", name, value, NULL));
	if ((rc = closed(ns->d)) < 0 || (rc = attr_key(name, &key)) < 0)
		return MPI_RAISE(rc);
	key_prep(ns->d, key, &k); /* a str: cannot fail */
	if ((rc = mpi_region_put_obj(ns->d->r, value, &voff)) == 0) {
		lock(ns->d);
		rc = set_locked(ns->d, &k, voff);
		unlock(ns->d);
	}
	mpi_obj_decref(key);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_namespaceproxy_del(mp_namespaceproxy_t *ns, const char *name)
{
	mp_obj_t *key = NULL;
	int rc;

	MPI_CHECK_NULL(ns);
	MPI_CHECK_NULL(name);
	if (ns->remote != NULL)
		MPI_REMOTE(rns_op(ns, "__delattr__", name, NULL, NULL));
	if ((rc = closed(ns->d)) < 0 || (rc = attr_key(name, &key)) < 0)
		return MPI_RAISE(rc);
	rc = pop_key(ns->d, key, NULL);
	mpi_obj_decref(key);
	if (rc == -ENOENT)
		rc = no_attr(name);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_namespaceproxy_repr(mp_namespaceproxy_t *ns, mp_bytes_t *out)
{
	mp_obj_t *items = NULL;
	mp_bytes_t b = {0};
	size_t cap = 0, i;
	int rc;

	MPI_CHECK_NULL(out);
	out->data = NULL;
	out->len = 0;
	MPI_CHECK_NULL(ns);
	if (ns->remote != NULL)
		MPI_REMOTE(rns_repr(ns, out));
	if ((rc = closed(ns->d)) < 0 ||
	    (rc = collect(ns->d, WANT_DICT, &items)) < 0)
		return MPI_RAISE(rc);
	rc = mpi_text_add(&b, &cap, "Namespace(", 10);
	for (i = 0; rc == 0 && i < items->u.c.n; i++) {
		const mp_obj_t *k = items->u.c.v[2 * i];

		if (i > 0)
			rc = mpi_text_add(&b, &cap, ", ", 2);
		if (rc == 0)
			rc = mpi_text_add(&b, &cap, k->u.s.data, k->u.s.len);
		if (rc == 0)
			rc = mpi_text_add(&b, &cap, "=", 1);
		if (rc == 0)
			rc = mpi_obj_repr(items->u.c.v[2 * i + 1], &b, &cap);
	}
	if (rc == 0)
		rc = mpi_text_add(&b, &cap, ")", 1);
	mpi_obj_decref(items);
	if (rc < 0) {
		mpi_free(b.data);
		return MPI_ERR(-ENOMEM, "out of memory");
	}
	*out = b;
	return 0;
}
