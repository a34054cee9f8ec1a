/*
 * manager/serve_list.c - what the server does for a list typeid: its
 * methods, CPython's ListProxy exposes (serve_types.c has the others and
 * the lookup).  Each method calls the same public function a local client
 * calls; errors as in serve_types.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "obj/obj_int.h"
#include "manager/srv_int.h"
#include "mproc/sync.h"

/* ---- list ---- */

#define L ((mp_listproxy_t *)c->obj)

/* Python's type name of a value (a proxy's class for a proxy). */
static const char *type_name(const mp_obj_t *o)
{
	const char *q = NULL;
	const mp_obj_t *a = NULL, *a0;
	const mp_bytes_t *s;

	if (mp_obj_object_info(o, NULL, &q, &a, NULL, NULL) < 0)
		return mp_obj_kind_name(mp_obj_kind(o));
	if (strcmp(q, "RebuildProxy") == 0 && mp_obj_item(a, 0, &a0) == 0 &&
	    mp_obj_as_str(a0, &s) == 0)
		return s->data;
	return q;
}

/* The index argument: 0 and *i, 1 and b for a slice (b NULL: no slice
 * taken), or a code with c->exc set. */
static int l_index_arg(struct mp__call *c, int64_t *i, ptrdiff_t *b)
{
	const mp_obj_t *o;
	char msg[96];
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc < 0 || (b != NULL && (rc = mp__call_slice(c, o, b)) != 0))
		return rc;
	if ((mp_obj_kind(o) == MP_OBJ_INT || mp_obj_kind(o) == MP_OBJ_BOOL) &&
	    (rc = mp_obj_as_int(o, i)) != -ERANGE)
		return rc;
	if (rc == -ERANGE)
		return mp__call_raise(c, "IndexError", "cannot fit 'int' into "
				      "an index-sized integer");
	snprintf(msg, sizeof(msg), "list indices must be integers or slices, "
		 "not %s", type_name(o));
	return mp__call_raise(c, "TypeError", msg);
}

static int l_getitem(struct mp__call *c)
{
	ptrdiff_t b[3];
	int64_t i;
	int rc = l_index_arg(c, &i, b);

	if (rc == 1)
		return mp_listproxy_get_slice(L, b[0], b[1], b[2], &c->ret);
	return rc < 0 ? rc : mp_listproxy_get(L, (ptrdiff_t)i, &c->ret);
}

static int l_setitem(struct mp__call *c)
{
	const mp_obj_t *v;
	ptrdiff_t b[3];
	int64_t i;
	int rc, k;

	if ((rc = l_index_arg(c, &i, b)) < 0 ||
	    mp__call_need(c, 1, NULL, &v) < 0)
		return rc < 0 ? rc : -EINVAL;
	if (rc == 0)
		return mp_listproxy_set(L, (ptrdiff_t)i, v);
	k = mp_obj_kind(v);
	if (k <= MP_OBJ_FLOAT || k == MP_OBJ_OBJECT) /* not iterable */
		return mp__call_raise(c, "TypeError", b[2] == 1
				      ? "can only assign an iterable"
				      : "must assign iterable to extended "
					"slice");
	return mp_listproxy_set_slice(L, b[0], b[1], b[2], v);
}

static int l_delitem(struct mp__call *c)
{
	ptrdiff_t b[3];
	int64_t i;
	int rc = l_index_arg(c, &i, b);

	if (rc == 1)
		return mp_listproxy_del_slice(L, b[0], b[1], b[2]);
	if (rc == 0 && (rc = mp_listproxy_pop(L, (ptrdiff_t)i, NULL)) ==
		       -ERANGE)
		return mp__call_raise(c, "IndexError", "list assignment index out of "
			     "range");
	return rc;
}

static int l_len(struct mp__call *c) { return mp__call_count(c, mp_listproxy_len(L)); }

static int l_contains(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp__call_bool(c, mp_listproxy_count(L, v));
}

static int l_append(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp_listproxy_append(L, v);
}

static int l_count(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp__call_count(c, mp_listproxy_count(L, v));
}

static int l_extend(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp_listproxy_extend(L, v);
}

static int l_index(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp__call_count(c, mp_listproxy_index(L, v));
}

static int l_insert(struct mp__call *c)
{
	const mp_obj_t *v;
	int64_t i;
	int rc;

	if ((rc = l_index_arg(c, &i, NULL)) < 0 ||
	    (rc = mp__call_need(c, 1, NULL, &v)) < 0)
		return rc;
	return mp_listproxy_insert(L, (ptrdiff_t)i, v);
}

static int l_pop(struct mp__call *c)
{
	int64_t i;
	int rc = mp__call_int(c, 0, NULL, -1, &i);

	return rc < 0 ? rc : mp_listproxy_pop(L, (ptrdiff_t)i, &c->ret);
}

static int l_remove(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, NULL, &v);

	return rc < 0 ? rc : mp_listproxy_remove(L, v);
}

static int l_sort(struct mp__call *c)
{
	const mp_obj_t *key = mp__call_arg(c, 99, "key");
	int64_t rev;
	int rc;

	if (key != NULL && mp_obj_kind(key) != MP_OBJ_NONE)
		return mp__call_raise(c, "TypeError", "mproc's manager sorts without a "
			     "key function");
	if ((rc = mp__call_int(c, 99, "reverse", 0, &rev)) < 0)
		return rc;
	return mp_listproxy_sort(L, rev ? MP_SORT_REVERSE : 0);
}

static int l_value(void *obj, mp_obj_t **out);

