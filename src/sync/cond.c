/*
 * sync/cond.c - Condition and Barrier.
 *
 * Condition follows CPython's multiprocessing.Condition: three semaphores
 * count the sleepers, let exactly n of them through, and collect their
 * acknowledgements, so notify(n) wakes exactly n even when waits time out.
 * Beyond CPython, notify does not wait forever for the acknowledgement of a
 * sleeper that died: it gives up after ACK_TIMEOUT.
 *
 * Barrier follows threading.Barrier (which multiprocessing reuses): a state
 * machine (filling, draining, resetting, broken) under an internal Lock;
 * waiters sleep on a sequence word that every state change bumps.
 */
#include <errno.h>
#include <limits.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/shmem.h"
#include "sync/sync_int.h"

#define ACK_TIMEOUT 2.0

/* ---- Condition ---- */

static int cond_init(mp_condition_t *c, const mp_condition_opts *opts,
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

int mp_condition_init(mp_condition_t *c, const mp_condition_opts *opts)
{
	MPI_CHECK_NULL(c);
	return cond_init(c, opts, __func__);
}

void mp_condition_destroy(mp_condition_t *c)
{
	(void)c;
}

mp_condition_t *mp_condition_new(const mp_condition_opts *opts)
{
	mp_condition_t *c = mpi_shm_alloc(sizeof(*c));

	if (c == NULL) {
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
		return NULL;
	}
	if (cond_init(c, opts, __func__) < 0) {
		mpi_shm_free(c);
		return NULL;
	}
	return c;
}

void mp_condition_free(mp_condition_t *c)
{
	mpi_shm_free(c);
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

	if ((rc = mpi_deadline(timeout, func, &deadline)) < 0)
		return rc;
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
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
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

/* ---- Barrier ---- */

enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

static int barrier_init(mp_barrier_t *b, unsigned parties,
			const mp_barrier_opts *opts, const char *func)
{
	if (parties == 0 || parties > INT32_MAX)
		return mpi_error(-EINVAL, func, "parties %u: need 1 .. INT32_MAX",
				 parties);
	if (opts != NULL && !(opts->timeout >= 0))
		return mpi_error(-EINVAL, func, "opts->timeout %g is invalid "
				 "(seconds >= 0; 0 waits forever)",
				 opts->timeout);
	*b = (mp_barrier_t){._parties = parties};
	if (opts != NULL) {
		b->_action = opts->action;
		b->_action_arg = opts->action_arg;
		b->_timeout = opts->timeout;
	}
	return 0;
}

int mp_barrier_init(mp_barrier_t *b, unsigned parties,
		    const mp_barrier_opts *opts)
{
	MPI_CHECK_NULL(b);
	return barrier_init(b, parties, opts, __func__);
}

void mp_barrier_destroy(mp_barrier_t *b)
{
	(void)b;
}

mp_barrier_t *mp_barrier_new(unsigned parties, const mp_barrier_opts *opts)
{
	mp_barrier_t *b = mpi_shm_alloc(sizeof(*b));

	if (b == NULL) {
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
		return NULL;
	}
	if (barrier_init(b, parties, opts, __func__) < 0) {
		mpi_shm_free(b);
		return NULL;
	}
	return b;
}

void mp_barrier_free(mp_barrier_t *b)
{
	mpi_shm_free(b);
}

/* Wake every sleeper so it re-checks the state (lock held). */
static void bump(mp_barrier_t *b)
{
	__atomic_add_fetch(&b->_seq, 1, __ATOMIC_SEQ_CST);
	mpi_futex_wake(&b->_seq, INT32_MAX);
}

static void set_state(mp_barrier_t *b, int state)
{
	__atomic_store_n(&b->_state, state, __ATOMIC_RELAXED);
	bump(b);
}

/* Take the internal lock; a party that died inside it breaks the barrier. */
static void barrier_lock(mp_barrier_t *b)
{
	if (mpi_lock_take(&b->_lock._state, MPI_NO_DEADLINE) == MP_EOWNERDEAD)
		set_state(b, BROKEN);
}

static void barrier_unlock(mp_barrier_t *b)
{
	mpi_lock_give(&b->_lock._state);
}

/* Sleep until the state changes or the deadline (lock held on return). */
static int sleep_locked(mp_barrier_t *b, uint64_t deadline)
{
	uint32_t seq = __atomic_load_n(&b->_seq, __ATOMIC_SEQ_CST);
	int rc;

	barrier_unlock(b);
	rc = mpi_futex_wait(&b->_seq, seq, deadline);
	barrier_lock(b);
	return rc == -ETIMEDOUT ? rc : 0;
}

int mp_barrier_wait(mp_barrier_t *b, double timeout)
{
	uint64_t deadline;
	int rc, index, state;

	MPI_CHECK_NULL(b);
	if (timeout == MP_BARRIER_DEFAULT)
		timeout = b->_timeout > 0 ? b->_timeout : MP_FOREVER;
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	barrier_lock(b);
	/* Wait for a previous cycle to drain or a reset to finish. */
	while (b->_state == DRAINING || b->_state == RESETTING)
		sleep_locked(b, MPI_NO_DEADLINE);
	if (b->_state == BROKEN) {
		barrier_unlock(b);
		return MPI_ERR(MP_EBARRIER, "the barrier is broken");
	}
	index = (int)__atomic_fetch_add(&b->_count, 1, __ATOMIC_RELAXED);
	rc = index;
	if ((unsigned)index + 1 == b->_parties) {
		/* The last to arrive runs the action and releases the rest. */
		if (b->_action != NULL && b->_action(b->_action_arg) != 0) {
			set_state(b, BROKEN);
			rc = MPI_ERR(MP_EBARRIER, "the barrier's action failed");
		} else {
			set_state(b, DRAINING);
		}
	} else {
		while (b->_state == FILLING)
			if (sleep_locked(b, deadline) == -ETIMEDOUT &&
			    b->_state == FILLING) {
				set_state(b, BROKEN); /* for everyone */
				break;
			}
		state = b->_state;
		if (state == BROKEN || state == RESETTING)
			rc = MPI_ERR(MP_EBARRIER,
				     mpi_expired(deadline)
					     ? "timed out: the barrier is broken"
					     : "the barrier was broken or reset");
	}
	if (__atomic_sub_fetch(&b->_count, 1, __ATOMIC_RELAXED) == 0 &&
	    (b->_state == DRAINING || b->_state == RESETTING))
		set_state(b, FILLING);
	barrier_unlock(b);
	return rc;
}

int mp_barrier_abort(mp_barrier_t *b)
{
	MPI_CHECK_NULL(b);
	barrier_lock(b);
	set_state(b, BROKEN);
	barrier_unlock(b);
	return 0;
}

int mp_barrier_reset(mp_barrier_t *b)
{
	MPI_CHECK_NULL(b);
	barrier_lock(b);
	if (b->_count > 0) {
		if (b->_state == FILLING || b->_state == BROKEN)
			__atomic_store_n(&b->_state, RESETTING, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&b->_state, FILLING, __ATOMIC_RELAXED);
	}
	bump(b);
	barrier_unlock(b);
	return 0;
}

int mp_barrier_parties(const mp_barrier_t *b)
{
	MPI_CHECK_NULL(b);
	return (int)b->_parties;
}

int mp_barrier_n_waiting(const mp_barrier_t *b)
{
	MPI_CHECK_NULL(b);
	return __atomic_load_n(&b->_state, __ATOMIC_RELAXED) == FILLING
		       ? (int)__atomic_load_n(&b->_count, __ATOMIC_RELAXED)
		       : 0;
}

int mp_barrier_broken(const mp_barrier_t *b)
{
	MPI_CHECK_NULL(b);
	return __atomic_load_n(&b->_state, __ATOMIC_RELAXED) == BROKEN;
}
