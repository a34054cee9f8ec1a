/*
 * mptest.h - what every mproc test program shares.
 *
 * Register each test with MPT(fn), or MPT_DEADLINE(fn, seconds) for one that
 * needs longer than MPT_DEADLINE_DEFAULT: its teardown asserts that the test
 * left no child process (neither zombie nor running), no new open fd and no
 * new entry in /dev/shm.  Run test programs one at a time (ctest -j1): the
 * /dev/shm check sees the whole machine.
 *
 * Each test runs alone in a fresh process, as libuv's do: this header turns
 * cmocka_run_group_tests() into a runner that re-executes the program
 * (/proc/self/exe, with MPT_TEST=<name> in its environment) once per test,
 * in a process group of its own, and waits for it with a deadline.  The
 * child runs the group setup, that one test with its setup and teardown
 * checks, and the group teardown.  A test that outlives its deadline is
 * killed with its whole process group and fails "timed out"; one that dies
 * of a signal fails "killed by signal"; one that exits non-zero after
 * passing (a sanitizer's leak report) fails with that exit status.  The run
 * goes on with the next test and ends with cmocka's summary lines; the exit
 * status is the number of failed tests (at most 255).  Environment:
 *   MPT_FILTER=p1,p2,.. run only the tests whose name matches one of the
 *                       comma-separated patterns (fnmatch(3))
 *   MPT_NO_FORK=1       run the tests in this process, as plain cmocka does
 *                       (under a debugger); there is no deadline then
 *   MPT_VALGRIND=1      the program runs under valgrind (tests/valgrind/run.sh
 *                       sets it): mpt_slow_wakes() for the few CPU-time bounds
 *                       its instrumentation changes
 *
 * Children forked by a test must never use cmocka's asserts (a failed assert
 * in a child jumps back into the child's copy of the runner): they report
 * through their exit status or a pipe, end with _exit, and the parent asserts.
 * Waits are bounded by mpt_timeout(seconds), which MP_TEST_TIMEOUT_MULTIPLIER
 * scales (sanitizer runs are slower), as it scales each test's deadline;
 * tests never sleep to synchronise.
 */
#ifndef MPTEST_H
#define MPTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mproc/process.h" /* mp_proc_status (mpt_print_children) */

/* MPT_ASAN: an AddressSanitizer build (gcc defines __SANITIZE_ADDRESS__,
 * clang 14 only answers __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define MPT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MPT_ASAN 1
#endif
#endif

/* MPT_TSAN: a ThreadSanitizer build (the same two spellings). */
#if defined(__SANITIZE_THREAD__)
#define MPT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPT_TSAN 1
#endif
#endif

#define MPT_MAX_SHM 256

static struct {
	int nfds;
	size_t nshm;
	char shm[MPT_MAX_SHM][256];
} mpt_before;

/* Scale a timeout by MP_TEST_TIMEOUT_MULTIPLIER (default 1). */
static inline double mpt_timeout(double seconds)
{
	const char *m = getenv("MP_TEST_TIMEOUT_MULTIPLIER");
	double k = m ? atof(m) : 1.0;

	return seconds * (k > 0 ? k : 1.0);
}

/* Under valgrind (MPT_VALGRIND set by tests/valgrind/run.sh)?  Only for
 * bounds on CPU time, which its instrumentation multiplies; never to skip. */
static inline bool mpt_valgrind(void)
{
	return getenv("MPT_VALGRIND") != NULL;
}

/* Under valgrind or in a ThreadSanitizer build: both multiply the CPU time
 * of a wake (a futex call, the scheduler's work for it), which the few
 * bounds on a sleeper's CPU time must allow for.  Never to skip. */
static inline bool mpt_slow_wakes(void)
{
#ifdef MPT_TSAN
	return true;
#else
	return mpt_valgrind();
#endif
}

static inline double mpt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int mpt_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Names in /dev/shm; returns how many (at most MPT_MAX_SHM are stored). */
static inline size_t mpt_list_shm(char (*names)[256], size_t cap)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n < cap)
			snprintf(names[n], 256, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Name our children still running in the test's output (pid, comm, state,
 * process group, the syscall it sleeps in: /proc): what a teardown that
 * found one says of it. */
static inline void mpt_print_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name);
		mp_proc_status_t st;
		char path[64], buf[256];
		ssize_t n;
		int fd;

		if (pid <= 0 || mp_proc_status(pid, &st) != 0 ||
		    st.ppid != getpid())
			continue;
		print_error("  child %d (%s) state %c group %d\n", (int)pid,
			    st.name, st.state, (int)getpgid(pid));
		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		print_error("  syscall %s", buf);
	}
	closedir(d);
}

