/* ch5_pool_map - 5.1.3 Pool.map: four workers share the tasks, results come back in input order; timed against a serial loop */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* sum(i*i for i in range(n)), summed in a double: exact below 2^53, and the
 * compiler cannot fold the loop into a closed formula. */
static double cpu_intensive_task(long n)
{
	double s = 0;

	for (long i = 0; i < n; i++)
		s += (double)i * (double)i;
	return s;
}

/* A map function: one element in (a long), one out (a double). */
static int task(const void *in, void *out)
{
	*(double *)out = cpu_intensive_task(*(const long *)in);
	return 0;
}

int main(void)
{
	long tasks[] = {10000, 20000, 30000, 40000}, big[8];
	double results[4], par[8], ser[8], t0, t_pool, t_serial;
	mp_pool_t *pool;
	int rc;

	printf("main process pid: %d\n", (int)getpid());
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4}); /* Pool(processes=4) */
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	printf("pool created, processing tasks...\n");
	t0 = now();
	rc = mp_pool_map(pool, task, tasks, 4, sizeof(long), results,
			 sizeof(double), NULL);
	if (rc < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	printf("total time: %.2fs\n", now() - t0);
	printf("results: [%.0f, %.0f, %.0f]...\n", results[0], results[1],
	       results[2]);

	/* Tasks big enough to outweigh the messages show the speed-up. */
	for (int i = 0; i < 8; i++)
		big[i] = 15000000;
	t0 = now();
	rc = mp_pool_map(pool, task, big, 8, sizeof(long), par, sizeof(double),
			 NULL);
	if (rc < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	t_pool = now() - t0;
	t0 = now();
	for (int i = 0; i < 8; i++)
		ser[i] = cpu_intensive_task(big[i]);
	t_serial = now() - t0;
	printf("8 tasks of %ld: serial %.2fs, pool %.2fs (%.1fx on %d CPUs)\n",
	       big[0], t_serial, t_pool, t_serial / t_pool, mp_cpu_count());
	printf("pool and serial results equal: %s\n",
	       memcmp(par, ser, sizeof(par)) == 0 ? "yes" : "no");

	/* Leaving `with Pool()`: no more work, wait for the workers. */
	if (mp_pool_close(pool) < 0 || mp_pool_join(pool, MP_FOREVER) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);
	return 0;
}
