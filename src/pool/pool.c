/*
 * pool/pool.c - the Pool face: AsyncResult, apply, map, map_async, imap.
 *
 * Results are reference counted (the user's reference and the engine's
 * until the callbacks have run), so a result may be freed before it is
 * ready, and a ready one may be read after its pool is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "pool/pool_int.h"

/* ---- AsyncResult ---- */

struct chunk {
	struct mpi_job job;
	struct map_job *m;
	size_t first, done_then;
	bool last;
};

struct map_job {
	int refs; /* the owner's, and one per chunk until its notify ran */
	size_t n, nchunks, remaining, done_items;
	int status;
	char msg[512];
	unsigned char *out;
	size_t out_size;
	bool abandoned;
	mp_map_opts opts;
	mp_async_result_t *res; /* map_async */
	struct chunk **chunks;
};

static void map_release(struct map_job *m);
static void map_abandon(mp_pool_t *p, struct map_job *m);

static bool is_done(void *arg)
{
	return __atomic_load_n(&((mp_async_result_t *)arg)->done, __ATOMIC_ACQUIRE);
}

static void result_destroy(mp_async_result_t *r)
{
	struct done_cb *c, *next;

	if (r->map != NULL)
		map_release(r->map);
	for (c = r->cbs; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(r->buf);
	free(r->msg);
	free(r);
}

void mpi_result_release(mp_async_result_t *r)
{
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		result_destroy(r);
}

static bool apply_complete(mp_pool_t *p, struct mpi_job *j, int status,
			   const char *data, size_t len, void **buf)
{
	mp_async_result_t *r = (mp_async_result_t *)j;

	(void)p;
	r->status = status;
	r->cancelled = r->future && status == MP_ECANCELLED;
	if (status != 0) {
		r->msg = strndup(data ? data : "", len);
	} else if (buf != NULL && *buf != NULL) {
		r->buf = *buf; /* keep the received record: no copy */
		*buf = NULL;
		r->data = data;
		r->len = len;
	} else if ((r->buf = malloc(len ? len : 1)) == NULL) {
		r->status = -ENOMEM;
	} else {
		memcpy(r->buf, data, len);
		r->data = r->buf;
		r->len = len;
	}
	return true; /* done is published by result_notify */
}

/* The callbacks, then r is done (as in CPython, get() returns after the
 * callback ran), then the done callbacks, then the engine's reference
 * goes. */
static void result_notify(mp_async_result_t *r)
{
	struct map_job *m = r->map;

	if (m != NULL && __atomic_load_n(&m->abandoned, __ATOMIC_ACQUIRE))
		; /* freed by its user before it was ready: no callback */
	else if (m != NULL && r->status == 0 && m->opts.callback)
		m->opts.callback(m->out, m->n, m->opts.arg);
	else if (m != NULL && r->status != 0 && m->opts.error_callback)
		m->opts.error_callback(r->status, r->msg ? r->msg : "", m->opts.arg);
	else if (r->status == 0 && r->opts.callback)
		r->opts.callback(r->data, r->len, r->opts.arg);
	else if (r->status != 0 && r->opts.error_callback)
		r->opts.error_callback(r->status, r->msg ? r->msg : "", r->opts.arg);
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	if (r->future) {
		struct done_cb *c, *next;

		mpi_pool_lock(r->pool);
		c = r->cbs;
		r->cbs = NULL;
		__atomic_store_n(&r->notified, true, __ATOMIC_RELEASE);
		mpi_pool_unlock(r->pool);
		for (; c != NULL; c = next) {
			next = c->next;
			c->fn((mp_future_t *)r, c->arg);
			free(c);
		}
	}
	mpi_result_release(r);
}

static void apply_notify(mp_pool_t *p, struct mpi_job *j)
{
	(void)p;
	result_notify((mp_async_result_t *)j);
}

static const struct mpi_job_ops apply_ops = {apply_complete, apply_notify};

mp_async_result_t *mpi_apply_async(mp_pool_t *p, mp_task_fn fn, const void *in,
				   size_t in_len, const mp_apply_opts *opts, bool future)
{
	size_t rec_len = sizeof(struct task_hdr) + in_len;
	mp_async_result_t *r;
	int rc;

	if (in == NULL && in_len > 0) {
		MPI_ERR(-EINVAL, "argument 'in' is NULL");
		return NULL;
	}
	if (in_len > SIZE_MAX / 2 ||
	    (r = malloc(sizeof(*r) + rec_len)) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	*r = (mp_async_result_t){.pool = p, .refs = 2, .future = future};
	mpi_job_init(&r->job, &apply_ops, (unsigned char *)(r + 1), rec_len,
		     T_APPLY, (uintptr_t)fn, 1, in_len, 0);
	if (in_len)
		memcpy(r->job.rec + sizeof(struct task_hdr), in, in_len);
	if (opts)
		r->opts = *opts;
	mpi_pool_lock(p);
	rc = mpi_pool_submit(p, &r->job);
	mpi_pool_unlock(p);
	if (rc < 0) {
		free(r);
		MPI_ERR(rc, "%s", mpi_pool_refusal(p, rc));
		return NULL;
	}
	return r;
}

mp_async_result_t *mp_pool_apply_async(mp_pool_t *pool, mp_task_fn fn,
				       const void *in, size_t in_len,
				       const mp_apply_opts *opts)
{
	MPI_CHECK_NULL_P(pool);
	MPI_CHECK_NULL_P(fn);
	return mpi_apply_async(pool, fn, in, in_len, opts, false);
}

/* 0 once done, or -ETIMEDOUT.  A done result needs no pool. */
int mpi_result_wait(mp_async_result_t *r, uint64_t deadline)
{
	int rc;

	if (is_done(r))
		return 0;
	mpi_pool_lock(r->pool);
	rc = mpi_pool_wait(r->pool, is_done, r, deadline);
	mpi_pool_unlock(r->pool);
	return rc;
}

int mp_async_result_wait(mp_async_result_t *r, double timeout)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(r);
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	return mpi_result_wait(r, deadline) == 0;
}

int mp_async_result_get(mp_async_result_t *r, double timeout, const void **out,
			size_t *len)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(r);
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	if (mpi_result_wait(r, deadline) < 0)
		return MPI_ERR(-ETIMEDOUT, "result not ready after %gs", timeout);
	if (r->status != 0)
		return MPI_ERR(r->status, "%s", r->msg ? r->msg : "task failed");
	if (out)
		*out = r->data;
	if (len)
		*len = r->len;
	return 0;
}

