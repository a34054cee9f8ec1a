/*
 * pool/pool.c - the Pool face: AsyncResult, apply_async, apply (map and
 * map_async are in map.c, imap in imap.c).
 *
 * Results are reference counted (the user's reference and the engine's
 * until the callbacks have run), so a result may be freed before it is
 * ready, and a ready one may be read after its pool is gone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "pool/pool_int.h"

/* ---- AsyncResult ---- */

struct done_cb mp__cbs_done;


bool mp__result_done(const mp_async_result_t *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);
}

static bool is_done(void *arg)
{
	return mp__result_done(arg);
}

/* ---- outcomes (also imap's) ---- */

void mp__outcome_take(struct mp__outcome *o, int status, const char *data,
		      size_t len, void **buf)
{
	o->status = status;
	if (status != 0) {
		o->msg = mp__strndup(data ? data : "", len);
	} else if (buf != NULL && *buf != NULL) {
		o->buf = *buf; /* keep the received record: no copy */
		*buf = NULL;
		o->bytes = (mp_bytes_t){(char *)data, len};
	} else if (len > SIZE_MAX - 1 || (o->buf = mp__malloc(len + 1)) == NULL) {
		o->status = -ENOMEM;
	} else {
		if (len)
			memcpy(o->buf, data, len);
		((char *)o->buf)[len] = '\0';
		o->bytes = (mp_bytes_t){o->buf, len};
	}
}

void mp__outcome_destroy(struct mp__outcome *o)
{
	mp__free(o->buf);
	mp__free(o->msg);
	*o = (struct mp__outcome){0};
}

const char *mp__outcome_msg(const struct mp__outcome *o)
{
	return o->msg ? o->msg : mp_strerror(o->status);
}

static void result_destroy(mp_async_result_t *r)
{
	struct done_cb *c, *next;

	if (r->map != NULL)
		mp__map_release(r->map);
	for (c = r->cbs; c != NULL && c != MP__CBS_DONE; c = next) {
		next = c->next;
		mp__free(c);
	}
	mp__outcome_destroy(&r->res);
	mp__free(r);
}

void mp__result_release(mp_async_result_t *r)
{
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		result_destroy(r);
}

static bool apply_complete(mp_pool_t *p, struct mp__job *j, int status,
			   const char *data, size_t len, void **buf)
{
	mp_async_result_t *r = (mp_async_result_t *)j;

	(void)p;
	r->cancelled = r->future && status == MP_ECANCELLED;
	if (status == 0 && len <= INLINE_RESULT) { /* no allocation */
		if (len)
			memcpy(r->small, data, len);
		r->small[len] = '\0';
		r->res.status = 0;
		r->res.bytes = (mp_bytes_t){r->small, len};
	} else {
		mp__outcome_take(&r->res, status, data, len, buf);
	}
	return true; /* done is published by mp__result_notify */
}

/* The callbacks, then r is done (as in CPython, get() returns after the
 * callback ran), then the done callbacks, then the engine's reference
 * goes. */
void mp__result_notify(mp_async_result_t *r)
{
	if (r->map != NULL)
		mp__map_callback(r->map, &r->res);
	else if (r->res.status == 0 && r->opts.callback)
		r->opts.callback(r->res.bytes.data, r->res.bytes.len,
				 r->opts.arg);
	else if (r->res.status != 0 && r->opts.error_callback)
		r->opts.error_callback(r->res.status,
				       r->res.msg ? r->res.msg : "", r->opts.arg);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->sleepers, __ATOMIC_SEQ_CST) != 0)
		mp__futex_wake(&r->done, INT32_MAX); /* see sleep_until_done */
	if (r->future) {
		struct done_cb *c, *next, *fifo = NULL;

		/* Close the list (no lock: see mp__result_add_done_callback);
		 * it was pushed newest first. */
		c = __atomic_exchange_n(&r->cbs, MP__CBS_DONE, __ATOMIC_ACQ_REL);
		for (; c != NULL; c = next) {
			next = c->next;
			c->next = fifo;
			fifo = c;
		}
		for (c = fifo; c != NULL; c = next) {
			next = c->next;
			c->fn((mp_future_t *)r, c->arg);
			mp__free(c);
		}
	}
	mp__result_release(r);
}

