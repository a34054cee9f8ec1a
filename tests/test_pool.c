/* test_pool.c - the Pool: apply/apply_async/map, failures, crashes, task
 * timeouts, maxtasksperchild, initializer, close/terminate/join. */
#include "mptest.h"
#include "mptest_kill.h"
#include "mptest_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal/child.h"
#include "pool/pool_int.h"
#include "mproc/pool.h"
#include "mproc/process.h"

static int twice(const void *in, size_t len, mp_task_out_t *out)
{
	int x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want an int, got %zu bytes", len);
	memcpy(&x, in, sizeof(x));
	x *= 2;
	return mp_task_return(out, &x, sizeof(x));
}

static int add_pair(const void *in, void *out)
{
	const int *ab = in;

	*(int *)out = ab[0] + ab[1];
	return 0;
}

static int square(const void *in, void *out)
{
	*(long *)out = *(const long *)in * *(const long *)in;
	return 0;
}

static void test_apply_and_apply_async(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	mp_async_result_t *r[200];
	const mp_bytes_t *out;
	mp_bytes_t buf;
	int x = 21;

	(void)state;
	assert_non_null(p);
	mpt_assert_ok(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
	assert_int_equal(buf.len, sizeof(int));
	assert_int_equal(*(int *)buf.data, 42);
	mp_bytes_destroy(&buf);
	for (int i = 0; i < 200; i++) {
		r[i] = mp_pool_apply_async(p, twice, &i, sizeof(i), NULL);
		assert_non_null(r[i]);
	}
	for (int i = 0; i < 200; i++) {
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		assert_int_equal(mp_async_result_ready(r[i]), 1);
		assert_int_equal(mp_async_result_successful(r[i]), 1);
		mp_async_result_free(r[i]);
	}
	/* A task that fails reports its message. */
	mpt_assert_rc(mp_pool_apply(p, twice, "abc", 3, &buf), MP_ETASK);
	assert_string_equal(mp_last_error(),
			    "mp_pool_apply: want an int, got 3 bytes");
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
}

static void test_map(void **state)
{
	enum { N = 10000 };
	static long in[N], out[N];
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 3});

	(void)state;
	for (long i = 0; i < N; i++)
		in[i] = i;
	mpt_assert_ok(mp_pool_map(p, square, in, N, sizeof(long), out, sizeof(long), NULL));
	for (long i = 0; i < N; i++)
		assert_int_equal(out[i], i * i);
	memset(out, 0, sizeof(out));
	mpt_assert_ok(mp_pool_map(p, square, in, 100, sizeof(long), out, sizeof(long),
				  &(mp_map_opts_t){.chunksize = 7}));
	assert_int_equal(out[99], 99 * 99);
	mpt_assert_ok(mp_pool_map(p, square, in, 0, sizeof(long), out, sizeof(long), NULL));
	mpt_assert_rc(mp_pool_map(p, square, NULL, 5, sizeof(long), out, sizeof(long), NULL),
		      -EINVAL);
	mp_pool_free(p);
}

static int fails_on_13(const void *in, void *out)
{
	*(long *)out = *(const long *)in;
	return *(const long *)in == 13 ? 5 : 0;
}

static void test_map_failure_reported(void **state)
{
	static long in[100], out[100];
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});

	(void)state;
	for (long i = 0; i < 100; i++)
		in[i] = i;
	mpt_assert_rc(mp_pool_map(p, fails_on_13, in, 100, sizeof(long), out,
				  sizeof(long), &(mp_map_opts_t){.chunksize = 10}),
		      MP_ETASK);
	assert_non_null(strstr(mp_last_error(), "returned 5"));
	assert_int_equal(out[99], 99); /* the other chunks completed */
	assert_int_equal(out[0], 0);
	mp_pool_free(p);
}

static atomic_int ok_calls, err_calls;

static void on_ok(const void *out, size_t len, void *arg)
{
	(void)arg;
	if (len == sizeof(int) && *(const int *)out == 8)
		atomic_fetch_add(&ok_calls, 1);
}

static void on_err(int code, const char *msg, void *arg)
{
	(void)arg;
	if (code == MP_ETASK && strstr(msg, "want an int"))
		atomic_fetch_add(&err_calls, 1);
}

static void test_callbacks(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_apply_opts_t cb = {.callback = on_ok, .error_callback = on_err};
	mp_async_result_t *a, *b;
	int x = 4;

	(void)state;
	a = mp_pool_apply_async(p, twice, &x, sizeof(x), &cb);
	b = mp_pool_apply_async(p, twice, "zz", 2, &cb);
	mpt_assert_ok(mp_async_result_wait(a, mpt_timeout(10)));
	mpt_assert_ok(mp_async_result_wait(b, mpt_timeout(10)));
	assert_int_equal(atomic_load(&ok_calls), 1);
	assert_int_equal(atomic_load(&err_calls), 1);
	assert_int_equal(mp_async_result_successful(b), 0);
	mp_async_result_free(a);
	mp_async_result_free(b);
	mp_pool_free(p);
}

/* ---- map: sizes, map_async, progress ---- */

static void test_map_sizes_match_serial(void **state)
{
	enum { BIG = 1000000 };
	static const size_t sizes[] = {1, 7, 10, BIG};
	long *in = malloc(BIG * sizeof(long)), *out = malloc(BIG * sizeof(long));
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	for (long i = 0; i < BIG; i++)
		in[i] = i - BIG / 2;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(out, 0xff, BIG * sizeof(long));
		mpt_assert_ok(mp_pool_map(p, square, in, sizes[k], sizeof(long), out,
					  sizeof(long), NULL));
		for (size_t i = 0; i < sizes[k]; i++)
			assert_int_equal(out[i], in[i] * in[i]);
		if (sizes[k] < BIG) /* nothing written past n */
			assert_int_equal(out[sizes[k]], -1);
	}
	/* One chunk whose 8 MB result is streamed through the 1 MiB result
	 * ring while the supervisor may sleep: it must keep reading. */
	for (int k = 0; k < 3; k++) {
		memset(out, 0, BIG * sizeof(long));
		mpt_assert_ok(mp_pool_map(p, square, in, BIG, sizeof(long), out,
					  sizeof(long), &(mp_map_opts_t){.chunksize = BIG}));
		assert_int_equal(out[BIG - 1], in[BIG - 1] * in[BIG - 1]);
	}
	/* A different out_size than in_size: the starmap idiom. */
	struct pair { int a, b; } pairs[5] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}};
	int sums[5];
	mpt_assert_ok(mp_pool_map(p, add_pair, pairs, 5, sizeof(pairs[0]), sums,
				  sizeof(int), &(mp_map_opts_t){.chunksize = 2}));
	for (int i = 0; i < 5; i++)
		assert_int_equal(sums[i], pairs[i].a + pairs[i].b);
	mp_pool_free(p);
	free(in);
	free(out);
}

static atomic_int map_cb_calls, map_err_calls;
static _Atomic size_t last_done, progress_calls;

static void on_map_done(void *out, size_t n, void *arg)
{
	(void)arg;
	if (n == 1000 && ((long *)out)[999] == 999L * 999)
		atomic_fetch_add(&map_cb_calls, 1);
}

static void on_map_err(int code, const char *msg, void *arg)
{
	(void)arg;
	if (code == MP_ETASK && strstr(msg, "returned 5"))
		atomic_fetch_add(&map_err_calls, 1);
}

static void on_progress(size_t done, size_t total, void *arg)
{
	(void)arg;
	/* Calls come from the supervisor thread, one at a time, in order. */
	assert_true(done > atomic_load(&last_done));
	assert_true(done <= total);
	atomic_store(&last_done, done);
	atomic_fetch_add(&progress_calls, 1);
}

static int slow_identity(const void *in, void *out)
{
	poll(NULL, 0, 20);
	*(long *)out = *(const long *)in;
	return 0;
}

static void test_map_async_and_progress(void **state)
{
	static long in[1000], out[1000], out2[1000];
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	mp_map_opts_t o = {.callback = on_map_done, .error_callback = on_map_err,
			 .progress = on_progress, .chunksize = 10};
	mp_async_result_t *r;

	(void)state;
	for (long i = 0; i < 1000; i++)
		in[i] = i;
	r = mp_pool_map_async(p, square, in, 1000, sizeof(long), out, sizeof(long), &o);
	assert_non_null(r);
	mpt_assert_ok(mp_async_result_get(r, mpt_timeout(30), NULL));
	assert_int_equal(mp_async_result_successful(r), 1);
	assert_int_equal(out[999], 999L * 999);
	mp_async_result_free(r);
	/* Progress: once per chunk, increasing, the last one says all done. */
	assert_int_equal(atomic_load(&progress_calls), 100);
	assert_int_equal(atomic_load(&last_done), 1000);
	/* The callback ran exactly once (before get returned). */
	assert_int_equal(atomic_load(&map_cb_calls), 1);
	/* A failing map_async: error_callback once, the callback never. */
	r = mp_pool_map_async(p, fails_on_13, in, 100, sizeof(long), out2,
			      sizeof(long), &(mp_map_opts_t){.callback = on_map_done,
			      .error_callback = on_map_err});
	mpt_assert_rc(mp_async_result_get(r, mpt_timeout(30), NULL), MP_ETASK);
	assert_int_equal(mp_async_result_successful(r), 0);
	mp_async_result_free(r);
	assert_int_equal(atomic_load(&map_err_calls), 1);
	assert_int_equal(atomic_load(&map_cb_calls), 1);
	/* Freed before it is ready: the rest is cancelled, out is left alone
	 * from then on, and nothing hangs or leaks. */
	r = mp_pool_map_async(p, slow_identity, in, 200, sizeof(long), out2,
			      sizeof(long), &(mp_map_opts_t){.chunksize = 1});
	assert_int_equal(mp_async_result_ready(r), 0);
	mpt_assert_rc(mp_async_result_successful(r), -EINVAL);
	mp_async_result_free(r);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	/* A timed-out blocking map through the executor is tested in
	 * test_executor; a zero-length map_async is ready at once. */
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	r = mp_pool_map_async(p, square, in, 0, sizeof(long), out, sizeof(long), NULL);
	assert_int_equal(mp_async_result_ready(r), 1);
	mp_async_result_free(r);
	mp_pool_free(p);
}

/* ---- imap ---- */

struct gen {
	long next, n;
	long max_outstanding; /* produced - consumed, the most seen */
	_Atomic long consumed;
	long buf;
};

static int gen_next(void *arg, const void **in, size_t *len)
{
	struct gen *g = arg;
	long out;

	if (g->next == g->n)
		return 0;
	out = g->next - atomic_load(&g->consumed);
	if (out > g->max_outstanding)
		g->max_outstanding = out;
	g->buf = g->next++;
	*in = &g->buf;
	*len = sizeof(g->buf);
	return 1;
}

/* Slow for small x, so completion order differs from input order. */
static int cube_or_fail(const void *in, size_t len, mp_task_out_t *out)
{
	long x;

	if (len != sizeof(x))
		return mp_task_fail(out, "bad length %zu", len);
	memcpy(&x, in, sizeof(x));
	if (x % 100 == 42)
		return mp_task_fail(out, "no %ld", x);
	if (x < 4)
		poll(NULL, 0, 50 * (int)(4 - x));
	x = x * x * x;
	return mp_task_return(out, &x, sizeof(x));
}

static void check_imap(mp_pool_t *p, long n, bool unordered, size_t cs)
{
	struct gen g = {.n = n};
	mp_imap_t *it = mp_pool_imap(p, cube_or_fail, gen_next, &g,
				     &(mp_imap_opts_t){.unordered = unordered,
						     .chunksize = cs,
						     .window = 64});
	char *seen = calloc((size_t)n, 1);
	long count = 0, in_order = 1;
	const mp_bytes_t *out;
	size_t idx;
	int rc;

	assert_non_null(it);
	while ((rc = mp_imap_next(it, mpt_timeout(30), &out, &idx)) != MP_EEOF) {
		assert_true(idx < (size_t)n);
		assert_false(seen[idx]);
		seen[idx] = 1;
		if ((long)idx != count)
			in_order = 0;
		if (idx % 100 == 42) {
			assert_int_equal(rc, MP_ETASK);
			assert_non_null(strstr(mp_last_error(), "no "));
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(out->len, sizeof(long));
			assert_int_equal(*(const long *)out->data, (long)(idx * idx * idx));
		}
		count++;
		atomic_store(&g.consumed, count);
	}
	assert_int_equal(count, n);
	if (!unordered)
		assert_int_equal(in_order, 1);
	else if (cs == 1)
		assert_int_equal(in_order, 0); /* 0..3 are slow: they come later */
	/* The generator was pulled lazily: never far ahead of the consumer. */
	assert_true(g.max_outstanding <= 64 + (long)cs);
	mpt_assert_rc(mp_imap_next(it, 0, &out, &idx), MP_EEOF);
	mp_imap_free(it);
	free(seen);
}

