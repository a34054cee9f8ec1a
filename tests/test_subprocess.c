/* test_subprocess.c - run, Popen, communicate, timeouts, fds, environment. */
#include "mptest.h"
#include "mptest_kill.h"

#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include "internal/child.h"
#include "mproc/process.h"
#include "mproc/subprocess.h"

#define ARGV(...) ((const char *[]){__VA_ARGS__, NULL})

static void test_run_exit_codes(void **state)
{
	mp_completed_t r;

	(void)state;
	mpt_assert_ok(mp_run(ARGV("true"), NULL, &r));
	assert_int_equal(r.returncode, 0);
	assert_true(r.pid > 0);
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "exit 3"), NULL, &r));
	assert_int_equal(r.returncode, 3);
	mp_completed_destroy(&r);
	mpt_assert_rc(mp_run(ARGV("false"), &(mp_run_opts_t){.check = true}, &r),
		      MP_ECALLED);
	assert_int_equal(r.returncode, 1);
	assert_string_equal(mp_last_error(), "mp_run: Command 'false' returned "
					     "non-zero exit status 1.");
	mp_completed_destroy(&r);
	/* Killed by a signal: returncode -N. */
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "kill -9 $$"), NULL, &r));
	assert_int_equal(r.returncode, -9);
	mp_completed_destroy(&r);
	mp_completed_destroy(&r); /* idempotent */
}

static void test_run_capture(void **state)
{
	mp_completed_t r;
	char **lines;

	(void)state;
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "echo out; echo err >&2"),
			     &(mp_run_opts_t){.capture_output = true}, &r));
	assert_string_equal(r.out.data, "out\n");
	assert_int_equal(r.out.len, 4);
	assert_string_equal(r.err.data, "err\n");
	mp_completed_destroy(&r);
	/* stderr merged into stdout */
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "echo a; echo b >&2; echo c"),
			     &(mp_run_opts_t){.capture_output = true,
					    .popen.err.kind = MP_STDIO_STDOUT},
			     &r));
	assert_string_equal(r.out.data, "a\nb\nc\n");
	assert_int_equal(r.err.len, 0);
	assert_int_equal(mp_bytes_lines(&r.out, &lines), 3);
	assert_string_equal(lines[0], "a");
	assert_string_equal(lines[2], "c");
	assert_null(lines[3]);
	mp_buf_free(lines);
	mp_completed_destroy(&r);
	/* Not captured: empty buffers, output went to our stdout/devnull. */
	mpt_assert_ok(mp_run(ARGV("echo", "hidden"),
			     &(mp_run_opts_t){.popen.out.kind = MP_STDIO_DEVNULL},
			     &r));
	assert_int_equal(r.out.len, 0);
	mp_completed_destroy(&r);
	mp_bytes_t b = {"x\n\ny", 4};
	assert_int_equal(mp_bytes_lines(&b, &lines), 3);
	assert_string_equal(lines[1], "");
	assert_string_equal(lines[2], "y");
	mp_buf_free(lines);
}

static void test_run_input(void **state)
{
	mp_completed_t r;

	(void)state;
	mpt_assert_ok(mp_run(ARGV("tr", "a-z", "A-Z"),
			     &(mp_run_opts_t){.input = "hello", .input_len = 5,
					    .capture_output = true},
			     &r));
	assert_string_equal(r.out.data, "HELLO");
	mp_completed_destroy(&r);
	/* A child that does not read its input: no SIGPIPE for us. */
	static char big[1 << 20];
	mpt_assert_ok(mp_run(ARGV("true"),
			     &(mp_run_opts_t){.input = big, .input_len = sizeof(big)},
			     &r));
	mp_completed_destroy(&r);
}

