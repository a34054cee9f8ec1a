/* ch4_lock_balance - 4.8.1 / 004 2.3.3.1 Lock: four processes deposit 1000 times each into one balance */
#include <mproc.h>
#include <sched.h>
#include <stdio.h>

struct account {
	mp_lock_t lock; /* embedded next to the data it protects */
	long balance;
};

static int deposit(void *arg)
{
	struct account *acc = arg;

	for (int i = 0; i < 1000; i++) {
		mp_lock_acquire(&acc->lock, MP_FOREVER); /* with lock: */
		long b = acc->balance; /* not atomic: the lock protects it */
		sched_yield();
		acc->balance = b + 1;
		mp_lock_release(&acc->lock);
	}
	return 0;
}

int main(void)
{
	struct account *acc = mp_shared_alloc(sizeof(*acc));
	mp_process_t *ps[4];
	int i;

	if (acc == NULL || mp_lock_init(&acc->lock) < 0)
		return 1;
	for (i = 0; i < 4; i++) {
		ps[i] = mp_process_new(deposit, acc, NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 4; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	printf("final balance: %ld (expected 4000)\n", acc->balance);
	mp_lock_destroy(&acc->lock);
	mp_shared_free(acc);
	return 0;
}
