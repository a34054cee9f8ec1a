/* test_executor.c - ProcessPoolExecutor: futures (result, exception, done,
 * running, cancel, callbacks), as_completed, wait, map with a timeout,
 * shutdown, and a crashing worker that breaks only its own future.
 *
 * Built a second time with MPT_MPI as test_executor_mpi: the tests of
 * mpi_tests[] (main, at the end) then run on the MPI backend
 * (libmproc_mpi), one test per MPI job (`mpirun -np 3 test_executor_mpi
 * <test>`, tests/mpi/run.sh): the worker ranks serve inside
 * mp_executor_new and exit there.  Tasks are held and report through
 * named FIFOs in /dev/shm (struct fifo), which the ranks of one machine
 * reach by the path in the task's bytes; where the ranks take a window of
 * tasks at once, the tests assert what both backends guarantee (what
 * CPython does: submit_gates).  The others do not fit the MPI backend:
 * they use per-executor options it refuses (initializer,
 * max_tasks_per_child, a start method: test_crash_initializer_max_tasks)
 * or an executor in a child program (test_exit_with_live_executor);
 * tests/mpi/test_mpi_executor.c tests those behaviours there.
 */
#include "mptest.h"
#include "mptest_kill.h"
#ifndef MPT_MPI
#include "mptest_fs.h"
#endif

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "mproc/backend.h"
#include "mproc/executor.h"
#include "mproc/process.h"

#ifdef MPT_MPI
#include <mpi.h>

#include "mproc/mpi.h"
/* Tasks run on other ranks by their registered names. */
#define MPT_TASK(fn) MP_MPI_TASK(fn)
#define MPT_MAP(fn) MP_MPI_MAP(fn)
#define MPT_NMETHODS 1 /* one executor per MPI job */
static const char *const methods[] = {NULL}; /* the worker ranks' own */
#else
#define MPT_TASK(fn)
#define MPT_MAP(fn)
#define MPT_NMETHODS 3
#endif

/* The executor of a test that runs on either backend: opts, or on the MPI
 * backend opts without what only local workers take, and max_workers
 * local workers on each rank: a task held by a gate then holds one worker
 * of its rank, not the rank (whose tasks queued behind it would wait). */
static mp_executor_t *ex_new(mp_executor_opts_t opts)
{
#ifdef MPT_MPI
	mp_mpi_opts_t mo = {.local_workers = opts.max_workers};

	opts.backend = mp_mpi_backend();
	opts.backend_arg = &mo;
	opts.start_method = NULL;
	opts.max_tasks_per_child = 0;
#endif
	return mp_executor_new(&opts);
}

/* in: an int x; out: 2x.  x < 0 fails; x == 1000 kills the worker. */
static int twice(const void *in, size_t len, mp_task_out_t *out)
{
	int x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want an int");
	memcpy(&x, in, sizeof(x));
	if (x < 0)
		return mp_task_fail(out, "negative: %d", x);
	if (x == 1000)
		_exit(7);
	x *= 2;
	return mp_task_return(out, &x, sizeof(x));
}
MPT_TASK(twice);

/*
 * A gate the tasks of both backends reach by name: a FIFO in /dev/shm (the
 * worker ranks run on this machine).  The test holds it open read-write,
 * so a task opens it without blocking: a gated task then reads a byte to
 * pass (open_gate writes them), a reporting task writes to it.  Made after
 * the executor (the MPI worker ranks never return from mp_executor_new),
 * unlinked by fifo_close: mptest's /dev/shm check sees one left behind.
 */
struct fifo {
	char path[48];
	int fd;
};

static void fifo_open(struct fifo *q)
{
	static int n;

	snprintf(q->path, sizeof(q->path), "/dev/shm/mpt-fifo-%d-%d",
		 (int)getpid(), n++);
	assert_int_equal(mkfifo(q->path, 0600), 0);
	q->fd = open(q->path, O_RDWR | O_CLOEXEC);
	assert_true(q->fd >= 0);
}

static void fifo_close(struct fifo *q)
{
	assert_int_equal(close(q->fd), 0);
	assert_int_equal(unlink(q->path), 0);
}

/* in: {path, ms}: pass the gate at path (if any), then sleep ms. */
struct gate {
	char path[48];
	int ms;
};

