/*
 * manager/queue.c - the shared Queue and JoinableQueue (manager.Queue(),
 * manager.JoinableQueue()) in the manager's region.
 *
 * A queue is a header (lock, ring offset, task_done count, a change
 * counter to sleep on) and a ring {cap, state, items[cap]} of value block
 * offsets (pickles).  The ring's state word holds two free-running 32-bit
 * counters, head (items taken) in its low half and tail (items put) in its
 * high half: the queue holds tail - head items, at slots counter % cap.
 * Every change publishes with one 8-byte store: a put writes its slot (not
 * yet visible) and then the state with tail + 1; a get reads its slot and
 * stores the state with head + 1; a put into a full ring builds a ring
 * twice as large holding the new item and publishes its offset;
 * task_done stores done + 1.  A JoinableQueue's unfinished tasks are
 * tail - done (mod 2^32), derived, so a put and its task cannot part.  A
 * client killed at any instruction, also holding the lock, leaves the old
 * state or the new one (at worst a leaked block; a get killed after its
 * store loses that item, as a CPython client killed after the reply).
 *
 * Waiting: every change bumps `seq` under the lock and wakes the sleepers
 * (futex on seq); a sleeper reads seq under the lock, lets it go and sleeps
 * while seq is unchanged, at most MP__OWNER_CHECK_NS at a time so that a
 * shutdown (MP_ECLOSED) is noticed within that.  `waiters` counts sleepers
 * so that an uncontended put wakes nobody; a sleeper killed leaves it one
 * too high, which costs only a needless wake-up.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "manager/mgr_int.h"
#include "manager/remote_int.h"
#include "obj/obj_int.h"

struct qring {
	uint64_t cap;
	uint64_t state; /* tail << 32 | head */
	uint64_t items[];
};

#define HEAD(s) ((uint32_t)(s))
#define TAIL(s) ((uint32_t)((s) >> 32))
#define STATE(tail, head) ((uint64_t)(uint32_t)(tail) << 32 | (uint32_t)(head))
#define MAX_ITEMS ((uint32_t)INT32_MAX)

static struct qring *ring(const mp_queueproxy_t *q)
{
	return mp__at(q->r, __atomic_load_n(&q->table, __ATOMIC_ACQUIRE));
}

static uint32_t count(const struct qring *t)
{
	uint64_t s = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);

	return TAIL(s) - HEAD(s);
}

static int closed(const mp_queueproxy_t *q)
{
	if (mp__region_closed(q->r))
		return mp__why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

static void lock(mp_queueproxy_t *q)
{
	bool dead;

	mp__obj_lock(&q->lock, &dead); /* nothing to repair */
}

static void unlock(mp_queueproxy_t *q)
{
	mp__obj_unlock(&q->lock);
}

/* A change was published (lock held): wake the sleepers. */
static void changed(mp_queueproxy_t *q)
{
	__atomic_add_fetch(&q->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->waiters, __ATOMIC_SEQ_CST) > 0)
		mp__futex_wake(&q->seq, INT32_MAX);
}

/*
 * Sleep (lock held, and held again on return) until a change or the
 * deadline: 0 (look again), -ETIMEDOUT once the deadline passed, or
 * MP_ECLOSED when the manager was shut down meanwhile.
 */
static int sleep_locked(mp_queueproxy_t *q, uint64_t deadline)
{
	uint32_t seq = __atomic_load_n(&q->seq, __ATOMIC_SEQ_CST);
	uint64_t until = mp__deadline_in(MP__OWNER_CHECK_NS);

	if (deadline < until)
		until = deadline;
	__atomic_add_fetch(&q->waiters, 1, __ATOMIC_SEQ_CST);
	unlock(q);
	mp__futex_wait(&q->seq, seq, until);
	__atomic_sub_fetch(&q->waiters, 1, __ATOMIC_SEQ_CST);
	lock(q);
	if (mp__region_closed(q->r))
		return closed(q);
	return mp__expired(deadline) ? -ETIMEDOUT : 0;
}

static uint64_t new_ring(struct mp__region *r, uint64_t cap)
{
	struct qring *t;
	uint64_t off;

	if ((off = mp__region_alloc(r, sizeof(*t) + cap * 8)) == 0)
		return 0;
	t = mp__at(r, off);
	t->cap = cap;
	t->state = 0;
	return off;
}

int mp__queue_new(struct mp__region *r, unsigned maxsize, bool joinable,
		  struct mp_queueproxy **out)
{
	struct mp_queueproxy *q;
	uint64_t off, roff;

