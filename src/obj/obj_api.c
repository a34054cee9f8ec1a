/*
 * obj/obj_api.c - the public mp_obj_* functions: constructors, accessors,
 * list/dict/set operations, mp_obj_eq and mp_obj_repr (the nodes are obj.c's).
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

/* ---- the public functions ---- */

/* Return a constructor's node, reporting rc (read after o was made) for
 * NULL in the public function's name. */
#define RETURN_MADE(o, rc)                                                    \
	do {                                                                  \
		mp_obj_t *made_ = (o);                                        \
		if (made_ == NULL)                                            \
			MP__RAISE(rc);                                        \
		return made_;                                                 \
	} while (0)

mp_obj_t *mp_obj_none(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mp__obj_new(MP_OBJ_NONE), rc);
}

mp_obj_t *mp_obj_bool(bool v)
{
	mp_obj_t *o = mp__obj_new(MP_OBJ_BOOL);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.b = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_int(int64_t v)
{
	mp_obj_t *o = mp__obj_new(MP_OBJ_INT);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.i = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_float(double v)
{
	mp_obj_t *o = mp__obj_new(MP_OBJ_FLOAT);
	int rc = -ENOMEM;

	if (o != NULL)
		o->u.f = v;
	RETURN_MADE(o, rc);
}

mp_obj_t *mp_obj_bigint(const void *data, size_t len)
{
	int rc = -EINVAL;

	if (data == NULL && len > 0) {
		MP__ERR(-EINVAL, "argument 'data' is NULL");
		return NULL;
	}
	RETURN_MADE(mp__obj_bigint(data, len, &rc), rc);
}

mp_obj_t *mp_obj_strn(const char *s, size_t len)
{
	int rc = -EINVAL;

	if (s == NULL && len > 0) {
		MP__ERR(-EINVAL, "argument 's' is NULL");
		return NULL;
	}
	RETURN_MADE(mp__obj_str(MP_OBJ_STR, s, len, &rc), rc);
}

mp_obj_t *mp_obj_str(const char *s)
{
	int rc = -EINVAL;

	MP__CHECK_NULL_P(s);
	RETURN_MADE(mp__obj_str(MP_OBJ_STR, s, strlen(s), &rc), rc);
}

mp_obj_t *mp_obj_bytes(const void *data, size_t len)
{
	int rc = -EINVAL;

	if (data == NULL && len > 0) {
		MP__ERR(-EINVAL, "argument 'data' is NULL");
		return NULL;
	}
	RETURN_MADE(mp__obj_str(MP_OBJ_BYTES, data, len, &rc), rc);
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
		MP__ERR(-EINVAL, "argument 'items' is NULL");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (items[i] == NULL && rc == 0) {
			rc = null_item_code();
			bad = i;
		}
	if (rc == 0 && (t = mp__obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = -ENOMEM;
	if (rc < 0) {
		for (i = 0; i < n; i++)
			mp__obj_decref(items[i]);
		if (rc == -ENOMEM)
			MP__ERR(rc, "out of memory");
		else
			MP__ERR(rc, "item %zu is NULL (its constructor failed: "
				    "%s)", bad, mp_strerror(rc));
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = mp__obj_append(t, items[i]);
		else
			mp__obj_decref(items[i]);
	}
	if (rc < 0) {
		mp__obj_decref(t);
		MP__RAISE(rc);
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

	if ((t = mp__obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = -ENOMEM;
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		item = va_arg(ap, mp_obj_t *);
		if (item == NULL && rc == 0) {
			rc = null_item_code();
			null = true;
		} else if (rc == 0)
			rc = mp__obj_append(t, item);
		else
			mp__obj_decref(item);
	}
	va_end(ap);
	if (rc < 0) {
		mp__obj_decref(t);
		if (null)
			MP__ERR(rc, "an item is NULL (its constructor failed: "
				    "%s)", mp_strerror(rc));
		else
			MP__RAISE(rc);
		return NULL;
	}
	return t;
}

mp_obj_t *mp_obj_list(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mp__obj_new(MP_OBJ_LIST), rc);
}

mp_obj_t *mp_obj_dict(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mp__obj_new(MP_OBJ_DICT), rc);
}

mp_obj_t *mp_obj_set(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mp__obj_new(MP_OBJ_SET), rc);
}

mp_obj_t *mp_obj_frozenset(void)
{
	int rc = -ENOMEM;

	RETURN_MADE(mp__obj_new(MP_OBJ_FROZENSET), rc);
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
		rc = MP__ERR(-EINVAL, "module and qualname must be non-empty "
				      "names (under 256 bytes, no newline)");
	else if (args != NULL && args->kind != MP_OBJ_TUPLE)
		rc = MP__ERR(-EINVAL, "args must be a tuple, not %s",
			     mp_obj_kind_name(args->kind));
	else if (flags & ~MP_OBJ_NEWOBJ)
		rc = MP__ERR(-EINVAL, "unknown flags %#x", flags);
	else if (args == NULL && (args = mp__obj_new(MP_OBJ_TUPLE)) == NULL)
		rc = MP__ERR(-ENOMEM, "out of memory");
	else if ((o = mp__obj_new(MP_OBJ_OBJECT)) == NULL ||
		 (o->u.o.module = mp__strdup(module)) == NULL ||
		 (o->u.o.qualname = mp__strdup(qualname)) == NULL)
		rc = MP__ERR(-ENOMEM, "out of memory");
	else if ((rc = mp__obj_take_depth(o, args)) < 0 ||
		 (state != NULL && (rc = mp__obj_take_depth(o, state)) < 0))
		MP__RAISE(rc);
	if (rc < 0) {
		mp__obj_decref(o);
		mp__obj_decref(args);
		mp__obj_decref(state);
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

	MP__CHECK_NULL_P(o);
	RETURN_MADE(mp__obj_copy(o, NULL, false, &rc), rc);
}

int mp_obj_kind(const mp_obj_t *o)
{
	MP__CHECK_NULL(o);
	return o->kind;
}

/* -EINVAL naming what was expected and what came (public layer). */
#define WRONG_KIND(o, want)                                                   \
	((o) == NULL ? MP__ERR(-EINVAL, "argument '%s' is NULL (expected %s)",  \
			       #o, (want))                                   \
		     : MP__ERR(-EINVAL, "expected %s, got %s", (want),         \
			       mp_obj_kind_name((o)->kind)))

int mp_obj_as_bool(const mp_obj_t *o, bool *out)
{
	MP__CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_BOOL)
		return WRONG_KIND(o, "bool");
	*out = o->u.b;
	return 0;
}

int mp_obj_as_int(const mp_obj_t *o, int64_t *out)
{
	MP__CHECK_NULL(out);
	if (o == NULL || (o->kind != MP_OBJ_INT && o->kind != MP_OBJ_BOOL))
		return WRONG_KIND(o, "int");
	if (o->big)
		return MP__ERR(-ERANGE, "int of %zu bytes does not fit 64 bits",
			       o->u.s.len);
	*out = mp__obj_num_small(o);
	return 0;
}

int mp_obj_as_bigint(const mp_obj_t *o, mp_bytes_t *out)
{
	unsigned char tmp[9];
	const unsigned char *p;
	size_t len;

	MP__CHECK_NULL(out);
	if (o == NULL || (o->kind != MP_OBJ_INT && o->kind != MP_OBJ_BOOL))
		return WRONG_KIND(o, "int");
	p = mp__obj_int_bytes(o, tmp, &len);
	if ((out->data = mp__malloc(len + 1)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
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

	if ((mag = mp__malloc(len)) == NULL)
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
	mp__free(mag);
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
		return mp__why(-ERANGE, "int too large to convert to float");
	*out = neg ? -d : d;
	return 0;
}

int mp__obj_as_double(const mp_obj_t *o, double *out)
{
	if (o->kind == MP_OBJ_FLOAT)
		*out = o->u.f;
	else if (!o->big)
		*out = (double)mp__obj_num_small(o);
	else
		return big_to_double(o, out);
	return 0;
}

int mp_obj_as_float(const mp_obj_t *o, double *out)
{
	int rc;

	MP__CHECK_NULL(out);
	if (o == NULL || !mp__obj_is_num(o))
		return WRONG_KIND(o, "float");
	if ((rc = mp__obj_as_double(o, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_obj_as_str(const mp_obj_t *o, const mp_bytes_t **out)
{
	MP__CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_STR)
		return WRONG_KIND(o, "str");
	*out = &o->u.s;
	return 0;
}

int mp_obj_as_bytes(const mp_obj_t *o, const mp_bytes_t **out)
{
	MP__CHECK_NULL(out);
	if (o == NULL || o->kind != MP_OBJ_BYTES)
		return WRONG_KIND(o, "bytes");
	*out = &o->u.s;
	return 0;
}

int mp_obj_len(const mp_obj_t *o, size_t *out)
{
	size_t i, n = 0;

	MP__CHECK_NULL(o);
	MP__CHECK_NULL(out);
	if (mp__obj_is_container(o)) {
		*out = o->u.c.n;
	} else if (o->kind == MP_OBJ_BYTES) {
		*out = o->u.s.len;
	} else if (o->kind == MP_OBJ_STR) {
		for (i = 0; i < o->u.s.len; i++)
			n += ((unsigned char)o->u.s.data[i] & 0xc0) != 0x80;
		*out = n;
	} else {
		return MP__ERR(-EINVAL, "object of type '%s' has no len()",
			       mp_obj_kind_name(o->kind));
	}
	return 0;
}

int mp_obj_item(const mp_obj_t *o, ptrdiff_t i, const mp_obj_t **out)
{
	MP__CHECK_NULL(out);
	if (o == NULL || !mp__obj_is_container(o) || o->kind == MP_OBJ_DICT)
		return WRONG_KIND(o, "tuple, list or set");
	if (i < 0)
		i += (ptrdiff_t)o->u.c.n;
	if (i < 0 || (size_t)i >= o->u.c.n)
		return MP__ERR(-ERANGE, "%s index out of range",
			       mp_obj_kind_name(o->kind));
	*out = o->u.c.v[i];
	return 0;
}

/* A NULL item (argument arg) put in a container: its constructor's code,
 * with a reason naming the argument. */
static int null_item(const char *arg)
{
	int rc = null_item_code();

	return mp__why(rc, "argument '%s' is NULL (its constructor failed: %s)",
		       arg, mp_strerror(rc));
}

int mp_obj_list_append(mp_obj_t *list, mp_obj_t *item)
{
	int rc;

	if (item == NULL)
		return MP__RAISE(null_item("item"));
	if (list == NULL || list->kind != MP_OBJ_LIST) {
		mp__obj_decref(item);
		return WRONG_KIND(list, "list");
	}
	if ((rc = mp__obj_append(list, item)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_obj_dict_set(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value)
{
	int rc;

	if (key == NULL || value == NULL) {
		mp__obj_decref(key);
		mp__obj_decref(value);
		return MP__RAISE(null_item(key == NULL ? "key" : "value"));
	}
	if (d == NULL || d->kind != MP_OBJ_DICT) {
		mp__obj_decref(key);
		mp__obj_decref(value);
		return WRONG_KIND(d, "dict");
	}
	if ((rc = mp__obj_setitem(d, key, value)) < 0)
		return MP__RAISE(rc);
	return 0;
}

/* -ENOENT (KeyError), the reason holding the key's repr (cut short). */
static int key_error(const mp_obj_t *key)
{
	mp_bytes_t r = {0};
	size_t cap = 0;
	int rc;

	if (mp__obj_repr(key, &r, &cap) < 0) {
		mp__free(r.data);
		return mp__why(-ENOENT, "KeyError");
	}
	rc = mp__why(-ENOENT, "KeyError: %.200s%s", r.data,
		     r.len > 200 ? "..." : "");
	mp__free(r.data);
	return rc;
}

/* Find key in d (a dict, or a set when sets are kind_ok): *at is its
 * position or -1. */
static int lookup(const mp_obj_t *d, const mp_obj_t *key, int kind_ok,
		  ptrdiff_t *at)
{
	int rc;

	if (key == NULL)
		return mp__why(-EINVAL, "argument 'key' is NULL");
	if (d == NULL)
		return mp__why(-EINVAL, "argument 'd' is NULL");
	if (!kind_ok)
		return mp__why(-EINVAL, "expected dict, got %s",
			       mp_obj_kind_name(d->kind));
	if ((rc = mp__obj_hashable(key)) < 0)
		return rc;
	*at = mp__obj_find(d, key, mp__obj_hash_of(key));
	return 0;
}

int mp_obj_dict_get(const mp_obj_t *d, const mp_obj_t *key,
		    const mp_obj_t **out)
{
	ptrdiff_t at = -1;
	int rc;

	MP__CHECK_NULL(out);
	rc = lookup(d, key, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MP__RAISE(rc);
	if (at < 0)
		return MP__RAISE(key_error(key));
	*out = d->u.c.v[2 * at + 1];
	return 0;
}

int mp_obj_dict_get_str(const mp_obj_t *d, const char *key,
			const mp_obj_t **out)
{
	mp_obj_t k = {.kind = MP_OBJ_STR};
	ptrdiff_t at = -1;
	int rc;

	MP__CHECK_NULL(key);
	MP__CHECK_NULL(out);
	k.u.s.data = (char *)key;
	k.u.s.len = strlen(key);
	rc = lookup(d, &k, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MP__RAISE(rc);
	if (at < 0)
		return MP__RAISE(key_error(&k));
	*out = d->u.c.v[2 * at + 1];
	return 0;
}

int mp_obj_dict_del(mp_obj_t *d, const mp_obj_t *key)
{
	ptrdiff_t at = -1; /* gcc -O3 sees it maybe unset */
	int rc;

	rc = lookup(d, key, d && d->kind == MP_OBJ_DICT, &at);
	if (rc < 0)
		return MP__RAISE(rc);
	if (at < 0)
		return MP__RAISE(key_error(key));
	mp__obj_decref(d->u.c.v[2 * at]);
	mp__obj_decref(d->u.c.v[2 * at + 1]);
	memmove(&d->u.c.v[2 * at], &d->u.c.v[2 * at + 2],
		(2 * (d->u.c.n - (size_t)at) - 2) * sizeof(*d->u.c.v));
	d->u.c.n--;
	if (d->u.c.icap > 0) {
		/* rebuild in place: the old index is big enough */
		memset(d->u.c.idx, 0, d->u.c.icap * sizeof(*d->u.c.idx));
		for (size_t i = 0; i < d->u.c.n; i++)
			mp__obj_index_put(d, i,
					  mp__obj_hash_of(d->u.c.v[2 * i]));
	}
	return 0;
}

int mp_obj_dict_item(const mp_obj_t *d, size_t i, const mp_obj_t **key,
		     const mp_obj_t **value)
{
	if (d == NULL || d->kind != MP_OBJ_DICT)
		return WRONG_KIND(d, "dict");
	if (i >= d->u.c.n)
		return MP__ERR(-ERANGE, "item %zu of a dict of %zu", i,
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
		return MP__RAISE(null_item("item"));
	if (s == NULL || !mp__obj_set_kind(s->kind)) {
		mp__obj_decref(item);
		return WRONG_KIND(s, "set");
	}
	if ((rc = mp__obj_add(s, item)) < 0)
		return MP__RAISE(rc);
	return rc;
}

int mp_obj_contains(const mp_obj_t *o, const mp_obj_t *item)
{
	ptrdiff_t at = -1; /* gcc -O3 sees it maybe unset */
	size_t i;
	int rc;

	MP__CHECK_NULL(item);
	MP__CHECK_NULL(o);
	if (o->kind == MP_OBJ_TUPLE || o->kind == MP_OBJ_LIST) {
		for (i = 0; i < o->u.c.n; i++)
			if (mp__obj_eq(o->u.c.v[i], item))
				return 1;
		return 0;
	}
	rc = lookup(o, item,
		    o && (o->kind == MP_OBJ_DICT ||
			  mp__obj_set_kind(o->kind)), &at);
	if (rc < 0)
		return MP__RAISE(rc);
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
	MP__CHECK_NULL(a);
	MP__CHECK_NULL(b);
	return mp__obj_eq(a, b);
}

int mp_obj_repr(const mp_obj_t *o, mp_bytes_t *out)
{
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc;

	MP__CHECK_NULL(o);
	MP__CHECK_NULL(out);
	if ((rc = mp__obj_repr(o, &b, &cap)) < 0) {
		mp__free(b.data);
		return MP__ERR(rc, "out of memory");
	}
	*out = b;
	return 0;
}
