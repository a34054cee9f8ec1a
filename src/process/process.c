/*
 * process/process.c - the public face of a process object once made:
 * join, is_alive, exitcode, signals, close/free, attributes, and the
 * current/parent/active children (starting is in start.c, the registry and
 * reaping in reap.c; the design notes are in process_int.h).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "process/process_int.h"

/* ---- waiting ---- */

/*
 * The parent, seen from a child: alive while it is still our mp__parent.
 * 0 once it ended, -ETIMEDOUT, or -errno with a reason.
 */
static int parent_join(struct mp_process *p, uint64_t deadline)
{
	struct mp__child c = {.pid = p->child.pid, .fd = -1};
	uint64_t nap = 100000;
	int rc;

	if (p->child.fd >= 0) { /* forkserver child: the parent's pidfd */
		c.fd = p->child.fd;
		return mp__child_wait(&c, deadline);
	}
	if (getppid() != c.pid)
		return 0;
	c.fd = mp__pidfd_open(c.pid);
	if (c.fd < 0 && errno == ESRCH)
		return 0;
	if (c.fd < 0 && errno != ENOSYS)
		return MP__WHY_SYS("pidfd_open");
	if (c.fd >= 0) {
		/* Opened after it died and its pid was reused?  Then it is
		 * gone. */
		rc = getppid() != c.pid ? 0 : mp__child_wait(&c, deadline);
		close(c.fd);
		return rc;
	}
	while (getppid() == c.pid) { /* no pidfds: re-parented at its end */
		if (mp__expired(deadline))
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){0, (long)nap}, NULL);
		if (nap < 10000000)
			nap *= 2;
	}
	return 0;
}

/* Wait for a started child of ours until the deadline: 0 once reaped.
 * The wait comes first (it returns at once for a child that ended): no
 * reap attempt before, which costs a waitid for a child still running. */
static int child_join(struct mp_process *p, uint64_t deadline)
{
	int rc;

	if (atomic_load(&p->state) != ST_STARTED && mp__reap(p))
		return 0;
	for (;;) {
		rc = mp__child_wait(&p->child, deadline);
		if (mp__reap(p))
			return 0;
		if (rc < 0)
			return rc;
	}
}

/*
 * Is p one of our children, started?  For is_alive, exitcode and join:
 * 1 yes, 0 not started (CPython's None / False), or a code with a reason.
 * An object another process made is -ECHILD whatever its state, as in
 * CPython.
 */
static int started_child(const struct mp_process *p, const char *verb)
{
	if (p->state == ST_CLOSED)
		return mp__why(MP_ECLOSED, "process object is closed");
	if (p->creator != mp__pid())
		return mp__why(-ECHILD, "can only %s a child process", verb);
	return p->state != ST_NEW;
}