static void test_imap(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});

	(void)state;
	check_imap(p, 1000, false, 1);
	check_imap(p, 1000, false, 7);
	check_imap(p, 1000, true, 1);
	check_imap(p, 1000, true, 16);
	check_imap(p, 0, false, 1);
	mp_pool_free(p);
}

static int gen_forever(void *arg, const void **in, size_t *len)
{
	struct gen *g = arg;

	g->buf = 4 + g->next++ % 1000;
	*in = &g->buf;
	*len = sizeof(g->buf);
	return 1;
}

static int gen_fails_at_10(void *arg, const void **in, size_t *len)
{
	struct gen *g = arg;

	if (g->next == 10)
		return -EIO;
	return gen_next(arg, in, len);
}

static void test_imap_free_midway_and_input_error(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	struct gen g = {0};
	const mp_bytes_t *out;
	size_t idx;
	mp_imap_t *it;

	(void)state;
	/* An endless input: take 100 results, then stop. */
	it = mp_pool_imap(p, cube_or_fail, gen_forever, &g, NULL);
	for (int i = 0; i < 100; i++) {
		int rc = mp_imap_next(it, mpt_timeout(30), &out, &idx);
		assert_true(rc == 0 || rc == MP_ETASK);
		assert_int_equal(idx, (size_t)i);
	}
	mp_imap_free(it);
	assert_true(g.next < 100 + 200); /* bounded by the window */
	/* An input that fails: the items before it, then its error. */
	g = (struct gen){.n = 1000};
	it = mp_pool_imap(p, cube_or_fail, gen_fails_at_10, &g,
			  &(mp_imap_opts_t){.chunksize = 3});
	for (int i = 0; i < 10; i++)
		mpt_assert_ok(mp_imap_next(it, mpt_timeout(30), &out, &idx));
	mpt_assert_rc(mp_imap_next(it, mpt_timeout(30), &out, &idx), -EIO);
	mp_imap_free(it);
	/* The pool is intact. */
	g = (struct gen){.n = 10};
	it = mp_pool_imap(p, cube_or_fail, gen_next, &g, NULL);
	for (int i = 0; i < 10; i++)
		mpt_assert_ok(mp_imap_next(it, mpt_timeout(30), &out, &idx));
	mp_imap_free(it);
	mp_pool_free(p);
}

/* ---- crashes ---- */

static int crash(const void *in, size_t len, mp_task_out_t *out)
{
	(void)len;
	(void)out;
	/* Die for real: cmocka (and ASan) catch these signals in the parent. */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	switch (*(const char *)in) {
	case 's':
		raise(SIGSEGV);
		break;
	case 'a':
		abort();
	case 'x':
		_exit(3);
	}
	return 0;
}

static int report_pid_and_hang(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me = getpid();

	(void)len;
	(void)out;
	if (write(*(const int *)in, &me, sizeof(me)) != sizeof(me))
		return 1;
	for (;;)
		pause();
}

static void test_crash_fails_only_its_task(void **state)
{
	mp_pool_t *p;
	mp_async_result_t *r[20], *bad[3], *hung;
	const mp_bytes_t *out;
	int fds[2];
	pid_t victim;

	(void)state;
	/* Before the workers fork, so they have it (replacements too). */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	for (int i = 0; i < 10; i++)
		r[i] = mp_pool_apply_async(p, twice, &i, sizeof(i), NULL);
	bad[0] = mp_pool_apply_async(p, crash, "s", 1, NULL);
	bad[1] = mp_pool_apply_async(p, crash, "a", 1, NULL);
	bad[2] = mp_pool_apply_async(p, crash, "x", 1, NULL);
	for (int i = 10; i < 20; i++)
		r[i] = mp_pool_apply_async(p, twice, &i, sizeof(i), NULL);
	mpt_assert_rc(mp_async_result_get(bad[0], mpt_timeout(30), &out),
		      MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "killed by SIGSEGV"));
	mpt_assert_rc(mp_async_result_get(bad[1], mpt_timeout(30), &out),
		      MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "SIGABRT"));
	mpt_assert_rc(mp_async_result_get(bad[2], mpt_timeout(30), &out),
		      MP_EBROKEN);
	if (strstr(mp_last_error(), "exited with status 3") == NULL)
		fail_msg("unexpected: %s", mp_last_error());
	for (int i = 0; i < 20; i++) {
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_async_result_free(r[i]);
	}
	for (int i = 0; i < 3; i++)
		mp_async_result_free(bad[i]);
	/* A worker SIGKILLed from outside while running a task. */
	hung = mp_pool_apply_async(p, report_pid_and_hang, &fds[1], sizeof(int), NULL);
	assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1, 30000), 1);
	assert_int_equal(read(fds[0], &victim, sizeof(victim)), sizeof(victim));
	kill(victim, SIGKILL);
	mpt_assert_rc(mp_async_result_get(hung, mpt_timeout(30), &out),
		      MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "SIGKILL"));
	mp_async_result_free(hung);
	close(fds[0]);
	close(fds[1]);
	/* The pool still works. */
	int x = 5;
	mp_bytes_t buf;
	mpt_assert_ok(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
	assert_int_equal(*(int *)buf.data, 10);
	mp_bytes_destroy(&buf);
	mp_pool_free(p);
}

static void *pause_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* Report the worker's pid on the fd, then end the worker's main thread
 * (exit status 7) while another thread keeps the process alive. */
static int main_thread_exits(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me = getpid();
	pthread_t t;

	(void)len;
	(void)out;
	if (pthread_create(&t, NULL, pause_forever, NULL) != 0 ||
	    write(*(const int *)in, &me, sizeof(me)) != sizeof(me))
		return 1;
	syscall(SYS_exit, 7);
	return 1;
}

/* Does this kernel have futex_waitv (Linux 5.16; not valgrind 3.19)? */
static bool have_futex_waitv(void)
{
	return syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0) == 0 ||
	       errno != ENOSYS;
}

/*
 * A worker's death is seen from its life lock (the kernel marks a dead
 * thread's robust locks before the process is gone), not only from its
 * pidfd: here its main thread exits (status 7) and another thread keeps
 * the process, so the pidfd stays silent; the task fails anyway, naming
 * the status, exactly once.  The pool kills what is left of the worker:
 * the jobs queued behind it run on the replacement, which starts once the
 * process is gone (the pidfd reaps it: mpt_teardown checks no child is
 * left).  The pool's watcher sleeps in futex_waitv: without it (Linux
 * before 5.16, valgrind 3.19) the death is seen only when the process is
 * gone, here never, so the test skips there.
 */
static void test_death_seen_before_the_pidfd(void **state)
{
	mp_async_result_t *r, *more[4];
	const mp_bytes_t *out;
	int fds[2];
	pid_t victim;
	mp_pool_t *p;

	(void)state;
#ifdef MPT_TSAN
	skip(); /* TSan dies at a thread started in a fork of a threaded program */
#endif
	if (!have_futex_waitv())
		skip();
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	r = mp_pool_apply_async(p, main_thread_exits, &fds[1], sizeof(int), NULL);
	for (int i = 0; i < 4; i++)
		more[i] = mp_pool_apply_async(p, twice, &i, sizeof(i), NULL);
	assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1,
			      (int)(mpt_timeout(30) * 1000)), 1);
	assert_int_equal(read(fds[0], &victim, sizeof(victim)), sizeof(victim));
	mpt_assert_rc(mp_async_result_get(r, mpt_timeout(30), &out), MP_EBROKEN);
	if (strstr(mp_last_error(), "exited with status 7") == NULL)
		fail_msg("unexpected: %s", mp_last_error());
	for (int i = 0; i < 4; i++) {
		mpt_assert_ok(mp_async_result_get(more[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_async_result_free(more[i]);
	}
	mp_async_result_free(r);
	mp_pool_free(p);
	close(fds[0]);
	close(fds[1]);
}

/* The starter thread's hook (tests only): say it was entered, then block
 * until the test writes a byte. */
static int hook_in[2], hook_go[2];

static void blocking_start(void)
{
	char c = 'e';

	if (write(hook_in[1], &c, 1) != 1 || read(hook_go[0], &c, 1) != 1)
		abort();
}

/* in: {fd, i}; writes {its pid, i} to fd, then hangs. */
static int report_index_and_hang(const void *in, size_t len, mp_task_out_t *out)
{
	const int *a = in;
	int msg[2] = {(int)getpid(), a[1]};

	(void)len;
	(void)out;
	if (write(a[0], msg, sizeof(msg)) != sizeof(msg))
		return 1;
	for (;;)
		pause();
}

/* A worker's death is noticed (its task fails) while the replacement of
 * another one is still starting: starting a worker is off the supervisor,
 * however long it takes. */
static void test_death_noticed_while_replacement_starts(void **state)
{
	mp_async_result_t *r[2];
	mp_pool_t *p;
	mp_bytes_t buf;
	int fds[2], x = 5;
	pid_t victim[2];
	char c;

	(void)state;
	/* Before the workers fork, so they have it. */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hook_in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hook_go, O_CLOEXEC), 0);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	assert_non_null(p);
	__atomic_store_n(&mp__pool_start_hook, blocking_start, __ATOMIC_RELEASE);
	/* Tasks look long at first: one goes to each worker. */
	for (int i = 0; i < 2; i++) {
		int a[2] = {fds[1], i}, msg[2];

		r[i] = mp_pool_apply_async(p, report_index_and_hang, a,
					   sizeof(a), NULL);
		assert_non_null(r[i]);
		assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1,
				      (int)(mpt_timeout(30) * 1000)), 1);
		assert_int_equal(read(fds[0], msg, sizeof(msg)), sizeof(msg));
		assert_int_equal(msg[1], i);
		victim[i] = msg[0];
	}
	assert_int_not_equal(victim[0], victim[1]);
	kill(victim[0], SIGKILL);
	mpt_assert_rc(mp_async_result_get(r[0], mpt_timeout(30), NULL),
		      MP_EBROKEN);
	/* Its replacement's start now hangs in the hook. */
	assert_int_equal(poll(&(struct pollfd){hook_in[0], POLLIN, 0}, 1,
			      (int)(mpt_timeout(30) * 1000)), 1);
	assert_int_equal(read(hook_in[0], &c, 1), 1);
	kill(victim[1], SIGKILL);
	mpt_assert_rc(mp_async_result_get(r[1], mpt_timeout(10), NULL),
		      MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "killed by SIGKILL"));
	/* Let the starts go: the pool works again. */
	__atomic_store_n(&mp__pool_start_hook, NULL, __ATOMIC_RELEASE);
	assert_int_equal(write(hook_go[1], "gg", 2), 2);
	mpt_assert_ok(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
	assert_int_equal(*(int *)buf.data, 10);
	mp_bytes_destroy(&buf);
	mp_pool_free(p);
	for (int i = 0; i < 2; i++) {
		mp_async_result_free(r[i]);
		close(fds[i]);
		close(hook_in[i]);
		close(hook_go[i]);
	}
}

/* ---- timeouts ---- */

static int start_grandchild_and_hang(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t g = fork();

	(void)len;
	(void)out;
	if (g == 0) {
		for (;;)
			pause();
	}
	if (write(*(const int *)in, &g, sizeof(g)) != sizeof(g))
		return 1;
	for (;;)
		pause();
}

static void test_task_timeout_kills_group(void **state)
{
	mp_pool_t *p;
	mp_async_result_t *r;
	const mp_bytes_t *out;
	int fds[2], x = 3;
	pid_t g;
	double t0;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* before the workers fork */
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1, .task_timeout = 0.3});
	t0 = mpt_now();
	r = mp_pool_apply_async(p, start_grandchild_and_hang, &fds[1], sizeof(int), NULL);
	assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1, 30000), 1);
	assert_int_equal(read(fds[0], &g, sizeof(g)), sizeof(g));
	mpt_assert_rc(mp_async_result_get(r, mpt_timeout(30), &out), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.29);
	assert_true(mpt_now() - t0 < mpt_timeout(5));
	mp_async_result_free(r);
	/* The grandchild was in the worker's group: killed too. */
	assert_gone(g);
	/* A new worker took over. */
	mp_bytes_t buf;
	mpt_assert_ok(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
	assert_int_equal(*(int *)buf.data, 6);
	mp_bytes_destroy(&buf);
	close(fds[0]);
	close(fds[1]);
	mp_pool_free(p);
}

/* ---- worker lifecycle ---- */


/* {the worker's pid, its parent's}: who started it. */
static int worker_pid(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me[2] = {getpid(), getppid()};

	(void)in;
	(void)len;
	return mp_task_return(out, me, sizeof(me));
}

static void test_maxtasksperchild(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1,
						   .maxtasksperchild = 2});
	pid_t pids[10];
	mp_bytes_t buf;
	int distinct = 0;

	(void)state;
	for (int i = 0; i < 10; i++) {
		mpt_assert_ok(mp_pool_apply(p, worker_pid, NULL, 0, &buf));
		pids[i] = *(pid_t *)buf.data;
		mp_bytes_destroy(&buf);
	}
	for (int i = 0; i < 10; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= pids[j] == pids[i];
		distinct += !seen;
		if (i % 2 == 1)
			assert_int_equal(pids[i], pids[i - 1]); /* 2 tasks each */
	}
	assert_int_equal(distinct, 5);
	mp_pool_free(p);
}

