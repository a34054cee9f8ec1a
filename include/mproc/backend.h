/*
 * mproc/backend.h - for writers of executor backends: where the tasks of an
 * mp_executor_t run when mp_executor_opts_t.backend is set (libmproc_mpi's
 * mp_mpi_backend() is one).  Users of the executor never need this header.
 *
 * The executor keeps everything a user sees (futures, callbacks, wait,
 * as_completed, map's chunks, cancel of a pending task, shutdown): the
 * backend only takes pending jobs, runs them somewhere, and ends them.
 * A job is an apply task (fn is an mp_task_fn, in is its bytes) or a map
 * chunk (fn is an mp_map_fn, in is count elements of in_size bytes, its
 * result count elements of out_size bytes).
 */
#ifndef MPROC_BACKEND_H
#define MPROC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"
#include "mproc/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MP_BACKEND_APPLY = 1, MP_BACKEND_MAP = 2 };

typedef struct mp_backend_job {
	void *handle;         /* for mp_executor_backend_end */
	uintptr_t fn;         /* mp_task_fn (APPLY) or mp_map_fn (MAP) */
	int kind;             /* MP_BACKEND_APPLY or MP_BACKEND_MAP */
	uint32_t count;       /* MAP: elements */
	size_t in_size, out_size; /* MAP: bytes per element */
	const void *in;       /* borrowed until the job is ended */
	size_t in_len;
} mp_backend_job_t;

struct mp_executor_backend {
	const char *name;
	/* From mp_executor_new, after the executor exists: 0 with *state
	 * and *workers (how many run tasks: the map chunk rule), or a
	 * negative code (mp_executor_new fails with it and the backend's
	 * message).  It may also never return (an SPMD worker process). */
	int (*start)(mp_executor_t *ex, const mp_executor_opts_t *opts,
		     void **state, unsigned *workers);
	/* Jobs were queued or the state changed: wake up.  Called with the
	 * executor's lock held: must not call back into the executor. */
	void (*kick)(void *state);
	/* From mp_executor_free, once the executor is terminated: end what
	 * runs, call mp_executor_backend_stopped if not done yet, and
	 * release state, in bounded time. */
	void (*stop)(void *state);
	/* mp_future_kill of a taken job (handle): kill it where it runs and
	 * end it with MP_ECANCELLED once it is gone (or end it so at once if
	 * it has not left yet); 1, or a negative code.  Called with the
	 * executor's lock held: must not call back into the executor.  NULL:
	 * mp_future_kill of a taken job is -ENOTSUP. */
	int (*kill)(void *state, void *handle);
};

/*
 * mp_executor_backend_take - take up to max pending jobs (oldest first;
 * they now count as running): how many were written to jobs (room for
 * max).  0 when there are none, and 0 with -EINVAL as mp_last_error_code
 * when ex is NULL or has no backend (a local executor) or jobs is NULL
 * with max > 0.  Thread-safe.
 */
MP_API size_t mp_executor_backend_take(mp_executor_t *ex, size_t max,
				       mp_backend_job_t *jobs);

/*
 * mp_executor_backend_end - end a taken job: status 0 with its result
 * (data, len: copied), or a failure code with its message as data (e.g.
 * MP_ETASK, MP_EBROKEN, -ETIMEDOUT, MP_ECANCELLED).  A map chunk's result
 * of another length than count * out_size fails it with MP_EBROKEN.
 * Thread-safe; not with the handle of a job already ended.  With ex NULL
 * or without a backend, handle NULL, or data NULL with len > 0: nothing
 * is done and mp_last_error_code is -EINVAL.
 */
MP_API void mp_executor_backend_end(mp_executor_t *ex, void *handle,
				    int status, const void *data, size_t len);

enum {
	MP_BACKEND_RUN = 1,        /* take jobs and run them */
	MP_BACKEND_CLOSING = 2,    /* shut down once the jobs are done */
	MP_BACKEND_TERMINATED = 3, /* end the running jobs (MP_ECANCELLED) */
	MP_BACKEND_KILLED = 4,     /* the same with MP_EBROKEN
				    * (terminate_workers, kill_workers) */
	MP_BACKEND_STOPPED = 5,    /* mp_executor_backend_stopped was called */
};

/* mp_executor_backend_state - what the executor asks now (MP_BACKEND_*),
 * or -EINVAL when ex is NULL or has no backend.  Thread-safe. */
MP_API int mp_executor_backend_state(mp_executor_t *ex);

/*
 * mp_executor_backend_stopped - every job taken has ended and the workers
 * are gone: mp_executor_shutdown returns.  The pending jobs (if any) fail
 * with MP_ECANCELLED.  Thread-safe.  ex NULL or without a backend:
 * nothing is done, -EINVAL in mp_last_error_code.
 */
MP_API void mp_executor_backend_stopped(mp_executor_t *ex);

/*
 * mp_executor_backend_break - no worker is left: the pending jobs fail
 * with MP_EBROKEN and msg, and submissions are refused with it (the
 * running ones are the backend's to end); msg NULL reads "the backend
 * broke".  Thread-safe.  ex NULL or without a backend: nothing is done,
 * -EINVAL in mp_last_error_code.
 */
MP_API void mp_executor_backend_break(mp_executor_t *ex, const char *msg);

/*
 * mp_executor_backend_why - leave the reason for code (printf format) that
 * start is about to return: mp_executor_new's message.  Returns code.
 * Thread-safe (the reason is the calling thread's).
 */
MP_API int mp_executor_backend_why(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_BACKEND_H */
