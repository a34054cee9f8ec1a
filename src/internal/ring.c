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

#define HDR 8u
#define SLICE_NS 100000000u /* re-check a streaming producer's life */

enum { REC_WHOLE = 1, REC_FIRST = 2, REC_CONT = 3, REC_PAD = 4 };

struct rec {
	uint32_t len; /* payload bytes after the header */
	uint32_t kind;
};

static inline uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

struct mpi_ring *mpi_ring_new(size_t bytes, unsigned maxsize,
			      uint64_t max_message)
{
	struct mpi_ring *r;
	uint64_t cap = 4096;

	if (bytes > MPI_RING_MAX_CAP) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < bytes)
		cap <<= 1;
	r = mpi_arena_alloc(sizeof(*r) + cap);
	if (r == NULL)
		return NULL;
	r->cap = cap;
	r->maxsize = maxsize;
	r->max_message = max_message;
	return r;
}

void mpi_ring_free(struct mpi_ring *r)
{
	mpi_arena_free(r);
}

size_t mpi_ring_count(const struct mpi_ring *r)
{
	uint64_t g = __atomic_load_n(&r->gets, __ATOMIC_RELAXED);
	uint64_t p = __atomic_load_n(&r->puts, __ATOMIC_RELAXED);

	return p > g ? (size_t)(p - g) : 0;
}

bool mpi_ring_empty(struct mpi_ring *r)
{
	return __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) ==
	       __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
}

