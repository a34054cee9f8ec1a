/*
 * sync/sync_int.h - what the files of the sync module share.
 *
 * Design notes.
 * - Every primitive is a few 32/64-bit words in (shared) memory, waited on
 *   with shared futexes: no kernel object, no fd, nothing to clean up.
 * - A Lock's 64-bit state is 0 when free, else (owner pid << 32 | owner tid)
 *   with MPI_WAITERS set once someone sleeps on it.  One CAS takes it, one
 *   exchange releases it (waking a sleeper only when the bit was set).  The
 *   futex is the low 32-bit half (owner tid + waiters bit).  Storing the pid
 *   with the tid in one atomic word means a waiter always sees a whole owner.
 * - Owner death: a sleeper wakes at least every MPI_OWNER_CHECK_NS to ask
 *   tgkill(pid, tid, 0) whether the owner thread still exists; if not, it
 *   takes the lock over with a CAS from the state it saw and reports
 *   MP_EOWNERDEAD.  Uncontended acquire/release never pays for that.
 * - The sleeper that gets the lock after a wait takes it with the waiters
 *   bit set, since other sleepers may remain (no lost wake-up).
 */
#ifndef MPROC_SYNC_INT_H
#define MPROC_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/sync.h"

#define MPI_WAITERS ((uint64_t)1 << 31)
#define MPI_OWNER_CHECK_NS 100000000u /* 0.1 s */

/* This thread as a lock owner: (pid << 32 | tid), cached, fork-safe. */
uint64_t mpi_self_id(void);

/* The 32-bit futex word inside a 64-bit state (its low half). */
static inline uint32_t *mpi_low_word(uint64_t *state)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t *)state;
#else
	return (uint32_t *)state + 1;
#endif
}

/*
 * mp_lock_acquire / mp_rlock_acquire / mp_semaphore_acquire for the
 * library's own use: the same, with messages naming func (the public
 * function the caller called).
 */
int mpi_lock_acquire(mp_lock_t *l, double timeout, const char *func);
int mpi_rlock_acquire(mp_rlock_t *r, double timeout, const char *func);
int mpi_rlock_release(mp_rlock_t *r, const char *func);
int mpi_semaphore_acquire(mp_semaphore_t *s, double timeout, const char *func);

/* True if the Lock is held by a thread that no longer runs. */
bool mpi_lock_owner_dead(const mp_lock_t *l);

/* 1 if the calling thread holds the Lock. */
static inline int mpi_lock_is_mine(const mp_lock_t *l)
{
	return (__atomic_load_n(&l->_state, __ATOMIC_RELAXED) & ~MPI_WAITERS) ==
	       mpi_self_id();
}

#endif
