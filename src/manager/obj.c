/*
 * manager/obj.c - mp_obj_t, the Python values that cross languages.
 *
 * Design notes.  A value is a node; containers own their items (a tree).
 * Ints are int64_t when they fit and two's complement little-endian bytes
 * (shortest form) when not, so one value has one representation and ==
 * between two ints is a comparison of forms.  Dicts and sets keep their
 * items in an array in insertion order and, from DICT_INDEX_MIN items on,
 * an open-addressing index of positions (rebuilt when it fills or an item
 * is deleted), keyed by a hash that agrees with Python's == across bool,
 * int and float (1, 1.0 and True hash alike) and is seeded per process so
 * that a peer cannot choose colliding keys in advance.  depth is kept per
 * node when an item is put in, so nesting is bounded without walking.
 * Every recursive walk (free, copy, eq, repr, hash) is bounded by
 * MP_OBJ_MAX_DEPTH.  refs is for the pickle decoder's memo only.
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
#include "manager/obj_int.h"

#define DICT_INDEX_MIN 8

static const char *const kind_names[] = {
	"NoneType", "bool", "int", "float", "str", "bytes", "tuple",
	"list", "dict", "set", "frozenset", "object",
};

const char *mp_obj_kind_name(int kind)
{
	if (kind >= 0 &&
	    (size_t)kind < sizeof(kind_names) / sizeof(*kind_names))
		return kind_names[kind];
	if (kind == MPI_OBJ_GLOBAL)
		return "type";
	return "?";
}

/* ---- nodes ---- */

mp_obj_t *mpi_obj_new(int kind)
{
	mp_obj_t *o = mpi_calloc(1, sizeof(*o));

	if (o != NULL) {
		o->kind = (uint8_t)kind;
		/* a container counts as one level, empty or not */
		if ((kind >= MP_OBJ_TUPLE && kind <= MP_OBJ_FROZENSET) ||
		    kind == MP_OBJ_OBJECT)
			o->depth = 1;
	}
	return o;
}

static bool is_container(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_TUPLE || o->kind == MP_OBJ_LIST ||
	       o->kind == MP_OBJ_DICT || o->kind == MP_OBJ_SET ||
	       o->kind == MP_OBJ_FROZENSET;
}

static size_t slots(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
}

void mpi_obj_decref(mp_obj_t *o)
{
	size_t i;

	if (o == NULL)
		return;
	if (o->refs > 0) {
		o->refs--;
		return;
	}
	if (is_container(o)) {
		for (i = 0; i < slots(o); i++)
			mpi_obj_decref(o->u.c.v[i]);
		mpi_free(o->u.c.v);
		mpi_free(o->u.c.idx);
	} else if (o->kind == MP_OBJ_OBJECT) {
		mpi_free(o->u.o.module);
		mpi_free(o->u.o.qualname);
		mpi_obj_decref(o->u.o.args);
		mpi_obj_decref(o->u.o.state);
	} else if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
		   o->kind == MPI_OBJ_GLOBAL ||
		   (o->kind == MP_OBJ_INT && o->big)) {
		mpi_free(o->u.s.data);
	}
	mpi_free(o);
}

void mp_obj_free(mp_obj_t *o)
{
	mpi_obj_decref(o);
}

size_t mpi_utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i <= n)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

mp_obj_t *mpi_obj_str(int kind, const void *data, size_t len, int *rc)
{
	mp_obj_t *o;
	size_t bad;

	if (kind == MP_OBJ_STR &&
	    (bad = mpi_utf8_check(data, len)) != len) {
		*rc = mpi_why(-EILSEQ, "invalid UTF-8 at byte %zu of %zu", bad,
			      len);
		return NULL;
	}
	if ((o = mpi_obj_new(kind)) == NULL ||
	    (o->u.s.data = mpi_malloc(len + 1)) == NULL) {
		mpi_free(o);
		*rc = -ENOMEM;
		return NULL;
	}
	if (len > 0)
		memcpy(o->u.s.data, data, len);
	o->u.s.data[len] = '\0';
	o->u.s.len = len;
	return o;
}

/* Drop redundant sign bytes: the shortest two's complement form. */
static size_t le_shortest(const unsigned char *b, size_t len)
{
	while (len > 0) {
		unsigned char top = b[len - 1];
		bool below_neg = len >= 2 && (b[len - 2] & 0x80);

		if (top == 0x00 && (len == 1 || !below_neg))
			len--;
		else if (top == 0xff && len >= 2 && below_neg)
			len--;
		else
			break;
	}
	return len;
}

mp_obj_t *mpi_obj_bigint(const void *data, size_t len, int *rc)
{
	const unsigned char *b = data;
	mp_obj_t *o;
	uint64_t u = 0;
	size_t i;

	len = le_shortest(b, len);
	if (len <= 8) {
		for (i = 0; i < len; i++)
			u |= (uint64_t)b[i] << (8 * i);
		if (len > 0 && len < 8 && (b[len - 1] & 0x80))
			u |= ~(uint64_t)0 << (8 * len);
		if ((o = mpi_obj_new(MP_OBJ_INT)) == NULL) {
			*rc = -ENOMEM;
			return NULL;
		}
		o->u.i = (int64_t)u;
		return o;
	}
	if (len > MPI_BIGINT_MAX) {
		*rc = mpi_why(-E2BIG, "int of %zu bytes exceeds %zu", len,
			      MPI_BIGINT_MAX);
		return NULL;
	}
	if ((o = mpi_obj_str(MP_OBJ_BYTES, data, len, rc)) == NULL)
		return NULL;
	o->kind = MP_OBJ_INT;
	o->big = true;
	return o;
}

const unsigned char *mpi_obj_int_bytes(const mp_obj_t *o, unsigned char *tmp,
				       size_t *len)
{
	uint64_t u;
	int i;

	if (o->kind == MP_OBJ_INT && o->big) {
		*len = o->u.s.len;
		return (const unsigned char *)o->u.s.data;
	}
	u = (uint64_t)(o->kind == MP_OBJ_BOOL ? (int64_t)o->u.b : o->u.i);
	for (i = 0; i < 8; i++)
		tmp[i] = (unsigned char)(u >> (8 * i));
	*len = le_shortest(tmp, 8);
	return tmp;
}

