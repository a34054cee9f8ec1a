/*
 * process/reap.c - the registry of children, reaping, waiting, signals,
 * exit handling and attributes (the design notes are in process_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "process/process_int.h"

pthread_mutex_t mpi_reg_lock = PTHREAD_MUTEX_INITIALIZER;
struct mp_process *mpi_reg;
atomic_uint mpi_counter; /* Process-N numbering, per process */
struct mp_process mpi_self = {.name = "MainProcess", .identity = "",
			      .kind = K_CURRENT, .state = ST_STARTED,
			      .pidfd = -1};
struct mp_process mpi_parent = {.kind = K_PARENT, .state = ST_STARTED,
				.pidfd = -1};
bool mpi_has_parent;
bool mpi_exiting;

/* ---- validation shared by the calls ---- */

/* Checks for calls that need a started child of this process. */
int mpi_check_child(const struct mp_process *p, const char *func)
{
	if (p == NULL)
		return mpi_error(-EINVAL, func, "argument 'p' is NULL");
	if (p->state == ST_CLOSED)
		return mpi_error(MP_ECLOSED, func, "process object is closed");
	if (p->kind != K_CHILD)
		return mpi_error(-EINVAL, func,
				 "not allowed on the current or parent process");
	if (p->state == ST_NEW)
		return mpi_error(-EINVAL, func, "process not started");
	if (p->creator != getpid())
		return mpi_error(-ECHILD, func,
				 "can only act on a child process (this object "
				 "was created by pid %d)",
				 (int)p->creator);
	return 0;
}

void mpi_proc_destroy(struct mp_process *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	mpi_free(p->affinity);
	mpi_free(p->identity);
	mpi_free(p->name);
	mpi_free(p);
}

/* ---- reaping ---- */

