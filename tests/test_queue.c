/* test_queue.c - Queue, SimpleQueue, JoinableQueue across processes and
 * threads: order, sizes, timeouts, close, maxsize, deaths mid-put/get. */
#include "mptest.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "internal/ring.h"
#include "internal/arena.h"
#include "mproc/queue.h"

/* A message: producer id, sequence number, payload, checksum. */
struct head {
	uint32_t producer, seq, len, sum;
};

static uint32_t fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 9));
		sum = sum * 131 + p[i];
	}
	return sum;
}

static uint32_t checksum(const unsigned char *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = sum * 131 + p[i];
	return sum;
}

static size_t make_msg(unsigned char *buf, uint32_t producer, uint32_t seq,
		       size_t len)
{
	struct head h = {producer, seq, (uint32_t)len, 0};

	h.sum = fill(buf + sizeof(h), len, producer * 1000003u + seq);
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + len;
}

/* 1 if the message is whole and intact. */
static int check_msg(const void *buf, size_t n, struct head *h)
{
	memcpy(h, buf, sizeof(*h));
	return n == sizeof(*h) + h->len &&
	       checksum((const unsigned char *)buf + sizeof(*h), h->len) ==
		       h->sum;
}

/* ---- basics ---- */

static void test_put_get_order_and_sizes(void **state)
{
	mp_queue_t *q = mp_queue_new(&(mp_queue_opts_t){.capacity = 65536});
	static unsigned char big[300000], out[300000];
	size_t sizes[] = {0, 1, 7, 8, 64, 1000, 16383, 20000, 300000};
	mp_bytes_t msg;
	size_t len;
	int i;

	(void)state;
	assert_non_null(q);
	assert_int_equal(mp_queue_empty(q), 1);
	for (i = 0; i < 9; i++) {
		fill(big, sizes[i], (uint32_t)i);
		if (sizes[i] > 20000) /* bigger than the ring: a reader must run */
			break;
		mpt_assert_ok(mp_queue_put(q, big, sizes[i], 0));
	}
	assert_int_equal(mp_queue_qsize(q), 8);
	for (i = 0; i < 8; i++) {
		mpt_assert_ok(mp_queue_get(q, 0, &msg));
		assert_int_equal(msg.len, sizes[i]);
		fill(big, sizes[i], (uint32_t)i);
		assert_memory_equal(msg.data, big, msg.len);
		assert_int_equal(msg.data[msg.len], '\0'); /* NUL-terminated */
		mp_bytes_destroy(&msg);
	}
	msg = (mp_bytes_t){(char *)"stale", 5};
	mpt_assert_rc(mp_queue_get_nowait(q, &msg), -EAGAIN);
	assert_null(msg.data); /* empty on failure */
	assert_int_equal(msg.len, 0);
	/* get_into: too small leaves the message there */
	mpt_assert_ok(mp_queue_put(q, "hello", 5, 0));
	mpt_assert_rc(mp_queue_get_into(q, out, 3, 0, &len), -EMSGSIZE);
	assert_int_equal(len, 5);
	assert_non_null(strstr(mp_last_error(), "5 bytes"));
	mpt_assert_ok(mp_queue_get_into(q, out, sizeof(out), 0, &len));
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	mpt_assert_rc(mp_queue_put(NULL, "x", 1, 0), -EINVAL);
	mpt_assert_rc(mp_queue_put(q, NULL, 1, 0), -EINVAL);
	mpt_assert_rc(mp_queue_get(q, -2, &msg), -EINVAL);
	mp_queue_free(q);
	mp_queue_free(NULL);
}

