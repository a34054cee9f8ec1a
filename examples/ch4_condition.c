/* ch4_condition - 4.8.5 Condition: a producer and a consumer share a buffer */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

/* The lesson's Manager list becomes a small ring in shared memory. */
struct shared {
	mp_condition_t cond;
	int buf[8];
	int head, count;
};

static struct shared *sh;

static int producer(void *arg)
{
	struct timespec t = {0, 50000000L};

	(void)arg;
	for (int i = 0; i < 5; i++) {
		mp_condition_acquire(&sh->cond, MP_FOREVER); /* with cond: */
		sh->buf[(sh->head + sh->count++) % 8] = i;
		printf("produced: %d\n", i);
		fflush(stdout);
		mp_condition_notify(&sh->cond, 1);
		mp_condition_release(&sh->cond);
		nanosleep(&t, NULL);
	}
	return 0;
}

static int consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) {
		mp_condition_acquire(&sh->cond, MP_FOREVER);
		while (sh->count == 0) /* while not buf: cond.wait() */
			mp_condition_wait(&sh->cond, MP_FOREVER);
		int v = sh->buf[sh->head];
		sh->head = (sh->head + 1) % 8;
		sh->count--;
		printf("consumed: %d\n", v);
		fflush(stdout);
		mp_condition_release(&sh->cond);
	}
	return 0;
}

int main(void)
{
	mp_process_t *p1, *p2;

	sh = mp_shared_alloc(sizeof(*sh));
	if (sh == NULL || mp_condition_init(&sh->cond, NULL) < 0)
		return 1;
	p1 = mp_process_new(producer, NULL, NULL);
	p2 = mp_process_new(consumer, NULL, NULL);
	mp_process_start(p1);
	mp_process_start(p2);
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	mp_shared_free(sh);
	return 0;
}
