/*
 * mproc/sync.h - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition
 * and Barrier shared by processes and threads (Python's multiprocessing
 * synchronisation primitives).
 *
 * Two forms of each primitive:
 * - handle form, mp_lock_new() / mp_lock_free(): the library places the
 *   object in shared memory; processes forked after the call share it.
 * - embeddable form, mp_lock_init() / mp_lock_destroy(): the object lives
 *   where the caller put it (like a pthread_mutex_t inside a struct): to be
 *   shared between processes that memory must be shared (mp_shared_alloc,
 *   a SharedMemory segment, any MAP_SHARED mapping).
 * The structs are public only so they can be embedded: never touch fields.
 * A third origin: the handles a connected manager gives (mp_manager_lock...
 * on a manager made by mp_manager_connect, manager.h) stand for objects in
 * that manager's server; the same functions reach them there (the local
 * fast paths are unchanged: such a handle only makes them fail over to
 * the remote call), and the _free functions let them go (decref).
 *
 * Owner death.  A Lock or RLock remembers which thread of which process holds
 * it.  If that thread or process dies holding it, the next acquirer gets the
 * lock with MP_EOWNERDEAD (within about 0.1 s of the death) instead of
 * waiting forever.  The data the lock protects may be half-updated: repair
 * it, then call mp_lock_consistent() (mp_rlock_consistent()); until someone
 * does, every acquirer gets MP_EOWNERDEAD (and holds the lock).  Semaphores,
 * Events and Barriers have no owner: permits a dead process held are lost, as
 * in CPython; a Barrier's waiters are freed by its timeout.
 *
 * Timeouts are seconds (MP_FOREVER blocks, 0 polls; NaN or another
 * negative value is -EINVAL, checked before anything else).  Every wait for
 * one thing (acquire, mp_event_wait, mp_condition_wait, _wait_for) returns
 * 0 when it happened and -ETIMEDOUT when the timeout passed first (timeout 0
 * included).  mp_barrier_wait is the one wait that returns a count: the
 * caller's arrival index, as CPython's Barrier.wait().  Predicates
 * (mp_lock_locked, mp_event_is_set, mp_barrier_broken) return 1 or 0, or
 * -EINVAL for NULL.  After a failure mp_last_error() names the function the
 * caller called; a call that succeeds leaves it untouched.
 * Thread/process safety: all functions are safe from any thread of any
 * process that shares the object.  Owners are identified by (pid, tid) and
 * checked with tgkill(): a pid and tid both reused within 0.1 s could hide a
 * death.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock ---- */

typedef struct mp_lock {
	uint64_t _state; /* owner (pid << 32 | tid), waiters bit; 0 = free */
	uint32_t _dirty; /* an owner died: state not marked consistent */
	uint32_t _flags; /* 1: threading's wording (a manager's Lock) */
} mp_lock_t;

/* Initialise / tear down a Lock the caller placed.  0, or -EINVAL for NULL. */
MP_API int mp_lock_init(mp_lock_t *l);
MP_API void mp_lock_destroy(mp_lock_t *l);

/*
 * A Lock in library shared memory; NULL on failure (-ENOMEM: no shared
 * memory could be mapped).  Free with mp_lock_free (NULL is a no-op).
 */
MP_API mp_lock_t *mp_lock_new(void);
MP_API void mp_lock_free(mp_lock_t *l);

/*
 * mp_lock_acquire - take the lock, waiting at most timeout seconds.
 * Returns 0; -ETIMEDOUT (timeout 0: it is held elsewhere); MP_EOWNERDEAD
 * when the lock is now held by the caller but its previous owner died
 * holding it; -EINVAL for NULL or a bad timeout.  A Lock is not re-entrant:
 * acquiring it twice in one thread waits for itself (until the timeout).
 */
MP_API int mp_lock_acquire(mp_lock_t *l, double timeout);

/*
 * mp_lock_release - release the lock.  Any thread or process may release a
 * held Lock (as in CPython).  -EINVAL if it is not held ("semaphore or lock
 * released too many times"; a manager's Lock, a proxy to threading.Lock in
 * CPython, says threading's "release unlocked lock").
 */
