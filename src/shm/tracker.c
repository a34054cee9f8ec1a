/*
 * shm/tracker.c - unlinks the SharedMemory segments of processes that end
 * without unlinking them (CPython's resource_tracker, per creator pid).
 *
 * Design notes.  The first tracked mp_shm_create of a process starts the
 * tracker: a grandchild (double fork, so no one has to reap it) in its own
 * session (terminal signals do not reach it) that keeps only the read end of
 * a pipe.  Creators write "+<pid> <name>\n" on create and "-<pid> <name>\n"
 * on unlink (one write each, under PIPE_BUF, so lines never interleave).
 * The tracker opens a pidfd for every registering pid and polls them: when a
 * registrant ends, by exit or by SIGKILL, its remaining names are unlinked.
 * When every holder of the pipe's write end is gone it unlinks what is left
 * and exits.  Children forked by a creator inherit the write end and so use
 * the same tracker, each registration keyed by its own pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "shm/shm_int.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int tracker_fd = -1;

struct entry {
	pid_t pid;
	int pidfd;
	char name[256];
};

static void tracker_main(int in)
{
	struct entry *e = NULL;
	struct pollfd *pfd = NULL;
	size_t n = 0, cap = 0, i;
	char buf[4096], line[300];
	size_t have = 0;
	bool eof = false;

	while (!eof || n > 0) {
		/* Poll the pipe and one pidfd per entry (duplicates are fine). */
		pfd = mpi_realloc(pfd, (n + 1) * sizeof(*pfd));
		if (pfd == NULL)
			break;
		pfd[0] = (struct pollfd){.fd = eof ? -1 : in, .events = POLLIN};
		for (i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){.fd = e[i].pidfd,
						     .events = POLLIN};
		if (eof) { /* nobody can register any more: clean up, go */
			for (i = 0; i < n; i++)
				shm_unlink(e[i].name);
			break;
		}
		if (poll(pfd, n + 1, -1) < 0)
			continue;
		for (i = n; i-- > 0;) {
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			shm_unlink(e[i].name); /* its creator ended */
			close(e[i].pidfd);
			e[i] = e[--n];
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t r = read(in, buf + have, sizeof(buf) - have);
		if (r <= 0) {
			eof = r == 0 || (errno != EINTR && errno != EAGAIN);
			continue;
		}
		have += (size_t)r;
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf);
			int pid = 0;
			char op = 0;

			if (len < sizeof(line)) {
				memcpy(line, buf, len);
				line[len] = '\0';
				op = line[0];
			}
			memmove(buf, nl + 1, have - len - 1);
			have -= len + 1;
			char *sp = op ? strchr(line, ' ') : NULL;
			if (sp == NULL || sscanf(line + 1, "%d", &pid) != 1)
				continue;
			if (op == '-') {
				for (i = 0; i < n; i++)
					if (strcmp(e[i].name, sp + 1) == 0) {
						close(e[i].pidfd);
						e[i--] = e[--n];
					}
			} else if (op == '+') {
				int fd = (int)syscall(SYS_pidfd_open, pid, 0);

				if (fd < 0) { /* already gone */
					shm_unlink(sp + 1);
					continue;
				}
				if (n == cap) {
					cap = cap ? 2 * cap : 16;
					e = mpi_realloc(e, cap * sizeof(*e));
					if (e == NULL)
						_exit(1);
				}
				e[n].pid = pid;
				e[n].pidfd = fd;
				snprintf(e[n].name, sizeof(e[n].name), "%s", sp + 1);
				n++;
			}
		}
		if (have == sizeof(buf))
			have = 0; /* garbage without newline: drop it */
	}
	_exit(0);
}

static int start_locked(void)
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
		setsid();
		sigaction(SIGINT, &ign, NULL);
		sigaction(SIGTERM, &ign, NULL);
		sigaction(SIGHUP, &ign, NULL);
		sigaction(SIGPIPE, &ign, NULL);
		if (fds[0] != 3) {
			dup2(fds[0], 3);
			close(fds[0]);
		}
		syscall(SYS_close_range, 4, ~0U, 0);
		close(0);
		close(1);
		close(2);
		tracker_main(3);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	tracker_fd = fds[1];
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
	if (tracker_fd < 0 && op == '+')
		rc = start_locked();
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

int mpi_tracker_register(const char *name)
{
	return send_line('+', name);
}

void mpi_tracker_unregister(const char *name)
{
	send_line('-', name);
}
