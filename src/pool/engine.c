/*
 * pool/engine.c - the workers, the supervisor and dispatch (design notes in
 * pool_int.h), and the pool's life cycle: new, close, terminate, join, free.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/shmem.h"
#include "pool/pool_int.h"

enum state { RUN, CLOSING, TERMINATED, STOPPED };

enum { INBOX_BYTES = 256 << 10, RESULT_BYTES = 1 << 20, MAX_DEPTH = 64 };

/* Workers dying in their initializer this many times in a row break the
 * pool (CPython's Pool respawns them forever; its executor breaks). */
enum { MAX_INIT_FAILURES = 3 };

struct worker {
	mp_process_t *proc;
	struct worker_args args;
	struct mpi_job *head, *tail; /* dispatched, in inbox order */
	unsigned queued;
	uint64_t budget;             /* items it may still be given */
	uint64_t timed_out;          /* id of the job it was killed for */
	bool alive, stopping;
};

struct mp_pool {
	pthread_mutex_t lock;
	pthread_cond_t done;
	pthread_t thread;
	bool thread_joined, completed;
	enum state state;
	unsigned n, depth;
	struct worker *w;
	struct worker_slot *slots;   /* shared */
	uint32_t *sup_sleeping;      /* shared */
	struct mpi_job *head, *tail; /* pending */
	struct mpi_job *nhead, *ntail; /* to notify */
	struct mpi_ring *results;
	int efd;
	uint64_t next_id, timeout_ns, avg_ns;
	unsigned init_failures;
	char *broken;                /* why no worker can start, or NULL */
	mp_pool_opts opts;
};

