/*
 * pool/engine.c - jobs, dispatch, the workers and the supervisor (design
 * notes in pool_int.h); the pool's life cycle is in life.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/cond.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/procfs.h"
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

static bool inq_take(mp_pool_t *p);
static void dispatch(mp_pool_t *p);

/* Whoever takes the lock first takes what was handed over (mp__pool_handoff)
 * and dispatches it: under the lock, a job handed over before is pending
 * or dispatched, as if it had been submitted under the lock. */
void mp__pool_lock(mp_pool_t *p)
{
	pthread_mutex_lock(&p->lock);
	if (inq_take(p))
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

static void end_job(mp_pool_t *p, struct mp__job *j, int status,
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
	end_job(p, j, status, msg, strlen(msg), NULL);
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
static bool inq_take(mp_pool_t *p)
{
	struct mp__job *j = __atomic_load_n(&p->inq, __ATOMIC_RELAXED);

	/* Only locked code takes or seals: j cannot become either. */
	if (j == NULL || j == INQ_SEALED)
		return false;
	inq_enqueue(p, __atomic_exchange_n(&p->inq, NULL, __ATOMIC_ACQUIRE));
	return true;
}

/* Is anything handed over and not taken yet?  (seq_cst: see handoff) */
static bool inq_waiting(mp_pool_t *p)
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

/* ---- workers (locked) ---- */

/* The jobs in w's FIFO that it never started go back to the front of the
 * pending list, in order; one killed by its owner, or of a terminated or
 * broken pool, ends instead. */
static void requeue_fifo(mp_pool_t *p, struct worker *w)
{
	struct mp__job *j, *rest;

	for (rest = NULL, j = w->head; j != NULL; j = w->head) {
		w->head = j->next;
		j->next = rest;
		rest = j;
	}
	for (j = rest; j != NULL; j = rest) {
		rest = j->next;
		if (j->id == w->killed)
			mp__pool_end_job_msg(p, j, MP_ECANCELLED,
					     "the task was killed");
		else if (p->state == TERMINATED)
			mp__pool_end_job_msg(p, j, MP_ECANCELLED,
					     "the pool was terminated");
		else if (p->broken[0])
			mp__pool_end_job_msg(p, j, MP_EBROKEN, p->broken);
		else
			mp__pool_pending_push(p, j, true);
	}
	w->head = w->tail = NULL;
	w->queued = 0;
}

/*
 * Put the next pending job into the inbox of worker w, prepared and not
 * started yet: the fresh worker (a replacement, e.g. maxtasksperchild=1)
 * finds it at once instead of waiting for a round of the supervisor.  It
 * is in w's FIFO like any dispatched job: if the start fails or the worker
 * dies before taking it, it goes back to the pending list (requeue_fifo;
 * the inbox is not reused, see mp__pool_inbox).
 */
static void preplace(mp_pool_t *p, struct worker *w)
{
	struct mp__job *j = p->head;

	if (j == NULL || (p->state != RUN && p->state != CLOSING) ||
	    w->budget < j->items || j->rec_len > INBOX_BYTES / 8 ||
	    mp__ring_put(w->args.inbox, j->rec, j->rec_len, 0) < 0)
		return;
	mp__pool_assign(p, w, j);
}


/* Worker i's inbox, slot and process object, not started yet: 0 or a
 * code (locked, or before the supervisor runs). */
static int prepare_worker(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mp__ring *inbox = mp__pool_inbox(w); /* launch.c */

	mp__free(w->blob);
	p->slots[i] = (struct worker_slot){0};
	*w = (struct worker){
		.args = {.inbox = inbox,
			 .results = p->results, .slot = &p->slots[i],
			 .sup_sleeping = p->sup_sleeping, .efd = p->efd,
			 .index = i, .maxtasks = p->opts.maxtasksperchild,
			 .initializer = p->opts.initializer,
			 .initarg = p->opts.initarg},
		.budget = p->opts.maxtasksperchild ? p->opts.maxtasksperchild
						   : UINT64_MAX};
	if (w->args.inbox == NULL)
		return -ENOMEM;
	return mp__pool_worker_proc(p, w); /* launch.c: by the start method */
}

/* Start a prepared worker's process: 0, or a code. */
static int start_process(mp_process_t *proc)
{
	return mp_process_start(proc) < 0 ? mp_last_error_code() : 0;
}

/* What a start gave (locked): alive, or no process. */
static void start_taken(struct worker *w, int rc)
{
	if (rc == 0) {
		w->alive = true;
		return;
	}
	mp_process_free(w->proc);
	w->proc = NULL;
}

int mp__pool_start_worker(mp_pool_t *p, unsigned i)
{
	int rc = prepare_worker(p, i);

	if (rc == 0)
		start_taken(&p->w[i], rc = start_process(p->w[i].proc));
	return rc;
}

void mp__pool_kill_worker(struct worker *w)
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

/* No worker can start: every queued and pending job fails. */
static void pool_break(mp_pool_t *p)
{
	const char *why = p->broken;
	struct mp__job *j;

	mp__pool_seal(p);
	for (unsigned k = 0; k < p->n; k++) {
		struct worker *w = &p->w[k];

		if (w->alive || w->starting)
			continue; /* a live (or starting) worker still runs
				   * its queue; a failed start fails it */
		while ((j = w->head) != NULL) {
			w->head = j->next;
			mp__pool_end_job_msg(p, j, MP_EBROKEN, why);
		}
		w->tail = NULL;
		w->queued = 0;
	}
	mp__pool_fail_pending(p, MP_EBROKEN, why);
}

/* Is there work for a replacement worker? */
static bool wants_workers(const mp_pool_t *p)
{
	return p->broken[0] == '\0' &&
	       (p->state == RUN || (p->state == CLOSING && p->head != NULL));
}

void (*mp__pool_start_hook)(void);

/* The first worker marked starting and not yet started, or NULL. */
static struct worker *to_start(mp_pool_t *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].starting && !p->w[i].started)
			return &p->w[i];
	return NULL;
}

