/*
 * pool/pool_int.h - the worker engine shared by the Pool and Executor faces.
 *
 * Design notes.
 * - Each worker is a daemonic mp_process in a process group of its own,
 *   reading an inbox ring (internal/ring.h) of its own; all workers post
 *   results to one result ring.  A job (an apply task, a map chunk, a chunk
 *   of imap items) is a record: struct task_hdr and its input (wire.h).
 * - Jobs go into the inboxes (under pool->lock), at most `depth` per
 *   worker: 1 while tasks seem long (2 for a lone worker, which no other
 *   worker could relieve), more once they prove short, so tiny tasks stream
 *   while long ones still balance.  What does not fit waits in
 *   the pending list (doubly linked: cancel is O(1)).  Single calls
 *   (apply_async, submit) take no lock: they push the job on a lock-free
 *   list (p->inq) that the supervisor takes whole, in one exchange, at its
 *   next round; a caller that finds the supervisor asleep takes the list
 *   and dispatches it itself (no wake, no thread hop).  Batches, maps and
 *   cancels take the list first, so jobs keep the order they came in.
 * - Jobs queued behind a task that has run for LONG_NS are taken back: the
 *   supervisor reads them out of that inbox itself (the ring has many
 *   consumers: each job is read once, by its worker or by us) and puts
 *   them back at the front of the pending list (engine.c, mp__pool_reclaim).
 * - Each worker's jobs form a FIFO in the parent, matching its inbox, and
 *   its shared slot says which job it has started and when.  So when a
 *   worker dies, the job it had started fails (MP_EBROKEN, or -ETIMEDOUT if
 *   the supervisor killed it for overrunning) and the ones behind it go
 *   back to the front of the pending list: none is lost, none runs twice.
 * - A worker's death is first seen by a watcher thread (workers.c): each
 *   worker holds a robust lock in its slot, and the kernel wakes the
 *   watcher as it releases a dead thread's robust locks, before it frees
 *   the dead process's memory (some ms for a fork of a big program; the
 *   pidfd fires only after).  The watcher fails the task the worker had started (its
 *   signal read in /proc) and requeues the rest; the pidfd still reaps it.
 * - One supervisor thread drains results, watches the workers' pidfds and
 *   the task timeouts, refills inboxes and replaces dead or retired
 *   workers; the starts themselves (a fork: copying the program's page
 *   tables, then the child's setup) run in a starter thread, so that a
 *   slow start never delays the notice of another worker's death; a
 *   forkserver start (a short request: the server forks) is made by the
 *   supervisor itself, between rounds (workers.c, start_here).  A
 *   replacement gets the next pending job into its inbox before its start
 *   (workers.c, preplace), in its FIFO like any job: a failed start or a
 *   death before it takes the job puts the job back.  It
 *   sleeps in poll(); a worker writes the eventfd only when the supervisor
 *   said it sleeps (seq_cst flag against the ring's seq_cst tail), so a
 *   busy pool makes no syscall per task.
 * - Job owners (results, map jobs, imap iterators) get ops->complete under
 *   the lock and, if it asks, ops->notify after the lock is released: user
 *   callbacks never run with the lock held.
 */
#ifndef MPROC_POOL_INT_H
#define MPROC_POOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal/alloc.h"
#include "internal/ring.h"
#include "pool/wire.h"
#include "mproc/backend.h"
#include "mproc/executor.h"
#include "mproc/pool.h"
#include "mproc/process.h"

/* How long an idle worker looks at its inbox before sleeping on it. */
enum { SPIN_NS = 20000 };
/* How long a waiter looks at its result before sleeping on the pool's
 * condition variable (mp__result_wait). */
enum { WAIT_SPIN_NS = 10000 };
/* A task that has run this long may run for ages: nothing more is queued
 * behind it, and what was is taken back for the other workers. */
enum { LONG_NS = 1000000 };

struct worker_args {
	struct mp__ring *inbox, *results;
	struct worker_slot *slot;
	uint32_t *sup_sleeping;
	int efd;
	unsigned index, maxtasks;
	bool heirs;         /* fork an heir first (heir_line in worker.c) */
	bool untimed;       /* one task and no task_timeout: nobody reads
			     * when it started or how long it ran */
	void (*initializer)(void *);
	void *initarg;
	/* forkserver/spawn: the parent's task functions here (NULL: fork) */
	const struct mp__code_map *code;
};

