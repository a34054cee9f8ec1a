/*
 * obj/pickle_dump.c - the pickle writer: protocols 2-4, giving CPython's
 * bytes (the reader is pickle_load.c).
 *
 * Design notes (writer).  CPython's C pickler, step by step: the same
 * opcodes, the memo (PUT after each str, bytes, tuple, list, dict, set,
 * global and reduced object; a global written twice is fetched with GET),
 * batches of 1000 for APPENDS/SETITEMS/ADDITEMS, and protocol 4's frames
 * (committed at the end of a value once 64 KiB are buffered; a payload of
 * 64 KiB or more goes outside any frame).
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

#define FRAME_TARGET 65536
#define FRAME_MIN 4
#define BATCH 1000

struct enc {
	mp_bytes_t out;
	size_t cap;
	int proto;
	bool framing;
	ptrdiff_t frame;          /* offset of the open frame's header, or -1 */
	uint32_t memo;            /* next memo key */
	uint32_t gmemo[MP__PK_NGLOBS]; /* memo key + 1 of each global written */
	uint32_t mmemo[MP__PK_NGLOBS]; /* protocol 4: of its module name */
	uint32_t latin1;          /* memo key + 1 of 'latin1' */
};

static int grow(struct enc *e, size_t n)
{
	size_t need, cap;
	char *p;

	if (__builtin_add_overflow(e->out.len, n + 1, &need))
		return mp__why(-E2BIG, "pickle too large");
	if (need <= e->cap)
		return 0;
	cap = e->cap < 256 ? 256 : e->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = mp__realloc(e->out.data, cap)) == NULL)
		return -ENOMEM;
	e->out.data = p;
	e->cap = cap;
	return 0;
}

static int w(struct enc *e, const void *p, size_t n)
{
	int rc;

	if (e->framing && e->frame < 0) { /* open a frame: header later */
		if ((rc = grow(e, 9)) < 0)
			return rc;
		e->frame = (ptrdiff_t)e->out.len;
		e->out.len += 9;
	}
	if ((rc = grow(e, n)) < 0)
		return rc;
	memcpy(e->out.data + e->out.len, p, n);
	e->out.len += n;
	return 0;
}

static int w1(struct enc *e, unsigned char c)
{
	return w(e, &c, 1);
}

/* An opcode with an n-byte little-endian argument. */
static int wop(struct enc *e, unsigned char op, uint64_t v, int n)
{
	unsigned char b[9];
	int i;

	b[0] = op;
	for (i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * i));
	return w(e, b, (size_t)n + 1);
}

static void commit_frame(struct enc *e)
{
	size_t len, start;

	if (e->frame < 0)
		return;
	start = (size_t)e->frame;
	len = e->out.len - start - 9;
	if (len >= FRAME_MIN) {
		e->out.data[start] = (char)0x95;
		for (int i = 0; i < 8; i++)
			e->out.data[start + 1 + i] = (char)(len >> (8 * i));
	} else {
		memmove(e->out.data + start, e->out.data + start + 9, len);
		e->out.len -= 9;
	}
	e->frame = -1;
}

static void boundary(struct enc *e)
{
	if (e->frame >= 0 && e->out.len - (size_t)e->frame - 9 >= FRAME_TARGET)
		commit_frame(e);
}

/* A header and a payload; a large payload goes outside any frame. */
static int w_payload(struct enc *e, const unsigned char *hdr, size_t hlen,
		     const void *p, size_t n)
{
	bool framing = e->framing;
	int rc;

	if (framing && n >= FRAME_TARGET) {
		commit_frame(e);
		e->framing = false;
	}
	if ((rc = w(e, hdr, hlen)) == 0)
		rc = w(e, p, n);
	e->framing = framing;
	return rc;
}

static int memoize(struct enc *e)
{
	uint32_t k = e->memo++;

	if (e->proto >= 4)
		return w1(e, 0x94);
	if (k < 256)
		return wop(e, 'q', k, 1);
	return wop(e, 'r', k, 4);
}

static int get(struct enc *e, uint32_t k)
{
	if (k < 256)
		return wop(e, 'h', k, 1);
	return wop(e, 'j', k, 4);
}

static int save(struct enc *e, const mp_obj_t *o);

