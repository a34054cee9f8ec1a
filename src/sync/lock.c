/*
 * sync/lock.c - Lock and RLock: the public face of the robust lock core
 * (internal/lock.h), with timeouts, reasons and the dirty flag
 * (sync_int.h); and mp__shared_new, where every sync and shm object is
 * allocated.
 */
#include <errno.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/lock.h"
#include "sync/sync_int.h"

int mp__shared_new(size_t size, void **out)
{
	void *p = mp__arena_alloc(size);

	if (p == NULL)
		return mp__why(-ENOMEM,
			       "cannot map %zu bytes of shared memory: %s",
			       size, mp_strerror(errno ? -errno : -ENOMEM));
	*out = p;
	return 0;
}

__attribute__((noinline, cold)) static int took_over(mp_lock_t *l,
						     uint64_t dead)
{
	__atomic_store_n(&l->_dirty, 1, __ATOMIC_RELAXED);
	return mp__why(MP_EOWNERDEAD,
		       "the previous owner (pid %d, thread %d) died holding "
		       "the lock; the lock is yours",
		       (int)(dead >> 32), (int)(dead & 0x7fffffff));
}

__attribute__((noinline, cold)) static int dirty(void)
{
	return mp__why(MP_EOWNERDEAD,
		       "an owner died holding the lock and its state was not "
		       "marked consistent; the lock is yours");
}

/* The contended path: one deadline, then the core's wait. */
__attribute__((noinline)) static int lock_slow(mp_lock_t *l, double timeout)
{
	uint64_t deadline, dead;
	int rc;

	if (mp__sync_is_remote(&l->_state)) /* a Lock or an RLock */
		return mp__sync_remote(l, MP__SYNC_ACQUIRE, timeout, 0);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	rc = mp__lock_wait(&l->_state, deadline, &dead);
	if (rc == MP_EOWNERDEAD)
		return took_over(l, dead);
	if (rc == -ETIMEDOUT)
		return mp__why(rc, "lock still held after %gs", timeout);
	return __atomic_load_n(&l->_dirty, __ATOMIC_RELAXED) ? dirty() : 0;
}

/* -EINVAL for a bad timeout (out of line: keeps the fast path lean). */
__attribute__((noinline, cold)) static int bad_timeout(double timeout)
{
	return mp__timeout_check(timeout, "timeout");
}

static inline bool timeout_ok(double timeout)
{
	return timeout >= 0 || timeout == MP_FOREVER;
}

static inline int lock_acquire(mp_lock_t *l, double timeout)
{
	if (__builtin_expect(!timeout_ok(timeout), 0))
		return bad_timeout(timeout);
	if (__builtin_expect(mp__lock_try(&l->_state), 1))
		return __builtin_expect(
			       __atomic_load_n(&l->_dirty, __ATOMIC_RELAXED), 0)
			       ? dirty()
			       : 0;
	return lock_slow(l, timeout);
}

__attribute__((noinline, cold)) static int released_too_often(
	const mp_lock_t *l)
{
	return mp__why(-EINVAL, "%s", l->_flags & 1
		       ? "release unlocked lock"
		       : "semaphore or lock released too many times");
}

void mp__lock_threading_wording(mp_lock_t *l)
{
	l->_flags |= 1;
}

static inline int lock_release(mp_lock_t *l)
{
	if (mp__sync_is_remote(&l->_state))
		return mp__sync_remote(l, MP__SYNC_RELEASE, 0, 1);
	if (__builtin_expect(mp__lock_give(&l->_state) < 0, 0))
		return released_too_often(l);
	return 0;
}

/* ---- Lock ---- */

int mp_lock_init(mp_lock_t *l)
{
	MP__CHECK_NULL(l);
	*l = (mp_lock_t){0};
	return 0;
}

void mp_lock_destroy(mp_lock_t *l)
{
	(void)l; /* nothing to release: the lock is only words in memory */
}

mp_lock_t *mp_lock_new(void)
{
	void *l = NULL;
	int rc = mp__shared_new(sizeof(mp_lock_t), &l);

	return rc < 0 ? (MP__RAISE(rc), NULL) : l;
}

