/*
 * manager/dict_api.c - the public mp_dictproxy_* functions (DictProxy), on the
 * region's table (dict.c) or through a remote manager.
 */
#include <errno.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/dict_int.h"

/* ---- the public functions ---- */

#define CHECK_D(d)                                                            \
	do {                                                                  \
		MP__CHECK_NULL(d);                                            \
		if ((rc = mp__dict_closed(d)) < 0)                            \
			return MP__RAISE(rc);                                 \
	} while (0)

/* Prepare key into *k, lock d and find it: 0 with the lock held and *j
 * (the entry, or < 0 when absent), or the prep's code (not locked). */
static inline int prep_find(mp_dictproxy_t *d, const mp_obj_t *key,
			    struct key *k, int64_t *j)
{
	int rc = mp__dict_key_prep(d, key, k);

	if (rc < 0)
		return rc;
	mp__dict_lock(d);
	*j = mp__dict_find(d, k);
	return 0;
}

/* d[key] into *out: 0, or -ENOENT with a KeyError reason, or a code. */
int mp__dict_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return rc;
	if (j < 0)
		rc = mp__dict_key_error(key);
	else
		rc = mp__region_get_obj(d->r, mp__dict_tab(d)->e[j].val, out);
	mp__dict_unlock(d);
	mp__kbuf_release(&k.kb);
	return rc;
}

/* setdefault and popitem remotely: the result's shapes. */
static int rsetdefault(mp_dictproxy_t *d, const mp_obj_t *key,
		       const mp_obj_t *dflt, mp_obj_t **out)
{
	mp_obj_t *none = dflt ? NULL : mp_obj_none(), *r = NULL;
	int rc = mp__rdict_op(d->remote, "setdefault", key, dflt ? dflt : none,
			      &r);

	mp_obj_free(none);
	if (out != NULL)
		*out = r;
	else
		mp_obj_free(r);
	return rc;
}