int mp__pool_worker_main(void *arg);

/* ---- starting workers by a start method (launch.c) ---- */

/* A forkserver/spawn worker: the parent's task function fn (of a job of
 * kind) here, or a stand-in that fails the task with a reason. */
struct mp__code_map;
uint64_t mp__pool_task_here(const struct mp__code_map *code, uint64_t fn,
			     uint32_t kind);

/* Check opts->start_method and opts->initarg(_len) and resolve the method
 * to its static name in *method: 0, or -EINVAL with a reason. */
int mp__pool_check_method(const mp_pool_opts_t *opts, const char **method);
/* Make w's process object, not started (w->args filled), for the pool's
 * method (its arg bytes in w->blob, freed by the next prepare or the
 * pool's end): 0, or the public code (mp_last_error() says why). */
struct worker;
int mp__pool_worker_proc(mp_pool_t *p, struct worker *w);

/* Heirs (heir_line in worker.c; launch.c): take the pid of the heir worker
 * i forked out of its slot (0: none); kill and reap an heir nobody takes
 * (pid 0: nothing); make heir pid the process of w, whose slot is reset
 * and whose first job is in its inbox (unlocked: 0, or a code when the
 * heir is gone and w's process must be started as usual). */
pid_t mp__pool_take_heir(mp_pool_t *p, unsigned i);
void mp__pool_drop_heir(pid_t pid);
int mp__pool_adopt_heir(struct worker *w, pid_t pid);
/* The inbox for w's next process: its last one when that process exited
 * 0 with no job in flight and left it empty (no stale record, no consumer
 * lock held: a fresh process per task reuses it), else a new one (the old
 * one freed); NULL without memory. */
struct mp__ring *mp__pool_inbox(struct worker *w);

/* ---- jobs ---- */

enum job_state { J_PENDING, J_RUNNING, J_DONE };

struct mp__job;

struct mp__job_ops {
	/* The job ended (lock held).  *buf is the received record (res_hdr
	 * then data; NULL for failures decided here): take it by setting
	 * *buf = NULL.  Return true to get notify once the lock is free. */
	bool (*complete)(mp_pool_t *p, struct mp__job *j, int status,
			 const char *data, size_t len, void **buf);
	void (*notify)(mp_pool_t *p, struct mp__job *j);
};

struct mp__job {
	struct mp__job *next, *prev; /* pending list, worker FIFO, notify list */
	const struct mp__job_ops *ops;
	unsigned char *rec;          /* task_hdr + input */
	size_t rec_len;
	uint64_t id;
	uint32_t items;
	uint32_t worker;             /* J_RUNNING: whose FIFO it is in */
	uint8_t state;
};

/* Fill j's record header (id assigned at submit). */
static inline void mp__job_init(struct mp__job *j, const struct mp__job_ops *ops,
				unsigned char *rec, size_t rec_len, uint32_t kind,
				uintptr_t fn, uint32_t count, uint64_t in_size,
				uint64_t out_size)
{
	struct task_hdr h = {0, fn, kind, count, in_size, out_size};

	*j = (struct mp__job){.ops = ops, .rec = rec, .rec_len = rec_len,
			      .items = kind == T_APPLY ? 1 : count};
	__builtin_memcpy(rec, &h, sizeof(h));
}

/* ---- the engine (engine.c, supervisor.c); "locked" = pool->lock held ---- */

void mp__pool_lock(mp_pool_t *p);
/* Broadcast completions, run pending notifies, unlock. */
void mp__pool_unlock(mp_pool_t *p);
/* Queue a job (locked): 0; MP_ECLOSED when the pool does not run;
 * MP_EBROKEN when its workers cannot start (the initializer fails). */
int mp__pool_submit(mp_pool_t *p, struct mp__job *j);
/* Queue a job without the lock (apply_async, submit): callers push it on
 * a lock-free list that the supervisor takes whole at its next round, or,
 * if it sleeps, that this caller takes and dispatches under the lock.
 * true, or false (nothing done) when the pool takes no more or is remote:
 * then mp__pool_submit says why. */