static inline int mpt_setup(void **state)
{
	(void)state;
	mpt_before.nfds = mpt_count_fds();
	mpt_before.nshm = mpt_list_shm(mpt_before.shm, MPT_MAX_SHM);
	return 0;
}

static inline int mpt_teardown(void **state)
{
	static char now[MPT_MAX_SHM][256];
	siginfo_t si;
	size_t n, i, j;
	int found;

	(void)state;
	/* No child left: waitid fails with ECHILD when there is none at all. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
		if (si.si_pid != 0)
			print_error("test left a child process (pid %d, "
				    "zombie)\n", (int)si.si_pid);
		else /* waitid names no child that is still running */
			print_error("test left a child process running\n");
		mpt_print_children();
		return -1;
	}
	if (mpt_count_fds() != mpt_before.nfds) {
		print_error("test leaked fds: %d open, %d before\n",
			    mpt_count_fds(), mpt_before.nfds);
		return -1;
	}
	n = mpt_list_shm(now, MPT_MAX_SHM);
	for (i = 0; i < n && i < MPT_MAX_SHM; i++) {
		found = 0;
		for (j = 0; j < mpt_before.nshm && j < MPT_MAX_SHM; j++)
			found |= strcmp(now[i], mpt_before.shm[j]) == 0;
		if (!found) {
			print_error("test left /dev/shm/%s\n", now[i]);
			return -1;
		}
	}
	return 0;
}

/* Seconds a test may run, before MP_TEST_TIMEOUT_MULTIPLIER scales them. */
#define MPT_DEADLINE_DEFAULT 30

struct mpt_opts {
	double deadline; /* seconds, before scaling */
};

#define MPT(fn) cmocka_unit_test_setup_teardown(fn, mpt_setup, mpt_teardown)

/* MPT(fn) with a deadline of its own (the test sees the options as *state). */
#define MPT_DEADLINE(fn, seconds)                                             \
	cmocka_unit_test_prestate_setup_teardown(                             \
		fn, mpt_setup, mpt_teardown,                                  \
		&(struct mpt_opts){.deadline = (seconds)})

/* Assert an mproc call returned rc; print the library's message if not. */
#define mpt_assert_rc(call, rc)                                               \
	do {                                                                  \
		int mpt_rc_ = (call);                                         \
		if (mpt_rc_ != (rc))                                          \
			print_error("%s = %d (%s), want %d\n", #call, mpt_rc_, \
				    mp_last_error(), (rc));                   \
		assert_int_equal(mpt_rc_, (rc));                              \
	} while (0)

#define mpt_assert_ok(call) mpt_assert_rc(call, 0)

/*
 * Fork a child that runs fn(arg) and _exits with its return value; the
 * child never returns into the runner.  Returns the pid.
 */
static inline pid_t mpt_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	assert_true(pid > 0);
	return pid;
}

/* Wait for a child forked with mpt_fork; returns its wait status. */
static inline int mpt_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return status;
}

/* A child's wait status as one number: its exit code, or 128 + signal. */
static inline int mpt_exit_code(pid_t pid)
{
	int status = mpt_wait(pid);

	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* In a forked child: a crash kills it (cmocka's handlers would jump back
 * into the child's copy of the runner). */
static inline void mpt_crash_signals_default(void)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
}

/* This program's path, for re-running it: /proc/self/exe through readlink,
 * which valgrind answers with the program it runs rather than itself. */
static inline const char *mpt_self_exe(void)
{
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n <= 0)
		return "/proc/self/exe";
	path[n] = '\0';
	return path;
}

/*
 * Run this program as `argv0 flag` `trials` times (its main exits through
 * a helper that leaves a pool or executor alive): each must exit 0 within
 * mpt_timeout(10) (it used to hang: the exit cleanup waited for ever on a
 * worker that the supervisor started after the cleanup had signalled the
 * old ones).  Fails the test otherwise.
 */
