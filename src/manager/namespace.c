/*
 * manager/namespace.c - NamespaceProxy: a shared dict (dict.c) of attribute
 * names, and mp__text_add for the texts of reprs.
 */
#include <errno.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/dict_int.h"

/* ---- NamespaceProxy: a dict of attribute names ---- */

/* Append n bytes to a growing text (NUL kept after it): 0 or -ENOMEM. */
int mp__text_add(mp_bytes_t *b, size_t *cap, const char *s, size_t n)
{
	size_t need;
	char *p;

	if (__builtin_add_overflow(b->len, n + 1, &need))
		return -ENOMEM;
	if (need > *cap) {
		size_t c = *cap * 2 > need ? *cap * 2 : need + 32;

		if ((p = mp__realloc(b->data, c)) == NULL)
			return -ENOMEM;
		b->data = p;
		*cap = c;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int mp__namespace_new(struct mp__region *r, struct mp_namespaceproxy **out)
{
	struct mp_namespaceproxy *ns;
	uint64_t off;
	int rc;

	if ((off = mp__region_alloc(r, sizeof(*ns))) == 0)
		return -ENOMEM;
	ns = mp__at(r, off);
	ns->remote = NULL;
	if ((rc = mp__dict_new(r, NULL, &ns->d)) < 0) {
		mp__region_free(r, off);
		return rc;
	}
	*out = ns;
	return 0;
}

/* The attribute name as a str key: 0, -EINVAL (reason), -EILSEQ. */
static int attr_key(const char *name, mp_obj_t **key)
{
	int rc = 0;

	if (name[0] == '\0')
		return mp__why(-EINVAL, "the attribute name is empty");
	if (name[0] == '_')
		return mp__why(-EINVAL, "'%s': names starting with '_' are the "
					"proxy's own, not the namespace's", name);
	*key = mp__obj_str(MP_OBJ_STR, name, strlen(name), &rc);
	return *key == NULL ? rc : 0;
}

/* A Namespace's method remotely, on the attribute name (checked as
 * locally) and maybe a value. */
static int rns_op(mp_namespaceproxy_t *ns, const char *method,
		  const char *name, const mp_obj_t *value, mp_obj_t **out)
{
	mp_obj_t *key = NULL;
	int rc;

	if ((rc = attr_key(name, &key)) < 0)
		return rc;
	rc = mp__rdict_op(ns->remote, method, key, value, out);
	mp__obj_decref(key);
	return rc;
}

static int rns_repr(mp_namespaceproxy_t *ns, mp_bytes_t *out)
{
	const mp_bytes_t *t;
	mp_obj_t *r = NULL;
	int rc = mp__rdict_op(ns->remote, "__repr__", NULL, NULL, &r);

	if (rc == 0 && mp_obj_as_str(r, &t) < 0)
		rc = mp__why(-EPROTO, "__repr__() did not return a str");
	if (rc == 0 && (out->data = mp__strndup(t->data, t->len)) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		out->len = t->len;
	mp_obj_free(r);
	return rc;
}

static int no_attr(const char *name)
{
	return mp__why(-ENOENT, "AttributeError: 'Namespace' object has no "
				"attribute '%s'", name);
}

int mp_namespaceproxy_get(mp_namespaceproxy_t *ns, const char *name,
			  mp_obj_t **out)
{
	mp_obj_t *key = NULL;
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(ns);
	MP__CHECK_NULL(name);
	if (ns->remote != NULL)
		MP__REMOTE(rns_op(ns, "__getattribute__", name, NULL, out));
	if ((rc = mp__dict_closed(ns->d)) < 0 ||
	    (rc = attr_key(name, &key)) < 0)
		return MP__RAISE(rc);
	rc = mp__dict_get(ns->d, key, out);
	mp__obj_decref(key);
	if (rc == -ENOENT)
		rc = no_attr(name);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_namespaceproxy_set(mp_namespaceproxy_t *ns, const char *name,
			  const mp_obj_t *value)
{
	mp_obj_t *key = NULL;
	struct key k;
	uint64_t voff;
	int rc;

	MP__CHECK_NULL(ns);
	MP__CHECK_NULL(name);
	MP__CHECK_NULL(value);
	if (ns->remote != NULL)
		MP__REMOTE(rns_op(ns, "__setattr__", name, value, NULL));
	if ((rc = mp__dict_closed(ns->d)) < 0 ||
	    (rc = attr_key(name, &key)) < 0)
		return MP__RAISE(rc);
	mp__dict_key_prep(ns->d, key, &k); /* a str: cannot fail */
	if ((rc = mp__region_put_obj(ns->d->r, value, &voff)) == 0) {
		mp__dict_lock(ns->d);
		rc = mp__dict_set_locked(ns->d, &k, voff);
		mp__dict_unlock(ns->d);
	}
	mp__obj_decref(key);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_namespaceproxy_del(mp_namespaceproxy_t *ns, const char *name)
{
	mp_obj_t *key = NULL;
	int rc;

	MP__CHECK_NULL(ns);
	MP__CHECK_NULL(name);
	if (ns->remote != NULL)
		MP__REMOTE(rns_op(ns, "__delattr__", name, NULL, NULL));
	if ((rc = mp__dict_closed(ns->d)) < 0 ||
	    (rc = attr_key(name, &key)) < 0)
		return MP__RAISE(rc);
	rc = mp__dict_pop_key(ns->d, key, NULL);
	mp__obj_decref(key);
	if (rc == -ENOENT)
		rc = no_attr(name);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_namespaceproxy_repr(mp_namespaceproxy_t *ns, mp_bytes_t *out)
{
	mp_obj_t *items = NULL;
	mp_bytes_t b = {0};
	size_t cap = 0, i;
	int rc;

	MP__CHECK_NULL(out);
	out->data = NULL;
	out->len = 0;
	MP__CHECK_NULL(ns);
	if (ns->remote != NULL)
		MP__REMOTE(rns_repr(ns, out));
	if ((rc = mp__dict_closed(ns->d)) < 0 ||
	    (rc = mp__dict_collect(ns->d, WANT_DICT, &items)) < 0)
		return MP__RAISE(rc);
	rc = mp__text_add(&b, &cap, "Namespace(", 10);
	for (i = 0; rc == 0 && i < items->u.c.n; i++) {
		const mp_obj_t *k = items->u.c.v[2 * i];

		if (i > 0)
			rc = mp__text_add(&b, &cap, ", ", 2);
		if (rc == 0)
			rc = mp__text_add(&b, &cap, k->u.s.data, k->u.s.len);
		if (rc == 0)
			rc = mp__text_add(&b, &cap, "=", 1);
		if (rc == 0)
			rc = mp__obj_repr(items->u.c.v[2 * i + 1], &b, &cap);
	}
	if (rc == 0)
		rc = mp__text_add(&b, &cap, ")", 1);
	mp__obj_decref(items);
	if (rc < 0) {
		mp__free(b.data);
		return MP__ERR(-ENOMEM, "out of memory");
	}
	*out = b;
	return 0;
}