/* Start w (locked; the lock is released meanwhile, by the supervisor with
 * its completions told first) and leave the outcome for starts_done. */
static void start_one(mp_pool_t *p, struct worker *w, bool supervisor)
{
	void (*hook)(void) = __atomic_load_n(&mp__pool_start_hook,
					     __ATOMIC_ACQUIRE);
	mp_process_t *proc = w->proc;
	int rc;

	if (supervisor)
		mp__pool_unlock(p);
	else
		pthread_mutex_unlock(&p->lock); /* no job ended here */
	if (hook)
		hook();
	rc = start_process(proc);
	if (supervisor)
		mp__pool_lock(p);
	else
		pthread_mutex_lock(&p->lock);
	w->start_rc = rc;
	w->started = true;
}

/*
 * The starter thread: starts the workers marked starting, without the
 * lock, and leaves each outcome for the supervisor (started, start_rc).  A
 * fork copies the page tables of the whole program and waits for the
 * child's setup (some 0.2-5 ms here, more for a big program): on the
 * supervisor it would hold up the notice of every other worker's death
 * meanwhile.  It lives as long as the supervisor: a worker dies with the
 * thread that started it (mp__die_with_parent).  Not for forkserver
 * workers: see start_here.
 */
static void *starter(void *arg)
{
	mp_pool_t *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct worker *w = to_start(p);

		if (w == NULL) {
			if (p->starter_quit)
				break;
			pthread_cond_wait(&p->start_cond, &p->lock);
			continue;
		}
		start_one(p, w, false);
		mp__pool_kick(p);
	}
	pthread_mutex_unlock(&p->lock); /* no job ended: nothing to notify */
	return NULL;
}

/* futex_waitv takes at most this many words: the watcher's, and the life
 * words of the first WATCH_MAX - 1 workers (the others are seen by their
 * pidfds only). */
enum { WATCH_MAX = FUTEX_WAITV_MAX };

static void worker_dying(mp_pool_t *p, unsigned i);

