/*
 * process.c - child processes (see mproc/process.h).
 *
 * Design notes.
 * - A child is made with fork() (so glibc's atfork handlers keep malloc and
 *   stdio usable in the child) and tracked with a pidfd opened right after.
 *   join/is_alive poll the pidfd and reap with waitid(P_PIDFD, WNOHANG), so
 *   no other child of the program is ever reaped by mistake.
 * - `reg` lists every object of this process that holds a pidfd (started and
 *   not closed), under `reg_lock`.  The lock is held across fork(), so the
 *   child inherits a consistent list: it closes those pidfds (they are its
 *   siblings', not its children's) and starts with an empty list.
 * - An object freed while its child still runs is "detached": it stays in
 *   `reg` and is freed when a sweep (start, active_children, exit) reaps it.
 * - Scheduling options are applied in the child before the target runs; if
 *   one fails the child reports (errno, what) through a CLOEXEC pipe and
 *   _exits, and start returns the error.  The pipe is only made when such an
 *   option is set, so a plain start costs fork + pidfd_open.
 */
#include "mproc/process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* How long exit waits for daemons after SIGTERM before SIGKILL. */
#define DAEMON_GRACE 1.0

enum state { ST_NEW, ST_STARTED, ST_REAPED, ST_CLOSED };
enum kind { K_CHILD, K_CURRENT, K_PARENT };

struct mp_process {
	mp_target_fn target;
	void *arg;
	char *name;
	char *identity; /* "2:1": CPython's _identity, names grandchildren */
	bool daemon;
	bool detached;  /* freed by the user while running */
	enum kind kind;
	enum state state;
	pid_t pid;
	pid_t creator; /* the process that made this object */
	int pidfd;
	int exitcode;
	mp_rusage ru;
	struct mp_process *next; /* in reg, while it holds a pidfd */
	/* options, applied in the child */
	int nice;
	int *affinity;
	size_t naffinity;
	mp_sched_policy policy;
	int priority;
	bool new_session;
	bool new_group;
	bool keep_stdin;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mp_process *reg;
static atomic_uint counter; /* Process-N numbering, per process */
static struct mp_process self = {.name = "MainProcess", .identity = "",
				 .kind = K_CURRENT, .state = ST_STARTED,
				 .pidfd = -1};
static struct mp_process parent = {.kind = K_PARENT, .state = ST_STARTED,
				   .pidfd = -1};
static bool has_parent;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- validation shared by the calls ---- */

/* Checks for calls that need a started child of this process. */
static int check_child(const struct mp_process *p, const char *func)
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

static const char *policy_name(mp_sched_policy policy)
{
	static const char *const names[] = {"INHERIT", "SCHED_OTHER",
					    "SCHED_BATCH", "SCHED_IDLE",
					    "SCHED_FIFO", "SCHED_RR"};
	return names[policy];
}

static int policy_os(mp_sched_policy policy)
{
	switch (policy) {
	case MP_SCHED_BATCH:
		return SCHED_BATCH;
	case MP_SCHED_IDLE:
		return SCHED_IDLE;
	case MP_SCHED_FIFO:
		return SCHED_FIFO;
	case MP_SCHED_RR:
		return SCHED_RR;
	default:
		return SCHED_OTHER;
	}
}

static int copy_opts(struct mp_process *p, const mp_process_opts *o)
{
	size_t i;

	if ((unsigned)o->policy > MP_SCHED_RR)
		return MPI_ERR(-EINVAL, "opts->policy %d is not a policy",
			       (int)o->policy);
	if (o->policy == MP_SCHED_FIFO || o->policy == MP_SCHED_RR) {
		if (o->priority < 1 || o->priority > 99)
			return MPI_ERR(-EINVAL,
				       "opts->priority %d: %s needs 1..99",
				       o->priority, policy_name(o->policy));
	} else if (o->priority != 0) {
		return MPI_ERR(-EINVAL,
			       "opts->priority %d: only SCHED_FIFO and "
			       "SCHED_RR take a priority",
			       o->priority);
	}
	if (o->nice < -40 || o->nice > 40)
		return MPI_ERR(-EINVAL, "opts->nice %d is out of range",
			       o->nice);
	if (o->naffinity > 0 && o->affinity == NULL)
		return MPI_ERR(-EINVAL, "opts->affinity is NULL but "
					"opts->naffinity is %zu",
			       o->naffinity);
	for (i = 0; i < o->naffinity; i++)
		if (o->affinity[i] < 0 || o->affinity[i] >= CPU_SETSIZE)
			return MPI_ERR(-EINVAL,
				       "opts->affinity[%zu] = %d is not a CPU "
				       "number",
				       i, o->affinity[i]);
	if (o->naffinity > 0) {
		p->affinity = malloc(o->naffinity * sizeof(int));
		if (p->affinity == NULL)
			return MPI_ERR(-ENOMEM, "out of memory");
		memcpy(p->affinity, o->affinity, o->naffinity * sizeof(int));
		p->naffinity = o->naffinity;
	}
	p->nice = o->nice;
	p->policy = o->policy;
	p->priority = o->priority;
	p->new_session = o->start_new_session;
	p->new_group = o->new_process_group;
	p->keep_stdin = o->keep_stdin;
	p->daemon = o->daemon;
	return 0;
}

static void destroy(struct mp_process *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p->affinity);
	free(p->identity);
	free(p->name);
	free(p);
}

