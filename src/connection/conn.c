/*
 * connection/conn.c - Connection: CPython's length-prefixed messages over a
 * pipe or a Unix/TCP socket, with a read buffer (one read usually brings a
 * header and its payload) and fd passing with SCM_RIGHTS.
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

mp_connection_t *mp_connection_new(int fd, bool readable, bool writable)
{
	mp_connection_t *c;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		MPI_ERR(-EBADF, "fd %d is not open", fd);
		return NULL;
	}
	if (!readable && !writable) {
		MPI_ERR(-EINVAL, "a connection must be readable or writable");
		return NULL;
	}
	if ((c = mpi_calloc(1, sizeof(*c))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->readable = readable;
	c->writable = writable;
	c->socket = S_ISSOCK(st.st_mode);
	return c;
}

int mp_pipe(bool duplex, mp_connection_t **reader, mp_connection_t **writer)
{
	int fds[2];

	MPI_CHECK_NULL(reader);
	MPI_CHECK_NULL(writer);
	/* A socket pair both ways: send() can then say MSG_NOSIGNAL, which
	 * spares every message the SIGPIPE masking a pipe would need. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return MPI_SYSERR("socketpair");
	if (!duplex) {
		shutdown(fds[0], SHUT_WR);
		shutdown(fds[1], SHUT_RD);
	}
	*reader = mp_connection_new(fds[0], true, duplex);
	*writer = mp_connection_new(fds[1], duplex, true);
	if (*reader == NULL || *writer == NULL) {
		if (*reader == NULL) /* not adopted: close it here */
			close(fds[0]);
		if (*writer == NULL)
			close(fds[1]);
		mp_connection_free(*reader);
		mp_connection_free(*writer);
		*reader = *writer = NULL;
		return MPI_ERR(-ENOMEM, "out of memory");
	}
	return 0;
}

int mp_connection_fileno(const mp_connection_t *c)
{
	MPI_CHECK_NULL(c);
	return c->fd >= 0 ? c->fd : MPI_ERR(MP_ECLOSED, "handle is closed");
}

static int check(const mp_connection_t *c, bool write, const char *func)
{
	if (c == NULL)
		return mpi_error(-EINVAL, func, "argument 'c' is NULL");
	if (c->fd < 0)
		return mpi_error(MP_ECLOSED, func, "handle is closed");
	if (write && !c->writable)
		return mpi_error(-EBADF, func, "connection is read-only");
	if (!write && !c->readable)
		return mpi_error(-EBADF, func, "connection is write-only");
	if (!write && c->broken)
		return mpi_error(-EPROTO, func, "connection is unusable after "
						"a bad message length");
	return 0;
}

/* ---- sending ---- */

/* writev everything; never raises SIGPIPE (sockets: MSG_NOSIGNAL; pipes:
 * SIGPIPE blocked for the call and a resulting one consumed). */
