/*
 * pool/workers.c - the workers' lives, as the supervisor sees them:
 * prepare, start (the starter thread, or the supervisor for forkserver
 * workers) and replace a worker, retry failed starts, notice its death
 * (the watcher thread on its robust life lock, then its pidfd) and fail or
 * requeue its jobs; a pool whose workers cannot start breaks (design notes
 * in pool_int.h).  The worker process's own loop is worker.c, its start
 * method launch.c, jobs and dispatch engine.c, the supervisor loop supervisor.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/procfs.h"
#include "pool/pool_int.h"
#include "process/process_int.h"

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

/* The slot's life lock, for the worker to take (hold_life in worker.c): a
 * robust, process-shared mutex; left a plain one (never armed) should the
 * C library refuse that. */
static void init_life(struct worker_slot *s)
{
	pthread_mutexattr_t a;

	if (pthread_mutexattr_init(&a) != 0)
		return;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&s->life, &a) != 0)
		memset(&s->life, 0, sizeof(s->life));
	pthread_mutexattr_destroy(&a);
}

/* Worker i's inbox, slot and process object, not started yet: 0 or a
 * code (locked, or before the supervisor runs). */
static int prepare_worker(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mp__ring *inbox = mp__pool_inbox(w); /* launch.c */

	mp__free(w->blob);
	p->slots[i] = (struct worker_slot){0};
	init_life(&p->slots[i]);
	*w = (struct worker){
		.args = {.inbox = inbox,
			 .results = p->results, .slot = &p->slots[i],
			 .sup_sleeping = p->sup_sleeping, .efd = p->efd,
			 .index = i, .maxtasks = p->opts.maxtasksperchild,
			 .untimed = p->opts.maxtasksperchild == 1 &&
				    p->timeout_ns == MP__NO_DEADLINE,
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

/* Start w, or make its heir (w->heir) its process (locked; the lock is
 * released meanwhile, by the supervisor with its completions told first),
 * and leave the outcome for starts_done. */
static void start_one(mp_pool_t *p, struct worker *w, bool supervisor)
{
	void (*hook)(void) = __atomic_load_n(&mp__pool_start_hook,
					     __ATOMIC_ACQUIRE);
	mp_process_t *proc = w->proc;
	pid_t heir = w->heir;
	int rc;

	w->heir = 0;
	if (supervisor)
		mp__pool_unlock(p);
	else
		pthread_mutex_unlock(&p->lock); /* no job ended here */
	if (hook)
		hook();
	if (heir == 0 || mp__pool_adopt_heir(w, heir) < 0)
		rc = start_process(proc);
	else
		rc = 0;
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
		/* No futex_waitv (before Linux 5.16): the pidfds will do,
		 * except for a worker whose main thread ended while another
		 * of its threads lives (a pidfd waits for the last one). */
		if (rc < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	watcher_unlock(p);
	return NULL;
}

void mp__pool_watcher_start(mp_pool_t *p)
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
bool mp__pool_start_here(mp_pool_t *p)
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

void mp__pool_threads_join(mp_pool_t *p)
{
	starter_join(p);
	watcher_join(p);
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

/* Start worker i again, in the starter thread (see starter), or make
 * heir (if not 0) its process. */
static void replace_worker(mp_pool_t *p, unsigned i, pid_t heir)
{
	int rc = prepare_worker(p, i);

	if (rc < 0) {
		mp__pool_drop_heir(heir);
		start_failed(p, i, rc);
		return;
	}
	p->w[i].heir = heir;
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
void mp__pool_starts_done(mp_pool_t *p)
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
void mp__pool_retry_starts(mp_pool_t *p)
{
	if (p->respawn_at == 0 || mp__now_ns() < p->respawn_at)
		return;
	p->respawn_at = 0;
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].respawn && !p->w[i].alive && !p->w[i].starting) {
			p->w[i].respawn = false;
			if (wants_workers(p))
				replace_worker(p, i, 0);
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
	mp__pool_dispatch(p);
}

/*
 * A worker that ran its last task (maxtasksperchild) left its slot before
 * it sent that task's result (worker_slot.gone): its life lock unlocked,
 * its inbox no longer read.  So it is replaced now, while it exits, rather
 * than once its pidfd says it has: the exit (the teardown of its address
 * space, tens of microseconds) is off the slot's path.  Its process goes
 * to p->retired, reaped by mp__pool_reap_retired; nothing of it counts
 * any more (its jobs are done; how it exits does not matter).  Only with
 * pidfds (a retiree's sentinel must not hang up before its end).
 */
void mp__pool_retire(mp_pool_t *p)
{
	pid_t heir;

	for (unsigned i = 0; p->opts.maxtasksperchild && i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (!w->retiring)
			continue;
		w->retiring = false;
		if (!w->alive || !mp__have_pidfd() ||
		    p->nretired == RETIRED_PER_WORKER * p->n)
			continue; /* the pidfd's notice will do */
		p->retired[p->nretired++] = w->proc;
		w->proc = NULL;
		w->alive = false;
		w->inbox_clean = true;
		heir = mp__pool_take_heir(p, i);
		if (wants_workers(p))
			replace_worker(p, i, heir);
		else
			mp__pool_drop_heir(heir);
	}
}

void mp__pool_reap_retired(mp_pool_t *p)
{
	for (unsigned k = 0; k < p->nretired;) {
		mp_process_t *proc = p->retired[k];

		if (mp_process_is_alive(proc) != 0) {
			k++;
			continue;
		}
		mp_process_join(proc, 0);
		mp_process_free(proc);
		p->retired[k] = p->retired[--p->nretired];
	}
}

/* A worker ended: fail the job it had started, requeue the others, and
 * replace it if there is work for it. */
void mp__pool_worker_ended(mp_pool_t *p, unsigned i)
{
	struct worker *w = &p->w[i];
	struct mp__job *j;
	char msg[200];
	bool failed = w->told; /* for the respawn delay */
	int code = 0;

	mp__pool_drain_results(p); /* its last results came before its death */
	mp__pool_drop_heir(mp__pool_take_heir(p, i));
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
