/*
 * sync/lock.c - Lock and RLock: the public face of the robust lock core
 * (internal/lock.h), with timeouts, messages and the dirty flag (sync_int.h).
 */
#include <errno.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/lock.h"
#include "sync/sync_int.h"

static int took_over(mp_lock_t *l, uint64_t dead, const char *func)
{
	__atomic_store_n(&l->_dirty, 1, __ATOMIC_RELAXED);
	return mpi_error(MP_EOWNERDEAD, func,
			 "the previous owner (pid %d, thread %d) died holding "
			 "the lock; the lock is yours",
			 (int)(dead >> 32), (int)(dead & 0x7fffffff));
}

__attribute__((noinline, cold)) static int dirty(const char *func)
{
	return mpi_error(MP_EOWNERDEAD, func,
			 "an owner died holding the lock and its state was not "
			 "marked consistent; the lock is yours");
}

/* The contended path: one deadline, then the core's wait. */
__attribute__((noinline)) static int lock_slow(mp_lock_t *l, double timeout,
					       const char *func)
{
	uint64_t deadline, dead;
	int rc;

	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return mpi_error(rc, func, "%s", mpi_reason(rc));
	rc = mpi_lock_wait(&l->_state, deadline, &dead);
	if (rc == MP_EOWNERDEAD)
		return took_over(l, dead, func);
	if (rc == -ETIMEDOUT)
		return mpi_error(rc, func, "lock still held after %gs",
				 timeout);
	return __atomic_load_n(&l->_dirty, __ATOMIC_RELAXED) ? dirty(func) : 0;
}

/* -EINVAL for a bad timeout (out of line: keeps the fast path lean). */
__attribute__((noinline, cold)) static int bad_timeout(double timeout,
						      const char *func)
{
	uint64_t unused;
	int rc = mpi_deadline(timeout, &unused);

	return rc < 0 ? mpi_error(rc, func, "%s", mpi_reason(rc)) : 0;
}

static inline int lock_acquire(mp_lock_t *l, double timeout, const char *func)
{
	if (__builtin_expect(!(timeout >= 0 || timeout == MP_FOREVER), 0))
		return bad_timeout(timeout, func);
	if (__builtin_expect(mpi_lock_try(&l->_state), 1))
		return __builtin_expect(
			       __atomic_load_n(&l->_dirty, __ATOMIC_RELAXED), 0)
			       ? dirty(func)
			       : 0;
	return lock_slow(l, timeout, func);
}

__attribute__((noinline, cold)) static int released_too_often(
	const char *func)
{
	return mpi_error(-EINVAL, func,
			 "semaphore or lock released too many times");
}

static inline int lock_release(mp_lock_t *l, const char *func)
{
	if (__builtin_expect(mpi_lock_give(&l->_state) < 0, 0))
		return released_too_often(func);
	return 0;
}

/* ---- Lock ---- */

int mp_lock_init(mp_lock_t *l)
{
	MPI_CHECK_NULL(l);
	*l = (mp_lock_t){0};
	return 0;
}

void mp_lock_destroy(mp_lock_t *l)
{
	(void)l; /* nothing to release: the lock is only words in memory */
}

mp_lock_t *mp_lock_new(void)
{
	mp_lock_t *l = mpi_arena_alloc(sizeof(*l));

	if (l == NULL)
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
	return l;
}

void mp_lock_free(mp_lock_t *l)
{
	mpi_arena_free(l);
}

int mp_lock_acquire(mp_lock_t *l, double timeout)
{
	MPI_CHECK_NULL(l);
	return lock_acquire(l, timeout, __func__);
}

int mpi_lock_acquire(mp_lock_t *l, double timeout, const char *func)
{
	return lock_acquire(l, timeout, func);
}

int mp_lock_release(mp_lock_t *l)
{
	MPI_CHECK_NULL(l);
	return lock_release(l, __func__);
}

int mpi_lock_release(mp_lock_t *l, const char *func)
{
	return lock_release(l, func);
}

static int consistent(mp_lock_t *l, const char *func)
{
	if (!mpi_lock_is_mine(l))
		return mpi_error(-EPERM, func, "the calling thread does not hold "
				 "the lock");
	__atomic_store_n(&l->_dirty, 0, __ATOMIC_RELAXED);
	return 0;
}

int mp_lock_consistent(mp_lock_t *l)
{
	MPI_CHECK_NULL(l);
	return consistent(l, __func__);
}

int mp_lock_locked(const mp_lock_t *l)
{
	MPI_CHECK_NULL(l);
	return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) != 0;
}

/* ---- RLock ---- */

int mp_rlock_init(mp_rlock_t *r)
{
	MPI_CHECK_NULL(r);
	*r = (mp_rlock_t){._count = 0};
	return 0;
}

void mp_rlock_destroy(mp_rlock_t *r)
{
	(void)r;
}

mp_rlock_t *mp_rlock_new(void)
{
	mp_rlock_t *r = mpi_arena_alloc(sizeof(*r));

	if (r == NULL)
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
	return r;
}

void mp_rlock_free(mp_rlock_t *r)
{
	mpi_arena_free(r);
}

int mpi_rlock_acquire(mp_rlock_t *r, double timeout, const char *func)
{
	int rc;

	/* The timeout is checked even when the owner takes it again. */
	if (__builtin_expect(!(timeout >= 0 || timeout == MP_FOREVER), 0))
		return bad_timeout(timeout, func);
	if (mpi_lock_is_mine(&r->_lock)) {
		if (r->_count >= INT32_MAX) /* mp_rlock_count is an int */
			return mpi_error(-EOVERFLOW, func,
					 "the RLock is already held %u times "
					 "by this thread",
					 r->_count);
		r->_count++;
		return 0;
	}
	rc = lock_acquire(&r->_lock, timeout, func);
	if (rc == 0 || rc == MP_EOWNERDEAD)
		r->_count = 1;
	return rc;
}

int mp_rlock_acquire(mp_rlock_t *r, double timeout)
{
	MPI_CHECK_NULL(r);
	return mpi_rlock_acquire(r, timeout, __func__);
}

int mpi_rlock_release(mp_rlock_t *r, const char *func)
{
	if (!mpi_lock_is_mine(&r->_lock))
		return mpi_error(-EPERM, func, "cannot release un-acquired lock");
	if (--r->_count > 0)
		return 0;
	return lock_release(&r->_lock, func);
}

int mp_rlock_release(mp_rlock_t *r)
{
	MPI_CHECK_NULL(r);
	return mpi_rlock_release(r, __func__);
}

int mp_rlock_consistent(mp_rlock_t *r)
{
	MPI_CHECK_NULL(r);
	return consistent(&r->_lock, __func__);
}

int mp_rlock_count(const mp_rlock_t *r)
{
	MPI_CHECK_NULL(r);
	return mpi_lock_is_mine(&r->_lock) ? (int)r->_count : 0;
}