static int gated(const void *in, size_t len, mp_task_out_t *out)
{
	struct gate g;
	char c;
	int fd;

	if (len != sizeof(g))
		return mp_task_fail(out, "want a struct gate");
	memcpy(&g, in, sizeof(g));
	if (g.path[0] != '\0') {
		fd = open(g.path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return mp_task_fail(out, "no gate %s", g.path);
		/* Bounded: a failed test that never opens it hangs nothing. */
		if (poll(&(struct pollfd){fd, POLLIN, 0}, 1,
			 (int)(mpt_timeout(60) * 1000)) != 1 ||
		    read(fd, &c, 1) != 1) {
			close(fd);
			return mp_task_fail(out, "gate closed");
		}
		close(fd);
	}
	poll(NULL, 0, g.ms);
	return mp_task_return(out, &g.ms, sizeof(g.ms));
}
MPT_TASK(gated);

/* in: a fifo's path: report_pids_and_hang on it. */
/* A task's input, a fifo's path (struct fifo's): *fd opened on it for
 * writing, 0; or the task fails (-1). */
static int open_fifo_in(const void *in, size_t len, mp_task_out_t *out,
			int *fd)
{
	char path[48];

	if (len != sizeof(path))
		return mp_task_fail(out, "want a path");
	memcpy(path, in, sizeof(path));
	if ((*fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return mp_task_fail(out, "no fifo %s", path);
	return 0;
}

static int report_pids_to(const void *in, size_t len, mp_task_out_t *out)
{
	int fd = -1;

	if (open_fifo_in(in, len, out, &fd) < 0)
		return -1;
	return report_pids_and_hang(&fd, sizeof(fd), out);
}
MPT_TASK(report_pids_to);

#ifndef MPT_MPI
/* in: a fifo's path: write a byte there, then return "done" at once. */
static int tell_then_return(const void *in, size_t len, mp_task_out_t *out)
{
	int fd = -1;
	bool told;

	if (open_fifo_in(in, len, out, &fd) < 0)
		return -1;
	told = write(fd, "x", 1) == 1;
	close(fd);
	return told ? mp_task_return(out, "done", 4) : 1;
}
#endif

/* call succeeds, and mp_last_error() is still msg */
#define OP_KEEPS(call)                                                        \
	do {                                                                  \
		mpt_assert_ok(call);                                          \
		assert_string_equal(mp_last_error(), msg);                    \
	} while (0)

static mp_future_t *submit_int(mp_executor_t *ex, int x)
{
	mp_future_t *f = mp_executor_submit(ex, twice, &x, sizeof(x));

	assert_non_null(f);
	return f;
}

/* A task that passes q (if not NULL), then sleeps ms. */
static mp_future_t *submit_gate(mp_executor_t *ex, const struct fifo *q,
				int ms)
{
	struct gate g = {.ms = ms};
	mp_future_t *f;

	if (q != NULL)
		memcpy(g.path, q->path, sizeof(g.path));
	f = mp_executor_submit(ex, gated, &g, sizeof(g));
	assert_non_null(f);
	return f;
}

/* Let n gated tasks pass. */
static void open_gate(const struct fifo *q, int n)
{
	char c[16] = {0};

	assert_true(n <= (int)sizeof(c));
	assert_int_equal(write(q->fd, c, (size_t)n), n);
}

/* A task that reports its pids on q and hangs. */
static mp_future_t *submit_report(mp_executor_t *ex, const struct fifo *q)
{
	mp_future_t *f = mp_executor_submit(ex, report_pids_to, q->path,
					    sizeof(q->path));

	assert_non_null(f);
	return f;
}

/* Wait (bounded, yielding) until f runs (on the MPI backend a task is
 * taken by rank 0's progress thread, not in submit). */
static void wait_running(mp_future_t *f)
{
	double until = mpt_now() + mpt_timeout(10);

	while (mp_future_running(f) != 1 && mpt_now() < until)
		sched_yield();
	assert_int_equal(mp_future_running(f), 1);
}

/* GATES tasks held by q (task i sleeps i ms once through), the first one
 * running.  While they are held, the backends start fewer than GATES:
 * the local engine one per worker (CPython one more, in its call queue),
 * the MPI backend one per idle local worker of each rank while the task
 * is not known to be short, and one held for credit (at most 3 with
 * max_workers 1 on 2 worker ranks).  So the last one stays pending. */
enum { GATES = 8 };

static void submit_gates(mp_executor_t *ex, const struct fifo *q,
			 mp_future_t *f[GATES])
{
	for (int i = 0; i < GATES; i++)
		f[i] = submit_gate(ex, q, i);
	wait_running(f[0]);
}

/* Results and task exceptions, through workers of each start method
 * (max_tasks_per_child 10: replacements too). */
static void test_submit_result_exception(void **state)
{
	(void)state;
	for (size_t m = 0; m < MPT_NMETHODS; m++) {
		mp_executor_t *ex = ex_new((mp_executor_opts_t){
			.max_workers = 2, .max_tasks_per_child = 10,
			.start_method = methods[m]});
		mp_future_t *f[100], *bad;
		const mp_bytes_t *out;

		assert_non_null(ex);
		for (int i = 0; i < 100; i++)
			f[i] = submit_int(ex, i);
		for (int i = 0; i < 100; i++) {
			mpt_assert_ok(mp_future_result(f[i], mpt_timeout(30), &out));
			assert_int_equal(out->len, sizeof(int));
			assert_int_equal(*(const int *)out->data, 2 * i);
			assert_int_equal(mp_future_done(f[i]), 1);
			assert_int_equal(mp_future_running(f[i]), 0);
			assert_int_equal(mp_future_cancelled(f[i]), 0);
			assert_int_equal(mp_future_cancel(f[i]), 0); /* finished */
			mpt_assert_ok(mp_future_exception(f[i], 0));
			mp_future_free(f[i]);
		}
		bad = submit_int(ex, -5);
		mpt_assert_rc(mp_future_exception(bad, mpt_timeout(30)), MP_ETASK);
		assert_non_null(strstr(mp_last_error(), "negative: -5"));
		mpt_assert_rc(mp_future_result(bad, 0, &out), MP_ETASK);
		mp_future_free(bad);
		/* Freed before it ran: nothing leaks, nothing hangs. */
		mp_future_free(submit_int(ex, 3));
		mpt_assert_rc(mp_future_result(NULL, 0, &out), -EINVAL);
		mp_executor_free(ex);
	}
}

static void test_cancel_pending_not_running(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_future_t *f[GATES], *last;
	const mp_bytes_t *out;
	struct fifo q;

	(void)state;
	fifo_open(&q);
	submit_gates(ex, &q, f);
	/* A dispatched future is running: it cannot be cancelled. */
	assert_int_equal(mp_future_cancel(f[0]), 0);
	assert_int_equal(mp_future_cancelled(f[0]), 0);
	/* The last one waits behind it: cancel works, once and for all. */
	last = f[GATES - 1];
	assert_int_equal(mp_future_running(last), 0);
	assert_int_equal(mp_future_cancel(last), 1);
	assert_int_equal(mp_future_cancel(last), 1);
	assert_int_equal(mp_future_cancelled(last), 1);
	assert_int_equal(mp_future_done(last), 1);
	mpt_assert_rc(mp_future_result(last, 0, &out), MP_ECANCELLED);
	mpt_assert_rc(mp_future_exception(last, 0), MP_ECANCELLED);
	open_gate(&q, GATES - 1);
	for (int i = 0; i < GATES - 1; i++) {
		mpt_assert_ok(mp_future_result(f[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, i);
		assert_int_equal(mp_future_cancelled(f[i]), 0);
	}
	for (int i = 0; i < GATES; i++)
		mp_future_free(f[i]);
	mp_executor_free(ex);
	fifo_close(&q);
}

struct cb_log {
	atomic_int calls;
	mp_future_t *last;
};

static void on_done(mp_future_t *f, void *arg)
{
	struct cb_log *log = arg;

	log->last = f;
	assert_int_equal(mp_future_done(f), 1);
	atomic_fetch_add(&log->calls, 1);
}

/* Wait (bounded, yielding) until log->calls reaches n. */
static void wait_calls(struct cb_log *log, int n)
{
	double until = mpt_now() + mpt_timeout(10);

	while (atomic_load(&log->calls) < n && mpt_now() < until)
		sched_yield();
}

static void test_done_callbacks(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_future_t *fs[GATES], *f, *c;
	struct cb_log before = {0}, before2 = {0}, after = {0}, cancelled = {0};
	const mp_bytes_t *out;
	struct fifo q;

	(void)state;
	fifo_open(&q);
	submit_gates(ex, &q, fs);
	f = fs[0];
	c = fs[GATES - 1];
	mpt_assert_ok(mp_future_add_done_callback(f, on_done, &before));
	mpt_assert_ok(mp_future_add_done_callback(f, on_done, &before2));
	mpt_assert_ok(mp_future_add_done_callback(c, on_done, &cancelled));
	assert_int_equal(mp_future_cancel(c), 1);
	/* Cancelling runs the callbacks (in the cancelling thread). */
	assert_int_equal(atomic_load(&cancelled.calls), 1);
	assert_ptr_equal(cancelled.last, c);
	assert_int_equal(atomic_load(&before.calls), 0);
	open_gate(&q, GATES - 1);
	mpt_assert_ok(mp_future_result(f, mpt_timeout(30), &out));
	/* The done callbacks run once the future is done, so result() may
	 * return just before they do (as in CPython): wait for them. */
	wait_calls(&before, 1);
	wait_calls(&before2, 1);
	assert_int_equal(atomic_load(&before.calls), 1);
	assert_int_equal(atomic_load(&before2.calls), 1);
	assert_ptr_equal(before.last, f);
	/* Added after it is done: called at once, here. */
	mpt_assert_ok(mp_future_add_done_callback(f, on_done, &after));
	assert_int_equal(atomic_load(&after.calls), 1);
	mpt_assert_rc(mp_future_add_done_callback(f, NULL, NULL), -EINVAL);
	for (int i = 0; i < GATES; i++)
		mp_future_free(fs[i]);
	mp_executor_free(ex);
	assert_int_equal(atomic_load(&before.calls), 1); /* exactly once */
	assert_int_equal(atomic_load(&cancelled.calls), 1);
	fifo_close(&q);
}

static void test_as_completed(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 2});
	mp_future_t *fs[6], *got;
	mp_as_completed_t *it;
	struct fifo q;
	int seen = 0;

	(void)state;
	fifo_open(&q);
	/* One worker is held by the gate; the other runs the rest. */
	fs[0] = submit_gate(ex, &q, 0);
	fs[1] = submit_gate(ex, NULL, 1);
	fs[2] = submit_gate(ex, NULL, 2);
	fs[3] = fs[1]; /* a duplicate: yielded once */
	fs[4] = submit_int(ex, -1); /* fails: still yielded */
	fs[5] = submit_int(ex, 4);
	it = mp_as_completed(fs, 6, mpt_timeout(2));
	assert_non_null(it);
	for (int i = 0; i < 4; i++) {
		mpt_assert_ok(mp_as_completed_next(it, &got));
		assert_int_equal(mp_future_done(got), 1);
		assert_true(got != fs[0]);
		seen++;
	}
	/* The gated one is not done within the timeout. */
	mpt_assert_rc(mp_as_completed_next(it, &got), -ETIMEDOUT);
	assert_non_null(strstr(mp_last_error(), "1 (of 5) futures unfinished"));
	mp_as_completed_free(it);
	assert_int_equal(seen, 4);
	/* Once it is done, a new iteration yields all five, then ends. */
	open_gate(&q, 1);
	it = mp_as_completed(fs, 6, mpt_timeout(30));
	for (int i = 0; i < 5; i++)
		mpt_assert_ok(mp_as_completed_next(it, &got));
	mpt_assert_rc(mp_as_completed_next(it, &got), MP_EEOF);
	mp_as_completed_free(it);
	/* Empty input: at once at the end. */
	it = mp_as_completed(NULL, 0, 0);
	mpt_assert_rc(mp_as_completed_next(it, &got), MP_EEOF);
	mp_as_completed_free(it);
	for (int i = 0; i < 6; i++)
		if (i != 3)
			mp_future_free(fs[i]);
	mp_executor_free(ex);
	fifo_close(&q);
}

static void test_wait(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 2});
	mp_future_t *fs[3], *gate, *quick, *bad;
	struct fifo q;

	(void)state;
	fifo_open(&q);
	gate = submit_gate(ex, &q, 0);
	quick = submit_int(ex, 1);
	fs[0] = gate;
	fs[1] = quick;
	/* FIRST_COMPLETED: the quick one, moved to the front. */
	assert_int_equal(mp_futures_wait(fs, 2, mpt_timeout(30), MP_FIRST_COMPLETED), 1);
	assert_ptr_equal(fs[0], quick);
	assert_ptr_equal(fs[1], gate);
	/* ALL_COMPLETED with a timeout: no error, one done. */
	assert_int_equal(mp_futures_wait(fs, 2, 0.2, MP_ALL_COMPLETED), 1);
	/* FIRST_EXCEPTION: returns when one fails. */
	bad = submit_int(ex, -2);
	fs[0] = gate;
	fs[1] = bad;
	assert_int_equal(mp_futures_wait(fs, 2, mpt_timeout(30), MP_FIRST_EXCEPTION), 1);
	assert_ptr_equal(fs[0], bad);
	/* FIRST_EXCEPTION with no failure waits for all. */
	open_gate(&q, 1);
	fs[0] = gate;
	fs[1] = quick;
	fs[2] = gate;
	assert_int_equal(mp_futures_wait(fs, 3, mpt_timeout(30), MP_FIRST_EXCEPTION), 3);
	mpt_assert_rc(mp_futures_wait(fs, 3, 1, 0), -EINVAL);
	mpt_assert_rc(mp_futures_wait(NULL, 3, 1, MP_ALL_COMPLETED), -EINVAL);
	mpt_assert_ok(mp_future_result(gate, 0, NULL));
	mp_future_free(gate);
	mp_future_free(quick);
	mp_future_free(bad);
	mp_executor_free(ex);
	fifo_close(&q);
}

static int slow_double(const void *in, void *out)
{
	poll(NULL, 0, 20);
	*(int *)out = *(const int *)in * 2;
	return 0;
}
MPT_MAP(slow_double);

static void test_map_timeout(void **state)
{
	static int in[200], out[200];
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 2});

	(void)state;
	for (int i = 0; i < 200; i++)
		in[i] = i;
	mpt_assert_ok(mp_executor_map(ex, slow_double, in, 10, sizeof(int), out,
				      sizeof(int), NULL, mpt_timeout(30)));
	assert_int_equal(out[9], 18);
	/* 200 × 20 ms on 2 workers is 2 s: a 0.1 s timeout expires. */
	mpt_assert_rc(mp_executor_map(ex, slow_double, in, 200, sizeof(int), out,
				      sizeof(int),
				      &(mp_map_opts_t){.chunksize = 1}, 0.1),
		      -ETIMEDOUT);
	/* The executor still works, and the cancelled chunks do not run
	 * into this map's output. */
	memset(out, 0, sizeof(out));
	mpt_assert_ok(mp_executor_map(ex, slow_double, in + 100, 4, sizeof(int),
				      out, sizeof(int), NULL, mpt_timeout(30)));
	assert_int_equal(out[3], 206);
	assert_int_equal(out[4], 0);
	mp_executor_free(ex);
}

