/* test_mpi_executor.c - the executor on the MPI backend, run by CTest as
 * `mpirun --oversubscribe -np 3 test_mpi_executor <mode>`: rank 0 runs the
 * cmocka tests on one executor (the worker ranks serve it and exit inside
 * mp_executor_new).  What test_executor.c's tests cover on this backend
 * too (test_executor_mpi: results, exceptions, callbacks, as_completed,
 * map's timeout, submit_many, shutdown) is not repeated here; these are
 * the behaviours its tests cannot show across ranks.  Modes:
 *   api       unregistered tasks, wait's conditions, cancel, map's
 *             chunks, the task timeout, kill, long tasks spread and sent
 *             ahead, rank 0's naps, a crashing task, messages split in
 *             pieces, shutdown
 *   kill      a worker rank killed from outside: its futures fail within
 *             rank_timeout, the other rank goes on
 *   terminate terminate_workers: running tasks fail, waiting ones are
 *             cancelled, every rank exits
 *   rank0dies rank 0 SIGKILLs itself with tasks out: the worker ranks
 *             exit within rank_timeout
 *   big       a 2.1 GiB argument and a 2.1 GiB result (over INT_MAX: sent
 *             in pieces); about 10 GiB of memory at the peak, ~10 s
 *   spawn     run alone (no mpirun): rank 0 starts 2 worker ranks
 *             (MPI_Comm_spawn); wait, map, kill, spreading, shutdown
 *   spawnrefused  spawn set under mpirun -np 3: -EINVAL on every rank
 *   mismatch  (rank 0 only; the other ranks run another MPI program)
 *             mp_executor_new fails with -EPROTO at once */
#include "mptest.h"
#include "mptest_kill.h"

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>

#include "mproc/executor.h"
#include "mproc/mpi.h"
#include "mproc/process.h"

static mp_executor_t *ex;

/* in: an int x; out: 2x.  x < 0 fails. */
static int twice(const void *in, size_t len, mp_task_out_t *out)
{
	int x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want an int");
	memcpy(&x, in, sizeof(x));
	if (x < 0)
		return mp_task_fail(out, "ValueError: negative: %d", x);
	x *= 2;
	return mp_task_return(out, &x, sizeof(x));
}
MP_MPI_TASK(twice);

/* in: ms to sleep; out: the pid of the rank running it (the local
 * worker's parent). */
static int nap(const void *in, size_t len, mp_task_out_t *out)
{
	int ms;
	pid_t rank = getppid();

	(void)len;
	memcpy(&ms, in, sizeof(ms));
	poll(NULL, 0, ms);
	return mp_task_return(out, &rank, sizeof(rank));
}
MP_MPI_TASK(nap);

/* nap under another name: a function of its own, whose time rank 0
 * learns apart from nap's. */
static int long_nap(const void *in, size_t len, mp_task_out_t *out)
{
	return nap(in, len, out);
}
MP_MPI_TASK(long_nap);

/* nap under a third name (test_naps_until_due learns its time alone). */
static int due_nap(const void *in, size_t len, mp_task_out_t *out)
{
	return nap(in, len, out);
}
MP_MPI_TASK(due_nap);

static int segv(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	(void)out;
	raise(SIGSEGV);
	return 0;
}
MP_MPI_TASK(segv);

/* Echo the input reversed (a big message's bytes all arrive, in order). */
static int reverse(const void *in, size_t len, mp_task_out_t *out)
{
	char *r = malloc(len + 1);
	int rc;

	for (size_t i = 0; i < len; i++)
		r[i] = ((const char *)in)[len - 1 - i];
	rc = mp_task_return(out, r, len);
	free(r);
	return rc;
}
MP_MPI_TASK(reverse);

static int square(const void *in, void *out)
{
	long x = *(const long *)in;

	if (x == -1)
		return 3;
	*(long *)out = x * x;
	return 0;
}
MP_MPI_MAP(square);

/* Registered nowhere. */
static int stray(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	return mp_task_return(out, "", 0);
}