	if ((off = mp__region_alloc(r, sizeof(*q))) == 0)
		return -ENOMEM;
	if ((roff = new_ring(r, 8)) == 0) {
		mp__region_free(r, off);
		return -ENOMEM;
	}
	q = mp__at(r, off);
	memset(q, 0, sizeof(*q));
	q->table = roff;
	q->maxsize = maxsize;
	q->joinable = joinable;
	q->r = r;
	*out = q;
	return 0;
}

/* Room for one more item? (lock held) */
static bool has_room(const mp_queueproxy_t *q)
{
	uint32_t n = count(ring(q));

	return n < MAX_ITEMS && (q->maxsize == 0 || n < q->maxsize);
}

/* Append value block voff (lock held, room checked): 0 or -ENOMEM. */
static int push_locked(mp_queueproxy_t *q, uint64_t voff)
{
	struct qring *t = ring(q), *nt;
	uint64_t s = t->state, off, k;
	uint32_t head = HEAD(s), tail = TAIL(s);

	if ((uint32_t)(tail - head) < t->cap) {
		t->items[tail % t->cap] = voff;
		__atomic_store_n(&t->state, STATE(tail + 1, head),
				 __ATOMIC_RELEASE);
		return 0;
	}
	/* Full ring: a twice larger one, holding the new item too. */
	if ((off = new_ring(q->r, t->cap * 2)) == 0)
		return -ENOMEM;
	nt = mp__at(q->r, off);
	for (k = 0; k < t->cap; k++)
		nt->items[(uint32_t)(head + k) % nt->cap] =
			t->items[(uint32_t)(head + k) % t->cap];
	nt->items[tail % nt->cap] = voff;
	nt->state = STATE(tail + 1, head);
	__atomic_store_n(&q->table, off, __ATOMIC_RELEASE);
	mp__region_free(q->r, (uint64_t)((char *)t - (char *)q->r));
	return 0;
}