static void kick(mp_pool_t *p)
{
	uint64_t one = 1;

	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void mpi_pool_lock(mp_pool_t *p)
{
	pthread_mutex_lock(&p->lock);
}

void mpi_pool_unlock(mp_pool_t *p)
{
	if (p->completed) {
		p->completed = false;
		pthread_cond_broadcast(&p->done);
	}
	while (p->nhead != NULL) {
		struct mpi_job *j = p->nhead, *next;

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

unsigned mpi_pool_size(const mp_pool_t *p)
{
	return p->n;
}

int mpi_pool_accepts(const mp_pool_t *p)
{
	return p->state != RUN ? MP_ECLOSED : p->broken ? MP_EBROKEN : 0;
}

const char *mpi_pool_refusal(const mp_pool_t *p, int code)
{
	if (code != MP_EBROKEN)
		return "Pool not running";
	return p->broken ? p->broken : "the pool is broken"; /* set once */
}

/* ---- jobs (locked) ---- */

static void end_job(mp_pool_t *p, struct mpi_job *j, int status,
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

static void end_job_msg(mp_pool_t *p, struct mpi_job *j, int status,
			const char *msg)
{
	end_job(p, j, status, msg, strlen(msg), NULL);
}

static void pending_unlink(mp_pool_t *p, struct mpi_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		p->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		p->tail = j->prev;
	j->next = j->prev = NULL;
}

static void pending_push_front(mp_pool_t *p, struct mpi_job *j)
{
	j->state = J_PENDING;
	j->prev = NULL;
	j->next = p->head;
	if (p->head)
		p->head->prev = j;
	else
		p->tail = j;
	p->head = j;
}

static void dispatch(mp_pool_t *p);

int mpi_pool_submit(mp_pool_t *p, struct mpi_job *j)
{
	int rc = mpi_pool_accepts(p);

	if (rc < 0)
		return rc;
	j->id = ++p->next_id;
	memcpy(j->rec, &j->id, sizeof(j->id)); /* task_hdr.id */
	j->state = J_PENDING;
	j->next = NULL;
	j->prev = p->tail;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	dispatch(p);
	return 0;
}

bool mpi_pool_cancel(mp_pool_t *p, struct mpi_job *j)
{
	if (j->state != J_PENDING)
		return false;
	pending_unlink(p, j);
	end_job_msg(p, j, MP_ECANCELLED, "the task was cancelled");
	return true;
}

void mpi_pool_cancel_pending(mp_pool_t *p)
{
	mpi_pool_lock(p);
	while (p->head != NULL)
		mpi_pool_cancel(p, p->head);
	mpi_pool_unlock(p);
}

int mpi_pool_wait(mp_pool_t *p, bool (*cond)(void *), void *arg,
		  uint64_t deadline)
{
	struct timespec ts;

	while (!cond(arg)) {
		if (deadline == MPI_NO_DEADLINE) {
			pthread_cond_wait(&p->done, &p->lock);
			continue;
		}
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		if (pthread_cond_timedwait(&p->done, &p->lock, &ts) == ETIMEDOUT &&
		    !cond(arg))
			return -ETIMEDOUT;
	}
	return 0;
}

size_t mpi_pool_chunksize(const mp_pool_t *p, size_t n, size_t chunksize)
{
	if (chunksize == 0) { /* CPython: divmod(n, 4 * processes), rounded up */
		chunksize = n / (4 * p->n) + (n % (4 * p->n) != 0);
		if (chunksize == 0)
			chunksize = 1;
	}
	if (p->opts.maxtasksperchild && chunksize > p->opts.maxtasksperchild)
		chunksize = p->opts.maxtasksperchild;
	return chunksize > UINT32_MAX ? UINT32_MAX : chunksize;
}

/* ---- workers (locked) ---- */

static int start_worker(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];

	if (w->args.inbox != NULL)
		mpi_ring_free(w->args.inbox); /* a fresh inbox: no stale job */
	p->slots[i] = (struct worker_slot){0};
	*w = (struct worker){
		.args = {.inbox = mpi_ring_new(INBOX_BYTES, 0, 0),
			 .results = p->results, .slot = &p->slots[i],
			 .sup_sleeping = p->sup_sleeping, .efd = p->efd,
			 .index = i, .maxtasks = p->opts.maxtasksperchild,
			 .initializer = p->opts.initializer,
			 .initarg = p->opts.initarg},
		.budget = p->opts.maxtasksperchild ? p->opts.maxtasksperchild
						   : UINT64_MAX};
	if (w->args.inbox == NULL)
		return -ENOMEM;
	w->proc = mp_process_new(mpi_pool_worker_main, &w->args,
				 &(mp_process_opts){.daemon = true,
						    .new_process_group = true});
	if (w->proc == NULL)
		return mp_last_error_code();
	if (mp_process_start(w->proc) < 0) {
		int rc = mp_last_error_code();
		mp_process_free(w->proc);
		w->proc = NULL;
		return rc;
	}
	w->alive = true;
	return 0;
}

static void kill_group(struct worker *w)
{
	kill(-mp_process_pid(w->proc), SIGKILL);
	mp_process_kill(w->proc);
}

static void describe_death(mp_process_t *proc, int code, char *buf, size_t n)
{
	const char *name = code < 0 ? sigabbrev_np(-code) : NULL;

	if (code < 0)
		snprintf(buf, n, "worker %d died: killed by SIG%s",
			 (int)mp_process_pid(proc), name ? name : "?");
	else
		snprintf(buf, n, "worker %d died: exited with status %d",
			 (int)mp_process_pid(proc), code);
}

static void drain_results(mp_pool_t *p);

/* No worker can start: every queued and pending job fails. */
static void pool_break(mp_pool_t *p)
{
	const char *why = p->broken ? p->broken : "the pool is broken";
	struct mpi_job *j;

	for (unsigned k = 0; k < p->n; k++) {
		struct worker *w = &p->w[k];

		if (w->alive)
			continue; /* a live worker still runs its queue */
		while ((j = w->head) != NULL) {
			w->head = j->next;
			end_job_msg(p, j, MP_EBROKEN, why);
		}
		w->tail = NULL;
		w->queued = 0;
	}
	while ((j = p->head) != NULL) {
		pending_unlink(p, j);
		end_job_msg(p, j, MP_EBROKEN, why);
	}
}

/* A worker ended: fail the job it had started, requeue the others, and
 * replace it if there is work for it. */
static void worker_ended(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mpi_job *j, *rest;
	char msg[200];
	int code = 0;

	drain_results(p); /* its last results came before its death */
	mp_process_join(w->proc, 0);
	mp_process_exitcode(w->proc, &code);
	w->alive = false;
	if (p->opts.initializer != NULL && p->state == RUN &&
	    !__atomic_load_n(&p->slots[i].ready, __ATOMIC_ACQUIRE) &&
	    ++p->init_failures >= MAX_INIT_FAILURES && p->broken == NULL) {
		describe_death(w->proc, code, msg, sizeof(msg));
		if (asprintf(&p->broken, "the pool is broken: its workers die "
			     "in the initializer (%s)", msg) < 0)
			p->broken = NULL;
		pool_break(p);
	}
	if ((j = w->head) != NULL &&
	    __atomic_load_n(&p->slots[i].current, __ATOMIC_ACQUIRE) == j->id) {
		w->head = j->next;
		if (p->state == TERMINATED)
			snprintf(msg, sizeof(msg), "the pool was terminated");
		else if (w->timed_out == j->id)
			snprintf(msg, sizeof(msg), "task timed out after %gs; its "
				 "worker was killed", p->opts.task_timeout);
		else
			describe_death(w->proc, code, msg, sizeof(msg));
		end_job_msg(p, j, p->state == TERMINATED ? MP_ECANCELLED
				: w->timed_out == j->id ? -ETIMEDOUT : MP_EBROKEN, msg);
	}
	/* The rest never started: back to the front, in order. */
	for (rest = NULL, j = w->head; j != NULL; j = w->head) {
		w->head = j->next;
		j->next = rest;
		rest = j;
	}
	for (j = rest; j != NULL; j = rest) {
		rest = j->next;
		if (p->state == TERMINATED)
			end_job_msg(p, j, MP_ECANCELLED, "the pool was terminated");
		else
			pending_push_front(p, j);
	}
	w->head = w->tail = NULL;
	w->queued = 0;
	mp_process_free(w->proc);
	w->proc = NULL;
	if (p->broken != NULL)
		pool_break(p); /* what came back from it fails too */
	else if (p->state == RUN || (p->state == CLOSING && p->head != NULL)) {
		int rc = start_worker(p, i);
		if (rc < 0)
			fprintf(stderr, "mproc: pool: cannot replace worker %u: %s\n",
				i, mp_strerror(rc));
	}
}

/* Can worker w take job j now? */
static bool fits(const mp_pool_t *p, const struct worker *w,
		 const struct mpi_job *j, uint64_t now)
{
	const struct worker_slot *s = &p->slots[w - p->w];

	if (!w->alive || w->stopping || w->budget < j->items)
		return false;
	if (w->queued >= p->depth)
		return false;
	/* Queue nothing behind a task that has run for long (> 1 ms): it
	 * may run for ages while another worker idles. */
	if (w->queued > 0 &&
	    __atomic_load_n(&s->current, __ATOMIC_ACQUIRE) == w->head->id &&
	    now - __atomic_load_n(&s->started, __ATOMIC_RELAXED) > 1000000)
		return false;
	/* A streamed record needs the worker reading: only to an idle one. */
	return j->rec_len <= INBOX_BYTES / 8 || w->queued == 0;
}

static void dispatch(mp_pool_t *p)
{
	struct mpi_job *j;
	bool sent = false;
	uint64_t now = p->head != NULL ? mpi_now_ns() : 0;

	while ((j = p->head) != NULL) {
		struct worker *best = NULL;
		uint64_t deadline;

		for (unsigned i = 0; i < p->n; i++) {
			struct worker *w = &p->w[i];

			if (fits(p, w, j, now) &&
			    (best == NULL || w->queued < best->queued))
				best = w;
		}
		if (best == NULL)
			break;
		deadline = j->rec_len <= INBOX_BYTES / 8
				   ? 0 /* room or not: never wait */
				   : mpi_now_ns() + 1000000000u + 20 * (uint64_t)j->rec_len;
		if (mpi_ring_put(best->args.inbox, j->rec, j->rec_len, deadline,
				 __func__) < 0) {
			/* Full or dying: leave it pending for the next round. */
			best->stopping |= j->rec_len > INBOX_BYTES / 8;
			break;
		}
		pending_unlink(p, j);
		j->state = J_RUNNING;
		if (best->tail)
			best->tail->next = j;
		else
			best->head = j;
		best->tail = j;
		best->queued++;
		best->budget -= j->items;
		sent = true;
	}
	/* A sleeping supervisor must arm the new task's timeout. */
	if (sent && p->timeout_ns &&
	    __atomic_load_n(p->sup_sleeping, __ATOMIC_SEQ_CST))
		kick(p);
	/* Retire workers whose budget the next job does not fit. */
	for (unsigned i = 0; p->head && i < p->n; i++) {
		struct worker *w = &p->w[i];
		struct task_hdr stop = {.kind = T_STOP};

		if (w->alive && !w->stopping && w->queued == 0 &&
		    w->budget < p->head->items &&
		    mpi_ring_put(w->args.inbox, &stop, sizeof(stop), 0,
				 __func__) == 0)
			w->stopping = true;
	}
}

static void take_result(mp_pool_t *p, void **rec, size_t len)
{
	struct res_hdr h;
	struct worker *w;
	struct mpi_job *j;

	if (len < sizeof(h))
		return;
	memcpy(&h, *rec, sizeof(h));
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
	end_job(p, j, h.status, (char *)*rec + sizeof(h), len - sizeof(h), rec);
}

static void drain_results(mp_pool_t *p)
{
	void *rec = NULL;
	size_t len;

	while (mpi_ring_get(p->results, &rec, 0, &len, 0, __func__) == 0) {
		take_result(p, &rec, len);
		free(rec);
		rec = NULL;
	}
}

/* ---- the supervisor ---- */

/* Kill overrunning workers; the next deadline to check. */
static uint64_t check_timeouts(mp_pool_t *p)
{
	uint64_t now = mpi_now_ns(), next = MPI_NO_DEADLINE;

	if (p->timeout_ns == 0)
		return next;
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		uint64_t end;

		if (!w->alive || w->head == NULL || w->timed_out)
			continue;
		if (__atomic_load_n(&p->slots[i].current, __ATOMIC_ACQUIRE) ==
		    w->head->id)
			end = __atomic_load_n(&p->slots[i].started,
					      __ATOMIC_RELAXED) + p->timeout_ns;
		else
			end = now + p->timeout_ns; /* not started: check later */
		if (end <= now) {
			kill_group(w);
			w->timed_out = w->head->id;
		} else if (end < next) {
			next = end;
		}
	}
	return next;
}

/* One round: returns false once the pool has stopped. */
static bool supervise(mp_pool_t *p, struct pollfd *pfd)
{
	bool any = false;

	drain_results(p);
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].alive && (pfd[i + 1].revents & POLLIN))
			worker_ended(p, i);
	dispatch(p);
	if (p->state == CLOSING && p->head == NULL)
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive && !p->w[i].stopping) {
				mpi_ring_close(p->w[i].args.inbox);
				p->w[i].stopping = true;
			}
	for (unsigned i = 0; i < p->n; i++)
		any |= p->w[i].alive;
	if (!any && p->state != RUN && (p->head == NULL || p->state == TERMINATED)) {
		p->state = STOPPED;
		p->completed = true;
		return false;
	}
	return true;
}

