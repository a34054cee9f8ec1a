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

static void *alloc_shared(size_t size, const char *func)
{
	void *p = mpi_arena_alloc(size);

	if (p == NULL)
		mpi_error(-ENOMEM, func, "cannot map shared memory: %s",
			  mp_strerror(-errno));
	return p;
}

/* ---- Semaphore ---- */

static int sem_init(mp_semaphore_t *s, unsigned value, bool bounded,
		    const char *func)
{
	if (value > INT32_MAX)
		return mpi_error(-EINVAL, func, "value %u is too large (at most "
				 "INT32_MAX)", value);
	if (bounded && value == 0)
		return mpi_error(-EINVAL, func, "a BoundedSemaphore of value 0 "
				 "can never be released");
	*s = (mp_semaphore_t){._value = value, ._max = bounded ? value : 0};
	return 0;
}

int mp_semaphore_init(mp_semaphore_t *s, unsigned value, bool bounded)
{
	MPI_CHECK_NULL(s);
	return sem_init(s, value, bounded, __func__);
}

void mp_semaphore_destroy(mp_semaphore_t *s)
{
	(void)s;
}

mp_semaphore_t *mp_semaphore_new(unsigned value, bool bounded)
{
	mp_semaphore_t *s = alloc_shared(sizeof(*s), __func__);

	if (s != NULL && sem_init(s, value, bounded, __func__) < 0) {
		mpi_arena_free(s);
		return NULL;
	}
	return s;
}

void mp_semaphore_free(mp_semaphore_t *s)
{
	mpi_arena_free(s);
}

static bool try_take(mp_semaphore_t *s)
{
	uint32_t v = __atomic_load_n(&s->_value, __ATOMIC_RELAXED);

	while (v > 0)
		if (__atomic_compare_exchange_n(&s->_value, &v, v - 1, true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

int mpi_semaphore_acquire(mp_semaphore_t *s, double timeout, const char *func)
{
	uint64_t deadline;
	int rc;

	/* Arguments first: a bad timeout fails even when a permit is free
	 * (the cheap test; mpi_deadline words the error). */
	if (!(timeout >= 0 || timeout == MP_FOREVER))
		return (rc = mpi_deadline(timeout, &deadline)) < 0 ? mpi_error(rc, func, "%s", mpi_reason(rc)) : 0;
	if (try_take(s))
		return 0;
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return mpi_error(rc, func, "%s", mpi_reason(rc));
	__atomic_add_fetch(&s->_waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (try_take(s)) {
			rc = 0;
			break;
		}
		if (mpi_futex_wait(&s->_value, 0, deadline) == -ETIMEDOUT &&
		    !try_take(s)) {
			rc = mpi_error(-ETIMEDOUT, func, "no permit after %gs",
				       timeout);
			break;
		}
	}
	__atomic_sub_fetch(&s->_waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}

int mp_semaphore_acquire(mp_semaphore_t *s, double timeout)
{
	MPI_CHECK_NULL(s);
	return mpi_semaphore_acquire(s, timeout, __func__);
}

int mp_semaphore_release(mp_semaphore_t *s, unsigned n)
{
	uint32_t v;

	MPI_CHECK_NULL(s);
	if (n == 0 || n > INT32_MAX)
		return MPI_ERR(-EINVAL, "n = %u: release 1 .. INT32_MAX permits",
			       n);
	v = __atomic_load_n(&s->_value, __ATOMIC_RELAXED);
	do {
		if (s->_max != 0 ? v + (uint64_t)n > s->_max
				 : v + (uint64_t)n > INT32_MAX)
			return MPI_ERR(-EINVAL, "semaphore or lock released too "
						"many times");
	} while (!__atomic_compare_exchange_n(&s->_value, &v, v + n, true,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	if (__atomic_load_n(&s->_waiters, __ATOMIC_SEQ_CST) > 0)
		mpi_futex_wake(&s->_value, (int)n);
	return 0;
}

int mp_semaphore_get_value(const mp_semaphore_t *s)
{
	MPI_CHECK_NULL(s);
	return (int)__atomic_load_n(&s->_value, __ATOMIC_RELAXED);
}
