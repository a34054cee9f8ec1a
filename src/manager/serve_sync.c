/*
 * manager/serve_sync.c - the server's table entries for Lock, RLock,
 * Semaphore, Condition and Event (serve_types.c has the helpers): each
 * method calls the sync module's function on the object in the region,
 * with threading's arguments, results (True / False) and RuntimeError
 * texts.  A wait is capped by the server's max_wait (0 in the fuzz
 * harness).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "internal/error.h"
#include "manager/srv_int.h"
#include "mproc/sync.h"

/*
 * threading's acquire(blocking=True, timeout=-1) (Semaphore's timeout=None)
 * as a wait in seconds, capped by the server's max_wait: 0, or a
 * ValueError as threading raises it.
 */
static int wait_arg(struct mp__call *c, size_t i, const char *name,
		    bool has_blocking, double *out)
{
	const mp_obj_t *b = has_blocking ? mp__call_arg(c, 0, "blocking")
					 : NULL;
	const mp_obj_t *t = mp__call_arg(c, i, name);
	bool blocking = true;
	double w = MP_FOREVER;

	if (b != NULL && mp_obj_as_bool(b, &blocking) < 0) {
		int64_t v;

		blocking = mp_obj_as_int(b, &v) < 0 || v != 0;
	}
	if (t != NULL && mp_obj_kind(t) != MP_OBJ_NONE) {
		if (mp_obj_as_float(t, &w) < 0 || isnan(w))
			return mp__call_raise(c, "TypeError", "timeout must be a number");
		if (has_blocking && !blocking && w != -1)
			return mp__call_raise(c, "ValueError", "can't specify a timeout "
				     "for a non-blocking call");
		if (w < 0 && !(has_blocking && w == -1))
			return mp__call_raise(c, "ValueError", "timeout value must be "
				     "a non-negative number");
		if (w < 0)
			w = MP_FOREVER;
	}
	if (!blocking)
		w = 0;
	if (c->max_wait >= 0 && (w < 0 || w > c->max_wait))
		w = c->max_wait;
	*out = w;
	return 0;
}

int mp__call_timeout(struct mp__call *c, size_t i, const char *name,
		     double *out)
{
	return wait_arg(c, i, name, false, out);
}

/* A wait's outcome as threading's True / False. */
static int waited(struct mp__call *c, int rc)
{
	if (rc == -ETIMEDOUT)
		rc = 0, c->ret = mp_obj_bool(false);
	else if (rc == 0 || rc == MP_EOWNERDEAD)
		rc = 0, c->ret = mp_obj_bool(true);
	return rc;
}

static int lock_acquire(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 1, "timeout", true, &w);

	if (rc == 0 && (rc = mp_lock_acquire(c->obj, w)) == MP_EOWNERDEAD)
		mp_lock_consistent(c->obj);
	return rc < 0 && rc != MP_EOWNERDEAD && rc != -ETIMEDOUT ? rc
								  : waited(c, rc);
}

static int lock_release(struct mp__call *c)
{
	if (mp_lock_release(c->obj) < 0)
		return mp__call_raise(c, "RuntimeError", "release unlocked lock");
	return 0;
}

static int rlock_acquire(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 1, "timeout", true, &w);

	if (rc == 0 && (rc = mp_rlock_acquire(c->obj, w)) == MP_EOWNERDEAD)
		mp_rlock_consistent(c->obj);
	return rc < 0 && rc != MP_EOWNERDEAD && rc != -ETIMEDOUT ? rc
								  : waited(c, rc);
}

static int rlock_release(struct mp__call *c)
{
	if (mp_rlock_release(c->obj) < 0)
		return mp__call_raise(c, "RuntimeError", "cannot release un-acquired "
			     "lock");
	return 0;
}

static int sem_acquire(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 1, "timeout", true, &w);

	if (rc == 0)
		rc = waited(c, mp_semaphore_acquire(c->obj, w));
	return rc;
}

static int sem_release(struct mp__call *c)
{
	int64_t n;
	int rc = mp__call_int(c, 0, "n", 1, &n);

	if (rc == 0 && (n < 1 || n > INT32_MAX))
		return mp__call_raise(c, "ValueError", "n must be one or more");
	return rc < 0 ? rc : mp_semaphore_release(c->obj, (unsigned)n);
}

static int cond_acquire(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 1, "timeout", true, &w);

	return rc < 0 ? rc : waited(c, mp_condition_acquire(c->obj, w));
}

static int cond_release(struct mp__call *c)
{
	if (mp_condition_release(c->obj) < 0)
		return mp__call_raise(c, "RuntimeError", "cannot release un-acquired "
			     "lock");
	return 0;
}

static int cond_wait(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 0, "timeout", false, &w);

	if (rc == 0 && (rc = mp_condition_wait(c->obj, w)) == -EPERM)
		return mp__call_raise(c, "RuntimeError", "cannot wait on un-acquired "
			     "lock");
	return rc < 0 && rc != MP_EOWNERDEAD && rc != -ETIMEDOUT ? rc
								  : waited(c, rc);
}