static void test_shutdown(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_future_t *f[GATES];
	int running[GATES], ran = 0;
	struct fifo q;

	(void)state;
	fifo_open(&q);
	submit_gates(ex, &q, f);
	/* cancel_futures: what has not started is cancelled; no waiting. */
	mpt_assert_ok(mp_executor_shutdown(ex, MP_SHUTDOWN_NOWAIT |
						   MP_SHUTDOWN_CANCEL_FUTURES));
	/* Each one either started (it cannot be cancelled) or is cancelled;
	 * the started ones are the oldest, and not all started. */
	for (int i = 0; i < GATES; i++) {
		running[i] = mp_future_running(f[i]);
		assert_int_equal(mp_future_cancelled(f[i]), !running[i]);
		assert_int_equal(mp_future_done(f[i]), !running[i]);
		assert_true(i == 0 || running[i] <= running[i - 1]);
		ran += running[i];
	}
	assert_int_equal(running[0], 1);
	assert_int_equal(running[GATES - 1], 0);
	assert_null(mp_executor_submit(ex, twice, &(int){1}, sizeof(int)));
	assert_int_equal(mp_last_error_code(), MP_ECLOSED);
	assert_non_null(strstr(mp_last_error(), "after shutdown"));
	/* wait: the started ones complete, the workers exit. */
	open_gate(&q, ran);
	mpt_assert_ok(mp_executor_shutdown(ex, 0));
	for (int i = 0; i < GATES; i++) {
		assert_int_equal(mp_future_done(f[i]), 1);
		if (running[i])
			mpt_assert_ok(mp_future_result(f[i], 0, NULL));
		else
			mpt_assert_rc(mp_future_result(f[i], 0, NULL),
				      MP_ECANCELLED);
	}
	mpt_assert_ok(mp_executor_shutdown(ex, 0)); /* harmless */
	for (int i = 0; i < GATES; i++)
		mp_future_free(f[i]);
	mp_executor_free(ex);
	fifo_close(&q);
}

