/*
 * signal.c - mp_signal_*: kill with checked arguments, and synchronous
 * waits through a signalfd (no handler, no async-signal-safety traps).
 */
#include "mproc/signal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"

int mp_signal_send(pid_t pid, int sig)
{
	if (sig < 0 || sig >= NSIG)
		return MP__ERR(-EINVAL, "signal %d is not a valid signal", sig);
	if (pid <= 0)
		return MP__ERR(-EINVAL, "pid %d: give one process's pid", (int)pid);
	if (kill(pid, sig) < 0)
		return MP__ERR(-errno, "kill(%d, %d): %s", (int)pid, sig,
			       mp_strerror(-errno));
	return 0;
}

/* The set of n signals: 0, or -EINVAL with a reason. */
static int make_set(const int *sigs, size_t n, sigset_t *set)
{
	if (sigs == NULL)
		return mp__why(-EINVAL, "argument 'sigs' is NULL");
	if (n == 0)
		return mp__why(-EINVAL, "no signals given");
	sigemptyset(set);
	for (size_t i = 0; i < n; i++)
		if (sigs[i] <= 0 || sigs[i] >= NSIG || sigaddset(set, sigs[i]) < 0 ||
		    sigs[i] == SIGKILL || sigs[i] == SIGSTOP)
			return mp__why(-EINVAL, "signal %d cannot be blocked or "
				       "waited for", sigs[i]);
	return 0;
}

/* pthread_sigmask with the set of n signals: 0, or a code with a reason. */
static int change_mask(int how, const int *sigs, size_t n)
{
	sigset_t set;
	int rc;

	if ((rc = make_set(sigs, n, &set)) < 0)
		return rc;
	if ((rc = pthread_sigmask(how, &set, NULL)) != 0)
		return mp__why(-rc, "pthread_sigmask: %s", mp_strerror(-rc));
	return 0;
}

int mp_signal_block(const int *sigs, size_t n)
{
	int rc = change_mask(SIG_BLOCK, sigs, n);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_signal_unblock(const int *sigs, size_t n)
{
	int rc = change_mask(SIG_UNBLOCK, sigs, n);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_signal_wait(const int *sigs, size_t n, double timeout, pid_t *sender)
{
	struct signalfd_siginfo si;
	struct timespec ts;
	struct pollfd pfd;
	uint64_t deadline;
	sigset_t set;
	ssize_t r;
	int fd, rc;

	if ((rc = make_set(sigs, n, &set)) < 0)
		return MP__RAISE(rc);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
		return MP__ERR(-rc, "pthread_sigmask: %s", mp_strerror(-rc));
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return MP__SYSERR("signalfd");
	pfd = (struct pollfd){fd, POLLIN, 0};
	for (;;) {
		r = read(fd, &si, sizeof(si));
		if (r == (ssize_t)sizeof(si)) {
			rc = (int)si.ssi_signo;
			if (sender != NULL)
				*sender = (pid_t)si.ssi_pid;
			break;
		}
		rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
		if (rc == 0) {
			rc = MP__ERR(-ETIMEDOUT, "no signal within %gs", timeout);
			break;
		}
		if (rc < 0 && errno != EINTR) {
			rc = MP__SYSERR("poll");
			break;
		}
	}
	close(fd);
	return rc;
}
