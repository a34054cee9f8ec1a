/* bench_pool.c - Pool and Executor: tiny-task throughput (apply_async,
 * executor submit, one at a time and in one batch call: the _many
 * figures), recovery from a worker SIGKILLed mid-task (kill to the
 * waiter's return, p99 and p50 of 1000 kills, forkserver workers beside
 * fork ones), map over tiny items, CPU-bound map speedup on 2 workers,
 * and the memory of an idle worker.
 *
 * Baselines (raw syscalls, no library):
 * - task throughput: a hand-rolled pipe-based worker loop.  Two forked
 *   workers each read(2) one 8-byte task at a time from a pipe of their own
 *   and write(2) an 8-byte result to a shared result pipe; the parent
 *   write(2)s one task at a time (round robin, at most WINDOW outstanding so
 *   that no pipe fills up) and read(2)s results in batches.  That is the
 *   floor of "one syscall per message" dispatch: ~3 syscalls per task.
 * - crash recovery: the kernel's share, from the kill to the dead worker's
 *   pidfd becoming readable (see crash_recovery).
 * - idle worker memory: a bare fork()ed child of this same process, blocked
 *   in read(2) on a pipe, measured the same way at the same point.
 * - a fresh process per task (pool_fresh_process_tasks_per_s): two
 *   processes each looping fork() + _exit(0) + waitpid(), the floor of
 *   "one new process per task" on two workers.
 * The map figures have no raw baseline (the serial loop is the reference of
 * the speedup figure).
 *
 * pool_fresh_process_tasks_per_s: see pool_fresh.c; "bench_pool fresh"
 * prints only this figure, "bench_pool tiny" only the
 * tiny-task ones (for A/B runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/executor.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "bench_pool.h"

/* Per CPU-bound element: iterations of the sum of squares; 8 of them take
 * ~1 s serially here. */
#define CPU_N 320000000L
#define MAP_TIMEOUT 10.0 /* s; a map of 10^7 items takes well under 1 s */

void die(const char *what)
{
	fprintf(stderr, "bench_pool: %s: %s\n", what, mp_last_error());
	exit(1);
}

/* ---- tasks ---- */

/* The tiny task: a long in, that long + 1 out. */
int tiny_task(const void *in, size_t len, mp_task_out_t *out)
{
	long x;

	if (len != sizeof(x))
		return -1;
	memcpy(&x, in, sizeof(x));
	x += 1;
	return mp_task_return(out, &x, sizeof(x));
}

static int square(const void *in, void *out)
{
	long x = *(const long *)in;

	*(long *)out = x * x;
	return 0;
}

/* The seeds' cpu_intensive(n): total += i * i for i < n.  The empty asm
 * keeps the compiler from folding the loop into a closed form; noinline:
 * the serial run and the workers run the very same machine code. */
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

static int getpid_task(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t pid = getpid();

	(void)in;
	(void)len;
	usleep(20000); /* long enough for the other worker to take the next */
	return mp_task_return(out, &pid, sizeof(pid));
}

/* ---- tiny-task throughput ---- */

/* Each task i returned i + 1, as a long. */
static void check_result(const mp_bytes_t *out, long i)
{
	long v;

	if (out->len != sizeof(v))
		die("wrong result");
	memcpy(&v, out->data, sizeof(v));
	if (v != i + 1)
		die("wrong result");
}

/* Wait for, check and free the n results (single or batch, alike). */
void collect_results(mp_async_result_t **r, long n)
{
	for (long i = 0; i < n; i++) {
		const mp_bytes_t *out;

		if (mp_async_result_get(r[i], MP_FOREVER, &out) != 0)
			die("get");
		check_result(out, i);
		mp_async_result_free(r[i]);
	}
}

static void collect_futures(mp_future_t **f)
{
	for (long i = 0; i < N_TASKS; i++) {
		const mp_bytes_t *out;

		if (mp_future_result(f[i], MP_FOREVER, &out) != 0)
			die("future_result");
		check_result(out, i);
		mp_future_free(f[i]);
	}
}

static double apply_rate(mp_pool_t *pool)
{
	static mp_async_result_t *r[N_TASKS];
	double t0 = bench_now();

	for (long i = 0; i < N_TASKS; i++)
		if ((r[i] = mp_pool_apply_async(pool, tiny_task, &i, sizeof(i),
						NULL)) == NULL)
			die("apply_async");
	collect_results(r, N_TASKS);
	return N_TASKS / (bench_now() - t0);
}