/* The watcher's unlock: the notifies of the jobs it ended (callbacks,
 * futures' done callbacks) are the supervisor's, which runs them one at a
 * time: wake it for them. */
static void watcher_unlock(mp_pool_t *p)
{
	if (p->nhead != NULL || p->completed)
		mp__pool_kick(p);
	pthread_mutex_unlock(&p->lock);
}

/*
 * The watcher thread: sleeps in futex_waitv on the workers' life words
 * (mp__life_word) and on p->watcher_gen, and at each wake looks (locked)
 * for a word that says its owner died (worker_dying).  A word is waited on
 * with the value it had at the look; a new worker's lock changes it
 * without a wake, which does not matter: the kernel wakes whoever sleeps
 * on the word's address when the owner dies, whatever value the sleeper
 * expected.  It ends when the supervisor does (watcher_join), or at once
 * where futex_waitv is missing (Linux < 5.16).
 */
static void *watcher(void *arg)
{
	mp_pool_t *p = arg;
	unsigned n = p->n < WATCH_MAX - 1 ? p->n : WATCH_MAX - 1;
	struct futex_waitv wv[WATCH_MAX];

	mp__pool_lock(p);
	while (!p->watcher_quit) {
		long rc;

		for (unsigned i = 0; i < n; i++) {
			uint32_t *word = mp__life_word(&p->slots[i]);
			uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);

			if (v & FUTEX_OWNER_DIED)
				worker_dying(p, i);
			wv[i] = (struct futex_waitv){
				.val = v, .uaddr = (uintptr_t)word,
				.flags = FUTEX_32};
		}
		wv[n] = (struct futex_waitv){.val = p->watcher_gen,
					     .uaddr = (uintptr_t)&p->watcher_gen,
					     .flags = FUTEX_32};
		watcher_unlock(p);
		rc = syscall(SYS_futex_waitv, wv, n + 1, 0, NULL, 0);
		mp__pool_lock(p);
		if (rc < 0 && errno != EAGAIN && errno != EINTR)
			break; /* no futex_waitv: the pidfds will do */
	}
	watcher_unlock(p);
	return NULL;
}

static void watcher_start(mp_pool_t *p)
{
	p->watcher_unjoined = pthread_create(&p->watcher, NULL, watcher, p) == 0;
}

/* Stop the watcher thread (locked; gives the lock back for the join). */
static void watcher_join(mp_pool_t *p)
{
	if (!p->watcher_unjoined)
		return;
	p->watcher_unjoined = false;
	p->watcher_quit = true;
	__atomic_fetch_add(&p->watcher_gen, 1, __ATOMIC_RELEASE);
	mp__futex_wake(&p->watcher_gen, 1);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->watcher, NULL);
	pthread_mutex_lock(&p->lock);
}

/*
 * A forkserver worker's start is a request to the fork server, which
 * forks a small process of its own: the program's size does not matter,
 * and the round trip is shorter than the two thread hops to a starter
 * thread and back (which also cost CPU: 10 context switches per task of a
 * maxtasksperchild=1 pool against 6).  So the supervisor makes those
 * starts itself, between rounds, the lock released meanwhile: true if it
 * made any (their outcomes are for the next round).
 */
static bool start_here(mp_pool_t *p)
{
	struct worker *w;
	bool any = false;

	if (!p->inline_starts)
		return false;
	while ((w = to_start(p)) != NULL) {
		start_one(p, w, true);
		any = true;
	}
	return any;
}

/* Stop the starter thread (locked; gives the lock back for the join). */
static void starter_join(mp_pool_t *p)
{
	if (!p->starter_unjoined)
		return;
	p->starter_unjoined = false;
	p->starter_quit = true;
	pthread_cond_signal(&p->start_cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->starter, NULL);
	pthread_mutex_lock(&p->lock);
}

/* What a failed start of worker i leaves: a retry every START_RETRY_NS;
 * once MAX_START_FAILURES in a row leave the pool without any live worker,
 * the pool is broken: its jobs fail with the reason instead of waiting for
 * ever.  The library never prints. */
