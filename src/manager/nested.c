/*
 * manager/nested.c - nested proxies: a value that stands for another
 * shared object of the same manager (mp_obj_proxy, mp_obj_as_proxy), kept
 * as CPython pickles a proxy, RebuildProxy(proxytype, Token(typeid,
 * address, id), 'pickle', kwds), so that a CPython client reading it gets
 * a working proxy and a proxy a CPython client stored reads back here.
 *
 * The region's dict of names (mp_manager_register's str keys) also maps
 * int offsets to kinds: the objects some value refers to.  Only trusted
 * code adds to it (a local mp_obj_proxy, the server after checking that
 * a client's token names an object it serves), so a token read back is
 * turned into a pointer only when it names such an object: a forged id
 * is refused, never followed.  The server also finds there the objects
 * no client holds a proxy to any more (CPython's id_to_local_proxy_obj):
 * a client that reads a nested proxy increfs its id, and the server
 * serves it again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/dict_int.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"

#define MGR "multiprocessing.managers"

/* ---- the region's record of referenced objects ---- */

int mp__nest_note(struct mp__region *r, uint64_t off, int kind)
{
	mp_obj_t *k, *v;
	int rc;

	if (r->names == 0) /* a region without the dict (a harness's) */
		return mp__why(-ENOENT, "no record of referenced objects");
	k = mp_obj_int((int64_t)off);
	v = mp_obj_int(kind);
	rc = k && v ? mp_dictproxy_set(mp__at(r, r->names), k, v) : -ENOMEM;

	mp_obj_free(k);
	mp_obj_free(v);
	return rc;
}

int mp__nest_kind(struct mp__region *r, uint64_t off)
{
	mp_obj_t *k = mp_obj_int((int64_t)off), *v = NULL;
	int64_t kind = 0;
	int rc;

	if (k == NULL)
		return -ENOMEM;
	if (r->names == 0) {
		mp_obj_free(k);
		return -ENOENT;
	}
	rc = mp__dict_get(mp__at(r, r->names), k, &v);
	mp_obj_free(k);
	if (rc == 0 && (mp_obj_as_int(v, &kind) < 0 || kind <= 0 ||
			kind > MP__KIND_ITERATOR))
		rc = -ENOENT;
	mp_obj_free(v);
	return rc < 0 ? rc : (int)kind;
}

int mp__nest_offset(const struct mp__region *r, const char *id,
		    uint64_t *off)
{
	char *end;
	unsigned long long v;

	if (id[0] == '\0' || strspn(id, "0123456789abcdef") != strlen(id) ||
	    strlen(id) > 16)
		return -ENOENT;
	v = strtoull(id, &end, 16);
	if (v < sizeof(*r) || v >= r->size)
		return -ENOENT;
	*off = v;
	return 0;
}

/* ---- the value ---- */

/* The proxy class CPython's SyncManager gives a kind. */
static const char *proxytype(int kind)
{
	switch (kind) {
	case MP_MANAGER_DICT:
		return "DictProxy";
	case MP_MANAGER_LIST:
		return "ListProxy";
	case MP_MANAGER_NAMESPACE:
		return "NamespaceProxy";
	case MP_MANAGER_CONDITION:
		return "ConditionProxy";
	case MP_MANAGER_EVENT:
		return "EventProxy";
	case MP_MANAGER_VALUE:
		return "ValueProxy";
	case MP_MANAGER_ARRAY:
		return "ArrayProxy";
	case MP_MANAGER_BARRIER:
		return "BarrierProxy";
	case MP_MANAGER_QUEUE:
	case MP_MANAGER_JOINABLEQUEUE:
		return "AutoProxy";
	case MP__KIND_ITERATOR:
		return "IteratorProxy";
	}
	return "AcquirerProxy"; /* Lock, RLock, Semaphore, BoundedSemaphore */
}