void mp_lock_free(mp_lock_t *l)
{
	if (l != NULL && mp__sync_is_remote(&l->_state))
		mp__sync_remote(l, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(l);
}

int mp__lock_acquire(mp_lock_t *l, double timeout)
{
	return lock_acquire(l, timeout);
}

int mp_lock_acquire(mp_lock_t *l, double timeout)
{
	int rc;

	MP__CHECK_NULL(l);
	rc = lock_acquire(l, timeout);
	return __builtin_expect(rc < 0, 0) ? MP__RAISE(rc) : 0;
}

int mp__lock_release(mp_lock_t *l)
{
	return lock_release(l);
}

int mp_lock_release(mp_lock_t *l)
{
	int rc;

	MP__CHECK_NULL(l);
	rc = lock_release(l);
	return __builtin_expect(rc < 0, 0) ? MP__RAISE(rc) : 0;
}

static int consistent(mp_lock_t *l)
{
	if (mp__sync_is_remote(&l->_state))
		return 0; /* the server took care of it */
	if (!mp__lock_is_mine(l))
		return mp__why(-EPERM, "the calling thread does not hold the "
			       "lock");
	__atomic_store_n(&l->_dirty, 0, __ATOMIC_RELAXED);
	return 0;
}

int mp_lock_consistent(mp_lock_t *l)
{
	int rc;

	MP__CHECK_NULL(l);
	return (rc = consistent(l)) < 0 ? MP__RAISE(rc) : 0;
}

int mp_lock_locked(const mp_lock_t *l)
{
	int rc;

	MP__CHECK_NULL(l);
	if (mp__sync_is_remote(&l->_state))
		return (rc = mp__sync_remote(l, MP__SYNC_UNSERVED, 0, 0)) < 0
			       ? MP__RAISE(rc) : rc;
	return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) != 0;
}

/* ---- RLock ---- */

int mp_rlock_init(mp_rlock_t *r)
{
	MP__CHECK_NULL(r);
	*r = (mp_rlock_t){._count = 0};
	return 0;
}

void mp_rlock_destroy(mp_rlock_t *r)
{
	(void)r;
}

mp_rlock_t *mp_rlock_new(void)
{
	void *r = NULL;
	int rc = mp__shared_new(sizeof(mp_rlock_t), &r);

	return rc < 0 ? (MP__RAISE(rc), NULL) : r;
}

void mp_rlock_free(mp_rlock_t *r)
{
	if (r != NULL && mp__sync_is_remote(&r->_lock._state))
		mp__sync_remote(r, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(r);
}

int mp__rlock_acquire(mp_rlock_t *r, double timeout)
{
	int rc;

	/* The timeout is checked even when the owner takes it again. */
	if (__builtin_expect(!timeout_ok(timeout), 0))
		return bad_timeout(timeout);
	if (mp__lock_is_mine(&r->_lock)) {
		if (r->_count >= INT32_MAX) /* mp_rlock_count is an int */
			return mp__why(-EOVERFLOW,
				       "the RLock is already held %u times by "
				       "this thread",
				       r->_count);
		r->_count++;
		return 0;
	}
	rc = lock_acquire(&r->_lock, timeout);
	if (rc == 0 || rc == MP_EOWNERDEAD)
		r->_count = 1;
	return rc; /* 1: a remote RLock, taken (its count is the server's) */
}

int mp_rlock_acquire(mp_rlock_t *r, double timeout)
{
	int rc;

	MP__CHECK_NULL(r);
	rc = mp__rlock_acquire(r, timeout);
	return __builtin_expect(rc < 0, 0) ? MP__RAISE(rc) : 0;
}

int mp__rlock_release(mp_rlock_t *r)
{
	if (!mp__lock_is_mine(&r->_lock)) {
		if (mp__sync_is_remote(&r->_lock._state))
			return mp__sync_remote(r, MP__SYNC_RELEASE, 0, 1);
		return mp__why(-EPERM, "cannot release un-acquired lock");
	}
	if (--r->_count > 0)
		return 0;
	return lock_release(&r->_lock);
}

int mp_rlock_release(mp_rlock_t *r)
{
	int rc;

	MP__CHECK_NULL(r);
	rc = mp__rlock_release(r);
	return __builtin_expect(rc < 0, 0) ? MP__RAISE(rc) : 0;
}

int mp_rlock_consistent(mp_rlock_t *r)
{
	int rc;

	MP__CHECK_NULL(r);
	return (rc = consistent(&r->_lock)) < 0 ? MP__RAISE(rc) : 0;
}

int mp_rlock_count(const mp_rlock_t *r)
{
	int rc;

	MP__CHECK_NULL(r);
	if (mp__sync_is_remote(&r->_lock._state))
		return (rc = mp__sync_remote(r, MP__SYNC_UNSERVED, 0, 0)) < 0
			       ? MP__RAISE(rc) : rc;
	return mp__lock_is_mine(&r->_lock) ? (int)r->_count : 0;
}