static inline void mpt_exit_trials(const char *flag, int trials)
{
	for (int i = 0; i < trials; i++) {
		double t0 = mpt_now();
		int status = 0;
		pid_t pid, w;

		fflush(NULL);
		if ((pid = fork()) == 0) {
			execl(mpt_self_exe(), "exit-helper", flag,
			      (char *)NULL);
			_exit(127);
		}
		assert_true(pid > 0);
		while ((w = waitpid(pid, &status, WNOHANG)) != pid) {
			if (w < 0 && errno != EINTR)
				fail_msg("waitpid: %s", strerror(errno));
			if (mpt_now() - t0 > mpt_timeout(10)) {
				kill(pid, SIGKILL);
				mpt_wait(pid);
				fail_msg("trial %d: exit hung (> %gs) with %s",
					 i, mpt_timeout(10), flag);
			}
			poll(NULL, 0, 2);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("trial %d: helper ended with status 0x%x", i,
				 status);
	}
}

/*
 * Become the subreaper of our descendants (the caller undoes it), then
 * start a copy of this program named argv0 with arg (or none) and, if
 * env_name is not NULL, env_name=1 in its environment, its stdout a pipe
 * whose read end goes to *out: its pid.  For tests that SIGKILL a program
 * and check that what it started dies with it.
 */
static inline pid_t mpt_victim(const char *argv0, const char *arg,
			       const char *env_name, int *out)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dup2(fds[1], STDOUT_FILENO);
		if (env_name != NULL)
			setenv(env_name, "1", 1);
		execl(mpt_self_exe(), argv0, arg, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* Trials for mpt_exit_trials: 100; 5 in the slow sanitizer builds (they look
 * for memory and thread errors on the exit path: the hang itself, which the
 * old code showed within 2 trials, is the plain build's to catch). */
#define MPT_EXIT_TRIALS (mpt_timeout(1) > 1 ? 5 : 100)

/*
 * Run the tests named in only[] (NULL-terminated) again, in a new copy of
 * this program with env_assignment ("NAME=value") in its environment and
 * MPT_FILTER naming them, and expect them all to pass.  In that copy (NAME
 * set) the test calling this skips: it is the re-run.
 */
static inline void mpt_rerun(const char *env_assignment,
			     const char *const only[])
{
	const char *eq = strchr(env_assignment, '=');
	size_t len = 1, at = 0, i;
	char *name, *filter;
	pid_t pid;

	assert_non_null(eq);
	name = strndup(env_assignment, (size_t)(eq - env_assignment));
	assert_non_null(name);
	if (getenv(name) != NULL) {
		free(name);
		skip(); /* this is the re-run */
	}
	free(name);
	for (i = 0; only[i] != NULL; i++)
		len += strlen(only[i]) + 1;
	filter = malloc(len);
	assert_non_null(filter);
	for (i = 0; only[i] != NULL; i++)
		at += (size_t)sprintf(filter + at, "%s%s", i ? "," : "",
				      only[i]);
	filter[at] = '\0';
	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (putenv((char *)env_assignment) == 0 &&
		    setenv("MPT_FILTER", filter, 1) == 0)
			execl(mpt_self_exe(), "rerun", (char *)NULL);
		_exit(127);
	}
	free(filter);
	assert_true(pid > 0);
	assert_int_equal(mpt_wait(pid), 0);
}

/* ---- the runner: each test in a fresh process, with a deadline ---- */

/* What the runner knows of one test child, from its output and status. */
struct mpt_child {
	const char *name;
	bool ok, failed, skipped, summary, eof;
	size_t len;
	char line[4096];
};

static volatile sig_atomic_t mpt_running; /* the test child's pid, or 0 */

/* Is line tag followed by the test's name (cmocka's per-test lines)? */
static inline bool mpt_is(const char *line, const char *tag, const char *name)
{
	size_t n = strlen(tag);

	return strncmp(line, tag, n) == 0 && strcmp(line + n, name) == 0;
}

/* In cmocka's closing summary: its counts, lists, and the blank line. */
static inline bool mpt_summary_line(const char *line)
{
	return line[0] == '\0' || strncmp(line, "[  PASSED  ] ", 13) == 0 ||
	       strncmp(line, "[  FAILED  ] ", 13) == 0 ||
	       strncmp(line, "[  SKIPPED ] ", 13) == 0 ||
	       strstr(line, " FAILED TEST(S)") != NULL ||
	       strstr(line, " SKIPPED TEST(S)") != NULL;
}

/* cmocka's "[==========] N test(s) run.", which starts its summary. */
static inline bool mpt_group_end(const char *line)
{
	size_t n = strlen(line);

	return n > 26 && strncmp(line, "[==========] ", 13) == 0 &&
	       strcmp(line + n - 13, " test(s) run.") == 0;
}

/*
 * One line the child printed: note the verdict cmocka gave, drop the lines
 * the runner prints itself (the child's group header, RUN line and closing
 * summary), pass everything else on (messages, sanitizer reports).
 */
static inline void mpt_child_line(struct mpt_child *c, const char *line,
				  size_t len)
{
	bool drop = false;

	if (c->summary && mpt_summary_line(line))
		drop = true;
	else if (strcmp(line, "[==========] Running 1 test(s).") == 0 ||
		 mpt_is(line, "[ RUN      ] ", c->name))
		drop = true;
	else if (mpt_group_end(line))
		drop = c->summary = true;
	if (drop)
		return;
	c->summary = false; /* what follows a summary (a re-run's) is read */
	c->ok |= mpt_is(line, "[       OK ] ", c->name);
	c->skipped |= mpt_is(line, "[  SKIPPED ] ", c->name);
	c->failed |= mpt_is(line, "[  FAILED  ] ", c->name) ||
		     mpt_is(line, "[  ERROR   ] ", c->name);
	fwrite(line, 1, len, stdout);
	putchar('\n');
}

/* Read what the child wrote so far (the pipe is non-blocking). */
static inline void mpt_child_read(struct mpt_child *c, int fd)
{
	ssize_t r;
	char *nl;
	size_t n;

	while (!c->eof) {
		r = read(fd, c->line + c->len, sizeof(c->line) - 1 - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->eof = r == 0 || errno != EAGAIN;
			return;
		}
		c->len += (size_t)r;
		while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
			*nl = '\0';
			n = (size_t)(nl - c->line);
			mpt_child_line(c, c->line, n);
			c->len -= n + 1;
			memmove(c->line, nl + 1, c->len);
		}
		if (c->len == sizeof(c->line) - 1) { /* a line this long */
			c->line[c->len] = '\0';      /* is passed on cut */
			mpt_child_line(c, c->line, c->len);
			c->len = 0;
		}
	}
}

/* The test child: this program again, alone in a new process group. */
static inline pid_t mpt_spawn(const char *name, int out)
{
	pid_t runner = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* the runner killed: this too */
	if (getppid() != runner)
		_exit(127);
	if (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0 ||
	    setenv("MPT_TEST", name, 1) < 0)
		_exit(127);
	execl("/proc/self/exe", program_invocation_name, (char *)NULL);
	dprintf(STDERR_FILENO, "mptest: cannot re-execute %s: %s\n",
		program_invocation_name, strerror(errno));
	_exit(127);
}

/* Has the child exited (left unreaped: its pid keeps its group's id)? */
static inline bool mpt_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		       0 &&
	       si.si_pid == pid;
}

