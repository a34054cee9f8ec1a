/*
 * test_mptest.c - the runner in mptest.h: one bad test fails alone.
 *
 * With MPT_SELFTEST_BAD=1 in its environment this program's tests are a row
 * of bad cases (a hang that leaves a grandchild, a SIGSEGV, an abort, a
 * failed assert, a caught crash, an exit in mid-test, a zombie, a leak under
 * ASan), each followed by a good case.  The real tests run that row as a
 * sub-run of this program and check its output and exit status: each bad
 * case fails with its name and reason, the good case after it runs and
 * passes, the summary counts them, nothing of the hang outlives the run.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mptest.h"

/* ---- the row of cases the sub-run runs ---- */

#define GOOD(name)                                                            \
	static void name(void **state)                                        \
	{                                                                     \
		(void)state;                                                  \
	}

GOOD(good_first)
GOOD(good_after_hang)
GOOD(good_after_segv)
GOOD(good_after_abort)
GOOD(good_after_assert)
GOOD(good_after_null)
GOOD(good_after_exit)
GOOD(good_after_zombie)
GOOD(good_after_leak)

/* Hangs, and so does a grandchild in its process group: the runner must
 * kill both (test_bad_cases_fail_alone sees it: they hold a pipe it reads).
 * The grandchild gives up on its own after a minute, so that a broken runner
 * leaves nothing behind for ever. */
static void bad_hang(void **state)
{
	(void)state;
	fflush(NULL);
	if (fork() == 0) {
		poll(NULL, 0, (int)(mpt_timeout(60) * 1000));
		_exit(0);
	}
	for (;;)
		pause();
}

/* Dies of SIGSEGV (cmocka's handler is put aside). */
static void bad_segv(void **state)
{
	(void)state;
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
}

static void bad_abort(void **state)
{
	(void)state;
	abort();
}

static void bad_assert(void **state)
{
	(void)state;
	assert_int_equal(1, 2);
}

/* A real null dereference: cmocka's handler catches it and fails the test. */
static void bad_null(void **state)
{
	volatile int *volatile p = NULL;

	(void)state;
	*p = 1;
}

/* Ends its process before cmocka can say how the test went. */
static void bad_exit(void **state)
{
	(void)state;
	exit(0);
}

/* Leaves a child: mpt_teardown, in the test's own process, fails it. */
static void bad_zombie(void **state)
{
	(void)state;
	fflush(NULL);
	if (fork() == 0)
		_exit(0);
}

#ifdef MPT_ASAN
/* LeakSanitizer reports it when the child exits, after cmocka's OK. */
static void bad_leak(void **state)
{
	char *volatile p = malloc(4321);

	(void)state;
	assert_non_null(p);
	p[0] = 1;
	p = NULL;
}
#endif

static void skipped_case(void **state)
{
	(void)state;
	skip();
}

/* Fails with MPT_SELFTEST_GROUP_SETUP_FAILS set: no test runs then. */
static int group_setup(void **state)
{
	(void)state;
	return getenv("MPT_SELFTEST_GROUP_SETUP_FAILS") != NULL ? -1 : 0;
}

