/* test_sync.c - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition
 * and Barrier, across processes and threads. */
#include "mptest.h"

#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include "internal/arena.h"
#include "mproc/sync.h"

/* Shared between the test and its children (memory from the arena). */
struct shared {
	mp_lock_t lock;
	mp_rlock_t rlock;
	mp_semaphore_t sem, woke;
	mp_event_t event;
	mp_condition_t cond;
	mp_barrier_t barrier;
	long counter;
	int current, max, value, actions, ready;
	int index[8];
};

static struct shared *sh;
static int go[2]; /* test -> children: one byte per child to go on */
static int up[2]; /* children -> test: one byte each when ready */

static int setup(void **state)
{
	mpt_setup(state);
	sh = mp__arena_alloc(sizeof(*sh));
	if (sh == NULL || pipe2(go, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	close(go[0]);
	close(go[1]);
	close(up[0]);
	close(up[1]);
	mp__arena_free(sh);
	return mpt_teardown(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static void signal_up(void)
{
	ssize_t r;

	do
		r = write(up[1], "u", 1);
	while (r < 0 && errno == EINTR);
}

static void wait_go(void)
{
	char c;
	ssize_t r;

	do
		r = read(go[0], &c, 1);
	while (r < 0 && errno == EINTR);
}

/* Wait (bounded) for n children to say they are ready. */
static void wait_up(int n)
{
	struct pollfd pfd = {.fd = up[0], .events = POLLIN};
	char c;

	while (n-- > 0) {
		assert_int_equal(poll(&pfd, 1, (int)(mpt_timeout(10) * 1000)), 1);
		assert_int_equal(read(up[0], &c, 1), 1);
	}
}

static void send_go(int n)
{
	while (n-- > 0)
		assert_int_equal(write(go[1], "g", 1), 1);
}

/* ---- Lock ---- */

static void test_lock_basics(void **state)
{
	mp_lock_t *l = mp_lock_new();

	(void)state;
	assert_non_null(l);
	assert_int_equal(mp_lock_locked(l), 0);
	mpt_assert_ok(mp_lock_acquire(l, MP_FOREVER));
	assert_int_equal(mp_lock_locked(l), 1);
	mpt_assert_rc(mp_lock_acquire(l, 0), -ETIMEDOUT); /* not re-entrant */
	mpt_assert_ok(mp_lock_release(l));
	mpt_assert_rc(mp_lock_release(l), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_lock_release: semaphore or "
					     "lock released too many times");
	mpt_assert_ok(mp_lock_acquire(l, 0));
	mpt_assert_ok(mp_lock_release(l));
	mpt_assert_rc(mp_lock_acquire(NULL, 0), -EINVAL);
	mpt_assert_rc(mp_lock_acquire(l, -3), -EINVAL);
	mp_lock_free(l);
	mp_lock_free(NULL);
}

static int hold_lock_until_go(void *arg)
{
	(void)arg;
	if (mp_lock_acquire(&sh->lock, MP_FOREVER) != 0)
		return 1;
	signal_up();
	wait_go();
	return mp_lock_release(&sh->lock) == 0 ? 0 : 2;
}

static void test_lock_timeout_across_processes(void **state)
{
	pid_t pid;
	double t0, dt;

	(void)state;
	mp_lock_init(&sh->lock);
	pid = mpt_fork(hold_lock_until_go, NULL);
	wait_up(1);
	t0 = mpt_now();
	mpt_assert_rc(mp_lock_acquire(&sh->lock, 0), -ETIMEDOUT);
	assert_true(mpt_now() - t0 < 0.05);
	t0 = mpt_now();
	mpt_assert_rc(mp_lock_acquire(&sh->lock, 0.2), -ETIMEDOUT);
	dt = mpt_now() - t0;
	assert_true(dt >= 0.19);
	assert_true(dt < mpt_timeout(3));
	send_go(1);
	mpt_assert_ok(mp_lock_acquire(&sh->lock, mpt_timeout(10)));
	mpt_assert_ok(mp_lock_release(&sh->lock));
	assert_int_equal(mpt_exit_code(pid), 0);
}

enum { NPROC = 4, NINC = 2000 };

static int increment_locked(void *arg)
{
	mp_lock_t *l = arg;

	for (int i = 0; i < NINC; i++) {
		if (mp_lock_acquire(l, MP_FOREVER) != 0)
			return 1;
		long v = sh->counter; /* a racy read-modify-write... */
		sched_yield();
		sh->counter = v + 1; /* ...made safe by the lock */
		if (mp_lock_release(l) != 0)
			return 2;
	}
	return 0;
}

static void test_lock_mutual_exclusion_processes(void **state)
{
	pid_t pid[NPROC];
	int i;

	(void)state;
	mp_lock_init(&sh->lock); /* the embeddable form */
	sh->counter = 0;
	for (i = 0; i < NPROC; i++)
		pid[i] = mpt_fork(increment_locked, &sh->lock);
	for (i = 0; i < NPROC; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_int_equal(sh->counter, NPROC * NINC);
}

static void *increment_thread(void *arg)
{
	return (void *)(intptr_t)increment_locked(arg);
}

static void test_lock_mutual_exclusion_threads(void **state)
{
	mp_lock_t *l = mp_lock_new(); /* the handle form */
	pthread_t t[NPROC];
	void *rc;
	int i;

	(void)state;
	sh->counter = 0;
	for (i = 0; i < NPROC; i++)
		pthread_create(&t[i], NULL, increment_thread, l);
	for (i = 0; i < NPROC; i++) {
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
	assert_int_equal(sh->counter, NPROC * NINC);
	mp_lock_free(l);
}

static int release_other(void *arg)
{
	(void)arg;
	return mp_lock_release(&sh->lock) == 0 ? 0 : 1;
}

static void test_lock_released_by_another_process(void **state)
{
	(void)state;
	mp_lock_init(&sh->lock);
	mpt_assert_ok(mp_lock_acquire(&sh->lock, 0));
	assert_int_equal(mpt_exit_code(mpt_fork(release_other, NULL)), 0);
	assert_int_equal(mp_lock_locked(&sh->lock), 0);
}

static int acquire_and_block(void *arg)
{
	mp_lock_t *l = arg;

	if (mp_lock_acquire(l, MP_FOREVER) != 0)
		return 1;
	signal_up();
	for (;;)
		pause();
}

static void test_lock_owner_killed(void **state)
{
	pid_t pid;
	double t0;

	(void)state;
	mp_lock_init(&sh->lock);
	pid = mpt_fork(acquire_and_block, &sh->lock);
	wait_up(1);
	kill(pid, SIGKILL);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	/* The lock is handed over with MP_EOWNERDEAD within a second. */
	t0 = mpt_now();
	mpt_assert_rc(mp_lock_acquire(&sh->lock, mpt_timeout(10)), MP_EOWNERDEAD);
	assert_true(mpt_now() - t0 < mpt_timeout(1.0));
	assert_non_null(strstr(mp_last_error(), "died holding the lock"));
	/* Until marked consistent, every acquirer is told. */
	mpt_assert_ok(mp_lock_release(&sh->lock));
	mpt_assert_rc(mp_lock_acquire(&sh->lock, 0), MP_EOWNERDEAD);
	mpt_assert_ok(mp_lock_consistent(&sh->lock));
	mpt_assert_ok(mp_lock_release(&sh->lock));
	mpt_assert_ok(mp_lock_acquire(&sh->lock, 0));
	mpt_assert_ok(mp_lock_release(&sh->lock));
	mpt_assert_rc(mp_lock_consistent(&sh->lock), -EPERM);
}

static void *wait_for_lock(void *arg)
{
	return (void *)(intptr_t)mp_lock_acquire(arg, mpt_timeout(10));
}

static void test_lock_owner_killed_while_others_wait(void **state)
{
	pthread_t t;
	pid_t pid;
	void *rc;
	double t0;

	(void)state;
	mp_lock_init(&sh->lock);
	pid = mpt_fork(acquire_and_block, &sh->lock);
	wait_up(1);
	/* A waiter already sleeping on the lock when the owner dies. */
	pthread_create(&t, NULL, wait_for_lock, &sh->lock);
	mpt_assert_rc(mp_lock_acquire(&sh->lock, 0.05), -ETIMEDOUT);
	t0 = mpt_now();
	kill(pid, SIGKILL);
	pthread_join(t, &rc);
	assert_int_equal((intptr_t)rc, MP_EOWNERDEAD);
	assert_true(mpt_now() - t0 < mpt_timeout(1.0));
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	/* The waiter thread took it over and exited holding it: dead again. */
	mpt_assert_rc(mp_lock_acquire(&sh->lock, mpt_timeout(10)), MP_EOWNERDEAD);
	mpt_assert_ok(mp_lock_consistent(&sh->lock));
	mpt_assert_ok(mp_lock_release(&sh->lock));
}

/* ---- RLock ---- */

static void *release_rlock_thread(void *arg)
{
	return (void *)(intptr_t)mp_rlock_release(arg);
}

static int try_rlock(void *arg)
{
	(void)arg;
	return mp_rlock_acquire(&sh->rlock, 0) == -ETIMEDOUT ? 0 : 1;
}

static void test_rlock(void **state)
{
	mp_rlock_t *r = &sh->rlock;
	pthread_t t;
	void *rc;

	(void)state;
	mp_rlock_init(r);
	assert_int_equal(mp_rlock_count(r), 0);
	mpt_assert_rc(mp_rlock_release(r), -EPERM);
	assert_string_equal(mp_last_error(),
			    "mp_rlock_release: cannot release un-acquired lock");
	for (int i = 1; i <= 3; i++) {
		mpt_assert_ok(mp_rlock_acquire(r, 0)); /* re-entrant */
		assert_int_equal(mp_rlock_count(r), i);
	}
	/* Another thread is not the owner; another process cannot take it. */
	pthread_create(&t, NULL, release_rlock_thread, r);
	pthread_join(t, &rc);
	assert_int_equal((intptr_t)rc, -EPERM);
	assert_int_equal(mpt_exit_code(mpt_fork(try_rlock, NULL)), 0);
	for (int i = 2; i >= 0; i--) {
		mpt_assert_ok(mp_rlock_release(r));
		assert_int_equal(mp_rlock_count(r), i);
	}
	mpt_assert_rc(mp_rlock_release(r), -EPERM);
	/* the rlock is free again */
	assert_int_equal(mpt_exit_code(mpt_fork(try_rlock, NULL)), 1);
	r = mp_rlock_new();
	assert_non_null(r);
	mpt_assert_ok(mp_rlock_acquire(r, MP_FOREVER));
	mpt_assert_ok(mp_rlock_release(r));
	mp_rlock_free(r);
}

static int rlock_twice_and_block(void *arg)
{
	(void)arg;
	if (mp_rlock_acquire(&sh->rlock, 0) || mp_rlock_acquire(&sh->rlock, 0))
		return 1;
	signal_up();
	for (;;)
		pause();
}

static void test_rlock_owner_killed(void **state)
{
	pid_t pid;

	(void)state;
	mp_rlock_init(&sh->rlock);
	pid = mpt_fork(rlock_twice_and_block, NULL);
	wait_up(1);
	kill(pid, SIGKILL);
	mpt_exit_code(pid);
	mpt_assert_rc(mp_rlock_acquire(&sh->rlock, mpt_timeout(10)),
		      MP_EOWNERDEAD);
	assert_int_equal(mp_rlock_count(&sh->rlock), 1); /* not the dead's 2 */
	mpt_assert_ok(mp_rlock_consistent(&sh->rlock));
	mpt_assert_ok(mp_rlock_release(&sh->rlock));
	assert_int_equal(mp_rlock_count(&sh->rlock), 0);
}

/* ---- Semaphore ---- */

static void test_semaphore_basics(void **state)
{
	mp_semaphore_t *s = mp_semaphore_new(2, NULL);
	double t0;

	(void)state;
	assert_int_equal(mp_semaphore_get_value(s), 2);
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	mpt_assert_rc(mp_semaphore_acquire(s, 0), -ETIMEDOUT);
	t0 = mpt_now();
	mpt_assert_rc(mp_semaphore_acquire(s, 0.1), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	mpt_assert_ok(mp_semaphore_release(s, 3)); /* unbounded: may exceed */
	assert_int_equal(mp_semaphore_get_value(s), 3);
	mpt_assert_rc(mp_semaphore_release(s, 0), -EINVAL);
	mp_semaphore_free(s);
	assert_null(mp_semaphore_new(0x80000000u, NULL));
}

static void test_bounded_semaphore(void **state)
{
	mp_semaphore_t *s = mp_semaphore_new(2, &(mp_semaphore_opts_t){.bounded = true});

	(void)state;
	mpt_assert_rc(mp_semaphore_release(s, 1), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_semaphore_release: semaphore "
					     "or lock released too many times");
	assert_int_equal(mp_semaphore_get_value(s), 2);
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	mpt_assert_rc(mp_semaphore_release(s, 3), -EINVAL);
	assert_int_equal(mp_semaphore_get_value(s), 0); /* nothing released */
	mpt_assert_ok(mp_semaphore_release(s, 2));
	mpt_assert_rc(mp_semaphore_release(s, 1), -EINVAL);
	mp_semaphore_free(s);
}

/* Count how many children are inside the semaphore at once. */
static int limited_work(void *arg)
{
	(void)arg;
	for (int round = 0; round < 50; round++) {
		if (mp_semaphore_acquire(&sh->sem, MP_FOREVER) != 0)
			return 1;
		int now = __atomic_add_fetch(&sh->current, 1, __ATOMIC_SEQ_CST);
		int max = __atomic_load_n(&sh->max, __ATOMIC_SEQ_CST);
		while (now > max && !__atomic_compare_exchange_n(
					    &sh->max, &max, now, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
		sched_yield();
		__atomic_sub_fetch(&sh->current, 1, __ATOMIC_SEQ_CST);
		if (mp_semaphore_release(&sh->sem, 1) != 0)
			return 2;
	}
	return 0;
}

static void test_semaphore_limits_concurrency(void **state)
{
	pid_t pid[6];
	int i;

	(void)state;
	mp_semaphore_init(&sh->sem, 3,
			  &(mp_semaphore_opts_t){.bounded = true});
	sh->current = sh->max = 0;
	for (i = 0; i < 6; i++)
		pid[i] = mpt_fork(limited_work, NULL);
	for (i = 0; i < 6; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_true(sh->max >= 1 && sh->max <= 3);
	assert_int_equal(mp_semaphore_get_value(&sh->sem), 3);
}

static int block_on_semaphore(void *arg)
{
	(void)arg;
	signal_up();
	return mp_semaphore_acquire(&sh->sem, mpt_timeout(10)) == 0 ? 0 : 1;
}

static void test_semaphore_wakes_other_process(void **state)
{
	pid_t pid[3];
	int i;

	(void)state;
	mp_semaphore_init(&sh->sem, 0, NULL);
	for (i = 0; i < 3; i++)
		pid[i] = mpt_fork(block_on_semaphore, NULL);
	wait_up(3);
	mpt_assert_ok(mp_semaphore_release(&sh->sem, 3));
	for (i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_int_equal(mp_semaphore_get_value(&sh->sem), 0);
}

/* ---- Event ---- */

static int wait_event(void *arg)
{
	(void)arg;
	signal_up();
	return mp_event_wait(&sh->event, mpt_timeout(10)) == 0 ? 0 : 1;
}

static void test_event(void **state)
{
	pid_t pid[3];
	double t0;
	int i;

	(void)state;
	mp_event_init(&sh->event);
	assert_int_equal(mp_event_is_set(&sh->event), 0);
	t0 = mpt_now();
	mpt_assert_rc(mp_event_wait(&sh->event, 0.1), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	assert_string_equal(mp_last_error(),
			    "mp_event_wait: the flag was not set within 0.1s");
	for (i = 0; i < 3; i++)
		pid[i] = mpt_fork(wait_event, NULL);
	wait_up(3);
	mpt_assert_ok(mp_event_set(&sh->event)); /* wakes all of them */
	for (i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	mpt_assert_ok(mp_event_wait(&sh->event, 0));
	assert_int_equal(mp_event_is_set(&sh->event), 1);
	mpt_assert_ok(mp_event_clear(&sh->event));
	assert_int_equal(mp_event_is_set(&sh->event), 0);
	mpt_assert_rc(mp_event_wait(&sh->event, 0), -ETIMEDOUT);
	assert_int_equal(mp_event_is_set(NULL), -EINVAL);
	mpt_assert_rc(mp_event_wait(&sh->event, -1.5), -EINVAL);
	mp_event_t *e = mp_event_new();
	assert_non_null(e);
	mp_event_set(e);
	mpt_assert_ok(mp_event_wait(e, MP_FOREVER));
	mp_event_free(e);
}

/* ---- Condition ---- */

static void test_condition_errors_and_timeout(void **state)
{
	mp_condition_t *c = mp_condition_new(NULL);
	double t0;

	(void)state;
	assert_non_null(c);
	mpt_assert_rc(mp_condition_wait(c, 0.1), -EPERM);
	assert_string_equal(mp_last_error(), "mp_condition_wait: must acquire() "
					     "condition before using wait()");
	mpt_assert_rc(mp_condition_notify(c, 1), -EPERM);
	assert_string_equal(mp_last_error(),
			    "mp_condition_notify: lock is not owned");
	mpt_assert_ok(mp_condition_acquire(c, MP_FOREVER));
	t0 = mpt_now();
	mpt_assert_rc(mp_condition_wait(c, 0.1), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	assert_string_equal(mp_last_error(),
			    "mp_condition_wait: not notified within 0.1s");
	assert_int_equal(mp_rlock_count(&c->_own), 1); /* held again */
	mpt_assert_rc(mp_condition_wait(c, 0), -ETIMEDOUT);
	mpt_assert_ok(mp_condition_notify_all(c)); /* nobody waits: fine */
	mpt_assert_ok(mp_condition_release(c));
	mp_condition_free(c);
	mp_lock_t l;
	mp_rlock_t r;
	mp_condition_t both;
	mpt_assert_rc(mp_condition_init(&both, &(mp_condition_opts_t){&l, &r}),
		      -EINVAL);
}

static int cond_waiter(void *arg)
{
	(void)arg;
	if (mp_condition_acquire(&sh->cond, MP_FOREVER) != 0)
		return 1;
	signal_up(); /* holding the lock: the test can only notify once we wait */
	if (mp_condition_wait(&sh->cond, mpt_timeout(20)) != 0)
		return 2;
	mp_semaphore_release(&sh->woke, 1);
	return mp_condition_release(&sh->cond) == 0 ? 0 : 3;
}

static void test_condition_notify_one_wakes_exactly_one(void **state)
{
	pid_t pid[3];
	int i;

	(void)state;
	mp_condition_init(&sh->cond, NULL);
	mp_semaphore_init(&sh->woke, 0, NULL);
	for (i = 0; i < 3; i++)
		pid[i] = mpt_fork(cond_waiter, NULL);
	wait_up(3);
	/* Acquiring the lock means each waiter is inside wait() by now. */
	mpt_assert_ok(mp_condition_acquire(&sh->cond, mpt_timeout(10)));
	mpt_assert_ok(mp_condition_notify(&sh->cond, 1));
	mpt_assert_ok(mp_condition_release(&sh->cond));
	mpt_assert_ok(mp_semaphore_acquire(&sh->woke, mpt_timeout(10)));
	mpt_assert_rc(mp_semaphore_acquire(&sh->woke, 0.3), -ETIMEDOUT);
	mpt_assert_ok(mp_condition_acquire(&sh->cond, mpt_timeout(10)));
	mpt_assert_ok(mp_condition_notify(&sh->cond, 2));
	mpt_assert_ok(mp_condition_release(&sh->cond));
	for (i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_int_equal(mp_semaphore_get_value(&sh->woke), 2);
}

static int value_is_five(void *arg)
{
	(void)arg;
	return sh->value == 5;
}

static int set_values(void *arg)
{
	(void)arg;
	for (int v = 1; v <= 5; v++) {
		if (mp_condition_acquire(&sh->cond, MP_FOREVER) != 0)
			return 1;
		sh->value = v;
		mp_condition_notify_all(&sh->cond);
		mp_condition_release(&sh->cond);
	}
	return 0;
}

static void test_condition_wait_for(void **state)
{
	pid_t pid;
	double t0;

	(void)state;
	mp_rlock_init(&sh->rlock);
	mp_condition_init(&sh->cond, &(mp_condition_opts_t){.rlock = &sh->rlock});
	sh->value = 0;
	mpt_assert_ok(mp_condition_acquire(&sh->cond, MP_FOREVER));
	mpt_assert_ok(mp_condition_acquire(&sh->cond, MP_FOREVER)); /* depth 2 */
	pid = mpt_fork(set_values, NULL);
	/* wait releases both levels, so the child can take the lock. */
	mpt_assert_ok(mp_condition_wait_for(&sh->cond, value_is_five, NULL,
					    mpt_timeout(10)));
	assert_int_equal(mp_rlock_count(&sh->rlock), 2); /* restored */
	assert_int_equal(mpt_exit_code(pid), 0);
	/* A predicate that never holds: false after the timeout. */
	sh->value = 0;
	t0 = mpt_now();
	mpt_assert_rc(mp_condition_wait_for(&sh->cond, value_is_five, NULL, 0.2),
		      -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.19);
	assert_string_equal(mp_last_error(), "mp_condition_wait_for: the "
			    "predicate is still false after 0.2s");
	assert_int_equal(mp_rlock_count(&sh->rlock), 2); /* held again */
	mpt_assert_rc(mp_condition_wait_for(&sh->cond, value_is_five, NULL, 0),
		      -ETIMEDOUT);
	sh->value = 5; /* true at once: no wait, even with timeout 0 */
	mpt_assert_ok(mp_condition_wait_for(&sh->cond, value_is_five, NULL, 0));
	mp_condition_release(&sh->cond);
	mp_condition_release(&sh->cond);
	assert_int_equal(mp_rlock_count(&sh->rlock), 0);
}

static void test_condition_over_lock(void **state)
{
	pid_t pid;

	(void)state;
	mp_lock_init(&sh->lock);
	mp_condition_init(&sh->cond, &(mp_condition_opts_t){.lock = &sh->lock});
	mp_semaphore_init(&sh->woke, 0, NULL);
	pid = mpt_fork(cond_waiter, NULL);
	wait_up(1);
	mpt_assert_ok(mp_condition_acquire(&sh->cond, mpt_timeout(10)));
	assert_int_equal(mp_lock_locked(&sh->lock), 1);
	mpt_assert_ok(mp_condition_notify_all(&sh->cond));
	mpt_assert_ok(mp_condition_release(&sh->cond));
	assert_int_equal(mpt_exit_code(pid), 0);
}

/* ---- Barrier ---- */

static int count_action(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&sh->actions, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int barrier_party(void *arg)
{
	int who = (int)(intptr_t)arg;

	for (int cycle = 0; cycle < 2; cycle++) {
		int i = mp_barrier_wait(&sh->barrier, mpt_timeout(10));
		if (i < 0)
			return 1;
		__atomic_or_fetch(&sh->index[cycle], 1 << i, __ATOMIC_SEQ_CST);
	}
	return who < 0;
}

static void test_barrier_cycles_and_action(void **state)
{
	pid_t pid[3];
	int i, idx;

	(void)state;
	mpt_assert_ok(mp_barrier_init(&sh->barrier, 4,
				      &(mp_barrier_opts_t){.action = count_action}));
	assert_int_equal(mp_barrier_parties(&sh->barrier), 4);
	sh->actions = 0;
	sh->index[0] = sh->index[1] = 0;
	for (i = 0; i < 3; i++)
		pid[i] = mpt_fork(barrier_party, (void *)(intptr_t)i);
	for (int cycle = 0; cycle < 2; cycle++) {
		idx = mp_barrier_wait(&sh->barrier, mpt_timeout(10));
		assert_true(idx >= 0 && idx < 4);
		__atomic_or_fetch(&sh->index[cycle], 1 << idx, __ATOMIC_SEQ_CST);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_int_equal(sh->index[0], 0xf); /* indices 0..3, each once */
	assert_int_equal(sh->index[1], 0xf);
	assert_int_equal(sh->actions, 2); /* exactly once per cycle */
	assert_int_equal(mp_barrier_broken(&sh->barrier), 0);
}

static void test_barrier_timeout_breaks_and_reset(void **state)
{
	mp_barrier_t *b = mp_barrier_new(2, &(mp_barrier_opts_t){.timeout = 0.1});
	double t0 = mpt_now();

	(void)state;
	assert_non_null(b);
	mpt_assert_rc(mp_barrier_wait(b, MP_BARRIER_DEFAULT), MP_EBARRIER);
	assert_true(mpt_now() - t0 >= 0.09);
	assert_int_equal(mp_barrier_broken(b), 1);
	mpt_assert_rc(mp_barrier_wait(b, 0), MP_EBARRIER);
	assert_string_equal(mp_last_error(), "mp_barrier_wait: the barrier is broken");
	mpt_assert_ok(mp_barrier_reset(b));
	assert_int_equal(mp_barrier_broken(b), 0);
	mp_barrier_free(b);
	assert_null(mp_barrier_new(0, NULL));
	assert_null(mp_barrier_new(2, &(mp_barrier_opts_t){.timeout = -0.5}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_barrier_new(2, &(mp_barrier_opts_t){
					      .timeout = MP_BARRIER_DEFAULT}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
}

static int wait_broken(void *arg)
{
	(void)arg;
	signal_up();
	return mp_barrier_wait(&sh->barrier, mpt_timeout(10)) == MP_EBARRIER ? 0 : 1;
}

static void test_barrier_abort_wakes_waiters(void **state)
{
	pid_t pid[2];
	double t0;

	(void)state;
	mp_barrier_init(&sh->barrier, 3, NULL);
	pid[0] = mpt_fork(wait_broken, NULL);
	pid[1] = mpt_fork(wait_broken, NULL);
	wait_up(2);
	t0 = mpt_now();
	while (mp_barrier_n_waiting(&sh->barrier) < 2 &&
	       mpt_now() - t0 < mpt_timeout(10))
		sched_yield();
	assert_int_equal(mp_barrier_n_waiting(&sh->barrier), 2);
	mpt_assert_ok(mp_barrier_abort(&sh->barrier));
	assert_int_equal(mpt_exit_code(pid[0]), 0);
	assert_int_equal(mpt_exit_code(pid[1]), 0);
	assert_int_equal(mp_barrier_broken(&sh->barrier), 1);
}

static int barrier_wait_forever(void *arg)
{
	(void)arg;
	signal_up();
	mp_barrier_wait(&sh->barrier, MP_FOREVER);
	return 0;
}

static void test_barrier_dead_party_does_not_hang(void **state)
{
	pid_t pid;
	double t0;

	(void)state;
	mp_barrier_init(&sh->barrier, 3, NULL);
	pid = mpt_fork(barrier_wait_forever, NULL);
	wait_up(1);
	kill(pid, SIGKILL);
	mpt_exit_code(pid);
	t0 = mpt_now();
	mpt_assert_rc(mp_barrier_wait(&sh->barrier, 0.3), MP_EBARRIER);
	assert_true(mpt_now() - t0 < mpt_timeout(5));
	assert_non_null(strstr(mp_last_error(), "timed out"));
}

static int failing_action(void *arg)
{
	(void)arg;
	return -1;
}

static void test_barrier_failing_action(void **state)
{
	pid_t pid;

	(void)state;
	mp_barrier_init(&sh->barrier, 2,
			&(mp_barrier_opts_t){.action = failing_action});
	pid = mpt_fork(wait_broken, NULL);
	wait_up(1);
	mpt_assert_rc(mp_barrier_wait(&sh->barrier, mpt_timeout(10)), MP_EBARRIER);
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_int_equal(mp_barrier_broken(&sh->barrier), 1);
}

static int barrier_wait_default(void *arg)
{
	(void)arg;
	signal_up();
	return mp_barrier_wait(&sh->barrier, MP_BARRIER_DEFAULT) >= 0 ? 0 : 1;
}

/* An option-field timeout of 0 or MP_FOREVER means no limit (common.h). */
static void test_barrier_option_timeout_no_limit(void **state)
{
	static const double no_limit[] = {0, MP_FOREVER};
	struct pollfd none = {.fd = -1};
	mp_barrier_t *b;
	pid_t pid;
	double t0;

	(void)state;
	b = mp_barrier_new(2, &(mp_barrier_opts_t){.timeout = MP_FOREVER});
	assert_non_null(b);
	mp_barrier_free(b);
	for (size_t k = 0; k < 2; k++) {
		mpt_assert_ok(mp_barrier_init(&sh->barrier, 2,
					      &(mp_barrier_opts_t){
						      .timeout = no_limit[k]}));
		pid = mpt_fork(barrier_wait_default, NULL);
		wait_up(1);
		t0 = mpt_now();
		while (mp_barrier_n_waiting(&sh->barrier) < 1 &&
		       mpt_now() - t0 < mpt_timeout(10))
			sched_yield();
		assert_int_equal(mp_barrier_n_waiting(&sh->barrier), 1);
		/* The child's wait must not end on its own meanwhile. */
		assert_int_equal(poll(&none, 1, 200), 0);
		assert_int_equal(mp_barrier_broken(&sh->barrier), 0);
		assert_true(mp_barrier_wait(&sh->barrier, MP_BARRIER_DEFAULT) >= 0);
		assert_int_equal(mpt_exit_code(pid), 0);
	}
	mpt_assert_rc(mp_barrier_init(&sh->barrier, 2,
				      &(mp_barrier_opts_t){.timeout = NAN}),
		      -EINVAL);
	assert_string_equal(mp_last_error(), "mp_barrier_init: opts->timeout nan "
			    "is invalid (use seconds >= 0, or MP_FOREVER)");
}

/* A public call that succeeds leaves mp_last_error() as it was, even when
 * it fails inside (a notify polling its semaphores, a get through a lock). */
static void test_success_leaves_last_error_untouched(void **state)
{
	mp_condition_t *c = mp_condition_new(NULL);
	mp_semaphore_t *s = mp_semaphore_new(0, NULL);
	char before[512];

	(void)state;
	assert_non_null(c);
	assert_non_null(s);
	mp_lock_init(&sh->lock);
	mpt_assert_rc(mp_lock_release(&sh->lock), -EINVAL);
	snprintf(before, sizeof(before), "%s", mp_last_error());
	mpt_assert_ok(mp_condition_acquire(c, 0));
	mpt_assert_ok(mp_condition_notify(c, 1));
	mpt_assert_ok(mp_condition_notify_all(c));
	mpt_assert_ok(mp_condition_release(c));
	mpt_assert_ok(mp_semaphore_release(s, 1));
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	assert_string_equal(mp_last_error(), before);
	mpt_assert_ok(mp_event_init(&sh->event));
	mpt_assert_ok(mp_event_set(&sh->event));
	mpt_assert_ok(mp_event_wait(&sh->event, 0));
	assert_string_equal(mp_last_error(), before);
	assert_int_equal(mp_last_error_code(), -EINVAL);
	mp_semaphore_free(s);
	mp_condition_free(c);
}

/* ---- arguments are checked before any fast path ---- */

static void test_bad_timeout_fails_even_when_free(void **state)
{
	mp_condition_t *c;
	mp_barrier_t *b;

	(void)state;
	/* A free permit, a set flag, an RLock already ours: the timeout is
	 * still checked first, and nothing is taken. */
	mpt_assert_ok(mp_semaphore_init(&sh->sem, 1, NULL));
	mpt_assert_rc(mp_semaphore_acquire(&sh->sem, NAN), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_semaphore_acquire: timeout"));
	mpt_assert_rc(mp_semaphore_acquire(&sh->sem, -0.5), -EINVAL);
	assert_int_equal(mp_semaphore_get_value(&sh->sem), 1);
	mpt_assert_ok(mp_event_init(&sh->event));
	mpt_assert_ok(mp_event_set(&sh->event));
	mpt_assert_rc(mp_event_wait(&sh->event, NAN), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_event_wait: timeout"));
	mpt_assert_rc(mp_event_wait(&sh->event, -3), -EINVAL);
	mpt_assert_ok(mp_event_wait(&sh->event, 0));
	mpt_assert_ok(mp_rlock_init(&sh->rlock));
	mpt_assert_ok(mp_rlock_acquire(&sh->rlock, 0));
	mpt_assert_rc(mp_rlock_acquire(&sh->rlock, NAN), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_rlock_acquire: timeout"));
	assert_int_equal(mp_rlock_count(&sh->rlock), 1);
	mpt_assert_ok(mp_rlock_release(&sh->rlock));
	mpt_assert_ok(mp_lock_init(&sh->lock));
	mpt_assert_rc(mp_lock_acquire(&sh->lock, NAN), -EINVAL);
	assert_int_equal(mp_lock_locked(&sh->lock), 0);
	/* Through a Condition: its own name in the message. */
	c = mp_condition_new(NULL);
	assert_non_null(c);
	mpt_assert_rc(mp_condition_acquire(c, NAN), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_condition_acquire: timeout"));
	mpt_assert_ok(mp_condition_acquire(c, 0));
	mpt_assert_rc(mp_condition_acquire(c, -2), -EINVAL);
	mpt_assert_rc(mp_condition_wait(c, NAN), -EINVAL);
	mpt_assert_ok(mp_condition_release(c));
	assert_int_equal(mp_rlock_count(&c->_own), 0);
	mp_condition_free(c);
	b = mp_barrier_new(1, NULL);
	assert_non_null(b);
	mpt_assert_rc(mp_barrier_wait(b, NAN), -EINVAL);
	mpt_assert_rc(mp_barrier_wait(b, -7), -EINVAL);
	assert_int_equal(mp_barrier_wait(b, 0), 0);
	mp_barrier_free(b);
}

static void test_rlock_depth_does_not_wrap(void **state)
{
	(void)state;
	mpt_assert_ok(mp_rlock_init(&sh->rlock));
	mpt_assert_ok(mp_rlock_acquire(&sh->rlock, 0));
	sh->rlock._count = INT32_MAX; /* as if acquired that many times */
	mpt_assert_rc(mp_rlock_acquire(&sh->rlock, 0), -EOVERFLOW);
	assert_int_equal(mp_rlock_count(&sh->rlock), INT32_MAX);
	sh->rlock._count = 1;
	mpt_assert_ok(mp_rlock_release(&sh->rlock));
	assert_int_equal(mp_lock_locked(&sh->rlock._lock), 0);
}

static int never(void *arg)
{
	(void)arg;
	return false;
}

static void test_messages_name_the_public_function(void **state)
{
	mp_condition_t *c;

	(void)state;
	assert_null(mp_semaphore_new(0x80000000u, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_semaphore_new: value"));
	assert_null(mp_semaphore_new(0, &(mp_semaphore_opts_t){.bounded = true}));
	assert_non_null(strstr(mp_last_error(), "mp_semaphore_new: a Bounded"));
	assert_null(mp_condition_new(&(mp_condition_opts_t){.lock = &sh->lock,
							  .rlock = &sh->rlock}));
	assert_non_null(strstr(mp_last_error(), "mp_condition_new: give"));
	assert_null(mp_barrier_new(0, NULL));
	assert_non_null(strstr(mp_last_error(), "mp_barrier_new: parties 0"));
	assert_null(mp_barrier_new(2, &(mp_barrier_opts_t){.timeout = NAN}));
	assert_non_null(strstr(mp_last_error(), "mp_barrier_new: opts->timeout"));
	c = mp_condition_new(NULL);
	assert_non_null(c);
	mpt_assert_rc(mp_condition_notify_all(c), -EPERM);
	assert_string_equal(mp_last_error(),
			    "mp_condition_notify_all: lock is not owned");
	mpt_assert_rc(mp_condition_wait_for(c, never, NULL, 1), -EPERM);
	assert_non_null(strstr(mp_last_error(), "mp_condition_wait_for: must"));
	mpt_assert_rc(mp_condition_release(c), -EPERM);
	assert_non_null(strstr(mp_last_error(), "mp_condition_release: cannot"));
	mp_condition_free(c);
	mpt_assert_rc(mp_condition_notify_all(NULL), -EINVAL);
	mpt_assert_ok(mp_rlock_init(&sh->rlock));
	mpt_assert_rc(mp_rlock_consistent(&sh->rlock), -EPERM);
	assert_non_null(strstr(mp_last_error(), "mp_rlock_consistent: the"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lock_basics),
		T(test_lock_timeout_across_processes),
		T(test_lock_mutual_exclusion_processes),
		T(test_lock_mutual_exclusion_threads),
		T(test_lock_released_by_another_process),
		T(test_lock_owner_killed),
		T(test_lock_owner_killed_while_others_wait),
		T(test_rlock),
		T(test_rlock_owner_killed),
		T(test_semaphore_basics),
		T(test_bounded_semaphore),
		T(test_semaphore_limits_concurrency),
		T(test_semaphore_wakes_other_process),
		T(test_event),
		T(test_condition_errors_and_timeout),
		T(test_condition_notify_one_wakes_exactly_one),
		T(test_condition_wait_for),
		T(test_condition_over_lock),
		T(test_barrier_cycles_and_action),
		T(test_barrier_timeout_breaks_and_reset),
		T(test_barrier_abort_wakes_waiters),
		T(test_barrier_dead_party_does_not_hang),
		T(test_barrier_failing_action),
		T(test_barrier_option_timeout_no_limit),
		T(test_success_leaves_last_error_untouched),
		T(test_bad_timeout_fails_even_when_free),
		T(test_rlock_depth_does_not_wrap),
		T(test_messages_name_the_public_function),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