int mp__queue_put(mp_queueproxy_t *q, const mp_obj_t *value, bool block,
		  double timeout)
{
	uint64_t voff, deadline = MP__NO_DEADLINE;
	int rc;

	if (q->remote != NULL)
		return mp__rqueue_put(q->remote, value, block, timeout);
	if (block && (rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	if ((rc = closed(q)) < 0)
		return rc;
	if ((rc = mp__region_put_obj(q->r, value, &voff)) < 0)
		return rc;
	lock(q);
	while (rc == 0 && !has_room(q)) {
		if (!block)
			rc = mp__why(-EAGAIN, "queue.Full: the queue is full");
		else if ((rc = sleep_locked(q, deadline)) == -ETIMEDOUT &&
			 !has_room(q))
			rc = mp__why(-ETIMEDOUT, "queue.Full: still full after "
						 "the timeout");
		else if (rc == -ETIMEDOUT)
			rc = 0;
	}
	if (rc == 0 && (rc = push_locked(q, voff)) == 0)
		changed(q);
	unlock(q);
	if (rc < 0)
		mp__region_free(q->r, voff);
	return rc;
}

int mp__queue_get(mp_queueproxy_t *q, bool block, double timeout,
		  mp_obj_t **out)
{
	uint64_t deadline = MP__NO_DEADLINE, voff = 0, s;
	struct qring *t;
	int rc;

	if (q->remote != NULL)
		return mp__rqueue_get(q->remote, block, timeout, out);
	*out = NULL;
	if (block && (rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	if ((rc = closed(q)) < 0)
		return rc;
	lock(q);
	while (rc == 0 && count(ring(q)) == 0) {
		if (!block)
			rc = mp__why(-EAGAIN, "queue.Empty: the queue is "
					      "empty");
		else if ((rc = sleep_locked(q, deadline)) == -ETIMEDOUT &&
			 count(ring(q)) == 0)
			rc = mp__why(-ETIMEDOUT, "queue.Empty: still empty "
						 "after the timeout");
		else if (rc == -ETIMEDOUT)
			rc = 0;
	}
	if (rc == 0) {
		t = ring(q);
		s = t->state;
		voff = t->items[HEAD(s) % t->cap];
		/* Decoded before it is taken: a failure leaves it queued. */
		if ((rc = mp__region_get_obj(q->r, voff, out)) == 0) {
			__atomic_store_n(&t->state,
					 STATE(TAIL(s), HEAD(s) + 1),
					 __ATOMIC_RELEASE);
			changed(q);
		}
	}
	unlock(q);
	if (rc == 0)
		mp__region_free(q->r, voff);
	return rc;
}

int mp__queue_qsize(mp_queueproxy_t *q)
{
	int rc;

	if (q->remote != NULL)
		return mp__rint(q->remote, "qsize", NULL);
	if ((rc = closed(q)) < 0)
		return rc;
	lock(q);
	rc = (int)count(ring(q));
	unlock(q);
	return rc;
}

int mp__queue_full(mp_queueproxy_t *q)
{
	int rc;

	if (q->remote != NULL)
		return mp__rint(q->remote, "full", NULL);
	if ((rc = closed(q)) < 0)
		return rc;
	lock(q);
	rc = q->maxsize > 0 && count(ring(q)) >= q->maxsize;
	unlock(q);
	return rc;
}

/* Tasks put and not yet marked done (lock held). */
static uint32_t unfinished(const mp_queueproxy_t *q)
{
	return TAIL(ring(q)->state) - (uint32_t)q->done;
}

static int not_joinable(void)
{
	return mp__why(-EINVAL, "AttributeError: a Queue has no task_done() "
				"or join(); make a JoinableQueue");
}

int mp__queue_task_done(mp_queueproxy_t *q)
{
	int rc;

	if (q->remote != NULL)
		return mp__rdict_op(q->remote, "task_done", NULL, NULL, NULL);
	if (!q->joinable)
		return not_joinable();
	if ((rc = closed(q)) < 0)
		return rc;
	lock(q);
	if (unfinished(q) == 0) {
		rc = mp__why(-EINVAL, "ValueError: task_done() called too "
				      "many times");
	} else {
		__atomic_store_n(&q->done, q->done + 1, __ATOMIC_RELEASE);
		changed(q);
	}
	unlock(q);
	return rc;
}

int mp__queue_join(mp_queueproxy_t *q, double timeout)
{
	uint64_t deadline;
	int rc;

	if (q->remote != NULL) /* CPython's join has no timeout: the call's */
		return mp__rdict_op(q->remote, "join", NULL, NULL, NULL);
	if (!q->joinable)
		return not_joinable();
	if ((rc = mp__deadline(timeout, &deadline)) < 0 ||
	    (rc = closed(q)) < 0)
		return rc;
	lock(q);
	while (rc == 0 && unfinished(q) > 0)
		if ((rc = sleep_locked(q, deadline)) == -ETIMEDOUT &&
		    unfinished(q) > 0)
			rc = mp__why(-ETIMEDOUT, "%u task(s) still unfinished "
						 "after the timeout",
				     unfinished(q));
		else if (rc == -ETIMEDOUT)
			rc = 0;
	unlock(q);
	return rc;
}

/* ---- the public functions ---- */

int mp_queueproxy_put(mp_queueproxy_t *q, const mp_obj_t *value,
		      double timeout)
{
	int rc;

	MP__CHECK_NULL(q);
	MP__CHECK_NULL(value);
	rc = mp__queue_put(q, value, true, timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queueproxy_put_nowait(mp_queueproxy_t *q, const mp_obj_t *value)
{
	int rc;

	MP__CHECK_NULL(q);
	MP__CHECK_NULL(value);
	rc = mp__queue_put(q, value, false, 0);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queueproxy_get(mp_queueproxy_t *q, double timeout, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(q);
	rc = mp__queue_get(q, true, timeout, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queueproxy_get_nowait(mp_queueproxy_t *q, mp_obj_t **out)
{
	int rc;

	MP__CHECK_NULL(out);
	*out = NULL;
	MP__CHECK_NULL(q);
	rc = mp__queue_get(q, false, 0, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queueproxy_qsize(mp_queueproxy_t *q)
{
	int rc;

	MP__CHECK_NULL(q);
	rc = mp__queue_qsize(q);
	return rc < 0 ? MP__RAISE(rc) : rc;
}

int mp_queueproxy_empty(mp_queueproxy_t *q)
{
	int rc;

	MP__CHECK_NULL(q);
	rc = mp__queue_qsize(q);
	return rc < 0 ? MP__RAISE(rc) : rc == 0;
}

int mp_queueproxy_full(mp_queueproxy_t *q)
{
	int rc;

	MP__CHECK_NULL(q);
	rc = mp__queue_full(q);
	return rc < 0 ? MP__RAISE(rc) : rc;
}

int mp_queueproxy_task_done(mp_queueproxy_t *q)
{
	int rc;

	MP__CHECK_NULL(q);
	rc = mp__queue_task_done(q);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_queueproxy_join(mp_queueproxy_t *q, double timeout)
{
	int rc;

	MP__CHECK_NULL(q);
	rc = mp__queue_join(q, timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}
