/*
 * manager/remote_ops.c - the operations of a connected manager's proxies
 * (dict, list, queue...) as calls on the server (remote.c carries them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"
#include "obj/obj_int.h"

/* ---- the proxies' operations ---- */

int mp__rdict_op(struct mp__rproxy *p, const char *method, const mp_obj_t *a,
		 const mp_obj_t *b, mp_obj_t **out)
{
	mp_obj_t *args;

	if (a == NULL)
		args = mp_obj_tuple(0, NULL);
	else if (b == NULL)
		args = mp_obj_tuple_pack(1, mp_obj_copy(a));
	else
		args = mp_obj_tuple_pack(2, mp_obj_copy(a), mp_obj_copy(b));
	if (args == NULL)
		return -ENOMEM;
	return mp__rcall(p, method, args, NULL, out);
}

int mp__rindex(struct mp__rproxy *p, const char *method, ptrdiff_t i,
	       const mp_obj_t *value, mp_obj_t **out)
{
	mp_obj_t *io = mp_obj_int((int64_t)i);
	int rc = io ? mp__rdict_op(p, method, io, value, out) : -ENOMEM;

	mp_obj_free(io);
	return rc;
}

int mp__rdict_iter(struct mp__rproxy *d, char ident[MP__RITER_IDENT])
{
	struct mp__rproxy it;
	int rc = mp__rcall_proxy(d, "__iter__", &it);

	ident[0] = '\0';
	if (rc == 0 && strlen(it.ident) >= MP__RITER_IDENT) {
		mp__rdecref(&it);
		rc = mp__why(-EPROTO, "an iterator's ident is over %d bytes",
			     MP__RITER_IDENT - 1);
	}
	if (rc == 0)
		memcpy(ident, it.ident, strlen(it.ident) + 1);
	return rc;
}

int mp__rdict_next(struct mp__rproxy *d, char ident[MP__RITER_IDENT],
		   mp_obj_t **key, mp_obj_t **value)
{
	struct mp__rproxy it = {.cl = d->cl};
	mp_obj_t *k = NULL;
	int rc;

	if (ident[0] == '\0')
		return 0; /* ended */
	memcpy(it.ident, ident, MP__RITER_IDENT);
	rc = mp__rcall(&it, "__next__", mp_obj_tuple(0, NULL), NULL, &k);
	if (rc == 0 && value != NULL)
		rc = mp__rdict_op(d, "__getitem__", k, NULL, value);
	if (rc < 0 && rc != -ENOMEM) {
		/* the end (StopIteration) or a RuntimeError: the iterator is
		 * done, the server may forget it */
		mp__rdecref(&it);
		ident[0] = '\0';
	}
	if (rc < 0) {
		mp_obj_free(k);
		return rc == -ENODATA ? 0 : rc;
	}
	if (key != NULL)
		*key = k;
	else
		mp_obj_free(k);
	return 1;
}

int mp__rint(struct mp__rproxy *p, const char *method, const mp_obj_t *a)
{
	mp_obj_t *r = NULL;
	int64_t v = 0;
	bool b;
	int rc = mp__rdict_op(p, method, a, NULL, &r);

	if (rc == 0 && mp_obj_as_bool(r, &b) == 0)
		v = b;
	else if (rc == 0 && (mp_obj_as_int(r, &v) < 0 || v < 0 ||
			     v > INT32_MAX))
		rc = mp__why(-EPROTO, "%s() did not return a small int",
			     method);
	mp_obj_free(r);
	return rc < 0 ? rc : (int)v;
}

int mp__rlist_slice(struct mp__rproxy *p, ptrdiff_t start, ptrdiff_t stop,
		    mp_obj_t **out)
{
	mp_obj_t *all = NULL, *l;
	size_t n, i;
	int rc;

	/* CPython's fallback #GETVALUE gives the whole list, from both
	 * servers; the slice is taken here. */
	if ((rc = mp__rcall(p, "#GETVALUE", mp_obj_tuple(0, NULL), NULL,
			    &all)) < 0)
		return rc;
	if (mp_obj_kind(all) != MP_OBJ_LIST || mp_obj_len(all, &n) < 0) {
		mp_obj_free(all);
		return mp__why(-EPROTO, "#GETVALUE did not return a list");
	}
	if (start < 0)
		start = (ptrdiff_t)n + start < 0 ? 0 : (ptrdiff_t)n + start;
	if (stop < 0)
		stop = (ptrdiff_t)n + stop < 0 ? 0 : (ptrdiff_t)n + stop;
	if ((size_t)start > n)
		start = (ptrdiff_t)n;
	if ((size_t)stop > n)
		stop = (ptrdiff_t)n;
	if ((l = mp_obj_list()) == NULL)
		rc = -ENOMEM;
	for (i = (size_t)start; l != NULL && i < (size_t)stop; i++) {
		const mp_obj_t *it;

		mp_obj_item(all, (ptrdiff_t)i, &it);
		if ((rc = mp_obj_list_append(l, mp_obj_copy(it))) < 0)
			break;
	}
	mp_obj_free(all);
	if (rc < 0) {
		mp_obj_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* (block, timeout) as queue.Queue takes them: None for no limit. */
static mp_obj_t *block_timeout(bool block, double timeout)
{
	return mp_obj_tuple_pack(2, mp_obj_bool(block),
				 timeout < 0 ? mp_obj_none()
					     : mp_obj_float(timeout));
}

int mp__rqueue_put(struct mp__rproxy *p, const mp_obj_t *value, bool block,
		   double timeout)
{
	mp_obj_t *bt = block_timeout(block, timeout), *args;
	const mp_obj_t *b, *t;
	int rc;

	if (bt == NULL)
		return -ENOMEM;
	mp_obj_item(bt, 0, &b);
	mp_obj_item(bt, 1, &t);
	args = mp_obj_tuple_pack(3, mp_obj_copy(value), mp_obj_copy(b),
				 mp_obj_copy(t));
	mp_obj_free(bt);
	if (args == NULL)
		return -ENOMEM;
	rc = mp__rcall_wait(p, "put", args, block ? timeout : 0, NULL);
	return rc == -EAGAIN && block ? mp__why(-ETIMEDOUT, "queue.Full "
						"after the timeout") : rc;
}

int mp__rqueue_get(struct mp__rproxy *p, bool block, double timeout,
		   mp_obj_t **out)
{
	mp_obj_t *args = block_timeout(block, timeout);
	int rc;

	*out = NULL;
	if (args == NULL)
		return -ENOMEM;
	rc = mp__rcall_wait(p, "get", args, block ? timeout : 0, out);
	return rc == -EAGAIN && block ? mp__why(-ETIMEDOUT, "queue.Empty "
						"after the timeout") : rc;
}
