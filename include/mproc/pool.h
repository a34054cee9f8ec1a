/*
 * mproc/pool.h - a pool of worker processes: Python's multiprocessing.Pool
 * (apply, apply_async, map, map_async, starmap, imap, imap_unordered,
 * close, terminate, join).  mproc/executor.h is its ProcessPoolExecutor
 * face, on the same engine.
 *
 * Tasks are C functions run in pre-started worker processes; arguments and
 * results cross as bytes.  Beyond CPython:
 * - a worker that crashes (signal, _exit in the task) fails only the task it
 *   ran, with MP_EBROKEN and the signal or status named; it is replaced and
 *   every other task completes: nothing hangs;
 * - an optional per-task timeout fails an overrunning task with -ETIMEDOUT,
 *   kills its worker's whole process group (what the task started too) and
 *   replaces the worker;
 * - terminate fails what is outstanding with MP_ECANCELLED instead of leaving
 *   get() waiting forever;
 * - workers that die in the initializer 3 times in a row break the pool:
 *   what is queued fails with MP_EBROKEN, and so do later submissions
 *   (CPython's Pool respawns them forever).
 *
 * Thread safety: a pool may be used from several threads of the process that
 * created it.  Workers are daemonic children in process groups of their own;
 * they die with the pool's process.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The largest task input (apply/submit in_len, an imap item), task result
 * (mp_task_return), and map array (n * in_size, n * out_size), in bytes:
 * PTRDIFF_MAX less room for the headers that frame them.  Larger sizes
 * fail with -EMSGSIZE (inputs, results) or -EINVAL (map arrays) before
 * anything is sent; sizes are never allowed to wrap.
 */
#define MP_TASK_MAX_BYTES ((size_t)PTRDIFF_MAX - 64)

/* Where a task writes its result (in the worker). */
typedef struct mp_task_out mp_task_out_t;

/*
 * A task: reads in_len bytes at in, may write a result with mp_task_return,
 * returns 0 on success; non-zero (or mp_task_fail) makes it fail: the
 * caller's get returns MP_ETASK with the message.
 */
typedef int (*mp_task_fn)(const void *in, size_t in_len, mp_task_out_t *out);

/* Set the task's result bytes (copied).  0; -EINVAL (data NULL with
 * len > 0); -EMSGSIZE over MP_TASK_MAX_BYTES; -ENOMEM. */
MP_API int mp_task_return(mp_task_out_t *out, const void *data, size_t len);

/* Fail the task with a message (printf format, truncated to 511 bytes);
 * returns -1 to return (also for a NULL out, which records nothing). */