static double submit_rate(mp_executor_t *ex)
{
	static mp_future_t *f[N_TASKS];
	double t0 = bench_now();

	for (long i = 0; i < N_TASKS; i++)
		if ((f[i] = mp_executor_submit(ex, tiny_task, &i, sizeof(i))) == NULL)
			die("submit");
	collect_futures(f);
	return N_TASKS / (bench_now() - t0);
}

/* The batch forms: all N_TASKS in one call, then each result waited on
 * and freed as a single one. */
static const void *many_in[N_TASKS];
static size_t many_len[N_TASKS];
static long many_x[N_TASKS];

static void many_args(void)
{
	for (long i = 0; i < N_TASKS; i++) {
		many_x[i] = i;
		many_in[i] = &many_x[i];
		many_len[i] = sizeof(long);
	}
}

static double apply_many_rate(mp_pool_t *pool)
{
	static mp_async_result_t *r[N_TASKS];
	double t0 = bench_now();

	if (mp_pool_apply_async_many(pool, tiny_task, many_in, many_len, N_TASKS,
				     NULL, r) != 0)
		die("apply_async_many");
	collect_results(r, N_TASKS);
	return N_TASKS / (bench_now() - t0);
}

static double submit_many_rate(mp_executor_t *ex)
{
	static mp_future_t *f[N_TASKS];
	double t0 = bench_now();

	if (mp_executor_submit_many(ex, tiny_task, many_in, many_len, N_TASKS,
				    f) != 0)
		die("submit_many");
	collect_futures(f);
	return N_TASKS / (bench_now() - t0);
}

/* The baseline: hand-rolled pipe workers (see the top comment). */
static double pipe_worker_rate(void)
{
	int task[WORKERS][2], res[2];
	pid_t pid[WORKERS];
	static long buf[WINDOW];
	long sent = 0, recvd = 0, sum = 0;
	size_t part = 0; /* bytes of a result split across reads */
	double t0;

	if (pipe(res) < 0)
		exit(1);
	for (int w = 0; w < WORKERS; w++) {
		if (pipe(task[w]) < 0)
			exit(1);
		if ((pid[w] = fork()) == 0) {
			long x;

			close(res[0]);
			close(task[w][1]);
			for (;;) {
				ssize_t r = read(task[w][0], &x, sizeof(x));
				if (r == 0)
					_exit(0);
				if (r != sizeof(x))
					_exit(1);
				x += 1;
				if (write(res[1], &x, sizeof(x)) != sizeof(x))
					_exit(1);
			}
		}
		close(task[w][0]);
	}
	close(res[1]);
	t0 = bench_now();
	while (recvd < N_BASE) {
		ssize_t r;

		while (sent < N_BASE && sent - recvd < WINDOW) {
			if (write(task[sent % WORKERS][1], &sent, sizeof(sent)) !=
			    sizeof(sent))
				exit(1);
			sent++;
		}
		r = read(res[0], (char *)buf + part, sizeof(buf) - part);
		if (r <= 0)
			exit(1);
		part += (size_t)r;
		for (size_t k = 0; k < part / sizeof(long); k++)
			sum += buf[k];
		recvd += (long)(part / sizeof(long));
		memmove(buf, (char *)buf + part / sizeof(long) * sizeof(long),
			part % sizeof(long));
		part %= sizeof(long);
	}
	t0 = bench_now() - t0;
	for (int w = 0; w < WORKERS; w++)
		close(task[w][1]);
	for (int w = 0; w < WORKERS; w++)
		waitpid(pid[w], NULL, 0);
	close(res[0]);
	/* sum of i + 1 for i < N_BASE */
	if (sum != (long)N_BASE * (N_BASE + 1) / 2)
		exit(1);
	return N_BASE / t0;
}

/* ---- map ---- */

/* Items/s of one map (default chunksize, as CPython), or -1 if it did not
 * end within MAP_TIMEOUT (reported on stderr: a hang is a finding too). */
static double map_rate(mp_pool_t *pool, const long *in, long *out)
{
	mp_async_result_t *r;
	double t0 = bench_now();
	int rc;

	if ((r = mp_pool_map_async(pool, square, in, N_MAP, sizeof(long), out,
				   sizeof(long), NULL)) == NULL)
		die("map_async");
	rc = mp_async_result_get(r, MAP_TIMEOUT, NULL);
	t0 = bench_now() - t0;
	if (rc == -ETIMEDOUT && !mp_async_result_ready(r)) {
		fprintf(stderr, "bench_pool: map of %d items not done after "
			"%g s: hung\n", N_MAP, MAP_TIMEOUT);
		mp_async_result_free(r);
		return -1;
	}
	if (rc != 0)
		die("map");
	mp_async_result_free(r);
	for (long i = 0; i < N_MAP; i += 9973)
		if (out[i] != i * i)
			die("wrong map result");
	return N_MAP / t0;
}

