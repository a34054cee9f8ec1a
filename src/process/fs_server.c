/*
 * process/fs_server.c - the fork server itself (forkserver.c starts it and
 * is its client; the top comment there says what it does and checks).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "internal/hot.h"
#include "internal/travel.h"
#include "process/fs_int.h"
#include "process/process_int.h"

/* ---- the server ---- */

#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* clone3's arguments (linux/sched.h, whose header clashes with glibc's). */
struct fs_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};

static struct {
	int sock, parent_fd;
	int taken;	 /* eventfd: a spare's word to the server (spare_round) */
	bool no_spare;	 /* no clone3 with CLONE_PIDFD, or no eventfd */
	pid_t parent;
	bool null_stdin; /* the server's fd 0 is /dev/null, read-only */
	bool direct;	 /* the last request said REQ_DIRECT (or none yet) */
	pid_t spare;	 /* in a spare: our pid, else 0 */
	pid_t *tid_addr;  /* libc's copy of our thread id (see fork_kid) */
	void *robust;     /* our robust mutex list head, and its size */
	size_t robust_len;
	unsigned char *buf;
} S;

/* What a spare writes on S.taken: taken (before its reply; TAKEN_DIRECT
 * for a REQ_DIRECT request), or quit. */
enum { TAKEN = 1, TAKEN_DIRECT = 2, TAKEN_QUIT = 3 };

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

static void reply(int err, pid_t pid)
{
	struct fs_reply r = {.err = err, .pid = pid};

	mp__fs_send_fds(S.sock, &r, sizeof(r), NULL, 0);
}

/*
 * Fork a child of the program (CLONE_PARENT): the program waits for it,
 * reaps it and gets its status and rusage as for a fork child, and the
 * server has no child to reap.  What glibc's _Fork does besides, done here
 * by hand: the kernel writes the child's thread id where libc keeps it
 * (the address libc gave set_tid_address, which PR_GET_TID_ADDRESS tells),
 * and the child registers the robust mutex list again (the kernel drops it
 * at clone; the server holds no robust lock: the list is empty).  No
 * pthread_atfork handler runs: the single-threaded server is between
 * requests, holds no lock and its library state is a fork child's already.
 * With pidfd, also CLONE_PIDFD; with ptid, CLONE_PARENT_SETTID (the
 * kernel writes the child's pid there before clone3 returns): clone3 only,
 * -ENOSYS without it.  The pid, 0 in the child, or -errno.
 */
MP__HOT
static pid_t fork_kid(int *pidfd, pid_t *ptid)
{
	struct fs_clone_args a = {
		.flags = CLONE_PARENT |
			 (S.tid_addr != NULL
				  ? CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID
				  : 0) |
			 (pidfd != NULL ? CLONE_PIDFD : 0) |
			 (ptid != NULL ? CLONE_PARENT_SETTID : 0),
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.child_tid = (uint64_t)(uintptr_t)S.tid_addr,
		.parent_tid = (uint64_t)(uintptr_t)ptid};
	long pid = syscall(SYS_clone3, &a, sizeof(a));

#ifdef __x86_64__
	if (pid < 0 && errno == ENOSYS && pidfd == NULL && ptid == NULL)
		pid = syscall(SYS_clone, (unsigned long)a.flags, NULL, NULL,
			      S.tid_addr, 0UL);
#endif
	if (pid < 0)
		return -errno;
	if (pid == 0 && S.robust != NULL)
		syscall(SYS_set_robust_list, S.robust, S.robust_len);
	return (pid_t)pid;
}

MP__HOT
pid_t mp__fs_fork_heir(pid_t *pid_at)
{
	if (S.tid_addr == NULL || S.parent == 0)
		return -ENOTSUP; /* not a fork server's child, or no tid */
	return fork_kid(NULL, pid_at);
}

/* In a child of fork_kid: our pid, where the kernel wrote our thread id
 * (CLONE_CHILD_SETTID), else from getpid. */
static pid_t kid_pid(void)
{
	return S.tid_addr != NULL ? *(volatile pid_t *)S.tid_addr
				  : (pid_t)syscall(SYS_getpid);
}

/* Where libc keeps our thread id and our robust list, for fork_kid. */
static void find_libc_thread(void)
{
	pid_t *tid = NULL;

	if (prctl(PR_GET_TID_ADDRESS, &tid) == 0 && tid != NULL &&
	    *tid == (pid_t)syscall(SYS_gettid))
		S.tid_addr = tid;
	if (syscall(SYS_get_robust_list, 0, &S.robust, &S.robust_len) < 0)
		S.robust = NULL;
}

