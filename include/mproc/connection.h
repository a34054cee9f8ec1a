/*
 * mproc/connection.h - Pipe and Connection, fd passing, authenticated
 * Listener/Client and FIFOs (Python's multiprocessing.Pipe and
 * multiprocessing.connection).
 *
 * A Connection sends and receives whole messages of bytes.  On the wire each
 * message is CPython's: a 4-byte big-endian length, or -1 and an 8-byte
 * length for messages over 2 GiB, then the bytes; so a C process can talk to
 * a Python multiprocessing.connection peer (send_bytes/recv_bytes).
 *
 * Errors: MP_EEOF when the peer closed (EOFError); -EIO for a message cut
 * short ("got end of file during message"); -EMSGSIZE for a message over
 * maxlength ("bad message length") or, for recv_bytes_into, larger than the
 * buffer (nothing lost: the next receive returns it); -EPROTO for a
 * malformed header (a negative length); MP_ECLOSED after close; -EBADF for
 * an operation the end cannot do (read-only/write-only); -EINVAL for a NULL
 * argument; -ENOMEM.
 *
 * Broken connections.  After a bad message length, a malformed header, or
 * any failure once a header has been read and before its payload is whole
 * (EOF, an error of the socket, no memory), the connection is unusable for
 * receiving, as in CPython: every later receive and poll fails with -EPROTO
 * ("connection is unusable after ...").  A failure before any byte of a
 * header is consumed (MP_EEOF, -EAGAIN on a nonblocking fd) keeps the stream
 * in step.  Sending is unaffected.
 *
 * Memory against a hostile peer.  A header may claim up to 2^63 bytes;
 * mp_connection_recv_bytes grows its buffer as the payload arrives (at most
 * twice the bytes received plus 64 KiB), so a lying header costs only what
 * was actually sent.  With maxlength, a longer message is refused on its
 * header, before any allocation.  recv_bytes_into never writes past cap and
 * allocates nothing for the payload.  Each connection holds a 64 KiB read
 * buffer once it has received.
 *
 * Thread safety: one thread may send while another receives on the same
 * Connection; two concurrent senders (or receivers) must lock themselves.
 * Connections are inherited by children forked after they were made.
 */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_connection mp_connection_t;

/* mp_pipe flags (0: CPython's Pipe(), duplex). */
#define MP_PIPE_SIMPLEX (1u << 0) /* Pipe(duplex=False) */

/*
 * mp_pipe - two connected ends of a Unix socket pair (fds can be passed),
 * CPython's Pipe().  flags 0: both ends read and write; MP_PIPE_SIMPLEX:
 * *conn1 only receives and *conn2 only sends (CPython uses os.pipe there; a
 * socket lets every send avoid SIGPIPE without touching the signal mask).
 * Returns 0; -EINVAL (a NULL argument, unknown flags), -ENOMEM, -errno of
 * socketpair (-EMFILE ...); on failure both are NULL.  Thread-safe.
 */
MP_API int mp_pipe(unsigned flags, mp_connection_t **conn1,
		   mp_connection_t **conn2);

/* mp_connection_new flags (0: CPython's readable=True, writable=True). */
#define MP_CONN_READONLY (1u << 0)  /* writable=False */
#define MP_CONN_WRITEONLY (1u << 1) /* readable=False */

/*
 * mp_connection_new - wrap an open fd (a socket, a pipe end, a FIFO) as a
 * Connection that adopts it (free closes it).  flags 0: readable and
 * writable; MP_CONN_READONLY / MP_CONN_WRITEONLY: one direction.  NULL with
 * mp_last_error_code(): -EBADF (fd not open), -EINVAL (both flags, or
 * unknown bits), -ENOMEM; the fd is then not adopted.  Thread-safe.
 */
MP_API mp_connection_t *mp_connection_new(int fd, unsigned flags);

/*
 * mp_connection_fileno - the fd (for poll/select), or MP_ECLOSED after
 * close, -EINVAL for NULL.  Thread-safe.
 */
MP_API int mp_connection_fileno(const mp_connection_t *c);

