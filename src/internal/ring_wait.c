/*
 * ring_wait.c - the ring's side locks and its sleep and wake protocol
 * (see internal/ring_wait.h and the design notes in ring.h).
 */
#include "internal/ring_wait.h"

#include <errno.h>

#include "internal/clock.h"
#include "internal/futex.h"
#include "mproc/common.h"

#define SPIN_ROUNDS 2000u   /* pauses before sleeping (~60 us here) */
#define SPIN_ROUNDS_BIG 16u /* the same, waiting for a big copy */
#define BATCH_ROUNDS 256u   /* a batch wait: at most this many pauses */
#define BATCH_IDLE 16u      /* ... or until the other side stops this long */
#define BATCH_QUIET 3u      /* ... or at once if it was still this long */
#define SHORT_SPIN 256u /* pauses before sleeping on a short holder */
#define SHORT_WAIT_NS 1000000u /* ... and the longest sleep then */

void mp__ring_wake_want(uint64_t *lock)
{
	/* Clear the flag first: the next gives make no system call until
	 * someone sleeps again (every sleeper now is woken). */
	if (__atomic_exchange_n(want_of(lock), 0, __ATOMIC_SEQ_CST))
		mp__futex_wake(mp__low_word(lock), INT32_MAX);
}

/* The short holder turns to the long way (nobody else writes the word);
 * those sleeping on it held short look again (and sleep the long way). */
void mp__ring_go_long(uint64_t *lock)
{
	__atomic_store_n(lock, mp__self_id() | RL_LONG, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(want_of(lock), __ATOMIC_SEQ_CST))
		mp__ring_wake_want(lock);
}

/* Is the owner recorded in lock word v dead (no owner: no)? */
bool mp__ring_owner_dead(uint64_t v)
{
	uint64_t o = v & ~RL_BITS;

	return o != 0 && mp__lock_owner_dead(&o);
}

/*
 * Wait for the give of a lock seen held short (word v): a few hundred
 * pauses (a put or get holds it for tens of nanoseconds), then sleep on
 * the word until it changes, `until`, or SHORT_WAIT_NS, flagged in
 * want_of(lock) so that the give wakes us (and clears the flag: one
 * system call for the holder per sleep, however many gives follow).  The
 * give looks at the flag after its plain store without a fence, so it may
 * miss a sleeper whose flag landed in that instant: the sleeper then
 * wakes by its timeout.
 */
static void wait_short(uint64_t *lock, uint64_t v, unsigned *spins,
		       uint64_t until)
{
	uint64_t t;

	if (++*spins % SHORT_SPIN != 0) {
		mp__cpu_relax();
		return;
	}
	t = mp__now_ns() + SHORT_WAIT_NS;
	__atomic_store_n(want_of(lock), 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(lock, __ATOMIC_SEQ_CST) == v)
		mp__futex_wait(mp__low_word(lock), (uint32_t)v,
			       until < t ? until : t);
}

/* Held short by an owner that is alive, or dead (checked every
 * MP__OWNER_CHECK_NS, from *check on): the caller waits or takes over. */
static bool held_short(uint64_t v)
{
	return (v & ~RL_BITS) != 0 && !(v & RL_LONG);
}

static bool check_due(uint64_t *check, uint64_t deadline)
{
	uint64_t now = mp__now_ns();

	if (*check == 0)
		*check = now + MP__OWNER_CHECK_NS;
	if (now < *check && (deadline == MP__NO_DEADLINE || now < deadline))
		return false;
	*check = now + MP__OWNER_CHECK_NS;
	return true;
}

/*
 * Take a side's lock the long way, waiting until deadline: 0, MP_EOWNERDEAD
 * (taken over from a dead owner: the caller repairs), -ETIMEDOUT.
 */
