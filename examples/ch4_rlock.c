/* ch4_rlock - 4.8.2 RLock: a re-entrant lock may be taken again by its owner; a plain Lock may not */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>

static mp_rlock_t *rlock;
static mp_lock_t *lock;

static void g(void)
{
	mp_rlock_acquire(rlock, MP_FOREVER); /* the owner may take it again */
	printf("inner: holding the RLock (depth %d)\n", mp_rlock_count(rlock));
	mp_rlock_release(rlock);
}

static void f(void)
{
	mp_rlock_acquire(rlock, MP_FOREVER);
	printf("outer: holding the RLock (depth %d)\n", mp_rlock_count(rlock));
	g();
	mp_rlock_release(rlock);
}

static void g2(void)
{
	/* With a plain Lock this would wait for itself forever: bound it. */
	if (mp_lock_acquire(lock, 0.2) == -ETIMEDOUT) {
		printf("inner: a plain Lock cannot be taken twice (%s)\n",
		       mp_last_error());
		return;
	}
	printf("inner: holding the Lock\n");
	mp_lock_release(lock);
}

static void f2(void)
{
	mp_lock_acquire(lock, MP_FOREVER);
	printf("outer: holding the Lock\n");
	g2();
	mp_lock_release(lock);
}

int main(void)
{
	rlock = mp_rlock_new();
	lock = mp_lock_new();
	if (rlock == NULL || lock == NULL)
		return 1;
	f();
	f2();
	if (mp_rlock_release(rlock) < 0)
		printf("releasing an RLock we do not hold: %s\n", mp_last_error());
	mp_rlock_free(rlock);
	mp_lock_free(lock);
	return 0;
}