static int init_value;

static void init_worker(void *arg)
{
	init_value = *(int *)arg;
}

static int read_init(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	return mp_task_return(out, &init_value, sizeof(init_value));
}

/* The initializer and its arg, a task and a map reach the workers of
 * every start method (forkserver and spawn workers find the functions by
 * (object, offset), the arg travels as initarg_len bytes). */
static void test_initializer(void **state)
{
	(void)state;
	for (size_t m = 0; m < 3; m++) {
		int v = 77;
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 2, .initializer = init_worker,
			.initarg = &v, .initarg_len = sizeof(v),
			.start_method = methods[m]});
		long in[50], out[50];
		mp_bytes_t buf;

		assert_non_null(p);
		v = 0; /* the workers got their copy at start */
		mpt_assert_ok(mp_pool_apply(p, read_init, NULL, 0, &buf));
		assert_int_equal(*(int *)buf.data, 77);
		mp_bytes_destroy(&buf);
		for (int i = 0; i < 50; i++)
			in[i] = i;
		mpt_assert_ok(mp_pool_map(p, square, in, 50, sizeof(long), out,
					  sizeof(long), NULL));
		for (int i = 0; i < 50; i++)
			assert_int_equal(out[i], (long)i * i);
		mp_pool_free(p);
	}
}

/* A start method that cannot serve the pool fails it with a reason. */
static void test_start_method_refused(void **state)
{
	int v = 1;

	(void)state;
	assert_null(mp_pool_new(&(mp_pool_opts_t){.processes = 1,
						  .start_method = "vfork"}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "cannot find context for 'vfork'"));
	assert_null(mp_pool_new(&(mp_pool_opts_t){
		.processes = 1, .initializer = init_worker, .initarg = &v,
		.start_method = "spawn"}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "opts->initarg_len is 0"));
	mp__forkserver_stop(); /* forkserver now fails: never a fallback */
	assert_null(mp_pool_new(&(mp_pool_opts_t){.processes = 1,
						  .start_method = "forkserver"}));
	assert_int_equal(mp_last_error_code(), -ENOTSUP);
	assert_non_null(strstr(mp_last_error(), "cannot start a worker"));
	assert_non_null(strstr(mp_last_error(), "'forkserver' needs mp_init()"));
}

static int sleep_long(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	(void)out;
	for (;;)
		pause();
	return 0;
}

static void test_close_join_terminate(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	mp_async_result_t *r[4];
	const mp_bytes_t *out;
	int x = 1;
	double t0;

	(void)state;
	mpt_assert_rc(mp_pool_join(p, 0), -EINVAL); /* not closed */
	for (int i = 0; i < 4; i++)
		r[i] = mp_pool_apply_async(p, sleep_long, NULL, 0, NULL);
	mpt_assert_rc(mp_async_result_successful(r[0]), -EINVAL);
	mpt_assert_rc(mp_async_result_get(r[0], 0.05, &out), -ETIMEDOUT);
	t0 = mpt_now();
	mpt_assert_ok(mp_pool_terminate(p));
	for (int i = 0; i < 4; i++) {
		mpt_assert_rc(mp_async_result_get(r[i], mpt_timeout(10), &out),
			      MP_ECANCELLED);
		mp_async_result_free(r[i]);
	}
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(10)));
	assert_true(mpt_now() - t0 < mpt_timeout(2));
	assert_null(mp_pool_apply_async(p, twice, &x, sizeof(x), NULL));
	assert_int_equal(mp_last_error_code(), MP_ECLOSED);
	mp_pool_free(p);
	/* Freed while tasks run, never closed: returns promptly. */
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	r[0] = mp_pool_apply_async(p, sleep_long, NULL, 0, NULL);
	mp_async_result_free(r[0]); /* freed when it completes */
	t0 = mpt_now();
	mp_pool_free(p);
	assert_true(mpt_now() - t0 < mpt_timeout(2));
	mp_pool_free(NULL);
	assert_null(mp_pool_new(&(mp_pool_opts_t){.task_timeout = -2}));
}

/* task_timeout: 0, MP_FOREVER, +inf and centuries all mean none; a tiny
 * one is still a timeout; NaN and other negatives are refused. */
static void test_task_timeout_values(void **state)
{
	static const double none[] = {0, MP_FOREVER, INFINITY, 1.8e10, 1e300};
	mp_async_result_t *r;
	const mp_bytes_t *out;
	mp_bytes_t buf;
	int x = 4;
	mp_pool_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		p = mp_pool_new(&(mp_pool_opts_t){.processes = 1,
						.task_timeout = none[i]});
		if (p == NULL)
			fail_msg("task_timeout %g: %s", none[i], mp_last_error());
		mpt_assert_ok(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
		assert_int_equal(*(int *)buf.data, 8);
		mp_bytes_destroy(&buf);
		mp_pool_free(p);
	}
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1, .task_timeout = 1e-12});
	assert_non_null(p);
	r = mp_pool_apply_async(p, sleep_long, NULL, 0, NULL);
	mpt_assert_rc(mp_async_result_get(r, mpt_timeout(10), &out),
		      -ETIMEDOUT);
	assert_int_equal(mp_async_result_ready(r), 1); /* the task's timeout */
	mp_async_result_free(r);
	mp_pool_free(p);
	assert_null(mp_pool_new(&(mp_pool_opts_t){.task_timeout = NAN}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_pool_new(&(mp_pool_opts_t){.task_timeout = -0.5}));
	assert_string_equal(mp_last_error(),
			    "mp_pool_new: opts->task_timeout -0.5 is invalid "
			    "(use seconds >= 0, or MP_FOREVER)");
}

/* ---- chaos: workers SIGKILLed at random while 1000 tasks run ---- */

struct chaos {
	_Atomic int *runs; /* shared: how often each task's function started */
	atomic_bool stop;
	int kills;
};

static _Atomic int *chaos_runs;

static int chaos_task(const void *in, size_t len, mp_task_out_t *out)
{
	int i;

	(void)len;
	memcpy(&i, in, sizeof(i));
	atomic_fetch_add(&chaos_runs[i], 1);
	poll(NULL, 0, 1);
	i *= 3;
	return mp_task_return(out, &i, sizeof(i));
}

/* The pids of this process's children (any thread's). */
static int list_children(pid_t *pids, int cap)
{
	char path[300], buf[4096];
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < cap) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL)
			for (char *t = strtok(buf, " \n"); t && n < cap; t = strtok(NULL, " \n"))
				pids[n++] = atoi(t);
		fclose(f);
	}
	closedir(d);
	return n;
}

static void *killer(void *arg)
{
	struct chaos *c = arg;
	unsigned seed = 12345;

	while (!atomic_load(&c->stop) && c->kills < 50) {
		pid_t pids[16];
		int n = list_children(pids, 16);

		poll(NULL, 0, 5);
		if (n > 0 && kill(pids[rand_r(&seed) % n], SIGKILL) == 0)
			c->kills++;
	}
	return NULL;
}

static void test_chaos_random_kills(void **state)
{
	enum { N = 1000 };
	mp_pool_t *p = NULL;
	mp_async_result_t *r[N];
	struct chaos c = {0};
	pthread_t t;
	int ok = 0, broken = 0;

	(void)state;
	chaos_runs = mmap(NULL, N * sizeof(int), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(chaos_runs != MAP_FAILED);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	for (int i = 0; i < N; i++)
		assert_non_null(r[i] = mp_pool_apply_async(p, chaos_task, &i, sizeof(i), NULL));
	assert_int_equal(pthread_create(&t, NULL, killer, &c), 0);
	for (int i = 0; i < N; i++) {
		const mp_bytes_t *out;
		int rc = mp_async_result_get(r[i], mpt_timeout(60), &out);

		if (rc == 0) {
			assert_int_equal(*(const int *)out->data, 3 * i);
			assert_int_equal(atomic_load(&chaos_runs[i]), 1);
			ok++;
		} else {
			assert_int_equal(rc, MP_EBROKEN);
			assert_non_null(strstr(mp_last_error(), "SIGKILL"));
			assert_true(atomic_load(&chaos_runs[i]) <= 1);
			broken++;
		}
		mp_async_result_free(r[i]);
	}
	atomic_store(&c.stop, true);
	pthread_join(t, NULL);
	/* Each kill fails at most the one task its worker was running. */
	print_message("chaos: %d kills, %d tasks broken\n", c.kills, broken);
	assert_true(c.kills > 0);
	assert_true(broken <= c.kills);
	assert_int_equal(ok + broken, N);
	/* No task ran twice, whatever happened. */
	for (int i = 0; i < N; i++)
		assert_true(atomic_load(&chaos_runs[i]) <= 1);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	munmap(chaos_runs, N * sizeof(int));
}

/* The worker's parent, and how many tasks of this kind its process ran
 * (this one included). */
static int worker_runs(const void *in, size_t len, mp_task_out_t *out)
{
	static int runs;
	pid_t me[2] = {getppid(), ++runs};

	(void)in;
	(void)len;
	return mp_task_return(out, me, sizeof(me));
}

/* One fresh worker per task, started (replacements too) by each start
 * method: each process runs one task (not told by distinct pids: over the
 * 700 workers, slow under valgrind, a busy machine's pids wrapped at
 * pid_max 32768 and a reaped worker's pid came back); every worker is our
 * child (a forkserver worker too: the server clones it with CLONE_PARENT). */
static void test_maxtasksperchild_one(void **state)
{
	enum { N = 500 };
	(void)state;
	for (size_t m = 0; m < 3; m++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 2, .maxtasksperchild = 1,
			.start_method = methods[m]});
		mp_async_result_t *r[N];
		pid_t parent = getpid();
		int n = m == 0 ? N : N / 5;

		assert_non_null(p);
		for (int i = 0; i < n; i++)
			assert_non_null(r[i] = mp_pool_apply_async(p, worker_runs, NULL, 0, NULL));
		for (int i = 0; i < n; i++) {
			const mp_bytes_t *out;
			pid_t got[2];

			mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(60), &out));
			memcpy(got, out->data, sizeof(got));
			assert_int_equal(got[0], parent);
			assert_int_equal(got[1], 1);
			mp_async_result_free(r[i]);
		}
		mpt_assert_ok(mp_pool_close(p));
		mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
		mp_pool_free(p);
	}
}

/* The worker's pid and process group. */
static int worker_pgid(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me[2] = {getpid(), getpgid(0)};

	(void)in;
	(void)len;
	return mp_task_return(out, me, sizeof(me));
}

/*
 * maxtasksperchild=1 closed with most tasks still pending: every task runs
 * once, each in a new worker that leads its own process group (a forkserver
 * worker does not wait for its setup report, and its inbox is the one the
 * worker before it left, T_STOP taken out), through each method.
 */
static void test_maxtasksperchild_one_close_pending(void **state)
{
	enum { N = 60 };
	(void)state;
	for (size_t m = 0; m < 3; m++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 2, .maxtasksperchild = 1,
			.start_method = methods[m]});
		mp_async_result_t *r[N];
		pid_t pids[N];
		int n = m == 2 ? N / 4 : N;

		assert_non_null(p);
		for (int i = 0; i < n; i++)
			assert_non_null(r[i] = mp_pool_apply_async(p, worker_pgid, NULL, 0, NULL));
		mpt_assert_ok(mp_pool_close(p));
		for (int i = 0; i < n; i++) {
			const mp_bytes_t *out;
			pid_t got[2];

			mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(60), &out));
			assert_int_equal(out->len, sizeof(got));
			memcpy(got, out->data, sizeof(got));
			pids[i] = got[0];
			assert_int_equal(got[1], got[0]);
			for (int j = 0; j < i; j++)
				assert_int_not_equal(pids[i], pids[j]);
			mp_async_result_free(r[i]);
		}
		mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
		mp_pool_free(p);
	}
}

/* ---- heirs: a forkserver worker with a task budget forks its successor ---- */

/* How many children we have besides the fork server. */
static int children_but_server(void)
{
	pid_t kids[16];
	int n = list_children(kids, 16), k = 0;

	for (int i = 0; i < n; i++)
		k += kids[i] != mp__forkserver_pid();
	return k;
}

static int heir_inits; /* the initializer's runs in this process */

static void count_init(void *arg)
{
	(void)arg;
	heir_inits++;
}

struct heir_report {
	pid_t pid, ppid;
	int inits, runs;
	char name[40];
};

/* Who ran the task: its pid, parent, name, and how many times its process
 * ran the initializer and a task (this one included). */
static int heir_report(const void *in, size_t len, mp_task_out_t *out)
{
	static int runs;
	struct heir_report r = {getpid(), getppid(), heir_inits, ++runs, ""};

	(void)in;
	(void)len;
	snprintf(r.name, sizeof(r.name), "%s",
		 mp_process_name(mp_current_process()));
	return mp_task_return(out, &r, sizeof(r));
}