static void test_missing_or_not_executable(void **state)
{
	char path[] = "/tmp/mproc-noexec-XXXXXX";
	mp_completed_t r;
	int fd;

	(void)state;
	mpt_assert_rc(mp_run(ARGV("no-such-program-mproc"), NULL, &r), -ENOENT);
	assert_string_equal(mp_last_error(), "mp_run: cannot run "
					     "'no-such-program-mproc': No such "
					     "file or directory");
	mpt_assert_rc(mp_run(ARGV("/no/such/path"), NULL, &r), -ENOENT);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	mpt_assert_rc(mp_run(ARGV(path), NULL, &r), -EACCES);
	assert_non_null(strstr(mp_last_error(), path));
	unlink(path);
	assert_null(mp_popen_new(ARGV("true"),
				 &(mp_popen_opts_t){.cwd = "/no/such/dir"}));
	assert_int_equal(mp_last_error_code(), -ENOENT);
	assert_non_null(strstr(mp_last_error(), "chdir to /no/such/dir"));
	assert_null(mp_popen_new((const char *[]){NULL}, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_popen_new(NULL, NULL));
	assert_null(mp_popen_new(ARGV("true"),
				 &(mp_popen_opts_t){.out.kind = MP_STDIO_STDOUT}));
	assert_null(mp_popen_new(ARGV("true"),
				 &(mp_popen_opts_t){.in = {MP_STDIO_FD, 987}}));
	assert_int_equal(mp_last_error_code(), -EBADF);
}

static void test_env_cwd_umask(void **state)
{
	mp_completed_t r;

	(void)state;
	/* Replaced environment (PATH too: sh is found in the default path). */
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "echo \"$FOO:$HOME\""),
			     &(mp_run_opts_t){.capture_output = true,
					    .popen.env = (const char *[]){
						    "FOO=bar", NULL}},
			     &r));
	assert_string_equal(r.out.data, "bar:\n");
	mp_completed_destroy(&r);
	setenv("MPROC_TEST_KEEP", "kept", 1);
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "echo $FOO $MPROC_TEST_KEEP"),
			     &(mp_run_opts_t){.capture_output = true,
					    .popen.env_add = (const char *[]){
						    "FOO=added", NULL}},
			     &r));
	assert_string_equal(r.out.data, "added kept\n");
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("pwd"),
			     &(mp_run_opts_t){.capture_output = true,
					    .popen.cwd = "/"},
			     &r));
	assert_string_equal(r.out.data, "/\n");
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("sh", "-c", "umask"),
			     &(mp_run_opts_t){.capture_output = true,
					    .popen.set_umask = true,
					    .popen.umask = 027},
			     &r));
	assert_string_equal(r.out.data, "0027\n");
	mp_completed_destroy(&r);
	/* Field 6 of /proc/PID/stat is the session id. */
	mpt_assert_ok(mp_run(ARGV("sh", "-c",
				  "test \"$(cut -d' ' -f6 /proc/$$/stat)\" -eq $$"),
			     &(mp_run_opts_t){.popen.start_new_session = true}, &r));
	assert_int_equal(r.returncode, 0);
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("sh", "-c",
				  "test \"$(cut -d' ' -f6 /proc/$$/stat)\" -eq $$"),
			     NULL, &r));
	assert_int_equal(r.returncode, 1); /* not without the option */
	mp_completed_destroy(&r);
}

static void test_fds_closed_in_child(void **state)
{
	mp_completed_t r;
	char script[128];
	int fd = open("/dev/null", O_RDONLY); /* inheritable: no CLOEXEC */

	(void)state;
	assert_true(fd > 2);
	snprintf(script, sizeof(script), "test -e /proc/self/fd/%d", fd);
	/* Default: only 0-2 reach the child. */
	mpt_assert_ok(mp_run(ARGV("sh", "-c", script), NULL, &r));
	assert_int_equal(r.returncode, 1);
	mp_completed_destroy(&r);
	/* pass_fds, or keep_fds (close_fds=False), keep it. */
	mpt_assert_ok(mp_run(ARGV("sh", "-c", script),
			     &(mp_run_opts_t){.popen.pass_fds = &fd,
					    .popen.npass_fds = 1},
			     &r));
	assert_int_equal(r.returncode, 0);
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("sh", "-c", script),
			     &(mp_run_opts_t){.popen.keep_fds = true}, &r));
	assert_int_equal(r.returncode, 0);
	mp_completed_destroy(&r);
	/* An fd given as stdout. */
	char path[] = "/tmp/mproc-out-XXXXXX", buf[16] = "";
	int out = mkstemp(path);
	mpt_assert_ok(mp_run(ARGV("echo", "to-file"),
			     &(mp_run_opts_t){.popen.out = {MP_STDIO_FD, out}}, &r));
	mp_completed_destroy(&r);
	assert_true(pread(out, buf, sizeof(buf) - 1, 0) > 0);
	assert_string_equal(buf, "to-file\n");
	close(out);
	unlink(path);
	close(fd);
}

