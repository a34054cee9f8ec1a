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
 *                                    (median of 5; docs/mpi.md says how)
 * `mpibench_executor serial` (no mpirun) times the serial loop alone, for
 * run.sh to pass in BENCH_MPI_SERIAL_S; BENCH_ONLY=cpu skips the first two
 * figures.
 */
#include <string.h>
#include <unistd.h>

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

/* A rank process's pid: a local worker's parent. */
static int rank_pid(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t p = getppid();

	(void)in;
	(void)len;
	return mp_task_return(out, &p, sizeof(p));
}
MP_MPI_TASK(rank_pid);

enum { MAX_RANKS = 8 };
static pid_t ranks[MAX_RANKS];
static int nranks;

/* The worker ranks' pids (they run on this machine in the bench). */
static void find_ranks(void)
{
	mp_future_t *fs[64];

	for (int i = 0; i < 64; i++)
		if ((fs[i] = mp_executor_submit(ex, rank_pid, NULL, 0)) == NULL)
			die("submit");
	for (int i = 0; i < 64; i++) {
		const mp_bytes_t *out;
		pid_t p;
		int j;

		if (mp_future_result(fs[i], MP_FOREVER, &out) != 0)
			die("result");
		memcpy(&p, out->data, sizeof(p));
		for (j = 0; j < nranks && ranks[j] != p; j++)
			;
		if (j == nranks && nranks < MAX_RANKS)
			ranks[nranks++] = p;
		mp_future_free(fs[i]);
	}
}

/* A process's CPU time (all threads) in seconds, 0 when unreadable. */
static double cpu_of(pid_t pid)
{
	struct timespec ts;
	clockid_t c;

	if (clock_getcpuclockid(pid, &c) != 0 || clock_gettime(c, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double serial_loop(void *arg)
{
	long n = CPU_N;
	unsigned long v;
	double t0 = bench_now();

	(void)arg;

	for (int i = 0; i < CPU_TASKS; i++)
		cpu_map(&n, &v);
	return bench_now() - t0;
}

struct cpu_run {
	double serial, parallel, rank_cpu, rank0_cpu;
};

/* One parallel map of the CPU job; the serial time is given (measured
 * with no rank around by bench/run.sh: BENCH_MPI_SERIAL_S) or measured
 * here, on rank 0, while the worker ranks wait. */
static double cpu_speedup(void *arg)
{
	struct cpu_run *run = arg;
	long in[CPU_TASKS];
	unsigned long par[CPU_TASKS], want;
	double t0, tp, c0[MAX_RANKS], r0, busiest = 0;
	const char *given = getenv("BENCH_MPI_SERIAL_S");

	for (int i = 0; i < CPU_TASKS; i++)
		in[i] = CPU_N;
	cpu_map(&in[0], &want);
	run->serial = given && *given ? atof(given) : serial_loop(NULL);
	for (int k = 0; k < nranks; k++)
		c0[k] = cpu_of(ranks[k]);
	r0 = cpu_of(getpid());
	t0 = bench_now();
	if (mp_executor_map(ex, cpu_map, in, CPU_TASKS, sizeof(long), par,
			    sizeof(long), &(mp_map_opts_t){.chunksize = 1}, 600) != 0)
		die("cpu map");
	tp = bench_now() - t0;
	run->rank0_cpu = cpu_of(getpid()) - r0;
	for (int k = 0; k < nranks; k++)
		if (cpu_of(ranks[k]) - c0[k] > busiest)
			busiest = cpu_of(ranks[k]) - c0[k];
	run->rank_cpu = busiest;
	run->parallel = tp;
	for (int i = 0; i < CPU_TASKS; i++)
		if (par[i] != want)
			die("cpu map: wrong result");
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "cpu: serial %.3f s, 2 ranks %.3f s, CPU of rank 0 "
			"%.3f s, of the busiest rank %.3f s\n", run->serial, tp,
			run->rank0_cpu, busiest);
	return run->serial / tp;
}

/* The CPU figure, median of 5 maps, with the serial and parallel times
 * of the median run and the CPU time (s) of rank 0 and of the busiest
 * worker rank (not its local worker) during it. */
static void cpu_figure(void)
{
	struct cpu_run runs[5];
	double v[5], med;
	int m = 0;

	find_ranks();
	for (int i = 0; i < 5; i++)
		v[i] = cpu_speedup(&runs[i]);
	for (int i = 0; i < 5; i++) { /* the median run: 2 below, 2 above */
		int below = 0, above = 0;

		for (int j = 0; j < 5; j++) {
			below += v[j] < v[i] || (v[j] == v[i] && j < i);
			above += v[j] > v[i] || (v[j] == v[i] && j > i);
		}
		if (below == 2 && above == 2)
			m = i;
	}
	med = v[m];
	printf("figure=mpi_executor_cpu_speedup mproc=%.4g serial_s=%.3f "
	       "parallel_s=%.3f rank0_cpu_s=%.3f rank_cpu_s=%.3f unit=x\n", med,
	       runs[m].serial, runs[m].parallel, runs[m].rank0_cpu,
	       runs[m].rank_cpu);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *only = getenv("BENCH_ONLY");

	/* run.sh's serial run, with no MPI job around. */
	if (argc > 1 && strcmp(argv[1], "serial") == 0) {
		printf("%.4f\n", bench_repeat(3, serial_loop, NULL));
		return 0;
	}
	ex = mp_executor_new(&(mp_executor_opts_t){.backend = mp_mpi_backend()});
	if (ex == NULL)
		die("mp_executor_new");
	/* Rank 0 only, from here. */
	if (only == NULL || strcmp(only, "cpu") != 0) {
		submit_rate(NULL); /* warm-up */
		bench_print("mpi_executor_submit_tasks_per_s",
			    bench_repeat(3, submit_rate, NULL), -1, "tasks/s");
		bench_print("mpi_executor_map_items_per_s",
			    bench_repeat(3, map_rate, NULL), -1, "items/s");
	}
	cpu_figure();
	mp_executor_free(ex);
	return 0;
}
