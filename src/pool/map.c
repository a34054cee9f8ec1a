/*
 * pool/map.c - map and map_async: the input cut into chunks, each chunk a
 * job whose results go straight into the caller's out array.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "pool/pool_int.h"

struct chunk {
	struct mp__job job;
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
	mp_map_opts_t opts;
	mp_async_result_t *res; /* map_async */
	struct chunk **chunks;
};

/* The map's callback or error callback for its result r (none if its user
 * freed it before it was ready). */
void mp__map_callback(struct map_job *m, const struct mp__outcome *res)
{
	if (__atomic_load_n(&m->abandoned, __ATOMIC_ACQUIRE))
		return; /* freed by its user before it was ready: no callback */
	if (res->status == 0 && m->opts.callback)
		m->opts.callback(m->out, m->n, m->opts.arg);
	else if (res->status != 0 && m->opts.error_callback)
		m->opts.error_callback(res->status, res->msg ? res->msg : "",
				       m->opts.arg);
}


/* Write no more into out and cancel what has not started (locked). */
void mp__map_abandon(mp_pool_t *p, struct map_job *m)
{
	__atomic_store_n(&m->abandoned, true, __ATOMIC_RELEASE);
	for (size_t i = 0; i < m->nchunks; i++)
		mp__pool_cancel(p, &m->chunks[i]->job);
}

void mp__map_release(struct map_job *m)
{
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < m->nchunks; i++) {
		if (m->chunks[i] != NULL)
			mp__free(m->chunks[i]->job.rec);
		mp__free(m->chunks[i]);
	}
	mp__free(m->chunks);
	mp__free(m);
}

static bool chunk_complete(mp_pool_t *p, struct mp__job *j, int status,
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
	mp__free(j->rec);
	j->rec = NULL;
	m->done_items += j->items;
	c->done_then = m->done_items;
	c->last = --m->remaining == 0;
	if (c->last && m->res != NULL) {
		mp_async_result_t *r = m->res;

		r->res.status = m->status;
		r->res.msg = m->status ? mp__strdup(m->msg) : NULL;
	}
	return true;
}

static void chunk_notify(mp_pool_t *p, struct mp__job *j)
{
	struct chunk *c = (struct chunk *)j;
	struct map_job *m = c->m;

	(void)p;
	if (m->opts.progress && !__atomic_load_n(&m->abandoned, __ATOMIC_ACQUIRE))
		m->opts.progress(c->done_then, m->n, m->opts.arg);
	if (c->last && m->res != NULL)
		mp__result_notify(m->res);
	mp__map_release(m);
}

static const struct mp__job_ops chunk_ops = {chunk_complete, chunk_notify};

static bool map_settled(void *arg)
{
	struct map_job *m = arg;

	return __atomic_load_n(&m->refs, __ATOMIC_ACQUIRE) == 1;
}

/* Cut the input into chunks and submit them: 0 with *mp, or a code with a
 * reason. */
static int map_start(mp_pool_t *p, mp_map_fn fn, const void *in, size_t n,
		     size_t in_size, void *out, size_t out_size,
		     const mp_map_opts_t *opts, mp_async_result_t *res,
		     struct map_job **mp)
{
	static const mp_map_opts_t defaults;
	size_t cs, in_bytes, out_bytes;
	struct map_job *m;
	int rc = 0;

