/* bench_connection.c - Connection ping-pong round trip between two
 * processes, against the same over a raw pipe pair. */
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/connection.h"

enum { N = 100000, REPS = 7 };

static double conn_rtt(void *arg)
{
	mp_connection_t *a, *b, *c, *d;
	char buf[64];
	size_t len;
	double t0;
	pid_t pid;

	(void)arg;
	if (mp_pipe(MP_PIPE_SIMPLEX, &a, &b) < 0 ||
	    mp_pipe(MP_PIPE_SIMPLEX, &c, &d) < 0)
		exit(1);
	if ((pid = fork()) == 0) { /* echo: read from a, answer on d */
		for (int i = 0; i < N; i++)
			if (mp_connection_recv_bytes_into(a, buf, sizeof(buf), &len) ||
			    mp_connection_send_bytes(d, buf, len))
				_exit(1);
		_exit(0);
	}
	t0 = bench_now();
	for (int i = 0; i < N; i++)
		if (mp_connection_send_bytes(b, "ping", 4) ||
		    mp_connection_recv_bytes_into(c, buf, sizeof(buf), &len))
			exit(1);
	t0 = bench_now() - t0;
	waitpid(pid, NULL, 0);
	mp_connection_free(a);
	mp_connection_free(b);
	mp_connection_free(c);
	mp_connection_free(d);
	return t0 / N * 1e6;
}

static double raw_rtt(void *arg)
{
	int p[2], q[2];
	char buf[8];
	double t0;
	pid_t pid;

	(void)arg;
	if (pipe(p) < 0 || pipe(q) < 0)
		exit(1);
	if ((pid = fork()) == 0) {
		for (int i = 0; i < N; i++)
			if (read(p[0], buf, 4) != 4 || write(q[1], buf, 4) != 4)
				_exit(1);
		_exit(0);
	}
	t0 = bench_now();
	for (int i = 0; i < N; i++)
		if (write(p[1], "ping", 4) != 4 || read(q[0], buf, 4) != 4)
			exit(1);
	t0 = bench_now() - t0;
	waitpid(pid, NULL, 0);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	return t0 / N * 1e6;
}

int main(void)
{
	double a[REPS], b[REPS];

	for (int r = 0; r < REPS; r++) {
		a[r] = conn_rtt(NULL);
		b[r] = raw_rtt(NULL);
	}
	bench_print("pipe_roundtrip_us", bench_median(a, REPS),
		    bench_median(b, REPS), "us");
	return 0;
}