MP_API int mp_lock_release(mp_lock_t *l);

/*
 * Mark the state protected by the lock repaired after MP_EOWNERDEAD.
 * -EPERM if the calling thread does not hold it.
 */
MP_API int mp_lock_consistent(mp_lock_t *l);

/*
 * 1 if the lock is held (by anyone), else 0; -EINVAL for NULL; -ENOTSUP
 * for a Lock of a connected manager (its proxy does not expose this).
 */
MP_API int mp_lock_locked(const mp_lock_t *l);

/* ---- RLock ---- */

typedef struct mp_rlock {
	mp_lock_t _lock;
	uint32_t _count; /* recursion depth, written only by the owner */
	uint32_t _pad;
} mp_rlock_t;

/*
 * Initialise / tear down an RLock the caller placed, or make / free one in
 * library shared memory, as for a Lock.  mp_rlock_init returns 0, or -EINVAL
 * for NULL; mp_rlock_new returns NULL on failure (-ENOMEM);
 * mp_rlock_free(NULL) is a no-op.
 */
MP_API int mp_rlock_init(mp_rlock_t *r);
MP_API void mp_rlock_destroy(mp_rlock_t *r);
MP_API mp_rlock_t *mp_rlock_new(void);
MP_API void mp_rlock_free(mp_rlock_t *r);

/*
 * mp_rlock_acquire - take the lock; the owning thread may take it again (each
 * acquire needs a release).  Same returns as mp_lock_acquire (a bad timeout
 * is -EINVAL also for the owner taking it again), and -EOVERFLOW when the
 * owner already holds it INT32_MAX times.
 */
MP_API int mp_rlock_acquire(mp_rlock_t *r, double timeout);

/*
 * mp_rlock_release - undo one acquire.  -EPERM if the calling thread does not
 * own it ("cannot release un-acquired lock").
 */
MP_API int mp_rlock_release(mp_rlock_t *r);

/*
 * Mark the state protected by the RLock repaired after MP_EOWNERDEAD.
 * -EPERM if the calling thread does not hold it.
 */
MP_API int mp_rlock_consistent(mp_rlock_t *r);

/*
 * The recursion depth if the calling thread owns the lock, else 0.
 * -EINVAL for NULL; -ENOTSUP for an RLock of a connected manager.
 */
MP_API int mp_rlock_count(const mp_rlock_t *r);

/* ---- Semaphore and BoundedSemaphore ---- */

typedef struct mp_semaphore {
	uint32_t _value;
	uint32_t _waiters;
	uint32_t _max; /* 0: unbounded; else a BoundedSemaphore's bound */
	uint32_t _flags; /* 1: threading's wording (a manager's) */
} mp_semaphore_t;

/* Options of a Semaphore; NULL or all-zero: a plain Semaphore. */
typedef struct mp_semaphore_opts {
	bool bounded; /* BoundedSemaphore: release above the initial value fails */
} mp_semaphore_opts_t;

/*
 * Initialise / tear down a Semaphore(value) the caller placed, or make / free
 * one in library shared memory; opts->bounded makes it a
 * BoundedSemaphore(value).  -EINVAL (NULL from mp_semaphore_new) for NULL,
 * value > INT32_MAX, or a BoundedSemaphore of value 0 (it could never be
 * released); mp_semaphore_new also fails with -ENOMEM.
 * mp_semaphore_free(NULL) is a no-op.
 */
MP_API int mp_semaphore_init(mp_semaphore_t *s, unsigned value,
			     const mp_semaphore_opts_t *opts);
MP_API void mp_semaphore_destroy(mp_semaphore_t *s);
MP_API mp_semaphore_t *mp_semaphore_new(unsigned value,
					const mp_semaphore_opts_t *opts);
MP_API void mp_semaphore_free(mp_semaphore_t *s);

/* Take one permit, waiting at most timeout: 0 or -ETIMEDOUT; -EINVAL for a
 * bad timeout (NaN, negative other than MP_FOREVER), even when a permit is
 * free. */
MP_API int mp_semaphore_acquire(mp_semaphore_t *s, double timeout);

