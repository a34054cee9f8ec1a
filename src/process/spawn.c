/*
 * process/spawn.c - the spawn start method: a fresh exec of this program.
 *
 * Parent: the request (request.h) is written to a memfd; the child is made
 * with vfork (every signal blocked, as subprocess/spawn.c does), applies the
 * options, marks every fd but 0-2, the memfd (and, without pidfds, its exit
 * pipe) close-on-exec, and execs the binary mp_init opened
 * (execveat(fd, "", AT_EMPTY_PATH): a file replaced on disk since does not
 * matter) with MP_SPAWN_FD=<memfd>[,<exit pipe>] in its environment.  A
 * failure before exec comes back on a close-on-exec report pipe.  The child
 * is then a child like a fork one: pidfd, reaping, signals.
 *
 * Child: mp_init sees MP_SPAWN_FD, reads the memfd (its size is what
 * arrived), decodes it, finds the target by name, becomes the process
 * object and runs the target, then exits with its return value.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "internal/travel.h"
#include "process/process_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

enum { STAGE_FDS = 1, STAGE_STDIN, STAGE_EXEC };

int mp__memfd_with(const char *name, const void *buf, size_t n)
{
	const char *b = buf;
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return MP__WHY_SYS("memfd_create");
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int rc = MP__WHY_SYS("write(memfd)");

			close(fd);
			return rc;
		}
		b += w;
		n -= (size_t)w;
	}
	return fd;
}

/* A memfd holding p's request: the fd, or a code with a reason. */
static int request_memfd(const struct mp_process *p, const char *tname,
			 const struct mp__travel *t)
{
	struct mp__req_src src;
	size_t size;
	void *buf;
	int fd;

	mp__req_from(p, tname, t, &src);
	if ((size = mp__req_size(&src)) == 0)
		return mp__why(-EOVERFLOW, "arg of %zu bytes is too big",
			       p->arg_len);
	if ((buf = mp__malloc(size)) == NULL)
		return mp__why(-ENOMEM, "out of memory for a request of %zu "
					"bytes",
			       size);
	mp__req_encode(&src, buf);
	fd = mp__memfd_with("mproc-spawn", buf, size);
	mp__free(buf);
	return fd;
}

/* environ without MP_SPAWN_*, plus var and space (if not NULL): an array
 * to mp__free, or NULL. */
static char **make_env(char *var, char *space)
{
	size_t n = 0, j = 0;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((env = mp__calloc(n + 3, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MP_SPAWN_", 9) != 0)
			env[j++] = environ[i];
	env[j++] = var;
	if (space != NULL)
		env[j++] = space;
	env[j] = NULL;
	return env;
}

struct plan {
	const struct mp_process *p;
	const struct mp__travel *t; /* their fds stay open across exec */
	char *argv[2];
	char **envp;
	int memfd, exitw, errfd;
	sigset_t mask;
};

/* The vforked child: only system calls on its own stack until exec. */
__attribute__((noreturn)) static void child(struct plan *c)
{
	int fd;

	/* Caught signals would run the parent's handlers after exec's reset
	 * only if they fired before it: they are blocked until exec. */
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &sa) == 0 &&
		    sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
			sa.sa_handler = SIG_DFL;
			sa.sa_flags = 0;
			sigaction(sig, &sa, NULL);
		}
	}
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (fd = 3; fd < 65536; fd++)
			if (fd != c->errfd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (fcntl(c->memfd, F_SETFD, 0) < 0 ||
	    (c->exitw >= 0 && fcntl(c->exitw, F_SETFD, 0) < 0))
		mp__report_fail(c->errfd, errno, STAGE_FDS, "fcntl(F_SETFD)");
	for (size_t i = 0; i < c->t->nfds; i++)
		if (fcntl(c->t->fds[i], F_SETFD, 0) < 0)
			mp__report_fail(c->errfd, errno, STAGE_FDS,
					"fcntl(F_SETFD) of a shared object's fd");
	mp__apply_opts(c->p, c->errfd);
	if (!c->p->keep_stdin) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (fd != 0 && dup2(fd, 0) < 0) ||
		    (fd == 0 && fcntl(fd, F_SETFD, 0) < 0))
			mp__report_fail(c->errfd, errno, STAGE_STDIN,
					"open(/dev/null) as stdin");
		if (fd > 0)
			close(fd);
	}
	sigprocmask(SIG_SETMASK, &c->mask, NULL);
	syscall(SYS_execveat, mp__exe_fd, "", c->argv, c->envp, AT_EMPTY_PATH);
	mp__report_fail(c->errfd, errno, STAGE_EXEC,
			"execveat(/proc/self/exe)");
}

