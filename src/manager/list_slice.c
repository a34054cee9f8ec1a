/*
 * manager/list_slice.c - the shared list's slices with a step (get, set,
 * del: l[a:b:c], l[a:b:c] = seq, del l[a:b:c]) and reverse.
 *
 * Every change builds the new table aside and publishes it with one store
 * (mp__list_replace), as list.c's rebuilds do: a client killed at any
 * point leaves the old list or the new one.  Blocks of the items a change
 * drops are freed only after the publish (a crash leaks them, never
 * frees what the old list still shows).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"

static int64_t adjust_one(ptrdiff_t i, int64_t step, uint64_t n)
{
	int64_t x = i;

	if (x < 0) {
		x += (int64_t)n;
		if (x < 0)
			x = step < 0 ? -1 : 0;
	} else if ((uint64_t)x >= n) {
		x = step < 0 ? (int64_t)n - 1 : (int64_t)n;
	}
	return x;
}

int mp__slice_resolve(ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
		      uint64_t n, struct mp__span *s)
{
	int64_t a, b;

	if (step == 0)
		return mp__why(-EINVAL, "ValueError: slice step cannot be "
					"zero");
	if (step < -PTRDIFF_MAX)
		step = -PTRDIFF_MAX; /* as PySlice_Unpack */
	a = adjust_one(start, step, n);
	b = adjust_one(stop, step, n);
	s->start = a;
	s->step = step;
	if (step < 0)
		s->len = b < a ? (uint64_t)((a - b - 1) / -step) + 1 : 0;
	else
		s->len = a < b ? (uint64_t)((b - a - 1) / step) + 1 : 0;
	return 0;
}

uint64_t mp__slice_at(const struct mp__span *s, uint64_t k)
{
	return (uint64_t)(s->start + (int64_t)k * s->step);
}

static void free_blocks(mp_listproxy_t *l, const uint64_t *v, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		mp__region_free(l->r, v[i]);
}

/* Pickle the items of a list or tuple into region blocks: 0 and *v (heap,
 * n offsets), or a code with nothing left over. */
