/*
 * manager/list.c - the shared list (ListProxy) in the manager's region.
 *
 * A list is a header (lock, table offset) and a table {cap, n, items[cap]}
 * of value block offsets.  Appending writes items[n] then publishes n+1;
 * popping the last item publishes n-1; replacing an item stores its
 * offset.  Everything else (insert, remove, pop(i), sort, extend past the
 * capacity, clear) builds a new table and publishes its offset in one
 * store, so a client killed at any point leaves the old list or the new
 * one, never a mix.  Nothing needs repair.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"

struct ltable {
	uint64_t cap;
	uint64_t n;
	uint64_t items[];
};

static struct ltable *tab(const mp_listproxy_t *l)
{
	return mp__at(l->r, l->table);
}

static int closed(const mp_listproxy_t *l)
{
	if (l->remote == NULL && mp__region_closed(l->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

int mp__list_usable(const mp_listproxy_t *l)
{
	return closed(l);
}

static void lock(mp_listproxy_t *l)
{
	bool dead;

	mp__obj_lock(&l->lock, &dead); /* nothing to repair */
}

static void unlock(mp_listproxy_t *l)
{
	mp__obj_unlock(&l->lock);
}

const uint64_t *mp__list_lock(mp_listproxy_t *l, uint64_t *n)
{
	lock(l);
	*n = tab(l)->n;
	return tab(l)->items;
}

void mp__list_unlock(mp_listproxy_t *l)
{
	unlock(l);
}

static uint64_t new_table(struct mp__region *r, uint64_t cap)
{
	struct ltable *t;
	uint64_t off;

	if (cap < 4)
		cap = 4;
	if (cap > (UINT64_MAX >> 4) ||
	    (off = mp__region_alloc(r, sizeof(*t) + cap * 8)) == 0)
		return 0;
	t = mp__at(r, off);
	t->cap = cap;
	t->n = 0;
	return off;
}

/* Publish table off (built aside), free the old one (not its items). */
static void publish(mp_listproxy_t *l, uint64_t off)
{
	uint64_t old = l->table;

	__atomic_store_n(&l->table, off, __ATOMIC_RELEASE);
	mp__region_free(l->r, old);
}

int mp__list_replace(mp_listproxy_t *l, const uint64_t *items, uint64_t n)
{
	struct ltable *t;
	uint64_t off;

	if ((off = new_table(l->r, n + n / 2)) == 0)
		return -ENOMEM;
	t = mp__at(l->r, off);
	if (n > 0)
		memcpy(t->items, items, n * 8);
	t->n = n;
	publish(l, off);
	return 0;
}

/*
 * A copy of the table with k new slots at position at (filled from ins)
 * and del items from position at removed (not freed): the new offset, or
 * 0 with -ENOMEM.
 */
static uint64_t rebuild(mp_listproxy_t *l, uint64_t at, uint64_t del,
			const uint64_t *ins, uint64_t k)
{
	struct ltable *t = tab(l), *n;
	uint64_t off, cnt = t->n - del + k;

	if ((off = new_table(l->r, cnt + cnt / 2)) == 0)
		return 0;
	n = mp__at(l->r, off);
	memcpy(n->items, t->items, at * 8);
	if (k > 0)
		memcpy(n->items + at, ins, k * 8);
	memcpy(n->items + at + k, t->items + at + del,
	       (t->n - at - del) * 8);
	n->n = cnt;
	return off;
}

int mp__list_new(struct mp__region *r, const mp_obj_t *init,
		 struct mp_listproxy **out)
{
	struct mp_listproxy *l;
	struct ltable *t;
	uint64_t off, toff, n = init != NULL ? init->u.c.n : 0, i;
	int rc;

	if ((off = mp__region_alloc(r, sizeof(*l))) == 0)
		return -ENOMEM;
	if ((toff = new_table(r, n)) == 0) {
		mp__region_free(r, off);
		return -ENOMEM;
	}
	l = mp__at(r, off);
	l->lock = 0;
	l->remote = NULL;
	l->table = toff;
	l->r = r;
	t = mp__at(r, toff);
	for (i = 0; i < n; i++) {
		rc = mp__region_put_obj(r, init->u.c.v[i], &t->items[i]);
		if (rc < 0)
			return rc; /* the blocks stay: a leak in the region */
		t->n = i + 1;
	}
	*out = l;
	return 0;
}

#define CHECK_L(l)                                                            \
	do {                                                                  \
		MP__CHECK_NULL(l);                                            \
		if ((rc = closed(l)) < 0)                                     \
			return MP__RAISE(rc);                                 \
	} while (0)

