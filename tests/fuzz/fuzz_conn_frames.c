/*
 * fuzz_conn_frames - the input is a peer's byte stream of CPython frames,
 * read with recv_bytes (with and without maxlength), recv_bytes_into (into
 * a buffer of exactly cap bytes, so a write past it is caught), recv_fd and
 * poll until EOF or an error, over a socket pair or a pipe.
 *
 * Input: byte 0 chooses the transport (bit 0: pipe) and the order of the
 * operations (the rest); byte 1 sets maxlength and cap; the rest is the
 * stream.  Checks: nothing returned is longer than its limit, the payload
 * bytes returned never exceed the bytes sent, a broken connection stays
 * broken, and (run.sh's malloc limit) no allocation goes far beyond what
 * arrived.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc/connection.h"
#include "conn_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { OP_RECV, OP_RECV_MAX, OP_INTO, OP_POLL, OP_FD, NOPS };

/* A broken connection refuses every later receive and poll. */
static void check_broken(mp_connection_t *c)
{
	mp_bytes_t m;
	size_t len;
	char b[1];
	int fd;

	if (mp_connection_poll(c, 0) != -EPROTO ||
	    mp_connection_recv_bytes(c, 0, &m) != -EPROTO || m.data != NULL ||
	    mp_connection_recv_bytes_into(c, b, 1, &len) != -EPROTO ||
	    mp_connection_recv_fd(c, &fd) != -EPROTO)
		abort();
}

/* One operation: 1 to go on, 0 to stop. */
static int step(mp_connection_t *c, int op, size_t maxlength,
		unsigned char *into, size_t cap, size_t *total)
{
	size_t len = 0;
	mp_bytes_t m;
	int rc, fd;

	switch (op) {
	case OP_RECV:
	case OP_RECV_MAX:
		rc = mp_connection_recv_bytes(c, op == OP_RECV ? 0 : maxlength,
					      &m);
		if (rc == 0) {
			if (op == OP_RECV_MAX && m.len > maxlength)
				abort();
			if (m.data[m.len] != '\0') /* owned bytes end in NUL */
				abort();
			*total += m.len;
			mp_bytes_destroy(&m);
			return 1;
		}
		if (m.data != NULL || m.len != 0) /* empty on failure */
			abort();
		break;
	case OP_INTO:
		rc = mp_connection_recv_bytes_into(c, into, cap, &len);
		if (rc == 0 && len > cap)
			abort();
		if (rc == 0)
			*total += len;
		if (rc == -EMSGSIZE && len <= cap)
			abort();
		if (rc == 0 || rc == -EMSGSIZE) /* too big: left unread */
			return 1;
		break;
	case OP_POLL:
		rc = mp_connection_poll(c, 0);
		if (rc == 0) /* all was written before: data or EOF */
			abort();
		return rc == 1;
	default:
		rc = mp_connection_recv_fd(c, &fd);
		if (rc == 0) /* nobody sent an fd */
			abort();
		return rc == -EPROTO; /* no fd with that byte: go on */
	}
	/* a bad header, a cut message, over maxlength: broken */
	if (rc == -EIO || rc == -EPROTO || rc == -EMSGSIZE)
		check_broken(c);
	else if (rc != MP_EEOF)
		abort(); /* nothing else can happen here */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_connection_t *c;
	size_t maxlength, cap, total = 0;
	unsigned char *into;
	int fd, peer = -1, op, stuck = 0;
	bool pipe_mode;

	if (size < 2)
		return 0;
	pipe_mode = data[0] & 1;
	maxlength = (size_t)data[1] * 97 + 1;
	cap = (size_t)data[1] * 61;
	if (pipe_mode)
		fd = feed_pipe(data + 2, size - 2);
	else
		fd = feed_socketpair(data + 2, size - 2, &peer);
	c = mp_connection_new(fd, pipe_mode ? MP_CONN_READONLY : 0);
	if (c == NULL)
		abort();
	if ((into = malloc(cap ? cap : 1)) == NULL)
		abort();
	/* every step but a too-big recv_bytes_into or poll consumes a byte */
	for (size_t i = 0; i < 4 * size + 16; i++) {
		op = (int)(((data[0] >> 1) + i * ((data[0] >> 4) | 1)) % NOPS);
		if (op == OP_FD && pipe_mode)
			op = OP_RECV;
		if (op == OP_INTO || op == OP_POLL)
			stuck++;
		else
			stuck = 0;
		if (stuck > 4)
			op = OP_RECV;
		if (!step(c, op, maxlength, into, cap, &total))
			break;
		if (total > size)
			abort();
	}
	free(into);
	mp_connection_free(c);
	if (peer >= 0)
		close(peer);
	return 0;
}