static int rpopitem(mp_dictproxy_t *d, mp_obj_t **key, mp_obj_t **value)
{
	const mp_obj_t *k, *v;
	mp_obj_t *r = NULL;
	int rc = mp__rdict_op(d->remote, "popitem", NULL, NULL, &r);

	if (rc == 0 && (mp_obj_item(r, 0, &k) < 0 || mp_obj_item(r, 1, &v) < 0))
		rc = mp__why(-EPROTO, "popitem() did not return a pair");
	if (rc == 0 && key != NULL && (*key = mp_obj_copy(k)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && value != NULL && (*value = mp_obj_copy(v)) == NULL) {
		rc = -ENOMEM;
		if (key != NULL) {
			mp_obj_free(*key);
			*key = NULL;
		}
	}
	mp_obj_free(r);
	return rc;
}

int mp_dictproxy_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	CHECK_D(d);
	MP__CHECK_NULL(key);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "__getitem__", key, NULL, out));
	if ((rc = mp__dict_get(d, key, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_dictproxy_set(mp_dictproxy_t *d, const mp_obj_t *key,
		     const mp_obj_t *value)
{
	struct key k;
	uint64_t voff;
	int rc;

	CHECK_D(d);
	MP__CHECK_NULL(key);
	MP__CHECK_NULL(value);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "__setitem__", key, value, NULL));
	if ((rc = mp__dict_key_prep(d, key, &k)) < 0)
		return MP__RAISE(rc);
	if ((rc = mp__region_put_obj(d->r, value, &voff)) == 0) {
		mp__dict_lock(d);
		rc = mp__dict_set_locked(d, &k, voff);
		mp__dict_unlock(d);
	}
	mp__kbuf_release(&k.kb);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* Remove key, its value into *out when out is not NULL. */
int mp__dict_pop_key(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return rc;
	if (j < 0) {
		rc = mp__dict_key_error(key);
	} else {
		if (out != NULL)
			rc = mp__region_get_obj(d->r, mp__dict_tab(d)->e[j].val,
						out);
		if (rc == 0)
			mp__dict_del_locked(d, (uint64_t)j);
	}
	mp__dict_unlock(d);
	mp__kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_del(mp_dictproxy_t *d, const mp_obj_t *key)
{
	int rc;

	CHECK_D(d);
	MP__CHECK_NULL(key);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "__delitem__", key, NULL, NULL));
	if ((rc = mp__dict_pop_key(d, key, NULL)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_dictproxy_pop(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_D(d);
	MP__CHECK_NULL(key);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "pop", key, NULL, out));
	if ((rc = mp__dict_pop_key(d, key, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_dictproxy_contains(mp_dictproxy_t *d, const mp_obj_t *key)
{
	struct key k;
	int64_t j;
	int rc;

	CHECK_D(d);
	MP__CHECK_NULL(key);
	if (d->remote != NULL)
		MP__REMOTE(mp__rint(d->remote, "__contains__", key));
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return MP__RAISE(rc);
	rc = j >= 0;
	mp__dict_unlock(d);
	mp__kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_len(mp_dictproxy_t *d)
{
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MP__REMOTE(mp__rint(d->remote, "__len__", NULL));
	mp__dict_lock(d);
	rc = (int)mp__dict_tab(d)->live;
	mp__dict_unlock(d);
	return rc;
}

/* (k, v) as a new tuple, taking both; NULL on -ENOMEM (both freed). */
static mp_obj_t *pair(mp_obj_t *k, mp_obj_t *v)
{
	mp_obj_t *t = mp__obj_new(MP_OBJ_TUPLE);

	if (t == NULL) {
		mp__obj_decref(k);
		mp__obj_decref(v);
		return NULL;
	}
	if (mp__obj_append(t, k) < 0) {
		mp__obj_decref(v);
		mp__obj_decref(t);
		return NULL;
	}
	if (mp__obj_append(t, v) < 0) {
		mp__obj_decref(t);
		return NULL;
	}
	return t;
}

int mp__dict_collect(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	mp_obj_t *res, *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (d->remote != NULL)
		return mp__rdict_op(d->remote, want == WANT_KEYS ? "keys"
				    : want == WANT_VALUES ? "values"
				    : want == WANT_ITEMS ? "items" : "copy",
				    NULL, NULL, out);
	res = mp__obj_new(want == WANT_DICT ? MP_OBJ_DICT : MP_OBJ_LIST);
	if (res == NULL)
		return mp__why(-ENOMEM, "out of memory");
	mp__dict_lock(d);
	t = mp__dict_tab(d);
	for (j = 0; j < t->used && rc == 0; j++) {
		if (t->e[j].key == 0)
			continue;
		k = v = NULL;
		if (want != WANT_VALUES)
			rc = mp__dict_get_key(d, t->e[j].key, &k);
		if (rc == 0 && want != WANT_KEYS)
			rc = mp__region_get_obj(d->r, t->e[j].val, &v);
		if (rc < 0) {
			mp__obj_decref(k);
			break;
		}
		if (want == WANT_DICT)
			rc = mp__obj_setitem(res, k, v);
		else if (want == WANT_ITEMS)
			rc = (k = pair(k, v)) != NULL
				     ? mp__obj_append(res, k)
				     : mp__why(-ENOMEM, "out of memory");
		else
			rc = mp__obj_append(res, k != NULL ? k : v);
	}
	mp__dict_unlock(d);
	if (rc < 0) {
		mp__obj_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

/* keys/values/items/copy: a code with its reason (the public function
 * reports it under its own name). */
static int collect(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	int rc;

	if (out == NULL)
		return mp__why(-EINVAL, "argument 'out' is NULL");
	*out = NULL;
	if (d == NULL)
		return mp__why(-EINVAL, "argument 'd' is NULL");
	if ((rc = mp__dict_closed(d)) < 0)
		return rc;
	return mp__dict_collect(d, want, out);
}

int mp_dictproxy_keys(mp_dictproxy_t *d, mp_obj_t **out)
{
	int rc = collect(d, WANT_KEYS, out);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_values(mp_dictproxy_t *d, mp_obj_t **out)
{
	int rc = collect(d, WANT_VALUES, out);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_items(mp_dictproxy_t *d, mp_obj_t **out)
{
	int rc = collect(d, WANT_ITEMS, out);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_copy(mp_dictproxy_t *d, mp_obj_t **out)
{
	int rc = collect(d, WANT_DICT, out);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_update(mp_dictproxy_t *d, const mp_obj_t *other)
{
	struct key k;
	uint64_t voff;
	size_t i;
	int rc = 0;

	CHECK_D(d);
	MP__CHECK_NULL(other);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "update", other, NULL, NULL));
	if (other->kind != MP_OBJ_DICT)
		return MP__ERR(-EINVAL, "TypeError: other is a '%s', not a "
					"dict", mp_obj_kind_name(other->kind));
	mp__dict_lock(d);
	for (i = 0; i < other->u.c.n && rc == 0; i++) {
		if ((rc = mp__dict_key_prep(d, other->u.c.v[2 * i], &k)) < 0)
			break;
		rc = mp__region_put_obj(d->r, other->u.c.v[2 * i + 1], &voff);
		if (rc == 0)
			rc = mp__dict_set_locked(d, &k, voff);
		mp__kbuf_release(&k.kb);
	}
	mp__dict_unlock(d);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_setdefault(mp_dictproxy_t *d, const mp_obj_t *key,
			    const mp_obj_t *dflt, mp_obj_t **out)
{
	mp_obj_t *none = NULL;
	struct key k;
	uint64_t voff = 0;
	int64_t j;
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_D(d);
	MP__CHECK_NULL(key);
	if (d->remote != NULL)
		MP__REMOTE(rsetdefault(d, key, dflt, out));
	if (dflt == NULL && (dflt = none = mp__obj_new(MP_OBJ_NONE)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		goto out;
	if (j < 0 && (rc = mp__region_put_obj(d->r, dflt, &voff)) == 0)
		rc = mp__dict_set_locked(d, &k, voff);
	if (rc == 0 && out != NULL) {
		j = mp__dict_find(d, &k);
		rc = mp__region_get_obj(d->r, mp__dict_tab(d)->e[j].val, out);
	}
	mp__dict_unlock(d);
	mp__kbuf_release(&k.kb);
out:
	mp__obj_decref(none);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_popitem(mp_dictproxy_t *d, mp_obj_t **key, mp_obj_t **value)
{
	mp_obj_t *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (key != NULL)
		*key = NULL;
	if (value != NULL)
		*value = NULL;
	CHECK_D(d);
	if (d->remote != NULL)
		MP__REMOTE(rpopitem(d, key, value));
	mp__dict_lock(d);
	t = mp__dict_tab(d);
	for (j = t->used; j > 0 && t->e[j - 1].key == 0; j--)
		;
	if (j == 0) {
		rc = mp__why(-ENOENT, "KeyError: 'popitem(): dictionary is "
				      "empty'");
	} else {
		j--;
		if ((rc = mp__dict_get_key(d, t->e[j].key, &k)) == 0 &&
		    (rc = mp__region_get_obj(d->r, t->e[j].val, &v)) == 0)
			mp__dict_del_locked(d, j);
	}
	mp__dict_unlock(d);
	if (rc < 0) {
		mp__obj_decref(k);
		mp__obj_decref(v);
		return MP__RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	else
		mp__obj_decref(k);
	if (value != NULL)
		*value = v;
	else
		mp__obj_decref(v);
	return 0;
}

int mp_dictproxy_clear(mp_dictproxy_t *d)
{
	struct dtable *t;
	uint64_t j;
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_op(d->remote, "clear", NULL, NULL, NULL));
	mp__dict_lock(d);
	t = mp__dict_tab(d);
	for (j = t->used; j-- > 0;)
		if (t->e[j].key != 0)
			mp__dict_del_locked(d, j);
	mp__dict_unlock(d);
	return 0;
}

int mp_dictproxy_apply(mp_dictproxy_t *d, const mp_obj_t *key,
		       mp_dictproxy_apply_fn fn, void *arg)
{
	mp_obj_t *cur = NULL, *nv = NULL;
	struct key k;
	uint64_t voff;
	int64_t j;
	int rc;

	CHECK_D(d);
	MP__CHECK_NULL(key);
	MP__CHECK_NULL(fn);
	if (d->remote != NULL)
		MP__REMOTE(mp__why(-ENOTSUP, "a connected manager's dict has "
				   "no apply: fn cannot run in the server, "
				   "and a read-modify-write from here is "
				   "not atomic against other clients; take "
				   "a manager Lock around get and set"));
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return MP__RAISE(rc);
	if (j >= 0)
		rc = mp__region_get_obj(d->r, mp__dict_tab(d)->e[j].val, &cur);
	if (rc == 0 && (rc = fn(cur, arg, &nv)) < 0) {
		mp__obj_decref(nv);
		nv = NULL;
		rc = mp__why(rc, "callback failed: %s", mp_strerror(rc));
	}
	if (rc == 0 && nv != NULL &&
	    (rc = mp__region_put_obj(d->r, nv, &voff)) == 0)
		rc = mp__dict_set_locked(d, &k, voff);
	mp__dict_unlock(d);
	mp__obj_decref(nv);
	mp__obj_decref(cur);
	mp__kbuf_release(&k.kb);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_dictproxy_iter(mp_dictproxy_t *d, mp_dictproxy_iter_t *it)
{
	int rc;

	MP__CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_iter(d->remote, it->_ident));
	it->_ident[0] = '\0';
	mp__dict_lock(d);
	it->_pos = 0;
	it->_len = mp__dict_tab(d)->live;
	it->_version = d->version;
	mp__dict_unlock(d);
	return 0;
}

int mp_dictproxy_next(mp_dictproxy_t *d, mp_dictproxy_iter_t *it,
		      mp_obj_t **key, mp_obj_t **value)
{
	mp_obj_t *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (key != NULL)
		*key = NULL;
	if (value != NULL)
		*value = NULL;
	MP__CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MP__REMOTE(mp__rdict_next(d->remote, it->_ident, key, value));
	mp__dict_lock(d);
	t = mp__dict_tab(d);
	if (t->live != it->_len)
		rc = mp__why(-EBUSY, "RuntimeError: dictionary changed size "
				     "during iteration");
	else if (d->version != it->_version)
		rc = mp__why(-EBUSY, "RuntimeError: dictionary keys changed "
				     "during iteration");
	for (j = it->_pos; rc == 0 && j < t->used && t->e[j].key == 0; j++)
		;
	if (rc == 0 && j < t->used) {
		if (key != NULL)
			rc = mp__dict_get_key(d, t->e[j].key, &k);
		if (rc == 0 && value != NULL)
			rc = mp__region_get_obj(d->r, t->e[j].val, &v);
		it->_pos = j + 1;
		if (rc == 0)
			rc = 1;
	}
	mp__dict_unlock(d);
	if (rc < 0) {
		mp__obj_decref(k);
		mp__obj_decref(v);
		return MP__RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	if (value != NULL)
		*value = v;
	return rc;
}
