/*
 * internal/clock.h - deadlines on CLOCK_MONOTONIC.
 *
 * A wait turns its relative `double timeout` into an absolute deadline once,
 * then asks for the time left after every EINTR or spurious wake-up, so a
 * signal neither shortens nor lengthens the wait.
 */
#ifndef MPROC_INTERNAL_CLOCK_H
#define MPROC_INTERNAL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MPI_NO_DEADLINE UINT64_MAX

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mpi_now_ns(void);

/*
 * Validate a timeout and turn it into a deadline: MP_FOREVER (and +inf) give
 * MPI_NO_DEADLINE.  Returns 0, or -EINVAL (message names `func`) for NaN or a
 * negative value other than MP_FOREVER.
 */
int mpi_deadline(double timeout, const char *func, uint64_t *deadline);

/*
 * Time left until a deadline: fills *ts and returns it, or returns NULL for
 * MPI_NO_DEADLINE.  A passed deadline gives a zero timespec.
 */
struct timespec *mpi_remaining(uint64_t deadline, struct timespec *ts);

/* Same in milliseconds for poll(): -1 for no deadline, rounded up. */
int mpi_remaining_ms(uint64_t deadline);

static inline bool mpi_expired(uint64_t deadline)
{
	return deadline != MPI_NO_DEADLINE && mpi_now_ns() >= deadline;
}

#endif
