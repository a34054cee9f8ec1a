/*
 * pool/imap.c - imap and imap_unordered: items pulled lazily from the
 * caller's input function, sent in chunks of T_ITEMS, yielded in input or
 * completion order; at most `window` items are outstanding.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "pool/pool_int.h"

struct ichunk {
	struct mp__job job;
	mp_imap_t *it;
	struct ichunk *onext, *rnext; /* order list, ready list */
	int refs; /* the engine's until notify, the consumer's until consumed */
	size_t first, done_then;
	bool done;
	struct mp__outcome res;
};

struct mp_imap {
	mp_pool_t *pool;
	mp_task_fn fn;
	mp_input_fn next;
	void *next_arg;
	mp_imap_opts_t opts;
	size_t cs, window;
	int refs; /* the user's and one per live chunk */
	bool input_done, abandoned;
	int input_err;
	char input_msg[160];          /* why the input ended, if it failed */
	size_t submitted, consumed, done_items, inflight;
	struct ichunk *ohead, *otail; /* submitted, not consumed, input order */
	struct ichunk *rhead, *rtail; /* finished, completion order (unordered) */
	struct ichunk *cur;           /* the chunk being yielded */
	size_t cur_off;
	uint32_t cur_i;
	mp_bytes_t item;              /* what mp_imap_next lent last */
};

static void imap_release(mp_imap_t *it)
{
	if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0)
		mp__free(it);
}

static void ichunk_release(struct ichunk *c)
{
	mp_imap_t *it = c->it;

	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	mp__free(c->job.rec);
	mp__outcome_destroy(&c->res);
	mp__free(c);
	imap_release(it);
}

