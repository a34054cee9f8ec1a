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

static int cond_init(mp_condition_t *c, const mp_condition_opts_t *opts,
		     const char *func)
{
	if (opts != NULL && opts->lock != NULL && opts->rlock != NULL)
		return mpi_error(-EINVAL, func,
				 "give opts->lock or opts->rlock, not both");
	*c = (mp_condition_t){0};
	c->_lock = opts ? opts->lock : NULL;
	c->_rlock = opts && opts->rlock ? opts->rlock
			 : c->_lock ? NULL : &c->_own;
	return 0;
}

int mp_condition_init(mp_condition_t *c, const mp_condition_opts_t *opts)
{
	MPI_CHECK_NULL(c);
	return cond_init(c, opts, __func__);
}

void mp_condition_destroy(mp_condition_t *c)
{
	(void)c;
}

mp_condition_t *mp_condition_new(const mp_condition_opts_t *opts)
{
	mp_condition_t *c = mpi_arena_alloc(sizeof(*c));

	if (c == NULL) {
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
		return NULL;
	}
	if (cond_init(c, opts, __func__) < 0) {
		mpi_arena_free(c);
		return NULL;
	}
	return c;
}

void mp_condition_free(mp_condition_t *c)
{
	mpi_arena_free(c);
}

static int cond_acquire(mp_condition_t *c, double timeout, const char *func)
{
	return c->_lock ? mpi_lock_acquire(c->_lock, timeout, func)
			: mpi_rlock_acquire(c->_rlock, timeout, func);
}

int mp_condition_acquire(mp_condition_t *c, double timeout)
{
	MPI_CHECK_NULL(c);
	return cond_acquire(c, timeout, __func__);
}

static int cond_release(mp_condition_t *c, const char *func)
{
	if (c->_lock == NULL)
		return mpi_rlock_release(c->_rlock, func);
	return mpi_lock_release(c->_lock, func);
}

int mp_condition_release(mp_condition_t *c)
{
	MPI_CHECK_NULL(c);
	return cond_release(c, __func__);
}

static int is_mine(const mp_condition_t *c)
{
	return mpi_lock_is_mine(c->_lock ? c->_lock : &c->_rlock->_lock);
}

static int cond_wait(mp_condition_t *c, double timeout, const char *func)
{
	uint64_t deadline;
	uint32_t depth = 1;
	int rc, got;

	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return mpi_error(rc, func, "%s", mpi_reason(rc));
	if (!is_mine(c))
		return mpi_error(-EPERM, func, "must acquire() condition before "
				 "using wait()");
	mp_semaphore_release(&c->_sleeping, 1);
	/* Release the lock completely (every level of an RLock). */
	if (c->_rlock) {
		depth = c->_rlock->_count;
		c->_rlock->_count = 1;
	}
	cond_release(c, func);
	got = mpi_semaphore_acquire(&c->_wait, timeout, func) == 0;
	mp_semaphore_release(&c->_woken, 1);
	rc = cond_acquire(c, MP_FOREVER, func);
	if (c->_rlock && (rc == 0 || rc == MP_EOWNERDEAD))
		c->_rlock->_count = depth;
	return rc < 0 ? rc : got;
}

int mp_condition_wait(mp_condition_t *c, double timeout)
{
	MPI_CHECK_NULL(c);
	return cond_wait(c, timeout, __func__);
}

int mp_condition_wait_for(mp_condition_t *c, bool (*pred)(void *arg),
			  void *arg, double timeout)
{
	uint64_t deadline, now;
	int rc;

	MPI_CHECK_NULL(c);
	MPI_CHECK_NULL(pred);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	while (!pred(arg)) {
		double left = MP_FOREVER;

		if (deadline != MPI_NO_DEADLINE) {
			now = mpi_now_ns();
			if (now >= deadline)
				return 0;
			left = (double)(deadline - now) / 1e9;
		}
		if ((rc = cond_wait(c, left, __func__)) < 0)
			return rc;
	}
	return 1;
}

static int cond_notify(mp_condition_t *c, unsigned n, const char *func)
{
	unsigned sleepers = 0, i;

	if (!is_mine(c))
		return mpi_error(-EPERM, func, "lock is not owned");
	/* Forget sleepers that timed out since the last notify. */
	while (mp_semaphore_acquire(&c->_woken, 0) == 0)
		mp_semaphore_acquire(&c->_sleeping, 0);
	while (sleepers < n && mp_semaphore_acquire(&c->_sleeping, 0) == 0) {
		mp_semaphore_release(&c->_wait, 1);
		sleepers++;
	}
	if (sleepers > 0) {
		/* Each woken sleeper acknowledges before we go on. */
		for (i = 0; i < sleepers; i++)
			mp_semaphore_acquire(&c->_woken, ACK_TIMEOUT);
		/* Take back permits that sleepers which timed out left. */
		while (mp_semaphore_acquire(&c->_wait, 0) == 0)
			;
	}
	return 0;
}

int mp_condition_notify(mp_condition_t *c, unsigned n)
{
	MPI_CHECK_NULL(c);
	return cond_notify(c, n, __func__);
}

int mp_condition_notify_all(mp_condition_t *c)
{
	MPI_CHECK_NULL(c);
	return cond_notify(c, UINT_MAX, __func__);
}