static void test_timeouts_and_maxsize(void **state)
{
	mp_queue_t *q = mp_queue_new(&(mp_queue_opts_t){.maxsize = 2});
	mp_bytes_t msg;
	double t0;

	(void)state;
	t0 = mpt_now();
	mpt_assert_rc(mp_queue_get(q, 0.1, &msg), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	mpt_assert_ok(mp_queue_put(q, "a", 1, 0));
	mpt_assert_ok(mp_queue_put(q, "b", 1, 0));
	assert_int_equal(mp_queue_full(q), 1);
	mpt_assert_rc(mp_queue_put_nowait(q, "c", 1), -EAGAIN);
	t0 = mpt_now();
	mpt_assert_rc(mp_queue_put(q, "c", 1, 0.1), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	assert_int_equal(mp_queue_qsize(q), 2);
	mpt_assert_ok(mp_queue_get(q, 0, &msg));
	mp_bytes_destroy(&msg);
	assert_int_equal(mp_queue_full(q), 0);
	mpt_assert_ok(mp_queue_put_nowait(q, "c", 1));
	mp_queue_free(q);
	assert_null(mp_queue_new(&(mp_queue_opts_t){.maxsize = 0x80000000u}));
	q = mp_queue_new(&(mp_queue_opts_t){.max_message = 10});
	mpt_assert_rc(mp_queue_put(q, "0123456789a", 11, 0), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "max_message of 10"));
	mp_queue_free(q);
}

/*
 * A put or get whose timeout passes gives -ETIMEDOUT, timeout 0 included;
 * only the _nowait calls give -EAGAIN (before: timeout 0 gave -EAGAIN).
 */
static void test_timeout_zero_is_a_timeout(void **state)
{
	mp_queue_t *q = mp_queue_new(&(mp_queue_opts_t){.maxsize = 1});
	mp_queue_t *jq = mp_queue_new(&(mp_queue_opts_t){.joinable = true});
	mp_bytes_t msg;
	char buf[8];
	size_t len;

	(void)state;
	assert_non_null(q);
	assert_non_null(jq);
	mpt_assert_rc(mp_queue_get(q, 0, &msg), -ETIMEDOUT);
	assert_string_equal(mp_last_error(),
			    "mp_queue_get: queue is empty after 0s");
	mpt_assert_rc(mp_queue_get_into(q, buf, sizeof(buf), 0, &len),
		      -ETIMEDOUT);
	mpt_assert_rc(mp_queue_get_nowait(q, &msg), -EAGAIN);
	assert_string_equal(mp_last_error(), "mp_queue_get_nowait: queue is "
			    "empty (queue.Empty)");
	mpt_assert_ok(mp_queue_put(q, "a", 1, 0));
	mpt_assert_rc(mp_queue_put(q, "b", 1, 0), -ETIMEDOUT);
	assert_string_equal(mp_last_error(),
			    "mp_queue_put: queue is full after 0s");
	mpt_assert_rc(mp_queue_put_nowait(q, "b", 1), -EAGAIN);
	assert_string_equal(mp_last_error(), "mp_queue_put_nowait: queue is "
			    "full (queue.Full)");
	/* a success leaves the last message alone */
	mpt_assert_ok(mp_queue_get_nowait(q, &msg));
	assert_string_equal(msg.data, "a");
	mp_bytes_destroy(&msg);
	assert_string_equal(mp_last_error(), "mp_queue_put_nowait: queue is "
			    "full (queue.Full)");
	/* join: 0 once nothing is unfinished, -ETIMEDOUT before */
	mpt_assert_ok(mp_queue_join(jq, 0));
	mpt_assert_ok(mp_queue_put(jq, "t", 1, 0));
	mpt_assert_rc(mp_queue_join(jq, 0), -ETIMEDOUT);
	assert_string_equal(mp_last_error(),
			    "mp_queue_join: 1 tasks still unfinished");
	mpt_assert_ok(mp_queue_get(jq, 0, &msg));
	mp_bytes_destroy(&msg);
	mpt_assert_ok(mp_queue_task_done(jq));
	mpt_assert_ok(mp_queue_join(jq, 0));
	mp_queue_free(q);
	mp_queue_free(jq);
}

static mp_queue_t *shared_q;

static int consume_two_later(void *arg)
{
	mp_bytes_t msg;
	int fd = (int)(intptr_t)arg;
	char c;

	/* Wait for the parent to be blocked (it says so), then take two. */
	if (read(fd, &c, 1) != 1)
		return 1;
	for (int i = 0; i < 2; i++) {
		if (mp_queue_get(shared_q, mpt_timeout(10), &msg) != 0)
			return 2;
		mp_bytes_destroy(&msg);
	}
	return 0;
}

static void test_maxsize_blocks_until_consumed(void **state)
{
	int go[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	shared_q = mp_queue_new(&(mp_queue_opts_t){.maxsize = 2});
	mpt_assert_ok(mp_queue_put(shared_q, "1", 1, 0));
	mpt_assert_ok(mp_queue_put(shared_q, "2", 1, 0));
	pid = mpt_fork(consume_two_later, (void *)(intptr_t)go[0]);
	assert_int_equal(write(go[1], "g", 1), 1);
	/* Blocks until the child consumes. */
	mpt_assert_ok(mp_queue_put(shared_q, "3", 1, mpt_timeout(10)));
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_int_equal(mp_queue_qsize(shared_q), 1);
	mp_queue_free(shared_q);
	close(go[0]);
	close(go[1]);
}

static int get_until_closed(void *arg)
{
	mp_bytes_t msg;
	int n = 0, rc;

	(void)arg;
	while ((rc = mp_queue_get(shared_q, mpt_timeout(10), &msg)) == 0) {
		mp_bytes_destroy(&msg);
		n++;
	}
	return rc == MP_ECLOSED ? n : 100 + n;
}

static void test_close(void **state)
{
	pid_t pid;

	(void)state;
	shared_q = mp_simplequeue_new();
	mpt_assert_ok(mp_queue_put(shared_q, "a", 1, 0));
	mpt_assert_ok(mp_queue_put(shared_q, "b", 1, 0));
	pid = mpt_fork(get_until_closed, NULL);
	mpt_assert_ok(mp_queue_close(shared_q));
	mpt_assert_rc(mp_queue_put(shared_q, "c", 1, 0), MP_ECLOSED);
	assert_string_equal(mp_last_error(), "mp_queue_put: queue is closed");
	/* The getter drained both, then was told the queue is closed. */
	assert_int_equal(mpt_exit_code(pid), 2);
	mp_queue_free(shared_q);
}

/* ---- many producers and consumers ---- */

enum { NP = 4, NC = 4 };

struct stats {
	uint32_t got[NP], bad, order_errors;
	uint8_t seen[NP][25000];
};

static struct stats *st;
static unsigned per_producer;

static size_t size_for(uint32_t p, uint32_t seq)
{
	uint32_t x = (p + 1) * 2654435761u ^ seq * 40503u;

	/* mostly small, one in eight up to 100 KiB (through a 256 KiB ring) */
	return x % 8 == 0 ? x % (100 * 1024) : x % 200;
}

static int producer(void *arg)
{
	uint32_t p = (uint32_t)(intptr_t)arg;
	unsigned char *buf = malloc(sizeof(struct head) + 100 * 1024);

	for (uint32_t s = 0; s < per_producer; s++) {
		size_t n = make_msg(buf, p, s, size_for(p, s));
		if (mp_queue_put(shared_q, buf, n, mpt_timeout(30)) != 0)
			return 1;
	}
	free(buf);
	return 0;
}

static int consumer(void *arg)
{
	uint32_t last[NP];
	struct head h;
	mp_bytes_t msg;
	int rc;

	(void)arg;
	memset(last, 0xff, sizeof(last));
	while ((rc = mp_queue_get(shared_q, mpt_timeout(30), &msg)) == 0) {
		if (!check_msg(msg.data, msg.len, &h) || h.producer >= NP ||
		    h.seq >= per_producer) {
			__atomic_add_fetch(&st->bad, 1, __ATOMIC_SEQ_CST);
		} else {
			if (last[h.producer] != UINT32_MAX && h.seq <= last[h.producer])
				__atomic_add_fetch(&st->order_errors, 1, __ATOMIC_SEQ_CST);
			last[h.producer] = h.seq;
			st->seen[h.producer][h.seq]++;
			__atomic_add_fetch(&st->got[h.producer], 1, __ATOMIC_SEQ_CST);
		}
		mp_bytes_destroy(&msg);
	}
	return rc == MP_ECLOSED ? 0 : 1;
}

static void test_many_producers_many_consumers(void **state)
{
	pid_t prod[NP], cons[NC];
	int i;

	(void)state;
	per_producer = 25000; /* 100k messages in all */
	st = mp__arena_alloc(sizeof(*st));
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 256 * 1024});
	for (i = 0; i < NC; i++)
		cons[i] = mpt_fork(consumer, NULL);
	for (i = 0; i < NP; i++)
		prod[i] = mpt_fork(producer, (void *)(intptr_t)i);
	for (i = 0; i < NP; i++)
		assert_int_equal(mpt_exit_code(prod[i]), 0);
	mp_queue_close(shared_q); /* consumers drain, then stop */
	for (i = 0; i < NC; i++)
		assert_int_equal(mpt_exit_code(cons[i]), 0);
	assert_int_equal(st->bad, 0);
	assert_int_equal(st->order_errors, 0);
	for (i = 0; i < NP; i++) {
		assert_int_equal(st->got[i], per_producer);
		for (unsigned s = 0; s < per_producer; s++)
			assert_int_equal(st->seen[i][s], 1);
	}
	mp_queue_free(shared_q);
	mp__arena_free(st);
}

