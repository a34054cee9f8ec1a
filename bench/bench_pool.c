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
 * pool_fresh_process_tasks_per_s: a pool of 2 workers with
 * maxtasksperchild=1 (every task on a new worker) over N_FRESH tiny tasks;
 * mproc= through forkserver, fork= through fork, beside CPython's Pool
 * doing the same (cpython= forkserver, cpython_fork= fork); measured
 * first, while this process is small (the baseline's loops fork it too).
 * bare_fs=: the bare floor of that design, no library (see bare_rate): a
 * small server forked at the start clones each task's process for the
 * program, which sends the task through one shared memfd and reaps.
 * mproc_cpu_us=, baseline_cpu_us= and bare_fs_cpu_us=: the CPU time per
 * task of the whole (this process's threads, the reaped workers or loops
 * and their children, the fork server), medians: on 2 cores the rate is
 * bound by it, and it moves less than the rate when the machine is busy.
 * "bench_pool fresh" prints only this figure, "bench_pool tiny" only the
 * tiny-task ones (for A/B runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/executor.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "process/process_int.h" /* mp__forkserver_pid */

enum {
	REPS = 3,
	TINY_REPS = 5,           /* the tiny-task figures, alternated */
	MAP_REPS = 5,            /* maps: the first runs pay page faults */
	WORKERS = 2,
	N_TASKS = 200000,        /* tiny tasks per apply/submit run */
	N_BASE = 200000,         /* tasks per pipe-loop baseline run */
	WINDOW = 4096,           /* baseline: outstanding tasks (32 KiB) */
	N_MAP = 10000000,        /* tiny map items */
	CPU_TASKS = 8,           /* CPU-bound map: 8 elements, as the seeds */
	KILLS = 1000,            /* crash recovery: workers SIGKILLed */
	N_FRESH = 10000,         /* tasks of the fresh-process pool */
};
/* Per CPU-bound element: iterations of the sum of squares; 8 of them take
 * ~1 s serially here. */
#define CPU_N 320000000L
#define MAP_TIMEOUT 10.0 /* s; a map of 10^7 items takes well under 1 s */

static void die(const char *what)
{
	fprintf(stderr, "bench_pool: %s: %s\n", what, mp_last_error());
	exit(1);
}

/* ---- tasks ---- */

/* The tiny task: a long in, that long + 1 out. */
static int tiny_task(const void *in, size_t len, mp_task_out_t *out)
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

/* Wait for, check and free every result (single or batch, alike). */
static void collect_results(mp_async_result_t **r)
{
	for (long i = 0; i < N_TASKS; i++) {
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

/* ---- a fresh process per task ---- */

static double tv_s(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* CPU seconds process pid has used (its /proc/<pid>/stat), or 0. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *at;
	unsigned long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
	if ((at = strrchr(buf, ')')) == NULL ||
	    sscanf(at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds used so far by this process (all its threads), its reaped
 * children (workers, loops) and their reaped descendants, and the fork
 * server (a child reaped only at the end: read in /proc). */
static double cpu_now(void)
{
	struct rusage self, kids;
	pid_t server = mp__forkserver_pid();

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return tv_s(self.ru_utime) + tv_s(self.ru_stime) + tv_s(kids.ru_utime) +
	       tv_s(kids.ru_stime) + (server > 0 ? proc_cpu_s(server) : 0);
}

/* CPU microseconds per task of each run (see cpu_now). */
struct cpu_log {
	double us[32];
	int n;
};

static void cpu_note(struct cpu_log *log, double c0)
{
	if (log != NULL && log->n < 32)
		log->us[log->n++] = (cpu_now() - c0) / N_FRESH * 1e6;
}

/* Tasks per second of a maxtasksperchild=1 pool started by method (its
 * CPU time per task noted in log, if not NULL). */
static double fresh_rate(const char *method, struct cpu_log *log)
{
	static mp_async_result_t *r[N_FRESH];
	double c0 = cpu_now();
	mp_pool_t *pool = mp_pool_new(&(mp_pool_opts_t){
		.processes = WORKERS, .maxtasksperchild = 1,
		.start_method = method});
	double t0;

	if (pool == NULL)
		die("pool_new (fresh)");
	t0 = bench_now();
	for (long i = 0; i < N_FRESH; i++) {
		r[i] = mp_pool_apply_async(pool, tiny_task, &i, sizeof(i), NULL);
		if (r[i] == NULL)
			die("apply_async (fresh)");
	}
	for (long i = 0; i < N_FRESH; i++) {
		const mp_bytes_t *out;

		if (mp_async_result_get(r[i], MP_FOREVER, &out) != 0)
			die("get (fresh)");
		check_result(out, i);
		mp_async_result_free(r[i]);
	}
	t0 = bench_now() - t0;
	mp_pool_free(pool);
	cpu_note(log, c0);
	return N_FRESH / t0;
}

static double fresh_forkserver(void *arg)
{
	return fresh_rate("forkserver", arg);
}

static double fresh_fork(void *arg)
{
	return fresh_rate("fork", arg);
}

/* The baseline: WORKERS processes each fork + _exit + waitpid in a loop. */
static double fresh_baseline(void *arg)
{
	pid_t loops[WORKERS];
	double c0 = cpu_now(), t0 = bench_now(), rate;

	for (int w = 0; w < WORKERS; w++) {
		if ((loops[w] = fork()) == 0) {
			for (int i = 0; i < N_FRESH / WORKERS; i++) {
				pid_t c = fork();
				int st;

				if (c == 0)
					_exit(0);
				if (c < 0 || waitpid(c, &st, 0) != c)
					_exit(1);
			}
			_exit(0);
		}
		if (loops[w] < 0)
			die("fork");
	}
	for (int w = 0; w < WORKERS; w++) {
		int st;

		if (waitpid(loops[w], &st, 0) != loops[w] || st != 0)
			die("baseline loop");
	}
	rate = N_FRESH / (bench_now() - t0);
	cpu_note(arg, c0);
	return rate;
}

/* ---- the bare floor of a fresh process per task (bare_fs=) ----
 *
 * The simplest C version of what a forkserver pool with
 * maxtasksperchild=1 does, without mproc: a server process forked at the
 * start (while small), a unix socket pair to it and one shared memfd it
 * inherits.  Per task the program writes the task into its slot of the
 * memfd and one byte (the slot) to the server; the server clones a child
 * with CLONE_PARENT (the program's own, reaped by it, as mproc's are); the
 * child maps the memfd, reads its task, writes the result and its pid,
 * wakes the program through a futex in the memfd and exits; the program
 * takes the result, sends the slot's next task and reaps the child.
 * WORKERS slots in flight. */

struct bare_slot {
	long task, result;
	pid_t pid;
	_Atomic int done;
};

struct bare_mem {
	_Atomic uint32_t seq; /* the futex: bumped by every child done */
	struct bare_slot slot[WORKERS];
};

static struct {
	pid_t server;
	int sock, memfd;
	struct bare_mem *mem;
} bare = {.server = -1, .sock = -1, .memfd = -1};

static void bare_child(int memfd, int s)
{
	struct bare_mem *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				  MAP_SHARED, memfd, 0);
	struct bare_slot *sl;

	if (m == MAP_FAILED)
		_exit(1);
	sl = &m->slot[s];
	sl->result = sl->task + 1;
	sl->pid = getpid();
	atomic_store(&sl->done, 1);
	atomic_fetch_add(&m->seq, 1);
	syscall(SYS_futex, &m->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
	_exit(0);
}

/* The server: one byte (a slot) in, one child cloned out; EOF ends it. */
static void bare_server(int sock, int memfd)
{
	for (;;) {
		unsigned char s;
		ssize_t n = read(sock, &s, 1);
		long c;

		if (n == 0)
			_exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || s >= WORKERS)
			_exit(1);
		/* fork semantics (no new stack), the child the program's */
		c = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL,
			    NULL);
		if (c == 0)
			bare_child(memfd, s);
		if (c < 0)
			_exit(1);
	}
}

static void bare_start(void)
{
	int sv[2];

	if ((bare.memfd = memfd_create("bare_fs", MFD_CLOEXEC)) < 0 ||
	    ftruncate(bare.memfd, sizeof(struct bare_mem)) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("bare_start");
	if ((bare.server = fork()) == 0) {
		close(sv[0]);
		bare_server(sv[1], bare.memfd);
	}
	if (bare.server < 0)
		die("bare_start: fork");
	close(sv[1]);
	bare.sock = sv[0];
	bare.mem = mmap(NULL, sizeof(*bare.mem), PROT_READ | PROT_WRITE,
			MAP_SHARED, bare.memfd, 0);
	if (bare.mem == MAP_FAILED)
		die("bare_start: mmap");
}

static void bare_stop(void)
{
	int st;

	close(bare.sock);
	if (waitpid(bare.server, &st, 0) != bare.server || st != 0)
		die("bare server");
	munmap(bare.mem, sizeof(*bare.mem));
	close(bare.memfd);
}

static void bare_send(int s, long task)
{
	unsigned char b = (unsigned char)s;

	bare.mem->slot[s].task = task;
	atomic_store(&bare.mem->slot[s].done, 0);
	while (write(bare.sock, &b, 1) != 1)
		if (errno != EINTR)
			die("bare_send");
}

/* Sleep until a child bumps the futex from seq: -1 after 10 s of none. */
static int bare_wait(uint32_t seq)
{
	struct timespec limit = {.tv_sec = 10};

	if (syscall(SYS_futex, &bare.mem->seq, FUTEX_WAIT, seq, &limit, NULL,
		    0) < 0 && errno == ETIMEDOUT)
		return -1;
	return 0;
}

/* CPU seconds of bare_rate's processes so far (cpu_now's and the bare
 * server's). */
static double bare_cpu(void)
{
	return cpu_now() + proc_cpu_s(bare.server);
}

/* Tasks per second of the bare design (its CPU per task, with the bare
 * server's, noted in arg). */
static double bare_rate(void *arg)
{
	struct bare_mem *m = bare.mem;
	long sent = 0, got = 0, task[WORKERS];
	double c0 = bare_cpu(), t0 = bench_now(), rate;
	struct cpu_log *log = arg;

	for (int s = 0; s < WORKERS; s++)
		bare_send(s, task[s] = sent++);
	while (got < N_FRESH) {
		uint32_t seq = atomic_load(&m->seq);
		int any = 0;

		for (int s = 0; s < WORKERS; s++) {
			pid_t pid;
			int st;

			if (!atomic_load(&m->slot[s].done))
				continue;
			any = 1;
			got++;
			pid = m->slot[s].pid;
			if (m->slot[s].result != task[s] + 1)
				die("bare: wrong result");
			if (sent < N_FRESH)
				bare_send(s, task[s] = sent++);
			else
				atomic_store(&m->slot[s].done, 0);
			if (waitpid(pid, &st, 0) != pid || st != 0)
				die("bare: child");
		}
		if (!any && bare_wait(seq) < 0) /* a child or the server died */
			die("bare: no answer in 10 s");
	}
	rate = N_FRESH / (bench_now() - t0);
	if (log != NULL && log->n < 32)
		log->us[log->n++] = (bare_cpu() - c0) / N_FRESH * 1e6;
	return rate;
}

static double apply_rate(mp_pool_t *pool)
{
	static mp_async_result_t *r[N_TASKS];
	double t0 = bench_now();

	for (long i = 0; i < N_TASKS; i++)
		if ((r[i] = mp_pool_apply_async(pool, tiny_task, &i, sizeof(i),
						NULL)) == NULL)
			die("apply_async");
	collect_results(r);
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
	collect_results(r);
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

static void print_fresh(void)
{
	struct cpu_log mc = {.n = 0}, bc = {.n = 0}, fc = {.n = 0};
	double b, f, m, fl;

	bare_start(); /* while small, as mp_init's server */
	/* In the order gcc evaluated the printf arguments these were once
	 * passed as: the baseline first, forkserver last; the bare floor
	 * right after the baseline. */
	b = bench_repeat(REPS, fresh_baseline, &bc);
	fl = bench_repeat(REPS, bare_rate, &fc);
	f = bench_repeat(REPS, fresh_fork, NULL);
	m = bench_repeat(REPS, fresh_forkserver, &mc);
	bare_stop();
	printf("figure=pool_fresh_process_tasks_per_s mproc=%.4g fork=%.4g "
	       "baseline=%.4g bare_fs=%.4g mproc_cpu_us=%.4g "
	       "baseline_cpu_us=%.4g bare_fs_cpu_us=%.4g unit=tasks_per_s\n",
	       m, f, b, fl, bench_median(mc.us, mc.n),
	       bench_median(bc.us, bc.n), bench_median(fc.us, fc.n));
	fflush(stdout);
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
