/*
 * sync/event.c - Event: a flag word plus a count of sleepers, so that set
 * only makes the futex wake-up syscall when somebody sleeps.
 */
#include <errno.h>

#include "internal/arena.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "sync/sync_int.h"

/* A connected manager's Event (sync_int.h): op sent to its server. */
static inline bool remote(const mp_event_t *e)
{
	return __builtin_expect(__atomic_load_n(&e->_waiters,
						__ATOMIC_RELAXED) ==
				MP__EVENT_REMOTE, 0);
}

static int by_server(const mp_event_t *e, enum mp__sync_op op,
		     double timeout)
{
	int rc = mp__sync_remote(e, op, timeout, 0);

	return rc < 0 ? MP__RAISE(rc) : rc;
}

int mp_event_init(mp_event_t *e)
{
	MP__CHECK_NULL(e);
	*e = (mp_event_t){0};
	return 0;
}

void mp_event_destroy(mp_event_t *e)
{
	(void)e;
}

mp_event_t *mp_event_new(void)
{
	void *e = NULL;
	int rc = mp__shared_new(sizeof(mp_event_t), &e);

	return rc < 0 ? (MP__RAISE(rc), NULL) : e;
}

void mp_event_free(mp_event_t *e)
{
	if (e != NULL && remote(e))
		mp__sync_remote(e, MP__SYNC_FREE, 0, 0);
	else
		mp__arena_free(e);
}

int mp_event_set(mp_event_t *e)
{
	MP__CHECK_NULL(e);
	if (remote(e))
		return by_server(e, MP__SYNC_SET, 0);
	__atomic_store_n(&e->_flag, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->_waiters, __ATOMIC_SEQ_CST) > 0)
		mp__futex_wake(&e->_flag, INT32_MAX);
	return 0;
}

int mp_event_clear(mp_event_t *e)
{
	MP__CHECK_NULL(e);
	if (remote(e))
		return by_server(e, MP__SYNC_CLEAR, 0);
	__atomic_store_n(&e->_flag, 0, __ATOMIC_SEQ_CST);
	return 0;
}

int mp_event_is_set(const mp_event_t *e)
{
	MP__CHECK_NULL(e);
	if (remote(e))
		return by_server(e, MP__SYNC_IS_SET, 0);
	return __atomic_load_n(&e->_flag, __ATOMIC_ACQUIRE) != 0;
}

int mp_event_wait(mp_event_t *e, double timeout)
{
	uint64_t deadline;
	int rc;

	MP__CHECK_NULL(e);
	/* A bad timeout fails even when the flag is set. */
	if ((rc = mp__timeout_check(timeout, "timeout")) < 0)
		return MP__RAISE(rc);
	if (remote(e))
		return by_server(e, MP__SYNC_WAIT, timeout);
	if (__atomic_load_n(&e->_flag, __ATOMIC_ACQUIRE))
		return 0;
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	__atomic_add_fetch(&e->_waiters, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&e->_flag, __ATOMIC_ACQUIRE) &&
	       mp__futex_wait(&e->_flag, 0, deadline) != -ETIMEDOUT)
		;
	__atomic_sub_fetch(&e->_waiters, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->_flag, __ATOMIC_ACQUIRE))
		return 0;
	return MP__ERR(-ETIMEDOUT, "the flag was not set within %gs", timeout);
}
