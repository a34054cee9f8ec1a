/* bench_queue.c - Queue throughput: 64-byte messages 1 -> 1 and 4 -> 4
 * processes, 1 MiB messages.  Two baselines for 64-byte 1 -> 1: 64-byte
 * writes through a raw pipe (baseline=), and a bare MPMC ring in shared
 * memory with futex sleep (bare_ring=, below).  And latency: a 64-byte
 * ping-pong between two processes over two queues (two bare rings, two
 * pipes), the median round trip and its p99.
 *
 * Usage: bench_queue (every figure) | 64 (queue_64B only) | pp [n]
 * (ping-pong only) | 4x4 | 1m (one
 * run) | q1 [n] | b1 [n] (one 1 -> 1 run of the queue or the bare ring,
 * with each child's CPU time per message) | cg [n] / cgb [n] (one process
 * puts and gets, queue / bare ring: for callgrind) | solo [n] (the same
 * timed, queue and bare ring) | c2c [k] (k probes of what one cache line
 * costs between the two CPUs: see c2c_probe). */
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/queue.h"

enum { REPS = 3, RUNS64 = 5, N64 = 20000000, NPP = 20000 };

/* ---- the bare ring ----
 * A minimal MPMC ring: a lock-free array of slots, each a sequence word and
 * a 64-byte payload (Vyukov's bounded queue), and one futex word per side
 * (data for consumers, space for producers), set while someone sleeps on
 * it.  A side that finds nothing spins briefly, then sets its word and
 * sleeps; the first waker after that clears the word and makes the one
 * futex call (a burst of puts to a sleeping consumer costs one wake).
 * NOT robust: a producer or consumer killed between claiming a slot and
 * releasing it blocks the ring for good, and nothing checks what a peer
 * wrote.  No deadlines, no close, no message above 64 bytes: the floor of
 * what the queue does, for comparison only. */
enum { BSLOTS = 1 << 16, BSPIN = 2000 };

struct bslot {
	uint64_t seq;
	uint64_t len;
	unsigned char data[64];
};

/* A side's futex word: non-zero while someone sleeps on it. */
struct bwake {
	_Alignas(64) uint32_t sleeping;
};

struct bare {
	_Alignas(64) uint64_t tail; /* producers claim here */
	_Alignas(64) uint64_t head; /* consumers claim here */
	struct bwake data, space;
	_Alignas(64) struct bslot slot[BSLOTS];
};

static struct bare *bq;
static bool verbose; /* q1, b1: CPU time per message of each child */

static void bwait(struct bwake *w, bool (*ready)(uint64_t), uint64_t pos)
{
	for (int i = 0; i < BSPIN; i++) {
		if (ready(pos))
			return;
		__builtin_ia32_pause();
	}
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
	if (!ready(pos))
		syscall(SYS_futex, &w->sleeping, FUTEX_WAIT, 1, NULL, NULL, 0);
}

/* The first waker after a sleep clears the word and makes the call. */
static void bwake(struct bwake *w)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* slot store before check */
	if (__atomic_load_n(&w->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&w->sleeping, 0, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &w->sleeping, FUTEX_WAKE, INT32_MAX, NULL,
			NULL, 0);
}

static bool bspace(uint64_t pos)
{
	return __atomic_load_n(&bq->slot[pos % BSLOTS].seq, __ATOMIC_ACQUIRE) >=
	       pos;
}

static bool bdata(uint64_t pos)
{
	return __atomic_load_n(&bq->slot[pos % BSLOTS].seq, __ATOMIC_ACQUIRE) >=
	       pos + 1;
}

static void bput(const void *msg, size_t len)
{
	uint64_t pos = __atomic_load_n(&bq->tail, __ATOMIC_RELAXED);
	struct bslot *s;

	for (;;) {
		s = &bq->slot[pos % BSLOTS];
		int64_t d = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) -
				      pos);
		if (d == 0 &&
		    __atomic_compare_exchange_n(&bq->tail, &pos, pos + 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
		if (d < 0)
			bwait(&bq->space, bspace, pos);
		if (d != 0)
			pos = __atomic_load_n(&bq->tail, __ATOMIC_RELAXED);
	}
	s->len = len;
	memcpy(s->data, msg, len);
	__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
	bwake(&bq->data);
}

