/*
 * subprocess/popen.c - waiting for, talking to and signalling a started
 * program; run() on top of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "subprocess/subprocess_int.h"

int mp__buf_add(struct buf *b, const void *data, size_t n)
{
	size_t need;

	if (__builtin_add_overflow(b->len, n, &need) ||
	    __builtin_add_overflow(need, 1, &need) || need > PTRDIFF_MAX)
		return -ENOMEM;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < need)
			cap = cap > PTRDIFF_MAX / 2 ? need : cap * 2;
		if ((d = mp__realloc(b->data, cap)) == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

pid_t mp_popen_pid(const mp_popen_t *p)
{
	MP__CHECK_NULL(p);
	return p->child.pid;
}

int mp_popen_stdin(const mp_popen_t *p)
{
	MP__CHECK_NULL(p);
	return p->fd_in;
}

int mp_popen_stdout(const mp_popen_t *p)
{
	MP__CHECK_NULL(p);
	return p->fd_out;
}

int mp_popen_stderr(const mp_popen_t *p)
{
	MP__CHECK_NULL(p);
	return p->fd_err;
}

/* Reap p if it ended: 1 (and *returncode, may be NULL), 0 while it runs,
 * or a code with a reason. */
static int popen_poll(mp_popen_t *p, int *returncode)
{
	int rc;

	if (!p->reaped) {
		rc = mp__child_reap(&p->child, &p->returncode, NULL);
		if (rc <= 0)
			return rc;
		p->reaped = true;
	}
	if (returncode != NULL)
		*returncode = p->returncode;
	return 1;
}

int mp_popen_poll(mp_popen_t *p, int *returncode)
{
	int rc;

	MP__CHECK_NULL(p);
	rc = popen_poll(p, returncode);
	return rc < 0 ? MP__RAISE(rc) : rc;
}

/* Wait until p ended and reap it: 0, -ETIMEDOUT, or a code with a
 * reason. */
static int wait_until(mp_popen_t *p, uint64_t deadline, int *returncode)
{
	int rc;

	while ((rc = popen_poll(p, returncode)) == 0) {
		rc = mp__child_wait(&p->child, deadline);
		if (rc == -ETIMEDOUT)
			return popen_poll(p, returncode) == 1 ? 0 : -ETIMEDOUT;
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? rc : 0;
}

int mp_popen_wait(mp_popen_t *p, double timeout, int *returncode)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(p);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	rc = wait_until(p, deadline, returncode);
	if (rc == -ETIMEDOUT)
		return MP__ERR(rc, "process %d still running",
			       (int)p->child.pid);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* write() that never raises SIGPIPE in the caller (the child may have
 * closed its stdin): -EPIPE instead. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = {0, 0};
	bool was_pending;
	ssize_t w;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	w = write(fd, buf, n);
	e = errno;
	if (w < 0 && e == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

/* Read what *fd has into b; room is made first, so that bytes read are
 * never lost for want of memory (-ENOMEM: nothing was read). */
static int read_into(int *fd, struct buf *b)
{
	static const char room[4096];
	size_t len = b->len, n;
	ssize_t r;

	if (b->cap < len + sizeof(room) + 1) {
		if (mp__buf_add(b, room, sizeof(room)) < 0)
			return -ENOMEM;
		b->len = len;
		b->data[len] = '\0';
	}
	n = b->cap - len - 1;
	r = read(*fd, b->data + len, n < 65536 ? n : 65536);
	if (r > 0) {
		b->len += (size_t)r;
		b->data[b->len] = '\0';
		return 0;
	}
	if (r == 0 || (errno != EINTR && errno != EAGAIN))
		close_fd(fd);
	return 0;
}

static void set_nonblock(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * Send input (once), drain stdout and stderr into p->out and p->err, then
 * reap: 0, -ETIMEDOUT (what was read is kept), or a code with a reason.
 */
static int communicate_until(mp_popen_t *p, const char *in, size_t len,
			     uint64_t deadline)
{
	struct pollfd pfd[3];
	struct timespec ts;
	int n, rc;

	if (!p->input_done) {
		p->input_done = true;
		p->input_off = in ? 0 : len;
		if (in == NULL || len == 0)
			close_fd(&p->fd_in);
	}
	set_nonblock(p->fd_in);
	set_nonblock(p->fd_out);
	set_nonblock(p->fd_err);
	for (;;) {
		n = 0;
		if (p->fd_in >= 0)
			pfd[n++] = (struct pollfd){p->fd_in, POLLOUT, 0};
		if (p->fd_out >= 0)
			pfd[n++] = (struct pollfd){p->fd_out, POLLIN, 0};
		if (p->fd_err >= 0)
			pfd[n++] = (struct pollfd){p->fd_err, POLLIN, 0};
		if (n == 0)
			break;
		rc = ppoll(pfd, (nfds_t)n, mp__remaining(deadline, &ts), NULL);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return MP__WHY_SYS("ppoll");
		if (rc == 0)
			return -ETIMEDOUT;
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == p->fd_in) {
				size_t left = len - p->input_off;
				ssize_t w = write_nosigpipe(
					p->fd_in, in + p->input_off,
					left > 65536 ? 65536 : left);
				if (w > 0)
					p->input_off += (size_t)w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
				    p->input_off == len)
					close_fd(&p->fd_in); /* EPIPE: ignored */
			} else if ((rc = read_into(pfd[i].fd == p->fd_out ? &p->fd_out
									   : &p->fd_err,
						   pfd[i].fd == p->fd_out ? &p->out
									   : &p->err)) < 0) {
				return mp__why(rc, "out of memory for the "
					       "output");
			}
		}
	}
	return wait_until(p, deadline, NULL);
}

