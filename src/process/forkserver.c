/*
 * process/forkserver.c - the forkserver start method.
 *
 * mp_init forks the server early, while the program is small and has one
 * thread.  The request channel is a SOCK_SEQPACKET socket pair made just
 * before (no path in the file system).  The server is single-threaded; it
 *   - dies with the program: PR_SET_PDEATHSIG(SIGKILL) (checked against a
 *     parent that died before the prctl), and EOF on the socket (it
 *     waits in recvmsg: a pidfd of the program in a poll set would tell
 *     no more than the PR_SET_PDEATHSIG, at a syscall per request);
 *   - checks SO_PEERCRED of the pair at start, then the SCM_CREDENTIALS of
 *     every request (SO_PASSCRED: the kernel fills them in): only the
 *     program itself (its pid and uid) is served; anyone else who holds
 *     the socket (a fork child of the program) gets -EPERM;
 *   - receives one request per message (request.h) with its fds by
 *     SCM_RIGHTS: the child's stdin, stdout, stderr, then the exit pipe's
 *     write end (without pidfds only), the setup report pipe and the arg
 *     memfd as the flags say.  The server's own fds 1 and 2 are closed
 *     (it never prints), so the stdout and stderr that came are fds 1 and
 *     2 already (received without close-on-exec): the child keeps them
 *     as they are.  Anything else (truncated, oversized, wrong fd count,
 *     bad fields, unknown target) is refused with an error reply, its fds
 *     closed, and the server goes on serving;
 *   - clones the child with CLONE_PARENT: the child is the program's, not
 *     the server's (fs_server.c, fork_kid), and replies (0, pid);
 *   - after its first request, forks the next child ahead of its request
 *     (a spare, also CLONE_PARENT): the spare takes the next request off
 *     the socket itself, checks it as the server does, replies (0, its
 *     own pid) and becomes the child; told so (an eventfd; its end seen
 *     on the pidfd clone3 gave), the server forks the next spare.  The
 *     clone is then off the program's wait (a start costs 1.1-1.2 times
 *     a raw fork+waitpid instead of 1.4 times).  A request with
 *     REQ_DIRECT (a pool's workers, started back to back where CPU time
 *     is what counts) is served without a spare after it: the spare's
 *     extra wake of the server costs CPU;
 *   - at the program's FS_QUIT (mp__forkserver_stop), whoever reads it
 *     replies (a spare with its pid, which the program reaps) and exits.
 *     A spare killed from outside stops the server: its last reply says
 *     MP_EBROKEN and names the spare, and later starts fail the same.
 * The program then treats it as a fork child: a pidfd it opens itself (the
 * pid cannot be reused before the program reaps it), join and reap by
 * waitid, exit code and rusage from the kernel, SIGCHLD.  The server never
 * has a child to reap and the exit takes no detour through it: a start
 * costs one round trip on the socket, and the child's fork is from the
 * small server, not the program.  Each child has PR_SET_PDEATHSIG(SIGKILL)
 * (checked against a program that died before the prctl): when the
 * program dies, its forkserver children die too.  At a normal exit the
 * program joins them (the process module's exit cleanup), then closes the
 * socket; the server exits.
 *
 * The syscalls of a plain start (stdout and stderr open, pidfds): the
 * program sendmsg, recvmsg (the reply), pidfd_open, and to join ppoll,
 * waitid, close; the spare recvmsg, sendmsg (the reply), write (the
 * eventfd), close_range (the server's socket and eventfd),
 * prctl(PR_SET_NAME), exit_group.  Ahead of the request: the server
 * clone3, then poll, read and close (the spare's pidfd) once it is
 * taken; the spare set_robust_list, prctl(PDEATHSIG), getppid.
 * A direct start: the server recvmsg, clone3, sendmsg, close_range (the
 * fds that came); the child set_robust_list, prctl(PDEATHSIG), getppid,
 * close, prctl(PR_SET_NAME), exit_group.
 *
 * Requests are serialised by a mutex (one reply per request, in order).
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
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "process/fs_int.h"
#include "process/process_int.h"

/* ---- the client side (the program) ---- */