/*
 * mp_connection_send_bytes - send one message of len bytes (0 is a valid,
 * empty message), blocking until it is written.  0; -EBADF on a read-only
 * end, MP_ECLOSED, -EPIPE when the peer is gone (never SIGPIPE), -EINVAL
 * (NULL c, or NULL buf with len > 0), -errno.  One sender at a time.
 */
MP_API int mp_connection_send_bytes(mp_connection_t *c, const void *buf,
				    size_t len);

/*
 * mp_connection_recv_bytes - receive one message as owned bytes (*out:
 * NUL-terminated, release with mp_bytes_destroy; empty on failure).
 * maxlength 0: any size (memory grows only with the bytes that arrive: see
 * the top of this header); else a longer message is -EMSGSIZE "bad message
 * length" and the connection is broken.  Blocks until a whole message
 * arrived, as CPython's does: poll (which says that bytes are ready, not
 * that a whole message is) waits with a timeout, but a peer that stops in
 * the middle of a message blocks the receive.  Errors as at the top of this
 * header; -ENOMEM before any byte of the payload was read keeps the message
 * for the next receive.  One receiver at a time.
 */
MP_API int mp_connection_recv_bytes(mp_connection_t *c, size_t maxlength,
				    mp_bytes_t *out);

/*
 * mp_connection_recv_bytes_into - receive one message into buf of cap
 * bytes (*len: its size).  A message over cap is -EMSGSIZE with *len set to
 * its size (CPython's BufferTooShort); it is left unread, so the next
 * receive (with a bigger buffer, or recv_bytes) returns it.  Other errors
 * as recv_bytes.  One receiver at a time.
 */
MP_API int mp_connection_recv_bytes_into(mp_connection_t *c, void *buf,
					 size_t cap, size_t *len);

/*
 * mp_connection_poll - CPython's poll(): a predicate, 1 when a message (or
 * EOF) is ready to be received, 0 when none came within timeout seconds
 * (0: answer at once; MP_FOREVER: wait).  It is the one timed call of the
 * library that returns 0 rather than -ETIMEDOUT: it asks "is there data?",
 * it does not wait for an outcome.  Never consumes anything.  -EPROTO on a
 * broken connection, -EBADF on a write-only end, MP_ECLOSED, -EINVAL (NULL,
 * a bad timeout).  Safe alongside a sender; one receiver at a time.
 */
MP_API int mp_connection_poll(mp_connection_t *c, double timeout);

/*
 * mp_connection_send_fd / mp_connection_recv_fd - pass an open fd to the
 * peer (duplex pipes and Unix-socket connections; wire-compatible with
 * multiprocessing.reduction.send_handle).  recv_fd gives a new fd
 * (O_CLOEXEC) owned by the caller; -EPROTO when the next message carries
 * none.  send_fd: -EBADF for a closed fd or an end that is not a Unix
 * socket.  Other errors as send_bytes / recv_bytes; same thread rules.
 */
MP_API int mp_connection_send_fd(mp_connection_t *c, int fd);
MP_API int mp_connection_recv_fd(mp_connection_t *c, int *fd);

/*
 * mp_connection_close - CPython's close(): close the fd (and any fd
 * received but not taken); the handle stays valid (calls give MP_ECLOSED)
 * until freed.  Idempotent; 0, or -EINVAL for NULL.  Not concurrently
 * with another call on c.
 */
MP_API int mp_connection_close(mp_connection_t *c);

/* mp_connection_free - close and free; NULL is a no-op; never blocks. */
MP_API void mp_connection_free(mp_connection_t *c);

/* ---- Listener / Client ---- */

/*
 * Addresses: "host:port" (TCP; port 0 picks a free one, a port outside
 * 0..65535 is -EINVAL; host names are resolved with getaddrinfo, whose
 * wait the resolver's own timeouts bound, not the caller's: use numeric
 * addresses where the deadline must hold), "@name" (a Linux abstract Unix
 * socket), anything else a Unix socket path.
 *
 * Permissions.  A listener's Unix socket file is created with mode 0600
 * (socket_mode widens or narrows it; the umask still applies, as for
 * open()), so only its owner (and root) may connect.  An abstract "@name"
 * has no file and NO permission check: any process in the same network
 * namespace can connect to it, so give such a listener (and every TCP
 * listener) an authkey.
 */