mp_obj_t *mpi_obj_global(const char *module, const char *name)
{
	size_t m = strlen(module), n = strlen(name);
	mp_obj_t *o = mpi_obj_new(MPI_OBJ_GLOBAL);

	if (o == NULL || (o->u.s.data = mpi_malloc(m + n + 2)) == NULL) {
		mpi_free(o);
		return NULL;
	}
	memcpy(o->u.s.data, module, m + 1);
	memcpy(o->u.s.data + m + 1, name, n + 1);
	o->u.s.len = m + n + 1;
	return o;
}

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
	return le_shortest(out, len);
}

static int64_t num_small(const mp_obj_t *o)
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

static uint64_t hash_of(const mp_obj_t *o)
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
			h = mix(h ^ hash_of(o->u.c.v[i])) + i;
		return h;
	case MP_OBJ_FROZENSET: /* order-independent */
		h = 0x66726f7aU;
		for (i = 0; i < o->u.c.n; i++)
			h += mix(hash_of(o->u.c.v[i]));
		return mix(h);
	default:
		return 0; /* unhashable: refused before hashing */
	}
}

int mpi_obj_hashable(const mp_obj_t *o)
{
	size_t i;
	int rc;

	switch (o->kind) {
	case MP_OBJ_TUPLE:
		for (i = 0; i < o->u.c.n; i++)
			if ((rc = mpi_obj_hashable(o->u.c.v[i])) < 0)
				return rc;
		return 0;
	case MP_OBJ_LIST:
	case MP_OBJ_DICT:
	case MP_OBJ_SET:
	case MP_OBJ_OBJECT:
	case MPI_OBJ_GLOBAL:
		return mpi_why(-EINVAL, "unhashable type: '%s'",
			       mp_obj_kind_name(o->kind));
	default:
		return 0;
	}
}

/* ---- equality ---- */

static bool is_num(const mp_obj_t *o)
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
		return float_small(b->u.f, &v) && v == num_small(a);
	}
	if ((a->kind == MP_OBJ_INT && a->big) ||
	    (b->kind == MP_OBJ_INT && b->big))
		return a->kind == MP_OBJ_INT && a->big &&
		       b->kind == MP_OBJ_INT &&
		       b->big && a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	return num_small(a) == num_small(b);
}

static ptrdiff_t find(const mp_obj_t *c, const mp_obj_t *key, uint64_t h);

static int items_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	size_t i;
	ptrdiff_t j;

	if (a->u.c.n != b->u.c.n)
		return 0;
	if (a->kind == MP_OBJ_DICT) {
		for (i = 0; i < a->u.c.n; i++) {
			j = find(b, a->u.c.v[2 * i], hash_of(a->u.c.v[2 * i]));
			if (j < 0 || !mpi_obj_eq(a->u.c.v[2 * i + 1],
						 b->u.c.v[2 * j + 1]))
				return 0;
		}
		return 1;
	}
	if (a->kind == MP_OBJ_SET || a->kind == MP_OBJ_FROZENSET) {
		for (i = 0; i < a->u.c.n; i++)
			if (find(b, a->u.c.v[i], hash_of(a->u.c.v[i])) < 0)
				return 0;
		return 1;
	}
	for (i = 0; i < a->u.c.n; i++)
		if (!mpi_obj_eq(a->u.c.v[i], b->u.c.v[i]))
			return 0;
	return 1;
}

static bool set_kind(int k)
{
	return k == MP_OBJ_SET || k == MP_OBJ_FROZENSET;
}

int mpi_obj_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	if (is_num(a) && is_num(b))
		return num_eq(a, b);
	if (a->kind != b->kind && !(set_kind(a->kind) && set_kind(b->kind)))
		return 0;
	switch (a->kind) {
	case MP_OBJ_NONE:
		return 1;
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
	case MPI_OBJ_GLOBAL:
		return a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	case MP_OBJ_OBJECT:
		if (strcmp(a->u.o.module, b->u.o.module) != 0 ||
		    strcmp(a->u.o.qualname, b->u.o.qualname) != 0 ||
		    a->flags != b->flags ||
		    !mpi_obj_eq(a->u.o.args, b->u.o.args))
			return 0;
		if (a->u.o.state == NULL || b->u.o.state == NULL)
			return a->u.o.state == b->u.o.state;
		return mpi_obj_eq(a->u.o.state, b->u.o.state);
	default:
		return items_eq(a, b);
	}
}

bool mpi_obj_identical(const mp_obj_t *a, const mp_obj_t *b)
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
	case MPI_OBJ_GLOBAL:
		return a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	case MP_OBJ_OBJECT:
		return strcmp(a->u.o.module, b->u.o.module) == 0 &&
		       strcmp(a->u.o.qualname, b->u.o.qualname) == 0 &&
		       mpi_obj_identical(a->u.o.args, b->u.o.args) &&
		       mpi_obj_identical(a->u.o.state, b->u.o.state);
	default:
		if (a->u.c.n != b->u.c.n)
			return false;
		for (i = 0; i < slots(a); i++)
			if (!mpi_obj_identical(a->u.c.v[i], b->u.c.v[i]))
				return false;
		return true;
	}
}

/* ---- containers ---- */

/* Position of key in dict/set c, or -1. */
static ptrdiff_t find(const mp_obj_t *c, const mp_obj_t *key, uint64_t h)
{
	size_t step = c->kind == MP_OBJ_DICT ? 2 : 1, i, mask;
	uint32_t pos;

	if (c->u.c.icap == 0) {
		for (i = 0; i < c->u.c.n; i++)
			if (mpi_obj_eq(c->u.c.v[step * i], key))
				return (ptrdiff_t)i;
		return -1;
	}
	mask = c->u.c.icap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		pos = c->u.c.idx[i];
		if (pos == 0)
			return -1;
		if (mpi_obj_eq(c->u.c.v[step * (pos - 1)], key))
			return (ptrdiff_t)pos - 1;
	}
}

static void index_put(mp_obj_t *c, size_t pos, uint64_t h)
{
	size_t mask = c->u.c.icap - 1, i;

	for (i = h & mask; c->u.c.idx[i] != 0; i = (i + 1) & mask)
		;
	c->u.c.idx[i] = (uint32_t)(pos + 1);
}

/* (Re)build the index for n items (and room to grow to twice n). */
static int index_build(mp_obj_t *c, size_t n)
{
	size_t step = c->kind == MP_OBJ_DICT ? 2 : 1, cap = 16, i;
	uint32_t *idx;

	if (n < DICT_INDEX_MIN) {
		mpi_free(c->u.c.idx);
		c->u.c.idx = NULL;
		c->u.c.icap = 0;
		return 0;
	}
	while (cap < 2 * n + 2)
		cap *= 2;
	if ((idx = mpi_calloc(cap, sizeof(*idx))) == NULL)
		return -ENOMEM;
	mpi_free(c->u.c.idx);
	c->u.c.idx = idx;
	c->u.c.icap = cap;
	for (i = 0; i < c->u.c.n; i++)
		index_put(c, i, hash_of(c->u.c.v[step * i]));
	return 0;
}

