/*
 * internal/cond.c - see cond.h.
 */
#include "internal/cond.h"

#include <errno.h>
#include <time.h>

#include "internal/clock.h"

int mp__cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	if ((rc = pthread_condattr_init(&ca)) != 0)
		return -rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return -rc;
}

int mp__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
			bool (*pred)(void *), void *arg, uint64_t deadline)
{
	struct timespec ts;

	while (!pred(arg)) {
		if (deadline == MP__NO_DEADLINE) {
			pthread_cond_wait(cv, mu);
			continue;
		}
		/* An absolute time on the monotonic clock (see init). */
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		if (pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT &&
		    !pred(arg))
			return -ETIMEDOUT;
	}
	return 0;
}
