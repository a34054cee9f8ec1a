/*
 * internal/ring_rec.h - the ring's records and the helpers both of its
 * sides use (ring.c, the producer; ring_get.c, the consumer), for those
 * two files alone.  Design notes: ring.h.
 */
#ifndef MPROC_INTERNAL_RING_REC_H
#define MPROC_INTERNAL_RING_REC_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/ring.h"
#include "internal/ring_wait.h"

#define HDR 8u
#define BIG_MSG 16384u      /* a message that takes a while to copy */

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

/* The largest record: a quarter of the ring, and what a u32 length holds. */
static inline uint64_t quarter(const struct mp__ring *r)
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

/* Only the lock holder counts: a plain increment, read by mp__ring_count. */
static inline void count(uint64_t *n)
{
	__atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

#endif
