/*
 * process/reap.c - the registry of children (mp__reg), reaping, and what
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

pthread_mutex_t mp__reg_lock = PTHREAD_MUTEX_INITIALIZER;
struct mp_process *mp__reg;
atomic_uint mp__counter; /* Process-N numbering, per process */
struct mp_process mp__self = {.name = "MainProcess", .identity = "",
			      .kind = K_CURRENT, .state = ST_STARTED,
			      .child.fd = -1};
struct mp_process mp__parent = {.kind = K_PARENT, .state = ST_STARTED,
				.child.fd = -1};
bool mp__has_parent;
bool mp__exiting;
_Thread_local bool mp__forking;
_Atomic pid_t mp__pid_cache;

pid_t mp__pid_init(void)
{
	pid_t pid = getpid();

	atomic_store_explicit(&mp__pid_cache, pid, memory_order_relaxed);
	return pid;
}

/* ---- fork: the library's state in the child (pthread_atfork) ---- */

/*
 * Around every fork() of the program (raw ones too), hold mp__reg_lock so
 * that the child inherits a consistent registry and an unlocked lock
 * (mp_process_start holds it already and says so with mp__forking).
 */
static void before_fork(void)
{
	if (!mp__forking)
		pthread_mutex_lock(&mp__reg_lock);
}

static void after_fork_parent(void)
{
	if (!mp__forking)
		pthread_mutex_unlock(&mp__reg_lock);
}

void mp__after_fork_child(void)
{
	struct mp_process *q;

	atomic_store_explicit(&mp__pid_cache, 0, memory_order_relaxed);
	/* Siblings' pidfds are not ours; the list starts empty. */
	for (q = mp__reg; q != NULL; q = q->next) {
		close(q->child.fd);
		q->child.fd = -1;
	}
	mp__reg = NULL;
	/* This thread holds the lock (before_fork took it, or
	 * mp_process_start did): release our copy (an unlock, not a
	 * re-initialisation, so that ThreadSanitizer sees it). */
	mp__forking = false;
	pthread_mutex_unlock(&mp__reg_lock);
}

__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, mp__after_fork_child);
}

/* ---- validation shared by the calls ---- */

int mp__check_child(const struct mp_process *p, const char *verb)
{
	if (p == NULL)
		return mp__why(-EINVAL, "argument 'p' is NULL");
	if (p->state == ST_CLOSED)
		return mp__why(MP_ECLOSED, "process object is closed");
	if (p->kind != K_CHILD)
		return mp__why(-EINVAL,
			       "not allowed on the current or parent process");
	if (p->creator != mp__pid())
		return mp__why(-ECHILD, "can only %s a child process", verb);
	if (p->state == ST_NEW)
		return mp__why(-EINVAL, "process not started");
	return 0;
}

void mp__proc_destroy(struct mp_process *p)
{
	if (p->child.fd >= 0)
		close(p->child.fd);
	mp__free(p->affinity);
	mp__free(p->shared);
	mp__free(p->identity);
	mp__free(p->name);
	mp__free(p);
}

/* ---- reaping ---- */

void mp__reg_remove(struct mp_process *p)
{
	struct mp_process **pp;

	for (pp = &mp__reg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->next = NULL;
}

/*
 * Reap p if it has ended (mp__reg_lock held).  Returns true once p is reaped.
 * A detached p is removed from mp__reg and freed: the caller must not touch it.
 */
bool mp__reap_locked(struct mp_process *p)
{
	struct rusage ru;
	int code, rc;

	if (p->state != ST_STARTED)
		return true;
	memset(&ru, 0, sizeof(ru));
	rc = mp__child_reap(&p->child, &code, &ru);
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
		mp__reg_remove(p);
		mp__proc_destroy(p);
	}
	return true;
}

bool mp__reap(struct mp_process *p)
{
	bool done;

	pthread_mutex_lock(&mp__reg_lock);
	done = mp__reap_locked(p);
	pthread_mutex_unlock(&mp__reg_lock);
	return done;
}