/* Room for one more item (step slots). */
static int reserve(mp_obj_t *c, size_t step)
{
	size_t need = slots(c) + step, cap;
	mp_obj_t **v;

	if (c->u.c.n >= UINT32_MAX - 1)
		return mpi_why(-E2BIG, "container of %zu items is full",
			       c->u.c.n);
	if (need <= c->u.c.cap)
		return 0;
	cap = c->u.c.cap < 4 ? 4 : c->u.c.cap * 2;
	if (cap < need)
		cap = need;
	if ((v = mpi_reallocarray(c->u.c.v, cap, sizeof(*v))) == NULL)
		return -ENOMEM;
	c->u.c.v = v;
	c->u.c.cap = cap;
	return 0;
}

static int take_depth(mp_obj_t *c, const mp_obj_t *item)
{
	unsigned d = (unsigned)item->depth + 1;

	if (d > MP_OBJ_MAX_DEPTH)
		return mpi_why(-E2BIG, "nesting exceeds %d levels",
			       MP_OBJ_MAX_DEPTH);
	if (d > c->depth)
		c->depth = (uint16_t)d;
	return 0;
}

int mpi_obj_append(mp_obj_t *seq, mp_obj_t *item)
{
	int rc;

	if ((rc = take_depth(seq, item)) < 0 || (rc = reserve(seq, 1)) < 0) {
		mpi_obj_decref(item);
		return rc;
	}
	seq->u.c.v[seq->u.c.n++] = item;
	return 0;
}

/* Add key (and value for a dict) to a dict/set; 1 added, 0 replaced. */
static int insert(mp_obj_t *c, mp_obj_t *key, mp_obj_t *value)
{
	bool dict = c->kind == MP_OBJ_DICT;
	size_t step = dict ? 2 : 1;
	uint64_t h;
	ptrdiff_t at;
	int rc;

	if ((rc = mpi_obj_hashable(key)) < 0 || (rc = take_depth(c, key)) < 0 ||
	    (value != NULL && (rc = take_depth(c, value)) < 0))
		goto fail;
	h = hash_of(key);
	if ((at = find(c, key, h)) >= 0) {
		mpi_obj_decref(key);
		if (dict) {
			mpi_obj_decref(c->u.c.v[2 * at + 1]);
			c->u.c.v[2 * at + 1] = value;
		}
		return 0;
	}
	if ((rc = reserve(c, step)) < 0)
		goto fail;
	if (c->u.c.icap < 2 * (c->u.c.n + 1) + 2 &&
	    c->u.c.n + 1 >= DICT_INDEX_MIN &&
	    (rc = index_build(c, c->u.c.n + 1)) < 0)
		goto fail;
	c->u.c.v[step * c->u.c.n] = key;
	if (dict)
		c->u.c.v[2 * c->u.c.n + 1] = value;
	if (c->u.c.icap > 0)
		index_put(c, c->u.c.n, h);
	c->u.c.n++;
	return 1;
fail:
	mpi_obj_decref(key);
	mpi_obj_decref(value);
	return rc;
}

int mpi_obj_setitem(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value)
{
	int rc = insert(d, key, value);

	return rc < 0 ? rc : 0;
}

int mpi_obj_add(mp_obj_t *s, mp_obj_t *item)
{
	return insert(s, item, NULL);
}

size_t mpi_obj_cost(const mp_obj_t *o)
{
	size_t c = sizeof(*o);

	if (is_container(o))
		c += o->u.c.cap * sizeof(void *) + o->u.c.icap * 4;
	else if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
		 o->kind == MPI_OBJ_GLOBAL || (o->kind == MP_OBJ_INT && o->big))
		c += o->u.s.len + 1;
	else if (o->kind == MP_OBJ_OBJECT)
		c += strlen(o->u.o.module) + strlen(o->u.o.qualname) + 2;
	return c;
}

mp_obj_t *mpi_obj_copy(const mp_obj_t *o, int64_t *budget, bool freeze,
		       int *rc)
{
	mp_obj_t *c;
	size_t i, n;

	if (budget != NULL) {
		*budget -= (int64_t)mpi_obj_cost(o);
		if (*budget < 0) {
			*rc = mpi_why(-E2BIG, "memo copies exceed the budget "
					      "(%d x input + %zu bytes)",
				      MP_PICKLE_COPY_FACTOR,
				      MP_PICKLE_COPY_BASE);
			return NULL;
		}
	}
	if (freeze)
		((mp_obj_t *)o)->frozen = true;
	if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
	    o->kind == MPI_OBJ_GLOBAL || (o->kind == MP_OBJ_INT && o->big)) {
		if ((c = mpi_obj_str(MP_OBJ_BYTES, o->u.s.data, o->u.s.len,
				     rc)) == NULL)
			return NULL;
		c->kind = o->kind;
		c->big = o->big;
	} else if ((c = mpi_obj_new(o->kind)) == NULL) {
		*rc = -ENOMEM;
		return NULL;
	} else if (o->kind == MP_OBJ_OBJECT) {
		c->flags = o->flags;
		c->depth = o->depth;
		if ((c->u.o.module = mpi_strdup(o->u.o.module)) == NULL ||
		    (c->u.o.qualname = mpi_strdup(o->u.o.qualname)) == NULL) {
			*rc = -ENOMEM;
			goto fail;
		}
		if ((c->u.o.args = mpi_obj_copy(o->u.o.args, budget, freeze,
						rc)) == NULL)
			goto fail;
		if (o->u.o.state != NULL &&
		    (c->u.o.state = mpi_obj_copy(o->u.o.state, budget, freeze,
						 rc)) == NULL)
			goto fail;
	} else if (is_container(o)) {
		n = slots(o);
		c->depth = o->depth;
		if (n > 0 &&
		    (c->u.c.v = mpi_calloc(n, sizeof(*c->u.c.v))) == NULL) {
			*rc = -ENOMEM;
			goto fail;
		}
		c->u.c.cap = n;
		for (i = 0; i < n; i++) {
			if ((c->u.c.v[i] = mpi_obj_copy(o->u.c.v[i], budget,
							freeze, rc)) == NULL) {
				while (i > 0)
					mpi_obj_decref(c->u.c.v[--i]);
				goto fail;
			}
		}
		c->u.c.n = o->u.c.n;
		if ((o->kind == MP_OBJ_DICT || set_kind(o->kind)) &&
		    (*rc = index_build(c, c->u.c.n)) < 0)
			goto fail;
	} else {
		c->u = o->u;
	}
	c->frozen = freeze;
	return c;
