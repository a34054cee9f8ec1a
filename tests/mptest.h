/*
 * mptest.h - what every mproc test program shares.
 *
 * Register each test with MPT(fn): its teardown asserts that the test left no
 * child process (neither zombie nor running), no new open fd and no new entry
 * in /dev/shm.  Run test programs one at a time (ctest -j1): the /dev/shm
 * check sees the whole machine.
 *
 * Children forked by a test must never use cmocka's asserts (a failed assert
 * in a child jumps back into the child's copy of the runner): they report
 * through their exit status or a pipe, end with _exit, and the parent asserts.
 * Waits are bounded by mpt_timeout(seconds), which MP_TEST_TIMEOUT_MULTIPLIER
 * scales (sanitizer runs are slower); tests never sleep to synchronise.
 */
#ifndef MPTEST_H
#define MPTEST_H

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

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
		print_error("test left a child process (pid %d, %s)\n",
			    (int)si.si_pid, si.si_pid ? "zombie" : "running");
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

#define MPT(fn) cmocka_unit_test_setup_teardown(fn, mpt_setup, mpt_teardown)

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

#endif /* MPTEST_H */
