/*
 * queue.c - Queue, SimpleQueue and JoinableQueue on the shared ring
 * (internal/ring.h has the design notes).
 */
#include "mproc/queue.h"

#include <errno.h>
#include <limits.h>

#include "internal/alloc.h"
#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/ring.h"
#include "internal/travel.h"

/* What the processes share besides the ring (an arena block). */
struct qstate {
	uint32_t joinable;
	uint32_t unfinished; /* JoinableQueue: futex word */
	uint32_t join_waiters;
};

/* The handle: this process's (malloc) view of the ring and the state, so
 * a process that maps them elsewhere (mp__queue_adopt) has its own. */
struct mp_queue {
	struct mp__ring *ring;
	struct qstate *st;
	bool joinable;
};

/* A queue for opts (NULL: defaults): 0 and *out, or a code with a reason. */
static int queue_new(const mp_queue_opts_t *opts, mp_queue_t **out)
{
	static const mp_queue_opts_t defaults;
	size_t cap;
	mp_queue_t *q;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->maxsize > INT32_MAX)
		return mp__why(-EINVAL, "opts->maxsize %u is too large (at "
			       "most INT32_MAX)", opts->maxsize);
	if (opts->capacity > MP_QUEUE_MAX_CAPACITY)
		return mp__why(-EINVAL, "opts->capacity %zu is larger than "
			       "the largest ring (MP_QUEUE_MAX_CAPACITY = %zu "
			       "bytes)", opts->capacity,
			       (size_t)MP_QUEUE_MAX_CAPACITY);
	if ((q = mp__calloc(1, sizeof(*q))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	if ((q->st = mp__arena_alloc(sizeof(*q->st))) == NULL) {
		int rc = MP__WHY_SYS("cannot map shared memory");

		mp__free(q);
		return rc;
	}
	cap = opts->capacity ? opts->capacity : (size_t)1 << 20;
	q->ring = mp__ring_new(cap, opts->maxsize, opts->max_message);
	if (q->ring == NULL) {
		int rc = mp__why(-errno, "cannot map a ring of %zu bytes: %s",
				 cap, mp_strerror(-errno));

		mp__arena_free(q->st);
		mp__free(q);
		return rc;
	}
	q->joinable = opts->joinable;
	q->st->joinable = opts->joinable;
	*out = q;
	return 0;
}

mp_queue_t *mp_queue_new(const mp_queue_opts_t *opts)
{
	mp_queue_t *q;
	int rc;

	if ((rc = queue_new(opts, &q)) < 0)
		MP__RAISE(rc);
	return q;
}

mp_queue_t *mp_simplequeue_new(void)
{
	mp_queue_t *q;
	int rc;

	if ((rc = queue_new(NULL, &q)) < 0)
		MP__RAISE(rc);
	return q;
}

void mp_queue_free(mp_queue_t *q)
{
	if (q == NULL)
		return;
	mp__ring_free(q->ring);
	mp__arena_free(q->st);
	mp__free(q);
}

void mp__queue_parts(const mp_queue_t *q, void **ring, void **state)
{
	*ring = q->ring;
	*state = q->st;
}

int mp__queue_adopt(void *ring, void *state, mp_queue_t **out)
{
	mp_queue_t *q = mp__calloc(1, sizeof(*q));

	if (q == NULL)
		return mp__why(-ENOMEM, "out of memory");
	q->ring = ring;
	q->st = state;
	q->joinable = q->st->joinable != 0;
	*out = q;
	return 0;
}

size_t mp__queue_state_size(void)
{
	return sizeof(struct qstate);
}

/* mp__deadline, with MP_FOREVER (the common blocking call) inline. */
static inline int deadline_of(double timeout, uint64_t *deadline)
{
	if (timeout == MP_FOREVER) {
		*deadline = MP__NO_DEADLINE;
		return 0;
	}
	return mp__deadline(timeout, deadline);
}

/*
 * Put within deadline: 0, or the ring's code with its reason (-ETIMEDOUT
 * when full past the deadline).
 */
static int put(mp_queue_t *q, const void *msg, size_t len, uint64_t deadline)
{
	int rc;

	if (q->joinable)
		__atomic_add_fetch(&q->st->unfinished, 1, __ATOMIC_SEQ_CST);
	rc = mp__ring_put(q->ring, msg, len, deadline);
	if (rc < 0 && q->joinable)
		__atomic_sub_fetch(&q->st->unfinished, 1, __ATOMIC_SEQ_CST);
	return rc;
}

int mp_queue_put(mp_queue_t *q, const void *msg, size_t len, double timeout)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(q);
	if (msg == NULL && len > 0)
		return MP__ERR(-EINVAL, "argument 'msg' is NULL");
	if ((rc = deadline_of(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = put(q, msg, len, deadline)) == -ETIMEDOUT)
		return MP__ERR(rc, "%s after %gs", mp__reason(rc), timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queue_put_nowait(mp_queue_t *q, const void *msg, size_t len)
{
	int rc;

	MP__CHECK_NULL(q);
	if (msg == NULL && len > 0)
		return MP__ERR(-EINVAL, "argument 'msg' is NULL");
	/* a deadline of now: the ring takes the message only if it fits */
	if ((rc = put(q, msg, len, mp__deadline_in(0))) == -ETIMEDOUT)
		return MP__ERR(-EAGAIN, "%s (queue.Full)", mp__reason(rc));
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/*
 * Take the next message within deadline into buf (cap bytes; *len its
 * size, or the size of a message too big: -EMSGSIZE leaves it queued): 0,
 * or the ring's code with its reason (-ETIMEDOUT when empty past the
 * deadline).
 */
static int get_into(mp_queue_t *q, void *buf, size_t cap, uint64_t deadline,
		    size_t *len)
{
	void *p = buf;

	return mp__ring_get(q->ring, &p, cap, len, deadline);
}

/*
 * Take the next message within deadline as owned, NUL-terminated bytes,
 * allocated by the ring for exactly what arrived (plus the NUL).  Out of
 * memory for a message in one record leaves it queued (-ENOMEM); only a
 * message streamed in parts (over a quarter of the ring) is lost when
 * memory runs out mid-way, since a producer's announced total is never
 * allocated up front.
 */
static int get_owned(mp_queue_t *q, uint64_t deadline, mp_bytes_t *out)
{
	void *p = NULL;
	size_t n = 0;
	int rc = mp__ring_get(q->ring, &p, 0, &n, deadline);

	if (rc < 0)
		return rc;
	*out = (mp_bytes_t){p, n};
	return 0;
}

int mp_queue_get(mp_queue_t *q, double timeout, mp_bytes_t *msg)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(msg);
	*msg = (mp_bytes_t){NULL, 0};
	MP__CHECK_NULL(q);
	if ((rc = deadline_of(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = get_owned(q, deadline, msg)) == -ETIMEDOUT)
		return MP__ERR(rc, "%s after %gs", mp__reason(rc), timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queue_get_nowait(mp_queue_t *q, mp_bytes_t *msg)
{
	int rc;

	MP__CHECK_NULL(msg);
	*msg = (mp_bytes_t){NULL, 0};
	MP__CHECK_NULL(q);
	rc = get_owned(q, mp__deadline_in(0), msg);
	if (rc == -ETIMEDOUT)
		return MP__ERR(-EAGAIN, "%s (queue.Empty)", mp__reason(rc));
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queue_get_into(mp_queue_t *q, void *buf, size_t cap, double timeout,
		      size_t *len)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(q);
	MP__CHECK_NULL(buf);
	MP__CHECK_NULL(len);
	if ((rc = deadline_of(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = get_into(q, buf, cap, deadline, len)) == -ETIMEDOUT)
		return MP__ERR(rc, "%s after %gs", mp__reason(rc), timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queue_qsize(const mp_queue_t *q)
{
	size_t n;

	MP__CHECK_NULL(q);
	n = mp__ring_count(q->ring);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int mp_queue_empty(const mp_queue_t *q)
{
	MP__CHECK_NULL(q);
	return mp__ring_count(q->ring) == 0;
}

int mp_queue_full(const mp_queue_t *q)
{
	MP__CHECK_NULL(q);
	return q->ring->maxsize != 0 &&
	       mp__ring_count(q->ring) >= q->ring->maxsize;
}

int mp_queue_close(mp_queue_t *q)
{
	MP__CHECK_NULL(q);
	mp__ring_close(q->ring);
	return 0;
}

int mp_queue_task_done(mp_queue_t *q)
{
	uint32_t n;

	MP__CHECK_NULL(q);
	if (!q->joinable)
		return MP__ERR(-EINVAL, "not a JoinableQueue");
	n = __atomic_load_n(&q->st->unfinished, __ATOMIC_SEQ_CST);
	do {
		if (n == 0)
			return MP__ERR(-EINVAL, "task_done() called too many times");
	} while (!__atomic_compare_exchange_n(&q->st->unfinished, &n, n - 1, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (n == 1 && __atomic_load_n(&q->st->join_waiters, __ATOMIC_SEQ_CST))
		mp__futex_wake(&q->st->unfinished, INT32_MAX);
	return 0;
}

int mp_queue_join(mp_queue_t *q, double timeout)
{
	uint64_t deadline;
	uint32_t n;
	int rc;

	MP__CHECK_NULL(q);
	if (!q->joinable)
		return MP__ERR(-EINVAL, "not a JoinableQueue");
	if ((rc = deadline_of(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	__atomic_add_fetch(&q->st->join_waiters, 1, __ATOMIC_SEQ_CST);
	while ((n = __atomic_load_n(&q->st->unfinished, __ATOMIC_SEQ_CST)) != 0) {
		if (mp__futex_wait(&q->st->unfinished, n, deadline) == -ETIMEDOUT &&
		    __atomic_load_n(&q->st->unfinished, __ATOMIC_SEQ_CST) != 0) {
			rc = MP__ERR(-ETIMEDOUT, "%u tasks still unfinished", n);
			break;
		}
	}
	__atomic_sub_fetch(&q->st->join_waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}
