/*
 * manager/remote_sync.c - the sync objects of a connected manager: the
 * sync module's functions (mp_lock_acquire, mp_event_wait, ...) find a
 * remote handle on their slow path (sync/sync_int.h) and call
 * mp__sync_remote, which sends the call as CPython's proxies send it
 * (AcquirerProxy, ConditionProxy, EventProxy, BarrierProxy) and turns the
 * answer into the local function's result and codes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "manager/remote_int.h"

/* threading's acquire(blocking, timeout) for a wait of timeout seconds. */
static mp_obj_t *acquire_args(double timeout)
{
	if (timeout == 0)
		return mp_obj_tuple_pack(1, mp_obj_bool(false));
	if (timeout < 0)
		return mp_obj_tuple_pack(1, mp_obj_bool(true));
	return mp_obj_tuple_pack(2, mp_obj_bool(true), mp_obj_float(timeout));
}

/* wait(timeout) / wait() */
static mp_obj_t *wait_args(double timeout)
{
	return timeout < 0 ? mp_obj_tuple(0, NULL)
			   : mp_obj_tuple_pack(1, mp_obj_float(timeout));
}

/* The local code of a threading error: RuntimeError on release is the
 * local -EINVAL (a Lock) or -EPERM (an RLock or Condition not held),
 * ValueError (a BoundedSemaphore released too often) -EINVAL,
 * BrokenBarrierError MP_EBARRIER. */
static int local_code(int kind, enum mp__sync_op op, int rc)
{
	char why[256];

	snprintf(why, sizeof(why), "%s", mp__reason(rc)); /* its buffer */

	if (rc == -EBUSY)
		return mp__why(kind == MP_MANAGER_LOCK && op ==
			       MP__SYNC_RELEASE ? -EINVAL : -EPERM, "%s", why);
	if (rc == -ENOENT && strncmp(why, "ValueError", 10) == 0)
		return mp__why(-EINVAL, "%s", why);
	if (rc == -EREMOTEIO && strstr(why, "BrokenBarrierError") != NULL)
		return mp__why(MP_EBARRIER, "%s", why);
	return rc;
}

static int call(struct mp__rhandle *h, const char *method, mp_obj_t *args,
		double wait, mp_obj_t **out)
{
	if (args == NULL)
		return -ENOMEM;
	return mp__rcall_wait(&h->p, method, args, wait, out);
}

/* method(*args), whose result is threading's True / False: 1 / 0, or
 * the call's code. */
static int truth(struct mp__rhandle *h, const char *method, mp_obj_t *args,
		 double wait)
{
	mp_obj_t *r = NULL;
	bool b = false;
	int rc = call(h, method, args, wait, &r);

	if (rc == 0 && mp_obj_as_bool(r, &b) < 0)
		rc = mp__why(-EPROTO, "%s() did not return a bool", method);
	mp_obj_free(r);
	return rc < 0 ? rc : b;
}

/* BarrierProxy's properties: __getattribute__(name). */
static int attr(struct mp__rhandle *h, const char *name)
{
	mp_obj_t *r = NULL;
	int64_t v = 0;
	bool b;
	int rc = call(h, "__getattribute__", mp_obj_tuple_pack(1,
		      mp_obj_str(name)), 0, &r);

	if (rc == 0 && mp_obj_as_bool(r, &b) == 0)
		v = b;
	else if (rc == 0 && (mp_obj_as_int(r, &v) < 0 || v < 0 ||
			     v > INT32_MAX))
		rc = mp__why(-EPROTO, "Barrier.%s is not a small int", name);
	mp_obj_free(r);
	return rc < 0 ? rc : (int)v;
}

static int remote_op(struct mp__rhandle *h, enum mp__sync_op op,
		     double timeout, unsigned n)
{
	mp_obj_t *r = NULL;
	int rc;

	switch (op) {
	case MP__SYNC_ACQUIRE:
		rc = truth(h, "acquire", acquire_args(timeout), timeout);
		if (rc == 0)
			return mp__why(-ETIMEDOUT, "not acquired within %gs",
				       timeout);
		return rc;
	case MP__SYNC_RELEASE:
		return call(h, "release", n == 1 ? mp_obj_tuple(0, NULL) :
			    mp_obj_tuple_pack(1, mp_obj_int(n)), 0, NULL);
	case MP__SYNC_WAIT:
		if (h->kind == MP_MANAGER_BARRIER) {
			int64_t i = -1;

			rc = call(h, "wait", timeout == MP_BARRIER_DEFAULT
				  ? mp_obj_tuple(0, NULL) : wait_args(timeout),
				  timeout, &r);
			if (rc == 0 && (mp_obj_as_int(r, &i) < 0 || i < 0 ||
					i > INT32_MAX))
				rc = mp__why(-EPROTO, "Barrier.wait() did not "
					     "return an index");
			mp_obj_free(r);
			return rc < 0 ? rc : (int)i;
		}
		rc = truth(h, "wait", wait_args(timeout), timeout);
		if (rc == 0)
			return mp__why(-ETIMEDOUT, "%s within %gs",
				       h->kind == MP_MANAGER_EVENT
				       ? "the flag was not set"
				       : "not notified", timeout);
		return rc < 0 ? rc : 0;
	case MP__SYNC_NOTIFY:
		if (n >= INT32_MAX)
			return call(h, "notify_all", mp_obj_tuple(0, NULL), 0,
				    NULL);
		return call(h, "notify", mp_obj_tuple_pack(1, mp_obj_int(n)),
			    0, NULL);
	case MP__SYNC_SET:
		return call(h, "set", mp_obj_tuple(0, NULL), 0, NULL);
	case MP__SYNC_CLEAR:
		return call(h, "clear", mp_obj_tuple(0, NULL), 0, NULL);
	case MP__SYNC_IS_SET:
		return truth(h, "is_set", mp_obj_tuple(0, NULL), 0);
	case MP__SYNC_ABORT:
		return call(h, "abort", mp_obj_tuple(0, NULL), 0, NULL);
	case MP__SYNC_RESET:
		return call(h, "reset", mp_obj_tuple(0, NULL), 0, NULL);
	case MP__SYNC_PARTIES:
		return attr(h, "parties");
	case MP__SYNC_N_WAITING:
		return attr(h, "n_waiting");
	case MP__SYNC_BROKEN:
		return attr(h, "broken");
	case MP__SYNC_FREE:
		mp__rhandle_free(h);
		return 0;
	case MP__SYNC_UNSERVED:
		break;
	}
	return mp__why(-ENOTSUP, "a connected manager's proxy does not "
		       "expose this (CPython's neither)");
}

int mp__sync_remote(const void *obj, enum mp__sync_op op, double timeout,
		    unsigned n)
{
	/* the handle starts with the public struct (remote_int.h) */
	struct mp__rhandle *h = (struct mp__rhandle *)(uintptr_t)obj;
	int kind = h->kind, rc = remote_op(h, op, timeout, n);

	return rc < 0 ? local_code(kind, op, rc) : rc;
}
