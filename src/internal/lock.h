/*
 * internal/lock.h - the robust lock core: one 64-bit word in (shared)
 * memory, taken by one CAS, given back by one exchange, taken over when its
 * owner dies.  The public Lock and RLock (sync/lock.c) and the ring's
 * producer and consumer locks (internal/ring.c) are made of it.
 *
 * Design notes.
 * - The state is 0 when free, else (owner pid << 32 | owner tid) with
 *   MP__LOCK_WAITERS set once someone sleeps on it.  Storing the pid with
 *   the tid in one atomic word means a waiter always sees a whole owner.
 *   The futex is the word's low 32-bit half (owner tid + waiters bit).
 * - The uncontended path (mp__lock_try, mp__lock_give) is inline: one CAS,
 *   one exchange, a futex wake only when the waiters bit was set.
 * - Owner death: a sleeper wakes at least every MP__OWNER_CHECK_NS to ask
 *   tgkill(pid, tid, 0) (and /proc, for zombies) whether the owner thread
 *   still exists; if not, it takes the lock over with a CAS from the state
 *   it saw and reports MP_EOWNERDEAD.  Uncontended take/give never pays for
 *   that.
 * - The sleeper that gets the lock after a wait takes it with the waiters
 *   bit set, since other sleepers may remain (no lost wake-up).
 * - Nothing here writes the error message (mp_last_error): callers word
 *   their failures, naming their own public function.  Whether the state
 *   the lock protects is consistent after a take-over is the caller's
 *   business too (the public Lock keeps a dirty flag; the ring repairs its
 *   indexes at once).
 */
#ifndef MPROC_INTERNAL_LOCK_H
#define MPROC_INTERNAL_LOCK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/futex.h"

#define MP__LOCK_WAITERS ((uint64_t)1 << 31)
#define MP__OWNER_CHECK_NS 100000000u /* 0.1 s */

/* The calling thread's id, 0 until first asked (and again after fork). */
extern _Thread_local uint64_t mp__self_id_cache
	__attribute__((tls_model("initial-exec"), visibility("hidden")));
uint64_t mp__self_id_init(void);
/* Forget the cached id: for a child made without fork's atfork handlers
 * (clone), before it takes any lock. */
void mp__self_id_forget(void);

/* This thread as a lock owner: (pid << 32 | tid), cached, fork-safe. */
static inline uint64_t mp__self_id(void)
{
	uint64_t id = mp__self_id_cache;

	return __builtin_expect(id != 0, 1) ? id : mp__self_id_init();
}

/* The 32-bit futex word inside a 64-bit state (its low half). */
static inline uint32_t *mp__low_word(uint64_t *state)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t *)state;
#else
	return (uint32_t *)state + 1;
#endif
}

/* Take the lock if it is free (one CAS, no wait): true if taken. */
static inline bool mp__lock_try(uint64_t *state)
{
	uint64_t zero = 0;

	return __atomic_compare_exchange_n(state, &zero, mp__self_id(), false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * The contended path: wait for the lock until deadline (absolute, see
 * internal/clock.h; 0 = do not wait), checking the owner's life now and
 * then.  0 when taken; MP_EOWNERDEAD when taken over from a dead owner
 * (*dead, if not NULL, receives that owner's id: pid << 32 | tid);
 * -ETIMEDOUT.
 */
int mp__lock_wait(uint64_t *state, uint64_t deadline, uint64_t *dead);

/* mp__lock_try, else mp__lock_wait: 0, MP_EOWNERDEAD or -ETIMEDOUT. */
static inline int mp__lock_take(uint64_t *state, uint64_t deadline)
{
	if (__builtin_expect(mp__lock_try(state), 1))
		return 0;
	return mp__lock_wait(state, deadline, NULL);
}

/* Release, waking one sleeper if any: 0, or -EINVAL if it was free. */
static inline int mp__lock_give(uint64_t *state)
{
	uint64_t old = __atomic_exchange_n(state, 0, __ATOMIC_SEQ_CST);

	if (__builtin_expect(old == 0, 0))
		return -EINVAL;
	if (old & MP__LOCK_WAITERS)
		mp__futex_wake(mp__low_word(state), 1);
	return 0;
}

/* True if the calling thread holds the lock. */
static inline bool mp__lock_mine(const uint64_t *state)
{
	return (__atomic_load_n(state, __ATOMIC_RELAXED) & ~MP__LOCK_WAITERS) ==
	       mp__self_id();
}

/* True if the lock is held by a thread that no longer runs. */
bool mp__lock_owner_dead(const uint64_t *state);

#endif