static int my_pid(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t me = getpid();

	(void)in;
	(void)len;
	return mp_task_return(out, &me, sizeof(me));
}

static int init_value;

static void set_init_value(void *arg)
{
	init_value = *(int *)arg;
}

static int read_init_value(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	return mp_task_return(out, &init_value, sizeof(init_value));
}

static void test_crash_initializer_max_tasks(void **state)
{
	int seven = 7;
	mp_executor_t *ex = mp_executor_new(&(mp_executor_opts_t){
		.max_workers = 2, .max_tasks_per_child = 2,
		.initializer = set_init_value, .initarg = &seven});
	mp_future_t *f[10], *crash;
	pid_t pids[10];
	const mp_bytes_t *out;

	(void)state;
	/* Unlike CPython (BrokenProcessPool), a crash fails only its future. */
	crash = submit_int(ex, 1000);
	for (int i = 0; i < 10; i++)
		f[i] = submit_int(ex, i);
	mpt_assert_rc(mp_future_result(crash, mpt_timeout(30), &out), MP_EBROKEN);
	assert_non_null(strstr(mp_last_error(), "exited with status 7"));
	for (int i = 0; i < 10; i++) {
		mpt_assert_ok(mp_future_result(f[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_future_free(f[i]);
	}
	mp_future_free(crash);
	/* Every worker ran the initializer; none ran more than 2 tasks. */
	for (int i = 0; i < 10; i++) {
		mp_future_t *g = mp_executor_submit(ex, read_init_value, NULL, 0);
		mpt_assert_ok(mp_future_result(g, mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 7);
		mp_future_free(g);
	}
	for (int i = 0; i < 10; i++)
		f[i] = mp_executor_submit(ex, my_pid, NULL, 0);
	for (int i = 0; i < 10; i++) {
		mpt_assert_ok(mp_future_result(f[i], mpt_timeout(30), &out));
		memcpy(&pids[i], out->data, sizeof(pid_t));
		mp_future_free(f[i]);
	}
	for (int i = 0; i < 10; i++) {
		int same = 0;
		for (int j = 0; j < 10; j++)
			same += pids[j] == pids[i];
		assert_true(same <= 2);
	}
	mp_executor_free(ex);
}

/* ---- messages name what the caller called; sizes never wrap ---- */

static void test_new_and_submit_messages(void **state)
{
	mp_executor_t *ex;

	(void)state;
	assert_null(mp_executor_new(&(mp_executor_opts_t){.max_workers = 5000}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_executor_new: opts->max_workers "
					     "5000 is too many (at most 4096)");
	assert_null(mp_executor_new(&(mp_executor_opts_t){.task_timeout = -2}));
	assert_non_null(strstr(mp_last_error(), "mp_executor_new: "
						"opts->task_timeout -2"));
	/* A backend starts its own workers: a start method is refused. */
	static const struct mp_executor_backend none;
	assert_null(mp_executor_new(&(mp_executor_opts_t){
		.backend = &none, .start_method = "spawn"}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "opts->start_method is for "
						"local workers"));
	ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	assert_non_null(ex);
	assert_null(mp_executor_submit(ex, twice, NULL, 4));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_executor_submit: argument "
						"'in' is NULL"));
	assert_null(mp_executor_submit(ex, twice, "x", SIZE_MAX));
	assert_int_equal(mp_last_error_code(), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "mp_executor_submit: in_len"));
	mp_executor_free(ex);
}

/* A backend of the test's own: it runs nothing; the test takes and ends
 * the jobs through mproc/backend.h. */
static int own_start(mp_executor_t *ex, const mp_executor_opts_t *opts,
		     void **st, unsigned *workers)
{
	(void)opts;
	*st = ex;
	*workers = 1;
	return 0;
}

static void own_kick(void *st)
{
	(void)st;
}

static void own_stop(void *st)
{
	mp_executor_backend_stopped(st);
}

/* The backend's calls refuse what would crash or corrupt: a NULL
 * executor, a local executor (whose jobs its supervisor runs), a NULL
 * handle or jobs array; the job is still there to end afterwards. */
static void test_backend_bad_args(void **state)
{
	static const struct mp_executor_backend own = {
		"own", own_start, own_kick, own_stop, NULL};
	mp_executor_t *local = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_executor_t *ex = mp_executor_new(&(mp_executor_opts_t){
		.backend = &own});
	mp_backend_job_t job;
	const mp_bytes_t *out;
	mp_future_t *f;

	(void)state;
	assert_non_null(local);
	assert_non_null(ex);
	assert_int_equal(mp_executor_backend_take(NULL, 1, &job), 0);
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_executor_backend_take: "
						"argument 'ex' is NULL"));
	assert_int_equal(mp_executor_backend_take(local, 1, &job), 0);
	assert_non_null(strstr(mp_last_error(), "has no backend"));
	mpt_assert_rc(mp_executor_backend_state(NULL), -EINVAL);
	mpt_assert_rc(mp_executor_backend_state(local), -EINVAL);
	mp_executor_backend_stopped(local);
	mp_executor_backend_break(local, "no");
	mp_executor_backend_end(NULL, &job, 0, NULL, 0);
	assert_int_equal(mp_last_error_code(), -EINVAL);
	/* The local executor was not touched: it still runs tasks. */
	f = mp_executor_submit(local, twice, &(int){21}, sizeof(int));
	assert_non_null(f);
	mpt_assert_rc(mp_future_result(f, mpt_timeout(10), &out), 0);
	assert_int_equal(*(const int *)out->data, 42);
	mp_future_free(f);

	f = mp_executor_submit(ex, twice, &(int){1}, sizeof(int));
	assert_non_null(f);
	assert_int_equal(mp_executor_backend_take(ex, 1, NULL), 0);
	assert_non_null(strstr(mp_last_error(), "argument 'jobs' is NULL"));
	assert_int_equal(mp_executor_backend_state(ex), MP_BACKEND_RUN);
	assert_int_equal(mp_executor_backend_take(ex, 1, &job), 1);
	mp_executor_backend_end(ex, NULL, 0, "z", 1);
	assert_non_null(strstr(mp_last_error(), "argument 'handle' is NULL"));
	mp_executor_backend_end(ex, job.handle, 0, NULL, 4);
	assert_non_null(strstr(mp_last_error(), "argument 'data' is NULL"));
	assert_false(mp_future_done(f));
	mp_executor_backend_end(ex, job.handle, 0, "done", 4);
	mpt_assert_rc(mp_future_result(f, mpt_timeout(10), &out), 0);
	assert_memory_equal(out->data, "done", 4);
	mp_future_free(f);
	mp_executor_free(ex);
	mp_executor_free(local);
}

