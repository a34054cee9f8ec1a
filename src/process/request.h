/*
 * process/request.h - the start request: what a forkserver or spawn child
 * needs to become the process object its parent made (target name, arg
 * bytes, name, identity, options).  One encoding for both methods: the
 * forkserver receives it as one SOCK_SEQPACKET message, a spawn child reads
 * it from a memfd.
 *
 * Layout (native byte order: both ends are the same program on the same
 * machine): a fixed header, then naffinity int32 CPU numbers, then name,
 * identity and target, each NUL-terminated (the lengths count the NUL),
 * then the shared objects: nshared_fds int32 fd numbers (the sender's:
 * what a spawn child inherits; a forkserver child takes the fds that came
 * with the message, in that order) and nshared struct req_shared, then,
 * unless REQ_ARG_FD, arg_len bytes of arg and a NUL.  The whole request is
 * exactly that long.
 *
 * The decoder is a trust boundary (the forkserver decodes what a peer
 * sent): it checks every length against what arrived, with overflow
 * checks, never allocates, and points into the buffer it was given.
 */
#ifndef MPROC_PROCESS_REQUEST_H
#define MPROC_PROCESS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define REQ_MAGIC 0x3152504du /* "MPR1" */

/* Flags of a request. */
enum {
	REQ_DAEMON = 1u << 0,
	REQ_SESSION = 1u << 1,
	REQ_GROUP = 1u << 2,
	REQ_KEEP_STDIN = 1u << 3,
	/* Forkserver only: which fds came with the request, in this order:
	 * stdin, stdout, stderr (first: the server's fds 1 and 2 are free,
	 * so they land where the child wants them), the exit pipe's write
	 * end (the child's sentinel without pidfds), the setup report pipe,
	 * the memfd holding the arg bytes, then the nshared_fds fds of the
	 * shared objects. */
	REQ_FD_STDIN = 1u << 4,
	REQ_FD_STDOUT = 1u << 5,
	REQ_FD_STDERR = 1u << 6,
	REQ_FD_REPORT = 1u << 7,
	REQ_ARG_FD = 1u << 8,
	REQ_FD_EXIT = 1u << 9,
	/* Forkserver only: the program starts such children back to back
	 * and CPU bound (a pool's workers): the server forks the next child
	 * on request, without a spare forked ahead (fs_server.c). */
	REQ_DIRECT = 1u << 10,
	REQ_ALL_FLAGS = (1u << 11) - 1
};

/* Limits the decoder enforces. */
#define REQ_MAX_NAME 4096   /* process name, NUL included */
#define REQ_MAX_IDENT 1024  /* identity "2:1:3", NUL included */
#define REQ_MAX_TARGET 256  /* target name, NUL included */
#define REQ_MAX_AFFINITY 1024 /* CPU_SETSIZE */
/* The biggest request that travels inline on the forkserver's socket;
 * a bigger arg goes in a memfd (REQ_ARG_FD). */
#define REQ_MAX_INLINE 65536
/* The biggest arg a memfd may announce (1 TiB: the memfd's size is what
 * the child checks it against). */
#define REQ_MAX_ARG_FD (1ull << 40)
/* Shared objects and their fds (MP_SHARED_MAX). */
#define REQ_MAX_SHARED 32

/*
 * One shared object: its kind, flags (a Connection's REQ_CONN_*), and up
 * to two (fd index, offset) parts: an arena block is (its memfd, the
 * block's offset in it); a Queue is its state block then its ring; a
 * SharedMemory, Connection or FD is one fd (offset 0).  An unused part
 * has fd -1.
 */
struct req_shared {
	uint32_t kind; /* mp_shared_kind_t */
	uint32_t flags;
	int32_t fd[2];
	uint64_t off[2];
};
/* REQ_SH_REGION: in a local manager's region (manager/travel.c): one
 * part, and off[1] is the region's address in the parent (page-aligned).
 * REQ_CONN_BYTES: a Connection with bytes its sender read but had not
 * received yet: part 1 is (a memfd holding them, their count: 1 ..
 * REQ_MAX_CONN_BYTES), and the memfd is exactly that long (the child
 * checks). */
enum {
	REQ_CONN_READABLE = 1,
	REQ_CONN_WRITABLE = 2,
	REQ_SH_REGION = 4,
	REQ_CONN_BYTES = 8
};
#define REQ_MAX_CONN_BYTES 65536 /* a Connection's read buffer */

struct req_header {
	uint32_t magic;
	uint32_t flags;
	int32_t nice;
	int32_t policy;
	int32_t priority;
	int32_t ppid;
	uint32_t naffinity;
	uint32_t name_len;
	uint32_t ident_len;
	uint32_t target_len;
	uint32_t nshared;
	uint32_t nshared_fds;
	uint64_t arg_len;
};

/* A decoded request: pointers into the buffer it was decoded from. */
struct mp__req {
	uint32_t flags;
	int nice, policy, priority;
	int ppid;
	size_t naffinity;
	const unsigned char *affinity; /* naffinity int32s, maybe unaligned */
	const char *name, *ident, *target; /* NUL-terminated */
	const char *arg; /* NULL with REQ_ARG_FD; else arg_len bytes + NUL */
	size_t arg_len;
	size_t nshared, nshared_fds;
	const unsigned char *shared_fds; /* int32s, maybe unaligned */
	const unsigned char *shared;     /* struct req_shared, maybe unaligned */
};

/*
 * Decode len bytes at buf into *r (no allocation; r points into buf).
 * 0, or -EPROTO / -EMSGSIZE with a reason: bad magic, unknown flags,
 * option out of range, a length past the end or beyond its limit, a string
 * without its NUL or with one inside, bytes left over.
 */
int mp__req_decode(const void *buf, size_t len, struct mp__req *r);

/* How many fds the flags of r say came with it. */
int mp__req_nfds(const struct mp__req *r);

/* CPU number i of r's affinity list. */
int mp__req_cpu(const struct mp__req *r, size_t i);

/* Shared object i of r, and fd number i of its list. */
struct req_shared mp__req_shared(const struct mp__req *r, size_t i);
int mp__req_shared_fd(const struct mp__req *r, size_t i);

/* What to encode: the header fields and the strings/bytes. */
struct mp__req_src {
	struct req_header h;
	const int *affinity;
	const char *name, *ident, *target;
	const int *shared_fds;              /* h.nshared_fds */
	const struct req_shared *shared;    /* h.nshared */
	const void *arg; /* copied unless REQ_ARG_FD */
};

/*
 * The encoded size of s (h.*_len filled from the strings first), or 0 on
 * overflow.  mp__req_encode writes exactly that many bytes to out.
 */
size_t mp__req_size(struct mp__req_src *s);
void mp__req_encode(const struct mp__req_src *s, void *out);

#endif