static void test_run_timeout_kills_group(void **state)
{
	mp_completed_t r;
	double t0 = mpt_now();
	int grandchild;

	(void)state;
	/* A grandchild keeps stdout open: run must still return in time. */
	mpt_assert_rc(mp_run(ARGV("sh", "-c", "sleep 30 & echo $!; sleep 30"),
			     &(mp_run_opts_t){.capture_output = true, .timeout = 0.3},
			     &r),
		      -ETIMEDOUT);
	assert_true(mpt_now() - t0 < mpt_timeout(1.3));
	assert_true(r.timed_out);
	assert_int_equal(r.returncode, -SIGKILL);
	assert_non_null(strstr(mp_last_error(), "timed out after 0.3 seconds"));
	/* The partial output was kept, and the grandchild was killed. */
	grandchild = atoi(r.out.data);
	assert_true(grandchild > 0);
	assert_gone(grandchild);
	mp_completed_destroy(&r);
	mpt_assert_rc(mp_run(ARGV("true"), &(mp_run_opts_t){.timeout = -2}, &r),
		      -EINVAL);
	mpt_assert_rc(mp_run(ARGV("true"), &(mp_run_opts_t){.timeout = NAN}, &r),
		      -EINVAL);
}

/* Huge timeouts, +inf and MP_FOREVER are no limit (they used to wrap into
 * an instant timeout that SIGKILLed the child); a tiny one still expires. */
static void test_run_huge_timeouts(void **state)
{
	static const double none[] = {MP_FOREVER, INFINITY, 1.8e10, 1.9e10,
				      1e300, 0};
	mp_completed_t r;

	(void)state;
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		int rc = mp_run(ARGV("sh", "-c", "exit 5"),
				&(mp_run_opts_t){.timeout = none[i]}, &r);

		if (rc != 0)
			fail_msg("timeout %g: %d %s", none[i], rc, mp_last_error());
		assert_false(r.timed_out);
		assert_int_equal(r.returncode, 5);
		mp_completed_destroy(&r);
	}
	mpt_assert_rc(mp_run(ARGV("sleep", "30"), &(mp_run_opts_t){.timeout = 1e-12},
			     &r),
		      -ETIMEDOUT);
	assert_true(r.timed_out);
	mp_completed_destroy(&r);
}

static void test_big_data_both_ways(void **state)
{
	size_t n = 100u << 20;
	char *in = malloc(n);
	mp_completed_t r;

	(void)state;
	for (size_t i = 0; i < n; i++)
		in[i] = (char)(i * 7 + (i >> 13));
	mpt_assert_ok(mp_run(ARGV("cat"),
			     &(mp_run_opts_t){.input = in, .input_len = n,
					    .capture_output = true},
			     &r));
	assert_int_equal(r.out.len, n);
	assert_memory_equal(r.out.data, in, n);
	mp_completed_destroy(&r);
	free(in);
}

static void test_popen_readline_realtime(void **state)
{
	mp_popen_t *p = mp_popen_new(
		ARGV("sh", "-c", "echo one; read x; echo two; printf three"),
		&(mp_popen_opts_t){.in.kind = MP_STDIO_PIPE,
				 .out.kind = MP_STDIO_PIPE});
	mp_bytes_t line;
	int code;

	(void)state;
	assert_non_null(p);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &line), 1);
	assert_string_equal(line.data, "one\n");
	mp_bytes_destroy(&line);
	/* The child waits for us: the line arrived while it still runs. */
	assert_int_equal(mp_popen_poll(p, &code), 0);
	mpt_assert_rc(mp_popen_readline(p, 0.05, &line), -ETIMEDOUT);
	assert_int_equal(write(mp_popen_stdin(p), "go\n", 3), 3);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &line), 1);
	assert_string_equal(line.data, "two\n");
	mp_bytes_destroy(&line);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &line), 1);
	assert_string_equal(line.data, "three");
	mp_bytes_destroy(&line);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &line), 0);
	mpt_assert_ok(mp_popen_wait(p, mpt_timeout(10), &code));
	assert_int_equal(code, 0);
	mp_popen_free(p);
}

static void test_popen_communicate_timeout_then_again(void **state)
{
	mp_popen_t *p = mp_popen_new(ARGV("sh", "-c", "echo part; read x; echo rest"),
				     &(mp_popen_opts_t){.in.kind = MP_STDIO_PIPE,
						      .out.kind = MP_STDIO_PIPE});
	mp_bytes_t out;
	int fd, code;

	(void)state;
	/* Keep a write end of its stdin so it blocks in read. */
	fd = dup(mp_popen_stdin(p));
	mpt_assert_rc(mp_popen_communicate(p, NULL, 0, 0.2, &out, NULL),
		      -ETIMEDOUT);
	assert_string_equal(out.data, "part\n");
	mp_bytes_destroy(&out);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	mpt_assert_ok(mp_popen_communicate(p, NULL, 0, mpt_timeout(10), &out, NULL));
	assert_string_equal(out.data, "part\nrest\n");
	mp_bytes_destroy(&out);
	assert_int_equal(mp_popen_poll(p, &code), 1);
	assert_int_equal(code, 0);
	mp_popen_free(p);
}