bool mp__pool_handoff(mp_pool_t *p, struct mp__job *j);
/* No more hand-offs (locked): what was handed over is pending now. */
void mp__pool_seal(mp_pool_t *p);
/* The two halves of submit (locked), for batches: queue a job (the pool
 * must accept: mp__pool_accepts), then hand what fits to the workers. */
void mp__pool_enqueue(mp_pool_t *p, struct mp__job *j);
void mp__pool_dispatch(mp_pool_t *p);
/* Cancel a pending job (locked): true if it was pending (now ended with
 * MP_ECANCELLED). */
bool mp__pool_cancel(mp_pool_t *p, struct mp__job *j);
/* Kill a job (locked): a pending one is cancelled; one in an inbox is
 * taken out and cancelled; one its worker has taken gets that worker's
 * process group SIGKILLed (the job then ends with MP_ECANCELLED, unless its
 * result came first) and the worker replaced.  1, or 0 if it had ended. */
int mp__pool_kill_job(mp_pool_t *p, struct mp__job *j);
/* Wait (locked) until cond(arg) or the deadline: 0 or -ETIMEDOUT. */
int mp__pool_wait(mp_pool_t *p, bool (*cond)(void *), void *arg,
		  uint64_t deadline);

/* ---- a remote pool's side of mproc/backend.h (remote.c) ---- */

size_t mp__pool_take(mp_pool_t *p, size_t max, mp_backend_job_t *jobs);
void mp__pool_end(mp_pool_t *p, void *handle, int status, const void *data,
		  size_t len);
int mp__pool_remote_state(mp_pool_t *p);
void mp__pool_remote_stopped(mp_pool_t *p);
void mp__pool_remote_break(mp_pool_t *p, const char *msg);

/* ---- the life cycle (life.c): no messages, codes and reasons only ---- */

/* A remote pool for backend (mp__pool_attach then sets bstate): 0 with
 * *out, or -ENOMEM with a reason. */
int mp__pool_create_remote(const mp_pool_opts_t *opts,
			   const struct mp_executor_backend *backend,
			   mp_pool_t **out);
/* Start a pool (opts already checked by the public caller, which names
 * the fields): 0 with *out, or a code with a reason (mp__why). */
int mp__pool_create(const mp_pool_opts_t *opts, mp_pool_t **out);
/* No more jobs; the workers exit once the queued ones are done. */
void mp__pool_close(mp_pool_t *p);
/* Kill the workers; outstanding jobs end with MP_ECANCELLED. */
void mp__pool_terminate(mp_pool_t *p);
/* Send sig to every live worker's process group and stop: the pending
 * jobs end with MP_ECANCELLED, the ones that had started with MP_EBROKEN
 * (naming the signal) as their workers die (the executor's
 * terminate_workers / kill_workers). */
void mp__pool_signal_workers(mp_pool_t *p, int sig);
/* Wait for the workers to exit: 0, -EINVAL (still running: neither closed
 * nor terminated), -ETIMEDOUT (both with a reason). */
int mp__pool_join(mp_pool_t *p, uint64_t deadline);
/* Terminate if needed, join, release; NULL is a no-op. */
void mp__pool_destroy(mp_pool_t *p);
unsigned mp__pool_size(const mp_pool_t *p);
/* CPython's chunksize rule, capped by maxtasksperchild. */
size_t mp__pool_chunksize(const mp_pool_t *p, size_t n, size_t chunksize);
/* Can the pool take work (locked)?  0, MP_ECLOSED or MP_EBROKEN (then
 * mp__pool_refusal says why). */
int mp__pool_accepts(const mp_pool_t *p);
const char *mp__pool_refusal(const mp_pool_t *p, int code);
/* End every pending job with MP_ECANCELLED (takes the lock). */
void mp__pool_cancel_pending(mp_pool_t *p);

/* ---- inside the engine (engine.c, supervisor.c, workers.c, life.c) ---- */

enum pool_state { RUN, CLOSING, TERMINATED, STOPPED };

enum { INBOX_BYTES = 256 << 10, RESULT_BYTES = 1 << 20, MAX_DEPTH = 1024 };
/* Room for retirees (see mp__pool_retire) per worker: they are reaped at
 * the supervisor's next round, not each at a wake of its own, so a few
 * may wait at once. */