void mpi_reg_remove(struct mp_process *p)
{
	struct mp_process **pp;

	for (pp = &mpi_reg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->next = NULL;
}

/*
 * Reap p if it has ended (mpi_reg_lock held).  Returns true once p is reaped.
 * A detached p is removed from mpi_reg and freed: the caller must not touch it.
 */
bool mpi_reap_locked(struct mp_process *p)
{
	struct rusage ru;
	int code, rc;

	if (p->state != ST_STARTED)
		return true;
	memset(&ru, 0, sizeof(ru));
	rc = mpi_child_reap(p->pid, p->pidfd, &code, &ru);
	if (rc == 0)
		return false;
	if (rc < 0) /* ECHILD: a waitpid(-1) elsewhere took its status */
		code = 255;
	p->exitcode = code;
	p->ru.utime = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	p->ru.stime = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	p->ru.maxrss_kb = ru.ru_maxrss;
	p->state = ST_REAPED;
	if (p->detached) {
		mpi_reg_remove(p);
		mpi_proc_destroy(p);
	}
	return true;
}

static bool reap(struct mp_process *p)
{
	bool done;

	pthread_mutex_lock(&mpi_reg_lock);
	done = mpi_reap_locked(p);
	pthread_mutex_unlock(&mpi_reg_lock);
	return done;
}

/* Reap every child that has ended (mpi_reg_lock held). */
void mpi_sweep_locked(void)
{
	struct mp_process *p, *next;

	for (p = mpi_reg; p != NULL; p = next) {
		next = p->next;
		mpi_reap_locked(p);
	}
}

/* ---- exit handling: what CPython's util._exit_function does ---- */

/* Signal every live daemonic child (lock held). */
static void signal_daemons(int sig)
{
	struct mp_process *p;

	for (p = mpi_reg; p != NULL; p = p->next)
		if (p->daemon && p->state == ST_STARTED)
			mpi_child_signal(p->pid, p->pidfd, sig);
}

/*
 * Terminate live daemonic children (SIGTERM, then SIGKILL after a grace
 * period) and join the others.  Runs at exit of the main process and at the
 * end of every child.
 *
 * First, under the lock, mpi_exiting makes every later mp_process_start
 * fail: a pool's supervisor thread, still running, cannot replace the
 * workers stopped here with new ones that nobody signals (which made exit
 * wait for ever).  Every wait for daemons is bounded: SIGTERM, DAEMON_GRACE,
 * SIGKILL, then DAEMON_KILL_WAIT at most (a process stuck in the kernel may
 * outlive even SIGKILL for a while; exit does not wait for it).
 */
void mpi_exit_cleanup(void)
{
	uint64_t deadline = mpi_deadline_in(mpi_timeout_ns(DAEMON_GRACE));
	bool killed = false;

	pthread_mutex_lock(&mpi_reg_lock);
	mpi_exiting = true;
	mpi_sweep_locked();
	signal_daemons(SIGTERM);
	pthread_mutex_unlock(&mpi_reg_lock);
	/* Wait for the daemons (without the lock), then kill stragglers. */
	for (;;) {
		struct mp_process *p, *left = NULL;
		pid_t pid;
		int fd;

		pthread_mutex_lock(&mpi_reg_lock);
		mpi_sweep_locked();
		for (p = mpi_reg; p != NULL && left == NULL; p = p->next)
			if (p->daemon && p->state == ST_STARTED)
				left = p;
		if (left != NULL && mpi_expired(deadline)) {
			if (killed) { /* still there after SIGKILL: go */
				pthread_mutex_unlock(&mpi_reg_lock);
				break;
			}
			signal_daemons(SIGKILL);
			killed = true;
			deadline = mpi_deadline_in(
				mpi_timeout_ns(DAEMON_KILL_WAIT));
		}
		if (left == NULL) {
			pthread_mutex_unlock(&mpi_reg_lock);
			break;
		}
		pid = left->pid;
		fd = dup(left->pidfd); /* left may be freed once unlocked */
		pthread_mutex_unlock(&mpi_reg_lock);
		if (fd >= 0 || !mpi_have_pidfd()) {
			mpi_child_wait(pid, fd, deadline);
			if (fd >= 0)
				close(fd);
		} else {
			poll(NULL, 0, 10); /* no fd to wait on: look again */
		}
	}
	/* Join every other child, detached ones included (as CPython does:
	 * a non-daemonic child that never ends keeps the program waiting). */
	for (;;) {
		struct mp_process *p, *left = NULL;
		pid_t pid;
		int fd;

		pthread_mutex_lock(&mpi_reg_lock);
		mpi_sweep_locked();
		for (p = mpi_reg; p != NULL && left == NULL; p = p->next)
			if (p->state == ST_STARTED && !p->daemon)
				left = p;
		fd = left != NULL ? dup(left->pidfd) : -1;
		pid = left != NULL ? left->pid : 0;
		pthread_mutex_unlock(&mpi_reg_lock);
		if (left == NULL)
			break;
		if (fd >= 0 || !mpi_have_pidfd()) {
			mpi_child_wait(pid, fd, MPI_NO_DEADLINE);
			if (fd >= 0)
				close(fd);
		} else {
			poll(NULL, 0, 10);
		}
	}
}

/* ---- waiting ---- */

/* The parent, seen from a child: alive while it is still our mpi_parent. */
static int parent_join(struct mp_process *p, uint64_t deadline)
{
	uint64_t nap = 100000;
	int fd, rc;

	if (getppid() != p->pid)
		return 0;
	fd = mpi_pidfd_open(p->pid);
	if (fd < 0 && errno == ESRCH)
		return 0;
	if (fd < 0 && errno != ENOSYS)
		return MPI_SYSERR("pidfd_open");
	if (fd >= 0) {
		/* Opened after it died and its pid was reused?  Then it is
		 * gone. */
		rc = getppid() != p->pid ? 0
					 : mpi_child_wait(p->pid, fd, deadline);
		close(fd);
	} else { /* no pidfds: we are re-parented when it ends */
		for (rc = 0; getppid() == p->pid; ) {
			if (mpi_expired(deadline)) {
				rc = -ETIMEDOUT;
				break;
			}
			nanosleep(&(struct timespec){0, (long)nap}, NULL);
			if (nap < 10000000)
				nap *= 2;
		}
	}
	return rc == -ETIMEDOUT ? MPI_ERR(rc, "parent is still alive") : rc;
}

int mp_process_join(mp_process_t *p, double timeout)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(p);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	if (p->kind == K_CURRENT)
		return MPI_ERR(-EDEADLK, "cannot join the current process");
	if (p->kind == K_PARENT)
		return parent_join(p, deadline);
	if (p->state == ST_NEW)
		return MPI_ERR(-EINVAL, "can only join a started process");
	if ((rc = mpi_check_child(p, __func__)) < 0)
		return rc;
	if (p->state == ST_REAPED)
		return 0;
	for (;;) {
		if (reap(p))
			return 0;
		rc = mpi_child_wait(p->pid, p->pidfd, deadline);
		if (rc == -ETIMEDOUT && !reap(p))
			return MPI_ERR(-ETIMEDOUT,
				       "%s (pid %d) still alive after %gs",
				       p->name, (int)p->pid, timeout);
		if (rc < 0 && rc != -ETIMEDOUT)
			return MPI_ERR(rc, "ppoll: %s", mp_strerror(rc));
	}
}

