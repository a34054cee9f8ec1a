/*
 * internal/ring_wait.h - the ring's side locks and its sleep and wake
 * protocol (ring_wait.c), for ring.c and ring_get.c alone: the lock bits
 * and the fast give, inline; the slow paths, waits and wakes.  Design
 * notes: ring.h, and below.
 */
#ifndef MPROC_INTERNAL_RING_WAIT_H
#define MPROC_INTERNAL_RING_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/lock.h"
#include "internal/ring.h"

/* ---- the side locks ----
 * The word of internal/lock.h (0 free, else pid << 32 | tid, and
 * MP__LOCK_WAITERS) with two more bits, so that a message costs one locked
 * instruction per side, the take's CAS, as a lock-free claim would:
 * - A fast put or get takes its lock by a CAS from 0 (mp__lock_try) and
 *   gives it back by a plain release store of 0.  While a lock is held so
 *   (short), no other process writes its word: lock waiters and the other
 *   side's sleepers only look at it, a few hundred pauses, then sleep on
 *   it (flagged in the word after it, which the give looks at after its
 *   store: see wait_short in ring_wait.c) until it is given or its owner is found dead
 *   (checked every MP__OWNER_CHECK_NS, then taken over as mp__lock_wait
 *   does).
 * - Any other path holds its lock the long way (RL_LONG): lock waiters set
 *   MP__LOCK_WAITERS and sleep on the word, and the give is an atomic
 *   exchange of the bits that wakes them.
 * - RL_PEER: a sleeper of the other side (a consumer waiting for data on
 *   plock, a producer waiting for room or below maxsize on clock) set it,
 *   when the word was free or held long, before its last look.  A fast
 *   take fails while it is set, so the put or get goes the long way, wakes
 *   the sleeper and then clears the bit (wake_peer: only after the wake,
 *   so a waker killed before waking leaves it to the next one; set again
 *   if the sleeper went back to sleep meanwhile).  The sleeper clears it
 *   too when it stops waiting.  So no wake-up is lost, and a fast put or
 *   get checks for sleepers with no load and no fence.
 */
#define RL_LONG MP__RING_LONG
#define RL_PEER MP__RING_PEER
#define RL_BITS (MP__LOCK_WAITERS | RL_LONG | RL_PEER)
#define BATCH_BYTES 2048u /* a side that ran dry waits for this much */

/* Set while someone sleeps on a lock held short: the word after the lock
 * (pwant, cwant), on the holder's own cache line. */
static inline uint32_t *want_of(uint64_t *lock)
{
	return (uint32_t *)(void *)(lock + 1);
}

_Static_assert(offsetof(struct mp__ring, pwant) ==
		       offsetof(struct mp__ring, plock) + 8 &&
	       offsetof(struct mp__ring, cwant) ==
		       offsetof(struct mp__ring, clock) + 8,
	       "want_of: the sleepers' flag follows its lock");

/* Wake those sleeping on lock held short, clearing the flag (the cold end
 * of give_short). */
void mp__ring_wake_want(uint64_t *lock);

/* Give a lock taken by mp__lock_try and held short: a plain store, then
 * a look (no fence) at the sleepers' flag (see wait_short). */
static inline void give_short(uint64_t *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* the look after the store */
	if (__builtin_expect(__atomic_load_n(want_of(lock), __ATOMIC_RELAXED), 0))
		mp__ring_wake_want(lock);
}

/* The short holder turns to the long way (the lock waiters that slept
 * on it held short look again). */
void mp__ring_go_long(uint64_t *lock);

/* Is the owner recorded in lock word v dead (no owner: no)? */
bool mp__ring_owner_dead(uint64_t v);

/* Take a side's lock the long way, waiting until deadline: 0,
 * MP_EOWNERDEAD (taken over from a dead owner: the caller repairs),
 * -ETIMEDOUT. */
int mp__ring_take_long(uint64_t *lock, uint64_t deadline);

/* The holder (the long way) of lock found RL_PEER in it: wake the
 * sleeper on seq (the value it sleeps on in *sleep), then clear the bit. */
void mp__ring_wake_peer(uint64_t *lock, uint32_t *seq, uint32_t *sleep);

/* Give a side's lock held long, waking the other side's sleeper. */
void mp__ring_give_waking(uint64_t *lock, uint32_t *seq, uint32_t *sleep);

/* Spin a little, then sleep on seq (counted in waiters, the value slept
 * on in *sleep, RL_PEER set in the other side's lock word peer) unless
 * ready(r, arg) turns true: 0 to look again, or -ETIMEDOUT. */
int mp__ring_sleep_on(struct mp__ring *r, uint32_t *seq, uint32_t *waiters,
		      uint32_t *sleep, uint64_t *peer,
		      bool (*ready)(struct mp__ring *, void *), void *arg,
		      uint64_t deadline, bool big);

/* A side that ran dry waits for the other side's index *idx (last seen
 * last) to reach target, while it moves; *stream (or NULL): the other side
 * was streaming at the last such wait (no shortcut for a lone message). */
void mp__ring_batch_wait(const uint64_t *idx, uint64_t last, uint64_t target,
			 uint64_t deadline, uint32_t *stream);

#endif