static mp_future_t *submit_int(int x)
{
	mp_future_t *f = mp_executor_submit(ex, twice, &x, sizeof(x));

	assert_non_null(f);
	return f;
}

static mp_future_t *submit_nap(int ms)
{
	mp_future_t *f = mp_executor_submit(ex, nap, &ms, sizeof(ms));

	assert_non_null(f);
	return f;
}

static void test_unregistered(void **state)
{
	mp_future_t *f = mp_executor_submit(ex, stray, NULL, 0);

	(void)state;
	assert_non_null(f);
	assert_int_equal(mp_future_exception(f, mpt_timeout(10)), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "not registered"));
	mp_future_free(f);
}

/* wait's conditions with a task running on another rank (test_executor's
 * test_wait holds its task with a pipe). */
static void test_wait_conditions(void **state)
{
	mp_future_t *fs[2], *slow;

	(void)state;
	/* wait: FIRST_COMPLETED returns with the quick one, not the slow. */
	slow = submit_nap(1500);
	fs[0] = slow;
	fs[1] = submit_int(1);
	assert_int_equal(mp_futures_wait(fs, 2, mpt_timeout(10),
					 MP_FIRST_COMPLETED), 1);
	assert_ptr_not_equal(fs[0], slow);
	mp_future_free(fs[0]);
	/* FIRST_EXCEPTION: the failure ends it. */
	fs[0] = submit_int(-1);
	fs[1] = slow;
	assert_int_equal(mp_futures_wait(fs, 2, mpt_timeout(10),
					 MP_FIRST_EXCEPTION), 1);
	assert_int_equal(mp_future_done(slow), 0);
	mp_future_free(fs[0]);
	fs[0] = slow;
	assert_int_equal(mp_futures_wait(fs, 1, mpt_timeout(10),
					 MP_ALL_COMPLETED), 1);
	mp_future_free(slow);
}

static void test_cancel_pending(void **state)
{
	enum { N = 60 };
	mp_future_t *fs[N];
	int cancelled = 0, done = 0;

	(void)state;
	/* More than the ranks' windows hold: the last ones wait at rank 0. */
	for (int i = 0; i < N; i++)
		fs[i] = submit_nap(50);
	for (int i = N - 1; i >= 0; i--)
		cancelled += mp_future_cancel(fs[i]) == 1;
	assert_true(cancelled > 0);
	for (int i = 0; i < N; i++) {
		int rc = mp_future_exception(fs[i], mpt_timeout(30));

		if (rc == MP_ECANCELLED)
			assert_int_equal(mp_future_cancelled(fs[i]), 1);
		else
			assert_int_equal(rc, 0), done++;
		mp_future_free(fs[i]);
	}
	assert_int_equal(cancelled + done, N);
}

static void test_map(void **state)
{
	enum { N = 20000 };
	long *in = malloc(N * sizeof(long)), *out = calloc(N, sizeof(long));

	(void)state;
	for (long i = 0; i < N; i++)
		in[i] = i;
	assert_int_equal(mp_executor_map(ex, square, in, N, sizeof(long), out,
					 sizeof(long),
					 &(mp_map_opts_t){.chunksize = 700},
					 mpt_timeout(30)), 0);
	for (long i = 0; i < N; i++)
		assert_int_equal(out[i], i * i);
	/* The default chunk rule, and a failing element. */
	in[N / 2] = -1;
	assert_int_equal(mp_executor_map(ex, square, in, N, sizeof(long), out,
					 sizeof(long), NULL, mpt_timeout(30)),
			 MP_ETASK);
	assert_non_null(strstr(mp_last_error(), "failed"));
	free(in);
	free(out);
}

static void test_task_timeout(void **state)
{
	/* The executor's task_timeout is 2 s. */
	mp_future_t *f = submit_nap(30000), *g;
	const mp_bytes_t *out;

	(void)state;
	assert_int_equal(mp_future_exception(f, mpt_timeout(20)), -ETIMEDOUT);
	mp_future_free(f);
	g = submit_int(5);
	assert_int_equal(mp_future_result(g, mpt_timeout(10), &out), 0);
	assert_int_equal(*(const int *)out->data, 10);
	mp_future_free(g);
}