static int run_bad_row(void)
{
	const struct CMUnitTest tests[] = {
		MPT(good_first),
		MPT_DEADLINE(bad_hang, 1),
		MPT(good_after_hang),
		MPT(bad_segv),
		MPT(good_after_segv),
		MPT(bad_abort),
		MPT(good_after_abort),
		MPT(bad_assert),
		MPT(good_after_assert),
		MPT(bad_null),
		MPT(good_after_null),
		MPT(bad_exit),
		MPT(good_after_exit),
		MPT(bad_zombie),
		MPT(good_after_zombie),
#ifdef MPT_ASAN
		MPT(bad_leak),
#endif
		MPT(good_after_leak),
		MPT(skipped_case),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}

/* ---- the tests: run this program as a sub-run and read what it says ---- */

/* The last sub-run: its wait status and output (kept for the group
 * teardown to free, so that a failed assert leaks nothing). */
static struct subrun {
	int status;
	char *out;
	size_t len, cap;
} last;

static int free_output(void **state)
{
	(void)state;
	free(last.out);
	return 0;
}

/* The sub-run's process: this program, with env added. */
static void subrun_exec(int out, const char *const *env)
{
	char asan[1024];
	const char *a = getenv("ASAN_OPTIONS");

	if (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
		_exit(126);
	unsetenv("MPT_FILTER");
	unsetenv("MPT_NO_FORK");
	for (; env[0] != NULL; env += 2)
		setenv(env[0], env[1], 1);
	snprintf(asan, sizeof(asan), "%s%sdetect_leaks=1", a ? a : "",
		 a ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	execl(mpt_self_exe(), "test_mptest", (char *)NULL);
	_exit(127);
}

/* Read the sub-run's output from fd until end-of-file, by end (else kill
 * the sub-run and fail). */
static void subrun_read(int fd, pid_t pid, double end)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	ssize_t n;
	char *more;
	int ms, rc;

	for (;;) {
		ms = (int)((end - mpt_now()) * 1000);
		rc = ms > 0 ? poll(&pf, 1, ms) : 0;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			kill(pid, SIGKILL);
			mpt_wait(pid);
			close(fd);
			fail_msg("the sub-run did not end in time");
		}
		if (last.cap - last.len < 4096) {
			more = realloc(last.out, last.cap * 2 + 65536);
			assert_non_null(more);
			last.out = more;
			last.cap = last.cap * 2 + 65536;
		}
		n = read(fd, last.out + last.len, last.cap - last.len - 1);
		if (n == 0)
			return;
		if (n > 0)
			last.len += (size_t)n;
		else
			assert_int_equal(errno, EINTR);
	}
}

/* Run this program with env (name, value pairs, NULL-ended) added; collect
 * its output and status within a deadline. */
static const struct subrun *subrun(const char *const *env)
{
	int p[2];
	pid_t pid;

	last.len = 0;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		subrun_exec(p[1], env);
	close(p[1]);
	subrun_read(p[0], pid, mpt_now() + mpt_timeout(20));
	close(p[0]);
	last.out[last.len] = '\0';
	last.status = mpt_wait(pid);
	return &last;
}

/* Say what is wrong with the sub-run's output, and show all of it (on
 * stderr: cmocka's print_error cuts long messages). */
static void dump(const struct subrun *r, const char *what, const char *line)
{
	fprintf(stderr, "the sub-run's output %s \"%s\":\n%s\n", what, line,
		r->out);
}

/* Where line (a whole line) is in the output; fails if it is not there. */
static const char *find_line(const struct subrun *r, const char *line)
{
	size_t n = strlen(line);
	const char *at = r->out;

	while ((at = strstr(at, line)) != NULL) {
		if ((at == r->out || at[-1] == '\n') &&
		    (at[n] == '\n' || at[n] == '\0'))
			return at;
		at++;
	}
	dump(r, "lacks the line", line);
	fail();
	return NULL;
}

/* first, then second, each a whole line of the output. */
static void lines_in_order(const struct subrun *r, const char *first,
			   const char *second)
{
	const char *a = find_line(r, first), *b = find_line(r, second);

	if (a >= b)
		dump(r, "has this line after the next one", first);
	assert_true(a < b);
}

static void no_line(const struct subrun *r, const char *line)
{
	const char *at = strstr(r->out, line);

	if (at != NULL)
		dump(r, "has", line);
	assert_null(at);
}

/* The sub-run's processes are all gone: the pipe they held reads EOF. */
static void all_gone(int rfd)
{
	struct pollfd pf = {.fd = rfd, .events = POLLIN};
	char c;

	assert_int_equal(poll(&pf, 1, (int)(mpt_timeout(10) * 1000)), 1);
	assert_int_equal(read(rfd, &c, 1), 0);
}

/* The first line that starts with prefix, copied into line[size]. */
static void line_starting(const struct subrun *r, const char *prefix,
			  char *line, size_t size)
{
	const char *at = r->out;
	size_t n;

	while ((at = strstr(at, prefix)) != NULL && at != r->out &&
	       at[-1] != '\n')
		at++;
	if (at == NULL)
		dump(r, "has no line starting with", prefix);
	assert_non_null(at);
	n = strcspn(at, "\n");
	assert_true(n < size);
	memcpy(line, at, n);
	line[n] = '\0';
}

/* The summary the runner must end the bad row with. */
static void expect_summary(const struct subrun *r, int nbad,
			   const char *null_line, const char *leak_line)
{
	char want[2048];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want),
		"[==========] %d test(s) run.\n"
		"[  PASSED  ] 9 test(s).\n"
		"[  SKIPPED ] 1 test(s), listed below:\n"
		"[  SKIPPED ] skipped_case\n"
		"\n 1 SKIPPED TEST(S)\n"
		"[  FAILED  ] %d test(s), listed below:\n"
		"[  FAILED  ] bad_hang (timed out after %g s)\n"
		"[  FAILED  ] bad_segv (killed by signal SIGSEGV)\n"
		"[  FAILED  ] bad_abort (killed by signal SIGABRT)\n"
		"[  FAILED  ] bad_assert\n"
		"%s\n"
		"[  FAILED  ] bad_exit (exited before the test ended)\n"
		"[  FAILED  ] bad_zombie\n"
		"%s%s"
		"\n %d FAILED TEST(S)\n",
		10 + nbad, nbad, mpt_timeout(1), null_line,
		leak_line, leak_line[0] != '\0' ? "\n" : "",
		nbad);
	if (r->len < n || strcmp(r->out + r->len - n, want) != 0)
		dump(r, "does not end with", want);
	assert_true(r->len >= n && strcmp(r->out + r->len - n, want) == 0);
}

