/*
 * internal/futex.h - waiting on a 32-bit word in shared memory.
 *
 * Shared (not FUTEX_PRIVATE) futexes, because the words live in MAP_SHARED
 * memory that several processes map.  mp__futex_wait sleeps while *word ==
 * expected, until woken, until the deadline (CLOCK_MONOTONIC, absolute; see
 * internal/clock.h), or spuriously: callers always re-check their condition
 * in a loop.
 */
#ifndef MPROC_INTERNAL_FUTEX_H
#define MPROC_INTERNAL_FUTEX_H

#include <stdint.h>

/*
 * Sleep while *word == expected.  Returns 0 when woken (or spuriously, or on
 * EINTR), -EAGAIN if *word != expected already, -ETIMEDOUT once the deadline
 * (MP__NO_DEADLINE for none) has passed.
 */
int mp__futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline);

/* Wake up to n waiters of word (INT32_MAX for all); returns how many woke. */
int mp__futex_wake(uint32_t *word, int n);

#endif
