/*
 * obj/pickle_load.c - the pickle reader: a reader of protocols 2-5 that
 * builds mp_obj_t values and never executes anything: the opcodes, the
 * opcode loop and mp_pickle_loads.  Its machine is in pickle_stack.c,
 * its allow-list of globals in pickle_glob.c, the writer in pickle_dump.c.
 *
 * Design notes (reader).  A stack machine as pickle's own: a stack of
 * owned values, a stack of marks (the fence: nothing below the top mark
 * may be popped), and a memo from keys to values.  The memo holds a
 * reference (refs) to what PUT/MEMOIZE stored; GET and DUP push a deep
 * copy, since values are trees.  Copies cost bytes, so all the copies of a
 * load share a budget proportional to the input.  A copy differs from
 * CPython's shared object only if the object changes after it was copied,
 * which CPython's pickler does only for recursive structures: so a value
 * copied (and each copy) is frozen, and APPEND, SETITEM, ADDITEMS or BUILD
 * on a frozen value is refused as a recursive structure.  A global is a
 * node of kind MP__OBJ_GLOBAL, resolved through the allow-list
 * (pickle_glob.c) when GLOBAL/STACK_GLOBAL is read; REDUCE/NEWOBJ turn
 * it into data; a global left in the result is refused at STOP.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "obj/obj_int.h"
#include "obj/pickle_int.h"

/* ---- numbers and strings ---- */

static int push_int(struct dec *d, int64_t v)
{
	mp_obj_t *o = mp__obj_new(MP_OBJ_INT);

	if (o != NULL)
		o->u.i = v;
	return mp__pk_push(d, o);
}

/* A decimal text int (LONG's "123L", INT's beyond 64 bits) of at most
 * Python's 4300 digits, as two's complement. */
