/* test_nulls.c - the floor of every public function: a NULL where an
 * object or a required input belongs is a clear error (a negative code and
 * a message naming the function and the argument), never a crash.
 *
 * One line per call, grouped by header, one NULL at a time, the other
 * arguments valid (objects the group's test made) or zero.  Each call runs
 * in a forked child, so a crash (or a hang: an alarm ends it) is a failure
 * naming the call, and the run goes on to list every failing call.
 *   N_INT(fn, "arg", (args))   returns a negative int (-EINVAL)
 *   N_PTR(fn, "arg", (args))   returns NULL, the code in mp_last_error_code()
 *   N_ZERO(fn, "arg", (args))  returns 0 ('\0', size 0) with the code set
 *   N_VOID(fn, "arg", (args))  a void function: does nothing but set the code
 *   N_NOOP(fn, (args))         documented no-op (_free(NULL) ...): no crash
 *   N_RC(fn, (args), rc)       a NULL documented as meaningful: returns rc
 * Each of the first four also wants mp_last_error_code() negative and
 * mp_last_error() naming fn and the argument.
 *
 * A test of its own file (not test_common.c): the table is as long as the
 * API, and test_nulls_covers_every_function checks it against the MP_API
 * declarations of include/mproc/: every function has a line here, or an
 * X(fn, "reason") line saying why not (no pointer argument, a pointer whose
 * NULL is the documented default, or a function that cannot run here).
 */
#include "mptest.h"

#include <ctype.h>
#include <glob.h>
#include <sys/stat.h>

#include "internal/error.h"
#include "mproc.h"
#include "mproc/mpi.h"

static int failures;

/* How a child says its call failed the floor (a sanitizer exits 1). */
enum {
	NULLS_NO_ERROR = 10, /* returned success */
	NULLS_NO_CODE,       /* mp_last_error_code() not negative */
	NULLS_UNNAMED,       /* the message names not fn and the argument */
	NULLS_OTHER_RC,      /* N_RC: not the documented result */
};

/* In the child, before the call: no failure yet, crashes kill, a hang
 * ends by SIGALRM. */
static void nulls_child_start(void)
{
	mpt_crash_signals_default();
	signal(SIGALRM, SIG_DFL);
	alarm((unsigned)mpt_timeout(20));
	mp__error(0, "nulls", "%s", "");
}

static bool nulls_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Does text hold word as a word of its own ("argument 'd' is NULL", "fs[0]
 * is NULL"; not the d of "expected dict")? */
static bool nulls_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)) != NULL; p++)
		if ((p == text || !nulls_ident(p[-1])) && !nulls_ident(p[n]))
			return true;
	return false;
}

/* In the child, after a call that must have failed: 0 if the code is
 * negative and the message names fn and arg, else 1 with why on stderr. */
static int nulls_named(const char *fn, const char *arg, int returned_bad)
{
	const char *msg = mp_last_error();

	if (!returned_bad) {
		fprintf(stderr, "  %s(%s NULL): returned success\n", fn, arg);
		return NULLS_NO_ERROR;
	}
	if (mp_last_error_code() >= 0) {
		fprintf(stderr, "  %s(%s NULL): mp_last_error_code() %d\n", fn,
			arg, mp_last_error_code());
		return NULLS_NO_CODE;
	}
	if (strncmp(msg, fn, strlen(fn)) != 0 ||
	    !nulls_word(msg + strlen(fn), arg)) {
		fprintf(stderr, "  %s(%s NULL): message \"%s\"\n", fn, arg,
			msg);
		return NULLS_UNNAMED;
	}
	return 0;
}

/* In the parent: wait for the child of one call and count a failure. */
static void nulls_reap(pid_t pid, const char *call)
{
	int code = mpt_exit_code(pid);

	if (code == 0)
		return;
	failures++;
	if (code > 128)
		print_error("%s: killed by signal %d%s\n", call, code - 128,
			    code - 128 == SIGALRM ? " (hung)" : "");
	else if (code >= NULLS_NO_ERROR && code <= NULLS_OTHER_RC)
		print_error("%s: %s\n", call,
			    code == NULLS_NO_ERROR ? "no error returned" :
			    code == NULLS_NO_CODE  ? "no error code" :
			    code == NULLS_UNNAMED  ? "the message names not the "
						     "call and argument" :
						     "not the documented result");
	else /* a sanitizer's report (exit 1) */
		print_error("%s: exited %d (a crash under a sanitizer? its "
			    "report is above)\n", call, code);
}

#define N_FORK_(call, body)                                                   \
	do {                                                                  \
		pid_t pid_;                                                   \
		fflush(NULL);                                                 \
		pid_ = fork();                                                \
		assert_true(pid_ >= 0);                                       \
		if (pid_ == 0) {                                              \
			nulls_child_start();                                  \
			body;                                                 \
		}                                                             \
		nulls_reap(pid_, call);                                       \
	} while (0)

