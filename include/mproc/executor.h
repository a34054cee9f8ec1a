/*
 * mproc/executor.h - concurrent.futures.ProcessPoolExecutor: submit work,
 * get futures, wait for them (as_completed, wait), map, shutdown.
 *
 * The executor is a face of the pool engine (mproc/pool.h): tasks are the
 * same mp_task_fn / mp_map_fn, and the same robustness holds.  Unlike
 * CPython, a worker that dies does not break the executor: only the future
 * it was running fails (MP_EBROKEN); the worker is replaced.
 *
 * Thread safety: every function may be called from any thread of the
 * process that created the executor; one future may be waited on by several
 * threads.  Done callbacks run in the supervisor thread (or in the caller's,
 * when the future is already done), with no lock held.
 */
#ifndef MPROC_EXECUTOR_H
#define MPROC_EXECUTOR_H

#include <stddef.h>

#include "mproc/common.h"
#include "mproc/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_executor_opts {
	unsigned max_workers;        /* 0 = mp_cpu_count() */
	unsigned max_tasks_per_child; /* 0 = unlimited */
	void (*initializer)(void *arg);
	void *initarg;
	double task_timeout;         /* seconds per task; 0 or MP_FOREVER =
				      * none */
	const char *start_method;    /* as mp_pool_opts_t's (mp_context) */
	size_t initarg_len;          /* forkserver/spawn: initarg's bytes */
	/* Where the tasks run: NULL = local worker processes; else a
	 * backend (mproc/backend.h) such as mp_mpi_backend() of
	 * libmproc_mpi (mproc/mpi.h), given backend_arg. */
	const struct mp_executor_backend *backend;
	const void *backend_arg;
} mp_executor_opts_t;

typedef struct mp_executor mp_executor_t;
typedef struct mp_future mp_future_t;

/*
 * mp_executor_new - start the workers.  NULL with mp_last_error_code():
 * -EINVAL (opts->max_workers over 4096, a negative or NaN
 * opts->task_timeout), -ENOMEM, or why a worker could not start; with
 * opts->backend, the code its start returned (mproc/mpi.h lists the MPI
 * backend's).  Thread-safe.
 */
MP_API mp_executor_t *mp_executor_new(const mp_executor_opts_t *opts);

/*
 * mp_executor_submit - schedule fn(in) (bytes copied) and return its future
 * (release with mp_future_free).  NULL with mp_last_error_code():
 * MP_ECLOSED after shutdown, MP_EBROKEN (no worker can start), -EINVAL
 * (NULL ex or fn, in NULL with in_len > 0), -EMSGSIZE (in_len over
 * MP_TASK_MAX_BYTES), -ENOMEM.  Thread-safe.
 */
MP_API mp_future_t *mp_executor_submit(mp_executor_t *ex, mp_task_fn fn,
				       const void *in, size_t in_len);

/*
 * mp_executor_submit_many - submit fn(in[i]) (in_len[i] bytes, copied) for
 * i < n in one call: one lock and one hand-off to the workers for the lot
 * (CPython's is a loop of submit).  out[i] gets the future of task i; each
 * behaves exactly as mp_executor_submit's.  All or none: 0 with out[0..n)
 * set, or a code with nothing submitted and out unchanged: MP_ECLOSED
 * after shutdown, MP_EBROKEN, -EINVAL (NULL ex or fn; NULL in, in_len or
 * out with n > 0; in[i] NULL with in_len[i] > 0), -EMSGSIZE (an in_len[i]
 * over MP_TASK_MAX_BYTES), -ENOMEM.  Thread-safe.
 */
MP_API int mp_executor_submit_many(mp_executor_t *ex, mp_task_fn fn,
				   const void *const *in, const size_t *in_len,
				   size_t n, mp_future_t **out);

