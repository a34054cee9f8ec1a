/*
 * obj/obj.c - mp_obj_t, the Python values that cross languages: the
 * nodes and the containers (hash and == are in obj_eq.c, repr in
 * obj_repr.c, the public functions in obj_api.c).
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
#include "obj/obj_int.h"

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
	if (kind == MP__OBJ_GLOBAL)
		return "type";
	return "?";
}

/* ---- nodes ---- */

mp_obj_t *mp__obj_new(int kind)
{
	mp_obj_t *o = mp__calloc(1, sizeof(*o));

	if (o != NULL) {
		o->kind = (uint8_t)kind;
		/* a container counts as one level, empty or not */
		if ((kind >= MP_OBJ_TUPLE && kind <= MP_OBJ_FROZENSET) ||
		    kind == MP_OBJ_OBJECT)
			o->depth = 1;
	}
	return o;
}

bool mp__obj_is_container(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_TUPLE || o->kind == MP_OBJ_LIST ||
	       o->kind == MP_OBJ_DICT || o->kind == MP_OBJ_SET ||
	       o->kind == MP_OBJ_FROZENSET;
}

size_t mp__obj_slots(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
}

void mp__obj_decref(mp_obj_t *o)
{
	size_t i;

	if (o == NULL)
		return;
	if (o->refs > 0) {
		o->refs--;
		return;
	}
	if (mp__obj_is_container(o)) {
		for (i = 0; i < mp__obj_slots(o); i++)
			mp__obj_decref(o->u.c.v[i]);
		mp__free(o->u.c.v);
		mp__free(o->u.c.idx);
	} else if (o->kind == MP_OBJ_OBJECT) {
		mp__free(o->u.o.module);
		mp__free(o->u.o.qualname);
		mp__obj_decref(o->u.o.args);
		mp__obj_decref(o->u.o.state);
	} else if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
		   o->kind == MP__OBJ_GLOBAL ||
		   (o->kind == MP_OBJ_INT && o->big)) {
		mp__free(o->u.s.data);
	}
	mp__free(o);
}

void mp_obj_free(mp_obj_t *o)
{
	mp__obj_decref(o);
}

size_t mp__utf8_check(const unsigned char *s, size_t len)
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

