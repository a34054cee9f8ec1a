/*
 * manager/serve_types.c - what the server does for each typeid (dict,
 * Namespace and the iterator here; serve_list.c, serve_sync.c and
 * serve_queue.c the others), and the lookup over all the tables: one
 * table entry per type (SyncManager's name, the methods CPython's proxy type
 * exposes, and the functions that serve them), each method calling the
 * same public function a local client calls on the same shared object.
 * A new type (Queue, Value...) is one more table entry.
 *
 * Errors: the public function's code and message become CPython's
 * exception (mp__exc_from_error), or a method sets c->exc itself where
 * CPython's wording differs from the local one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "obj/obj_int.h"
#include "manager/srv_int.h"
#include "mproc/sync.h"

/* ---- helpers ---- */

/* A copy of an optional default (None when absent). */
static int ret_default(struct mp__call *c, const mp_obj_t *dflt)
{
	c->ret = dflt ? mp_obj_copy(dflt) : mp_obj_none();
	return 0;
}

/* ---- dict ---- */

#define D ((mp_dictproxy_t *)c->obj)

static int d_getitem(struct mp__call *c)
{
	int rc = mp__call_need(c, 0, NULL, &c->key);

	return rc < 0 ? rc : mp_dictproxy_get(D, c->key, &c->ret);
}

static int d_setitem(struct mp__call *c)
{
	const mp_obj_t *k, *v;
	int rc;

	if ((rc = mp__call_need(c, 0, NULL, &k)) < 0 || (rc = mp__call_need(c, 1, NULL, &v)) < 0)
		return rc;
	return mp_dictproxy_set(D, k, v);
}

static int d_delitem(struct mp__call *c)
{
	int rc = mp__call_need(c, 0, NULL, &c->key);

	return rc < 0 ? rc : mp_dictproxy_del(D, c->key);
}

static int d_contains(struct mp__call *c)
{
	const mp_obj_t *k;
	int rc = mp__call_need(c, 0, NULL, &k);

	return rc < 0 ? rc : mp__call_bool(c, mp_dictproxy_contains(D, k));
}

static int d_len(struct mp__call *c) { return mp__call_count(c, mp_dictproxy_len(D)); }
static int d_clear(struct mp__call *c) { return mp_dictproxy_clear(D); }
static int d_copy(struct mp__call *c) { return mp_dictproxy_copy(D, &c->ret); }
static int d_keys(struct mp__call *c) { return mp_dictproxy_keys(D, &c->ret); }
static int d_items(struct mp__call *c) { return mp_dictproxy_items(D, &c->ret); }

static int d_values(struct mp__call *c)
{
	return mp_dictproxy_values(D, &c->ret);
}

static int d_get(struct mp__call *c)
{
	int rc = mp__call_need(c, 0, NULL, &c->key);

	if (rc == 0 && (rc = mp_dictproxy_get(D, c->key, &c->ret)) == -ENOENT)
		return ret_default(c, mp__call_arg(c, 1, NULL));
	return rc;
}

static int d_pop(struct mp__call *c)
{
	const mp_obj_t *dflt = mp__call_arg(c, 1, NULL);
	int rc = mp__call_need(c, 0, NULL, &c->key);

	if (rc == 0 && (rc = mp_dictproxy_pop(D, c->key, &c->ret)) == -ENOENT
	    && dflt != NULL)
		return ret_default(c, dflt);
	return rc;
}

static int d_popitem(struct mp__call *c)
{
	mp_obj_t *k, *v;
	int rc = mp_dictproxy_popitem(D, &k, &v);

	if (rc == 0)
		c->ret = mp_obj_tuple_pack(2, k, v);
	return rc;
}

static int d_setdefault(struct mp__call *c)
{
	const mp_obj_t *k;
	int rc = mp__call_need(c, 0, NULL, &k);

	return rc < 0 ? rc : mp_dictproxy_setdefault(D, k,
		mp__call_arg(c, 1, NULL), &c->ret);
}

/*
 * The pairs of d.update(seq) (a list, tuple, set or frozenset of 2-item
 * tuples or lists) as a dict into *out, up to the first bad pair: 0, or
 * a code with CPython's exception in c->exc (*out then holds the pairs
 * before it, which CPython has set by then).
 */