/*
 * mp_future_result - wait at most timeout: 0 with *out (borrowed: the
 * future's bytes, valid until it is freed; out may be NULL); MP_ECANCELLED
 * if it was cancelled; -ETIMEDOUT if not done in time; the task's failure
 * (MP_ETASK with its message, MP_EBROKEN, -ETIMEDOUT from the task
 * timeout); -EINVAL (NULL f, invalid timeout).  Thread-safe.
 */
MP_API int mp_future_result(mp_future_t *f, double timeout,
			    const mp_bytes_t **out);

/*
 * mp_future_exception - wait at most timeout: 0 if the task succeeded, its
 * failure code otherwise (message in mp_last_error()); MP_ECANCELLED if it
 * was cancelled; -ETIMEDOUT if not done in time (then mp_future_done is 0);
 * -EINVAL (NULL f, invalid timeout).  Thread-safe.
 */
MP_API int mp_future_exception(mp_future_t *f, double timeout);

/* 1/0: finished or cancelled; running (handed to a worker); cancelled.
 * -EINVAL for NULL.  Thread-safe. */
MP_API int mp_future_done(mp_future_t *f);
MP_API int mp_future_running(mp_future_t *f);
MP_API int mp_future_cancelled(mp_future_t *f);

/*
 * mp_future_cancel - cancel if it has not started: 1 (cancelled, or already
 * was), 0 (running or finished: CPython's False); -EINVAL for NULL.
 * Thread-safe.
 */
MP_API int mp_future_cancel(mp_future_t *f);

/*
 * mp_future_kill - cancel f even if it runs (CPython cannot): a future not
 * yet started is cancelled; a running one has its worker's process group
 * SIGKILLed (the worker and whatever the task started), and the worker is
 * replaced; the executor goes on.  1: done so (or f was cancelled
 * already), and f ends cancelled (MP_ECANCELLED, mp_future_cancelled 1),
 * even if the task had just finished in its worker and its result was on
 * its way (it is dropped); 0: f had finished; -EINVAL for NULL.  Returns
 * before the worker is reaped: wait on f.  On a backend (opts->backend)
 * the backend kills it where it runs (the MPI backend: its rank kills its
 * local worker's process group), asynchronously: 1 says the kill was
 * sent, and f may still end with the result of a task that finished
 * first; -ENOTSUP for a running task of a backend that cannot.
 * Thread-safe.
 */
MP_API int mp_future_kill(mp_future_t *f);

typedef void (*mp_future_done_fn)(mp_future_t *f, void *arg);

/*
 * mp_future_add_done_callback - call fn(f, arg) once when f is done (or
 * cancelled); at once, in this thread, if it already is.  0, -ENOMEM, or
 * -EINVAL (NULL f or fn).  Thread-safe.
 */
MP_API int mp_future_add_done_callback(mp_future_t *f, mp_future_done_fn fn,
				       void *arg);

/* Release (at once, or when the task ends).  NULL is a no-op.  Not while
 * another thread uses f. */
MP_API void mp_future_free(mp_future_t *f);

typedef struct mp_as_completed mp_as_completed_t;

/*
 * mp_as_completed - an iterator yielding the futures of fs (duplicates
 * once) as they complete, the finished ones first.  timeout bounds the
 * whole iteration (MP_FOREVER: none).  The futures must outlive it.  NULL
 * with mp_last_error_code(): -EINVAL (fs NULL with n > 0, a NULL future,
 * n of INT32_MAX or more, invalid timeout), -ENOMEM.  Thread-safe.
 */
MP_API mp_as_completed_t *mp_as_completed(mp_future_t *const *fs, size_t n,
					  double timeout);

/*
 * mp_as_completed_next - 0 with *f; MP_EEOF after the last; -ETIMEDOUT
 * ("k (of n) futures unfinished") once the timeout has passed; -EINVAL
 * for NULL.  One thread at a time per iterator.
 */
MP_API int mp_as_completed_next(mp_as_completed_t *it, mp_future_t **f);
/* Release the iterator (not the futures).  NULL is a no-op. */
MP_API void mp_as_completed_free(mp_as_completed_t *it);