/*
 * In the server's new child: put the stdio fds that came (the first ones
 * of fds) on 0-2.  Usually stdout and stderr are on 1 and 2 already (the
 * server's are closed) and nothing is done; else (stdin kept, a stdio fd
 * of the program's closed, or the fallback's exit pipe taking a free
 * slot) a received fd on 0-2 that belongs elsewhere moves up first.
 */
static void kid_stdio(const struct mp__req *r, int *fds, int nfds)
{
	static const uint32_t flag[3] = {REQ_FD_STDIN, REQ_FD_STDOUT,
					 REQ_FD_STDERR};
	int slot[3] = {-1, -1, -1}, at = 0; /* index in fds of fd i's */

	for (int i = 0; i < 3; i++)
		if (r->flags & flag[i])
			slot[i] = at++;
	for (int k = 0; k < nfds; k++)
		if (fds[k] <= 2 && slot[fds[k]] != k &&
		    mp__fs_off_stdio(&fds[k]) < 0)
			syscall(SYS_exit_group, 127);
	for (int i = 0; i < 3; i++) {
		if (slot[i] >= 0) {
			if (fds[slot[i]] != i) {
				dup2(fds[slot[i]], i);
				close(fds[slot[i]]);
			}
		} else if (i == 0 && !(r->flags & REQ_KEEP_STDIN) &&
			   S.null_stdin) {
			/* the server's own stdin is /dev/null already */
		} else {
			close(i);
		}
	}
}