/* Run n heir_report tasks on p; check each ran in a fresh process of ours
 * (one initializer run, one task, a name of its own among names[]). */
static void run_fresh(mp_pool_t *p, int n, char (*names)[40], int *nnames)
{
	mp_async_result_t *r[64];

	assert_true(n <= 64);
	for (int i = 0; i < n; i++)
		assert_non_null(r[i] = mp_pool_apply_async(p, heir_report, NULL, 0, NULL));
	for (int i = 0; i < n; i++) {
		const mp_bytes_t *out;
		struct heir_report got;

		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(60), &out));
		assert_int_equal(out->len, sizeof(got));
		memcpy(&got, out->data, sizeof(got));
		assert_int_equal(got.ppid, getpid());
		assert_int_equal(got.inits, 1);
		assert_int_equal(got.runs, 1);
		assert_int_equal(strncmp(got.name, "Process-", 8), 0);
		for (int k = 0; k < *nnames; k++)
			assert_string_not_equal(got.name, names[k]);
		memcpy(names[(*nnames)++], got.name, sizeof(got.name));
		mp_async_result_free(r[i]);
	}
}

/*
 * A forkserver pool with maxtasksperchild=1 takes each new worker from the
 * worker before it (its heir, forked before its initializer), not from the
 * fork server: with the server stopped, tasks still run, each in a fresh
 * process of ours that ran the initializer once and has a name of its own
 * (the process object the pool made for it).  Nothing is left after.
 */
static void test_heirs_take_over_without_the_server(void **state)
{
	enum { ROUNDS = 5, N = 40 };
	static char names[ROUNDS * N + 4][40];
	int nnames = 0;
	mp_pool_t *p;

	(void)state;
	p = mp_pool_new(&(mp_pool_opts_t){
		.processes = 2, .maxtasksperchild = 1,
		.start_method = "forkserver", .initializer = count_init});
	assert_non_null(p);
	run_fresh(p, 4, names, &nnames);
	mp__forkserver_stop(); /* from here on, no start through the server */
	for (int k = 0; k < ROUNDS; k++)
		run_fresh(p, N, names, &nnames);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	assert_int_equal(children_but_server(), 0); /* no heir left */
}

enum heir_end { HEIRS_CLOSE, HEIRS_TERMINATE, HEIRS_CRASH };

/* The heirs of a pool's workers end with it: closed, terminated with a
 * task running, or after a worker crashed (its heir is not taken: the
 * slot's next worker comes from the server). */
static void test_heirs_never_outlive_their_pool(void **state)
{
	static char names[64][40];

	(void)state;
	for (int end = HEIRS_CLOSE; end <= HEIRS_CRASH; end++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 2, .maxtasksperchild = 1,
			.start_method = "forkserver",
			.initializer = count_init});
		int nnames = 0;

		assert_non_null(p);
		run_fresh(p, 6, names, &nnames);
		if (end == HEIRS_CRASH) {
			mp_bytes_t buf = {0};

			assert_int_equal(mp_pool_apply(p, crash, "a", 1, &buf),
					 MP_EBROKEN);
			run_fresh(p, 6, names, &nnames);
		}
		if (end == HEIRS_TERMINATE) {
			mp_async_result_t *r = mp_pool_apply_async(p, sleep_long, NULL, 0, NULL);

			assert_non_null(r);
			mpt_assert_ok(mp_pool_terminate(p));
			mp_async_result_free(r);
		} else {
			mpt_assert_ok(mp_pool_close(p));
		}
		mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
		mp_pool_free(p);
		assert_int_equal(children_but_server(), 0);
	}
}

/* A program with a heir pool, SIGKILLed (--heir-victim): prints the pids
 * of its children (the server, workers, heirs), then waits. */
static int heir_victim(void)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
		.processes = 2, .maxtasksperchild = 1,
		.start_method = "forkserver"});
	pid_t kids[16];
	int n;

	if (p == NULL)
		return 1;
	for (int i = 0; i < 6; i++) {
		mp_bytes_t buf;

		if (mp_pool_apply(p, heir_report, NULL, 0, &buf) != 0)
			return 2;
		mp_bytes_destroy(&buf);
	}
	/* until both workers have forked their heirs */
	for (double end = mpt_now() + mpt_timeout(10);
	     __atomic_load_n(&p->slots[0].heir, __ATOMIC_ACQUIRE) == 0 ||
	     __atomic_load_n(&p->slots[1].heir, __ATOMIC_ACQUIRE) == 0;
	     poll(NULL, 0, 2))
		if (mpt_now() > end)
			return 3;
	n = list_children(kids, 16);
	for (int i = 0; i < n; i++)
		printf("%d\n", (int)kids[i]);
	printf("end\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* SIGKILL of a program leaves none of its pool's heirs (asleep, waiting
 * for a slot) running: they die with it (checked as their subreaper). */
static void test_heirs_die_with_killed_program(void **state)
{
	pid_t victim, kids[16];
	int out, n = 0;
	char line[32];
	FILE *f;

	(void)state;
	victim = mpt_victim("heir-victim", "--heir-victim", NULL, &out);
	assert_non_null(f = fdopen(out, "r"));
	while (fgets(line, sizeof(line), f) != NULL && strcmp(line, "end\n") != 0)
		if (n < 16)
			kids[n++] = atoi(line);
	fclose(f);
	assert_true(n >= 5); /* the server, 2 workers, their heirs */
	assert_int_equal(kill(victim, SIGKILL), 0);
	assert_int_equal(mpt_wait(victim), SIGKILL);
	/* Each comes to us, dead (one the victim had reaped is no child of
	 * ours: gone already, or a stranger with its pid, alive). */
	for (int i = 0; i < n; i++) {
		double end = mpt_now() + mpt_timeout(10);
		pid_t w;

		while ((w = waitpid(kids[i], NULL, WNOHANG)) != kids[i] &&
		       !(w < 0 && errno == ECHILD)) {
			assert_true(mpt_now() < end);
			poll(NULL, 0, 5);
		}
	}
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* What a worker leaves in stdout's buffer for its exit to write. */
enum { HELD_BYTES = 256 << 10 };

/* Its pid; and HELD_BYTES in stdout's buffer, which its exit writes
 * (fflush) into a pipe nobody reads yet: its exit waits there. */
static int pid_and_held_output(const void *in, size_t len, mp_task_out_t *out)
{
	static char block[4096], held[2 * HELD_BYTES];
	pid_t me = getpid();

	(void)in;
	(void)len;
	memset(block, 'x', sizeof(block));
	/* our buffer: glibc ignores the size with NULL */
	if (setvbuf(stdout, held, _IOFBF, sizeof(held)) != 0)
		return mp_task_fail(out, "setvbuf");
	for (size_t n = 0; n < HELD_BYTES; n += sizeof(block))
		if (fwrite(block, 1, sizeof(block), stdout) != sizeof(block))
			return mp_task_fail(out, "fwrite");
	return mp_task_return(out, &me, sizeof(me));
}

/* Read HELD_BYTES from fd: 0, or -1 (an error, EOF, or 30 s (scaled)
 * without a byte). */
static int read_held(int fd)
{
	static char buf[65536];
	size_t got = 0;

	while (got < HELD_BYTES) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, (int)(mpt_timeout(30) * 1000)) <= 0)
			return -1;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* How retiree_scenario ends its pool. */
enum retiree_end { END_CLOSE, END_TERMINATE, END_KILL_WORKERS, END_N };

/*
 * The scenario of test_retired_worker_replaced_while_it_exits, with stdout
 * on a pipe whose read end is rd (no asserts here): 0 or where it failed.
 * *pids: the first worker's and the second's.
 */
static int retiree_scenario(const char *method, enum retiree_end end, int rd,
			    pid_t pids[2])
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
		.processes = 1, .maxtasksperchild = 1, .start_method = method});
	mp_async_result_t *r;
	const mp_bytes_t *out;
	mp_proc_status_t st;
	int rc = 0;

	if (p == NULL)
		return 1;
	/* The first worker sends its result, then its exit blocks. */
	if ((r = mp_pool_apply_async(p, pid_and_held_output, NULL, 0, NULL)) == NULL ||
	    mp_async_result_get(r, mpt_timeout(60), &out) != 0 ||
	    out->len != sizeof(pid_t))
		rc = 2;
	else
		memcpy(&pids[0], out->data, sizeof(pid_t));
	mp_async_result_free(r);
	/* Its replacement runs the next task meanwhile. */
	if (rc == 0 &&
	    ((r = mp_pool_apply_async(p, worker_pid, NULL, 0, NULL)) == NULL ||
	     mp_async_result_get(r, mpt_timeout(20), &out) != 0 ||
	     out->len != 2 * sizeof(pid_t)))
		rc = 3;
	else if (rc == 0)
		memcpy(&pids[1], out->data, sizeof(pid_t));
	if (rc == 0)
		mp_async_result_free(r);
	/* ... while the first one still waits in its exit. */
	if (rc == 0 && (mp_proc_status(pids[0], &st) != 0 || st.state == 'Z'))
		rc = 4;
	if (end == END_TERMINATE) {
		/* The pool ends without waiting for it: it is killed. */
		if (mp_pool_terminate(p) != 0 || mp_pool_join(p, mpt_timeout(30)) != 0)
			rc = rc ? rc : 5;
	} else if (end == END_KILL_WORKERS) {
		/* The executor's kill_workers: signalled like the workers. */
		mp__pool_signal_workers(p, SIGKILL);
		if (mp_pool_join(p, mpt_timeout(30)) != 0)
			rc = rc ? rc : 8;
	} else if (rc == 0) {
		if (read_held(rd) != 0)
			rc = 6;
		else if (mp_pool_close(p) != 0 || mp_pool_join(p, mpt_timeout(30)) != 0)
			rc = 7;
	}
	mp_pool_free(p);
	return rc;
}

/*
 * maxtasksperchild=1: a worker that has sent its last result is replaced at
 * once, not when its exit is over (its address space's teardown, or here a
 * flush into a full pipe, which waits).  Whether the pool is closed once
 * that exit ends, or terminated or its workers killed (the executor's
 * kill_workers) while it waits, it reaps it: no zombie, no wait for it.
 * Each start method.
 */
static void test_retired_worker_replaced_while_it_exits(void **state)
{
	static const char *const ends[END_N] = {"closed", "terminated",
						"workers killed"};

	(void)state;
	for (size_t m = 0; m < 3; m++)
		for (int end = 0; end < END_N; end++) {
			pid_t pids[2] = {0, 0};
			int fds[2], saved, rc;

			assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
			fflush(stdout);
			saved = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
			assert_true(saved >= 0);
			assert_int_equal(dup2(fds[1], STDOUT_FILENO), STDOUT_FILENO);
			rc = retiree_scenario(methods[m], end, fds[0], pids);
			assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
			close(saved);
			close(fds[0]);
			close(fds[1]);
			if (rc != 0)
				fail_msg("%s, %s: step %d failed (%s)", methods[m],
					 ends[end], rc, mp_last_error());
			assert_int_not_equal(pids[0], pids[1]);
			assert_gone(pids[0]);
			assert_gone(pids[1]);
		}
}

/* Shared with the fork workers of test_preplaced_job_survives_death:
 * starts counts the workers' initializer calls, runs each task's runs. */
enum { PRE_N = 6, PRE_DIES = 2 };
struct preplaced {
	atomic_int starts, runs[PRE_N];
};
static struct preplaced *preplaced;
static mp_pool_t *preplaced_pool;
static atomic_int preplaced_seen; /* starts with a job already in the inbox */

/* The second worker started dies in its initializer: before it takes the
 * job put into its inbox before its start. */
static void die_once_at_start(void *arg)
{
	(void)arg;
	if (atomic_fetch_add(&preplaced->starts, 1) + 1 == PRE_DIES)
		_exit(9);
}

static int preplaced_run(const void *in, size_t len, mp_task_out_t *out)
{
	int i;

	(void)len;
	memcpy(&i, in, sizeof(i));
	atomic_fetch_add(&preplaced->runs[i], 1);
	i *= 2;
	return mp_task_return(out, &i, sizeof(i));
}

/* The starter thread, before each start: is the worker's job there yet? */
static void look_in_inbox(void)
{
	mp_pool_t *p = preplaced_pool;

	if (p != NULL && mp__ring_count(p->w[0].args.inbox) > 0)
		atomic_fetch_add(&preplaced_seen, 1);
}

/*
 * maxtasksperchild=1: a replacement worker gets the next pending job into
 * its inbox before it starts.  One of them dies at start before taking it:
 * the job runs once, in the next worker (also given it before its start),
 * and every task runs exactly once.
 */