static void apply_notify(mp_pool_t *p, struct mp__job *j)
{
	(void)p;
	mp__result_notify((mp_async_result_t *)j);
}

static const struct mp__job_ops apply_ops = {apply_complete, apply_notify};

/* A new result holding the job fn(in): one allocation (the result, its
 * record and the input).  NULL without memory. */
static mp_async_result_t *result_new(mp_pool_t *p, mp_task_fn fn,
				     const void *in, size_t in_len,
				     const mp_apply_opts_t *opts, bool future)
{
	size_t rec_len = sizeof(struct task_hdr) + in_len;
	mp_async_result_t *r = mp__malloc(sizeof(*r) + rec_len);

	if (r == NULL)
		return NULL;
	/* Only what is read before the job ends: the rest is set then. */
	r->pool = p;
	r->refs = 2;
	r->done = 0;
	r->cancelled = false;
	r->future = future;
	r->res = (struct mp__outcome){0};
	r->opts = opts ? *opts : (mp_apply_opts_t){0};
	r->cbs = NULL;
	r->map = NULL;
	mp__job_init(&r->job, &apply_ops, (unsigned char *)(r + 1), rec_len,
		     T_APPLY, (uintptr_t)fn, 1, in_len, 0);
	if (in_len)
		memcpy(r->job.rec + sizeof(struct task_hdr), in, in_len);
	return r;
}

/* Can in/in_len be a task's input?  0 or a code with a reason. */
static int check_input(const void *in, size_t in_len)
{
	if (in == NULL && in_len > 0)
		return mp__why(-EINVAL, "argument 'in' is NULL but in_len is %zu",
			       in_len);
	if (in_len > MP_TASK_MAX_BYTES)
		return mp__why(-EMSGSIZE, "in_len %zu exceeds MP_TASK_MAX_BYTES "
			       "(%zu)", in_len, (size_t)MP_TASK_MAX_BYTES);
	return 0;
}

int mp__apply_async(mp_pool_t *p, mp_task_fn fn, const void *in,
		    size_t in_len, const mp_apply_opts_t *opts, bool future,
		    mp_async_result_t **out)
{
	mp_async_result_t *r;
	int rc;

	if ((rc = check_input(in, in_len)) < 0)
		return rc;
	if ((r = result_new(p, fn, in, in_len, opts, future)) == NULL)
		return mp__why(-ENOMEM, "out of memory for %zu bytes of input",
			       in_len);
	if (mp__pool_handoff(p, &r->job)) {
		*out = r;
		return 0;
	}
	mp__pool_lock(p); /* closed, broken or remote: submit says which */
	rc = mp__pool_submit(p, &r->job);
	mp__pool_unlock(p);
	if (rc < 0) {
		mp__free(r);
		return mp__why(rc, "%s", mp__pool_refusal(p, rc));
	}
	*out = r;
	return 0;
}

/* Free results never queued, chained through job.next. */
static void results_drop(struct mp__job *chain)
{
	struct mp__job *next;

	for (; chain != NULL; chain = next) {
		next = chain->next;
		mp__free(chain); /* the job is the result's first member */
	}
}

int mp__apply_async_many(mp_pool_t *p, mp_task_fn fn, const void *const *in,
			 const size_t *in_len, size_t n,
			 const mp_apply_opts_t *opts, bool future,
			 mp_async_result_t **out)
{
	struct mp__job *chain = NULL, *j, *next;
	mp_async_result_t *r;
	size_t i;
	int rc;

	if (n > 0 && (in == NULL || in_len == NULL || out == NULL))
		return mp__why(-EINVAL, "argument '%s' is NULL but n is %zu",
			       in == NULL ? "in" : in_len == NULL ? "in_len"
								  : "out", n);
	for (i = 0; i < n; i++) {
		if (in[i] == NULL && in_len[i] > 0)
			return mp__why(-EINVAL, "in[%zu] is NULL but in_len[%zu] "
				       "is %zu", i, i, in_len[i]);
		if (in_len[i] > MP_TASK_MAX_BYTES)
			return mp__why(-EMSGSIZE, "in_len[%zu] %zu exceeds "
				       "MP_TASK_MAX_BYTES (%zu)", i, in_len[i],
				       (size_t)MP_TASK_MAX_BYTES);
	}
	/* Made first, chained through job.next, so that out is written only
	 * once they are all queued. */
	for (i = n; i > 0; i--) {
		if ((r = result_new(p, fn, in[i - 1], in_len[i - 1], opts,
				    future)) == NULL) {
			results_drop(chain);
			return mp__why(-ENOMEM, "out of memory for task %zu "
				       "of %zu", i - 1, n);
		}
		r->job.next = chain;
		chain = &r->job;
	}
	mp__pool_lock(p);
	if ((rc = mp__pool_accepts(p)) == 0) {
		for (i = 0, j = chain; j != NULL; j = next, i++) {
			next = j->next;
			out[i] = (mp_async_result_t *)j;
			mp__pool_enqueue(p, j);
		}
		mp__pool_dispatch(p);
	}
	mp__pool_unlock(p);
	if (rc < 0) {
		results_drop(chain);
		return mp__why(rc, "%s", mp__pool_refusal(p, rc));
	}
	return 0;
}