static int d_pairs(struct mp__call *c, const mp_obj_t *seq, mp_obj_t **out)
{
	const mp_obj_t *e, *k, *v;
	const char *p;
	char msg[128];
	size_t i, n = 0, m;
	int kind, rc;

	if ((*out = mp_obj_dict()) == NULL)
		return -ENOMEM;
	mp_obj_len(seq, &n);
	for (i = 0; i < n; i++) {
		mp_obj_item(seq, (ptrdiff_t)i, &e);
		kind = mp_obj_kind(e);
		if (kind <= MP_OBJ_FLOAT || kind == MP_OBJ_OBJECT) {
			snprintf(msg, sizeof(msg), "cannot convert dictionary "
				 "update sequence element #%zu to a sequence",
				 i);
			return mp__call_raise(c, "TypeError", msg);
		}
		if (mp_obj_len(e, &m) == 0 && m != 2) {
			snprintf(msg, sizeof(msg), "dictionary update sequence "
				 "element #%zu has length %zu; 2 is required",
				 i, m);
			return mp__call_raise(c, "ValueError", msg);
		}
		if (kind != MP_OBJ_TUPLE && kind != MP_OBJ_LIST)
			return mp__call_raise(c, "TypeError", "mproc's manager "
					      "updates a dict from pairs that "
					      "are tuples or lists");
		mp_obj_item(e, 0, &k);
		mp_obj_item(e, 1, &v);
		kind = mp_obj_kind(k);
		if (kind == MP_OBJ_LIST || kind == MP_OBJ_DICT ||
		    kind == MP_OBJ_SET) {
			snprintf(msg, sizeof(msg), "unhashable type: '%s'",
				 mp_obj_kind_name(kind));
			return mp__call_raise(c, "TypeError", msg);
		}
		if ((rc = mp_obj_dict_set(*out, mp_obj_copy(k),
					  mp_obj_copy(v))) == -EINVAL &&
		    (p = strstr(mp_last_error(), ": ")) != NULL)
			return mp__call_raise(c, "TypeError", p + 2);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* d.update(x, **kw) as dict.update: x a dict or pairs (set as far as
 * they are good, as CPython does), then the keywords. */
static int d_update(struct mp__call *c)
{
	const mp_obj_t *o = mp__call_arg(c, 0, NULL);
	mp_obj_t *pairs = NULL;
	char msg[96];
	size_t n = 0;
	int rc = 0, bad = 0, kind = mp_obj_kind(o);

	if (mp_obj_len(c->args, &n) == 0 && n > 1) {
		snprintf(msg, sizeof(msg), "update expected at most 1 "
			 "argument, got %zu", n);
		return mp__call_raise(c, "TypeError", msg);
	}
	if (o != NULL && (kind <= MP_OBJ_FLOAT))
		return mp__call_raise_not_iterable(c, o);
	if (o != NULL && kind != MP_OBJ_DICT && kind != MP_OBJ_LIST &&
	    kind != MP_OBJ_TUPLE && kind != MP_OBJ_SET &&
	    kind != MP_OBJ_FROZENSET)
		return mp__call_raise(c, "TypeError", "mproc's manager updates "
				      "a dict from a dict, pairs or keywords");
	if (o != NULL && kind != MP_OBJ_DICT) {
		if ((bad = d_pairs(c, o, &pairs)) == -ENOMEM && pairs == NULL)
			return bad;
		o = pairs;
	}
	if (o != NULL)
		rc = mp_dictproxy_update(D, o);
	if (rc == 0 && bad == 0 && mp_obj_len(c->kwds, &n) == 0 && n > 0)
		rc = mp_dictproxy_update(D, c->kwds);
	mp_obj_free(pairs);
	return bad < 0 ? bad : rc;
}

/* iter(d): a new Iterator (CPython's DictProxy._method_to_typeid_ =
 * {'__iter__': 'Iterator'}): a list holding one tuple, the dict's offset
 * and the mp_dictproxy_iter_t state, so that __next__ is the local
 * mp_dictproxy_next with its RuntimeError when the dict changes size. */
static int d_iter(struct mp__call *c)
{
	mp_dictproxy_iter_t it;
	mp_obj_t *state;
	int rc = mp_dictproxy_iter(D, &it);

	if (rc < 0)
		return rc;
	state = mp_obj_tuple_pack(4, mp_obj_int((char *)D - (char *)D->r),
				  mp_obj_int((int64_t)it._pos),
				  mp_obj_int((int64_t)it._len),
				  mp_obj_int((int64_t)it._version));
	if ((c->ret = mp_obj_tuple_pack(1, mp_obj_tuple_pack(1, state))) ==
	    NULL)
		return -ENOMEM;
	c->proxy = "Iterator";
	return 0;
}

static int d_repr(void *obj, mp_obj_t **out)
{
	mp_obj_t *v = NULL;
	mp_bytes_t b = {0};
	int rc;

	if ((rc = mp_dictproxy_copy(obj, &v)) < 0 ||
	    (rc = mp_obj_repr(v, &b)) < 0) {
		mp_obj_free(v);
		return rc;
	}
	*out = mp_obj_strn(b.data, b.len);
	mp_obj_free(v);
	mp_bytes_destroy(&b);
	return 0;
}

static int d_value(void *obj, mp_obj_t **out)
{
	return mp_dictproxy_copy(obj, out);
}

#undef D

/* ---- Namespace ---- */

#define NS ((mp_namespaceproxy_t *)c->obj)

static int ns_name(struct mp__call *c, const char **name)
{
	const mp_obj_t *o;
	const mp_bytes_t *b;
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc == 0 && mp_obj_as_str(o, &b) < 0)
		return mp__call_raise(c, "TypeError", "attribute name must be string");
	if (rc == 0)
		*name = b->data;
	return rc;
}

static int ns_get(struct mp__call *c)
{
	const char *name = NULL;
	int rc = ns_name(c, &name);

	return rc < 0 ? rc : mp_namespaceproxy_get(NS, name, &c->ret);
}

static int ns_set(struct mp__call *c)
{
	const mp_obj_t *v;
	const char *name = NULL;
	int rc;

	if ((rc = ns_name(c, &name)) < 0 || (rc = mp__call_need(c, 1, NULL, &v)) < 0)
		return rc;
	return mp_namespaceproxy_set(NS, name, v);
}

static int ns_del(struct mp__call *c)
{
	const char *name = NULL;
	int rc = ns_name(c, &name);

	return rc < 0 ? rc : mp_namespaceproxy_del(NS, name);
}

static int ns_repr(void *obj, mp_obj_t **out)
{
	mp_bytes_t b = {0};
	int rc = mp_namespaceproxy_repr(obj, &b);

	if (rc == 0)
		*out = mp_obj_strn(b.data, b.len);
	mp_bytes_destroy(&b);
	return rc;
}

#undef NS

/* ---- Iterator: a list holding the state d_iter made ---- */

static int it_next(struct mp__call *c)
{
	struct mp_listproxy *l = c->obj;
	mp_dictproxy_iter_t it = {0};
	mp_obj_t *st = NULL;
	const mp_obj_t *f[4];
	int64_t v[4] = {0};
	int i, rc = mp_listproxy_get(l, 0, &st);

	for (i = 0; rc == 0 && i < 4; i++)
		if (mp_obj_item(st, i, &f[i]) < 0 ||
		    mp_obj_as_int(f[i], &v[i]) < 0 || v[i] < 0 ||
		    (uint64_t)v[i] >= (i == 0 ? l->r->size : UINT64_MAX))
			rc = mp__why(-EINVAL, "a broken iterator");
	mp_obj_free(st);
	if (rc < 0)
		return rc;
	it._pos = (size_t)v[1];
	it._len = (uint64_t)v[2];
	it._version = (uint64_t)v[3];
	/* the dict at that offset: d_iter put it there */
	rc = mp_dictproxy_next(mp__at(l->r, (uint64_t)v[0]), &it, &c->ret,
			       NULL);
	if (rc == 0)
		c->exc = mp_obj_object("builtins", "StopIteration",
				       mp_obj_tuple(0, NULL), NULL, 0);
	if (rc <= 0)
		return rc == 0 ? -ERANGE : rc;
	st = mp_obj_tuple_pack(4, mp_obj_int(v[0]),
			       mp_obj_int((int64_t)it._pos),
			       mp_obj_int(v[2]), mp_obj_int(v[3]));
	rc = st ? mp_listproxy_set(l, 0, st) : -ENOMEM;
	mp_obj_free(st);
	return rc;
}

static int it_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__mgr_obj_new(r, MP_MANAGER_LIST, mp__call_arg(c, 0, NULL),
			       out);
}