static void start_failed(mp_pool_t *p, unsigned i, int rc)
{
	bool any = false;

	if (rc == MP_ECLOSED)
		return; /* the program is exiting (mp__exit_cleanup) */
	p->w[i].respawn = true;
	for (unsigned k = 0; k < p->n; k++)
		any |= p->w[k].alive || p->w[k].starting;
	if (++p->start_failures >= MAX_START_FAILURES && !any) {
		snprintf(p->broken, sizeof(p->broken), "the pool is broken: no "
			 "worker can be started (%s)", mp_strerror(rc));
		pool_break(p);
		return;
	}
	p->respawn_at = mp__now_ns() + START_RETRY_NS;
}

/* Start worker i again, in the starter thread (see starter). */
static void replace_worker(mp_pool_t *p, unsigned i)
{
	int rc = prepare_worker(p, i);

	if (rc < 0) {
		start_failed(p, i, rc);
		return;
	}
	p->w[i].starting = true;
	preplace(p, &p->w[i]);
	if (p->inline_starts)
		return; /* start_here, before the supervisor sleeps */
	if (p->starter_unjoined) {
		pthread_cond_signal(&p->start_cond);
		return;
	}
	if ((rc = pthread_create(&p->starter, NULL, starter, p)) != 0) {
		mp_process_free(p->w[i].proc);
		p->w[i].proc = NULL;
		p->w[i].starting = false;
		requeue_fifo(p, &p->w[i]);
		start_failed(p, i, -rc);
		return;
	}
	p->starter_unjoined = true;
}

/*
 * A failed start of worker w: the jobs preplace gave it go back by
 * requeue_fifo, each read back out of its inbox first.  A start can fail
 * with a child that ran a moment (a fork whose pidfd could not be opened
 * is killed then): a job no longer in the inbox may have been taken by
 * it, so it fails rather than run twice.
 */
static void start_undone(mp_pool_t *p, struct worker *w)
{
	struct mp__job *back = NULL, *j;

	while (w->head != NULL && mp__pool_unqueue(w, &j) == 0)
		if (j != NULL) {
			j->next = back;
			back = j;
		}
	while ((j = w->head) != NULL) {
		w->head = j->next;
		mp__pool_end_job_msg(p, j, MP_EBROKEN, "the worker's start "
				     "failed after it took the task");
	}
	for (; back != NULL; back = j) { /* back is last read first */
		j = back->next;
		back->next = w->head;
		w->head = back;
	}
	requeue_fifo(p, w);
}

/* Take the outcomes of the starts the starter thread made. */
static void starts_done(mp_pool_t *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (!w->started)
			continue;
		w->starting = w->started = false;
		start_taken(w, w->start_rc);
		if (w->start_rc < 0) {
			start_undone(p, w); /* what preplace gave it */
			start_failed(p, i, w->start_rc);
			continue;
		}
		p->start_failures = 0;
		/* Terminated, or its job killed, meanwhile (mp__pool_kill_job). */
		if (p->state == TERMINATED || w->killed)
			mp__pool_kill_worker(w);
	}
}

/* Retry the starts that failed, once their time has come. */
static void retry_starts(mp_pool_t *p)
{
	if (p->respawn_at == 0 || mp__now_ns() < p->respawn_at)
		return;
	p->respawn_at = 0;
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].respawn && !p->w[i].alive && !p->w[i].starting) {
			p->w[i].respawn = false;
			if (wants_workers(p))
				replace_worker(p, i);
		}
}

/* Job j, which dead worker w had started (or was killed for), fails:
 * code is how w ended (mp_process_exitcode's). */
static void fail_started(mp_pool_t *p, struct worker *w, struct mp__job *j,
			 int code)
{
	int status = MP_EBROKEN;
	char msg[200];

	if (w->killed == j->id) {
		status = MP_ECANCELLED;
		snprintf(msg, sizeof(msg), "the task was killed");
	} else if (p->forced) {
		describe_death(w->proc, code, msg, sizeof(msg));
	} else if (p->state == TERMINATED) {
		status = MP_ECANCELLED;
		snprintf(msg, sizeof(msg), "the pool was terminated");
	} else if (w->timed_out == j->id) {
		status = -ETIMEDOUT;
		snprintf(msg, sizeof(msg), "task timed out after %gs; its "
			 "worker was killed", p->opts.task_timeout);
	} else {
		describe_death(w->proc, code, msg, sizeof(msg));
	}
	mp__pool_end_job_msg(p, j, status, msg);
}

