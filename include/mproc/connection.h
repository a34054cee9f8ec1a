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
 * maxlength ("bad message length": the connection is then unusable, as in
 * CPython) or, for recv_bytes_into, larger than the buffer (nothing lost: the
 * next receive returns it); -EPROTO for a malformed frame; MP_ECLOSED after
 * close; -EBADF for an operation the end cannot do (read-only/write-only).
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

/*
 * mp_pipe - two connected ends of a Unix socket pair (fds can be passed).
 * duplex: both read and write; else *reader only receives and *writer only
 * sends (CPython uses os.pipe there; a socket lets every send avoid
 * SIGPIPE without touching the signal mask).  0 or -errno.
 */
MP_API int mp_pipe(bool duplex, mp_connection_t **reader,
		   mp_connection_t **writer);

/* Wrap an fd (adopted: closed by free).  NULL for a bad fd. */
MP_API mp_connection_t *mp_connection_new(int fd, bool readable,
					  bool writable);

/* The fd (for poll/select), or MP_ECLOSED. */
MP_API int mp_connection_fileno(const mp_connection_t *c);

/* Send one message of len bytes (0 is a valid, empty message). */
MP_API int mp_connection_send_bytes(mp_connection_t *c, const void *buf,
				    size_t len);

/*
 * Receive one message into a buffer the library allocates (*buf; release
 * with mp_buf_free).  maxlength 0: any size.
 */
MP_API int mp_connection_recv_bytes(mp_connection_t *c, void **buf,
				    size_t *len, size_t maxlength);

/* Receive one message into buf of cap bytes (see -EMSGSIZE above). */
MP_API int mp_connection_recv_bytes_into(mp_connection_t *c, void *buf,
					 size_t cap, size_t *len);

/*
 * mp_connection_poll - 1 when a message (or EOF) is ready to be received,
 * 0 after timeout seconds (0: at once).  Never consumes anything.
 */
MP_API int mp_connection_poll(mp_connection_t *c, double timeout);

/*
 * Pass an open fd to the peer (duplex pipes and Unix-socket connections;
 * wire-compatible with multiprocessing.reduction.send_handle).  recv_fd
 * gives a new fd (O_CLOEXEC) owned by the caller; -EPROTO when the next
 * message carries none.
 */
MP_API int mp_connection_send_fd(mp_connection_t *c, int fd);
MP_API int mp_connection_recv_fd(mp_connection_t *c, int *fd);

/* Close the fd; the object stays (calls give MP_ECLOSED) until freed. */
MP_API int mp_connection_close(mp_connection_t *c);
/* Close and free.  NULL is a no-op. */
MP_API void mp_connection_free(mp_connection_t *c);

/* ---- Listener / Client ---- */

/*
 * Addresses: "host:port" (TCP; port 0 picks a free one), "@name" (a Linux
 * abstract Unix socket), anything else a Unix socket path.
 */
typedef struct mp_auth_opts {
	const void *authkey; /* NULL: no authentication ("" is a valid key) */
	size_t authkey_len;
	int backlog;         /* listeners; 0 = 1, as CPython */
} mp_auth_opts;

typedef struct mp_listener mp_listener_t;

/* Bind and listen.  NULL with mp_last_error_code(): -EADDRINUSE, ... */
MP_API mp_listener_t *mp_listener_new(const char *address,
				      const mp_auth_opts *opts);

/* The bound address (TCP: with the real port), owned by the listener. */
MP_API const char *mp_listener_address(const mp_listener_t *l);

/*
 * mp_listener_accept - the next connection, authenticated with the
 * listener's authkey (CPython's challenge: HMAC-SHA256, and the MD5 form of
 * Python <= 3.11).  0 and *conn; MP_EAUTH when the peer's key is wrong
 * (that connection is closed); -ETIMEDOUT.
 */
MP_API int mp_listener_accept(mp_listener_t *l, mp_connection_t **conn,
			      double timeout);

/* Close (unlinking a Unix socket path it created) and free.  NULL ok. */
MP_API void mp_listener_free(mp_listener_t *l);

/* mp_client - connect (and authenticate); NULL with mp_last_error_code(). */
MP_API mp_connection_t *mp_client(const char *address,
				  const mp_auth_opts *opts);

/* ---- FIFO ---- */

/* mp_mkfifo - make a named pipe (os.mkfifo): 0, -EEXIST, -errno. */
MP_API int mp_mkfifo(const char *path, mode_t mode);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CONNECTION_H */
