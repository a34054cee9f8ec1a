/*
 * pool/engine.c - jobs, the hand-off, dispatch and results (design notes
 * in pool_int.h); the supervisor loop is in supervisor.c, the workers'
 * lives (starts, deaths) in workers.c, a remote pool's backend side in
 * remote.c, the pool's life cycle in life.c.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/cond.h"
#include "internal/error.h"
#include "pool/pool_int.h"

void mp__pool_kick(mp_pool_t *p)
{
	uint64_t one = 1;

	if (p->backend != NULL) {
		if (p->bstate != NULL)
			p->backend->kick(p->bstate);
		return;
	}
	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void dispatch(mp_pool_t *p);

/* Whoever takes the lock first takes what was handed over (mp__pool_handoff)
 * and dispatches it: under the lock, a job handed over before is pending
 * or dispatched, as if it had been submitted under the lock. */
void mp__pool_lock(mp_pool_t *p)
{
	pthread_mutex_lock(&p->lock);
	if (mp__pool_inq_take(p))
		dispatch(p);
}

void mp__pool_unlock(mp_pool_t *p)
{
	if (p->completed) {
		p->completed = false;
		pthread_cond_broadcast(&p->done);
	}
	while (p->nhead != NULL) {
		struct mp__job *j = p->nhead, *next;

		p->nhead = p->ntail = NULL;
		pthread_mutex_unlock(&p->lock);
		for (; j != NULL; j = next) {
			next = j->next;
			j->ops->notify(p, j);
		}
		pthread_mutex_lock(&p->lock);
		p->completed = true; /* notifies drop references waited on */
	}
	if (p->completed) {
		p->completed = false;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
}

unsigned mp__pool_size(const mp_pool_t *p)
{
	return p->n;
}

int mp__pool_accepts(const mp_pool_t *p)
{
	return p->state != RUN ? MP_ECLOSED : p->broken[0] ? MP_EBROKEN : 0;
}

const char *mp__pool_refusal(const mp_pool_t *p, int code)
{
	if (code != MP_EBROKEN)
		return "Pool not running";
	return p->broken; /* set once */
}

/* ---- jobs (locked) ---- */

void mp__pool_end_job(mp_pool_t *p, struct mp__job *j, int status,
		      const char *data, size_t len, void **buf)
{
	j->state = J_DONE;
	j->next = j->prev = NULL;
	p->completed = true;
	if (j->ops->complete(p, j, status, data, len, buf)) {
		if (p->ntail)
			p->ntail->next = j;
		else
			p->nhead = j;
		p->ntail = j;
	}
}

void mp__pool_end_job_msg(mp_pool_t *p, struct mp__job *j, int status,
			  const char *msg)
{
	mp__pool_end_job(p, j, status, msg, strlen(msg), NULL);
}

void mp__pool_enqueue(mp_pool_t *p, struct mp__job *j)
{
	j->id = ++p->next_id;
	memcpy(j->rec, &j->id, sizeof(j->id)); /* task_hdr.id */
	mp__pool_pending_push(p, j, false);
}

/* p->inq once the pool takes no more hand-offs (mp__pool_seal). */
static struct mp__job inq_sealed;
#define INQ_SEALED (&inq_sealed)

/* Jobs taken off p->inq (newest first) into the pending list, in the order
 * they were handed over. */
static void inq_enqueue(mp_pool_t *p, struct mp__job *lifo)
{
	struct mp__job *fifo = NULL, *next;

	for (; lifo != NULL; lifo = next) {
		next = lifo->next;
		lifo->next = fifo;
		fifo = lifo;
	}
	for (; fifo != NULL; fifo = next) {
		next = fifo->next;
		mp__pool_enqueue(p, fifo);
	}
}

/* Take what was handed over into the pending list (locked): true if
 * anything was. */
bool mp__pool_inq_take(mp_pool_t *p)
{
	struct mp__job *j = __atomic_load_n(&p->inq, __ATOMIC_RELAXED);

	/* Only locked code takes or seals: j cannot become either. */
	if (j == NULL || j == INQ_SEALED)
		return false;
	inq_enqueue(p, __atomic_exchange_n(&p->inq, NULL, __ATOMIC_ACQUIRE));
	return true;
}

/* Is anything handed over and not taken yet?  (seq_cst: see handoff) */
bool mp__pool_inq_waiting(mp_pool_t *p)
{
	struct mp__job *j = __atomic_load_n(&p->inq, __ATOMIC_SEQ_CST);

	return j != NULL && j != INQ_SEALED;
}

void mp__pool_seal(mp_pool_t *p)
{
	struct mp__job *j = __atomic_exchange_n(&p->inq, INQ_SEALED,
						__ATOMIC_ACQ_REL);

	if (j != INQ_SEALED)
		inq_enqueue(p, j);
}

/*
 * The push is seq_cst, and so are the supervisor's "I sleep" store and its
 * look at p->inq after it (mp__pool_supervisor): either it sees this job
 * and runs another round, or we see it asleep and dispatch ourselves.
 */
bool mp__pool_handoff(mp_pool_t *p, struct mp__job *j)
{
	struct mp__job *old = __atomic_load_n(&p->inq, __ATOMIC_RELAXED);

	if (p->backend != NULL)
		return false;
	do {
		if (old == INQ_SEALED)
			return false;
		j->next = old;
	} while (!__atomic_compare_exchange_n(&p->inq, &old, j, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (__atomic_load_n(p->sup_sleeping, __ATOMIC_SEQ_CST)) {
		mp__pool_lock(p); /* takes and dispatches it (or someone did) */
		mp__pool_unlock(p);
	}
	return true;
}

void mp__pool_dispatch(mp_pool_t *p)
{
	dispatch(p);
}

int mp__pool_submit(mp_pool_t *p, struct mp__job *j)
{
	int rc = mp__pool_accepts(p);

	if (rc < 0)
		return rc;
	mp__pool_enqueue(p, j);
	dispatch(p);
	return 0;
}

bool mp__pool_cancel(mp_pool_t *p, struct mp__job *j)
{
	if (j->state != J_PENDING)
		return false;
	mp__pool_pending_unlink(p, j);
	mp__pool_end_job_msg(p, j, MP_ECANCELLED, "the task was cancelled");
	return true;
}

void mp__pool_fail_pending(mp_pool_t *p, int status, const char *msg)
{
	struct mp__job *j;

	while ((j = p->head) != NULL) {
		mp__pool_pending_unlink(p, j);
		mp__pool_end_job_msg(p, j, status, msg);
	}
}

void mp__pool_cancel_pending(mp_pool_t *p)
{
	mp__pool_lock(p);
	mp__pool_fail_pending(p, MP_ECANCELLED, "the task was cancelled");
	mp__pool_unlock(p);
}

int mp__pool_wait(mp_pool_t *p, bool (*cond)(void *), void *arg,
		  uint64_t deadline)
{
	return mp__cond_wait_until(&p->done, &p->lock, cond, arg, deadline);
}

size_t mp__pool_chunksize(const mp_pool_t *p, size_t n, size_t chunksize)
{
	size_t nw = p->backend != NULL ? p->remote_n : p->n;

	if (chunksize == 0) { /* CPython: divmod(n, 4 * processes), rounded up */
		chunksize = n / (4 * nw) + (n % (4 * nw) != 0);
		if (chunksize == 0)
			chunksize = 1;
	}
	if (p->opts.maxtasksperchild && chunksize > p->opts.maxtasksperchild)
		chunksize = p->opts.maxtasksperchild;
	return chunksize > UINT32_MAX ? UINT32_MAX : chunksize;
}

/* ---- dispatch (locked) ---- */

/* Can worker w take job j now?  *now: the time, read once per dispatch
 * when first needed (0 until then). */
static bool fits(const mp_pool_t *p, const struct worker *w,
		 const struct mp__job *j, uint64_t *now)
{
	const struct worker_slot *s = &p->slots[w - p->w];

	/* A lone worker keeps its next job in its inbox even behind a long
	 * task: no other worker could start it sooner (and reclaim never
	 * takes it back), and the worker starts it as it ends the task, not a
	 * supervisor round later.  As in CPython's call queue (max_workers + 1
	 * calls), that job is running then: it can no longer be cancelled. */
	unsigned depth = p->n == 1 && p->depth < 2 ? 2 : p->depth;

	if (!w->alive || w->stopping || w->budget < j->items)
		return false;
	if (w->queued >= depth)
		return false;
	/* Else queue nothing behind a task that has run for long (LONG_NS):
	 * it may run for ages while another worker idles (and reclaim would
	 * take it back). */
	if (p->n > 1 && w->queued > 0 &&
	    __atomic_load_n(&s->current, __ATOMIC_ACQUIRE) == w->head->id) {
		if (*now == 0)
			*now = mp__now_ns();
		if (*now - __atomic_load_n(&s->started, __ATOMIC_RELAXED) >
		    LONG_NS)
			return false;
	}
	/* A streamed record needs the worker reading: only to an idle one. */
	return j->rec_len <= INBOX_BYTES / 8 || w->queued == 0;
}

/* Has worker w's current job run for LONG_NS?  If not yet, *next is
 * lowered to when to look again (its start + LONG_NS; or LONG_NS from now
 * when it is between jobs). */
static bool runs_long(const mp_pool_t *p, const struct worker *w,
		      uint64_t now, uint64_t *next)
{
	const struct worker_slot *s = &p->slots[w - p->w];
	uint64_t at = now + LONG_NS;

	if (__atomic_load_n(&s->current, __ATOMIC_ACQUIRE) == w->head->id) {
		at = __atomic_load_n(&s->started, __ATOMIC_RELAXED) + LONG_NS;
		if (at <= now)
			return true;
	}
	if (at < *next)
		*next = at;
	return false;
}

/* Take job id, just read back out of w's inbox (so never started), out of
 * w's FIFO: the job, or NULL. */
static struct mp__job *fifo_remove(struct worker *w, uint64_t id)
{
	struct mp__job *prev = NULL, *j;

	for (j = w->head; j != NULL; prev = j, j = j->next)
		if (j->id == id) {
			if (prev)
				prev->next = j->next;
			else
				w->head = j->next;
			if (w->tail == j)
				w->tail = prev;
			j->next = NULL;
			w->queued--;
			w->budget += j->items;
			return j;
		}
	return NULL;
}

/* Read the next job out of w's inbox (it never started) and take it out of
 * w's FIFO: 0 with *out (NULL if the record was none of ours), -EAGAIN if
 * the inbox is empty, -EBUSY if its worker is taking a job right now. */
int mp__pool_unqueue(struct worker *w, struct mp__job **out)
{
	void *rec = NULL;
	size_t len;
	uint64_t id = 0;

	if (mp__ring_get(w->args.inbox, &rec, 0, &len, 0) < 0)
		return mp__ring_empty(w->args.inbox) ? -EAGAIN : -EBUSY;
	if (len >= sizeof(struct task_hdr))
		memcpy(&id, rec, sizeof(id));
	mp__free(rec);
	*out = id ? fifo_remove(w, id) : NULL;
	return 0;
}

/* Jobs read back out of an inbox (a list, last read first): to the front
 * of the pending list, in their order. */
static void requeue(mp_pool_t *p, struct mp__job *back)
{
	struct mp__job *j;

	for (; back != NULL; back = j) {
		j = back->next;
		mp__pool_pending_push(p, back, true);
	}
}

/*
 * Take back the jobs queued behind a task that has run for LONG_NS: the
 * supervisor reads them out of that worker's inbox itself (the ring has
 * many consumers), so each is either read by us or taken by its worker,
 * never both.  What we read never started: it goes back to the front of
 * the pending list for an idle worker.  A job its worker took and has not
 * yet marked started stays in the FIFO, which keeps inbox order, so a
 * death still fails exactly the job it had started.  Only while another
 * worker is idle (or starting): taking a job back while its worker may
 * take the next one at once runs them out of order, which is worth it only
 * for a worker that can run the first now (with one worker, jobs run in
 * the order queued, as in CPython).  Returns when to look again
 * (MP__NO_DEADLINE: nothing queued behind anything).
 */
uint64_t mp__pool_reclaim(mp_pool_t *p)
{
	uint64_t now = mp__now_ns(), next = MP__NO_DEADLINE;
	struct mp__job *back = NULL, *j;
	bool idle = false;

	if (p->state != RUN && p->state != CLOSING)
		return next;
	for (unsigned i = 0; i < p->n; i++)
		idle |= p->w[i].starting ||
			(p->w[i].alive && !p->w[i].stopping && p->w[i].queued == 0);
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (!w->alive || w->stopping || w->queued < 2 ||
		    !runs_long(p, w, now, &next) || !idle)
			continue;
		while (w->queued >= 2 && mp__pool_unqueue(w, &j) == 0) {
			if (j == NULL)
				continue; /* not ours: nothing to requeue */
			j->next = back; /* reversed */
			back = j;
		}
	}
	requeue(p, back);
	return next;
}

int mp__pool_kill_job(mp_pool_t *p, struct mp__job *j)
{
	struct mp__job *back = NULL, *k;
	uint64_t give_up = mp__now_ns() + 100000000u; /* 0.1 s */
	struct worker *w;
	bool found = false;
	int rc;

	if (j->state == J_PENDING)
		return mp__pool_cancel(p, j);
	if (j->state != J_RUNNING)
		return 0;
	if (p->backend != NULL)
		return mp__why(-ENOTSUP, "a task running on the %s backend "
			       "cannot be killed", p->backend->name);
	w = &p->w[j->worker];
	if (w->killed == j->id)
		return 1;
	/* Still in the inbox?  Read the inbox out (the others go back to the
	 * pending list, in their order): then no worker has to die. */
	while (!w->stopping) {
		rc = mp__pool_unqueue(w, &k);
		if (rc == -EAGAIN || (rc == -EBUSY && mp__now_ns() > give_up))
			break;
		if (rc == -EBUSY) {
			if (found)
				break; /* the rest stays queued there */
			sched_yield(); /* its worker is taking a job */
			continue;
		}
		if (k == j) {
			found = true;
		} else if (k != NULL) {
			k->next = back;
			back = k;
		}
	}
	requeue(p, back);
	if (found) {
		mp__pool_end_job_msg(p, j, MP_ECANCELLED,
				     "the task was killed");
	} else {
		/* Its worker has taken it, and may have run it while we read
		 * the inbox: its result (put before the worker takes another
		 * job) ends it here, and no worker dies for a task over. */
		mp__pool_drain_results(p);
		if (j->state == J_RUNNING) {
			w->killed = j->id;
			if (w->alive) /* else starts_done kills it once started */
				mp__pool_kill_worker(w);
		}
	}
	dispatch(p);
	return found || j->state == J_RUNNING;
}

static void dispatch(mp_pool_t *p)
{
	struct mp__job *j;
	uint64_t now = 0;
	bool sent = false;

	if (p->backend != NULL) {
		if (p->head != NULL)
			mp__pool_kick(p);
		return;
	}
	while ((j = p->head) != NULL) {
		struct worker *best = NULL;
		uint64_t deadline;

		for (unsigned i = 0; i < p->n; i++) {
			struct worker *w = &p->w[i];

			if (fits(p, w, j, &now) &&
			    (best == NULL || w->queued < best->queued)) {
				best = w;
				if (w->queued == 0)
					break; /* none does better */
			}
		}
		if (best == NULL)
			break;
		deadline = j->rec_len <= INBOX_BYTES / 8
				   ? 0 /* room or not: never wait */
				   : mp__now_ns() + 1000000000u + 20 * (uint64_t)j->rec_len;
		if (mp__ring_put(best->args.inbox, j->rec, j->rec_len, deadline) < 0) {
			/* Full or dying: leave it pending for the next round. */
			best->stopping |= j->rec_len > INBOX_BYTES / 8;
			break;
		}
		mp__pool_assign(p, best, j);
		sent = true;
	}
	/* A sleeping supervisor must arm the new task's timeout. */
	if (sent && p->timeout_ns != MP__NO_DEADLINE &&
	    __atomic_load_n(p->sup_sleeping, __ATOMIC_SEQ_CST))
		mp__pool_kick(p);
	/* Retire workers whose budget the next job does not fit. */
	for (unsigned i = 0; p->opts.maxtasksperchild && p->head && i < p->n;
	     i++) {
		struct worker *w = &p->w[i];
		struct task_hdr stop = {.kind = T_STOP};

		if (w->alive && !w->stopping && w->queued == 0 &&
		    w->budget < p->head->items &&
		    mp__ring_put(w->args.inbox, &stop, sizeof(stop), 0) == 0)
			w->stopping = true;
	}
}

/* The record at data (len bytes) came back; *rec is its buffer when the
 * owner may take it (else NULL). */
static void take_result(mp_pool_t *p, void **rec, size_t len, const void *data)
{
	struct res_hdr h;
	struct worker *w;
	struct mp__job *j;

	if (len < sizeof(h))
		return;
	memcpy(&h, data, sizeof(h));
	if (h.worker >= p->n)
		return;
	w = &p->w[h.worker];
	if ((j = w->head) == NULL || j->id != h.id)
		return; /* stale: from a worker since replaced */
	w->head = j->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->queued--;
	p->init_failures = 0; /* workers do start */
	/* Tasks seem short: let the workers queue more (see fits). */
	p->avg_ns = (p->avg_ns * 7 + h.run_ns) / 8; /* per job: what queues */
	p->depth = p->avg_ns < 20000 ? MAX_DEPTH : p->avg_ns < 200000 ? 4 : 1;
	/* Killed (mp__pool_kill_job) after it ended in the worker, before
	 * its result came: the kill was answered 1, so it fails as killed. */
	if (w->killed == j->id)
		mp__pool_end_job_msg(p, j, MP_ECANCELLED,
				     "the task was killed");
	else if (h.status != 0 && h.status != MP_ETASK) /* only these come */
		mp__pool_end_job_msg(p, j, -EPROTO,
				     "a worker sent a malformed result");
	else
		mp__pool_end_job(p, j, h.status, (const char *)data + sizeof(h),
			len - sizeof(h), rec);
	/* Its last: it left its slot before it sent this (worker_slot.gone) */
	if (w->budget == 0 && w->head == NULL && w->alive && !w->stopping &&
	    __atomic_load_n(&p->slots[h.worker].gone, __ATOMIC_ACQUIRE))
		w->retiring = true;
}

/* Results come into the pool's scratch buffer (no allocation per task:
 * owners copy what they keep); one too big for it is received into a
 * buffer of its own, which its owner may take. */
void mp__pool_drain_results(mp_pool_t *p)
{
	void *rec;
	size_t len;
	int rc;

	for (;;) {
		rec = p->rbuf;
		rc = mp__ring_get(p->results, &rec, RBUF_BYTES, &len, 0);
		if (rc == 0) {
			void *none = NULL;

			take_result(p, &none, len, rec);
			continue;
		}
		rec = NULL;
		if (rc != -EMSGSIZE ||
		    mp__ring_get(p->results, &rec, 0, &len, 0) < 0)
			return;
		take_result(p, &rec, len, rec);
		mp__free(rec);
	}
}
