/*
 * obj/obj_repr.c - repr() of mp_obj_t values, as Python writes them.
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
		if ((d = mp__realloc(b->data, c)) == NULL)
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

	if ((w = mp__calloc(nw, sizeof(*w))) == NULL)
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
		mp__free(w);
		return rc;
	}
	if ((dec = mp__malloc(len * 3 + 16)) == NULL) {
		mp__free(w);
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
	mp__free(dec);
	mp__free(w);
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
			rc = rc ? rc : mp__obj_repr(o->u.c.v[2 * i], b, cap);
			rc = rc ? rc : put(b, cap, ": ", 2);
			rc = rc ? rc
				: mp__obj_repr(o->u.c.v[2 * i + 1], b, cap);
		} else {
			rc = rc ? rc : mp__obj_repr(o->u.c.v[i], b, cap);
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
		rc = rc ? rc : mp__obj_repr(st->u.c.v[0], b, cap);
		rc = rc ? rc : puts_(b, cap, ", address=");
		rc = rc ? rc : mp__obj_repr(st->u.c.v[1], b, cap);
		rc = rc ? rc : puts_(b, cap, ", id=");
		rc = rc ? rc : mp__obj_repr(st->u.c.v[2], b, cap);
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

int mp__obj_repr(const mp_obj_t *o, mp_bytes_t *b, size_t *cap)
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
			rc = rc ? rc : mp__obj_repr(o->u.c.v[0], b, cap);
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