static void *supervisor(void *arg)
{
	mp_pool_t *p = arg;
	struct pollfd *pfd = calloc(p->n + 1, sizeof(*pfd));
	uint64_t counter;

	if (pfd == NULL) {
		fprintf(stderr, "mproc: pool: out of memory in the supervisor\n");
		abort();
	}
	mpi_pool_lock(p);
	while (supervise(p, pfd)) {
		uint64_t next = check_timeouts(p);

		for (unsigned i = 0; i < p->n; i++)
			pfd[i + 1] = (struct pollfd){
				p->w[i].alive ? mp_process_sentinel(p->w[i].proc) : -1,
				POLLIN, 0};
		pfd[0] = (struct pollfd){p->efd, POLLIN, 0};
		__atomic_store_n(p->sup_sleeping, 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < p->n; i++) /* see worker_slot.big */
			if (__atomic_load_n(&p->slots[i].big, __ATOMIC_SEQ_CST) &&
			    (next == MPI_NO_DEADLINE || next > mpi_now_ns() + 1000000))
				next = mpi_now_ns() + 1000000;
		if (mpi_ring_count(p->results) > 0 ||
		    !mpi_ring_empty(p->results)) {
			__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
			continue;
		}
		mpi_pool_unlock(p); /* runs the notifies */
		if (poll(pfd, p->n + 1, next == MPI_NO_DEADLINE
						 ? -1 : mpi_remaining_ms(next)) < 0)
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
		__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
		mpi_pool_lock(p);
		while (read(p->efd, &counter, sizeof(counter)) > 0)
			;
	}
	mpi_pool_unlock(p);
	free(pfd);
	return NULL;
}

