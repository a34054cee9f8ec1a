/*
 * sync/cond.c - Condition.
 *
 * Condition follows CPython's multiprocessing.Condition: three semaphores
 * count the sleepers, let exactly n of them through, and collect their
 * acknowledgements, so notify(n) wakes exactly n even when waits time out.
 * Beyond CPython, notify does not wait forever for the acknowledgement of a
 * sleeper that died: it gives up after ACK_TIMEOUT.
 */
#include <errno.h>
#include <limits.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "sync/sync_int.h"

#define ACK_TIMEOUT 2.0

/* ---- Condition ---- */

/* A connected manager's Condition (sync_int.h): its own RLock says so. */
static inline bool remote(const mp_condition_t *c)
{
	return mp__sync_is_remote(&c->_own._lock._state);
}

static int cond_check(const mp_condition_opts_t *opts)
{
	if (opts != NULL && opts->lock != NULL && opts->rlock != NULL)
		return mp__why(-EINVAL,
			       "give opts->lock or opts->rlock, not both");
	return 0;
}

static void cond_init(mp_condition_t *c, const mp_condition_opts_t *opts)
{
	*c = (mp_condition_t){0};
	c->_lock = opts ? opts->lock : NULL;
	/* Its own RLock is NULL here, not &c->_own: a Condition mapped at
	 * another address (a forkserver or spawn child) finds it too. */
	c->_rlock = opts && opts->rlock ? opts->rlock : NULL;
}

/* The RLock c uses, or NULL when it is on a Lock. */
static inline mp_rlock_t *rlock_of(mp_condition_t *c)
{
	return c->_lock ? NULL : c->_rlock ? c->_rlock : &c->_own;
}

int mp_condition_init(mp_condition_t *c, const mp_condition_opts_t *opts)
{
	int rc;

	MP__CHECK_NULL(c);
	if ((rc = cond_check(opts)) < 0)
		return MP__RAISE(rc);
	cond_init(c, opts);
	return 0;
}

void mp_condition_destroy(mp_condition_t *c)
{
	(void)c;
}

mp_condition_t *mp_condition_new(const mp_condition_opts_t *opts)
{
	void *c = NULL;
	int rc;

	if ((rc = cond_check(opts)) < 0 ||
	    (rc = mp__shared_new(sizeof(mp_condition_t), &c)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	cond_init(c, opts);
	return c;
}

void mp_condition_free(mp_condition_t *c)
{
	if (c != NULL && remote(c))
		mp__sync_remote(c, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(c);
}

static int cond_acquire(mp_condition_t *c, double timeout)
{
	if (remote(c))
		return mp__sync_remote(c, MP__SYNC_ACQUIRE, timeout, 0);
	return c->_lock ? mp__lock_acquire(c->_lock, timeout)
			: mp__rlock_acquire(rlock_of(c), timeout);
}

int mp_condition_acquire(mp_condition_t *c, double timeout)
{
	int rc;

	MP__CHECK_NULL(c);
	return (rc = cond_acquire(c, timeout)) < 0 ? MP__RAISE(rc) : 0;
}

static int cond_release(mp_condition_t *c)
{
	if (remote(c))
		return mp__sync_remote(c, MP__SYNC_RELEASE, 0, 1);
	if (c->_lock == NULL)
		return mp__rlock_release(rlock_of(c));
	return mp__lock_release(c->_lock);
}

int mp_condition_release(mp_condition_t *c)
{
	int rc;

	MP__CHECK_NULL(c);
	return (rc = cond_release(c)) < 0 ? MP__RAISE(rc) : 0;
}

static int is_mine(mp_condition_t *c)
{
	return mp__lock_is_mine(c->_lock ? c->_lock : &rlock_of(c)->_lock);
}

/* 0 notified, -ETIMEDOUT, or the re-acquire's code (MP_EOWNERDEAD). */
static int cond_wait(mp_condition_t *c, double timeout)
{
	uint32_t depth = 1;
	int rc, got;

	if ((rc = mp__timeout_check(timeout, "timeout")) < 0)
		return rc;
	if (remote(c))
		return mp__sync_remote(c, MP__SYNC_WAIT, timeout, 0);
	if (!is_mine(c))
		return mp__why(-EPERM, "must acquire() condition before using "
			       "wait()");
	mp__semaphore_release(&c->_sleeping, 1);
	/* Release the lock completely (every level of an RLock). */
	if (rlock_of(c)) {
		depth = rlock_of(c)->_count;
		rlock_of(c)->_count = 1;
	}
	cond_release(c);
	got = mp__semaphore_acquire(&c->_wait, timeout);
	mp__semaphore_release(&c->_woken, 1);
	rc = cond_acquire(c, MP_FOREVER);
	if (rlock_of(c) && (rc == 0 || rc == MP_EOWNERDEAD))
		rlock_of(c)->_count = depth;
	if (rc < 0)
		return rc;
	return got == 0 ? 0 : mp__why(-ETIMEDOUT, "not notified within %gs",
				      timeout);
}

int mp_condition_wait(mp_condition_t *c, double timeout)
{
	int rc;

	MP__CHECK_NULL(c);
	return (rc = cond_wait(c, timeout)) < 0 ? MP__RAISE(rc) : 0;
}

int mp_condition_wait_for(mp_condition_t *c, mp_condition_pred_fn pred,
			  void *arg, double timeout)
{
	uint64_t deadline, now;
	int rc;

	MP__CHECK_NULL(c);
	MP__CHECK_NULL(pred);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	while (!pred(arg)) {
		double left = MP_FOREVER;

		if (deadline != MP__NO_DEADLINE) {
			now = mp__now_ns();
			if (now >= deadline)
				return MP__ERR(-ETIMEDOUT, "the predicate is "
					       "still false after %gs",
					       timeout);
			left = (double)(deadline - now) / 1e9;
		}
		rc = cond_wait(c, left);
		if (rc < 0 && rc != -ETIMEDOUT)
			return MP__RAISE(rc);
	}
	return 0;
}

static int cond_notify(mp_condition_t *c, unsigned n)
{
	unsigned sleepers = 0, i;

	if (remote(c))
		return mp__sync_remote(c, MP__SYNC_NOTIFY, 0, n);
	if (!is_mine(c))
		return mp__why(-EPERM, "lock is not owned");
	/* Forget sleepers that timed out since the last notify. */
	while (mp__semaphore_try(&c->_woken))
		mp__semaphore_try(&c->_sleeping);
	while (sleepers < n && mp__semaphore_try(&c->_sleeping)) {
		mp__semaphore_release(&c->_wait, 1);
		sleepers++;
	}
	if (sleepers > 0) {
		/* Each woken sleeper acknowledges before we go on. */
		for (i = 0; i < sleepers; i++)
			mp__semaphore_acquire(&c->_woken, ACK_TIMEOUT);
		/* Take back permits that sleepers which timed out left. */
		while (mp__semaphore_try(&c->_wait))
			;
	}
	return 0;
}

int mp_condition_notify(mp_condition_t *c, unsigned n)
{
	int rc;

	MP__CHECK_NULL(c);
	return (rc = cond_notify(c, n)) < 0 ? MP__RAISE(rc) : 0;
}

int mp_condition_notify_all(mp_condition_t *c)
{
	int rc;

	MP__CHECK_NULL(c);
	return (rc = cond_notify(c, UINT_MAX)) < 0 ? MP__RAISE(rc) : 0;
}