int mp_async_result_ready(mp_async_result_t *r)
{
	MPI_CHECK_NULL(r);
	return is_done(r);
}

int mp_async_result_successful(mp_async_result_t *r)
{
	MPI_CHECK_NULL(r);
	if (!is_done(r))
		return MPI_ERR(-EINVAL, "result is not ready");
	return r->status == 0;
}

void mp_async_result_free(mp_async_result_t *r)
{
	if (r == NULL)
		return;
	if (r->map != NULL && !is_done(r)) { /* stop writing into out */
		mpi_pool_lock(r->pool);
		map_abandon(r->pool, r->map);
		mpi_pool_unlock(r->pool);
	}
	mpi_result_release(r);
}

int mp_pool_apply(mp_pool_t *pool, mp_task_fn fn, const void *in, size_t in_len,
		  void **out, size_t *len)
{
	mp_async_result_t *r;
	const void *data;
	size_t n;
	int rc;

	MPI_CHECK_NULL(out);
	MPI_CHECK_NULL(len);
	if ((r = mp_pool_apply_async(pool, fn, in, in_len, NULL)) == NULL)
		return mp_last_error_code();
	rc = mp_async_result_get(r, MP_FOREVER, &data, &n);
	if (rc == 0) {
		if ((*out = malloc(n ? n : 1)) == NULL)
			rc = MPI_ERR(-ENOMEM, "out of memory");
		else if (n)
			memcpy(*out, data, n);
		*len = n;
	}
	mp_async_result_free(r);
	return rc;
}

/* ---- map ---- */

/* Write no more into out and cancel what has not started (locked). */
static void map_abandon(mp_pool_t *p, struct map_job *m)
{
	__atomic_store_n(&m->abandoned, true, __ATOMIC_RELEASE);
	for (size_t i = 0; i < m->nchunks; i++)
		mpi_pool_cancel(p, &m->chunks[i]->job);
}

static void map_release(struct map_job *m)
{
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < m->nchunks; i++) {
		if (m->chunks[i] != NULL)
			free(m->chunks[i]->job.rec);
		free(m->chunks[i]);
	}
	free(m->chunks);
	free(m);
}

