/* bench_queue.c - Queue throughput: 64-byte messages 1 -> 1 and 4 -> 4
 * processes, 1 MiB messages; baseline: 64-byte writes through a raw pipe. */
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/queue.h"

enum { REPS = 3 };

static mp_queue_t *q;

static void produce(long n, size_t size)
{
	static char msg[1 << 20];

	for (long i = 0; i < n; i++)
		if (mp_queue_put(q, msg, size, MP_FOREVER) != 0)
			_exit(1);
	_exit(0);
}

static void consume(long n, size_t size)
{
	static char buf[1 << 20];
	size_t len;

	for (long i = 0; i < n; i++)
		if (mp_queue_get_into(q, buf, sizeof(buf), MP_FOREVER, &len) != 0 ||
		    len != size)
			_exit(1);
	_exit(0);
}

/* np producers and nc consumers move n messages of size bytes: per second. */
static double rate(int np, int nc, long n, size_t size)
{
	pid_t pid[16];
	double t0;
	int k = 0, status, bad = 0;

	q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4u << 20});
	t0 = bench_now();
	for (int i = 0; i < nc; i++)
		if ((pid[k++] = fork()) == 0)
			consume(n / nc, size);
	for (int i = 0; i < np; i++)
		if ((pid[k++] = fork()) == 0)
			produce(n / np, size);
	for (int i = 0; i < k; i++) {
		waitpid(pid[i], &status, 0);
		bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	t0 = bench_now() - t0;
	mp_queue_free(q);
	if (bad)
		exit(1);
	return (double)n / t0;
}

static double pipe_rate(long n)
{
	char msg[64] = {0};
	int fds[2];
	pid_t pid;
	double t0;

	if (pipe(fds) < 0)
		exit(1);
	t0 = bench_now();
	if ((pid = fork()) == 0) {
		close(fds[0]);
		for (long i = 0; i < n; i++)
			if (write(fds[1], msg, 64) != 64)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	for (long i = 0; i < n; i++) {
		size_t got = 0;
		while (got < 64) {
			ssize_t r = read(fds[0], msg + got, 64 - got);
			if (r <= 0)
				exit(1);
			got += (size_t)r;
		}
	}
	waitpid(pid, NULL, 0);
	close(fds[0]);
	return (double)n / (bench_now() - t0);
}

int main(void)
{
	double a[REPS], b[REPS];

	for (int r = 0; r < REPS; r++) {
		a[r] = rate(1, 1, 20000000, 64);
		b[r] = pipe_rate(2000000);
	}
	bench_print("queue_64B_msgs_per_s", bench_median(a, REPS),
		    bench_median(b, REPS), "msgs_per_s");
	for (int r = 0; r < REPS; r++)
		a[r] = rate(4, 4, 8000000, 64);
	bench_print("queue_4x4_64B_msgs_per_s", bench_median(a, REPS), -1,
		    "msgs_per_s");
	for (int r = 0; r < REPS; r++)
		a[r] = rate(1, 1, 2000, 1 << 20) / 1.048576; /* MB (1e6 B)/s */
	bench_print("queue_1MiB_MBps", bench_median(a, REPS), -1, "MB_per_s");
	return 0;
}