mp_obj_t *mp__obj_str(int kind, const void *data, size_t len, int *rc)
{
	mp_obj_t *o;
	size_t bad;

	if (kind == MP_OBJ_STR &&
	    (bad = mp__utf8_check(data, len)) != len) {
		*rc = mp__why(-EILSEQ, "invalid UTF-8 at byte %zu of %zu", bad,
			      len);
		return NULL;
	}
	if ((o = mp__obj_new(kind)) == NULL ||
	    (o->u.s.data = mp__malloc(len + 1)) == NULL) {
		mp__free(o);
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
size_t mp__obj_le_shortest(const unsigned char *b, size_t len)
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

mp_obj_t *mp__obj_bigint(const void *data, size_t len, int *rc)
{
	const unsigned char *b = data;
	mp_obj_t *o;
	uint64_t u = 0;
	size_t i;

	len = mp__obj_le_shortest(b, len);
	if (len <= 8) {
		for (i = 0; i < len; i++)
			u |= (uint64_t)b[i] << (8 * i);
		if (len > 0 && len < 8 && (b[len - 1] & 0x80))
			u |= ~(uint64_t)0 << (8 * len);
		if ((o = mp__obj_new(MP_OBJ_INT)) == NULL) {
			*rc = -ENOMEM;
			return NULL;
		}
		o->u.i = (int64_t)u;
		return o;
	}
	if (len > MP__BIGINT_MAX) {
		*rc = mp__why(-E2BIG, "int of %zu bytes exceeds %zu", len,
			      MP__BIGINT_MAX);
		return NULL;
	}
	if ((o = mp__obj_str(MP_OBJ_BYTES, data, len, rc)) == NULL)
		return NULL;
	o->kind = MP_OBJ_INT;
	o->big = true;
	return o;
}

const unsigned char *mp__obj_int_bytes(const mp_obj_t *o, unsigned char *tmp,
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
	*len = mp__obj_le_shortest(tmp, 8);
	return tmp;
}

mp_obj_t *mp__obj_global(const char *module, const char *name)
{
	size_t m = strlen(module), n = strlen(name);
	mp_obj_t *o = mp__obj_new(MP__OBJ_GLOBAL);

	if (o == NULL || (o->u.s.data = mp__malloc(m + n + 2)) == NULL) {
		mp__free(o);
		return NULL;
	}
	memcpy(o->u.s.data, module, m + 1);
	memcpy(o->u.s.data + m + 1, name, n + 1);
	o->u.s.len = m + n + 1;
	return o;
}

/* ---- containers ---- */

/* Position of key in dict/set c, or -1. */
ptrdiff_t mp__obj_find(const mp_obj_t *c, const mp_obj_t *key, uint64_t h)
{
	size_t step = c->kind == MP_OBJ_DICT ? 2 : 1, i, mask;
	uint32_t pos;

	if (c->u.c.icap == 0) {
		for (i = 0; i < c->u.c.n; i++)
			if (mp__obj_eq(c->u.c.v[step * i], key))
				return (ptrdiff_t)i;
		return -1;
	}
	mask = c->u.c.icap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		pos = c->u.c.idx[i];
		if (pos == 0)
			return -1;
		if (mp__obj_eq(c->u.c.v[step * (pos - 1)], key))
			return (ptrdiff_t)pos - 1;
	}
}

void mp__obj_index_put(mp_obj_t *c, size_t pos, uint64_t h)
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
		mp__free(c->u.c.idx);
		c->u.c.idx = NULL;
		c->u.c.icap = 0;
		return 0;
	}
	while (cap < 2 * n + 2)
		cap *= 2;
	if ((idx = mp__calloc(cap, sizeof(*idx))) == NULL)
		return -ENOMEM;
	mp__free(c->u.c.idx);
	c->u.c.idx = idx;
	c->u.c.icap = cap;
	for (i = 0; i < c->u.c.n; i++)
		mp__obj_index_put(c, i, mp__obj_hash_of(c->u.c.v[step * i]));
	return 0;
}

/* Room for one more item (step slots). */
static int reserve(mp_obj_t *c, size_t step)
{
	size_t need = mp__obj_slots(c) + step, cap;
	mp_obj_t **v;

	if (c->u.c.n >= UINT32_MAX - 1)
		return mp__why(-E2BIG, "container of %zu items is full",
			       c->u.c.n);
	if (need <= c->u.c.cap)
		return 0;
	cap = c->u.c.cap < 4 ? 4 : c->u.c.cap * 2;
	if (cap < need)
		cap = need;
	if ((v = mp__reallocarray(c->u.c.v, cap, sizeof(*v))) == NULL)
		return -ENOMEM;
	c->u.c.v = v;
	c->u.c.cap = cap;
	return 0;
}

int mp__obj_take_depth(mp_obj_t *c, const mp_obj_t *item)
{
	unsigned d = (unsigned)item->depth + 1;

	if (d > MP_OBJ_MAX_DEPTH)
		return mp__why(-E2BIG, "nesting exceeds %d levels",
			       MP_OBJ_MAX_DEPTH);
	if (d > c->depth)
		c->depth = (uint16_t)d;
	return 0;
}