/* ---- life cycle ---- */

mp_pool_t *mp_pool_new(const mp_pool_opts *opts)
{
	static const mp_pool_opts defaults;
	pthread_condattr_t ca;
	mp_pool_t *p;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	if (!(opts->task_timeout >= 0) || opts->task_timeout > 1e9) {
		MPI_ERR(-EINVAL, "opts->task_timeout %g is invalid", opts->task_timeout);
		return NULL;
	}
	if (opts->processes > 4096) {
		MPI_ERR(-EINVAL, "opts->processes %u is too many", opts->processes);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	p->opts = *opts;
	p->n = opts->processes ? opts->processes : (unsigned)mp_cpu_count();
	p->depth = 1;
	p->avg_ns = 1000000000; /* tasks are long until they prove short */
	p->timeout_ns = (uint64_t)(opts->task_timeout * 1e9);
	p->w = calloc(p->n, sizeof(*p->w));
	p->slots = mpi_shm_alloc(p->n * sizeof(*p->slots));
	p->sup_sleeping = mpi_shm_alloc(sizeof(*p->sup_sleeping));
	p->results = mpi_ring_new(RESULT_BYTES, 0, 0);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->done, &ca);
	pthread_condattr_destroy(&ca);
	p->thread_joined = true; /* until the thread exists */
	if (p->w == NULL || p->slots == NULL || p->sup_sleeping == NULL ||
	    p->results == NULL || p->efd < 0) {
		MPI_ERR(-ENOMEM, "cannot set up the pool");
		goto fail;
	}
	for (unsigned i = 0; i < p->n; i++)
		if ((rc = start_worker(p, i)) < 0) {
			MPI_ERR(rc, "cannot start a worker: %s", mp_strerror(rc));
			goto fail;
		}
	if ((rc = pthread_create(&p->thread, NULL, supervisor, p)) != 0) {
		MPI_ERR(-rc, "cannot start the supervisor thread");
		goto fail;
	}
	p->thread_joined = false;
	return p;
fail:
	for (unsigned i = 0; p->w && i < p->n; i++)
		if (p->w[i].proc) {
			kill_group(&p->w[i]);
			mp_process_join(p->w[i].proc, MP_FOREVER);
			mp_process_free(p->w[i].proc);
		}
	p->state = STOPPED;
	mp_pool_free(p);
	return NULL;
}