mp_async_result_t *mp_pool_apply_async(mp_pool_t *pool, mp_task_fn fn,
				       const void *in, size_t in_len,
				       const mp_apply_opts_t *opts)
{
	mp_async_result_t *r = NULL;
	int rc;

	MP__CHECK_NULL_P(pool);
	MP__CHECK_NULL_P(fn);
	if ((rc = mp__apply_async(pool, fn, in, in_len, opts, false, &r)) < 0)
		MP__RAISE(rc);
	return r;
}

int mp_pool_apply_async_many(mp_pool_t *pool, mp_task_fn fn,
			     const void *const *in, const size_t *in_len,
			     size_t n, const mp_apply_opts_t *opts,
			     mp_async_result_t **out)
{
	int rc;

	MP__CHECK_NULL(pool);
	MP__CHECK_NULL(fn);
	rc = mp__apply_async_many(pool, fn, in, in_len, n, opts, false, out);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

/* Look at r for at most ns (no lock, no syscall): true once done.  Tiny
 * tasks end faster than a sleeping waiter is woken. */
static bool result_done(const void *r)
{
	return mp__result_done(r);
}

static bool spin_done(const mp_async_result_t *r, uint64_t ns)
{
	return mp__spin_until(result_done, r, ns);
}

/*
 * Sleep until r is done (0) or the deadline (-ETIMEDOUT), on r's own done
 * word rather than on the pool's condition variable: no pool lock, for
 * which the waiter would contend with the supervisor at every result, and
 * no wake for another result's end.  The waiter counts itself in
 * r->sleepers before it looks at done; mp__result_notify stores done
 * before it looks at sleepers (both sequentially consistent): one of the
 * two sees the other, and the futex returns at once if done changed.
 */
static int sleep_until_done(mp_async_result_t *r, uint64_t deadline)
{
	int rc = 0;

	__atomic_fetch_add(&r->sleepers, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&r->done, __ATOMIC_SEQ_CST))
		if (mp__futex_wait(&r->done, 0, deadline) == -ETIMEDOUT) {
			rc = is_done(r) ? 0 : -ETIMEDOUT;
			break;
		}
	__atomic_fetch_sub(&r->sleepers, 1, __ATOMIC_SEQ_CST);
	return rc;
}

/* 0 once done, or -ETIMEDOUT.  A done result needs no pool. */
int mp__result_wait(mp_async_result_t *r, uint64_t deadline)
{
	unsigned *misses = &r->pool->spin_misses;
	unsigned m;

	if (is_done(r))
		return 0;
	/* Spin unless the last spins found nothing (results come slower
	 * than that: long tasks, a fresh process per task); then only every
	 * 16th wait spins, to see whether they come faster again. */
	m = __atomic_load_n(misses, __ATOMIC_RELAXED);
	if ((m < 4 || m % 16 == 0) &&
	    (deadline == MP__NO_DEADLINE ||
	     deadline > mp__now_ns() + WAIT_SPIN_NS)) {
		if (spin_done(r, WAIT_SPIN_NS)) {
			if (m != 0)
				__atomic_store_n(misses, 0, __ATOMIC_RELAXED);
			return 0;
		}
	}
	__atomic_store_n(misses, m + 1, __ATOMIC_RELAXED);
	return sleep_until_done(r, deadline);
}

