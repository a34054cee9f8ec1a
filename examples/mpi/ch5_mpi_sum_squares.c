/* ch5_mpi_sum_squares - 5.1.4's CPU-bound map (task(x) = sum(i * i for i in range(10_000)), 200 times) on the worker ranks of an MPI job */
/*
 * The pool example's map, through the executor on the MPI backend
 * (libmproc_mpi, docs/mpi.md).  Launch it on 3 ranks of this machine:
 *
 *     mpirun --oversubscribe -np 3 ./ch5_mpi_sum_squares
 *
 * or over several machines with a hostfile (mpirun --hostfile hosts -np 9).
 * Rank 0 runs main past mp_executor_new; the other ranks run the tasks
 * inside that call and exit when rank 0 shuts the executor down.  Next to
 * the pool version only two things differ: the task is registered by name
 * (MP_MPI_MAP), and the options name the backend.
 */
#include <mproc.h>
#include <mproc/mpi.h>
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
static int task(const void *in, void *out)
{
	double s = 0;

	(void)in;
	for (int i = 0; i < 10000; i++)
		s += (double)i * (double)i;
	*(double *)out = s;
	return 0;
}
MP_MPI_MAP(task);

int main(void)
{
	static int args[NTASKS];
	static double results[NTASKS];
	mp_executor_t *ex;
	double t0, total = 0;

	ex = mp_executor_new(&(mp_executor_opts_t){.backend = mp_mpi_backend()});
	if (ex == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	/* Only rank 0 gets here. */
	t0 = now();
	if (mp_executor_map(ex, task, args, NTASKS, sizeof(int), results,
			    sizeof(double), NULL, MP_FOREVER) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	for (int i = 0; i < NTASKS; i++)
		total += results[i];
	printf("mpi: %d tasks on %d worker ranks took %.3fs (%d results, "
	       "first %.0f, total %.0f)\n", NTASKS, mp_mpi_size() - 1,
	       now() - t0, NTASKS, results[0], total);
	mp_executor_shutdown(ex, 0); /* the worker ranks exit */
	mp_executor_free(ex);
	return 0;
}
