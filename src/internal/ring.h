/*
 * internal/ring.h - a multi-producer multi-consumer message ring in shared
 * memory: the transport of the queue module (and of the pool's task and
 * result queues).
 *
 * Design notes.
 * - One shared-memory block: control words, then a byte ring of `cap` bytes
 *   (a power of two).  Messages are records: an 8-byte header (length,
 *   kind, and the ring's lap at the record's position, mod 2^24) and the
 *   payload padded to 8 bytes.  A message longer than a
 *   quarter of the ring is streamed: a FIRST record carrying its total
 *   length and a first part, then CONT records, so any size passes through
 *   any ring while the consumer frees space behind it.
 * - Producers serialise on a producer lock, consumers on a consumer lock
 *   (both robust: the word of internal/lock.h, taken over from a dead
 *   owner, with two more bits, see below; taken with the call's
 *   deadline).  Between the producer of the moment
 *   and the consumer of the moment it is a single-producer single-consumer
 *   ring, written only under the locks (ptail, tail, phead by the producer;
 *   head by the consumer).
 * - A record is published by its header word: the producer writes the
 *   payload, clears the header word of the next record, then stores the
 *   header (release), then tail.  A consumer looks only at the header at
 *   head: 0, or a header of the lap before (where the next word could not
 *   be cleared because the ring was exactly full), means nothing yet.  So
 *   a consumer never reads the producer's index lines, and the only cache
 *   lines the two sides share per message are the record's own (as in a
 *   bare slot ring); the producer rereads head only when its cached copy
 *   (phead) says the ring is full.  tail serves producers (recovery) and
 *   mp__ring_empty / mp__ring_spin.
 * - A side that finds no data or no room spins a little (SPIN_ROUNDS
 *   pauses, a few microseconds; only a glance when the other side is
 *   copying a big message: the message waited for room for, or the last
 *   one taken, is over BIG_MSG; never past the deadline) before it sleeps.
 *   A sleeper (only the side's lock holder sleeps) asks the other side for
 *   a wake-up by setting MP__RING_PEER in that side's lock word, looks
 *   again, and waits on a futex sequence word (publishing the value it
 *   sleeps on: tail_sleep / head_sleep).  The waker clears the bit after
 *   waking it (and sets it again if it went back to sleep meanwhile); the
 *   sleeper also clears it when it stops waiting.  The common put and get take their lock by one CAS from 0,
 *   which fails while the bit is set, and give it back by a plain release
 *   store: a message costs one locked instruction per side (as a lock-free
 *   claim would) and no system call, and the fast paths look for no
 *   sleeper at all.  Everything else holds the lock the long way
 *   (MP__RING_LONG: lock waiters sleep on the word, the give is an atomic
 *   exchange that wakes them and the other side's sleeper).  Since a short
 *   holder's word is written by nobody else, waiters on it look a little,
 *   then sleep flagged in the word after it (pwant, cwant), which the
 *   short give looks at after its store, until it is given or its owner
 *   is found dead.  A waker whose bump
 *   of the sequence word is not the first since the sleep makes no system
 *   call, so a burst of puts to a sleeping consumer costs one futex wake.
 * - A side that ran dry lets the other get a batch ahead (BATCH_BYTES, or
 *   until it stops for half a microsecond; not for a lone message into a
 *   quiet ring, a request or a reply, unless the last such wait saw a
 *   stream: cstream) before it goes on: taking each
 *   record as it appears keeps both sides on the same cache lines, a
 *   transfer between cores per message (see batch_wait in ring_wait.c;
 *   measured: 1 -> 1 median 6.0e7 msgs/s against 4.5e7 without).  Runs
 *   on this VM fall into a fast or a slow state (no sleeps; the bare ring
 *   too); the slow one is rarer and cheaper since the stream memory and
 *   a put's prefetch of every line it will write (prefetch_ahead in
 *   ring.c): see docs/queue.md.
 * - An empty ring keeps to its first 64 KiB (WRAP_AT): a put that crosses
 *   a 64 KiB boundary past them looks at head, and if the consumers took
 *   everything, pads to the end of the ring and writes at its beginning
 *   (wrap_early in ring.c).  A queue that seldom holds much then touches
 *   16 pages, mapped and warm, not the whole ring once a lap (a first
 *   touch of a page cost about 10 us on this VM: the p99 of a ping-pong).
 * - Death: a producer killed in the middle of a whole message never
 *   published it; the next producer gets its lock with MP_EOWNERDEAD and
 *   goes on from tail, after keeping any record the dead one published
 *   without storing tail yet (valid headers of the right lap past tail).
 *   A producer killed in the middle of a streamed message left a FIRST and
 *   some CONT records: the consumer drops that partial message
 *   when it sees the next FIRST/WHOLE, or when it finds the producer lock's
 *   owner dead while waiting for the rest.  A consumer killed while taking a
 *   message loses at most that message: the next consumer skips CONT
 *   records that have no FIRST.  A sleeper killed leaves its
 *   MP__RING_PEER set: the other side's puts or gets go the long way (and
 *   work) until the next of them wakes nobody and clears it.  A sleeper that finds the
 *   other side's lock held short by a dead process marks it long for it
 *   (then sleeps; the next taker takes it over and wakes it).
 * - Counters: puts and gets are counted on each side's own cache line;
 *   qsize = puts - gets.
 * - Limits: a ring holds at most MP__RING_MAX_CAP bytes; a message is at
 *   most MP__RING_MAX_MESSAGE bytes (so that every size computed from a
 *   length, headers and padding included, fits in 64 bits).
 * - Trust: records are written by other processes, which may die at any
 *   point or scribble.  A consumer checks every record header before it
 *   uses it (it must carry head's lap, which a stray write matches once in
 *   2^24, be of a known kind, not wrap, not exceed a quarter of the ring
 *   unless it is a pad (see below); a
 *   streamed message's parts must add up to its announced total, which is
 *   at most max_message), and it allocates for a streamed message as its
 *   parts arrive, not what its first record announces.  A malformed record
 *   makes that get fail with -EPROTO after dropping everything published
 *   so far (head moves to tail); the ring stays usable.
 */
