/*
 * process/forkserver.c - the forkserver start method.
 *
 * mp_init forks the server early, while the program is small and has one
 * thread.  The request channel is a SOCK_SEQPACKET socket pair made just
 * before (no path in the file system).  The server is single-threaded; it
 *   - dies with the program: PR_SET_PDEATHSIG(SIGKILL) (checked against a
 *     parent that died before the prctl), a pidfd of the program in its
 *     poll set, and EOF on the socket;
 *   - checks SO_PEERCRED of the pair at start, then the SCM_CREDENTIALS of
 *     every request (SO_PASSCRED: the kernel fills them in): only the
 *     program itself (its pid and uid) is served; anyone else who holds
 *     the socket (a fork child of the program) gets -EPERM;
 *   - receives one request per message (request.h) with its fds by
 *     SCM_RIGHTS: the status socket's write end, then the child's stdin,
 *     stdout, stderr, the setup report pipe and the arg memfd as the flags
 *     say.  Anything else (truncated, oversized, wrong fd count, bad
 *     fields, unknown target) is refused with an error reply, its fds
 *     closed, and the server goes on serving;
 *   - forks the child, replies (0, pid) with a pidfd of the child by
 *     SCM_RIGHTS (no fd without pidfds), keeps the status socket, and when
 *     the child ends (SIGCHLD through a signalfd, wait4) writes its exit
 *     code and rusage there and closes it.
 * Each child of the server has PR_SET_PDEATHSIG(SIGKILL): when the server
 * goes (the program died), its children die too.  At a normal exit the
 * program first joins them (the process module's exit cleanup), then closes
 * the socket; the server kills what is left and exits.
 *
 * The requester: the status socket's read end is the child's sentinel (and
 * what join waits on), the pidfd is for signals.  Requests are serialised
 * by a mutex (one reply per request, in order).
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
#include "process/process_int.h"

/* status, stdin, stdout, stderr, report, arg, then the shared objects' */
#define MAX_FDS (6 + REQ_MAX_SHARED)

/* What the server writes to a status socket when its child ends. */
struct fs_status {
	int32_t code; /* exit status, or -N for signal N */
	int32_t pad;
	int64_t utime_us, stime_us, maxrss_kb;
};

/* The reply to a request. */
struct fs_reply {
	int32_t err; /* 0 or a negative code */
	int32_t pid;
};

/* ---- the client side (the program) ---- */

static int fs_sock = -1;
static pid_t fs_pid, fs_owner;
static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;

bool mpi_fs_usable(void)
{
	if (fs_sock < 0 || fs_owner == 0) {
		mpi_why(-ENOTSUP, "start method 'forkserver' needs mp_init() "
				  "called first in main()");
		return false;
	}
	if (fs_owner != getpid()) {
		mpi_why(-ENOTSUP, "the fork server serves only the process "
				  "that called mp_init() (pid %d); use "
				  "spawn or fork here",
			(int)fs_owner);
		return false;
	}
	return true;
}

pid_t mpi_forkserver_pid(void)
{
	return fs_owner == getpid() ? fs_pid : 0;
}

/* ---- fd passing ---- */

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Send buf with fds (may be 0 of them): 0 or -errno. */
static int send_fds(int sock, const void *buf, size_t len, const int *fds,
		    int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/*
 * Receive one message into buf (cap bytes) and up to MAX_FDS fds (closed
 * on exec), and the sender's credentials if cred != NULL.  The length, 0
 * at EOF, or -errno; -EMSGSIZE when the message or its fds were cut (the
 * fds that came are then closed).  *nfds: how many fds came.
 */
static ssize_t recv_fds(int sock, void *buf, size_t cap, int *fds, int *nfds,
			struct ucred *cred, bool *has_cred)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS) +
			 CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	ssize_t n;

	*nfds = 0;
	if (has_cred != NULL)
		*has_cred = false;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
				if (*nfds < MAX_FDS)
					fds[(*nfds)++] = fd;
				else
					close(fd);
			}
		} else if (cm->cmsg_type == SCM_CREDENTIALS && cred != NULL &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(*cred))) {
			memcpy(cred, CMSG_DATA(cm), sizeof(*cred));
			*has_cred = true;
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

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

	send_fds(S.sock, &r, sizeof(r), &pidfd, pidfd >= 0 ? 1 : 0);
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

	n = recv_fds(S.sock, S.buf, REQ_MAX_INLINE, fds, &nfds, &cred,
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
		close_fds(fds, nfds);
		reply(err, 0, -1);
		return;
	}
	self = S.self; /* the kid checks it still has us */
	pid = fork();
	if (pid == 0)
		kid_main(&r, fn, fds, nfds, self);
	if (pid < 0) {
		err = -errno;
		close_fds(fds, nfds);
		reply(err, 0, -1);
		return;
	}
	S.kids[S.nkids].pid = pid;
	S.kids[S.nkids++].status_fd = fds[0];
	pidfd = mpi_pidfd_open(pid);
	reply(0, pid, pidfd); /* first: the program waits for it */
	if (pidfd >= 0)
		close(pidfd);
	close_fds(fds + 1, nfds - 1);
}