static int cond_notify(struct mp__call *c)
{
	int64_t n;
	int rc = mp__call_int(c, 0, "n", 1, &n);

	if (rc == 0 && (n < 0 || n > INT32_MAX))
		return mp__call_raise(c, "ValueError", "n out of range");
	if (rc == 0 && (rc = mp_condition_notify(c->obj, (unsigned)n)) ==
		       -EPERM)
		return mp__call_raise(c, "RuntimeError", "cannot notify on un-acquired "
			     "lock");
	return rc;
}

static int cond_notify_all(struct mp__call *c)
{
	if (mp_condition_notify_all(c->obj) == -EPERM)
		return mp__call_raise(c, "RuntimeError", "cannot notify on un-acquired "
			     "lock");
	return 0;
}

static int ev_is_set(struct mp__call *c)
{
	return mp__call_bool(c, mp_event_is_set(c->obj));
}

static int ev_set(struct mp__call *c) { return mp_event_set(c->obj); }
static int ev_clear(struct mp__call *c) { return mp_event_clear(c->obj); }

static int ev_wait(struct mp__call *c)
{
	double w = 0;
	int rc = wait_arg(c, 0, "timeout", false, &w);

	return rc < 0 ? rc : waited(c, mp_event_wait(c->obj, w));
}

/* ---- creation ---- */

static int lock_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__call_new_plain(c, r, MP_MANAGER_LOCK, NULL, out);
}

static int rlock_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__call_new_plain(c, r, MP_MANAGER_RLOCK, NULL, out);
}

/* Condition(lock=None): on its own RLock, or on the manager's Lock or
 * RLock a proxy names (m.Condition(m.Lock()); the proxy was checked when
 * the request came in). */
static int cond_create(struct mp__call *c, struct mp__region *r, void **out)
{
	const mp_obj_t *lk = mp__call_arg(c, 0, "lock");
	mp_condition_opts_t o = {0};
	void *p = NULL;
	int kind, rc;

	if (lk != NULL && mp_obj_kind(lk) != MP_OBJ_NONE) {
		kind = mp__nest_resolve(r, lk, &p);
		if (kind == MP_MANAGER_LOCK)
			o.lock = p;
		else if (kind == MP_MANAGER_RLOCK)
			o.rlock = p;
		else
			return mp__call_raise(c, "TypeError", "mproc's manager "
					      "makes a Condition on a Lock or "
					      "RLock proxy (or its own RLock)");
	}
	rc = mp__call_new_plain(c, r, MP_MANAGER_CONDITION, NULL, out);
	if (rc == 0 && p != NULL) /* fresh storage: initialise it again */
		mp_condition_init(*out, &o);
	return rc;
}

static int ev_create(struct mp__call *c, struct mp__region *r, void **out)
{
	return mp__call_new_plain(c, r, MP_MANAGER_EVENT, NULL, out);
}

static int sem_create(struct mp__call *c, struct mp__region *r, void **out)
{
	const mp_obj_t *v = mp__call_arg(c, 0, "value");

	return mp__call_new_plain(c, r, MP_MANAGER_SEMAPHORE, v, out);
}

/* ---- the table ---- */

static const char *const acq_exposed[] = {"acquire", "release", NULL};
static const struct mp__method lock_methods[] = {
	{"acquire", lock_acquire}, {"release", lock_release}, {NULL, NULL},
};
static const struct mp__method rlock_methods[] = {
	{"acquire", rlock_acquire}, {"release", rlock_release}, {NULL, NULL},
};
static const struct mp__method sem_methods[] = {
	{"acquire", sem_acquire}, {"release", sem_release}, {NULL, NULL},
};

static const char *const cond_exposed[] = {
	"acquire", "release", "wait", "notify", "notify_all", NULL,
};
static const struct mp__method cond_methods[] = {
	{"acquire", cond_acquire}, {"release", cond_release},
	{"wait", cond_wait}, {"notify", cond_notify},
	{"notify_all", cond_notify_all}, {NULL, NULL},
};

static const char *const ev_exposed[] = {
	"is_set", "set", "clear", "wait", NULL,
};
static const struct mp__method ev_methods[] = {
	{"is_set", ev_is_set}, {"set", ev_set}, {"clear", ev_clear},
	{"wait", ev_wait}, {NULL, NULL},
};

const struct mp__srv_type mp__srv_sync_types[] = {
	{MP_MANAGER_LOCK, "Lock", "_thread.lock", acq_exposed, lock_methods,
	 NULL, NULL, lock_create},
	{MP_MANAGER_RLOCK, "RLock", "_thread.RLock", acq_exposed,
	 rlock_methods, NULL, NULL, rlock_create},
	{MP_MANAGER_SEMAPHORE, "Semaphore", "threading.Semaphore",
	 acq_exposed, sem_methods, NULL, NULL, sem_create},
	{MP_MANAGER_CONDITION, "Condition", "threading.Condition",
	 cond_exposed, cond_methods, NULL, NULL, cond_create},
	{MP_MANAGER_EVENT, "Event", "threading.Event", ev_exposed, ev_methods,
	 NULL, NULL, ev_create},
	{0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