mp_process_t *mp_process_new(mp_target_fn target, void *arg,
			     const mp_process_opts *opts)
{
	static const mp_process_opts defaults;
	struct mp_process *p;
	unsigned n;
	int len;

	MPI_CHECK_NULL_P(target);
	if (opts == NULL)
		opts = &defaults;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	p->target = target;
	p->arg = arg;
	p->kind = K_CHILD;
	p->pidfd = -1;
	p->creator = getpid();
	if (copy_opts(p, opts) < 0) {
		destroy(p);
		return NULL;
	}
	n = atomic_fetch_add(&counter, 1) + 1;
	len = snprintf(NULL, 0, "%s%s%u", self.identity,
		       *self.identity ? ":" : "", n);
	p->identity = malloc((size_t)len + 1);
	if (p->identity != NULL)
		snprintf(p->identity, (size_t)len + 1, "%s%s%u", self.identity,
			 *self.identity ? ":" : "", n);
	if (opts->name != NULL)
		p->name = strdup(opts->name);
	else if (p->identity != NULL && asprintf(&p->name, "Process-%s",
						 p->identity) < 0)
		p->name = NULL;
	if (p->identity == NULL || p->name == NULL) {
		destroy(p);
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	return p;
}

/* ---- reaping ---- */

static void reg_remove(struct mp_process *p)
{
	struct mp_process **pp;

	for (pp = &reg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->next = NULL;
}

/*
 * Reap p if it has ended (reg_lock held).  Returns true once p is reaped.
 * A detached p is removed from reg and freed: the caller must not touch it.
 */
static bool reap_locked(struct mp_process *p)
{
	siginfo_t si;
	struct rusage ru;
	long rc;

	if (p->state != ST_STARTED)
		return true;
	memset(&si, 0, sizeof(si));
	do
		rc = syscall(SYS_waitid, P_PIDFD, p->pidfd, &si,
			     WEXITED | WNOHANG, &ru);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		/* ECHILD: someone else reaped it (a waitpid(-1) in the
		 * program).  Its status is lost; report it as unknown. */
		memset(&ru, 0, sizeof(ru));
		si.si_pid = p->pid;
		si.si_code = CLD_EXITED;
		si.si_status = 255;
	}
	if (si.si_pid == 0)
		return false;
	p->exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	p->ru.utime = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	p->ru.stime = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	p->ru.maxrss_kb = ru.ru_maxrss;
	p->state = ST_REAPED;
	if (p->detached) {
		reg_remove(p);
		destroy(p);
	}
	return true;
}

static bool reap(struct mp_process *p)
{
	bool done;

	pthread_mutex_lock(&reg_lock);
	done = reap_locked(p);
	pthread_mutex_unlock(&reg_lock);
	return done;
}

/* Reap every child that has ended (reg_lock held). */
static void sweep_locked(void)
{
	struct mp_process *p, *next;

	for (p = reg; p != NULL; p = next) {
		next = p->next;
		reap_locked(p);
	}
}

/*
 * Wait until the pidfd is readable (the process ended) or the deadline.
 * Returns 0 or -ETIMEDOUT.
 */
static int wait_pidfd(int fd, uint64_t deadline)
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

/* ---- exit handling: what CPython's util._exit_function does ---- */

/*
 * Terminate live daemonic children (SIGTERM, then SIGKILL after a grace
 * period) and join the others.  Runs at exit of the main process and at the
 * end of every child.
 */
static void exit_cleanup(void)
{
	struct mp_process *p;
	uint64_t deadline = mpi_now_ns() + (uint64_t)(DAEMON_GRACE * 1e9);
	bool any = false;

	pthread_mutex_lock(&reg_lock);
	sweep_locked();
	for (p = reg; p != NULL; p = p->next)
		if (p->daemon && p->state == ST_STARTED) {
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGTERM, NULL, 0);
			any = true;
		}
	pthread_mutex_unlock(&reg_lock);
	if (!any)
		goto join;
	/* Wait for the daemons (without the lock), then kill stragglers. */
	for (;;) {
		struct mp_process *left = NULL;

		pthread_mutex_lock(&reg_lock);
		sweep_locked();
		for (p = reg; p != NULL && left == NULL; p = p->next)
			if (p->daemon && p->state == ST_STARTED)
				left = p;
		if (left != NULL && mpi_expired(deadline)) {
			syscall(SYS_pidfd_send_signal, left->pidfd, SIGKILL,
				NULL, 0);
			deadline = MPI_NO_DEADLINE;
		}
		if (left == NULL) {
			pthread_mutex_unlock(&reg_lock);
			break;
		}
		{
			int fd = dup(left->pidfd); /* left may be freed */
			pthread_mutex_unlock(&reg_lock);
			if (fd >= 0) {
				wait_pidfd(fd, deadline);
				close(fd);
			}
		}
	}
join:
	/* Join every other child, detached ones included. */
	for (;;) {
		int fd = -1;

		pthread_mutex_lock(&reg_lock);
		sweep_locked();
		for (p = reg; p != NULL && fd < 0; p = p->next)
			if (p->state == ST_STARTED)
				fd = dup(p->pidfd);
		pthread_mutex_unlock(&reg_lock);
		if (fd < 0)
			break;
		wait_pidfd(fd, MPI_NO_DEADLINE);
		close(fd);
	}
}

