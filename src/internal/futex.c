#include "internal/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/clock.h"

int mp__futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline)
{
	struct timespec ts, *tp = NULL;
	long rc;

	if (deadline != MP__NO_DEADLINE) {
		if (mp__expired(deadline))
			return -ETIMEDOUT;
		/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		tp = &ts;
	}
	rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tp, NULL,
		     FUTEX_BITSET_MATCH_ANY);
	if (rc == 0)
		return 0;
	if (errno == EAGAIN)
		return -EAGAIN;
	if (errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0; /* EINTR: the caller re-checks and waits again */
}

int mp__futex_wake(uint32_t *word, int n)
{
	long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);

	return rc < 0 ? 0 : (int)rc;
}