#ifndef MPROC_INTERNAL_RING_H
#define MPROC_INTERNAL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/alloc.h"

struct mp__ring {
	/* producer side */
	_Alignas(64) uint64_t plock; /* internal/lock.h */
	uint32_t pwant;      /* someone sleeps on plock held short (after it) */
	uint32_t streaming;  /* a streamed message is being written */
	uint64_t ptail;      /* producer's working tail (== tail between puts) */
	uint64_t phead;      /* producer's cached head */
	uint64_t puts;       /* messages fully or partly published */
	_Alignas(64) uint64_t tail; /* published end of data */
	uint32_t tail_seq, data_waiters;
	uint32_t tail_sleep; /* the tail_seq value the data sleeper sleeps on */
	/* consumer side */
	_Alignas(64) uint64_t clock; /* internal/lock.h */
	uint32_t cwant;      /* someone sleeps on clock held short (after it) */
	uint32_t cbig;       /* the last message taken was big: spin less */
	uint64_t gets;
	uint32_t cstream;    /* the last batch wait saw a stream: see batch_wait */
	_Alignas(64) uint64_t head; /* end of consumed data */
	uint32_t head_seq, space_waiters;
	uint32_t head_sleep; /* the head_seq value the space sleeper sleeps on */
	/* rarely written */
	_Alignas(64) uint64_t cap;
	uint32_t maxsize;    /* messages; 0 = unbounded */
	uint32_t closed;
	uint64_t max_message; /* 0 = any size */
	_Alignas(64) unsigned char data[];
};

/* The side locks' bits besides internal/lock.h's (see ring_wait.h): held the
 * long way (waiters may set bits), and a sleeper of the other side asks
 * for a wake-up. */
#define MP__RING_LONG ((uint64_t)1 << 30)
#define MP__RING_PEER ((uint64_t)1 << 29)

/* The largest ring (bytes of data) and the largest message. */
#define MP__RING_MAX_CAP ((uint64_t)1 << 40)
#define MP__RING_MAX_MESSAGE ((uint64_t)PTRDIFF_MAX)

/* A new ring of at least `bytes` bytes (rounded up to a power of two);
 * NULL with errno EINVAL above MP__RING_MAX_CAP, or ENOMEM. */
struct mp__ring *mp__ring_new(size_t bytes, unsigned maxsize,
			      uint64_t max_message);
void mp__ring_free(struct mp__ring *r);

/*
 * Put one message (copied).  0; -ETIMEDOUT (-EAGAIN when deadline is 0 =
 * do not block) when there is no room; MP_ECLOSED; -EMSGSIZE over
 * max_message or MP__RING_MAX_MESSAGE.  The deadline is absolute
 * (internal/clock.h).  Failures leave a reason (internal/error.h).
 */
int mp__ring_put(struct mp__ring *r, const void *msg, size_t len,
		 uint64_t deadline);

/*
 * Take one message into buf (cap bytes; the library allocates when *out is
 * NULL: then *out receives the buffer, to free with mp__free(), with a NUL
 * after the *len bytes, as mp_bytes_t promises).  Returns 0 and
 * *len; -EAGAIN / -ETIMEDOUT when empty; MP_ECLOSED when closed and empty;
 * -EMSGSIZE when cap is too small (the message stays; *len says its size);
 * -EPROTO when a malformed record was found (see Trust above); -ENOMEM.
 */
int mp__ring_get(struct mp__ring *r, void **out, size_t cap, size_t *len,
		 uint64_t deadline);

/* Close: later puts fail, getters drain and then fail; wakes everyone. */
void mp__ring_close(struct mp__ring *r);

/* Messages in the ring (approximate while others work). */
size_t mp__ring_count(const struct mp__ring *r);

/* Busy-wait at most ns nanoseconds for data (no syscall, no lock): true
 * if there is some. */
bool mp__ring_spin(struct mp__ring *r, uint64_t ns);

/* No published byte left to read, by tail and head (seq_cst loads).  For
 * a flag-based wake-up (the caller sets a "sleeping" flag, then asks this)
 * the producer must call mp__ring_fence between its put and its look at
 * the flag: the fast put ends with a plain release store, not a barrier. */
bool mp__ring_empty(struct mp__ring *r);

/* A full barrier (seq_cst fence; under TSan, which refuses fences, a
 * seq_cst read-modify-write, a full barrier on x86 as well). */
static inline void mp__ring_fence(void)
{
#if defined(__SANITIZE_THREAD__)
	static int word;

	__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
