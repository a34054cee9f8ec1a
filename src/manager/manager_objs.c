/*
 * manager/manager_objs.c - what a manager makes: mp_manager_dict, _list,
 * _queue, _lock... (in the region, or by a connected manager's server) and
 * mp_manager_register.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "connection/conn_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"

/* The constructors' prologue: out not NULL, *out cleared, m not NULL. */
#define CHECK_ARGS(m, out)                                                    \
	do {                                                                  \
		MP__CHECK_NULL(out);                                          \
		*(out) = NULL;                                                \
		MP__CHECK_NULL(m);                                            \
	} while (0)

static int usable(const mp_manager_t *m)
{
	if (mp__region_closed(m->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

/* Zeroed room for one sync object in the region: 0 or -ENOMEM. */
int mp__region_room(struct mp__region *r, size_t size, void **out)
{
	uint64_t off;

	if ((off = mp__region_alloc(r, size)) == 0)
		return -ENOMEM;
	*out = mp__at(r, off);
	memset(*out, 0, size);
	return 0;
}

/*
 * The sync objects' _init functions fail only on NULL, which cannot
 * happen here; they are called as the storage's constructors.
 */
int mp__mgr_obj_new(struct mp__region *r, int kind, const mp_obj_t *init,
		   void **out)
{
	int64_t v = 1;
	int rc;

	*out = NULL;
	switch (kind) {
	case MP_MANAGER_DICT:
		if (init != NULL && init->kind != MP_OBJ_DICT)
			return mp__why(-EINVAL, "TypeError: init is a '%s', "
				       "not a dict", mp_obj_kind_name(init->kind));
		return mp__dict_new(r, init, (mp_dictproxy_t **)out);
	case MP_MANAGER_LIST:
		if (init != NULL && init->kind != MP_OBJ_LIST &&
		    init->kind != MP_OBJ_TUPLE)
			return mp__why(-EINVAL, "TypeError: init is a '%s', "
				       "not a list or tuple",
				       mp_obj_kind_name(init->kind));
		return mp__list_new(r, init, (mp_listproxy_t **)out);
	case MP_MANAGER_NAMESPACE:
		return mp__namespace_new(r, (mp_namespaceproxy_t **)out);
	case MP_MANAGER_LOCK:
		if ((rc = mp__region_room(r, sizeof(mp_lock_t), out)) == 0) {
			mp_lock_init(*out);
			mp__lock_threading_wording(*out);
		}
		return rc;
	case MP_MANAGER_RLOCK:
		if ((rc = mp__region_room(r, sizeof(mp_rlock_t), out)) == 0)
			mp_rlock_init(*out);
		return rc;
	case MP_MANAGER_CONDITION: /* on its own RLock */
		if ((rc = mp__region_room(r, sizeof(mp_condition_t), out)) == 0)
			mp_condition_init(*out, NULL);
		return rc;
	case MP_MANAGER_EVENT:
		if ((rc = mp__region_room(r, sizeof(mp_event_t), out)) == 0)
			mp_event_init(*out);
		return rc;
	case MP_MANAGER_SEMAPHORE:
		if (init != NULL && (mp_obj_as_int(init, &v) < 0 || v < 0 ||
				     v > INT32_MAX))
			return mp__why(-EINVAL, "ValueError: a semaphore's "
				       "value is an int in 0..INT32_MAX");
		if ((rc = mp__region_room(r, sizeof(mp_semaphore_t), out)) == 0)
			mp_semaphore_init(*out, (unsigned)v, NULL);
		return rc;
	}
	return mp__why(-EINVAL, "unknown kind %d", kind);
}

/* A connected manager's new object: create(typeid, *args), args the n
 * values given (taken; a NULL among them: -ENOMEM). */
static int remote_make(mp_manager_t *m, int kind, void **out, size_t n, ...)
{
	mp_obj_t *items[4], *args;
	va_list ap;
	size_t i;
	int rc;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		items[i] = va_arg(ap, mp_obj_t *);
	va_end(ap);
	if ((args = mp_obj_tuple(n, items)) == NULL)
		return -ENOMEM;
	rc = mp__rclient_create(m->remote, kind, args, out);
	mp_obj_free(args);
	return rc;
}

/* Give back the blocks of a dict and of its items. */
static void dict_free(struct mp__region *r, mp_dictproxy_t *d)
{
	mp_dictproxy_clear(d);
	mp__region_free(r, d->table);
	mp__region_free(r, (uint64_t)((char *)d - (char *)r));
}

void mp__mgr_obj_free(struct mp__region *r, int kind, void *p)
{
	mp_obj_t *v;

	switch (kind) {
	case MP_MANAGER_DICT:
		dict_free(r, p);
		return;
	case MP_MANAGER_NAMESPACE:
		dict_free(r, ((mp_namespaceproxy_t *)p)->d);
		break;
	case MP_MANAGER_LIST:
	case MP__KIND_ITERATOR:
		mp_listproxy_clear(p);
		mp__region_free(r, ((mp_listproxy_t *)p)->table);
		break;
	case MP_MANAGER_QUEUE:
	case MP_MANAGER_JOINABLEQUEUE:
		while (mp__queue_get(p, false, 0, &v) == 0)
			mp_obj_free(v);
		mp__region_free(r, ((mp_queueproxy_t *)p)->table);
		break;
	case MP_MANAGER_VALUE:
		mp__region_free(r, ((mp_valueproxy_t *)p)->off);
		break;
	default: /* Array and the sync objects: one block */
		break;
	}
	mp__region_free(r, (uint64_t)((char *)p - (char *)r));
}

/* A local or remote manager's new object of kind: 0 or a code. */
static int make(mp_manager_t *m, int kind, const mp_obj_t *init, void **out)
{
	int rc;

	if (m->remote != NULL)
		return init ? remote_make(m, kind, out, 1, mp_obj_copy(init))
			    : remote_make(m, kind, out, 0);
	if ((rc = usable(m)) < 0)
		return rc;
	return mp__mgr_obj_new(m->r, kind, init, out);
}

int mp_manager_dict(mp_manager_t *m, const mp_obj_t *init,
		    mp_dictproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if (init != NULL && init->kind != MP_OBJ_DICT)
		return MP__ERR(-EINVAL, "init is a '%s', not a dict",
			       mp_obj_kind_name(init->kind));
	if ((rc = make(m, MP_MANAGER_DICT, init, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

/* init of a list or array: NULL, a list or a tuple; else -EINVAL. */
static int seq_init(const mp_obj_t *init)
{
	if (init != NULL && init->kind != MP_OBJ_LIST &&
	    init->kind != MP_OBJ_TUPLE)
		return mp__why(-EINVAL, "init is a '%s', not a list or tuple",
			       mp_obj_kind_name(init->kind));
	return 0;
}

int mp_manager_list(mp_manager_t *m, const mp_obj_t *init,
		    mp_listproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = seq_init(init)) < 0)
		return MP__RAISE(rc);
	if ((rc = make(m, MP_MANAGER_LIST, init, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_namespace(mp_manager_t *m, mp_namespaceproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = make(m, MP_MANAGER_NAMESPACE, NULL, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

static int new_queue(mp_manager_t *m, unsigned maxsize, bool joinable,
		     mp_queueproxy_t **out)
{
	int rc;

	if (maxsize > INT32_MAX)
		return mp__why(-EINVAL, "maxsize %u is over INT32_MAX",
			       maxsize);
	if (m->remote != NULL)
		return maxsize ? remote_make(m, joinable ? MP_MANAGER_JOINABLEQUEUE
					     : MP_MANAGER_QUEUE, (void **)out,
					     1, mp_obj_int(maxsize))
			       : make(m, joinable ? MP_MANAGER_JOINABLEQUEUE
				      : MP_MANAGER_QUEUE, NULL, (void **)out);
	if ((rc = usable(m)) < 0)
		return rc;
	return mp__queue_new(m->r, maxsize, joinable, out);
}

int mp_manager_queue(mp_manager_t *m, unsigned maxsize, mp_queueproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = new_queue(m, maxsize, false, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_joinablequeue(mp_manager_t *m, unsigned maxsize,
			     mp_queueproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = new_queue(m, maxsize, true, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_value(mp_manager_t *m, const mp_obj_t *init,
		     mp_valueproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	MP__CHECK_NULL(init);
	if (m->remote != NULL) /* Value(typecode, value): 'O', unchecked */
		rc = remote_make(m, MP_MANAGER_VALUE, (void **)out, 2,
				 mp_obj_str("O"), mp_obj_copy(init));
	else if ((rc = usable(m)) == 0)
		rc = mp__value_new(m->r, init, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_manager_array(mp_manager_t *m, char typecode, const mp_obj_t *init,
		     mp_arrayproxy_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = seq_init(init)) < 0)
		return MP__RAISE(rc);
	if (m->remote != NULL) /* Array(typecode, sequence) */
		rc = remote_make(m, MP_MANAGER_ARRAY, (void **)out, 2,
				 mp_obj_strn(&typecode, 1),
				 init ? mp_obj_copy(init) : mp_obj_list());
	else if ((rc = usable(m)) == 0)
		rc = mp__array_new(m->r, typecode, init, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_manager_lock(mp_manager_t *m, mp_lock_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = make(m, MP_MANAGER_LOCK, NULL, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_rlock(mp_manager_t *m, mp_rlock_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = make(m, MP_MANAGER_RLOCK, NULL, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_condition(mp_manager_t *m, const mp_condition_opts_t *opts,
			 mp_condition_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if (opts != NULL && opts->lock != NULL && opts->rlock != NULL)
		return MP__ERR(-EINVAL, "opts gives both a lock and an rlock");
	if (m->remote != NULL && opts != NULL &&
	    (opts->lock != NULL || opts->rlock != NULL))
		return MP__ERR(-ENOTSUP, "a connected manager's Condition "
			       "uses its own RLock (Condition(lock_proxy) "
			       "needs a proxy as an argument)");
	if ((rc = make(m, MP_MANAGER_CONDITION, NULL, (void **)out)) < 0)
		return MP__RAISE(rc);
	if (opts != NULL && m->remote == NULL) /* fresh: initialise again */
		mp_condition_init(*out, opts);
	return 0;
}

int mp_manager_event(mp_manager_t *m, mp_event_t **out)
{
	int rc;

	CHECK_ARGS(m, out);
	if ((rc = make(m, MP_MANAGER_EVENT, NULL, (void **)out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_semaphore(mp_manager_t *m, unsigned value,
			 mp_semaphore_t **out)
{
	mp_obj_t *v;
	int rc;

	CHECK_ARGS(m, out);
	if (value > INT32_MAX)
		return MP__ERR(-EINVAL, "value %u is over INT32_MAX", value);
	if ((v = mp_obj_int(value)) == NULL)
		return MP__RAISE(-ENOMEM);
	rc = make(m, MP_MANAGER_SEMAPHORE, v, (void **)out);
	mp_obj_free(v);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
				 mp_semaphore_t **out)
{
	mp_semaphore_opts_t so = {.bounded = true};
	void *p;
	int rc;

	CHECK_ARGS(m, out);
	if (value == 0 || value > INT32_MAX)
		return MP__ERR(-EINVAL, "value %u: need 1 .. INT32_MAX (a "
					"BoundedSemaphore of 0 can never be "
					"released)", value);
	if (m->remote != NULL) {
		rc = remote_make(m, MP_MANAGER_BOUNDEDSEMAPHORE, (void **)out,
				 1, mp_obj_int(value));
		return rc < 0 ? MP__RAISE(rc) : 0;
	}
	if ((rc = usable(m)) < 0 ||
	    (rc = mp__region_room(m->r, sizeof(mp_semaphore_t), &p)) < 0)
		return MP__RAISE(rc);
	mp_semaphore_init(p, value, &so);
	mp__semaphore_threading_wording(p);
	*out = p;
	return 0;
}

int mp_manager_barrier(mp_manager_t *m, unsigned parties,
		       const mp_barrier_opts_t *opts, mp_barrier_t **out)
{
	void *p;
	int rc;

	CHECK_ARGS(m, out);
	if (opts != NULL && opts->action != NULL)
		return MP__ERR(-EINVAL, "opts->action: a manager's Barrier "
					"has no action here (CPython runs it "
					"in the server process)");
	if (parties == 0 || parties > INT32_MAX)
		return MP__ERR(-EINVAL, "parties %u: need 1 .. INT32_MAX",
			       parties);
	if (opts != NULL &&
	    (rc = mp__timeout_check(opts->timeout, "opts->timeout")) < 0)
		return MP__RAISE(rc);
	if (m->remote != NULL) { /* Barrier(parties, action, timeout) */
		double t = opts != NULL ? opts->timeout : 0;

		rc = remote_make(m, MP_MANAGER_BARRIER, (void **)out, 3,
				 mp_obj_int(parties), mp_obj_none(),
				 t > 0 ? mp_obj_float(t) : mp_obj_none());
		return rc < 0 ? MP__RAISE(rc) : 0;
	}
	if ((rc = usable(m)) < 0 ||
	    (rc = mp__region_room(m->r, sizeof(mp_barrier_t), &p)) < 0)
		return MP__RAISE(rc);
	mp_barrier_init(p, parties, opts);
	*out = p;
	return 0;
}

int mp_manager_register(mp_manager_t *m, const char *typeid, int kind,
			void *obj)
{
	mp_obj_t *k, *v;
	int rc;

	MP__CHECK_NULL(m);
	MP__CHECK_NULL(typeid);
	MP__CHECK_NULL(obj);
	if (m->remote != NULL)
		return MP__ERR(-EINVAL, "m is a connected manager: register "
					"in the manager that serves");
	if (typeid[0] == '\0')
		return MP__ERR(-EINVAL, "typeid is empty");
	if (kind >= MP__KIND_ITERATOR || mp__srv_type_by_kind(kind) == NULL)
		return MP__ERR(-EINVAL, "unknown kind %d", kind);
	if ((char *)obj <= (char *)m->r ||
	    (char *)obj >= (char *)m->r + m->r->size)
		return MP__ERR(-EINVAL, "obj is not in this manager's region");
	if ((rc = usable(m)) < 0)
		return MP__RAISE(rc);
	k = mp_obj_str(typeid);
	v = mp_obj_tuple_pack(2, mp_obj_int(kind),
			      mp_obj_int((int64_t)((char *)obj -
						   (char *)m->r)));
	rc = k && v ? mp_dictproxy_set(mp__at(m->r, m->r->names), k, v)
		    : -ENOMEM;
	mp_obj_free(k);
	mp_obj_free(v);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* ---- the proxies' _free ---- */

/* A connected manager's handle: decref and release; a local one: the
 * object lives as long as the manager (see mp_dictproxy_free). */
static void proxy_free(void *h, const struct mp__rproxy *remote)
{
	if (h != NULL && remote != NULL)
		mp__rhandle_free(h);
}

/* Each proxy type's _free: its remote field says where it lives. */
#define PROXY_FREE(fn, type)                                                  \
	void fn(type *h)                                                      \
	{                                                                     \
		proxy_free(h, h != NULL ? h->remote : NULL);                  \
	}

PROXY_FREE(mp_dictproxy_free, mp_dictproxy_t)
PROXY_FREE(mp_listproxy_free, mp_listproxy_t)
PROXY_FREE(mp_namespaceproxy_free, mp_namespaceproxy_t)
PROXY_FREE(mp_queueproxy_free, mp_queueproxy_t)
PROXY_FREE(mp_valueproxy_free, mp_valueproxy_t)
PROXY_FREE(mp_arrayproxy_free, mp_arrayproxy_t)