static int times3(const void *in, void *out)
{
	*(int *)out = *(const int *)in * 3;
	return 0;
}
MPT_MAP(times3);

/* In a child (the old code crashed in the caller); on the MPI backend in
 * the test's process, whose executor is the job's only one. */
static int map_wrapping(void *arg)
{
	static int in[4] = {1, 2, 3, 4}, out[4];
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	int rc;

	(void)arg;
	if (ex == NULL)
		return 99;
	rc = mp_executor_map(ex, times3, in, SIZE_MAX / 4 + 2, 4, out, 4,
			     NULL, mpt_timeout(10));
	if (rc != -EINVAL ||
	    strstr(mp_last_error(), "mp_executor_map: n ") == NULL) {
		fprintf(stderr, "map_wrapping: %d (%s)\n", rc, mp_last_error());
		rc = 1;
	} else {
		rc = mp_executor_map(ex, times3, in, 4, 4, out, 4,
				     NULL, mpt_timeout(10)) != 0 || out[3] != 12
			     ? 2 : 0;
	}
	mp_executor_free(ex);
	return rc;
}

static int map_wrapping_child(void *arg)
{
	mpt_crash_signals_default();
	return map_wrapping(arg);
}

static void test_map_sizes_that_wrap(void **state)
{
	(void)state;
#ifdef MPT_MPI
	assert_int_equal(map_wrapping(NULL), 0);
#else
	assert_int_equal(mpt_exit_code(mpt_fork(map_wrapping_child, NULL)), 0);
#endif
}

/* ---- free is bounded; shutdown's flags ---- */

/* in: a fifo's path: write our pid there, then never end (not even on
 * SIGTERM). */
static int report_and_hang(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t pid = getpid();
	char path[48];
	int fd;

	(void)out;
	if (len != sizeof(path))
		return -1;
	memcpy(path, in, sizeof(path));
	signal(SIGTERM, SIG_IGN);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, &pid, sizeof(pid)) != sizeof(pid))
		return -1;
	for (;;)
		pause();
	return 0;
}
MPT_TASK(report_and_hang);

/*
 * mp_executor_free with a task that never ends: it waits about
 * MP_EXECUTOR_FREE_GRACE, then stops the worker (which is gone after it)
 * and fails the futures left with MP_ECANCELLED.  It used to wait for ever.
 */
static void test_free_is_bounded(void **state)
{
	mp_executor_t *ex;
	mp_future_t *hung, *queued, *done;
	struct pollfd pfd;
	struct fifo q, gate;
	pid_t worker = 0;
	double t0, took;

	(void)state;
	ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	assert_non_null(ex);
	fifo_open(&q);
	fifo_open(&gate);
	done = submit_int(ex, 5);
	mpt_assert_ok(mp_future_result(done, mpt_timeout(30), NULL));
	hung = mp_executor_submit(ex, report_and_hang, q.path,
				  sizeof(q.path));
	assert_non_null(hung);
	/* Held too (on the MPI backend another rank runs it). */
	queued = submit_gate(ex, &gate, 0);
	pfd = (struct pollfd){q.fd, POLLIN, 0};
	assert_int_equal(poll(&pfd, 1, (int)(mpt_timeout(30) * 1000)), 1);
	assert_int_equal(read(q.fd, &worker, sizeof(worker)), sizeof(worker));
	assert_true(worker > 0);
	t0 = mpt_now();
	mp_executor_free(ex);
	took = mpt_now() - t0;
	assert_true(took >= MP_EXECUTOR_FREE_GRACE * 0.9);
	assert_true(took < MP_EXECUTOR_FREE_GRACE + mpt_timeout(3));
	/* The worker is gone (killed and reaped), no zombie either. */
	assert_int_equal(kill(worker, 0), -1);
	assert_int_equal(errno, ESRCH);
	/* The futures outlive the executor, and say what happened. */
	mpt_assert_rc(mp_future_result(hung, 0, NULL), MP_ECANCELLED);
	mpt_assert_rc(mp_future_result(queued, 0, NULL), MP_ECANCELLED);
	mpt_assert_ok(mp_future_result(done, 0, NULL));
	assert_int_equal(mp_future_done(hung), 1);
	mp_future_free(hung);
	mp_future_free(queued);
	mp_future_free(done);
	fifo_close(&q);
	fifo_close(&gate);
}

/* Within the grace, free lets the futures finish (CPython's shutdown). */
static void test_free_waits_for_short_futures(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_future_t *f = submit_gate(ex, NULL, 100);
	const mp_bytes_t *out;

	(void)state;
	mp_executor_free(ex);
	mpt_assert_ok(mp_future_result(f, 0, &out));
	assert_int_equal(*(const int *)out->data, 100);
	mp_future_free(f);
}

static void test_shutdown_flags(void **state)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});
	mp_future_t *run, *queued;
	struct fifo q;

	(void)state;
	fifo_open(&q);
	mpt_assert_rc(mp_executor_shutdown(NULL, 0), -EINVAL);
	mpt_assert_rc(mp_executor_shutdown(ex, 4), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_executor_shutdown: "));
	run = submit_gate(ex, &q, 0);
	queued = submit_int(ex, 1);
	/* NOWAIT alone: returns at once, cancels nothing. */
	mpt_assert_ok(mp_executor_shutdown(ex, MP_SHUTDOWN_NOWAIT));
	assert_int_equal(mp_future_cancelled(queued), 0);
	open_gate(&q, 1);
	/* 0: waits for both. */
	mpt_assert_ok(mp_executor_shutdown(ex, 0));
	mpt_assert_ok(mp_future_result(run, 0, NULL));
	mpt_assert_ok(mp_future_result(queued, 0, NULL));
	mp_future_free(run);
	mp_future_free(queued);
	mp_executor_free(ex);
	fifo_close(&q);
}