static void test_preplaced_job_survives_death(void **state)
{
	mp_async_result_t *r[PRE_N];
	mp_pool_t *p;

	(void)state;
	preplaced = mmap(NULL, sizeof(*preplaced), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(preplaced != MAP_FAILED);
	p = mp_pool_new(&(mp_pool_opts_t){
		.processes = 1, .maxtasksperchild = 1, .start_method = "fork",
		.initializer = die_once_at_start});
	assert_non_null(p);
	preplaced_pool = p;
	__atomic_store_n(&mp__pool_start_hook, look_in_inbox, __ATOMIC_RELEASE);
	for (int i = 0; i < PRE_N; i++)
		assert_non_null(r[i] = mp_pool_apply_async(p, preplaced_run, &i,
							    sizeof(i), NULL));
	for (int i = 0; i < PRE_N; i++) {
		const mp_bytes_t *out;

		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(60), &out));
		assert_int_equal(out->len, sizeof(int));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_async_result_free(r[i]);
	}
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	__atomic_store_n(&mp__pool_start_hook, NULL, __ATOMIC_RELEASE);
	preplaced_pool = NULL;
	mp_pool_free(p);
	for (int i = 0; i < PRE_N; i++)
		assert_int_equal(atomic_load(&preplaced->runs[i]), 1);
	/* The first worker, PRE_N - 1 replacements and the one that died
	 * (and maybe one more, started before the close, with no job): every
	 * replacement for a job found it there before its start. */
	assert_in_range(atomic_load(&preplaced->starts), PRE_N + 1, PRE_N + 2);
	assert_int_equal(atomic_load(&preplaced_seen), PRE_N);
	munmap(preplaced, sizeof(*preplaced));
}

/* The threads the start hook ran on (one entry per start). */
enum { STARTER_N = 40 };
static pthread_t start_threads[4 * STARTER_N];
static atomic_int start_count;

static void note_start_thread(void)
{
	int k = atomic_fetch_add(&start_count, 1);

	if (k < 4 * STARTER_N)
		start_threads[k] = pthread_self();
}

/*
 * maxtasksperchild=1: a forkserver pool's supervisor makes the replacements'
 * starts itself (a request to the fork server: no hop to a starter thread
 * and back), a fork pool's starter thread makes them (a fork copies the
 * whole program); every task runs once, each in a new worker, either way.
 */
static void test_replacement_starter(void **state)
{
	(void)state;
	for (size_t m = 0; m < 2; m++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 2, .maxtasksperchild = 1,
			.start_method = methods[m]});
		mp_async_result_t *r[STARTER_N];
		pid_t pids[STARTER_N];
		int n, on_supervisor = 0;

		assert_non_null(p);
		atomic_store(&start_count, 0);
		__atomic_store_n(&mp__pool_start_hook, note_start_thread,
				 __ATOMIC_RELEASE);
		for (int i = 0; i < STARTER_N; i++)
			assert_non_null(r[i] = mp_pool_apply_async(p, worker_pid,
								    NULL, 0, NULL));
		for (int i = 0; i < STARTER_N; i++) {
			const mp_bytes_t *out;

			mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(60), &out));
			memcpy(&pids[i], out->data, sizeof(pids[i]));
			for (int j = 0; j < i; j++)
				assert_int_not_equal(pids[i], pids[j]);
			mp_async_result_free(r[i]);
		}
		mpt_assert_ok(mp_pool_close(p));
		mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
		__atomic_store_n(&mp__pool_start_hook, NULL, __ATOMIC_RELEASE);
		/* The first two workers are started by mp_pool_new, without
		 * the hook; each task after them needed a replacement. */
		n = atomic_load(&start_count);
		assert_in_range(n, STARTER_N - 2, 4 * STARTER_N);
		for (int k = 0; k < n; k++)
			on_supervisor += pthread_equal(start_threads[k], p->thread) != 0;
		assert_int_equal(on_supervisor, m == 1 ? n : 0);
		mp_pool_free(p);
	}
}

/* ---- stdio: a new worker never prints what its parent buffered ---- */

enum { STDIO_TASKS = 200 };

struct printer {
	atomic_bool stop;
	unsigned long n; /* fragments printed */
};

static void *print_fragments(void *arg)
{
	struct printer *pr = arg;

	while (!atomic_load_explicit(&pr->stop, memory_order_relaxed))
		printf("%lu,", pr->n++); /* no newline: it stays buffered */
	return NULL;
}

/* Print from a thread while the supervisor forks a new worker for every
 * task (maxtasksperchild = 1); *n: how many fragments were printed.
 * Returns 0 or a failure code (stdout is redirected: no asserts here). */
static int stdio_race(unsigned long *n)
{
	mp_async_result_t *r[STDIO_TASKS];
	struct printer pr = {.n = 0};
	pthread_t t;
	mp_pool_t *p;
	int rc = 0;

	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2, .maxtasksperchild = 1});
	if (p == NULL)
		return 1;
	if (pthread_create(&t, NULL, print_fragments, &pr) != 0) {
		mp_pool_free(p);
		return 2;
	}
	for (int i = 0; i < STDIO_TASKS; i++) {
		const mp_bytes_t *out;

		r[i] = mp_pool_apply_async(p, worker_pid, NULL, 0, NULL);
		if (r[i] == NULL)
			rc = 3;
		else if (mp_async_result_get(r[i], mpt_timeout(60), &out))
			rc = 4;
		mp_async_result_free(r[i]);
	}
	atomic_store(&pr.stop, true);
	pthread_join(t, NULL);
	if (mp_pool_close(p) != 0 || mp_pool_join(p, mpt_timeout(30)) != 0)
		rc = 5;
	mp_pool_free(p);
	*n = pr.n;
	return rc;
}

static void test_new_workers_never_print_parent_output(void **state)
{
	char path[] = "/tmp/mptest_stdio_XXXXXX", *buf, *at;
	unsigned long i, n = 0;
	struct stat st;
	int fd, saved, rc;

	(void)state;
#ifdef MPT_ASAN
	/* gcc 12's ASan allocator takes no lock around fork(): a worker
	 * forked while the printing thread is inside it waits forever on
	 * its first malloc (seen 1 run in 15, gdb: GetFromAllocator).
	 * glibc's malloc is fork-safe; the other builds run this test. */
	skip();
#endif
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	/* Our stdout goes to the file (the workers inherit it), then back. */
	fflush(stdout);
	saved = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	rc = stdio_race(&n);
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(rc, 0);
	/* The file holds exactly what we printed, once. */
	assert_int_equal(fstat(fd, &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	for (i = 0, at = buf; *at != '\0'; i++) {
		char *end;
		unsigned long v = strtoul(at, &end, 10);

		if (v != i || *end != ',') {
			char bad[24];

			snprintf(bad, sizeof(bad), "%s", at);
			free(buf);
			fail_msg("fragment %lu is '%s' (%lu printed, %lld bytes)",
				 i, bad, n, (long long)st.st_size);
		}
		at = end + 1;
	}
	free(buf);
	assert_int_equal(i, n);
}

static void exit_3(void *arg)
{
	(void)arg;
	_exit(3);
}

static void test_initializer_failure_breaks_pool(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2,
						     .initializer = exit_3});
	static long in[8], out[8];
	int x = 1;

	(void)state;
	assert_non_null(p);
	/* No hang: the map fails once the workers keep dying at start. */
	mpt_assert_rc(mp_pool_map(p, square, in, 8, sizeof(long), out, sizeof(long),
				  NULL), MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "initializer"));
	if (strstr(mp_last_error(), "exited with status 3") == NULL)
		fail_msg("unexpected: %s", mp_last_error());
	assert_null(mp_pool_apply_async(p, twice, &x, sizeof(x), NULL));
	assert_int_equal(mp_last_error_code(), MP_EBROKEN);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
}

/* ---- sizes that wrap, and messages naming what the caller called ---- */

/* In a child (the old code crashed in the caller): maps whose n * size
 * wraps are refused before anything is read or sent. */
static int map_wrapping_sizes(void *arg)
{
	static long in[4] = {3}, out[4];
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_async_result_t *r;
	int rc;

	(void)arg;
	mpt_crash_signals_default();
	if (p == NULL)
		return 99;
	rc = mp_pool_map(p, square, in, SIZE_MAX / 8 + 2, 8, out, 8, NULL);
	if (rc != -EINVAL || strstr(mp_last_error(), "mp_pool_map: n ") == NULL) {
		rc = 1;
		goto out;
	}
	rc = mp_pool_map(p, square, in, 2, 8, out, SIZE_MAX / 2 + 1, NULL);
	if (rc != -EINVAL) {
		rc = 2;
		goto out;
	}
	r = mp_pool_map_async(p, square, in, (size_t)1 << 61, 8, out, 8, NULL);
	if (r != NULL) {
		mp_async_result_free(r);
		rc = 3;
		goto out;
	}
	if (mp_last_error_code() != -EINVAL ||
	    strstr(mp_last_error(), "mp_pool_map_async: n ") == NULL) {
		rc = 4;
		goto out;
	}
	/* The pool still maps. */
	rc = mp_pool_map(p, square, in, 4, 8, out, 8, NULL) != 0 || out[0] != 9
		     ? 5 : 0;
out:
	mp_pool_free(p);
	return rc;
}

static void test_map_sizes_that_wrap(void **state)
{
	(void)state;
	assert_int_equal(mpt_exit_code(mpt_fork(map_wrapping_sizes, NULL)), 0);
}

/* A task returning more than any buffer can hold: the old code doubled a
 * size that wrapped to 0 forever. */
static int return_huge(const void *in, size_t len, mp_task_out_t *out)
{
	int rc;

	(void)len;
	rc = mp_task_return(out, in, ((size_t)1 << 63) + 1);
	return mp_task_fail(out, "rc=%d %s", rc, mp_last_error());
}

static void test_task_return_huge_len(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_async_result_t *r;

	(void)state;
	assert_non_null(p);
	r = mp_pool_apply_async(p, return_huge, "x", 1, NULL);
	assert_non_null(r);
	mpt_assert_rc(mp_async_result_get(r, mpt_timeout(10), NULL),
		      MP_ETASK);
	assert_non_null(strstr(mp_last_error(), "rc=-90 mp_task_return: len"));
	mp_async_result_free(r);
	mp_pool_free(p);
}

static void test_apply_sizes_and_messages(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_bytes_t buf;

	(void)state;
	assert_non_null(p);
	assert_null(mp_pool_apply_async(p, twice, "x", SIZE_MAX, NULL));
	assert_int_equal(mp_last_error_code(), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "mp_pool_apply_async: in_len"));
	mpt_assert_rc(mp_pool_apply(p, twice, "x", MP_TASK_MAX_BYTES + 1, &buf), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "mp_pool_apply: in_len"));
	mpt_assert_rc(mp_pool_apply(p, twice, NULL, 4, &buf), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_pool_apply: argument 'in'"));
	assert_null(mp_pool_apply_async(p, twice, NULL, 4, NULL));
	assert_non_null(strstr(mp_last_error(), "mp_pool_apply_async: argument"));
	mpt_assert_rc(mp_pool_apply(NULL, twice, "x", 1, &buf), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_pool_apply: argument 'pool'"));
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_rc(mp_pool_apply(p, twice, "x", 1, &buf), MP_ECLOSED);
	assert_string_equal(mp_last_error(), "mp_pool_apply: Pool not running");
	mp_pool_free(p);
}

static char huge_item;

/* One item claiming SIZE_MAX bytes (or NULL with a length). */
static int gen_huge(void *arg, const void **in, size_t *len)
{
	*in = arg ? NULL : &huge_item;
	*len = arg ? 5 : SIZE_MAX;
	return 1;
}

static int imap_huge_item(void *arg)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_imap_t *it;
	const mp_bytes_t *out;
	int rc = 0;

	(void)arg;
	mpt_crash_signals_default();
	if (p == NULL || (it = mp_pool_imap(p, twice, gen_huge, NULL, NULL)) == NULL)
		return 99;
	if (mp_imap_next(it, mpt_timeout(10), &out, NULL) != -EMSGSIZE ||
	    strstr(mp_last_error(), "mp_imap_next: item 0 of") == NULL)
		rc = 1;
	mp_imap_free(it);
	if (rc == 0 &&
	    (it = mp_pool_imap(p, twice, gen_huge, (void *)1, NULL)) != NULL) {
		if (mp_imap_next(it, mpt_timeout(10), &out, NULL) != -EINVAL ||
		    strstr(mp_last_error(), "mp_imap_next: the input function "
					    "gave NULL with a length of 5") == NULL)
			rc = 2;
		mp_imap_free(it);
	}
	mp_pool_free(p);
	return rc;
}

static void test_imap_item_too_large(void **state)
{
	(void)state;
	assert_int_equal(mpt_exit_code(mpt_fork(imap_huge_item, NULL)), 0);
}

/* ---- a worker that cannot be started ---- */

/* Allocations fail in every thread but the test's once oom_others is set:
 * the supervisor can no longer start a worker. */
static atomic_bool oom_others;
static pthread_t oom_main;

static bool oom_now(void)
{
	return atomic_load(&oom_others) &&
	       !pthread_equal(pthread_self(), oom_main);
}

static void *oom_malloc(size_t n)
{
	return oom_now() ? NULL : malloc(n);
}

static void *oom_realloc(void *p, size_t n)
{
	return oom_now() ? NULL : realloc(p, n);
}

static void *oom_calloc(size_t n, size_t size)
{
	return oom_now() ? NULL : calloc(n, size);
}