/* An AutoProxy's kwds: {'exposed': (names...)}, as BaseProxy.__reduce__. */
static mp_obj_t *proxy_kwds(const struct mp__srv_type *t)
{
	mp_obj_t *d = mp_obj_dict(), *names;
	size_t i, n = 0;

	if (d == NULL || strcmp(proxytype(t->kind), "AutoProxy") != 0)
		return d;
	while (t->exposed[n] != NULL)
		n++;
	if ((names = mp_obj_tuple(0, NULL)) != NULL && n > 0) {
		mp_obj_t **v = mp__calloc(n, sizeof(*v));

		mp_obj_free(names);
		names = NULL;
		if (v != NULL) {
			for (i = 0; i < n; i++)
				v[i] = mp_obj_str(t->exposed[i]);
			names = mp_obj_tuple(n, v);
			mp__free(v);
		}
	}
	if (mp_obj_dict_set(d, mp_obj_str("exposed"), names) < 0) {
		mp_obj_free(d);
		return NULL;
	}
	return d;
}

mp_obj_t *mp__proxy_value(const struct mp__srv_type *t, const char *address,
			  const char *ident)
{
	mp_obj_t *tok, *a;

	a = address != NULL && address[0] != '\0' ? mp__token_address(address)
						  : mp_obj_none();
	tok = mp_obj_object(MGR, "Token", mp_obj_tuple(0, NULL),
			    mp_obj_tuple_pack(3, mp_obj_str(t->typeid), a,
					      mp_obj_str(ident)),
			    MP_OBJ_NEWOBJ);
	return mp_obj_object(MGR, "RebuildProxy", mp_obj_tuple_pack(4,
			     mp_obj_str(proxytype(t->kind)), tok,
			     mp_obj_str("pickle"), proxy_kwds(t)), NULL, 0);
}

/* The Token of a RebuildProxy value, or NULL. */
static const mp_obj_t *token_of(const mp_obj_t *o)
{
	const mp_obj_t *a = o->u.o.args;

	if (o->kind != MP_OBJ_OBJECT || strcmp(o->u.o.module, MGR) != 0 ||
	    strcmp(o->u.o.qualname, "RebuildProxy") != 0 ||
	    a->kind != MP_OBJ_TUPLE || a->u.c.n != 4 ||
	    !mp__obj_is_token(a->u.c.v[1]))
		return NULL;
	return a->u.c.v[1];
}

/* The typeid and id of a proxy value: 0, or -EINVAL with a reason. */
static int token_ids(const mp_obj_t *o, const char **typeid, const char **id)
{
	const mp_obj_t *t = token_of(o);

	if (t == NULL)
		return mp__why(-EINVAL, "TypeError: the value is a '%s', not "
			       "a proxy", o->kind == MP_OBJ_OBJECT
			       ? o->u.o.qualname : mp_obj_kind_name(o->kind));
	*typeid = t->u.o.state->u.c.v[0]->u.s.data;
	*id = t->u.o.state->u.c.v[2]->u.s.data;
	return 0;
}

int mp__nest_resolve(struct mp__region *r, const mp_obj_t *v, void **p)
{
	const char *typeid = "", *id = "";
	uint64_t off;
	int rc, kind;

	if ((rc = token_ids(v, &typeid, &id)) < 0)
		return rc;
	if (mp__nest_offset(r, id, &off) < 0 ||
	    (kind = mp__nest_kind(r, off)) < 0)
		return mp__why(-ENOENT, "KeyError: '%.64s' (the proxy's id is "
			       "not a shared object of this manager)", id);
	*p = mp__at(r, off);
	return kind;
}