static void test_bad_cases_fail_alone(void **state)
{
	static const char *const env[] = {"MPT_SELFTEST_BAD", "1", NULL};
	char hang[128], null_line[128], leak_line[128] = "";
	const struct subrun *r;
	int fds[2], nbad = 7;

	(void)state;
	/* Every process of the sub-run inherits the write end. */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[1], F_SETFD, 0), 0);
	r = subrun(env);
	close(fds[1]);
	all_gone(fds[0]);
	close(fds[0]);

	snprintf(hang, sizeof(hang),
		 "[  FAILED  ] bad_hang (timed out after %g s)",
		 mpt_timeout(1));
	find_line(r, "[       OK ] good_first");
	lines_in_order(r, hang, "[       OK ] good_after_hang");
	lines_in_order(r, "[  FAILED  ] bad_segv (killed by signal SIGSEGV)",
		       "[       OK ] good_after_segv");
	lines_in_order(r, "[  FAILED  ] bad_abort (killed by signal SIGABRT)",
		       "[       OK ] good_after_abort");
	lines_in_order(r, "[  FAILED  ] bad_assert",
		       "[       OK ] good_after_assert");
	/* cmocka's handler catches the SIGSEGV and fails the test; UBSan
	 * stops it first (exit status 1), and under TSan that handler's calloc
	 * is a report of its own (exit status 66). */
	line_starting(r, "[  FAILED  ] bad_null", null_line,
		      sizeof(null_line));
	if (strcmp(null_line, "[  FAILED  ] bad_null") != 0)
		assert_memory_equal(null_line, "[  FAILED  ] bad_null (exit ",
				    27);
	lines_in_order(r, null_line, "[       OK ] good_after_null");
	lines_in_order(r,
		       "[  FAILED  ] bad_exit (exited before the test ended)",
		       "[       OK ] good_after_exit");
	lines_in_order(r, "[  ERROR   ] bad_zombie",
		       "[       OK ] good_after_zombie");
#ifdef MPT_ASAN
	nbad++;
	line_starting(r, "[  FAILED  ] bad_leak (exit status ", leak_line,
		      sizeof(leak_line));
	lines_in_order(r, "[       OK ] bad_leak", /* cmocka saw nothing */
		       leak_line);
	lines_in_order(r, leak_line, "[       OK ] good_after_leak");
	assert_non_null(strstr(r->out, "ERROR: LeakSanitizer"));
