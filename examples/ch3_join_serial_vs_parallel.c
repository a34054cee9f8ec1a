/* ch3_join_serial_vs_parallel - 002 2.2.5 join(): no join, start+join one by one (serial), start all then join all (parallel) */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

static const double rest[5] = {0.2, 0.2, 0.2, 0.3, 0.1}; /* seconds */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int work(void *arg)
{
	int i = (int)(long)arg;
	struct timespec ts = {0, (long)(rest[i] * 1e9)};

	printf("child-%d starts resting %.1fs\n", i, rest[i]);
	fflush(stdout);
	nanosleep(&ts, NULL);
	printf("child-%d finished resting\n", i);
	return 0;
}

static void make(mp_process_t **p)
{
	for (int i = 0; i < 5; i++)
		p[i] = mp_process_new(work, (void *)(long)i, NULL);
}

static void release(mp_process_t **p)
{
	for (int i = 0; i < 5; i++) {
		mp_process_join(p[i], MP_FOREVER);
		mp_process_free(p[i]);
	}
}

int main(void)
{
	mp_process_t *p[5];
	double t0, no_join, serial, parallel;
	int i;

	printf("(1) start without join\n");
	make(p);
	t0 = now();
	for (i = 0; i < 5; i++)
		mp_process_start(p[i]);
	no_join = now() - t0;
	printf("create_process took %.3fs (the children still run)\n", no_join);
	release(p); /* (joined here only so the next part starts clean) */

	printf("(2) start, then join, one child at a time: serial\n");
	make(p);
	t0 = now();
	for (i = 0; i < 5; i++) {
		mp_process_start(p[i]);
		mp_process_join(p[i], MP_FOREVER);
	}
	serial = now() - t0;
	printf("create_process_wait1 took %.3fs (the sum of the rests)\n", serial);
	release(p);

	printf("(3) start all, then join all: parallel\n");
	make(p);
	t0 = now();
	for (i = 0; i < 5; i++)
		mp_process_start(p[i]);
	for (i = 0; i < 5; i++)
		mp_process_join(p[i], MP_FOREVER);
	parallel = now() - t0;
	printf("create_process_wait2 took %.3fs (the longest rest)\n", parallel);
	release(p);

	printf("parallel is %s than serial (%.2fx)\n",
	       parallel < serial ? "faster" : "NOT faster", serial / parallel);
	return parallel < serial ? 0 : 1;
}