static void exit_handler(void)
{
	/* A child that calls exit() itself runs this too, but then only its
	 * own children are in reg. */
	exit_cleanup();
}

static void register_atexit(void)
{
	atexit(exit_handler);
}

/* ---- start ---- */

struct child_error {
	int err;
	char what[120];
};

static void report(int fd, int err, const char *what)
{
	struct child_error ce = {.err = err};
	ssize_t rc;

	snprintf(ce.what, sizeof(ce.what), "%s", what);
	do
		rc = write(fd, &ce, sizeof(ce));
	while (rc < 0 && errno == EINTR);
	_exit(127);
}

/* Apply the options in the child; on failure report and _exit. */
static void apply_opts(struct mp_process *p, int errfd)
{
	char what[120];

	if (p->new_session && setsid() < 0)
		report(errfd, errno, "setsid()");
	if (p->new_group && !p->new_session && setpgid(0, 0) < 0)
		report(errfd, errno, "setpgid()");
	if (p->naffinity > 0) {
		cpu_set_t set;
		size_t i;

		CPU_ZERO(&set);
		for (i = 0; i < p->naffinity; i++)
			CPU_SET((size_t)p->affinity[i], &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			report(errfd, errno, "sched_setaffinity()");
	}
	if (p->policy != MP_SCHED_INHERIT) {
		struct sched_param sp = {.sched_priority = p->priority};

		if (sched_setscheduler(0, policy_os(p->policy), &sp) < 0) {
			snprintf(what, sizeof(what),
				 "sched_setscheduler(%s, priority %d)",
				 policy_name(p->policy), p->priority);
			report(errfd, errno, what);
		}
	}
	if (p->nice != 0) {
		int cur;

		errno = 0;
		cur = getpriority(PRIO_PROCESS, 0);
		if (errno == 0 &&
		    setpriority(PRIO_PROCESS, 0, cur + p->nice) < 0) {
			snprintf(what, sizeof(what), "setpriority(nice %+d)",
				 p->nice);
			report(errfd, errno, what);
		}
	}
}

/* In the new child: become p, run the target, never return. */
__attribute__((noreturn)) static void child_main(struct mp_process *p,
						 pid_t ppid, int errfd)
{
	struct mp_process *q;
	int code, fd;

	/* Siblings' pidfds are not ours; the list starts empty. */
	/*
	 * Cheap as a child can be: the fewest pages written (each write to a
	 * page shared with the parent costs a copy-on-write fault) and no
	 * libc function the parent may never have called (its first call
	 * through the PLT would run the dynamic linker in every child), hence
	 * raw syscalls below.
	 */
	for (q = reg; q != NULL; q = q->next) {
		close(q->pidfd);
		q->pidfd = -1;
	}
	reg = NULL;
	reg_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	if (atomic_load(&counter) != 0)
		atomic_store(&counter, 0);
	parent.name = self.name;
	parent.identity = self.identity;
	parent.pid = ppid;
	parent.pidfd = -1;
	has_parent = true;
	self.name = p->name;
	self.identity = p->identity;
	self.daemon = p->daemon;
	self.pid = getpid();
	if (p->daemon) {
		/* Die with the parent; if it died before prctl, go now. */
		syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != ppid)
			syscall(SYS_exit_group, 1);
	}
	if (errfd >= 0) {
		apply_opts(p, errfd);
		close(errfd);
	}
	syscall(SYS_prctl, PR_SET_NAME, p->name, 0, 0, 0);
	if (!p->keep_stdin) {
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null",
				  O_RDONLY | O_CLOEXEC);
		if (fd > STDIN_FILENO) {
			syscall(SYS_dup3, fd, STDIN_FILENO, 0);
			close(fd);
		}
	}
	code = p->target(p->arg);
	if (reg != NULL)
		exit_cleanup();
	fflush(NULL); /* as CPython flushes sys.stdout and sys.stderr */
	syscall(SYS_exit_group, code & 0xff); /* _exit() */
	__builtin_unreachable();
}