static bool ichunk_complete(mp_pool_t *p, struct mp__job *j, int status,
			    const char *data, size_t len, void **buf)
{
	struct ichunk *c = (struct ichunk *)j;
	mp_imap_t *it = c->it;

	(void)p;
	mp__outcome_take(&c->res, status, data, len, buf);
	mp__free(j->rec);
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

static void ichunk_notify(mp_pool_t *p, struct mp__job *j)
{
	struct ichunk *c = (struct ichunk *)j;
	mp_imap_t *it = c->it;

	(void)p;
	if (it->opts.progress && !__atomic_load_n(&it->abandoned, __ATOMIC_ACQUIRE))
		it->opts.progress(c->done_then,
				  it->input_done ? it->submitted : 0, it->opts.arg);
	ichunk_release(c);
}

static const struct mp__job_ops ichunk_ops = {ichunk_complete, ichunk_notify};

mp_imap_t *mp_pool_imap(mp_pool_t *pool, mp_task_fn fn, mp_input_fn next,
			void *next_arg, const mp_imap_opts_t *opts)
{
	static const mp_imap_opts_t defaults;
	mp_imap_t *it;
	int rc;

	MP__CHECK_NULL_P(pool);
	MP__CHECK_NULL_P(fn);
	MP__CHECK_NULL_P(next);
	if (opts == NULL)
		opts = &defaults;
	if ((it = mp__calloc(1, sizeof(*it))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	*it = (mp_imap_t){.pool = pool, .fn = fn, .next = next,
			  .next_arg = next_arg, .opts = *opts, .refs = 1};
	it->cs = mp__pool_chunksize(pool, 1, opts->chunksize);
	it->window = opts->window;
	if (it->window == 0) {
		it->window = 8 * it->cs * mp__pool_size(pool);
		if (it->window < 64)
			it->window = 64;
	}
	if (it->window < it->cs)
		it->window = it->cs;
	mp__pool_lock(pool);
	rc = mp__pool_accepts(pool);
	mp__pool_unlock(pool);
	if (rc < 0) {
		mp__free(it);
		MP__ERR(rc, "%s", mp__pool_refusal(pool, rc));
		return NULL;
	}
	return it;
}

/* Append one item (header and padded bytes) to a growing record:
 * -EMSGSIZE when the item, or the record with it, would be too large. */
static int add_item(unsigned char **rec, size_t *len, size_t *cap,
		    const void *in, size_t in_len)
{
	struct item_hdr h = {0, 0, in_len};
	size_t need;
	unsigned char *b;

	if (in_len > MP_TASK_MAX_BYTES ||
	    __builtin_add_overflow(*len, sizeof(h) + mp__align8(in_len), &need) ||
	    need > MP__RING_MAX_MESSAGE)
		return -EMSGSIZE;
	if (need > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < need)
			c = c > PTRDIFF_MAX / 2 ? need : c * 2;
		if ((b = mp__realloc(*rec, c)) == NULL)
			return -ENOMEM;
		*rec = b;
		*cap = c;
	}
	memcpy(*rec + *len, &h, sizeof(h));
	if (in_len)
		memcpy(*rec + *len + sizeof(h), in, in_len);
	memset(*rec + *len + sizeof(h) + in_len, 0, mp__align8(in_len) - in_len);
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

		if (add_item(&rec, &len, &cap, NULL, 0) < 0) { /* the header */
			rc = -ENOMEM;
			snprintf(it->input_msg, sizeof(it->input_msg),
				 "out of memory");
		}
		len = sizeof(struct task_hdr);
		while (rc == 0 && k < it->cs) {
			const void *in = NULL;
			size_t in_len = 0;

			rc = it->next(it->next_arg, &in, &in_len);
			if (rc == 0) {
				rc = 1; /* the input is exhausted */
			} else if (rc < 0) {
				snprintf(it->input_msg, sizeof(it->input_msg),
					 "the input function returned %d (%s)",
					 rc, mp_strerror(rc));
			} else if (in == NULL && in_len > 0) {
				rc = -EINVAL;
				snprintf(it->input_msg, sizeof(it->input_msg),
					 "the input function gave NULL with a "
					 "length of %zu (item %zu)",
					 in_len, it->submitted + k);
			} else if ((rc = add_item(&rec, &len, &cap, in,
						  in_len)) == 0) {
				k++;
			} else {
				snprintf(it->input_msg, sizeof(it->input_msg),
					 rc == -EMSGSIZE
						 ? "item %zu of %zu bytes exceeds "
						   "MP_TASK_MAX_BYTES"
						 : "out of memory for item %zu "
						   "(%zu bytes)",
					 it->submitted + k, in_len);
			}
		}
		if (rc != 0) {
			it->input_done = true;
			if (rc < 0)
				it->input_err = rc;
		}
		if (k == 0 || (c = mp__calloc(1, sizeof(*c))) == NULL) {
			if (k > 0) {
				it->input_done = true;
				it->input_err = -ENOMEM;
				snprintf(it->input_msg, sizeof(it->input_msg),
					 "out of memory");
			}
			mp__free(rec);
			return;
		}
		mp__job_init(&c->job, &ichunk_ops, rec, len, T_ITEMS,
			     (uintptr_t)it->fn, k, 0, 0);
		c->it = it;
		c->refs = 2;
		c->first = it->submitted;
		mp__pool_lock(it->pool);
		__atomic_add_fetch(&it->refs, 1, __ATOMIC_RELAXED);
		if ((rc = mp__pool_submit(it->pool, &c->job)) < 0) {
			snprintf(it->input_msg, sizeof(it->input_msg), "%s",
				 mp__pool_refusal(it->pool, rc));
			mp__pool_unlock(it->pool);
			it->input_done = true;
			it->input_err = rc;
			__atomic_sub_fetch(&it->refs, 1, __ATOMIC_RELAXED);
			mp__free(rec);
			mp__free(c);
			return;
		}
		it->submitted += k;
		it->inflight++;
		if (it->otail)
			it->otail->onext = c;
		else
			it->ohead = c;
		it->otail = c;
		mp__pool_unlock(it->pool);
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

/* The next item of it->cur into it->item: 0, or its failure with a
 * reason. */
static int imap_item(mp_imap_t *it, size_t *index)
{
	struct ichunk *c = it->cur;
	const mp_bytes_t *b = &c->res.bytes;
	struct item_hdr h;
	char *data;

	if (index)
		*index = c->first + it->cur_i;
	it->cur_i++;
	it->item = (mp_bytes_t){NULL, 0};
	if (c->res.status != 0)
		return mp__why(c->res.status, "%s", mp__outcome_msg(&c->res));
	/* The worker wrote this: every length is checked against what came. */
	if (it->cur_off > b->len || b->len - it->cur_off < sizeof(h))
		return mp__why(-EPROTO, "a worker sent a short result");
	memcpy(&h, b->data + it->cur_off, sizeof(h));
	it->cur_off += sizeof(h);
	if (h.len > b->len - it->cur_off)
		return mp__why(-EPROTO, "a worker sent a short result");
	data = b->data + it->cur_off;
	/* Padding may be missing after the last item: stop at the end. */
	it->cur_off += b->len - it->cur_off - h.len < mp__align8(h.len) - h.len
			       ? b->len - it->cur_off
			       : mp__align8(h.len);
	if (h.status != 0 && h.status != MP_ETASK) /* all a worker sends */
		return mp__why(-EPROTO, "a worker sent a malformed result "
			       "(status %d)", (int)h.status);
	if (h.status != 0)
		return mp__why(h.status, "%.*s",
			       h.len > INT32_MAX ? INT32_MAX : (int)h.len, data);
	it->item = (mp_bytes_t){data, h.len};
	return 0;
}

int mp_imap_next(mp_imap_t *it, double timeout, const mp_bytes_t **out,
		 size_t *index)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(it);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	for (;;) {
		if (it->cur != NULL && it->cur_i < it->cur->job.items) {
			if ((rc = imap_item(it, index)) < 0)
				return MP__RAISE(rc);
			if (out)
				*out = &it->item;
			return 0;
		}
		if (it->cur != NULL) {
			ichunk_release(it->cur);
			it->cur = NULL;
		}
		imap_fill(it);
		mp__pool_lock(it->pool);
		if (it->inflight == 0 && it->input_done) {
			mp__pool_unlock(it->pool);
			if (it->input_err)
				return MP__ERR(it->input_err, "%s", it->input_msg);
			return MP__ERR(MP_EEOF, "no more results");
		}
		rc = mp__pool_wait(it->pool, imap_ready, it, deadline);
		if (rc == 0) {
			it->cur = imap_pick(it);
			it->cur_off = 0;
			it->cur_i = 0;
		}
		mp__pool_unlock(it->pool);
		if (rc < 0)
			return MP__ERR(rc, "no result within %gs", timeout);
	}
}

void mp_imap_free(mp_imap_t *it)
{
	struct ichunk *c, *next;

	if (it == NULL)
		return;
	mp__pool_lock(it->pool);
	__atomic_store_n(&it->abandoned, true, __ATOMIC_RELEASE);
	/* Drop the consumer's references; cancel what has not started. */
	c = it->ohead;
	it->ohead = it->otail = it->rhead = it->rtail = NULL;
	for (; c != NULL; c = next) {
		next = c->onext;
		mp__pool_cancel(it->pool, &c->job);
		ichunk_release(c);
	}
	mp__pool_unlock(it->pool);
	if (it->cur != NULL)
		ichunk_release(it->cur);
	imap_release(it);
}