/*
 * How process pid, which has begun to exit, ends (as mp_process_exitcode
 * says once it is reaped: -signal or the exit status), read in its
 * /proc/<pid>/stat: 0 with *code, or -1 when it cannot be read or says 0
 * (not set yet, or a plain exit(0): the pidfd will tell).
 */
static int exit_code_early(pid_t pid, int *code)
{
	char path[32], buf[1024];
	ssize_t n;
	int fd, st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) < 0 && errno == EINTR)
		;
	close(fd);
	if (n <= 0 || mp__parse_stat_exit_code(buf, (size_t)n, &st) < 0 ||
	    st == 0)
		return -1;
	*code = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
	return 0;
}

/*
 * Worker i's life word says its thread has exited (FUTEX_OWNER_DIED): the
 * kernel is about to free its memory, and the pidfd will fire only after
 * that.  If it had started a job whose result has not come, and it exits
 * with a signal or a status other than 0, fail the job now, requeue the
 * ones behind it and give it no more; the pidfd's notice (worker_ended)
 * reaps and replaces it.  It is SIGKILLed (not its group): the thread that
 * ran its loop is gone, and another one could keep the process alive.
 * Anything else (a worker between jobs, exit(0), stat unreadable) waits
 * for the pidfd, as without the watcher.
 */
static void worker_dying(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mp__job *j;
	int code;

	if (!w->alive || w->told)
		return;
	mp__pool_drain_results(p); /* its last results came before its death */
	if ((j = w->head) == NULL ||
	    __atomic_load_n(&p->slots[i].current, __ATOMIC_ACQUIRE) != j->id ||
	    exit_code_early(mp_process_pid(w->proc), &code) < 0)
		return;
	w->told = w->stopping = true;
	w->head = j->next;
	fail_started(p, w, j, code);
	kill(mp_process_pid(w->proc), SIGKILL); /* not reaped: still its pid */
	requeue_fifo(p, w); /* it takes none of them now */
	dispatch(p);
}

/* A worker ended: fail the job it had started, requeue the others, and
 * replace it if there is work for it. */
static void worker_ended(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mp__job *j;
	char msg[200];
	bool failed = w->told; /* for the respawn delay */
	int code = 0;

	mp__pool_drain_results(p); /* its last results came before its death */
	mp_process_join(w->proc, 0);
	mp_process_exitcode(w->proc, &code);
	w->alive = false;
	w->inbox_clean = code == 0 && w->head == NULL; /* see mp__pool_inbox */
	if (p->opts.initializer != NULL && p->state == RUN &&
	    !__atomic_load_n(&p->slots[i].ready, __ATOMIC_ACQUIRE) &&
	    ++p->init_failures >= MAX_INIT_FAILURES && !p->broken[0]) {
		describe_death(w->proc, code, msg, sizeof(msg));
		snprintf(p->broken, sizeof(p->broken), "the pool is broken: "
			 "its workers die in the initializer (%s)", msg);
		pool_break(p);
	}
	if ((j = w->head) != NULL &&
	    (__atomic_load_n(&p->slots[i].current, __ATOMIC_ACQUIRE) == j->id ||
	     w->killed == j->id)) {
		w->head = j->next;
		fail_started(p, w, j, code);
		failed = true;
	}
	/* The rest never started: back to the front, in order. */
	requeue_fifo(p, w);
	mp_process_free(w->proc);
	w->proc = NULL;
	if (p->broken[0]) {
		pool_break(p); /* what came back from it fails too */
	} else if (wants_workers(p)) {
		/* Started in a later round (retry_starts), once the failed
		 * job's waiter has been told and has had time to run: a fork
		 * stalls the program's other threads while it copies the
		 * address space. */
		uint64_t at = mp__now_ns() + (failed ? RESPAWN_DELAY_NS : 0);

		w->respawn = true;
		if (p->respawn_at == 0 || p->respawn_at > at)
			p->respawn_at = at;
	}
}

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
static uint64_t reclaim(mp_pool_t *p)
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
	} else { /* its worker has taken it */
		w->killed = j->id;
		if (w->alive) /* else starts_done kills it once started */
			mp__pool_kill_worker(w);
	}
	dispatch(p);
	return 1;
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
	if (h.status != 0 && h.status != MP_ETASK) /* a worker sends only these */
		mp__pool_end_job_msg(p, j, -EPROTO,
				     "a worker sent a malformed result");
	else
		end_job(p, j, h.status, (const char *)data + sizeof(h),
			len - sizeof(h), rec);
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