/*
 * Pass the child's output on until it exits or its deadline passes; then
 * kill what is left of its process group (all of it on a timeout) and reap
 * it.  Returns its wait status, or -1 if it timed out.
 */
static inline int mpt_supervise(struct mpt_child *c, pid_t pid, int out,
				double deadline)
{
	struct pollfd fds[2] = {{.fd = out, .events = POLLIN},
				{.fd = -1, .events = POLLIN}};
	double end = mpt_now() + deadline, left;
	bool timed_out = false;
	int status, ms;

	fds[1].fd = (int)syscall(SYS_pidfd_open, pid, 0);
	while (!mpt_exited(pid)) {
		left = end - mpt_now();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		ms = left > 3600 ? 3600000 : (int)(left * 1000) + 1;
		if (fds[1].fd < 0 && ms > 100)
			ms = 100; /* no pidfd: look at the child 10 times/s */
		if (poll(fds, 2, ms) > 0 && fds[0].revents != 0) {
			mpt_child_read(c, out);
			if (c->eof)
				fds[0].fd = -1;
		}
	}
	if (timed_out)
		kill(pid, SIGKILL); /* even if it left its group */
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	mpt_child_read(c, out); /* what it wrote before it ended */
	if (c->len > 0) {
		mpt_child_line(c, c->line, c->len);
		c->len = 0;
	}
	if (fds[1].fd >= 0)
		close(fds[1].fd);
	return timed_out ? -1 : status;
}

/* The deadline of one test, scaled. */
static inline double mpt_deadline(const struct CMUnitTest *t)
{
	const struct mpt_opts *o = t->initial_state;

	if (o != NULL) /* only MPT_DEADLINE gives a prestate */
		return mpt_timeout(o->deadline);
	return mpt_timeout(MPT_DEADLINE_DEFAULT);
}