static bool needs_setup(const struct mp_process *p)
{
	return p->new_session || p->new_group || p->naffinity > 0 ||
	       p->policy != MP_SCHED_INHERIT || p->nice != 0;
}

/* Read the child's setup report: 0 when it succeeded (EOF). */
static int read_setup(struct mp_process *p, int fd)
{
	struct child_error ce;
	ssize_t n;

	do
		n = read(fd, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(ce))
		return 0;
	ce.what[sizeof(ce.what) - 1] = '\0';
	return MPI_ERR(-ce.err, "%s failed in the child of %s: %s", ce.what,
		       p->name, mp_strerror(-ce.err));
}

int mp_process_start(mp_process_t *p)
{
	int pipefd[2] = {-1, -1};
	pid_t pid, me;
	int fd, rc;

	MPI_CHECK_NULL(p);
	if (p->state == ST_CLOSED)
		return MPI_ERR(MP_ECLOSED, "process object is closed");
	if (p->kind != K_CHILD)
		return MPI_ERR(-EINVAL, "cannot start the current or parent "
					"process");
	if (p->state != ST_NEW)
		return MPI_ERR(-EINVAL, "cannot start a process twice");
	me = getpid();
	if (p->creator != me)
		return MPI_ERR(-ECHILD, "can only start a process object "
					"created by this process");
	if (self.daemon)
		return MPI_ERR(-EPERM, "daemonic processes are not allowed to "
				       "have children");
	pthread_once(&atexit_once, register_atexit);
	if (needs_setup(p) && pipe2(pipefd, O_CLOEXEC) < 0)
		return MPI_SYSERR("pipe2");
	fflush(NULL); /* else buffered output is printed twice */
	pthread_mutex_lock(&reg_lock);
	sweep_locked();
	pid = fork();
	if (pid == 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		child_main(p, me, pipefd[1]);
	}
	if (pid < 0) {
		rc = MPI_SYSERR("fork");
		goto fail_unlock;
	}
	fd = pidfd_open(pid);
	if (fd < 0) {
		rc = MPI_SYSERR("pidfd_open");
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto fail_unlock;
	}
	p->pid = pid;
	p->pidfd = fd;
	p->state = ST_STARTED;
	p->next = reg;
	reg = p;
	pthread_mutex_unlock(&reg_lock);
	if (pipefd[1] >= 0) {
		close(pipefd[1]);
		rc = read_setup(p, pipefd[0]);
		close(pipefd[0]);
		if (rc < 0) { /* the child _exits at once: reap it, undo */
			wait_pidfd(fd, MPI_NO_DEADLINE);
			pthread_mutex_lock(&reg_lock);
			reap_locked(p);
			reg_remove(p);
			pthread_mutex_unlock(&reg_lock);
			close(fd);
			p->pidfd = -1;
			p->pid = 0;
			p->state = ST_NEW;
			return rc;
		}
	}
	return 0;

fail_unlock:
	pthread_mutex_unlock(&reg_lock);
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	return rc;
}