/* Hand b to the caller as owned bytes (b is left empty). */
static int take(struct buf *b, mp_bytes_t *out)
{
	if (b->data == NULL && mp__buf_add(b, "", 0) < 0)
		return -ENOMEM;
	out->data = b->data;
	out->len = b->len;
	*b = (struct buf){0};
	return 0;
}

/* Give the caller an owned copy of b (b keeps its bytes). */
static int copy(const struct buf *b, mp_bytes_t *out)
{
	struct buf c = {0};

	if (mp__buf_add(&c, b->data, b->len) < 0)
		return -ENOMEM;
	out->data = c.data;
	out->len = c.len;
	return 0;
}

/* What communicate hands out: everything read, taken at the end, copied
 * while the child may still write more. */
static int hand_out(struct buf *b, bool done, mp_bytes_t *out)
{
	if (out == NULL)
		return 0;
	return done ? take(b, out) : copy(b, out);
}

int mp_popen_communicate(mp_popen_t *p, const void *input, size_t len,
			 double timeout, mp_bytes_t *out, mp_bytes_t *err)
{
	uint64_t deadline;
	int rc;

	if (out != NULL)
		*out = (mp_bytes_t){0};
	if (err != NULL)
		*err = (mp_bytes_t){0};
	MP__CHECK_NULL(p);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if (input == NULL && len > 0)
		return MP__ERR(-EINVAL, "argument 'input' is NULL but len is %zu",
			       len);
	if (input != NULL && len > 0 && p->fd_in < 0 && !p->input_done)
		return MP__ERR(-EINVAL, "input given but stdin is not a PIPE");
	rc = communicate_until(p, input, len, deadline);
	if (rc < 0 && rc != -ETIMEDOUT)
		return MP__RAISE(rc);
	if (hand_out(&p->out, rc == 0, out) < 0 ||
	    hand_out(&p->err, rc == 0, err) < 0) {
		mp_bytes_destroy(out);
		return MP__ERR(-ENOMEM, "out of memory for the output");
	}
	if (rc == -ETIMEDOUT)
		return MP__ERR(rc, "timed out; %zu bytes of output so far",
			       p->out.len + p->err.len);
	return 0;
}