static int write_all(mp_connection_t *c, struct iovec *iov, int n)
{
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
			w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		} else {
			w = writev(c->fd, iov, n);
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
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

int mpi_conn_send(mp_connection_t *c, const void *buf, size_t len,
		  const char *func)
{
	unsigned char hdr[12];
	struct iovec iov[2];
	size_t hlen = 4;
	int rc;

	if ((rc = check(c, true, func)) < 0)
		return rc;
	if (buf == NULL && len > 0)
		return mpi_error(-EINVAL, func, "argument 'buf' is NULL");
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
	if ((rc = write_all(c, iov, len ? 2 : 1)) < 0)
		return mpi_error(rc, func, "send: %s", mp_strerror(rc));
	return 0;
}

int mp_connection_send_bytes(mp_connection_t *c, const void *buf, size_t len)
{
	return mpi_conn_send(c, buf, len, __func__);
}

/* ---- receiving ---- */

/* Read more into the buffer (stashing received fds): >0, 0 at EOF, -errno. */
static ssize_t fill(mp_connection_t *c)
{
	char ctrl[CMSG_SPACE(sizeof(int) * MPI_MAXFDS)];
	struct cmsghdr *cm;
	struct iovec iov;
	struct msghdr m;
	ssize_t n;

	if (c->rbuf == NULL && (c->rbuf = mpi_malloc(MPI_RBUF)) == NULL)
		return -ENOMEM;
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	else if (c->rlen == MPI_RBUF) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	iov = (struct iovec){c->rbuf + c->rlen, MPI_RBUF - c->rlen};
	do {
		if (c->socket) {
			m = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1,
					    .msg_control = ctrl,
					    .msg_controllen = sizeof(ctrl)};
			n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
		} else {
			n = read(c->fd, iov.iov_base, iov.iov_len);
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (c->socket)
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			int *fds = (int *)CMSG_DATA(cm);
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < k; i++) {
				if (c->nfds < MPI_MAXFDS)
					c->fds[c->nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
	c->rlen += (size_t)n;
	return n;
}

/* Copy exactly n bytes out (from the buffer, then straight from the fd). */
static int take(mp_connection_t *c, unsigned char *dst, size_t n, bool header)
{
	size_t have, done = 0;
	ssize_t r;

	while (done < n) {
		have = c->rlen - c->rpos;
		if (have > 0) {
			size_t k = have < n - done ? have : n - done;
			memcpy(dst + done, c->rbuf + c->rpos, k);
			c->rpos += k;
			done += k;
			continue;
		}
		if (n - done >= MPI_RBUF && !c->socket) {
			/* large payload from a pipe: no double copy */
			do
				r = read(c->fd, dst + done, n - done);
			while (r < 0 && errno == EINTR);
			if (r > 0) {
				done += (size_t)r;
				continue;
			}
		} else {
			r = fill(c);
		}
		if (r == 0)
			return header && done == 0 ? MP_EEOF : -EIO;
		if (r < 0)
			return (int)r;
	}
	return 0;
}

/* Read a header: the payload length. */
static int read_length(mp_connection_t *c, uint64_t *len)
{
	unsigned char h[8];
	int32_t n;
	int rc;

	if ((rc = take(c, h, 4, true)) < 0)
		return rc;
	n = (int32_t)((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		      (uint32_t)h[2] << 8 | h[3]);
	if (n >= 0) {
		*len = (uint64_t)n;
		return 0;
	}
	if (n != -1)
		return -EPROTO;
	if ((rc = take(c, h, 8, false)) < 0)
		return rc;
	*len = 0;
	for (int i = 0; i < 8; i++)
		*len = *len << 8 | h[i];
	return 0;
}

static int recv_error(mp_connection_t *c, int rc, const char *func)
{
	switch (rc) {
	case MP_EEOF:
		return mpi_error(rc, func, "the peer closed the connection");
	case -EIO:
		c->broken = true;
		return mpi_error(rc, func, "got end of file during message");
	case -EPROTO:
		c->broken = true;
		return mpi_error(rc, func, "bad message length");
	default:
		return mpi_error(rc, func, "recv: %s", mp_strerror(rc));
	}
}

/*
 * One message: into *buf when it is non-NULL and cap suffices, else into a
 * new allocation (own) — or, for a caller buffer too small, kept pending.
 */
static int recv_msg(mp_connection_t *c, void **buf, size_t cap, size_t *len,
		    size_t maxlength, const char *func)
{
	uint64_t n;
	unsigned char *dst;
	int rc;

	if ((rc = check(c, false, func)) < 0)
		return rc;
	if (c->has_pend) {
		if (*buf != NULL && c->pend_len > cap) {
			*len = c->pend_len;
			return mpi_error(-EMSGSIZE, func, "message of %zu bytes does not fit "
					 "the buffer of %zu bytes", c->pend_len, cap);
		}
		if (*buf != NULL) {
			memcpy(*buf, c->pend, c->pend_len);
			mpi_free(c->pend);
		} else {
			*buf = c->pend;
		}
		*len = c->pend_len;
		c->pend = NULL;
		c->has_pend = false;
		return 0;
	}
	if (c->has_hdr)
		n = c->hdr_len;
	else if ((rc = read_length(c, &n)) < 0)
		return recv_error(c, rc, func);
	c->has_hdr = false;
	if ((maxlength && n > maxlength) || n > SIZE_MAX / 2) {
		c->broken = true;
		return mpi_error(-EMSGSIZE, func, "bad message length: %llu bytes "
				 "over the maxlength of %zu",
				 (unsigned long long)n, maxlength);
	}
	bool keep = *buf != NULL && n > cap;
	dst = *buf != NULL && !keep ? *buf : mpi_malloc(n ? (size_t)n : 1);
	if (dst == NULL) {
		c->hdr_len = n;
		c->has_hdr = true;
		return mpi_error(-ENOMEM, func, "cannot allocate %llu bytes",
				 (unsigned long long)n);
	}
	if ((rc = take(c, dst, (size_t)n, false)) < 0) {
		if (dst != *buf)
			mpi_free(dst);
		return recv_error(c, rc == MP_EEOF ? -EIO : rc, func);
	}
	*len = (size_t)n;
	if (keep) {
		c->pend = dst;
		c->pend_len = (size_t)n;
		c->has_pend = true;
		return mpi_error(-EMSGSIZE, func, "message of %zu bytes does not fit "
				 "the buffer of %zu bytes", (size_t)n, cap);
	}
	*buf = dst;
	return 0;
}

int mpi_conn_recv(mp_connection_t *c, void **buf, size_t *len,
		  size_t maxlength, const char *func)
{
	*buf = NULL;
	return recv_msg(c, buf, 0, len, maxlength, func);
}

int mp_connection_recv_bytes(mp_connection_t *c, void **buf, size_t *len,
			     size_t maxlength)
{
	MPI_CHECK_NULL(buf);
	MPI_CHECK_NULL(len);
	return mpi_conn_recv(c, buf, len, maxlength, __func__);
}

int mp_connection_recv_bytes_into(mp_connection_t *c, void *buf, size_t cap,
				  size_t *len)
{
	void *p = buf;

	MPI_CHECK_NULL(buf);
	MPI_CHECK_NULL(len);
	return recv_msg(c, &p, cap, len, 0, __func__);
}

int mp_connection_poll(mp_connection_t *c, double timeout)
{
	struct pollfd pfd;
	struct timespec ts;
	uint64_t deadline;
	int rc;

	if ((rc = check(c, false, __func__)) < 0)
		return rc;
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	if (c->has_pend || c->has_hdr || c->rpos < c->rlen)
		return 1;
	pfd = (struct pollfd){c->fd, POLLIN, 0};
	do
		rc = ppoll(&pfd, 1, mpi_remaining(deadline, &ts), NULL);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return MPI_SYSERR("poll");
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

	if ((rc = check(c, true, __func__)) < 0)
		return rc;
	if (!c->socket)
		return MPI_ERR(-EBADF, "fds travel only over Unix sockets");
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return MPI_ERR(-EBADF, "fd %d is not open", fd);
	memset(ctrl, 0, sizeof(ctrl));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == 1 ? 0 : MPI_SYSERR("sendmsg");
}

int mp_connection_recv_fd(mp_connection_t *c, int *fd)
{
	unsigned char marker;
	int rc;

	MPI_CHECK_NULL(fd);
	if ((rc = check(c, false, __func__)) < 0)
		return rc;
	if ((rc = take(c, &marker, 1, true)) < 0)
		return recv_error(c, rc, __func__);
	if (c->nfds == 0)
		return MPI_ERR(-EPROTO, "no fd came with the message");
	*fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (size_t)--c->nfds * sizeof(int));
	return 0;
}

/* ---- closing ---- */

int mp_connection_close(mp_connection_t *c)
{
	MPI_CHECK_NULL(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
	return 0;
}

void mp_connection_free(mp_connection_t *c)
{
	if (c == NULL)
		return;
	mp_connection_close(c);
	mpi_free(c->rbuf);
	mpi_free(c->pend);
	mpi_free(c);
}

int mp_mkfifo(const char *path, mode_t mode)
{
	MPI_CHECK_NULL(path);
	if (mkfifo(path, mode) < 0)
		return MPI_ERR(-errno, "mkfifo(%s): %s", path, mp_strerror(-errno));
	return 0;
}