static int fs_sock = -1;
/* How long a start waits for the server's reply (SO_RCVTIMEO on fs_sock)
 * before it gives the server up: a spare killed between its word to the
 * server and its reply (fs_server.c, spare_main) would leave it waiting
 * for ever. */
enum { FS_REPLY_S = 60 };
static pid_t fs_pid, fs_owner;
static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;

bool mp__fs_usable(void)
{
	if (fs_sock < 0 || fs_owner == 0) {
		mp__why(-ENOTSUP, "start method 'forkserver' needs mp_init() "
				  "called first in main()");
		return false;
	}
	if (fs_owner != mp__pid()) {
		mp__why(-ENOTSUP, "the fork server serves only the process "
				  "that called mp_init() (pid %d); use "
				  "spawn or fork here",
			(int)fs_owner);
		return false;
	}
	return true;
}

pid_t mp__forkserver_pid(void)
{
	return fs_owner == mp__pid() ? fs_pid : 0;
}

/* ---- fd passing ---- */

void mp__fs_close_fds(const int *fds, int n)
{
	for (int i = 0, j; i < n; i = j + 1) {
		j = i;
		while (j + 1 < n && fds[i] >= 0 && fds[j + 1] == fds[j] + 1)
			j++;
		if (j == i || syscall(SYS_close_range, fds[i], fds[j], 0) < 0)
			for (int k = i; k <= j; k++)
				if (fds[k] >= 0)
					close(fds[k]);
	}
}

/* Send buf with fds (may be 0 of them): 0 or -errno. */
int mp__fs_send_fds(int sock, const void *buf, size_t len, const int *fds,
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

ssize_t mp__fs_recv_fds(int sock, void *buf, size_t cap, int *fds, int *nfds,
			struct ucred *cred, bool *has_cred, bool cloexec)
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
		n = recvmsg(sock, &msg, cloexec ? MSG_CMSG_CLOEXEC : 0);
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
		mp__fs_close_fds(fds, *nfds);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

static void fs_atexit(void)
{
	mp__forkserver_stop();
}

int mp__fs_launch(void)
{
	static bool atexit_done;
	int sv[2], one = 1;
	pid_t me = getpid(), pid;

	if (fs_sock >= 0 && fs_owner != me) { /* our parent's server */
		close(fs_sock);
		fs_sock = -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return MP__WHY_SYS("socketpair");
	if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) <
	    0) {
		close(sv[0]);
		close(sv[1]);
		return MP__WHY_SYS("setsockopt(SO_PASSCRED)");
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		fs_sock = -1;
		mp__fs_server_main(sv[1], me);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return MP__WHY_SYS("fork (the fork server)");
	}
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO,
		   &(struct timeval){.tv_sec = FS_REPLY_S}, sizeof(struct timeval));
	fs_sock = sv[0];
	fs_pid = pid;
	fs_owner = me;
	if (!atexit_done) {
		atexit_done = true;
		atexit(fs_atexit);
	}
	return 0;
}

/* Wait for pid, a child of ours, to end (kill it at the deadline), and
 * reap it. */
static void end_child(pid_t pid, uint64_t deadline)
{
	struct mp__child c = {.pid = pid, .fd = mp__pidfd_open(pid)};

	if (mp__child_wait(&c, deadline) < 0)
		mp__child_kill_reap(&c);
	else
		mp__child_reap_wait(pid);
	if (c.fd >= 0)
		close(c.fd);
}

/* Send FS_QUIT and read the reply (by the deadline): 0 and *r, or -1. */
static int fs_quit(struct fs_reply *r, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fs_sock, .events = POLLIN};
	struct timespec ts;
	int rc;

	if (mp__fs_send_fds(fs_sock, FS_QUIT, sizeof(FS_QUIT) - 1, NULL, 0) <
	    0)
		return -1;
	while ((rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL)) < 0 &&
	       errno == EINTR)
		;
	return rc > 0 && recv(fs_sock, r, sizeof(*r), MSG_DONTWAIT) ==
				 (ssize_t)sizeof(*r)
		       ? 0
		       : -1;
}