/* ---- deaths ---- */

static int flood_big(void *arg)
{
	unsigned char *buf = malloc(sizeof(struct head) + (1 << 20));

	(void)arg;
	for (uint32_t s = 0;; s++) {
		size_t n = make_msg(buf, 0, s, 1 << 20);
		if (mp_queue_put(shared_q, buf, n, MP_FOREVER) != 0)
			return 1;
	}
}

static void test_producer_killed_mid_put(void **state)
{
	unsigned char marker[64];
	struct head h;
	mp_bytes_t msg;
	size_t n;
	pid_t pid;
	int got = 0;

	(void)state;
	/* 1 MiB messages stream through a 64 KiB ring: a kill lands mid-put. */
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 65536});
	pid = mpt_fork(flood_big, NULL);
	for (int i = 0; i < 3; i++) {
		mpt_assert_ok(mp_queue_get(shared_q, mpt_timeout(10), &msg));
		assert_true(check_msg(msg.data, msg.len, &h));
		mp_bytes_destroy(&msg);
	}
	kill(pid, SIGKILL);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	/* The queue is not locked forever: a new producer gets in. */
	n = make_msg(marker, 9, 9, 16);
	mpt_assert_ok(mp_queue_put(shared_q, marker, n, mpt_timeout(10)));
	/* Everything still delivered is whole, then the marker. */
	for (;;) {
		mpt_assert_ok(mp_queue_get(shared_q, mpt_timeout(10), &msg));
		assert_true(check_msg(msg.data, msg.len, &h));
		mp_bytes_destroy(&msg);
		if (h.producer == 9)
			break;
		got++;
	}
	assert_true(got <= 2);
	assert_int_equal(mp_queue_qsize(shared_q), 0);
	mp_queue_free(shared_q);
}