int mp_pool_close(mp_pool_t *pool)
{
	MPI_CHECK_NULL(pool);
	mpi_pool_lock(pool);
	if (pool->state == RUN)
		pool->state = CLOSING;
	mpi_pool_unlock(pool);
	kick(pool);
	return 0;
}

int mp_pool_terminate(mp_pool_t *pool)
{
	struct mpi_job *j;

	MPI_CHECK_NULL(pool);
	mpi_pool_lock(pool);
	if (pool->state != STOPPED) {
		pool->state = TERMINATED;
		while ((j = pool->head) != NULL) {
			pending_unlink(pool, j);
			end_job_msg(pool, j, MP_ECANCELLED, "the pool was terminated");
		}
		for (unsigned i = 0; i < pool->n; i++)
			if (pool->w[i].alive)
				kill_group(&pool->w[i]);
	}
	mpi_pool_unlock(pool);
	kick(pool);
	return 0;
}

static bool stopped(void *arg)
{
	return ((mp_pool_t *)arg)->state == STOPPED;
}

int mp_pool_join(mp_pool_t *pool, double timeout)
{
	uint64_t deadline;
	bool join;
	int rc;

	MPI_CHECK_NULL(pool);
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	mpi_pool_lock(pool);
	if (pool->state == RUN) {
		mpi_pool_unlock(pool);
		return MPI_ERR(-EINVAL, "Pool is still running (close or "
					"terminate it first)");
	}
	rc = mpi_pool_wait(pool, stopped, pool, deadline);
	join = rc == 0 && !pool->thread_joined;
	if (join)
		pool->thread_joined = true;
	mpi_pool_unlock(pool);
	if (rc < 0)
		return MPI_ERR(rc, "workers still running after %gs", timeout);
	if (join)
		pthread_join(pool->thread, NULL);
	return 0;
}

void mp_pool_free(mp_pool_t *pool)
{
	if (pool == NULL)
		return;
	if (!pool->thread_joined) {
		mp_pool_terminate(pool);
		mp_pool_join(pool, MP_FOREVER);
	}
	for (unsigned i = 0; pool->w && i < pool->n; i++)
		if (pool->w[i].args.inbox)
			mpi_ring_free(pool->w[i].args.inbox);
	if (pool->results)
		mpi_ring_free(pool->results);
	mpi_shm_free(pool->slots);
	mpi_shm_free(pool->sup_sleeping);
	if (pool->efd >= 0)
		close(pool->efd);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->done);
	free(pool->broken);
	free(pool->w);
	free(pool);
}