enum mpt_verdict { MPT_NOT_RUN, MPT_PASSED, MPT_SKIPPED, MPT_FAILED };

/* The verdict on a child; why says what cmocka did not print itself. */
static inline enum mpt_verdict mpt_verdict(const struct mpt_child *c,
					   int status, double deadline,
					   char *why, size_t size)
{
	const char *sig;

	why[0] = '\0';
	if (status == -1) {
		snprintf(why, size, "timed out after %g s", deadline);
	} else if (WIFSIGNALED(status)) {
		sig = sigabbrev_np(WTERMSIG(status));
		if (sig != NULL)
			snprintf(why, size, "killed by signal SIG%s", sig);
		else
			snprintf(why, size, "killed by signal %d",
				 WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0 && !c->failed) {
		snprintf(why, size, "exit status %d", WEXITSTATUS(status));
	} else if (WEXITSTATUS(status) == 0 && !c->failed && !c->ok &&
		   !c->skipped) {
		snprintf(why, size, "exited before the test ended");
	}
	if (why[0] != '\0' || c->failed)
		return MPT_FAILED;
	return c->ok ? MPT_PASSED : MPT_SKIPPED;
}

/* One test, in its own process; prints the runner's line if it failed. */
static inline enum mpt_verdict mpt_run_one(const struct CMUnitTest *t,
					   char *why, size_t size)
{
	struct mpt_child c = {.name = t->name};
	double deadline = mpt_deadline(t);
	enum mpt_verdict v;
	int p[2], status;
	pid_t pid;

	printf("[ RUN      ] %s\n", t->name);
	if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		snprintf(why, size, "pipe: %s", strerror(errno));
		printf("[  FAILED  ] %s (%s)\n", t->name, why);
		return MPT_FAILED;
	}
	pid = mpt_spawn(t->name, p[1]);
	close(p[1]);
	if (pid < 0) {
		snprintf(why, size, "fork: %s", strerror(errno));
		printf("[  FAILED  ] %s (%s)\n", t->name, why);
		close(p[0]);
		return MPT_FAILED;
	}
	setpgid(pid, pid); /* the child does it too: whichever runs first */
	mpt_running = pid;
	status = mpt_supervise(&c, pid, p[0], deadline);
	mpt_running = 0;
	close(p[0]);
	v = mpt_verdict(&c, status, deadline, why, size);
	if (why[0] != '\0')
		printf("[  FAILED  ] %s (%s)\n", t->name, why);
	return v;
}

