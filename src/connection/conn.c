/*
 * connection/conn.c - Connection: CPython's length-prefixed messages over a
 * pipe or a Unix/TCP socket, with a read buffer (one read usually brings a
 * header and its payload) and fd passing with SCM_RIGHTS.  This file makes,
 * sends on and closes one; receiving and fd passing are in conn_recv.c.
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

int mp__conn_new(int fd, bool readable, bool writable, mp_connection_t **out)
{
	mp_connection_t *c;
	struct stat st;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0)
		return mp__why(-EBADF, "fd %d is not open", fd);
	if (!readable && !writable)
		return mp__why(-EINVAL, "a connection must be readable or "
			       "writable");
	if ((c = mp__calloc(1, sizeof(*c))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	c->fd = fd;
	c->readable = readable;
	c->writable = writable;
	c->socket = S_ISSOCK(st.st_mode);
	*out = c;
	return 0;
}

mp_connection_t *mp_connection_new(int fd, unsigned flags)
{
	const unsigned both = MP_CONN_READONLY | MP_CONN_WRITEONLY;
	mp_connection_t *c;
	int rc;

	if (flags & ~both) {
		MP__ERR(-EINVAL, "argument 'flags' has unknown bits 0x%x",
			flags & ~both);
		return NULL;
	}
	if ((flags & both) == both) {
		MP__ERR(-EINVAL, "argument 'flags': MP_CONN_READONLY and "
			"MP_CONN_WRITEONLY exclude each other");
		return NULL;
	}
	rc = mp__conn_new(fd, !(flags & MP_CONN_WRITEONLY),
			  !(flags & MP_CONN_READONLY), &c);
	if (rc < 0)
		MP__RAISE(rc);
	return c;
}

int mp_pipe(unsigned flags, mp_connection_t **conn1, mp_connection_t **conn2)
{
	bool duplex = !(flags & MP_PIPE_SIMPLEX);
	int fds[2], rc;

	MP__CHECK_NULL(conn1);
	MP__CHECK_NULL(conn2);
	*conn1 = *conn2 = NULL;
	if (flags & ~MP_PIPE_SIMPLEX)
		return MP__ERR(-EINVAL, "argument 'flags' has unknown bits "
			       "0x%x", flags & ~MP_PIPE_SIMPLEX);
	/* A socket pair both ways: send() can then say MSG_NOSIGNAL, which
	 * spares every message the SIGPIPE masking a pipe would need. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return MP__SYSERR("socketpair");
	if (!duplex) {
		shutdown(fds[0], SHUT_WR);
		shutdown(fds[1], SHUT_RD);
	}
	/* a connection owns its fd; a failed one adopted nothing */
	if ((rc = mp__conn_new(fds[0], true, duplex, conn1)) < 0) {
		close(fds[0]);
		close(fds[1]);
		return MP__RAISE(rc);
	}
	if ((rc = mp__conn_new(fds[1], duplex, true, conn2)) < 0) {
		close(fds[1]);
		mp_connection_free(*conn1);
		*conn1 = NULL;
		return MP__RAISE(rc);
	}
	return 0;
}

int mp_connection_fileno(const mp_connection_t *c)
{
	MP__CHECK_NULL(c);
	return c->fd >= 0 ? c->fd : MP__ERR(MP_ECLOSED, "handle is closed");
}

/* Can c send (write) or receive?  0, or a code with its reason. */
int mp__conn_check(const mp_connection_t *c, bool write)
{
	if (c == NULL)
		return mp__why(-EINVAL, "argument 'c' is NULL");
	if (c->fd < 0)
		return mp__why(MP_ECLOSED, "handle is closed");
	if (write && !c->writable)
		return mp__why(-EBADF, "connection is read-only");
	if (!write && !c->readable)
		return mp__why(-EBADF, "connection is write-only");
	if (!write && c->broken)
		return mp__why(-EPROTO, "connection is unusable after %s",
			       c->broken);
	return 0;
}

/* The io of a public call without a timeout: no deadline. */
const struct mp__io mp__conn_blocking = {MP__NO_DEADLINE, MP_FOREVER};

/*
 * Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT,
 * -errno.  Without a deadline the next syscall simply blocks.
 */