int mp__ring_take_long(uint64_t *lock, uint64_t deadline)
{
	uint64_t me = mp__self_id() | RL_LONG, v, check = 0, add = 0;
	const uint64_t keep = RL_PEER | MP__LOCK_WAITERS;
	unsigned spins = 0;

	for (;;) {
		v = __atomic_load_n(lock, __ATOMIC_RELAXED);
		if ((v & ~RL_BITS) == 0) { /* free (RL_PEER may be set) */
			if (__atomic_compare_exchange_n(
				    lock, &v, me | (v & RL_PEER) | add, false,
				    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			continue;
		}
		if (mp__expired(deadline) || check_due(&check, deadline)) {
			if (mp__ring_owner_dead(v)) {
				if (__atomic_compare_exchange_n(
					    lock, &v, me | (v & keep), false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
					return MP_EOWNERDEAD;
				continue;
			}
			if (mp__expired(deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (!(v & RL_LONG)) { /* short: see wait_short */
			wait_short(lock, v, &spins,
				   deadline < check ? deadline : check);
			continue;
		}
		if (!(v & MP__LOCK_WAITERS)) {
			if (!__atomic_compare_exchange_n(
				    lock, &v, v | MP__LOCK_WAITERS, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			v |= MP__LOCK_WAITERS;
		}
		/* Others may sleep still: take it with the bit set. */
		add = MP__LOCK_WAITERS;
		mp__futex_wait(mp__low_word(lock), (uint32_t)v,
			       deadline < check ? deadline : check);
	}
}

/* Give a lock held long: keep RL_PEER (see give_waking), wake a lock
 * waiter; the bits it had. */
static uint64_t give_long(uint64_t *lock)
{
	uint64_t old = __atomic_fetch_and(lock, RL_PEER, __ATOMIC_SEQ_CST);

	if (old & MP__LOCK_WAITERS)
		mp__futex_wake(mp__low_word(lock), 1);
	return old;
}

/*
 * A sleeper asks the other side to wake it: RL_PEER in that side's lock
 * word, set when the word is free or held long (a short holder gives by a
 * plain store that would erase it, so wait for its give; a dead short
 * holder's word is marked long for it, and its next taker takes it over).
 * False at the deadline.
 */
static bool set_peer(uint64_t *lock, uint64_t deadline)
{
	uint64_t v, check = 0;
	unsigned spins = 0;

	for (;;) {
		v = __atomic_load_n(lock, __ATOMIC_SEQ_CST);
		if (v & RL_PEER)
			return true;
		if (!held_short(v)) {
			if (__atomic_compare_exchange_n(lock, &v, v | RL_PEER,
							false, __ATOMIC_SEQ_CST,
							__ATOMIC_RELAXED))
				return true;
			continue;
		}
		if (mp__expired(deadline))
			return false;
		if (check_due(&check, deadline) && mp__ring_owner_dead(v))
			__atomic_compare_exchange_n(
				lock, &v, v | RL_LONG | RL_PEER, false,
				__ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
		else
			wait_short(lock, v, &spins,
				   deadline < check ? deadline : check);
	}
}

/* The sleeper stops waiting: no more wake-ups needed. */
static void clear_peer(uint64_t *lock)
{
	if (__atomic_load_n(lock, __ATOMIC_RELAXED) & RL_PEER)
		__atomic_fetch_and(lock, ~RL_PEER, __ATOMIC_RELAXED);
}

/*
 * Look for ready(r) a little while before sleeping: with small messages
 * the other side is a few hundred nanoseconds away, and a sleep and a wake
 * cost two system calls and a context switch.  big: the other side is
 * copying a big message (longer than any spin), so just look.  Never past
 * the deadline, never for a call that does not block.  True if ready.
 */
static bool spin(struct mp__ring *r, bool (*ready)(struct mp__ring *, void *),
		 void *arg, uint64_t deadline, bool big)
{
	unsigned rounds = big ? SPIN_ROUNDS_BIG : SPIN_ROUNDS;

	if (mp__expired(deadline))
		return false;
	for (unsigned i = 1; i <= rounds; i++) {
		if (ready(r, arg))
			return true;
		mp__cpu_relax();
		if ((i & 127) == 0 && mp__expired(deadline))
			return false;
	}
	return false;
}

/*
 * Wake the sleeper of one side, which set RL_PEER (seen by the caller in
 * the other side's lock word after its header or head store: see the side
 * locks above).  A sleeper on an older value was woken by an earlier bump:
 * then no system call.
 */
static uint32_t wake(uint32_t *seq, uint32_t *sleep)
{
	uint32_t old = __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);

	if (__atomic_load_n(sleep, __ATOMIC_SEQ_CST) == old)
		mp__futex_wake(seq, INT32_MAX);
	return old;
}

/*
 * The holder (the long way) of `lock` found RL_PEER in it: wake the
 * sleeper, then clear the bit, so that the puts or gets that follow are
 * fast again even while the woken sleeper waits for a CPU.  Cleared only
 * after the wake (a holder killed before waking leaves the bit to the
 * next one), and set again if the sleeper went back to sleep meanwhile:
 * it stored a value of seq read after our bump in *sleep before it set the
 * bit, which it may have found still set (seq only grows: a value left by
 * a sleeper that has gone is not past ours, and must not keep the bit set
 * for good).  No put or get slips in between: we hold the lock.
 */
void mp__ring_wake_peer(uint64_t *lock, uint32_t *seq, uint32_t *sleep)
{
	uint32_t old = wake(seq, sleep);

	__atomic_fetch_and(lock, ~RL_PEER, __ATOMIC_SEQ_CST);
	if ((int32_t)(__atomic_load_n(sleep, __ATOMIC_SEQ_CST) - old) > 0)
		__atomic_fetch_or(lock, RL_PEER, __ATOMIC_SEQ_CST);
}

/* Give a side's lock held long, waking the other side's sleeper: the
 * one seen before the give (and the bit cleared), or one that asked
 * meanwhile (the bit then left for the next holder to clear). */
void mp__ring_give_waking(uint64_t *lock, uint32_t *seq, uint32_t *sleep)
{
	if (__atomic_load_n(lock, __ATOMIC_SEQ_CST) & RL_PEER)
		mp__ring_wake_peer(lock, seq, sleep);
	if (give_long(lock) & RL_PEER)
		wake(seq, sleep);
}

/*
 * Sleep on seq (counted in waiters, the value slept on in *sleep, RL_PEER
 * set in the other side's lock word `peer`) unless ready(r) turns true;
 * returns 0 to re-check, or -ETIMEDOUT at the deadline.  Only the side's
 * lock holder sleeps here, so one sleeper at most sets and clears peer's
 * bit.
 */
int mp__ring_sleep_on(struct mp__ring *r, uint32_t *seq, uint32_t *waiters,
		    uint32_t *sleep, uint64_t *peer,
		    bool (*ready)(struct mp__ring *, void *), void *arg,
		    uint64_t deadline, bool big)
{
	uint32_t s;
	int rc = 0;

	if (spin(r, ready, arg, deadline, big))
		return 0;
	s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(waiters, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(sleep, s, __ATOMIC_SEQ_CST);
	if (!set_peer(peer, deadline))
		rc = -ETIMEDOUT;
	else if (!ready(r, arg) &&
		 !__atomic_load_n(&r->closed, __ATOMIC_SEQ_CST))
		rc = mp__futex_wait(seq, s, deadline);
	__atomic_sub_fetch(waiters, 1, __ATOMIC_SEQ_CST);
	clear_peer(peer);
	return rc == -ETIMEDOUT ? rc : 0;
}

/*
 * A side that ran dry (no data, or no room) lets the other side get
 * BATCH_BYTES ahead before it goes on, while the other side keeps moving:
 * *idx is the other side's index (tail for a consumer, head for a
 * producer), last its value seen, target where it is to be.  Taking each
 * record as soon as it appears keeps the two sides on the same cache
 * lines, the reader's look pulling the line the writer fills, so that
 * every message costs a transfer between cores (and the next locked
 * instruction waits for it).  Waiting for a batch spaces them.  The look
 * is at the other side's index, a line of its own.  Back once the
 * index has not moved for BATCH_IDLE pauses; and at once when its first
 * move comes after BATCH_QUIET still pauses: the ring had been empty, the
 * other side is not streaming, and this is a lone message (a request or
 * a reply) that would otherwise wait BATCH_IDLE pauses, half a
 * microsecond here (queue_pingpong_64B_us in bench_queue: 0.65 us a round
 * trip against 0.17 without).  But not when *stream (the consumer's
 * cstream; NULL: never) says the last such wait saw the other side get a
 * whole batch ahead: in a stream, a first move after a few still pauses
 * is a slow put, not a lone message, and returning then took one record,
 * ran dry again at the very line the producer was writing, and kept both
 * sides in that lock-step for the rest of a run (counted: about half of
 * the consumer's batch waits of a slow q1 run in bench_queue ended so, a
 * few hundred a run with *stream; q1's CPU a message, 200 pairs with the
 * put's prefetch_ahead: 17.3 ns against 18.8 without *stream, slow runs
 * 6 against 19).  *stream is set when the target is reached and cleared
 * when the other side stops.  Never in a call that does not block.
 */
void mp__ring_batch_wait(const uint64_t *idx, uint64_t last, uint64_t target,
		       uint64_t deadline, uint32_t *stream)
{
	uint64_t now;
	unsigned idle = 0;
	bool moved = stream != NULL && *stream;

	if (deadline == 0 || mp__expired(deadline))
		return;
	for (unsigned i = 0; i < BATCH_ROUNDS && idle < BATCH_IDLE; i++) {
		now = __atomic_load_n(idx, __ATOMIC_ACQUIRE);
		if ((int64_t)(now - target) >= 0) {
			if (stream != NULL && !*stream)
				*stream = 1;
			return;
		}
		if (now != last && !moved && idle >= BATCH_QUIET)
			return; /* a lone message after a quiet ring */
		moved |= now != last;
		idle = now == last ? idle + 1 : 0;
		last = now;
		mp__cpu_relax();
	}
	if (stream != NULL && *stream)
		*stream = 0;
}
