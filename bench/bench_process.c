/* bench_process.c - process start + join, against fork + waitpid. */
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/process.h"

enum { N = 2000, REPS = 7 };

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static double mproc_start_join(void *arg)
{
	double t0 = bench_now();
	int i;

	(void)arg;
	for (i = 0; i < N; i++) {
		mp_process_t *p = mp_process_new(nothing, NULL, NULL);
		if (p == NULL || mp_process_start(p) != 0 ||
		    mp_process_join(p, MP_FOREVER) != 0)
			exit(1);
		mp_process_free(p);
	}
	return (bench_now() - t0) / N * 1e6;
}

static double fork_waitpid(void *arg)
{
	double t0 = bench_now();
	int i, status;

	(void)arg;
	for (i = 0; i < N; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			exit(1);
	}
	return (bench_now() - t0) / N * 1e6;
}

int main(void)
{
	double m[REPS], b[REPS];
	int r;

	/* Alternate the two so machine noise hits both alike. */
	fork_waitpid(NULL);
	for (r = 0; r < REPS; r++) {
		m[r] = mproc_start_join(NULL);
		b[r] = fork_waitpid(NULL);
	}
	bench_print("process_start_join_us", bench_median(m, REPS),
		    bench_median(b, REPS), "us");
	return 0;
}
