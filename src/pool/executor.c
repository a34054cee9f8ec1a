/*
 * pool/executor.c - the ProcessPoolExecutor face: futures are the pool's
 * results (pool_int.h); as_completed and wait are built on done callbacks
 * feeding a waiter, so they work across executors without polling.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/cond.h"
#include "internal/error.h"
#include "pool/pool_int.h"

struct mp_executor {
	mp_pool_t *pool;
};

static mp_async_result_t *R(mp_future_t *f)
{
	return (mp_async_result_t *)f;
}

/* mp_executor_new's end with a backend. */
static mp_executor_t *backend_new(mp_executor_t *ex,
				  const mp_executor_opts_t *opts)
{
	const struct mp_executor_backend *be = opts->backend;
	unsigned workers = 1;
	void *state = NULL;
	int rc;

	if (be->start == NULL || be->kick == NULL || be->stop == NULL) {
		mp__free(ex);
		mp__error(-EINVAL, "mp_executor_new",
			  "opts->backend lacks start, kick or stop");
		return NULL;
	}
	rc = mp__pool_create_remote(&(mp_pool_opts_t){
		.task_timeout = opts->task_timeout}, be, &ex->pool);
	if (rc < 0) {
		mp__free(ex);
		mp__raise(rc, "mp_executor_new");
		return NULL;
	}
	if ((rc = be->start(ex, opts, &state, &workers)) < 0) {
		mp__pool_lock(ex->pool);
		ex->pool->state = STOPPED;
		mp__pool_unlock(ex->pool);
		mp__pool_destroy(ex->pool);
		mp__free(ex);
		mp__raise(rc, "mp_executor_new");
		return NULL;
	}
	mp__pool_lock(ex->pool);
	ex->pool->bstate = state;
	ex->pool->remote_n = workers ? workers : 1;
	mp__pool_unlock(ex->pool);
	mp__pool_kick(ex->pool); /* jobs queued before bstate was set */
	return ex;
}