enum { RETIRED_PER_WORKER = 4 };

/* The supervisor's buffer for results (bigger ones get their own). */
enum { RBUF_BYTES = 16 << 10 };
/* Results up to this size are kept inside their mp_async_result. */
enum { INLINE_RESULT = 32 };

/* Limits of mp_pool_opts_t (the executor checks its own fields against the
 * same, to name them). */
enum { MP__POOL_MAX_PROCESSES = 4096 };

/* Workers dying in their initializer this many times in a row break the
 * pool (CPython's Pool respawns them forever; its executor breaks). */
enum { MAX_INIT_FAILURES = 3 };
/* A worker that cannot be started (fork fails: EAGAIN, ENOMEM) is tried
 * again every START_RETRY_NS; after MAX_START_FAILURES failures in a row
 * with no worker alive, the pool is broken (its jobs fail, MP_EBROKEN). */
enum { MAX_START_FAILURES = 10 };
#define START_RETRY_NS 100000000u /* 0.1 s */
/* A worker whose death failed a job is replaced this much later (see
 * worker_ended). */
#define RESPAWN_DELAY_NS 2000000u /* 2 ms */

struct worker {
	mp_process_t *proc;
	struct worker_args args;
	struct mp__job *head, *tail; /* dispatched, in inbox order */
	unsigned queued;
	uint64_t budget;             /* items it may still be given */
	uint64_t timed_out;          /* id of the job it was killed for */
	uint64_t killed;             /* id of the job killed by its owner */
	bool alive, stopping;
	bool respawn;                /* start it again at pool.respawn_at */
	bool starting;               /* the starter thread (or the
				      * supervisor: start_here) starts proc */
	bool started;                /* ... and is done: start_rc */
	int start_rc;
	void *blob;                  /* forkserver/spawn: proc's arg bytes */
	bool inbox_clean;            /* it exited 0 with no job in flight */
	bool told;                   /* dying: its started job has failed
				      * already (see worker_dying) */
	bool retiring;               /* its last result came, its slot is
				      * free (see mp__pool_retire) */
	pid_t heir;                  /* starting: the heir to take (see
				      * heir_line in worker.c), or 0 */
};

struct mp_pool {
	pthread_mutex_t lock;
	pthread_cond_t done;
	pthread_t thread;
	bool thread_joined, completed;
	unsigned spin_misses;        /* waits in a row whose spin found
				      * nothing (see mp__result_wait) */
	enum pool_state state;
	unsigned n, depth;
	struct worker *w;
	struct worker_slot *slots;   /* shared */
	uint32_t *sup_sleeping;      /* shared */
	struct mp__job *head, *tail; /* pending */
	/* Jobs handed over without the lock (mp__pool_handoff), newest
	 * first, taken into the pending list under it; a sentinel once the
	 * pool takes no more (closed, terminated or broken). */
	struct mp__job *inq;
	struct mp__job *nhead, *ntail; /* to notify */
	struct mp__ring *results;
	void *rbuf;                  /* RBUF_BYTES, the supervisor's */
	struct pollfd *pfd;          /* the supervisor's: made by new, so
				      * that a thread never lacks it */
	mp_process_t **deaf;         /* the supervisor's (see worker_gone) */
	mp_process_t **retired;      /* RETIRED_PER_WORKER * n: workers
				      * replaced while they exit */
	unsigned nretired;
	int efd;
	uint64_t next_id, timeout_ns, avg_ns;
	bool forced;                 /* signal_workers: started jobs break */
	unsigned init_failures;
	unsigned start_failures;     /* in a row (see MAX_START_FAILURES) */
	uint64_t respawn_at;         /* retry failed starts then (0: none) */
	pthread_t starter;           /* starts replacements (see replace_worker) */
	pthread_cond_t start_cond;   /* wakes it */
	bool starter_unjoined;       /* it was created and not joined */
	bool starter_quit;
	pthread_t watcher;           /* wakes at workers' deaths (see watcher) */
	bool watcher_unjoined, watcher_quit;
	uint32_t watcher_gen;        /* bumped and woken to stop it */
	bool inline_starts;          /* the supervisor starts replacements
				      * itself (forkserver: see start_here) */
	char broken[320];            /* why no worker can start, or "" (a
				      * buffer: set even without memory) */
	mp_pool_opts_t opts;
	/* A remote pool (an executor backend, mproc/backend.h): no worker,
	 * no supervisor, n = 0; the backend takes the pending jobs and ends
	 * them, and sets STOPPED. */
	const struct mp_executor_backend *backend;
	void *bstate;
	unsigned remote_n;           /* the backend's workers */
};