/* Start a grandchild, then both wait for ever (till killed). */
static int hang_group(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	(void)out;
	fork();
	for (;;)
		pause();
	return 0;
}
MP_MPI_TASK(hang_group);

/* The children of pid (from /proc): how many, at most max in out. */
static int children_of(pid_t pid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], *p, st;
		int ppid;
		FILE *f;

		if (atoi(e->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%c %d", &st, &ppid) == 2 && ppid == pid &&
		    n < max)
			out[n++] = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Kill a task running on a worker rank: its local worker and the
 * worker's child die, the future ends cancelled (well before the 2 s
 * task timeout), and the rank goes on with the next tasks. */
static void test_kill_running(void **state)
{
	mp_future_t *fs[2], *f;
	const mp_bytes_t *out;
	pid_t rank[2], kids[8], worker = 0, grandchild = 0;
	double t0;

	(void)state;
	fs[0] = submit_nap(100);
	fs[1] = submit_nap(100); /* the least loaded rank: the other one */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		rank[i] = *(const pid_t *)out->data;
		mp_future_free(fs[i]);
	}
	f = mp_executor_submit(ex, hang_group, NULL, 0);
	assert_non_null(f);
	t0 = mpt_now();
	while (grandchild == 0 && mpt_now() - t0 < 1.5)
		for (int r = 0; r < 2 && grandchild == 0; r++)
			for (int i = children_of(rank[r], kids, 8); i-- > 0;)
				if (children_of(kids[i], &grandchild, 1) == 1) {
					worker = kids[i];
					break;
				}
	assert_int_not_equal(grandchild, 0);
	assert_int_equal(mp_future_kill(f), 1);
	assert_int_equal(mp_future_kill(f), 1); /* again: harmless */
	assert_int_equal(mp_future_exception(f, mpt_timeout(10)), MP_ECANCELLED);
	assert_true(mpt_now() - t0 < 2.0); /* not the task timeout */
	assert_int_equal(mp_future_cancelled(f), 1);
	assert_int_equal(mp_future_kill(f), 1); /* cancelled already */
	mp_future_free(f);
	/* Both were SIGKILLed (the grandchild may stay a zombie of
	 * whoever adopted it). */
	assert_gone(worker);
	assert_gone(grandchild);
	/* The ranks go on. */
	for (int i = 0; i < 2; i++)
		fs[i] = submit_int(i);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_future_free(fs[i]);
	}
}

/* Long tasks spread over both ranks: a job beyond every rank's credit
 * waits for a result instead of going to any rank with room (12 naps went
 * 2 to rank 1 and 10 to rank 2, which ran them one by one). */
static void test_long_tasks_spread(void **state)
{
	enum { N = 12 };
	mp_future_t *fs[N];
	pid_t first = 0;
	int n_first = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		fs[i] = submit_nap(30);
	for (int i = 0; i < N; i++) {
		const mp_bytes_t *out;
		pid_t p;

		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		memcpy(&p, out->data, sizeof(p));
		if (first == 0)
			first = p;
		n_first += p == first;
		mp_future_free(fs[i]);
	}
	assert_in_range(n_first, 3, N - 3);
}

/* n tasks fn (long_nap, due_nap) of ms each, run to the end: rank 0
 * learns their time. */
static void run_naps(mp_task_fn fn, int n, int ms)
{
	mp_future_t *fs[8];

	for (int i = 0; i < n; i++)
		assert_non_null(fs[i] = mp_executor_submit(ex, fn, &ms, sizeof(ms)));
	for (int i = 0; i < n; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), NULL), 0);
		mp_future_free(fs[i]);
	}
}

/* Jobs known to take PREFETCH_NS (10 ms) or more are sent ahead: once
 * long_nap is known to take 50 ms, four of 500 ms on the 2 ranks (one
 * local worker each) all leave rank 0 at once, two waiting on their ranks
 * behind the two running (before, the third waited on rank 0 for the
 * first result, and the fourth was not even taken). */
