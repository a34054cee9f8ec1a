/*
 * process/fs_server.c - the fork server itself (forkserver.c starts it and
 * is its client; the top comment there says what it does and checks).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "process/fs_int.h"
#include "process/process_int.h"

/* ---- the server ---- */

struct kid {
	pid_t pid;
	int status_fd;
};

static struct {
	int sock, sigfd, parent_fd;
	pid_t parent, self;
	bool null_stdin; /* the server's fd 0 is /dev/null, read-only */
	struct kid *kids;
	size_t nkids, cap;
	unsigned char *buf;
} S;

/* Keep fds 0-2 and keep[]; close every other fd (the program's, which
 * the server's children must not inherit). */
static void close_except(const int *keep, int n)
{
	int lo = 3;

	for (;;) {
		int next = -1;

		for (int i = 0; i < n; i++)
			if (keep[i] >= lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			syscall(SYS_close_range, lo, ~0U, 0);
			return;
		}
		if (next > lo)
			syscall(SYS_close_range, lo, next - 1, 0);
		lo = next + 1;
	}
}

static void server_exit(void)
{
	for (size_t i = 0; i < S.nkids; i++)
		kill(S.kids[i].pid, SIGKILL);
	_exit(0);
}

static void reply(int err, pid_t pid, int pidfd)
{
	struct fs_reply r = {.err = err, .pid = pid};

	mpi_fs_send_fds(S.sock, &r, sizeof(r), &pidfd, pidfd >= 0 ? 1 : 0);
}

