/* connection/conn_int.h - what the files of the connection module share. */
#ifndef MPROC_CONN_INT_H
#define MPROC_CONN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/connection.h"

#define MPI_RBUF 65536
#define MPI_MAXFDS 16

struct mp_connection {
	int fd;
	bool readable, writable, socket;
	bool broken; /* a bad length was read: no more receiving */
	/* read buffer */
	unsigned char *rbuf;
	size_t rpos, rlen;
	/* a message too big for recv_bytes_into, kept for the next receive */
	unsigned char *pend;
	size_t pend_len;
	bool has_pend;
	/* a length read whose payload could not be allocated: the next
	 * receive takes the payload (the stream stays in step) */
	uint64_t hdr_len;
	bool has_hdr;
	/* fds received with SCM_RIGHTS, in order */
	int fds[MPI_MAXFDS];
	int nfds;
};

/* Receive a message no longer than maxlength (0: any) for the auth code. */
int mpi_conn_recv(mp_connection_t *c, void **buf, size_t *len,
		  size_t maxlength, const char *func);
int mpi_conn_send(mp_connection_t *c, const void *buf, size_t len,
		  const char *func);

#endif