/* ---- the supervisor ---- */

/* Kill overrunning workers; the next deadline to check. */
static uint64_t check_timeouts(mp_pool_t *p)
{
	uint64_t now = mp__now_ns(), next = MP__NO_DEADLINE;

	if (p->timeout_ns == MP__NO_DEADLINE)
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
			mp__pool_kill_worker(w);
			w->timed_out = w->head->id;
		} else if (end < next) {
			next = end;
		}
	}
	return next;
}

/* How often a worker whose sentinel hung up early is looked at. */
enum { DEAF_TICK_NS = 10000000 };

/*
 * Has worker i ended?  Its sentinel says so (a pidfd's POLLIN).  Without
 * pidfds the sentinel is an exit pipe (POLLHUP), which a worker that closed
 * its fds or exec'd hangs up early: then check the pid, and from then on
 * poll that worker by time (deaf[i] = its process).
 */
static bool worker_gone(mp_pool_t *p, unsigned i, short revents,
			mp_process_t **deaf)
{
	mp_process_t *proc = p->w[i].proc;

	if (!p->w[i].alive)
		return false;
	if (mp__have_pidfd())
		return revents & POLLIN;
	if (!(revents & (POLLIN | POLLHUP)) && deaf[i] != proc)
		return false;
	if (mp_process_is_alive(proc) == 0)
		return true;
	deaf[i] = proc;
	return false;
}

/* One round: returns false once the pool has stopped.  *next: when to
 * look at the queues behind running tasks again (see reclaim). */
static bool supervise(mp_pool_t *p, struct pollfd *pfd, mp_process_t **deaf,
		      uint64_t *next)
{
	bool any = false;

	starts_done(p);
	retry_starts(p); /* before deaths: see worker_ended */
	mp__pool_drain_results(p);
	for (unsigned i = 0; i < p->n; i++)
		if (worker_gone(p, i, pfd[i + 1].revents, deaf))
			worker_ended(p, i);
	*next = reclaim(p);
	inq_take(p);
	dispatch(p);
	if (p->state == CLOSING && p->head == NULL)
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive && !p->w[i].stopping) {
				mp__ring_close(p->w[i].args.inbox);
				p->w[i].stopping = true;
			}
	for (unsigned i = 0; i < p->n; i++)
		any |= p->w[i].alive || p->w[i].starting;
	if (!any && p->state != RUN && (p->head == NULL || p->state == TERMINATED)) {
		p->state = STOPPED;
		p->completed = true;
		return false;
	}
	return true;
}

