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
		MPI_CHECK_NULL(d);                                            \
		if ((rc = mpi_dict_closed(d)) < 0)                            \
			return MPI_RAISE(rc);                                 \
	} while (0)

/* Prepare key into *k, lock d and find it: 0 with the lock held and *j
 * (the entry, or < 0 when absent), or the prep's code (not locked). */
static inline int prep_find(mp_dictproxy_t *d, const mp_obj_t *key,
			    struct key *k, int64_t *j)
{
	int rc = mpi_dict_key_prep(d, key, k);

	if (rc < 0)
		return rc;
	mpi_dict_lock(d);
	*j = mpi_dict_find(d, k);
	return 0;
}

/* d[key] into *out: 0, or -ENOENT with a KeyError reason, or a code. */
int mpi_dict_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return rc;
	if (j < 0)
		rc = mpi_dict_key_error(key);
	else
		rc = mpi_region_get_obj(d->r, mpi_dict_tab(d)->e[j].val, out);
	mpi_dict_unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

/* setdefault and popitem remotely: the result's shapes. */
static int rsetdefault(mp_dictproxy_t *d, const mp_obj_t *key,
		       const mp_obj_t *dflt, mp_obj_t **out)
{
	mp_obj_t *none = dflt ? NULL : mp_obj_none(), *r = NULL;
	int rc = mpi_rdict_op(d->remote, "setdefault", key, dflt ? dflt : none,
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
	int rc = mpi_rdict_op(d->remote, "popitem", NULL, NULL, &r);

	if (rc == 0 && (mp_obj_item(r, 0, &k) < 0 || mp_obj_item(r, 1, &v) < 0))
		rc = mpi_why(-EPROTO, "popitem() did not return a pair");
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

	MPI_CHECK_NULL(out);
	*out = NULL;
	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__getitem__", key, NULL, out));
	if ((rc = mpi_dict_get(d, key, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_set(mp_dictproxy_t *d, const mp_obj_t *key,
		     const mp_obj_t *value)
{
	struct key k;
	uint64_t voff;
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	MPI_CHECK_NULL(value);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__setitem__", key, value, NULL));
	if ((rc = mpi_dict_key_prep(d, key, &k)) < 0)
		return MPI_RAISE(rc);
	if ((rc = mpi_region_put_obj(d->r, value, &voff)) == 0) {
		mpi_dict_lock(d);
		rc = mpi_dict_set_locked(d, &k, voff);
		mpi_dict_unlock(d);
	}
	mpi_kbuf_release(&k.kb);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

/* Remove key, its value into *out when out is not NULL. */
int mpi_dict_pop_key(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	struct key k;
	int64_t j;
	int rc;

	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return rc;
	if (j < 0) {
		rc = mpi_dict_key_error(key);
	} else {
		if (out != NULL)
			rc = mpi_region_get_obj(d->r, mpi_dict_tab(d)->e[j].val,
						out);
		if (rc == 0)
			mpi_dict_del_locked(d, (uint64_t)j);
	}
	mpi_dict_unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_del(mp_dictproxy_t *d, const mp_obj_t *key)
{
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "__delitem__", key, NULL, NULL));
	if ((rc = mpi_dict_pop_key(d, key, NULL)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_pop(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out)
{
	int rc;

	if (out != NULL)
		*out = NULL;
	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "pop", key, NULL, out));
	if ((rc = mpi_dict_pop_key(d, key, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_dictproxy_contains(mp_dictproxy_t *d, const mp_obj_t *key)
{
	struct key k;
	int64_t j;
	int rc;

	CHECK_D(d);
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rint(d->remote, "__contains__", key));
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return MPI_RAISE(rc);
	rc = j >= 0;
	mpi_dict_unlock(d);
	mpi_kbuf_release(&k.kb);
	return rc;
}

int mp_dictproxy_len(mp_dictproxy_t *d)
{
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rint(d->remote, "__len__", NULL));
	mpi_dict_lock(d);
	rc = (int)mpi_dict_tab(d)->live;
	mpi_dict_unlock(d);
	return rc;
}

/* (k, v) as a new tuple, taking both; NULL on -ENOMEM (both freed). */
static mp_obj_t *pair(mp_obj_t *k, mp_obj_t *v)
{
	mp_obj_t *t = mpi_obj_new(MP_OBJ_TUPLE);

	if (t == NULL) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return NULL;
	}
	if (mpi_obj_append(t, k) < 0) {
		mpi_obj_decref(v);
		mpi_obj_decref(t);
		return NULL;
	}
	if (mpi_obj_append(t, v) < 0) {
		mpi_obj_decref(t);
		return NULL;
	}
	return t;
}

int mpi_dict_collect(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	mp_obj_t *res, *k = NULL, *v = NULL;
	struct dtable *t;
	uint64_t j;
	int rc = 0;

	if (d->remote != NULL)
		return mpi_rdict_op(d->remote, want == WANT_KEYS ? "keys"
				    : want == WANT_VALUES ? "values"
				    : want == WANT_ITEMS ? "items" : "copy",
				    NULL, NULL, out);
	res = mpi_obj_new(want == WANT_DICT ? MP_OBJ_DICT : MP_OBJ_LIST);
	if (res == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	mpi_dict_lock(d);
	t = mpi_dict_tab(d);
	for (j = 0; j < t->used && rc == 0; j++) {
		if (t->e[j].key == 0)
			continue;
		k = v = NULL;
		if (want != WANT_VALUES)
			rc = mpi_dict_get_key(d, t->e[j].key, &k);
		if (rc == 0 && want != WANT_KEYS)
			rc = mpi_region_get_obj(d->r, t->e[j].val, &v);
		if (rc < 0) {
			mpi_obj_decref(k);
			break;
		}
		if (want == WANT_DICT)
			rc = mpi_obj_setitem(res, k, v);
		else if (want == WANT_ITEMS)
			rc = (k = pair(k, v)) != NULL
				     ? mpi_obj_append(res, k)
				     : mpi_why(-ENOMEM, "out of memory");
		else
			rc = mpi_obj_append(res, k != NULL ? k : v);
	}
	mpi_dict_unlock(d);
	if (rc < 0) {
		mpi_obj_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

static int collect_pub(mp_dictproxy_t *d, int want, mp_obj_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	CHECK_D(d);
	if ((rc = mpi_dict_collect(d, want, out)) < 0)
		return mpi_error(rc, want == WANT_KEYS     ? "mp_dictproxy_keys"
				     : want == WANT_VALUES ? "mp_dictproxy_values"
				     : want == WANT_ITEMS  ? "mp_dictproxy_items"
							   : "mp_dictproxy_copy",
				 "%s", mpi_reason(rc));
	return 0;
}

int mp_dictproxy_keys(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_KEYS, out);
}

int mp_dictproxy_values(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_VALUES, out);
}

int mp_dictproxy_items(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_ITEMS, out);
}

int mp_dictproxy_copy(mp_dictproxy_t *d, mp_obj_t **out)
{
	return collect_pub(d, WANT_DICT, out);
}

int mp_dictproxy_update(mp_dictproxy_t *d, const mp_obj_t *other)
{
	struct key k;
	uint64_t voff;
	size_t i;
	int rc = 0;

	CHECK_D(d);
	MPI_CHECK_NULL(other);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "update", other, NULL, NULL));
	if (other->kind != MP_OBJ_DICT)
		return MPI_ERR(-EINVAL, "TypeError: other is a '%s', not a "
					"dict", mp_obj_kind_name(other->kind));
	mpi_dict_lock(d);
	for (i = 0; i < other->u.c.n && rc == 0; i++) {
		if ((rc = mpi_dict_key_prep(d, other->u.c.v[2 * i], &k)) < 0)
			break;
		rc = mpi_region_put_obj(d->r, other->u.c.v[2 * i + 1], &voff);
		if (rc == 0)
			rc = mpi_dict_set_locked(d, &k, voff);
		mpi_kbuf_release(&k.kb);
	}
	mpi_dict_unlock(d);
	return rc < 0 ? MPI_RAISE(rc) : 0;
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
	MPI_CHECK_NULL(key);
	if (d->remote != NULL)
		MPI_REMOTE(rsetdefault(d, key, dflt, out));
	if (dflt == NULL && (dflt = none = mpi_obj_new(MP_OBJ_NONE)) == NULL)
		return MPI_ERR(-ENOMEM, "out of memory");
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		goto out;
	if (j < 0 && (rc = mpi_region_put_obj(d->r, dflt, &voff)) == 0)
		rc = mpi_dict_set_locked(d, &k, voff);
	if (rc == 0 && out != NULL) {
		j = mpi_dict_find(d, &k);
		rc = mpi_region_get_obj(d->r, mpi_dict_tab(d)->e[j].val, out);
	}
	mpi_dict_unlock(d);
	mpi_kbuf_release(&k.kb);
out:
	mpi_obj_decref(none);
	return rc < 0 ? MPI_RAISE(rc) : 0;
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
		MPI_REMOTE(rpopitem(d, key, value));
	mpi_dict_lock(d);
	t = mpi_dict_tab(d);
	for (j = t->used; j > 0 && t->e[j - 1].key == 0; j--)
		;
	if (j == 0) {
		rc = mpi_why(-ENOENT, "KeyError: 'popitem(): dictionary is "
				      "empty'");
	} else {
		j--;
		if ((rc = mpi_dict_get_key(d, t->e[j].key, &k)) == 0 &&
		    (rc = mpi_region_get_obj(d->r, t->e[j].val, &v)) == 0)
			mpi_dict_del_locked(d, j);
	}
	mpi_dict_unlock(d);
	if (rc < 0) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return MPI_RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	else
		mpi_obj_decref(k);
	if (value != NULL)
		*value = v;
	else
		mpi_obj_decref(v);
	return 0;
}

int mp_dictproxy_clear(mp_dictproxy_t *d)
{
	struct dtable *t;
	uint64_t j;
	int rc;

	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_op(d->remote, "clear", NULL, NULL, NULL));
	mpi_dict_lock(d);
	t = mpi_dict_tab(d);
	for (j = t->used; j-- > 0;)
		if (t->e[j].key != 0)
			mpi_dict_del_locked(d, j);
	mpi_dict_unlock(d);
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
	MPI_CHECK_NULL(key);
	MPI_CHECK_NULL(fn);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_why(-ENOTSUP, "a connected manager's dict has "
				   "no apply: fn cannot run in the server, "
				   "and a read-modify-write from here is "
				   "not atomic against other clients; take "
				   "a manager Lock around get and set"));
	if ((rc = prep_find(d, key, &k, &j)) < 0)
		return MPI_RAISE(rc);
	if (j >= 0)
		rc = mpi_region_get_obj(d->r, mpi_dict_tab(d)->e[j].val, &cur);
	if (rc == 0 && (rc = fn(cur, arg, &nv)) < 0) {
		mpi_obj_decref(nv);
		nv = NULL;
		rc = mpi_why(rc, "callback failed: %s", mp_strerror(rc));
	}
	if (rc == 0 && nv != NULL &&
	    (rc = mpi_region_put_obj(d->r, nv, &voff)) == 0)
		rc = mpi_dict_set_locked(d, &k, voff);
	mpi_dict_unlock(d);
	mpi_obj_decref(nv);
	mpi_obj_decref(cur);
	mpi_kbuf_release(&k.kb);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

int mp_dictproxy_iter(mp_dictproxy_t *d, mp_dictproxy_iter_t *it)
{
	int rc;

	MPI_CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_iter(d->remote, it->_ident));
	it->_ident[0] = '\0';
	mpi_dict_lock(d);
	it->_pos = 0;
	it->_len = mpi_dict_tab(d)->live;
	it->_version = d->version;
	mpi_dict_unlock(d);
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
	MPI_CHECK_NULL(it);
	CHECK_D(d);
	if (d->remote != NULL)
		MPI_REMOTE(mpi_rdict_next(d->remote, it->_ident, key, value));
	mpi_dict_lock(d);
	t = mpi_dict_tab(d);
	if (t->live != it->_len)
		rc = mpi_why(-EBUSY, "RuntimeError: dictionary changed size "
				     "during iteration");
	else if (d->version != it->_version)
		rc = mpi_why(-EBUSY, "RuntimeError: dictionary keys changed "
				     "during iteration");
	for (j = it->_pos; rc == 0 && j < t->used && t->e[j].key == 0; j++)
		;
	if (rc == 0 && j < t->used) {
		if (key != NULL)
			rc = mpi_dict_get_key(d, t->e[j].key, &k);
		if (rc == 0 && value != NULL)
			rc = mpi_region_get_obj(d->r, t->e[j].val, &v);
		it->_pos = j + 1;
		if (rc == 0)
			rc = 1;
	}
	mpi_dict_unlock(d);
	if (rc < 0) {
		mpi_obj_decref(k);
		mpi_obj_decref(v);
		return MPI_RAISE(rc);
	}
	if (key != NULL)
		*key = k;
	if (value != NULL)
		*value = v;
	return rc;
}
