/*
 * shm/tracker.c - unlinks the SharedMemory segments of processes that end
 * without unlinking them (CPython's resource_tracker, per creator pid).
 *
 * Design notes.  The first tracked mp_shm_create of a process starts the
 * tracker: a grandchild (double fork, so no one has to reap it) in its own
 * session (terminal signals do not reach it) that keeps only the read end of
 * a pipe.  Creators write "+<pid> <name>\n" on create and "-<pid> <name>\n"
 * on unlink (one write each, under PIPE_BUF, so lines never interleave).
 * The tracker watches every registering pid through one pidfd (shared by
 * all of that pid's names): when a registrant ends, by exit or by SIGKILL,
 * its remaining names are unlinked.  Only pidfd_open's ESRCH means "already
 * gone"; when it fails otherwise (EMFILE under a low RLIMIT_NOFILE, ENOSYS
 * before Linux 5.3 or under valgrind) the names are kept and the pid is
 * checked every WATCH_MS with kill(pid, 0) instead.  The tracker writes
 * nothing anywhere (the library never writes to stderr): its stdin, stdout
 * and stderr are /dev/null.  A pid watched that way counts as alive
 * while it is a zombie, and a reused pid keeps its names: it errs towards
 * keeping a segment, never towards unlinking one in use.  When every holder
 * of the pipe's write end is gone it unlinks what is left and exits.
 * Children forked by a creator inherit the write end and so use the same
 * tracker, each registration keyed by its own pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "shm/shm_int.h"

/* How often a pid without a pidfd is checked. */
enum { WATCH_MS = 100 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int tracker_fd = -1;

/*
 * fork from a threaded parent: hold the lock across every fork the program
 * makes, so a child never inherits it held by a thread that does not exist
 * there.  The tracker itself is forked without the lock (see send_line), so
 * this lock is never held while another atfork handler's lock is taken.
 */
static void before_fork(void)
{
	pthread_mutex_lock(&lock);
}

static void after_fork(void)
{
	pthread_mutex_unlock(&lock);
}

/*
 * Registered before the process registry's handler (constructor priority
 * 101 runs before the default), so prepare handlers, which run in reverse
 * order, always take the registry's lock first and this one second: the
 * order mp_process_start uses too (it holds the registry lock at fork).
 */
__attribute__((constructor(101))) static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

/* What the tracker process holds. */
struct registrant {
	pid_t pid;
	int pidfd;    /* -1: watched by pid */
	short revents;
	size_t names; /* its entries */
};

struct entry {
	pid_t pid;
	char name[256];
};

struct tracker {
	struct registrant *r;
	struct entry *e;
	size_t nr, ne, capr, cape;
};

/* Grow *arr (of size elements) to hold n + 1; exits on failure (the
 * tracker cannot do its job without memory; it unlinks nothing then). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t bytes;

	if (n < *cap)
		return arr;
	*cap = *cap ? 2 * *cap : 16;
	if (__builtin_mul_overflow(*cap, size, &bytes) ||
	    (arr = mp__realloc(arr, bytes)) == NULL)
		_exit(1);
	return arr;
}

static struct registrant *find_registrant(struct tracker *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->r[i].pid == pid)
			return &t->r[i];
	return NULL;
}

static void drop_registrant(struct tracker *t, struct registrant *r)
{
	if (r->pidfd >= 0)
		close(r->pidfd);
	*r = t->r[--t->nr];
}

/* A registrant ended: unlink its names, forget it. */
static void registrant_gone(struct tracker *t, struct registrant *r)
{
	for (size_t i = t->ne; i-- > 0;)
		if (t->e[i].pid == r->pid) {
			shm_unlink(t->e[i].name);
			t->e[i] = t->e[--t->ne];
		}
	drop_registrant(t, r);
}

/* "+pid name": watch pid (one pidfd per pid) and keep name. */
static void add(struct tracker *t, pid_t pid, const char *name)
{
	struct registrant *r = find_registrant(t, pid);

	if (r == NULL) {
		int fd = mp__pidfd_open(pid);

		if (fd < 0 && errno == ESRCH) {
			shm_unlink(name); /* already gone */
			return;
		}
		/* Any other failure (EMFILE, ENOSYS): watched by pid. */
		t->r = grow(t->r, &t->capr, t->nr, sizeof(*t->r));
		r = &t->r[t->nr++];
		*r = (struct registrant){.pid = pid, .pidfd = fd};
	}
	t->e = grow(t->e, &t->cape, t->ne, sizeof(*t->e));
	t->e[t->ne].pid = pid;
	snprintf(t->e[t->ne].name, sizeof(t->e[t->ne].name), "%s", name);
	t->ne++;
	r->names++;
}

/* "-pid name": the name was unlinked by its owner. */
static void del(struct tracker *t, const char *name)
{
	for (size_t i = t->ne; i-- > 0;) {
		struct registrant *r;

		if (strcmp(t->e[i].name, name) != 0)
			continue;
		r = find_registrant(t, t->e[i].pid);
		t->e[i] = t->e[--t->ne];
		if (r != NULL && --r->names == 0)
			drop_registrant(t, r);
	}
}

static void handle_line(struct tracker *t, char *line)
{
	char *sp = strchr(line, ' ');
	int pid = 0;

	if (sp == NULL || sscanf(line + 1, "%d", &pid) != 1 || pid <= 0)
		return;
	if (line[0] == '+')
		add(t, pid, sp + 1);
	else if (line[0] == '-')
		del(t, sp + 1);
}

/* Has a registrant without a pidfd ended?  Tries for a pidfd again too. */
static bool gone_by_pid(struct registrant *r)
{
	if (kill(r->pid, 0) < 0 && errno == ESRCH)
		return true;
	r->pidfd = mp__pidfd_open(r->pid); /* room again, say */
	return r->pidfd < 0 && errno == ESRCH;
}

static void tracker_main(int in)
{
	struct tracker t = {0};
	struct pollfd *pfd = NULL;
	size_t *who = NULL; /* pfd[k] watches t.r[who[k]] */
	size_t cappfd = 0, capwho = 0, i, k, n;
	char buf[4096], line[300];
	size_t have = 0;

	for (;;) {
		bool watch = false;

		/* Poll the pipe and the pidfds: only open fds, so that nfds
		 * stays within RLIMIT_NOFILE (poll's EINVAL otherwise). */
		pfd = grow(pfd, &cappfd, t.nr, sizeof(*pfd));
		who = grow(who, &capwho, t.nr, sizeof(*who));
		pfd[0] = (struct pollfd){.fd = in, .events = POLLIN};
		for (i = 0, n = 1; i < t.nr; i++) {
			t.r[i].revents = 0;
			if (t.r[i].pidfd < 0) {
				watch = true;
				continue;
			}
			who[n] = i;
			pfd[n++] = (struct pollfd){.fd = t.r[i].pidfd,
						   .events = POLLIN};
		}
		if (poll(pfd, n, watch ? WATCH_MS : -1) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, WATCH_MS); /* never spin */
			continue;
		}
		for (k = 1; k < n; k++)
			t.r[who[k]].revents = pfd[k].revents;
		for (i = t.nr; i-- > 0;) {
			struct registrant *r = &t.r[i];

			if (r->pidfd >= 0 ? r->revents != 0 : gone_by_pid(r))
				registrant_gone(&t, r);
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t got = read(in, buf + have, sizeof(buf) - have);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			break; /* nobody can register any more */
		have += (size_t)got;
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf);

			if (len < sizeof(line)) {
				memcpy(line, buf, len);
				line[len] = '\0';
				handle_line(&t, line);
			}
			memmove(buf, nl + 1, have - len - 1);
			have -= len + 1;
		}
		if (have == sizeof(buf))
			have = 0; /* garbage without newline: drop it */
	}
	for (i = 0; i < t.ne; i++) /* clean up, go */
		shm_unlink(t.e[i].name);
	_exit(0);
}

