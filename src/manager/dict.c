/*
 * manager/dict.c - the shared dict (DictProxy) in the manager's region:
 * its table, keys and lock (the public functions are in dict_api.c).
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
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/dict_int.h"

struct kblock {
	uint64_t clen; /* canonical bytes */
	uint64_t plen; /* pickle bytes, after them */
	unsigned char data[];
};

struct dtable *mp__dict_tab(const mp_dictproxy_t *d)
{
	return mp__at(d->r, d->table);
}

static uint32_t *idx_of(struct dtable *t)
{
	return (uint32_t *)(t->e + t->cap);
}

int mp__dict_closed(const mp_dictproxy_t *d)
{
	if (d->remote == NULL && mp__region_closed(d->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
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
	struct dtable *t = mp__dict_tab(d);
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

void mp__dict_lock(mp_dictproxy_t *d)
{
	bool dead;

	mp__obj_lock(&d->lock, &dead);
	if (dead)
		repair(d);
}

void mp__dict_unlock(mp_dictproxy_t *d)
{
	mp__obj_unlock(&d->lock);
}

static uint64_t new_table(struct mp__region *r, uint64_t cap)
{
	uint64_t icap = 8, off, sz;
	struct dtable *t;

	while (icap < 2 * cap)
		icap *= 2;
	sz = sizeof(*t) + cap * sizeof(struct dent) + icap * sizeof(uint32_t);
	if (cap > UINT32_MAX / 4 || (off = mp__region_alloc(r, sz)) == 0)
		return 0;
	t = mp__at(r, off);
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
	struct dtable *t = mp__dict_tab(d), *n;
	uint64_t off, old = d->table, j, k = 0;

	off = new_table(d->r, t->live < 4 ? 8 : t->live * 2);
	if (off == 0)
		return -ENOMEM;
	n = mp__at(d->r, off);
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
	mp__region_free(d->r, old);
	return 0;
}

static size_t key_len(const struct key *k)
{
	return k->text ? 9 + k->obj->u.s.len : k->kb.len;
}

int mp__dict_key_prep(const mp_dictproxy_t *d, const mp_obj_t *obj,
		      struct key *k)
{
	uint64_t len;
	int rc;

	k->obj = obj;
	mp__kbuf_init(&k->kb);
	k->text = obj->kind == MP_OBJ_STR || obj->kind == MP_OBJ_BYTES;
	if (k->text) {
		/* the bytes mp__key_canon writes for it */
		len = obj->u.s.len;
		k->tag[0] = obj->kind == MP_OBJ_STR ? 'S' : 'Y';
		memcpy(k->tag + 1, &len, 8);
		/* any function of the canonical bytes will do */
		k->h = mp__key_hash(d->r->seed ^ obj->kind, obj->u.s.data,
				    obj->u.s.len);
		return 0;
	}
	if ((rc = mp__key_canon(obj, &k->kb)) < 0) {
		mp__kbuf_release(&k->kb);
		return rc;
	}
	k->h = mp__key_hash(d->r->seed, k->kb.p, k->kb.len);
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
	b = mp__at(d->r, e->key);
	if (b->clen != key_len(k))
		return false;
	if (k->text)
		return memcmp(b->data, k->tag, 9) == 0 &&
		       memcmp(b->data + 9, k->obj->u.s.data,
			      k->obj->u.s.len) == 0;
	return memcmp(b->data, k->kb.p, k->kb.len) == 0;
}

/* The entry of key k, or -1. */
int64_t mp__dict_find(mp_dictproxy_t *d, const struct key *k)
{
	struct dtable *t = mp__dict_tab(d);
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

int mp__dict_key_error(const mp_obj_t *key)
{
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc;

	if (mp__obj_repr(key, &b, &cap) < 0) {
		mp__free(b.data);
		return mp__why(-ENOENT, "KeyError");
	}
	rc = mp__why(-ENOENT, "KeyError: %s", b.data);
	mp__free(b.data);
	return rc;
}

static int put_key(mp_dictproxy_t *d, const struct key *k, uint64_t *off)
{
	struct kblock *b;
	mp_bytes_t p;
	size_t n;
	int rc;

	if ((rc = mp__pickle_dumps(k->obj, MP_PICKLE_DEFAULT_PROTOCOL, &p)) < 0)
		return rc;
	n = sizeof(*b) + key_len(k) + p.len;
	if ((*off = mp__region_alloc(d->r, n)) == 0) {
		mp__free(p.data);
		return -ENOMEM;
	}
	b = mp__at(d->r, *off);
	b->clen = key_len(k);
	b->plen = p.len;
	key_write(k, b->data);
	memcpy(b->data + b->clen, p.data, p.len);
	mp__free(p.data);
	return 0;
}

int mp__dict_get_key(const mp_dictproxy_t *d, uint64_t off, mp_obj_t **out)
{
	const struct kblock *b = mp__at(d->r, off);

	return mp__pickle_loads(b->data + b->clen, b->plen, out);
}

/* Set under the lock: the value block voff is taken (freed on failure). */
int mp__dict_set_locked(mp_dictproxy_t *d, const struct key *k, uint64_t voff)
{
	struct dtable *t;
	uint64_t koff, old, used;
	int64_t j = mp__dict_find(d, k);
	int rc;

	if (j >= 0) {
		t = mp__dict_tab(d);
		old = t->e[j].val;
		__atomic_store_n(&t->e[j].val, voff, __ATOMIC_RELEASE);
		mp__region_free(d->r, old);
		return 0;
	}
	if ((rc = put_key(d, k, &koff)) < 0)
		goto fail;
	t = mp__dict_tab(d);
	if (t->used == t->cap) {
		if ((rc = grow(d)) < 0) {
			mp__region_free(d->r, koff);
			goto fail;
		}
		t = mp__dict_tab(d);
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
	mp__region_free(d->r, voff);
	return rc;
}

void mp__dict_del_locked(mp_dictproxy_t *d, uint64_t j)
{
	struct dtable *t = mp__dict_tab(d);
	uint64_t koff = t->e[j].key, voff = t->e[j].val;

	__atomic_store_n(&t->e[j].key, 0, __ATOMIC_RELEASE);
	t->live--;
	d->version++;
	mp__region_free(d->r, koff);
	mp__region_free(d->r, voff);
}

int mp__dict_new(struct mp__region *r, const mp_obj_t *init,
		 struct mp_dictproxy **out)
{
	struct mp_dictproxy *d;
	uint64_t off, toff;
	size_t i;
	int rc;

	if ((off = mp__region_alloc(r, sizeof(*d))) == 0)
		return -ENOMEM;
	if ((toff = new_table(r, 8)) == 0) {
		mp__region_free(r, off);
		return -ENOMEM;
	}
	d = mp__at(r, off);
	memset(d, 0, sizeof(*d)); /* a reused block holds old bytes */
	d->table = toff;
	d->r = r;
	for (i = 0; init != NULL && i < init->u.c.n; i++) {
		struct key k;
		uint64_t voff;

		if ((rc = mp__dict_key_prep(d, init->u.c.v[2 * i], &k)) < 0)
			return rc; /* the blocks stay: a leak in the region */
		rc = mp__region_put_obj(r, init->u.c.v[2 * i + 1], &voff);
		if (rc == 0)
			rc = mp__dict_set_locked(d, &k, voff);
		mp__kbuf_release(&k.kb);
		if (rc < 0)
			return rc;
	}
	*out = d;
	return 0;
}
