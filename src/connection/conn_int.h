/* connection/conn_int.h - what the files of the connection module share. */
#ifndef MPROC_CONN_INT_H
#define MPROC_CONN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/connection.h"

#define MP__RBUF 65536
#define MP__MAXFDS 16

struct mp_connection {
	int fd;
	bool readable, writable, socket;
	/* why receiving stopped for good (a framing error, or a failure in
	 * the middle of a message), or NULL */
	const char *broken;
	/* read buffer */
	unsigned char *rbuf;
	size_t rpos, rlen;
	/* a header already read whose payload (pend_len bytes) is the next
	 * thing on the wire: recv_bytes_into's buffer was too small, or the
	 * payload's first allocation failed */
	bool has_pend;
	uint64_t pend_len;
	/* fds received with SCM_RIGHTS, in order */
	int fds[MP__MAXFDS];
	int nfds;
};

/*
 * How a blocking step of the library waits: until deadline
 * (MP__NO_DEADLINE: for ever); timeout is the caller's, for the reasons
 * ("timed out after 0.2s ...").
 */
struct mp__io {
	uint64_t deadline;
	double timeout;
};

/* The io of a public call without a timeout: no deadline. */
extern const struct mp__io mp__conn_blocking;

/* conn.c, for conn_recv.c: can c send (write) or receive?  0, or a code
 * with its reason; wait until fd is ready for events or the deadline
 * passes: 0, -ETIMEDOUT, -errno. */
int mp__conn_check(const mp_connection_t *c, bool write);
int mp__conn_wait_fd(int fd, short events, uint64_t deadline);

/*
 * Wrap fd (adopted only on success) as a connection with CPython's
 * readable/writable: 0 and *out, or -EBADF (fd not open), -EINVAL (neither
 * readable nor writable), -ENOMEM, each with a reason (mp__why).
 */
int mp__conn_new(int fd, bool readable, bool writable, mp_connection_t **out);

/*
 * Receive one message no longer than maxlength (0: any) into new owned
 * bytes (*out, NUL-terminated, mp_bytes_destroy; empty on failure), or send
 * one, within io's deadline (-ETIMEDOUT).  Failures leave a reason
 * (mp__why) for the public caller's MP__RAISE.
 */
int mp__conn_recv(mp_connection_t *c, size_t maxlength,
		  const struct mp__io *io, mp_bytes_t *out);
int mp__conn_send(mp_connection_t *c, const void *buf, size_t len,
		  const struct mp__io *io);

/*
 * Several messages in one write (the manager's pipelining): append one
 * message of len bytes (at most 2 GiB - 1), framed, to a growing buffer
 * (0, -EMSGSIZE, -ENOMEM); send such a buffer as it is.  The peer reads
 * them as separate messages.
 */
int mp__conn_frame_add(mp_bytes_t *b, size_t *cap, const void *msg,
		       size_t len);
int mp__conn_send_framed(mp_connection_t *c, const void *buf, size_t len,
			 const struct mp__io *io);
/* A whole or partial message is already in c's read buffer. */
static inline bool mp__conn_buffered(const mp_connection_t *c)
{
	return c->rpos < c->rlen;
}

/*
 * A connection travelling to a forkserver or spawn child (process/shared.c)
 * takes along what this process read but did not receive yet.
 * mp__conn_unread: those bytes (a header whose payload is pending first,
 * as it came on the wire) into buf (MP__RBUF bytes): their count, or
 * -EBUSY (fds received but not taken) / -EPROTO (broken) with a reason.
 * mp__conn_preload: put n (<= MP__RBUF) such bytes into a new c's
 * buffer: 0 or -ENOMEM.
 */
int mp__conn_unread(const mp_connection_t *c, unsigned char *buf);
int mp__conn_preload(mp_connection_t *c, const void *bytes, size_t n);

/*
 * The two halves of CPython's authentication over a connected c (the
 * listener runs deliver then answer, the client answer then deliver):
 * 0, MP_EAUTH (wrong key, a malformed or short challenge, a digest that
 * cannot be computed), -ETIMEDOUT past io->deadline, or the connection's
 * errors, each with a reason (mp__why).  The fuzz harnesses call them over
 * a socket pair.
 */
int mp__auth_deliver(mp_connection_t *c, const void *key, size_t keylen,
		     const struct mp__io *io);
int mp__auth_answer(mp_connection_t *c, const void *key, size_t keylen,
		    const struct mp__io *io);

/*
 * For a server that accepts and authenticates in its own threads (the
 * manager's): the listening fd; the authkey (false when there is none);
 * closing this process's fd without removing the socket file (the
 * creator keeps the file, a forked server the socket).
 */
int mp__listener_fd(const mp_listener_t *l);
bool mp__listener_key(const mp_listener_t *l, const void **key, size_t *len);
void mp__listener_drop_fd(mp_listener_t *l);
/* Move the listening fd to fd number to (dup2): 0 or -errno. */
int mp__listener_move_fd(mp_listener_t *l, int to);

#endif