static void test_long_tasks_sent_ahead(void **state)
{
	mp_future_t *fs[4];
	const mp_bytes_t *out;
	int ms = 50;
	double until;

	(void)state;
	run_naps(long_nap, 2, ms);
	ms = 500;
	for (int i = 0; i < 4; i++)
		assert_non_null(fs[i] = mp_executor_submit(ex, long_nap, &ms,
							   sizeof(ms)));
	/* Taken by the backend (running) before any of the first two
	 * ended: bounded by their end, looked at every ms. */
	until = mpt_now() + mpt_timeout(10);
	while (mp_future_running(fs[3]) == 0 && mp_future_done(fs[0]) == 0 &&
	       mp_future_done(fs[1]) == 0 && mpt_now() < until)
		poll(NULL, 0, 1);
	assert_int_equal(mp_future_running(fs[3]), 1);
	assert_int_equal(mp_future_done(fs[0]), 0);
	assert_int_equal(mp_future_done(fs[1]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		mp_future_free(fs[i]);
	}
}

/* Nothing is sent ahead behind a job out for 3 times its function's
 * average: with long_nap known to take about 50 ms, one of 10 s holds
 * rank A; once it has overrun (a 1 s one on rank B ended meanwhile: the
 * average rises slowly, to under 300 ms), two more both go to rank B,
 * none waits behind the 10 s one (before, the second went to A: a tie,
 * and A had room for one sent ahead). */
static void test_no_prefetch_behind_overrun(void **state)
{
	mp_future_t *fs[4], *stuck, *g;
	const mp_bytes_t *out;
	pid_t b, p;
	int ms = 50;

	(void)state;
	run_naps(long_nap, 4, ms);
	ms = 10000;
	assert_non_null(stuck = mp_executor_submit(ex, long_nap, &ms, sizeof(ms)));
	ms = 1000;
	assert_non_null(g = mp_executor_submit(ex, long_nap, &ms, sizeof(ms)));
	assert_int_equal(mp_future_result(g, mpt_timeout(10), &out), 0);
	memcpy(&b, out->data, sizeof(b));
	mp_future_free(g);
	ms = 50;
	for (int i = 0; i < 2; i++)
		assert_non_null(fs[i] = mp_executor_submit(ex, long_nap, &ms,
							   sizeof(ms)));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(5), &out), 0);
		memcpy(&p, out->data, sizeof(p));
		assert_int_equal(p, b);
		mp_future_free(fs[i]);
	}
	assert_int_equal(mp_future_done(stuck), 0);
	assert_int_equal(mp_future_kill(stuck), 1);
	assert_int_equal(mp_future_result(stuck, mpt_timeout(10), &out),
			 MP_ECANCELLED);
	mp_future_free(stuck);
}

/* CPU time (user + system) of process pid so far, in seconds. */
static double cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_non_null(p = strrchr(buf, ')'));
	/* After the name: state (3) ... utime (14), stime (15). */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
				"%*u %lu %lu", &ut, &st), 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A long task after short ones of the same function (a short average):
 * neither rank 0 nor the worker ranks spin through it (they nap once the
 * quiet passes 2 ms); they took about a CPU each for the whole second. */
static void test_long_after_short_no_spin(void **state)
{
	enum { N = 300 };
	mp_future_t *fs[N];
	const mp_bytes_t *out;
	pid_t rank[2] = {0, 0};
	double before[3];

	(void)state;
	for (int i = 0; i < N; i++)
		fs[i] = submit_nap(0);
	for (int i = 0; i < N; i++) {
		pid_t p;

		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		memcpy(&p, out->data, sizeof(p));
		if (rank[0] == 0)
			rank[0] = p;
		else if (p != rank[0])
			rank[1] = p;
		mp_future_free(fs[i]);
	}
	assert_int_not_equal(rank[1], 0);
	before[0] = cpu_of(getpid());
	before[1] = cpu_of(rank[0]);
	before[2] = cpu_of(rank[1]);
	fs[0] = submit_nap(1000);
	fs[1] = submit_nap(1000);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		mp_future_free(fs[i]);
	}
	print_message("cpu during 1 s of naps: rank 0 %.2f s, rank 1 %.2f s, "
		      "rank 2 %.2f s\n", cpu_of(getpid()) - before[0],
		      cpu_of(rank[0]) - before[1], cpu_of(rank[1]) - before[2]);
	assert_true(cpu_of(getpid()) - before[0] < 0.1);
	assert_true(cpu_of(rank[0]) - before[1] < 0.1);
	assert_true(cpu_of(rank[1]) - before[2] < 0.1);
}