void mp__pool_kick(mp_pool_t *p);                   /* wake the supervisor */
void *mp__pool_supervisor(void *arg);
/* End every pending job with status and msg (locked). */
void mp__pool_fail_pending(mp_pool_t *p, int status, const char *msg);
/* End job j with status and data[len], its result or failure message
 * (locked): its owner is told (ops->complete, *buf as there). */
void mp__pool_end_job(mp_pool_t *p, struct mp__job *j, int status,
		      const char *data, size_t len, void **buf);
/* End job j with status and msg (locked): its owner is told. */
void mp__pool_end_job_msg(mp_pool_t *p, struct mp__job *j, int status,
			  const char *msg);
/* Read the next job out of w's inbox (it never started) and take it out of
 * w's FIFO (locked): 0 with *out (NULL if the record was none of ours),
 * -EAGAIN if the inbox is empty, -EBUSY if its worker is taking a job. */
int mp__pool_unqueue(struct worker *w, struct mp__job **out);
/* Take the results that came back (locked): their jobs end. */
void mp__pool_drain_results(mp_pool_t *p);
/* Take what was handed over into the pending list (locked): true if there
 * was any. */
bool mp__pool_inq_take(mp_pool_t *p);
/* Is anything handed over and not taken yet? */
bool mp__pool_inq_waiting(mp_pool_t *p);
/* Take back the jobs queued behind long tasks that an idle worker could
 * run now (locked): when to look again (MP__NO_DEADLINE: never). */
uint64_t mp__pool_reclaim(mp_pool_t *p);

/* The pending list and the workers' FIFOs (locked): inline, on the path
 * of every task. */
/* Take job j out of the pending list. */
static inline void mp__pool_pending_unlink(mp_pool_t *p, struct mp__job *j)
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

/* Into the pending list, at the front (a dead worker's jobs) or back. */
static inline void mp__pool_pending_push(mp_pool_t *p, struct mp__job *j,
					 bool front)
{
	j->state = J_PENDING;
	j->prev = front ? NULL : p->tail;
	j->next = front ? p->head : NULL;
	if (j->next)
		j->next->prev = j;
	else
		p->tail = j;
	if (j->prev)
		j->prev->next = j;
	else
		p->head = j;
}

/* Job j, just put into w's inbox, leaves the pending list for w's FIFO. */
static inline void mp__pool_assign(mp_pool_t *p, struct worker *w,
				   struct mp__job *j)
{
	mp__pool_pending_unlink(p, j);
	j->state = J_RUNNING;
	j->worker = (uint32_t)(w - p->w);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	w->budget -= j->items;
}

/* ---- the workers' lives (workers.c; locked) ---- */

int mp__pool_start_worker(mp_pool_t *p, unsigned i); /* locked, or before
							* the supervisor runs */
void mp__pool_kill_worker(struct worker *w);        /* SIGKILL its group */
/* Tests only: called by the starter thread before each start. */
extern void (*mp__pool_start_hook)(void);
/* The supervisor's side: take the outcomes of the starts made, retry the
 * failed ones whose time has come, make the forkserver starts itself
 * (true if it made any), and see worker i's end (its sentinel fired). */
void mp__pool_starts_done(mp_pool_t *p);
void mp__pool_retry_starts(mp_pool_t *p);
bool mp__pool_start_here(mp_pool_t *p);
void mp__pool_worker_ended(mp_pool_t *p, unsigned i);
/* Replace the workers whose last result came (retiring): their processes,
 * which exit on their own, are kept in p->retired until reaped. */
void mp__pool_retire(mp_pool_t *p);
/* Reap the retired workers that have exited. */
void mp__pool_reap_retired(mp_pool_t *p);
/* Start the watcher thread; stop it and the starter thread (gives the lock
 * back for the joins). */
void mp__pool_watcher_start(mp_pool_t *p);
void mp__pool_threads_join(mp_pool_t *p);

