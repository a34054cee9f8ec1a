/*
 * sync/sync_int.h - what the files of the sync module (and shm/value.c,
 * which builds Values on RLocks) share.
 *
 * Design notes.
 * - Every primitive is a few 32/64-bit words in (shared) memory, waited on
 *   with shared futexes: no kernel object, no fd, nothing to clean up.
 * - A Lock is the robust lock core of internal/lock.h (its design notes
 *   say how it is taken, released and taken over from a dead owner) on its
 *   _state word, plus a _dirty flag: set when the lock was taken over from
 *   a dead owner, cleared by mp_lock_consistent, and every acquire reports
 *   MP_EOWNERDEAD while it is set.
 * - The mp__* functions below are the internal layer (internal/error.h):
 *   they return a code and leave its reason with mp__why; the MP_API
 *   function the caller called writes the message (MP__RAISE).
 */
#ifndef MPROC_SYNC_INT_H
#define MPROC_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/lock.h"
#include "mproc/sync.h"

/*
 * A zeroed block of size bytes in the shared arena (every constructor of
 * sync and shm goes through it): 0 and *out, or -ENOMEM with its reason
 * ("cannot map N bytes of shared memory: ...") whatever the arena's errno.
 */
int mp__shared_new(size_t size, void **out);

/*
 * Lock / RLock / Semaphore operations as their MP_API functions, without
 * the NULL checks: 0, or a code with a reason left (-ETIMEDOUT,
 * MP_EOWNERDEAD with the lock held, -EINVAL for a bad timeout or a release
 * too many, -EPERM, -EOVERFLOW).
 */
int mp__lock_acquire(mp_lock_t *l, double timeout);
int mp__lock_release(mp_lock_t *l);
int mp__rlock_acquire(mp_rlock_t *r, double timeout);
int mp__rlock_release(mp_rlock_t *r);
int mp__semaphore_acquire(mp_semaphore_t *s, double timeout);
int mp__semaphore_release(mp_semaphore_t *s, unsigned n);

/* Word a BoundedSemaphore's "released too many times" as threading does
 * ("Semaphore released too many times"), as a manager's BoundedSemaphore
 * (a proxy to threading.BoundedSemaphore) raises it. */
void mp__semaphore_threading_wording(mp_semaphore_t *s);
/* Word a Lock's release when unlocked as threading.Lock does ("release
 * unlocked lock", still -EINVAL), as a manager's Lock raises it. */
void mp__lock_threading_wording(mp_lock_t *l);

/* Take a permit if one is free, never waiting and leaving no reason. */
bool mp__semaphore_try(mp_semaphore_t *s);

/*
 * A connected manager's sync object (manager/remote_sync.c: the handle
 * mp_manager_lock... give on a manager made by mp_manager_connect) is a
 * heap struct whose words are set so that every local fast path fails:
 * a Lock's or RLock's (and a Condition's or Barrier's own lock's) _state
 * is MP__SYNC_REMOTE, a Semaphore has _value 0 and MP__SEM_REMOTE in
 * _flags, an Event has _waiters MP__EVENT_REMOTE.  The functions see that
 * on their slow or cold paths (a Lock's release: one compare before the
 * exchange) and hand the call to mp__sync_remote, which sends it to the
 * server as CPython's proxies do.
 */
#define MP__SYNC_REMOTE UINT64_MAX
#define MP__SEM_REMOTE 2u
#define MP__EVENT_REMOTE UINT32_MAX

enum mp__sync_op {
	MP__SYNC_ACQUIRE,   /* timeout; 1 (not 0) when taken */
	MP__SYNC_RELEASE,   /* n: a Semaphore's permits */
	MP__SYNC_WAIT,      /* timeout; a Barrier's: the index */
	MP__SYNC_NOTIFY,    /* n (UINT32_MAX: notify_all) */
	MP__SYNC_SET,
	MP__SYNC_CLEAR,
	MP__SYNC_IS_SET,
	MP__SYNC_ABORT,
	MP__SYNC_RESET,
	MP__SYNC_PARTIES,
	MP__SYNC_N_WAITING,
	MP__SYNC_BROKEN,
	MP__SYNC_UNSERVED,  /* a query the proxies do not expose: -ENOTSUP */
	MP__SYNC_FREE,      /* the handle's _free: decref, release it */
};

/* Do op on a remote sync object (obj: the handle): the local function's
 * result, or a code with a reason left. */
int mp__sync_remote(const void *obj, enum mp__sync_op op, double timeout,
		    unsigned n);

static inline bool mp__sync_is_remote(const uint64_t *state)
{
	return __builtin_expect(__atomic_load_n(state, __ATOMIC_RELAXED) ==
				MP__SYNC_REMOTE, 0);
}

/* 1 if the calling thread holds the Lock. */
static inline int mp__lock_is_mine(const mp_lock_t *l)
{
	return mp__lock_mine(&l->_state);
}

#endif