__attribute__((noreturn)) static void server_main(int sock, pid_t parent)
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

static void fs_atexit(void)
{
	mpi_forkserver_stop();
}

int mpi_fs_launch(void)
{
	static bool atexit_done;
	int sv[2], one = 1;
	pid_t me = getpid(), pid;

	if (fs_sock >= 0 && fs_owner != me) { /* our parent's server */
		close(fs_sock);
		fs_sock = -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return MPI_WHY_SYS("socketpair");
	if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) <
	    0) {
		close(sv[0]);
		close(sv[1]);
		return MPI_WHY_SYS("setsockopt(SO_PASSCRED)");
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		fs_sock = -1;
		server_main(sv[1], me);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return MPI_WHY_SYS("fork (the fork server)");
	}
	fs_sock = sv[0];
	fs_pid = pid;
	fs_owner = me;
	if (!atexit_done) {
		atexit_done = true;
		atexit(fs_atexit);
	}
	return 0;
}

void mpi_forkserver_stop(void)
{
	struct mpi_child c;

	if (fs_owner != getpid() || fs_sock < 0)
		return;
	pthread_mutex_lock(&fs_lock);
	close(fs_sock);
	fs_sock = -1;
	pthread_mutex_unlock(&fs_lock);
	/* It exits at EOF; give it a moment, then make sure. */
	c.pid = fs_pid;
	c.fd = mpi_pidfd_open(fs_pid);
	if (mpi_child_wait(&c, mpi_deadline_in(mpi_timeout_ns(2.0))) < 0)
		kill(fs_pid, SIGKILL);
	if (c.fd >= 0)
		close(c.fd);
	mpi_child_reap_wait(fs_pid);
	fs_pid = 0;
}

/* ---- a request ---- */

/*
 * Send a request (len bytes, with nfds fds) and read the reply: 0 with
 * *pid and *pidfd (-1 if none came), or the server's error, or MP_EBROKEN
 * when the server is gone.  Serialised by fs_lock.
 */
static int fs_request(const void *req, size_t len, const int *fds, int nfds,
		      pid_t *pid, int *pidfd, bool *bad_fd)
{
	struct fs_reply r;
	int got[MAX_FDS], ngot, rc;
	ssize_t n;

	*pidfd = -1;
	*bad_fd = false;
	pthread_mutex_lock(&fs_lock);
	if (fs_sock < 0) {
		pthread_mutex_unlock(&fs_lock);
		return mpi_why(MP_EBROKEN, "the fork server is stopped");
	}
	rc = send_fds(fs_sock, req, len, fds, nfds);
	n = rc < 0 ? rc
		   : recv_fds(fs_sock, &r, sizeof(r), got, &ngot, NULL, NULL);
	pthread_mutex_unlock(&fs_lock);
	if (rc == -EPIPE || rc == -ECONNRESET || n == 0 || n == -ECONNRESET)
		return mpi_why(MP_EBROKEN, "the fork server died");
	*bad_fd = rc == -EBADF;
	if (rc < 0)
		return mpi_why(rc, "sendmsg to the fork server: %s",
			       mp_strerror(rc));
	if (n < 0)
		return mpi_why((int)n, "recvmsg from the fork server: %s",
			       mp_strerror((int)n));
	if (n != (ssize_t)sizeof(r) || ngot > 1 || (r.err == 0 && r.pid <= 0)) {
		close_fds(got, ngot);
		return mpi_why(-EPROTO, "bad reply from the fork server");
	}
	if (r.err < 0) {
		close_fds(got, ngot);
		return mpi_why(r.err, "the fork server refused: %s",
			       mp_strerror(r.err));
	}
	*pid = r.pid;
	*pidfd = ngot == 1 ? got[0] : -1;
	return 0;
}

int mpi_fs_request(const void *req, size_t len, const int *fds, int nfds,
		   pid_t *pid, int *pidfd)
{
	bool bad_fd;

	return fs_request(req, len, fds, nfds, pid, pidfd, &bad_fd);
}

/*
 * Put the program's stdio fds the child gets in fds[] (and their flags):
 * all of them, or, when probe is set, only those open (a closed one makes
 * sendmsg fail with EBADF: then the caller probes, which is rare).
 */
static void stdio_fds(const struct mp_process *p, bool probe, uint32_t *flags,
		      int *fds, int *nfds)
{
	static const uint32_t flag[3] = {REQ_FD_STDIN, REQ_FD_STDOUT,
					 REQ_FD_STDERR};

	*flags &= ~(uint32_t)(REQ_FD_STDIN | REQ_FD_STDOUT | REQ_FD_STDERR);
	for (int i = p->keep_stdin ? 0 : 1; i < 3; i++) {
		if (probe && fcntl(i, F_GETFD) < 0)
			continue;
		*flags |= flag[i];
		fds[(*nfds)++] = i;
	}
}