MP_API int mp_task_fail(mp_task_out_t *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A map function: one element of in_size bytes in, out_size bytes out. */
typedef int (*mp_map_fn)(const void *in, void *out);

/*
 * Progress of a map or imap: called in the pool's supervisor thread (no
 * lock held) each time a chunk ends, with the elements done so far and the
 * total (imap: 0 while the input is not exhausted).
 */
typedef void (*mp_progress_fn)(size_t done, size_t total, void *arg);

typedef struct mp_pool_opts {
	unsigned processes;        /* 0 = mp_cpu_count(); at most 4096 */
	void (*initializer)(void *arg); /* run once in each worker */
	void *initarg;
	unsigned maxtasksperchild; /* 0 = unlimited; counts map items */
	double task_timeout;       /* seconds per task (map: per chunk); 0 or
				    * MP_FOREVER = none */
	/* How workers (and their replacements) start: "fork", "forkserver"
	 * or "spawn"; NULL: the library-wide default when the pool is made.
	 * See "Start methods" in docs/pool.md: with forkserver and spawn,
	 * task functions are found by (object, offset), and initarg is
	 * copied as initarg_len bytes. */
	const char *start_method;
	size_t initarg_len;
} mp_pool_opts_t;

typedef struct mp_pool mp_pool_t;
typedef struct mp_async_result mp_async_result_t;

/*
 * mp_pool_new - start the workers and the supervisor thread.  NULL with
 * mp_last_error_code(): -EINVAL (opts->processes over 4096, a negative or
 * NaN opts->task_timeout), -ENOMEM, or why a worker could not start
 * (-EAGAIN, ...).  Thread-safe.
 */
MP_API mp_pool_t *mp_pool_new(const mp_pool_opts_t *opts);

typedef struct mp_apply_opts {
	/* Called once, in the pool's supervisor thread, when the task ends
	 * (no pool lock held: the callback may submit more work). */
	void (*callback)(const void *out, size_t len, void *arg);
	void (*error_callback)(int code, const char *message, void *arg);
	void *arg;
} mp_apply_opts_t;

/*
 * mp_pool_apply_async - queue fn(in) (the bytes are copied).  NULL with
 * MP_ECLOSED after close/terminate, MP_EBROKEN if the pool is broken,
 * -EINVAL (NULL pool, fn, or in with in_len > 0), -EMSGSIZE (in_len over
 * MP_TASK_MAX_BYTES), -ENOMEM.  Free the result with
 * mp_async_result_free (before it is ready too: it is then released when
 * the task ends).  Thread-safe.
 */
MP_API mp_async_result_t *mp_pool_apply_async(mp_pool_t *pool, mp_task_fn fn,
					      const void *in, size_t in_len,
					      const mp_apply_opts_t *opts);

/*
 * mp_pool_apply_async_many - queue fn(in[i]) (in_len[i] bytes, copied) for
 * i < n in one call: one lock and one hand-off to the workers for the lot
 * (no Python equivalent: CPython's is a loop of apply_async).  out[i] gets
 * the result of task i; each behaves exactly as mp_pool_apply_async's (its
 * own get, wait, kill, free; opts, if any, apply to each).  All or none: 0
 * with out[0..n) set, or a code with nothing queued and out unchanged:
 * MP_ECLOSED, MP_EBROKEN, -EINVAL (NULL pool or fn; NULL in, in_len or out
 * with n > 0; in[i] NULL with in_len[i] > 0), -EMSGSIZE (an in_len[i] over
 * MP_TASK_MAX_BYTES), -ENOMEM.  Thread-safe.
 */
MP_API int mp_pool_apply_async_many(mp_pool_t *pool, mp_task_fn fn,
				    const void *const *in, const size_t *in_len,
				    size_t n, const mp_apply_opts_t *opts,
				    mp_async_result_t **out);

/*
 * mp_async_result_get - wait at most timeout for the task: 0 with *out
 * (borrowed: the result's bytes, valid until r is freed; out may be NULL;
 * a map_async result has none: empty bytes); MP_ETASK (the task failed:
 * mp_last_error() has its message), MP_EBROKEN (its worker died),
 * -ETIMEDOUT (the task's own timeout expired, or this wait's: then
 * mp_async_result_ready says 0), MP_ECANCELLED (terminated), -EINVAL (NULL
 * r, invalid timeout).  Thread-safe.
 */
MP_API int mp_async_result_get(mp_async_result_t *r, double timeout,
			       const mp_bytes_t **out);
/*
 * mp_async_result_wait - wait at most timeout for the result to be ready:
 * 0 once it is (whatever the task's outcome), -ETIMEDOUT if it was not in
 * time (timeout 0 polls), -EINVAL (NULL r, invalid timeout).  Thread-safe.
 */
MP_API int mp_async_result_wait(mp_async_result_t *r, double timeout);
/* 1 if the result is ready (the task has ended, in any way), else 0;
 * -EINVAL for NULL.  Thread-safe. */
MP_API int mp_async_result_ready(mp_async_result_t *r);
/* 1 if it succeeded, 0 if it failed; -EINVAL before it is ready (CPython)
 * or for NULL.  Thread-safe. */
MP_API int mp_async_result_successful(mp_async_result_t *r);
/*
 * mp_async_result_kill - stop r's task wherever it is, without stopping
 * the pool (CPython has no such call): a task not yet started is
 * cancelled; a running one has its worker's process group SIGKILLed (the
 * worker and whatever the task started), and the worker is replaced.  1:
 * done so (or r was cancelled already), and r fails with MP_ECANCELLED
 * ("the task was killed"), even if the task had just ended in its worker
 * and its result was on its way (it is dropped); 0: r had ended
 * otherwise; -EINVAL (NULL r, or a map_async result).  Returns before the
 * worker is reaped: wait on r.
 * Thread-safe.
 */
MP_API int mp_async_result_kill(mp_async_result_t *r);
/* Release (at once, or when the task ends; a map_async stops writing out).
 * NULL is a no-op.  Not while another thread uses r. */
MP_API void mp_async_result_free(mp_async_result_t *r);

/*
 * mp_pool_apply - run fn(in) in a worker and wait: 0 with the result in
 * *out (owned: NUL-terminated, release with mp_bytes_destroy); on failure
 * *out is empty and the code is one of mp_pool_apply_async's or
 * mp_async_result_get's, or -ENOMEM copying the result.  Thread-safe.
 */
MP_API int mp_pool_apply(mp_pool_t *pool, mp_task_fn fn, const void *in,
			 size_t in_len, mp_bytes_t *out);

typedef struct mp_map_opts {
	/* Elements per task; 0 = CPython's rule, ceil(n / (4 * processes)). */
	size_t chunksize;
	/* Called in the supervisor thread each time a chunk ends. */
	mp_progress_fn progress;
	/* map_async: called once, in the supervisor thread, when it ends. */
	void (*callback)(void *out, size_t n, void *arg);
	void (*error_callback)(int code, const char *message, void *arg);
	void *arg;
} mp_map_opts_t;

/*
 * mp_pool_map - out[i] = fn(in[i]) for n elements of in_size bytes (results
 * of out_size bytes), chunk by chunk.  0, or the first failure (MP_ETASK,
 * MP_EBROKEN, -ETIMEDOUT, MP_ECANCELLED) once every chunk has ended.
 * -EINVAL before anything runs for NULL arrays or zero sizes with n > 0, or
 * when n * in_size or n * out_size exceeds MP_TASK_MAX_BYTES.
 * starmap is the same call with a struct of arguments as the element.
 * Thread-safe.
 */
MP_API int mp_pool_map(mp_pool_t *pool, mp_map_fn fn, const void *in, size_t n,
		       size_t in_size, void *out, size_t out_size,
		       const mp_map_opts_t *opts);

/*
 * mp_pool_map_async - the same, without waiting: in must stay readable
 * until the call returns (it is copied), out writable until the result is
 * ready (or freed: a freed map stops writing).  get returns 0 or the first
 * failure, with no data.  NULL with mp_last_error_code(): the errors of
 * mp_pool_map found before anything runs, MP_ECLOSED, MP_EBROKEN, -ENOMEM.
 * Thread-safe.
 */
MP_API mp_async_result_t *mp_pool_map_async(mp_pool_t *pool, mp_map_fn fn,
					    const void *in, size_t n,
					    size_t in_size, void *out,
					    size_t out_size,
					    const mp_map_opts_t *opts);

/*
 * A lazy input for imap: store the next item in *in / *len (valid until
 * the next call) and return 1; return 0 at the end, or a negative code.
 * An item of more than MP_TASK_MAX_BYTES (or NULL with a length) ends the
 * input with -EMSGSIZE (-EINVAL).
 */
typedef int (*mp_input_fn)(void *arg, const void **in, size_t *len);

typedef struct mp_imap_opts {
	size_t chunksize;  /* items per task; 0 = 1 (CPython's default) */
	bool unordered;    /* imap_unordered: results in completion order */
	/* Items submitted ahead of the consumer; 0 = max(64, 8 * chunksize *
	 * processes). */
	size_t window;
	mp_progress_fn progress; /* total 0 = unknown */
	void *arg;
} mp_imap_opts_t;

typedef struct mp_imap mp_imap_t;

/*
 * mp_pool_imap - an iterator over fn(item) for the items `next` produces.
 * Items are pulled lazily (in the threads that call mp_imap_next) and at
 * most `window` are outstanding, so memory stays bounded for any input.
 * NULL with mp_last_error_code() (MP_ECLOSED, MP_EBROKEN, -ENOMEM, -EINVAL).
 * Thread-safe; the iterator itself is used by one thread at a time.
 */
MP_API mp_imap_t *mp_pool_imap(mp_pool_t *pool, mp_task_fn fn, mp_input_fn next,
			       void *next_arg, const mp_imap_opts_t *opts);

/*
 * mp_imap_next - the next result (input order, or completion order when
 * unordered): 0 with *out (borrowed: valid until the next call or
 * mp_imap_free; out may be NULL) and *index (the item's input position;
 * may be NULL); MP_EEOF after the last; -EINVAL for NULL it or a bad
 * timeout;
 * MP_ETASK / MP_EBROKEN / -ETIMEDOUT / MP_ECANCELLED for a failed item (the
 * next call goes on with the following one); -ETIMEDOUT when this wait
 * expired (call again); the input function's own negative code; -ENOMEM
 * when an item could not be stored (the iteration ends there, after the
 * results of the items before it: free the iterator).
 * One thread at a time.
 */
MP_API int mp_imap_next(mp_imap_t *it, double timeout,
			const mp_bytes_t **out, size_t *index);

/* Release the iterator; tasks still running are abandoned (never hangs). */
MP_API void mp_imap_free(mp_imap_t *it);

/* No more tasks; workers exit once the queued ones are done.  0, or
 * -EINVAL for NULL.  Idempotent; thread-safe. */
MP_API int mp_pool_close(mp_pool_t *pool);
/* Stop now: kill the workers (and their process groups); outstanding
 * results fail with MP_ECANCELLED.  0, or -EINVAL for NULL.  Thread-safe. */
MP_API int mp_pool_terminate(mp_pool_t *pool);
/* Wait at most timeout for the workers to exit: 0; -ETIMEDOUT; -EINVAL
 * before close/terminate (CPython), for NULL or an invalid timeout.
 * Thread-safe. */
MP_API int mp_pool_join(mp_pool_t *pool, double timeout);
/*
 * mp_pool_free - terminate (SIGKILL every worker's process group), join,
 * release: bounded by the time the killed workers take to die, never by a
 * task.  Results still held stay readable (they fail with MP_ECANCELLED if
 * they were not done).  NULL is a no-op.  No other thread may use the pool
 * meanwhile.
 */
MP_API void mp_pool_free(mp_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_POOL_H */
