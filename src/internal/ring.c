/*
 * ring.c - the shared-memory message ring (design notes in ring.h).
 */
#include "internal/alloc.h"
#include "internal/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/lock.h"
#include "internal/ring_wait.h"

#define HDR 8u
#define SLICE_NS 100000000u /* re-check a streaming producer's life */
#define BIG_MSG 16384u      /* a message that takes a while to copy */
#define WRAP_AT 65536u      /* an empty ring starts again from here */

enum { REC_WHOLE = 1, REC_FIRST = 2, REC_CONT = 3, REC_PAD = 4 };

/* A record header, decoded. */
struct rec {
	uint32_t len; /* payload bytes after the header */
	uint32_t kind;
};

/*
 * A header is one 64-bit word, stored last (release) so that a consumer
 * that sees it sees the payload: length (bits 0-31), kind (32-39) and the
 * ring's lap at the record's position (40-63, mod 2^24).  0 means nothing
 * was published there yet; so does a header of the lap before (left where
 * the producer could not clear the next header: see finish()).
 */
#define LAP_MASK 0xffffffu

static inline uint64_t lap(const struct mp__ring *r, uint64_t pos)
{
	return (pos >> __builtin_ctzll(r->cap)) & LAP_MASK;
}

static inline uint64_t hdr_word(const struct mp__ring *r, uint64_t pos,
				uint32_t kind, uint64_t len)
{
	return len | (uint64_t)kind << 32 | lap(r, pos) << 40;
}

static inline uint64_t *hdr_at(struct mp__ring *r, uint64_t pos)
{
	return (uint64_t *)(void *)(r->data + (pos & (r->cap - 1)));
}

/* What the word w found at pos says. */
enum { H_NONE, H_REC, H_BAD };

static inline int hdr_state(const struct mp__ring *r, uint64_t pos, uint64_t w)
{
	uint64_t l = w >> 40, now = lap(r, pos);

	if (w == 0 || l == ((now - 1) & LAP_MASK))
		return H_NONE;
	return l == now ? H_REC : H_BAD;
}

static inline struct rec hdr_rec(uint64_t w)
{
	return (struct rec){(uint32_t)w, (uint32_t)(w >> 32) & 0xff};
}

static inline uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

struct mp__ring *mp__ring_new(size_t bytes, unsigned maxsize,
			      uint64_t max_message)
{
	struct mp__ring *r;
	uint64_t cap = 4096;

	if (bytes > MP__RING_MAX_CAP) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < bytes)
		cap <<= 1;
	r = mp__arena_alloc(sizeof(*r) + cap);
	if (r == NULL)
		return NULL;
	r->cap = cap;
	r->maxsize = maxsize;
	r->max_message = max_message;
	return r;
}

void mp__ring_free(struct mp__ring *r)
{
	mp__arena_free(r);
}

size_t mp__ring_count(const struct mp__ring *r)
{
	uint64_t g = __atomic_load_n(&r->gets, __ATOMIC_RELAXED);
	uint64_t p = __atomic_load_n(&r->puts, __ATOMIC_RELAXED);

	return p > g ? (size_t)(p - g) : 0;
}

bool mp__ring_empty(struct mp__ring *r)
{
	/* head passes tail for a moment when a consumer takes a record
	 * whose producer has not stored tail yet */
	return (int64_t)(__atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) -
			 __atomic_load_n(&r->head, __ATOMIC_SEQ_CST)) <= 0;
}

static bool not_empty(const void *r)
{
	return !mp__ring_empty((struct mp__ring *)r);
}

bool mp__ring_spin(struct mp__ring *r, uint64_t ns)
{
	return mp__spin_until(not_empty, r, ns);
}

/* The largest record: a quarter of the ring, and what a u32 length holds. */
static uint64_t quarter(const struct mp__ring *r)
{
	return r->cap / 4 < ((uint64_t)1 << 30) ? r->cap / 4 : (uint64_t)1 << 30;
}

/*
 * Publish a word the other side reads (a record header, or head): a
 * release store.  No wake check follows it on the fast path: a sleeper of
 * the other side would have made our lock's take fail (RL_PEER: see
 * internal/ring_wait.h).
 */
static inline void publish(uint64_t *idx, uint64_t v)
{
	__atomic_store_n(idx, v, __ATOMIC_RELEASE);
}