int mp__conn_wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {fd, events, 0};
	struct timespec ts;
	int rc;

	if (deadline == MP__NO_DEADLINE)
		return 0;
	for (;;) {
		rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* ---- sending ---- */

/*
 * writev everything before the deadline; never raises SIGPIPE (sockets:
 * MSG_NOSIGNAL; pipes: SIGPIPE blocked for the call and a resulting one
 * consumed).  With a deadline a socket is written with MSG_DONTWAIT; a
 * pipe is polled before each write (the handshake, the only caller with a
 * deadline, runs on sockets).
 */
static int write_all(mp_connection_t *c, struct iovec *iov, int n,
		     uint64_t deadline)
{
	int flags = MSG_NOSIGNAL |
		    (deadline != MP__NO_DEADLINE ? MSG_DONTWAIT : 0);
	sigset_t pipe_set, old, pending;
	struct timespec zero = {0, 0};
	bool was_pending = true;
	ssize_t w;
	int rc = 0;

	if (!c->socket) {
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		sigpending(&pending);
		was_pending = sigismember(&pending, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	}
	while (n > 0) {
		if (c->socket) {
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
			w = sendmsg(c->fd, &m, flags);
		} else {
			if ((rc = mp__conn_wait_fd(c->fd, POLLOUT,
						   deadline)) < 0)
				break;
			w = writev(c->fd, iov, n);
		}
		if (w < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (e == EAGAIN && deadline != MP__NO_DEADLINE) {
				if ((rc = mp__conn_wait_fd(c->fd, POLLOUT,
							   deadline)) < 0)
					break;
				continue;
			}
			rc = -e;
			break;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	if (!c->socket) {
		if (rc == -EPIPE && !was_pending)
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
			       errno == EINTR)
				;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return rc;
}

/* write_all's outcome with its reason. */
static int send_error(int rc, const struct mp__io *io)
{
	if (rc == -ETIMEDOUT)
		return mp__why(rc, "timed out after %gs sending to the peer",
			       io->timeout);
	if (rc < 0)
		return mp__why(rc, "send: %s", mp_strerror(rc));
	return 0;
}

int mp__conn_send(mp_connection_t *c, const void *buf, size_t len,
		  const struct mp__io *io)
{
	unsigned char hdr[12];
	struct iovec iov[2];
	size_t hlen = 4;
	int rc;

	if ((rc = mp__conn_check(c, true)) < 0)
		return rc;
	if (buf == NULL && len > 0)
		return mp__why(-EINVAL, "argument 'buf' is NULL");
	if (len > 0x7fffffff) { /* CPython's large form: -1, then 8 bytes */
		memset(hdr, 0xff, 4);
		for (int i = 0; i < 8; i++)
			hdr[4 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hlen = 12;
	} else {
		for (int i = 0; i < 4; i++)
			hdr[i] = (unsigned char)(len >> (24 - 8 * i));
	}
	iov[0] = (struct iovec){hdr, hlen};
	iov[1] = (struct iovec){(void *)buf, len};
	return send_error(write_all(c, iov, len ? 2 : 1, io->deadline), io);
}

int mp__conn_frame_add(mp_bytes_t *b, size_t *cap, const void *msg,
		       size_t len)
{
	size_t need;
	char *p;

	if (len > 0x7fffffff || __builtin_add_overflow(b->len, len + 4, &need))
		return -EMSGSIZE;
	if (need > *cap) {
		size_t c = *cap * 2 > need ? *cap * 2 : need + 256;

		if ((p = mp__realloc(b->data, c)) == NULL)
			return -ENOMEM;
		b->data = p;
		*cap = c;
	}
	for (int i = 0; i < 4; i++)
		b->data[b->len + (size_t)i] = (char)(len >> (24 - 8 * i));
	memcpy(b->data + b->len + 4, msg, len);
	b->len = need;
	return 0;
}

int mp__conn_send_framed(mp_connection_t *c, const void *buf, size_t len,
			 const struct mp__io *io)
{
	struct iovec iov = {(void *)buf, len};
	int rc;

	if ((rc = mp__conn_check(c, true)) < 0 || len == 0)
		return rc;
	return send_error(write_all(c, &iov, 1, io->deadline), io);
}

int mp_connection_send_bytes(mp_connection_t *c, const void *buf, size_t len)
{
	int rc = mp__conn_send(c, buf, len, &mp__conn_blocking);

	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* ---- travelling (process/shared.c) ---- */

/* The buffer, and what is pending, are one process's: a child that gets
 * the connection gets a copy of both (a header consumed whose payload is
 * pending goes as the header again, so the child's state is plain). */

int mp__conn_unread(const mp_connection_t *c, unsigned char *buf)
{
	size_t h = 0, n = c->rlen - c->rpos;

	if (c->nfds > 0)
		return mp__why(-EBUSY, "the Connection holds %d received "
				       "fds not taken yet",
			       c->nfds);
	if (c->broken != NULL)
		return mp__why(-EPROTO, "the Connection is unusable after %s",
			       c->broken);
	if (c->has_pend) { /* the header again, as the peer framed it */
		uint64_t len = c->pend_len;
		int w = len < 0x80000000u ? 4 : 8;

		h = w == 4 ? 4 : 12;
		memset(buf, 0xff, 4);
		for (int i = 1; i <= w; i++, len >>= 8)
			buf[h - (size_t)i] = (unsigned char)len;
	}
	if (n > MP__RBUF - h) /* not after a header consumed from it */
		return mp__why(-EOVERFLOW, "the Connection has %zu bytes "
					   "read ahead",
			       n + h);
	if (n > 0)
		memcpy(buf + h, c->rbuf + c->rpos, n);
	return (int)(n + h);
}

int mp__conn_preload(mp_connection_t *c, const void *bytes, size_t n)
{
	if (n == 0)
		return 0;
	if (n > MP__RBUF || c->rbuf != NULL)
		return mp__why(-EINVAL, "%zu bytes to preload", n);
	if ((c->rbuf = mp__malloc(MP__RBUF)) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	memcpy(c->rbuf, bytes, n);
	c->rpos = 0;
	c->rlen = n;
	return 0;
}

/* ---- closing ---- */

static void conn_close(mp_connection_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
}

int mp_connection_close(mp_connection_t *c)
{
	MP__CHECK_NULL(c);
	conn_close(c);
	return 0;
}

void mp_connection_free(mp_connection_t *c)
{
	if (c == NULL)
		return;
	conn_close(c);
	mp__free(c->rbuf);
	mp__free(c);
}

int mp_mkfifo(const char *path, mode_t mode)
{
	MP__CHECK_NULL(path);
	if (mkfifo(path, mode) < 0)
		return MP__ERR(-errno, "mkfifo(%s): %s", path, mp_strerror(-errno));
	return 0;
}