/* Python's index normalisation: 0 and the index, or -ERANGE. */
static int norm(ptrdiff_t i, uint64_t n, uint64_t *out)
{
	if (i < 0)
		i += (ptrdiff_t)n;
	if (i < 0 || (uint64_t)i >= n)
		return -ERANGE;
	*out = (uint64_t)i;
	return 0;
}

/* Clamp as a slice bound does. */
static uint64_t clamp(ptrdiff_t i, uint64_t n)
{
	if (i < 0) {
		i += (ptrdiff_t)n;
		return i < 0 ? 0 : (uint64_t)i;
	}
	return (uint64_t)i > n ? n : (uint64_t)i;
}

/* A remote list's method on an index (and maybe a value). */
static int rlist_i(mp_listproxy_t *l, const char *method, ptrdiff_t i,
		   const mp_obj_t *value, mp_obj_t **out)
{
	return mp__rindex(l->remote, method, i, value, out);
}

static int rsort(mp_listproxy_t *l, unsigned flags)
{
	mp_obj_t *kw = mp_obj_dict();

	if (kw == NULL || mp_obj_dict_set(kw, mp_obj_str("reverse"),
		mp_obj_bool((flags & MP_SORT_REVERSE) != 0)) < 0) {
		mp_obj_free(kw);
		return -ENOMEM;
	}
	return mp__rcall(l->remote, "sort", mp_obj_tuple(0, NULL), kw, NULL);
}

