#include "internal/clock.h"

#include <errno.h>
#include <math.h>

#include "internal/error.h"

uint64_t mpi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mpi_deadline(double timeout, const char *func, uint64_t *deadline)
{
	if (isnan(timeout) || (timeout < 0 && timeout != MP_FOREVER))
		return mpi_error(-EINVAL, func,
				 "timeout %g is invalid (use seconds >= 0, or "
				 "MP_FOREVER)",
				 timeout);
	if (timeout < 0 || timeout >= 1e9) { /* forever, or centuries */
		*deadline = MPI_NO_DEADLINE;
		return 0;
	}
	*deadline = mpi_now_ns() + (uint64_t)(timeout * 1e9);
	return 0;
}

struct timespec *mpi_remaining(uint64_t deadline, struct timespec *ts)
{
	uint64_t now, left;

	if (deadline == MPI_NO_DEADLINE)
		return NULL;
	now = mpi_now_ns();
	left = deadline > now ? deadline - now : 0;
	ts->tv_sec = (time_t)(left / 1000000000u);
	ts->tv_nsec = (long)(left % 1000000000u);
	return ts;
}

int mpi_remaining_ms(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == MPI_NO_DEADLINE)
		return -1;
	now = mpi_now_ns();
	left = deadline > now ? deadline - now : 0;
	left = (left + 999999u) / 1000000u;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}
