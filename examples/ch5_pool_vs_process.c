/* ch5_pool_vs_process - 5.1.4 Pool vs a process per task: 200 small tasks on a few reused workers, or 200 processes started and joined by each start method */
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
MP_TARGET(process_task); /* forkserver and spawn find it by name */

/* The pool way (repeated tasks): the workers are started once, or, with
 * maxtasks 1, a fresh worker per task (by the given start method). */
static int run_pool(double *results, unsigned maxtasks, const char *method)
{
	static int args[NTASKS];
	mp_pool_t *pool = mp_pool_new(&(mp_pool_opts_t){
		.maxtasksperchild = maxtasks, .start_method = method});
	int rc;

	if (pool == NULL)
		return -1;
	rc = mp_pool_map(pool, pool_task, args, NTASKS, sizeof(int), results,
			 sizeof(double), NULL);
	mp_pool_free(pool);
	return rc;
}

/* The manual way (one-off tasks): a process per task, by a start method. */
static int run_processes(const char *method)
{
	static mp_process_t *p[NTASKS];
	int rc = 0;

	for (int i = 0; i < NTASKS; i++) {
		p[i] = mp_process_new(process_task, NULL,
				      &(mp_process_opts_t){.start_method = method});
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

int main(int argc, char **argv)
{
	static const char *const methods[] = {"fork", "forkserver", "spawn"};
	static double results[NTASKS];
	double t, pool_time, process_time, slowest = 0;

	/* First: a spawn child runs its task here; the fork server starts
	 * while the program is small. */
	if (mp_init(argc, argv) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	t = now();
	if (run_pool(results, 0, NULL) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	pool_time = now() - t;
	printf("pool: %d tasks on %d workers took %.3fs (%d results, first %.0f)\n",
	       NTASKS, mp_cpu_count(), pool_time, NTASKS, results[0]);

	for (int m = 0; m < 3; m++) {
		t = now();
		if (run_processes(methods[m]) < 0)
			return fprintf(stderr, "%s\n", mp_last_error()), 1;
		process_time = now() - t;
		printf("processes (%s): %d processes took %.3fs (the results "
		       "stay in the children)\n",
		       methods[m], NTASKS, process_time);
		t = now();
		if (run_pool(results, 1, methods[m]) < 0)
			return fprintf(stderr, "%s\n", mp_last_error()), 1;
		printf("pool, a fresh %s worker per task: %.3fs (first %.0f)\n",
		       methods[m], now() - t, results[0]);
		if (process_time > slowest)
			slowest = process_time;
	}
	printf("for repeated tasks the pool is %s (%.1fx the slowest method)\n",
	       pool_time < slowest ? "faster" : "NOT faster",
	       slowest / pool_time);
	return 0;
}