/* n of l * n, n * l, l *= n: an int or bool, as list's own methods. */
static int l_times(struct mp__call *c, int64_t *n)
{
	const mp_obj_t *o;
	char msg[128];
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc < 0)
		return rc;
	if (mp_obj_kind(o) != MP_OBJ_INT && mp_obj_kind(o) != MP_OBJ_BOOL) {
		snprintf(msg, sizeof(msg), "'%.64s' object cannot be "
			 "interpreted as an integer", type_name(o));
		return mp__call_raise(c, "TypeError", msg);
	}
	if (mp_obj_as_int(o, n) < 0)
		return mp__call_raise(c, "OverflowError", "cannot fit 'int' "
				      "into an index-sized integer");
	return 0;
}

/* l *= n (list.__imul__, n <= 0 empties it: what a remote
 * mp_listproxy_clear sends, CPython's ListProxy having no clear), in one
 * publish; the list comes back by value, as CPython's server returns the
 * referent itself. */
static int l_imul(struct mp__call *c)
{
	int64_t n;
	int rc;

	if ((rc = l_times(c, &n)) < 0 || (rc = mp__list_repeat(L, n)) < 0)
		return rc;
	return l_value(c->obj, &c->ret);
}

/* l * n and n * l: a new plain list, bounded by what a reply may hold. */
static int l_mul(struct mp__call *c)
{
	mp_obj_t *v = NULL, *r;
	const mp_obj_t *it;
	size_t len = 0, i;
	int64_t n, k;
	int rc;

	if ((rc = l_times(c, &n)) < 0 || (rc = l_value(c->obj, &v)) < 0)
		return rc;
	mp_obj_len(v, &len);
	if (n > 0 && len > 0 &&
	    mp__obj_cost(v) > MP__SRV_MAX_MSG / (uint64_t)n) {
		mp_obj_free(v);
		return mp__call_raise(c, "MemoryError", "the list would exceed "
				      "the 64 MiB a message may hold");
	}
	r = mp_obj_list();
	for (k = 0; rc == 0 && k < n; k++)
		for (i = 0; rc == 0 && i < len; i++) {
			mp_obj_item(v, (ptrdiff_t)i, &it);
			rc = mp_obj_list_append(r, mp_obj_copy(it));
		}
	mp_obj_free(v);
	if (r == NULL || rc < 0) {
		mp_obj_free(r);
		return -ENOMEM;
	}
	c->ret = r;
	return 0;
}

/* l + other (a list): a new plain list. */
static int l_add(struct mp__call *c)
{
	const mp_obj_t *o, *it;
	mp_obj_t *v = NULL;
	char msg[128];
	size_t n = 0, i;
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc < 0)
		return rc;
	if (mp_obj_kind(o) != MP_OBJ_LIST) {
		snprintf(msg, sizeof(msg), "can only concatenate list (not "
			 "\"%.64s\") to list", type_name(o));
		return mp__call_raise(c, "TypeError", msg);
	}
	if ((rc = l_value(c->obj, &v)) < 0)
		return rc;
	mp_obj_len(o, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		mp_obj_item(o, (ptrdiff_t)i, &it);
		rc = mp_obj_list_append(v, mp_obj_copy(it));
	}
	if (rc < 0) {
		mp_obj_free(v);
		return rc;
	}
	c->ret = v;
	return 0;
}

/* reversed(l): CPython's server sends the list_reverseiterator itself,
 * pickled as builtins.reversed((items,)) with its index as state. */
static int l_reversed(struct mp__call *c)
{
	mp_obj_t *v = NULL;
	size_t n = 0;
	int rc = l_value(c->obj, &v);

	if (rc < 0)
		return rc;
	mp_obj_len(v, &n);
	c->ret = mp_obj_object("builtins", "reversed", mp_obj_tuple_pack(1, v),
			       mp_obj_int((int64_t)n - 1), 0);
	return c->ret != NULL ? 0 : -ENOMEM;
}

static int l_value(void *obj, mp_obj_t **out)
{
	return mp_listproxy_slice(obj, 0, PTRDIFF_MAX, out);
}

static int l_repr(void *obj, mp_obj_t **out)
{
	mp_obj_t *v = NULL;
	mp_bytes_t b = {0};
	int rc;

	if ((rc = l_value(obj, &v)) < 0 || (rc = mp_obj_repr(v, &b)) < 0) {
		mp_obj_free(v);
		return rc;
	}
	*out = mp_obj_strn(b.data, b.len);
	mp_obj_free(v);
	mp_bytes_destroy(&b);
	return 0;
}

#undef L

static int l_reverse(struct mp__call *c)
{
	return mp_listproxy_reverse(c->obj);
}

static int list_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__call_new_plain(c, r, MP_MANAGER_LIST, mp__call_arg(c, 0, NULL), out);
}

/* ---- the table ---- */

static const char *const list_exposed[] = {
	"__add__", "__contains__", "__delitem__", "__getitem__", "__len__",
	"__mul__", "__reversed__", "__rmul__", "__setitem__", "append",
	"count", "extend", "index", "insert", "pop", "remove", "reverse",
	"sort", "__imul__", NULL,
};
static const struct mp__method list_methods[] = {
	{"__contains__", l_contains}, {"__delitem__", l_delitem},
	{"__getitem__", l_getitem}, {"__len__", l_len},
	{"__setitem__", l_setitem}, {"append", l_append}, {"count", l_count},
	{"extend", l_extend}, {"index", l_index}, {"insert", l_insert},
	{"pop", l_pop}, {"remove", l_remove}, {"sort", l_sort},
	{"__imul__", l_imul}, {"reverse", l_reverse}, {"__add__", l_add},
	{"__mul__", l_mul}, {"__rmul__", l_mul}, {"__reversed__", l_reversed},
	{NULL, NULL},
};

const struct mp__srv_type mp__srv_list_types[] = {
	{MP_MANAGER_LIST, "list", "list", list_exposed, list_methods, l_repr,
	 l_value, list_create},
	{0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