/* What a batch is in ring r: BATCH_BYTES, less in a small ring. */
static inline uint64_t batch(const struct mp__ring *r)
{
	return r->cap / 8 < BATCH_BYTES ? r->cap / 8 : BATCH_BYTES;
}

/* ---- producer ---- */

static bool has_space(struct mp__ring *r, void *need)
{
	r->phead = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
	return r->cap - (r->ptail - r->phead) >= *(uint64_t *)need;
}

static bool below_max(struct mp__ring *r, void *arg)
{
	(void)arg;
	return r->puts - __atomic_load_n(&r->gets, __ATOMIC_SEQ_CST) < r->maxsize;
}

/* Wait until `need` bytes are free after ptail. */
static int wait_space(struct mp__ring *r, uint64_t need, uint64_t deadline)
{
	if (r->cap - (r->ptail - r->phead) >= need)
		return 0;
	mp__ring_batch_wait(&r->head, r->phead, r->ptail + need + batch(r) - r->cap,
		   deadline);
	while (!has_space(r, &need)) {
		if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
			return MP_ECLOSED;
		if (mp__ring_sleep_on(r, &r->head_seq, &r->space_waiters, &r->head_sleep,
			     &r->clock, has_space, &need, deadline,
			     need > BIG_MSG) == -ETIMEDOUT &&
		    !has_space(r, &need))
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Publish the record of size bytes written at ptail (payload first) with
 * header w.  The header of the next record is cleared first, when that
 * word is free (the consumer must find 0 there, not what an earlier lap
 * left); when the ring is exactly full it is not free, but then it holds
 * the header of the lap before, which reads as nothing published too.
 * now: seq_cst (mid-stream: the caller then looks for a sleeper, see
 * wake_data; else the give wakes it).
 */
static void finish(struct mp__ring *r, uint64_t size, uint64_t w, bool now)
{
	uint64_t next = r->ptail + size;

	if (next - r->phead < r->cap)
		__atomic_store_n(hdr_at(r, next), 0, __ATOMIC_RELAXED);
	if (now)
		__atomic_store_n(hdr_at(r, r->ptail), w, __ATOMIC_SEQ_CST);
	else
		publish(hdr_at(r, r->ptail), w);
	r->ptail = next;
	__atomic_store_n(&r->tail, next, __ATOMIC_RELEASE);
}

/* Room for a record of rec bytes, contiguous: pad to the end if needed. */
static int place(struct mp__ring *r, uint64_t rec, uint64_t deadline)
{
	uint64_t pos = r->ptail & (r->cap - 1), room = r->cap - pos;
	int rc;

	if (rec > room) {
		if ((rc = wait_space(r, room, deadline)) < 0)
			return rc;
		finish(r, room, hdr_word(r, r->ptail, REC_PAD, room - HDR),
		       false);
	}
	return wait_space(r, rec, deadline);
}

/* Write a record at ptail (room checked) and publish it; the caller wakes
 * the consumers (at once mid-stream: now, see finish(); after the give for
 * a whole message). */
static void write_rec(struct mp__ring *r, uint32_t kind, const void *a,
		      size_t alen, const void *b, size_t blen, bool now)
{
	unsigned char *p = r->data + (r->ptail & (r->cap - 1));

	if (alen)
		memcpy(p + HDR, a, alen);
	if (blen)
		memcpy(p + HDR + alen, b, blen);
	finish(r, HDR + align8(alen + blen),
	       hdr_word(r, r->ptail, kind, alen + blen), now);
}

/* Only the lock holder counts: a plain increment, read by mp__ring_count. */
static inline void count(uint64_t *n)
{
	__atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

/* Mid-message (lock held long, the header or head stored seq_cst): wake
 * the other side's sleeper if there is one. */
static void wake_data(struct mp__ring *r)
{
	if (__atomic_load_n(&r->plock, __ATOMIC_SEQ_CST) & RL_PEER)
		mp__ring_wake_peer(&r->plock, &r->tail_seq, &r->tail_sleep);
}

static void wake_space(struct mp__ring *r)
{
	if (__atomic_load_n(&r->clock, __ATOMIC_SEQ_CST) & RL_PEER)
		mp__ring_wake_peer(&r->clock, &r->head_seq, &r->head_sleep);
}

static int put_locked(struct mp__ring *r, const unsigned char *msg, size_t len,
		      uint64_t deadline)
{
	uint64_t q = quarter(r), total = len;
	size_t off = 0, chunk;
	int rc;

	if (r->maxsize) {
		while (!below_max(r, NULL)) {
			if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
				return MP_ECLOSED;
			if (mp__ring_sleep_on(r, &r->head_seq, &r->space_waiters,
				     &r->head_sleep, &r->clock, below_max, NULL,
				     deadline, len > BIG_MSG) == -ETIMEDOUT &&
			    !below_max(r, NULL))
				return -ETIMEDOUT;
		}
	}
	if (HDR + align8(len) <= q) {
		if ((rc = place(r, HDR + align8(len), deadline)) < 0)
			return rc;
		write_rec(r, REC_WHOLE, NULL, 0, msg, len, false);
		count(&r->puts);
		return 0; /* put_slow wakes after the give */
	}
	/* Streamed: FIRST (total length + a part), then CONT parts. */
	chunk = q - HDR - 8;
	if ((rc = place(r, HDR + 8 + chunk, deadline)) < 0)
		return rc;
	__atomic_store_n(&r->streaming, 1, __ATOMIC_RELEASE);
	write_rec(r, REC_FIRST, &total, 8, msg, chunk, true);
	count(&r->puts);
	wake_data(r);
	for (off = chunk; off < len; off += chunk) {
		chunk = len - off < q - HDR ? len - off : q - HDR;
		/* Once started, finish unless nobody reads for a whole timeout:
		 * then give up, and consumers drop the partial message. */
		if ((rc = place(r, HDR + align8(chunk), deadline)) < 0)
			break;
		write_rec(r, REC_CONT, NULL, 0, msg + off, chunk, true);
		wake_data(r);
	}
	__atomic_store_n(&r->streaming, 0, __ATOMIC_RELEASE);
	return rc < 0 ? rc : 0;
}

/*
 * At each WRAP_AT boundary of a bigger ring, a producer that finds the
 * ring empty (head at ptail: one look at the consumer's line per WRAP_AT
 * bytes) pads to the end and starts again at the beginning, so that a
 * ring that seldom holds much keeps to its first WRAP_AT bytes: their
 * pages mapped after the first lap of them, their lines warm in both
 * sides' caches.  A fresh page costs a page fault, about 10 us on this
 * VM, once per 4 KiB of the first lap; the p99 of a 64-byte ping-pong
 * through a 4 MiB ring was those faults (queue_pingpong_64B_us: p99 9-20
 * us under SCHED_FIFO, no futex call).  The pad may be longer than a
 * quarter of the ring (rec_ok lets pads run to the end).  True if it
 * padded (ptail is at the beginning now).
 */
static __attribute__((noinline)) bool wrap_early(struct mp__ring *r)
{
	uint64_t room = r->cap - (r->ptail & (r->cap - 1));

	r->phead = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (r->phead != r->ptail || room - HDR > UINT32_MAX)
		return false;
	finish(r, room, hdr_word(r, r->ptail, REC_PAD, room - HDR), false);
	return true;
}

/*
 * The common put, inline: a whole message that fits before the end of the
 * ring in the room the producer knows of, no maxsize.  False: take the
 * general path (put_locked), which also waits.
 */
static inline bool put_fast(struct mp__ring *r, const void *msg, size_t len)
{
	uint64_t size = HDR + align8(len), pos = r->ptail & (r->cap - 1);

	if (r->maxsize || len > quarter(r) || size > quarter(r) ||
	    size > r->cap - pos)
		return false;
	/* (the room before pos, free then, takes the message: the put never
	 * waits with its pad published) */
	if (__builtin_expect((pos ^ (pos + size)) >= WRAP_AT, 0) &&
	    size <= pos && pos + size < r->cap && wrap_early(r))
		pos = 0;
	if (r->cap - (r->ptail - r->phead) < size)
		return false;
	if (len)
		memcpy(r->data + pos + HDR, msg, len);
	finish(r, size, hdr_word(r, r->ptail, REC_WHOLE, len), false);
	count(&r->puts);
	return true;
}

/*
 * A producer died inside put (its lock is ours now): find where it
 * stopped.  It stored tail after each record it published, so at most a
 * record or two (a pad, then one) lie published beyond tail: keep those,
 * forget what it wrote without publishing, and clear the header word there
 * if it scribbled on it (and the word is free).
 */
static void recover(struct mp__ring *r)
{
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE), w, size;
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
	struct rec h;

	if ((int64_t)(t - head) < 0)
		t = head; /* consumers took what it published past tail */
	while (t - head < r->cap) {
		w = __atomic_load_n(hdr_at(r, t), __ATOMIC_ACQUIRE);
		h = hdr_rec(w);
		size = HDR + align8(h.len);
		if (hdr_state(r, t, w) != H_REC || h.kind < REC_WHOLE ||
		    h.kind > REC_PAD || size > r->cap - (t & (r->cap - 1)) ||
		    size > r->cap - (t - head))
			break;
		t += size;
	}
	if (t - head < r->cap &&
	    hdr_state(r, t, __atomic_load_n(hdr_at(r, t), __ATOMIC_RELAXED)) !=
		    H_NONE)
		__atomic_store_n(hdr_at(r, t), 0, __ATOMIC_RELAXED);
	r->ptail = t;
	r->phead = head;
	__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	__atomic_store_n(&r->streaming, 0, __ATOMIC_RELEASE);
}

/* Give the producer lock held long; wake a consumer that asked for it. */
static void give_put(struct mp__ring *r)
{
	mp__ring_give_waking(&r->plock, &r->tail_seq, &r->tail_sleep);
}

/* A put past put_fast: the checks, the lock the long way (held: taken
 * already, by mp__ring_put, and turned long), the general path, the
 * reasons. */
static __attribute__((noinline)) int put_slow(struct mp__ring *r,
					      const void *msg, size_t len,
					      uint64_t deadline, bool held)
{
	int rc = 0;

	/* Past this, align8(len) + headers could wrap (see ring.h). */
	if (len > MP__RING_MAX_MESSAGE) {
		if (held)
			give_put(r);
		return mp__why(-EMSGSIZE,
			       "message of %zu bytes exceeds the largest "
			       "message (PTRDIFF_MAX = %td bytes)",
			       len, (ptrdiff_t)PTRDIFF_MAX);
	}
	if (r->max_message && len > r->max_message) {
		if (held)
			give_put(r);
		return mp__why(-EMSGSIZE,
			       "message of %zu bytes exceeds the queue's "
			       "max_message of %llu",
			       len, (unsigned long long)r->max_message);
	}
	if (!held)
		rc = mp__ring_take_long(&r->plock, deadline);
	if (rc == MP_EOWNERDEAD)
		recover(r);
	else if (rc < 0)
		return mp__why(rc, "queue is full");
	if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
		rc = MP_ECLOSED;
	else if (!put_fast(r, msg, len))
		rc = put_locked(r, msg, len, deadline);
	else
		rc = 0;
	give_put(r);
	if (rc == 0)
		return 0;
	if (rc == MP_ECLOSED)
		return mp__why(rc, "queue is closed");
	if (rc == -ETIMEDOUT)
		return mp__why(rc, "queue is full");
	return rc;
}

int mp__ring_put(struct mp__ring *r, const void *msg, size_t len,
		 uint64_t deadline)
{
	/* The common put inline: the lock free, a whole message that fits,
	 * no limit in the way. */
	if (__builtin_expect(mp__lock_try(&r->plock), 1)) {
		if (__builtin_expect(
			    (!r->max_message || len <= r->max_message) &&
				    !__atomic_load_n(&r->closed,
						     __ATOMIC_ACQUIRE) &&
				    put_fast(r, msg, len),
			    1)) {
			give_short(&r->plock); /* no sleeper: see RL_PEER */
			return 0;
		}
		mp__ring_go_long(&r->plock);
		return put_slow(r, msg, len, deadline, true);
	}
	return put_slow(r, msg, len, deadline, false);
}

/* ---- consumer ---- */

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
				mp__ring_batch_wait(&r->tail, head, head + batch(r), deadline);
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

void mp__ring_close(struct mp__ring *r)
{
	__atomic_store_n(&r->closed, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->tail_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->head_seq, 1, __ATOMIC_SEQ_CST);
	mp__futex_wake(&r->tail_seq, INT32_MAX);
	mp__futex_wake(&r->head_seq, INT32_MAX);
}
