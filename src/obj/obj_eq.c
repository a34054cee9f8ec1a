/*
 * obj/obj_eq.c - hashing and == of mp_obj_t values: a hash that agrees
 * with Python's == across bool, int and float (1, 1.0 and True hash alike),
 * seeded per process (see obj.c for the design).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "obj/obj_int.h"

/* ---- hashing (agrees with ==) ---- */

static uint64_t hash_seed(void)
{
	static uint64_t seed;
	uint64_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);

	if (s == 0) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
			s = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15u;
		s |= 1;
		__atomic_store_n(&seed, s, __ATOMIC_RELAXED);
	}
	return s;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdu;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53u;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_bytes(const void *p, size_t len, uint64_t tag)
{
	const unsigned char *b = p;
	uint64_t h = mix(hash_seed() ^ tag ^ len), w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, b + i, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15u;
	}
	for (w = 0; i < len; i++)
		w = (w << 8) | b[i];
	return mix(h ^ w ^ 0xa5);
}

/* Is f a whole number?  (No libm: every double of 2^52 or more is.) */
static bool integral(double f)
{
	double a = f < 0 ? -f : f;

	if (!isfinite(f))
		return false;
	return a >= 4503599627370496.0 || f == (double)(int64_t)f;
}

/* An integral float beyond int64 as its shortest two's complement LE;
 * returns the length (<= 130 for a double), 0 if f is not such a float. */
static size_t float_as_le(double f, unsigned char *out, size_t cap)
{
	uint64_t bits, mant;
	int e;
	size_t i, byte, len;
	unsigned carry;

	if (!integral(f) ||
	    (f >= -9223372036854775808.0 && f < 9223372036854775808.0))
		return 0;
	/* |f| = mant * 2^e with a 53-bit mant (f is normal: |f| >= 2^63) */
	memcpy(&bits, &f, sizeof(bits));
	mant = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
	e = (int)((bits >> 52) & 0x7ff) - 1075;
	len = (size_t)(e + 53) / 8 + 2;
	if (len > cap)
		return 0;
	memset(out, 0, len);
	for (i = 0; i < 53; i++)
		if (mant >> i & 1) {
			byte = (size_t)(e + (int)i) / 8;
			out[byte] |= (unsigned char)(1u << ((e + (int)i) % 8));
		}
	if (f < 0) { /* negate: invert and add one */
		carry = 1;
		for (i = 0; i < len; i++) {
			unsigned v = (unsigned)(unsigned char)~out[i] + carry;
			out[i] = (unsigned char)v;
			carry = v >> 8;
		}
	}
	return mp__obj_le_shortest(out, len);
}

int64_t mp__obj_num_small(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_BOOL ? (int64_t)o->u.b : o->u.i;
}

static bool float_small(double f, int64_t *out)
{
	if (!integral(f) || !(f >= -9223372036854775808.0 &&
			      f < 9223372036854775808.0))
		return false;
	*out = (int64_t)f;
	return true;
}

uint64_t mp__obj_hash_of(const mp_obj_t *o)
{
	unsigned char tmp[160];
	uint64_t h, bits;
	int64_t v;
	size_t i, n;

	switch (o->kind) {
	case MP_OBJ_NONE:
		return 0x6e6f6e65u;
	case MP_OBJ_BOOL:
		return mix(hash_seed() ^ (uint64_t)o->u.b);
	case MP_OBJ_INT:
		if (o->big)
			return hash_bytes(o->u.s.data, o->u.s.len, 'i');
		return mix(hash_seed() ^ (uint64_t)o->u.i);
	case MP_OBJ_FLOAT:
		if (float_small(o->u.f, &v))
			return mix(hash_seed() ^ (uint64_t)v);
		if ((n = float_as_le(o->u.f, tmp, sizeof(tmp))) > 0)
			return hash_bytes(tmp, n, 'i');
		memcpy(&bits, &o->u.f, sizeof(bits));
		return mix(bits ^ 0x666c6f6174u);
	case MP_OBJ_STR:
		return hash_bytes(o->u.s.data, o->u.s.len, 's');
	case MP_OBJ_BYTES:
		return hash_bytes(o->u.s.data, o->u.s.len, 'b');
	case MP_OBJ_TUPLE:
		h = 0x7475706c65u ^ o->u.c.n;
		for (i = 0; i < o->u.c.n; i++)
			h = mix(h ^ mp__obj_hash_of(o->u.c.v[i])) + i;
		return h;
	case MP_OBJ_FROZENSET: /* order-independent */
		h = 0x66726f7aU;
		for (i = 0; i < o->u.c.n; i++)
			h += mix(mp__obj_hash_of(o->u.c.v[i]));
		return mix(h);
	default:
		return 0; /* unhashable: refused before hashing */
	}
}

