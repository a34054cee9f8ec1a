/*
 * manager/keys.c - canonical dict keys (equal keys, equal bytes: 1, 1.0 and
 * True share them), their hash, and Python's < for sort.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"

/* ---- canonical keys ---- */

void mp__kbuf_init(struct mp__kbuf *b)
{
	b->p = b->stack;
	b->len = 0;
	b->cap = sizeof(b->stack);
	b->heap = false;
}

void mp__kbuf_release(struct mp__kbuf *b)
{
	if (b->heap)
		mp__free(b->p);
	mp__kbuf_init(b);
}

static int kput(struct mp__kbuf *b, const void *p, size_t n)
{
	size_t need, cap;
	unsigned char *q;

	if (__builtin_add_overflow(b->len, n, &need))
		return -ENOMEM;
	if (need > b->cap) {
		cap = b->cap * 2 > need ? b->cap * 2 : need;
		q = b->heap ? mp__realloc(b->p, cap) : mp__malloc(cap);
		if (q == NULL)
			return mp__why(-ENOMEM, "out of memory");
		if (!b->heap)
			memcpy(q, b->p, b->len);
		b->p = q;
		b->cap = cap;
		b->heap = true;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len = need;
	return 0;
}

static int ktag(struct mp__kbuf *b, char tag, uint64_t n)
{
	unsigned char h[9];

	h[0] = (unsigned char)tag;
	memcpy(h + 1, &n, 8);
	return kput(b, h, 9);
}

/* Shortest two's complement LE bytes of v (in, len <= cap) in place. */
static size_t shortest(unsigned char *v, size_t len)
{
	while (len > 1 &&
	       ((v[len - 1] == 0x00 && !(v[len - 2] & 0x80)) ||
		(v[len - 1] == 0xff && (v[len - 2] & 0x80))))
		len--;
	return len;
}

/*
 * An integral double of magnitude >= 2^63 as shortest two's complement
 * LE bytes (at most 130: 1024 bits and a sign byte).
 */
static size_t float_int_bytes(double f, unsigned char *v)
{
	uint64_t bits, mant;
	int e, i, carry;
	size_t n = 130;

	memcpy(&bits, &f, 8);
	e = (int)((bits >> 52) & 0x7ff) - 1075;
	mant = (bits & (((uint64_t)1 << 52) - 1)) | (uint64_t)1 << 52;
	memset(v, 0, n);
	mant <<= e % 8;
	for (i = 0; i < 8 && (size_t)(e / 8 + i) < n; i++)
		v[e / 8 + i] = (unsigned char)(mant >> (8 * i));
	if (bits >> 63) {
		carry = 1;
		for (size_t k = 0; k < n; k++) {
			int x = (unsigned char)~v[k] + carry;

			v[k] = (unsigned char)x;
			carry = x >> 8;
		}
	}
	return shortest(v, n);
}

static int canon_num(const mp_obj_t *o, struct mp__kbuf *b)
{
	unsigned char tmp[160];
	const unsigned char *p;
	uint64_t bits;
	size_t len;
	double f;
	int rc;

	if (o->kind == MP_OBJ_BOOL)
		return ktag(b, 'I', (uint64_t)o->u.b);
	if (o->kind == MP_OBJ_INT && !o->big)
		return ktag(b, 'I', (uint64_t)o->u.i);
	if (o->kind == MP_OBJ_INT) {
		p = mp__obj_int_bytes(o, tmp, &len);
		if ((rc = ktag(b, 'B', len)) < 0)
			return rc;
		return kput(b, p, len);
	}
	f = o->u.f;
	if (f - f == 0.0 && f >= -9223372036854775808.0 &&
	    f < 9223372036854775808.0) {
		if ((double)(int64_t)f == f) /* integral: == that int */
			return ktag(b, 'I', (uint64_t)(int64_t)f);
	} else if (f - f == 0.0) {
		/* finite beyond int64: integral, == a big int */
		len = float_int_bytes(f, tmp);
		if ((rc = ktag(b, 'B', len)) < 0)
			return rc;
		return kput(b, tmp, len);
	}
	if (f != f)
		f = __builtin_nan("");
	memcpy(&bits, &f, 8);
	return ktag(b, 'F', bits);
}

struct kpart {
	unsigned char *p;
	size_t len;
};

static int kpart_cmp(const void *a, const void *b)
{
	const struct kpart *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int canon(const mp_obj_t *o, struct mp__kbuf *b);

/* A frozenset: its members' encodings in sorted order (== ignores it). */
static int canon_set(const mp_obj_t *o, struct mp__kbuf *b)
{
	struct kpart *parts;
	struct mp__kbuf one;
	size_t i, n = o->u.c.n;
	int rc = 0;

	parts = mp__calloc(n ? n : 1, sizeof(*parts));
	if (parts == NULL)
		return mp__why(-ENOMEM, "out of memory");
	for (i = 0; i < n && rc == 0; i++) {
		mp__kbuf_init(&one);
		rc = canon(o->u.c.v[i], &one);
		if (rc == 0) {
			parts[i].p = mp__malloc(one.len ? one.len : 1);
			if (parts[i].p == NULL)
				rc = mp__why(-ENOMEM, "out of memory");
			else
				memcpy(parts[i].p, one.p, one.len);
			parts[i].len = one.len;
		}
		mp__kbuf_release(&one);
	}
	if (rc == 0) {
		qsort(parts, n, sizeof(*parts), kpart_cmp);
		rc = ktag(b, 'Z', n);
		for (i = 0; i < n && rc == 0; i++)
			rc = kput(b, parts[i].p, parts[i].len);
	}
	for (i = 0; i < n; i++)
		mp__free(parts[i].p);
	mp__free(parts);
	return rc;
}

static int canon(const mp_obj_t *o, struct mp__kbuf *b)
{
	size_t i;
	int rc;

	switch (o->kind) {
	case MP_OBJ_NONE:
		return kput(b, "N", 1);
	case MP_OBJ_BOOL:
	case MP_OBJ_INT:
	case MP_OBJ_FLOAT:
		return canon_num(o, b);
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		if ((rc = ktag(b, o->kind == MP_OBJ_STR ? 'S' : 'Y',
			       o->u.s.len)) < 0)
			return rc;
		return kput(b, o->u.s.data, o->u.s.len);
	case MP_OBJ_TUPLE:
		if ((rc = ktag(b, 'T', o->u.c.n)) < 0)
			return rc;
		for (i = 0; i < o->u.c.n; i++)
			if ((rc = canon(o->u.c.v[i], b)) < 0)
				return rc;
		return 0;
	case MP_OBJ_FROZENSET:
		return canon_set(o, b);
	default:
		return mp__why(-EINVAL, "TypeError: unhashable type: '%s'",
			       mp_obj_kind_name(o->kind));
	}
}

int mp__key_canon(const mp_obj_t *key, struct mp__kbuf *b)
{
	return canon(key, b);
}

uint64_t mp__key_hash(uint64_t seed, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull), x;

	while (n >= 8) {
		memcpy(&x, s, 8);
		h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		s += 8;
		n -= 8;
	}
	x = 0;
	while (n-- > 0)
		x = x << 8 | s[n];
	h = (h ^ x) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* ---- Python's < ---- */

static int type_error(const mp_obj_t *a, const mp_obj_t *b)
{
	return mp__why(-EINVAL, "TypeError: '<' not supported between "
				"instances of '%s' and '%s'",
		       mp_obj_kind_name(a->kind), mp_obj_kind_name(b->kind));
}

static bool is_num(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_BOOL || o->kind == MP_OBJ_INT ||
	       o->kind == MP_OBJ_FLOAT;
}

/* Compare two's complement LE byte strings: -1, 0, 1. */
static int twos_cmp(const unsigned char *a, size_t na,
		    const unsigned char *b, size_t nb)
{
	size_t n = na > nb ? na : nb, i;
	unsigned char sa = (a[na - 1] & 0x80) ? 0xff : 0;
	unsigned char sb = (b[nb - 1] & 0x80) ? 0xff : 0;

	if (sa != sb)
		return sa ? -1 : 1;
	for (i = n; i-- > 0;) {
		unsigned char x = i < na ? a[i] : sa, y = i < nb ? b[i] : sb;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int int_bytes(const mp_obj_t *o, unsigned char *tmp,
		     const unsigned char **p, size_t *len)
{
	*p = mp__obj_int_bytes(o, tmp, len);
	if (*len == 0) { /* zero */
		tmp[0] = 0;
		*p = tmp;
		*len = 1;
	}
	return 0;
}

/* An int (not a float) against a finite or infinite float f: -1/0/1. */
static int int_float_cmp(const mp_obj_t *a, double f)
{
	unsigned char ta[160], tf[160];
	const unsigned char *pa;
	size_t na, nf;

	if (f - f != 0.0) /* inf */
		return f > 0 ? -1 : 1;
	if (a->kind == MP_OBJ_BOOL || !a->big) {
		long double x = a->kind == MP_OBJ_BOOL ? a->u.b : a->u.i;

		return x < f ? -1 : x > f;
	}
	int_bytes(a, ta, &pa, &na);
	if (f < 9.2e18 && f > -9.2e18) /* a big int is beyond */
		return (pa[na - 1] & 0x80) ? -1 : 1;
	nf = float_int_bytes(f, tf);
	return twos_cmp(pa, na, tf, nf);
}

static int num_lt(const mp_obj_t *a, const mp_obj_t *b)
{
	unsigned char ta[160], tb[160];
	const unsigned char *pa, *pb;
	size_t na, nb;

	if (a->kind == MP_OBJ_FLOAT && b->kind == MP_OBJ_FLOAT)
		return a->u.f < b->u.f;
	if ((a->kind == MP_OBJ_FLOAT && a->u.f != a->u.f) ||
	    (b->kind == MP_OBJ_FLOAT && b->u.f != b->u.f))
		return 0; /* NaN */
	if (a->kind == MP_OBJ_FLOAT)
		return int_float_cmp(b, a->u.f) > 0;
	if (b->kind == MP_OBJ_FLOAT)
		return int_float_cmp(a, b->u.f) < 0;
	int_bytes(a, ta, &pa, &na);
	int_bytes(b, tb, &pb, &nb);
	return twos_cmp(pa, na, pb, nb) < 0;
}

static int bytes_lt(const mp_bytes_t *a, const mp_bytes_t *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->data, b->data, n);

	return c != 0 ? c < 0 : a->len < b->len;
}

int mp__obj_lt(const mp_obj_t *a, const mp_obj_t *b)
{
	size_t i, n;
	int rc;

	if (is_num(a) && is_num(b))
		return num_lt(a, b);
	if (a->kind != b->kind)
		return type_error(a, b);
	switch (a->kind) {
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		return bytes_lt(&a->u.s, &b->u.s);
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		n = a->u.c.n < b->u.c.n ? a->u.c.n : b->u.c.n;
		for (i = 0; i < n; i++) {
			rc = mp__obj_eq(a->u.c.v[i], b->u.c.v[i]);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return mp__obj_lt(a->u.c.v[i], b->u.c.v[i]);
		}
		return a->u.c.n < b->u.c.n;
	default:
		return type_error(a, b);
	}
}
