/*
 * obj/pickle_stack.c - the pickle reader's machine: its stack of owned
 * values, the marks (the fence nothing below may be popped), the memo and
 * the primitives that read lengths and lines (see pickle_load.c).
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

int mp__pk_bad(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mp__why(-EPROTO, "%s", msg);
}

int mp__pk_need(struct dec *d, size_t n)
{
	if ((size_t)(d->end - d->p) < n)
		return mp__pk_bad("truncated: %zu bytes needed, %zu left", n,
				  (size_t)(d->end - d->p));
	return 0;
}

uint64_t mp__pk_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

/* A length of n bytes (little-endian), checked against what remains. */
int mp__pk_read_len(struct dec *d, int n, size_t *len)
{
	uint64_t v;
	int rc;

	if ((rc = mp__pk_need(d, (size_t)n)) < 0)
		return rc;
	v = mp__pk_le(d->p, n);
	d->p += n;
	if (v > (uint64_t)(d->end - d->p))
		return mp__pk_bad("length %llu exceeds the %zu bytes left",
				  (unsigned long long)v, (size_t)(d->end - d->p));
	*len = (size_t)v;
	return 0;
}

/* The text up to the next '\n' (excluded); advances past it. */
int mp__pk_read_line(struct dec *d, const char **s, size_t *len)
{
	const unsigned char *nl = memchr(d->p, '\n', (size_t)(d->end - d->p));

	if (nl == NULL)
		return mp__pk_bad("truncated: no end of line");
	*s = (const char *)d->p;
	*len = (size_t)(nl - d->p);
	d->p = nl + 1;
	return 0;
}

size_t mp__pk_fence(const struct dec *d)
{
	return d->nmarks > 0 ? d->marks[d->nmarks - 1] : 0;
}

int mp__pk_push(struct dec *d, mp_obj_t *o)
{
	mp_obj_t **st;
	size_t cap;

	if (o == NULL)
		return -ENOMEM;
	if (d->n == d->cap) {
		cap = d->cap < 16 ? 16 : d->cap * 2;
		if ((st = mp__reallocarray(d->st, cap, sizeof(*st))) == NULL) {
			mp__obj_decref(o);
			return -ENOMEM;
		}
		d->st = st;
		d->cap = cap;
	}
	d->st[d->n++] = o;
	return 0;
}

/* Push a node made by an internal constructor that reports through rc. */
int mp__pk_push_rc(struct dec *d, mp_obj_t *o, int rc)
{
	return o == NULL ? rc : mp__pk_push(d, o);
}

int mp__pk_underflow(void)
{
	return mp__pk_bad("unpickling stack underflow");
}

int mp__pk_pop(struct dec *d, mp_obj_t **o)
{
	if (d->n <= mp__pk_fence(d))
		return mp__pk_underflow();
	*o = d->st[--d->n];
	return 0;
}

/* The top value, still on the stack. */
int mp__pk_top(struct dec *d, mp_obj_t **o)
{
	if (d->n <= mp__pk_fence(d))
		return mp__pk_underflow();
	*o = d->st[d->n - 1];
	return 0;
}

int mp__pk_pop_mark(struct dec *d, size_t *k)
{
	if (d->nmarks == 0)
		return mp__pk_bad("could not find MARK");
	*k = d->marks[--d->nmarks];
	return 0;
}

int mp__pk_frozen(const mp_obj_t *o)
{
	if (o->frozen)
		return mp__why(-ENOTSUP, "recursive structure (a %s that "
					 "contains itself) is not supported",
			       mp_obj_kind_name(o->kind));
	return 0;
}

/* Move stack[k..n) into container c (appended, set as pairs, or added). */
static int fill(struct dec *d, mp_obj_t *c, size_t k)
{
	size_t i;
	int rc = 0;

	if (c->kind == MP_OBJ_DICT && (d->n - k) % 2 != 0)
		rc = mp__pk_bad("odd number of items for a dict");
	for (i = k; i < d->n; i += (c->kind == MP_OBJ_DICT ? 2 : 1)) {
		if (rc < 0) {
			mp__obj_decref(d->st[i]);
			if (c->kind == MP_OBJ_DICT && i + 1 < d->n)
				mp__obj_decref(d->st[i + 1]);
		} else if (c->kind == MP_OBJ_DICT) {
			rc = mp__obj_setitem(c, d->st[i], d->st[i + 1]);
		} else if (c->kind == MP_OBJ_SET ||
			   c->kind == MP_OBJ_FROZENSET) {
			rc = mp__obj_add(c, d->st[i]);
			rc = rc < 0 ? rc : 0;
		} else {
			rc = mp__obj_append(c, d->st[i]);
		}
	}
	d->n = k;
	return rc;
}

