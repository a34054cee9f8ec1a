/*
 * test_alloc.c - out of memory along every module's main paths.
 *
 * A counting allocator, installed with mp_replace_allocator for the whole
 * program, fails the Nth allocation call (mode "nth"), or every call from
 * the Nth on (mode "after"), for N = 1, 2, ... until a run of the path
 * meets no injected failure.  For each N:
 * - the path either succeeds, or the call that met the failure returns
 *   -ENOMEM (a constructor: NULL with mp_last_error_code() -ENOMEM) with a
 *   message "mp_<function>: ..." in mp_last_error();
 * - that call is then repeated with injection off and must succeed: the
 *   object it worked on is still usable and the failure had no lasting
 *   effect (no message lost, no stream out of step);
 * - once the path has cleaned up, as many blocks are live as before it.
 *
 * Scope.  Only the test's own process counts and fails calls: the hook
 * records getpid() at install and passes every call of another process
 * (workers, forked children, the shm tracker) straight to libc, uncounted.
 * Within the process, SCOPE_THREAD counts and fails the calls of the test
 * thread only, so N is deterministic; SCOPE_OTHERS fails those of the other
 * threads (the pool's supervisor) instead, in mode nth only: an allocation
 * the supervisor needs and cannot get is retried (it must not crash, leak,
 * lose or corrupt a result), whereas in the test thread every failure must
 * surface as an error.  Live blocks are counted for every thread of the
 * process.  Setup a path does not test (a peer listener, a gate event) runs
 * with counting held.  Mode "after" is not run in the supervisor: under
 * lasting OOM it retries its result buffer without end (a wait times out).
 *
 * Documented exceptions to "retry works": mp_imap_next's -ENOMEM ends the
 * iteration (the iterator is freed and a new one must work); a connection
 * whose buffer cannot grow in the middle of a message is broken (every
 * later receive is -EPROTO: the stream cannot be resynchronised); a queue
 * message streamed through the ring whose buffer cannot grow is dropped
 * (the queue stays usable); and a connection peer that sees the other side
 * fail reconnects.
 */
#include "mptest.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "mproc/connection.h"
#include "mproc/executor.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "mproc/queue.h"
#include "mproc/shm.h"
#include "mproc/subprocess.h"
#include "mproc/sync.h"

/* ---- the counting allocator ---- */

enum scope { SCOPE_THREAD, SCOPE_OTHERS };

static struct {
	pid_t pid;             /* the process whose calls count */
	atomic_bool armed;     /* failing (and counting calls) */
	atomic_bool held;      /* setup: count nothing, fail nothing */
	atomic_bool after;     /* fail every call from fail_at on */
	atomic_int scope;
	atomic_long fail_at;
	atomic_long calls;     /* calls in scope since armed */
	atomic_long failed;    /* calls failed since armed */
	atomic_long live;      /* blocks of this process not yet freed */
	int reported;          /* failures surfaced as an error */
} fa;

static _Thread_local bool fa_test_thread;

static bool fa_should_fail(void)
{
	long n, at;

	if (!atomic_load(&fa.armed) || atomic_load(&fa.held) ||
	    getpid() != fa.pid)
		return false;
	if ((atomic_load(&fa.scope) == SCOPE_THREAD) != fa_test_thread)
		return false;
	n = atomic_fetch_add(&fa.calls, 1) + 1;
	at = atomic_load(&fa.fail_at);
	if (n == at || (atomic_load(&fa.after) && n > at)) {
		atomic_fetch_add(&fa.failed, 1);
		return true;
	}
	return false;
}

static void fa_got(void *p)
{
	if (p != NULL && getpid() == fa.pid)
		atomic_fetch_add(&fa.live, 1);
}

static void *fa_malloc(size_t n)
{
	void *p;

	if (fa_should_fail())
		return NULL;
	fa_got(p = malloc(n));
	return p;
}

static void *fa_calloc(size_t n, size_t size)
{
	void *p;

	if (fa_should_fail())
		return NULL;
	fa_got(p = calloc(n, size));
	return p;
}

static void *fa_realloc(void *old, size_t n)
{
	void *p;

	if (fa_should_fail())
		return NULL;
	p = realloc(old, n);
	if (old == NULL)
		fa_got(p);
	return p;
}

static void fa_free(void *p)
{
	if (p != NULL && getpid() == fa.pid)
		atomic_fetch_sub(&fa.live, 1);
	free(p);
}

static void fa_hold(void)
{
	atomic_store(&fa.held, true);
}

static void fa_release(void)
{
	atomic_store(&fa.held, false);
}

/*
 * A call failed (rc, or a constructor's NULL with its code): it must be the
 * injected failure, with a message.  Injection stops, so the caller's retry
 * runs with memory.
 */
