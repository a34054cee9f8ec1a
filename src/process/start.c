/*
 * process/start.c - making a process object and starting its child (the
 * design notes are in process_int.h).
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
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/hot.h"
#include "process/process_int.h"

static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

/* Without pidfds, the write end of the exit pipe this process holds for its
 * parent (the parent's sentinel reads EOF once every copy is closed). */
static int exit_w = -1;

void mp__set_exit_pipe(int exitw)
{
	fcntl(exitw, F_SETFD, FD_CLOEXEC); /* as a fork child's */
	exit_w = exitw;
}

static const char *policy_name(mp_sched_policy_t policy)
{
	static const char *const names[] = {"INHERIT", "SCHED_OTHER",
					    "SCHED_BATCH", "SCHED_IDLE",
					    "SCHED_FIFO", "SCHED_RR"};
	return names[policy];
}

static int policy_os(mp_sched_policy_t policy)
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

/* Errors in the options: a code with a reason (mp_process_new reports). */
#define OPT_ERR(code, ...) mp__why((code), __VA_ARGS__)

static int copy_opts(struct mp_process *p, const mp_process_opts_t *o)
{
	size_t i;
	int rc;

	if ((unsigned)o->policy > MP_SCHED_RR)
		return OPT_ERR(-EINVAL, "opts->policy %d is not a policy",
			       (int)o->policy);
	if (o->policy == MP_SCHED_FIFO || o->policy == MP_SCHED_RR) {
		if (o->priority < 1 || o->priority > 99)
			return OPT_ERR(-EINVAL,
				       "opts->priority %d: %s needs 1..99",
				       o->priority, policy_name(o->policy));
	} else if (o->priority != 0) {
		return OPT_ERR(-EINVAL,
			       "opts->priority %d: only SCHED_FIFO and "
			       "SCHED_RR take a priority",
			       o->priority);
	}
	if (o->nice < -40 || o->nice > 40)
		return OPT_ERR(-EINVAL, "opts->nice %d is out of range",
			       o->nice);
	if (o->naffinity > 0 && o->affinity == NULL)
		return OPT_ERR(-EINVAL, "opts->affinity is NULL but "
					"opts->naffinity is %zu",
			       o->naffinity);
	for (i = 0; i < o->naffinity; i++)
		if (o->affinity[i] < 0 || o->affinity[i] >= CPU_SETSIZE)
			return OPT_ERR(-EINVAL,
				       "opts->affinity[%zu] = %d is not a CPU "
				       "number",
				       i, o->affinity[i]);
	if (o->naffinity > 0) {
		p->affinity = mp__malloc(o->naffinity * sizeof(int));
		if (p->affinity == NULL)
			return OPT_ERR(-ENOMEM, "out of memory");
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
	if (o->start_method != NULL) {
		int m = mp__method_of(o->start_method);

		if (m < 0)
			return OPT_ERR(-EINVAL, "cannot find context for '%s' "
				       "(opts->start_method: fork, "
				       "forkserver or spawn)",
				       o->start_method);
		p->method = (enum method)m;
	}
	p->arg_len = o->arg_len;
	if ((rc = mp__shared_check(o->shared, o->nshared)) < 0)
		return rc;
	if (o->nshared > 0) {
		p->shared = mp__malloc(o->nshared * sizeof(*p->shared));
		if (p->shared == NULL)
			return OPT_ERR(-ENOMEM, "out of memory");
		memcpy(p->shared, o->shared, o->nshared * sizeof(*p->shared));
		p->nshared = o->nshared;
	}
	return 0;
}

/*
 * p's identity "<ours>:<n>" (CPython's _identity) and its name: opts_name
 * or "Process-<identity>".  Built by hand: snprintf was most of the cost
 * of a new object.  Either stays NULL when out of memory.
 */
static void name_child(struct mp_process *p, unsigned n,
		       const char *opts_name)
{
	static const char prefix[] = "Process-";
	size_t plen = sizeof(prefix) - 1, ilen = strlen(mp__self.identity);
	char digits[16], *at = digits + sizeof(digits), *name, *o;
	size_t dlen;

	do
		*--at = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	dlen = (size_t)(digits + sizeof(digits) - at);
	if ((name = mp__malloc(plen + ilen + 1 + dlen + 1)) == NULL)
		return;
	o = name + plen;
	memcpy(name, prefix, plen);
	memcpy(o, mp__self.identity, ilen);
	o += ilen;
	if (ilen > 0)
		*o++ = ':';
	memcpy(o, at, dlen);
	o[dlen] = '\0';
	p->identity = mp__strdup(name + plen);
	if (opts_name == NULL) {
		p->name = name;
	} else {
		mp__free(name);
		p->name = mp__strdup(opts_name);
	}
}

mp_process_t *mp_process_new(mp_target_fn target, void *arg,
			     const mp_process_opts_t *opts)
{
	static const mp_process_opts_t defaults;
	struct mp_process *p;
	unsigned n;
	int rc;

	MP__CHECK_NULL_P(target);
	if (opts == NULL)
		opts = &defaults;
	p = mp__calloc(1, sizeof(*p));
	if (p == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	p->target = target;
	p->arg = arg;
	p->kind = K_CHILD;
	p->child.fd = -1;
	p->creator = mp__pid();
	if (opts->arg_len > 0 && arg == NULL)
		rc = OPT_ERR(-EINVAL, "opts->arg_len is %zu but arg is NULL",
			     opts->arg_len);
	else
		rc = copy_opts(p, opts);
	if (rc < 0) {
		mp__proc_destroy(p);
		MP__RAISE(rc);
		return NULL;
	}
	n = atomic_fetch_add(&mp__counter, 1) + 1;
	name_child(p, n, opts->name);
	if (p->identity == NULL || p->name == NULL) {
		mp__proc_destroy(p);
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	return p;
}

static void exit_handler(void)
{
	/* A child that calls exit() itself runs this too, but then only its
	 * own children are in mp__reg. */
	mp__exit_cleanup();
}

static void register_atexit(void)
{
	atexit(exit_handler);
}

/* ---- start ---- */

/* In the child: report a failed setup step to the parent and _exit. */
__attribute__((noreturn)) static void report(int fd, int err,
					     const char *what)
{
	mp__report_fail(fd, err, 0, what);
}

/* Apply the options in the child; on failure report and _exit. */
void mp__apply_opts(const struct mp_process *p, int errfd)
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

/* This process is now the object named name (identity ident), pid self. */
MP__HOT
static void name_self(char *name, char *ident, pid_t self)
{
	mp__self.name = name;
	mp__self.name_owned = NULL;
	mp__self.identity = ident;
	mp__self.child.pid = self;
	atomic_store_explicit(&mp__pid_cache, self, memory_order_relaxed);
}

void mp__become(const char *name, const char *ident, bool daemon, pid_t ppid,
		int parent_fd, pid_t self)
{
	if (atomic_load(&mp__counter) != 0)
		atomic_store(&mp__counter, 0);
	mp__free(mp__parent.name_owned);
	mp__parent.name = mp__self.name;
	mp__parent.name_owned = mp__self.name_owned;
	mp__parent.identity = mp__self.identity;
	mp__parent.child.pid = ppid;
	mp__parent.child.fd = parent_fd;
	mp__has_parent = true;
	mp__self.daemon = daemon;
	name_self((char *)name, (char *)ident, self);
}

MP__HOT
void mp__become_heir(const char *name, const char *ident, pid_t self)
{
	static char to[2][MP__HEIR_NAME_MAX];
	const char *from[2] = {name, ident};

	/* Copied by hand, and a raw prctl: no libc page to fault in (see
	 * heir_line in pool/worker.c). */
	for (int i = 0; i < 2; i++) {
		size_t n = 0;

		while (n < sizeof(to[i]) - 1 && from[i][n] != '\0')
			n++;
		memcpy(to[i], from[i], n);
		to[i][n] = '\0';
	}
	name_self(to[0], to[1], self);
	syscall(SYS_prctl, PR_SET_NAME, to[0], 0, 0, 0);
}

MP__HOT
void mp__child_run(mp_target_fn target, void *arg)
{
	int code = target(arg);

	if (mp__reg != NULL)
		mp__exit_cleanup();
	fflush(NULL); /* as CPython flushes sys.stdout and sys.stderr */
	syscall(SYS_exit_group, code & 0xff); /* _exit() */
	__builtin_unreachable();
}

/* In the new child: become p, run the target, never return. */
__attribute__((noreturn)) static void child_main(struct mp_process *p,
						 pid_t ppid, int errfd,
						 int exitw)
{
	int fd;

	/* First: never print what the parent had buffered (see child.h). */
	mp__stdio_forget(!p->keep_stdin);
	/*
	 * Cheap as a child can be: the fewest pages written (each write to a
	 * page shared with the parent costs a copy-on-write fault) and no
	 * libc function the parent may never have called (its first call
	 * through the PLT would run the dynamic linker in every child), hence
	 * raw syscalls below.  The registry was emptied by the atfork
	 * handler (mp__after_fork_child).
	 */
	/* Without pidfds: our parent's exit pipe is not ours to hold (it would
	 * tell our parent we ended only when we did too); ours is. */
	if (exit_w >= 0 || exitw >= 0) {
		if (exit_w >= 0)
			close(exit_w);
		exit_w = exitw;
	}
	mp__become(p->name, p->identity, p->daemon, ppid, -1, mp__pid());
	mp__shared_inherit(p->shared, p->nshared);
	if (p->daemon) {
		/* Die with the parent; if it died before prctl, go now. */
		mp__die_with_parent(ppid, 1);
	}
	if (errfd >= 0) {
		mp__apply_opts(p, errfd);
		close(errfd);
	}
	syscall(SYS_prctl, PR_SET_NAME, p->name, 0, 0, 0);
	if (!p->keep_stdin) {
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null",
				  O_RDONLY | O_CLOEXEC);
		if (fd > STDIN_FILENO) {
			syscall(SYS_dup3, fd, STDIN_FILENO, 0);
			close(fd);
		} else if (fd == STDIN_FILENO) { /* stdin was closed */
			syscall(SYS_fcntl, fd, F_SETFD, 0);
		}
	}
	mp__child_run(p->target, p->arg);
}

bool mp__needs_setup(const struct mp_process *p)
{
	return p->new_session || p->new_group || p->naffinity > 0 ||
	       p->policy != MP_SCHED_INHERIT || p->nice != 0;
}

/* Read the child's setup report: 0 when it succeeded (EOF), else the
 * child's code with a reason. */
static int read_setup(struct mp_process *p, int fd)
{
	struct mp__child_report r;

	if (mp__report_read(fd, &r) == 0)
		return 0;
	return mp__why(-r.err, "%s failed in the child of %s: %s", r.what,
		       p->name, mp_strerror(-r.err));
}

/* Undo a start whose child failed its setup (it _exits at once). */
static void undo_start(struct mp_process *p)
{
	mp__child_wait(&p->child, MP__NO_DEADLINE);
	pthread_mutex_lock(&mp__reg_lock);
	mp__reap_locked(p);
	mp__reg_remove(p);
	pthread_mutex_unlock(&mp__reg_lock);
	close(p->child.fd);
	p->child.fd = -1;
	p->child.pid = 0;
	p->state = ST_NEW;
}

/*
 * p's child is made (mp__reg_lock held): list p as started, unlock, then
 * read the child's setup report from fd setup (closing it) if >= 0.  0, or
 * the child's code with a reason (it _exits at once: reaped, p new again).
 */
static int started(struct mp_process *p, int setup)
{
	int rc = 0;

	p->state = ST_STARTED;
	p->next = mp__reg;
	mp__reg = p;
	pthread_mutex_unlock(&mp__reg_lock);
	if (setup >= 0) {
		rc = read_setup(p, setup);
		close(setup);
		if (rc < 0)
			undo_start(p);
	}
	return rc;
}

/*
 * For forkserver and spawn: the target's registered name, after checking
 * that what the child needs can travel.  NULL with *rc set (a reason).
 */
static const char *travel_check(struct mp_process *p, enum method m, int *rc)
{
	const char *tname;

	if (mp__exe_fd < 0 && m == M_SPAWN) {
		*rc = mp__why(-ENOTSUP, "start method 'spawn' needs mp_init() "
					"called first in main()");
		return NULL;
	}
	if (m == M_FORKSERVER && !mp__fs_usable()) {
		*rc = -ENOTSUP; /* with the reason mp__fs_usable left */
		return NULL;
	}
	if (p->arg != NULL && p->arg_len == 0) {
		*rc = mp__why(-EINVAL,
			      "arg is not NULL but opts->arg_len is 0: a %s "
			      "child cannot see the parent's memory; give the "
			      "size of the bytes to copy",
			      mp__method_name(m));
		return NULL;
	}
	if ((tname = mp__target_name(p->target, rc)) == NULL)
		return NULL;
	return tname;
}

/* Start p by spawn or through the fork server. */
static int start_other(struct mp_process *p, enum method m)
{
	const char *tname;
	int rc, setup = -1;

	if ((tname = travel_check(p, m, &rc)) == NULL)
		return MP__RAISE(rc);
	fflush(NULL);
	pthread_mutex_lock(&mp__reg_lock);
	if (p->state != ST_NEW) {
		rc = MP__ERR(-EINVAL, "cannot start a process twice");
		goto unlock;
	}
	if (mp__exiting) {
		rc = MP__ERR(MP_ECLOSED, "the program is exiting: no new "
					 "process can start");
		goto unlock;
	}
	mp__sweep_locked();
	p->used = m;
	rc = m == M_SPAWN ? mp__spawn_start(p, tname, &setup)
			  : mp__fs_start(p, tname, &setup);
	if (rc < 0) {
		rc = MP__RAISE(rc);
		goto unlock;
	}
	rc = started(p, setup);
	return rc < 0 ? MP__RAISE(rc) : 0;
unlock:
	pthread_mutex_unlock(&mp__reg_lock);
	return rc;
}

int mp__process_adopt(struct mp_process *p, pid_t pid)
{
	int none[2] = {-1, -1}, rc;

	pthread_once(&atexit_once, register_atexit);
	pthread_mutex_lock(&mp__reg_lock);
	if (p->state != ST_NEW || mp__exiting || !mp__have_pidfd()) {
		pthread_mutex_unlock(&mp__reg_lock);
		mp__child_kill_reap(&(struct mp__child){.pid = pid, .fd = -1});
		return mp__why(mp__exiting ? MP_ECLOSED : -EINVAL,
			       "cannot adopt pid %d", (int)pid);
	}
	p->used = M_FORKSERVER; /* no sweep: this start forks nothing */
	if ((rc = mp__child_watch(&p->child, pid, none)) < 0) {
		pthread_mutex_unlock(&mp__reg_lock);
		return rc;
	}
	return started(p, -1);
}

int mp_process_start(mp_process_t *p)
{
	int pipefd[2] = {-1, -1}, exitfd[2] = {-1, -1};
	enum method m;
	pid_t pid, me;
	int rc;

	MP__CHECK_NULL(p);
	if (p->state == ST_CLOSED)
		return MP__ERR(MP_ECLOSED, "process object is closed");
	if (p->kind != K_CHILD)
		return MP__ERR(-EINVAL, "cannot start the current or parent "
					"process");
	if (p->state != ST_NEW)
		return MP__ERR(-EINVAL, "cannot start a process twice");
	me = mp__pid();
	if (p->creator != me)
		return MP__ERR(-ECHILD, "can only start a process object "
					"created by this process");
	if (mp__self.daemon)
		return MP__ERR(-EPERM, "daemonic processes are not allowed to "
				       "have children");
	pthread_once(&atexit_once, register_atexit);
	m = p->method == M_DEFAULT ? mp__default_method() : p->method;
	if (m != M_FORK)
		return start_other(p, m);
	/* Earlier output first; the child discards its copy of what another
	 * thread buffers meanwhile (mp__stdio_forget). */
	fflush(NULL);
	pthread_mutex_lock(&mp__reg_lock);
	if (p->state != ST_NEW) { /* another thread started it meanwhile */
		rc = MP__ERR(-EINVAL, "cannot start a process twice");
		goto fail_unlock;
	}
	if (mp__exiting) {
		rc = MP__ERR(MP_ECLOSED, "the program is exiting: no new "
					 "process can start");
		goto fail_unlock;
	}
	/* The pipes are made under the lock, so that no child that another
	 * thread starts meanwhile inherits their write ends. */
	if ((mp__needs_setup(p) && (rc = mp__report_pipe(pipefd)) < 0) ||
	    (!mp__have_pidfd() && (rc = mp__report_pipe(exitfd)) < 0)) {
		rc = MP__RAISE(rc);
		goto fail_unlock;
	}
	mp__sweep_locked();
	p->used = M_FORK;
	mp__forking = true; /* the atfork handlers: the lock is ours */
	pid = fork();
	mp__forking = false;
	if (pid == 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		if (exitfd[0] >= 0)
			close(exitfd[0]);
		child_main(p, me, pipefd[1], exitfd[1]);
	}
	if (pid < 0) {
		rc = MP__SYSERR("fork");
		goto fail_unlock;
	}
	/* its sentinel: the exit pipe without pidfds, else a pidfd */
	if ((rc = mp__child_watch(&p->child, pid, exitfd)) < 0) {
		rc = MP__RAISE(rc);
		goto fail_unlock;
	}
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	rc = started(p, pipefd[0]);
	return rc < 0 ? MP__RAISE(rc) : 0;

fail_unlock:
	pthread_mutex_unlock(&mp__reg_lock);
	for (int i = 0; i < 2; i++) {
		if (pipefd[i] >= 0)
			close(pipefd[i]);
		if (exitfd[i] >= 0)
			close(exitfd[i]);
	}
	return rc;
}

int mp_process_run(mp_process_t *p)
{
	MP__CHECK_NULL(p);
	if (p->kind != K_CHILD || p->target == NULL)
		return MP__ERR(-EINVAL, "the current or parent process has no "
					"target to run");
	return p->target(p->arg);
}