/* The next whole line in p->line (or the rest at EOF) as owned bytes:
 * 1, 0 when there is none yet, -ENOMEM. */
static int next_line(mp_popen_t *p, mp_bytes_t *line)
{
	char *nl = p->line.len ? memchr(p->line.data, '\n', p->line.len) : NULL;
	struct buf b = {0};
	size_t n;

	if (nl == NULL && (p->fd_out >= 0 || p->line.len == 0))
		return 0;
	n = nl ? (size_t)(nl - p->line.data) + 1 : p->line.len;
	if (mp__buf_add(&b, p->line.data, n) < 0)
		return -ENOMEM;
	memmove(p->line.data, p->line.data + n, p->line.len - n + 1);
	p->line.len -= n;
	line->data = b.data;
	line->len = n;
	return 1;
}

int mp_popen_readline(mp_popen_t *p, double timeout, mp_bytes_t *line)
{
	uint64_t deadline;
	struct pollfd pfd;
	struct timespec ts;
	int rc;

	MP__CHECK_NULL(p);
	MP__CHECK_NULL(line);
	*line = (mp_bytes_t){0};
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	/* Without a pipe there is nothing to read: not an end of file. */
	if (!p->out_pipe)
		return MP__ERR(-EINVAL, "stdout is not a PIPE");
	while ((rc = next_line(p, line)) == 0) {
		if (p->fd_out < 0)
			return 0;
		pfd = (struct pollfd){p->fd_out, POLLIN, 0};
		rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return MP__SYSERR("ppoll");
		if (rc == 0)
			return MP__ERR(-ETIMEDOUT, "no complete line yet");
		set_nonblock(p->fd_out);
		if ((rc = read_into(&p->fd_out, &p->line)) < 0)
			return MP__ERR(rc, "out of memory");
	}
	return rc < 0 ? MP__ERR(rc, "out of memory") : 1;
}

/* Send sig to p's child unless reaped: 0 or a code with a reason. */
static int send_signal(mp_popen_t *p, int sig)
{
	if (mp__signal_check(sig) < 0)
		return -EINVAL;
	return p->reaped ? 0 : mp__child_signal(&p->child, sig);
}

