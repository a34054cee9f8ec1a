/*
 * mproc/queue.h - Queue, SimpleQueue and JoinableQueue shared by processes
 * and threads (Python's multiprocessing queues), for messages of bytes.
 *
 * A queue is a ring in shared memory (no pipe, no feeder thread): processes
 * forked after mp_queue_new share it.  put copies the message into the ring
 * before it returns, so nothing is lost when the producer exits or is killed
 * afterwards, and a child can exit (and be joined) while its messages wait
 * in the queue: CPython's "join before get" deadlock does not exist here.
 * A message bigger than the ring streams through it while a consumer reads.
 *
 * Robustness: a producer killed in the middle of put leaves no partial
 * message visible (consumers drop it) and does not leave the queue locked; a
 * consumer killed in the middle of get loses at most that message.
 *
 * Limits: a message is at most MP_QUEUE_MAX_MESSAGE bytes (PTRDIFF_MAX, the
 * largest object C allows; larger puts fail with -EMSGSIZE), whatever the
 * ring's size; a ring is at most MP_QUEUE_MAX_CAPACITY bytes (1 TiB).  A
 * message longer than a quarter of the ring (or than 1 GiB) is streamed in
 * parts.  Records written by another process are checked before use: one
 * that breaks the protocol (a process scribbling on the shared ring) makes
 * a get fail with -EPROTO, never crash or allocate beyond what arrived.
 *
 * Timeouts: MP_FOREVER blocks; t >= 0 waits at most t seconds, then
 * -ETIMEDOUT (0: does not block, and is still -ETIMEDOUT).  Only
 * mp_queue_put_nowait / mp_queue_get_nowait say -EAGAIN (CPython's
 * queue.Full / queue.Empty).  NaN or a negative timeout other than
 * MP_FOREVER is -EINVAL, checked before anything else.
 * Thread/process safety: every call may be made from any thread of any
 * process sharing the queue.  FIFO per producer.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_queue mp_queue_t;

/* The largest message and the largest ring (opts.capacity), in bytes. */
#define MP_QUEUE_MAX_MESSAGE ((size_t)PTRDIFF_MAX)
#define MP_QUEUE_MAX_CAPACITY ((size_t)1 << 40)

typedef struct mp_queue_opts {
	unsigned maxsize;   /* most messages held; 0 = unbounded */
	size_t capacity;    /* ring bytes (rounded up to a power of two, at
			     * least 4 KiB, at most MP_QUEUE_MAX_CAPACITY:
			     * more is -EINVAL); 0 = 1 MiB */
	size_t max_message; /* larger puts fail (-EMSGSIZE); 0 = any size */
	bool joinable;      /* JoinableQueue: task_done / join */
} mp_queue_opts_t;

/*
 * mp_queue_new - a Queue / JoinableQueue (opts NULL: an unbounded Queue
 * with a 1 MiB ring).  NULL on failure, with mp_last_error_code(): -EINVAL
 * for maxsize > INT32_MAX or capacity > MP_QUEUE_MAX_CAPACITY, -ENOMEM or
 * -errno of the shared mapping.  Thread-safe.
 */
MP_API mp_queue_t *mp_queue_new(const mp_queue_opts_t *opts);

/* mp_simplequeue_new - SimpleQueue: an unbounded Queue; as mp_queue_new. */
MP_API mp_queue_t *mp_simplequeue_new(void);

/*
 * mp_queue_free - unmap the queue (in the creating process; elsewhere a
 * no-op).  NULL is a no-op; never blocks.  Nobody may be using q.
 */
MP_API void mp_queue_free(mp_queue_t *q);

/*
 * mp_queue_put - copy len bytes into the queue, waiting for room (maxsize,
 * ring space) at most timeout.  0; -ETIMEDOUT when still full after
 * timeout (0 included); MP_ECLOSED after close; -EMSGSIZE over max_message
 * or MP_QUEUE_MAX_MESSAGE (nothing is put); -EINVAL for NULL q, NULL msg
 * with len > 0, or a bad timeout.
 * mp_queue_put_nowait - the same without waiting: -EAGAIN when full
 * (queue.Full).
 */
MP_API int mp_queue_put(mp_queue_t *q, const void *msg, size_t len,
			double timeout);
MP_API int mp_queue_put_nowait(mp_queue_t *q, const void *msg, size_t len);

/*
 * mp_queue_get - take the next message as owned bytes (*msg: NUL-
 * terminated, release with mp_bytes_destroy; empty on failure), waiting
 * at most timeout.  -ETIMEDOUT when still empty after timeout (0
 * included); MP_ECLOSED once closed and drained; -EPROTO when a malformed
 * record was found (it and what was published with it are dropped; the
 * queue goes on working); -ENOMEM (the message stays queued, unless it
 * was streamed in parts: over a quarter of the ring); -EINVAL for a NULL
 * argument or a bad timeout.
 * mp_queue_get_nowait - the same without waiting: -EAGAIN when empty
 * (queue.Empty).
 */
MP_API int mp_queue_get(mp_queue_t *q, double timeout, mp_bytes_t *msg);
MP_API int mp_queue_get_nowait(mp_queue_t *q, mp_bytes_t *msg);

/*
 * mp_queue_get_into - as mp_queue_get, into the caller's buffer of cap
 * bytes (*len: the message's size).  -EMSGSIZE when the next message is
 * larger: *len is set to its size and the message stays in the queue.
 */
MP_API int mp_queue_get_into(mp_queue_t *q, void *buf, size_t cap,
			     double timeout, size_t *len);

/*
 * mp_queue_qsize / mp_queue_empty / mp_queue_full - the number of messages
 * (approximate while others use the queue), and the predicates empty and
 * full (1 or 0).  -EINVAL for NULL.
 */
MP_API int mp_queue_qsize(const mp_queue_t *q);
MP_API int mp_queue_empty(const mp_queue_t *q);
MP_API int mp_queue_full(const mp_queue_t *q);

/*
 * mp_queue_close - no more puts (MP_ECLOSED, for every process); getters
 * take what is left, then get MP_ECLOSED; blocked callers wake up.  The
 * handle stays valid for gets, queries and free.  Idempotent; 0, or
 * -EINVAL for NULL.
 */
MP_API int mp_queue_close(mp_queue_t *q);

/*
 * JoinableQueue: every put adds an unfinished task; mp_queue_task_done marks
 * one done (-EINVAL: "task_done() called too many times"); mp_queue_join
 * waits until none is unfinished: 0, or -ETIMEDOUT when some still are
 * after timeout (0 included).  -EINVAL on a queue that is not joinable,
 * NULL, or a bad timeout.
 */
MP_API int mp_queue_task_done(mp_queue_t *q);
MP_API int mp_queue_join(mp_queue_t *q, double timeout);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_QUEUE_H */
