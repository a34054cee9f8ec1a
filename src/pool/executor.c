/*
 * pool/executor.c - the ProcessPoolExecutor face: futures are the pool's
 * results (pool_int.h); as_completed and wait are built on done callbacks
 * feeding a waiter, so they work across executors without polling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "pool/pool_int.h"

struct mp_executor {
	mp_pool_t *pool;
};

static mp_async_result_t *R(mp_future_t *f)
{
	return (mp_async_result_t *)f;
}

mp_executor_t *mp_executor_new(const mp_executor_opts_t *opts)
{
	static const mp_executor_opts_t defaults;
	static const char pool_new[] = "mp_pool_new: ";
	char why[512];
	mp_executor_t *ex;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	/* Checked here, with the executor's names for them. */
	if (opts->max_workers > MPI_POOL_MAX_PROCESSES) {
		MPI_ERR(-EINVAL, "opts->max_workers %u is too many (at most %d)",
			opts->max_workers, MPI_POOL_MAX_PROCESSES);
		return NULL;
	}
	if ((rc = mpi_timeout_check(opts->task_timeout, "opts->task_timeout")) < 0) {
		MPI_RAISE(rc);
		return NULL;
	}
	if ((ex = mpi_calloc(1, sizeof(*ex))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	ex->pool = mp_pool_new(&(mp_pool_opts_t){
		.processes = opts->max_workers,
		.initializer = opts->initializer,
		.initarg = opts->initarg,
		.maxtasksperchild = opts->max_tasks_per_child,
		.task_timeout = opts->task_timeout});
	if (ex->pool == NULL) {
		/* The same failure, said by the function the caller called. */
		const char *m = mp_last_error();

		if (strncmp(m, pool_new, sizeof(pool_new) - 1) == 0)
			m += sizeof(pool_new) - 1;
		snprintf(why, sizeof(why), "%s", m);
		MPI_ERR(mp_last_error_code(), "%s", why);
		mpi_free(ex);
		return NULL;
	}
	return ex;
}

mp_future_t *mp_executor_submit(mp_executor_t *ex, mp_task_fn fn,
				const void *in, size_t in_len)
{
	mp_async_result_t *r;

	MPI_CHECK_NULL_P(ex);
	MPI_CHECK_NULL_P(fn);
	if ((r = mpi_apply_async(ex->pool, fn, in, in_len, NULL, true,
				 __func__)) == NULL) {
		if (mp_last_error_code() == MP_ECLOSED)
			MPI_ERR(MP_ECLOSED, "cannot schedule new futures after "
					    "shutdown");
		return NULL;
	}
	return (mp_future_t *)r;
}

/* Wait for f; its status (with the message set), or -ETIMEDOUT. */
static int settle(mp_future_t *f, double timeout, const char *func)
{
	mp_async_result_t *r = R(f);
	uint64_t deadline;
	int rc;

	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return mpi_error(rc, func, "%s", mpi_reason(rc));
	if (mpi_result_wait(r, deadline) < 0)
		return mpi_error(-ETIMEDOUT, func, "future not done after %gs",
				 timeout);
	if (r->cancelled)
		return mpi_error(MP_ECANCELLED, func, "the future was cancelled");
	if (r->status != 0)
		return mpi_error(r->status, func, "%s",
				 r->msg ? r->msg : mp_strerror(r->status));
	return 0;
}

int mp_future_result(mp_future_t *f, double timeout, const void **out,
		     size_t *len)
{
	int rc;

	MPI_CHECK_NULL(f);
	if ((rc = settle(f, timeout, __func__)) < 0)
		return rc;
	if (out)
		*out = R(f)->data;
	if (len)
		*len = R(f)->len;
	return 0;
}

int mp_future_exception(mp_future_t *f, double timeout)
{
	MPI_CHECK_NULL(f);
	return settle(f, timeout, __func__);
}

int mp_future_done(mp_future_t *f)
{
	MPI_CHECK_NULL(f);
	return mp_async_result_ready((mp_async_result_t *)f);
}

int mp_future_running(mp_future_t *f)
{
	int running;

	MPI_CHECK_NULL(f);
	if (mp_future_done(f))
		return 0;
	mpi_pool_lock(R(f)->pool);
	running = R(f)->job.state == J_RUNNING;
	mpi_pool_unlock(R(f)->pool);
	return running;
}

int mp_future_cancelled(mp_future_t *f)
{
	MPI_CHECK_NULL(f);
	return mp_future_done(f) && R(f)->cancelled;
}

int mp_future_cancel(mp_future_t *f)
{
	mp_async_result_t *r = R(f);
	int rc;

	MPI_CHECK_NULL(f);
	if (mp_future_done(f))
		return r->cancelled;
	mpi_pool_lock(r->pool);
	rc = r->job.state == J_PENDING;
	if (rc) {
		r->cancelled = true;
		mpi_pool_cancel(r->pool, &r->job);
	} else if (r->job.state == J_DONE) {
		rc = r->cancelled;
	}
	mpi_pool_unlock(r->pool); /* runs its done callbacks */
	return rc;
}

int mp_future_add_done_callback(mp_future_t *f, mp_future_done_fn fn, void *arg)
{
	mp_async_result_t *r = R(f);
	struct done_cb *c;

	MPI_CHECK_NULL(f);
	MPI_CHECK_NULL(fn);
	if (!__atomic_load_n(&r->notified, __ATOMIC_ACQUIRE)) {
		if ((c = mpi_malloc(sizeof(*c))) == NULL)
			return MPI_ERR(-ENOMEM, "out of memory");
		*c = (struct done_cb){NULL, fn, arg};
		mpi_pool_lock(r->pool);
		if (!r->notified) {
			struct done_cb **pp = &r->cbs;
			while (*pp != NULL)
				pp = &(*pp)->next;
			*pp = c;
			c = NULL;
		}
		mpi_pool_unlock(r->pool);
		if (c == NULL)
			return 0;
		mpi_free(c);
	}
	fn(f, arg); /* already done: at once, here */
	return 0;
}

void mp_future_free(mp_future_t *f)
{
	mp_async_result_free((mp_async_result_t *)f);
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
	mpi_free(w->ready);
	mpi_free(w);
}

static void waiter_cb(mp_future_t *f, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->ready[w->nready++] = f;
	if (R(f)->cancelled || R(f)->status != 0)
		w->nfailed++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	waiter_release(w);
}

/* Distinct futures of fs (sorted copy); NULL on -ENOMEM. */
static mp_future_t **distinct(mp_future_t *const *fs, size_t n, size_t *m)
{
	mp_future_t **u = mpi_reallocarray(NULL, n ? n : 1, sizeof(*u));
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

static struct waiter *waiter_new(mp_future_t *const *fs, size_t n,
				 const char *func)
{
	struct waiter *w = mpi_calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	mp_future_t **u;
	size_t m;

	if (n >= INT32_MAX) { /* w->refs counts one per future */
		mpi_free(w);
		mpi_error(-EINVAL, func, "n %zu: at most INT32_MAX - 1 futures", n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (fs[i] == NULL) {
			mpi_free(w);
			mpi_error(-EINVAL, func, "fs[%zu] is NULL", i);
			return NULL;
		}
	if (w == NULL || (u = distinct(fs, n, &m)) == NULL) {
		mpi_free(w);
		mpi_error(-ENOMEM, func, "out of memory");
		return NULL;
	}
	if ((w->ready = mpi_calloc(m ? m : 1, sizeof(*w->ready))) == NULL) {
		mpi_free(u);
		mpi_free(w);
		mpi_error(-ENOMEM, func, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->n = m;
	w->refs = 1 + (int)m;
	for (size_t i = 0; i < m; i++)
		if (mp_future_add_done_callback(u[i], waiter_cb, w) < 0) {
			/* Out of memory: the i callbacks registered keep w
			 * until they run; drop the others' references and
			 * ours (never count an unfinished future as done). */
			for (size_t k = i; k <= m; k++)
				waiter_release(w);
			mpi_free(u);
			mpi_error(-ENOMEM, func, "out of memory");
			return NULL;
		}
	mpi_free(u);
	return w;
}

/* Wait (w->mu held) until cond or the deadline: 0 or -ETIMEDOUT. */
static int waiter_wait(struct waiter *w, bool (*cond)(struct waiter *, int),
		       int arg, uint64_t deadline)
{
	struct timespec ts;

	while (!cond(w, arg)) {
		if (deadline == MPI_NO_DEADLINE) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT &&
		    !cond(w, arg))
			return -ETIMEDOUT;
	}
	return 0;
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
		MPI_ERR(-EINVAL, "argument 'fs' is NULL");
		return NULL;
	}
	if ((rc = mpi_deadline(timeout, &deadline)) < 0) {
		MPI_RAISE(rc);
		return NULL;
	}
	if ((it = mpi_calloc(1, sizeof(*it))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	it->deadline = deadline;
	if ((it->w = waiter_new(fs, n, __func__)) == NULL) {
		mpi_free(it);
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

	MPI_CHECK_NULL(it);
	MPI_CHECK_NULL(f);
	w = it->w;
	pthread_mutex_lock(&w->mu);
	if (w->head == w->n) {
		pthread_mutex_unlock(&w->mu);
		return MPI_ERR(MP_EEOF, "every future was yielded");
	}
	rc = waiter_wait(w, has_next, 0, it->deadline);
	if (rc == 0)
		*f = w->ready[w->head++];
	else
		MPI_ERR(rc, "%zu (of %zu) futures unfinished", w->n - w->nready,
			w->n);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void mp_as_completed_free(mp_as_completed_t *it)
{
	if (it == NULL)
		return;
	waiter_release(it->w);
	mpi_free(it);
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
		return MPI_ERR(-EINVAL, "argument 'fs' is NULL");
	if (when < MP_FIRST_COMPLETED || when > MP_ALL_COMPLETED)
		return MPI_ERR(-EINVAL, "argument 'when' is %d", (int)when);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	if ((w = waiter_new(fs, n, __func__)) == NULL)
		return mp_last_error_code();
	pthread_mutex_lock(&w->mu);
	waiter_wait(w, wait_holds, when, deadline);
	pthread_mutex_unlock(&w->mu);
	waiter_release(w);
	for (size_t i = 0; i < n; i++) /* done ones first, stable */
		if (mp_future_done(fs[i])) {
			mp_future_t *x = fs[i];
			memmove(fs + k + 1, fs + k, (i - k) * sizeof(*fs));
			fs[k++] = x;
		}
	return k > INT32_MAX ? INT32_MAX : (int)k;
}

/* ---- map, shutdown ---- */

int mp_executor_map(mp_executor_t *ex, mp_map_fn fn, const void *in, size_t n,
		    size_t in_size, void *out, size_t out_size, double timeout,
		    const mp_map_opts_t *opts)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(ex);
	MPI_CHECK_NULL(fn);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	rc = mpi_map(ex->pool, fn, in, n, in_size, out, out_size, opts,
		     deadline, __func__);
	if (rc == MP_ECLOSED)
		return MPI_ERR(rc, "cannot schedule new futures after shutdown");
	return rc;
}

int mp_executor_shutdown(mp_executor_t *ex, bool wait, bool cancel_futures)
{
	MPI_CHECK_NULL(ex);
	if (cancel_futures)
		mpi_pool_cancel_pending(ex->pool);
	mp_pool_close(ex->pool);
	return wait ? mp_pool_join(ex->pool, MP_FOREVER) : 0;
}

void mp_executor_free(mp_executor_t *ex)
{
	if (ex == NULL)
		return;
	mp_executor_shutdown(ex, true, false);
	mp_pool_free(ex->pool);
	mpi_free(ex);
}
