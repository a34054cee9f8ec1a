/* ch4_barrier - 4.8.6 Barrier: three processes wait for each other, then go on together */
#include <mproc.h>
#include <stdio.h>
#include <unistd.h>

static mp_barrier_t *bar;

static int all_arrived(void *arg)
{
	(void)arg;
	printf("(action: all %d arrived, run once by one of them)\n",
	       mp_barrier_parties(bar));
	fflush(stdout);
	return 0;
}

static int worker(void *arg)
{
	int i = (int)(long)arg, index;

	printf("%d reached the barrier %d\n", (int)getpid(), i);
	fflush(stdout);
	index = mp_barrier_wait(bar, 10);
	if (index < 0) {
		printf("%d: %s\n", (int)getpid(), mp_last_error());
		return 1;
	}
	printf("%d passed the barrier %d (arrival index %d)\n", (int)getpid(), i,
	       index);
	return 0;
}

int main(void)
{
	mp_process_t *ps[3];
	int i, code, bad = 0;

	bar = mp_barrier_new(3, &(mp_barrier_opts_t){.action = all_arrived});
	if (bar == NULL)
		return 1;
	for (i = 0; i < 3; i++) {
		ps[i] = mp_process_new(worker, (void *)(long)i, NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 3; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		bad |= mp_process_exitcode(ps[i], &code) != 1 || code != 0;
		mp_process_free(ps[i]);
	}
	/* A barrier that cannot fill breaks on its timeout instead of hanging. */
	if (mp_barrier_wait(bar, 0.2) == MP_EBARRIER)
		printf("alone at the barrier: %s\n", mp_last_error());
	mp_barrier_free(bar);
	return bad;
}