static int proxy_new(mp_manager_t *m, int kind, const void *obj,
		     mp_obj_t **out)
{
	const struct mp__srv_type *t = mp__srv_type_by_kind(kind);
	const struct mp__rproxy *p;
	uint64_t off;
	char ident[24];
	int rc;

	if (kind >= MP__KIND_ITERATOR || t == NULL)
		return mp__why(-EINVAL, "unknown kind %d", kind);
	if (m->remote != NULL) {
		if ((p = mp__rclient_find(m->remote, obj)) == NULL)
			return mp__why(-EINVAL, "obj is not a handle of this "
				       "manager");
		*out = mp__proxy_value(t, mp__rclient_address(m->remote),
				       p->ident);
		return *out ? 0 : -ENOMEM;
	}
	if ((const char *)obj <= (const char *)m->r ||
	    (const char *)obj >= (const char *)m->r + m->r->size)
		return mp__why(-EINVAL, "obj is not in this manager's region");
	if (mp__region_closed(m->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	off = (uint64_t)((const char *)obj - (const char *)m->r);
	if ((rc = mp__nest_note(m->r, off, kind)) < 0)
		return rc;
	snprintf(ident, sizeof(ident), "%lx", (unsigned long)off);
	*out = mp__proxy_value(t, mp_manager_address(m), ident);
	return *out ? 0 : -ENOMEM;
}

mp_obj_t *mp_obj_proxy(mp_manager_t *m, int kind, const void *obj)
{
	mp_obj_t *o = NULL;
	int rc;

	MP__CHECK_NULL_P(m);
	MP__CHECK_NULL_P(obj);
	if ((rc = proxy_new(m, kind, obj, &o)) < 0)
		MP__RAISE(rc);
	return o;
}

/* The kind a typeid names, or kind when the typeid is not SyncManager's
 * (a registered name); 0 when neither says. */
static int kind_of_typeid(const char *typeid, int kind)
{
	const struct mp__srv_type *t = mp__srv_type_by_id(typeid);

	return t != NULL && t->kind < MP__KIND_ITERATOR ? t->kind : kind;
}

static int as_proxy(const mp_obj_t *o, mp_manager_t *m, int kind, void **out)
{
	const char *typeid = "", *id = "";
	void *p = NULL;
	int rc, k;

	if ((rc = token_ids(o, &typeid, &id)) < 0)
		return rc;
	if (m->remote != NULL)
		k = kind_of_typeid(typeid, kind);
	else if (mp__region_closed(m->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	else if ((k = mp__nest_resolve(m->r, o, &p)) < 0)
		return k;
	if (k <= 0 || k >= MP__KIND_ITERATOR)
		return mp__why(-EINVAL, "TypeError: a proxy to a '%.64s' has "
			       "no C handle", typeid);
	if (kind != 0 && kind != k)
		return mp__why(-EINVAL, "TypeError: the value is a proxy to a "
			       "'%s', not a '%s'", mp__srv_type_by_kind(k)->typeid,
			       mp__srv_type_by_kind(kind)->typeid);
	if (m->remote != NULL)
		rc = mp__rclient_adopt(m->remote, k, id, &p);
	if (rc == 0)
		*out = p;
	return rc < 0 ? rc : k;
}

int mp_obj_as_proxy(const mp_obj_t *o, mp_manager_t *m, int kind, void **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(o);
	MP__CHECK_NULL(m);
	if (kind < 0 || kind >= MP__KIND_ITERATOR ||
	    (kind != 0 && mp__srv_type_by_kind(kind) == NULL))
		return MP__ERR(-EINVAL, "unknown kind %d", kind);
	rc = as_proxy(o, m, kind, out);
	return rc < 0 ? MP__RAISE(rc) : rc;
}

/* ---- the server: proxies a client sends ---- */

/* Every proxy inside v must name an object the server serves or a value
 * refers to (RebuildProxy in CPython's server looks its id up): noted
 * then.  0, or -ENOENT with the id's KeyError, -ENOMEM. */
int mp__srv_nested(struct mp__srv *s, const mp_obj_t *v)
{
	const char *typeid = "", *id = "";
	uint64_t off;
	size_t i, n;
	int rc, kind;

	if (v->kind == MP_OBJ_OBJECT) {
		if (token_of(v) == NULL)
			return 0; /* an exception, a Token: inert */
		token_ids(v, &typeid, &id);
		if (mp__nest_offset(s->r, id, &off) < 0)
			return mp__why(-ENOENT, "KeyError: '%.64s'", id);
		if ((kind = mp__srv_kind(s, id)) > 0)
			return mp__nest_note(s->r, off, kind);
		if (mp__nest_kind(s->r, off) > 0)
			return 0;
		return mp__why(-ENOENT, "KeyError: '%.64s'", id);
	}
	if (!mp__obj_is_container(v))
		return 0;
	n = mp__obj_slots(v);
	for (i = 0; i < n; i++)
		if (v->u.c.v[i] != NULL &&
		    (rc = mp__srv_nested(s, v->u.c.v[i])) < 0)
			return rc;
	return 0;
}