int mp_listproxy_get(mp_listproxy_t *l, ptrdiff_t i, mp_obj_t **out)
{
	uint64_t k;
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(rlist_i(l, "__getitem__", i, NULL, out));
	lock(l);
	if ((rc = norm(i, tab(l)->n, &k)) == 0)
		rc = mp__region_get_obj(l->r, tab(l)->items[k], out);
	unlock(l);
	if (rc == -ERANGE)
		return MP__ERR(rc, "IndexError: list index out of range");
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_listproxy_set(mp_listproxy_t *l, ptrdiff_t i, const mp_obj_t *value)
{
	uint64_t k, voff, old;
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(rlist_i(l, "__setitem__", i, value, NULL));
	if ((rc = mp__region_put_obj(l->r, value, &voff)) < 0)
		return MP__RAISE(rc);
	lock(l);
	if ((rc = norm(i, tab(l)->n, &k)) == 0) {
		old = tab(l)->items[k];
		__atomic_store_n(&tab(l)->items[k], voff, __ATOMIC_RELEASE);
		mp__region_free(l->r, old);
	}
	unlock(l);
	if (rc < 0) {
		mp__region_free(l->r, voff);
		return MP__ERR(rc, "IndexError: list assignment index out "
				   "of range");
	}
	return 0;
}

int mp_listproxy_slice(mp_listproxy_t *l, ptrdiff_t start, ptrdiff_t stop,
		       mp_obj_t **out)
{
	mp_obj_t *res, *v;
	struct ltable *t;
	uint64_t a, b;
	int rc = 0;

	MP__CHECK_NULL(out);
	*out = NULL;
	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(mp__rlist_slice(l->remote, start, stop, out));
	if ((res = mp__obj_new(MP_OBJ_LIST)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	lock(l);
	t = tab(l);
	a = clamp(start, t->n);
	b = clamp(stop, t->n);
	for (; a < b && rc == 0; a++)
		if ((rc = mp__region_get_obj(l->r, t->items[a], &v)) == 0)
			rc = mp__obj_append(res, v);
	unlock(l);
	if (rc < 0) {
		mp__obj_decref(res);
		return MP__RAISE(rc);
	}
	*out = res;
	return 0;
}

/* Insert k value blocks at position at (taken; freed on failure). */
static int insert_locked(mp_listproxy_t *l, uint64_t at, const uint64_t *v,
			 uint64_t k)
{
	struct ltable *t = tab(l);
	uint64_t off, i;

	if (at == t->n && t->n + k <= t->cap) {
		memcpy(t->items + t->n, v, k * 8);
		__atomic_store_n(&t->n, t->n + k, __ATOMIC_RELEASE);
		return 0;
	}
	if ((off = rebuild(l, at, 0, v, k)) == 0) {
		for (i = 0; i < k; i++)
			mp__region_free(l->r, v[i]);
		return -ENOMEM;
	}
	publish(l, off);
	return 0;
}

static int insert_at(mp_listproxy_t *l, ptrdiff_t i, const mp_obj_t *value,
		     bool append)
{
	uint64_t voff;
	int rc;

	if ((rc = mp__region_put_obj(l->r, value, &voff)) < 0)
		return rc;
	lock(l);
	rc = insert_locked(l, append ? tab(l)->n : clamp(i, tab(l)->n),
			   &voff, 1);
	unlock(l);
	return rc;
}

int mp_listproxy_append(mp_listproxy_t *l, const mp_obj_t *value)
{
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(mp__rdict_op(l->remote, "append", value, NULL, NULL));
	if ((rc = insert_at(l, 0, value, true)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_listproxy_insert(mp_listproxy_t *l, ptrdiff_t i,
			const mp_obj_t *value)
{
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(rlist_i(l, "insert", i, value, NULL));
	if ((rc = insert_at(l, i, value, false)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_listproxy_extend(mp_listproxy_t *l, const mp_obj_t *items)
{
	uint64_t *v;
	size_t n, i;
	int rc = 0;

	CHECK_L(l);
	MP__CHECK_NULL(items);
	if (l->remote != NULL)
		MP__REMOTE(mp__rdict_op(l->remote, "extend", items, NULL, NULL));
	if (items->kind != MP_OBJ_LIST && items->kind != MP_OBJ_TUPLE)
		return MP__ERR(-EINVAL, "TypeError: '%s' object is not "
					"iterable here (a list or tuple)",
			       mp_obj_kind_name(items->kind));
	n = items->u.c.n;
	if ((v = mp__calloc(n ? n : 1, 8)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	for (i = 0; i < n && rc == 0; i++)
		rc = mp__region_put_obj(l->r, items->u.c.v[i], &v[i]);
	if (rc == 0) {
		lock(l);
		rc = insert_locked(l, tab(l)->n, v, n);
		unlock(l);
	} else {
		while (i-- > 0)
			mp__region_free(l->r, v[i]);
	}
	mp__free(v);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_listproxy_pop(mp_listproxy_t *l, ptrdiff_t i, mp_obj_t **out)
{
	struct ltable *t;
	uint64_t k, voff = 0, off;
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(rlist_i(l, "pop", i, NULL, out));
	lock(l);
	t = tab(l);
	if (t->n == 0) {
		rc = mp__why(-ERANGE, "IndexError: pop from empty list");
	} else if (norm(i, t->n, &k) < 0) {
		rc = mp__why(-ERANGE, "IndexError: pop index out of range");
	} else {
		voff = t->items[k];
		rc = out != NULL ? mp__region_get_obj(l->r, voff, out) : 0;
		if (rc == 0 && k == t->n - 1) {
			__atomic_store_n(&t->n, k, __ATOMIC_RELEASE);
		} else if (rc == 0) {
			if ((off = rebuild(l, k, 1, NULL, 0)) != 0)
				publish(l, off);
			else
				rc = -ENOMEM;
		}
	}
	unlock(l);
	if (rc < 0) {
		if (out != NULL) {
			mp__obj_decref(*out);
			*out = NULL;
		}
		return MP__RAISE(rc);
	}
	mp__region_free(l->r, voff);
	return 0;
}

/* The first position whose item == value, -1 if none, or a code; *cnt
 * counts the items == value (all of them when all). */
static int64_t find(mp_listproxy_t *l, const mp_obj_t *value, int64_t *cnt,
		    bool all)
{
	struct ltable *t = tab(l);
	mp_obj_t *v;
	int64_t first = -1;
	uint64_t i;
	int rc;

	*cnt = 0;
	for (i = 0; i < t->n; i++) {
		if ((rc = mp__region_get_obj(l->r, t->items[i], &v)) < 0)
			return rc;
		rc = mp__obj_eq(v, value);
		mp__obj_decref(v);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		++*cnt;
		if (first < 0)
			first = (int64_t)i;
		if (!all)
			break;
	}
	return first;
}

static int not_in_list(const mp_obj_t *value, bool remove)
{
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc;

	if (remove)
		return mp__why(-ENOENT, "ValueError: list.remove(x): x not in "
					"list");
	if (mp__obj_repr(value, &b, &cap) < 0) {
		mp__free(b.data);
		return mp__why(-ENOENT, "ValueError: value is not in list");
	}
	rc = mp__why(-ENOENT, "ValueError: %s is not in list", b.data);
	mp__free(b.data);
	return rc;
}

int mp_listproxy_remove(mp_listproxy_t *l, const mp_obj_t *value)
{
	uint64_t off, voff = 0;
	int64_t j, cnt;
	int rc = 0;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(mp__rdict_op(l->remote, "remove", value, NULL, NULL));
	lock(l);
	j = find(l, value, &cnt, false);
	if (j < 0) {
		rc = j == -1 ? not_in_list(value, true) : (int)j;
	} else {
		voff = tab(l)->items[j];
		if ((off = rebuild(l, (uint64_t)j, 1, NULL, 0)) != 0)
			publish(l, off);
		else
			rc = -ENOMEM;
	}
	unlock(l);
	if (rc < 0)
		return MP__RAISE(rc);
	mp__region_free(l->r, voff);
	return 0;
}

int mp_listproxy_index(mp_listproxy_t *l, const mp_obj_t *value)
{
	int64_t j, cnt;
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(mp__rint(l->remote, "index", value));
	lock(l);
	j = find(l, value, &cnt, false);
	unlock(l);
	if (j == -1)
		return MP__RAISE(not_in_list(value, false));
	if (j < 0)
		return MP__RAISE((int)j);
	return (int)j;
}

int mp_listproxy_count(mp_listproxy_t *l, const mp_obj_t *value)
{
	int64_t j, cnt;
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(value);
	if (l->remote != NULL)
		MP__REMOTE(mp__rint(l->remote, "count", value));
	lock(l);
	j = find(l, value, &cnt, true);
	unlock(l);
	if (j < -1)
		return MP__RAISE((int)j);
	return (int)cnt;
}

int mp_listproxy_len(mp_listproxy_t *l)
{
	int rc;

	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(mp__rint(l->remote, "__len__", NULL));
	lock(l);
	rc = (int)tab(l)->n;
	unlock(l);
	return rc;
}

int mp_listproxy_clear(mp_listproxy_t *l)
{
	struct ltable *t;
	uint64_t off, i;
	int rc;

	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(rlist_i(l, "__imul__", 0, NULL, NULL));
	if ((off = new_table(l->r, 4)) == 0)
		return MP__RAISE(-ENOMEM);
	lock(l);
	t = tab(l);
	__atomic_store_n(&l->table, off, __ATOMIC_RELEASE);
	for (i = 0; i < t->n; i++)
		mp__region_free(l->r, t->items[i]);
	mp__region_free(l->r, (uint64_t)((char *)t - (char *)l->r));
	unlock(l);
	return 0;
}

/* ---- sort: a stable merge sort of (value, block) pairs ---- */

struct sitem {
	mp_obj_t *v;
	uint64_t off;
};

/* b goes before a?  (b < a, or a < b when reversed, keeping stability) */
static int before(const struct sitem *a, const struct sitem *b, bool rev)
{
	return rev ? mp__obj_lt(a->v, b->v) : mp__obj_lt(b->v, a->v);
}

static int merge_sort(struct sitem *s, struct sitem *tmp, size_t n, bool rev)
{
	size_t h = n / 2, i = 0, j = h, k = 0;
	int rc;

	if (n < 2)
		return 0;
	if ((rc = merge_sort(s, tmp, h, rev)) < 0 ||
	    (rc = merge_sort(s + h, tmp, n - h, rev)) < 0)
		return rc;
	while (i < h && j < n) {
		if ((rc = before(&s[i], &s[j], rev)) < 0)
			return rc;
		tmp[k++] = rc ? s[j++] : s[i++];
	}
	while (i < h)
		tmp[k++] = s[i++];
	while (j < n)
		tmp[k++] = s[j++];
	memcpy(s, tmp, n * sizeof(*s));
	return 0;
}

static int sort_locked(mp_listproxy_t *l, bool rev)
{
	struct ltable *t = tab(l), *nt;
	struct sitem *s, *tmp;
	uint64_t n = t->n, i, off = 0;
	int rc = 0;

	s = mp__calloc(n ? n : 1, sizeof(*s));
	tmp = mp__calloc(n ? n : 1, sizeof(*tmp));
	if (s == NULL || tmp == NULL) {
		rc = mp__why(-ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++) {
		s[i].off = t->items[i];
		rc = mp__region_get_obj(l->r, s[i].off, &s[i].v);
	}
	if (rc == 0)
		rc = merge_sort(s, tmp, n, rev);
	if (rc == 0 && (off = new_table(l->r, t->cap)) == 0)
		rc = -ENOMEM;
	if (rc == 0) {
		nt = mp__at(l->r, off);
		for (i = 0; i < n; i++)
			nt->items[i] = s[i].off;
		nt->n = n;
		publish(l, off);
	}
out:
	for (i = 0; s != NULL && i < n; i++)
		mp__obj_decref(s[i].v);
	mp__free(s);
	mp__free(tmp);
	return rc;
}

int mp_listproxy_sort(mp_listproxy_t *l, unsigned flags)
{
	int rc;

	CHECK_L(l);
	if (l->remote != NULL)
		MP__REMOTE(rsort(l, flags));
	if (flags & ~MP_SORT_REVERSE)
		return MP__ERR(-EINVAL, "unknown flags 0x%x", flags);
	lock(l);
	rc = sort_locked(l, flags & MP_SORT_REVERSE);
	unlock(l);
	return rc < 0 ? MP__RAISE(rc) : 0;
}