/* ---- creation ---- */

int mp__call_new_plain(struct mp__call *c, struct mp__region *r, int kind,
		       const mp_obj_t *init, void **out)
{
	int rc = mp__mgr_obj_new(r, kind, init, out);

	if (rc < 0 && rc != -ENOMEM)
		c->exc = mp__exc_new("TypeError", mp_obj_str(mp__reason(rc)));
	return rc;
}

static int dict_create(struct mp__call *c, struct mp__region *r, void **out)
{
	const mp_obj_t *init = mp__call_arg(c, 0, NULL);
	size_t n = 0;

	if (init == NULL && mp_obj_len(c->kwds, &n) == 0 && n > 0)
		init = c->kwds; /* dict(balance=0) */
	return mp__call_new_plain(c, r, MP_MANAGER_DICT, init, out);
}

static int ns_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__call_new_plain(c, r, MP_MANAGER_NAMESPACE, NULL, out);
}

/* ---- the table ---- */

static const char *const dict_exposed[] = {
	"__contains__", "__delitem__", "__getitem__", "__iter__", "__len__",
	"__setitem__", "clear", "copy", "get", "items", "keys", "pop",
	"popitem", "setdefault", "update", "values", NULL,
};
static const struct mp__method dict_methods[] = {
	{"__contains__", d_contains}, {"__delitem__", d_delitem},
	{"__getitem__", d_getitem}, {"__len__", d_len},
	{"__setitem__", d_setitem}, {"__iter__", d_iter},
	{"clear", d_clear}, {"copy", d_copy},
	{"get", d_get}, {"items", d_items}, {"keys", d_keys},
	{"pop", d_pop}, {"popitem", d_popitem},
	{"setdefault", d_setdefault}, {"update", d_update},
	{"values", d_values}, {NULL, NULL},
};

