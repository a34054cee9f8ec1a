/*
 * manager/value.c - the shared Value and Array (manager.Value(typecode,
 * value), manager.Array(typecode, sequence)) in the manager's region.
 *
 * A Value holds any value, as a pickle: set stores the new block's offset
 * (one 8-byte store) under the Value's lock, get decodes under it (so the
 * block cannot be freed under the reader).  CPython's manager Value keeps
 * the typecode without looking at it; so does this one (it is not even
 * asked for).
 *
 * An Array is array.array(typecode, sequence) as the manager keeps it: a
 * fixed number of C numbers of the typecode's size, each read and written
 * with one aligned atomic access of at most 8 bytes, so no lock is needed
 * and a client killed at any point leaves each item old or new.  Values
 * are checked as array.array checks them (TypeError, OverflowError, with
 * CPython's text).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal/error.h"
#include "manager/mgr_int.h"
#include "manager/remote_int.h"
#include "obj/obj_int.h"

static int closed(const struct mp__region *r)
{
	if (mp__region_closed(r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

/* ---- Value ---- */

int mp__value_new(struct mp__region *r, const mp_obj_t *init,
		  struct mp_valueproxy **out)
{
	struct mp_valueproxy *v;
	uint64_t off;
	int rc;

	if ((off = mp__region_alloc(r, sizeof(*v))) == 0)
		return -ENOMEM;
	v = mp__at(r, off);
	memset(v, 0, sizeof(*v));
	v->r = r;
	if ((rc = mp__region_put_obj(r, init, &v->off)) < 0) {
		mp__region_free(r, off);
		return rc;
	}
	*out = v;
	return 0;
}

int mp__value_get(struct mp_valueproxy *v, mp_obj_t **out)
{
	bool dead;
	int rc;

	*out = NULL;
	if ((rc = closed(v->r)) < 0)
		return rc;
	mp__obj_lock(&v->lock, &dead); /* nothing to repair */
	rc = mp__region_get_obj(v->r, v->off, out);
	mp__obj_unlock(&v->lock);
	return rc;
}

int mp__value_set(struct mp_valueproxy *v, const mp_obj_t *value)
{
	uint64_t off, old;
	bool dead;
	int rc;

	if ((rc = closed(v->r)) < 0 ||
	    (rc = mp__region_put_obj(v->r, value, &off)) < 0)
		return rc;
	mp__obj_lock(&v->lock, &dead);
	old = v->off;
	__atomic_store_n(&v->off, off, __ATOMIC_RELEASE);
	mp__obj_unlock(&v->lock);
	mp__region_free(v->r, old);
	return 0;
}

