#include "internal/child.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/clock.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int mpi_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int mpi_wait_pidfd(int fd, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts;
	int rc;

	for (;;) {
		rc = ppoll(&pfd, 1, mpi_remaining(deadline, &ts), NULL);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int mpi_pidfd_reap(int fd, int *code, struct rusage *ru)
{
	struct rusage dummy;
	siginfo_t si;
	long rc;

	memset(&si, 0, sizeof(si));
	do
		rc = syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED | WNOHANG,
			     ru ? ru : &dummy);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	*code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	return 1;
}

int mpi_pidfd_signal(int fd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 &&
	    errno != ESRCH)
		return -errno;
	return 0;
}

/* Does fp hold bytes read ahead from its fd?  (glibc's FILE is public.) */
static bool has_readahead(FILE *fp)
{
#ifdef __GLIBC__
	return fp->_IO_read_ptr != fp->_IO_read_end;
#else
	(void)fp;
	return true;
#endif
}

void mpi_stdio_forget(bool in)
{
	/* __fpending first: a child usually finds nothing to discard and
	 * then writes nothing (no copy-on-write fault). */
	if (__fpending(stdout) > 0)
		__fpurge(stdout);
	if (__fpending(stderr) > 0)
		__fpurge(stderr);
	if (in && has_readahead(stdin))
		__fpurge(stdin);
}
