/*
 * ring_get.c - the consumer side of the shared-memory message ring:
 * mp__ring_get (design notes in ring.h; the records in ring_rec.h).
 */
#include "internal/alloc.h"
#include "internal/ring.h"

#include <errno.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/hot.h"
#include "internal/ring_rec.h"
#include "internal/ring_wait.h"

#define SLICE_NS 100000000u /* re-check a streaming producer's life */

/* Mid-message (head stored seq_cst): wake a producer waiting for room,
 * if one asked (RL_PEER). */
static void wake_space(struct mp__ring *r)
{
	if (__atomic_load_n(&r->clock, __ATOMIC_SEQ_CST) & RL_PEER)
		mp__ring_wake_peer(&r->clock, &r->head_seq, &r->head_sleep);
}

/* Something published at head (a record, or a bad header). */
static bool has_data(struct mp__ring *r, void *head)
{
	uint64_t pos = *(uint64_t *)head;

	return hdr_state(r, pos, __atomic_load_n(hdr_at(r, pos),
						 __ATOMIC_SEQ_CST)) != H_NONE;
}

/* The message being assembled: buf holds `size` bytes, `got` of them
 * received, of `total` announced. */
struct partial {
	unsigned char *buf;
	uint64_t total, got, size;
	bool active, own;
};

static void drop(struct partial *pm)
{
	if (pm->own)
		mp__free(pm->buf);
	*pm = (struct partial){0};
}

/* Free the space before head (mid-message: a producer may wait for it). */
static void consumed(struct mp__ring *r, uint64_t head)
{
	__atomic_store_n(&r->head, head, __ATOMIC_SEQ_CST);
	wake_space(r);
}

/* What get_locked found wrong, for the message. */
struct bad {
	uint32_t kind, len;
	uint64_t dropped;
};

/*
 * A malformed record at head: drop the message being assembled and every
 * byte published so far (the records after a bad one cannot be trusted
 * either), and count what was dropped as taken.
 */
static int malformed(struct mp__ring *r, struct partial *pm, uint64_t *head,
		     struct rec h, struct bad *bad)
{
	uint64_t puts = __atomic_load_n(&r->puts, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) & ~(uint64_t)7;

	/* Records start 8-aligned: a scribbled tail must not misalign us
	 * (the next producer's publish puts tail right again); nor may head
	 * go back to before what it took. */
	if ((int64_t)(tail - *head) < 0)
		tail = *head;
	*bad = (struct bad){h.kind, h.len, tail - *head};
	drop(pm);
	*head = tail;
	consumed(r, *head);
	if (puts > r->gets)
		__atomic_store_n(&r->gets, puts, __ATOMIC_RELAXED);
	return -EPROTO;
}

/*
 * Is the record h at head well formed?  Its header carries head's lap
 * (checked by hdr_state: a stray write rarely does), it is of a known
 * kind, does not wrap around the end of the ring, and is no longer than a
 * producer ever writes (a quarter of the ring: see put_locked and place;
 * a pad may run to the end of the ring: see wrap_early).
 */
static bool rec_ok(const struct mp__ring *r, uint64_t head, struct rec h)
{
	uint64_t pos = head & (r->cap - 1);
	uint64_t size = HDR + align8(h.len); /* h.len is 32-bit: no wrap */

	return h.kind >= REC_WHOLE && h.kind <= REC_PAD &&
	       size <= r->cap - pos &&
	       (size <= quarter(r) || h.kind == REC_PAD) && /* wrap_early */
	       (h.kind != REC_FIRST || h.len >= 8);
}

/* Room in pm->buf for `more` bytes after pm->got (pm->own): grow by
 * doubling as parts arrive, never beyond the total. */
static int grow(struct partial *pm, uint64_t more)
{
	uint64_t want = pm->size ? pm->size : 1;
	unsigned char *b;

	if (pm->got + more <= pm->size)
		return 0;
	while (want < pm->got + more)
		want *= 2; /* got + more <= total <= 2^63: no wrap */
	if (want > pm->total)
		want = pm->total;
	if ((b = mp__realloc(pm->buf, (size_t)want + 1)) == NULL)
		return -ENOMEM;
	pm->buf = b;
	pm->size = want;
	return 0;
}