/*
 * Move the fds a start makes off 0-2 (a closed stdio fd of the program's
 * would otherwise be taken by them and go to the child as its stdio):
 * 0, or a code with a reason (*fd is then closed and -1).
 */
static int off_stdio(int *fd)
{
	int to;

	if (*fd < 0 || *fd > 2)
		return 0;
	to = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	close(*fd);
	*fd = to;
	return to < 0 ? MPI_WHY_SYS("fcntl(F_DUPFD_CLOEXEC)") : 0;
}

/* A memfd holding n bytes of buf: the fd or a code with a reason. */
static int arg_memfd(const void *buf, size_t n)
{
	const char *b = buf;
	int fd = memfd_create("mproc-arg", MFD_CLOEXEC);

	if (fd < 0)
		return MPI_WHY_SYS("memfd_create");
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int rc = MPI_WHY_SYS("write(memfd)");

			close(fd);
			return rc;
		}
		b += w;
		n -= (size_t)w;
	}
	return fd;
}

int mpi_fs_start(struct mp_process *p, const char *tname, int *setup_fd)
{
	int status[2] = {-1, -1}, rep[2] = {-1, -1}, fds[MAX_FDS], nfds = 0;
	int argfd = -1, pidfd, rc;
	struct mpi_req_src src;
	struct mpi_travel t;
	void *buf = NULL;
	size_t size;
	pid_t pid = 0;

	*setup_fd = -1;
	if ((rc = mpi_travel_describe(p->shared, p->nshared, "forkserver",
				      &t)) < 0)
		return rc;
	mpi_req_from(p, tname, &t, &src);
	size = mpi_req_size(&src);
	if (size == 0 || size > REQ_MAX_INLINE) { /* the arg goes apart */
		src.h.flags |= REQ_ARG_FD;
		size = mpi_req_size(&src);
		if ((argfd = arg_memfd(p->arg, p->arg_len)) < 0) {
			mpi_travel_release(&t);
			return argfd;
		}
	}
	if ((buf = mpi_malloc(size)) == NULL) {
		rc = mpi_why(-ENOMEM, "out of memory");
		goto out;
	}
	/* A socket, not a pipe: the status is read with MSG_PEEK, so the
	 * sentinel stays readable once the child ended, however often (and
	 * by whom: a sweep) it was reaped, as a pidfd does. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       status) < 0) {
		rc = MPI_WHY_SYS("socketpair");
		goto out;
	}
	if ((mpi_needs_setup(p) || t.n > 0) && !p->quick_start &&
	    (rc = mpi_report_pipe(rep)) < 0)
		goto out;
	if ((rc = off_stdio(&status[0])) < 0 ||
	    (rc = off_stdio(&status[1])) < 0 || (rc = off_stdio(&rep[0])) < 0 ||
	    (rc = off_stdio(&rep[1])) < 0 || (rc = off_stdio(&argfd)) < 0)
		goto out;
	for (bool probe = false;; probe = true) {
		bool bad_fd;

		nfds = 0;
		fds[nfds++] = status[1];
		stdio_fds(p, probe, &src.h.flags, fds, &nfds);
		if (rep[1] >= 0) {
			src.h.flags |= REQ_FD_REPORT;
			fds[nfds++] = rep[1];
		}
		if (argfd >= 0)
			fds[nfds++] = argfd;
		for (size_t i = 0; i < t.nfds; i++)
			fds[nfds++] = t.fds[i];
		mpi_req_encode(&src, buf);
		rc = fs_request(buf, size, fds, nfds, &pid, &pidfd, &bad_fd);
		if (rc == 0)
			break;
		if (!bad_fd || probe)
			goto out;
	}
	p->child.pid = pid;
	p->child.fd = status[0];
	p->sig_fd = pidfd;
	status[0] = -1;
	*setup_fd = rep[0];
	rep[0] = -1;
out:
	mpi_free(buf);
	mpi_travel_release(&t);
	if (argfd >= 0)
		close(argfd);
	close_fds(status, 2);
	close_fds(rep, 2);
	return rc;
}

int mpi_fs_reap(struct mp_process *p, int *code, struct rusage *ru)
{
	struct fs_status st;
	ssize_t n;

	do
		n = recv(p->child.fd, &st, sizeof(st), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n != (ssize_t)sizeof(st)) {
		/* The server died without a word: its children were killed
		 * with it (PR_SET_PDEATHSIG); the status is unknown. */
		*code = 255;
		return 1;
	}
	*code = st.code;
	if (ru != NULL) {
		ru->ru_utime.tv_sec = st.utime_us / 1000000;
		ru->ru_utime.tv_usec = st.utime_us % 1000000;
		ru->ru_stime.tv_sec = st.stime_us / 1000000;
		ru->ru_stime.tv_usec = st.stime_us % 1000000;
		ru->ru_maxrss = st.maxrss_kb;
	}
	return 1;
}