int mp_popen_send_signal(mp_popen_t *p, int sig)
{
	int rc;

	MP__CHECK_NULL(p);
	rc = send_signal(p, sig);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_popen_terminate(mp_popen_t *p)
{
	int rc;

	MP__CHECK_NULL(p);
	rc = send_signal(p, SIGTERM);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_popen_kill(mp_popen_t *p)
{
	int rc;

	MP__CHECK_NULL(p);
	rc = send_signal(p, SIGKILL);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

void mp__popen_free(mp_popen_t *p)
{
	if (p == NULL)
		return;
	close_fd(&p->fd_in);
	close_fd(&p->fd_out);
	close_fd(&p->fd_err);
	if (!p->reaped && popen_poll(p, NULL) == 0)
		mp__child_kill_reap(&p->child);
	if (p->child.fd >= 0)
		close(p->child.fd);
	mp__free(p->out.data);
	mp__free(p->err.data);
	mp__free(p->line.data);
	mp__free(p);
}

void mp_popen_free(mp_popen_t *p)
{
	mp__popen_free(p);
}

/* ---- run ---- */

static void completed_release(mp_completed_t *res)
{
	mp_bytes_destroy(&res->out);
	mp_bytes_destroy(&res->err);
}

int mp_run(const char *const argv[], const mp_run_opts_t *opts, mp_completed_t *res)
{
	static const mp_run_opts_t defaults;
	mp_popen_opts_t po;
	mp_popen_t *p;
	uint64_t deadline, limit;
	int rc;

	MP__CHECK_NULL(res);
	memset(res, 0, sizeof(*res));
	if (opts == NULL)
		opts = &defaults;
	if ((rc = mp__timeout_check(opts->timeout, "opts->timeout")) < 0)
		return MP__RAISE(rc);
	limit = mp__option_timeout_ns(opts->timeout);
	if (opts->input == NULL && opts->input_len > 0)
		return MP__ERR(-EINVAL, "opts->input is NULL but opts->input_len "
				"is %zu", opts->input_len);
	po = opts->popen;
	if (opts->input != NULL)
		po.in.kind = MP_STDIO_PIPE;
	if (opts->capture_output) {
		po.out.kind = MP_STDIO_PIPE;
		if (po.err.kind != MP_STDIO_STDOUT)
			po.err.kind = MP_STDIO_PIPE;
	}
	/* With a timeout, the child leads a group we can kill as a whole. */
	if (limit != MP__NO_DEADLINE && !po.start_new_session)
		po.new_process_group = true;
	if ((rc = mp__popen_new(argv, &po, &p)) < 0)
		return MP__RAISE(rc);
	deadline = mp__deadline_in(limit);
	rc = communicate_until(p, opts->input, opts->input_len, deadline);
	if (rc == -ETIMEDOUT) {
		/* Kill the whole group: grandchildren holding our pipes too. */
		kill(-p->child.pid, SIGKILL);
		mp__child_signal(&p->child, SIGKILL);
		/* Collect what is left, briefly: an escaped grandchild
		 * (setsid) could hold a pipe open forever. */
		communicate_until(p, NULL, 0, mp__now_ns() + 200000000u);
		wait_until(p, MP__NO_DEADLINE, NULL);
		res->timed_out = true;
	} else if (rc < 0) {
		mp__popen_free(p);
		return MP__RAISE(rc);
	}
	res->pid = p->child.pid;
	res->returncode = p->returncode;
	rc = take(&p->out, &res->out) < 0 || take(&p->err, &res->err) < 0;
	mp__popen_free(p);
	if (rc) {
		completed_release(res);
		return MP__ERR(-ENOMEM, "out of memory");
	}
	if (res->timed_out)
		return MP__ERR(-ETIMEDOUT, "Command '%s' timed out after %g seconds",
			       argv[0], opts->timeout);
	if (opts->check && res->returncode != 0)
		return MP__ERR(MP_ECALLED,
			       res->returncode < 0
				       ? "Command '%s' died with signal %d."
				       : "Command '%s' returned non-zero exit "
					 "status %d.",
			       argv[0],
			       res->returncode < 0 ? -res->returncode
						   : res->returncode);
	return 0;
}

void mp_completed_destroy(mp_completed_t *res)
{
	if (res != NULL)
		completed_release(res);
}

int mp_bytes_lines(const mp_bytes_t *b, char ***lines)
{
	size_t count = 0, i, start;
	char **arr, *text;

	MP__CHECK_NULL(b);
	MP__CHECK_NULL(lines);
	if (b->data == NULL && b->len > 0)
		return MP__ERR(-EINVAL, "b->data is NULL but b->len is %zu",
			       b->len);
	for (i = 0; i < b->len; i++)
		count += b->data[i] == '\n';
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		count++;
	if (count > (size_t)INT32_MAX)
		return MP__ERR(-EOVERFLOW, "too many lines");
	/* count + 1 pointers, then the text and its NUL: no wrap. */
	if (__builtin_mul_overflow(count + 1, sizeof(*arr), &i) ||
	    __builtin_add_overflow(i, b->len, &i) ||
	    __builtin_add_overflow(i, 1, &i) ||
	    (arr = mp__malloc(i)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory for %zu bytes", b->len);
	text = (char *)(arr + count + 1);
	if (b->len)
		memcpy(text, b->data, b->len);
	text[b->len] = '\0';
	for (i = 0, start = 0, count = 0; i < b->len; i++)
		if (text[i] == '\n') {
			text[i] = '\0';
			arr[count++] = text + start;
			start = i + 1;
		}
	if (start < b->len)
		arr[count++] = text + start;
	arr[count] = NULL;
	*lines = arr;
	return (int)count;
}
