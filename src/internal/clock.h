/*
 * internal/clock.h - timeouts and deadlines on CLOCK_MONOTONIC.
 *
 * Every `double timeout` of the library (arguments and option fields) goes
 * through mp__timeout_check and mp__timeout_ns: one place decides that
 * MP_FOREVER, +inf and anything of MP__TIMEOUT_CAP seconds or more mean "no
 * limit", so a huge timeout can never wrap into an instant one.
 *
 * A wait turns its relative timeout into an absolute deadline once, then
 * asks for the time left after every EINTR or spurious wake-up, so a signal
 * neither shortens nor lengthens the wait.
 */
#ifndef MPROC_INTERNAL_CLOCK_H
#define MPROC_INTERNAL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MP__NO_DEADLINE UINT64_MAX

/* Timeouts of this many seconds (about 31.7 years) or more never expire. */
#define MP__TIMEOUT_CAP 1e9

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mp__now_ns(void);

/*
 * Validate a timeout: 0 for seconds >= 0 (+inf included) and MP_FOREVER;
 * -EINVAL for NaN or any other negative value, with the reason
 * "<what> <value> is invalid (...)" (what: "timeout", "opts->task_timeout",
 * ...) for the public caller's MP__RAISE.
 */
int mp__timeout_check(double timeout, const char *what);

/*
 * Seconds to nanoseconds, total: MP__NO_DEADLINE ("no limit") for
 * MP_FOREVER or any negative value, +inf and everything from
 * MP__TIMEOUT_CAP up; at least 1 for any positive value (a tiny timeout is
 * still a timeout); 0 for 0, and for NaN (which mp__timeout_check rejects
 * first: a NaN that slipped through polls rather than hangs).
 */
uint64_t mp__timeout_ns(double timeout);

/*
 * A timeout held in an option field (common.h): 0, MP_FOREVER and every
 * other "no limit" value give MP__NO_DEADLINE; otherwise mp__timeout_ns.
 * Check it with mp__timeout_check first.
 */
uint64_t mp__option_timeout_ns(double timeout);

/* now + ns, MP__NO_DEADLINE for ns == MP__NO_DEADLINE (saturating). */
uint64_t mp__deadline_in(uint64_t ns);

/*
 * mp__timeout_check, then the deadline: MP__NO_DEADLINE for no limit.
 * Returns 0, or -EINVAL (with a reason for MP__RAISE).
 */
int mp__deadline(double timeout, uint64_t *deadline);

/*
 * Time left until a deadline: fills *ts and returns it, or returns NULL for
 * MP__NO_DEADLINE.  A passed deadline gives a zero timespec.
 */
struct timespec *mp__remaining(uint64_t deadline, struct timespec *ts);

/* Same in milliseconds for poll(): -1 for no deadline, rounded up. */
int mp__remaining_ms(uint64_t deadline);

/* One pause of a spin-wait loop (a no-op where the CPU has none). */
static inline void mp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Spin (no lock, no syscall) until done(arg) is true, for at most ns: true
 * once done.  The clock is read every 64 rounds only.
 */
bool mp__spin_until(bool (*done)(const void *arg), const void *arg,
		    uint64_t ns);

static inline bool mp__expired(uint64_t deadline)
{
	return deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline;
}

#endif