/* Reap every child that has ended (mp__reg_lock held). */
void mp__sweep_locked(void)
{
	struct mp_process *p, *next;

	for (p = mp__reg; p != NULL; p = next) {
		next = p->next;
		mp__reap_locked(p);
	}
}

/* ---- exit handling: what CPython's util._exit_function does ---- */

/* Signal every live daemonic child (lock held). */
static void signal_daemons(int sig)
{
	struct mp_process *p;

	for (p = mp__reg; p != NULL; p = p->next)
		if (p->daemon && p->state == ST_STARTED) {
			struct mp__child c = mp__sig_target(p);

			mp__child_signal(&c, sig);
		}
}

/* Wait on c, whose fd is a dup (closed here), or -1 if dup failed:
 * -EBADF then, when there is nothing to wait on. */
static int wait_copy(struct mp__child *c, uint64_t deadline)
{
	if (c->fd < 0 && mp__have_pidfd())
		return -EBADF;
	mp__child_wait(c, deadline);
	if (c->fd >= 0)
		close(c->fd);
	return 0;
}

/* Reap what ended, then the first started child that is (or is not) a
 * daemon, or NULL.  With mp__reg_lock held. */
static struct mp_process *first_started_locked(bool daemon)
{
	struct mp_process *p;

	mp__sweep_locked();
	for (p = mp__reg; p != NULL; p = p->next)
		if (p->state == ST_STARTED && p->daemon == daemon)
			return p;
	return NULL;
}

/*
 * Terminate live daemonic children (SIGTERM, then SIGKILL after a grace
 * period) and join the others.  Runs at exit of the main process and at the
 * end of every child.
 *
 * First, under the lock, mp__exiting makes every later mp_process_start
 * fail: a pool's supervisor thread, still running, cannot replace the
 * workers stopped here with new ones that nobody signals (which made exit
 * wait for ever).  Every wait for daemons is bounded: SIGTERM, DAEMON_GRACE,
 * SIGKILL, then DAEMON_KILL_WAIT at most (a process stuck in the kernel may
 * outlive even SIGKILL for a while; exit does not wait for it).
 */
void mp__exit_cleanup(void)
{
	uint64_t deadline = mp__deadline_in(mp__timeout_ns(DAEMON_GRACE));
	bool killed = false;

	pthread_mutex_lock(&mp__reg_lock);
	mp__exiting = true;
	mp__sweep_locked();
	signal_daemons(SIGTERM);
	pthread_mutex_unlock(&mp__reg_lock);
	/* Wait for the daemons (without the lock), then kill stragglers. */
	for (;;) {
		struct mp_process *left;
		struct mp__child c;

		pthread_mutex_lock(&mp__reg_lock);
		left = first_started_locked(true);
		if (left != NULL && mp__expired(deadline)) {
			if (killed) { /* still there after SIGKILL: go */
				pthread_mutex_unlock(&mp__reg_lock);
				break;
			}
			signal_daemons(SIGKILL);
			killed = true;
			deadline = mp__deadline_in(
				mp__timeout_ns(DAEMON_KILL_WAIT));
		}
		if (left == NULL) {
			pthread_mutex_unlock(&mp__reg_lock);
			break;
		}
		c.pid = left->child.pid;
		c.fd = dup(left->child.fd); /* left may be freed once unlocked */
		pthread_mutex_unlock(&mp__reg_lock);
		if (wait_copy(&c, deadline) < 0) {
			poll(NULL, 0, 10); /* no fd to wait on: look again */
		}
	}
	/* Join every other child, detached ones included (as CPython does:
	 * a non-daemonic child that never ends keeps the program waiting). */
	for (;;) {
		struct mp_process *left;
		struct mp__child c;

		pthread_mutex_lock(&mp__reg_lock);
		left = first_started_locked(false);
		c.fd = left != NULL ? dup(left->child.fd) : -1;
		c.pid = left != NULL ? left->child.pid : 0;
		pthread_mutex_unlock(&mp__reg_lock);
		if (left == NULL)
			break;
		if (wait_copy(&c, MP__NO_DEADLINE) < 0) {
			poll(NULL, 0, 10);
		}
	}
}