/* SIGINT, SIGTERM, SIGHUP to the runner: take the running test along. */
static inline void mpt_on_signal(int sig)
{
	pid_t pid = mpt_running;

	if (pid > 0) {
		kill(pid, SIGKILL);
		kill(-pid, SIGKILL);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* cmocka's closing lines, over the whole run; returns the failed count. */
static inline int mpt_summary(const struct CMUnitTest *tests,
			      const enum mpt_verdict *v, char (*why)[96],
			      size_t n)
{
	size_t i, count[4] = {0, 0, 0, 0};

	for (i = 0; i < n; i++)
		count[v[i]]++;
	printf("[==========] %zu test(s) run.\n", n - count[MPT_NOT_RUN]);
	printf("[  PASSED  ] %zu test(s).\n", count[MPT_PASSED]);
	if (count[MPT_SKIPPED] > 0) {
		printf("[  SKIPPED ] %zu test(s), listed below:\n",
		       count[MPT_SKIPPED]);
		for (i = 0; i < n; i++)
			if (v[i] == MPT_SKIPPED)
				printf("[  SKIPPED ] %s\n", tests[i].name);
		printf("\n %zu SKIPPED TEST(S)\n", count[MPT_SKIPPED]);
	}
	if (count[MPT_FAILED] > 0) {
		printf("[  FAILED  ] %zu test(s), listed below:\n",
		       count[MPT_FAILED]);
		for (i = 0; i < n; i++)
			if (v[i] == MPT_FAILED && why[i][0] != '\0')
				printf("[  FAILED  ] %s (%s)\n", tests[i].name,
				       why[i]);
			else if (v[i] == MPT_FAILED)
				printf("[  FAILED  ] %s\n", tests[i].name);
		printf("\n %zu FAILED TEST(S)\n", count[MPT_FAILED]);
	}
	fflush(stdout);
	return count[MPT_FAILED] > 255 ? 255 : (int)count[MPT_FAILED];
}

/* Does name match one of the comma-separated fnmatch patterns in list? */
static inline bool mpt_matches(const char *list, const char *name)
{
	char pat[256];
	size_t n;

	for (;;) {
		n = strcspn(list, ",");
		if (n < sizeof(pat)) {
			memcpy(pat, list, n);
			pat[n] = '\0';
			if (fnmatch(pat, name, 0) == 0)
				return true;
		}
		if (list[n] == '\0')
			return false;
		list += n + 1;
	}
}

/* Is the test to run: named, and matching MPT_FILTER if that is set? */
static inline bool mpt_selected(const struct CMUnitTest *t)
{
	const char *filter = getenv("MPT_FILTER");

	return t->name != NULL && t->test_func != NULL &&
	       (filter == NULL || mpt_matches(filter, t->name));
}

/* The runner: every selected test, each in a child of its own. */
static inline int mpt_run_all(const struct CMUnitTest *tests, size_t n,
			      size_t selected)
{
	struct sigaction sa = {.sa_handler = mpt_on_signal};
	enum mpt_verdict *v = calloc(n, sizeof(*v));
	char (*why)[96] = calloc(n, sizeof(*why));
	size_t i;
	int rc;

	if (v == NULL || why == NULL) {
		printf("[  ERROR   ] mptest: out of memory\n");
		free(v);
		free(why);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	printf("[==========] Running %zu test(s).\n", selected);
	for (i = 0; i < n; i++)
		if (mpt_selected(&tests[i]))
			v[i] = mpt_run_one(&tests[i], why[i], sizeof(why[i]));
	rc = mpt_summary(tests, v, why, n);
	free(v);
	free(why);
	return rc;
}

/* In the test child: run the one test MPT_TEST names, under cmocka. */
static inline int mpt_run_child(const char *group,
				const struct CMUnitTest *tests, size_t n,
				CMFixtureFunction setup,
				CMFixtureFunction teardown)
{
	const char *name = getenv("MPT_TEST");
	size_t i;

	for (i = 0; i < n; i++)
		if (tests[i].name != NULL && strcmp(tests[i].name, name) == 0)
			break;
	if (i == n) {
		printf("mptest: no test named %s\n", name);
		return 127;
	}
	unsetenv("MPT_TEST"); /* the test sees the runner's environment */
	setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr */
	cmocka_set_test_filter(NULL);
	return _cmocka_run_group_tests(group, &tests[i], 1, setup, teardown);
}

/* MPT_NO_FORK: the selected tests in this process, as plain cmocka. */
static inline int mpt_run_here(const char *group,
			       const struct CMUnitTest *tests, size_t n,
			       size_t selected, CMFixtureFunction setup,
			       CMFixtureFunction teardown)
{
	struct CMUnitTest *some = calloc(selected, sizeof(*some));
	size_t i, k = 0;
	int rc;

	if (some == NULL) {
		printf("[  ERROR   ] mptest: out of memory\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		if (mpt_selected(&tests[i]))
			some[k++] = tests[i];
	cmocka_set_test_filter(NULL);
	rc = _cmocka_run_group_tests(group, some, k, setup, teardown);
	free(some);
	return rc;
}

/*
 * What cmocka_run_group_tests() now does (see the top of this file): in a
 * test child, run its one test; under MPT_NO_FORK, run the tests here;
 * else run each in a child.  Returns the number of failed tests.
 */
static inline int mpt_run_group(const char *group,
				const struct CMUnitTest *tests, size_t n,
				CMFixtureFunction setup,
				CMFixtureFunction teardown)
{
	const char *no_fork = getenv("MPT_NO_FORK");
	size_t i, selected = 0;

	if (getenv("MPT_TEST") != NULL)
		return mpt_run_child(group, tests, n, setup, teardown);
	for (i = 0; i < n; i++)
		selected += mpt_selected(&tests[i]);
	if (selected == 0) {
		printf("[  ERROR   ] MPT_FILTER=%s selects no test\n",
		       getenv("MPT_FILTER"));
		return 1;
	}
	if (no_fork != NULL && no_fork[0] != '\0' && strcmp(no_fork, "0") != 0)
		return mpt_run_here(group, tests, n, selected, setup,
				    teardown);
	return mpt_run_all(tests, n, selected);
}

#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)      \
	mpt_run_group(#group_tests, group_tests,                              \
		      sizeof(group_tests) / sizeof((group_tests)[0]),         \
		      group_setup, group_teardown)

#endif /* MPTEST_H */