bool mpi_ring_spin(struct mpi_ring *r, uint64_t ns)
{
	uint64_t until = 0;

	for (unsigned i = 0; mpi_ring_empty(r); i++) {
		if ((i & 63) == 0) {
			uint64_t now = mpi_now_ns();

			if (until == 0)
				until = now + ns;
			else if (now >= until)
				return false;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	return true;
}

/* The largest record: a quarter of the ring, and what a u32 length holds. */
static uint64_t quarter(const struct mpi_ring *r)
{
	return r->cap / 4 < ((uint64_t)1 << 30) ? r->cap / 4 : (uint64_t)1 << 30;
}

/*
 * Wake the sleepers of one side if any announced themselves.  The index
 * store before it and the sleeper's announce-then-recheck are seq_cst, so
 * either we see the announcement or the sleeper sees the new index.
 */
static void wake(uint32_t *seq, uint32_t *waiters, uint32_t *sleep)
{
	if (__atomic_load_n(waiters, __ATOMIC_SEQ_CST) != 0) {
		uint32_t old = __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);

		/* A sleeper on an older value was woken by that bump. */
		if (__atomic_load_n(sleep, __ATOMIC_SEQ_CST) == old)
			mpi_futex_wake(seq, INT32_MAX);
	}
}

/*
 * Sleep on seq (announcing in waiters, and the value slept on in *sleep)
 * unless ready(r) turns true; returns 0 to re-check, or -ETIMEDOUT at the
 * deadline.  Only the side's lock holder sleeps here.
 */
static int sleep_on(struct mpi_ring *r, uint32_t *seq, uint32_t *waiters,
		    uint32_t *sleep, bool (*ready)(struct mpi_ring *, void *),
		    void *arg, uint64_t deadline)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
	int rc = 0;

	__atomic_add_fetch(waiters, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(sleep, s, __ATOMIC_SEQ_CST);
	if (!ready(r, arg) && !__atomic_load_n(&r->closed, __ATOMIC_SEQ_CST))
		rc = mpi_futex_wait(seq, s, deadline);
	__atomic_sub_fetch(waiters, 1, __ATOMIC_SEQ_CST);
	return rc == -ETIMEDOUT ? rc : 0;
}

/* ---- producer ---- */

static bool has_space(struct mpi_ring *r, void *need)
{
	r->phead = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
	return r->cap - (r->ptail - r->phead) >= *(uint64_t *)need;
}

static bool below_max(struct mpi_ring *r, void *arg)
{
	(void)arg;
	return r->puts - __atomic_load_n(&r->gets, __ATOMIC_SEQ_CST) < r->maxsize;
}

/* Wait until `need` bytes are free after ptail. */
static int wait_space(struct mpi_ring *r, uint64_t need, uint64_t deadline)
{
	while (r->cap - (r->ptail - r->phead) < need && !has_space(r, &need)) {
		if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
			return MP_ECLOSED;
		if (sleep_on(r, &r->head_seq, &r->space_waiters, &r->head_sleep,
			     has_space, &need, deadline) == -ETIMEDOUT &&
		    !has_space(r, &need))
			return -ETIMEDOUT;
	}
	return 0;
}

/* Room for a record of rec bytes, contiguous: pad to the end if needed. */
static int place(struct mpi_ring *r, uint64_t rec, uint64_t deadline)
{
	uint64_t pos = r->ptail & (r->cap - 1), room = r->cap - pos;
	int rc;

	if (rec > room) {
		if ((rc = wait_space(r, room, deadline)) < 0)
			return rc;
		*(struct rec *)(r->data + pos) =
			(struct rec){(uint32_t)(room - HDR), REC_PAD};
		r->ptail += room;
	}
	return wait_space(r, rec, deadline);
}

/* Write a record at ptail (room checked) and publish it. */
static void write_rec(struct mpi_ring *r, uint32_t kind, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	unsigned char *p = r->data + (r->ptail & (r->cap - 1));

	*(struct rec *)p = (struct rec){(uint32_t)(alen + blen), kind};
	if (alen)
		memcpy(p + HDR, a, alen);
	if (blen)
		memcpy(p + HDR + alen, b, blen);
	r->ptail += HDR + align8(alen + blen);
	__atomic_store_n(&r->tail, r->ptail, __ATOMIC_SEQ_CST);
	wake(&r->tail_seq, &r->data_waiters, &r->tail_sleep);
}

static int put_locked(struct mpi_ring *r, const unsigned char *msg, size_t len,
		      uint64_t deadline)
{
	uint64_t q = quarter(r), total = len;
	size_t off = 0, chunk;
	int rc;

	if (r->maxsize) {
		while (!below_max(r, NULL)) {
			if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
				return MP_ECLOSED;
			if (sleep_on(r, &r->head_seq, &r->space_waiters,
				     &r->head_sleep, below_max, NULL,
				     deadline) == -ETIMEDOUT &&
			    !below_max(r, NULL))
				return -ETIMEDOUT;
		}
	}
	if (HDR + align8(len) <= q) {
		if ((rc = place(r, HDR + align8(len), deadline)) < 0)
			return rc;
		write_rec(r, REC_WHOLE, NULL, 0, msg, len);
		__atomic_add_fetch(&r->puts, 1, __ATOMIC_RELAXED);
		return 0;
	}
	/* Streamed: FIRST (total length + a part), then CONT parts. */
	chunk = q - HDR - 8;
	if ((rc = place(r, HDR + 8 + chunk, deadline)) < 0)
		return rc;
	__atomic_store_n(&r->streaming, 1, __ATOMIC_RELEASE);
	write_rec(r, REC_FIRST, &total, 8, msg, chunk);
	__atomic_add_fetch(&r->puts, 1, __ATOMIC_RELAXED);
	for (off = chunk; off < len; off += chunk) {
		chunk = len - off < q - HDR ? len - off : q - HDR;
		/* Once started, finish unless nobody reads for a whole timeout:
		 * then give up, and consumers drop the partial message. */
		if ((rc = place(r, HDR + align8(chunk), deadline)) < 0)
			break;
		write_rec(r, REC_CONT, NULL, 0, msg + off, chunk);
	}
	__atomic_store_n(&r->streaming, 0, __ATOMIC_RELEASE);
	wake(&r->tail_seq, &r->data_waiters, &r->tail_sleep);
	return rc < 0 ? rc : 0;
}

int mpi_ring_put(struct mpi_ring *r, const void *msg, size_t len,
		 uint64_t deadline)
{
	int rc;

	/* Past this, align8(len) + headers could wrap (see ring.h). */
	if (len > MPI_RING_MAX_MESSAGE)
		return mpi_why(-EMSGSIZE,
			       "message of %zu bytes exceeds the largest "
			       "message (PTRDIFF_MAX = %td bytes)",
			       len, (ptrdiff_t)PTRDIFF_MAX);
	if (r->max_message && len > r->max_message)
		return mpi_why(-EMSGSIZE,
			       "message of %zu bytes exceeds the queue's "
			       "max_message of %llu",
			       len, (unsigned long long)r->max_message);
	rc = mpi_lock_take(&r->plock, deadline);
	if (rc == MP_EOWNERDEAD) {
		/* A producer died inside put: forget what it did not publish. */
		r->ptail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		__atomic_store_n(&r->streaming, 0, __ATOMIC_RELEASE);
	} else if (rc < 0) {
		return mpi_why(rc, "queue is full");
	}
	if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
		rc = MP_ECLOSED;
	else
		rc = put_locked(r, msg, len, deadline);
	mpi_lock_give(&r->plock);
	if (rc == MP_ECLOSED)
		return mpi_why(rc, "queue is closed");
	if (rc == -ETIMEDOUT)
		return mpi_why(rc, "queue is full");
	return rc;
}

/* ---- consumer ---- */

static bool has_data(struct mpi_ring *r, void *head)
{
	r->ctail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
	return r->ctail != *(uint64_t *)head;
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
		mpi_free(pm->buf);
	*pm = (struct partial){0};
}

static void consumed(struct mpi_ring *r, uint64_t head)
{
	__atomic_store_n(&r->head, head, __ATOMIC_SEQ_CST);
	wake(&r->head_seq, &r->space_waiters, &r->head_sleep);
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
static int malformed(struct mpi_ring *r, struct partial *pm, uint64_t *head,
		     struct rec h, struct bad *bad)
{
	uint64_t puts = __atomic_load_n(&r->puts, __ATOMIC_RELAXED);

	*bad = (struct bad){h.kind, h.len, r->ctail - *head};
	drop(pm);
	/* Records start 8-aligned: a scribbled tail must not misalign us
	 * (the next producer's publish puts tail right again). */
	*head = r->ctail & ~(uint64_t)7;
	consumed(r, *head);
	if (puts > __atomic_load_n(&r->gets, __ATOMIC_RELAXED))
		__atomic_store_n(&r->gets, puts, __ATOMIC_RELAXED);
	return -EPROTO;
}

/*
 * Is the record h at head well formed?  It lies within the bytes published
 * (ctail), does not wrap around the end of the ring, and is no longer than
 * a producer ever writes (a quarter of the ring: see put_locked and place).
 */
static bool rec_ok(const struct mpi_ring *r, uint64_t head, struct rec h)
{
	uint64_t avail = r->ctail - head, pos = head & (r->cap - 1);
	uint64_t size = HDR + align8(h.len); /* h.len is 32-bit: no wrap */

	return avail <= r->cap && h.kind >= REC_WHOLE && h.kind <= REC_PAD &&
	       size <= avail && size <= r->cap - pos && size <= quarter(r) &&
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
	if ((b = mpi_realloc(pm->buf, (size_t)want + 1)) == NULL)
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
static int begin(struct mpi_ring *r, struct partial *pm, const unsigned char *p,
		 struct rec h, void **out, size_t cap, size_t *len)
{
	uint64_t total = h.len, part = h.len;
	const unsigned char *src = p + HDR;

	if (h.kind == REC_FIRST) {
		memcpy(&total, src, 8);
		src += 8;
		part -= 8;
	}
	if (total < part || total > MPI_RING_MAX_MESSAGE ||
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
		pm->buf = mpi_malloc((size_t)pm->size + 1); /* + the NUL */
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

static int get_locked(struct mpi_ring *r, void **out, size_t cap, size_t *len,
		      uint64_t deadline, struct bad *bad)
{
	struct partial pm = {0};
	uint64_t head = r->head, until;
	struct rec h;
	unsigned char *p;
	int rc;

	for (;;) {
		if (head == r->ctail && !has_data(r, &head)) {
			if (pm.active &&
			    (!__atomic_load_n(&r->streaming, __ATOMIC_ACQUIRE) ||
			     mpi_lock_owner_dead(&r->plock)) &&
			    !has_data(r, &head))
				drop(&pm); /* its producer gave up or died */
			if (!pm.active && __atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
				return MP_ECLOSED;
			/* Mid-stream the producer is alive and writing: wait for
			 * it whatever the deadline, checking its life. */
			until = pm.active ? mpi_now_ns() + SLICE_NS : deadline;
			if (sleep_on(r, &r->tail_seq, &r->data_waiters,
				     &r->tail_sleep, has_data, &head,
				     until) == -ETIMEDOUT &&
			    !pm.active && !has_data(r, &head))
				return -ETIMEDOUT;
			continue;
		}
		p = r->data + (head & (r->cap - 1));
		h = r->ctail - head >= HDR ? *(struct rec *)p : (struct rec){0};
		if (!rec_ok(r, head, h))
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
			__atomic_add_fetch(&r->gets, 1, __ATOMIC_RELAXED);
		}
		head += HDR + align8(h.len);
		consumed(r, head);
		if (pm.got == pm.total) {
			if (pm.own)
				pm.buf[pm.total] = '\0';
			*out = pm.buf;
			*len = (size_t)pm.total;
			return 0;
		}
	}
}

int mpi_ring_get(struct mpi_ring *r, void **out, size_t cap, size_t *len,
		 uint64_t deadline)
{
	struct bad bad = {0};
	int rc;

	/* MP_EOWNERDEAD: a consumer died inside get; its message is lost,
	 * and orphan parts of it are skipped below. */
	rc = mpi_lock_take(&r->clock, deadline);
	if (rc < 0 && rc != MP_EOWNERDEAD)
		return mpi_why(rc, "queue is empty");
	rc = get_locked(r, out, cap, len, deadline, &bad);
	mpi_lock_give(&r->clock);
	switch (rc) {
	case 0:
		return 0;
	case MP_ECLOSED:
		return mpi_why(rc, "queue is closed");
	case -ETIMEDOUT:
		return mpi_why(rc, "queue is empty");
	case -EMSGSIZE:
		return mpi_why(rc,
			       "message of %zu bytes does not fit the buffer "
			       "of %zu bytes (nothing was taken)",
			       *len, cap);
	case -EPROTO:
		return mpi_why(rc,
			       "the queue held a malformed record (kind %u, "
			       "length %u): a process sharing it wrote "
			       "outside the protocol; %llu bytes were dropped",
			       bad.kind, bad.len,
			       (unsigned long long)bad.dropped);
	case -ENOMEM:
		return mpi_why(rc, "out of memory for a message");
	default:
		return rc;
	}
}

void mpi_ring_close(struct mpi_ring *r)
{
	__atomic_store_n(&r->closed, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->tail_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->head_seq, 1, __ATOMIC_SEQ_CST);
	mpi_futex_wake(&r->tail_seq, INT32_MAX);
	mpi_futex_wake(&r->head_seq, INT32_MAX);
}