static int push_decimal(struct dec *d, const char *s, size_t len)
{
	bool neg = false;
	size_t i, n = 0, cap;
	unsigned char *b;
	int rc;

	if (len > 0 && s[len - 1] == 'L')
		len--;
	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++, len--;
	}
	if (len == 0 || len > 4300)
		return mp__pk_bad("bad text int of %zu digits", len);
	cap = len / 2 + 2;
	if ((b = mp__calloc(cap, 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) { /* b = b * 10 + digit, little-endian */
		unsigned carry;
		size_t j;

		if (s[i] < '0' || s[i] > '9') {
			mp__free(b);
			return mp__pk_bad("bad digit in a text int");
		}
		carry = (unsigned)(s[i] - '0');
		for (j = 0; j < n || carry; j++) {
			unsigned v = (j < n ? b[j] * 10u : 0) + carry;
			b[j] = (unsigned char)v;
			carry = v >> 8;
		}
		n = j > n ? j : n;
	}
	n++; /* a sign byte */
	if (neg) {
		unsigned carry = 1;
		for (i = 0; i < n; i++) {
			unsigned v = (unsigned)(unsigned char)~b[i] + carry;
			b[i] = (unsigned char)v;
			carry = v >> 8;
		}
	}
	rc = -ENOMEM;
	{
		mp_obj_t *o = mp__obj_bigint(b, n, &rc);
		mp__free(b);
		return mp__pk_push_rc(d, o, rc);
	}
}

static int op_int(struct dec *d)
{
	const char *s = NULL;
	size_t len = 0;
	int rc;
	mp_obj_t *o = NULL;

	if ((rc = mp__pk_read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 2 && (memcmp(s, "00", 2) == 0 || memcmp(s, "01", 2) == 0)) {
		if ((o = mp__obj_new(MP_OBJ_BOOL)) != NULL)
			o->u.b = s[1] == '1';
		return mp__pk_push(d, o);
	}
	return push_decimal(d, s, len);
}

static int op_float_text(struct dec *d)
{
	const char *s = NULL;
	char buf[64], *end;
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	if ((rc = mp__pk_read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 0 || len >= sizeof(buf))
		return mp__pk_bad("bad text float of %zu characters", len);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((o = mp__obj_new(MP_OBJ_FLOAT)) == NULL)
		return -ENOMEM;
	o->u.f = strtod(buf, &end);
	if (*end != '\0' || end == buf) {
		mp__obj_decref(o);
		return mp__pk_bad("bad text float '%s'", buf);
	}
	return mp__pk_push(d, o);
}

static int op_binfloat(struct dec *d)
{
	uint64_t bits = 0;
	mp_obj_t *o = NULL;
	int i, rc;

	if ((rc = mp__pk_need(d, 8)) < 0)
		return rc;
	for (i = 0; i < 8; i++)
		bits = (bits << 8) | d->p[i];
	d->p += 8;
	if ((o = mp__obj_new(MP_OBJ_FLOAT)) != NULL)
		memcpy(&o->u.f, &bits, sizeof(bits));
	return mp__pk_push(d, o);
}

static int op_long(struct dec *d, int nlen)
{
	size_t len = 0;
	int rc;
	mp_obj_t *o = NULL;

	if (nlen == 4) {
		if ((rc = mp__pk_need(d, 4)) < 0)
			return rc;
		if (d->p[3] & 0x80)
			return mp__pk_bad("LONG pickle has negative byte "
					  "count");
	}
	if ((rc = mp__pk_read_len(d, nlen, &len)) < 0)
		return rc;
	rc = -ENOMEM;
	o = mp__obj_bigint(d->p, len, &rc);
	d->p += len;
	return mp__pk_push_rc(d, o, rc);
}

static int op_text(struct dec *d, int kind, int nlen)
{
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	if ((rc = mp__pk_read_len(d, nlen, &len)) < 0)
		return rc;
	rc = -ENOMEM;
	o = mp__obj_str(kind, d->p, len, &rc);
	d->p += len;
	return mp__pk_push_rc(d, o, rc);
}
/* ---- the opcode loop ---- */

static int op_append(struct dec *d)
{
	mp_obj_t *item = NULL, *l = NULL;
	int rc;

	if ((rc = mp__pk_pop(d, &item)) < 0)
		return rc;
	if ((rc = mp__pk_top(d, &l)) < 0 ||
	    (l->kind != MP_OBJ_LIST &&
	     (rc = mp__pk_bad("APPEND on a %s",
			      mp_obj_kind_name(l->kind)))) ||
	    (rc = mp__pk_frozen(l)) < 0) {
		mp__obj_decref(item);
		return rc;
	}
	return mp__obj_append(l, item);
}

static int op_setitem(struct dec *d)
{
	mp_obj_t *k = NULL, *v = NULL, *dict = NULL;
	int rc;

	if ((rc = mp__pk_pop(d, &v)) < 0 || (rc = mp__pk_pop(d, &k)) < 0 ||
	    (rc = mp__pk_top(d, &dict)) < 0)
		goto fail;
	if (dict->kind != MP_OBJ_DICT) {
		rc = mp__pk_bad("SETITEM on a %s",
				mp_obj_kind_name(dict->kind));
		goto fail;
	}
	if ((rc = mp__pk_frozen(dict)) < 0)
		goto fail;
	return mp__obj_setitem(dict, k, v);
fail:
	mp__obj_decref(k);
	mp__obj_decref(v);
	return rc;
}

static int op_pop(struct dec *d)
{
	mp_obj_t *o = NULL;

	if (d->n > mp__pk_fence(d)) {
		o = d->st[--d->n];
		mp__obj_decref(o);
		return 0;
	}
	if (d->nmarks > 0) { /* POP with nothing above the mark drops it */
		d->nmarks--;
		return 0;
	}
	return mp__pk_underflow();
}

static int op_mark(struct dec *d)
{
	size_t *m, cap;

	if (d->nmarks == d->mcap) {
		cap = d->mcap < 16 ? 16 : d->mcap * 2;
		if ((m = mp__reallocarray(d->marks, cap, sizeof(*m))) == NULL)
			return -ENOMEM;
		d->marks = m;
		d->mcap = cap;
	}
	d->marks[d->nmarks++] = d->n;
	return 0;
}

static int op_pop_mark(struct dec *d)
{
	size_t k = 0;
	int rc;

	if ((rc = mp__pk_pop_mark(d, &k)) < 0)
		return rc;
	while (d->n > k)
		mp__obj_decref(d->st[--d->n]);
	return 0;
}

static int unsupported(const char *what)
{
	return mp__why(-ENOTSUP, "%s is not supported", what);
}

/* One opcode (already consumed); 1 at STOP. */
static int step(struct dec *d, unsigned char op)
{
	int64_t v = 0;
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	switch (op) {
	case 0x80: /* PROTO */
		if ((rc = mp__pk_need(d, 1)) < 0)
			return rc;
		if (*d->p > 5)
			return mp__why(-ENOTSUP, "unsupported pickle protocol: "
						 "%d", *d->p);
		d->p++;
		return 0;
	case 0x95: /* FRAME: frames only group opcodes */
		return mp__pk_read_len(d, 8, &len);
	case '.': /* STOP */
		return 1;
	case 'N':
		return mp__pk_push(d, mp__obj_new(MP_OBJ_NONE));
	case 0x88: /* NEWTRUE */
	case 0x89: /* NEWFALSE */
		if ((o = mp__obj_new(MP_OBJ_BOOL)) != NULL)
			o->u.b = op == 0x88;
		return mp__pk_push(d, o);
	case 'I':
		return op_int(d);
	case 'L': {
		const char *s = NULL;

		if ((rc = mp__pk_read_line(d, &s, &len)) < 0)
			return rc;
		return push_decimal(d, s, len);
	}
	case 'J':
		if ((rc = mp__pk_need(d, 4)) < 0)
			return rc;
		v = (int32_t)(uint32_t)mp__pk_le(d->p, 4);
		d->p += 4;
		return push_int(d, v);
	case 'K':
	case 'M':
		if ((rc = mp__pk_need(d, op == 'K' ? 1 : 2)) < 0)
			return rc;
		v = (int64_t)mp__pk_le(d->p, op == 'K' ? 1 : 2);
		d->p += op == 'K' ? 1 : 2;
		return push_int(d, v);
	case 0x8a: /* LONG1 */
		return op_long(d, 1);
	case 0x8b: /* LONG4 */
		return op_long(d, 4);
	case 'F':
		return op_float_text(d);
	case 'G':
		return op_binfloat(d);
	case 'X':
		return op_text(d, MP_OBJ_STR, 4);
	case 0x8c: /* SHORT_BINUNICODE */
		return op_text(d, MP_OBJ_STR, 1);
	case 0x8d: /* BINUNICODE8 */
		return op_text(d, MP_OBJ_STR, 8);
	case 'B':
		return op_text(d, MP_OBJ_BYTES, 4);
	case 'C':
		return op_text(d, MP_OBJ_BYTES, 1);
	case 0x8e: /* BINBYTES8 */
	case 0x96: /* BYTEARRAY8: loaded as bytes */
		return op_text(d, MP_OBJ_BYTES, 8);
	case 0x97:
	case 0x98:
		return unsupported("an out-of-band buffer (NEXT_BUFFER)");
	case 'S':
	case 'T':
	case 'U':
	case 'V':
		return unsupported("protocol 0's text string");
	case ')':
		return mp__pk_push(d, mp__obj_new(MP_OBJ_TUPLE));
	case 't':
		if ((rc = mp__pk_pop_mark(d, &len)) < 0)
			return rc;
		return mp__pk_build_tuple(d, d->n - len);
	case 0x85:
	case 0x86:
	case 0x87:
		return mp__pk_build_tuple(d, (size_t)(op - 0x84));
	case ']':
		return mp__pk_push(d, mp__obj_new(MP_OBJ_LIST));
	case 'l':
		return mp__pk_build_marked(d, MP_OBJ_LIST);
	case 'a':
		return op_append(d);
	case 'e':
		return mp__pk_fill_marked(d, MP_OBJ_LIST, "APPENDS");
	case '}':
		return mp__pk_push(d, mp__obj_new(MP_OBJ_DICT));
	case 'd':
		return mp__pk_build_marked(d, MP_OBJ_DICT);
	case 's':
		return op_setitem(d);
	case 'u':
		return mp__pk_fill_marked(d, MP_OBJ_DICT, "SETITEMS");
	case 0x8f: /* EMPTY_SET */
		return mp__pk_push(d, mp__obj_new(MP_OBJ_SET));
	case 0x90: /* ADDITEMS */
		return mp__pk_fill_marked(d, MP_OBJ_SET, "ADDITEMS");
	case 0x91: /* FROZENSET */
		return mp__pk_build_marked(d, MP_OBJ_FROZENSET);
	case '(':
		return op_mark(d);
	case '0':
		return op_pop(d);
	case '1':
		return op_pop_mark(d);
	case '2': /* DUP */
		if ((rc = mp__pk_top(d, &o)) < 0)
			return rc;
		return mp__pk_push_copy(d, o);
	case 'p':
		if ((rc = mp__pk_read_decimal(d, false, &v)) < 0)
			return rc;
		return mp__pk_memo_put(d, (uint64_t)v);
	case 'q':
	case 'r':
		if ((rc = mp__pk_need(d, op == 'q' ? 1 : 4)) < 0)
			return rc;
		v = (int64_t)mp__pk_le(d->p, op == 'q' ? 1 : 4);
		d->p += op == 'q' ? 1 : 4;
		return mp__pk_memo_put(d, (uint64_t)v);
	case 0x94: /* MEMOIZE */
		return mp__pk_memo_put(d, d->mlen);
	case 'g':
		if ((rc = mp__pk_read_decimal(d, false, &v)) < 0)
			return rc;
		return mp__pk_memo_get(d, (uint64_t)v);
	case 'h':
	case 'j':
		if ((rc = mp__pk_need(d, op == 'h' ? 1 : 4)) < 0)
			return rc;
		v = (int64_t)mp__pk_le(d->p, op == 'h' ? 1 : 4);
		d->p += op == 'h' ? 1 : 4;
		return mp__pk_memo_get(d, (uint64_t)v);
	case 'c':
		return mp__pk_op_global(d);
	case 0x93: /* STACK_GLOBAL */
		return mp__pk_op_stack_global(d);
	case 'R':
		return mp__pk_op_reduce(d, false, false);
	case 0x81: /* NEWOBJ */
		return mp__pk_op_reduce(d, true, false);
	case 0x92: /* NEWOBJ_EX */
		return mp__pk_op_reduce(d, true, true);
	case 'b':
		return mp__pk_op_build(d);
	case 'i':
	case 'o':
		return unsupported("INST/OBJ (protocols 0 and 1)");
	case 'P':
	case 'Q':
		return unsupported("a persistent id");
	case 0x82:
	case 0x83:
	case 0x84:
		return unsupported("the copyreg extension registry (EXT)");
	default:
		return mp__pk_bad("invalid load key, '\\x%02x'", op);
	}
}

/* A global left in the value (a class pickled as a value). */
static int no_globals(const mp_obj_t *o)
{
	size_t i, n;
	int rc;

	if (o->kind == MP__OBJ_GLOBAL)
		return mp__why(-ENOTSUP, "a class (%s.%s) as a value is not "
					 "supported", o->u.s.data,
			       o->u.s.data + strlen(o->u.s.data) + 1);
	if (o->kind == MP_OBJ_OBJECT) {
		if ((rc = no_globals(o->u.o.args)) < 0)
			return rc;
		return o->u.o.state ? no_globals(o->u.o.state) : 0;
	}
	if (o->kind < MP_OBJ_TUPLE || o->kind > MP_OBJ_FROZENSET)
		return 0;
	n = o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
	for (i = 0; i < n; i++)
		if ((rc = no_globals(o->u.c.v[i])) < 0)
			return rc;
	return 0;
}

static void dec_free(struct dec *d)
{
	size_t i;

	for (i = 0; i < d->mslots; i++)
		mp__obj_decref(d->memo[i].o);
	mp__free(d->memo);
	while (d->n > 0)
		mp__obj_decref(d->st[--d->n]);
	mp__free(d->st);
	mp__free(d->marks);
}

/* The opcode for a message: 'c' or 0x93. */
static void op_name(unsigned char op, char *buf, size_t cap)
{
	if (op >= 0x20 && op < 0x7f && op != '\'')
		snprintf(buf, cap, "'%c'", op);
	else
		snprintf(buf, cap, "0x%02x", op);
}

/* Internal load: 0 and the value, or a code with a reason. */
static int loads(const void *data, size_t len, mp_obj_t **out)
{
	struct dec d = {.start = data, .p = data,
			.end = (const unsigned char *)data + len};
	const unsigned char *at = d.p;
	char why[320], name[8];
	mp_obj_t *o = NULL;
	unsigned char op = 0;
	int rc = 0;

	d.budget = (int64_t)MP_PICKLE_COPY_BASE +
		   (int64_t)MP_PICKLE_COPY_FACTOR * (int64_t)len;
	while (rc == 0) {
		at = d.p;
		if (d.p == d.end) {
			rc = mp__pk_bad("pickle data was truncated (no STOP)");
			break;
		}
		op = *d.p++;
		rc = step(&d, op);
	}
	if (rc == 1) {
		rc = mp__pk_pop(&d, &o);
		if (rc == 0 && (rc = no_globals(o)) < 0) {
			mp__obj_decref(o);
			o = NULL;
		}
		at = d.p - 1;
	}
	dec_free(&d);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", mp__reason(rc));
		if (rc == -EINVAL) /* an unhashable key: malformed data */
			rc = -EPROTO;
		op_name(op, name, sizeof(name));
		return mp__why(rc, "%s (opcode %s at offset %zu)", why, name,
			       (size_t)(at - d.start));
	}
	o->frozen = false;
	*out = o;
	return 0;
}

/* Clear the decoder's marks on a loaded tree. */
static void thaw(mp_obj_t *o)
{
	size_t i, n;

	o->frozen = false;
	if (o->kind == MP_OBJ_OBJECT) {
		thaw(o->u.o.args);
		if (o->u.o.state)
			thaw(o->u.o.state);
	} else if (o->kind >= MP_OBJ_TUPLE && o->kind <= MP_OBJ_FROZENSET) {
		n = o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
		for (i = 0; i < n; i++)
			thaw(o->u.c.v[i]);
	}
}

int mp__pickle_loads(const void *data, size_t len, mp_obj_t **out)
{
	int rc;

	*out = NULL;
	if ((rc = loads(data == NULL ? "" : data, len, out)) < 0)
		return rc;
	thaw(*out);
	return 0;
}

int mp_pickle_loads(const void *data, size_t len, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	if (data == NULL && len > 0)
		return MP__ERR(-EINVAL, "argument 'data' is NULL");
	if ((rc = mp__pickle_loads(data, len, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}