/* child() for mp__vfork. */
static void run_child(void *arg)
{
	child(arg);
}

int mp__spawn_start(struct mp_process *p, const char *tname, int *setup_fd)
{
	int errp[2] = {-1, -1}, exitp[2] = {-1, -1};
	struct mp__child_report r;
	struct mp__travel t;
	struct plan c;
	char var[48], space[48];
	pid_t pid;
	int rc;

	*setup_fd = -1;
	memset(&c, 0, sizeof(c));
	c.p = p;
	c.t = &t;
	c.exitw = -1;
	c.argv[0] = (char *)(mp__argv0 != NULL ? mp__argv0 : p->name);
	if ((rc = mp__travel_describe(p->shared, p->nshared, "spawn", &t)) < 0)
		return rc;
	if ((c.memfd = request_memfd(p, tname, &t)) < 0) {
		mp__travel_release(&t);
		return c.memfd;
	}
	if ((rc = mp__report_pipe(errp)) < 0 ||
	    (!mp__have_pidfd() && (rc = mp__report_pipe(exitp)) < 0))
		goto out;
	c.errfd = errp[1];
	c.exitw = exitp[1];
	if (c.exitw >= 0)
		snprintf(var, sizeof(var), "MP_SPAWN_FD=%d,%d", c.memfd,
			 c.exitw);
	else
		snprintf(var, sizeof(var), "MP_SPAWN_FD=%d", c.memfd);
	/* The range for managers' regions (manager/space.c). */
	if ((c.envp = make_env(var, mp__space_env(space, sizeof(space))
					    ? space
					    : NULL)) == NULL) {
		rc = mp__why(-ENOMEM, "out of memory");
		goto out;
	}
	mp__forking = true; /* a sanitizer may make vfork a fork: atfork */
	pid = mp__vfork(run_child, &c, &c.mask);
	mp__forking = false;
	if (pid < 0) {
		errno = -pid;
		rc = MP__WHY_SYS("vfork");
		goto out;
	}
	close(errp[1]);
	errp[1] = -1;
	if (mp__report_read(errp[0], &r)) { /* it failed and _exits */
		mp__child_reap_wait(pid);
		rc = mp__why(-r.err, "%s failed in the spawn child of %s: %s",
			     r.what, p->name, mp_strerror(-r.err));
		goto out;
	}
	/* its sentinel: the exit pipe without pidfds, else a pidfd */
	rc = mp__child_watch(&p->child, pid, exitp);
out:
	mp__free(c.envp);
	mp__travel_release(&t);
	close(c.memfd);
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (exitp[i] >= 0)
			close(exitp[i]);
	}
	return rc;
}

/* ---- in the spawned child ---- */

__attribute__((noreturn)) static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mproc: spawn child: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(127);
}

/* Read the whole memfd: a buffer of *len bytes (the size it has), or die. */
static char *read_request(int fd, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		die("cannot read the request: %s", strerror(errno));
	*len = (size_t)st.st_size;
	if ((buf = mp__malloc(*len)) == NULL)
		die("out of memory for the request%s", "");
	while (got < *len) {
		ssize_t n = pread(fd, buf + got, *len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot read the request: %s",
			    n < 0 ? strerror(errno) : "short file");
		got += (size_t)n;
	}
	close(fd);
	return buf;
}

void mp__spawn_child_main(int fd)
{
	struct mp__req r;
	mp_target_fn fn;
	size_t len;
	char *buf;
	void *arg;
	int rc;

	buf = read_request(fd, &len);
	if ((rc = mp__req_decode(buf, len, &r)) < 0)
		die("%s", mp__reason(rc));
	if ((fn = mp__target_find(r.target)) == NULL)
		die("no target registered as '%s' (MP_TARGET)", r.target);
	if (r.nshared > 0) {
		int fds[REQ_MAX_SHARED];

		for (size_t i = 0; i < r.nshared_fds; i++)
			fds[i] = mp__req_shared_fd(&r, i);
		if ((rc = mp__travel_adopt(&r, fds)) < 0)
			die("%s", mp__reason(rc));
	}
	mp__become(r.name, r.ident, r.flags & REQ_DAEMON, r.ppid, -1,
		   getpid());
	if (r.flags & REQ_DAEMON) {
		mp__die_with_parent(r.ppid, 1);
	}
	prctl(PR_SET_NAME, r.name);
	arg = mp__req_arg(&r);
	if (arg == NULL && r.arg_len > 0)
		die("out of memory for the arg%s", "");
	mp__child_run(fn, arg);
}
