/*
 * sync/lock.c - Lock and RLock (the design notes are in sync_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/procfs.h"
#include "internal/shmem.h"
#include "sync/sync_int.h"

/* initial-exec: no __tls_get_addr call on the hot path of a PIC build */
static _Thread_local uint64_t self_id __attribute__((tls_model("initial-exec")));
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;

static void forget_ids(void)
{
	self_id = 0; /* the child has another pid and tid */
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_ids);
}

__attribute__((noinline, cold)) static uint64_t init_self_id(void)
{
	pthread_once(&ids_once, watch_forks);
	self_id = (uint64_t)getpid() << 32 | (uint32_t)gettid();
	return self_id;
}

uint64_t mpi_self_id(void)
{
	uint64_t id = self_id;

	return __builtin_expect(id != 0, 1) ? id : init_self_id();
}

/*
 * Does the owner recorded in state still run?  tgkill tells whether the
 * thread exists; a killed process stays a zombie until its parent reaps it
 * (and that parent may be the one waiting for the lock), so a thread that
 * exists is also asked for its state: Z (zombie) or X (dead) count as dead.
 */
static bool owner_alive(uint64_t state)
{
	pid_t pid = (pid_t)(state >> 32);
	pid_t tid = (pid_t)(state & 0x7fffffff);
	char path[64], buf[512];
	struct mpi_stat st;
	ssize_t n;
	int fd;

	if (pid <= 0 || tid <= 0)
		return true; /* cannot tell */
	if (syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno != ENOENT;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	/* Unreadable or unparsable: cannot tell, so alive. */
	if (n <= 0 || mpi_parse_stat(buf, (size_t)n, &st) < 0)
		return true;
	return st.state != 'Z' && st.state != 'X';
}

bool mpi_lock_owner_dead(const mp_lock_t *l)
{
	uint64_t state = __atomic_load_n(&l->_state, __ATOMIC_ACQUIRE);

	return state != 0 && !owner_alive(state);
}

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

/* The contended path: sleep, check the owner now and then, take over. */
__attribute__((noinline)) static int lock_slow(mp_lock_t *l, uint64_t me, double timeout,
		     const char *func)
{
	uint64_t deadline, until, cur;
	int rc;

	if ((rc = mpi_deadline(timeout, func, &deadline)) < 0)
		return rc;
	for (;;) {
		cur = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);
		if (cur == 0) {
			if (__atomic_compare_exchange_n(&l->_state, &cur,
							me | MPI_WAITERS, false,
							__ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return __atomic_load_n(&l->_dirty,
						       __ATOMIC_RELAXED)
					       ? dirty(func)
					       : 0;
			continue;
		}
		if (mpi_expired(deadline)) { /* a poll, or time is up */
			if (owner_alive(cur))
				return mpi_error(-ETIMEDOUT, func,
						 "lock still held after %gs",
						 timeout);
			if (__atomic_compare_exchange_n(
				    &l->_state, &cur, me | (cur & MPI_WAITERS),
				    false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return took_over(l, cur, func);
			continue;
		}
		if (!(cur & MPI_WAITERS)) {
			if (!__atomic_compare_exchange_n(
				    &l->_state, &cur, cur | MPI_WAITERS, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			cur |= MPI_WAITERS;
		}
		until = mpi_now_ns() + MPI_OWNER_CHECK_NS;
		if (deadline < until)
			until = deadline;
		rc = mpi_futex_wait(mpi_low_word(&l->_state), (uint32_t)cur,
				    until);
		if (rc != -ETIMEDOUT)
			continue;
		if (__atomic_load_n(&l->_state, __ATOMIC_RELAXED) == cur &&
		    !owner_alive(cur) &&
		    __atomic_compare_exchange_n(&l->_state, &cur,
						me | MPI_WAITERS, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return took_over(l, cur, func);
	}
}

/* -EINVAL for a bad timeout (out of line: keeps the fast path lean). */
__attribute__((noinline, cold)) static int bad_timeout(double timeout,
						      const char *func)
{
	uint64_t unused;

	return mpi_deadline(timeout, func, &unused);
}

static inline int lock_acquire(mp_lock_t *l, double timeout, const char *func)
{
	uint64_t me = mpi_self_id(), zero = 0;

	if (__builtin_expect(!(timeout >= 0 || timeout == MP_FOREVER), 0))
		return bad_timeout(timeout, func);
	if (__builtin_expect(__atomic_compare_exchange_n(&l->_state, &zero, me,
							 false, __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED),
			     1))
		return __builtin_expect(
			       __atomic_load_n(&l->_dirty, __ATOMIC_RELAXED), 0)
			       ? dirty(func)
			       : 0;
	return lock_slow(l, me, timeout, func);
}

static inline int lock_release(mp_lock_t *l, const char *func)
{
	uint64_t old = __atomic_exchange_n(&l->_state, 0, __ATOMIC_RELEASE);

	if (__builtin_expect(old == 0, 0))
		return mpi_error(-EINVAL, func,
				 "semaphore or lock released too many times");
	if (old & MPI_WAITERS)
		mpi_futex_wake(mpi_low_word(&l->_state), 1);
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
	mp_lock_t *l = mpi_shm_alloc(sizeof(*l));

	if (l == NULL)
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
	return l;
}

void mp_lock_free(mp_lock_t *l)
{
	mpi_shm_free(l);
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
	mp_rlock_t *r = mpi_shm_alloc(sizeof(*r));

	if (r == NULL)
		MPI_ERR(-ENOMEM, "cannot map shared memory: %s",
			mp_strerror(-errno));
	return r;
}

void mp_rlock_free(mp_rlock_t *r)
{
	mpi_shm_free(r);
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
