/*
 * internal/cond.h - pthread condition variables on CLOCK_MONOTONIC, waited
 * on until a deadline of internal/clock.h.
 */
#ifndef MPROC_INTERNAL_COND_H
#define MPROC_INTERNAL_COND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Initialise cv to time its waits on CLOCK_MONOTONIC: 0 or -errno. */
int mp__cond_init_monotonic(pthread_cond_t *cv);

/*
 * With mu held: wait on cv until pred(arg) holds (0) or the deadline
 * (mp__now_ns based; MP__NO_DEADLINE = none) passes first (-ETIMEDOUT).
 * pred is checked first, and again after the deadline, so a condition that
 * came true just in time wins.  cv must come from mp__cond_init_monotonic.
 */
int mp__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
			bool (*pred)(void *), void *arg, uint64_t deadline);

#endif