static bool chunk_complete(mp_pool_t *p, struct mpi_job *j, int status,
			   const char *data, size_t len, void **buf)
{
	struct chunk *c = (struct chunk *)j;
	struct map_job *m = c->m;

	(void)p;
	(void)buf;
	if (status == 0 && len != (size_t)j->items * m->out_size) {
		status = -EPROTO;
		data = "a worker sent a result of the wrong size";
		len = strlen(data);
	}
	if (status == 0 && !m->abandoned)
		memcpy(m->out + c->first * m->out_size, data, len);
	else if (status != 0 && m->status == 0) {
		m->status = status;
		snprintf(m->msg, sizeof(m->msg), "%.*s", (int)len, data);
	}
	free(j->rec);
	j->rec = NULL;
	m->done_items += j->items;
	c->done_then = m->done_items;
	c->last = --m->remaining == 0;
	if (c->last && m->res != NULL) {
		mp_async_result_t *r = m->res;

		r->status = m->status;
		r->msg = m->status ? strdup(m->msg) : NULL;
	}
	return true;
}

static void chunk_notify(mp_pool_t *p, struct mpi_job *j)
{
	struct chunk *c = (struct chunk *)j;
	struct map_job *m = c->m;

	(void)p;
	if (m->opts.progress && !__atomic_load_n(&m->abandoned, __ATOMIC_ACQUIRE))
		m->opts.progress(c->done_then, m->n, m->opts.arg);
	if (c->last && m->res != NULL)
		result_notify(m->res);
	map_release(m);
}

static const struct mpi_job_ops chunk_ops = {chunk_complete, chunk_notify};

static bool map_settled(void *arg)
{
	struct map_job *m = arg;

	return __atomic_load_n(&m->refs, __ATOMIC_ACQUIRE) == 1;
}

/* Cut the input into chunks and submit them; the map job or NULL. */
static struct map_job *map_start(mp_pool_t *p, mp_map_fn fn, const void *in,
				 size_t n, size_t in_size, void *out,
				 size_t out_size, const mp_map_opts *opts,
				 mp_async_result_t *res, const char *func)
{
	static const mp_map_opts defaults;
	size_t cs;
	struct map_job *m;
	int rc = 0;

	if (opts == NULL)
		opts = &defaults;
	if (n > 0 && (in == NULL || out == NULL || in_size == 0 || out_size == 0)) {
		mpi_error(-EINVAL, func, "in, out, in_size and out_size must be set");
		return NULL;
	}
	cs = mpi_pool_chunksize(p, n, opts->chunksize);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	*m = (struct map_job){.refs = 1, .n = n, .out = out,
			      .out_size = out_size, .opts = *opts, .res = res};
	if (res != NULL) /* map_async: the result holds the owner's reference */
		res->map = m;
	m->nchunks = n / cs + (n % cs != 0);
	if ((m->chunks = calloc(m->nchunks + 1, sizeof(*m->chunks))) == NULL)
		goto nomem;
	for (size_t i = 0; i < m->nchunks; i++) {
		size_t first = i * cs, k = n - first < cs ? n - first : cs;
		size_t rec_len = sizeof(struct task_hdr) + k * in_size;
		struct chunk *c = calloc(1, sizeof(*c));
		unsigned char *rec = malloc(rec_len);

		m->chunks[i] = c;
		if (c == NULL || rec == NULL) {
			free(rec);
			goto nomem;
		}
		mpi_job_init(&c->job, &chunk_ops, rec, rec_len, T_MAP,
			     (uintptr_t)fn, (uint32_t)k, in_size, out_size);
		memcpy(rec + sizeof(struct task_hdr),
		       (const char *)in + first * in_size, k * in_size);
		c->m = m;
		c->first = first;
	}
	mpi_pool_lock(p);
	rc = mpi_pool_accepts(p);
	for (size_t i = 0; rc == 0 && i < m->nchunks; i++) {
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
		m->remaining++;
		mpi_pool_submit(p, &m->chunks[i]->job);
	}
	mpi_pool_unlock(p);
	if (rc == 0)
		return m;
	map_release(m);
	mpi_error(rc, func, "%s", mpi_pool_refusal(p, rc));
	return NULL;
nomem:
	if (m != NULL && m->chunks != NULL)
		map_release(m);
	else
		free(m);
	mpi_error(-ENOMEM, func, "out of memory");
	return NULL;
}