static void count_cb(mp_future_t *f, void *arg)
{
	(void)f;
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* Every call that succeeds keeps the message of an earlier failure. */
static void test_success_keeps_last_error(void **state)
{
	enum { N = 200 };
	static int in[N], out[N];
	mp_executor_t *ex;
	mp_future_t *f[N], *g;
	mp_as_completed_t *it;
	const mp_bytes_t *b;
	atomic_int calls = 0;
	char msg[256];

	(void)state;
	for (int i = 0; i < N; i++)
		in[i] = i;
	mpt_assert_rc(mp_future_result(NULL, 0, NULL), -EINVAL);
	snprintf(msg, sizeof(msg), "%s", mp_last_error());
	ex = ex_new((mp_executor_opts_t){.max_workers = 2});
	assert_non_null(ex);
	for (int i = 0; i < N; i++)
		f[i] = submit_int(ex, i);
	OP_KEEPS(mp_future_add_done_callback(f[0], count_cb, &calls));
	it = mp_as_completed(f, N, mpt_timeout(30));
	assert_non_null(it);
	for (int i = 0; i < N; i++)
		OP_KEEPS(mp_as_completed_next(it, &g));
	mp_as_completed_free(it);
	assert_int_equal(mp_futures_wait(f, N, mpt_timeout(30),
					 MP_ALL_COMPLETED), N);
	for (int i = 0; i < N; i++) {
		OP_KEEPS(mp_future_result(f[i], 0, &b));
		assert_int_equal(*(const int *)b->data, 2 * i);
		OP_KEEPS(mp_future_exception(f[i], 0));
		assert_int_equal(mp_future_done(f[i]), 1);
		assert_int_equal(mp_future_running(f[i]), 0);
		assert_int_equal(mp_future_cancel(f[i]), 0);
		mp_future_free(f[i]);
	}
	assert_int_equal(atomic_load(&calls), 1);
	OP_KEEPS(mp_executor_map(ex, times3, in, N, sizeof(int), out,
				 sizeof(int), &(mp_map_opts_t){.chunksize = 1},
				 mpt_timeout(30)));
	assert_int_equal(out[N - 1], 3 * (N - 1));
	OP_KEEPS(mp_executor_shutdown(ex, 0));
	mp_executor_free(ex);
	assert_string_equal(mp_last_error(), msg);
}

/* ---- exit with a live executor ---- */

/* The helper (this program re-executed with --exit-with-live-executor): a
 * program that returns from main with a executor it never freed.  Kept in
 * a global so that LeakSanitizer sees it reachable. */
static mp_executor_t *live_executor;

static int exit_with_live_executor(void)
{
	int x = 1;

	mp_future_t *f;
	const mp_bytes_t *out;

	live_executor = mp_executor_new(&(mp_executor_opts_t){.max_workers = 2});
	if (live_executor == NULL)
		return 1;
	f = mp_executor_submit(live_executor, twice, &x, sizeof(x));
	if (f == NULL || mp_future_result(f, 60, &out) != 0)
		return 2;
	mp_future_free(f);
	return 0; /* from main: exit() runs with the executor alive */
}

static void test_exit_with_live_executor(void **state)
{
	(void)state;
	mpt_exit_trials("--exit-with-live-executor", MPT_EXIT_TRIALS);
}

/* ---- kill a future; terminate_workers / kill_workers ---- */

static void read_pids(int fd, pid_t pids[2])
{
	assert_int_equal(poll(&(struct pollfd){fd, POLLIN, 0}, 1,
			      (int)(mpt_timeout(30) * 1000)), 1);
	assert_int_equal(read(fd, pids, 2 * sizeof(pid_t)), 2 * sizeof(pid_t));
}

/* An executor of one worker, busy with *hang (a task that reports its
 * pids, read into pids, and hangs), with n tasks queued behind it:
 * queued[i] doubles first + i. */
static mp_executor_t *one_hung_worker(struct fifo *q, mp_future_t **hang,
				      mp_future_t **queued, int first, int n,
				      pid_t pids[2])
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 1});

	assert_non_null(ex);
	fifo_open(q);
	*hang = submit_report(ex, q);
	for (int i = 0; i < n; i++)
		queued[i] = submit_int(ex, first + i);
	read_pids(q->fd, pids);
	return ex;
}

/* The end of a test that used one_hung_worker. */
static void hung_worker_done(mp_executor_t *ex, struct fifo *q)
{
	mpt_assert_ok(mp_executor_shutdown(ex, 0));
	mp_executor_free(ex);
	fifo_close(q);
}

static void test_future_kill(void **state)
{
	mp_future_t *hang, *queued, *later;
	const mp_bytes_t *out;
	pid_t pids[2];
	struct fifo q;
	mp_executor_t *ex = one_hung_worker(&q, &hang, &queued, 3, 1, pids);

	(void)state;
	assert_int_equal(mp_future_cancel(hang), 0); /* running: CPython's */
	assert_int_equal(mp_future_running(hang), 1);
	assert_int_equal(mp_future_kill(hang), 1);
	mpt_assert_rc(mp_future_result(hang, mpt_timeout(30), &out),
		      MP_ECANCELLED);
	assert_int_equal(mp_future_cancelled(hang), 1);
	assert_int_equal(mp_future_kill(hang), 1); /* cancelled already */
	assert_gone(pids[0]);
	assert_gone(pids[1]);
	/* The executor goes on: a new worker runs the rest. */
	mpt_assert_ok(mp_future_result(queued, mpt_timeout(30), &out));
	assert_int_equal(*(const int *)out->data, 6);
	assert_int_equal(mp_future_kill(queued), 0); /* finished */
	assert_int_equal(mp_future_cancelled(queued), 0);
	later = submit_int(ex, 4);
	mpt_assert_ok(mp_future_result(later, mpt_timeout(30), &out));
	assert_int_equal(*(const int *)out->data, 8);
	mpt_assert_rc(mp_future_kill(NULL), -EINVAL);
	mp_future_free(hang);
	mp_future_free(queued);
	mp_future_free(later);
	hung_worker_done(ex, &q);
}

/* A worker SIGKILLed from outside in the middle of a task: its future
 * fails naming the signal (seen early, from the worker's robust life lock,
 * or from its pidfd: whichever comes first), exactly once; the futures
 * queued behind it run on the replacement. */