static void fa_error(int rc, const char *what, int line)
{
	long failed = atomic_load(&fa.failed);

	atomic_store(&fa.armed, false);
	/* The message names a public function (the one called, or the one
	 * it is built on, as mp_run's name mp_popen_new), never mp__*. */
	if (failed == 0 || rc != -ENOMEM ||
	    strncmp(mp_last_error(), "mp_", 3) != 0 ||
	    strncmp(mp_last_error(), "mp__", 4) == 0 ||
	    strstr(mp_last_error(), ": ") == NULL) {
		print_error("line %d: %s = %d (%s) with allocation %ld failed "
			    "(%ld failures injected)\n",
			    line, what, rc, mp_last_error(),
			    atomic_load(&fa.fail_at), failed);
		fail();
	}
	fa.reported++;
}

/* Run an int-returning call; on failure check it, then it must work. */
#define OPV(var, call)                                                        \
	do {                                                                  \
		(var) = (call);                                               \
		if ((var) < 0) {                                              \
			fa_error((var), #call, __LINE__);                     \
			(var) = (call);                                       \
			if ((var) < 0)                                        \
				print_error("retry: %s = %d (%s)\n", #call,   \
					    (var), mp_last_error());          \
			assert_true((var) >= 0);                              \
		}                                                             \
	} while (0)

#define OP(call)                                                              \
	do {                                                                  \
		int op_rc_;                                                   \
		OPV(op_rc_, call);                                            \
	} while (0)

/* The same for a constructor. */
#define NEW(var, call)                                                        \
	do {                                                                  \
		(var) = (call);                                               \
		if ((var) == NULL) {                                          \
			fa_error(mp_last_error_code(), #call, __LINE__);      \
			(var) = (call);                                       \
			if ((var) == NULL)                                    \
				print_error("retry: %s = NULL (%s)\n", #call, \
					    mp_last_error());                 \
			assert_non_null(var);                                 \
		}                                                             \
	} while (0)

enum mode { NTH, AFTER };

/* Fail allocation N = 1, 2, ... of path until it meets none. */
static void fa_loop(const char *name, void (*path)(void), enum scope scope,
		    enum mode mode)
{
	long n, live;

	for (n = 1;; n++) {
		live = atomic_load(&fa.live);
		atomic_store(&fa.calls, 0);
		atomic_store(&fa.failed, 0);
		fa.reported = 0;
		atomic_store(&fa.fail_at, n);
		atomic_store(&fa.after, mode == AFTER);
		atomic_store(&fa.scope, scope);
		atomic_store(&fa.armed, true);
		path();
		atomic_store(&fa.armed, false);
		if (atomic_load(&fa.live) != live) {
			print_error("%s: allocation %ld failed (%s): %ld blocks "
				    "live after, %ld before\n",
				    name, n, mode == NTH ? "nth" : "after",
				    atomic_load(&fa.live), live);
			fail();
		}
		if (atomic_load(&fa.failed) == 0)
			break;
		if (scope == SCOPE_THREAD && fa.reported == 0) {
			print_error("%s: allocation %ld failed but every call "
				    "succeeded\n", name, n);
			fail();
		}
		assert_true(n < 500);
	}
	if (mode == NTH)
		print_message("%-22s %s: %ld allocation points\n", name,
			      scope == SCOPE_THREAD ? "test thread" :
						      "other threads",
			      n - 1);
}

/* Both modes in the test thread. */
static void fa_paths(const char *name, void (*path)(void))
{
	fa_loop(name, path, SCOPE_THREAD, NTH);
	fa_loop(name, path, SCOPE_THREAD, AFTER);
}

static int child_status(pid_t pid)
{
	int st = mpt_wait(pid);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- process ---- */

static int exit7(void *arg)
{
	(void)arg;
	return 7;
}

static int allowed_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				return i;
	return 0;
}

static void path_process(void)
{
	int cpu = allowed_cpu(), code = -1;
	mp_process_t *p, *q;

	NEW(p, mp_process_new(exit7, NULL,
			      &(mp_process_opts_t){.name = "alloc-a",
						 .affinity = &cpu,
						 .naffinity = 1}));
	NEW(q, mp_process_new(exit7, NULL, NULL)); /* default name */
	OP(mp_process_set_name(p, "alloc-b"));
	OP(mp_process_start(p));
	OP(mp_process_join(p, mpt_timeout(10)));
	assert_int_equal(mp_process_exitcode(p, &code), 1);
	assert_int_equal(code, 7);
	assert_string_equal(mp_process_name(p), "alloc-b");
	assert_true(strncmp(mp_process_name(q), "Process-", 8) == 0);
	mp_process_free(p);
	mp_process_free(q);
}

static void test_alloc_process(void **state)
{
	(void)state;
	fa_paths("process", path_process);
}

/* ---- sync ---- */

static void path_lock(void)
{
	mp_lock_t *l;

	NEW(l, mp_lock_new());
	OP(mp_lock_acquire(l, 0));
	OP(mp_lock_release(l));
	mp_lock_free(l);
}

static void path_rlock(void)
{
	mp_rlock_t *r;

	NEW(r, mp_rlock_new());
	OP(mp_rlock_acquire(r, 0));
	OP(mp_rlock_acquire(r, 0));
	assert_int_equal(mp_rlock_count(r), 2);
	OP(mp_rlock_release(r));
	OP(mp_rlock_release(r));
	mp_rlock_free(r);
}

static void path_semaphore(void)
{
	mp_semaphore_t *s;

	NEW(s, mp_semaphore_new(2, &(mp_semaphore_opts_t){.bounded = true}));
	OP(mp_semaphore_acquire(s, 0));
	OP(mp_semaphore_release(s, 1));
	assert_int_equal(mp_semaphore_get_value(s), 2);
	mp_semaphore_free(s);
}

static void path_event(void)
{
	mp_event_t *e;

	NEW(e, mp_event_new());
	OP(mp_event_set(e));
	OP(mp_event_wait(e, 0));
	mp_event_free(e);
}

static void path_condition(void)
{
	mp_condition_t *c;

	NEW(c, mp_condition_new(NULL));
	OP(mp_condition_acquire(c, 0));
	OP(mp_condition_notify_all(c));
	assert_int_equal(mp_condition_wait(c, 0), -ETIMEDOUT);
	OP(mp_condition_release(c));
	mp_condition_free(c);
}

static void path_barrier(void)
{
	mp_barrier_t *b;

	NEW(b, mp_barrier_new(1, NULL));
	assert_int_equal(mp_barrier_wait(b, 0), 0);
	mp_barrier_free(b);
}

static void test_alloc_sync(void **state)
{
	(void)state;
	fa_paths("lock", path_lock);
	fa_paths("rlock", path_rlock);
	fa_paths("semaphore", path_semaphore);
	fa_paths("event", path_event);
	fa_paths("condition", path_condition);
	fa_paths("barrier", path_barrier);
}

/* ---- shm ---- */

static void path_value(void)
{
	mp_value_t *v;
	int x = 5, y = 0;

	NEW(v, mp_value_new('i', &x, NULL));
	x = 6;
	OP(mp_value_set(v, &x));
	OP(mp_value_get(v, &y));
	assert_int_equal(y, 6);
	mp_value_free(v);
}

static void path_array(void)
{
	mp_array_t *a;
	double d = 2.5, e = 0;

	NEW(a, mp_array_new('d', 1000, NULL, &(mp_value_opts_t){.raw = true}));
	OP(mp_array_set(a, 999, &d));
	OP(mp_array_get(a, 999, &e));
	assert_true(e == 2.5);
	mp_array_free(a);
}

static void path_shm(void)
{
	mp_shm_t *s, *t;

	NEW(s, mp_shm_create(NULL, 4096, NULL));
	memcpy(mp_shm_buf(s), "shared", 7);
	NEW(t, mp_shm_attach(mp_shm_name(s)));
	assert_int_equal(mp_shm_size(t), 4096);
	assert_string_equal(mp_shm_buf(t), "shared");
	OP(mp_shm_close(t));
	mp_shm_free(t);
	OP(mp_shm_unlink(s));
	mp_shm_free(s);
}

static void test_alloc_shm(void **state)
{
	(void)state;
	fa_paths("value", path_value);
	fa_paths("array", path_array);
	fa_paths("shared memory", path_shm);
}

/* ---- connection ---- */

#define BIG 70000 /* more than the connection's 64 KiB read buffer */

static unsigned char big[BIG];

static void recv_check(mp_connection_t *c, const void *want, size_t n)
{
	mp_bytes_t m;

	/* maxlength: a stream out of step fails instead of waiting */
	OP(mp_connection_recv_bytes(c, BIG, &m));
	assert_int_equal(m.len, n);
	assert_memory_equal(m.data, want, n);
	mp_bytes_destroy(&m);
}

/*
 * A receive of a message bigger than the read buffer: 1 if it arrived, 0 if
 * the buffer could not grow in the middle of it, which must leave the
 * connection broken (-EPROTO, with a message) rather than out of step.
 */
static int recv_big(mp_connection_t *c)
{
	mp_bytes_t m;
	int rc = mp_connection_recv_bytes(c, BIG, &m);

	if (rc == -ENOMEM) {
		fa_error(rc, "mp_connection_recv_bytes", __LINE__);
		rc = mp_connection_recv_bytes(c, BIG, &m);
		if (rc == -EPROTO) {
			assert_non_null(strstr(mp_last_error(), "unusable"));
			assert_int_equal(mp_connection_poll(c, 0), -EPROTO);
			return 0;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(m.len, BIG);
	assert_memory_equal(m.data, big, BIG);
	mp_bytes_destroy(&m);
	return 1;
}

static void path_pipe(void)
{
	mp_connection_t *a, *b;
	char into[16];
	size_t len;
	int fd, rc;

	OP(mp_pipe(0, &a, &b));
	/* An fd: a's first receive allocates its read buffer. */
	OP(mp_connection_send_fd(b, STDIN_FILENO));
	OP(mp_connection_recv_fd(a, &fd));
	assert_true(fd > STDERR_FILENO);
	close(fd);
	OP(mp_connection_send_bytes(a, "one", 3));
	OP(mp_connection_send_bytes(a, big, BIG));
	OP(mp_connection_send_bytes(a, "three", 5));
	OP(mp_connection_send_bytes(a, "four", 4));
	recv_check(b, "one", 3);
	if (!recv_big(b)) {
		mp_connection_free(a);
		mp_connection_free(b);
		return;
	}
	recv_check(b, "three", 5);
	OP(mp_connection_recv_bytes_into(b, into, sizeof(into), &len));
	assert_int_equal(len, 4);
	assert_memory_equal(into, "four", 4);
	/* Too big for the buffer: kept (allocated) for the next receive. */
	OP(mp_connection_send_bytes(a, "seventeen bytes..", 17));
	rc = mp_connection_recv_bytes_into(b, into, sizeof(into), &len);
	if (rc == -ENOMEM) {
		fa_error(rc, "mp_connection_recv_bytes_into", __LINE__);
		rc = mp_connection_recv_bytes_into(b, into, sizeof(into), &len);
	}
	assert_int_equal(rc, -EMSGSIZE);
	assert_int_equal(len, 17);
	recv_check(b, "seventeen bytes..", 17);
	OP(mp_connection_send_bytes(b, "back", 4));
	recv_check(a, "back", 4);
	mp_connection_free(a);
	mp_connection_free(b);
}

static char sock_path[108];
static const mp_auth_opts_t *sock_auth;

/* The peer, in a child: connect until one ping/pong exchange works. */
static int client_child(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		mp_connection_t *c = mp_client(sock_path, sock_auth, 30.0);
		mp_bytes_t m = {NULL, 0};
		int ok;

		if (c == NULL)
			continue;
		ok = mp_connection_send_bytes(c, "ping", 4) == 0 &&
		     mp_connection_recv_bytes(c, 0, &m) == 0 &&
		     m.len == 4 && memcmp(m.data, "pong", 4) == 0;
		mp_bytes_destroy(&m);
		mp_connection_free(c);
		if (ok)
			return 0;
	}
	return 1;
}

/* The peer, in a child: accept until one ping/pong exchange works. */
static int listener_child(void *arg)
{
	mp_listener_t *l = arg;

	for (int i = 0; i < 50; i++) {
		mp_connection_t *c = NULL;
		mp_bytes_t m = {NULL, 0};
		int ok;

		if (mp_listener_accept(l, mpt_timeout(10), &c) < 0)
			continue;
		ok = mp_connection_recv_bytes(c, 0, &m) == 0 &&
		     m.len == 4 && memcmp(m.data, "ping", 4) == 0 &&
		     mp_connection_send_bytes(c, "pong", 4) == 0;
		mp_bytes_destroy(&m);
		mp_connection_free(c);
		if (ok)
			return 0;
	}
	return 1;
}

static void path_listener(void)
{
	mp_listener_t *l;
	mp_connection_t *c;
	pid_t pid;

	NEW(l, mp_listener_new(sock_path, sock_auth));
	fa_hold();
	pid = mpt_fork(client_child, NULL);
	fa_release();
	OP(mp_listener_accept(l, mpt_timeout(10), &c));
	recv_check(c, "ping", 4);
	OP(mp_connection_send_bytes(c, "pong", 4));
	mp_connection_free(c);
	assert_int_equal(child_status(pid), 0);
	mp_listener_free(l);
}

static void path_client(void)
{
	mp_listener_t *l;
	mp_connection_t *c;
	pid_t pid;

	fa_hold();
	l = mp_listener_new(sock_path, sock_auth);
	assert_non_null(l);
	pid = mpt_fork(listener_child, l);
	fa_release();
	NEW(c, mp_client(sock_path, sock_auth, 30.0));
	OP(mp_connection_send_bytes(c, "ping", 4));
	recv_check(c, "pong", 4);
	mp_connection_free(c);
	assert_int_equal(child_status(pid), 0);
	fa_hold();
	mp_listener_free(l);
	fa_release();
}

static void test_alloc_connection(void **state)
{
	static const mp_auth_opts_t auth = {.authkey = "secret",
					  .authkey_len = 6};

	(void)state;
	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(i * 7 + 3);
	fa_paths("pipe", path_pipe);
	snprintf(sock_path, sizeof(sock_path), "/tmp/mproc-alloc-%d.sock",
		 (int)getpid());
	unlink(sock_path); /* a stale one from a crashed run */
	sock_auth = NULL;
	fa_paths("listener", path_listener);
	fa_paths("client", path_client);
	sock_auth = &auth;
	fa_paths("listener authkey", path_listener);
	fa_paths("client authkey", path_client);
}

/* ---- queue ---- */

#define QCAP 16384
#define QBIG 100000 /* streams through a QCAP ring */

static unsigned char qbig[QBIG];

static int put_big(void *arg)
{
	return mp_queue_put(arg, qbig, QBIG, mpt_timeout(10)) != 0;
}

static void get_check(mp_queue_t *q, const void *want, size_t n)
{
	mp_bytes_t msg;

	OP(mp_queue_get(q, mpt_timeout(10), &msg));
	assert_int_equal(msg.len, n);
	assert_memory_equal(msg.data, want, n);
	mp_bytes_destroy(&msg);
}

static void path_queue(void)
{
	char into[8];
	mp_queue_t *q;
	mp_bytes_t msg;
	size_t len;
	pid_t pid;
	int rc, st = 0;

	NEW(q, mp_queue_new(&(mp_queue_opts_t){.capacity = QCAP}));
	OP(mp_queue_put(q, "first", 5, 0));
	OP(mp_queue_put(q, qbig, 1000, 0));
	OP(mp_queue_put(q, "third", 5, 0));
	get_check(q, "first", 5);
	get_check(q, qbig, 1000);
	OP(mp_queue_get_into(q, into, sizeof(into), 0, &len));
	assert_int_equal(len, 5);
	assert_memory_equal(into, "third", 5);
	fa_hold();
	pid = mpt_fork(put_big, q);
	fa_release();
	/* Streamed: a buffer that cannot grow mid-message drops it. */
	rc = mp_queue_get(q, mpt_timeout(10), &msg);
	if (rc == -ENOMEM) {
		fa_error(rc, "mp_queue_get", __LINE__);
		/* Failed at the first part: nothing was taken, the retry
		 * gets it.  Failed later: the message is dropped, and gets
		 * skip the orphan parts the producer still streams. */
		for (int i = 0;; i++) {
			assert_true(i < 10000);
			rc = mp_queue_get(q, 0.01, &msg);
			if (rc == 0) {
				assert_int_equal(msg.len, QBIG);
				assert_memory_equal(msg.data, qbig, QBIG);
				mp_bytes_destroy(&msg);
				assert_int_equal(child_status(pid), 0);
				break;
			}
			assert_int_equal(rc, -ETIMEDOUT);
			if (waitpid(pid, &st, WNOHANG) == pid) {
				assert_true(WIFEXITED(st) &&
					    WEXITSTATUS(st) == 0);
				assert_int_equal(mp_queue_get_nowait(q, &msg),
						 -EAGAIN);
				break;
			}
		}
		OP(mp_queue_put(q, "after", 5, 0));
		get_check(q, "after", 5);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(msg.len, QBIG);
		assert_memory_equal(msg.data, qbig, QBIG);
		mp_bytes_destroy(&msg);
		assert_int_equal(child_status(pid), 0);
	}
	mp_queue_free(q);
}

static void path_joinable(void)
{
	mp_queue_t *q;

	NEW(q, mp_queue_new(&(mp_queue_opts_t){.joinable = true}));
	OP(mp_queue_put(q, "job", 3, 0));
	get_check(q, "job", 3);
	OP(mp_queue_task_done(q));
	OP(mp_queue_join(q, 0));
	mp_queue_free(q);
}

static void test_alloc_queue(void **state)
{
	(void)state;
	for (size_t i = 0; i < QBIG; i++)
		qbig[i] = (unsigned char)(i * 13 + 1);
	fa_paths("queue", path_queue);
	fa_paths("joinable queue", path_joinable);
}

/* ---- pool ---- */

/* in: an int x; out: 2x.  x < 0 fails; x == 1000 kills the worker. */
static int twice(const void *in, size_t len, mp_task_out_t *out)
{
	int x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want an int");
	memcpy(&x, in, sizeof(x));
	if (x < 0)
		return mp_task_fail(out, "negative: %d", x);
	if (x == 1000)
		_exit(7); /* the worker dies: the pool replaces it */
	x *= 2;
	return mp_task_return(out, &x, sizeof(x));
}

static int square(const void *in, void *out)
{
	*(long *)out = *(const long *)in * *(const long *)in;
	return 0;
}

/* Fails for a negative element. */
static int square_pos(const void *in, void *out)
{
	if (*(const long *)in < 0)
		return -1;
	return square(in, out);
}

#define NMAP 100

static void map_check(const long *out)
{
	for (long i = 0; i < NMAP; i++)
		assert_int_equal(out[i], i * i);
}

struct counter {
	int i, n, cur;
};

static int next_int(void *arg, const void **in, size_t *len)
{
	struct counter *c = arg;

	if (c->i == c->n)
		return 0;
	c->cur = c->i++;
	*in = &c->cur;
	*len = sizeof(c->cur);
	return 1;
}

/* imap over 0..9 in chunks of 3; a failure ends the iterator (-ENOMEM,
 * as an input failure would): it is freed, and a new one must work. */
static void imap_all(mp_pool_t *p, bool unordered)
{
	mp_imap_opts_t o = {.chunksize = 3, .unordered = unordered};
	struct counter c = {0, 10, 0};
	int seen[10] = {0}, got = 0, rc;
	mp_imap_t *it;
	const mp_bytes_t *out;
	size_t index;

	NEW(it, mp_pool_imap(p, twice, next_int, &c, &o));
	while ((rc = mp_imap_next(it, mpt_timeout(10), &out, &index)) == 0) {
		assert_int_equal(out->len, sizeof(int));
		if (*(const int *)out->data != 2 * (int)index)
			print_error("imap: allocation %ld: [%zu] = %d\n",
				    atomic_load(&fa.fail_at), index,
				    *(const int *)out->data);
		assert_int_equal(*(const int *)out->data, 2 * (int)index);
		seen[index]++;
		got++;
	}
	if (rc != MP_EEOF) {
		fa_error(rc, "mp_imap_next", __LINE__);
		/* the library's allocation failed, not the input */
		assert_null(strstr(mp_last_error(), "input failed"));
		mp_imap_free(it);
		c.i = 0;
		got = 0;
		memset(seen, 0, sizeof(seen));
		it = mp_pool_imap(p, twice, next_int, &c, &o);
		assert_non_null(it);
		while ((rc = mp_imap_next(it, mpt_timeout(10), &out,
					  &index)) == 0) {
			assert_int_equal(*(const int *)out->data, 2 * (int)index);
			seen[index]++;
			got++;
		}
		assert_int_equal(rc, MP_EEOF);
	}
	assert_int_equal(got, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(seen[i], 1);
	mp_imap_free(it);
}

struct list {
	const int *v;
	int n, i;
};

static int next_of_list(void *arg, const void **in, size_t *len)
{
	struct list *l = arg;

	if (l->i == l->n)
		return 0;
	*in = &l->v[l->i++];
	*len = sizeof(int);
	return 1;
}

/* One pass of imap over {5, 1000, 6}: the worker running 1000 dies.  0 at
 * the end, or the code that ended it early. */
static int imap_crash_pass(mp_pool_t *p, mp_imap_t **it)
{
	static const int v[] = {5, 1000, 6};
	static struct list l;
	const mp_bytes_t *out;
	size_t index;
	int rc, n = 0;

	l = (struct list){v, 3, 0};
	if ((*it = mp_pool_imap(p, twice, next_of_list, &l,
				&(mp_imap_opts_t){.chunksize = 1})) == NULL)
		return mp_last_error_code();
	while ((rc = mp_imap_next(*it, mpt_timeout(10), &out,
				  &index)) != MP_EEOF) {
		if (rc == MP_EBROKEN && index == 1) {
			n++;
			continue;
		}
		if (rc < 0)
			return rc;
		assert_int_equal(*(const int *)out->data, 2 * v[index]);
		n++;
	}
	assert_int_equal(n, 3);
	return 0;
}

static void imap_crash(mp_pool_t *p)
{
	mp_imap_t *it = NULL;
	int rc = imap_crash_pass(p, &it);

	if (rc < 0) {
		fa_error(rc, "imap over a dying worker", __LINE__);
		mp_imap_free(it);
		assert_int_equal(imap_crash_pass(p, &it), 0);
	}
	mp_imap_free(it);
}

static void path_pool(void)
{
	long in[NMAP], out[NMAP];
	mp_async_result_t *r, *m;
	const mp_bytes_t *data;
	mp_bytes_t buf;
	mp_pool_t *p;
	int x = 21, neg = -1, crash = 1000;

	for (long i = 0; i < NMAP; i++)
		in[i] = i;
	NEW(p, mp_pool_new(&(mp_pool_opts_t){.processes = 2}));
	NEW(r, mp_pool_apply_async(p, twice, &x, sizeof(x), NULL));
	OP(mp_async_result_get(r, mpt_timeout(10), &data));
	assert_int_equal(*(const int *)data->data, 42);
	mp_async_result_free(r);
	/* A failed task: its message travels too. */
	NEW(r, mp_pool_apply_async(p, twice, &neg, sizeof(neg), NULL));
	assert_int_equal(mp_async_result_get(r, mpt_timeout(10), NULL),
			 MP_ETASK);
	/* the message, or the code's name if it could not be copied */
	assert_true(strstr(mp_last_error(), "negative: -1") != NULL ||
		    strstr(mp_last_error(), mp_strerror(MP_ETASK)) != NULL);
	mp_async_result_free(r);
	/* A worker that dies: its task fails (with a message), and it is
	 * replaced (in mode "others" maybe not: the pool goes on). */
	NEW(r, mp_pool_apply_async(p, twice, &crash, sizeof(crash), NULL));
	assert_int_equal(mp_async_result_get(r, mpt_timeout(10), NULL),
			 MP_EBROKEN);
	assert_true(strstr(mp_last_error(), "exited with status 7") != NULL ||
		    strstr(mp_last_error(), mp_strerror(MP_EBROKEN)) != NULL);
	mp_async_result_free(r);
	OP(mp_pool_apply(p, twice, &x, sizeof(x), &buf));
	assert_int_equal(*(int *)buf.data, 42);
	mp_bytes_destroy(&buf);
	memset(out, 0, sizeof(out));
	OP(mp_pool_map(p, square, in, NMAP, sizeof(long), out, sizeof(long),
		       &(mp_map_opts_t){.chunksize = 10}));
	map_check(out);
	memset(out, 0, sizeof(out));
	NEW(m, mp_pool_map_async(p, square, in, NMAP, sizeof(long), out,
				 sizeof(long), NULL));
	OP(mp_async_result_get(m, mpt_timeout(10), NULL));
	map_check(out);
	mp_async_result_free(m);
	/* A map_async that fails: its message is kept for get. */
	in[50] = -1;
	NEW(m, mp_pool_map_async(p, square_pos, in, NMAP, sizeof(long), out,
				 sizeof(long), NULL));
	assert_int_equal(mp_async_result_get(m, mpt_timeout(10), NULL),
			 MP_ETASK);
	assert_true(mp_last_error()[0] != '\0');
	mp_async_result_free(m);
	in[50] = 50;
	imap_all(p, false);
	imap_all(p, true);
	imap_crash(p);
	OP(mp_pool_close(p));
	OP(mp_pool_join(p, mpt_timeout(10)));
	mp_pool_free(p);
}

static void test_alloc_pool(void **state)
{
	(void)state;
	fa_paths("pool", path_pool);
	fa_loop("pool", path_pool, SCOPE_OTHERS, NTH);
}

/* ---- executor ---- */

static mp_event_t *gate;

/* Wait for the gate (bounded), then twice. */
static int gated_twice(const void *in, size_t len, mp_task_out_t *out)
{
	if (mp_event_wait(gate, 30) != 0)
		return mp_task_fail(out, "gate never opened");
	return twice(in, len, out);
}

#define NFUT 4

static void count_done(mp_future_t *f, void *arg)
{
	(void)f;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void path_executor(void)
{
	long in[NMAP], out[NMAP];
	mp_future_t *f[NFUT], *g[NFUT], *h;
	mp_as_completed_t *it;
	mp_executor_t *ex;
	const mp_bytes_t *data;
	atomic_int ndone = 0;
	int k, seen = 0;

	for (long i = 0; i < NMAP; i++)
		in[i] = i;
	fa_hold();
	gate = mp_event_new();
	assert_non_null(gate);
	fa_release();
	NEW(ex, mp_executor_new(&(mp_executor_opts_t){.max_workers = 2}));
	for (int i = 0; i < NFUT; i++)
		NEW(f[i], mp_executor_submit(ex, gated_twice, &i, sizeof(i)));
	/* Not done yet: as_completed and wait register done callbacks. */
	NEW(it, mp_as_completed(f, NFUT, mpt_timeout(10)));
	OPV(k, mp_futures_wait(f, NFUT, 0, MP_ALL_COMPLETED));
	assert_int_equal(k, 0);
	OP(mp_future_add_done_callback(f[0], count_done, &ndone));
	OP(mp_event_set(gate));
	for (int i = 0; i < NFUT; i++) {
		OP(mp_as_completed_next(it, &h));
		assert_int_equal(mp_future_done(h), 1);
		for (int j = 0; j < NFUT; j++)
			seen += h == f[j];
	}
	assert_int_equal(seen, NFUT);
	assert_int_equal(mp_as_completed_next(it, &h), MP_EEOF);
	mp_as_completed_free(it);
	for (int i = 0; i < NFUT; i++) {
		OP(mp_future_result(f[i], 0, &data));
		assert_int_equal(*(const int *)data->data, 2 * i);
		g[i] = f[i];
	}
	OPV(k, mp_futures_wait(g, NFUT, mpt_timeout(10), MP_ALL_COMPLETED));
	assert_int_equal(k, NFUT);
	OP(mp_executor_map(ex, square, in, NMAP, sizeof(long), out,
			   sizeof(long), NULL, mpt_timeout(10)));
	map_check(out);
	for (int i = 0; i < NFUT; i++)
		mp_future_free(f[i]);
	mp_executor_free(ex); /* joins the supervisor: callbacks have run */
	assert_int_equal(atomic_load(&ndone), 1);
	fa_hold();
	mp_event_free(gate);
	fa_release();
}

static void test_alloc_executor(void **state)
{
	(void)state;
	fa_paths("executor", path_executor);
	fa_loop("executor", path_executor, SCOPE_OTHERS, NTH);
}

/* ---- subprocess ---- */

static void path_run(void)
{
	const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
	const char *none[] = {"/bin/sh", "-c", ":", NULL};
	const char *add[] = {"MPT_ALLOC=1", NULL};
	mp_completed_t r;
	char **lines;
	int n;

	OP(mp_run(argv, &(mp_run_opts_t){.capture_output = true,
				       .popen.env_add = add}, &r));
	assert_int_equal(r.returncode, 0);
	assert_string_equal(r.out.data, "out\n");
	assert_string_equal(r.err.data, "err\n");
	OPV(n, mp_bytes_lines(&r.out, &lines));
	assert_int_equal(n, 1);
	assert_string_equal(lines[0], "out");
	mp_buf_free(lines);
	mp_completed_destroy(&r);
	/* Nothing captured: still NUL-terminated empty buffers. */
	OP(mp_run(none, &(mp_run_opts_t){.capture_output = true}, &r));
	assert_non_null(r.out.data);
	assert_non_null(r.err.data);
	assert_int_equal(r.out.len + r.err.len, 0);
	mp_completed_destroy(&r);
	/* Nothing captured at all: the same. */
	OP(mp_run(none, &(mp_run_opts_t){.popen.out.kind = MP_STDIO_DEVNULL},
		  &r));
	assert_non_null(r.out.data);
	assert_non_null(r.err.data);
	mp_completed_destroy(&r);
}

static void path_readline(void)
{
	const char *argv[] = {"/bin/sh", "-c", "printf 'a\\nbb\\nccc'", NULL};
	const char *want[] = {"a\n", "bb\n", "ccc"};
	mp_popen_t *p;
	mp_bytes_t line;
	int rc, code = -1;

	NEW(p, mp_popen_new(argv, &(mp_popen_opts_t){
					  .out.kind = MP_STDIO_PIPE}));
	for (int i = 0; i < 3; i++) {
		OPV(rc, mp_popen_readline(p, mpt_timeout(10), &line));
		assert_int_equal(rc, 1);
		assert_int_equal(line.len, strlen(want[i]));
		assert_memory_equal(line.data, want[i], line.len);
		mp_bytes_destroy(&line);
	}
	OPV(rc, mp_popen_readline(p, mpt_timeout(10), &line));
	assert_int_equal(rc, 0);
	OP(mp_popen_wait(p, mpt_timeout(10), &code));
	assert_int_equal(code, 0);
	mp_popen_free(p);
}

static void path_communicate(void)
{
	const char *argv[] = {"/bin/sh", "-c", "cat; echo done >&2", NULL};
	mp_popen_t *p;
	mp_bytes_t out, err;

	NEW(p, mp_popen_new(argv, &(mp_popen_opts_t){
					  .in.kind = MP_STDIO_PIPE,
					  .out.kind = MP_STDIO_PIPE,
					  .err.kind = MP_STDIO_PIPE}));
	OP(mp_popen_communicate(p, "hello", 5, mpt_timeout(10), &out, &err));
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "hello", 5);
	assert_string_equal(err.data, "done\n");
	mp_bytes_destroy(&out);
	mp_bytes_destroy(&err);
	mp_popen_free(p);
}

static void test_alloc_subprocess(void **state)
{
	(void)state;
	fa_paths("run", path_run);
	fa_paths("popen readline", path_readline);
	fa_paths("popen communicate", path_communicate);
}

/* ---- the allocator itself ---- */

static void test_alloc_replace_allocator(void **state)
{
	(void)state;
	assert_int_equal(mp_replace_allocator(NULL, fa_realloc, fa_calloc,
					      fa_free),
			 -EINVAL);
	assert_non_null(strstr(mp_last_error(), "malloc_func"));
	assert_int_equal(mp_replace_allocator(fa_malloc, fa_realloc, fa_calloc,
					      NULL),
			 -EINVAL);
	assert_non_null(strstr(mp_last_error(), "free_func"));
}

/* Install the allocator, and start the shm tracker (it keeps an fd open
 * for the rest of the process) before the per-test fd snapshots. */
static int setup(void **state)
{
	mp_shm_t *s;

	(void)state;
	fa.pid = getpid();
	fa_test_thread = true;
	if (mp_replace_allocator(fa_malloc, fa_realloc, fa_calloc,
				 fa_free) < 0)
		return -1;
	if ((s = mp_shm_create(NULL, 1, NULL)) == NULL)
		return -1;
	mp_shm_unlink(s);
	mp_shm_free(s);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mp_replace_allocator(malloc, realloc, calloc, free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_alloc_replace_allocator),
		MPT(test_alloc_process),
		MPT(test_alloc_sync),
		MPT(test_alloc_shm),
		MPT(test_alloc_connection),
		MPT(test_alloc_queue),
		MPT(test_alloc_pool),
		MPT(test_alloc_executor),
		MPT(test_alloc_subprocess),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
