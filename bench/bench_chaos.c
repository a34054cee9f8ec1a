/* bench_chaos.c - the pool under fire: KILLS SIGKILLs of its workers while
 * it runs N_TASKS tiny tasks (half the batches through apply_async, half
 * through apply_async_many).  Checked, not only measured: no wait may hang
 * (each get is bounded by HANG_S), a task fails only with MP_EBROKEN naming
 * SIGKILL, at most one task fails per kill, and every other result is
 * right.  Any breach is printed on stderr and the program exits 1 (so that
 * `make bench` fails); otherwise it prints
 *   figure=pool_chaos_failed_per_kill  (failed tasks / kills, at most 1)
 *   figure=pool_chaos_tasks_per_s      (tasks / wall time, kills included)
 * There is no baseline: a hand-rolled pipe pool has no recovery to compare.
 *
 * The tasks go in rounds of N_TASKS / KILLS, each with one kill in it (the
 * run goes on past N_TASKS until KILLS kills were made).  The killer is a
 * thread of this process: each task publishes its worker's pid in a shared
 * word (mapped before the pool, so the workers have it); a round arms the
 * kill, and once a varying number of its tasks have started the killer
 * SIGKILLs the pid it finds there (never the same pid twice), so kills land
 * in tasks and between them, in every part of a worker's loop.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/pool.h"

enum {
	WORKERS = 2,
	N_TASKS = 1000000,
	KILLS = 10000,
	PER_KILL = N_TASKS / KILLS, /* tasks per round: one kill each */
	BATCH = PER_KILL,
	RECENT = 64,            /* pids killed lately: never killed twice */
};
#define HANG_S 30.0 /* a get that waits this long is a hang */

static struct shared {
	_Alignas(64) int pid;   /* the worker that started a task last */
	long started;           /* tasks started */
} *sh;

static long progress;          /* tasks collected (atomic) */
static int stop;               /* the killer stops (atomic) */
static long kills;

static void fail(const char *what, long i)
{
	fprintf(stderr, "bench_chaos: FAILED: %s (task %ld, %ld kills so far): "
		"%s\n", what, i, __atomic_load_n(&kills, __ATOMIC_RELAXED),
		mp_last_error());
	exit(1);
}

/* The tiny task: a long in, that long + 1 out; says which worker ran it. */
static int chaos_task(const void *in, size_t len, mp_task_out_t *out)
{
	long x;

	if (len != sizeof(x))
		return -1;
	__atomic_store_n(&sh->pid, (int)getpid(), __ATOMIC_RELAXED);
	__atomic_add_fetch(&sh->started, 1, __ATOMIC_RELEASE);
	memcpy(&x, in, sizeof(x));
	x += 1;
	return mp_task_return(out, &x, sizeof(x));
}

/* Two cores are shared by the workers, their supervisor, this program and
 * the killer: wait by sleeping a little, not by spinning. */
static void nap(void)
{
	nanosleep(&(struct timespec){0, 20000}, NULL);
}

/* Round k (from 1) arms its kill: once `kill_after` tasks have started
 * (a varying number into the round, so that kills land at every point of
 * a worker's loop while it runs tasks), the killer makes kill k. */
static long round_no, kill_after;

static void arm(long k)
{
	__atomic_store_n(&kill_after, __atomic_load_n(&sh->started,
		__ATOMIC_ACQUIRE) + k * 37 % (PER_KILL / 2), __ATOMIC_RELAXED);
	__atomic_store_n(&round_no, k, __ATOMIC_RELEASE);
}