static void test_sigkilled_worker_fails_once(void **state)
{
	mp_future_t *hang, *queued[3];
	const mp_bytes_t *out;
	pid_t pids[2];
	struct fifo q;
	mp_executor_t *ex = one_hung_worker(&q, &hang, queued, 0, 3, pids);

	(void)state;
	assert_int_equal(kill(pids[0], SIGKILL), 0);
	/* The task's grandchild goes too: without pidfds (MP_NO_PIDFD, old
	 * kernels, valgrind) the worker's sentinel is an exit pipe, which the
	 * grandchild inherited and would hold open. */
	kill(pids[1], SIGKILL);
	mpt_assert_rc(mp_future_result(hang, mpt_timeout(30), &out),
		      MP_EBROKEN);
	if (strstr(mp_last_error(), "killed by SIGKILL") == NULL)
		fail_msg("unexpected: %s", mp_last_error());
	for (int i = 0; i < 3; i++) {
		mpt_assert_ok(mp_future_result(queued[i], mpt_timeout(30), &out));
		assert_int_equal(*(const int *)out->data, 2 * i);
		mp_future_free(queued[i]);
	}
	mp_future_free(hang);
	assert_gone(pids[1]);
	hung_worker_done(ex, &q);
}

/* What the futures that were running say after terminate_workers or
 * kill_workers (sig): the local engine names the signal, the worker ranks
 * kill their local workers either way. */
static void want_signalled(char *want, size_t size, int sig)
{
#ifdef MPT_MPI
	(void)sig;
	snprintf(want, size, "the worker ranks were terminated");
#else
	snprintf(want, size, "killed by SIG%s", sigabbrev_np(sig));
#endif
}

static void check_signal_workers(int sig)
{
	mp_executor_t *ex = ex_new((mp_executor_opts_t){.max_workers = 2});
	mp_future_t *hang[2], *pend[GATES], *done;
	pid_t pids[2][2];
	struct fifo q, gate;
	int started = 0;
	char want[64];

	assert_non_null(ex);
	fifo_open(&q);
	fifo_open(&gate);
	done = submit_int(ex, 1);
	mpt_assert_ok(mp_future_result(done, mpt_timeout(30), NULL));
	for (int i = 0; i < 2; i++)
		hang[i] = submit_report(ex, &q);
	for (int i = 0; i < 2; i++)
		read_pids(q.fd, pids[i]);
	for (int i = 0; i < GATES; i++)
		pend[i] = submit_gate(ex, &gate, 0);
	mpt_assert_ok(sig == SIGTERM ? mp_executor_terminate_workers(ex)
				     : mp_executor_kill_workers(ex));
	mpt_assert_ok(mp_executor_shutdown(ex, 0)); /* the workers are gone */
	want_signalled(want, sizeof(want), sig);
	for (int i = 0; i < 2; i++) {
		mpt_assert_rc(mp_future_result(hang[i], 0, NULL), MP_EBROKEN);
		assert_non_null(strstr(mp_last_error(), want));
		assert_int_equal(mp_future_cancelled(hang[i]), 0);
		assert_int_equal(kill(pids[i][0], 0), -1); /* and reaped */
		assert_int_equal(errno, ESRCH);
		assert_gone(pids[i][1]);
		mp_future_free(hang[i]);
	}
	/* The waiting ones: those that started (the oldest, not all: see
	 * submit_gates) failed with their worker; the others are cancelled. */
	for (int i = 0; i < GATES; i++) {
		int rc = mp_future_result(pend[i], 0, NULL);

		if (rc == MP_EBROKEN) {
			assert_non_null(strstr(mp_last_error(), want));
			assert_int_equal(started++, i);
		} else {
			mpt_assert_rc(rc, MP_ECANCELLED);
		}
		assert_int_equal(mp_future_cancelled(pend[i]), rc != MP_EBROKEN);
		mp_future_free(pend[i]);
	}
	assert_true(started < GATES);
#ifndef MPT_MPI
	/* Locally none started: one task per worker while tasks look long. */
	assert_int_equal(started, 0);
#endif
	mpt_assert_ok(mp_future_result(done, 0, NULL));
	mp_future_free(done);
	assert_null(mp_executor_submit(ex, twice, &(int){1}, sizeof(int)));
	assert_int_equal(mp_last_error_code(), MP_ECLOSED);
	/* Again, and after shutdown: harmless. */
	mpt_assert_ok(mp_executor_kill_workers(ex));
	mpt_assert_ok(mp_executor_terminate_workers(ex));
	mp_executor_free(ex);
	fifo_close(&q);
	fifo_close(&gate);
}

/* No task waits behind a long one while a worker is idle (CPython's
 * shared call queue; on MPI, 2 worker ranks of one local worker each): a
 * task held by a gate, then tasks of functions not timed yet, then many of
 * one known to be short: all end while the held one still runs. */
static void test_no_wait_behind_long(void **state)
{
	mp_executor_opts_t opts = {.max_workers = 2};
	mp_future_t *held, *f[24];
	struct fifo q;
	mp_executor_t *ex;
#ifdef MPT_MPI
	mp_mpi_opts_t mo = {.local_workers = 1};

	opts.backend = mp_mpi_backend();
	opts.backend_arg = &mo;
#endif
	(void)state;
	ex = mp_executor_new(&opts);
	assert_non_null(ex);
	fifo_open(&q);
	held = submit_gate(ex, &q, 0);
	wait_running(held);
	for (int round = 0; round < 2; round++) {
		int n = round == 0 ? 4 : 24;

		for (int i = 0; i < n; i++)
			f[i] = round == 0 && i % 2 ? submit_gate(ex, NULL, 1)
						   : submit_int(ex, i);
		for (int i = 0; i < n; i++) {
			const mp_bytes_t *out;

			mpt_assert_ok(mp_future_result(f[i], mpt_timeout(10),
						       &out));
			assert_int_equal(*(const int *)out->data,
					 round == 0 && i % 2 ? 1 : 2 * i);
			mp_future_free(f[i]);
		}
	}
	assert_int_equal(mp_future_done(held), 0);
	open_gate(&q, 1);
	mpt_assert_ok(mp_future_result(held, mpt_timeout(10), NULL));
	mp_future_free(held);
	mp_executor_free(ex);
	fifo_close(&q);
}

static void test_terminate_workers(void **state)
{
	(void)state;
	check_signal_workers(SIGTERM);
	mpt_assert_rc(mp_executor_terminate_workers(NULL), -EINVAL);
}

static void test_kill_workers(void **state)
{
	(void)state;
	check_signal_workers(SIGKILL);
	mpt_assert_rc(mp_executor_kill_workers(NULL), -EINVAL);
}