static int save_text(struct enc *e, int kind, const void *p, size_t n)
{
	unsigned char h[9];
	size_t hl;
	int rc;

	if (kind == MP_OBJ_STR) {
		if (e->proto >= 4 && n < 256)
			h[0] = 0x8c, hl = 1;
		else if (n <= UINT32_MAX)
			h[0] = 'X', hl = 4;
		else if (e->proto >= 4)
			h[0] = 0x8d, hl = 8;
		else
			return mp__why(-E2BIG, "cannot serialize a string "
					       "larger than 4GiB");
	} else {
		if (n < 256)
			h[0] = 'C', hl = 1;
		else if (n <= UINT32_MAX)
			h[0] = 'B', hl = 4;
		else if (e->proto >= 4)
			h[0] = 0x8e, hl = 8;
		else
			return mp__why(-E2BIG, "cannot serialize a bytes "
					       "object larger than 4 GiB");
	}
	for (size_t i = 0; i < hl; i++)
		h[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	if ((rc = w_payload(e, h, hl + 1, p, n)) < 0)
		return rc;
	return memoize(e);
}

static int save_str_c(struct enc *e, const char *s)
{
	return save_text(e, MP_OBJ_STR, s, strlen(s));
}

static int save_global(struct enc *e, const struct glob *g)
{
	size_t i = (size_t)(g - mp__pk_globs);
	const char *m = g->module, *n = g->name;
	int rc;

	if (e->gmemo[i] != 0)
		return get(e, e->gmemo[i] - 1);
	if (e->proto >= 4) {
		/* one memoized string per module name, as CPython's */
		for (size_t j = 0; j < MP__PK_NGLOBS; j++)
			if (e->mmemo[j] != 0 &&
			    strcmp(mp__pk_globs[j].module, m) == 0) {
				e->mmemo[i] = e->mmemo[j];
				break;
			}
		if (e->mmemo[i] != 0)
			rc = get(e, e->mmemo[i] - 1);
		else if ((rc = save_str_c(e, m)) == 0)
			e->mmemo[i] = e->memo;
		if (rc == 0)
			rc = save_str_c(e, n);
		if (rc == 0)
			rc = w1(e, 0x93);
	} else {
		if (e->proto == 2)
			m = g->m2, n = g->n2;
		if ((rc = w1(e, 'c')) == 0 && (rc = w(e, m, strlen(m))) == 0 &&
		    (rc = w1(e, '\n')) == 0 && (rc = w(e, n, strlen(n))) == 0)
			rc = w1(e, '\n');
	}
	if (rc == 0 && (rc = memoize(e)) == 0)
		e->gmemo[i] = e->memo;
	return rc;
}

static const struct glob *glob_role(enum role r)
{
	size_t i;

	for (i = 0; i < MP__PK_NGLOBS; i++)
		if (mp__pk_globs[i].role == r)
			return &mp__pk_globs[i];
	return NULL;
}

static int save_int(struct enc *e, const mp_obj_t *o)
{
	unsigned char tmp[9];
	const unsigned char *b;
	int64_t v = 0;
	size_t n;
	int rc;

	if (!o->big) {
		v = o->u.i;
		if (v >= 0 && v <= 0xff)
			return wop(e, 'K', (uint64_t)v, 1);
		if (v >= 0 && v <= 0xffff)
			return wop(e, 'M', (uint64_t)v, 2);
		if (v >= INT32_MIN && v <= INT32_MAX)
			return wop(e, 'J', (uint64_t)v, 4);
	}
	b = mp__obj_int_bytes(o, tmp, &n);
	if (n < 256)
		rc = wop(e, 0x8a, n, 1);
	else
		rc = wop(e, 0x8b, n, 4);
	return rc ? rc : w(e, b, n);
}

static int save_float(struct enc *e, double f)
{
	unsigned char b[9];
	uint64_t bits;
	int i;

	memcpy(&bits, &f, sizeof(bits));
	b[0] = 'G';
	for (i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
	return w(e, b, 9);
}

/* Protocol 2's bytes: bytes() or _codecs.encode(latin-1 text, 'latin1'). */
static int save_bytes2(struct enc *e, const mp_obj_t *o)
{
	const unsigned char *p = (const unsigned char *)o->u.s.data;
	char *u;
	size_t i, n = 0;
	int rc;

	if (o->u.s.len == 0) {
		if ((rc = save_global(e, glob_role(R_BYTES))) == 0 &&
		    (rc = w1(e, ')')) == 0 && (rc = w1(e, 'R')) == 0)
			rc = memoize(e);
		return rc;
	}
	if ((rc = save_global(e, glob_role(R_ENCODE))) < 0)
		return rc;
	if ((u = mp__malloc(2 * o->u.s.len)) == NULL)
		return -ENOMEM;
	for (i = 0; i < o->u.s.len; i++) {
		if (p[i] < 0x80) {
			u[n++] = (char)p[i];
		} else {
			u[n++] = (char)(0xc0 | p[i] >> 6);
			u[n++] = (char)(0x80 | (p[i] & 0x3f));
		}
	}
	rc = save_text(e, MP_OBJ_STR, u, n);
	mp__free(u);
	if (rc < 0)
		return rc;
	if (e->latin1 != 0) {
		rc = get(e, e->latin1 - 1);
	} else if ((rc = save_str_c(e, "latin1")) == 0) {
		e->latin1 = e->memo;
	}
	if (rc == 0 && (rc = w1(e, 0x86)) == 0 && (rc = memoize(e)) == 0 &&
	    (rc = w1(e, 'R')) == 0)
		rc = memoize(e);
	return rc;
}

static int save_tuple(struct enc *e, const mp_obj_t *o)
{
	size_t i, n = o->u.c.n;
	int rc = 0;

	if (n == 0)
		return w1(e, ')');
	if (n > 3)
		rc = w1(e, '(');
	for (i = 0; i < n && rc == 0; i++)
		rc = save(e, o->u.c.v[i]);
	if (rc == 0)
		rc = w1(e, n > 3 ? 't' : (unsigned char)(0x84 + n));
	return rc ? rc : memoize(e);
}

/* The items of a list/dict after EMPTY_LIST/EMPTY_DICT, as CPython. */
static int save_batches(struct enc *e, const mp_obj_t *o)
{
	bool dict = o->kind == MP_OBJ_DICT;
	size_t step = dict ? 2 : 1, n = o->u.c.n, i = 0, k;
	int rc;

	if (n == 0)
		return 0;
	if (n == 1) {
		if ((rc = save(e, o->u.c.v[0])) == 0 && dict)
			rc = save(e, o->u.c.v[1]);
		return rc ? rc : w1(e, dict ? 's' : 'a');
	}
	while (i < n) {
		if ((rc = w1(e, '(')) < 0)
			return rc;
		for (k = 0; k < BATCH && i < n; k++, i++) {
			if ((rc = save(e, o->u.c.v[step * i])) < 0 ||
			    (dict && (rc = save(e, o->u.c.v[2 * i + 1])) < 0))
				return rc;
		}
		if ((rc = w1(e, dict ? 'u' : 'e')) < 0)
			return rc;
	}
	return 0;
}

static int save_set(struct enc *e, const mp_obj_t *o)
{
	bool frozen = o->kind == MP_OBJ_FROZENSET;
	size_t i = 0, k, n = o->u.c.n;
	mp_obj_t list;
	int rc;

	if (e->proto < 4) { /* set(list) by REDUCE */
		/* the argument tuple is one level deeper than the set */
		if (o->depth + 1 > MP_OBJ_MAX_DEPTH)
			return mp__why(-E2BIG, "a set nested %u deep "
				       "cannot be written in protocol %d "
				       "(the limit is %d)", o->depth,
				       e->proto, MP_OBJ_MAX_DEPTH);
		memset(&list, 0, sizeof(list));
		list.kind = MP_OBJ_LIST;
		list.u.c.v = o->u.c.v;
		list.u.c.n = n;
		rc = save_global(e, glob_role(frozen ? R_FROZENSET : R_SET));
		if (rc == 0 && (rc = w1(e, ']')) == 0 && (rc = memoize(e)) == 0)
			rc = save_batches(e, &list);
		if (rc == 0 && (rc = w1(e, 0x85)) == 0 &&
		    (rc = memoize(e)) == 0 && (rc = w1(e, 'R')) == 0)
			rc = memoize(e);
		return rc;
	}
	if (frozen) {
		rc = w1(e, '(');
		for (i = 0; i < n && rc == 0; i++)
			rc = save(e, o->u.c.v[i]);
		if (rc == 0 && (rc = w1(e, 0x91)) == 0)
			rc = memoize(e);
		return rc;
	}
	if ((rc = w1(e, 0x8f)) < 0 || (rc = memoize(e)) < 0 || n == 0)
		return rc;
	do { /* CPython writes an empty batch after a full last one */
		if ((rc = w1(e, '(')) < 0)
			return rc;
		for (k = 0; k < BATCH && i < n; k++, i++)
			if ((rc = save(e, o->u.c.v[i])) < 0)
				return rc;
		if ((rc = w1(e, 0x90)) < 0)
			return rc;
	} while (k == BATCH);
	return 0;
}

/* RebuildProxy(proxytype, token, serializer, kwds) as CPython pickles a
 * proxy (BaseProxy.__reduce__): the class name in args[0] written as the
 * allow-listed class. */
static int save_rebuild(struct enc *e, const struct glob *g,
			const mp_obj_t *o)
{
	const mp_obj_t *a = o->u.o.args;
	const struct glob *pt = NULL;
	size_t i;
	int rc;

	if (a->u.c.n == 4 && a->u.c.v[0]->kind == MP_OBJ_STR)
		pt = mp__pk_glob_find(g->module, a->u.c.v[0]->u.s.data);
	if (pt == NULL || pt->role != R_PROXYTYPE || o->flags != 0 ||
	    o->u.o.state != NULL || !mp__obj_is_token(a->u.c.v[1]) ||
	    a->u.c.v[2]->kind != MP_OBJ_STR || a->u.c.v[3]->kind != MP_OBJ_DICT)
		return mp__why(-EINVAL, "RebuildProxy needs (proxy class name, "
			       "Token, serializer, kwds)");
	if ((rc = save_global(e, g)) < 0 || (rc = w1(e, '(')) < 0 ||
	    (rc = save_global(e, pt)) < 0)
		return rc;
	for (i = 1; i < 4 && rc == 0; i++)
		rc = save(e, a->u.c.v[i]);
	if (rc == 0 && (rc = w1(e, 't')) == 0 && (rc = memoize(e)) == 0 &&
	    (rc = w1(e, 'R')) == 0)
		rc = memoize(e);
	return rc;
}

static int save_object(struct enc *e, const mp_obj_t *o)
{
	const struct glob *g = mp__pk_glob_find(o->u.o.module, o->u.o.qualname);
	int rc;

	if (g != NULL && g->role == R_REBUILD &&
	    strcmp(g->module, o->u.o.module) == 0)
		return save_rebuild(e, g, o);
	if (g == NULL || g->role != R_CLASS ||
	    strcmp(g->module, o->u.o.module) != 0)
		return mp__why(-EPERM, "class '%s.%s' is not on the allow-list",
			       o->u.o.module, o->u.o.qualname);
	if ((rc = save_global(e, g)) < 0 || (rc = save(e, o->u.o.args)) < 0 ||
	    (rc = w1(e, o->flags & MP_OBJ_NEWOBJ ? 0x81 : 'R')) < 0 ||
	    (rc = memoize(e)) < 0)
		return rc;
	if (o->u.o.state == NULL)
		return 0;
	if ((rc = save(e, o->u.o.state)) < 0)
		return rc;
	return w1(e, 'b');
}

static int save(struct enc *e, const mp_obj_t *o)
{
	int rc;

	switch (o->kind) {
	case MP_OBJ_NONE:
		rc = w1(e, 'N');
		break;
	case MP_OBJ_BOOL:
		rc = w1(e, o->u.b ? 0x88 : 0x89);
		break;
	case MP_OBJ_INT:
		rc = save_int(e, o);
		break;
	case MP_OBJ_FLOAT:
		rc = save_float(e, o->u.f);
		break;
	case MP_OBJ_STR:
		rc = save_text(e, MP_OBJ_STR, o->u.s.data, o->u.s.len);
		break;
	case MP_OBJ_BYTES:
		if (e->proto == 2)
			rc = save_bytes2(e, o);
		else
			rc = save_text(e, MP_OBJ_BYTES, o->u.s.data,
				       o->u.s.len);
		break;
	case MP_OBJ_TUPLE:
		rc = save_tuple(e, o);
		break;
	case MP_OBJ_LIST:
	case MP_OBJ_DICT:
		if ((rc = w1(e, o->kind == MP_OBJ_LIST ? ']' : '}')) == 0 &&
		    (rc = memoize(e)) == 0)
			rc = save_batches(e, o);
		break;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		rc = save_set(e, o);
		break;
	case MP_OBJ_OBJECT:
		rc = save_object(e, o);
		break;
	default:
		rc = mp__why(-EINVAL, "cannot pickle a %s",
			     mp_obj_kind_name(o->kind));
	}
	if (rc == 0)
		boundary(e);
	return rc;
}

int mp__pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out)
{
	struct enc e;
	unsigned char proto[2];
	int rc;

	out->data = NULL;
	out->len = 0;
	memset(&e, 0, sizeof(e));
	e.proto = protocol;
	e.frame = -1;
	proto[0] = 0x80;
	proto[1] = (unsigned char)protocol;
	rc = w(&e, proto, 2);
	e.framing = protocol >= 4;
	if (rc == 0 && (rc = save(&e, o)) == 0 && (rc = w1(&e, '.')) == 0)
		commit_frame(&e);
	if (rc < 0) {
		mp__free(e.out.data);
		return rc;
	}
	e.out.data[e.out.len] = '\0';
	*out = e.out;
	return 0;
}

int mp_pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out)
{
	int rc;

	MP__CHECK_NULL(out);
	out->data = NULL;
	out->len = 0;
	MP__CHECK_NULL(o);
	if (protocol == -1)
		protocol = MP_PICKLE_DEFAULT_PROTOCOL;
	if (protocol < 2 || protocol > 4)
		return MP__ERR(-EINVAL, "protocol %d: only 2, 3 and 4 are "
					"written", protocol);
	if ((rc = mp__pickle_dumps(o, protocol, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}
