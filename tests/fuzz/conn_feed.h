/*
 * conn_feed.h - the connection harnesses' peer: the fuzz input written,
 * from this thread and without blocking, into one end of a socket pair or
 * a pipe whose other end the library then reads.  Inputs are at most 64 KiB
 * (run.sh's -max_len), which the buffers raised here hold whole; whatever
 * would not fit is dropped (the peer then "sent" less).
 */
#ifndef MPROC_FUZZ_CONN_FEED_H
#define MPROC_FUZZ_CONN_FEED_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static inline void feed_write(int fd, const uint8_t *data, size_t size)
{
	ssize_t w;

	while (size > 0) {
		w = write(fd, data, size);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* full: the rest is dropped */
		data += w;
		size -= (size_t)w;
	}
}

/*
 * A socket pair: returns the library's end and sets *peer to ours, whose
 * sending side is shut down after the input (so the library sees EOF
 * there) while it can still take what the library sends.  -1 on failure.
 */
static inline int feed_socketpair(const uint8_t *data, size_t size, int *peer)
{
	int sv[2], big = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0)
		abort();
	feed_write(sv[1], data, size);
	shutdown(sv[1], SHUT_WR);
	*peer = sv[1];
	return sv[0];
}

/* A pipe: returns its read end, the write end closed after the input. */
static inline int feed_pipe(const uint8_t *data, size_t size)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	fcntl(p[1], F_SETPIPE_SZ, 1 << 17);
	feed_write(p[1], data, size);
	close(p[1]);
	if (fcntl(p[0], F_SETFL, 0) < 0) /* the library reads blocking */
		abort();
	return p[0];
}

#endif