/*
 * Start a message from a WHOLE or FIRST record at p (validated by rec_ok).
 * 0; -EMSGSIZE (caller's buffer too small: leave it); -EPROTO (its total is
 * impossible); -ENOMEM.
 */
static int begin(struct mp__ring *r, struct partial *pm, const unsigned char *p,
		 struct rec h, void **out, size_t cap, size_t *len)
{
	uint64_t total = h.len, part = h.len;
	const unsigned char *src = p + HDR;

	if (h.kind == REC_FIRST) {
		memcpy(&total, src, 8);
		src += 8;
		part -= 8;
	}
	if (total < part || total > MP__RING_MAX_MESSAGE ||
	    (r->max_message && total > r->max_message))
		return -EPROTO;
	if (*out != NULL && total > cap) {
		*len = (size_t)total; /* too small: leave it */
		return -EMSGSIZE;
	}
	*pm = (struct partial){.own = *out == NULL, .total = total,
			       .active = true};
	if (pm->own) {
		/* What arrived, and at most a ring's worth more: a peer's
		 * announced total alone never makes us allocate. */
		pm->size = total < part + r->cap ? total : part + r->cap;
		pm->buf = mp__malloc((size_t)pm->size + 1); /* + the NUL */
		if (pm->buf == NULL) {
			*pm = (struct partial){0};
			return -ENOMEM;
		}
	} else {
		pm->buf = *out;
		pm->size = total;
	}
	memcpy(pm->buf, src, part);
	pm->got = part;
	return 0;
}