/*
 * mp_semaphore_release - give back n permits (n >= 1), waking up to n
 * waiters.  -EINVAL if a BoundedSemaphore would go above its initial value
 * ("semaphore or lock released too many times"; nothing is released then).
 */
MP_API int mp_semaphore_release(mp_semaphore_t *s, unsigned n);

/*
 * The current value (free permits).  -EINVAL for NULL; -ENOTSUP for a
 * Semaphore of a connected manager (its proxy does not expose this).
 */
MP_API int mp_semaphore_get_value(const mp_semaphore_t *s);

/* ---- Event ---- */

typedef struct mp_event {
	uint32_t _flag;
	uint32_t _waiters;
} mp_event_t;

/*
 * Initialise / tear down an Event the caller placed (its flag clear), or
 * make / free one in library shared memory.  mp_event_init returns 0, or
 * -EINVAL for NULL; mp_event_new returns NULL on failure (-ENOMEM);
 * mp_event_free(NULL) is a no-op.
 */
MP_API int mp_event_init(mp_event_t *e);
MP_API void mp_event_destroy(mp_event_t *e);
MP_API mp_event_t *mp_event_new(void);
MP_API void mp_event_free(mp_event_t *e);

/* Set the flag and wake every waiter.  0, or -EINVAL for NULL. */
MP_API int mp_event_set(mp_event_t *e);
/* Clear the flag.  0, or -EINVAL for NULL. */
MP_API int mp_event_clear(mp_event_t *e);
/* 1 if the flag is set, else 0; -EINVAL for NULL. */
MP_API int mp_event_is_set(const mp_event_t *e);
/*
 * mp_event_wait - wait until the flag is set.  0 once it is (at once if it
 * already is), -ETIMEDOUT when the timeout passed first (timeout 0: it is
 * not set); -EINVAL for NULL or a bad timeout, even when the flag is set.
 * (CPython's wait returns True / False.)
 */
MP_API int mp_event_wait(mp_event_t *e, double timeout);

/* ---- Condition ---- */

typedef struct mp_condition {
	mp_lock_t *_lock;   /* the Lock it uses, or NULL */
	mp_rlock_t *_rlock; /* the RLock it uses; NULL: _own (or _lock) */
	mp_rlock_t _own;
	mp_semaphore_t _sleeping, _woken, _wait;
} mp_condition_t;

/*
 * Options of a Condition: the lock it is built on (at most one of the two,
 * in memory shared like the Condition itself); both NULL: its own RLock.
 */
typedef struct mp_condition_opts {
	mp_lock_t *lock;
	mp_rlock_t *rlock;
} mp_condition_opts_t;

/*
 * Initialise / tear down a Condition the caller placed, or make / free one
 * in library shared memory; opts may be NULL (its own RLock).
 * mp_condition_init returns 0, or -EINVAL for NULL or when opts gives both a
 * lock and an rlock; mp_condition_new returns NULL on failure (the same, or
 * -ENOMEM);
 * mp_condition_free(NULL) is a no-op.
 */
MP_API int mp_condition_init(mp_condition_t *c, const mp_condition_opts_t *opts);
MP_API void mp_condition_destroy(mp_condition_t *c);
MP_API mp_condition_t *mp_condition_new(const mp_condition_opts_t *opts);
MP_API void mp_condition_free(mp_condition_t *c);

/* Acquire / release the underlying lock (same returns as the lock's). */
MP_API int mp_condition_acquire(mp_condition_t *c, double timeout);
MP_API int mp_condition_release(mp_condition_t *c);

/*
 * mp_condition_wait - release the lock (all levels of an RLock), wait for a
 * notify or the timeout, and re-acquire the lock.  Returns 0 if notified,
 * -ETIMEDOUT when the timeout passed first (the lock is held again in both
 * cases), -EPERM if the caller does not hold the lock ("must acquire()
 * condition before using wait()"), MP_EOWNERDEAD if re-acquiring found a
 * dead owner (the lock is held then), -EINVAL for NULL or a bad timeout.
 * (CPython's wait returns True / False.)
 */
MP_API int mp_condition_wait(mp_condition_t *c, double timeout);

