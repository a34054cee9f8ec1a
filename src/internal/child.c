#include "internal/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/hot.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* How long an exit pipe's hang-up may precede the child's zombie. */
enum { EXIT_GRACE_NS = 5000000 };

/* 0: not probed yet, 1: pidfds work, 2: the fallback. */
static int pidfd_state;

bool mp__have_pidfd(void)
{
	int state = __atomic_load_n(&pidfd_state, __ATOMIC_RELAXED);

	if (state == 0) {
		const char *no = getenv("MP_NO_PIDFD");
		int fd = -1;

		if (no != NULL && *no != '\0' && strcmp(no, "0") != 0)
			state = 2;
		else if ((fd = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0 &&
			 errno == ENOSYS)
			state = 2;
		else
			state = 1; /* EMFILE and the like: it exists */
		if (fd >= 0)
			close(fd);
		__atomic_store_n(&pidfd_state, state, __ATOMIC_RELAXED);
	}
	return state == 1;
}

int mp__pidfd_open(pid_t pid)
{
	if (!mp__have_pidfd()) {
		errno = ENOSYS;
		return -1;
	}
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Has child pid ended (not reaped)?  1, 0, or -errno (ECHILD: reaped by
 * someone else, which counts as ended). */
static int pid_ended(pid_t pid, int flags)
{
	siginfo_t si;
	int rc;

	memset(&si, 0, sizeof(si));
	do
		rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | flags);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return errno == ECHILD ? 1 : MP__WHY_SYS("waitid");
	return si.si_pid != 0;
}

/* Fallback: wait on the pid itself. */
static int wait_pid(pid_t pid, uint64_t deadline)
{
	uint64_t nap = 100000; /* ns: 0.1 ms, doubling up to 10 ms */
	int rc;

	if (deadline == MP__NO_DEADLINE) {
		rc = pid_ended(pid, 0); /* blocks */
		return rc < 0 ? rc : 0;
	}
	while ((rc = pid_ended(pid, WNOHANG)) == 0) {
		uint64_t now = mp__now_ns();
		struct timespec ts;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (nap > deadline - now)
			nap = deadline - now;
		ts.tv_sec = (time_t)(nap / 1000000000u);
		ts.tv_nsec = (long)(nap % 1000000000u);
		nanosleep(&ts, NULL);
		if (nap < 10000000)
			nap *= 2;
	}
	return rc < 0 ? rc : 0;
}

int mp__child_wait(const struct mp__child *c, uint64_t deadline)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	pid_t pid = c->pid;
	struct timespec ts;
	uint64_t grace;
	int rc;

	if (c->fd < 0)
		return wait_pid(pid, deadline);
	for (;;) {
		rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
		if (rc > 0)
			break;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return MP__WHY_SYS("ppoll");
	}
	if (mp__have_pidfd() || pid_ended(pid, WNOHANG) != 0)
		return 0;
	/* The exit pipe hangs up as the child releases its files, a moment
	 * before it can be reaped (or long before, if it closed the pipe or
	 * exec'd): wait on the pid, allowing that moment past the deadline. */
	grace = mp__now_ns() + EXIT_GRACE_NS;
	return wait_pid(pid, deadline > grace ? deadline : grace);
}

int mp__child_reap(const struct mp__child *c, int *code, struct rusage *ru)
{
	struct rusage dummy;
	siginfo_t si;
	long rc;

	memset(&si, 0, sizeof(si));
	do
		rc = mp__have_pidfd() && c->fd >= 0
			     ? syscall(SYS_waitid, P_PIDFD, c->fd, &si,
				       WEXITED | WNOHANG, ru ? ru : &dummy)
			     : syscall(SYS_waitid, P_PID, c->pid, &si,
				       WEXITED | WNOHANG, ru ? ru : &dummy);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return MP__WHY_SYS("waitid");
	if (si.si_pid == 0)
		return 0;
	*code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	return 1;
}

int mp__signal_check(int sig)
{
	if (sig < 0 || sig >= NSIG)
		return mp__why(-EINVAL, "signal %d is not a valid signal", sig);
	return 0;
}

int mp__child_signal(const struct mp__child *c, int sig)
{
	bool by_fd = mp__have_pidfd() && c->fd >= 0;
	long rc;

	if (mp__signal_check(sig) < 0)
		return -EINVAL;
	rc = by_fd ? syscall(SYS_pidfd_send_signal, c->fd, sig, NULL, 0)
		   : kill(c->pid, sig);
	if (rc < 0 && errno != ESRCH)
		return mp__why(-errno, "%s(%d): %s",
			       by_fd ? "pidfd_send_signal" : "kill", sig,
			       mp_strerror(-errno));
	return 0;
}

void mp__child_reap_wait(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void mp__child_kill_reap(const struct mp__child *c)
{
	mp__child_signal(c, SIGKILL);
	mp__child_reap_wait(c->pid);
}

int mp__child_watch(struct mp__child *c, pid_t pid, int exitp[2])
{
	int fd = exitp[0];

	if (exitp[1] >= 0)
		close(exitp[1]);
	exitp[0] = exitp[1] = -1;
	if (fd < 0 && (fd = mp__pidfd_open(pid)) < 0) {
		int rc = MP__WHY_SYS("pidfd_open");

		mp__child_kill_reap(&(struct mp__child){.pid = pid, .fd = -1});
		return rc;
	}
	c->pid = pid;
	c->fd = fd;
	return 0;
}

/* ---- the start-error report ---- */

int mp__report_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return MP__WHY_SYS("pipe2");
	return 0;
}

void mp__report_fail(int fd, int err, int stage, const char *what)
{
	struct mp__child_report r;
	size_t i = 0;

	memset(&r, 0, sizeof(r));
	r.err = err;
	r.stage = stage;
	for (; what != NULL && what[i] != '\0' && i < sizeof(r.what) - 1; i++)
		r.what[i] = what[i];
	while (write(fd, &r, sizeof(r)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int mp__report_read(int fd, struct mp__child_report *r)
{
	ssize_t n;

	do
		n = read(fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*r))
		return 0;
	r->what[sizeof(r->what) - 1] = '\0';
	return 1;
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

void mp__stdio_forget(bool in)
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

__attribute__((noinline)) pid_t mp__vfork(void (*child)(void *arg), void *arg,
					  sigset_t *saved)
{
	sigset_t all;
	pid_t pid;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
	pid = vfork();
	if (pid == 0) {
		child(arg);
		_exit(127); /* child() execs or exits; never here */
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, saved, NULL);
	return pid < 0 ? -e : pid;
}

MP__HOT
void mp__die_with_parent(pid_t parent, int code)
{
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != parent)
		syscall(SYS_exit_group, code);
}