static int get_locked(struct mp__ring *r, void **out, size_t cap, size_t *len,
		      uint64_t deadline, struct bad *bad)
{
	struct partial pm = {0};
	uint64_t head = r->head, until, w;
	struct rec h;
	unsigned char *p;
	int rc, st;
	bool batched = false;

	for (;;) {
		p = r->data + (head & (r->cap - 1));
		w = __atomic_load_n((uint64_t *)(void *)p, __ATOMIC_ACQUIRE);
		st = hdr_state(r, head, w);
		if (st == H_NONE) {
			if (has_data(r, &head))
				continue; /* just published: read it again */
			if (pm.active &&
			    (!__atomic_load_n(&r->streaming, __ATOMIC_ACQUIRE) ||
			     mp__ring_owner_dead(__atomic_load_n(&r->plock,
							__ATOMIC_ACQUIRE))) &&
			    !has_data(r, &head))
				drop(&pm); /* its producer gave up or died */
			if (!pm.active && __atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
				return MP_ECLOSED;
			if (!pm.active && !batched) { /* see batch_wait */
				batched = true;
				mp__ring_batch_wait(&r->tail, head, head + batch(r),
						    deadline, &r->cstream);
				continue;
			}
			/* Mid-stream the producer is alive and writing: wait for
			 * it whatever the deadline, checking its life. */
			until = pm.active ? mp__now_ns() + SLICE_NS : deadline;
			if (mp__ring_sleep_on(r, &r->tail_seq, &r->data_waiters,
				     &r->tail_sleep, &r->plock, has_data, &head, until,
				     pm.active || r->cbig) == -ETIMEDOUT &&
			    !pm.active && !has_data(r, &head))
				return -ETIMEDOUT;
			continue;
		}
		h = hdr_rec(w);
		if (st == H_BAD || !rec_ok(r, head, h))
			return malformed(r, &pm, &head, h, bad);
		if (h.kind == REC_PAD || (h.kind == REC_CONT && !pm.active)) {
			head += HDR + align8(h.len); /* padding, or an orphan */
			consumed(r, head);
			continue;
		}
		if (h.kind == REC_CONT) {
			if (h.len > pm.total - pm.got)
				return malformed(r, &pm, &head, h, bad);
			if (pm.own && grow(&pm, h.len) < 0) {
				drop(&pm);
				return -ENOMEM;
			}
			memcpy(pm.buf + pm.got, p + HDR, h.len);
			pm.got += h.len;
		} else { /* WHOLE or FIRST: a new message */
			if (pm.active)
				drop(&pm); /* the previous stream was abandoned */
			rc = begin(r, &pm, p, h, out, cap, len);
			if (rc == -EPROTO)
				return malformed(r, &pm, &head, h, bad);
			if (rc < 0)
				return rc;
			count(&r->gets);
		}
		head += HDR + align8(h.len);
		if (pm.got != pm.total) {
			consumed(r, head);
			continue;
		}
		publish(&r->head, head); /* get_slow wakes after the give */
		r->cbig = pm.total > BIG_MSG;
		if (pm.own)
			pm.buf[pm.total] = '\0';
		*out = pm.buf;
		*len = (size_t)pm.total;
		return 0;
	}
}

/*
 * The common get, inline: a whole message at head, into the caller's
 * buffer or a new one.  0; -ENOMEM (nothing taken); 1: take the general
 * path (get_locked), which also waits, streams, skips, and says what is
 * wrong.
 */
static inline int get_fast(struct mp__ring *r, void **out, size_t cap,
			   size_t *len)
{
	uint64_t head = r->head, pos = head & (r->cap - 1), w, size;
	unsigned char *p = r->data + pos;

	/* A WHOLE record of head's lap (hdr_state, rec_ok) in one compare. */
	w = __atomic_load_n((uint64_t *)(void *)p, __ATOMIC_ACQUIRE);
	size = HDR + align8((uint32_t)w);
	if (w >> 32 != (lap(r, head) << 8 | REC_WHOLE) ||
	    size > r->cap - pos || size > quarter(r) ||
	    (r->max_message && (uint32_t)w > r->max_message))
		return 1;
	if (*out == NULL) {
		if ((*out = mp__malloc((size_t)(uint32_t)w + 1)) == NULL)
			return -ENOMEM; /* the message stays */
		((unsigned char *)*out)[(uint32_t)w] = '\0';
	} else if ((uint32_t)w > cap) {
		return 1; /* -EMSGSIZE */
	}
	memcpy(*out, p + HDR, (uint32_t)w);
	*len = (uint32_t)w;
	r->cbig = (uint32_t)w > BIG_MSG;
	count(&r->gets);
	publish(&r->head, head + size); /* see RL_PEER */
	return 0;
}

/* A get past get_fast: the lock (held: taken already by mp__ring_get,
 * whose get_fast said fast), the general path, the reasons. */
static __attribute__((noinline)) int get_slow(struct mp__ring *r, void **out,
					      size_t cap, size_t *len,
					      uint64_t deadline, bool held,
					      int fast)
{
	struct bad bad = {0};
	int rc = 0;

	/* MP_EOWNERDEAD: a consumer died inside get; its message is lost,
	 * and orphan parts of it are skipped below. */
	if (!held)
		rc = mp__ring_take_long(&r->clock, deadline);
	if (rc < 0 && rc != MP_EOWNERDEAD)
		return mp__why(rc, "queue is empty");
	if (rc == 0 && !held)
		fast = get_fast(r, out, cap, len);
	if (rc == MP_EOWNERDEAD || fast == 1)
		rc = get_locked(r, out, cap, len, deadline, &bad);
	else
		rc = fast;
	mp__ring_give_waking(&r->clock, &r->head_seq, &r->head_sleep);
	switch (rc) {
	case 0:
		return 0;
	case MP_ECLOSED:
		return mp__why(rc, "queue is closed");
	case -ETIMEDOUT:
		return mp__why(rc, "queue is empty");
	case -EMSGSIZE:
		return mp__why(rc,
			       "message of %zu bytes does not fit the buffer "
			       "of %zu bytes (nothing was taken)",
			       *len, cap);
	case -EPROTO:
		return mp__why(rc,
			       "the queue held a malformed record (kind %u, "
			       "length %u): a process sharing it wrote "
			       "outside the protocol; %llu bytes were dropped",
			       bad.kind, bad.len,
			       (unsigned long long)bad.dropped);
	case -ENOMEM:
		return mp__why(rc, "out of memory for a message");
	default:
		return rc;
	}
}

MP__HOT
int mp__ring_get(struct mp__ring *r, void **out, size_t cap, size_t *len,
		 uint64_t deadline)
{
	/* The common get inline: the lock free, a whole message at head. */
	int fast;

	if (__builtin_expect(mp__lock_try(&r->clock), 1)) {
		fast = get_fast(r, out, cap, len);
		if (__builtin_expect(fast == 0, 1)) {
			give_short(&r->clock); /* no sleeper: see RL_PEER */
			return 0;
		}
		mp__ring_go_long(&r->clock);
		return get_slow(r, out, cap, len, deadline, true, fast);
	}
	return get_slow(r, out, cap, len, deadline, false, 1);
}