int mp__obj_append(mp_obj_t *seq, mp_obj_t *item)
{
	int rc;

	if ((rc = mp__obj_take_depth(seq, item)) < 0 ||
	    (rc = reserve(seq, 1)) < 0) {
		mp__obj_decref(item);
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

	if ((rc = mp__obj_hashable(key)) < 0 ||
	    (rc = mp__obj_take_depth(c, key)) < 0 ||
	    (value != NULL && (rc = mp__obj_take_depth(c, value)) < 0))
		goto fail;
	h = mp__obj_hash_of(key);
	if ((at = mp__obj_find(c, key, h)) >= 0) {
		mp__obj_decref(key);
		if (dict) {
			mp__obj_decref(c->u.c.v[2 * at + 1]);
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
		mp__obj_index_put(c, c->u.c.n, h);
	c->u.c.n++;
	return 1;
fail:
	mp__obj_decref(key);
	mp__obj_decref(value);
	return rc;
}

int mp__obj_setitem(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value)
{
	int rc = insert(d, key, value);

	return rc < 0 ? rc : 0;
}

int mp__obj_add(mp_obj_t *s, mp_obj_t *item)
{
	return insert(s, item, NULL);
}

size_t mp__obj_cost(const mp_obj_t *o)
{
	size_t c = sizeof(*o);

	if (mp__obj_is_container(o))
		c += o->u.c.cap * sizeof(void *) + o->u.c.icap * 4;
	else if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
		 o->kind == MP__OBJ_GLOBAL || (o->kind == MP_OBJ_INT && o->big))
		c += o->u.s.len + 1;
	else if (o->kind == MP_OBJ_OBJECT)
		c += strlen(o->u.o.module) + strlen(o->u.o.qualname) + 2;
	return c;
}

mp_obj_t *mp__obj_copy(const mp_obj_t *o, int64_t *budget, bool freeze,
		       int *rc)
{
	mp_obj_t *c;
	size_t i, n;

	if (budget != NULL) {
		*budget -= (int64_t)mp__obj_cost(o);
		if (*budget < 0) {
			*rc = mp__why(-E2BIG, "memo copies exceed the budget "
					      "(%d x input + %zu bytes)",
				      MP_PICKLE_COPY_FACTOR,
				      MP_PICKLE_COPY_BASE);
			return NULL;
		}
	}
	if (freeze)
		((mp_obj_t *)o)->frozen = true;
	if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES ||
	    o->kind == MP__OBJ_GLOBAL || (o->kind == MP_OBJ_INT && o->big)) {
		if ((c = mp__obj_str(MP_OBJ_BYTES, o->u.s.data, o->u.s.len,
				     rc)) == NULL)
			return NULL;
		c->kind = o->kind;
		c->big = o->big;
	} else if ((c = mp__obj_new(o->kind)) == NULL) {
		*rc = -ENOMEM;
		return NULL;
	} else if (o->kind == MP_OBJ_OBJECT) {
		c->flags = o->flags;
		c->depth = o->depth;
		if ((c->u.o.module = mp__strdup(o->u.o.module)) == NULL ||
		    (c->u.o.qualname = mp__strdup(o->u.o.qualname)) == NULL) {
			*rc = -ENOMEM;
			goto fail;
		}
		if ((c->u.o.args = mp__obj_copy(o->u.o.args, budget, freeze,
						rc)) == NULL)
			goto fail;
		if (o->u.o.state != NULL &&
		    (c->u.o.state = mp__obj_copy(o->u.o.state, budget, freeze,
						 rc)) == NULL)
			goto fail;
	} else if (mp__obj_is_container(o)) {
		n = mp__obj_slots(o);
		c->depth = o->depth;
		if (n > 0 &&
		    (c->u.c.v = mp__calloc(n, sizeof(*c->u.c.v))) == NULL) {
			*rc = -ENOMEM;
			goto fail;
		}
		c->u.c.cap = n;
		for (i = 0; i < n; i++) {
			if ((c->u.c.v[i] = mp__obj_copy(o->u.c.v[i], budget,
							freeze, rc)) == NULL) {
				while (i > 0)
					mp__obj_decref(c->u.c.v[--i]);
				goto fail;
			}
		}
		c->u.c.n = o->u.c.n;
		if ((o->kind == MP_OBJ_DICT || mp__obj_set_kind(o->kind)) &&
		    (*rc = index_build(c, c->u.c.n)) < 0)
			goto fail;
	} else {
		c->u = o->u;
	}
	c->frozen = freeze;
	return c;
fail:
	mp__obj_decref(c);
	return NULL;
}