fail:
	mpi_obj_decref(c);
	return NULL;
}

/* ---- repr ---- */

static int put(mp_bytes_t *b, size_t *cap, const void *p, size_t n)
{
	size_t need, c;
	char *d;

	if (__builtin_add_overflow(b->len, n + 1, &need))
		return -ENOMEM;
	if (need > *cap) {
		c = *cap < 64 ? 64 : *cap;
		while (c < need)
			c = c > SIZE_MAX / 2 ? need : c * 2;
		if ((d = mpi_realloc(b->data, c)) == NULL)
			return -ENOMEM;
		b->data = d;
		*cap = c;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int puts_(mp_bytes_t *b, size_t *cap, const char *s)
{
	return put(b, cap, s, strlen(s));
}

static int putf(mp_bytes_t *b, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int putf(mp_bytes_t *b, size_t *cap, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return put(b, cap, tmp, (size_t)n);
}

/* Python's float repr: the shortest digits that round-trip, fixed
 * notation for exponents -4..15, else d.ddde+XX. */
static int repr_float(double f, mp_bytes_t *b, size_t *cap)
{
	char tmp[40], digits[24];
	int p, e, nd = 0, i, rc = 0;
	char *s;

	if (isnan(f))
		return puts_(b, cap, "nan");
	if (isinf(f))
		return puts_(b, cap, f < 0 ? "-inf" : "inf");
	for (p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, f);
		if (strtod(tmp, NULL) == f)
			break;
	}
	s = tmp;
	if (*s == '-') {
		rc = put(b, cap, "-", 1);
		s++;
	}
	for (; *s != 'e'; s++)
		if (*s != '.')
			digits[nd++] = *s;
	e = atoi(s + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (e >= -4 && e < 16) {
		if (e < 0) {
			rc = rc ? rc : put(b, cap, "0.", 2);
			for (i = 0; i < -e - 1 && rc == 0; i++)
				rc = put(b, cap, "0", 1);
			return rc ? rc : put(b, cap, digits, (size_t)nd);
		}
		for (i = 0; i <= e && rc == 0; i++)
			rc = put(b, cap, i < nd ? &digits[i] : "0", 1);
		rc = rc ? rc : put(b, cap, ".", 1);
		if (nd > e + 1)
			return rc ? rc : put(b, cap, digits + e + 1,
					     (size_t)(nd - e - 1));
		return rc ? rc : put(b, cap, "0", 1);
	}
	rc = rc ? rc : put(b, cap, digits, 1);
	if (nd > 1) {
		rc = rc ? rc : put(b, cap, ".", 1);
		rc = rc ? rc : put(b, cap, digits + 1, (size_t)nd - 1);
	}
	return rc ? rc : putf(b, cap, "e%c%02d", e < 0 ? '-' : '+', abs(e));
}

/* Decimal digits of a big int (or hex beyond Python's 4300-digit limit). */
static int repr_bigint(const unsigned char *le, size_t len, mp_bytes_t *b,
		       size_t *cap)
{
	bool neg = le[len - 1] & 0x80;
	size_t nw = (len + 3) / 4, i, nd = 0, top;
	uint32_t *w, carry;
	char *dec;
	int rc = 0;

	if ((w = mpi_calloc(nw, sizeof(*w))) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) /* magnitude, little-endian words */
		w[i / 4] |= (uint32_t)(neg ? (unsigned char)~le[i] : le[i])
			    << (8 * (i % 4));
	if (neg) {
		if (len % 4)
			w[nw - 1] &= (1u << (8 * (len % 4))) - 1;
		for (i = 0, carry = 1; i < nw && carry; i++)
			carry = ++w[i] == 0;
	}
	if (len > 1786) { /* 4300 decimal digits: Python refuses, we hex */
		rc = put(b, cap, neg ? "-0x" : "0x", neg ? 3 : 2);
		for (top = nw; top > 1 && w[top - 1] == 0; top--)
			;
		rc = rc ? rc : putf(b, cap, "%x", w[top - 1]);
		for (i = top - 1; i > 0 && rc == 0; i--)
			rc = putf(b, cap, "%08x", w[i - 1]);
		mpi_free(w);
		return rc;
	}
	if ((dec = mpi_malloc(len * 3 + 16)) == NULL) {
		mpi_free(w);
		return -ENOMEM;
	}
	for (top = nw; top > 0;) {
		uint64_t r = 0;

		for (i = top; i > 0; i--) {
			uint64_t cur = (r << 32) | w[i - 1];

			w[i - 1] = (uint32_t)(cur / 1000000000u);
			r = cur % 1000000000u;
		}
		while (top > 0 && w[top - 1] == 0)
			top--;
		for (i = 0; i < 9 && (top > 0 || r > 0); i++, r /= 10)
			dec[nd++] = (char)('0' + r % 10);
	}
	if (neg)
		dec[nd++] = '-';
	for (i = 0; i < nd / 2; i++) {
		char t = dec[i];
		dec[i] = dec[nd - 1 - i];
		dec[nd - 1 - i] = t;
	}
	rc = put(b, cap, dec, nd);
	mpi_free(dec);
	mpi_free(w);
	return rc;
}

/* Code points Python's str.isprintable() rejects, from a short table. */
static bool unprintable(uint32_t c)
{
	static const uint32_t r[][2] = {
		{0x80, 0xa0}, {0xad, 0xad}, {0x600, 0x605}, {0x61c, 0x61c},
		{0x6dd, 0x6dd}, {0x70f, 0x70f}, {0x890, 0x891}, {0x8e2, 0x8e2},
		{0x1680, 0x1680}, {0x180e, 0x180e}, {0x2000, 0x200f},
		{0x2028, 0x202f}, {0x205f, 0x2064}, {0x2066, 0x206f},
		{0x3000, 0x3000}, {0xd800, 0xf8ff}, {0xfdd0, 0xfdef},
		{0xfeff, 0xfeff}, {0xfff9, 0xfffb}, {0x110bd, 0x110bd},
		{0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
		{0x1d173, 0x1d17a}, {0xe0000, 0xe0fff}, {0xf0000, 0x10ffff},
	};
	size_t i;

	if ((c & 0xfffe) == 0xfffe)
		return true;
	for (i = 0; i < sizeof(r) / sizeof(*r); i++)
		if (c >= r[i][0] && c <= r[i][1])
			return true;
	return false;
}

static int repr_text(const mp_obj_t *o, mp_bytes_t *b, size_t *cap)
{
	const unsigned char *s = (const unsigned char *)o->u.s.data;
	size_t n = o->u.s.len, i, k;
	bool str = o->kind == MP_OBJ_STR;
	char q = '\'';
	int rc = 0;

	if (memchr(s, '\'', n) && !memchr(s, '"', n))
		q = '"';
	if (!str)
		rc = put(b, cap, "b", 1);
	rc = rc ? rc : put(b, cap, &q, 1);
	for (i = 0; i < n && rc == 0; i++) {
		unsigned char c = s[i];
		uint32_t cp;

		if (c == (unsigned char)q || c == '\\')
			rc = putf(b, cap, "\\%c", c);
		else if (c == '\t')
			rc = put(b, cap, "\\t", 2);
		else if (c == '\n')
			rc = put(b, cap, "\\n", 2);
		else if (c == '\r')
			rc = put(b, cap, "\\r", 2);
		else if (c < 0x20 || c == 0x7f || (!str && c >= 0x80))
			rc = putf(b, cap, "\\x%02x", c);
		else if (c < 0x80)
			rc = put(b, cap, &s[i], 1);
		else { /* valid UTF-8: decode one code point */
			k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
			cp = c & (0x3f >> k);
			for (size_t j = 1; j <= k; j++)
				cp = (cp << 6) | (s[i + j] & 0x3f);
			if (!unprintable(cp))
				rc = put(b, cap, &s[i], k + 1);
			else if (cp < 0x100)
				rc = putf(b, cap, "\\x%02x", cp);
			else if (cp < 0x10000)
				rc = putf(b, cap, "\\u%04x", cp);
			else
				rc = putf(b, cap, "\\U%08x", cp);
			i += k;
		}
	}
	return rc ? rc : put(b, cap, &q, 1);
}

static int repr_items(const mp_obj_t *o, size_t from, const char *open,
		      const char *close, mp_bytes_t *b, size_t *cap)
{
	bool dict = o->kind == MP_OBJ_DICT;
	size_t i;
	int rc = puts_(b, cap, open);

	for (i = from; i < o->u.c.n && rc == 0; i++) {
		if (i > from)
			rc = put(b, cap, ", ", 2);
		if (dict) {
			rc = rc ? rc : mpi_obj_repr(o->u.c.v[2 * i], b, cap);
			rc = rc ? rc : put(b, cap, ": ", 2);
			rc = rc ? rc
				: mpi_obj_repr(o->u.c.v[2 * i + 1], b, cap);
		} else {
			rc = rc ? rc : mpi_obj_repr(o->u.c.v[i], b, cap);
		}
	}
	return rc ? rc : puts_(b, cap, close);
}

static int repr_object(const mp_obj_t *o, mp_bytes_t *b, size_t *cap)
{
	const mp_obj_t *st = o->u.o.state;
	int rc;

	if (strcmp(o->u.o.module, "multiprocessing.managers") == 0 &&
	    strcmp(o->u.o.qualname, "Token") == 0 && st != NULL &&
	    st->kind == MP_OBJ_TUPLE && st->u.c.n == 3) {
		rc = puts_(b, cap, "Token(typeid=");
		rc = rc ? rc : mpi_obj_repr(st->u.c.v[0], b, cap);
		rc = rc ? rc : puts_(b, cap, ", address=");
		rc = rc ? rc : mpi_obj_repr(st->u.c.v[1], b, cap);
		rc = rc ? rc : puts_(b, cap, ", id=");
		rc = rc ? rc : mpi_obj_repr(st->u.c.v[2], b, cap);
		return rc ? rc : puts_(b, cap, ")");
	}
	if ((o->flags & MP_OBJ_NEWOBJ) && o->u.o.args->u.c.n == 0 &&
	    st != NULL) {
		rc = putf(b, cap, "<%.20s", o->u.o.module);
		rc = rc ? rc : putf(b, cap, ".%.40s object>", o->u.o.qualname);
		return rc;
	}
	rc = puts_(b, cap, o->u.o.qualname);
	return rc ? rc : repr_items(o->u.o.args, 0, "(", ")", b, cap);
}

int mpi_obj_repr(const mp_obj_t *o, mp_bytes_t *b, size_t *cap)
{
	switch (o->kind) {
	case MP_OBJ_NONE:
		return puts_(b, cap, "None");
	case MP_OBJ_BOOL:
		return puts_(b, cap, o->u.b ? "True" : "False");
	case MP_OBJ_INT:
		if (o->big)
			return repr_bigint((const unsigned char *)o->u.s.data,
					   o->u.s.len, b, cap);
		return putf(b, cap, "%" PRId64, o->u.i);
	case MP_OBJ_FLOAT:
		return repr_float(o->u.f, b, cap);
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		return repr_text(o, b, cap);
	case MP_OBJ_TUPLE:
		if (o->u.c.n == 1) {
			int rc = put(b, cap, "(", 1);
			rc = rc ? rc : mpi_obj_repr(o->u.c.v[0], b, cap);
			return rc ? rc : put(b, cap, ",)", 2);
		}
		return repr_items(o, 0, "(", ")", b, cap);
	case MP_OBJ_LIST:
		return repr_items(o, 0, "[", "]", b, cap);
	case MP_OBJ_DICT:
		return repr_items(o, 0, "{", "}", b, cap);
	case MP_OBJ_SET:
		if (o->u.c.n == 0)
			return puts_(b, cap, "set()");
		return repr_items(o, 0, "{", "}", b, cap);
	case MP_OBJ_FROZENSET:
		if (o->u.c.n == 0)
			return puts_(b, cap, "frozenset()");
		return repr_items(o, 0, "frozenset({", "})", b, cap);
	case MP_OBJ_OBJECT:
		return repr_object(o, b, cap);
	default: /* a global */
		if (putf(b, cap, "<class '%.40s.", o->u.s.data) < 0 ||
		    putf(b, cap, "%.40s'>",
			 o->u.s.data + strlen(o->u.s.data) + 1) < 0)
			return -ENOMEM;
		return 0;
	}
}

/* ---- the public functions ---- */

/* Return a constructor's node, reporting rc (read after o was made) for
 * NULL in the public function's name. */
#define RETURN_MADE(o, rc)                                                    \
	do {                                                                  \
		mp_obj_t *made_ = (o);                                        \
		if (made_ == NULL)                                            \
			MPI_RAISE(rc);                                        \
		return made_;                                                 \
	} while (0)

mp_obj_t *mp_obj_none(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mpi_obj_new(MP_OBJ_NONE), rc);
}

mp_obj_t *mp_obj_bool(bool v)
{
	mp_obj_t *o = mpi_obj_new(MP_OBJ_BOOL);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.b = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_int(int64_t v)
{
	mp_obj_t *o = mpi_obj_new(MP_OBJ_INT);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.i = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_float(double v)
{
	mp_obj_t *o = mpi_obj_new(MP_OBJ_FLOAT);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.f = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_bigint(const void *data, size_t len)
{
	int rc = -EINVAL;

	if (data == NULL && len > 0) {
		MPI_ERR(-EINVAL, "argument 'data' is NULL");
		return NULL;
	}
	RETURN_MADE(mpi_obj_bigint(data, len, &rc), rc);
}

mp_obj_t *mp_obj_strn(const char *s, size_t len)
{
	int rc = -EINVAL;

	if (s == NULL && len > 0) {
		MPI_ERR(-EINVAL, "argument 's' is NULL");
		return NULL;
	}
	RETURN_MADE(mpi_obj_str(MP_OBJ_STR, s, len, &rc), rc);
}

mp_obj_t *mp_obj_str(const char *s)
{
	int rc = -EINVAL;

	MPI_CHECK_NULL_P(s);
	RETURN_MADE(mpi_obj_str(MP_OBJ_STR, s, strlen(s), &rc), rc);
}

mp_obj_t *mp_obj_bytes(const void *data, size_t len)
{
	int rc = -EINVAL;

	if (data == NULL && len > 0) {
		MPI_ERR(-EINVAL, "argument 'data' is NULL");
		return NULL;
	}
	RETURN_MADE(mpi_obj_str(MP_OBJ_BYTES, data, len, &rc), rc);
}

/* The code a NULL item stands for: its constructor's. */
static int null_item_code(void)
{
	int rc = mp_last_error_code();

	return rc < 0 ? rc : -EINVAL;
}

mp_obj_t *mp_obj_tuple(size_t n, mp_obj_t *const *items)
{
	mp_obj_t *t = NULL;
	size_t i, bad = 0;
	int rc = 0;

	if (n > 0 && items == NULL) {
		MPI_ERR(-EINVAL, "argument 'items' is NULL");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (items[i] == NULL && rc == 0) {
			rc = null_item_code();
			bad = i;
		}
	if (rc == 0 && (t = mpi_obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = -ENOMEM;
	if (rc < 0) {
		for (i = 0; i < n; i++)
			mpi_obj_decref(items[i]);
		if (rc == -ENOMEM)
			MPI_ERR(rc, "out of memory");
		else
			MPI_ERR(rc, "item %zu is NULL (its constructor failed: "
				    "%s)", bad, mp_strerror(rc));
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = mpi_obj_append(t, items[i]);
		else
			mpi_obj_decref(items[i]);
	}
	if (rc < 0) {
		mpi_obj_decref(t);
		MPI_RAISE(rc);
		return NULL;
	}
	return t;
}

mp_obj_t *mp_obj_tuple_pack(size_t n, ...)
{
	mp_obj_t *t, *item;
	va_list ap;
	size_t i;
	int rc = 0;
	bool null = false;

	if ((t = mpi_obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = -ENOMEM;
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		item = va_arg(ap, mp_obj_t *);
		if (item == NULL && rc == 0) {
			rc = null_item_code();
			null = true;
		} else if (rc == 0)
			rc = mpi_obj_append(t, item);
		else
			mpi_obj_decref(item);
	}
	va_end(ap);
	if (rc < 0) {
		mpi_obj_decref(t);
		if (null)
			MPI_ERR(rc, "an item is NULL (its constructor failed: "
				    "%s)", mp_strerror(rc));
		else
			MPI_RAISE(rc);
		return NULL;
	}
	return t;
}

mp_obj_t *mp_obj_list(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mpi_obj_new(MP_OBJ_LIST), rc);
}

mp_obj_t *mp_obj_dict(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mpi_obj_new(MP_OBJ_DICT), rc);
}

mp_obj_t *mp_obj_set(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mpi_obj_new(MP_OBJ_SET), rc);
}

mp_obj_t *mp_obj_frozenset(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mpi_obj_new(MP_OBJ_FROZENSET), rc);
}

static bool good_name(const char *s)
{
	return s != NULL && *s != '\0' && strlen(s) < 256 &&
	       strchr(s, '\n') == NULL;
}

mp_obj_t *mp_obj_object(const char *module, const char *qualname,
			mp_obj_t *args, mp_obj_t *state, unsigned flags)
{
	mp_obj_t *o = NULL;
	int rc = 0;

	if (!good_name(module) || !good_name(qualname))
		rc = MPI_ERR(-EINVAL, "module and qualname must be non-empty "
				      "names (under 256 bytes, no newline)");
	else if (args != NULL && args->kind != MP_OBJ_TUPLE)
		rc = MPI_ERR(-EINVAL, "args must be a tuple, not %s",
			     mp_obj_kind_name(args->kind));
	else if (flags & ~MP_OBJ_NEWOBJ)
		rc = MPI_ERR(-EINVAL, "unknown flags %#x", flags);
	else if (args == NULL && (args = mpi_obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = MPI_ERR(-ENOMEM, "out of memory");
	else if ((o = mpi_obj_new(MP_OBJ_OBJECT)) == NULL ||
		 (o->u.o.module = mpi_strdup(module)) == NULL ||
		 (o->u.o.qualname = mpi_strdup(qualname)) == NULL)
		rc = MPI_ERR(-ENOMEM, "out of memory");
	else if ((rc = take_depth(o, args)) < 0 ||
		 (state != NULL && (rc = take_depth(o, state)) < 0))
		MPI_RAISE(rc);
	if (rc < 0) {
		mpi_obj_decref(o);
		mpi_obj_decref(args);
		mpi_obj_decref(state);
		return NULL;
	}
	o->flags = (uint8_t)flags;
	o->u.o.args = args;
	o->u.o.state = state;
	return o;
}

mp_obj_t *mp_obj_copy(const mp_obj_t *o)
{
	int rc = -ENOMEM;

	MPI_CHECK_NULL_P(o);
	RETURN_MADE(mpi_obj_copy(o, NULL, false, &rc), rc);
}

int mp_obj_kind(const mp_obj_t *o)
{
	MPI_CHECK_NULL(o);
	return o->kind;
}

/* -EINVAL naming what was expected and what came (public layer). */
#define WRONG_KIND(o, want)                                                   \
	MPI_ERR(-EINVAL, "expected %s, got %s", (want),                      \
		(o) ? mp_obj_kind_name((o)->kind) : "NULL")

int mp_obj_as_bool(const mp_obj_t *o, bool *out)
{
	MPI_CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_BOOL)
		return WRONG_KIND(o, "bool");
	*out = o->u.b;
	return 0;
}

int mp_obj_as_int(const mp_obj_t *o, int64_t *out)
{
	MPI_CHECK_NULL(out);
	if (o == NULL || (o->kind != MP_OBJ_INT && o->kind != MP_OBJ_BOOL))
		return WRONG_KIND(o, "int");
	if (o->big)
		return MPI_ERR(-ERANGE, "int of %zu bytes does not fit 64 bits",
			       o->u.s.len);
	*out = num_small(o);
	return 0;
}

int mp_obj_as_bigint(const mp_obj_t *o, mp_bytes_t *out)
{
	unsigned char tmp[9];
	const unsigned char *p;
	size_t len;

	MPI_CHECK_NULL(out);
	if (o == NULL || (o->kind != MP_OBJ_INT && o->kind != MP_OBJ_BOOL))
		return WRONG_KIND(o, "int");
	p = mpi_obj_int_bytes(o, tmp, &len);
	if ((out->data = mpi_malloc(len + 1)) == NULL)
		return MPI_ERR(-ENOMEM, "out of memory");
	memcpy(out->data, p, len);
	out->data[len] = '\0';
	out->len = len;
	return 0;
}

/* Big int to double, rounded to nearest even; -ERANGE past DBL_MAX. */
static int big_to_double(const mp_obj_t *o, double *out)
{
	const unsigned char *le = (const unsigned char *)o->u.s.data;
	size_t len = o->u.s.len, i, bits;
	bool neg = le[len - 1] & 0x80, sticky = false;
	unsigned char *mag;
	uint64_t top = 0;
	unsigned carry = 1;
	double d;

	if ((mag = mpi_malloc(len)) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned v = neg ? (unsigned)(unsigned char)~le[i] + carry
				 : le[i];
		mag[i] = (unsigned char)v;
		carry = neg ? v >> 8 : 0;
	}
	while (len > 0 && mag[len - 1] == 0)
		len--;
	bits = len * 8;
	while (bits > 0 && !(mag[(bits - 1) / 8] >> ((bits - 1) % 8) & 1))
		bits--;
	for (i = 0; i < 64; i++) { /* the top 64 bits */
		size_t bit = bits - 64 + i;
		top |= (uint64_t)(mag[bit / 8] >> (bit % 8) & 1) << i;
	}
	for (i = 0; i < bits - 64 && !sticky; i++)
		sticky = mag[i / 8] >> (i % 8) & 1;
	mpi_free(mag);
	d = (double)(top | (uint64_t)sticky);
	for (i = bits - 64; i > 0;) { /* d * 2^(bits - 64), exact or inf */
		size_t k = i > 512 ? 512 : i;
		uint64_t p2 = (uint64_t)(1023 + k) << 52;
		double m;

		memcpy(&m, &p2, sizeof(m));
		d *= m;
		i -= k;
	}
	if (isinf(d))
		return mpi_why(-ERANGE, "int too large to convert to float");
	*out = neg ? -d : d;
	return 0;
}

int mpi_obj_as_double(const mp_obj_t *o, double *out)
{
	if (o->kind == MP_OBJ_FLOAT)
		*out = o->u.f;
	else if (!o->big)
		*out = (double)num_small(o);
	else
		return big_to_double(o, out);
	return 0;
}

int mp_obj_as_float(const mp_obj_t *o, double *out)
{
	int rc;

	MPI_CHECK_NULL(out);
	if (o == NULL || !is_num(o))
		return WRONG_KIND(o, "float");
	if ((rc = mpi_obj_as_double(o, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_obj_as_str(const mp_obj_t *o, const mp_bytes_t **out)
{
	MPI_CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_STR)
		return WRONG_KIND(o, "str");
	*out = &o->u.s;
	return 0;
}

int mp_obj_as_bytes(const mp_obj_t *o, const mp_bytes_t **out)
{
	MPI_CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_BYTES)
		return WRONG_KIND(o, "bytes");
	*out = &o->u.s;
	return 0;
}

int mp_obj_len(const mp_obj_t *o, size_t *out)
{
	size_t i, n = 0;

	MPI_CHECK_NULL(o);
	MPI_CHECK_NULL(out);
	if (is_container(o)) {
		*out = o->u.c.n;
	} else if (o->kind == MP_OBJ_BYTES) {
		*out = o->u.s.len;
	} else if (o->kind == MP_OBJ_STR) {
		for (i = 0; i < o->u.s.len; i++)
			n += ((unsigned char)o->u.s.data[i] & 0xc0) != 0x80;
		*out = n;
	} else {
		return MPI_ERR(-EINVAL, "object of type '%s' has no len()",
			       mp_obj_kind_name(o->kind));
	}
	return 0;
}

int mp_obj_item(const mp_obj_t *o, ptrdiff_t i, const mp_obj_t **out)
{
	MPI_CHECK_NULL(out);
	if (o == NULL || !is_container(o) || o->kind == MP_OBJ_DICT)
		return WRONG_KIND(o, "tuple, list or set");
	if (i < 0)
		i += (ptrdiff_t)o->u.c.n;
	if (i < 0 || (size_t)i >= o->u.c.n)
		return MPI_ERR(-ERANGE, "%s index out of range",
			       mp_obj_kind_name(o->kind));
	*out = o->u.c.v[i];
	return 0;
}

/* A NULL item put in a container: its constructor's code, with a reason. */
static int null_item(void)
{
	int rc = null_item_code();

	return mpi_why(rc, "item is NULL (its constructor failed: %s)",
		       mp_strerror(rc));
}

int mp_obj_list_append(mp_obj_t *list, mp_obj_t *item)
{
	int rc;

	if (item == NULL)
		return MPI_RAISE(null_item());
	if (list == NULL || list->kind != MP_OBJ_LIST) {
		mpi_obj_decref(item);
		return WRONG_KIND(list, "list");
	}
	if ((rc = mpi_obj_append(list, item)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_obj_dict_set(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value)
{
	int rc;

	if (key == NULL || value == NULL) {
		mpi_obj_decref(key);
		mpi_obj_decref(value);
		return MPI_RAISE(null_item());
	}
	if (d == NULL || d->kind != MP_OBJ_DICT) {
		mpi_obj_decref(key);
		mpi_obj_decref(value);
		return WRONG_KIND(d, "dict");
	}
	if ((rc = mpi_obj_setitem(d, key, value)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* -ENOENT (KeyError), the reason holding the key's repr (cut short). */
static int key_error(const mp_obj_t *key)
{
	mp_bytes_t r = {0};
	size_t cap = 0;
	int rc;

	if (mpi_obj_repr(key, &r, &cap) < 0) {
		mpi_free(r.data);
		return mpi_why(-ENOENT, "KeyError");
	}
	rc = mpi_why(-ENOENT, "KeyError: %.200s%s", r.data,
		     r.len > 200 ? "..." : "");
	mpi_free(r.data);
	return rc;
}

/* Find key in d (a dict, or a set when sets are kind_ok): *at is its
 * position or -1. */
static int lookup(const mp_obj_t *d, const mp_obj_t *key, int kind_ok,
		  ptrdiff_t *at)
{
	int rc;

	if (key == NULL)
		return mpi_why(-EINVAL, "argument 'key' is NULL");
	if (d == NULL || !kind_ok)
		return mpi_why(-EINVAL, "expected dict, got %s",
			       d ? mp_obj_kind_name(d->kind) : "NULL");
	if ((rc = mpi_obj_hashable(key)) < 0)
		return rc;
	*at = find(d, key, hash_of(key));
	return 0;
}

int mp_obj_dict_get(const mp_obj_t *d, const mp_obj_t *key,
		    const mp_obj_t **out)
{
	ptrdiff_t at = -1;
	int rc;

	MPI_CHECK_NULL(out);
	rc = lookup(d, key, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MPI_RAISE(rc);
	if (at < 0)
		return MPI_RAISE(key_error(key));
	*out = d->u.c.v[2 * at + 1];
	return 0;
}

int mp_obj_dict_get_str(const mp_obj_t *d, const char *key,
			const mp_obj_t **out)
{
	mp_obj_t k = {.kind = MP_OBJ_STR};
	ptrdiff_t at = -1;
	int rc;

	MPI_CHECK_NULL(key);
	MPI_CHECK_NULL(out);
	k.u.s.data = (char *)key;
	k.u.s.len = strlen(key);
	rc = lookup(d, &k, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MPI_RAISE(rc);
	if (at < 0)
		return MPI_RAISE(key_error(&k));
	*out = d->u.c.v[2 * at + 1];
	return 0;
}

int mp_obj_dict_del(mp_obj_t *d, const mp_obj_t *key)
{
	ptrdiff_t at;
	int rc;

	rc = lookup(d, key, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MPI_RAISE(rc);
	if (at < 0)
		return MPI_RAISE(key_error(key));
	mpi_obj_decref(d->u.c.v[2 * at]);
	mpi_obj_decref(d->u.c.v[2 * at + 1]);
	memmove(&d->u.c.v[2 * at], &d->u.c.v[2 * at + 2],
		(2 * (d->u.c.n - (size_t)at) - 2) * sizeof(*d->u.c.v));
	d->u.c.n--;
	if (d->u.c.icap > 0) {
		/* rebuild in place: the old index is big enough */
		memset(d->u.c.idx, 0, d->u.c.icap * sizeof(*d->u.c.idx));
		for (size_t i = 0; i < d->u.c.n; i++)
			index_put(d, i, hash_of(d->u.c.v[2 * i]));
	}
	return 0;
}

int mp_obj_dict_item(const mp_obj_t *d, size_t i, const mp_obj_t **key,
		     const mp_obj_t **value)
{
	if (d == NULL || d->kind != MP_OBJ_DICT)
		return WRONG_KIND(d, "dict");
	if (i >= d->u.c.n)
		return MPI_ERR(-ERANGE, "item %zu of a dict of %zu", i,
			       d->u.c.n);
	if (key != NULL)
		*key = d->u.c.v[2 * i];
	if (value != NULL)
		*value = d->u.c.v[2 * i + 1];
	return 0;
}

int mp_obj_set_add(mp_obj_t *s, mp_obj_t *item)
{
	int rc;

	if (item == NULL)
		return MPI_RAISE(null_item());
	if (s == NULL || !set_kind(s->kind)) {
		mpi_obj_decref(item);
		return WRONG_KIND(s, "set");
	}
	if ((rc = mpi_obj_add(s, item)) < 0)
		return MPI_RAISE(rc);
	return rc;
}

int mp_obj_contains(const mp_obj_t *o, const mp_obj_t *item)
{
	ptrdiff_t at;
	size_t i;
	int rc;

	MPI_CHECK_NULL(item);
	if (o != NULL && (o->kind == MP_OBJ_TUPLE || o->kind == MP_OBJ_LIST)) {
		for (i = 0; i < o->u.c.n; i++)
			if (mpi_obj_eq(o->u.c.v[i], item))
				return 1;
		return 0;
	}
	rc = lookup(o, item,
		    o && (o->kind == MP_OBJ_DICT || set_kind(o->kind)), &at);
	if (rc < 0)
		return MPI_RAISE(rc);
	return at >= 0;
}

int mp_obj_object_info(const mp_obj_t *o, const char **module,
		       const char **qualname, const mp_obj_t **args,
		       const mp_obj_t **state, unsigned *flags)
{
	if (o == NULL || o->kind != MP_OBJ_OBJECT)
		return WRONG_KIND(o, "object");
	if (module != NULL)
		*module = o->u.o.module;
	if (qualname != NULL)
		*qualname = o->u.o.qualname;
	if (args != NULL)
		*args = o->u.o.args;
	if (state != NULL)
		*state = o->u.o.state;
	if (flags != NULL)
		*flags = o->flags;
	return 0;
}

int mp_obj_eq(const mp_obj_t *a, const mp_obj_t *b)
{
	MPI_CHECK_NULL(a);
	MPI_CHECK_NULL(b);
	return mpi_obj_eq(a, b);
}

int mp_obj_repr(const mp_obj_t *o, mp_bytes_t *out)
{
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc;

	MPI_CHECK_NULL(o);
	MPI_CHECK_NULL(out);
	if ((rc = mpi_obj_repr(o, &b, &cap)) < 0) {
		mpi_free(b.data);
		return MPI_ERR(rc, "out of memory");
	}
	*out = b;
	return 0;
}