/* The voluntary context switches of this process's threads so far. */
static long switches(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], line[128];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue; /* a thread that ended */
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				n += atol(line + 24);
		fclose(f);
	}
	closedir(d);
	return n;
}

/* While jobs of a known time run and nothing waits behind them, rank 0
 * naps until they are due (a quarter of the time left, at most 8 ms),
 * not a millisecond at a time: with due_nap known to take 300 ms, two of
 * them (one per rank) cost rank 0's threads under 150 wakeups (before,
 * about 300: 1 ms naps). */
static void test_naps_until_due(void **state)
{
	long before, woke;

	(void)state;
	for (int i = 0; i < 3; i++)
		run_naps(due_nap, 2, 300);
	before = switches();
	run_naps(due_nap, 2, 300);
	woke = switches() - before;
	print_message("rank 0's threads woke %ld times during 300 ms\n", woke);
	assert_true(woke < 150);
}

static void test_segfault_then_1000(void **state)
{
	enum { N = 1000 };
	mp_future_t *bad = mp_executor_submit(ex, segv, NULL, 0), *fs[N];
	const mp_bytes_t *out;

	(void)state;
	assert_non_null(bad);
	assert_int_equal(mp_future_exception(bad, mpt_timeout(10)), MP_EBROKEN);
	mp_future_free(bad);
	for (int i = 0; i < N; i++)
		fs[i] = submit_int(i);
	for (int i = 0; i < N; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(30), &out), 0);
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_future_free(fs[i]);
	}
}

static void test_big_message(void **state)
{
	/* Over MPW_FIRST (1 MiB) each way: sent and received in pieces. */
	size_t n = (3u << 20) + 5;
	char *in = malloc(n);
	const mp_bytes_t *out;
	mp_future_t *f;

	(void)state;
	for (size_t i = 0; i < n; i++)
		in[i] = (char)(i * 7 + i / 1000);
	f = mp_executor_submit(ex, reverse, in, n);
	assert_non_null(f);
	assert_int_equal(mp_future_result(f, mpt_timeout(30), &out), 0);
	assert_int_equal(out->len, n);
	for (size_t i = 0; i < n; i++)
		if (((const char *)out->data)[i] != in[n - 1 - i])
			fail_msg("byte %zu differs", i);
	mp_future_free(f);
	free(in);
}

/* ---- big: over 2 GiB each way (MPI counts are int: pieces) ---- */

#define BIG ((size_t)2 << 30 | (size_t)100 << 20 | 5) /* 2.1 GiB and 5 */

/* Fill p with a position-dependent pattern (a word is its index, mixed). */
static void fill_pattern(char *p, size_t n)
{
	for (size_t i = 0; i < n / 8; i++) {
		uint64_t w = (i + 1) * 0x9e3779b97f4a7c15u;

		memcpy(p + 8 * i, &w, 8);
	}
	memset(p + n / 8 * 8, 0x5a, n % 8);
}

