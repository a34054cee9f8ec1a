/*
 * sync/sync_int.h - what the files of the sync module share.
 *
 * Design notes.
 * - Every primitive is a few 32/64-bit words in (shared) memory, waited on
 *   with shared futexes: no kernel object, no fd, nothing to clean up.
 * - A Lock is the robust lock core of internal/lock.h (its design notes
 *   say how it is taken, released and taken over from a dead owner) on its
 *   _state word, plus a _dirty flag: set when the lock was taken over from
 *   a dead owner, cleared by mp_lock_consistent, and every acquire reports
 *   MP_EOWNERDEAD while it is set.  This file and sync/lock.c are the
 *   public face: they turn timeouts into deadlines and word the messages.
 */
#ifndef MPROC_SYNC_INT_H
#define MPROC_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/lock.h"
#include "mproc/sync.h"

/*
 * mp_lock_acquire / mp_rlock_acquire / mp_semaphore_acquire for the
 * library's own use: the same, with messages naming func (the public
 * function the caller called).
 */
int mpi_lock_acquire(mp_lock_t *l, double timeout, const char *func);
int mpi_lock_release(mp_lock_t *l, const char *func);
int mpi_rlock_acquire(mp_rlock_t *r, double timeout, const char *func);
int mpi_rlock_release(mp_rlock_t *r, const char *func);
int mpi_semaphore_acquire(mp_semaphore_t *s, double timeout, const char *func);

/* 1 if the calling thread holds the Lock. */
static inline int mpi_lock_is_mine(const mp_lock_t *l)
{
	return mpi_lock_mine(&l->_state);
}

#endif
