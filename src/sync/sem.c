/*
 * sync/sem.c - Semaphore and BoundedSemaphore: a counter word plus a count
 * of sleepers, so that release only makes the futex wake-up syscall when
 * somebody sleeps.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "sync/sync_int.h"

/* ---- Semaphore ---- */

static int sem_check(unsigned value, const mp_semaphore_opts_t *opts)
{
	if (value > INT32_MAX)
		return mp__why(-EINVAL, "value %u is too large (at most "
			       "INT32_MAX)", value);
	if (opts != NULL && opts->bounded && value == 0)
		return mp__why(-EINVAL, "a BoundedSemaphore of value 0 can "
			       "never be released");
	return 0;
}

static void sem_init(mp_semaphore_t *s, unsigned value,
		     const mp_semaphore_opts_t *opts)
{
	bool bounded = opts != NULL && opts->bounded;

	*s = (mp_semaphore_t){._value = value, ._max = bounded ? value : 0};
}

int mp_semaphore_init(mp_semaphore_t *s, unsigned value,
		      const mp_semaphore_opts_t *opts)
{
	int rc;

	MP__CHECK_NULL(s);
	if ((rc = sem_check(value, opts)) < 0)
		return MP__RAISE(rc);
	sem_init(s, value, opts);
	return 0;
}

void mp_semaphore_destroy(mp_semaphore_t *s)
{
	(void)s;
}

mp_semaphore_t *mp_semaphore_new(unsigned value,
				 const mp_semaphore_opts_t *opts)
{
	void *s = NULL;
	int rc;

	if ((rc = sem_check(value, opts)) < 0 ||
	    (rc = mp__shared_new(sizeof(mp_semaphore_t), &s)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	sem_init(s, value, opts);
	return s;
}

void mp_semaphore_free(mp_semaphore_t *s)
{
	if (s != NULL && (s->_flags & MP__SEM_REMOTE))
		mp__sync_remote(s, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(s);
}

bool mp__semaphore_try(mp_semaphore_t *s)
{
	uint32_t v = __atomic_load_n(&s->_value, __ATOMIC_RELAXED);

	while (v > 0)
		if (__atomic_compare_exchange_n(&s->_value, &v, v - 1, true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

int mp__semaphore_acquire(mp_semaphore_t *s, double timeout)
{
	uint64_t deadline;
	int rc;

	/* Arguments first: a bad timeout fails even when a permit is free
	 * (the cheap test; mp__timeout_check words the reason). */
	if (!(timeout >= 0 || timeout == MP_FOREVER))
		return mp__timeout_check(timeout, "timeout");
	if (mp__semaphore_try(s))
		return 0;
	if (__builtin_expect(s->_flags & MP__SEM_REMOTE, 0))
		return (rc = mp__sync_remote(s, MP__SYNC_ACQUIRE, timeout,
					     0)) > 0 ? 0 : rc;
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	__atomic_add_fetch(&s->_waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (mp__semaphore_try(s)) {
			rc = 0;
			break;
		}
		if (mp__futex_wait(&s->_value, 0, deadline) == -ETIMEDOUT &&
		    !mp__semaphore_try(s)) {
			rc = mp__why(-ETIMEDOUT, "no permit after %gs",
				     timeout);
			break;
		}
	}
	__atomic_sub_fetch(&s->_waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}

int mp_semaphore_acquire(mp_semaphore_t *s, double timeout)
{
	int rc;

	MP__CHECK_NULL(s);
	rc = mp__semaphore_acquire(s, timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp__semaphore_release(mp_semaphore_t *s, unsigned n)
{
	uint32_t v;

	if (n == 0 || n > INT32_MAX)
		return mp__why(-EINVAL, "n = %u: release 1 .. INT32_MAX "
			       "permits", n);
	if (__builtin_expect(s->_flags & MP__SEM_REMOTE, 0))
		return mp__sync_remote(s, MP__SYNC_RELEASE, 0, n);
	v = __atomic_load_n(&s->_value, __ATOMIC_RELAXED);
	do {
		if (s->_max != 0 ? v + (uint64_t)n > s->_max
				 : v + (uint64_t)n > INT32_MAX)
			return mp__why(-EINVAL, s->_flags & 1
				       ? "Semaphore released too many times"
				       : "semaphore or lock released too "
					 "many times");
	} while (!__atomic_compare_exchange_n(&s->_value, &v, v + n, true,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	if (__atomic_load_n(&s->_waiters, __ATOMIC_SEQ_CST) > 0)
		mp__futex_wake(&s->_value, (int)n);
	return 0;
}

void mp__semaphore_threading_wording(mp_semaphore_t *s)
{
	s->_flags |= 1;
}

int mp_semaphore_release(mp_semaphore_t *s, unsigned n)
{
	int rc;

	MP__CHECK_NULL(s);
	rc = mp__semaphore_release(s, n);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_semaphore_get_value(const mp_semaphore_t *s)
{
	int rc;

	MP__CHECK_NULL(s);
	if (s->_flags & MP__SEM_REMOTE)
		return (rc = mp__sync_remote(s, MP__SYNC_UNSERVED, 0, 0)) < 0
			       ? MP__RAISE(rc) : rc;
	return (int)__atomic_load_n(&s->_value, __ATOMIC_RELAXED);
}