static void test_submit_many(void **state)
{
	enum { N = 500 };
	static const void *in[N];
	static size_t len[N];
	static int x[N];
	static mp_future_t *f[N], *keep[N];
	mp_as_completed_t *it;
	mp_future_t *g;
	mp_executor_t *ex;
	const mp_bytes_t *out;
	size_t seen = 0;

	(void)state;
	ex = ex_new((mp_executor_opts_t){.max_workers = 2});
	assert_non_null(ex);
	for (int i = 0; i < N; i++) {
		x[i] = i;
		in[i] = &x[i];
		len[i] = sizeof(int);
	}
	x[9] = -9; /* fails */
	mpt_assert_ok(mp_executor_submit_many(ex, twice, in, len, N, f));
	it = mp_as_completed(f, N, mpt_timeout(30));
	assert_non_null(it);
	while (mp_as_completed_next(it, &g) == 0)
		seen++;
	mp_as_completed_free(it);
	assert_int_equal(seen, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(mp_future_done(f[i]), 1);
		if (i == 9) {
			mpt_assert_rc(mp_future_result(f[i], 0, &out), MP_ETASK);
			assert_string_equal(mp_last_error(),
					    "mp_future_result: negative: -9");
		} else {
			mpt_assert_ok(mp_future_result(f[i], 0, &out));
			assert_int_equal(*(const int *)out->data, 2 * i);
		}
		mp_future_free(f[i]);
	}
	mpt_assert_ok(mp_executor_submit_many(ex, twice, NULL, NULL, 0, NULL));
	for (int i = 0; i < N; i++)
		keep[i] = f[i] = (mp_future_t *)&x[0];
	mpt_assert_rc(mp_executor_submit_many(ex, twice, in, NULL, N, f),
		      -EINVAL);
	assert_string_equal(mp_last_error(), "mp_executor_submit_many: "
			    "argument 'in_len' is NULL but n is 500");
	mpt_assert_rc(mp_executor_submit_many(NULL, twice, in, len, N, f),
		      -EINVAL);
	mpt_assert_ok(mp_executor_shutdown(ex, 0));
	mpt_assert_rc(mp_executor_submit_many(ex, twice, in, len, N, f),
		      MP_ECLOSED);
	assert_string_equal(mp_last_error(), "mp_executor_submit_many: cannot "
			    "schedule new futures after shutdown");
	assert_memory_equal(f, keep, sizeof(f));
	mp_executor_free(ex);
}

#ifndef MPT_MPI
/*
 * mp_future_kill racing the task's end, each start method: 1 (killed) only
 * with a future that then ends cancelled, even when the result was on its
 * way; 0 (it had finished) with the result.  Each round kills just after
 * the task says it ends.
 */
static void test_future_kill_racing_the_result(void **state)
{
	enum { ROUNDS = 40 };

	(void)state;
	for (size_t m = 0; m < MPT_NMETHODS; m++) {
		mp_executor_t *ex = mp_executor_new(&(mp_executor_opts_t){
			.max_workers = 1, .start_method = methods[m]});
		struct fifo q;
		int killed = 0;

		assert_non_null(ex);
		fifo_open(&q);
		for (int i = 0; i < ROUNDS; i++) {
			mp_future_t *f = mp_executor_submit(ex, tell_then_return,
							    q.path,
							    sizeof(q.path));
			const mp_bytes_t *out;
			char c;
			int k, rc;

			assert_non_null(f);
			assert_int_equal(poll(&(struct pollfd){q.fd, POLLIN, 0}, 1,
					      (int)(mpt_timeout(30) * 1000)), 1);
			assert_int_equal(read(q.fd, &c, 1), 1);
			k = mp_future_kill(f);
			rc = mp_future_result(f, mpt_timeout(30), &out);
			if (k == 1) {
				if (rc != MP_ECANCELLED)
					fail_msg("%s, round %d: killed, yet the "
						 "result was %d", methods[m], i, rc);
				assert_int_equal(mp_future_cancelled(f), 1);
				killed++;
			} else {
				assert_int_equal(k, 0);
				mpt_assert_ok(rc);
				assert_memory_equal(out->data, "done", 4);
			}
			mp_future_free(f);
		}
		print_message("%s: %d of %d rounds killed the task\n",
			      methods[m], killed, ROUNDS);
		mpt_assert_ok(mp_executor_shutdown(ex, 0));
		mp_executor_free(ex);
		fifo_close(&q);
	}
}
#endif

#ifdef MPT_MPI
/* mpirun -np 3 test_executor_mpi <test>: that test, on the MPI backend.
 * MPI starts first, so that its fds and /dev/shm segments are there
 * before the tests count them. */
int main(int argc, char **argv)
{
	const struct CMUnitTest mpi_tests[] = {
		MPT(test_submit_result_exception),
		MPT(test_cancel_pending_not_running),
		MPT(test_done_callbacks),
		MPT(test_as_completed),
		MPT(test_wait),
		MPT(test_map_timeout),
		MPT(test_shutdown),
		MPT(test_new_and_submit_messages),
		MPT(test_map_sizes_that_wrap),
		MPT(test_free_waits_for_short_futures),
		MPT(test_shutdown_flags),
		MPT(test_success_keeps_last_error),
		MPT(test_future_kill),
		MPT(test_no_wait_behind_long),
		MPT(test_terminate_workers),
		MPT_DEADLINE(test_free_is_bounded, 60),
		MPT(test_kill_workers),
		MPT(test_submit_many),
	};
	int provided = 0;

	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) !=
		    MPI_SUCCESS)
		return 98;
	for (size_t i = 0; argc == 2 && i < sizeof(mpi_tests) /
						     sizeof(mpi_tests[0]); i++)
		if (strcmp(mpi_tests[i].name, argv[1]) == 0) {
			int rc = _cmocka_run_group_tests(argv[1], &mpi_tests[i],
							 1, NULL, NULL);

			MPI_Finalize(); /* ours: the worker ranks did theirs */
			return rc;
		}
	fprintf(stderr, "usage: test_executor_mpi <test of mpi_tests[]>\n");
	return 2;
}
#else
int main(int argc, char **argv)
{
	int init = mp_init(argc, argv); /* first: a spawn worker runs here */
	struct CMUnitTest tests[] = {
		MPT(test_submit_result_exception),
		MPT(test_cancel_pending_not_running),
		MPT(test_done_callbacks),
		MPT(test_as_completed),
		MPT(test_wait),
		MPT(test_map_timeout),
		MPT(test_shutdown),
		MPT(test_crash_initializer_max_tasks),
		MPT(test_new_and_submit_messages),
		MPT(test_backend_bad_args),
		MPT(test_map_sizes_that_wrap),
		MPT(test_exit_with_live_executor),
		MPT_DEADLINE(test_free_is_bounded, 60),
		MPT(test_free_waits_for_short_futures),
		MPT(test_shutdown_flags),
		MPT(test_success_keeps_last_error),
		MPT(test_future_kill),
		MPT(test_future_kill_racing_the_result),
		MPT(test_sigkilled_worker_fails_once),
		MPT(test_no_wait_behind_long),
		MPT(test_terminate_workers),
		MPT(test_kill_workers),
		MPT(test_submit_many),
	};


	if (argc == 2 && strcmp(argv[1], "--exit-with-live-executor") == 0)
		return exit_with_live_executor();
	if (init < 0)
		return 98;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
