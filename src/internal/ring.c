/*
 * ring.c - the shared-memory message ring: creation, the producer side,
 * close (design notes in ring.h; the records in ring_rec.h; the consumer
 * side in ring_get.c).
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
#include "internal/hot.h"
#include "internal/lock.h"
#include "internal/ring_rec.h"
#include "internal/ring_wait.h"

#define WRAP_AT 65536u /* an empty ring starts again from here */

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
		   deadline, NULL);
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

/* Mid-message (lock held long, the header or head stored seq_cst): wake
 * the other side's sleeper if there is one. */
static void wake_data(struct mp__ring *r)
{
	if (__atomic_load_n(&r->plock, __ATOMIC_SEQ_CST) & RL_PEER)
		mp__ring_wake_peer(&r->plock, &r->tail_seq, &r->tail_sleep);
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
 * Ask for the line at p for writing (PREFETCHW; a no-op on x86 CPUs that
 * lack it), PF_DIST bytes ahead of ptail, where a put writes soon: the
 * line was last read by a consumer, and its transfer back (a cross-core
 * invalidation) then overlaps the puts before it, instead of stalling the
 * next put's lock CAS, which waits for the stores before it to complete.
 * Measured (q1 in bench_queue, 3M messages, SCHED_FIFO, paired runs in
 * the VM's slow windows, n=29): 73.8 -> 55.2 ns of CPU a message (the
 * difference -18.6, sd 14.3), in its fast windows 22.1 -> 22.4 (noise).
 * Then every line of each put's span (prefetch_ahead), and 512 bytes
 * ahead, not 256 (a cross-core transfer in a slow run takes longer than
 * 3-4 puts): of 120 paired runs, 24 -> 5 were slow (over 30 ns), those
 * at 54.7 -> 36.4 ns (the bare ring's 64 slow runs: 36.7), the mean of
 * all 24.1 -> 18.5 (the bare ring 29.5).  Asked before the copy (see
 * prefetch_ahead): of 100 more, 25 -> 7 slow, at 57.1 -> 32.5 ns, mean
 * 26.7 -> 19.0 (the bare ring 30.6); no more instructions than before.
 * Only into room the producer knows is free (phead: never a line a
 * consumer may still read).
 */
#define PF_DIST 512u

static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

/*
 * Prefetch (for writing) the lines of the last 128 bytes of the span a put
 * moves ptail by, to next, PF_DIST ahead: with the put before's, every line
 * of a span up to 128 bytes (a message up to 120 bytes; a longer copy
 * streams anyway).  One line a put missed every ninth line of a stream
 * of 64-byte messages (72-byte records), whose RFO then stalled the put
 * after it.  Asked before the copy: after the header store, the same two
 * prefetches cost the ping-pong 0.015-0.045 us of its median and
 * 0.05-0.16 of its p99 (alternated runs, 8-36 pairs), as did a second
 * prefetch of the very same line.
 */
static inline void prefetch_ahead(struct mp__ring *r, uint64_t next)
{
	uint64_t end = next + PF_DIST;

	prefetch_write(r->data + ((end - 1) & (r->cap - 1)));
	prefetch_write(r->data + ((end - 65) & (r->cap - 1)));
}

_Static_assert(PF_DIST >= 128, "prefetch_ahead: never before ptail");

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
	if (r->cap - (r->ptail + size - r->phead) > PF_DIST + 64)
		prefetch_ahead(r, r->ptail + size);
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

MP__HOT
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

void mp__ring_close(struct mp__ring *r)
{
	__atomic_store_n(&r->closed, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->tail_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->head_seq, 1, __ATOMIC_SEQ_CST);
	mp__futex_wake(&r->tail_seq, INT32_MAX);
	mp__futex_wake(&r->head_seq, INT32_MAX);
}
