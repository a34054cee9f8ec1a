/*
 * subprocess/spawn.c - starting a program: vfork + exec.
 *
 * Design notes.  Everything the child needs (argv, the environment, the fd
 * plan) is prepared before vfork, so between vfork and exec the child only
 * makes system calls on its own stack: it never allocates, never touches the
 * parent's locks.  All signals are blocked around vfork so that no handler of
 * the parent runs in the child (which shares the parent's memory until it
 * execs); the child resets caught signals (and SIGPIPE) to their defaults,
 * restores the mask, then execs.  An exec or setup failure is written to a
 * close-on-exec pipe as (errno, step): the parent reads EOF when exec
 * succeeded, else the error, and reaps the failed child itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/error.h"
#include "subprocess/subprocess_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

enum step { STEP_EXEC, STEP_CHDIR, STEP_DUP, STEP_SESSION, STEP_PASS };

struct plan {
	const char *const *argv;
	char *const *envp;
	const char *path; /* PATH to search, NULL: the default */
	int src[3];       /* fd to put on 0, 1, 2; -1 keeps the parent's */
	bool err_to_out;
	const char *cwd;
	bool setsid, setpgid, set_umask, keep_fds;
	mode_t umask;
	const int *pass;
	size_t npass;
	int errfd;
	sigset_t mask;
};

__attribute__((noreturn)) static void fail(const struct plan *c, int err,
					   int step)
{
	mp__report_fail(c->errfd, err, step, NULL);
}

