/* ch5_pool_vs_process - 5.1.4 Pool vs a process per task: 200 small tasks on a few reused workers, or 200 processes started and joined */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

#define NTASKS 200

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* task(x) = sum(i * i for i in range(10_000)) */
static double task(void)
{
	double s = 0;

	for (int i = 0; i < 10000; i++)
		s += (double)i * (double)i;
	return s;
}

static int pool_task(const void *in, void *out)
{
	(void)in;
	*(double *)out = task();
	return 0;
}

static int process_task(void *arg)
{
	(void)arg;
	return task() > 0 ? 0 : 1; /* the result stays in the child */
}

/* The pool way (repeated tasks): the workers are started once. */
static int run_pool(double *results)
{
	static int args[NTASKS];
	mp_pool_t *pool = mp_pool_new(NULL); /* mp_cpu_count() workers */
	int rc;

	if (pool == NULL)
		return -1;
	rc = mp_pool_map(pool, pool_task, args, NTASKS, sizeof(int), results,
			 sizeof(double), NULL);
	mp_pool_free(pool);
	return rc;
}

/* The manual way (one-off tasks): a process per task. */
static int run_processes(void)
{
	static mp_process_t *p[NTASKS];
	int rc = 0;

	for (int i = 0; i < NTASKS; i++) {
		p[i] = mp_process_new(process_task, NULL, NULL);
		if (p[i] == NULL || mp_process_start(p[i]) < 0)
			return -1; /* (the started ones are joined at exit) */
	}
	for (int i = 0; i < NTASKS; i++) {
		if (mp_process_join(p[i], MP_FOREVER) < 0)
			rc = -1;
		mp_process_free(p[i]);
	}
	return rc;
}

int main(void)
{
	static double results[NTASKS];
	double t, pool_time, process_time;

	t = now();
	if (run_pool(results) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	pool_time = now() - t;
	printf("pool: %d tasks on %d workers took %.3fs (%d results, first %.0f)\n",
	       NTASKS, mp_cpu_count(), pool_time, NTASKS, results[0]);

	t = now();
	if (run_processes() < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	process_time = now() - t;
	printf("processes: %d processes took %.3fs (the results stay in the children)\n",
	       NTASKS, process_time);
	printf("for repeated tasks the pool is %s (%.1fx)\n",
	       pool_time < process_time ? "faster" : "NOT faster",
	       process_time / pool_time);
	return 0;
}