int mp_async_result_wait(mp_async_result_t *r, double timeout)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(r);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if (mp__result_wait(r, deadline) < 0)
		return MP__ERR(-ETIMEDOUT, "result not ready after %gs", timeout);
	return 0;
}

/* Wait for r: 0 or a code with a reason (the task's failure, -ETIMEDOUT,
 * -EINVAL for the timeout). */
static int result_get(mp_async_result_t *r, double timeout)
{
	uint64_t deadline;
	int rc;

	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return rc;
	if (mp__result_wait(r, deadline) < 0)
		return mp__why(-ETIMEDOUT, "result not ready after %gs", timeout);
	if (r->res.status != 0)
		return mp__why(r->res.status, "%s", mp__outcome_msg(&r->res));
	return 0;
}

int mp_async_result_get(mp_async_result_t *r, double timeout,
			const mp_bytes_t **out)
{
	int rc;

	MP__CHECK_NULL(r);
	if ((rc = result_get(r, timeout)) < 0)
		return MP__RAISE(rc);
	if (out)
		*out = &r->res.bytes;
	return 0;
}

int mp_async_result_ready(mp_async_result_t *r)
{
	MP__CHECK_NULL(r);
	return mp__result_done(r);
}

int mp_async_result_successful(mp_async_result_t *r)
{
	MP__CHECK_NULL(r);
	if (!mp__result_done(r))
		return MP__ERR(-EINVAL, "result is not ready");
	return r->res.status == 0;
}

/* A job a backend has taken: the backend kills it (locked). */
static int remote_kill(mp_pool_t *p, struct mp__job *j)
{
	int rc = p->backend->kill(p->bstate, j);

	return rc < 0 ? mp__why(rc, "the %s backend cannot kill the task: %s",
				p->backend->name, mp_strerror(rc))
		      : rc;
}

int mp__result_kill(mp_async_result_t *r)
{
	int rc;

	if (r->map != NULL)
		return mp__why(-EINVAL, "a map_async result cannot be killed "
				       "(only an apply_async one)");
	if (mp__result_done(r))
		return r->res.status == MP_ECANCELLED;
	mp__pool_lock(r->pool);
	if (r->job.state == J_DONE) /* its outcome is set */
		rc = r->res.status == MP_ECANCELLED;
	else if (r->job.state == J_RUNNING && r->pool->backend != NULL &&
		 r->pool->backend->kill != NULL)
		rc = remote_kill(r->pool, &r->job);
	else
		rc = mp__pool_kill_job(r->pool, &r->job);
	mp__pool_unlock(r->pool); /* runs what a cancel notifies */
	return rc;
}

int mp_async_result_kill(mp_async_result_t *r)
{
	int rc;

	MP__CHECK_NULL(r);
	if ((rc = mp__result_kill(r)) < 0)
		return MP__RAISE(rc);
	return rc;
}

void mp__result_free(mp_async_result_t *r)
{
	if (r->map != NULL && !mp__result_done(r)) { /* stop writing into out */
		mp__pool_lock(r->pool);
		mp__map_abandon(r->pool, r->map);
		mp__pool_unlock(r->pool);
	}
	mp__result_release(r);
}

void mp_async_result_free(mp_async_result_t *r)
{
	if (r != NULL)
		mp__result_free(r);
}

int mp_pool_apply(mp_pool_t *pool, mp_task_fn fn, const void *in, size_t in_len,
		  mp_bytes_t *out)
{
	mp_async_result_t *r = NULL;
	const mp_bytes_t *b;
	int rc;

	MP__CHECK_NULL(out);
	*out = (mp_bytes_t){NULL, 0};
	MP__CHECK_NULL(pool);
	MP__CHECK_NULL(fn);
	if ((rc = mp__apply_async(pool, fn, in, in_len, NULL, false, &r)) < 0)
		return MP__RAISE(rc);
	if ((rc = result_get(r, MP_FOREVER)) == 0) {
		b = &r->res.bytes;
		if ((out->data = mp__malloc(b->len + 1)) == NULL) {
			rc = mp__why(-ENOMEM, "out of memory for a result of "
				     "%zu bytes", b->len);
		} else {
			if (b->len)
				memcpy(out->data, b->data, b->len);
			out->data[b->len] = '\0';
			out->len = b->len;
		}
	}
	mp__result_free(r);
	return rc < 0 ? MP__RAISE(rc) : 0;
}