typedef struct mp_auth_opts {
	const void *authkey; /* NULL: no authentication ("" is a valid key) */
	size_t authkey_len;  /* at most INT_MAX */
	int backlog;         /* listeners; 0 = 1, as CPython */
	mode_t socket_mode;  /* listeners on a Unix path; 0 = 0600 */
} mp_auth_opts_t;

typedef struct mp_listener mp_listener_t;

/*
 * mp_listener_new - bind and listen.  NULL with mp_last_error_code():
 * -EADDRINUSE, -EINVAL (a NULL or bad address, port or socket_mode),
 * -ENOMEM, -errno.  Thread-safe.
 */
MP_API mp_listener_t *mp_listener_new(const char *address,
				      const mp_auth_opts_t *opts);

/*
 * mp_listener_address - the bound address (TCP: with the real port), a
 * string owned by the listener, valid until it is freed (also after
 * mp_listener_close).  NULL for NULL (-EINVAL in mp_last_error_code()).
 * Thread-safe.
 */
MP_API const char *mp_listener_address(const mp_listener_t *l);

/*
 * mp_listener_accept - the next connection, authenticated with the
 * listener's authkey (CPython's challenge: HMAC-SHA256, and the MD5 form of
 * Python <= 3.11).  timeout bounds the whole call: the wait for a
 * connection and the handshake, so a peer that connects and then sends
 * nothing (or half a message) costs at most timeout.  With MP_FOREVER such
 * a peer blocks the call for ever: give a finite timeout to a listener that
 * untrusted peers can reach.  0 and *conn; MP_EAUTH when the peer's key is
 * wrong, its messages are malformed, or a digest cannot be computed (that
 * connection is closed); -ETIMEDOUT (likewise; timeout 0 included);
 * MP_ECLOSED after mp_listener_close; -EINVAL (NULL, a bad timeout).
 * *conn is NULL on failure.  One accepting thread at a time.
 */
MP_API int mp_listener_accept(mp_listener_t *l, double timeout,
			      mp_connection_t **conn);

/*
 * mp_listener_close - CPython's Listener.close(): stop listening (the
 * socket is closed, later accepts give MP_ECLOSED) and remove the Unix
 * socket file the listener created (only in the process that created it,
 * as CPython: a forked child's close or free leaves the file to its
 * parent).  The handle stays valid for
 * mp_listener_address and mp_listener_free.  Idempotent; 0, or -EINVAL for
 * NULL.  Not concurrently with another call on l.
 */
MP_API int mp_listener_close(mp_listener_t *l);

/*
 * mp_listener_free - close (as mp_listener_close), wipe the listener's copy
 * of the authkey, and free.  NULL is a no-op; never blocks.
 */
MP_API void mp_listener_free(mp_listener_t *l);

/*
 * mp_client - connect and, with an authkey, authenticate (CPython's
 * Client).  timeout (seconds, or MP_FOREVER) bounds the whole call: the
 * connect (a Unix listener with a full backlog, an unanswered TCP SYN) and
 * every step of the handshake.  NULL with mp_last_error_code(): -ETIMEDOUT,
 * -ECONNREFUSED, MP_EAUTH (wrong key, a malformed or short challenge, a
 * digest that cannot be computed), -EINVAL, -errno.  Thread-safe.
 */
MP_API mp_connection_t *mp_client(const char *address,
				  const mp_auth_opts_t *opts, double timeout);

/* ---- FIFO ---- */

/*
 * mp_mkfifo - make a named pipe (os.mkfifo): 0, -EEXIST, -EINVAL (NULL
 * path), -errno.  Thread-safe.
 */
MP_API int mp_mkfifo(const char *path, mode_t mode);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CONNECTION_H */