static void test_popen_signals_and_free(void **state)
{
	mp_popen_t *p = mp_popen_new(ARGV("sleep", "30"), NULL);
	int code;

	(void)state;
	assert_non_null(p);
	assert_true(mp_popen_pid(p) > 0);
	assert_int_equal(mp_popen_stdout(p), -1);
	mpt_assert_rc(mp_popen_wait(p, 0.05, &code), -ETIMEDOUT);
	mpt_assert_ok(mp_popen_terminate(p));
	mpt_assert_ok(mp_popen_wait(p, mpt_timeout(10), &code));
	assert_int_equal(code, -SIGTERM);
	mpt_assert_ok(mp_popen_kill(p)); /* ended: no-op */
	mpt_assert_rc(mp_popen_send_signal(p, 999), -EINVAL);
	mp_popen_free(p);
	/* Freed while running: killed and reaped, no zombie. */
	mp_popen_free(mp_popen_new(ARGV("sleep", "30"), NULL));
	mp_popen_free(NULL);
}

static void test_thousand_runs_no_leak(void **state)
{
	mp_completed_t r;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		mpt_assert_ok(mp_run(ARGV("true"), NULL, &r));
		mp_completed_destroy(&r);
	}
	/* teardown: no zombie, no fd leaked */
}

/* ---- argument errors (hardening) ---- */

static void test_pass_fds_must_be_open(void **state)
{
	mp_completed_t r;
	int fd = open("/dev/null", O_RDONLY), fds[2];

	(void)state;
	assert_true(fd > 2);
	close(fd); /* now a closed fd */
	fds[0] = 1;
	fds[1] = fd;
	mpt_assert_rc(mp_run(ARGV("true"),
			     &(mp_run_opts_t){.popen.pass_fds = fds,
					    .popen.npass_fds = 2}, &r),
		      -EBADF);
	assert_non_null(strstr(mp_last_error(), "mp_run: opts->pass_fds[1]"));
	assert_null(mp_popen_new(ARGV("true"), &(mp_popen_opts_t){
		.pass_fds = (int[]){-1}, .npass_fds = 1}));
	assert_int_equal(mp_last_error_code(), -EBADF);
	assert_non_null(strstr(mp_last_error(), "mp_popen_new: opts->pass_fds[0]"));
	assert_null(mp_popen_new(ARGV("true"), &(mp_popen_opts_t){.npass_fds = 3}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
}

static void test_readline_needs_a_pipe(void **state)
{
	mp_popen_t *p = mp_popen_new(ARGV("true"),
				     &(mp_popen_opts_t){.out.kind = MP_STDIO_DEVNULL});
	mp_bytes_t line;

	(void)state;
	assert_non_null(p);
	mpt_assert_rc(mp_popen_readline(p, mpt_timeout(10), &line), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_popen_readline: stdout is not a PIPE");
	mpt_assert_ok(mp_popen_wait(p, mpt_timeout(10), NULL));
	mp_popen_free(p);
}

/* readline and communicate hand out owned bytes: a line stays valid after
 * the next call, output outlives the object, empty output is released like
 * any other. */
static void test_popen_bytes_owned(void **state)
{
	mp_popen_t *p = mp_popen_new(ARGV("printf", "a\\nbb\\n"),
				     &(mp_popen_opts_t){.out.kind = MP_STDIO_PIPE});
	mp_bytes_t a, b, out, err;

	(void)state;
	assert_non_null(p);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &a), 1);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &b), 1);
	assert_string_equal(a.data, "a\n");
	assert_string_equal(b.data, "bb\n");
	mp_bytes_destroy(&a);
	mp_bytes_destroy(&b);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(10), &a), 0);
	assert_null(a.data);
	mpt_assert_ok(mp_popen_communicate(p, NULL, 0, mpt_timeout(10), &out,
					   &err));
	assert_int_equal(out.len, 0);
	assert_string_equal(out.data, "");
	assert_int_equal(err.len, 0);
	mp_bytes_destroy(&out);
	mp_bytes_destroy(&err);
	mp_popen_free(p);
	p = mp_popen_new(ARGV("echo", "kept"),
			 &(mp_popen_opts_t){.out.kind = MP_STDIO_PIPE});
	assert_non_null(p);
	mpt_assert_ok(mp_popen_communicate(p, NULL, 0, mpt_timeout(10), &out,
					   NULL));
	mp_popen_free(p);
	assert_string_equal(out.data, "kept\n");
	mp_bytes_destroy(&out);
}