/* A predicate for mp_condition_wait_for: non-zero when it holds. */
typedef int (*mp_condition_pred_fn)(void *arg);

/*
 * mp_condition_wait_for - wait until pred(arg) holds (checked first, then
 * after every wake-up), at most timeout seconds in all.  Returns 0 when it
 * holds, -ETIMEDOUT when it is still false after the timeout (CPython
 * returns the predicate's last value), or a negative error as
 * mp_condition_wait.  The lock is held on return, as after a wait.
 */
MP_API int mp_condition_wait_for(mp_condition_t *c, mp_condition_pred_fn pred,
				 void *arg, double timeout);

/*
 * mp_condition_notify - wake up to n waiters (exactly n when n are waiting);
 * mp_condition_notify_all wakes them all.  -EPERM if the caller does not hold
 * the lock ("lock is not owned").
 */
MP_API int mp_condition_notify(mp_condition_t *c, unsigned n);
MP_API int mp_condition_notify_all(mp_condition_t *c);

/* ---- Barrier ---- */

/* A Barrier's action: run by exactly one waiter per cycle; non-zero breaks it. */
typedef int (*mp_barrier_action_fn)(void *arg);

typedef struct mp_barrier_opts {
	mp_barrier_action_fn action; /* NULL: none */
	void *action_arg;
	double timeout; /* default for waits; 0 (the zero default) or
			 * MP_FOREVER: no limit */
} mp_barrier_opts_t;

typedef struct mp_barrier {
	mp_lock_t _lock;
	uint32_t _seq; /* bumped (and futex-woken) on every state change */
	uint32_t _parties;
	uint32_t _count;
	int32_t _state; /* 0 filling, 1 draining, -1 resetting, -2 broken */
	mp_barrier_action_fn _action;
	void *_action_arg;
	double _timeout;
} mp_barrier_t;

/* Use the Barrier's own default timeout in mp_barrier_wait. */
#define MP_BARRIER_DEFAULT (-2.0)

/*
 * Initialise / tear down a Barrier for `parties` callers that the caller
 * placed, or make / free one in library shared memory; opts may be NULL.
 * -EINVAL (NULL from mp_barrier_new) for parties 0 (CPython accepts
 * Barrier(0); it can never trip) or over INT32_MAX, or an opts->timeout that
 * is NaN or negative other than MP_FOREVER; mp_barrier_new also fails with
 * -ENOMEM.  mp_barrier_free(NULL) is a no-op.
 */
MP_API int mp_barrier_init(mp_barrier_t *b, unsigned parties,
			   const mp_barrier_opts_t *opts);
MP_API void mp_barrier_destroy(mp_barrier_t *b);
MP_API mp_barrier_t *mp_barrier_new(unsigned parties,
				    const mp_barrier_opts_t *opts);
MP_API void mp_barrier_free(mp_barrier_t *b);

/*
 * mp_barrier_wait - wait until `parties` callers are waiting, then release
 * them all.  The one wait of this header that returns a count: the
 * caller's arrival index, 0 .. parties-1 (distinct in each cycle), as
 * CPython's Barrier.wait().  MP_EBARRIER if the barrier is or gets broken: by
 * abort(), by an action that failed, or by a timeout (which breaks it for
 * every waiter, as CPython's BrokenBarrierError; there is no -ETIMEDOUT).
 * timeout may be MP_BARRIER_DEFAULT: the barrier's opts->timeout (0 or
 * MP_FOREVER there: no limit).  -EINVAL for NULL or a bad timeout.
 */
MP_API int mp_barrier_wait(mp_barrier_t *b, double timeout);

/* Break the barrier: current and future waiters get MP_EBARRIER. */
MP_API int mp_barrier_abort(mp_barrier_t *b);

/* Back to the initial state; current waiters get MP_EBARRIER. */
MP_API int mp_barrier_reset(mp_barrier_t *b);

/* parties, waiters now, and whether it is broken (1/0); -EINVAL for NULL. */
MP_API int mp_barrier_parties(const mp_barrier_t *b);
MP_API int mp_barrier_n_waiting(const mp_barrier_t *b);
MP_API int mp_barrier_broken(const mp_barrier_t *b);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SYNC_H */