int mp_process_run(mp_process_t *p)
{
	MPI_CHECK_NULL(p);
	if (p->kind != K_CHILD || p->target == NULL)
		return MPI_ERR(-EINVAL, "the current or parent process has no "
					"target to run");
	return p->target(p->arg);
}

/* ---- waiting ---- */

/* The parent, seen from a child: alive while it is still our parent. */
static int parent_join(struct mp_process *p, uint64_t deadline)
{
	int fd, rc;

	if (getppid() != p->pid)
		return 0;
	fd = pidfd_open(p->pid);
	if (fd < 0)
		return errno == ESRCH ? 0 : MPI_SYSERR("pidfd_open");
	/* Opened after it died and its pid was reused?  Then it is gone. */
	rc = getppid() != p->pid ? 0 : wait_pidfd(fd, deadline);
	close(fd);
	return rc == -ETIMEDOUT ? MPI_ERR(rc, "parent is still alive") : rc;
}

int mp_process_join(mp_process_t *p, double timeout)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(p);
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	if (p->kind == K_CURRENT)
		return MPI_ERR(-EDEADLK, "cannot join the current process");
	if (p->kind == K_PARENT)
		return parent_join(p, deadline);
	if (p->state == ST_NEW)
		return MPI_ERR(-EINVAL, "can only join a started process");
	if ((rc = check_child(p, __func__)) < 0)
		return rc;
	if (p->state == ST_REAPED)
		return 0;
	for (;;) {
		if (reap(p))
			return 0;
		rc = wait_pidfd(p->pidfd, deadline);
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
	if ((rc = check_child(p, __func__)) < 0)
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

int mp_process_rusage(mp_process_t *p, mp_rusage *ru)
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

	if ((rc = check_child(p, __func__)) < 0)
		return rc;
	if (sig < 0 || sig >= NSIG)
		return MPI_ERR(-EINVAL, "signal %d is not a valid signal", sig);
	if (p->state == ST_REAPED)
		return 0;
	if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0) {
		if (errno == ESRCH)
			return 0; /* ended already */
		return MPI_ERR(-errno, "pidfd_send_signal(%d) to %s: %s", sig,
			       p->name, mp_strerror(-errno));
	}
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

	if ((rc = check_child(p, __func__)) < 0)
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
	pthread_mutex_lock(&reg_lock);
	reg_remove(p);
	pthread_mutex_unlock(&reg_lock);
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
		pthread_mutex_lock(&reg_lock);
		if (!reap_locked(p)) {
			p->detached = true; /* freed when reaped */
			pthread_mutex_unlock(&reg_lock);
			return;
		}
		pthread_mutex_unlock(&reg_lock);
	}
	if (p->pidfd >= 0) {
		pthread_mutex_lock(&reg_lock);
		reg_remove(p);
		pthread_mutex_unlock(&reg_lock);
	}
	destroy(p);
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
	if ((copy = strdup(name)) == NULL)
		return MPI_ERR(-ENOMEM, "out of memory");
	free(p->name);
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
	return &self;
}

mp_process_t *mp_parent_process(void)
{
	return has_parent ? &parent : NULL;
}

int mp_active_children(mp_process_t **out, size_t cap)
{
	struct mp_process *p;
	size_t n = 0;

	if (out == NULL && cap > 0)
		return MPI_ERR(-EINVAL, "argument 'out' is NULL but cap is %zu",
			       cap);
	pthread_mutex_lock(&reg_lock);
	sweep_locked();
	for (p = reg; p != NULL; p = p->next) {
		if (p->state != ST_STARTED || p->detached)
			continue;
		if (n < cap)
			out[n] = p;
		n++;
	}
	pthread_mutex_unlock(&reg_lock);
	return n > INT_MAX ? INT_MAX : (int)n;
}