/* Pop the items above the top mark into a new container of kind. */
int mp__pk_build_marked(struct dec *d, int kind)
{
	mp_obj_t *c;
	size_t k = 0;
	int rc;

	if ((rc = mp__pk_pop_mark(d, &k)) < 0)
		return rc;
	if ((c = mp__obj_new(kind)) == NULL)
		return -ENOMEM;
	if ((rc = fill(d, c, k)) < 0) {
		mp__obj_decref(c);
		return rc;
	}
	return mp__pk_push(d, c);
}

/* Fill the container just below the top mark (APPENDS, SETITEMS,
 * ADDITEMS). */
int mp__pk_fill_marked(struct dec *d, int kind, const char *op)
{
	mp_obj_t *c;
	size_t k = 0;
	int rc;

	if ((rc = mp__pk_pop_mark(d, &k)) < 0)
		return rc;
	if (k == 0 || k <= mp__pk_fence(d)) {
		rc = mp__pk_underflow();
	} else {
		c = d->st[k - 1];
		if (c->kind != kind &&
		    !(kind == MP_OBJ_SET && c->kind == MP_OBJ_FROZENSET))
			rc = mp__pk_bad("%s on a %s", op,
					mp_obj_kind_name(c->kind));
		else
			rc = mp__pk_frozen(c);
		if (rc == 0)
			return fill(d, c, k);
	}
	while (d->n > k)
		mp__obj_decref(d->st[--d->n]);
	return rc;
}

int mp__pk_build_tuple(struct dec *d, size_t n)
{
	mp_obj_t *t;
	int rc;

	if (d->n - mp__pk_fence(d) < n)
		return mp__pk_underflow();
	if ((t = mp__obj_new(MP_OBJ_TUPLE)) == NULL)
		return -ENOMEM;
	if ((rc = fill(d, t, d->n - n)) < 0) {
		mp__obj_decref(t);
		return rc;
	}
	return mp__pk_push(d, t);
}

/* ---- the memo ---- */

static struct memo_slot *memo_slot(struct dec *d, uint32_t key)
{
	size_t i, mask = d->mslots - 1;

	if (d->mslots == 0)
		return NULL;
	for (i = (size_t)(key * 2654435761u) & mask;; i = (i + 1) & mask)
		if (d->memo[i].o == NULL || d->memo[i].key == key)
			return &d->memo[i];
}

static int memo_grow(struct dec *d)
{
	struct memo_slot *old = d->memo, *s;
	size_t n = d->mslots, i;
	size_t cap = n == 0 ? 16 : n * 2;

	if ((d->memo = mp__calloc(cap, sizeof(*d->memo))) == NULL) {
		d->memo = old;
		return -ENOMEM;
	}
	d->mslots = cap;
	for (i = 0; i < n; i++)
		if (old[i].o != NULL) {
			s = memo_slot(d, old[i].key);
			*s = old[i];
		}
	mp__free(old);
	return 0;
}

int mp__pk_memo_put(struct dec *d, uint64_t key)
{
	struct memo_slot *s;
	mp_obj_t *o = NULL;
	int rc;

	if (key > UINT32_MAX)
		return mp__pk_bad("memo key %llu is too large",
				  (unsigned long long)key);
	if ((rc = mp__pk_top(d, &o)) < 0)
		return rc;
	if (2 * (d->mlen + 1) > d->mslots && (rc = memo_grow(d)) < 0)
		return rc;
	s = memo_slot(d, (uint32_t)key);
	if (s->o != NULL)
		mp__obj_decref(s->o);
	else
		d->mlen++;
	s->key = (uint32_t)key;
	s->o = o;
	o->refs++;
	return 0;
}

/* Push a copy of o (GET, DUP): both are frozen from now on. */
int mp__pk_push_copy(struct dec *d, mp_obj_t *o)
{
	int rc = -ENOMEM;
	mp_obj_t *c = mp__obj_copy(o, &d->budget, true, &rc);

	return mp__pk_push_rc(d, c, rc);
}

int mp__pk_memo_get(struct dec *d, uint64_t key)
{
	struct memo_slot *s = key > UINT32_MAX ? NULL
					       : memo_slot(d, (uint32_t)key);

	if (s == NULL || s->o == NULL)
		return mp__pk_bad("memo key %llu not found",
				  (unsigned long long)key);
	return mp__pk_push_copy(d, s->o);
}

/* A decimal line (PUT, GET, INT); at most 20 digits. */
int mp__pk_read_decimal(struct dec *d, bool sign, int64_t *out)
{
	const char *s = NULL;
	char buf[24], *end;
	size_t len = 0;
	int rc;

	if ((rc = mp__pk_read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 0 || len >= sizeof(buf))
		return mp__pk_bad("bad decimal of %zu characters", len);
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoll(buf, &end, 10);
	if (*end != '\0' || errno != 0 ||
	    (!sign && (*out < 0 || buf[0] == '-')))
		return mp__pk_bad("bad decimal '%s'", buf);
	return 0;
}