static size_t bget(void *buf)
{
	uint64_t pos = __atomic_load_n(&bq->head, __ATOMIC_RELAXED);
	struct bslot *s;
	size_t len;

	for (;;) {
		s = &bq->slot[pos % BSLOTS];
		int64_t d = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) -
				      (pos + 1));
		if (d == 0 &&
		    __atomic_compare_exchange_n(&bq->head, &pos, pos + 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
		if (d < 0)
			bwait(&bq->data, bdata, pos);
		if (d != 0)
			pos = __atomic_load_n(&bq->head, __ATOMIC_RELAXED);
	}
	len = s->len;
	memcpy(buf, s->data, len);
	__atomic_store_n(&s->seq, pos + BSLOTS, __ATOMIC_RELEASE);
	bwake(&bq->space);
	return len;
}

/* A bare ring in shared memory, its slots' sequences set. */
static void bare_map(void)
{
	bq = mmap(NULL, sizeof(*bq), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (bq == MAP_FAILED)
		exit(1);
	for (uint64_t i = 0; i < BSLOTS; i++)
		bq->slot[i].seq = i;
}

static double bare_rate(long n)
{
	pid_t pid[2];
	double t0;
	int status, bad = 0;

	bare_map();
	t0 = bench_now();
	if ((pid[0] = fork()) == 0) {
		static char buf[64];

		for (long i = 0; i < n; i++)
			if (bget(buf) != 64)
				_exit(1);
		_exit(0);
	}
	if ((pid[1] = fork()) == 0) {
		static const char msg[64];

		for (long i = 0; i < n; i++)
			bput(msg, 64);
		_exit(0);
	}
	for (int i = 0; i < 2; i++) {
		struct rusage ru;

		wait4(pid[i], &status, 0, &ru);
		bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		if (verbose)
			fprintf(stderr, "# child %d: %.1f ns of CPU per message "
				"(%.1f user), %ld involuntary switches\n", i,
				(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
				 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6)
					/ (double)n * 1e9,
				(ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6)
					/ (double)n * 1e9, ru.ru_nivcsw);
	}
	t0 = bench_now() - t0;
	munmap(bq, sizeof(*bq));
	if (bad)
		exit(1);
	return (double)n / t0;
}

/* ---- the queue ---- */

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
		struct rusage ru;

		wait4(pid[i], &status, 0, &ru);
		bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		if (verbose)
			fprintf(stderr, "# child %d: %.1f ns of CPU per message "
				"(%.1f user), %ld involuntary switches\n", i,
				(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
				 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6)
					/ (double)n * 1e9,
				(ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6)
					/ (double)n * 1e9, ru.ru_nivcsw);
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

/* ---- ping-pong: one 64-byte message each way per round trip ----
 * A child echoes what the parent sends; the parent times each round trip.
 * Each kind is a pair of channels, parent -> child and child -> parent,
 * driven through send(kind, channel) / recv(kind, channel). */
enum { PP_QUEUE, PP_BARE, PP_PIPE, PP_KINDS };

static mp_queue_t *ppq[2];
static struct bare *ppb[2];
static int ppfd[2][2];

static bool pp_send(int kind, int ch)
{
	static const char msg[64];

	switch (kind) {
	case PP_QUEUE:
		return mp_queue_put(ppq[ch], msg, 64, MP_FOREVER) == 0;
	case PP_BARE:
		bq = ppb[ch];
		bput(msg, 64);
		return true;
	default:
		return write(ppfd[ch][1], msg, 64) == 64;
	}
}

static bool pp_recv(int kind, int ch)
{
	static char buf[64];
	size_t len = 0;

	switch (kind) {
	case PP_QUEUE:
		return mp_queue_get_into(ppq[ch], buf, 64, MP_FOREVER, &len) == 0 &&
		       len == 64;
	case PP_BARE:
		bq = ppb[ch];
		return bget(buf) == 64;
	default: /* a pipe write of 64 bytes is atomic: one read gets it */
		return read(ppfd[ch][0], buf, 64) == 64;
	}
}

/* n round trips of kind: their median and p99 in microseconds (p99 into
 * *p99). */
static double pingpong(int kind, long n, double *p99)
{
	static double rtt[NPP];
	pid_t pid;
	int status;
	double t0, m;

	if (n > NPP)
		n = NPP;
	for (int ch = 0; ch < 2; ch++) {
		if (kind == PP_QUEUE)
			ppq[ch] = mp_queue_new(&(mp_queue_opts_t){.capacity = 4u << 20});
		else if (kind == PP_BARE) {
			bare_map();
			ppb[ch] = bq;
		} else if (pipe(ppfd[ch]) < 0)
			exit(1);
	}
	if ((pid = fork()) == 0) {
		for (long i = 0; i < n + n / 10; i++)
			if (!pp_recv(kind, 0) || !pp_send(kind, 1))
				_exit(1);
		_exit(0);
	}
	for (long i = 0; i < n + n / 10; i++) { /* the first tenth warms up */
		t0 = bench_now();
		if (!pp_send(kind, 0) || !pp_recv(kind, 1))
			exit(1);
		if (i >= n / 10)
			rtt[i - n / 10] = (bench_now() - t0) * 1e6;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		exit(1);
	for (int ch = 0; ch < 2; ch++) {
		if (kind == PP_QUEUE)
			mp_queue_free(ppq[ch]);
		else if (kind == PP_BARE)
			munmap(ppb[ch], sizeof(*ppb[ch]));
		else {
			close(ppfd[ch][0]);
			close(ppfd[ch][1]);
		}
	}
	m = bench_median(rtt, (int)n); /* sorts */
	*p99 = rtt[n * 99 / 100];
	return m;
}

/* The ping-pong figure: queue, bare ring and pipe, alternated in slices so
 * that all three see the same noise; medians and p99s over all trips. */
static void pingpong_figure(long n)
{
	double m[PP_KINDS][REPS], p[PP_KINDS][REPS], mm[PP_KINDS], pm[PP_KINDS];

	for (int r = 0; r < REPS; r++)
		for (int k = 0; k < PP_KINDS; k++)
			m[k][r] = pingpong(k, n / REPS, &p[k][r]);
	for (int k = 0; k < PP_KINDS; k++) {
		mm[k] = bench_median(m[k], REPS);
		pm[k] = bench_median(p[k], REPS);
	}
	printf("figure=queue_pingpong_64B_us mproc=%.3g baseline=%.3g "
	       "bare_ring=%.3g p99=mproc:%.3g,bare_ring:%.3g,baseline:%.3g "
	       "unit=us_per_round_trip\n", mm[PP_QUEUE], mm[PP_PIPE],
	       mm[PP_BARE], pm[PP_QUEUE], pm[PP_BARE], pm[PP_PIPE]);
	fflush(stdout);
}

/* What a cache line costs between CPU 0 and CPU 1: two processes pinned
 * there pass one counter back and forth (acquire/release, spinning), 10^6
 * round trips; ns per round trip.  On a VM the host sets it (which cores
 * or sockets the vCPUs sit on), and it moves by minutes: the context of
 * the 64-byte figures' spread (docs/queue.md).  Only on a quiet machine:
 * a pinned side that is preempted stalls the other. */
static double c2c_probe(void)
{
	enum { TRIPS = 1000000 };
	long *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cpu_set_t set, was;
	double t0;
	pid_t pid;
	int st;

	if (w == MAP_FAILED || sched_getaffinity(0, sizeof(was), &was) != 0)
		exit(1);
	if ((pid = fork()) == 0) {
		CPU_ZERO(&set);
		CPU_SET(1, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			_exit(1);
		for (long i = 1; i < 2L * TRIPS; i += 2) {
			while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != i)
				;
			__atomic_store_n(w, i + 1, __ATOMIC_RELEASE);
		}
		_exit(0);
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (pid < 0 || sched_setaffinity(0, sizeof(set), &set) != 0)
		exit(1);
	t0 = bench_now();
	for (long i = 0; i < 2L * TRIPS; i += 2) {
		while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != i)
			;
		__atomic_store_n(w, i + 1, __ATOMIC_RELEASE);
	}
	t0 = bench_now() - t0;
	if (waitpid(pid, &st, 0) != pid || st != 0)
		exit(1);
	if (sched_setaffinity(0, sizeof(was), &was) != 0) /* as it was */
		exit(1);
	munmap(w, 4096);
	return t0 / TRIPS * 1e9;
}

/* The median of n runs, and how far the slowest and fastest lie from it
 * (percent, written into out). */
static double spread(double *v, int n, char *out, size_t size)
{
	double m = bench_median(v, n); /* sorts */

	snprintf(out, size, "%+.0f%%/%+.0f%%", (v[0] / m - 1) * 100,
		 (v[n - 1] / m - 1) * 100);
	return m;
}

int main(int argc, char **argv)
{
	double a[RUNS64], b[RUNS64], c[REPS], qm, bm;
	char qs[32], bs[32];
	const char *only = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : N64;

	/* One process puts and gets n messages in turn, never waiting: the
	 * instructions a message costs, for callgrind (cg [n]). */
	if (strcmp(only, "cg") == 0) {
		static char m[64];
		size_t len;

		q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4u << 20});
		for (long i = 0; i < n; i++)
			if (mp_queue_put(q, m, 64, MP_FOREVER) != 0 ||
			    mp_queue_get_into(q, m, 64, MP_FOREVER, &len) != 0)
				return 1;
		mp_queue_free(q);
		return 0;
	}
	if (strcmp(only, "cgb") == 0) { /* the same, bare ring */
		static char m[64];

		bare_map();
		for (long i = 0; i < n; i++) {
			bput(m, 64);
			if (bget(m) != 64)
				return 1;
		}
		return 0;
	}
	/* One process, put then get, n times: ns per message with no peer
	 * (solo: queue and bare ring). */
	if (strcmp(only, "solo") == 0) {
		static char m[64];
		size_t len;
		double t0;

		q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4u << 20});
		t0 = bench_now();
		for (long i = 0; i < n; i++)
			if (mp_queue_put(q, m, 64, MP_FOREVER) != 0 ||
			    mp_queue_get_into(q, m, 64, MP_FOREVER, &len) != 0)
				return 1;
		printf("solo queue: %.1f ns per put+get\n",
		       (bench_now() - t0) / (double)n * 1e9);
		mp_queue_free(q);
		bare_map();
		t0 = bench_now();
		for (long i = 0; i < n; i++) {
			bput(m, 64);
			if (bget(m) != 64)
				return 1;
		}
		printf("solo bare: %.1f ns per put+get\n",
		       (bench_now() - t0) / (double)n * 1e9);
		munmap(bq, sizeof(*bq));
		return 0;
	}
	if (strcmp(only, "c2c") == 0) {
		for (long k = 0; k < (argc > 2 ? n : 10); k++)
			printf("%.0f ", c2c_probe());
		printf("ns per cache-line round trip, CPU 0 <-> 1\n");
		return 0;
	}
	if (strcmp(only, "pp") == 0) { /* the ping-pong figure only */
		pingpong_figure(argc > 2 ? n : NPP);
		return 0;
	}
	/* One run of the other figures: 4x4 or 1m. */
	if (strcmp(only, "4x4") == 0 || strcmp(only, "1m") == 0) {
		printf("%s: %.4g %s\n", only,
		       only[0] == '4' ? rate(4, 4, 8000000, 64)
				      : rate(1, 1, 2000, 1 << 20) / 1.048576,
		       only[0] == '4' ? "msgs/s" : "MB/s");
		return 0;
	}
	/* One run of one side (for perf stat and callgrind): q1 or b1 [n]. */
	if (strcmp(only, "q1") == 0 || strcmp(only, "b1") == 0) {
		verbose = true;
		printf("%s: %.4g msgs/s\n", only,
		       only[0] == 'q' ? rate(1, 1, n, 64) : bare_rate(n));
		return 0;
	}
	/* Queue and bare ring alternate, so that both see the same noise. */
	for (int r = 0; r < RUNS64; r++) {
		a[r] = rate(1, 1, N64, 64);
		b[r] = bare_rate(N64);
		if (r < REPS && strcmp(only, "64") != 0)
			c[r] = pipe_rate(2000000);
	}
	for (int r = 0; r < RUNS64; r++)
		fprintf(stderr, "# queue_64B run %d: mproc=%.4g bare_ring=%.4g\n",
			r, a[r], b[r]);
	qm = spread(a, RUNS64, qs, sizeof(qs));
	bm = spread(b, RUNS64, bs, sizeof(bs));
	printf("figure=queue_64B_msgs_per_s mproc=%.4g ", qm);
	if (strcmp(only, "64") != 0)
		printf("baseline=%.4g ", bench_median(c, REPS));
	printf("bare_ring=%.4g spread=mproc:%s,bare_ring:%s unit=msgs_per_s\n",
	       bm, qs, bs);
	fflush(stdout);
	if (strcmp(only, "64") == 0) /* 64: this figure only */
		return 0;
	for (int r = 0; r < REPS; r++)
		c[r] = rate(4, 4, 8000000, 64);
	bench_print("queue_4x4_64B_msgs_per_s", bench_median(c, REPS), -1,
		    "msgs_per_s");
	for (int r = 0; r < REPS; r++)
		c[r] = rate(1, 1, 2000, 1 << 20) / 1.048576; /* MB (1e6 B)/s */
	bench_print("queue_1MiB_MBps", bench_median(c, REPS), -1, "MB_per_s");
	pingpong_figure(NPP);
	return 0;
}