int mpi_map(mp_pool_t *p, mp_map_fn fn, const void *in, size_t n,
	    size_t in_size, void *out, size_t out_size, const mp_map_opts *opts,
	    uint64_t deadline, const char *func)
{
	struct map_job *m;
	int rc;

	if ((m = map_start(p, fn, in, n, in_size, out, out_size, opts, NULL,
			   func)) == NULL)
		return mp_last_error_code();
	mpi_pool_lock(p);
	rc = mpi_pool_wait(p, map_settled, m, deadline);
	if (rc < 0)
		map_abandon(p, m);
	mpi_pool_unlock(p);
	if (rc == 0)
		rc = m->status;
	if (rc == -ETIMEDOUT && m->status != -ETIMEDOUT)
		mpi_error(rc, func, "map not done within the timeout");
	else if (rc < 0)
		mpi_error(rc, func, "%s", m->msg);
	map_release(m);
	return rc;
}

int mp_pool_map(mp_pool_t *pool, mp_map_fn fn, const void *in, size_t n,
		size_t in_size, void *out, size_t out_size,
		const mp_map_opts *opts)
{
	MPI_CHECK_NULL(pool);
	MPI_CHECK_NULL(fn);
	return mpi_map(pool, fn, in, n, in_size, out, out_size, opts,
		       MPI_NO_DEADLINE, __func__);
}

mp_async_result_t *mp_pool_map_async(mp_pool_t *pool, mp_map_fn fn,
				     const void *in, size_t n, size_t in_size,
				     void *out, size_t out_size,
				     const mp_map_opts *opts)
{
	mp_async_result_t *r;
	struct map_job *m;

	MPI_CHECK_NULL_P(pool);
	MPI_CHECK_NULL_P(fn);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	*r = (mp_async_result_t){.pool = pool, .refs = 2};
	if ((m = map_start(pool, fn, in, n, in_size, out, out_size, opts, r,
			   __func__)) == NULL) {
		free(r);
		return NULL;
	}
	if (n == 0) /* no chunk will end it */
		result_notify(r);
	return r;
}

/* ---- imap ---- */

struct ichunk {
	struct mpi_job job;
	mp_imap_t *it;
	struct ichunk *onext, *rnext; /* order list, ready list */
	int refs; /* the engine's until notify, the consumer's until consumed */
	size_t first, done_then;
	bool done;
	int status;
	char *msg;
	void *buf;
	const char *data;
	size_t len;
};

struct mp_imap {
	mp_pool_t *pool;
	mp_task_fn fn;
	mp_input_fn next;
	void *next_arg;
	mp_imap_opts opts;
	size_t cs, window;
	int refs; /* the user's and one per live chunk */
	bool input_done, abandoned;
	int input_err;
	size_t submitted, consumed, done_items, inflight;
	struct ichunk *ohead, *otail; /* submitted, not consumed, input order */
	struct ichunk *rhead, *rtail; /* finished, completion order (unordered) */
	struct ichunk *cur;           /* the chunk being yielded */
	size_t cur_off;
	uint32_t cur_i;
};

static void imap_release(mp_imap_t *it)
{
	if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(it);
}

static void ichunk_release(struct ichunk *c)
{
	mp_imap_t *it = c->it;

	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(c->job.rec);
	free(c->buf);
	free(c->msg);
	free(c);
	imap_release(it);
}

static bool ichunk_complete(mp_pool_t *p, struct mpi_job *j, int status,
			    const char *data, size_t len, void **buf)
{
	struct ichunk *c = (struct ichunk *)j;
	mp_imap_t *it = c->it;

	(void)p;
	c->status = status;
	if (status != 0) {
		c->msg = strndup(data ? data : "", len);
	} else if (buf != NULL && *buf != NULL) {
		c->buf = *buf;
		*buf = NULL;
		c->data = data;
		c->len = len;
	} else {
		c->status = -EPROTO;
		c->msg = strdup("no result");
	}
	free(j->rec);
	j->rec = NULL;
	c->done = true;
	it->done_items += j->items;
	c->done_then = it->done_items;
	if (it->opts.unordered && !it->abandoned) {
		if (it->rtail)
			it->rtail->rnext = c;
		else
			it->rhead = c;
		it->rtail = c;
	}
	return true;
}