static int take_and_report(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct head h;
	mp_bytes_t msg;

	for (;;) {
		if (mp_queue_get(shared_q, mpt_timeout(10), &msg) != 0)
			return 1;
		if (!check_msg(msg.data, msg.len, &h))
			return 2;
		mp_bytes_destroy(&msg);
		if (write(fd, &h.seq, sizeof(h.seq)) != sizeof(h.seq))
			return 3;
	}
}

enum { N = 40 };

static int put_rest(void *arg)
{
	unsigned char *buf = arg;

	for (uint32_t s = 5; s < N; s++)
		if (mp_queue_put(shared_q, buf, make_msg(buf, 0, s, 200000),
				 mpt_timeout(10)) != 0)
			return 1;
	return 0;
}

static void test_consumer_killed_mid_get(void **state)
{
	unsigned char *buf = malloc(sizeof(struct head) + 200000);
	int rep[2], seen[N] = {0}, lost = 0;
	struct head h;
	uint32_t seq;
	mp_bytes_t msg;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 65536});
	pid = mpt_fork(take_and_report, (void *)(intptr_t)rep[1]);
	/* Messages of 200 KB stream through a 64 KiB ring, so the consumer
	 * is most likely in the middle of one when it is killed. */
	for (uint32_t s = 0; s < 5; s++)
		mpt_assert_ok(mp_queue_put(shared_q, buf, make_msg(buf, 0, s, 200000),
					   mpt_timeout(10)));
	assert_int_equal(read(rep[0], &seq, sizeof(seq)), sizeof(seq));
	kill(pid, SIGKILL);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	close(rep[1]);
	while (read(rep[0], &seq, sizeof(seq)) == sizeof(seq))
		seen[seq]++;
	seen[0]++; /* the first report, read above */
	/* Another producer sends the rest while we consume. */
	pid = mpt_fork(put_rest, buf);
	while (mp_queue_get(shared_q, mpt_timeout(2), &msg) == 0) {
		assert_true(check_msg(msg.data, msg.len, &h));
		seen[h.seq]++;
		mp_bytes_destroy(&msg);
		if (h.seq == N - 1)
			break;
	}
	assert_int_equal(mpt_exit_code(pid), 0);
	for (int s = 0; s < N; s++) {
		assert_true(seen[s] <= 1); /* never twice */
		lost += seen[s] == 0;
	}
	assert_true(lost <= 1); /* at most the message it was taking */
	close(rep[0]);
	free(buf);
	mp_queue_free(shared_q);
}