/* Reap the server's children that ended and tell their requesters. */
static void reap_kids(void)
{
	struct signalfd_siginfo si;
	struct rusage ru;
	int status;
	pid_t pid;

	/* SIGCHLD is not queued: one read takes it (one that comes after
	 * makes the signalfd readable again, and wait4 below may already
	 * have reaped its child: then the next call finds none). */
	while (read(S.sigfd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	while (S.nkids > 0 && (pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		struct fs_status st;

		memset(&st, 0, sizeof(st));
		st.code = WIFEXITED(status) ? WEXITSTATUS(status)
					    : -WTERMSIG(status);
		st.utime_us = (int64_t)ru.ru_utime.tv_sec * 1000000 +
			      ru.ru_utime.tv_usec;
		st.stime_us = (int64_t)ru.ru_stime.tv_sec * 1000000 +
			      ru.ru_stime.tv_usec;
		st.maxrss_kb = ru.ru_maxrss;
		for (size_t i = 0; i < S.nkids; i++) {
			if (S.kids[i].pid != pid)
				continue;
			int fd = S.kids[i].status_fd;

			while (write(fd, &st, sizeof(st)) < 0 && errno == EINTR)
				;
			close(fd);
			S.kids[i] = S.kids[--S.nkids];
			break;
		}
	}
}

/* In the server's new child: become the requested process and run it. */
__attribute__((noreturn)) static void kid_main(const struct mpi_req *r,
					       mp_target_fn fn, int *fds,
					       int nfds, pid_t server)
{
	struct mp_process p;
	int at = 1, report = -1, argfd = -1, fd;
	void *arg = NULL;
	sigset_t none;

	mpi_die_with_parent(server, 1);
	close(S.sock);
	close(S.sigfd);
	for (size_t i = 0; i < S.nkids; i++)
		close(S.kids[i].status_fd);
	close(fds[0]); /* the status socket: the server's to write */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++) {
		static const uint32_t flag[3] = {REQ_FD_STDIN, REQ_FD_STDOUT,
						 REQ_FD_STDERR};

		if (r->flags & flag[i]) {
			dup2(fds[at], i);
			close(fds[at++]);
		} else if (i == 0 && !(r->flags & REQ_KEEP_STDIN) &&
			   S.null_stdin) {
			/* the server's own stdin is /dev/null already */
		} else {
			close(i);
		}
	}
	if (r->flags & REQ_FD_REPORT)
		report = fds[at++];
	if (r->flags & REQ_ARG_FD)
		argfd = fds[at++];
	(void)nfds;
	if (r->nshared > 0 && (fd = mpi_travel_adopt(r, fds + at)) < 0)
		mpi_report_fail(report, -fd, 0, mpi_reason(fd));
	if (argfd < 0 && (arg = mpi_req_arg(r)) == NULL && r->arg_len > 0)
		mpi_report_fail(report, ENOMEM, 0, "arg bytes");
	memset(&p, 0, sizeof(p));
	p.nice = r->nice;
	p.policy = (mp_sched_policy_t)r->policy;
	p.priority = r->priority;
	p.new_session = r->flags & REQ_SESSION;
	p.new_group = r->flags & REQ_GROUP;
	if (r->naffinity > 0) {
		p.affinity = mpi_calloc(r->naffinity, sizeof(int));
		if (p.affinity == NULL)
			mpi_report_fail(report, ENOMEM, 0, "affinity list");
		for (size_t i = 0; i < r->naffinity; i++)
			p.affinity[i] = mpi_req_cpu(r, i);
		p.naffinity = r->naffinity;
	}
	if (argfd >= 0) {
		struct stat st;
		size_t got = 0;
		char *a;

		if (fstat(argfd, &st) < 0 || (uint64_t)st.st_size != r->arg_len)
			mpi_report_fail(report, EPROTO, 0, "arg memfd size");
		if ((a = mpi_malloc(r->arg_len + 1)) == NULL)
			mpi_report_fail(report, ENOMEM, 0, "arg bytes");
		while (got < r->arg_len) {
			ssize_t n = pread(argfd, a + got, r->arg_len - got,
					  (off_t)got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				mpi_report_fail(report, n < 0 ? errno : EIO,
						0, "reading the arg memfd");
			got += (size_t)n;
		}
		a[r->arg_len] = '\0';
		close(argfd);
		arg = a;
	}
	mpi_become(r->name, r->ident, r->flags & REQ_DAEMON, r->ppid,
		   S.parent_fd);
	if (S.parent_fd < 0) /* no pidfds: watch the server instead */
		mpi_parent_via = server;
	mpi_apply_opts(&p, report); /* fails with exit 127 without one */
	if (report >= 0)
		close(report);
	prctl(PR_SET_NAME, r->name);
	mpi_child_run(fn, arg);
}

int mpi_fs_validate(const void *buf, size_t len, int nfds,
		    const struct ucred *cred, pid_t parent, struct mpi_req *r,
		    mp_target_fn *fn)
{
	if (cred == NULL || cred->pid != parent || cred->uid != getuid())
		return -EPERM;
	if (mpi_req_decode(buf, len, r) < 0)
		return -EPROTO;
	if (nfds != 1 + mpi_req_nfds(r))
		return -EBADF;
	if (r->ppid != parent)
		return -EPERM;
	if ((*fn = mpi_target_find(r->target)) == NULL)
		return -ENOENT;
	return 0;
}

/* Serve one message on the socket. */
static void serve_one(void)
{
	int fds[MAX_FDS], nfds, pidfd, err;
	struct ucred cred;
	struct mpi_req r;
	mp_target_fn fn = NULL;
	bool has_cred;
	ssize_t n;
	pid_t pid, self;

	n = mpi_fs_recv_fds(S.sock, S.buf, REQ_MAX_INLINE, fds, &nfds, &cred,
		     &has_cred);
	if (n == 0 || n == -ECONNRESET)
		server_exit(); /* the program closed the socket */
	if (n < 0) {
		if (n != -EAGAIN)
			reply((int)n, 0, -1);
		return;
	}
	err = mpi_fs_validate(S.buf, (size_t)n, nfds,
			      has_cred ? &cred : NULL, S.parent, &r, &fn);
	if (err == 0 && S.nkids == S.cap) {
		size_t cap = S.cap ? S.cap * 2 : 16;
		struct kid *k = mpi_reallocarray(S.kids, cap, sizeof(*k));

		if (k == NULL) {
			err = -ENOMEM;
		} else {
			S.kids = k;
			S.cap = cap;
		}
	}
	if (err < 0) {
		mpi_fs_close_fds(fds, nfds);
		reply(err, 0, -1);
		return;
	}
	self = S.self; /* the kid checks it still has us */
	pid = fork();
	if (pid == 0)
		kid_main(&r, fn, fds, nfds, self);
	if (pid < 0) {
		err = -errno;
		mpi_fs_close_fds(fds, nfds);
		reply(err, 0, -1);
		return;
	}
	S.kids[S.nkids].pid = pid;
	S.kids[S.nkids++].status_fd = fds[0];
	pidfd = mpi_pidfd_open(pid);
	reply(0, pid, pidfd); /* first: the program waits for it */
	if (pidfd >= 0)
		close(pidfd);
	mpi_fs_close_fds(fds + 1, nfds - 1);
}

void mpi_fs_server_main(int sock, pid_t parent)
{
	struct pollfd pfd[3];
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	sigset_t chld;
	int keep[4], devnull;

	mpi_die_with_parent(parent, 0);
	prctl(PR_SET_NAME, "mp-forkserver");
	S.sock = sock;
	S.parent = parent;
	S.self = getpid();
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    cred.pid != parent || cred.uid != getuid())
		_exit(1);
	S.parent_fd = mpi_pidfd_open(parent);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	S.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	S.buf = mpi_malloc(REQ_MAX_INLINE);
	if (S.sigfd < 0 || S.buf == NULL)
		_exit(1);
	/* Nothing of the program's but the binary (spawn from our children). */
	keep[0] = sock;
	keep[1] = S.sigfd;
	keep[2] = S.parent_fd;
	keep[3] = mpi_exe_fd;
	close_except(keep, 4);
	/* The server itself never prints: a pipe on the program's stdout
	 * must not wait for it.  Children get the program's stdio, or
	 * the server's stdin (/dev/null, read-only, as CPython gives). */
	if ((devnull = open("/dev/null", O_RDONLY)) >= 0) {
		S.null_stdin = devnull == 0 || dup2(devnull, 0) == 0;
		if (devnull != 0)
			close(devnull);
	}
	if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
		for (int i = 1; i < 3; i++)
			if (devnull != i)
				dup2(devnull, i);
		if (devnull > 2)
			close(devnull);
	}
	pfd[0] = (struct pollfd){.fd = sock, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = S.sigfd, .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = S.parent_fd, .events = POLLIN};
	for (;;) {
		int n = poll(pfd, S.parent_fd >= 0 ? 3 : 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			server_exit();
		if (pfd[1].revents)
			reap_kids();
		if (S.parent_fd >= 0 && pfd[2].revents)
			server_exit(); /* the program ended */
		if (pfd[0].revents & POLLIN)
			serve_one();
		else if (pfd[0].revents & (POLLHUP | POLLERR))
			server_exit();
	}
}