static void ichunk_notify(mp_pool_t *p, struct mpi_job *j)
{
	struct ichunk *c = (struct ichunk *)j;
	mp_imap_t *it = c->it;

	(void)p;
	if (it->opts.progress && !__atomic_load_n(&it->abandoned, __ATOMIC_ACQUIRE))
		it->opts.progress(c->done_then,
				  it->input_done ? it->submitted : 0, it->opts.arg);
	ichunk_release(c);
}

static const struct mpi_job_ops ichunk_ops = {ichunk_complete, ichunk_notify};

mp_imap_t *mp_pool_imap(mp_pool_t *pool, mp_task_fn fn, mp_input_fn next,
			void *next_arg, const mp_imap_opts *opts)
{
	static const mp_imap_opts defaults;
	mp_imap_t *it;
	int rc;

	MPI_CHECK_NULL_P(pool);
	MPI_CHECK_NULL_P(fn);
	MPI_CHECK_NULL_P(next);
	if (opts == NULL)
		opts = &defaults;
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	*it = (mp_imap_t){.pool = pool, .fn = fn, .next = next,
			  .next_arg = next_arg, .opts = *opts, .refs = 1};
	it->cs = mpi_pool_chunksize(pool, 1, opts->chunksize);
	it->window = opts->window;
	if (it->window == 0) {
		it->window = 8 * it->cs * mpi_pool_size(pool);
		if (it->window < 64)
			it->window = 64;
	}
	if (it->window < it->cs)
		it->window = it->cs;
	mpi_pool_lock(pool);
	rc = mpi_pool_accepts(pool);
	mpi_pool_unlock(pool);
	if (rc < 0) {
		free(it);
		MPI_ERR(rc, "%s", mpi_pool_refusal(pool, rc));
		return NULL;
	}
	return it;
}

/* Append one item (header and padded bytes) to a growing record. */
static int add_item(unsigned char **rec, size_t *len, size_t *cap,
		    const void *in, size_t in_len)
{
	struct item_hdr h = {0, 0, in_len};
	size_t need = *len + sizeof(h) + mpi_align8(in_len);
	unsigned char *b;

	if (need > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < need)
			c *= 2;
		if ((b = realloc(*rec, c)) == NULL)
			return -ENOMEM;
		*rec = b;
		*cap = c;
	}
	memcpy(*rec + *len, &h, sizeof(h));
	if (in_len)
		memcpy(*rec + *len + sizeof(h), in, in_len);
	memset(*rec + *len + sizeof(h) + in_len, 0, mpi_align8(in_len) - in_len);
	*len = need;
	return 0;
}

/* Pull and submit chunks while fewer than `window` items are out.  Called
 * without the lock, by the one consuming thread. */
static void imap_fill(mp_imap_t *it)
{
	while (!it->input_done && it->submitted - it->consumed < it->window) {
		unsigned char *rec = NULL;
		size_t len = sizeof(struct task_hdr), cap = 0;
		uint32_t k = 0;
		struct ichunk *c;
		int rc = 0;

		if (add_item(&rec, &len, &cap, NULL, 0) < 0) /* room for the header */
			rc = -ENOMEM;
		len = sizeof(struct task_hdr);
		while (rc == 0 && k < it->cs) {
			const void *in = NULL;
			size_t in_len = 0;

			rc = it->next(it->next_arg, &in, &in_len);
			if (rc == 0)
				rc = 1; /* the input is exhausted */
			else if (rc > 0 && in == NULL && in_len > 0)
				rc = MPI_ERR(-EINVAL, "the input function gave "
						      "NULL with a length");
			else if (rc > 0 &&
				 (rc = add_item(&rec, &len, &cap, in, in_len)) == 0)
				k++;
		}
		if (rc != 0) {
			it->input_done = true;
			if (rc < 0)
				it->input_err = rc;
		}
		if (k == 0 || (c = calloc(1, sizeof(*c))) == NULL) {
			if (k > 0) {
				it->input_done = true;
				it->input_err = -ENOMEM;
			}
			free(rec);
			return;
		}
		mpi_job_init(&c->job, &ichunk_ops, rec, len, T_ITEMS,
			     (uintptr_t)it->fn, k, 0, 0);
		c->it = it;
		c->refs = 2;
		c->first = it->submitted;
		mpi_pool_lock(it->pool);
		__atomic_add_fetch(&it->refs, 1, __ATOMIC_RELAXED);
		if ((rc = mpi_pool_submit(it->pool, &c->job)) < 0) {
			mpi_pool_unlock(it->pool);
			it->input_done = true;
			it->input_err = rc;
			__atomic_sub_fetch(&it->refs, 1, __ATOMIC_RELAXED);
			free(rec);
			free(c);
			return;
		}
		it->submitted += k;
		it->inflight++;
		if (it->otail)
			it->otail->onext = c;
		else
			it->ohead = c;
		it->otail = c;
		mpi_pool_unlock(it->pool);
	}
}