/* In a child (its allocator is replaced): 0 if a pool whose only worker
 * died and cannot be replaced fails the next task with MP_EBROKEN naming
 * why, instead of keeping it queued for ever (and prints nothing). */
static int no_worker_can_start(void *arg)
{
	int x = 21, rc;
	mp_pool_t *p;
	mp_bytes_t buf;
	double t0;

	(void)arg;
	oom_main = pthread_self();
	if (mp_replace_allocator(oom_malloc, oom_realloc, oom_calloc, free) < 0)
		return 10;
	if ((p = mp_pool_new(&(mp_pool_opts_t){.processes = 1})) == NULL)
		return 11;
	if (mp_pool_apply(p, twice, &x, sizeof(x), &buf) != 0)
		return 12;
	mp_bytes_destroy(&buf);
	atomic_store(&oom_others, true);
	if (mp_pool_apply(p, crash, "x", 1, &buf) != MP_EBROKEN)
		return 13;
	t0 = mpt_now();
	rc = mp_pool_apply(p, twice, &x, sizeof(x), &buf);
	if (rc != MP_EBROKEN)
		return 14;
	if (mpt_now() - t0 > mpt_timeout(30))
		return 15;
	/* Broken now: refused at once, saying why (the supervisor could not
	 * even copy that message into the failed task). */
	if (mp_pool_apply(p, twice, &x, sizeof(x), &buf) != MP_EBROKEN)
		return 16;
	if (strstr(mp_last_error(), "no worker can be started") == NULL) {
		fprintf(stderr, "no_worker_can_start: %s\n", mp_last_error());
		return 17;
	}
	atomic_store(&oom_others, false);
	mp_pool_free(p);
	return 0;
}

static void test_no_worker_can_start(void **state)
{
	int fds[2], st;
	pid_t pid;
	char err[512];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* its stderr is the pipe */
		dup2(fds[1], STDERR_FILENO);
		_exit(no_worker_can_start(NULL));
	}
	close(fds[1]);
	st = mpt_wait(pid);
	n = read(fds[0], err, sizeof(err) - 1);
	close(fds[0]);
	err[n > 0 ? n : 0] = '\0';
	if (n != 0)
		print_error("printed: %s\n", err);
	assert_int_equal(n, 0); /* the library printed nothing */
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- exit with a live pool ---- */

/* The helper (this program re-executed with --exit-with-live-pool): a
 * program that returns from main with a pool it never freed.  Kept in
 * a global so that LeakSanitizer sees it reachable. */
static mp_pool_t *live_pool;

static int exit_with_live_pool(void)
{
	int x = 1;

	live_pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4});
	if (live_pool == NULL)
		return 1;
	for (int i = 0; i < 4; i++) {
		mp_bytes_t buf;

		if (mp_pool_apply(live_pool, twice, &x, sizeof(x), &buf) != 0)
			return 2;
		mp_bytes_destroy(&buf);
	}
	return 0; /* from main: exit() runs with the pool alive */
}

static void test_exit_with_live_pool(void **state)
{
	(void)state;
	mpt_exit_trials("--exit-with-live-pool", MPT_EXIT_TRIALS);
}

/* ---- without pidfds (MP_NO_PIDFD=1: old kernels, valgrind 3.19) ---- */

static void test_without_pidfd(void **state)
{
	static const char *const only[] = {
		"test_apply_and_apply_async",
		"test_crash_fails_only_its_task",
		"test_task_timeout_kills_group",
		"test_maxtasksperchild",
		"test_replacement_starter",
		"test_initializer_failure_breaks_pool",
		"test_close_join_terminate",
		"test_exit_with_live_pool",
		NULL};

	(void)state;
	mpt_rerun("MP_NO_PIDFD=1", only);
}

/* ---- the shapes of issue 12: bytes, wait, messages ---- */

/* Returns its input. */
static int echo(const void *in, size_t len, mp_task_out_t *out)
{
	return mp_task_return(out, in, len);
}

static size_t echo_items_left;
static char echo_item[3] = "ab";

static int next_echo(void *arg, const void **in, size_t *len)
{
	(void)arg;
	if (echo_items_left == 0)
		return 0;
	echo_items_left--;
	*in = echo_item;
	*len = 2;
	return 1;
}

/* mp_pool_apply hands out owned bytes, NUL-terminated; get and imap_next
 * lend the result's own mp_bytes_t. */
static void test_returned_bytes(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	const mp_bytes_t *b;
	mp_async_result_t *r;
	mp_bytes_t own = {(char *)"junk", 4};
	mp_imap_t *it;
	size_t idx;

	(void)state;
	assert_non_null(p);
	mpt_assert_ok(mp_pool_apply(p, echo, "abc", 3, &own));
	assert_int_equal(own.len, 3);
	assert_string_equal(own.data, "abc"); /* the NUL is there */
	mp_bytes_destroy(&own);
	assert_null(own.data);
	mp_bytes_destroy(&own); /* harmless */
	mpt_assert_ok(mp_pool_apply(p, echo, NULL, 0, &own));
	assert_int_equal(own.len, 0);
	assert_string_equal(own.data, "");
	mp_bytes_destroy(&own);
	/* A failure leaves *out empty. */
	own = (mp_bytes_t){(char *)"junk", 4};
	mpt_assert_rc(mp_pool_apply(p, twice, "abc", 3, &own), MP_ETASK);
	assert_null(own.data);
	assert_int_equal(own.len, 0);
	r = mp_pool_apply_async(p, echo, "hello", 5, NULL);
	assert_non_null(r);
	mpt_assert_ok(mp_async_result_get(r, mpt_timeout(10), &b));
	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "hello", 5);
	/* The same bytes again: they belong to r. */
	mpt_assert_ok(mp_async_result_get(r, 0, &b));
	assert_memory_equal(b->data, "hello", 5);
	mpt_assert_ok(mp_async_result_get(r, 0, NULL));
	mp_async_result_free(r);
	echo_items_left = 3;
	it = mp_pool_imap(p, echo, next_echo, NULL, NULL);
	assert_non_null(it);
	for (size_t i = 0; i < 3; i++) {
		mpt_assert_ok(mp_imap_next(it, mpt_timeout(10), &b, &idx));
		assert_int_equal(idx, i);
		assert_int_equal(b->len, 2);
		assert_memory_equal(b->data, "ab", 2);
	}
	mpt_assert_rc(mp_imap_next(it, mpt_timeout(10), &b, NULL), MP_EEOF);
	mp_imap_free(it);
	mp_pool_free(p);
}

/* Returns its input with each byte plus one, or fails (empty input) with
 * a message. */
static int echo_plus_one(const void *in, size_t len, mp_task_out_t *out)
{
	unsigned char *b = malloc(len + 1);
	int rc;

	if (len == 0 || b == NULL) {
		free(b);
		return mp_task_fail(out, "nothing to echo");
	}
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(((const unsigned char *)in)[i] + 1);
	rc = mp_task_return(out, b, len);
	free(b);
	return rc;
}

static const size_t payload_sizes[] = {1, 255, 256, 257, 511, 512, 513, 1000,
				       1023, 1024, 1025, 3000, 70000, 3, 0, 9};

/* The items of payload_sizes, filled as the apply loop below fills them. */
static int next_payload(void *arg, const void **in, size_t *len)
{
	static unsigned char buf[70000];
	size_t *at = arg, n;

	if (*at == sizeof(payload_sizes) / sizeof(payload_sizes[0]))
		return 0;
	n = payload_sizes[(*at)++];
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + n);
	*in = buf;
	*len = n;
	return 1;
}

/* Is b the answer of echo_plus_one to the item of n bytes? */
static bool echoed_plus_one(const mp_bytes_t *b, size_t n)
{
	if (b->len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)b->data[i] != (unsigned char)(i * 7 + n + 1))
			return false;
	return true;
}

/* A worker's first buffers are on its stack (worker.c's FIRST_*): inputs
 * and results across their sizes, one after another in one worker (which
 * moves to the heap and keeps going) and each in a fresh one, come back
 * whole; a failure's message after a big result too; the same as the
 * items of chunks, whose results grow one record. */
static void test_payloads_outgrow_first_buffers(void **state)
{
	const size_t *sizes = payload_sizes;
	const size_t nsizes = sizeof(payload_sizes) / sizeof(payload_sizes[0]);
	static const struct {
		const char *method;
		unsigned maxtasks;
	} pools[] = {{"fork", 0}, {"forkserver", 0}, {"forkserver", 1}};
	unsigned char *in = malloc(70000);

	(void)state;
	assert_non_null(in);
	for (size_t k = 0; k < sizeof(pools) / sizeof(pools[0]); k++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){
			.processes = 1, .start_method = pools[k].method,
			.maxtasksperchild = pools[k].maxtasks});

		assert_non_null(p);
		for (size_t s = 0; s < nsizes; s++) {
			mp_bytes_t got = {0};
			size_t n = sizes[s];

			for (size_t i = 0; i < n; i++)
				in[i] = (unsigned char)(i * 7 + n);
			if (n == 0) {
				mpt_assert_rc(mp_pool_apply(p, echo_plus_one, in,
							    0, &got), MP_ETASK);
				assert_non_null(strstr(mp_last_error(),
						       "nothing to echo"));
				continue;
			}
			mpt_assert_ok(mp_pool_apply(p, echo_plus_one, in, n, &got));
			assert_int_equal(got.len, n);
			if (!echoed_plus_one(&got, n))
				fail_msg("%s/%u: the echo of %zu bytes differs",
					 pools[k].method, pools[k].maxtasks, n);
			mp_bytes_destroy(&got);
		}
		for (size_t chunk = 1; chunk <= nsizes; chunk *= 4) {
			size_t at = 0, idx;
			const mp_bytes_t *b;
			mp_imap_t *it = mp_pool_imap(
				p, echo_plus_one, next_payload, &at,
				&(mp_imap_opts_t){.chunksize = chunk});

			assert_non_null(it);
			for (size_t s = 0; s < nsizes; s++) {
				int rc = mp_imap_next(it, mpt_timeout(20), &b, &idx);

				assert_int_equal(idx, s);
				if (sizes[s] == 0) {
					mpt_assert_rc(rc, MP_ETASK);
					continue;
				}
				mpt_assert_ok(rc);
				if (!echoed_plus_one(b, sizes[s]))
					fail_msg("%s/%u: chunks of %zu: item %zu "
						 "(%zu bytes) differs",
						 pools[k].method,
						 pools[k].maxtasks, chunk, s,
						 sizes[s]);
			}
			mpt_assert_rc(mp_imap_next(it, mpt_timeout(20), &b, NULL),
				      MP_EEOF);
			mp_imap_free(it);
		}
		mp_pool_free(p);
	}
	free(in);
}

/* mp_async_result_wait: 0 once ready, -ETIMEDOUT before (it returned 1 / 0). */
static void test_async_result_wait_codes(void **state)
{
	mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	mp_async_result_t *slow, *quick;
	int x = 3;

	(void)state;
	assert_non_null(p);
	slow = mp_pool_apply_async(p, sleep_long, NULL, 0, NULL);
	assert_non_null(slow);
	mpt_assert_rc(mp_async_result_wait(slow, 0), -ETIMEDOUT);
	assert_non_null(strstr(mp_last_error(), "mp_async_result_wait: "));
	mpt_assert_rc(mp_async_result_wait(slow, 0.01), -ETIMEDOUT);
	mpt_assert_rc(mp_async_result_wait(slow, -2), -EINVAL);
	mpt_assert_rc(mp_async_result_wait(NULL, 0), -EINVAL);
	mpt_assert_ok(mp_pool_terminate(p));
	/* Ready (cancelled) is still "it happened". */
	mpt_assert_ok(mp_async_result_wait(slow, mpt_timeout(10)));
	mp_async_result_free(slow);
	mp_pool_free(p);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	quick = mp_pool_apply_async(p, twice, &x, sizeof(x), NULL);
	mpt_assert_ok(mp_async_result_wait(quick, mpt_timeout(10)));
	mpt_assert_ok(mp_async_result_wait(quick, 0));
	mp_async_result_free(quick);
	mp_pool_free(p);
}

static void progress_count(size_t done, size_t total, void *arg)
{
	(void)done;
	(void)total;
	atomic_fetch_add((atomic_int *)arg, 1);
}

#define assert_last_error_kept(msg)                                           \
	do {                                                                  \
		assert_string_equal(mp_last_error(), (msg));                  \
		assert_int_equal(mp_last_error_code(), -EINVAL);              \
	} while (0)

/*
 * A public call that succeeds leaves mp_last_error() as it was: the
 * message of an earlier failure survives apply, map, imap and the rest,
 * also when dispatch finds the inboxes full (8 KiB inputs, one worker).
 */