int mp_process_is_alive(mp_process_t *p)
{
	int rc;

	MPI_CHECK_NULL(p);
	if (p->kind == K_CURRENT)
		return 1;
	if (p->kind == K_PARENT)
		return getppid() == p->pid;
	if (p->state == ST_NEW)
		return 0;
	if ((rc = mpi_check_child(p, __func__)) < 0)
		return rc;
	return !reap(p);
}

int mp_process_exitcode(mp_process_t *p, int *exitcode)
{
	MPI_CHECK_NULL(p);
	MPI_CHECK_NULL(exitcode);
	if (p->kind != K_CHILD || p->state == ST_NEW)
		return 0;
	if (p->state == ST_STARTED) {
		if (p->creator != getpid())
			return 0;
		if (!reap(p))
			return 0;
	}
	*exitcode = p->exitcode;
	return 1;
}

int mp_process_rusage(mp_process_t *p, mp_rusage_t *ru)
{
	int code;

	MPI_CHECK_NULL(ru);
	switch (mp_process_exitcode(p, &code)) {
	case 1:
		*ru = p->ru;
		return 0;
	case 0:
		return MPI_ERR(p->state == ST_NEW ? -EINVAL : -EBUSY,
			       "process has not finished");
	default:
		return MPI_ERR(-EINVAL, "argument 'p' is NULL");
	}
}

/* ---- signals ---- */

int mp_process_send_signal(mp_process_t *p, int sig)
{
	int rc;

	if ((rc = mpi_check_child(p, __func__)) < 0)
		return rc;
	if (sig < 0 || sig >= NSIG)
		return MPI_ERR(-EINVAL, "signal %d is not a valid signal", sig);
	/* Under the lock: without pidfds the pid must not be reaped (and
	 * reused) between the check and the signal. */
	pthread_mutex_lock(&mpi_reg_lock);
	rc = p->state == ST_REAPED ? 0
				   : mpi_child_signal(p->pid, p->pidfd, sig);
	pthread_mutex_unlock(&mpi_reg_lock);
	if (rc < 0)
		return MPI_ERR(rc, "%s(%d) to %s: %s",
			       mpi_have_pidfd() ? "pidfd_send_signal" : "kill",
			       sig, p->name, mp_strerror(rc));
	return 0;
}

int mp_process_terminate(mp_process_t *p)
{
	return mp_process_send_signal(p, SIGTERM);
}

int mp_process_kill(mp_process_t *p)
{
	return mp_process_send_signal(p, SIGKILL);
}