int mp_process_join(mp_process_t *p, double timeout)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(p);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if (p->kind == K_CURRENT)
		return MP__ERR(-EDEADLK, "cannot join the current process");
	if (p->kind == K_PARENT) {
		rc = parent_join(p, deadline);
		if (rc == -ETIMEDOUT)
			return MP__ERR(rc, "parent is still alive");
		return rc < 0 ? MP__RAISE(rc) : 0;
	}
	if ((rc = started_child(p, "join")) < 0)
		return MP__RAISE(rc);
	if (rc == 0)
		return MP__ERR(-EINVAL, "can only join a started process");
	rc = child_join(p, deadline);
	if (rc == -ETIMEDOUT)
		return MP__ERR(rc, "%s (pid %d) still alive after %gs", p->name,
			       (int)p->child.pid, timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_process_is_alive(mp_process_t *p)
{
	int rc;

	MP__CHECK_NULL(p);
	if (p->kind == K_CURRENT)
		return 1;
	if (p->kind == K_PARENT && p->child.fd >= 0) /* forkserver child */
		return poll(&(struct pollfd){.fd = p->child.fd,
					     .events = POLLIN},
			    1, 0) == 0;
	if (p->kind == K_PARENT)
		return getppid() == p->child.pid;
	if ((rc = started_child(p, "test")) < 0)
		return MP__RAISE(rc);
	return rc == 1 && !mp__reap(p);
}

int mp_process_exitcode(mp_process_t *p, int *exitcode)
{
	int rc;

	MP__CHECK_NULL(p);
	MP__CHECK_NULL(exitcode);
	if (p->kind != K_CHILD)
		return 0;
	/* A closed object keeps its exit code. */
	if (p->state != ST_CLOSED && (rc = started_child(p, "test")) <= 0)
		return rc < 0 ? MP__RAISE(rc) : 0;
	if (p->state == ST_STARTED && !mp__reap(p))
		return 0;
	*exitcode = p->exitcode;
	return 1;
}

int mp_process_rusage(mp_process_t *p, mp_rusage_t *ru)
{
	int rc;

	MP__CHECK_NULL(p);
	MP__CHECK_NULL(ru);
	if (p->kind != K_CHILD)
		return MP__ERR(-EINVAL, "not allowed on the current or parent "
					"process");
	if (p->state != ST_CLOSED && (rc = started_child(p, "test")) < 0)
		return MP__RAISE(rc);
	if (p->state == ST_NEW ||
	    (p->state == ST_STARTED && !mp__reap(p)))
		return MP__ERR(p->state == ST_NEW ? -EINVAL : -EBUSY,
			       "process has not finished");
	*ru = p->ru;
	return 0;
}

/* ---- signals ---- */

/* Send sig to our started child p: 0 or a code with a reason. */
static int send_signal(mp_process_t *p, int sig)
{
	int rc;

	if ((rc = mp__check_child(p, "signal")) < 0 ||
	    (rc = mp__signal_check(sig)) < 0)
		return rc;
	/* Under the lock: without pidfds the pid must not be reaped (and
	 * reused) between the check and the signal. */
	pthread_mutex_lock(&mp__reg_lock);
	if (p->state == ST_REAPED) {
		rc = 0;
	} else {
		struct mp__child c = mp__sig_target(p);

		rc = mp__child_signal(&c, sig);
	}
	pthread_mutex_unlock(&mp__reg_lock);
	return rc;
}

int mp_process_send_signal(mp_process_t *p, int sig)
{
	int rc = send_signal(p, sig);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_process_terminate(mp_process_t *p)
{
	int rc = send_signal(p, SIGTERM);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_process_kill(mp_process_t *p)
{
	int rc = send_signal(p, SIGKILL);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_process_sentinel(mp_process_t *p)
{
	int rc;

	if ((rc = mp__check_child(p, "use the sentinel of")) < 0)
		return MP__RAISE(rc);
	return p->child.fd;
}

/* ---- closing ---- */

int mp_process_close(mp_process_t *p)
{
	MP__CHECK_NULL(p);
	if (p->kind != K_CHILD)
		return MP__ERR(-EINVAL, "cannot close the current or parent "
					"process");
	if (p->state == ST_CLOSED)
		return 0;
	if (p->state == ST_STARTED && p->creator == mp__pid() && !mp__reap(p))
		return MP__ERR(-EBUSY, "Cannot close a process while it is "
				       "still running. You should first call "
				       "join() or terminate().");
	pthread_mutex_lock(&mp__reg_lock);
	mp__reg_remove(p);
	pthread_mutex_unlock(&mp__reg_lock);
	if (p->child.fd >= 0)
		close(p->child.fd);
	p->child.fd = -1;
	p->state = ST_CLOSED;
	return 0;
}

void mp_process_free(mp_process_t *p)
{
	if (p == NULL || p->kind != K_CHILD)
		return;
	if (p->state == ST_STARTED && p->creator == mp__pid()) {
		pthread_mutex_lock(&mp__reg_lock);
		if (!mp__reap_locked(p)) {
			p->detached = true; /* freed when reaped */
			pthread_mutex_unlock(&mp__reg_lock);
			return;
		}
		pthread_mutex_unlock(&mp__reg_lock);
	}
	if (p->child.fd >= 0) {
		pthread_mutex_lock(&mp__reg_lock);
		mp__reg_remove(p);
		pthread_mutex_unlock(&mp__reg_lock);
	}
	mp__proc_destroy(p);
}

/* ---- attributes ---- */

pid_t mp_process_pid(const mp_process_t *p)
{
	MP__CHECK_NULL(p);
	return p->kind == K_CURRENT ? mp__pid() : p->child.pid;
}

const char *mp_process_name(const mp_process_t *p)
{
	MP__CHECK_NULL_P(p);
	return p->name;
}

int mp_process_set_name(mp_process_t *p, const char *name)
{
	char *copy;

	MP__CHECK_NULL(p);
	MP__CHECK_NULL(name);
	if ((copy = mp__strdup(name)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	if (p->kind == K_CHILD) {
		mp__free(p->name);
	} else {
		/* The library's objects: the first name is not ours to
		 * free, later ones are. */
		mp__free(p->name_owned);
		p->name_owned = copy;
	}
	p->name = copy;
	if (p->kind == K_CURRENT)
		prctl(PR_SET_NAME, copy);
	return 0;
}

int mp_process_daemon(const mp_process_t *p)
{
	MP__CHECK_NULL(p);
	return p->daemon ? 1 : 0;
}

int mp_process_set_daemon(mp_process_t *p, bool daemon)
{
	MP__CHECK_NULL(p);
	if (p->kind != K_CHILD || p->state != ST_NEW)
		return MP__ERR(-EINVAL, "process has already started");
	p->daemon = daemon;
	return 0;
}

mp_process_t *mp_current_process(void)
{
	return &mp__self;
}

mp_process_t *mp_parent_process(void)
{
	return mp__has_parent ? &mp__parent : NULL;
}

int mp_active_children(mp_process_t **out, size_t cap)
{
	struct mp_process *p;
	size_t n = 0;

	if (out == NULL && cap > 0)
		return MP__ERR(-EINVAL, "argument 'out' is NULL but cap is %zu",
			       cap);
	pthread_mutex_lock(&mp__reg_lock);
	mp__sweep_locked();
	for (p = mp__reg; p != NULL; p = p->next) {
		if (p->state != ST_STARTED || p->detached)
			continue;
		if (n < cap)
			out[n] = p;
		n++;
	}
	pthread_mutex_unlock(&mp__reg_lock);
	return n > INT_MAX ? INT_MAX : (int)n;
}