static void test_success_keeps_last_error(void **state)
{
	enum { N = 300, BIG = 8192 };
	static char big[BIG];
	static long in[1000], out[1000];
	mp_async_result_t *r[N], *m;
	const mp_bytes_t *b;
	char msg[256];
	atomic_int calls = 0;
	mp_bytes_t own;
	mp_pool_t *p;
	mp_imap_t *it;
	size_t idx;

	(void)state;
	for (int i = 0; i < 1000; i++)
		in[i] = i;
	mpt_assert_rc(mp_pool_join(NULL, 0), -EINVAL);
	snprintf(msg, sizeof(msg), "%s", mp_last_error());
	assert_non_null(strstr(msg, "mp_pool_join: "));
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	assert_last_error_kept(msg);
	for (int i = 0; i < N; i++)
		assert_non_null(r[i] = mp_pool_apply_async(p, echo, big, BIG,
							   NULL));
	for (int i = 0; i < N; i++) {
		mpt_assert_ok(mp_async_result_wait(r[i], mpt_timeout(30)));
		mpt_assert_ok(mp_async_result_get(r[i], 0, &b));
		assert_int_equal(b->len, BIG);
		assert_int_equal(mp_async_result_ready(r[i]), 1);
		assert_int_equal(mp_async_result_successful(r[i]), 1);
		mp_async_result_free(r[i]);
	}
	assert_last_error_kept(msg);
	mpt_assert_ok(mp_pool_apply(p, echo, big, BIG, &own));
	mp_bytes_destroy(&own);
	mpt_assert_ok(mp_pool_map(p, square, in, 1000, sizeof(long), out,
				  sizeof(long),
				  &(mp_map_opts_t){.chunksize = 1,
						   .progress = progress_count,
						   .arg = &calls}));
	assert_int_equal(out[999], 999L * 999);
	assert_int_equal(atomic_load(&calls), 1000);
	m = mp_pool_map_async(p, square, in, 1000, sizeof(long), out,
			      sizeof(long), NULL);
	assert_non_null(m);
	mpt_assert_ok(mp_async_result_get(m, mpt_timeout(30), &b));
	assert_int_equal(b->len, 0);
	mp_async_result_free(m);
	assert_last_error_kept(msg);
	echo_items_left = 500;
	it = mp_pool_imap(p, echo, next_echo, NULL,
			  &(mp_imap_opts_t){.window = 8});
	assert_non_null(it);
	for (int i = 0; i < 500; i++)
		mpt_assert_ok(mp_imap_next(it, mpt_timeout(30), &b, &idx));
	assert_last_error_kept(msg);
	mp_imap_free(it);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	assert_last_error_kept(msg);
}

/* ---- no job waits behind a long task while a worker idles ---- */

static _Atomic int *runs; /* shared with the workers (mmap before the pool) */

static int count_run(const void *in, size_t len, mp_task_out_t *out)
{
	atomic_fetch_add(&runs[*(const int *)in], 1);
	return mp_task_return(out, in, len);
}

/* Runs until a byte arrives on the pipe (at most 60 s). */
static int run_until_released(const void *in, size_t len, mp_task_out_t *out)
{
	struct pollfd pfd = {*(const int *)in, POLLIN, 0};
	char c;

	(void)len;
	(void)out;
	if (poll(&pfd, 1, 60000) != 1 || read(pfd.fd, &c, 1) != 1)
		return 1;
	return 0;
}

static void test_no_wait_behind_long_task(void **state)
{
	enum { N = 200, WARM = 200 };
	mp_async_result_t *r[N], *lng;
	const mp_bytes_t *out;
	mp_pool_t *p;
	int fds[2];

	(void)state;
	runs = mmap(NULL, (N + 1) * sizeof(*runs), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(runs != MAP_FAILED);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	assert_non_null(p);
	/* Tiny tasks first: the pool learns they are short and queues many
	 * per worker. */
	for (int i = 0; i < WARM; i++)
		r[i % N] = mp_pool_apply_async(p, count_run, &(int){N},
					       sizeof(int), NULL);
	for (int i = 0; i < N && i < WARM; i++) {
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		mp_async_result_free(r[i]);
	}
	/* One long task, then short ones at once: some are handed to the
	 * long task's worker before it is known to be long. */
	lng = mp_pool_apply_async(p, run_until_released, &fds[0], sizeof(int),
				  NULL);
	assert_non_null(lng);
	for (int i = 0; i < N; i++) {
		r[i] = mp_pool_apply_async(p, count_run, &i, sizeof(i), NULL);
		assert_non_null(r[i]);
	}
	/* Every short one ends while the long one still runs (it cannot
	 * end before the test writes the pipe). */
	for (int i = 0; i < N; i++) {
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(20), &out));
		assert_int_equal(*(const int *)out->data, i);
		assert_int_equal(atomic_load(&runs[i]), 1); /* exactly once */
		mp_async_result_free(r[i]);
	}
	assert_int_equal(mp_async_result_ready(lng), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	mpt_assert_ok(mp_async_result_get(lng, mpt_timeout(30), &out));
	mp_async_result_free(lng);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&runs[i]), 1);
	assert_int_equal(atomic_load(&runs[N]), WARM);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	close(fds[0]);
	close(fds[1]);
	munmap(runs, (N + 1) * sizeof(*runs));
}

/* ---- one worker: its next job waits in its inbox behind a long task ---- */

/* in: {report fd, gate fd}.  Runs 2 LONG_NS (long for the engine: its
 * work, not a wait for the test), reports its pid, then runs until a byte
 * arrives on the gate (at most 60 s). */
static int long_then_gated(const void *in, size_t len, mp_task_out_t *out)
{
	struct timespec t = {0, 2 * LONG_NS};
	int fd[2];
	pid_t me = getpid();

	(void)len;
	memcpy(fd, in, sizeof(fd));
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
	if (write(fd[0], &me, sizeof(me)) != sizeof(me))
		return 1;
	if (poll(&(struct pollfd){fd[1], POLLIN, 0}, 1, 60000) != 1)
		return 1;
	return mp_task_return(out, &me, sizeof(me));
}

/* Wait (bounded) until job r is in worker 0's inbox: 1 if it got there. */
static int in_inbox(mp_pool_t *p, mp_async_result_t *r)
{
	double t0 = mpt_now();

	for (;;) {
		int in;

		mp__pool_lock(p);
		in = r->job.state == J_RUNNING &&
		     mp__ring_count(p->w[0].args.inbox) == 1;
		mp__pool_unlock(p);
		if (in || mpt_now() - t0 > mpt_timeout(10))
			return in;
		poll(NULL, 0, 1);
	}
}

/*
 * One worker: the next job goes into its inbox while a task known to be
 * long runs (no other worker could start it sooner), so the worker starts
 * it as it ends that task.  A job there can still be killed (read back out
 * of the inbox, the task untouched), and when the worker dies the task it
 * had started fails and the queued job runs once, on the replacement.
 */
static void test_one_worker_queues_behind_long_task(void **state)
{
	mp_async_result_t *lng, *first, *next;
	const mp_bytes_t *out;
	int rep[2], gate[2], in[2];
	pid_t pid;
	mp_pool_t *p;

	(void)state;
	runs = mmap(NULL, 2 * sizeof(*runs), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(runs != MAP_FAILED);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0); /* before the worker */
	assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	in[0] = rep[1];
	in[1] = gate[0];
	lng = mp_pool_apply_async(p, long_then_gated, in, sizeof(in), NULL);
	assert_non_null(lng);
	assert_int_equal(poll(&(struct pollfd){rep[0], POLLIN, 0}, 1, 30000), 1);
	assert_int_equal(read(rep[0], &pid, sizeof(pid)), sizeof(pid));
	/* It has run for long: the next job still goes into the inbox. */
	first = mp_pool_apply_async(p, count_run, &(int){0}, sizeof(int), NULL);
	assert_non_null(first);
	assert_int_equal(in_inbox(p, first), 1);
	/* Killed there: read back out, no worker dies. */
	assert_int_equal(mp_async_result_kill(first), 1);
	mpt_assert_rc(mp_async_result_get(first, mpt_timeout(30), &out),
		      MP_ECANCELLED);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(mp_async_result_ready(lng), 0);
	next = mp_pool_apply_async(p, count_run, &(int){1}, sizeof(int), NULL);
	assert_non_null(next);
	assert_int_equal(in_inbox(p, next), 1);
	/* The worker dies: its task fails, the queued job runs once. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	mpt_assert_rc(mp_async_result_get(lng, mpt_timeout(30), &out),
		      MP_EBROKEN);
	mpt_assert_ok(mp_async_result_get(next, mpt_timeout(30), &out));
	assert_int_equal(*(const int *)out->data, 1);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	assert_int_equal(atomic_load(&runs[0]), 0);
	assert_int_equal(atomic_load(&runs[1]), 1);
	mp_async_result_free(lng);
	mp_async_result_free(first);
	mp_async_result_free(next);
	mp_pool_free(p);
	for (int i = 0; i < 2; i++) {
		close(rep[i]);
		close(gate[i]);
	}
	munmap(runs, 2 * sizeof(*runs));
}

/* ---- kill one task ---- */

static void test_async_result_kill(void **state)
{
	enum { N = 10 };
	mp_async_result_t *hang, *r[N], *m;
	const mp_bytes_t *out;
	pid_t pids[2];
	long in[4] = {1, 2, 3, 4}, sq[4];
	int fds[2];
	mp_pool_t *p;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* before the workers fork */
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	for (int i = 0; i < 100; i++) { /* short tasks: many queue per worker */
		mp_bytes_t b;
		mpt_assert_ok(mp_pool_apply(p, twice, &i, sizeof(i), &b));
		mp_bytes_destroy(&b);
	}
	hang = mp_pool_apply_async(p, report_pids_and_hang, &fds[1],
				   sizeof(int), NULL);
	for (int i = 0; i < N; i++)
		r[i] = mp_pool_apply_async(p, twice, &i, sizeof(i), NULL);
	/* Once the hanging task runs (its worker takes nothing more), ones
	 * not started (pending or queued in the inbox): cancelled, and the
	 * running one is untouched.  (Killed before, a job the worker was
	 * taking meanwhile may run first: test_kill_racing_the_result.) */
	assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1, 30000), 1);
	assert_int_equal(read(fds[0], pids, sizeof(pids)), sizeof(pids));
	assert_int_equal(mp_async_result_kill(r[3]), 1);
	mpt_assert_rc(mp_async_result_get(r[3], mpt_timeout(30), &out),
		      MP_ECANCELLED);
	assert_int_equal(mp_async_result_kill(r[5]), 1);
	mpt_assert_rc(mp_async_result_get(r[5], mpt_timeout(30), &out),
		      MP_ECANCELLED);
	assert_int_equal(mp_async_result_ready(hang), 0);
	assert_int_equal(kill(pids[0], 0), 0);
	/* The running one: its worker and the grandchild die. */
	assert_int_equal(mp_async_result_kill(hang), 1);
	assert_int_equal(mp_async_result_kill(hang), 1);
	mpt_assert_rc(mp_async_result_get(hang, mpt_timeout(30), &out),
		      MP_ECANCELLED);
	assert_string_equal(mp_last_error(),
			    "mp_async_result_get: the task was killed");
	assert_int_equal(mp_async_result_successful(hang), 0);
	assert_gone(pids[0]);
	assert_gone(pids[1]);
	/* The others run on the new worker, once each. */
	for (int i = 0; i < N; i++) {
		if (i == 3 || i == 5)
			continue;
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		assert_int_equal(mp_async_result_kill(r[i]), 0); /* ended */
	}
	for (int i = 0; i < N; i++)
		mp_async_result_free(r[i]);
	assert_int_equal(mp_async_result_kill(hang), 1); /* killed already */
	mp_async_result_free(hang);
	mpt_assert_rc(mp_async_result_kill(NULL), -EINVAL);
	m = mp_pool_map_async(p, square, in, 4, sizeof(long), sq, sizeof(long),
			      NULL);
	mpt_assert_rc(mp_async_result_kill(m), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_async_result_kill: a map_async "
			    "result cannot be killed (only an apply_async one)");
	mpt_assert_ok(mp_async_result_get(m, mpt_timeout(30), &out));
	assert_int_equal(sq[3], 16);
	mp_async_result_free(m);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	close(fds[0]);
	close(fds[1]);
}

/* Writes a byte to the fd at in, then returns at once. */
static int tell_then_return(const void *in, size_t len, mp_task_out_t *out)
{
	(void)len;
	if (write(*(const int *)in, "x", 1) != 1)
		return 1;
	return mp_task_return(out, "done", 4);
}

/*
 * A kill that races with the task's end: mp_async_result_kill returns 1
 * (killed) only if the result then says so (MP_ECANCELLED), even when the
 * task's result was already on its way (it is dropped); 0 (it had ended)
 * with the result.  The task queued behind it is never a casualty: a kill
 * that finds its task over kills no worker.  Each round kills just after
 * the task says it ends.
 */