int mp_process_sentinel(mp_process_t *p)
{
	int rc;

	if ((rc = mpi_check_child(p, __func__)) < 0)
		return rc;
	return p->pidfd;
}

/* ---- closing ---- */

int mp_process_close(mp_process_t *p)
{
	MPI_CHECK_NULL(p);
	if (p->kind != K_CHILD)
		return MPI_ERR(-EINVAL, "cannot close the current or parent "
					"process");
	if (p->state == ST_CLOSED)
		return 0;
	if (p->state == ST_STARTED && p->creator == getpid() && !reap(p))
		return MPI_ERR(-EBUSY, "Cannot close a process while it is "
				       "still running. You should first call "
				       "join() or terminate().");
	pthread_mutex_lock(&mpi_reg_lock);
	mpi_reg_remove(p);
	pthread_mutex_unlock(&mpi_reg_lock);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->state = ST_CLOSED;
	return 0;
}

void mp_process_free(mp_process_t *p)
{
	if (p == NULL || p->kind != K_CHILD)
		return;
	if (p->state == ST_STARTED && p->creator == getpid()) {
		pthread_mutex_lock(&mpi_reg_lock);
		if (!mpi_reap_locked(p)) {
			p->detached = true; /* freed when reaped */
			pthread_mutex_unlock(&mpi_reg_lock);
			return;
		}
		pthread_mutex_unlock(&mpi_reg_lock);
	}
	if (p->pidfd >= 0) {
		pthread_mutex_lock(&mpi_reg_lock);
		mpi_reg_remove(p);
		pthread_mutex_unlock(&mpi_reg_lock);
	}
	mpi_proc_destroy(p);
}

/* ---- attributes ---- */

pid_t mp_process_pid(const mp_process_t *p)
{
	if (p == NULL)
		return 0;
	return p->kind == K_CURRENT ? getpid() : p->pid;
}

const char *mp_process_name(const mp_process_t *p)
{
	return p == NULL ? NULL : p->name;
}

int mp_process_set_name(mp_process_t *p, const char *name)
{
	char *copy;

	MPI_CHECK_NULL(p);
	MPI_CHECK_NULL(name);
	if (p->kind != K_CHILD) {
		if (p->kind == K_CURRENT)
			prctl(PR_SET_NAME, name);
		return MPI_ERR(-EINVAL, "only a child's name can be changed");
	}
	if ((copy = mpi_strdup(name)) == NULL)
		return MPI_ERR(-ENOMEM, "out of memory");
	mpi_free(p->name);
	p->name = copy;
	return 0;
}

bool mp_process_daemon(const mp_process_t *p)
{
	return p != NULL && p->daemon;
}

int mp_process_set_daemon(mp_process_t *p, bool daemon)
{
	MPI_CHECK_NULL(p);
	if (p->kind != K_CHILD || p->state != ST_NEW)
		return MPI_ERR(-EINVAL, "process has already started");
	p->daemon = daemon;
	return 0;
}

mp_process_t *mp_current_process(void)
{
	return &mpi_self;
}

mp_process_t *mp_parent_process(void)
{
	return mpi_has_parent ? &mpi_parent : NULL;
}

int mp_active_children(mp_process_t **out, size_t cap)
{
	struct mp_process *p;
	size_t n = 0;

	if (out == NULL && cap > 0)
		return MPI_ERR(-EINVAL, "argument 'out' is NULL but cap is %zu",
			       cap);
	pthread_mutex_lock(&mpi_reg_lock);
	mpi_sweep_locked();
	for (p = mpi_reg; p != NULL; p = p->next) {
		if (p->state != ST_STARTED || p->detached)
			continue;
		if (n < cap)
			out[n] = p;
		n++;
	}
	pthread_mutex_unlock(&mpi_reg_lock);
	return n > INT_MAX ? INT_MAX : (int)n;
}
