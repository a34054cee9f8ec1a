/* ch5_subprocess_popen - 5.2.3 Popen: read a child's output line by line, as it is printed */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	/* The child prints a line, then sleeps: each line must reach us at
	 * once, not when the child ends. */
	mp_popen_t *p = mp_popen_new(
		(const char *[]){"sh", "-c",
				 "for i in 0 1 2 3 4; do echo \"Step $i\"; sleep 0.2; done",
				 NULL},
		&(mp_popen_opts_t){.out.kind = MP_STDIO_PIPE,
				 .err.kind = MP_STDIO_PIPE});
	double t0 = now();
	mp_bytes_t line, err;
	int code, rc;

	if (p == NULL) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	while ((rc = mp_popen_readline(p, 10, &line)) == 1) {
		printf("real-time output: %.*s (at %.1fs)\n", (int)line.len - 1,
		       line.data, now() - t0);
		mp_bytes_destroy(&line);
	}
	if (rc < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		mp_popen_free(p);
		return 1;
	}
	mp_popen_communicate(p, NULL, 0, 10, NULL, &err); /* the rest, and wait */
	mp_bytes_destroy(&err);
	mp_popen_poll(p, &code);
	printf("process finished, return code: %d\n", code);
	mp_popen_free(p);
	return 0;
}