/* The seeds' CPU-bound map: *serial = time of the 8 elements one after the
 * other in this process, *par = time of the same map on the pool. */
static void cpu_times(mp_pool_t *pool, double *serial_s, double *par_s)
{
	long in[CPU_TASKS];
	unsigned long serial[CPU_TASKS], par[CPU_TASKS];
	double t0;

	for (int i = 0; i < CPU_TASKS; i++)
		in[i] = CPU_N;
	t0 = bench_now();
	for (int i = 0; i < CPU_TASKS; i++)
		cpu_map(&in[i], &serial[i]);
	*serial_s = bench_now() - t0;
	t0 = bench_now();
	if (mp_pool_map(pool, cpu_map, in, CPU_TASKS, sizeof(long), par,
			sizeof(long), NULL) != 0)
		die("cpu map");
	*par_s = bench_now() - t0;
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "cpu: serial %.3f s, pool %.3f s\n", *serial_s,
			*par_s);
	if (memcmp(serial, par, sizeof(par)) != 0)
		die("cpu map: results differ");
}

/* ---- crash recovery ---- */

/* Write this worker's pid to the FIFO named by in (NUL-terminated), then
 * hang until killed.  A FIFO by name: a forkserver worker has none of this
 * program's fds. */
static int pid_then_hang(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me = getpid();
	int fd;

	(void)out;
	if (len == 0 || ((const char *)in)[len - 1] != '\0' ||
	    (fd = open(in, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	if (write(fd, &me, sizeof(me)) != sizeof(me))
		return -1;
	close(fd);
	for (;;)
		pause();
}

/* The floor of one kill: a thread that waits for the worker's pidfd (one
 * of this program's own) and notes when it became readable. */
struct floor_watch {
	pthread_t thread;
	int pidfd, ready;
	double at;
};

static void *floor_thread(void *arg)
{
	struct floor_watch *fw = arg;
	struct pollfd pfd = {fw->pidfd, POLLIN, 0};

	__atomic_store_n(&fw->ready, 1, __ATOMIC_RELEASE);
	while (poll(&pfd, 1, -1) != 1)
		if (errno != EINTR)
			exit(1);
	fw->at = bench_now();
	return NULL;
}

/*
 * Microseconds from the SIGKILL of a worker in the middle of a task to the
 * return of the waiter's get (MP_EBROKEN, the message naming SIGKILL), over
 * KILLS kills of a pool whose workers start by method: *p50, *p99; and
 * beside it, from the same kill to the worker's pidfd becoming readable
 * (*base50, *base99), seen by a thread of its own while this one waits in
 * get.  A SIGKILLed process frees its address space before its pidfd and
 * SIGCHLD fire, so that floor grows with the memory of the program the
 * workers were forked from (some 30 us per MiB of it here): "fork" workers
 * are copies of this big program, "forkserver" ones of the small server
 * mp_init started.  The pool learns of the death earlier, when the kernel
 * releases the dead worker's robust futexes (before the teardown): the
 * waiter may return before the pidfd fires.
 */
static void crash_recovery(const char *method, double *p50, double *p99,
			   double *base50, double *base99)
{
	static double us[KILLS], floor_us[KILLS];
	char dir[] = "/tmp/bench_pool.XXXXXX", path[64];
	mp_pool_t *pool;
	int fd;

	if (mkdtemp(dir) == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/pid", dir);
	/* Opened for reading and writing: never blocks, never sees EOF. */
	if (mkfifo(path, 0600) < 0 || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		exit(1);
	if ((pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS,
						  .start_method = method})) == NULL)
		die("pool_new");
	for (int k = 0; k < KILLS; k++) {
		struct floor_watch fw = {0};
		mp_async_result_t *r;
		pid_t pid;
		double t0;

		r = mp_pool_apply_async(pool, pid_then_hang, path,
					strlen(path) + 1, NULL);
		if (r == NULL)
			die("apply_async");
		if (read(fd, &pid, sizeof(pid)) != sizeof(pid) ||
		    (fw.pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0 ||
		    pthread_create(&fw.thread, NULL, floor_thread, &fw) != 0)
			exit(1);
		while (!__atomic_load_n(&fw.ready, __ATOMIC_ACQUIRE))
			sched_yield();
		t0 = bench_now();
		if (kill(pid, SIGKILL) < 0)
			exit(1);
		if (mp_async_result_get(r, MP_FOREVER, NULL) != MP_EBROKEN)
			die("get after the kill");
		us[k] = (bench_now() - t0) * 1e6;
		if (strstr(mp_last_error(), "SIGKILL") == NULL)
			die("the failure does not name SIGKILL");
		pthread_join(fw.thread, NULL);
		floor_us[k] = (fw.at - t0) * 1e6;
		close(fw.pidfd);
		mp_async_result_free(r);
	}
	mp_pool_free(pool);
	close(fd);
	unlink(path);
	rmdir(dir);
	qsort(us, KILLS, sizeof(us[0]), bench_cmp);
	qsort(floor_us, KILLS, sizeof(floor_us[0]), bench_cmp);
	*p50 = us[KILLS / 2];
	*p99 = us[KILLS * 99 / 100];
	*base50 = floor_us[KILLS / 2];
	*base99 = floor_us[KILLS * 99 / 100];
}

/* ---- idle worker memory ---- */

/* Pss of a process in KiB, from /proc/<pid>/smaps_rollup.  Pss, not Rss:
 * a forked worker shares most of its pages with the parent and its
 * siblings; Rss would count each shared page in full in every process,
 * Pss counts its private pages plus a fair share (1/n) of each page n
 * processes share, so the Pss of the workers adds up to what they cost. */
static double pss_kib(pid_t pid)
{
	char path[64], line[256];
	double v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %lf kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Mean Pss of the idle workers of a fresh pool (after a few tasks). */
static double worker_pss(void)
{
	mp_pool_t *pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS});
	pid_t pids[WORKERS];
	int found = 0;
	double sum = 0;

	if (pool == NULL)
		die("pool_new");
	for (int round = 0; round < 50 && found < WORKERS; round++) {
		mp_async_result_t *r[WORKERS];

		for (int k = 0; k < WORKERS; k++)
			if ((r[k] = mp_pool_apply_async(pool, getpid_task, NULL, 0,
							NULL)) == NULL)
				die("apply_async");
		for (int k = 0; k < WORKERS; k++) {
			const mp_bytes_t *out;
			pid_t p;
			int seen = 0;

			if (mp_async_result_get(r[k], MP_FOREVER, &out) != 0 ||
			    out->len != sizeof(p))
				die("get");
			memcpy(&p, out->data, sizeof(p));
			for (int j = 0; j < found; j++)
				seen |= pids[j] == p;
			if (!seen && found < WORKERS)
				pids[found++] = p;
			mp_async_result_free(r[k]);
		}
	}
	if (found < WORKERS)
		die("could not find every worker's pid");
	usleep(100000); /* idle */
	for (int k = 0; k < WORKERS; k++) {
		double v = pss_kib(pids[k]);
		if (v < 0)
			die("smaps_rollup");
		sum += v;
	}
	mp_pool_free(pool);
	return sum / WORKERS;
}

/* The baseline: a bare forked child blocked in read(2). */
static double fork_pss(void)
{
	int fds[2];
	pid_t pid;
	char c;
	double v;

	if (pipe(fds) < 0)
		exit(1);
	if ((pid = fork()) == 0) {
		close(fds[1]);
		_exit(read(fds[0], &c, 1) < 0);
	}
	close(fds[0]);
	usleep(100000);
	v = pss_kib(pid);
	close(fds[1]);
	waitpid(pid, NULL, 0);
	return v;
}

static void print_crash(const double *m, const double *f)
{
	printf("figure=pool_crash_recovery_us mproc=%.4g fork=%.4g baseline=%.4g "
	       "fork_baseline=%.4g unit=us_p99\n", m[1], f[1], m[3], f[3]);
	printf("figure=pool_crash_recovery_p50_us mproc=%.4g fork=%.4g "
	       "baseline=%.4g fork_baseline=%.4g unit=us\n", m[0], f[0], m[2],
	       f[2]);
	fflush(stdout);
}

/* "bench_pool crash MiB": only the crash recovery figures, the fork ones
 * from this program with MiB of heap written first. */
static int crash_only(const char *mib)
{
	size_t n = ((size_t)strtoul(mib, NULL, 10) << 20) + 4096;
	double m[4], f[4];
	char *heap = mmap(NULL, n, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* Small pages, as a heap of many small objects has. */
	if (heap == MAP_FAILED || madvise(heap, n, MADV_NOHUGEPAGE) < 0)
		exit(1);
	memset(heap, 1, n);
	crash_recovery("forkserver", &m[0], &m[1], &m[2], &m[3]);
	crash_recovery("fork", &f[0], &f[1], &f[2], &f[3]);
	print_crash(m, f);
	munmap(heap, n);
	return 0;
}

/* The tiny-task figures: per repetition, apply_async, its batch form,
 * submit, its batch form and the pipe baseline one after another, so that
 * each ratio to the baseline compares runs that saw the same machine (its
 * speed drifts by tens of percent over seconds here); medians of TINY_REPS.
 * The executor's 2 workers idle while the pool's run, and the other way. */
static void print_tiny(mp_pool_t *pool)
{
	double v[5][TINY_REPS], base;
	mp_executor_t *ex;

	if ((ex = mp_executor_new(&(mp_executor_opts_t){.max_workers = WORKERS})) ==
	    NULL)
		die("executor_new");
	many_args();
	for (int r = 0; r < TINY_REPS; r++) {
		v[0][r] = apply_rate(pool);
		v[1][r] = apply_many_rate(pool);
		v[2][r] = submit_rate(ex);
		v[3][r] = submit_many_rate(ex);
		v[4][r] = pipe_worker_rate();
	}
	mp_executor_free(ex);
	base = bench_median(v[4], TINY_REPS);
	bench_print("pool_apply_async_tasks_per_s", bench_median(v[0], TINY_REPS),
		    base, "tasks_per_s");
	bench_print("pool_apply_async_many_tasks_per_s",
		    bench_median(v[1], TINY_REPS), base, "tasks_per_s");
	bench_print("executor_submit_tasks_per_s", bench_median(v[2], TINY_REPS),
		    base, "tasks_per_s");
	bench_print("executor_submit_many_tasks_per_s",
		    bench_median(v[3], TINY_REPS), base, "tasks_per_s");
}

/* "bench_pool fresh": only the fresh-process-per-task figure. */
static int fresh_only(void)
{
	print_fresh();
	return 0;
}

/* "bench_pool tiny": only the tiny-task figures. */
static int tiny_only(void)
{
	mp_pool_t *pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS});

	if (pool == NULL)
		die("pool_new");
	print_tiny(pool);
	mp_pool_free(pool);
	return 0;
}

int main(int argc, char **argv)
{
	double a[REPS], b[REPS], m[MAP_REPS], f[4];
	mp_pool_t *pool;
	long *in, *out;
	int hung = 0;

	if (mp_init(argc, argv) < 0) /* the fork server, while small */
		die("mp_init");
	if (argc == 3 && strcmp(argv[1], "crash") == 0)
		return crash_only(argv[2]);
	if (argc == 2 && strcmp(argv[1], "fresh") == 0)
		return fresh_only();
	if (argc == 2 && strcmp(argv[1], "tiny") == 0)
		return tiny_only();
	/* Memory first, while this process is still small. */
	for (int r = 0; r < REPS; r++) {
		a[r] = worker_pss();
		b[r] = fork_pss();
	}
	bench_print("pool_worker_idle_rss_kib", bench_median(a, REPS),
		    bench_median(b, REPS), "KiB");
	/* A fresh process per task, from this still small process (the
	 * baseline's forks and the fork method's copy the same). */
	print_fresh();

	if ((pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS})) == NULL)
		die("pool_new");
	print_tiny(pool);

	if ((in = malloc(N_MAP * sizeof(long))) == NULL ||
	    (out = malloc(N_MAP * sizeof(long))) == NULL)
		exit(1);
	for (long i = 0; i < N_MAP; i++)
		in[i] = i;
	for (int r = 0; r < MAP_REPS && !hung; r++)
		hung = (m[r] = map_rate(pool, in, out)) < 0;
	if (hung) {
		/* A hung pool is terminated; go on with a fresh one. */
		mp_pool_free(pool);
		if ((pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS})) ==
		    NULL)
			die("pool_new");
	} else {
		bench_print("pool_map_tiny_items_per_s", bench_median(m, MAP_REPS),
			    -1, "items_per_s");
	}
	free(in);
	free(out);

	/* mproc= and baseline= with forkserver workers (children of the small
	 * server mp_init started); fork= and fork_baseline= with fork workers,
	 * copies of this program, big by now. */
	crash_recovery("forkserver", &m[0], &m[1], &m[2], &m[3]);
	crash_recovery("fork", &f[0], &f[1], &f[2], &f[3]);
	print_crash(m, f);

	/* Median serial time / median pool time (medians of the times, not of
	 * the ratios: steadier on a noisy machine). */
	for (int r = 0; r < REPS; r++)
		cpu_times(pool, &a[r], &b[r]);
	bench_print("pool_map_cpu_speedup",
		    bench_median(a, REPS) / bench_median(b, REPS), -1, "x");
	mp_pool_free(pool);
	return hung;
}