/* ---- results (pool.c), also the executor's futures ---- */

struct done_cb {
	struct done_cb *next;
	mp_future_done_fn fn;
	void *arg;
};

/* What r->cbs holds once the done callbacks have been taken. */
extern struct done_cb mp__cbs_done;
#define MP__CBS_DONE (&mp__cbs_done)

struct map_job;

/*
 * A job's outcome as its owner keeps it (results, futures, imap chunks):
 * the status, its message, and on success the bytes (into buf, the record
 * received from the worker, or a copy).
 */
struct mp__outcome {
	int status;
	char *msg;             /* status != 0: the message (may be NULL) */
	void *buf;
	mp_bytes_t bytes;      /* status 0: the result, into buf */
};

/* Keep what ops->complete got: take the received record (*buf = NULL) or
 * copy data; a copy that fails leaves -ENOMEM. */
void mp__outcome_take(struct mp__outcome *o, int status, const char *data,
		      size_t len, void **buf);
void mp__outcome_destroy(struct mp__outcome *o);
/* The message of a failed outcome (never NULL). */
const char *mp__outcome_msg(const struct mp__outcome *o);

struct mp_async_result {
	struct mp__job job;
	mp_pool_t *pool;
	int refs;              /* the user's and the engine's */
	uint32_t done;         /* 0, then 1 (a futex word) */
	uint32_t sleepers;     /* waiters asleep on done (mp__result_wait) */
	bool cancelled, future;
	struct mp__outcome res;
	mp_apply_opts_t opts;
	struct done_cb *cbs;   /* executor done callbacks, newest first;
				* MP__CBS_DONE once they have run */
	struct map_job *map;   /* map_async */
	char small[INLINE_RESULT + 1]; /* a small result, NUL-terminated */
};

/* Queue fn(in) (apply_async, submit): 0 with *out, or a code with a
 * reason: -EINVAL, -EMSGSIZE, -ENOMEM, MP_ECLOSED, MP_EBROKEN. */
int mp__apply_async(mp_pool_t *p, mp_task_fn fn, const void *in,
		    size_t in_len, const mp_apply_opts_t *opts, bool future,
		    mp_async_result_t **out);
/* Queue fn(in[i]) for i < n, all or none, under one lock with one
 * dispatch: 0 with out[0..n), or a code as mp__apply_async's (the reason
 * names the index). */
int mp__apply_async_many(mp_pool_t *p, mp_task_fn fn, const void *const *in,
			 const size_t *in_len, size_t n,
			 const mp_apply_opts_t *opts, bool future,
			 mp_async_result_t **out);
bool mp__result_done(const mp_async_result_t *r);
int mp__result_wait(mp_async_result_t *r, uint64_t deadline);
void mp__result_release(mp_async_result_t *r); /* drop a reference */
/* Kill r's task (mp__pool_kill_job): 1, 0 if it had ended, -EINVAL (with a
 * reason) for a map_async result. */
int mp__result_kill(mp_async_result_t *r);
/* The user's release: a map_async stops writing; then release. */
void mp__result_free(mp_async_result_t *r);
/* Register a done callback (fn at once if the callbacks have run): 0,
 * -ENOMEM. */
int mp__result_add_done_callback(mp_async_result_t *r, mp_future_done_fn fn,
				 void *arg);
/* r's callbacks, then r is done, then its done callbacks, then the
 * engine's reference goes (outside the lock). */
void mp__result_notify(mp_async_result_t *r);

/* ---- map (map.c) ---- */

/* The map's callback or error callback for its map_async result. */
void mp__map_callback(struct map_job *m, const struct mp__outcome *res);
/* Write no more into the map's out and cancel what has not started
 * (locked). */
void mp__map_abandon(mp_pool_t *p, struct map_job *m);
void mp__map_release(struct map_job *m); /* drop a reference */
/* Map and wait until the deadline: 0 or a code with a reason (the first
 * failure, -ETIMEDOUT, -EINVAL, MP_ECLOSED, ...). */
int mp__map(mp_pool_t *p, mp_map_fn fn, const void *in, size_t n,
	    size_t in_size, void *out, size_t out_size, const mp_map_opts_t *opts,
	    uint64_t deadline);

#endif