/* An order-sensitive digest of n bytes. */
static uint64_t digest(const char *p, size_t n)
{
	uint64_t h = n;

	for (size_t i = 0; i < n / 8; i++) {
		uint64_t w;

		memcpy(&w, p + 8 * i, 8);
		h = (h ^ w) * 0x100000001b3u;
	}
	for (size_t i = n / 8 * 8; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
	return h;
}

/* in: any bytes; out: their length and digest. */
static int digest_task(const void *in, size_t len, mp_task_out_t *out)
{
	uint64_t r[2] = {len, digest(in, len)};

	return mp_task_return(out, r, sizeof(r));
}
MP_MPI_TASK(digest_task);

/* in: a size_t n; out: n bytes of the pattern. */
static int pattern_task(const void *in, size_t len, mp_task_out_t *out)
{
	size_t n;
	char *p;
	int rc;

	(void)len;
	memcpy(&n, in, sizeof(n));
	if ((p = malloc(n)) == NULL)
		return mp_task_fail(out, "MemoryError: %zu bytes", n);
	fill_pattern(p, n);
	rc = mp_task_return(out, p, n);
	free(p);
	return rc;
}
MP_MPI_TASK(pattern_task);

/* A 2.1 GiB argument reaches a rank whole and in order. */
static void test_big_argument(void **state)
{
	char *in = malloc(BIG);
	const mp_bytes_t *out;
	mp_future_t *f;
	uint64_t want;

	(void)state;
	assert_non_null(in);
	fill_pattern(in, BIG);
	want = digest(in, BIG);
	f = mp_executor_submit(ex, digest_task, in, BIG);
	free(in); /* the executor has its copy */
	assert_non_null(f);
	mpt_assert_ok(mp_future_result(f, mpt_timeout(300), &out));
	assert_int_equal(out->len, 16);
	assert_int_equal(((const uint64_t *)out->data)[0], BIG);
	assert_true(((const uint64_t *)out->data)[1] == want);
	mp_future_free(f);
}

/* A 2.1 GiB result comes back whole and in order. */
static void test_big_result(void **state)
{
	size_t n = BIG;
	const mp_bytes_t *out;
	mp_future_t *f = mp_executor_submit(ex, pattern_task, &n, sizeof(n));
	char *want = malloc(1 << 20);

	(void)state;
	assert_non_null(f);
	mpt_assert_ok(mp_future_result(f, mpt_timeout(300), &out));
	assert_int_equal(out->len, BIG);
	/* Compare the pattern a MiB at a time, without a second copy. */
	for (size_t off = 0; off < BIG; off += 1 << 20) {
		size_t k = BIG - off < (1 << 20) ? BIG - off : 1 << 20;

		/* off is a multiple of 8: word off / 8 + i, then (the
		 * last MiB) the tail bytes. */
		for (size_t i = 0; i < k / 8; i++) {
			uint64_t w = (off / 8 + i + 1) * 0x9e3779b97f4a7c15u;

			memcpy(want + 8 * i, &w, 8);
		}
		memset(want + k / 8 * 8, 0x5a, k % 8);
		if (memcmp((const char *)out->data + off, want, k) != 0)
			fail_msg("the result differs in the MiB at %zu", off);
	}
	mp_future_free(f);
	free(want);
}

/* Last: shutdown(cancel_futures) cancels what waits at rank 0, lets the
 * running ones finish, and refuses new work. */
static void test_shutdown(void **state)
{
	enum { N = 40 };
	mp_future_t *fs[N];
	int cancelled = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		fs[i] = submit_nap(100);
	assert_int_equal(mp_executor_shutdown(ex, MP_SHUTDOWN_CANCEL_FUTURES), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(mp_future_done(fs[i]), 1);
		cancelled += mp_future_cancelled(fs[i]);
		mp_future_free(fs[i]);
	}
	assert_true(cancelled > 0);
	assert_null(mp_executor_submit(ex, twice, &cancelled, sizeof(int)));
	assert_int_equal(mp_last_error_code(), MP_ECLOSED);
	/* One MPI executor per job: the worker ranks have exited. */
	assert_null(mp_executor_new(&(mp_executor_opts_t){
		.backend = mp_mpi_backend()}));
	assert_int_equal(mp_last_error_code(), -ENOTSUP);
	assert_non_null(strstr(mp_last_error(), "one MPI executor"));
}

/* kill: find the pids of the worker ranks (a task names its rank
 * process), give each a 3 s task, kill one rank: its future fails
 * (MP_EBROKEN, "presumed dead") within the rank timeout (2 s), the other
 * one's succeeds, and new work goes to the rank left. */
static void test_rank_killed(void **state)
{
	mp_future_t *fs[4], *f;
	const mp_bytes_t *out;
	pid_t pid[2];
	double t0;
	int rc;

	(void)state;
	fs[0] = submit_nap(300);
	fs[1] = submit_nap(300); /* the least loaded rank: the other one */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mp_future_result(fs[i], mpt_timeout(10), &out), 0);
		pid[i] = *(const pid_t *)out->data;
	}
	assert_int_not_equal(pid[0], pid[1]);
	fs[2] = submit_nap(3000);
	fs[3] = submit_nap(3000);
	assert_int_equal(kill(pid[0], SIGKILL), 0);
	t0 = mpt_now();
	rc = mp_future_exception(fs[2], mpt_timeout(20));
	if (rc == 0) { /* fs[2] went to the other rank */
		f = fs[2];
		fs[2] = fs[3];
		fs[3] = f;
		rc = mp_future_exception(fs[2], mpt_timeout(20));
	}
	assert_int_equal(rc, MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "presumed dead"));
	assert_true(mpt_now() - t0 < mpt_timeout(2.0) + 1.0);
	assert_int_equal(mp_future_exception(fs[3], mpt_timeout(10)), 0);
	f = submit_nap(0);
	assert_int_equal(mp_future_result(f, mpt_timeout(10), &out), 0);
	assert_int_equal(*(const pid_t *)out->data, pid[1]);
	mp_future_free(f);
	for (int i = 0; i < 4; i++)
		mp_future_free(fs[i]);
	assert_int_equal(mp_executor_shutdown(ex, 0), 0);
}