void mp__forkserver_stop(void)
{
	struct fs_reply r = {0};
	uint64_t deadline;

	if (fs_owner != mp__pid() || fs_sock < 0)
		return;
	deadline = mp__deadline_in(mp__timeout_ns(2.0));
	pthread_mutex_lock(&fs_lock);
	/* Whoever reads the socket, a spare or the server, replies and exits
	 * (a spare's pid comes back: it is our child); then the server exits
	 * (at EOF too, should the reply not come). */
	if (fs_quit(&r, deadline) < 0)
		r.pid = r.reap = 0;
	close(fs_sock);
	fs_sock = -1;
	pthread_mutex_unlock(&fs_lock);
	end_child(fs_pid, deadline);
	fs_pid = 0;
	if (r.pid > 0)
		end_child(r.pid, deadline);
	if (r.reap > 0) /* a spare dead before any reply: no start's */
		mp__child_reap_wait(r.reap);
}

/* ---- a request ---- */

/*
 * The server is gone (the request failed with EPIPE or ECONNRESET): its
 * last reply may still be queued (fs_server.c's spare_round), behind the
 * error the socket reports first.  If so, *r holds it, and *rc and *n say
 * a reply came.
 */
static void last_word(struct fs_reply *r, int *rc, ssize_t *n)
{
	for (int i = 0; i < 2; i++) {
		ssize_t got = recv(fs_sock, r, sizeof(*r), MSG_DONTWAIT);

		if (got == (ssize_t)sizeof(*r)) {
			*rc = 0;
			*n = got;
			return;
		}
		if (got >= 0 || errno != ECONNRESET)
			return;
	}
}

/*
 * Send a request (len bytes, with nfds fds) and read the reply: 0 with
 * *pid, or the server's error, or MP_EBROKEN when the server is gone or
 * has not replied in FS_REPLY_S.  *bad_fd: sendmsg said EBADF (an fd to
 * send was closed).  Serialised by fs_lock.
 */
static int fs_request(const void *req, size_t len, const int *fds, int nfds,
		      pid_t *pid, bool *bad_fd)
{
	struct fs_reply r;
	int got[MAX_FDS], ngot = 0, rc;
	ssize_t n;

	*bad_fd = false;
	pthread_mutex_lock(&fs_lock);
	if (fs_sock < 0) {
		pthread_mutex_unlock(&fs_lock);
		return mp__why(MP_EBROKEN, "the fork server is stopped");
	}
	rc = mp__fs_send_fds(fs_sock, req, len, fds, nfds);
	n = rc < 0 ? rc
		   : mp__fs_recv_fds(fs_sock, &r, sizeof(r), got, &ngot, NULL,
				       NULL, true);
	if (n == -EAGAIN) /* FS_REPLY_S passed: give the server up (EOF) */
		shutdown(fs_sock, SHUT_RDWR);
	if (rc == -EPIPE || rc == -ECONNRESET || n == -ECONNRESET)
		last_word(&r, &rc, &n);
	pthread_mutex_unlock(&fs_lock);
	if (n == -EAGAIN)
		return mp__why(MP_EBROKEN, "no reply from the fork server in "
					   "%d s (its spare killed?): it is "
					   "given up", FS_REPLY_S);
	if (rc == -EPIPE || rc == -ECONNRESET || n == 0 || n == -ECONNRESET)
		return mp__why(MP_EBROKEN, "the fork server died");
	*bad_fd = rc == -EBADF;
	if (rc < 0)
		return mp__why(rc, "sendmsg to the fork server: %s",
			       mp_strerror(rc));
	if (n < 0)
		return mp__why((int)n, "recvmsg from the fork server: %s",
			       mp_strerror((int)n));
	if (ngot > 0) {
		mp__fs_close_fds(got, ngot);
		return mp__why(-EPROTO, "bad reply from the fork server");
	}
	if (n != (ssize_t)sizeof(r) || (r.err == 0 && r.pid <= 0))
		return mp__why(-EPROTO, "bad reply from the fork server");
	if (r.reap > 0) { /* the server's last word: its spare was killed
			   * before its word, so before any reply */
		mp__child_reap_wait(r.reap);
		return mp__why(MP_EBROKEN, "the fork server stopped: its spare "
					   "child (pid %d) was killed",
			       (int)r.reap);
	}
	if (r.err < 0)
		return mp__why(r.err, "the fork server refused: %s",
			       mp_strerror(r.err));
	*pid = r.pid;
	return 0;
}