static void *killer(void *arg)
{
	pid_t recent[RECENT] = {0};

	(void)arg;
	for (long k = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE);) {
		pid_t pid = __atomic_load_n(&sh->pid, __ATOMIC_RELAXED);
		bool seen = pid <= 0;

		for (int i = 0; i < RECENT && !seen; i++)
			seen = recent[i] == pid;
		if (__atomic_load_n(&round_no, __ATOMIC_ACQUIRE) <= k) {
			nap(); /* not armed */
			continue;
		}
		if (seen || __atomic_load_n(&sh->started, __ATOMIC_ACQUIRE) <
				    __atomic_load_n(&kill_after, __ATOMIC_RELAXED)) {
			__builtin_ia32_pause(); /* armed: the round is short */
			continue;
		}
		if (kill(pid, SIGKILL) < 0) {
			fprintf(stderr, "bench_chaos: kill %d: %s\n", (int)pid,
				strerror(errno));
			exit(1);
		}
		recent[k % RECENT] = pid;
		__atomic_store_n(&kills, ++k, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Wait for result i (a hang is a failure), check it, free it: 1 if it
 * failed by its worker's death, else 0. */
static int collect(mp_async_result_t *r, long i)
{
	const mp_bytes_t *out;
	long v;
	int rc = mp_async_result_get(r, HANG_S, &out);

	if (rc == -ETIMEDOUT && !mp_async_result_ready(r))
		fail("a task's result did not come: hung", i);
	if (rc == MP_EBROKEN) {
		if (strstr(mp_last_error(), "killed by SIGKILL") == NULL)
			fail("a task failed, but not by a SIGKILL", i);
	} else if (rc != 0) {
		fail("a task failed", i);
	} else {
		if (out->len != sizeof(v))
			fail("a result of the wrong size", i);
		memcpy(&v, out->data, sizeof(v));
		if (v != i + 1)
			fail("a wrong result", i);
	}
	mp_async_result_free(r);
	__atomic_store_n(&progress, i + 1, __ATOMIC_RELEASE);
	return rc != 0;
}

/* Wait (bounded: the killer needs a worker that ran a task since its last
 * kill, which a round may not give it) until kill `want` has been made. */
static void wait_kills(long want)
{
	double end = bench_now() + 0.01;

	while (__atomic_load_n(&kills, __ATOMIC_ACQUIRE) < want &&
	       bench_now() < end)
		nap();
}

int main(void)
{
	static mp_async_result_t *r[BATCH];
	static const void *in[BATCH];
	static size_t len[BATCH];
	static long x[BATCH];
	long failed = 0, b, n;
	pthread_t t;
	mp_pool_t *pool;
	double t0;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	if ((pool = mp_pool_new(&(mp_pool_opts_t){.processes = WORKERS})) == NULL)
		fail("pool_new", -1);
	if (pthread_create(&t, NULL, killer, NULL) != 0)
		return 1;
	t0 = bench_now();
	/* Rounds of BATCH tasks, each with one kill in it, until there have
	 * been N_TASKS tasks and KILLS kills. */
	for (b = 0; b < N_TASKS || __atomic_load_n(&kills, __ATOMIC_ACQUIRE) <
				   KILLS; b += BATCH) {
		wait_kills(b / PER_KILL);
		arm(b / PER_KILL + 1);
		for (long k = 0; k < BATCH; k++) {
			x[k] = b + k;
			in[k] = &x[k];
			len[k] = sizeof(long);
		}
		if (b / BATCH % 2 == 0) {
			if (mp_pool_apply_async_many(pool, chaos_task, in, len,
						     BATCH, NULL, r) != 0)
				fail("apply_async_many", b);
		} else {
			for (long k = 0; k < BATCH; k++)
				if ((r[k] = mp_pool_apply_async(pool, chaos_task,
								in[k], len[k],
								NULL)) == NULL)
					fail("apply_async", b + k);
		}
		for (long k = 0; k < BATCH; k++)
			failed += collect(r[k], b + k);
	}
	t0 = bench_now() - t0;
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	mp_pool_free(pool);
	n = __atomic_load_n(&kills, __ATOMIC_ACQUIRE);
	if (failed > n) {
		fprintf(stderr, "bench_chaos: FAILED: %ld tasks failed for %ld "
			"kills\n", failed, n);
		return 1;
	}
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "chaos: %ld tasks, %ld kills, %ld failed, %.2f s\n",
			b, n, failed, t0);
	bench_print("pool_chaos_failed_per_kill", (double)failed / (double)n,
		    -1, "failures_per_kill");
	bench_print("pool_chaos_tasks_per_s", (double)b / t0, -1,
		    "tasks_per_s");
	return 0;
}