/* CPython deadlocks when a parent joins a child before draining what the
 * child put (the feeder thread keeps the child alive); here put has copied
 * the message into shared memory when it returns. */
static int put_big_then_exit(void *arg)
{
	static char big[1 << 20];

	(void)arg;
	memset(big, 7, sizeof(big));
	return mp_queue_put(shared_q, big, sizeof(big), mpt_timeout(10)) != 0;
}

static void test_join_before_get_does_not_deadlock(void **state)
{
	mp_bytes_t msg;
	pid_t pid;

	(void)state;
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4 << 20});
	pid = mpt_fork(put_big_then_exit, NULL);
	assert_int_equal(mpt_exit_code(pid), 0); /* joined before any get */
	mpt_assert_ok(mp_queue_get(shared_q, 0, &msg));
	assert_int_equal(msg.len, 1 << 20);
	assert_int_equal(((char *)msg.data)[msg.len - 1], 7);
	mp_bytes_destroy(&msg);
	mp_queue_free(shared_q);
}

/* ---- JoinableQueue ---- */

static int worker_task_done(void *arg)
{
	mp_bytes_t msg;

	(void)arg;
	for (int i = 0; i < 10; i++) {
		if (mp_queue_get(shared_q, mpt_timeout(10), &msg) != 0)
			return 1;
		mp_bytes_destroy(&msg);
		if (mp_queue_task_done(shared_q) != 0)
			return 2;
	}
	return 0;
}