static void test_kill_racing_the_result(void **state)
{
	enum { ROUNDS = 300 };
	int fds[2], killed = 0;
	mp_pool_t *p;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* before the workers fork */
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	for (int i = 0; i < ROUNDS; i++) {
		mp_async_result_t *r = mp_pool_apply_async(p, tell_then_return,
							   &fds[1], sizeof(int),
							   NULL);
		mp_async_result_t *next = mp_pool_apply_async(p, twice, &i,
							      sizeof(i), NULL);
		const mp_bytes_t *out;
		char c;
		int k, rc;

		assert_non_null(r);
		assert_non_null(next);
		assert_int_equal(poll(&(struct pollfd){fds[0], POLLIN, 0}, 1,
				      (int)(mpt_timeout(30) * 1000)), 1);
		assert_int_equal(read(fds[0], &c, 1), 1);
		k = mp_async_result_kill(r);
		rc = mp_async_result_get(r, mpt_timeout(30), &out);
		if (k == 1) {
			if (rc != MP_ECANCELLED)
				fail_msg("round %d: killed, yet get gave %d", i, rc);
			killed++;
		} else {
			assert_int_equal(k, 0);
			mpt_assert_ok(rc);
			assert_memory_equal(out->data, "done", 4);
		}
		rc = mp_async_result_get(next, mpt_timeout(30), &out);
		if (rc != 0)
			fail_msg("round %d: the task behind failed: %s", i,
				 mp_last_error());
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_async_result_free(r);
		mp_async_result_free(next);
	}
	print_message("%d of %d rounds killed the task\n", killed, ROUNDS);
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
	close(fds[0]);
	close(fds[1]);
}

/* ---- batches ---- */

static atomic_int many_ok, many_err;

static void on_many_ok(const void *out, size_t len, void *arg)
{
	(void)out;
	(void)arg;
	if (len == sizeof(int))
		atomic_fetch_add(&many_ok, 1);
}

static void on_many_err(int code, const char *msg, void *arg)
{
	(void)msg;
	(void)arg;
	if (code == MP_ETASK)
		atomic_fetch_add(&many_err, 1);
}

static void test_apply_async_many(void **state)
{
	enum { N = 1000 };
	static mp_async_result_t *r[N], *keep[N];
	static const void *in[N];
	static size_t len[N];
	static int x[N];
	mp_apply_opts_t cb = {.callback = on_many_ok,
			      .error_callback = on_many_err};
	const mp_bytes_t *out;
	mp_pool_t *p;

	(void)state;
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	assert_non_null(p);
	for (int i = 0; i < N; i++) {
		x[i] = i;
		in[i] = &x[i];
		len[i] = sizeof(int);
	}
	len[7] = 3; /* this one fails: twice wants an int */
	mpt_assert_ok(mp_pool_apply_async_many(p, twice, in, len, N, &cb, r));
	for (int i = 0; i < N; i++) {
		if (i == 7) {
			mpt_assert_rc(mp_async_result_get(r[i], mpt_timeout(30),
							  &out), MP_ETASK);
			assert_string_equal(mp_last_error(), "mp_async_result_get: "
					    "want an int, got 3 bytes");
			continue;
		}
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		assert_int_equal(out->len, sizeof(int));
		assert_int_equal(*(const int *)out->data, 2 * i);
		assert_int_equal(mp_async_result_successful(r[i]), 1);
	}
	for (int i = 0; i < N; i++)
		mp_async_result_free(r[i]);
	/* Each result's callback ran (get returns after it). */
	assert_int_equal(atomic_load(&many_ok), N - 1);
	assert_int_equal(atomic_load(&many_err), 1);
	/* Free before ready, kill one: as single results. */
	len[7] = sizeof(int);
	mpt_assert_ok(mp_pool_apply_async_many(p, twice, in, len, N, NULL, r));
	assert_int_equal(mp_async_result_kill(r[N - 1]) >= 0, 1);
	for (int i = 0; i < N - 1; i += 2)
		mp_async_result_free(r[i]);
	for (int i = 1; i < N - 1; i += 2) {
		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_async_result_free(r[i]);
	}
	mp_async_result_free(r[N - 1]);
	/* Nothing at all. */
	mpt_assert_ok(mp_pool_apply_async_many(p, twice, NULL, NULL, 0, NULL,
					       NULL));
	/* All or none: a bad argument queues nothing, out is untouched. */
	for (int i = 0; i < N; i++)
		keep[i] = r[i] = (mp_async_result_t *)&x[0];
	in[500] = NULL;
	mpt_assert_rc(mp_pool_apply_async_many(p, twice, in, len, N, NULL, r),
		      -EINVAL);
	assert_string_equal(mp_last_error(), "mp_pool_apply_async_many: in[500] "
			    "is NULL but in_len[500] is 4");
	in[500] = &x[500];
	len[3] = (size_t)MP_TASK_MAX_BYTES + 1;
	mpt_assert_rc(mp_pool_apply_async_many(p, twice, in, len, N, NULL, r),
		      -EMSGSIZE);
	len[3] = sizeof(int);
	mpt_assert_rc(mp_pool_apply_async_many(p, twice, NULL, len, N, NULL, r),
		      -EINVAL);
	assert_string_equal(mp_last_error(), "mp_pool_apply_async_many: "
			    "argument 'in' is NULL but n is 1000");
	mpt_assert_rc(mp_pool_apply_async_many(p, NULL, in, len, N, NULL, r),
		      -EINVAL);
	mpt_assert_rc(mp_pool_apply_async_many(NULL, twice, in, len, N, NULL, r),
		      -EINVAL);
	assert_memory_equal(r, keep, sizeof(r));
	mpt_assert_ok(mp_pool_close(p));
	mpt_assert_rc(mp_pool_apply_async_many(p, twice, in, len, N, NULL, r),
		      MP_ECLOSED);
	assert_string_equal(mp_last_error(),
			    "mp_pool_apply_async_many: Pool not running");
	assert_memory_equal(r, keep, sizeof(r));
	mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
	mp_pool_free(p);
}

/* ---- the lock-free hand-off of single calls (mp__pool_handoff) ---- */

static int order_log = -1; /* a pipe made before the pool: every worker's */

/* Write the int in to order_log, return it. */
static int log_tag(const void *in, size_t len, mp_task_out_t *out)
{
	if (len != sizeof(int) || write(order_log, in, len) != (ssize_t)len)
		return mp_task_fail(out, "cannot log");
	return mp_task_return(out, in, len);
}

/*
 * One worker runs its jobs in the order they were queued.  Single calls go
 * through the lock-free list, batches straight into the pending list under
 * the lock: a batch must still come after the single calls made before it
 * (the list is taken first) and each taken list in the order it was pushed.
 * The stream keeps the supervisor busy, so many single calls land on the
 * list rather than being dispatched by their caller.
 */
static void test_handoff_keeps_order(void **state)
{
	enum { ROUNDS = 400, SINGLES = 7, BATCH = 5,
	       N = ROUNDS * (SINGLES + BATCH) };
	static mp_async_result_t *r[N];
	static int tags[N];
	const void *in[BATCH];
	size_t len[BATCH];
	int fds[2], n = 0, got, prev = -1;
	mp_pool_t *p;

	(void)state;
	assert_int_equal(pipe(fds), 0); /* N ints: fits in the pipe */
	order_log = fds[1];
	p = mp_pool_new(&(mp_pool_opts_t){.processes = 1});
	assert_non_null(p);
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < SINGLES; k++, n++) {
			tags[n] = n;
			assert_non_null(r[n] = mp_pool_apply_async(
						p, log_tag, &tags[n], sizeof(int), NULL));
		}
		for (int k = 0; k < BATCH; k++) {
			tags[n + k] = n + k;
			in[k] = &tags[n + k];
			len[k] = sizeof(int);
		}
		mpt_assert_ok(mp_pool_apply_async_many(p, log_tag, in, len, BATCH,
						       NULL, &r[n]));
		n += BATCH;
	}
	for (int i = 0; i < N; i++) {
		const mp_bytes_t *out;

		mpt_assert_ok(mp_async_result_get(r[i], mpt_timeout(30), &out));
		mp_async_result_free(r[i]);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(read(fds[0], &got, sizeof(got)), sizeof(got));
		assert_int_equal(got, prev + 1); /* ran in the order queued */
		prev = got;
	}
	mp_pool_free(p);
	close(fds[0]);
	close(fds[1]);
	order_log = -1;
}

struct racer {
	mp_pool_t *pool;
	int made, refused;
	mp_async_result_t *r[4096];
};

/* apply_async until the pool refuses (or the array is full). */
static void *race_close(void *arg)
{
	struct racer *rc = arg;

	while (rc->made < 4096) {
		int x = rc->made;
		mp_async_result_t *r = mp_pool_apply_async(rc->pool, twice, &x,
							   sizeof(x), NULL);

		if (r == NULL) {
			rc->refused = mp_last_error_code();
			break;
		}
		rc->r[rc->made++] = r;
	}
	return NULL;
}

/*
 * Single calls racing with close: each is either refused (MP_ECLOSED, as
 * CPython's "Pool not running") or runs to its result; none is lost on the
 * lock-free list after the close (the close seals it: a lost one would make
 * a get time out here).
 */
static void test_apply_racing_close(void **state)
{
	enum { THREADS = 3 };
	static struct racer racers[THREADS];
	pthread_t t[THREADS];

	(void)state;
	for (int round = 0; round < 20; round++) {
		mp_pool_t *p = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
		mp_async_result_t *first;
		const mp_bytes_t *out;
		int x = 0;

		assert_non_null(p);
		for (int i = 0; i < THREADS; i++) {
			racers[i] = (struct racer){.pool = p};
			assert_int_equal(pthread_create(&t[i], NULL, race_close,
							&racers[i]), 0);
		}
		/* Close once the racers are under way. */
		assert_non_null(first = mp_pool_apply_async(p, twice, &x, sizeof(x),
							    NULL));
		mpt_assert_ok(mp_async_result_get(first, mpt_timeout(30), &out));
		mp_async_result_free(first);
		mpt_assert_ok(mp_pool_close(p));
		for (int i = 0; i < THREADS; i++) {
			struct racer *rc = &racers[i];

			assert_int_equal(pthread_join(t[i], NULL), 0);
			assert_true(rc->made == 4096 || rc->refused == MP_ECLOSED);
			for (int k = 0; k < rc->made; k++) {
				mpt_assert_ok(mp_async_result_get(rc->r[k],
								  mpt_timeout(30), &out));
				assert_int_equal(*(const int *)out->data, 2 * k);
				mp_async_result_free(rc->r[k]);
			}
		}
		mpt_assert_ok(mp_pool_join(p, mpt_timeout(30)));
		mp_pool_free(p);
	}
}

int main(int argc, char **argv)
{
	int init = mp_init(argc, argv); /* first: a spawn worker runs here */
	struct CMUnitTest tests[] = {
		MPT(test_apply_and_apply_async),
		MPT(test_map),
		MPT(test_map_failure_reported),
		MPT(test_callbacks),
		MPT(test_map_sizes_match_serial),
		MPT(test_map_async_and_progress),
		MPT(test_imap),
		MPT(test_imap_free_midway_and_input_error),
		MPT(test_crash_fails_only_its_task),
		MPT(test_death_seen_before_the_pidfd),
		MPT(test_death_noticed_while_replacement_starts),
		MPT(test_task_timeout_kills_group),
		MPT(test_maxtasksperchild),
		MPT(test_maxtasksperchild_one),
		MPT(test_maxtasksperchild_one_close_pending),
		MPT(test_heirs_take_over_without_the_server),
		MPT(test_heirs_never_outlive_their_pool),
		MPT(test_heirs_die_with_killed_program),
		MPT(test_replacement_starter),
		MPT_DEADLINE(test_retired_worker_replaced_while_it_exits, 120),
		MPT(test_preplaced_job_survives_death),
		MPT(test_new_workers_never_print_parent_output),
		MPT(test_chaos_random_kills),
		MPT(test_initializer),
		MPT(test_start_method_refused),
		MPT(test_initializer_failure_breaks_pool),
		MPT(test_close_join_terminate),
		MPT(test_map_sizes_that_wrap),
		MPT(test_task_return_huge_len),
		MPT(test_apply_sizes_and_messages),
		MPT(test_imap_item_too_large),
		MPT(test_task_timeout_values),
		MPT(test_no_worker_can_start),
		MPT(test_exit_with_live_pool),
		MPT(test_without_pidfd),
		MPT(test_returned_bytes),
		MPT(test_payloads_outgrow_first_buffers),
		MPT(test_async_result_wait_codes),
		MPT(test_success_keeps_last_error),
		MPT(test_no_wait_behind_long_task),
		MPT(test_one_worker_queues_behind_long_task),
		MPT(test_async_result_kill),
		MPT(test_kill_racing_the_result),
		MPT(test_apply_async_many),
		MPT(test_handoff_keeps_order),
		MPT_DEADLINE(test_apply_racing_close, 120),
	};

	if (argc == 2 && strcmp(argv[1], "--exit-with-live-pool") == 0)
		return exit_with_live_pool();
	if (argc == 2 && strcmp(argv[1], "--heir-victim") == 0)
		return init < 0 ? 98 : heir_victim();
	if (getenv("MP_NO_PIDFD") != NULL && mp__have_pidfd())
		return 99; /* the fallback is not in force */
	if (init < 0)
		return 98;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
