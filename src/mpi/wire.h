/*
 * mpi/wire.h - the messages rank 0 and the worker ranks exchange.
 *
 * A message is an mpw_hdr and count records: an mpw_rec and its data
 * padded to 8.  Rank 0 sends MPW_TASKS (slot, fnid, count, in_size,
 * out_size, the input) and MPW_STOP; a worker sends MPW_RESULTS (slot,
 * status, in_size: how long the task ran in ns, 0 if not known; the result
 * or the failure's message), MPW_BEAT (no record: still alive) and
 * MPW_BYE.  The ranks run one binary (build ids are compared at
 * start), so the layouts are native; every length is still checked.
 * A message longer than MPW_FIRST goes as a first piece of MPW_FIRST bytes
 * and pieces of at most MPW_PIECE bytes (MPI counts are int; the receiver
 * heartbeats between pieces).
 */
#ifndef MPROC_MPI_WIRE_H
#define MPROC_MPI_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { MPW_MAGIC = 0x4d50574d };
enum { MPW_TASKS = 1, MPW_RESULTS = 2, MPW_STOP = 3, MPW_BEAT = 4, MPW_BYE = 5 };
enum { MPW_FIRST = 1 << 20 };
#define MPW_PIECE ((size_t)1 << 28)

struct mpw_hdr {
	uint32_t magic, type, count, pad;
	uint64_t total; /* the whole message, header included */
};

struct mpw_rec {
	uint32_t slot;
	int32_t status;
	uint32_t fnid, count;
	uint64_t in_size, out_size, len; /* len: data bytes */
};

/* A growing message (mpw_*: 0 or -ENOMEM). */
struct mpw_buf {
	char *p;
	size_t len, cap;
	uint32_t count;
};

int mpw_begin(struct mpw_buf *b, uint32_t type);
int mpw_add(struct mpw_buf *b, const struct mpw_rec *r, const void *data);
/* Set the header's count and total. */
void mpw_finish(struct mpw_buf *b);
void mpw_free(struct mpw_buf *b);

/*
 * Check the message buf (len bytes) whole, then call fn for each record
 * with its data (r->len bytes, inside buf).  0, fn's first non-zero
 * return, or -EPROTO with why (a static string) set.  *type gets the
 * message's type.
 */
int mpw_decode(const void *buf, size_t len, uint32_t *type,
	       int (*fn)(void *arg, const struct mpw_rec *r, const char *data),
	       void *arg, const char **why);

#endif