/* execvp without malloc: try each PATH entry in a stack buffer. */
static int exec_search(const struct plan *c)
{
	const char *p = c->path ? c->path : "/usr/local/bin:/usr/bin:/bin";
	const char *file = c->argv[0];
	size_t flen = strlen(file);
	char buf[PATH_MAX];
	int err = ENOENT;
	bool eacces = false;

	if (strchr(file, '/') != NULL) {
		execve(file, (char *const *)c->argv, c->envp);
		return errno;
	}
	if (flen == 0 || flen >= NAME_MAX)
		return flen ? ENAMETOOLONG : ENOENT;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);

		if (dlen + flen + 2 <= sizeof(buf)) {
			if (dlen == 0)
				buf[0] = '.', dlen = 1; /* empty entry: cwd */
			else
				memcpy(buf, p, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
			execve(buf, (char *const *)c->argv, c->envp);
			err = errno;
			if (err == EACCES)
				eacces = true;
			else if (err != ENOENT && err != ENOTDIR && err != ELOOP &&
				 err != ENAMETOOLONG)
				return err; /* e.g. ENOEXEC, E2BIG: report it */
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return eacces ? EACCES : err;
}

__attribute__((noreturn)) static void child(const struct plan *c)
{
	struct sigaction sa;
	int src[3], i, sig;

	/* No handler of the parent may run here: reset caught signals. */
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &sa) < 0)
			continue;
		if ((sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) ||
		    sig == SIGPIPE || sig == SIGXFSZ) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = SIG_DFL;
			sigaction(sig, &sa, NULL);
		}
	}
	/* Move sources out of 0-2 first so no dup2 clobbers another. */
	for (i = 0; i < 3; i++) {
		src[i] = c->src[i];
		if (src[i] >= 0 && src[i] < 3 && src[i] != i &&
		    (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			fail(c, errno, STEP_DUP);
	}
	for (i = 0; i < 3; i++) {
		if (src[i] < 0)
			continue;
		if (src[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(src[i], i) < 0)
			fail(c, errno, STEP_DUP);
	}
	if (c->err_to_out && dup2(1, 2) < 0)
		fail(c, errno, STEP_DUP);
	if (c->cwd != NULL && chdir(c->cwd) < 0)
		fail(c, errno, STEP_CHDIR);
	if (c->set_umask)
		umask(c->umask);
	if (c->setsid ? setsid() < 0 : c->setpgid && setpgid(0, 0) < 0)
		fail(c, errno, STEP_SESSION);
	if (!c->keep_fds &&
	    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		/* Before Linux 5.11: mark them one by one. */
		for (i = 3; i < 65536; i++)
			if (i != c->errfd)
				fcntl(i, F_SETFD, FD_CLOEXEC);
	}
	for (size_t k = 0; k < c->npass; k++) /* closed since the check? */
		if (fcntl(c->pass[k], F_SETFD, 0) < 0)
			fail(c, errno, STEP_PASS);
	sigprocmask(SIG_SETMASK, &c->mask, NULL);
	fail(c, exec_search(c), STEP_EXEC);
	__builtin_unreachable();
}

/* child() for mp__vfork. */
static void run_child(void *arg)
{
	child(arg);
}

/* The environment to use: opts->env, or environ plus opts->env_add. */
static char **make_env(const mp_popen_opts_t *o, char ***owned)
{
	size_t n = 0, m = 0, i, j;
	char **env;

	*owned = NULL;
	if (o->env != NULL)
		return (char **)o->env;
	if (o->env_add == NULL)
		return environ;
	while (environ[n])
		n++;
	while (o->env_add[m])
		m++;
	if ((env = mp__calloc(n + m + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0, j = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t klen = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		bool replaced = false;

		for (size_t k = 0; k < m && !replaced; k++)
			replaced = strncmp(o->env_add[k], environ[i], klen) == 0;
		if (!replaced)
			env[j++] = environ[i];
	}
	for (i = 0; i < m; i++)
		env[j++] = (char *)o->env_add[i];
	*owned = env;
	return env;
}

static const char *find_path(char *const *env)
{
	for (; env && *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			return *env + 5;
	return NULL;
}

static const char *step_name(int step)
{
	static const char *const names[] = {"exec", "chdir", "dup2", "setsid",
					    "keeping pass_fds open"};
	return step >= 0 && step <= STEP_PASS ? names[step] : "setup";
}

/* Make the parent's and the child's ends of one stream; -errno. */
static int stream(const mp_stdio_t *s, int which, int *parent_end, int *child_end,
		  int *to_close)
{
	int fds[2];

	*parent_end = -1;
	*child_end = -1;
	switch (s->kind) {
	case MP_STDIO_INHERIT:
		return 0;
	case MP_STDIO_PIPE:
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		*parent_end = which == 0 ? fds[1] : fds[0];
		*child_end = *to_close = which == 0 ? fds[0] : fds[1];
		return 0;
	case MP_STDIO_DEVNULL:
		*child_end = *to_close =
			open("/dev/null", (which == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
		return *child_end < 0 ? -errno : 0;
	case MP_STDIO_FD:
		if (s->fd < 0 || fcntl(s->fd, F_GETFD) < 0)
			return -EBADF;
		*child_end = s->fd;
		return 0;
	case MP_STDIO_STDOUT:
		return which == 2 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* Every fd of pass_fds must be open: a closed one is an error, not
 * silently left out.  0 or a code with a reason. */
static int check_pass_fds(const mp_popen_opts_t *o)
{
	if (o->npass_fds > 0 && o->pass_fds == NULL)
		return mp__why(-EINVAL, "opts->pass_fds is NULL but "
			       "opts->npass_fds is %zu", o->npass_fds);
	for (size_t i = 0; i < o->npass_fds; i++)
		if (o->pass_fds[i] < 0 || fcntl(o->pass_fds[i], F_GETFD) < 0)
			return mp__why(-EBADF, "opts->pass_fds[%zu] = %d is not "
				       "an open fd", i, o->pass_fds[i]);
	return 0;
}

static int check_args(const char *const argv[], const mp_popen_opts_t *o)
{
	if (argv == NULL)
		return mp__why(-EINVAL, "argument 'argv' is NULL");
	if (argv[0] == NULL)
		return mp__why(-EINVAL, "argv is empty");
	if (o->in.kind == MP_STDIO_STDOUT || o->out.kind == MP_STDIO_STDOUT)
		return mp__why(-EINVAL, "only stderr can go to MP_STDIO_STDOUT");
	return check_pass_fds(o);
}

/* Fill the plan from the options (streams and environment are apart). */
static void plan_opts(struct plan *c, const mp_popen_opts_t *o)
{
	c->err_to_out = o->err.kind == MP_STDIO_STDOUT;
	c->path = find_path(c->envp);
	c->cwd = o->cwd;
	c->setsid = o->start_new_session;
	c->setpgid = o->new_process_group;
	c->set_umask = o->set_umask;
	c->umask = o->umask;
	c->keep_fds = o->keep_fds;
	c->pass = o->pass_fds;
	c->npass = o->npass_fds;
}

/* The reason for a child's report (it has been reaped). */
static int report_why(const struct mp__child_report *r,
		      const char *const argv[], const mp_popen_opts_t *o)
{
	if (r->stage == STEP_EXEC)
		return mp__why(-r->err, "cannot run '%s': %s", argv[0],
			       mp_strerror(-r->err));
	return mp__why(-r->err, "%s%s%s before running '%s': %s",
		       step_name(r->stage),
		       r->stage == STEP_CHDIR ? " to " : "",
		       r->stage == STEP_CHDIR ? o->cwd : "", argv[0],
		       mp_strerror(-r->err));
}

/*
 * Spawn the child of plan c and learn whether it exec'd: its pid, or a code
 * with a reason (a child that failed is reaped).  Closes the child's ends
 * of the streams (close_child) in every case.
 */
static pid_t launch(struct plan *c, const char *const argv[],
		    const mp_popen_opts_t *o, int close_child[3])
{
	struct mp__child_report r;
	int errpipe[2], i, rc;
	pid_t pid = -1;

	rc = mp__report_pipe(errpipe);
	if (rc == 0) {
		c->errfd = errpipe[1];
		pid = mp__vfork(run_child, (void *)c, &c->mask);
		close(errpipe[1]);
	}
	for (i = 0; i < 3; i++)
		if (close_child[i] >= 0)
			close(close_child[i]);
	if (rc < 0)
		return rc;
	if (pid < 0) {
		close(errpipe[0]);
		return mp__why((int)pid, "vfork: %s", mp_strerror((int)pid));
	}
	rc = mp__report_read(errpipe[0], &r);
	close(errpipe[0]);
	if (rc == 0)
		return pid;
	mp__child_reap_wait(pid); /* the child failed before exec */
	return report_why(&r, argv, o);
}

int mp__popen_new(const char *const argv[], const mp_popen_opts_t *opts,
		  mp_popen_t **out)
{
	static const mp_popen_opts_t defaults;
	static const char *const names[] = {"stdin", "stdout", "stderr"};
	int parent_end[3] = {-1, -1, -1}, close_child[3] = {-1, -1, -1};
	struct plan c = {0};
	char **owned_env;
	mp_popen_t *p;
	pid_t pid;
	int i, rc;

	if (opts == NULL)
		opts = &defaults;
	if ((rc = check_args(argv, opts)) < 0)
		return rc;
	if ((p = mp__calloc(1, sizeof(*p))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	const mp_stdio_t *s[3] = {&opts->in, &opts->out, &opts->err};
	for (i = 0; i < 3; i++) {
		rc = stream(s[i], i, &parent_end[i], &c.src[i], &close_child[i]);
		if (rc < 0) {
			rc = mp__why(rc, "cannot set up %s: %s", names[i],
				     mp_strerror(rc));
			goto fail_streams;
		}
	}
	c.argv = argv;
	if ((c.envp = make_env(opts, &owned_env)) == NULL) {
		rc = mp__why(-ENOMEM, "out of memory");
		goto fail_streams;
	}
	plan_opts(&c, opts);
	pid = launch(&c, argv, opts, close_child);
	mp__free(owned_env);
	if (pid < 0) {
		rc = (int)pid;
		goto fail_parent;
	}
	p->child.pid = pid;
	p->group = opts->new_process_group || opts->start_new_session;
	p->child.fd = mp__pidfd_open(pid);
	/* ENOSYS: no pidfds here; it is tracked by pid (internal/child.h). */
	if (p->child.fd < 0 && errno != ENOSYS) { /* cannot track it */
		rc = MP__WHY_SYS("pidfd_open");
		mp__child_kill_reap(&p->child);
		goto fail_parent;
	}
	p->out_pipe = parent_end[1] >= 0;
	p->fd_in = parent_end[0];
	p->fd_out = parent_end[1];
	p->fd_err = parent_end[2];
	*out = p;
	return 0;

fail_streams:
	for (i = 0; i < 3; i++)
		if (close_child[i] >= 0)
			close(close_child[i]);
fail_parent:
	for (i = 0; i < 3; i++)
		if (parent_end[i] >= 0)
			close(parent_end[i]);
	mp__free(p);
	return rc;
}

mp_popen_t *mp_popen_new(const char *const argv[], const mp_popen_opts_t *opts)
{
	mp_popen_t *p = NULL;
	int rc = mp__popen_new(argv, opts, &p);

	if (rc < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	return p;
}