static void test_joinable(void **state)
{
	pid_t pid[4];
	int i;

	(void)state;
	shared_q = mp_queue_new(&(mp_queue_opts_t){.joinable = true});
	mpt_assert_rc(mp_queue_task_done(shared_q), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_queue_task_done: task_done() called too many times");
	mpt_assert_ok(mp_queue_join(shared_q, 0)); /* nothing unfinished */
	for (i = 0; i < 40; i++)
		mpt_assert_ok(mp_queue_put(shared_q, &i, sizeof(i), 0));
	mpt_assert_rc(mp_queue_join(shared_q, 0.05), -ETIMEDOUT);
	for (i = 0; i < 4; i++)
		pid[i] = mpt_fork(worker_task_done, NULL);
	mpt_assert_ok(mp_queue_join(shared_q, mpt_timeout(10)));
	for (i = 0; i < 4; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	mp_queue_free(shared_q);
	mp_queue_t *plain = mp_simplequeue_new();
	mpt_assert_rc(mp_queue_join(plain, 0), -EINVAL);
	mp_queue_free(plain);
}

/* ---- threads ---- */

static void *thread_producer(void *arg)
{
	for (uint32_t s = 0; s < 20000; s++) {
		uint32_t m[2] = {(uint32_t)(intptr_t)arg, s};
		if (mp_queue_put(shared_q, m, sizeof(m), mpt_timeout(10)) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *thread_consumer(void *arg)
{
	uint32_t m[2], last[2] = {UINT32_MAX, UINT32_MAX};
	size_t len;
	intptr_t n = 0;

	(void)arg;
	while (mp_queue_get_into(shared_q, m, sizeof(m), mpt_timeout(10), &len) == 0) {
		if (last[m[0]] != UINT32_MAX && m[1] <= last[m[0]])
			return (void *)-1;
		last[m[0]] = m[1];
		n++;
	}
	return (void *)n;
}

static void test_threads(void **state)
{
	pthread_t p[2], c[2];
	void *rc;
	intptr_t total = 0;

	(void)state;
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4096, .maxsize = 100});
	for (int i = 0; i < 2; i++) {
		pthread_create(&c[i], NULL, thread_consumer, NULL);
		pthread_create(&p[i], NULL, thread_producer, (void *)(intptr_t)i);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(p[i], &rc);
		assert_null(rc);
	}
	mp_queue_close(shared_q);
	for (int i = 0; i < 2; i++) {
		pthread_join(c[i], &rc);
		assert_true((intptr_t)rc >= 0);
		total += (intptr_t)rc;
	}
	assert_int_equal(total, 40000);
	mp_queue_free(shared_q);
}

/* ---- sizes and hostile records ---- */

static int put_huge(void *arg)
{
	static char small[64];
	int rc;

	(void)arg;
	mpt_crash_signals_default();
	for (size_t k = 0; k < 8; k++) {
		rc = mp_queue_put(shared_q, small, SIZE_MAX - k, 0);
		if (rc != -EMSGSIZE ||
		    strstr(mp_last_error(), "largest message") == NULL)
			return 10 + (int)k;
	}
	if (mp_queue_put(shared_q, small, (size_t)PTRDIFF_MAX + 1, MP_FOREVER) !=
	    -EMSGSIZE)
		return 20;
	return 0;
}

static int get_after_huge(void *arg)
{
	mp_bytes_t msg;

	(void)arg;
	mpt_crash_signals_default();
	if (mp_queue_get(shared_q, 0, &msg) != -ETIMEDOUT)
		return 1;
	if (mp_queue_put(shared_q, "ok", 2, 0) != 0 ||
	    mp_queue_get(shared_q, 0, &msg) != 0)
		return 2;
	if (msg.len != 2 || memcmp(msg.data, "ok", 2) != 0)
		return 3;
	mp_bytes_destroy(&msg);
	return 0;
}

static void test_huge_lengths_are_refused(void **state)
{
	(void)state;
	/* A put of SIZE_MAX (or up to 7 below) bytes used to wrap the record
	 * size and poison the ring for whichever process got next. */
	shared_q = mp_queue_new(&(mp_queue_opts_t){.capacity = 4096});
	assert_non_null(shared_q);
	assert_int_equal(mpt_exit_code(mpt_fork(put_huge, NULL)), 0);
	assert_int_equal(mpt_exit_code(mpt_fork(get_after_huge, NULL)), 0);
	assert_int_equal(mp_queue_qsize(shared_q), 0);
	mp_queue_free(shared_q);
}

static void test_capacity_limits(void **state)
{
	mp_queue_t *q;

	(void)state;
	q = mp_queue_new(&(mp_queue_opts_t){.capacity = SIZE_MAX});
	if (q != NULL)
		mp_queue_free(q); /* the old code mapped 1 TiB here */
	assert_null(q);
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "mp_queue_new: opts->capacity"));
	assert_null(mp_queue_new(&(mp_queue_opts_t){
		.capacity = MP_QUEUE_MAX_CAPACITY + 1}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	q = mp_queue_new(&(mp_queue_opts_t){.capacity = 1});
	assert_non_null(q);
	mpt_assert_ok(mp_queue_put(q, "x", 1, 0));
	mp_queue_free(q);
}

/* ---- records written by a process that breaks the protocol ---- */

/* Write a raw record (header: length, kind and the ring's lap at its
 * position; then plen payload bytes) at the producer's tail, publish it,
 * and clear the header word after it, as a producer does (ring.c). */
static void raw_rec(struct mp__ring *r, uint32_t kind, uint32_t len,
		    const void *payload, size_t plen)
{
	unsigned char *p = r->data + (r->ptail & (r->cap - 1));
	uint64_t lap = (r->ptail / r->cap) & 0xffffff;
	uint64_t h = len | (uint64_t)kind << 32 | lap << 40;

	if (plen)
		memcpy(p + 8, payload, plen);
	r->ptail += 8 + ((plen + 7) & ~(size_t)7);
	memset(r->data + (r->ptail & (r->cap - 1)), 0, 8);
	__atomic_store_n((uint64_t *)(void *)p, h, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->tail, r->ptail, __ATOMIC_SEQ_CST);
	r->puts++;
}

/* The ring still carries a good message after the bad one. */
static int still_works(struct mp__ring *r)
{
	void *out = NULL;
	size_t len;

	if (mp__ring_put(r, "good", 4, 0) != 0 ||
	    mp__ring_get(r, &out, 0, &len, 0) != 0)
		return 0;
	len = len == 4 && memcmp(out, "good", 4) == 0;
	mp__free(out);
	return (int)len;
}

static int get_code(struct mp__ring *r)
{
	void *out = NULL;
	size_t len;
	int rc = mp__ring_get(r, &out, 0, &len, 0);

	mp__free(out);
	return rc;
}

enum { WHOLE = 1, FIRST = 2, CONT = 3 };

static int hostile_records(void *arg)
{
	struct mp__ring *r = mp__ring_new(4096, 0, 0), *m;
	uint64_t first[2] = {16, 0}; /* total 16, then 8 payload bytes */
	uint64_t huge[2] = {(uint64_t)1 << 62, 0};
	char buf[64];
	size_t len;
	void *p = buf;

	(void)arg;
	mpt_crash_signals_default();
	if (r == NULL)
		return 99;
	/* A whole message claiming 4 GiB with 8 bytes published. */
	raw_rec(r, WHOLE, 0xfffffff0u, "12345678", 8);
	if (get_code(r) != -EPROTO ||
	    strstr(mp__reason(-EPROTO), "malformed record") == NULL)
		return 1;
	if (!still_works(r))
		return 2;
	/* A record that would run past the end of the ring. */
	r->ptail = r->tail = (r->tail | 4095) - 15; /* 16 bytes before the end */
	r->head = r->tail;
	raw_rec(r, WHOLE, 64, "12345678", 8);
	if (get_code(r) != -EPROTO || !still_works(r))
		return 3;
	/* A part beyond the total its first record announced. */
	raw_rec(r, FIRST, 16, first, 16);
	memset(buf, 'x', sizeof(buf));
	raw_rec(r, CONT, 40, buf, 40);
	if (get_code(r) != -EPROTO || !still_works(r))
		return 4;
	/* The same into the caller's buffer of 16 bytes (cap checked). */
	raw_rec(r, FIRST, 16, first, 16);
	raw_rec(r, CONT, 40, buf, 40);
	if (mp__ring_get(r, &p, 16, &len, 0) != -EPROTO || !still_works(r))
		return 5;
	/* An unknown kind; a first record too short for its total. */
	raw_rec(r, 9, 8, "12345678", 8);
	if (get_code(r) != -EPROTO || !still_works(r))
		return 6;
	raw_rec(r, FIRST, 4, "1234", 4);
	if (get_code(r) != -EPROTO || !still_works(r))
		return 7;
	/* A stream announcing 4 EiB: nothing that size is allocated; its
	 * producer is not streaming, so the part is dropped (empty). */
	raw_rec(r, FIRST, 16, huge, 16);
	if (get_code(r) != -ETIMEDOUT || !still_works(r))
		return 8;
	mp__ring_free(r);
	/* Over the ring's max_message. */
	if ((m = mp__ring_new(4096, 0, 10)) == NULL)
		return 98;
	raw_rec(m, WHOLE, 16, "0123456789abcdef", 16);
	if (get_code(m) != -EPROTO)
		return 9;
	mp__ring_free(m);
	return 0;
}

static void test_malformed_records_do_not_crash_the_reader(void **state)
{
	(void)state;
	assert_int_equal(mpt_exit_code(mpt_fork(hostile_records, NULL)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_put_get_order_and_sizes),
		MPT(test_timeouts_and_maxsize),
		MPT(test_timeout_zero_is_a_timeout),
		MPT(test_maxsize_blocks_until_consumed),
		MPT(test_close),
		MPT_DEADLINE(test_many_producers_many_consumers, 60),
		MPT(test_join_before_get_does_not_deadlock),
		MPT(test_producer_killed_mid_put),
		MPT(test_consumer_killed_mid_get),
		MPT(test_joinable),
		MPT(test_threads),
		MPT(test_huge_lengths_are_refused),
		MPT(test_capacity_limits),
		MPT(test_malformed_records_do_not_crash_the_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
