/*
 * process/reap.c - the registry of children (mpi_reg), reaping, and what
 * happens at exit (the design notes are in process_int.h).
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
			      .child.fd = -1};
struct mp_process mpi_parent = {.kind = K_PARENT, .state = ST_STARTED,
				.child.fd = -1};
bool mpi_has_parent;
bool mpi_exiting;
_Thread_local bool mpi_forking;

/* ---- fork: the library's state in the child (pthread_atfork) ---- */

/*
 * Around every fork() of the program (raw ones too), hold mpi_reg_lock so
 * that the child inherits a consistent registry and an unlocked lock
 * (mp_process_start holds it already and says so with mpi_forking).
 */
static void before_fork(void)
{
	if (!mpi_forking)
		pthread_mutex_lock(&mpi_reg_lock);
}

static void after_fork_parent(void)
{
	if (!mpi_forking)
		pthread_mutex_unlock(&mpi_reg_lock);
}

void mpi_after_fork_child(void)
{
	struct mp_process *q;

	/* Siblings' pidfds are not ours; the list starts empty. */
	for (q = mpi_reg; q != NULL; q = q->next) {
		close(q->child.fd);
		q->child.fd = -1;
	}
	mpi_reg = NULL;
	/* This thread holds the lock (before_fork took it, or
	 * mp_process_start did): release our copy (an unlock, not a
	 * re-initialisation, so that ThreadSanitizer sees it). */
	mpi_forking = false;
	pthread_mutex_unlock(&mpi_reg_lock);
}

__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, mpi_after_fork_child);
}

/* ---- validation shared by the calls ---- */

int mpi_check_child(const struct mp_process *p, const char *verb)
{
	if (p == NULL)
		return mpi_why(-EINVAL, "argument 'p' is NULL");
	if (p->state == ST_CLOSED)
		return mpi_why(MP_ECLOSED, "process object is closed");
	if (p->kind != K_CHILD)
		return mpi_why(-EINVAL,
			       "not allowed on the current or parent process");
	if (p->creator != getpid())
		return mpi_why(-ECHILD, "can only %s a child process", verb);
	if (p->state == ST_NEW)
		return mpi_why(-EINVAL, "process not started");
	return 0;
}

void mpi_proc_destroy(struct mp_process *p)
{
	if (p->child.fd >= 0)
		close(p->child.fd);
	mpi_free(p->affinity);
	mpi_free(p->shared);
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
	rc = mpi_child_reap(&p->child, &code, &ru);
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

bool mpi_reap(struct mp_process *p)
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
		if (p->daemon && p->state == ST_STARTED) {
			struct mpi_child c = mpi_sig_target(p);

			mpi_child_signal(&c, sig);
		}
}

/* Wait on c, whose fd is a dup (closed here), or -1 if dup failed:
 * -EBADF then, when there is nothing to wait on. */
static int wait_copy(struct mpi_child *c, uint64_t deadline)
{
	if (c->fd < 0 && mpi_have_pidfd())
		return -EBADF;
	mpi_child_wait(c, deadline);
	if (c->fd >= 0)
		close(c->fd);
	return 0;
}

/* Reap what ended, then the first started child that is (or is not) a
 * daemon, or NULL.  With mpi_reg_lock held. */
static struct mp_process *first_started_locked(bool daemon)
{
	struct mp_process *p;

	mpi_sweep_locked();
	for (p = mpi_reg; p != NULL; p = p->next)
		if (p->state == ST_STARTED && p->daemon == daemon)
			return p;
	return NULL;
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
		struct mp_process *left;
		struct mpi_child c;

		pthread_mutex_lock(&mpi_reg_lock);
		left = first_started_locked(true);
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
		c.pid = left->child.pid;
		c.fd = dup(left->child.fd); /* left may be freed once unlocked */
		pthread_mutex_unlock(&mpi_reg_lock);
		if (wait_copy(&c, deadline) < 0) {
			poll(NULL, 0, 10); /* no fd to wait on: look again */
		}
	}
	/* Join every other child, detached ones included (as CPython does:
	 * a non-daemonic child that never ends keeps the program waiting). */
	for (;;) {
		struct mp_process *left;
		struct mpi_child c;

		pthread_mutex_lock(&mpi_reg_lock);
		left = first_started_locked(false);
		c.fd = left != NULL ? dup(left->child.fd) : -1;
		c.pid = left != NULL ? left->child.pid : 0;
		pthread_mutex_unlock(&mpi_reg_lock);
		if (left == NULL)
			break;
		if (wait_copy(&c, MPI_NO_DEADLINE) < 0) {
			poll(NULL, 0, 10);
		}
	}
}