/* In the server's new child: become the requested process and run it. */
__attribute__((noreturn)) static void kid_main(const struct mp__req *r,
					       mp_target_fn fn, int *fds,
					       int nfds)
{
	struct mp_process p;
	int at = 0, report = -1, argfd = -1, fd;
	void *arg = NULL;
	pid_t self = S.spare != 0 ? S.spare : kid_pid();

	/* the server's sockets, usually neighbours (one close_range) */
	mp__fs_close_fds((int[]){S.sock < S.taken ? S.sock : S.taken,
				 S.sock < S.taken ? S.taken : S.sock},
			 2);
	kid_stdio(r, fds, nfds);
	at = __builtin_popcount(r->flags & (REQ_FD_STDIN | REQ_FD_STDOUT |
					    REQ_FD_STDERR));
	if (r->flags & REQ_FD_EXIT) /* no pidfds: the program's sentinel */
		mp__set_exit_pipe(fds[at++]);
	if (r->flags & REQ_FD_REPORT)
		report = fds[at++];
	if (r->flags & REQ_ARG_FD)
		argfd = fds[at++];
	if (r->nshared > 0 && (fd = mp__travel_adopt(r, fds + at)) < 0)
		mp__report_fail(report, -fd, 0, mp__reason(fd));
	if (argfd < 0 && (arg = mp__req_arg(r)) == NULL && r->arg_len > 0)
		mp__report_fail(report, ENOMEM, 0, "arg bytes");
	memset(&p, 0, sizeof(p));
	p.nice = r->nice;
	p.policy = (mp_sched_policy_t)r->policy;
	p.priority = r->priority;
	p.new_session = r->flags & REQ_SESSION;
	p.new_group = r->flags & REQ_GROUP;
	if (r->naffinity > 0) {
		p.affinity = mp__calloc(r->naffinity, sizeof(int));
		if (p.affinity == NULL)
			mp__report_fail(report, ENOMEM, 0, "affinity list");
		for (size_t i = 0; i < r->naffinity; i++)
			p.affinity[i] = mp__req_cpu(r, i);
		p.naffinity = r->naffinity;
	}
	if (argfd >= 0) {
		struct stat st;
		size_t got = 0;
		char *a;

		if (fstat(argfd, &st) < 0 || (uint64_t)st.st_size != r->arg_len)
			mp__report_fail(report, EPROTO, 0, "arg memfd size");
		if ((a = mp__malloc(r->arg_len + 1)) == NULL)
			mp__report_fail(report, ENOMEM, 0, "arg bytes");
		while (got < r->arg_len) {
			ssize_t n = pread(argfd, a + got, r->arg_len - got,
					  (off_t)got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				mp__report_fail(report, n < 0 ? errno : EIO,
						0, "reading the arg memfd");
			got += (size_t)n;
		}
		a[r->arg_len] = '\0';
		close(argfd);
		arg = a;
	}
	mp__become(r->name, r->ident, r->flags & REQ_DAEMON, r->ppid,
		   S.parent_fd, self);
	mp__apply_opts(&p, report); /* fails with exit 127 without one */
	if (report >= 0)
		close(report);
	prctl(PR_SET_NAME, r->name);
	mp__child_run(fn, arg);
}

int mp__fs_validate(const void *buf, size_t len, int nfds,
		    const struct ucred *cred, pid_t parent, struct mp__req *r,
		    mp_target_fn *fn)
{
	static uid_t uid = (uid_t)-1; /* ours: getuid() once */

	if (uid == (uid_t)-1)
		uid = getuid();
	if (cred == NULL || cred->pid != parent || cred->uid != uid)
		return -EPERM;
	if (mp__req_decode(buf, len, r) < 0)
		return -EPROTO;
	if (nfds != mp__req_nfds(r))
		return -EBADF;
	if (r->ppid != parent)
		return -EPERM;
	if ((*fn = mp__target_find(r->target)) == NULL)
		return -ENOENT;
	return 0;
}

/*
 * Take one message from the socket: 1 with a valid request in *r, *fn and
 * its fds; 0 when there was nothing to serve (an error was replied, the
 * message's fds closed).  At EOF (the program closed the socket) and at
 * the program's FS_QUIT, exit: a spare replies FS_QUIT with its pid (the
 * program reaps it) and tells the server (TAKEN_QUIT).
 */
static int take(struct mp__req *r, mp_target_fn *fn, int *fds, int *nfds)
{
	struct ucred cred;
	bool has_cred;
	ssize_t n;
	int err;

	n = mp__fs_recv_fds(S.sock, S.buf, REQ_MAX_INLINE, fds, nfds, &cred,
			    &has_cred, false);
	if (n == 0 || n == -ECONNRESET)
		_exit(0); /* the program closed the socket */
	if (n < 0) {
		if (n != -EAGAIN)
			reply((int)n, 0);
		return 0;
	}
	err = mp__fs_validate(S.buf, (size_t)n, *nfds,
			      has_cred ? &cred : NULL, S.parent, r, fn);
	if (err == -EPROTO && *nfds == 0 && n == sizeof(FS_QUIT) - 1 &&
	    memcmp(S.buf, FS_QUIT, (size_t)n) == 0) {
		reply(0, S.spare);
		if (S.spare != 0)
			eventfd_write(S.taken, TAKEN_QUIT);
		_exit(0);
	}
	if (err < 0) {
		reply(err, 0);
		mp__fs_close_fds(fds, *nfds);
		return 0;
	}
	return 1;
}

/* Serve one message on the socket: a request forks its child here. */
static void serve_one(void)
{
	int fds[MAX_FDS], nfds;
	struct mp__req r;
	mp_target_fn fn = NULL;
	pid_t pid;

	if (!take(&r, &fn, fds, &nfds))
		return;
	S.direct = r.flags & REQ_DIRECT;
	pid = fork_kid(NULL, NULL);
	if (pid == 0) {
		mp__die_with_parent(S.parent, 1);
		kid_main(&r, fn, fds, nfds);
	}
	reply(pid < 0 ? pid : 0, pid < 0 ? 0 : pid);
	mp__fs_close_fds(fds, nfds);
}

/*
 * A spare: a child forked before its request, which takes the next request
 * off the socket itself, replies with its own pid and becomes the requested
 * process.  What a child does before its request (the clone, the
 * PR_SET_PDEATHSIG, the first writes to its copied pages) is then off the
 * program's wait.  The server does not read the socket while a spare
 * waits.  The spare writes TAKEN on the eventfd (the server then forks the
 * next spare), or TAKEN_DIRECT for a REQ_DIRECT request (the server serves
 * the next request itself), before it replies: once the program has the
 * child's pid it may kill it at once, and a spare that dies after its word is
 * no longer the server's business (a spare that dies between its word and its
 * reply leaves the program's start to its reply timeout: forkserver.c).  An
 * eventfd, not a socket: its wake carries no hint that the writer is about to
 * sleep, so the server is not put on the spare's CPU, where its clone would
 * delay the child (the spare goes on to run it).  Should the server be gone,
 * the spare goes on: the program sees EOF at its next request.
 */
__attribute__((noreturn)) static void spare_main(void)
{
	int fds[MAX_FDS], nfds;
	struct mp__req r;
	mp_target_fn fn = NULL;

	S.spare = kid_pid();
	/* Our parent is the program: die with it (if it died before the
	 * prctl, we were re-parented already: go now). */
	mp__die_with_parent(S.parent, 1);
	S.buf[0] = 0; /* copy the buffer's first page before a request */
	while (!take(&r, &fn, fds, &nfds))
		;
	eventfd_write(S.taken, r.flags & REQ_DIRECT ? TAKEN_DIRECT : TAKEN);
	reply(0, S.spare);
	kid_main(&r, fn, fds, nfds);
}

/*
 * Fork a spare and wait until it is taken: true then; false when no spare
 * could be made.  Exits when the spare ended at the program's EOF or
 * FS_QUIT, and when it ended otherwise (killed): the program may be
 * waiting for the reply it was to send, so a last reply says
 * MP_EBROKEN, with the spare's pid for the program to reap (a spare that
 * dies before its word has sent no reply: no start has that pid), and the
 * server exits (later requests see EOF: MP_EBROKEN).  The spare's
 * end is seen on the pidfd clone3 gave.
 */
static bool spare_round(void)
{
	struct pollfd pfd[2] = {{.fd = S.taken, .events = POLLIN},
				{.events = POLLIN}};
	eventfd_t word = 0;
	int pidfd = -1;
	pid_t pid;
	char c;

	if ((pid = fork_kid(&pidfd, NULL)) == 0)
		spare_main();
	if (pid < 0) {
		S.no_spare = pid == -ENOSYS || pid == -EINVAL;
		return false;
	}
	pfd[1].fd = pidfd;
	while (poll(pfd, 2, -1) < 0 && errno == EINTR)
		;
	if (pfd[0].revents & POLLIN)
		eventfd_read(S.taken, &word);
	close(pidfd);
	if (word == TAKEN || word == TAKEN_DIRECT) {
		S.direct = word == TAKEN_DIRECT;
		return true;
	}
	if (word != TAKEN_QUIT &&
	    recv(S.sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0) {
		struct fs_reply r = {.err = MP_EBROKEN, .reap = pid};

		mp__fs_send_fds(S.sock, &r, sizeof(r), NULL, 0);
	}
	_exit(0); /* FS_QUIT, EOF, or the spare killed */
}

void mp__fs_server_main(int sock, pid_t parent)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	sigset_t none;
	int keep[4], devnull;

	mp__die_with_parent(parent, 0);
	prctl(PR_SET_NAME, "mp-forkserver");
	S.sock = sock;
	S.parent = parent;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    cred.pid != parent || cred.uid != getuid())
		_exit(1);
	S.parent_fd = mp__pidfd_open(parent);
	/* What the children start with (they inherit it): no signal blocked,
	 * SIGPIPE's default (the server's own sends say MSG_NOSIGNAL). */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	find_libc_thread();
	S.taken = eventfd(0, EFD_CLOEXEC);
	S.buf = mp__malloc(REQ_MAX_INLINE);
	if (S.buf == NULL)
		_exit(1);
	/* Our own fds above 2 (a program that had closed a stdio fd may have
	 * got one there), then nothing of the program's but the binary
	 * (spawn from our children). */
	if (mp__fs_off_stdio(&sock) < 0)
		_exit(1);
	S.sock = sock;
	mp__fs_off_stdio(&S.parent_fd);
	mp__fs_off_stdio(&mp__exe_fd);
	mp__fs_off_stdio(&S.taken);
	S.no_spare = S.taken < 0;
	keep[0] = sock;
	keep[1] = S.parent_fd;
	keep[2] = mp__exe_fd;
	keep[3] = S.taken;
	close_except(keep, 4);
	/* The program's manager regions (made before mp_init) are not ours:
	 * our children map the ones they are sent where the program has
	 * them (manager/space.c). */
	mp__region_drop_all();
	/* The server itself never prints: a pipe on the program's stdout
	 * must not wait for it.  Children get the program's stdio, or
	 * the server's stdin (/dev/null, read-only, as CPython gives).  Fds
	 * 1 and 2 stay closed: a request's stdout and stderr land there. */
	syscall(SYS_close_range, 1, 2, 0);
	if ((devnull = open("/dev/null", O_RDONLY)) >= 0) {
		S.null_stdin = devnull == 0 || dup2(devnull, 0) == 0;
		if (devnull != 0)
			close(devnull);
	}
	/* Bind now what every child calls that the server may not have
	 * (a lazy PLT entry would run the dynamic linker in each child:
	 * its lookups, and page faults in ld.so and the symbol tables). */
	fflush(NULL);
	/* The first request is served here (a program that never starts a
	 * child through the server has no spare), and each that follows one
	 * with REQ_DIRECT; the others are taken by a spare.  Blocked in
	 * recvmsg or in the poll of a spare's word, not in a poll that watches
	 * the program's pidfd (a syscall and a wait queue less per request):
	 * the program's end is the PR_SET_PDEATHSIG above, or EOF. */
	S.direct = true;
	for (;;)
		if (S.direct || S.no_spare || !spare_round())
			serve_one();
}