mp_executor_t *mp_executor_new(const mp_executor_opts_t *opts)
{
	static const mp_executor_opts_t defaults;
	mp_executor_t *ex;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	/* Checked here, with the executor's names for them. */
	if (opts->max_workers > MP__POOL_MAX_PROCESSES) {
		MP__ERR(-EINVAL, "opts->max_workers %u is too many (at most %d)",
			opts->max_workers, MP__POOL_MAX_PROCESSES);
		return NULL;
	}
	if ((rc = mp__timeout_check(opts->task_timeout, "opts->task_timeout")) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	if ((ex = mp__calloc(1, sizeof(*ex))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	if (opts->backend != NULL && opts->start_method != NULL) {
		mp__free(ex);
		MP__ERR(-EINVAL, "opts->start_method is for local workers; "
				 "opts->backend starts its own");
		return NULL;
	}
	if (opts->backend != NULL)
		return backend_new(ex, opts);
	rc = mp__pool_create(&(mp_pool_opts_t){
		.processes = opts->max_workers,
		.initializer = opts->initializer,
		.initarg = opts->initarg,
		.maxtasksperchild = opts->max_tasks_per_child,
		.task_timeout = opts->task_timeout,
		.start_method = opts->start_method,
		.initarg_len = opts->initarg_len}, &ex->pool);
	if (rc < 0) {
		mp__free(ex);
		MP__RAISE(rc);
		return NULL;
	}
	return ex;
}

mp_future_t *mp_executor_submit(mp_executor_t *ex, mp_task_fn fn,
				const void *in, size_t in_len)
{
	mp_async_result_t *r = NULL;
	int rc;

	MP__CHECK_NULL_P(ex);
	MP__CHECK_NULL_P(fn);
	rc = mp__apply_async(ex->pool, fn, in, in_len, NULL, true, &r);
	if (rc == MP_ECLOSED)
		MP__ERR(rc, "cannot schedule new futures after shutdown");
	else if (rc < 0)
		MP__RAISE(rc);
	return (mp_future_t *)r;
}

int mp_executor_submit_many(mp_executor_t *ex, mp_task_fn fn,
			    const void *const *in, const size_t *in_len,
			    size_t n, mp_future_t **out)
{
	int rc;

	MP__CHECK_NULL(ex);
	MP__CHECK_NULL(fn);
	rc = mp__apply_async_many(ex->pool, fn, in, in_len, n, NULL, true,
				  (mp_async_result_t **)out);
	if (rc == MP_ECLOSED)
		return MP__ERR(rc, "cannot schedule new futures after shutdown");
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* Wait for f: 0, or its status (a reason left), or -ETIMEDOUT, -EINVAL. */
static int settle(mp_future_t *f, double timeout)
{
	mp_async_result_t *r = R(f);
	uint64_t deadline;
	int rc;

	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	if (mp__result_wait(r, deadline) < 0)
		return mp__why(-ETIMEDOUT, "future not done after %gs", timeout);
	if (r->cancelled)
		return mp__why(MP_ECANCELLED, "the future was cancelled");
	if (r->res.status != 0)
		return mp__why(r->res.status, "%s", mp__outcome_msg(&r->res));
	return 0;
}

int mp_future_result(mp_future_t *f, double timeout, const mp_bytes_t **out)
{
	int rc;

	MP__CHECK_NULL(f);
	if ((rc = settle(f, timeout)) < 0)
		return MP__RAISE(rc);
	if (out)
		*out = &R(f)->res.bytes;
	return 0;
}

int mp_future_exception(mp_future_t *f, double timeout)
{
	int rc;

	MP__CHECK_NULL(f);
	if ((rc = settle(f, timeout)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_future_done(mp_future_t *f)
{
	MP__CHECK_NULL(f);
	return mp__result_done(R(f));
}

int mp_future_running(mp_future_t *f)
{
	int running;

	MP__CHECK_NULL(f);
	if (mp__result_done(R(f)))
		return 0;
	mp__pool_lock(R(f)->pool);
	running = R(f)->job.state == J_RUNNING;
	mp__pool_unlock(R(f)->pool);
	return running;
}

int mp_future_cancelled(mp_future_t *f)
{
	MP__CHECK_NULL(f);
	return mp__result_done(R(f)) && R(f)->cancelled;
}

int mp_future_cancel(mp_future_t *f)
{
	mp_async_result_t *r = R(f);
	int rc;

	MP__CHECK_NULL(f);
	if (mp__result_done(r))
		return r->cancelled;
	mp__pool_lock(r->pool);
	rc = r->job.state == J_PENDING;
	if (rc) {
		r->cancelled = true;
		mp__pool_cancel(r->pool, &r->job);
	} else if (r->job.state == J_DONE) {
		rc = r->cancelled;
	}
	mp__pool_unlock(r->pool); /* runs its done callbacks */
	return rc;
}

int mp_future_kill(mp_future_t *f)
{
	int rc;

	MP__CHECK_NULL(f);
	/* A future is never a map_async: only a backend's refusal fails. */
	if ((rc = mp__result_kill(R(f))) < 0)
		return MP__RAISE(rc);
	return rc;
}

/* Lock-free: callbacks are pushed on r->cbs until mp__result_notify swaps in
 * MP__CBS_DONE; one pushed later finds it and runs at once. */
int mp__result_add_done_callback(mp_async_result_t *r, mp_future_done_fn fn,
				 void *arg)
{
	struct done_cb *c, *old = __atomic_load_n(&r->cbs, __ATOMIC_ACQUIRE);

	if (old != MP__CBS_DONE) {
		if ((c = mp__malloc(sizeof(*c))) == NULL)
			return mp__why(-ENOMEM, "out of memory");
		*c = (struct done_cb){old, fn, arg};
		while (old != MP__CBS_DONE) {
			if (__atomic_compare_exchange_n(&r->cbs, &old, c, true,
							__ATOMIC_RELEASE,
							__ATOMIC_ACQUIRE))
				return 0;
			c->next = old;
		}
		mp__free(c);
	}
	fn((mp_future_t *)r, arg); /* already done: at once, here */
	return 0;
}

int mp_future_add_done_callback(mp_future_t *f, mp_future_done_fn fn, void *arg)
{
	int rc;

	MP__CHECK_NULL(f);
	MP__CHECK_NULL(fn);
	if ((rc = mp__result_add_done_callback(R(f), fn, arg)) < 0)
		return MP__RAISE(rc);
	return 0;
}

void mp_future_free(mp_future_t *f)
{
	if (f != NULL)
		mp__result_free(R(f));
}

/* ---- waiting on many futures: a waiter fed by done callbacks ---- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;           /* ours and one per pending callback */
	size_t n, nready, nfailed, head;
	mp_future_t **ready; /* in completion order */
};

static void waiter_release(struct waiter *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	mp__free(w->ready);
	mp__free(w);
}

static void waiter_cb(mp_future_t *f, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->ready[w->nready++] = f;
	if (R(f)->cancelled || R(f)->res.status != 0)
		w->nfailed++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	waiter_release(w);
}

/* Distinct futures of fs (sorted copy); NULL on -ENOMEM. */
static mp_future_t **distinct(mp_future_t *const *fs, size_t n, size_t *m)
{
	mp_future_t **u = mp__reallocarray(NULL, n ? n : 1, sizeof(*u));
	size_t k = 0;

	if (u == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		u[i] = fs[i];
	for (size_t i = 1; i < n; i++) { /* insertion sort, then dedup */
		mp_future_t *x = u[i];
		size_t j = i;
		while (j > 0 && (uintptr_t)u[j - 1] > (uintptr_t)x) {
			u[j] = u[j - 1];
			j--;
		}
		u[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		if (k == 0 || u[k - 1] != u[i])
			u[k++] = u[i];
	*m = k;
	return u;
}

/* A waiter fed by the done callbacks of fs: 0 with *out, or -EINVAL /
 * -ENOMEM with a reason. */
static int waiter_new(mp_future_t *const *fs, size_t n, struct waiter **out)
{
	struct waiter *w;
	mp_future_t **u;
	size_t m;
	int rc;

	if (n >= INT32_MAX) /* w->refs counts one per future */
		return mp__why(-EINVAL, "n %zu: at most INT32_MAX - 1 futures", n);
	for (size_t i = 0; i < n; i++)
		if (fs[i] == NULL)
			return mp__why(-EINVAL, "fs[%zu] is NULL", i);
	if ((w = mp__calloc(1, sizeof(*w))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	if ((u = distinct(fs, n, &m)) == NULL) {
		mp__free(w);
		return mp__why(-ENOMEM, "out of memory");
	}
	rc = (w->ready = mp__calloc(m ? m : 1, sizeof(*w->ready))) == NULL
		     ? -ENOMEM : mp__cond_init_monotonic(&w->cv);
	if (rc < 0) {
		mp__free(w->ready);
		mp__free(u);
		mp__free(w);
		return mp__why(rc, "cannot set up the wait: %s", mp_strerror(rc));
	}
	pthread_mutex_init(&w->mu, NULL);
	w->n = m;
	w->refs = 1 + (int)m;
	for (size_t i = 0; i < m; i++)
		if (mp__result_add_done_callback(R(u[i]), waiter_cb, w) < 0) {
			/* Out of memory: the i callbacks registered keep w
			 * until they run; drop the others' references and
			 * ours (never count an unfinished future as done). */
			for (size_t k = i; k <= m; k++)
				waiter_release(w);
			mp__free(u);
			return mp__why(-ENOMEM, "out of memory");
		}
	mp__free(u);
	*out = w;
	return 0;
}

/* What a waiter waits for: a condition on it and `when`. */
struct wait_for {
	struct waiter *w;
	bool (*cond)(struct waiter *, int);
	int arg;
};

static bool wait_for_holds(void *arg)
{
	struct wait_for *f = arg;

	return f->cond(f->w, f->arg);
}

/* Wait (w->mu held) until cond or the deadline: 0 or -ETIMEDOUT. */
static int waiter_wait(struct waiter *w, bool (*cond)(struct waiter *, int),
		       int arg, uint64_t deadline)
{
	struct wait_for f = {w, cond, arg};

	return mp__cond_wait_until(&w->cv, &w->mu, wait_for_holds, &f, deadline);
}

struct mp_as_completed {
	struct waiter *w;
	uint64_t deadline;
};

mp_as_completed_t *mp_as_completed(mp_future_t *const *fs, size_t n,
				   double timeout)
{
	mp_as_completed_t *it;
	uint64_t deadline;
	int rc;

	if (fs == NULL && n > 0) {
		MP__ERR(-EINVAL, "argument 'fs' is NULL");
		return NULL;
	}
	if ((rc = mp__deadline(timeout, &deadline)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	if ((it = mp__calloc(1, sizeof(*it))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	it->deadline = deadline;
	if ((rc = waiter_new(fs, n, &it->w)) < 0) {
		mp__free(it);
		MP__RAISE(rc);
		return NULL;
	}
	return it;
}

static bool has_next(struct waiter *w, int unused)
{
	(void)unused;
	return w->head < w->nready;
}

int mp_as_completed_next(mp_as_completed_t *it, mp_future_t **f)
{
	struct waiter *w;
	int rc;

	MP__CHECK_NULL(it);
	MP__CHECK_NULL(f);
	w = it->w;
	pthread_mutex_lock(&w->mu);
	if (w->head == w->n) {
		pthread_mutex_unlock(&w->mu);
		return MP__ERR(MP_EEOF, "every future was yielded");
	}
	rc = waiter_wait(w, has_next, 0, it->deadline);
	if (rc == 0)
		*f = w->ready[w->head++];
	else
		MP__ERR(rc, "%zu (of %zu) futures unfinished", w->n - w->nready,
			w->n);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void mp_as_completed_free(mp_as_completed_t *it)
{
	if (it == NULL)
		return;
	waiter_release(it->w);
	mp__free(it);
}

static bool wait_holds(struct waiter *w, int when)
{
	return w->nready == w->n ||
	       (when == MP_FIRST_COMPLETED && w->nready > 0) ||
	       (when == MP_FIRST_EXCEPTION && w->nfailed > 0);
}

int mp_futures_wait(mp_future_t **fs, size_t n, double timeout,
		    mp_return_when_t when)
{
	struct waiter *w;
	uint64_t deadline;
	size_t k = 0;
	int rc;

	if (fs == NULL && n > 0)
		return MP__ERR(-EINVAL, "argument 'fs' is NULL");
	if (when < MP_FIRST_COMPLETED || when > MP_ALL_COMPLETED)
		return MP__ERR(-EINVAL, "argument 'when' is %d", (int)when);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = waiter_new(fs, n, &w)) < 0)
		return MP__RAISE(rc);
	pthread_mutex_lock(&w->mu);
	waiter_wait(w, wait_holds, when, deadline);
	pthread_mutex_unlock(&w->mu);
	waiter_release(w);
	for (size_t i = 0; i < n; i++) /* done ones first, stable */
		if (mp__result_done(R(fs[i]))) {
			mp_future_t *x = fs[i];
			memmove(fs + k + 1, fs + k, (i - k) * sizeof(*fs));
			fs[k++] = x;
		}
	return k > INT32_MAX ? INT32_MAX : (int)k;
}

/* ---- map, shutdown ---- */

int mp_executor_map(mp_executor_t *ex, mp_map_fn fn, const void *in, size_t n,
		    size_t in_size, void *out, size_t out_size,
		    const mp_map_opts_t *opts, double timeout)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(ex);
	MP__CHECK_NULL(fn);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	rc = mp__map(ex->pool, fn, in, n, in_size, out, out_size, opts,
		     deadline);
	if (rc == MP_ECLOSED)
		return MP__ERR(rc, "cannot schedule new futures after shutdown");
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_executor_shutdown(mp_executor_t *ex, unsigned flags)
{
	int rc;

	MP__CHECK_NULL(ex);
	if (flags & ~(unsigned)(MP_SHUTDOWN_NOWAIT | MP_SHUTDOWN_CANCEL_FUTURES))
		return MP__ERR(-EINVAL, "unknown flags 0x%x", flags);
	if (flags & MP_SHUTDOWN_CANCEL_FUTURES)
		mp__pool_cancel_pending(ex->pool);
	mp__pool_close(ex->pool);
	if (flags & MP_SHUTDOWN_NOWAIT)
		return 0;
	/* Closed: the join cannot fail but for the deadline, and has none. */
	if ((rc = mp__pool_join(ex->pool, MP__NO_DEADLINE)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_executor_terminate_workers(mp_executor_t *ex)
{
	MP__CHECK_NULL(ex);
	mp__pool_signal_workers(ex->pool, SIGTERM);
	return 0;
}

int mp_executor_kill_workers(mp_executor_t *ex)
{
	MP__CHECK_NULL(ex);
	mp__pool_signal_workers(ex->pool, SIGKILL);
	return 0;
}

void mp_executor_free(mp_executor_t *ex)
{
	if (ex == NULL)
		return;
	/* CPython's shutdown(wait=True), bounded; then terminate. */
	mp__pool_close(ex->pool);
	(void)mp__pool_join(ex->pool, mp__deadline_in(mp__timeout_ns(
					  MP_EXECUTOR_FREE_GRACE)));
	mp__pool_destroy(ex->pool); /* terminates what is left */
	mp__free(ex);
}

/* ---- the backend's side (mproc/backend.h) ---- */

/* Is ex an executor with a backend?  0, or -EINVAL with a reason (a local
 * executor's jobs are its supervisor's: taking them would run them
 * twice). */
static int backend_of(const mp_executor_t *ex)
{
	if (ex == NULL)
		return mp__why(-EINVAL, "argument 'ex' is NULL");
	if (ex->pool->backend == NULL)
		return mp__why(-EINVAL, "the executor has no backend (its "
				       "local workers run its jobs)");
	return 0;
}

size_t mp_executor_backend_take(mp_executor_t *ex, size_t max,
				mp_backend_job_t *jobs)
{
	int rc = backend_of(ex);

	if (rc == 0 && jobs == NULL && max > 0)
		rc = mp__why(-EINVAL, "argument 'jobs' is NULL but max is %zu",
			     max);
	if (rc < 0) {
		MP__RAISE(rc);
		return 0;
	}
	return mp__pool_take(ex->pool, max, jobs);
}

void mp_executor_backend_end(mp_executor_t *ex, void *handle, int status,
			     const void *data, size_t len)
{
	int rc = backend_of(ex);

	if (rc == 0 && handle == NULL)
		rc = mp__why(-EINVAL, "argument 'handle' is NULL");
	if (rc == 0 && data == NULL && len > 0)
		rc = mp__why(-EINVAL, "argument 'data' is NULL but len is %zu",
			     len);
	if (rc < 0)
		MP__RAISE(rc);
	else
		mp__pool_end(ex->pool, handle, status, data, len);
}

int mp_executor_backend_state(mp_executor_t *ex)
{
	int rc = backend_of(ex);

	return rc < 0 ? MP__RAISE(rc) : mp__pool_remote_state(ex->pool);
}

void mp_executor_backend_stopped(mp_executor_t *ex)
{
	int rc = backend_of(ex);

	if (rc < 0)
		MP__RAISE(rc);
	else
		mp__pool_remote_stopped(ex->pool);
}

void mp_executor_backend_break(mp_executor_t *ex, const char *msg)
{
	int rc = backend_of(ex);

	if (rc < 0)
		MP__RAISE(rc);
	else
		mp__pool_remote_break(ex->pool, msg ? msg : "the backend broke");
}

int mp_executor_backend_why(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mp__why(code, "%s", msg);
}