#define N_INT(fn, arg, args)                                                  \
	N_FORK_(#fn #args, _exit(nulls_named(#fn, arg, (fn args) < 0)))
#define N_PTR(fn, arg, args)                                                  \
	N_FORK_(#fn #args, _exit(nulls_named(#fn, arg, (fn args) == NULL)))
#define N_ZERO(fn, arg, args)                                                 \
	N_FORK_(#fn #args, _exit(nulls_named(#fn, arg, (fn args) == 0)))
#define N_VOID(fn, arg, args)                                                 \
	N_FORK_(#fn #args, fn args; _exit(nulls_named(#fn, arg, 1)))
#define N_NOOP(fn, args) N_FORK_(#fn #args, fn args; _exit(0))
#define N_RC(fn, args, rc)                                                    \
	N_FORK_(#fn #args, _exit((fn args) == (rc) ? 0 : NULLS_OTHER_RC))
/* Not called here, with the reason (read by the coverage test). */
#define X(fn, reason)

#define nulls_done() assert_int_equal(failures, 0)

/* ---- common.h ---- */

static void test_nulls_common(void **state)
{
	(void)state;
	X(mp_version, "no pointer argument");
	X(mp_version_string, "no pointer argument");
	X(mp_strerror, "no pointer argument");
	X(mp_err_name, "no pointer argument");
	X(mp_last_error, "no pointer argument");
	X(mp_last_error_code, "no pointer argument");
	N_NOOP(mp_buf_free, (NULL));
	N_NOOP(mp_bytes_destroy, (NULL));
	N_INT(mp_replace_allocator, "malloc_func", (NULL, realloc, calloc, free));
	N_INT(mp_replace_allocator, "realloc_func", (malloc, NULL, calloc, free));
	N_INT(mp_replace_allocator, "calloc_func", (malloc, realloc, NULL, free));
	N_INT(mp_replace_allocator, "free_func", (malloc, realloc, calloc, NULL));
	nulls_done();
}

/* ---- connection.h ---- */

static void test_nulls_connection(void **state)
{
	mp_connection_t *a, *b;
	mp_listener_t *l;
	mp_bytes_t out = {0};
	char addr[64], buf[8];
	size_t len;
	int fd;

	(void)state;
	mpt_assert_ok(mp_pipe(0, &a, &b));
	snprintf(addr, sizeof(addr), "@mp_nulls_%d", (int)getpid());
	l = mp_listener_new(addr, NULL);
	assert_non_null(l);
	N_INT(mp_pipe, "conn1", (0, NULL, &b));
	N_INT(mp_pipe, "conn2", (0, &a, NULL));
	X(mp_connection_new, "no pointer argument");
	N_INT(mp_connection_fileno, "c", (NULL));
	N_INT(mp_connection_send_bytes, "c", (NULL, "x", 1));
	N_INT(mp_connection_send_bytes, "buf", (a, NULL, 1));
	N_INT(mp_connection_recv_bytes, "c", (NULL, 0, &out));
	N_INT(mp_connection_recv_bytes, "out", (a, 0, NULL));
	N_INT(mp_connection_recv_bytes_into, "c", (NULL, buf, sizeof(buf), &len));
	N_INT(mp_connection_recv_bytes_into, "buf", (a, NULL, sizeof(buf), &len));
	N_INT(mp_connection_recv_bytes_into, "len", (a, buf, sizeof(buf), NULL));
	N_INT(mp_connection_poll, "c", (NULL, 0));
	N_INT(mp_connection_send_fd, "c", (NULL, 0));
	N_INT(mp_connection_recv_fd, "c", (NULL, &fd));
	N_INT(mp_connection_recv_fd, "fd", (a, NULL));
	N_INT(mp_connection_close, "c", (NULL));
	N_NOOP(mp_connection_free, (NULL));
	N_PTR(mp_listener_new, "address", (NULL, NULL));
	N_PTR(mp_listener_address, "l", (NULL));
	N_INT(mp_listener_accept, "l", (NULL, 0, &a));
	N_INT(mp_listener_accept, "conn", (l, 0, NULL));
	N_INT(mp_listener_close, "l", (NULL));
	N_NOOP(mp_listener_free, (NULL));
	N_PTR(mp_client, "address", (NULL, NULL, 0));
	N_INT(mp_mkfifo, "path", (NULL, 0600));
	mp_listener_free(l);
	mp_connection_free(a);
	mp_connection_free(b);
	nulls_done();
}

/* ---- executor.h and backend.h ---- */

static int nulls_task(const void *in, size_t in_len, mp_task_out_t *out)
{
	(void)in;
	(void)in_len;
	(void)out;
	return 0;
}

static int nulls_map(const void *in, void *out)
{
	memcpy(out, in, sizeof(int));
	return 0;
}

static void nulls_done_cb(mp_future_t *f, void *arg)
{
	(void)f;
	(void)arg;
}

static void test_nulls_executor(void **state)
{
	mp_executor_opts_t opts = {.max_workers = 1};
	mp_executor_t *ex;
	mp_future_t *f, *fs[1];
	mp_as_completed_t *it;
	mp_backend_job_t job;
	const mp_bytes_t *res;
	const void *in[1] = {"x"};
	size_t in_len[1] = {1};
	int ins[2] = {1, 2}, outs[2];

	(void)state;
	ex = mp_executor_new(&opts);
	assert_non_null(ex);
	f = mp_executor_submit(ex, nulls_task, "x", 1);
	assert_non_null(f);
	fs[0] = f;
	it = mp_as_completed(fs, 1, MP_FOREVER);
	assert_non_null(it);
	mpt_assert_ok(mp_future_result(f, MP_FOREVER, &res));
	X(mp_executor_new, "opts NULL: defaults (documented)");
	N_PTR(mp_executor_submit, "ex", (NULL, nulls_task, "x", 1));
	N_PTR(mp_executor_submit, "fn", (ex, NULL, "x", 1));
	N_PTR(mp_executor_submit, "in", (ex, nulls_task, NULL, 1));
	N_INT(mp_executor_submit_many, "ex", (NULL, nulls_task, in, in_len, 1, fs));
	N_INT(mp_executor_submit_many, "fn", (ex, NULL, in, in_len, 1, fs));
	N_INT(mp_executor_submit_many, "in", (ex, nulls_task, NULL, in_len, 1, fs));
	N_INT(mp_executor_submit_many, "in_len", (ex, nulls_task, in, NULL, 1, fs));
	N_INT(mp_executor_submit_many, "out", (ex, nulls_task, in, in_len, 1, NULL));
	N_INT(mp_future_result, "f", (NULL, 0, &res));
	N_RC(mp_future_result, (f, MP_FOREVER, NULL), 0);
	N_INT(mp_future_exception, "f", (NULL, 0));
	N_INT(mp_future_done, "f", (NULL));
	N_INT(mp_future_running, "f", (NULL));
	N_INT(mp_future_cancelled, "f", (NULL));
	N_INT(mp_future_cancel, "f", (NULL));
	N_INT(mp_future_kill, "f", (NULL));
	N_INT(mp_future_add_done_callback, "f", (NULL, nulls_done_cb, NULL));
	N_INT(mp_future_add_done_callback, "fn", (f, NULL, NULL));
	N_NOOP(mp_future_free, (NULL));
	N_PTR(mp_as_completed, "fs", (NULL, 1, 0));
	N_PTR(mp_as_completed, "fs", ((mp_future_t *[]){NULL}, 1, 0));
	N_INT(mp_as_completed_next, "it", (NULL, &f));
	N_INT(mp_as_completed_next, "f", (it, NULL));
	N_NOOP(mp_as_completed_free, (NULL));
	N_INT(mp_futures_wait, "fs", (NULL, 1, 0, MP_ALL_COMPLETED));
	N_INT(mp_futures_wait, "fs", ((mp_future_t *[]){NULL}, 1, 0, MP_ALL_COMPLETED));
	N_INT(mp_executor_map, "ex", (NULL, nulls_map, ins, 2, sizeof(int), outs, sizeof(int), NULL, MP_FOREVER));
	N_INT(mp_executor_map, "fn", (ex, NULL, ins, 2, sizeof(int), outs, sizeof(int), NULL, MP_FOREVER));
	N_INT(mp_executor_map, "in", (ex, nulls_map, NULL, 2, sizeof(int), outs, sizeof(int), NULL, MP_FOREVER));
	N_INT(mp_executor_map, "out", (ex, nulls_map, ins, 2, sizeof(int), NULL, sizeof(int), NULL, MP_FOREVER));
	N_INT(mp_executor_shutdown, "ex", (NULL, 0));
	N_INT(mp_executor_terminate_workers, "ex", (NULL));
	N_INT(mp_executor_kill_workers, "ex", (NULL));
	N_NOOP(mp_executor_free, (NULL));
	/* backend.h: ex a local executor is refused too (test_executor). */
	N_ZERO(mp_executor_backend_take, "ex", (NULL, 1, &job));
	N_VOID(mp_executor_backend_end, "ex", (NULL, &job, 0, NULL, 0));
	N_INT(mp_executor_backend_state, "ex", (NULL));
	N_VOID(mp_executor_backend_stopped, "ex", (NULL));
	N_VOID(mp_executor_backend_break, "ex", (NULL, "broke"));
	X(mp_executor_backend_why, "fmt is a printf format: NULL is undefined as for printf (glibc leaves an empty reason); no object, it only leaves a reason");
	mp_as_completed_free(it);
	mp_future_free(f);
	mp_executor_free(ex);
	nulls_done();
}

/* ---- pool.h ---- */

static int nulls_input(void *arg, const void **in, size_t *len)
{
	int *left = arg;

	if (*left == 0)
		return 0;
	(*left)--;
	*in = "x";
	*len = 1;
	return 1;
}

/* In a worker: mp_task_return with data NULL (len 1) must fail as the
 * floor says; the task returns "ok" or what went wrong. */
static int nulls_task_return_null(const void *in, size_t in_len,
				  mp_task_out_t *out)
{
	const char *why = "ok";

	(void)in;
	(void)in_len;
	if (mp_task_return(out, NULL, 1) != -EINVAL)
		why = "mp_task_return(out, NULL, 1) is not -EINVAL";
	else if (!nulls_word(mp_last_error(), "data"))
		why = mp_last_error();
	return mp_task_return(out, why, strlen(why));
}

static void test_nulls_pool(void **state)
{
	mp_pool_opts_t opts = {.processes = 1};
	mp_pool_t *pool;
	mp_async_result_t *r, *rs[1];
	mp_imap_t *it;
	const mp_bytes_t *res;
	mp_bytes_t out = {0};
	const void *in[1] = {"x"};
	size_t in_len[1] = {1}, index;
	int ins[2] = {1, 2}, outs[2], left = 1;

	(void)state;
	pool = mp_pool_new(&opts);
	assert_non_null(pool);
	r = mp_pool_apply_async(pool, nulls_task, "x", 1, NULL);
	assert_non_null(r);
	mpt_assert_ok(mp_async_result_wait(r, MP_FOREVER));
	it = mp_pool_imap(pool, nulls_task, nulls_input, &left, NULL);
	assert_non_null(it);
	N_INT(mp_task_return, "out", (NULL, "x", 1));
	mpt_assert_ok(mp_pool_apply(pool, nulls_task_return_null, NULL, 0, &out));
	assert_string_equal(out.data, "ok");
	mp_bytes_destroy(&out);
	N_RC(mp_task_fail, (NULL, "%s", "documented: records nothing"), -1);
	X(mp_pool_new, "opts NULL: defaults (documented)");
	N_PTR(mp_pool_apply_async, "pool", (NULL, nulls_task, "x", 1, NULL));
	N_PTR(mp_pool_apply_async, "fn", (pool, NULL, "x", 1, NULL));
	N_PTR(mp_pool_apply_async, "in", (pool, nulls_task, NULL, 1, NULL));
	N_INT(mp_pool_apply_async_many, "pool", (NULL, nulls_task, in, in_len, 1, NULL, rs));
	N_INT(mp_pool_apply_async_many, "fn", (pool, NULL, in, in_len, 1, NULL, rs));
	N_INT(mp_pool_apply_async_many, "in", (pool, nulls_task, NULL, in_len, 1, NULL, rs));
	N_INT(mp_pool_apply_async_many, "in_len", (pool, nulls_task, in, NULL, 1, NULL, rs));
	N_INT(mp_pool_apply_async_many, "out", (pool, nulls_task, in, in_len, 1, NULL, NULL));
	N_INT(mp_async_result_get, "r", (NULL, 0, &res));
	N_RC(mp_async_result_get, (r, 0, NULL), 0);
	N_INT(mp_async_result_wait, "r", (NULL, 0));
	N_INT(mp_async_result_ready, "r", (NULL));
	N_INT(mp_async_result_successful, "r", (NULL));
	N_INT(mp_async_result_kill, "r", (NULL));
	N_NOOP(mp_async_result_free, (NULL));
	N_INT(mp_pool_apply, "pool", (NULL, nulls_task, "x", 1, &out));
	N_INT(mp_pool_apply, "fn", (pool, NULL, "x", 1, &out));
	N_INT(mp_pool_apply, "in", (pool, nulls_task, NULL, 1, &out));
	N_INT(mp_pool_apply, "out", (pool, nulls_task, "x", 1, NULL));
	N_INT(mp_pool_map, "pool", (NULL, nulls_map, ins, 2, sizeof(int), outs, sizeof(int), NULL));
	N_INT(mp_pool_map, "fn", (pool, NULL, ins, 2, sizeof(int), outs, sizeof(int), NULL));
	N_INT(mp_pool_map, "in", (pool, nulls_map, NULL, 2, sizeof(int), outs, sizeof(int), NULL));
	N_INT(mp_pool_map, "out", (pool, nulls_map, ins, 2, sizeof(int), NULL, sizeof(int), NULL));
	N_PTR(mp_pool_map_async, "pool", (NULL, nulls_map, ins, 2, sizeof(int), outs, sizeof(int), NULL));
	N_PTR(mp_pool_map_async, "fn", (pool, NULL, ins, 2, sizeof(int), outs, sizeof(int), NULL));
	N_PTR(mp_pool_map_async, "in", (pool, nulls_map, NULL, 2, sizeof(int), outs, sizeof(int), NULL));
	N_PTR(mp_pool_map_async, "out", (pool, nulls_map, ins, 2, sizeof(int), NULL, sizeof(int), NULL));
	N_PTR(mp_pool_imap, "pool", (NULL, nulls_task, nulls_input, &left, NULL));
	N_PTR(mp_pool_imap, "fn", (pool, NULL, nulls_input, &left, NULL));
	N_PTR(mp_pool_imap, "next", (pool, nulls_task, NULL, &left, NULL));
	N_INT(mp_imap_next, "it", (NULL, 0, &res, &index));
	N_NOOP(mp_imap_free, (NULL));
	N_INT(mp_pool_close, "pool", (NULL));
	N_INT(mp_pool_terminate, "pool", (NULL));
	N_INT(mp_pool_join, "pool", (NULL, 0));
	N_NOOP(mp_pool_free, (NULL));
	mp_imap_free(it);
	mp_async_result_free(r);
	mp_pool_free(pool);
	nulls_done();
}

/* ---- process.h ---- */

static int nulls_target(void *arg)
{
	(void)arg;
	return 0;
}

static void test_nulls_process(void **state)
{
	mp_process_t *p, *kids[1];
	mp_rusage_t ru;
	mp_proc_status_t st;
	const char *methods[4];
	int code;

	(void)state;
	p = mp_process_new(nulls_target, NULL, NULL);
	assert_non_null(p);
	mpt_assert_ok(mp_process_start(p));
	mpt_assert_ok(mp_process_join(p, MP_FOREVER));
	X(mp_process_shared, "no pointer argument");
	X(mp_init, "argv is not read (the program is /proc/self/exe); a call starts the fork server");
	N_INT(mp_set_start_method, "method", (NULL, 0));
	X(mp_get_start_method, "no pointer argument");
	N_INT(mp_get_all_start_methods, "out", (NULL, 4));
	N_RC(mp_get_all_start_methods, (NULL, 0), 3);
	N_VOID(mp_target_register, "e", (NULL));
	N_VOID(mp_target_register, "e->name", (&(struct mp_target_entry){.fn = nulls_target}));
	N_VOID(mp_target_register, "e->fn", (&(struct mp_target_entry){.name = "t"}));
	N_PTR(mp_process_new, "target", (NULL, NULL, NULL));
	N_INT(mp_process_start, "p", (NULL));
	N_INT(mp_process_run, "p", (NULL));
	N_INT(mp_process_join, "p", (NULL, 0));
	N_INT(mp_process_is_alive, "p", (NULL));
	N_INT(mp_process_exitcode, "p", (NULL, &code));
	N_INT(mp_process_exitcode, "exitcode", (p, NULL));
	N_INT(mp_process_terminate, "p", (NULL));
	N_INT(mp_process_kill, "p", (NULL));
	N_INT(mp_process_send_signal, "p", (NULL, SIGTERM));
	N_INT(mp_process_sentinel, "p", (NULL));
	N_INT(mp_process_rusage, "p", (NULL, &ru));
	N_INT(mp_process_rusage, "ru", (p, NULL));
	N_INT(mp_process_close, "p", (NULL));
	N_NOOP(mp_process_free, (NULL));
	N_INT(mp_process_pid, "p", (NULL));
	N_PTR(mp_process_name, "p", (NULL));
	N_INT(mp_process_set_name, "p", (NULL, "x"));
	N_INT(mp_process_set_name, "name", (p, NULL));
	N_INT(mp_process_daemon, "p", (NULL));
	N_INT(mp_process_set_daemon, "p", (NULL, true));
	X(mp_current_process, "no pointer argument");
	X(mp_parent_process, "no pointer argument");
	N_INT(mp_active_children, "out", (NULL, 1));
	N_RC(mp_active_children, (NULL, 0), 0);
	X(mp_cpu_count, "no pointer argument");
	N_INT(mp_proc_status, "st", (getpid(), NULL));
	(void)kids;
	(void)methods;
	(void)st;
	mp_process_free(p);
	nulls_done();
}

/* ---- queue.h ---- */

static void test_nulls_queue(void **state)
{
	mp_queue_t *q;
	mp_bytes_t msg = {0};
	char buf[8];
	size_t len;

	(void)state;
	q = mp_queue_new(&(mp_queue_opts_t){.joinable = true});
	assert_non_null(q);
	mpt_assert_ok(mp_queue_put(q, "x", 1, MP_FOREVER));
	X(mp_queue_new, "opts NULL: an unbounded Queue (documented)");
	X(mp_simplequeue_new, "no pointer argument");
	N_NOOP(mp_queue_free, (NULL));
	N_INT(mp_queue_put, "q", (NULL, "x", 1, 0));
	N_INT(mp_queue_put, "msg", (q, NULL, 1, 0));
	N_INT(mp_queue_put_nowait, "q", (NULL, "x", 1));
	N_INT(mp_queue_put_nowait, "msg", (q, NULL, 1));
	N_INT(mp_queue_get, "q", (NULL, 0, &msg));
	N_INT(mp_queue_get, "msg", (q, 0, NULL));
	N_INT(mp_queue_get_nowait, "q", (NULL, &msg));
	N_INT(mp_queue_get_nowait, "msg", (q, NULL));
	N_INT(mp_queue_get_into, "q", (NULL, buf, sizeof(buf), 0, &len));
	N_INT(mp_queue_get_into, "buf", (q, NULL, sizeof(buf), 0, &len));
	N_INT(mp_queue_get_into, "len", (q, buf, sizeof(buf), 0, NULL));
	N_INT(mp_queue_qsize, "q", (NULL));
	N_INT(mp_queue_empty, "q", (NULL));
	N_INT(mp_queue_full, "q", (NULL));
	N_INT(mp_queue_close, "q", (NULL));
	N_INT(mp_queue_task_done, "q", (NULL));
	N_INT(mp_queue_join, "q", (NULL, 0));
	mp_queue_free(q);
	nulls_done();
}

/* ---- shm.h ---- */

static void test_nulls_shm(void **state)
{
	mp_value_t *v;
	mp_array_t *a;
	int x = 0;

	(void)state;
	v = mp_value_new('i', NULL, NULL);
	assert_non_null(v);
	a = mp_array_new('i', 2, NULL, NULL);
	assert_non_null(a);
	X(mp_shared_alloc, "no pointer argument");
	N_NOOP(mp_shared_free, (NULL));
	X(mp_typecode_size, "no pointer argument");
	X(mp_value_new, "init NULL: 0, opts NULL: defaults (documented)");
	N_NOOP(mp_value_free, (NULL));
	N_PTR(mp_value_ptr, "v", (NULL));
	N_INT(mp_value_get, "v", (NULL, &x));
	N_INT(mp_value_get, "out", (v, NULL));
	N_INT(mp_value_set, "v", (NULL, &x));
	N_INT(mp_value_set, "in", (v, NULL));
	N_PTR(mp_value_get_lock, "v", (NULL));
	N_ZERO(mp_value_typecode, "v", (NULL));
	X(mp_array_new, "init NULL: zeros, opts NULL: defaults (documented)");
	N_NOOP(mp_array_free, (NULL));
	N_PTR(mp_array_ptr, "a", (NULL));
	N_ZERO(mp_array_len, "a", (NULL));
	N_ZERO(mp_array_typecode, "a", (NULL));
	N_INT(mp_array_get, "a", (NULL, 0, &x));
	N_INT(mp_array_get, "out", (a, 0, NULL));
	N_INT(mp_array_set, "a", (NULL, 0, &x));
	N_INT(mp_array_set, "in", (a, 0, NULL));
	N_PTR(mp_array_get_lock, "a", (NULL));
	X(mp_shm_create, "name NULL: an automatic name, opts NULL: defaults (documented)");
	N_PTR(mp_shm_attach, "name", (NULL));
	N_PTR(mp_shm_buf, "s", (NULL));
	N_ZERO(mp_shm_size, "s", (NULL));
	N_PTR(mp_shm_name, "s", (NULL));
	N_INT(mp_shm_close, "s", (NULL));
	N_INT(mp_shm_unlink, "s", (NULL));
	N_NOOP(mp_shm_free, (NULL));
	mp_array_free(a);
	mp_value_free(v);
	nulls_done();
}

/* ---- signal.h ---- */

static void test_nulls_signal(void **state)
{
	pid_t sender;

	(void)state;
	X(mp_signal_send, "no pointer argument");
	N_INT(mp_signal_block, "sigs", (NULL, 1));
	N_INT(mp_signal_unblock, "sigs", (NULL, 1));
	N_INT(mp_signal_wait, "sigs", (NULL, 1, 0, &sender));
	N_RC(mp_signal_wait, ((int[]){SIGUSR1}, 1, 0, NULL), -ETIMEDOUT);
	nulls_done();
}

/* ---- subprocess.h ---- */

static void test_nulls_subprocess(void **state)
{
	const char *argv[] = {"true", NULL};
	mp_popen_t *p;
	mp_completed_t res = {0};
	mp_bytes_t line = {0};
	char **lines;
	int rc;

	(void)state;
	p = mp_popen_new(argv, NULL);
	assert_non_null(p);
	mpt_assert_ok(mp_popen_wait(p, MP_FOREVER, &rc));
	N_PTR(mp_popen_new, "argv", (NULL, NULL));
	N_INT(mp_popen_pid, "p", (NULL));
	N_INT(mp_popen_stdin, "p", (NULL));
	N_INT(mp_popen_stdout, "p", (NULL));
	N_INT(mp_popen_stderr, "p", (NULL));
	N_INT(mp_popen_poll, "p", (NULL, &rc));
	N_RC(mp_popen_poll, (p, NULL), 1);
	N_INT(mp_popen_wait, "p", (NULL, 0, &rc));
	N_RC(mp_popen_wait, (p, 0, NULL), 0);
	N_INT(mp_popen_communicate, "p", (NULL, NULL, 0, 0, NULL, NULL));
	N_INT(mp_popen_communicate, "input", (p, NULL, 1, 0, NULL, NULL));
	N_INT(mp_popen_readline, "p", (NULL, 0, &line));
	N_INT(mp_popen_readline, "line", (p, 0, NULL));
	N_INT(mp_popen_terminate, "p", (NULL));
	N_INT(mp_popen_kill, "p", (NULL));
	N_INT(mp_popen_send_signal, "p", (NULL, SIGTERM));
	N_NOOP(mp_popen_free, (NULL));
	N_INT(mp_run, "argv", (NULL, NULL, &res));
	N_INT(mp_run, "res", (argv, NULL, NULL));
	N_NOOP(mp_completed_destroy, (NULL));
	N_INT(mp_bytes_lines, "b", (NULL, &lines));
	N_INT(mp_bytes_lines, "lines", (&line, NULL));
	mp_popen_free(p);
	nulls_done();
}

/* ---- sync.h ---- */

static int nulls_pred(void *arg)
{
	(void)arg;
	return 1;
}

static void test_nulls_sync(void **state)
{
	mp_condition_t *c;

	(void)state;
	c = mp_condition_new(NULL);
	assert_non_null(c);
	N_INT(mp_lock_init, "l", (NULL));
	N_NOOP(mp_lock_destroy, (NULL));
	X(mp_lock_new, "no pointer argument");
	N_NOOP(mp_lock_free, (NULL));
	N_INT(mp_lock_acquire, "l", (NULL, 0));
	N_INT(mp_lock_release, "l", (NULL));
	N_INT(mp_lock_consistent, "l", (NULL));
	N_INT(mp_lock_locked, "l", (NULL));
	N_INT(mp_rlock_init, "r", (NULL));
	N_NOOP(mp_rlock_destroy, (NULL));
	X(mp_rlock_new, "no pointer argument");
	N_NOOP(mp_rlock_free, (NULL));
	N_INT(mp_rlock_acquire, "r", (NULL, 0));
	N_INT(mp_rlock_release, "r", (NULL));
	N_INT(mp_rlock_consistent, "r", (NULL));
	N_INT(mp_rlock_count, "r", (NULL));
	N_INT(mp_semaphore_init, "s", (NULL, 1, NULL));
	N_NOOP(mp_semaphore_destroy, (NULL));
	X(mp_semaphore_new, "opts NULL: a plain Semaphore (documented)");
	N_NOOP(mp_semaphore_free, (NULL));
	N_INT(mp_semaphore_acquire, "s", (NULL, 0));
	N_INT(mp_semaphore_release, "s", (NULL, 1));
	N_INT(mp_semaphore_get_value, "s", (NULL));
	N_INT(mp_event_init, "e", (NULL));
	N_NOOP(mp_event_destroy, (NULL));
	X(mp_event_new, "no pointer argument");
	N_NOOP(mp_event_free, (NULL));
	N_INT(mp_event_set, "e", (NULL));
	N_INT(mp_event_clear, "e", (NULL));
	N_INT(mp_event_is_set, "e", (NULL));
	N_INT(mp_event_wait, "e", (NULL, 0));
	N_INT(mp_condition_init, "c", (NULL, NULL));
	N_NOOP(mp_condition_destroy, (NULL));
	X(mp_condition_new, "opts NULL: its own RLock (documented)");
	N_NOOP(mp_condition_free, (NULL));
	N_INT(mp_condition_acquire, "c", (NULL, 0));
	N_INT(mp_condition_release, "c", (NULL));
	N_INT(mp_condition_wait, "c", (NULL, 0));
	N_INT(mp_condition_wait_for, "c", (NULL, nulls_pred, NULL, 0));
	N_INT(mp_condition_wait_for, "pred", (c, NULL, NULL, 0));
	N_INT(mp_condition_notify, "c", (NULL, 1));
	N_INT(mp_condition_notify_all, "c", (NULL));
	N_INT(mp_barrier_init, "b", (NULL, 1, NULL));
	N_NOOP(mp_barrier_destroy, (NULL));
	X(mp_barrier_new, "opts NULL: defaults (documented)");
	N_NOOP(mp_barrier_free, (NULL));
	N_INT(mp_barrier_wait, "b", (NULL, 0));
	N_INT(mp_barrier_abort, "b", (NULL));
	N_INT(mp_barrier_reset, "b", (NULL));
	N_INT(mp_barrier_parties, "b", (NULL));
	N_INT(mp_barrier_n_waiting, "b", (NULL));
	N_INT(mp_barrier_broken, "b", (NULL));
	mp_condition_free(c);
	nulls_done();
}

/* ---- obj.h ---- */

static void test_nulls_obj(void **state)
{
	mp_obj_t *i, *d, *l, *s, *t, *o;
	const mp_obj_t *co;
	const mp_bytes_t *cb;
	mp_bytes_t b = {0};
	bool bv;
	int64_t iv;
	double fv;
	size_t n;

	(void)state;
	i = mp_obj_int(1);
	d = mp_obj_dict();
	l = mp_obj_list();
	s = mp_obj_set();
	t = mp_obj_tuple_pack(1, mp_obj_int(2));
	o = mp_obj_object("m", "C", NULL, NULL, 0);
	assert_true(i && d && l && s && t && o);
	X(mp_obj_none, "no pointer argument");
	X(mp_obj_bool, "no pointer argument");
	X(mp_obj_int, "no pointer argument");
	X(mp_obj_float, "no pointer argument");
	N_PTR(mp_obj_bigint, "data", (NULL, 1));
	N_PTR(mp_obj_str, "s", (NULL));
	N_PTR(mp_obj_strn, "s", (NULL, 1));
	N_PTR(mp_obj_bytes, "data", (NULL, 1));
	N_PTR(mp_obj_tuple, "items", (1, NULL));
	N_PTR(mp_obj_tuple, "item", (1, (mp_obj_t *[]){NULL}));
	N_PTR(mp_obj_tuple_pack, "item", (1, (mp_obj_t *)NULL));
	X(mp_obj_list, "no pointer argument");
	X(mp_obj_dict, "no pointer argument");
	X(mp_obj_set, "no pointer argument");
	X(mp_obj_frozenset, "no pointer argument");
	N_PTR(mp_obj_object, "module", (NULL, "C", NULL, NULL, 0));
	N_PTR(mp_obj_object, "qualname", ("m", NULL, NULL, NULL, 0));
	N_PTR(mp_obj_copy, "o", (NULL));
	N_NOOP(mp_obj_free, (NULL));
	N_INT(mp_obj_kind, "o", (NULL));
	X(mp_obj_kind_name, "no pointer argument");
	N_INT(mp_obj_as_bool, "o", (NULL, &bv));
	N_INT(mp_obj_as_bool, "out", (i, NULL));
	N_INT(mp_obj_as_int, "o", (NULL, &iv));
	N_INT(mp_obj_as_int, "out", (i, NULL));
	N_INT(mp_obj_as_bigint, "o", (NULL, &b));
	N_INT(mp_obj_as_bigint, "out", (i, NULL));
	N_INT(mp_obj_as_float, "o", (NULL, &fv));
	N_INT(mp_obj_as_float, "out", (i, NULL));
	N_INT(mp_obj_as_str, "o", (NULL, &cb));
	N_INT(mp_obj_as_str, "out", (i, NULL));
	N_INT(mp_obj_as_bytes, "o", (NULL, &cb));
	N_INT(mp_obj_as_bytes, "out", (i, NULL));
	N_INT(mp_obj_len, "o", (NULL, &n));
	N_INT(mp_obj_len, "out", (l, NULL));
	N_INT(mp_obj_item, "o", (NULL, 0, &co));
	N_INT(mp_obj_item, "out", (t, 0, NULL));
	N_INT(mp_obj_list_append, "list", (NULL, mp_obj_int(1)));
	N_INT(mp_obj_list_append, "item", (l, NULL));
	N_INT(mp_obj_dict_set, "d", (NULL, mp_obj_int(1), mp_obj_int(1)));
	N_INT(mp_obj_dict_set, "key", (d, NULL, mp_obj_int(1)));
	N_INT(mp_obj_dict_set, "value", (d, mp_obj_int(1), NULL));
	N_INT(mp_obj_dict_get, "d", (NULL, i, &co));
	N_INT(mp_obj_dict_get, "key", (d, NULL, &co));
	N_INT(mp_obj_dict_get, "out", (d, i, NULL));
	N_INT(mp_obj_dict_get_str, "d", (NULL, "k", &co));
	N_INT(mp_obj_dict_get_str, "key", (d, NULL, &co));
	N_INT(mp_obj_dict_get_str, "out", (d, "k", NULL));
	N_INT(mp_obj_dict_del, "d", (NULL, i));
	N_INT(mp_obj_dict_del, "key", (d, NULL));
	N_INT(mp_obj_dict_item, "d", (NULL, 0, &co, &co));
	N_INT(mp_obj_set_add, "s", (NULL, mp_obj_int(1)));
	N_INT(mp_obj_set_add, "item", (s, NULL));
	N_INT(mp_obj_contains, "o", (NULL, i));
	N_INT(mp_obj_contains, "item", (l, NULL));
	N_INT(mp_obj_object_info, "o", (NULL, NULL, NULL, NULL, NULL, NULL));
	N_RC(mp_obj_object_info, (o, NULL, NULL, NULL, NULL, NULL), 0);
	N_INT(mp_obj_eq, "a", (NULL, i));
	N_INT(mp_obj_eq, "b", (i, NULL));
	N_INT(mp_obj_repr, "o", (NULL, &b));
	N_INT(mp_obj_repr, "out", (i, NULL));
	N_INT(mp_pickle_dumps, "o", (NULL, 2, &b));
	N_INT(mp_pickle_dumps, "out", (i, 2, NULL));
	N_INT(mp_pickle_loads, "data", (NULL, 1, &o));
	N_INT(mp_pickle_loads, "out", ("N.", 2, NULL));
	mp_obj_free(i);
	mp_obj_free(d);
	mp_obj_free(l);
	mp_obj_free(s);
	mp_obj_free(t);
	mp_obj_free(o);
	nulls_done();
}

/* ---- manager.h (a local manager; its objects are in shared memory, so
 * the forked children reach them as the parent does) ---- */

static int nulls_apply(const mp_obj_t *value, void *arg, mp_obj_t **out)
{
	(void)value;
	(void)arg;
	*out = NULL;
	return 0;
}

/* The manager.h table against m, a local or a connected manager. */
static void nulls_manager_calls(mp_manager_t *m)
{
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	mp_namespaceproxy_t *ns;
	mp_queueproxy_t *q;
	mp_valueproxy_t *v;
	mp_arrayproxy_t *a;
	mp_lock_t *lock;
	mp_rlock_t *rlock;
	mp_condition_t *cond;
	mp_event_t *ev;
	mp_semaphore_t *sem;
	mp_barrier_t *bar;
	mp_dictproxy_iter_t it;
	mp_obj_t *k, *o, *p;
	mp_bytes_t b = {0};
	void *any;

	k = mp_obj_str("k");
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	mpt_assert_ok(mp_manager_namespace(m, &ns));
	mpt_assert_ok(mp_manager_joinablequeue(m, 0, &q));
	mpt_assert_ok(mp_manager_value(m, k, &v));
	mpt_assert_ok(mp_manager_array(m, 'i', NULL, &a));
	mpt_assert_ok(mp_dictproxy_set(d, k, k));
	mpt_assert_ok(mp_listproxy_append(l, k));
	p = mp_obj_proxy(m, MP_MANAGER_DICT, d);
	assert_non_null(p);
	X(mp_manager_new, "opts NULL: defaults (documented)");
	N_PTR(mp_manager_connect, "opts", (NULL));
	N_PTR(mp_manager_address, "m", (NULL));
	N_INT(mp_manager_batch_begin, "m", (NULL));
	N_INT(mp_manager_batch_end, "m", (NULL));
	N_INT(mp_manager_register, "m", (NULL, "t", MP_MANAGER_DICT, d));
	N_INT(mp_manager_register, "typeid", (m, NULL, MP_MANAGER_DICT, d));
	N_INT(mp_manager_register, "obj", (m, "t", MP_MANAGER_DICT, NULL));
	N_PTR(mp_obj_proxy, "m", (NULL, MP_MANAGER_DICT, d));
	N_PTR(mp_obj_proxy, "obj", (m, MP_MANAGER_DICT, NULL));
	N_INT(mp_obj_as_proxy, "o", (NULL, m, 0, &any));
	N_INT(mp_obj_as_proxy, "m", (p, NULL, 0, &any));
	N_INT(mp_obj_as_proxy, "out", (p, m, 0, NULL));
	N_INT(mp_manager_pid, "m", (NULL));
	N_INT(mp_manager_shutdown, "m", (NULL));
	N_NOOP(mp_manager_free, (NULL));
	N_INT(mp_manager_dict, "m", (NULL, NULL, &d));
	N_INT(mp_manager_dict, "out", (m, NULL, NULL));
	N_INT(mp_manager_list, "m", (NULL, NULL, &l));
	N_INT(mp_manager_list, "out", (m, NULL, NULL));
	N_INT(mp_manager_namespace, "m", (NULL, &ns));
	N_INT(mp_manager_namespace, "out", (m, NULL));
	N_INT(mp_manager_lock, "m", (NULL, &lock));
	N_INT(mp_manager_lock, "out", (m, NULL));
	N_INT(mp_manager_rlock, "m", (NULL, &rlock));
	N_INT(mp_manager_rlock, "out", (m, NULL));
	N_INT(mp_manager_condition, "m", (NULL, NULL, &cond));
	N_INT(mp_manager_condition, "out", (m, NULL, NULL));
	N_INT(mp_manager_event, "m", (NULL, &ev));
	N_INT(mp_manager_event, "out", (m, NULL));
	N_INT(mp_manager_semaphore, "m", (NULL, 1, &sem));
	N_INT(mp_manager_semaphore, "out", (m, 1, NULL));
	N_INT(mp_manager_queue, "m", (NULL, 0, &q));
	N_INT(mp_manager_queue, "out", (m, 0, NULL));
	N_INT(mp_manager_joinablequeue, "m", (NULL, 0, &q));
	N_INT(mp_manager_joinablequeue, "out", (m, 0, NULL));
	N_INT(mp_manager_value, "m", (NULL, k, &v));
	N_INT(mp_manager_value, "out", (m, k, NULL));
	N_INT(mp_manager_array, "m", (NULL, 'i', NULL, &a));
	N_INT(mp_manager_array, "out", (m, 'i', NULL, NULL));
	N_INT(mp_manager_bounded_semaphore, "m", (NULL, 1, &sem));
	N_INT(mp_manager_bounded_semaphore, "out", (m, 1, NULL));
	N_INT(mp_manager_barrier, "m", (NULL, 1, NULL, &bar));
	N_INT(mp_manager_barrier, "out", (m, 1, NULL, NULL));
	N_NOOP(mp_dictproxy_free, (NULL));
	N_NOOP(mp_listproxy_free, (NULL));
	N_NOOP(mp_namespaceproxy_free, (NULL));
	N_NOOP(mp_queueproxy_free, (NULL));
	N_NOOP(mp_valueproxy_free, (NULL));
	N_NOOP(mp_arrayproxy_free, (NULL));
	/* DictProxy */
	N_INT(mp_dictproxy_get, "d", (NULL, k, &o));
	N_INT(mp_dictproxy_get, "key", (d, NULL, &o));
	N_INT(mp_dictproxy_get, "out", (d, k, NULL));
	N_INT(mp_dictproxy_set, "d", (NULL, k, k));
	N_INT(mp_dictproxy_set, "key", (d, NULL, k));
	N_INT(mp_dictproxy_set, "value", (d, k, NULL));
	N_INT(mp_dictproxy_del, "d", (NULL, k));
	N_INT(mp_dictproxy_del, "key", (d, NULL));
	N_INT(mp_dictproxy_contains, "d", (NULL, k));
	N_INT(mp_dictproxy_contains, "key", (d, NULL));
	N_INT(mp_dictproxy_len, "d", (NULL));
	N_INT(mp_dictproxy_keys, "d", (NULL, &o));
	N_INT(mp_dictproxy_keys, "out", (d, NULL));
	N_INT(mp_dictproxy_values, "d", (NULL, &o));
	N_INT(mp_dictproxy_values, "out", (d, NULL));
	N_INT(mp_dictproxy_items, "d", (NULL, &o));
	N_INT(mp_dictproxy_items, "out", (d, NULL));
	N_INT(mp_dictproxy_copy, "d", (NULL, &o));
	N_INT(mp_dictproxy_copy, "out", (d, NULL));
	N_INT(mp_dictproxy_update, "d", (NULL, k));
	N_INT(mp_dictproxy_update, "other", (d, NULL));
	N_INT(mp_dictproxy_setdefault, "d", (NULL, k, NULL, NULL));
	N_INT(mp_dictproxy_setdefault, "key", (d, NULL, NULL, NULL));
	N_RC(mp_dictproxy_setdefault, (d, k, NULL, NULL), 0);
	N_INT(mp_dictproxy_pop, "d", (NULL, k, NULL));
	N_INT(mp_dictproxy_pop, "key", (d, NULL, NULL));
	N_RC(mp_dictproxy_pop, (d, k, NULL), 0);
	N_INT(mp_dictproxy_popitem, "d", (NULL, NULL, NULL));
	/* (the children change the shared dict: the pop above emptied it) */
	mpt_assert_ok(mp_dictproxy_set(d, k, k));
	N_RC(mp_dictproxy_popitem, (d, NULL, NULL), 0);
	N_INT(mp_dictproxy_clear, "d", (NULL));
	N_INT(mp_dictproxy_apply, "d", (NULL, k, nulls_apply, NULL));
	N_INT(mp_dictproxy_apply, "key", (d, NULL, nulls_apply, NULL));
	N_INT(mp_dictproxy_apply, "fn", (d, k, NULL, NULL));
	mpt_assert_ok(mp_dictproxy_set(d, k, k));
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	N_INT(mp_dictproxy_iter, "d", (NULL, &it));
	N_INT(mp_dictproxy_iter, "it", (d, NULL));
	N_INT(mp_dictproxy_next, "d", (NULL, &it, NULL, NULL));
	N_INT(mp_dictproxy_next, "it", (d, NULL, NULL, NULL));
	N_RC(mp_dictproxy_next, (d, &it, NULL, NULL), 1);
	/* ListProxy */
	N_INT(mp_listproxy_get, "l", (NULL, 0, &o));
	N_INT(mp_listproxy_get, "out", (l, 0, NULL));
	N_INT(mp_listproxy_set, "l", (NULL, 0, k));
	N_INT(mp_listproxy_set, "value", (l, 0, NULL));
	N_INT(mp_listproxy_slice, "l", (NULL, 0, 1, &o));
	N_INT(mp_listproxy_slice, "out", (l, 0, 1, NULL));
	N_INT(mp_listproxy_get_slice, "l", (NULL, 0, 1, 1, &o));
	N_INT(mp_listproxy_get_slice, "out", (l, 0, 1, 1, NULL));
	N_INT(mp_listproxy_set_slice, "l", (NULL, 0, 1, 1, k));
	N_INT(mp_listproxy_set_slice, "items", (l, 0, 1, 1, NULL));
	N_INT(mp_listproxy_del_slice, "l", (NULL, 0, 1, 1));
	N_INT(mp_listproxy_reverse, "l", (NULL));
	N_INT(mp_listproxy_append, "l", (NULL, k));
	N_INT(mp_listproxy_append, "value", (l, NULL));
	N_INT(mp_listproxy_extend, "l", (NULL, k));
	N_INT(mp_listproxy_extend, "items", (l, NULL));
	N_INT(mp_listproxy_insert, "l", (NULL, 0, k));
	N_INT(mp_listproxy_insert, "value", (l, 0, NULL));
	N_INT(mp_listproxy_pop, "l", (NULL, -1, NULL));
	N_RC(mp_listproxy_pop, (l, -1, NULL), 0);
	N_INT(mp_listproxy_remove, "l", (NULL, k));
	N_INT(mp_listproxy_remove, "value", (l, NULL));
	N_INT(mp_listproxy_index, "l", (NULL, k));
	N_INT(mp_listproxy_index, "value", (l, NULL));
	N_INT(mp_listproxy_count, "l", (NULL, k));
	N_INT(mp_listproxy_count, "value", (l, NULL));
	N_INT(mp_listproxy_sort, "l", (NULL, 0));
	N_INT(mp_listproxy_len, "l", (NULL));
	N_INT(mp_listproxy_clear, "l", (NULL));
	/* NamespaceProxy */
	N_INT(mp_namespaceproxy_get, "ns", (NULL, "a", &o));
	N_INT(mp_namespaceproxy_get, "name", (ns, NULL, &o));
	N_INT(mp_namespaceproxy_get, "out", (ns, "a", NULL));
	N_INT(mp_namespaceproxy_set, "ns", (NULL, "a", k));
	N_INT(mp_namespaceproxy_set, "name", (ns, NULL, k));
	N_INT(mp_namespaceproxy_set, "value", (ns, "a", NULL));
	N_INT(mp_namespaceproxy_del, "ns", (NULL, "a"));
	N_INT(mp_namespaceproxy_del, "name", (ns, NULL));
	N_INT(mp_namespaceproxy_repr, "ns", (NULL, &b));
	N_INT(mp_namespaceproxy_repr, "out", (ns, NULL));
	/* QueueProxy */
	N_INT(mp_queueproxy_put, "q", (NULL, k, 0));
	N_INT(mp_queueproxy_put, "value", (q, NULL, 0));
	N_INT(mp_queueproxy_put_nowait, "q", (NULL, k));
	N_INT(mp_queueproxy_put_nowait, "value", (q, NULL));
	N_INT(mp_queueproxy_get, "q", (NULL, 0, &o));
	N_INT(mp_queueproxy_get, "out", (q, 0, NULL));
	N_INT(mp_queueproxy_get_nowait, "q", (NULL, &o));
	N_INT(mp_queueproxy_get_nowait, "out", (q, NULL));
	N_INT(mp_queueproxy_qsize, "q", (NULL));
	N_INT(mp_queueproxy_empty, "q", (NULL));
	N_INT(mp_queueproxy_full, "q", (NULL));
	N_INT(mp_queueproxy_task_done, "q", (NULL));
	N_INT(mp_queueproxy_join, "q", (NULL, 0));
	/* ValueProxy, ArrayProxy */
	N_INT(mp_valueproxy_get, "v", (NULL, &o));
	N_INT(mp_valueproxy_get, "out", (v, NULL));
	N_INT(mp_valueproxy_set, "v", (NULL, k));
	N_INT(mp_valueproxy_set, "value", (v, NULL));
	N_INT(mp_arrayproxy_len, "a", (NULL));
	N_INT(mp_arrayproxy_get, "a", (NULL, 0, &o));
	N_INT(mp_arrayproxy_get, "out", (a, 0, NULL));
	N_INT(mp_arrayproxy_set, "a", (NULL, 0, k));
	N_INT(mp_arrayproxy_set, "value", (a, 0, NULL));
	mp_obj_free(p);
	mp_obj_free(k);
}

static void test_nulls_manager(void **state)
{
	mp_manager_t *m = mp_manager_new(NULL);

	(void)state;
	assert_non_null(m);
	nulls_manager_calls(m);
	mp_manager_free(m);
	nulls_done();
}

/* The same through a connected manager (its proxies talk to the server:
 * each child opens a connection of its own). */
static void test_nulls_manager_connected(void **state)
{
	mp_manager_opts_t o = {.address = "127.0.0.1:0", .authkey = "k",
			       .authkey_len = 1};
	mp_manager_t *server, *m;

	(void)state;
	server = mp_manager_new(&o);
	assert_non_null(server);
	o.address = mp_manager_address(server);
	m = mp_manager_connect(&o);
	assert_non_null(m);
	nulls_manager_calls(m);
	mp_manager_free(m);
	mp_manager_free(server);
	nulls_done();
}

/* ---- mpi.h ---- */

static void test_nulls_mpi(void **state)
{
	(void)state;
	X(mp_mpi_backend, "no pointer argument (and in libmproc_mpi, which unit tests do not link)");
	X(mp_mpi_rank, "no pointer argument");
	X(mp_mpi_size, "no pointer argument");
	X(mp_mpi_register, "in libmproc_mpi, which unit tests do not link; it cannot set mp_last_error (NULL is ignored, as its header says): tests/mpi/test_mpi_executor.c registers NULL and nameless entries on every rank");
}

/* ---- every MP_API function has a line above ---- */

#define NULLS_MAX 1024

struct nulls_names {
	char name[NULLS_MAX][64];
	size_t n;
};

static bool nulls_has(const struct nulls_names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->name[i], name) == 0)
			return true;
	return false;
}

static void nulls_add(struct nulls_names *s, const char *p, size_t len)
{
	if (len == 0 || len >= sizeof(s->name[0]) || s->n == NULLS_MAX)
		return;
	memcpy(s->name[s->n], p, len);
	s->name[s->n][len] = '\0';
	if (!nulls_has(s, s->name[s->n]))
		s->n++;
}

static char *nulls_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

/* The name of each declaration that starts a line with "MP_API ": the
 * identifier before its first '('. */
static void nulls_declared(const char *text, struct nulls_names *out)
{
	const char *p = text, *paren, *end;

	while ((p = strstr(p, "\nMP_API ")) != NULL) {
		p += 8;
		paren = strchr(p, '(');
		assert_non_null(paren);
		end = paren;
		while (end > p && !nulls_ident(end[-1]))
			end--;
		p = end;
		while (p > text && nulls_ident(p[-1]))
			p--;
		nulls_add(out, p, (size_t)(end - p));
		p = paren;
	}
}

/* The first argument of each table line: N_INT(fn, ... or X(fn, ... */
static void nulls_listed(const char *text, struct nulls_names *out)
{
	static const char *const macros[] = {"N_INT(", "N_PTR(", "N_ZERO(",
					     "N_VOID(", "N_NOOP(", "N_RC(",
					     "X("};
	const char *p, *q;

	for (size_t m = 0; m < sizeof(macros) / sizeof(macros[0]); m++)
		for (p = text; (p = strstr(p, macros[m])) != NULL; p++) {
			if (p > text && nulls_ident(p[-1]))
				continue;
			q = p + strlen(macros[m]);
			if (strncmp(q, "mp_", 3) != 0)
				continue;
			p = q;
			while (nulls_ident(*q))
				q++;
			nulls_add(out, p, (size_t)(q - p));
		}
}

static void test_nulls_covers_every_function(void **state)
{
	static struct nulls_names declared, listed;
	const char *src = getenv("MP_SOURCE_DIR");
	char pattern[4096];
	glob_t g;
	char *text;
	int missing = 0;

	(void)state;
	assert_non_null(src);
	snprintf(pattern, sizeof(pattern), "%s/include/mproc/*.h", src);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		text = nulls_read(g.gl_pathv[i]);
		nulls_declared(text, &declared);
		free(text);
	}
	globfree(&g);
	snprintf(pattern, sizeof(pattern), "%s/tests/test_nulls.c", src);
	text = nulls_read(pattern);
	nulls_listed(text, &listed);
	free(text);
	for (size_t i = 0; i < declared.n; i++)
		if (!nulls_has(&listed, declared.name[i])) {
			print_error("%s has no line in test_nulls.c (a NULL call, "
				    "or X(fn, \"why not\"))\n",
				    declared.name[i]);
			missing++;
		}
	for (size_t i = 0; i < listed.n; i++)
		if (!nulls_has(&declared, listed.name[i])) {
			print_error("test_nulls.c lists %s, which no header "
				    "declares MP_API\n", listed.name[i]);
			missing++;
		}
	print_message("%zu MP_API functions, all listed\n", declared.n);
	assert_true(declared.n > 300);
	assert_int_equal(missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_nulls_common),
		MPT(test_nulls_connection),
		MPT_DEADLINE(test_nulls_executor, 120),
		MPT_DEADLINE(test_nulls_pool, 120),
		MPT(test_nulls_process),
		MPT(test_nulls_queue),
		MPT(test_nulls_shm),
		MPT(test_nulls_signal),
		MPT(test_nulls_subprocess),
		MPT(test_nulls_sync),
		MPT(test_nulls_obj),
		MPT_DEADLINE(test_nulls_manager, 120),
		MPT_DEADLINE(test_nulls_manager_connected, 120),
		MPT(test_nulls_mpi),
		MPT(test_nulls_covers_every_function),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
