/*
 * queue.c - Queue, SimpleQueue and JoinableQueue on the shared ring
 * (internal/ring.h has the design notes).
 */
#include "mproc/queue.h"

#include <errno.h>
#include <limits.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/ring.h"

struct mp_queue {
	struct mpi_ring *ring;
	bool joinable;
	uint32_t unfinished; /* JoinableQueue: futex word */
	uint32_t join_waiters;
};

static mp_queue_t *queue_new(const mp_queue_opts_t *opts, const char *func)
{
	static const mp_queue_opts_t defaults;
	mp_queue_t *q;

	if (opts == NULL)
		opts = &defaults;
	if (opts->maxsize > INT32_MAX) {
		mpi_error(-EINVAL, func, "opts->maxsize %u is too large (at most "
			  "INT32_MAX)", opts->maxsize);
		return NULL;
	}
	if (opts->capacity > MP_QUEUE_MAX_CAPACITY) {
		mpi_error(-EINVAL, func, "opts->capacity %zu is larger than the "
			  "largest ring (MP_QUEUE_MAX_CAPACITY = %zu bytes)",
			  opts->capacity, (size_t)MP_QUEUE_MAX_CAPACITY);
		return NULL;
	}
	if ((q = mpi_arena_alloc(sizeof(*q))) == NULL) {
		mpi_error(-errno, func, "cannot map shared memory: %s",
			  mp_strerror(-errno));
		return NULL;
	}
	q->ring = mpi_ring_new(opts->capacity ? opts->capacity : (1u << 20),
			       opts->maxsize, opts->max_message);
	if (q->ring == NULL) {
		mpi_error(-errno, func, "cannot map a ring of %zu bytes: %s",
			  opts->capacity ? opts->capacity : (size_t)1 << 20,
			  mp_strerror(-errno));
		mpi_arena_free(q);
		return NULL;
	}
	q->joinable = opts->joinable;
	return q;
}

mp_queue_t *mp_queue_new(const mp_queue_opts_t *opts)
{
	return queue_new(opts, __func__);
}

mp_queue_t *mp_simplequeue_new(void)
{
	return queue_new(NULL, __func__);
}

void mp_queue_free(mp_queue_t *q)
{
	if (q == NULL)
		return;
	mpi_ring_free(q->ring);
	mpi_arena_free(q);
}

static int deadline_of(double timeout, uint64_t *deadline, const char *func)
{
	int rc = mpi_deadline(timeout, deadline);

	return rc < 0 ? mpi_error(rc, func, "%s", mpi_reason(rc)) : 0;
}

/* Timeout 0 is "do not block": Full/Empty as -EAGAIN. */
static int nowait_code(int rc, double timeout)
{
	return rc == -ETIMEDOUT && timeout == 0 ? -EAGAIN : rc;
}

static int put(mp_queue_t *q, const void *msg, size_t len, double timeout,
	       const char *func)
{
	uint64_t deadline;
	int rc;

	if (q == NULL || (msg == NULL && len > 0))
		return mpi_error(-EINVAL, func, "argument '%s' is NULL",
				 q ? "msg" : "q");
	if ((rc = deadline_of(timeout, &deadline, func)) < 0)
		return rc;
	if (q->joinable)
		__atomic_add_fetch(&q->unfinished, 1, __ATOMIC_SEQ_CST);
	rc = mpi_ring_put(q->ring, msg, len, deadline);
	if (rc < 0 && q->joinable)
		__atomic_sub_fetch(&q->unfinished, 1, __ATOMIC_SEQ_CST);
	if (rc < 0)
		mpi_error(rc, func, "%s", mpi_reason(rc));
	return nowait_code(rc, timeout);
}

int mp_queue_put(mp_queue_t *q, const void *msg, size_t len, double timeout)
{
	return put(q, msg, len, timeout, __func__);
}

int mp_queue_put_nowait(mp_queue_t *q, const void *msg, size_t len)
{
	return put(q, msg, len, 0, __func__);
}

static int get(mp_queue_t *q, void **msg, size_t cap, size_t *len,
	       double timeout, const char *func)
{
	uint64_t deadline;
	int rc;

	if (q == NULL || msg == NULL || len == NULL)
		return mpi_error(-EINVAL, func, "argument '%s' is NULL",
				 q ? (msg ? "len" : "msg") : "q");
	if ((rc = deadline_of(timeout, &deadline, func)) < 0)
		return rc;
	rc = mpi_ring_get(q->ring, msg, cap, len, deadline);
	if (rc < 0)
		mpi_error(rc, func, "%s", mpi_reason(rc));
	return nowait_code(rc, timeout);
}

int mp_queue_get(mp_queue_t *q, void **msg, size_t *len, double timeout)
{
	if (msg != NULL)
		*msg = NULL;
	return get(q, msg, 0, len, timeout, __func__);
}

int mp_queue_get_nowait(mp_queue_t *q, void **msg, size_t *len)
{
	if (msg != NULL)
		*msg = NULL;
	return get(q, msg, 0, len, 0, __func__);
}

int mp_queue_get_into(mp_queue_t *q, void *buf, size_t cap, size_t *len,
		      double timeout)
{
	void *p = buf;

	MPI_CHECK_NULL(buf);
	return get(q, &p, cap, len, timeout, __func__);
}

int mp_queue_qsize(const mp_queue_t *q)
{
	size_t n;

	MPI_CHECK_NULL(q);
	n = mpi_ring_count(q->ring);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int mp_queue_empty(const mp_queue_t *q)
{
	MPI_CHECK_NULL(q);
	return mpi_ring_count(q->ring) == 0;
}

int mp_queue_full(const mp_queue_t *q)
{
	MPI_CHECK_NULL(q);
	return q->ring->maxsize != 0 &&
	       mpi_ring_count(q->ring) >= q->ring->maxsize;
}

int mp_queue_close(mp_queue_t *q)
{
	MPI_CHECK_NULL(q);
	mpi_ring_close(q->ring);
	return 0;
}

int mp_queue_task_done(mp_queue_t *q)
{
	uint32_t n;

	MPI_CHECK_NULL(q);
	if (!q->joinable)
		return MPI_ERR(-EINVAL, "not a JoinableQueue");
	n = __atomic_load_n(&q->unfinished, __ATOMIC_SEQ_CST);
	do {
		if (n == 0)
			return MPI_ERR(-EINVAL, "task_done() called too many times");
	} while (!__atomic_compare_exchange_n(&q->unfinished, &n, n - 1, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (n == 1 && __atomic_load_n(&q->join_waiters, __ATOMIC_SEQ_CST))
		mpi_futex_wake(&q->unfinished, INT32_MAX);
	return 0;
}

int mp_queue_join(mp_queue_t *q, double timeout)
{
	uint64_t deadline;
	uint32_t n;
	int rc;

	MPI_CHECK_NULL(q);
	if (!q->joinable)
		return MPI_ERR(-EINVAL, "not a JoinableQueue");
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	__atomic_add_fetch(&q->join_waiters, 1, __ATOMIC_SEQ_CST);
	while ((n = __atomic_load_n(&q->unfinished, __ATOMIC_SEQ_CST)) != 0) {
		if (mpi_futex_wait(&q->unfinished, n, deadline) == -ETIMEDOUT &&
		    __atomic_load_n(&q->unfinished, __ATOMIC_SEQ_CST) != 0) {
			rc = MPI_ERR(-ETIMEDOUT, "%u tasks still unfinished", n);
			break;
		}
	}
	__atomic_sub_fetch(&q->join_waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}