static int put_items(mp_listproxy_t *l, const mp_obj_t *items, uint64_t **v,
		     uint64_t *n)
{
	uint64_t i;
	int rc = 0;

	*v = NULL;
	if (items->kind != MP_OBJ_LIST && items->kind != MP_OBJ_TUPLE)
		return mp__why(-EINVAL, "TypeError: can only assign an "
					"iterable (here: a list or tuple), not "
					"'%s'",
			       mp_obj_kind_name(items->kind));
	*n = items->u.c.n;
	if ((*v = mp__calloc(*n ? *n : 1, 8)) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	for (i = 0; i < *n && rc == 0; i++)
		rc = mp__region_put_obj(l->r, items->u.c.v[i], &(*v)[i]);
	if (rc < 0) {
		free_blocks(l, *v, i - 1); /* those before the failed one */
		mp__free(*v);
		*v = NULL;
	}
	return rc;
}

#define CHECK_L(l)                                                            \
	do {                                                                  \
		MP__CHECK_NULL(l);                                            \
		if ((rc = mp__list_usable(l)) < 0)                            \
			return MP__RAISE(rc);                                 \
	} while (0)

int mp_listproxy_get_slice(mp_listproxy_t *l, ptrdiff_t start,
			   ptrdiff_t stop, ptrdiff_t step, mp_obj_t **out)
{
	const uint64_t *items;
	mp_obj_t *res, *v;
	struct mp__span s;
	uint64_t n, k;
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	CHECK_L(l);
	if ((res = mp__obj_new(MP_OBJ_LIST)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	items = mp__list_lock(l, &n);
	rc = mp__slice_resolve(start, stop, step, n, &s);
	for (k = 0; rc == 0 && k < s.len; k++)
		if ((rc = mp__region_get_obj(l->r, items[mp__slice_at(&s, k)],
					     &v)) == 0)
			rc = mp__obj_append(res, v);
	mp__list_unlock(l);
	if (rc < 0) {
		mp__obj_decref(res);
		return MP__RAISE(rc);
	}
	*out = res;
	return 0;
}

/*
 * The new items of l[s] = v (k blocks) into nv (room for n + k), the
 * dropped ones into gone (room for n): the new count, or a code.
 */
static int64_t assign(const uint64_t *items, uint64_t n,
		      const struct mp__span *s, ptrdiff_t stop, const uint64_t *v, uint64_t k,
		      uint64_t *nv, uint64_t *gone, uint64_t *ngone)
{
	uint64_t a, b, i;

	if (s->step == 1) { /* a plain slice: any length replaces it */
		a = (uint64_t)s->start;
		b = (uint64_t)adjust_one(stop, 1, n);
		if (b < a)
			b = a;
		memcpy(nv, items, a * 8);
		memcpy(nv + a, v, k * 8);
		memcpy(nv + a + k, items + b, (n - b) * 8);
		memcpy(gone, items + a, (b - a) * 8);
		*ngone = b - a;
		return (int64_t)(n - (b - a) + k);
	}
	if (k != s->len)
		return mp__why(-EINVAL, "ValueError: attempt to assign "
					"sequence of size %llu to extended "
					"slice of size %llu",
			       (unsigned long long)k,
			       (unsigned long long)s->len);
	memcpy(nv, items, n * 8);
	for (i = 0; i < k; i++) {
		gone[i] = items[mp__slice_at(s, i)];
		nv[mp__slice_at(s, i)] = v[i];
	}
	*ngone = k;
	return (int64_t)n;
}

int mp_listproxy_set_slice(mp_listproxy_t *l, ptrdiff_t start,
			   ptrdiff_t stop, ptrdiff_t step,
			   const mp_obj_t *items)
{
	uint64_t *v = NULL, *nv = NULL, *gone = NULL, k = 0, n, ngone = 0;
	const uint64_t *cur;
	struct mp__span s;
	int64_t cnt;
	int rc;

	CHECK_L(l);
	MP__CHECK_NULL(items);
	if ((rc = put_items(l, items, &v, &k)) < 0)
		return MP__RAISE(rc);
	cur = mp__list_lock(l, &n);
	if ((rc = mp__slice_resolve(start, stop, step, n, &s)) == 0) {
		nv = mp__calloc(n + k + 1, 8);
		gone = mp__calloc(n + 1, 8);
		if (nv == NULL || gone == NULL)
			rc = mp__why(-ENOMEM, "out of memory");
	}
	if (rc == 0 && (cnt = assign(cur, n, &s, stop, v, k, nv, gone,
				     &ngone)) < 0)
		rc = (int)cnt;
	if (rc == 0)
		rc = mp__list_replace(l, nv, (uint64_t)cnt);
	mp__list_unlock(l);
	if (rc == 0)
		free_blocks(l, gone, ngone);
	else
		free_blocks(l, v, k);
	mp__free(v);
	mp__free(nv);
	mp__free(gone);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_listproxy_del_slice(mp_listproxy_t *l, ptrdiff_t start,
			   ptrdiff_t stop, ptrdiff_t step)
{
	uint64_t *nv = NULL, *gone = NULL, n, i, j, g = 0, cnt = 0;
	const uint64_t *cur;
	struct mp__span s;
	int rc;

	CHECK_L(l);
	cur = mp__list_lock(l, &n);
	if ((rc = mp__slice_resolve(start, stop, step, n, &s)) == 0 && s.len > 0) {
		nv = mp__calloc(n + 1, 8);
		gone = mp__calloc(n + 1, 8);
		if (nv == NULL || gone == NULL)
			rc = mp__why(-ENOMEM, "out of memory");
	}
	if (rc == 0 && s.len > 0) {
		/* walk the selected positions in increasing order */
		uint64_t lo = mp__slice_at(&s, s.step > 0 ? 0 : s.len - 1);
		uint64_t stride = (uint64_t)(s.step > 0 ? s.step : -s.step);

		for (i = 0, j = lo; i < n; i++) {
			if (g < s.len && i == j) {
				gone[g++] = cur[i];
				j += stride;
			} else {
				nv[cnt++] = cur[i];
			}
		}
		rc = mp__list_replace(l, nv, cnt);
	}
	mp__list_unlock(l);
	if (rc == 0)
		free_blocks(l, gone, g);
	mp__free(nv);
	mp__free(gone);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_listproxy_reverse(mp_listproxy_t *l)
{
	const uint64_t *cur;
	uint64_t *nv, n, i;
	int rc;

	CHECK_L(l);
	cur = mp__list_lock(l, &n);
	if ((nv = mp__calloc(n + 1, 8)) == NULL) {
		rc = mp__why(-ENOMEM, "out of memory");
	} else {
		for (i = 0; i < n; i++)
			nv[i] = cur[n - 1 - i];
		rc = mp__list_replace(l, nv, n);
	}
	mp__list_unlock(l);
	mp__free(nv);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* A copy of the pickle block at off (its {len, bytes}): the new offset,
 * or 0 when the region is full. */
static uint64_t dup_block(struct mp__region *r, uint64_t off)
{
	const uint64_t *p = mp__at(r, off);
	uint64_t n = sizeof(uint64_t) + p[0], o;

	if ((o = mp__region_alloc(r, n)) != 0)
		memcpy(mp__at(r, o), p, n);
	return o;
}

int mp__list_repeat(mp_listproxy_t *l, int64_t times)
{
	const uint64_t *items;
	uint64_t n, total, i, *v;
	int rc = 0;

	if ((rc = mp__list_usable(l)) < 0)
		return rc;
	if (times <= 0)
		return mp_listproxy_clear(l);
	items = mp__list_lock(l, &n);
	if (times == 1 || n == 0) {
		mp__list_unlock(l);
		return 0;
	}
	/* each item is a block of 32 bytes or more: beyond what the region
	 * can hold is refused before anything is allocated */
	if (n > l->r->size / 32 / (uint64_t)times) {
		mp__list_unlock(l);
		return mp__why(-ENOMEM, "MemoryError: the list would not fit "
			       "the manager's region");
	}
	total = n * (uint64_t)times;
	if ((v = mp__calloc(total, 8)) == NULL) {
		mp__list_unlock(l);
		return mp__why(-ENOMEM, "out of memory");
	}
	for (i = 0; i < total; i++) {
		v[i] = i < n ? items[i] : dup_block(l->r, items[i % n]);
		if (v[i] == 0) {
			rc = mp__why(-ENOMEM, "MemoryError: the manager's "
				     "region is full");
			break;
		}
	}
	if (rc == 0)
		rc = mp__list_replace(l, v, total);
	if (rc < 0 && i > n)
		free_blocks(l, v + n, i - n); /* the copies made */
	mp__list_unlock(l);
	mp__free(v);
	return rc;
}
