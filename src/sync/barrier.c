/*
 * sync/barrier.c - Barrier.
 *
 * Barrier follows threading.Barrier (which multiprocessing reuses): a state
 * machine (filling, draining, resetting, broken) under an internal lock (the
 * lock core of internal/lock.h); waiters sleep on a sequence word that every
 * state change bumps.  A party that dies holding the internal lock breaks
 * the barrier.
 */
#include <errno.h>
#include <stdint.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/lock.h"
#include "sync/sync_int.h"

enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

static int barrier_check(unsigned parties, const mp_barrier_opts_t *opts)
{
	if (parties == 0 || parties > INT32_MAX)
		return mp__why(-EINVAL, "parties %u: need 1 .. INT32_MAX",
			       parties);
	if (opts != NULL)
		return mp__timeout_check(opts->timeout, "opts->timeout");
	return 0;
}

static void barrier_init(mp_barrier_t *b, unsigned parties,
			 const mp_barrier_opts_t *opts)
{
	*b = (mp_barrier_t){._parties = parties, ._timeout = MP_FOREVER};
	if (opts != NULL) {
		b->_action = opts->action;
		b->_action_arg = opts->action_arg;
		b->_timeout = opts->timeout;
	}
}

int mp_barrier_init(mp_barrier_t *b, unsigned parties,
		    const mp_barrier_opts_t *opts)
{
	int rc;

	MP__CHECK_NULL(b);
	if ((rc = barrier_check(parties, opts)) < 0)
		return MP__RAISE(rc);
	barrier_init(b, parties, opts);
	return 0;
}

void mp_barrier_destroy(mp_barrier_t *b)
{
	(void)b;
}

mp_barrier_t *mp_barrier_new(unsigned parties, const mp_barrier_opts_t *opts)
{
	void *b = NULL;
	int rc;

	if ((rc = barrier_check(parties, opts)) < 0 ||
	    (rc = mp__shared_new(sizeof(mp_barrier_t), &b)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	barrier_init(b, parties, opts);
	return b;
}

void mp_barrier_free(mp_barrier_t *b)
{
	if (b != NULL && mp__sync_is_remote(&b->_lock._state))
		mp__sync_remote(b, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(b);
}

/* Wake every sleeper so it re-checks the state (lock held). */
/* A connected manager's Barrier (sync_int.h): op sent to its server. */
#define BY_SERVER(b, op, timeout)                                             \
	do {                                                                  \
		if (mp__sync_is_remote(&(b)->_lock._state)) {                 \
			int rc_ = mp__sync_remote(b, op, timeout, 0);         \
			return rc_ < 0 ? MP__RAISE(rc_) : rc_;                \
		}                                                             \
	} while (0)

static void bump(mp_barrier_t *b)
{
	__atomic_add_fetch(&b->_seq, 1, __ATOMIC_SEQ_CST);
	mp__futex_wake(&b->_seq, INT32_MAX);
}

static void set_state(mp_barrier_t *b, int state)
{
	__atomic_store_n(&b->_state, state, __ATOMIC_RELAXED);
	bump(b);
}

/* Take the internal lock; a party that died inside it breaks the barrier. */
static void barrier_lock(mp_barrier_t *b)
{
	if (mp__lock_take(&b->_lock._state, MP__NO_DEADLINE) == MP_EOWNERDEAD)
		set_state(b, BROKEN);
}

static void barrier_unlock(mp_barrier_t *b)
{
	mp__lock_give(&b->_lock._state);
}

/* Sleep until the state changes or the deadline (lock held on return). */
static int sleep_locked(mp_barrier_t *b, uint64_t deadline)
{
	uint32_t seq = __atomic_load_n(&b->_seq, __ATOMIC_SEQ_CST);
	int rc;

	barrier_unlock(b);
	rc = mp__futex_wait(&b->_seq, seq, deadline);
	barrier_lock(b);
	return rc == -ETIMEDOUT ? rc : 0;
}

int mp_barrier_wait(mp_barrier_t *b, double timeout)
{
	uint64_t deadline;
	int rc, index, state;

	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_WAIT, timeout);
	/* The barrier's own timeout is an option field: 0 and MP_FOREVER
	 * mean no limit. */
	if (timeout == MP_BARRIER_DEFAULT)
		deadline = mp__deadline_in(mp__option_timeout_ns(b->_timeout));
	else if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	barrier_lock(b);
	/* Wait for a previous cycle to drain or a reset to finish. */
	while (b->_state == DRAINING || b->_state == RESETTING)
		sleep_locked(b, MP__NO_DEADLINE);
	if (b->_state == BROKEN) {
		barrier_unlock(b);
		return MP__ERR(MP_EBARRIER, "the barrier is broken");
	}
	index = (int)__atomic_fetch_add(&b->_count, 1, __ATOMIC_RELAXED);
	rc = index;
	if ((unsigned)index + 1 == b->_parties) {
		/* The last to arrive runs the action and releases the rest. */
		if (b->_action != NULL && b->_action(b->_action_arg) != 0) {
			set_state(b, BROKEN);
			rc = MP__ERR(MP_EBARRIER, "the barrier's action failed");
		} else {
			set_state(b, DRAINING);
		}
	} else {
		while (b->_state == FILLING)
			if (sleep_locked(b, deadline) == -ETIMEDOUT &&
			    b->_state == FILLING) {
				set_state(b, BROKEN); /* for everyone */
				break;
			}
		state = b->_state;
		if (state == BROKEN || state == RESETTING)
			rc = MP__ERR(MP_EBARRIER,
				     mp__expired(deadline)
					     ? "timed out: the barrier is broken"
					     : "the barrier was broken or reset");
	}
	if (__atomic_sub_fetch(&b->_count, 1, __ATOMIC_RELAXED) == 0 &&
	    (b->_state == DRAINING || b->_state == RESETTING))
		set_state(b, FILLING);
	barrier_unlock(b);
	return rc;
}

int mp_barrier_abort(mp_barrier_t *b)
{
	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_ABORT, 0);
	barrier_lock(b);
	set_state(b, BROKEN);
	barrier_unlock(b);
	return 0;
}

int mp_barrier_reset(mp_barrier_t *b)
{
	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_RESET, 0);
	barrier_lock(b);
	if (b->_count > 0) {
		if (b->_state == FILLING || b->_state == BROKEN)
			__atomic_store_n(&b->_state, RESETTING, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&b->_state, FILLING, __ATOMIC_RELAXED);
	}
	bump(b);
	barrier_unlock(b);
	return 0;
}

int mp_barrier_parties(const mp_barrier_t *b)
{
	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_PARTIES, 0);
	return (int)b->_parties;
}

int mp_barrier_n_waiting(const mp_barrier_t *b)
{
	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_N_WAITING, 0);
	return __atomic_load_n(&b->_state, __ATOMIC_RELAXED) == FILLING
		       ? (int)__atomic_load_n(&b->_count, __ATOMIC_RELAXED)
		       : 0;
}

int mp_barrier_broken(const mp_barrier_t *b)
{
	MP__CHECK_NULL(b);
	BY_SERVER(b, MP__SYNC_BROKEN, 0);
	return __atomic_load_n(&b->_state, __ATOMIC_RELAXED) == BROKEN;
}