	if (opts == NULL)
		opts = &defaults;
	if (n > 0 && (in == NULL || out == NULL || in_size == 0 || out_size == 0))
		return mp__why(-EINVAL, "in, out, in_size and out_size must be set");
	/* The caller's arrays are n * in_size and n * out_size bytes: no
	 * object is larger than PTRDIFF_MAX, and every size below derives
	 * from these two. */
	if (__builtin_mul_overflow(n, in_size, &in_bytes) ||
	    in_bytes > MP_TASK_MAX_BYTES ||
	    __builtin_mul_overflow(n, out_size, &out_bytes) ||
	    out_bytes > MP_TASK_MAX_BYTES)
		return mp__why(-EINVAL, "n %zu * in_size %zu or * out_size %zu "
			       "exceeds MP_TASK_MAX_BYTES (%zu)", n, in_size,
			       out_size, (size_t)MP_TASK_MAX_BYTES);
	cs = mp__pool_chunksize(p, n, opts->chunksize);
	if ((m = mp__calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	*m = (struct map_job){.refs = 1, .n = n, .out = out,
			      .out_size = out_size, .opts = *opts, .res = res};
	if (res != NULL) /* map_async: the result holds the owner's reference */
		res->map = m;
	m->nchunks = n / cs + (n % cs != 0);
	if ((m->chunks = mp__calloc(m->nchunks + 1, sizeof(*m->chunks))) == NULL)
		goto nomem;
	for (size_t i = 0; i < m->nchunks; i++) {
		size_t first = i * cs, k = n - first < cs ? n - first : cs;
		size_t rec_len = sizeof(struct task_hdr) + k * in_size;
		struct chunk *c = mp__calloc(1, sizeof(*c));
		unsigned char *rec = mp__malloc(rec_len);

		m->chunks[i] = c;
		if (c == NULL || rec == NULL) {
			mp__free(rec);
			goto nomem;
		}
		mp__job_init(&c->job, &chunk_ops, rec, rec_len, T_MAP,
			     (uintptr_t)fn, (uint32_t)k, in_size, out_size);
		memcpy(rec + sizeof(struct task_hdr),
		       (const char *)in + first * in_size, k * in_size);
		c->m = m;
		c->first = first;
	}
	mp__pool_lock(p);
	rc = mp__pool_accepts(p);
	for (size_t i = 0; rc == 0 && i < m->nchunks; i++) {
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
		m->remaining++;
		mp__pool_submit(p, &m->chunks[i]->job);
	}
	mp__pool_unlock(p);
	if (rc == 0) {
		*mp = m;
		return 0;
	}
	mp__map_release(m);
	return mp__why(rc, "%s", mp__pool_refusal(p, rc));
nomem:
	if (m != NULL && m->chunks != NULL)
		mp__map_release(m);
	else
		mp__free(m);
	return mp__why(-ENOMEM, "out of memory");
}

int mp__map(mp_pool_t *p, mp_map_fn fn, const void *in, size_t n,
	    size_t in_size, void *out, size_t out_size, const mp_map_opts_t *opts,
	    uint64_t deadline)
{
	struct map_job *m;
	int rc;

	if ((rc = map_start(p, fn, in, n, in_size, out, out_size, opts, NULL,
			    &m)) < 0)
		return rc;
	mp__pool_lock(p);
	rc = mp__pool_wait(p, map_settled, m, deadline);
	if (rc < 0)
		mp__map_abandon(p, m);
	mp__pool_unlock(p);
	if (rc == 0)
		rc = m->status;
	if (rc == -ETIMEDOUT && m->status != -ETIMEDOUT)
		rc = mp__why(rc, "map not done within the timeout");
	else if (rc < 0)
		rc = mp__why(rc, "%s", m->msg);
	mp__map_release(m);
	return rc;
}

int mp_pool_map(mp_pool_t *pool, mp_map_fn fn, const void *in, size_t n,
		size_t in_size, void *out, size_t out_size,
		const mp_map_opts_t *opts)
{
	int rc;

	MP__CHECK_NULL(pool);
	MP__CHECK_NULL(fn);
	rc = mp__map(pool, fn, in, n, in_size, out, out_size, opts,
		     MP__NO_DEADLINE);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

mp_async_result_t *mp_pool_map_async(mp_pool_t *pool, mp_map_fn fn,
				     const void *in, size_t n, size_t in_size,
				     void *out, size_t out_size,
				     const mp_map_opts_t *opts)
{
	mp_async_result_t *r;
	struct map_job *m;
	int rc;

	MP__CHECK_NULL_P(pool);
	MP__CHECK_NULL_P(fn);
	if ((r = mp__calloc(1, sizeof(*r))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	*r = (mp_async_result_t){.pool = pool, .refs = 2};
	if ((rc = map_start(pool, fn, in, n, in_size, out, out_size, opts, r,
			    &m)) < 0) {
		mp__free(r);
		MP__RAISE(rc);
		return NULL;
	}
	if (n == 0) /* no chunk will end it */
		mp__result_notify(r);
	return r;
}