#endif
	find_line(r, "[       OK ] good_after_leak");
	/* The children's own group lines are the runner's to print. */
	no_line(r, "[==========] 1 test(s) run.");
	no_line(r, "[  PASSED  ] 1 test(s).");
	no_line(r, "[  PASSED  ] 0 test(s).");
	expect_summary(r, nbad, null_line, leak_line);
	assert_true(WIFEXITED(r->status));
	assert_int_equal(WEXITSTATUS(r->status), nbad);
}

/* MPT_FILTER picks tests (one pattern or a list), in the runner and under
 * MPT_NO_FORK. */
static void test_filter_and_no_fork(void **state)
{
	static const char *const one[] = {"MPT_SELFTEST_BAD", "1",
					  "MPT_FILTER", "good_after_h*", NULL};
	static const char *const here[] = {"MPT_SELFTEST_BAD", "1",
					   "MPT_FILTER", "good_*",
					   "MPT_NO_FORK", "1", NULL};
	static const char *const none[] = {"MPT_SELFTEST_BAD", "1",
					   "MPT_FILTER", "nothing", NULL};
	static const char *const list[] = {"MPT_SELFTEST_BAD", "1",
					   "MPT_FILTER", "good_first,x,good_after_h*",
					   NULL};
	const struct subrun *r;

	(void)state;
	r = subrun(one);
	assert_string_equal(r->out, "[==========] Running 1 test(s).\n"
				    "[ RUN      ] good_after_hang\n"
				    "[       OK ] good_after_hang\n"
				    "[==========] 1 test(s) run.\n"
				    "[  PASSED  ] 1 test(s).\n");
	assert_int_equal(r->status, 0);

	r = subrun(here); /* cmocka's own run: 9 tests, in one process */
	find_line(r, "[==========] Running 9 test(s).");
	find_line(r, "[       OK ] good_after_leak");
	find_line(r, "[  PASSED  ] 9 test(s).");
	no_line(r, "bad_");
	assert_int_equal(r->status, 0);

	r = subrun(list); /* a comma-separated list: any pattern matches */
	assert_string_equal(r->out, "[==========] Running 2 test(s).\n"
				    "[ RUN      ] good_first\n"
				    "[       OK ] good_first\n"
				    "[ RUN      ] good_after_hang\n"
				    "[       OK ] good_after_hang\n"
				    "[==========] 2 test(s) run.\n"
				    "[  PASSED  ] 2 test(s).\n");
	assert_int_equal(r->status, 0);

	r = subrun(none);
	find_line(r, "[  ERROR   ] MPT_FILTER=nothing selects no test");
	assert_true(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1);
}

/* A group setup that fails in the child fails the test, in the runner's
 * words; the child's own summary (of 0 tests) is not passed on. */
static void test_group_setup_failure(void **state)
{
	static const char *const env[] = {"MPT_SELFTEST_BAD", "1",
					  "MPT_SELFTEST_GROUP_SETUP_FAILS", "1",
					  "MPT_FILTER", "good_first", NULL};
	const struct subrun *r;

	(void)state;
	r = subrun(env);
	assert_string_equal(r->out, "[==========] Running 1 test(s).\n"
				    "[ RUN      ] good_first\n"
				    "[  FAILED  ] GROUP SETUP\n"
				    "[  ERROR   ] tests\n"
				    "[  FAILED  ] good_first (exit status 1)\n"
				    "[==========] 1 test(s) run.\n"
				    "[  PASSED  ] 0 test(s).\n"
				    "[  FAILED  ] 1 test(s), listed below:\n"
				    "[  FAILED  ] good_first (exit status 1)\n"
				    "\n 1 FAILED TEST(S)\n");
	assert_true(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_bad_cases_fail_alone),
		MPT(test_filter_and_no_fork),
		MPT(test_group_setup_failure),
	};

	if (getenv("MPT_SELFTEST_BAD") != NULL)
		return run_bad_row();
	return cmocka_run_group_tests(tests, NULL, free_output);
}
