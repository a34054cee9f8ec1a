#include "internal/clock.h"

#include <errno.h>
#include <math.h>

#include "internal/error.h"

uint64_t mp__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mp__timeout_check(double timeout, const char *what)
{
	if (timeout >= 0 || timeout == MP_FOREVER)
		return 0;
	return mp__why(-EINVAL,
		       "%s %g is invalid (use seconds >= 0, or MP_FOREVER)",
		       what, timeout);
}

uint64_t mp__timeout_ns(double timeout)
{
	uint64_t ns;

	if (isnan(timeout))
		return 0;
	if (timeout < 0 || timeout >= MP__TIMEOUT_CAP)
		return MP__NO_DEADLINE; /* forever, or centuries */
	ns = (uint64_t)(timeout * 1e9); /* < 1e18: fits */
	return ns == 0 && timeout > 0 ? 1 : ns;
}

uint64_t mp__option_timeout_ns(double timeout)
{
	return timeout == 0 ? MP__NO_DEADLINE : mp__timeout_ns(timeout);
}

uint64_t mp__deadline_in(uint64_t ns)
{
	uint64_t d;

	if (ns == MP__NO_DEADLINE ||
	    __builtin_add_overflow(mp__now_ns(), ns, &d) ||
	    d == MP__NO_DEADLINE)
		return MP__NO_DEADLINE;
	return d;
}

int mp__deadline(double timeout, uint64_t *deadline)
{
	int rc = mp__timeout_check(timeout, "timeout");

	if (rc < 0)
		return rc;
	*deadline = mp__deadline_in(mp__timeout_ns(timeout));
	return 0;
}

struct timespec *mp__remaining(uint64_t deadline, struct timespec *ts)
{
	uint64_t now, left;

	if (deadline == MP__NO_DEADLINE)
		return NULL;
	now = mp__now_ns();
	left = deadline > now ? deadline - now : 0;
	ts->tv_sec = (time_t)(left / 1000000000u);
	ts->tv_nsec = (long)(left % 1000000000u);
	return ts;
}

int mp__remaining_ms(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == MP__NO_DEADLINE)
		return -1;
	now = mp__now_ns();
	left = deadline > now ? deadline - now : 0;
	left = (left + 999999u) / 1000000u;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

bool mp__spin_until(bool (*done)(const void *arg), const void *arg,
		    uint64_t ns)
{
	uint64_t until = 0;

	for (unsigned i = 0; !done(arg); i++) {
		if ((i & 63) == 0) {
			uint64_t now = mp__now_ns();

			if (until == 0)
				until = now + ns;
			else if (now >= until)
				return false;
		}
		mp__cpu_relax();
	}
	return true;
}