void *mp__pool_supervisor(void *arg)
{
	mp_pool_t *p = arg;
	struct pollfd *pfd = p->pfd;
	mp_process_t **deaf = p->deaf;
	uint64_t counter, again;

	mp__pool_lock(p);
	watcher_start(p);
	while (supervise(p, pfd, deaf, &again)) {
		uint64_t next;

		if (start_here(p)) { /* take the outcomes at once */
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd)); /* stale */
			continue;
		}
		next = check_timeouts(p);

		if (p->respawn_at != 0 && p->respawn_at < next)
			next = p->respawn_at;
		if (again < next)
			next = again;

		for (unsigned i = 0; i < p->n; i++) {
			bool watch = p->w[i].alive && deaf[i] != p->w[i].proc;

			pfd[i + 1] = (struct pollfd){
				watch ? mp_process_sentinel(p->w[i].proc) : -1,
				POLLIN, 0};
			if (p->w[i].alive && !watch && /* see worker_gone */
			    (next == MP__NO_DEADLINE ||
			     next > mp__now_ns() + DEAF_TICK_NS))
				next = mp__now_ns() + DEAF_TICK_NS;
		}
		pfd[0] = (struct pollfd){p->efd, POLLIN, 0};
		__atomic_store_n(p->sup_sleeping, 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < p->n; i++) /* see worker_slot.big */
			if (__atomic_load_n(&p->slots[i].big, __ATOMIC_SEQ_CST) &&
			    (next == MP__NO_DEADLINE || next > mp__now_ns() + 1000000))
				next = mp__now_ns() + 1000000;
		if (!mp__ring_empty(p->results) || inq_waiting(p)) {
			__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
			continue;
		}
		mp__pool_unlock(p); /* runs the notifies */
		if (poll(pfd, p->n + 1, next == MP__NO_DEADLINE
						 ? -1 : mp__remaining_ms(next)) < 0)
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
		__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
		mp__pool_lock(p);
		while (read(p->efd, &counter, sizeof(counter)) > 0)
			;
	}
	starter_join(p);
	watcher_join(p);
	mp__pool_unlock(p);
	return NULL;
}

/* ---- a remote pool's backend (mproc/backend.h) ---- */

size_t mp__pool_take(mp_pool_t *p, size_t max, mp_backend_job_t *jobs)
{
	struct mp__job *j;
	size_t k = 0;

	mp__pool_lock(p);
	/* CLOSING still runs what was queued before the close. */
	while (k < max && (p->state == RUN || p->state == CLOSING) &&
	       (j = p->head) != NULL) {
		struct task_hdr h;

		memcpy(&h, j->rec, sizeof(h));
		mp__pool_pending_unlink(p, j);
		j->state = J_RUNNING;
		jobs[k++] = (mp_backend_job_t){
			.handle = j, .fn = (uintptr_t)h.fn,
			.kind = h.kind == T_MAP ? MP_BACKEND_MAP : MP_BACKEND_APPLY,
			.count = h.count, .in_size = h.in_size,
			.out_size = h.out_size,
			.in = j->rec + sizeof(h),
			.in_len = j->rec_len - sizeof(h)};
	}
	mp__pool_unlock(p);
	return k;
}

void mp__pool_end(mp_pool_t *p, void *handle, int status, const void *data,
		  size_t len)
{
	struct mp__job *j = handle;

	mp__pool_lock(p);
	if (j->state == J_RUNNING)
		end_job(p, j, status, data, len, NULL);
	mp__pool_unlock(p);
}

int mp__pool_remote_state(mp_pool_t *p)
{
	int st;

	mp__pool_lock(p);
	st = p->state == RUN ? MP_BACKEND_RUN
	     : p->state == CLOSING ? MP_BACKEND_CLOSING
	     : p->state == STOPPED ? MP_BACKEND_STOPPED
	     : p->forced ? MP_BACKEND_KILLED : MP_BACKEND_TERMINATED;
	mp__pool_unlock(p);
	return st;
}

void mp__pool_remote_stopped(mp_pool_t *p)
{
	mp__pool_lock(p);
	mp__pool_seal(p);
	mp__pool_fail_pending(p, MP_ECANCELLED, "the task was cancelled");
	p->state = STOPPED;
	p->completed = true;
	mp__pool_unlock(p);
}

void mp__pool_remote_break(mp_pool_t *p, const char *msg)
{
	mp__pool_lock(p);
	if (!p->broken[0])
		snprintf(p->broken, sizeof(p->broken), "%s", msg);
	mp__pool_seal(p);
	mp__pool_fail_pending(p, MP_EBROKEN, p->broken);
	mp__pool_unlock(p);
}