/* Accessors on NULL: an error naming the argument, not a silent 0 / -1. */
static void test_popen_accessors_null(void **state)
{
	(void)state;
	assert_int_equal(mp_popen_pid(NULL), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_popen_pid: argument 'p' is NULL");
	assert_int_equal(mp_popen_stdin(NULL), -EINVAL);
	assert_int_equal(mp_popen_stdout(NULL), -EINVAL);
	assert_int_equal(mp_popen_stderr(NULL), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_popen_stderr: argument 'p' is NULL");
}

static int lines_of_null(void *arg)
{
	mp_bytes_t b = {NULL, 5};
	char **lines = NULL;

	(void)arg;
	signal(SIGSEGV, SIG_DFL); /* a crash kills the child */
	signal(SIGBUS, SIG_DFL);
	if (mp_bytes_lines(&b, &lines) != -EINVAL || lines != NULL)
		return 1;
	return strstr(mp_last_error(), "mp_bytes_lines: b->data is NULL") ? 0
									    : 2;
}

static void test_bytes_lines_null_data(void **state)
{
	mp_bytes_t empty = {NULL, 0};
	char **lines;

	(void)state;
	assert_int_equal(mpt_exit_code(mpt_fork(lines_of_null, NULL)), 0);
	assert_int_equal(mp_bytes_lines(&empty, &lines), 0);
	assert_null(lines[0]);
	mp_buf_free(lines);
}

static void test_run_and_signal_arguments(void **state)
{
	mp_completed_t r;
	mp_popen_t *p;

	(void)state;
	/* +inf is no limit (it used to overflow a double -> integer cast). */
	mpt_assert_ok(mp_run(ARGV("true"), &(mp_run_opts_t){.timeout = INFINITY},
			     &r));
	mp_completed_destroy(&r);
	mpt_assert_ok(mp_run(ARGV("true"), &(mp_run_opts_t){.timeout = 1e300}, &r));
	mp_completed_destroy(&r);
	mpt_assert_rc(mp_run(ARGV("cat"), &(mp_run_opts_t){.input_len = 3}, &r),
		      -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_run: opts->input is NULL"));
	p = mp_popen_new(ARGV("cat"), &(mp_popen_opts_t){.in.kind = MP_STDIO_PIPE});
	assert_non_null(p);
	mpt_assert_rc(mp_popen_communicate(p, NULL, 3, mpt_timeout(10), NULL,
					   NULL), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_popen_communicate: argument"));
	mpt_assert_ok(mp_popen_terminate(p));
	mpt_assert_ok(mp_popen_wait(p, mpt_timeout(10), NULL));
	mp_popen_free(p);
	mpt_assert_rc(mp_popen_terminate(NULL), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_popen_terminate: argument 'p' is NULL");
	mpt_assert_rc(mp_popen_kill(NULL), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_popen_kill: argument 'p' is NULL");
}

/* ---- without pidfds (MP_NO_PIDFD=1: old kernels, valgrind 3.19) ---- */

static void test_without_pidfd(void **state)
{
	static const char *const only[] = {
		"test_run_exit_codes",
		"test_run_capture",
		"test_run_input",
		"test_missing_or_not_executable",
		"test_env_cwd_umask",
		"test_fds_closed_in_child",
		"test_run_timeout_kills_group",
		"test_run_huge_timeouts",
		"test_popen_readline_realtime",
		"test_popen_communicate_timeout_then_again",
		"test_popen_signals_and_free",
		"test_thousand_runs_no_leak",
		NULL};

	(void)state;
	mpt_rerun("MP_NO_PIDFD=1", only);
}

int main(void)
{
	struct CMUnitTest tests[] = {
		MPT(test_run_exit_codes),
		MPT(test_run_capture),
		MPT(test_run_input),
		MPT(test_missing_or_not_executable),
		MPT(test_env_cwd_umask),
		MPT(test_fds_closed_in_child),
		MPT(test_run_timeout_kills_group),
		MPT(test_run_huge_timeouts),
		MPT(test_big_data_both_ways),
		MPT(test_popen_readline_realtime),
		MPT(test_popen_communicate_timeout_then_again),
		MPT(test_popen_signals_and_free),
		MPT(test_thousand_runs_no_leak),
		MPT(test_pass_fds_must_be_open),
		MPT(test_readline_needs_a_pipe),
		MPT(test_popen_bytes_owned),
		MPT(test_popen_accessors_null),
		MPT(test_bytes_lines_null_data),
		MPT(test_run_and_signal_arguments),
		MPT(test_without_pidfd),
	};

	if (getenv("MP_NO_PIDFD") != NULL && mp__have_pidfd())
		return 99; /* the fallback is not in force */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