/* In the tracker: stdin, stdout and stderr on /dev/null (closed if it
 * cannot be opened), so it writes nothing where the caller would see it,
 * and no pipe end sits on fds 0-2. */
static void null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int i = 0; i < 3; i++)
		if (fd < 0 || dup2(fd, i) < 0)
			close(i);
	if (fd > 3)
		close(fd);
}

/* Fork the tracker; *wfd: the write end of its pipe.  0, or -errno. */
static int start_tracker(int *wfd)
{
	int fds[2], status;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		struct sigaction ign = {.sa_handler = SIG_IGN};

		if (fork() != 0)
			_exit(0); /* the grandchild is re-parented */
		mp__stdio_forget(true); /* never the parent's lines again */
		setsid();
		sigaction(SIGINT, &ign, NULL);
		sigaction(SIGTERM, &ign, NULL);
		sigaction(SIGHUP, &ign, NULL);
		sigaction(SIGPIPE, &ign, NULL);
		if (fds[0] != 3) {
			dup2(fds[0], 3);
			close(fds[0]);
		}
		null_stdio();
		if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
			for (int fd = 4; fd < 1024; fd++) /* before 5.9 */
				close(fd);
		tracker_main(3);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*wfd = fds[1];
	return 0;
}

static int send_line(char op, const char *name)
{
	char line[300];
	int len, rc = 0;
	ssize_t w;

	len = snprintf(line, sizeof(line), "%c%d %s\n", op, (int)getpid(), name);
	if (len <= 0 || (size_t)len >= sizeof(line))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&lock);
	if (tracker_fd < 0 && op == '+') {
		/* Start one without the lock (fork runs the atfork handlers,
		 * which take it); a thread that raced us may win: then ours
		 * sees EOF at once and exits with nothing to clean. */
		int fd = -1;

		pthread_mutex_unlock(&lock);
		rc = start_tracker(&fd);
		pthread_mutex_lock(&lock);
		if (rc == 0 && tracker_fd < 0)
			tracker_fd = fd;
		else if (rc == 0)
			close(fd);
	}
	if (rc == 0 && tracker_fd >= 0) {
		do
			w = write(tracker_fd, line, (size_t)len);
		while (w < 0 && errno == EINTR);
		if (w != len)
			rc = w < 0 ? -errno : -EIO;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int mp__tracker_register(const char *name)
{
	return send_line('+', name);
}

void mp__tracker_unregister(const char *name)
{
	send_line('-', name);
}
