/* ch4_semaphore - 4.5.1 / 004 2.3.3.2 Semaphore: at most 3 processes in the critical section at once */
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct shared {
	mp_semaphore_t sem;
	int inside, most;
};

static struct shared *sh;

static int worker(void *arg)
{
	int i = (int)(long)arg, now;
	struct timespec t = {0, 50000000L + (long)(i % 3) * 30000000L};

	mp_semaphore_acquire(&sh->sem, MP_FOREVER); /* with sem: */
	now = __atomic_add_fetch(&sh->inside, 1, __ATOMIC_SEQ_CST);
	for (int m = sh->most; now > m &&
	     !__atomic_compare_exchange_n(&sh->most, &m, now, 0, __ATOMIC_SEQ_CST,
					  __ATOMIC_SEQ_CST);)
		;
	printf("%d starts task %d\n", (int)getpid(), i);
	fflush(stdout);
	nanosleep(&t, NULL);
	printf("%d ends task %d\n", (int)getpid(), i);
	fflush(stdout);
	__atomic_sub_fetch(&sh->inside, 1, __ATOMIC_SEQ_CST);
	mp_semaphore_release(&sh->sem, 1);
	return 0;
}

int main(void)
{
	mp_process_t *ps[8];
	int i;

	sh = mp_shared_alloc(sizeof(*sh));
	if (sh == NULL || mp_semaphore_init(&sh->sem, 3, NULL) < 0)
		return 1;
	for (i = 0; i < 8; i++) {
		ps[i] = mp_process_new(worker, (void *)(long)i, NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 8; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	printf("at most %d tasks ran at the same time (limit 3)\n", sh->most);
	mp_shared_free(sh);
	return 0;
}
