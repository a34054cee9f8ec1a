/* bench_subprocess.c - run(/bin/true), run(echo) with capture, and run from
 * a parent with 1 GiB of touched heap, against posix_spawn baselines. */
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/subprocess.h"

extern char **environ;

enum { N = 500, REPS = 5 };

static double run_true(void *arg)
{
	static const char *const argv[] = {"/bin/true", NULL};
	double t0 = bench_now();
	mp_completed_t r;

	(void)arg;
	for (int i = 0; i < N; i++) {
		if (mp_run(argv, NULL, &r) != 0)
			exit(1);
		mp_completed_destroy(&r);
	}
	return (bench_now() - t0) / N * 1e6;
}

static double spawn_true(void *arg)
{
	char *const argv[] = {"/bin/true", NULL};
	double t0 = bench_now();
	pid_t pid;

	(void)arg;
	for (int i = 0; i < N; i++) {
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
		    waitpid(pid, NULL, 0) != pid)
			exit(1);
	}
	return (bench_now() - t0) / N * 1e6;
}

static double run_capture(void *arg)
{
	static const char *const argv[] = {"/bin/echo", "hi", NULL};
	double t0 = bench_now();
	mp_completed_t r;

	(void)arg;
	for (int i = 0; i < N; i++) {
		if (mp_run(argv, &(mp_run_opts_t){.capture_output = true}, &r) != 0 ||
		    r.out.len != 3)
			exit(1);
		mp_completed_destroy(&r);
	}
	return (bench_now() - t0) / N * 1e6;
}

static double spawn_capture(void *arg)
{
	char *const argv[] = {"/bin/echo", "hi", NULL};
	double t0 = bench_now();
	char buf[64];

	(void)arg;
	for (int i = 0; i < N; i++) {
		posix_spawn_file_actions_t fa;
		int fds[2];
		pid_t pid;

		if (pipe(fds) < 0)
			exit(1);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		posix_spawn_file_actions_addclose(&fa, fds[1]);
		if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
			exit(1);
		close(fds[1]);
		while (read(fds[0], buf, sizeof(buf)) > 0)
			;
		close(fds[0]);
		waitpid(pid, NULL, 0);
		posix_spawn_file_actions_destroy(&fa);
	}
	return (bench_now() - t0) / N * 1e6;
}

int main(void)
{
	double a[REPS], b[REPS], small;
	size_t big = (size_t)1 << 30;
	char *heap;

	for (int r = 0; r < REPS; r++) {
		a[r] = run_true(NULL);
		b[r] = spawn_true(NULL);
	}
	small = bench_median(a, REPS);
	bench_print("subprocess_run_true_us", small, bench_median(b, REPS), "us");
	for (int r = 0; r < REPS; r++) {
		a[r] = run_capture(NULL);
		b[r] = spawn_capture(NULL);
	}
	bench_print("subprocess_run_capture_us", bench_median(a, REPS),
		    bench_median(b, REPS), "us");
	/* A parent holding 1 GiB of touched memory: vfork does not copy it. */
	heap = malloc(big);
	if (heap == NULL)
		return 1;
	memset(heap, 1, big);
	bench_print("subprocess_run_true_big_parent_us",
		    bench_repeat(3, run_true, NULL), small, "us");
	free(heap);
	return 0;
}