/* A finished chunk to yield from (locked), or NULL. */
static struct ichunk *imap_pick(mp_imap_t *it)
{
	struct ichunk *c = it->opts.unordered ? it->rhead : it->ohead, **pp, *prev;

	if (c == NULL || !c->done)
		return NULL;
	if (it->opts.unordered) {
		it->rhead = c->rnext;
		if (it->rhead == NULL)
			it->rtail = NULL;
	}
	/* Out of the order list (the head, unless unordered). */
	for (pp = &it->ohead, prev = NULL; *pp != c; prev = *pp, pp = &(*pp)->onext)
		;
	*pp = c->onext;
	if (it->otail == c)
		it->otail = prev;
	it->inflight--;
	it->consumed += c->job.items;
	return c;
}

static bool imap_ready(void *arg)
{
	mp_imap_t *it = arg;
	struct ichunk *c = it->opts.unordered ? it->rhead : it->ohead;

	return c != NULL && c->done;
}

/* The next item of it->cur: 0 or its failure. */
static int imap_item(mp_imap_t *it, const void **out, size_t *len, size_t *index)
{
	struct ichunk *c = it->cur;
	struct item_hdr h;

	if (index)
		*index = c->first + it->cur_i;
	it->cur_i++;
	if (c->status != 0)
		return MPI_ERR(c->status, "%s", c->msg ? c->msg : "task failed");
	if (it->cur_off + sizeof(h) > c->len)
		return MPI_ERR(-EPROTO, "a worker sent a short result");
	memcpy(&h, c->data + it->cur_off, sizeof(h));
	it->cur_off += sizeof(h);
	if (h.len > c->len - it->cur_off)
		return MPI_ERR(-EPROTO, "a worker sent a short result");
	if (out)
		*out = c->data + it->cur_off;
	if (len)
		*len = h.len;
	it->cur_off += mpi_align8(h.len);
	if (h.status != 0)
		return MPI_ERR(h.status, "%.*s", (int)h.len, c->data + it->cur_off -
			       mpi_align8(h.len));
	return 0;
}

int mp_imap_next(mp_imap_t *it, double timeout, const void **out, size_t *len,
		 size_t *index)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(it);
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	for (;;) {
		if (it->cur != NULL && it->cur_i < it->cur->job.items)
			return imap_item(it, out, len, index);
		if (it->cur != NULL) {
			ichunk_release(it->cur);
			it->cur = NULL;
		}
		imap_fill(it);
		mpi_pool_lock(it->pool);
		if (it->inflight == 0 && it->input_done) {
			mpi_pool_unlock(it->pool);
			if (it->input_err)
				return MPI_ERR(it->input_err, "the input failed: %s",
					       mp_strerror(it->input_err));
			return MPI_ERR(MP_EEOF, "no more results");
		}
		rc = mpi_pool_wait(it->pool, imap_ready, it, deadline);
		if (rc == 0) {
			it->cur = imap_pick(it);
			it->cur_off = 0;
			it->cur_i = 0;
		}
		mpi_pool_unlock(it->pool);
		if (rc < 0)
			return MPI_ERR(rc, "no result within %gs", timeout);
	}
}

void mp_imap_free(mp_imap_t *it)
{
	struct ichunk *c, *next;

	if (it == NULL)
		return;
	mpi_pool_lock(it->pool);
	__atomic_store_n(&it->abandoned, true, __ATOMIC_RELEASE);
	/* Drop the consumer's references; cancel what has not started. */
	c = it->ohead;
	it->ohead = it->otail = it->rhead = it->rtail = NULL;
	for (; c != NULL; c = next) {
		next = c->onext;
		mpi_pool_cancel(it->pool, &c->job);
		ichunk_release(c);
	}
	mpi_pool_unlock(it->pool);
	if (it->cur != NULL)
		ichunk_release(it->cur);
	imap_release(it);
}