int mp__obj_hashable(const mp_obj_t *o)
{
	size_t i;
	int rc;

	switch (o->kind) {
	case MP_OBJ_TUPLE:
		for (i = 0; i < o->u.c.n; i++)
			if ((rc = mp__obj_hashable(o->u.c.v[i])) < 0)
				return rc;
		return 0;
	case MP_OBJ_LIST:
	case MP_OBJ_DICT:
	case MP_OBJ_SET:
	case MP_OBJ_OBJECT:
	case MP__OBJ_GLOBAL:
		return mp__why(-EINVAL, "unhashable type: '%s'",
			       mp_obj_kind_name(o->kind));
	default:
		return 0;
	}
}

/* ---- equality ---- */

bool mp__obj_is_num(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_BOOL || o->kind == MP_OBJ_INT ||
	       o->kind == MP_OBJ_FLOAT;
}

static int num_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	unsigned char tmp[160];
	int64_t v;
	size_t n;

	if (a->kind == MP_OBJ_FLOAT && b->kind != MP_OBJ_FLOAT) {
		const mp_obj_t *t = a;
		a = b, b = t;
	}
	if (b->kind == MP_OBJ_FLOAT) {
		if (a->kind == MP_OBJ_FLOAT)
			return a->u.f == b->u.f;
		if (a->kind == MP_OBJ_INT && a->big) {
			n = float_as_le(b->u.f, tmp, sizeof(tmp));
			return n > 0 && n == a->u.s.len &&
			       memcmp(tmp, a->u.s.data, n) == 0;
		}
		return float_small(b->u.f, &v) && v == mp__obj_num_small(a);
	}
	if ((a->kind == MP_OBJ_INT && a->big) ||
	    (b->kind == MP_OBJ_INT && b->big))
		return a->kind == MP_OBJ_INT && a->big &&
		       b->kind == MP_OBJ_INT &&
		       b->big && a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	return mp__obj_num_small(a) == mp__obj_num_small(b);
}

static int items_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	size_t i;
	ptrdiff_t j;

	if (a->u.c.n != b->u.c.n)
		return 0;
	if (a->kind == MP_OBJ_DICT) {
		for (i = 0; i < a->u.c.n; i++) {
			j = mp__obj_find(b, a->u.c.v[2 * i],
					 mp__obj_hash_of(a->u.c.v[2 * i]));
			if (j < 0 || !mp__obj_eq(a->u.c.v[2 * i + 1],
						 b->u.c.v[2 * j + 1]))
				return 0;
		}
		return 1;
	}
	if (a->kind == MP_OBJ_SET || a->kind == MP_OBJ_FROZENSET) {
		for (i = 0; i < a->u.c.n; i++)
			if (mp__obj_find(b, a->u.c.v[i],
					 mp__obj_hash_of(a->u.c.v[i])) < 0)
				return 0;
		return 1;
	}
	for (i = 0; i < a->u.c.n; i++)
		if (!mp__obj_eq(a->u.c.v[i], b->u.c.v[i]))
			return 0;
	return 1;
}

bool mp__obj_set_kind(int k)
{
	return k == MP_OBJ_SET || k == MP_OBJ_FROZENSET;
}

int mp__obj_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	if (mp__obj_is_num(a) && mp__obj_is_num(b))
		return num_eq(a, b);
	if (a->kind != b->kind &&
	    !(mp__obj_set_kind(a->kind) && mp__obj_set_kind(b->kind)))
		return 0;
	switch (a->kind) {
	case MP_OBJ_NONE:
		return 1;
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
	case MP__OBJ_GLOBAL:
		return a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	case MP_OBJ_OBJECT:
		if (strcmp(a->u.o.module, b->u.o.module) != 0 ||
		    strcmp(a->u.o.qualname, b->u.o.qualname) != 0 ||
		    a->flags != b->flags ||
		    !mp__obj_eq(a->u.o.args, b->u.o.args))
			return 0;
		if (a->u.o.state == NULL || b->u.o.state == NULL)
			return a->u.o.state == b->u.o.state;
		return mp__obj_eq(a->u.o.state, b->u.o.state);
	default:
		return items_eq(a, b);
	}
}

bool mp__obj_identical(const mp_obj_t *a, const mp_obj_t *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->kind != b->kind || a->flags != b->flags)
		return false;
	switch (a->kind) {
	case MP_OBJ_NONE:
		return true;
	case MP_OBJ_BOOL:
		return a->u.b == b->u.b;
	case MP_OBJ_FLOAT:
		return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0 ||
		       (isnan(a->u.f) && isnan(b->u.f));
	case MP_OBJ_INT:
		if (a->big != b->big)
			return false;
		if (!a->big)
			return a->u.i == b->u.i;
		/* fall through */
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
	case MP__OBJ_GLOBAL:
		return a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	case MP_OBJ_OBJECT:
		return strcmp(a->u.o.module, b->u.o.module) == 0 &&
		       strcmp(a->u.o.qualname, b->u.o.qualname) == 0 &&
		       mp__obj_identical(a->u.o.args, b->u.o.args) &&
		       mp__obj_identical(a->u.o.state, b->u.o.state);
	default:
		if (a->u.c.n != b->u.c.n)
			return false;
		for (i = 0; i < mp__obj_slots(a); i++)
			if (!mp__obj_identical(a->u.c.v[i], b->u.c.v[i]))
				return false;
		return true;
	}
}