int mp_valueproxy_get(mp_valueproxy_t *v, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(v);
	if (v->remote != NULL)
		MP__REMOTE(mp__rdict_op(v->remote, "get", NULL, NULL, out));
	rc = mp__value_get(v, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_valueproxy_set(mp_valueproxy_t *v, const mp_obj_t *value)
{
	int rc;

	MP__CHECK_NULL(v);
	MP__CHECK_NULL(value);
	if (v->remote != NULL)
		MP__REMOTE(mp__rdict_op(v->remote, "set", value, NULL, NULL));
	rc = mp__value_set(v, value);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* ---- Array ---- */

/*
 * How array.array converts to each typecode.  S: signed (through a C long
 * or long long); U: unsigned through a C long (B, H); V: unsigned through
 * an unsigned long (I, L, Q); F: float.  The messages are CPython's
 * OverflowError texts.
 */
struct tcode {
	char code, how;
	uint8_t size;
	int64_t min;
	uint64_t max;
	const char *over, *under, *big;
};

#define LONG_BIG "Python int too large to convert to C long"
#define ULONG_BIG "Python int too large to convert to C unsigned long"
#define NEG_UINT "can't convert negative value to unsigned int"

static const struct tcode tcodes[] = {
	{'b', 'S', 1, INT8_MIN, INT8_MAX, "signed char is greater than maximum",
	 "signed char is less than minimum", LONG_BIG},
	{'B', 'U', 1, 0, UINT8_MAX,
	 "unsigned byte integer is greater than maximum",
	 "unsigned byte integer is less than minimum", LONG_BIG},
	{'h', 'S', 2, INT16_MIN, INT16_MAX,
	 "signed short integer is greater than maximum",
	 "signed short integer is less than minimum", LONG_BIG},
	{'H', 'U', 2, 0, UINT16_MAX, "unsigned short is greater than maximum",
	 "unsigned short is less than minimum", LONG_BIG},
	{'i', 'S', 4, INT32_MIN, INT32_MAX,
	 "signed integer is greater than maximum",
	 "signed integer is less than minimum", LONG_BIG},
	{'I', 'V', 4, 0, UINT32_MAX, "unsigned int is greater than maximum",
	 NEG_UINT, ULONG_BIG},
	{'l', 'S', 8, INT64_MIN, INT64_MAX, "", "", LONG_BIG},
	{'L', 'V', 8, 0, UINT64_MAX, "", NEG_UINT, ULONG_BIG},
	{'q', 'S', 8, INT64_MIN, INT64_MAX, "", "", "int too big to convert"},
	{'Q', 'V', 8, 0, UINT64_MAX, "",
	 "can't convert negative int to unsigned", "int too big to convert"},
	{'f', 'F', 4, 0, 0, "", "", ""},
	{'d', 'F', 8, 0, 0, "", "", ""},
};

static const struct tcode *tcode_of(char c)
{
	for (size_t i = 0; i < sizeof(tcodes) / sizeof(tcodes[0]); i++)
		if (tcodes[i].code == c)
			return &tcodes[i];
	return NULL;
}

/* An int as array.array sees it: negative?, and as int64 / uint64 when
 * it fits one. */
struct ival {
	bool neg, fits_i64, fits_u64;
	int64_t i;
	uint64_t u;
};

static void int_value(const mp_obj_t *o, struct ival *v)
{
	unsigned char tmp[16];
	const unsigned char *p;
	size_t len, k;

	memset(v, 0, sizeof(*v));
	if (o->kind == MP_OBJ_BOOL || !o->big) {
		v->i = o->kind == MP_OBJ_BOOL ? o->u.b : o->u.i;
		v->neg = v->i < 0;
		v->fits_i64 = true;
		v->fits_u64 = !v->neg;
		v->u = (uint64_t)v->i;
		return;
	}
	p = mp__obj_int_bytes(o, tmp, &len);
	v->neg = len > 0 && (p[len - 1] & 0x80);
	if (len == 9 && p[8] == 0) { /* 2^63 .. 2^64 - 1 */
		v->fits_u64 = true;
		for (k = 8; k-- > 0;)
			v->u = v->u << 8 | p[k];
	}
}

/* value as the typecode's C number in *bits (its low size bytes). */
static int convert(const struct tcode *t, const mp_obj_t *o, uint64_t *bits)
{
	struct ival v;
	double d;
	float f;
	int rc;

	if (t->how == 'F') {
		if (o->kind != MP_OBJ_BOOL && o->kind != MP_OBJ_INT &&
		    o->kind != MP_OBJ_FLOAT)
			return mp__why(-EINVAL, "TypeError: must be real "
						"number, not %s",
				       mp_obj_kind_name(o->kind));
		if ((rc = mp__obj_as_double(o, &d)) < 0)
			return mp__why(rc, "OverflowError: int too large to "
					   "convert to float");
		if (t->size == 8) {
			memcpy(bits, &d, 8);
		} else {
			uint32_t b32;

			f = (float)d;
			memcpy(&b32, &f, 4);
			*bits = b32;
		}
		return 0;
	}
	if (o->kind != MP_OBJ_BOOL && o->kind != MP_OBJ_INT)
		return mp__why(-EINVAL, "TypeError: '%s' object cannot be "
					"interpreted as an integer",
			       mp_obj_kind_name(o->kind));
	int_value(o, &v);
	if (t->how == 'V') {
		if (v.neg)
			return mp__why(-ERANGE, "OverflowError: %s", t->under);
		if (!v.fits_u64)
			return mp__why(-ERANGE, "OverflowError: %s", t->big);
		if (v.u > t->max)
			return mp__why(-ERANGE, "OverflowError: %s", t->over);
		*bits = v.u;
		return 0;
	}
	if (!v.fits_i64)
		return mp__why(-ERANGE, "OverflowError: %s", t->big);
	if (v.i < t->min)
		return mp__why(-ERANGE, "OverflowError: %s", t->under);
	if (v.i > 0 && (uint64_t)v.i > t->max)
		return mp__why(-ERANGE, "OverflowError: %s", t->over);
	*bits = (uint64_t)v.i;
	return 0;
}

static void *item_at(struct mp_arrayproxy *a, uint64_t i)
{
	return a->data + i * a->size;
}

static void store(struct mp_arrayproxy *a, uint64_t i, uint64_t bits)
{
	void *p = item_at(a, i);

	switch (a->size) {
	case 1:
		__atomic_store_n((uint8_t *)p, (uint8_t)bits, __ATOMIC_RELAXED);
		break;
	case 2:
		__atomic_store_n((uint16_t *)p, (uint16_t)bits,
				 __ATOMIC_RELAXED);
		break;
	case 4:
		__atomic_store_n((uint32_t *)p, (uint32_t)bits,
				 __ATOMIC_RELAXED);
		break;
	default:
		__atomic_store_n((uint64_t *)p, bits, __ATOMIC_RELAXED);
	}
}

/* The item as a new value: NULL with -ENOMEM. */
static mp_obj_t *load(struct mp_arrayproxy *a, uint64_t i)
{
	const struct tcode *t = tcode_of(a->code);
	unsigned char le[9];
	void *p = item_at(a, i);
	uint64_t u;
	int64_t s;
	double d;
	float f;
	int rc;

	switch (a->size) {
	case 1:
		u = __atomic_load_n((uint8_t *)p, __ATOMIC_RELAXED);
		s = (int8_t)u;
		break;
	case 2:
		u = __atomic_load_n((uint16_t *)p, __ATOMIC_RELAXED);
		s = (int16_t)u;
		break;
	case 4:
		u = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
		s = (int32_t)u;
		break;
	default:
		u = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
		s = (int64_t)u;
	}
	if (t->how == 'F') {
		if (a->size == 4) {
			uint32_t b32 = (uint32_t)u;

			memcpy(&f, &b32, 4);
			d = f;
		} else {
			memcpy(&d, &u, 8);
		}
		return mp_obj_float(d);
	}
	if (t->how == 'S' || u <= INT64_MAX)
		return mp_obj_int(t->how == 'S' ? s : (int64_t)u);
	for (int k = 0; k < 8; k++)
		le[k] = (unsigned char)(u >> (8 * k));
	le[8] = 0;
	return mp__obj_bigint(le, 9, &rc);
}

int mp__array_new(struct mp__region *r, char typecode, const mp_obj_t *init,
		  struct mp_arrayproxy **out)
{
	const struct tcode *t = tcode_of(typecode);
	struct mp_arrayproxy *a;
	uint64_t off, n = init != NULL ? init->u.c.n : 0, bits, i;
	int rc;

	if (t == NULL)
		return mp__why(-EINVAL, "ValueError: bad typecode (must be b, "
					"B, h, H, i, I, l, L, q, Q, f or d)");
	if (n > INT32_MAX)
		return mp__why(-EINVAL, "%llu items: at most INT32_MAX",
			       (unsigned long long)n);
	for (i = 0; i < n; i++) /* checked first: nothing to undo */
		if ((rc = convert(t, init->u.c.v[i], &bits)) < 0)
			return rc;
	if ((off = mp__region_alloc(r, sizeof(*a) + n * t->size)) == 0)
		return -ENOMEM;
	a = mp__at(r, off);
	a->r = r;
	a->remote = NULL;
	a->n = n;
	a->code = typecode;
	a->size = t->size;
	for (i = 0; i < n; i++) {
		convert(t, init->u.c.v[i], &bits);
		store(a, i, bits);
	}
	*out = a;
	return 0;
}

/* Python's index normalisation: 0 and the index, or -ERANGE. */
static int norm(const struct mp_arrayproxy *a, ptrdiff_t i, uint64_t *out)
{
	if (i < 0)
		i += (ptrdiff_t)a->n;
	if (i < 0 || (uint64_t)i >= a->n)
		return -ERANGE;
	*out = (uint64_t)i;
	return 0;
}

int mp__array_get(struct mp_arrayproxy *a, ptrdiff_t i, mp_obj_t **out)
{
	uint64_t k;
	int rc;

	*out = NULL;
	if ((rc = closed(a->r)) < 0)
		return rc;
	if (norm(a, i, &k) < 0)
		return mp__why(-ERANGE, "IndexError: array index out of range");
	if ((*out = load(a, k)) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	return 0;
}

int mp__array_set(struct mp_arrayproxy *a, ptrdiff_t i, const mp_obj_t *value)
{
	uint64_t k, bits;
	int rc;

	if ((rc = closed(a->r)) < 0)
		return rc;
	if (norm(a, i, &k) < 0)
		return mp__why(-ERANGE, "IndexError: array assignment index "
					"out of range");
	if ((rc = convert(tcode_of(a->code), value, &bits)) < 0)
		return rc;
	store(a, k, bits);
	return 0;
}

int mp_arrayproxy_get(mp_arrayproxy_t *a, ptrdiff_t i, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(a);
	if (a->remote != NULL)
		MP__REMOTE(mp__rindex(a->remote, "__getitem__", i, NULL, out));
	rc = mp__array_get(a, i, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_arrayproxy_set(mp_arrayproxy_t *a, ptrdiff_t i, const mp_obj_t *value)
{
	int rc;

	MP__CHECK_NULL(a);
	MP__CHECK_NULL(value);
	if (a->remote != NULL)
		MP__REMOTE(mp__rindex(a->remote, "__setitem__", i, value, NULL));
	rc = mp__array_set(a, i, value);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_arrayproxy_len(mp_arrayproxy_t *a)
{
	int rc;

	MP__CHECK_NULL(a);
	if (a->remote != NULL)
		MP__REMOTE(mp__rint(a->remote, "__len__", NULL));
	if ((rc = closed(a->r)) < 0)
		return MP__RAISE(rc);
	return (int)a->n;
}
