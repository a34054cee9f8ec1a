/*
 * connection/conn_recv.c - receiving Connection messages (the read buffer,
 * length headers, payloads that grow with what arrived) and fd passing
 * with SCM_RIGHTS; sending is in conn.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "connection/conn_int.h"
#include "internal/clock.h"
#include "internal/error.h"

/* ---- receiving ---- */

/*
 * Receiving never consumes a byte of a header until the whole header is in
 * the read buffer, so a failure before that (EOF at a message boundary, a
 * timeout, EAGAIN) leaves the stream in step.  Once a header is consumed,
 * any failure before the end of its payload breaks the connection: every
 * later receive fails with -EPROTO, as CPython's connection stops being
 * readable after a bad message length.  A payload the library allocates
 * grows with the bytes that arrived (at most twice them, plus MP__RBUF),
 * never with what the header claims.
 */

/* Keep the fds that came with a recvmsg, in order (extra ones closed). */
static void stash_fds(mp_connection_t *c, struct msghdr *m)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		unsigned char *data = CMSG_DATA(cm);
		size_t k, i;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (c->nfds < MP__MAXFDS)
				c->fds[c->nfds++] = fd;
			else
				close(fd);
		}
	}
}

/* One read of at most n bytes into dst: >0, 0 at EOF, -errno, -ETIMEDOUT. */
static ssize_t read_some(mp_connection_t *c, void *dst, size_t n,
			 uint64_t deadline)
{
	char ctrl[CMSG_SPACE(sizeof(int) * MP__MAXFDS)];
	struct iovec iov = {dst, n};
	struct msghdr m;
	ssize_t r;
	int rc;

	for (;;) {
		if ((rc = mp__conn_wait_fd(c->fd, POLLIN, deadline)) < 0)
			return rc;
		if (c->socket) {
			m = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1,
					    .msg_control = ctrl,
					    .msg_controllen = sizeof(ctrl)};
			r = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
		} else {
			r = read(c->fd, dst, n);
		}
		if (r >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	if (c->socket && r > 0)
		stash_fds(c, &m);
	return r;
}

/* Read more into the read buffer: >0, 0 at EOF, negative on error. */
static ssize_t fill(mp_connection_t *c, uint64_t deadline)
{
	ssize_t n;

	if (c->rbuf == NULL && (c->rbuf = mp__malloc(MP__RBUF)) == NULL)
		return -ENOMEM;
	if (c->rpos == c->rlen) {
		c->rpos = c->rlen = 0;
	} else if (c->rlen == MP__RBUF) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	n = read_some(c, c->rbuf + c->rlen, MP__RBUF - c->rlen, deadline);
	if (n > 0)
		c->rlen += (size_t)n;
	return n;
}

/*
 * Have at least n (<= MP__RBUF) bytes buffered, consuming nothing: 0,
 * MP_EEOF at EOF with nothing buffered, -EIO at EOF after a part, or the
 * error of the read.
 */
static int buffered(mp_connection_t *c, size_t n, uint64_t deadline)
{
	ssize_t r;

	while (c->rlen - c->rpos < n) {
		if ((r = fill(c, deadline)) == 0)
			return c->rlen == c->rpos ? MP_EEOF : -EIO;
		if (r < 0)
			return (int)r;
	}
	return 0;
}

/* Copy exactly n payload bytes to dst: 0, -EIO at EOF, or an error. */
static int take(mp_connection_t *c, unsigned char *dst, size_t n,
		uint64_t deadline)
{
	size_t have, k, done = 0;
	ssize_t r;

	while (done < n) {
		have = c->rlen - c->rpos;
		if (have > 0) {
			k = have < n - done ? have : n - done;
			memcpy(dst + done, c->rbuf + c->rpos, k);
			c->rpos += k;
			done += k;
			continue;
		}
		/* a large rest straight into dst (no double copy); a small
		 * one through the buffer, with whatever follows it */
		if (n - done >= MP__RBUF) {
			r = read_some(c, dst + done, n - done, deadline);
			if (r > 0)
				done += (size_t)r;
		} else {
			r = fill(c, deadline);
		}
		if (r == 0)
			return -EIO;
		if (r < 0)
			return (int)r;
	}
	return 0;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Read a header (the payload's length), consuming it only once it is
 * whole: 0, MP_EEOF, -EIO (EOF inside it), -EPROTO (a negative length other
 * than CPython's -1), or the error of the read.
 */
static int read_length(mp_connection_t *c, uint64_t *len, uint64_t deadline)
{
	const unsigned char *h;
	uint32_t n;
	int rc;

	if ((rc = buffered(c, 4, deadline)) < 0)
		return rc;
	h = c->rbuf + c->rpos;
	n = (uint32_t)be(h, 4);
	if (n < 0x80000000u) {
		c->rpos += 4;
		*len = n;
		return 0;
	}
	if (n != 0xffffffffu)
		return -EPROTO;
	if ((rc = buffered(c, 12, deadline)) < 0)
		return rc;
	h = c->rbuf + c->rpos; /* the buffer may have moved */
	*len = be(h + 4, 8);
	c->rpos += 12;
	return 0;
}

/*
 * Stop receiving for good: later receives give -EPROTO "connection is
 * unusable after <why>"; this one gives rc with the reason msg.
 */
static int broken(mp_connection_t *c, const char *why, int rc,
		  const char *msg)
{
	c->broken = why;
	return mp__why(rc, "%s", msg);
}

/* The reason of a failure of the header (mid_frame false) or payload. */
static int recv_error(mp_connection_t *c, int rc, bool mid_frame,
		      const struct mp__io *io)
{
	if (rc == MP_EEOF && !mid_frame)
		return mp__why(rc, "the peer closed the connection");
	if (rc == -EIO || rc == MP_EEOF)
		return broken(c, "an end of file in the middle of a message",
			      -EIO, "got end of file during message");
	if (rc == -EPROTO)
		return broken(c, "a bad message length", rc,
			      "bad message length (a negative header)");
	if (rc == -ETIMEDOUT && !mid_frame)
		return mp__why(rc, "timed out after %gs waiting for the peer",
			       io->timeout);
	if (!mid_frame)
		return mp__why(rc, "recv: %s", mp_strerror(rc));
	c->broken = rc == -ETIMEDOUT ? "a timeout in the middle of a message"
		    : rc == -ENOMEM  ? "running out of memory in the middle "
				       "of a message"
				     : "a failed receive in the middle of a "
				       "message";
	if (rc == -ETIMEDOUT)
		return mp__why(rc, "timed out after %gs in the middle of a "
			       "message", io->timeout);
	return mp__why(rc, "%s: %s", rc == -ENOMEM ? "allocating" : "recv",
		       mp_strerror(rc));
}

/*
 * A payload of n (<= SIZE_MAX / 2) bytes into a buffer that grows as bytes
 * arrive, with a NUL after them.
 */
static int take_growing(mp_connection_t *c, size_t n, unsigned char **out,
			const struct mp__io *io)
{
	size_t cap = n < MP__RBUF ? n : MP__RBUF, done = 0, ncap;
	unsigned char *buf, *p;
	int rc;

	if ((buf = mp__malloc(cap + 1)) == NULL) {
		/* nothing of the payload read yet: keep the header */
		c->has_pend = true;
		c->pend_len = n;
		return mp__why(-ENOMEM, "cannot allocate %zu bytes", cap + 1);
	}
	for (;;) {
		if ((rc = take(c, buf + done, cap - done, io->deadline)) < 0) {
			mp__free(buf);
			return recv_error(c, rc, true, io);
		}
		done = cap;
		if (done == n)
			break;
		/* cap bytes arrived: at most double */
		ncap = cap > n / 2 ? n : cap * 2;
		if ((p = mp__realloc(buf, ncap + 1)) == NULL) {
			mp__free(buf);
			return recv_error(c, -ENOMEM, true, io);
		}
		buf = p;
		cap = ncap;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/*
 * One message: into dst (cap bytes) when dst is non-NULL, else into a new
 * NUL-terminated buffer (*out) of at most maxlength (0: any) bytes.
 */
static int recv_msg(mp_connection_t *c, unsigned char *dst, size_t cap,
		    unsigned char **out, size_t *len, size_t maxlength,
		    const struct mp__io *io)
{
	unsigned char *got = NULL;
	uint64_t n;
	int rc;

	if ((rc = mp__conn_check(c, false)) < 0)
		return rc;
	if (c->has_pend) {
		n = c->pend_len;
	} else if ((rc = read_length(c, &n, io->deadline)) < 0) {
		return recv_error(c, rc, false, io);
	}
	if (dst != NULL && n > cap) {
		/* BufferTooShort; the payload stays on the wire */
		c->has_pend = true;
		c->pend_len = n;
		*len = n < (uint64_t)SIZE_MAX ? (size_t)n : SIZE_MAX;
		return mp__why(-EMSGSIZE, "message of %llu bytes does not fit "
			       "the buffer of %zu bytes",
			       (unsigned long long)n, cap);
	}
	c->has_pend = false;
	if (dst == NULL && maxlength && n > maxlength) {
		c->broken = "a bad message length";
		return mp__why(-EMSGSIZE, "bad message length: %llu bytes "
			       "over the maxlength of %zu",
			       (unsigned long long)n, maxlength);
	}
	if (n > SIZE_MAX / 2) {
		c->broken = "a bad message length";
		return mp__why(-EMSGSIZE, "bad message length: %llu bytes",
			       (unsigned long long)n);
	}
	if (dst != NULL) {
		if ((rc = take(c, dst, (size_t)n, io->deadline)) < 0)
			return recv_error(c, rc, true, io);
	} else if ((rc = take_growing(c, (size_t)n, &got, io)) < 0) {
		return rc;
	} else {
		*out = got;
	}
	*len = (size_t)n;
	return 0;
}

int mp__conn_recv(mp_connection_t *c, size_t maxlength,
		  const struct mp__io *io, mp_bytes_t *out)
{
	unsigned char *got = NULL;
	size_t len = 0;
	int rc;

	*out = (mp_bytes_t){NULL, 0};
	if ((rc = recv_msg(c, NULL, 0, &got, &len, maxlength, io)) < 0)
		return rc;
	*out = (mp_bytes_t){(char *)got, len};
	return 0;
}

int mp_connection_recv_bytes(mp_connection_t *c, size_t maxlength,
			     mp_bytes_t *out)
{
	int rc;

	MP__CHECK_NULL(out);
	if ((rc = mp__conn_recv(c, maxlength, &mp__conn_blocking, out)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_connection_recv_bytes_into(mp_connection_t *c, void *buf, size_t cap,
				  size_t *len)
{
	int rc;

	MP__CHECK_NULL(buf);
	MP__CHECK_NULL(len);
	if ((rc = recv_msg(c, buf, cap, NULL, len, 0, &mp__conn_blocking)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_connection_poll(mp_connection_t *c, double timeout)
{
	struct pollfd pfd;
	struct timespec ts;
	uint64_t deadline;
	int rc;

	if ((rc = mp__conn_check(c, false)) < 0)
		return MP__RAISE(rc);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if (c->has_pend || c->rpos < c->rlen)
		return 1;
	pfd = (struct pollfd){c->fd, POLLIN, 0};
	do
		rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return MP__SYSERR("poll");
	return rc > 0;
}

/* ---- fds ---- */

int mp_connection_send_fd(mp_connection_t *c, int fd)
{
	char ctrl[CMSG_SPACE(sizeof(int))];
	unsigned char one = 1;
	struct iovec iov = {&one, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = ctrl, .msg_controllen = sizeof(ctrl)};
	struct cmsghdr *cm;
	ssize_t w;
	int rc;

	if ((rc = mp__conn_check(c, true)) < 0)
		return MP__RAISE(rc);
	if (!c->socket)
		return MP__ERR(-EBADF, "fds travel only over Unix sockets");
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return MP__ERR(-EBADF, "fd %d is not open", fd);
	memset(ctrl, 0, sizeof(ctrl));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == 1 ? 0 : MP__SYSERR("sendmsg");
}

int mp_connection_recv_fd(mp_connection_t *c, int *fd)
{
	int rc;

	MP__CHECK_NULL(fd);
	if ((rc = mp__conn_check(c, false)) < 0)
		return MP__RAISE(rc);
	if (c->has_pend)
		return MP__ERR(-EPROTO, "a message is next, not an fd");
	/* the one-byte marker that carried the fd */
	if ((rc = buffered(c, 1, MP__NO_DEADLINE)) < 0)
		return MP__RAISE(recv_error(c, rc, false, &mp__conn_blocking));
	c->rpos++;
	if (c->nfds == 0)
		return MP__ERR(-EPROTO, "no fd came with the message");
	*fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (size_t)--c->nfds * sizeof(int));
	return 0;
}