static const char *const it_exposed[] = {
	"__next__", "send", "throw", "close", NULL,
};
static const struct mp__method it_methods[] = {
	{"__next__", it_next}, {NULL, NULL},
};

static const char *const ns_exposed[] = {
	"__getattribute__", "__setattr__", "__delattr__", NULL,
};
static const struct mp__method ns_methods[] = {
	{"__getattribute__", ns_get}, {"__setattr__", ns_set},
	{"__delattr__", ns_del}, {NULL, NULL},
};

static const struct mp__srv_type types[] = {
	{MP_MANAGER_DICT, "dict", "dict", dict_exposed, dict_methods, d_repr,
	 d_value, dict_create},
	{MP_MANAGER_NAMESPACE, "Namespace", "multiprocessing.managers."
	 "Namespace", ns_exposed, ns_methods, ns_repr, NULL, ns_create},
	{MP__KIND_ITERATOR, "Iterator", "dict_keyiterator", it_exposed,
	 it_methods, NULL, NULL, it_create},
	{0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* The tables: the ones here, serve_list.c's, serve_sync.c's and
 * serve_queue.c's. */
static const struct mp__srv_type *const tables[] = {
	types, mp__srv_list_types, mp__srv_sync_types, mp__srv_more_types,
};

/* The entry of typeid (kind ignored) or of kind (typeid NULL). */
static const struct mp__srv_type *lookup(const char *typeid, int kind)
{
	const struct mp__srv_type *t;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(*tables); i++)
		for (t = tables[i]; t->typeid != NULL; t++)
			if (typeid ? strcmp(t->typeid, typeid) == 0
				   : t->kind == kind)
				return t;
	return NULL;
}

const struct mp__srv_type *mp__srv_type_by_id(const char *typeid)
{
	return lookup(typeid, 0);
}

const struct mp__srv_type *mp__srv_type_by_kind(int kind)
{
	return lookup(NULL, kind);
}