typedef enum mp_return_when {
	MP_FIRST_COMPLETED = 1,
	MP_FIRST_EXCEPTION = 2, /* failed or cancelled; else all completed */
	MP_ALL_COMPLETED = 3,
} mp_return_when_t;

/*
 * mp_futures_wait - wait until `when` holds or timeout passes (no error on
 * timeout, as CPython), then reorder fs so the done futures come first:
 * returns how many are done (CPython's (done, not_done) sets); -EINVAL
 * (fs NULL with n > 0, a NULL future, a bad `when` or timeout), -ENOMEM.
 * Thread-safe.
 */
MP_API int mp_futures_wait(mp_future_t **fs, size_t n, double timeout,
			   mp_return_when_t when);

/*
 * mp_executor_map - out[i] = fn(in[i]) like mp_pool_map (opts: chunksize,
 * 0 = the pool's rule; progress).  -ETIMEDOUT if it is not done within
 * timeout: the chunks not yet started are cancelled and out is no longer
 * written.  Otherwise 0 or the first failure; MP_ECLOSED after shutdown;
 * -EINVAL as mp_pool_map, or for an invalid timeout.  Thread-safe.
 */
MP_API int mp_executor_map(mp_executor_t *ex, mp_map_fn fn, const void *in,
			   size_t n, size_t in_size, void *out, size_t out_size,
			   const mp_map_opts_t *opts, double timeout);

/* Flags of mp_executor_shutdown; 0 is CPython's shutdown(). */
enum {
	/* Return at once (CPython's wait=False). */
	MP_SHUTDOWN_NOWAIT = 1u << 0,
	/* Cancel the futures not started (CPython's cancel_futures=True). */
	MP_SHUTDOWN_CANCEL_FUTURES = 1u << 1,
};

/*
 * mp_executor_shutdown - no more submissions; with
 * MP_SHUTDOWN_CANCEL_FUTURES the futures not started are cancelled; unless
 * MP_SHUTDOWN_NOWAIT, block until every future left is done and the
 * workers have exited (as CPython: no bound; mp_executor_free has one).
 * 0; -EINVAL (NULL ex, unknown flags).  Calling it again is harmless.
 * Thread-safe.
 */
MP_API int mp_executor_shutdown(mp_executor_t *ex, unsigned flags);

/*
 * mp_executor_terminate_workers - CPython 3.14's terminate_workers(): send
 * SIGTERM to every live worker's process group and shut down without
 * waiting: the futures not started are cancelled, the running ones fail
 * with MP_EBROKEN naming the signal as their workers die; no worker is
 * replaced.  mp_executor_shutdown(ex, 0) then waits for the workers (a
 * task that ignores SIGTERM keeps its worker: mp_executor_kill_workers, or
 * mp_executor_free, which SIGKILLs after its grace).  0; -EINVAL for NULL.
 * Harmless after shutdown.  Thread-safe.
 */
MP_API int mp_executor_terminate_workers(mp_executor_t *ex);
/* mp_executor_kill_workers - the same with SIGKILL (CPython 3.14's
 * kill_workers()). */
MP_API int mp_executor_kill_workers(mp_executor_t *ex);

/*
 * How long mp_executor_free waits for the submitted futures, in seconds.
 */
#define MP_EXECUTOR_FREE_GRACE 2.0

/*
 * mp_executor_free - shut down and release, in bounded time: wait at most
 * MP_EXECUTOR_FREE_GRACE seconds for the futures left (CPython's
 * shutdown(wait=True)), then terminate: the workers' process groups are
 * SIGKILLed and the futures still running or queued fail with
 * MP_ECANCELLED.  Call mp_executor_shutdown(ex, 0) first to wait for them
 * however long they take.  Futures stay readable after it.  NULL is a
 * no-op.  No other thread may use the executor meanwhile.
 */
MP_API void mp_executor_free(mp_executor_t *ex);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_EXECUTOR_H */