/* terminate: terminate_workers with tasks running on both ranks and more
 * waiting: the running ones fail (MP_EBROKEN), the waiting ones are
 * cancelled, shutdown returns at once, and the ranks exit (run.sh checks
 * that no process is left). */
static void test_terminate_workers(void **state)
{
	enum { N = 30 };
	mp_future_t *fs[N];
	int broken = 0, cancelled = 0;
	double t0;

	(void)state;
	for (int i = 0; i < N; i++)
		fs[i] = submit_nap(20000);
	t0 = mpt_now();
	while ((!mp_future_running(fs[0]) || !mp_future_running(fs[1])) &&
	       mpt_now() - t0 < mpt_timeout(10))
		sched_yield();
	assert_int_equal(mp_executor_terminate_workers(ex), 0);
	assert_int_equal(mp_executor_shutdown(ex, 0), 0);
	for (int i = 0; i < N; i++) {
		int rc = mp_future_exception(fs[i], 0);

		broken += rc == MP_EBROKEN;
		cancelled += rc == MP_ECANCELLED;
		mp_future_free(fs[i]);
	}
	assert_int_equal(broken + cancelled, N);
	assert_true(broken >= 2);
	assert_true(mpt_now() - t0 < mpt_timeout(10));
}

/* spawnrefused: mp_executor_new under mpirun -np 3 with spawn set. */
static void test_spawn_refused(void **state)
{
	(void)state;
	assert_null(ex);
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "spawn wants a program "
					      "started alone"));
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "api";
	bool kill_mode = strcmp(mode, "kill") == 0;
	mp_mpi_opts_t mo = {
		.rank_timeout = kill_mode || strcmp(mode, "rank0dies") == 0 ? 2.0
									   : 0};
	const struct CMUnitTest api[] = {
		cmocka_unit_test(test_unregistered),
		cmocka_unit_test(test_wait_conditions),
		cmocka_unit_test(test_cancel_pending),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_task_timeout),
		cmocka_unit_test(test_kill_running),
		cmocka_unit_test(test_long_tasks_spread),
		cmocka_unit_test(test_long_tasks_sent_ahead),
		cmocka_unit_test(test_no_prefetch_behind_overrun),
		cmocka_unit_test(test_long_after_short_no_spin),
		cmocka_unit_test(test_naps_until_due),
		cmocka_unit_test(test_segfault_then_1000),
		cmocka_unit_test(test_big_message),
		cmocka_unit_test(test_shutdown),
	};
	/* spawn: started alone, rank 0 starts the 2 worker ranks itself. */
	const struct CMUnitTest spawned[] = {
		cmocka_unit_test(test_wait_conditions),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_kill_running),
		cmocka_unit_test(test_long_tasks_spread),
		cmocka_unit_test(test_shutdown),
	};
	const struct CMUnitTest killed[] = {
		cmocka_unit_test(test_rank_killed),
	};
	const struct CMUnitTest big[] = {
		cmocka_unit_test(test_big_argument),
		cmocka_unit_test(test_big_result),
	};
	const struct CMUnitTest terminated[] = {
		cmocka_unit_test(test_terminate_workers),
	};
	int rc;

	/* Ignored, on every rank (they crashed the registry or its sort at
	 * start); the tests then run with the registry intact. */
	mp_mpi_register(NULL);
	mp_mpi_register(&(struct mp_mpi_fn_entry){.fn = (void (*)(void))nap});
	mp_mpi_register(&(struct mp_mpi_fn_entry){.name = "nameless"});
	mo.spawn = strcmp(mode, "spawn") == 0 ||
			   strcmp(mode, "spawnrefused") == 0 ? 2 : 0;
	ex = mp_executor_new(&(mp_executor_opts_t){
		.task_timeout = kill_mode || strcmp(mode, "big") == 0 ? 0 : 2.0,
		.backend = mp_mpi_backend(), .backend_arg = &mo});
	if (strcmp(mode, "rank0dies") == 0) {
		/* Rank 0 dies with tasks out: the worker ranks notice its
		 * silence within rank_timeout (2 s) and exit (run.sh checks
		 * their words and that nothing is left). */
		mp_future_t *f = submit_nap(20000), *g = submit_nap(0);
		const mp_bytes_t *out;

		(void)f;
		if (mp_future_result(g, mpt_timeout(10), &out) != 0)
			return 1;
		printf("rank 0: dying\n");
		fflush(stdout);
		raise(SIGKILL);
	}
	if (strcmp(mode, "spawnrefused") == 0) {
		/* Under mpirun -np 3 with spawn set: every rank is refused
		 * at once, and exits 0 (MPI finalized at exit). */
		const struct CMUnitTest refused[] = {
			cmocka_unit_test(test_spawn_refused),
		};

		return cmocka_run_group_tests_name("mpi_spawnrefused", refused,
						   NULL, NULL);
	}
	if (strcmp(mode, "mismatch") == 0) {
		/* mpirun -np 1 this mismatch : -np 2 another MPI program: the
		 * build ids differ, every rank learns it at once. */
		bool ok = ex == NULL && mp_last_error_code() == -EPROTO &&
			  strstr(mp_last_error(), "another binary") != NULL;

		printf("mismatch: %s (%s)\n", ok ? "refused" : "NOT refused",
		       mp_last_error());
		return ok ? 0 : 1;
	}
	if (ex == NULL) {
		fprintf(stderr, "mp_executor_new: %s\n", mp_last_error());
		return 1;
	}
	/* Only rank 0 gets here. */
	if (kill_mode)
		rc = cmocka_run_group_tests_name("mpi_kill", killed, NULL, NULL);
	else if (strcmp(mode, "spawn") == 0)
		rc = cmocka_run_group_tests_name("mpi_spawn", spawned, NULL,
						 NULL);
	else if (strcmp(mode, "big") == 0)
		rc = cmocka_run_group_tests_name("mpi_big", big, NULL, NULL);
	else if (strcmp(mode, "terminate") == 0)
		rc = cmocka_run_group_tests_name("mp__terminate", terminated,
						 NULL, NULL);
	else
		rc = cmocka_run_group_tests_name("mpi_api", api, NULL, NULL);
	mp_executor_free(ex);
	return rc;
}