int mp__fs_request(const void *req, size_t len, const int *fds, int nfds,
		   pid_t *pid)
{
	bool bad_fd;

	return fs_request(req, len, fds, nfds, pid, &bad_fd);
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

int mp__fs_off_stdio(int *fd)
{
	int to;

	if (*fd < 0 || *fd > 2)
		return 0;
	to = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	close(*fd);
	*fd = to;
	return to < 0 ? MP__WHY_SYS("fcntl(F_DUPFD_CLOEXEC)") : 0;
}

int mp__fs_start(struct mp_process *p, const char *tname, int *setup_fd)
{
	int exitp[2] = {-1, -1}, rep[2] = {-1, -1}, fds[MAX_FDS], nfds = 0;
	int argfd = -1, rc;
	struct mp__req_src src;
	struct mp__travel t;
	void *buf = NULL;
	size_t size;
	pid_t pid = 0;

	*setup_fd = -1;
	if ((rc = mp__travel_describe(p->shared, p->nshared, "forkserver",
				      &t)) < 0)
		return rc;
	mp__req_from(p, tname, &t, &src);
	if (p->quick_start)
		src.h.flags |= REQ_DIRECT;
	size = mp__req_size(&src);
	if (size == 0 || size > REQ_MAX_INLINE) { /* the arg goes apart */
		src.h.flags |= REQ_ARG_FD;
		size = mp__req_size(&src);
		if ((argfd = mp__memfd_with("mproc-arg", p->arg, p->arg_len)) < 0) {
			mp__travel_release(&t);
			return argfd;
		}
	}
	if ((buf = mp__malloc(size)) == NULL) {
		rc = mp__why(-ENOMEM, "out of memory");
		goto out;
	}
	/* Without pidfds, the child holds an exit pipe's write end as a
	 * fork child does: its read end is the sentinel. */
	if ((!mp__have_pidfd() && (rc = mp__report_pipe(exitp)) < 0) ||
	    ((mp__needs_setup(p) || t.n > 0) && !p->quick_start &&
	     (rc = mp__report_pipe(rep)) < 0))
		goto out;
	if ((rc = mp__fs_off_stdio(&exitp[0])) < 0 ||
	    (rc = mp__fs_off_stdio(&exitp[1])) < 0 ||
	    (rc = mp__fs_off_stdio(&rep[0])) < 0 ||
	    (rc = mp__fs_off_stdio(&rep[1])) < 0 ||
	    (rc = mp__fs_off_stdio(&argfd)) < 0)
		goto out;
	for (bool probe = false;; probe = true) {
		bool bad_fd;

		nfds = 0;
		stdio_fds(p, probe, &src.h.flags, fds, &nfds);
		if (exitp[1] >= 0) {
			src.h.flags |= REQ_FD_EXIT;
			fds[nfds++] = exitp[1];
		}
		if (rep[1] >= 0) {
			src.h.flags |= REQ_FD_REPORT;
			fds[nfds++] = rep[1];
		}
		if (argfd >= 0)
			fds[nfds++] = argfd;
		for (size_t i = 0; i < t.nfds; i++)
			fds[nfds++] = t.fds[i];
		mp__req_encode(&src, buf);
		rc = fs_request(buf, size, fds, nfds, &pid, &bad_fd);
		if (rc == 0)
			break;
		if (!bad_fd || probe)
			goto out;
	}
	/* The child is ours (the server cloned it with CLONE_PARENT): only
	 * we reap it, so its pid cannot be reused before this pidfd_open. */
	if ((rc = mp__child_watch(&p->child, pid, exitp)) < 0)
		goto out;
	*setup_fd = rep[0];
	rep[0] = -1;
out:
	mp__free(buf);
	mp__travel_release(&t);
	if (argfd >= 0)
		close(argfd);
	mp__fs_close_fds(exitp, 2);
	mp__fs_close_fds(rep, 2);
	return rc;
}
