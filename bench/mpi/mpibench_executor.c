/*
 * mpibench_executor.c - the executor on the MPI backend (libmproc_mpi), to
 * run as `mpirun --oversubscribe -np 3 mpibench_executor` (rank 0 and 2
 * worker ranks, one local worker each); bench/run.sh does, beside
 * cpython_mpi_executor.py under mpi4py.futures with the same 2 worker
 * ranks.  Figures (medians of 3):
 *   mpi_executor_submit_tasks_per_s  a loop of submit of tiny tasks, then
 *                                    every result
 *   mpi_executor_map_items_per_s     map x -> x*x over 2e5 ints, chunked
 *                                    (chunksize 25000: n / (4 * workers))
 *   mpi_executor_cpu_speedup         the sum-of-squares map (8 elements) on
 *                                    the 2 ranks against one serial loop
 */
#include <string.h>

#include "bench.h"
#include "mproc/executor.h"
#include "mproc/mpi.h"

enum { N_SUBMIT = 50000, N_MAP = 200000, CHUNK = 25000, CPU_TASKS = 8 };
#define CPU_N 160000000L

static mp_executor_t *ex;

static void die(const char *what)
{
	fprintf(stderr, "mpibench_executor: %s: %s\n", what, mp_last_error());
	exit(1);
}

static int tiny(const void *in, size_t len, mp_task_out_t *out)
{
	return mp_task_return(out, in, len);
}
MP_MPI_TASK(tiny);

static int square(const void *in, void *out)
{
	*(int *)out = *(const int *)in * *(const int *)in;
	return 0;
}
MP_MPI_MAP(square);

/* noinline and an empty asm: the serial loop and the ranks run the same
 * machine code, not a closed form. */
__attribute__((noinline)) static unsigned long sum_squares(long n)
{
	unsigned long total = 0;

	for (long i = 0; i < n; i++) {
		total += (unsigned long)i * (unsigned long)i;
		__asm__ volatile("" : "+r"(total));
	}
	return total;
}

static int cpu_map(const void *in, void *out)
{
	*(unsigned long *)out = sum_squares(*(const long *)in);
	return 0;
}
MP_MPI_MAP(cpu_map);

static double submit_rate(void *arg)
{
	static mp_future_t *fs[N_SUBMIT];
	double t0 = bench_now();

	(void)arg;
	for (int i = 0; i < N_SUBMIT; i++)
		if ((fs[i] = mp_executor_submit(ex, tiny, &i, sizeof(i))) == NULL)
			die("submit");
	for (int i = 0; i < N_SUBMIT; i++) {
		const mp_bytes_t *out;

		if (mp_future_result(fs[i], MP_FOREVER, &out) != 0 ||
		    *(const int *)out->data != i)
			die("result");
		mp_future_free(fs[i]);
	}
	return N_SUBMIT / (bench_now() - t0);
}

static double map_rate(void *arg)
{
	static int in[N_MAP], out[N_MAP];
	double t0;

	(void)arg;
	for (int i = 0; i < N_MAP; i++)
		in[i] = i;
	t0 = bench_now();
	if (mp_executor_map(ex, square, in, N_MAP, sizeof(int), out, sizeof(int),
			    &(mp_map_opts_t){.chunksize = CHUNK}, 60) != 0)
		die("map");
	t0 = bench_now() - t0;
	for (int i = 0; i < N_MAP; i += 997)
		if (out[i] != i * i)
			die("wrong map result");
	return N_MAP / t0;
}

static double cpu_speedup(void *arg)
{
	long in[CPU_TASKS];
	unsigned long serial[CPU_TASKS], par[CPU_TASKS];
	double t0, ts, tp;

	(void)arg;
	for (int i = 0; i < CPU_TASKS; i++)
		in[i] = CPU_N;
	t0 = bench_now();
	for (int i = 0; i < CPU_TASKS; i++)
		cpu_map(&in[i], &serial[i]);
	ts = bench_now() - t0;
	t0 = bench_now();
	if (mp_executor_map(ex, cpu_map, in, CPU_TASKS, sizeof(long), par,
			    sizeof(long), &(mp_map_opts_t){.chunksize = 1}, 600) != 0)
		die("cpu map");
	tp = bench_now() - t0;
	if (memcmp(serial, par, sizeof(par)) != 0)
		die("cpu map: results differ");
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "cpu: serial %.3f s, 2 ranks %.3f s\n", ts, tp);
	return ts / tp;
}

int main(void)
{
	ex = mp_executor_new(&(mp_executor_opts_t){.backend = mp_mpi_backend()});
	if (ex == NULL)
		die("mp_executor_new");
	/* Rank 0 only, from here. */
	submit_rate(NULL); /* warm-up */
	bench_print("mpi_executor_submit_tasks_per_s",
		    bench_repeat(3, submit_rate, NULL), -1, "tasks/s");
	bench_print("mpi_executor_map_items_per_s",
		    bench_repeat(3, map_rate, NULL), -1, "items/s");
	bench_print("mpi_executor_cpu_speedup",
		    bench_repeat(3, cpu_speedup, NULL), -1, "x");
	mp_executor_free(ex);
	return 0;
}
