/* test_connection.c - Pipe/Connection, wire format, bad frames, fd passing,
 * Listener/Client with authkeys, interop with python3, FIFOs. */
#include "mptest.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mproc/connection.h"
#include "mproc/subprocess.h"

static void test_pipe_messages_keep_boundaries(void **state)
{
	mp_connection_t *a, *b;
	mp_bytes_t m;

	(void)state;
	mpt_assert_ok(mp_pipe(0, &a, &b));
	mpt_assert_ok(mp_connection_send_bytes(a, "a", 1));
	mpt_assert_ok(mp_connection_send_bytes(a, "b", 1));
	mpt_assert_ok(mp_connection_send_bytes(a, "", 0)); /* a real message */
	mpt_assert_ok(mp_connection_send_bytes(a, "cd", 2));
	assert_int_equal(mp_connection_poll(b, 0), 1);
	assert_int_equal(mp_connection_poll(b, 0), 1); /* poll consumes nothing */
	const char *want[] = {"a", "b", "", "cd"};
	for (int i = 0; i < 4; i++) {
		mpt_assert_ok(mp_connection_recv_bytes(b, 0, &m));
		assert_int_equal(m.len, strlen(want[i]));
		assert_string_equal(m.data, want[i]); /* NUL-terminated */
		mp_bytes_destroy(&m);
	}
	double t0 = mpt_now();
	assert_int_equal(mp_connection_poll(b, 0.1), 0);
	assert_true(mpt_now() - t0 >= 0.09);
	/* duplex: the other way too */
	mpt_assert_ok(mp_connection_send_bytes(b, "back", 4));
	mpt_assert_ok(mp_connection_recv_bytes(a, 0, &m));
	assert_memory_equal(m.data, "back", 4);
	mp_bytes_destroy(&m);
	/* the peer closes: EOF */
	mp_connection_free(a);
	assert_int_equal(mp_connection_poll(b, 1), 1);
	m = (mp_bytes_t){(char *)"stale", 5};
	mpt_assert_rc(mp_connection_recv_bytes(b, 0, &m), MP_EEOF);
	assert_null(m.data); /* empty on failure */
	assert_int_equal(m.len, 0);
	assert_string_equal(mp_last_error(), "mp_connection_recv_bytes: the "
			    "peer closed the connection");
	mpt_assert_ok(mp_connection_close(b));
	mpt_assert_ok(mp_connection_close(b)); /* idempotent */
	mpt_assert_rc(mp_connection_send_bytes(b, "x", 1), MP_ECLOSED);
	assert_string_equal(mp_last_error(),
			    "mp_connection_send_bytes: handle is closed");
	mp_connection_free(b);
	mp_connection_free(NULL);
}

static void test_simplex_and_bad_arguments(void **state)
{
	mp_connection_t *r, *w;
	char buf[8];
	size_t len;
	int fd;

	(void)state;
	mpt_assert_ok(mp_pipe(MP_PIPE_SIMPLEX, &r, &w));
	mpt_assert_rc(mp_connection_send_bytes(r, "x", 1), -EBADF);
	assert_non_null(strstr(mp_last_error(), "read-only"));
	mpt_assert_rc(mp_connection_poll(w, 0), -EBADF);
	mpt_assert_ok(mp_connection_send_bytes(w, "hi", 2));
	mpt_assert_ok(mp_connection_recv_bytes_into(r, buf, sizeof(buf), &len));
	assert_int_equal(len, 2);
	mp_connection_free(r);
	/* writing to a pipe nobody reads: an error, not SIGPIPE */
	mpt_assert_rc(mp_connection_send_bytes(w, "x", 1), -EPIPE);
	mp_connection_free(w);
	assert_null(mp_connection_new(-1, 0));
	assert_int_equal(mp_last_error_code(), -EBADF);
	assert_string_equal(mp_last_error(),
			    "mp_connection_new: fd -1 is not open");
	fd = open("/dev/null", O_RDONLY);
	w = mp_connection_new(fd, MP_CONN_WRITEONLY); /* no fd passing */
	mpt_assert_rc(mp_connection_send_fd(w, 0), -EBADF);
	mp_connection_free(w); /* closes fd */
	mpt_assert_rc(mp_pipe(0, NULL, &w), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_pipe: argument 'conn1' is NULL");
}

/* Named flags instead of positional booleans; 0 is CPython's default. */
static void test_connection_flags(void **state)
{
	mp_connection_t *c, *r, *w;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_null(mp_connection_new(sv[0], MP_CONN_READONLY |
						     MP_CONN_WRITEONLY));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_connection_new: argument "
			    "'flags': MP_CONN_READONLY and MP_CONN_WRITEONLY "
			    "exclude each other");
	assert_null(mp_connection_new(sv[0], 4));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "'flags' has unknown bits"));
	/* readonly: receives, cannot send */
	assert_non_null(c = mp_connection_new(sv[0], MP_CONN_READONLY));
	mpt_assert_rc(mp_connection_send_bytes(c, "x", 1), -EBADF);
	assert_string_equal(mp_last_error(), "mp_connection_send_bytes: "
			    "connection is read-only");
	assert_int_equal(mp_connection_poll(c, 0), 0);
	mp_connection_free(c);
	/* writeonly: sends, cannot receive */
	assert_non_null(c = mp_connection_new(sv[1], MP_CONN_WRITEONLY));
	mpt_assert_rc(mp_connection_poll(c, 0), -EBADF);
	assert_string_equal(mp_last_error(), "mp_connection_poll: "
			    "connection is write-only");
	mp_connection_free(c);
	/* 0: both ways */
	mpt_assert_ok(mp_pipe(0, &r, &w));
	mpt_assert_ok(mp_connection_send_bytes(r, "x", 1));
	mpt_assert_ok(mp_connection_send_bytes(w, "y", 1));
	mp_connection_free(r);
	mp_connection_free(w);
	/* MP_PIPE_SIMPLEX: conn1 receives only, conn2 sends only */
	mpt_assert_ok(mp_pipe(MP_PIPE_SIMPLEX, &r, &w));
	mpt_assert_rc(mp_connection_send_bytes(r, "x", 1), -EBADF);
	mpt_assert_rc(mp_connection_poll(w, 0), -EBADF);
	mp_connection_free(r);
	mp_connection_free(w);
	mpt_assert_rc(mp_pipe(2, &r, &w), -EINVAL);
	assert_null(r);
	assert_null(w);
	assert_non_null(strstr(mp_last_error(), "'flags' has unknown bits"));
}

static void test_recv_into_too_small_loses_nothing(void **state)
{
	mp_connection_t *a, *b;
	char small[4], big[64];
	size_t len;

	(void)state;
	mpt_assert_ok(mp_pipe(0, &a, &b));
	mpt_assert_ok(mp_connection_send_bytes(a, "0123456789", 10));
	mpt_assert_ok(mp_connection_send_bytes(a, "next", 4));
	mpt_assert_rc(mp_connection_recv_bytes_into(b, small, sizeof(small), &len),
		      -EMSGSIZE);
	assert_int_equal(len, 10);
	assert_non_null(strstr(mp_last_error(), "10 bytes"));
	assert_int_equal(mp_connection_poll(b, 0), 1);
	mpt_assert_ok(mp_connection_recv_bytes_into(b, big, sizeof(big), &len));
	assert_int_equal(len, 10);
	assert_memory_equal(big, "0123456789", 10);
	mpt_assert_ok(mp_connection_recv_bytes_into(b, big, sizeof(big), &len));
	assert_memory_equal(big, "next", 4);
	mp_connection_free(a);
	mp_connection_free(b);
}

/* Raw frames written on one end of a socket pair. */
static mp_connection_t *frames(const void *raw, size_t n)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], raw, n), (ssize_t)n);
	close(sv[1]);
	return mp_connection_new(sv[0], 0);
}

static void test_wire_format_and_bad_frames(void **state)
{
	static const unsigned char large_form[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
						   0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
	static const unsigned char negative[] = {0x80, 0, 0, 0};
	static const unsigned char truncated[] = {0, 0, 0, 100, 'a', 'b'};
	static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1,
					     0, 0, 0, 0};
	mp_connection_t *c;
	mp_bytes_t m;

	(void)state;
	/* CPython's large-message header (-1, then 8 bytes) is understood. */
	c = frames(large_form, sizeof(large_form));
	mpt_assert_ok(mp_connection_recv_bytes(c, 0, &m));
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	mp_bytes_destroy(&m);
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), MP_EEOF);
	mp_connection_free(c);
	c = frames(negative, sizeof(negative));
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EPROTO);
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EPROTO);
	mp_connection_free(c);
	c = frames(truncated, sizeof(truncated));
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EIO);
	assert_non_null(strstr(mp_last_error(), "got end of file during message"));
	mp_connection_free(c);
	/* A frame announcing 4 GiB is refused with maxlength, unallocated. */
	c = frames(huge, sizeof(huge));
	mpt_assert_rc(mp_connection_recv_bytes(c, 1 << 20, &m), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "bad message length"));
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EPROTO);
	mp_connection_free(c);
}

/* ---- big messages both ways ---- */

struct sender {
	mp_connection_t *c;
	size_t n;
	int rc;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;
	unsigned char *buf = malloc(s->n);

	for (size_t i = 0; i < s->n; i++)
		buf[i] = (unsigned char)(i * 13);
	s->rc = mp_connection_send_bytes(s->c, buf, s->n);
	free(buf);
	return NULL;
}

static int check_big(mp_connection_t *c, size_t n)
{
	mp_bytes_t m;
	const unsigned char *buf;

	if (mp_connection_recv_bytes(c, 0, &m) != 0 || m.len != n)
		return 1;
	buf = (const unsigned char *)m.data;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 13))
			return 2;
	mp_bytes_destroy(&m);
	return 0;
}

static mp_connection_t *child_end;
enum { BIG = 64 << 20 };

static int both_ways_child(void *arg)
{
	struct sender s = {child_end, BIG, -1};
	pthread_t t;
	int rc;

	(void)arg;
	pthread_create(&t, NULL, send_thread, &s);
	rc = check_big(child_end, BIG);
	pthread_join(t, NULL);
	return rc ? rc : s.rc != 0 ? 3 : 0;
}

static void test_64mib_both_ways(void **state)
{
	mp_connection_t *a, *b;
	struct sender s;
	pthread_t t;
	pid_t pid;

	(void)state;
	mpt_assert_ok(mp_pipe(0, &a, &b));
	child_end = b;
	pid = mpt_fork(both_ways_child, NULL);
	mp_connection_free(b);
	s = (struct sender){a, BIG, -1};
	pthread_create(&t, NULL, send_thread, &s);
	assert_int_equal(check_big(a, BIG), 0);
	pthread_join(t, NULL);
	mpt_assert_ok(s.rc);
	assert_int_equal(mpt_exit_code(pid), 0);
	mp_connection_free(a);
}

/* ---- fds ---- */

static int write_through_received_fd(void *arg)
{
	int fd;

	(void)arg;
	if (mp_connection_recv_fd(child_end, &fd) != 0)
		return 1;
	if (write(fd, "via fd", 6) != 6)
		return 2;
	close(fd);
	return 0;
}

static void test_fd_passing(void **state)
{
	mp_connection_t *a, *b;
	int p[2], fd;
	char buf[16] = "";
	pid_t pid;

	(void)state;
	mpt_assert_ok(mp_pipe(0, &a, &b));
	child_end = b;
	pid = mpt_fork(write_through_received_fd, NULL);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	mpt_assert_ok(mp_connection_send_fd(a, p[1]));
	close(p[1]);
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 6);
	assert_string_equal(buf, "via fd");
	close(p[0]);
	/* A message without an fd where one is expected. */
	mpt_assert_ok(mp_connection_send_bytes(a, "", 0));
	mpt_assert_rc(mp_connection_recv_fd(b, &fd), -EPROTO);
	mpt_assert_rc(mp_connection_send_fd(a, 987), -EBADF);
	mp_connection_free(a);
	mp_connection_free(b);
}

/* ---- Listener / Client ---- */

static const char *server_address;
static const mp_auth_opts_t *client_opts;

static int client_echo(void *arg)
{
	mp_connection_t *c = mp_client(server_address, client_opts,
				       mpt_timeout(10));
	mp_bytes_t m;
	int rc;

	(void)arg;
	if (c == NULL)
		return mp_last_error_code() == MP_EAUTH ? 42 : 1;
	rc = mp_connection_send_bytes(c, "ping", 4) ||
	     mp_connection_recv_bytes(c, 0, &m) || m.len != 4 ||
	     memcmp(m.data, "pong", 4);
	if (rc == 0)
		mp_bytes_destroy(&m);
	mp_connection_free(c);
	return rc;
}

static void serve_one(const char *address, const mp_auth_opts_t *lo,
		      const mp_auth_opts_t *co, int want_child, int want_accept)
{
	mp_listener_t *l = mp_listener_new(address, lo);
	mp_connection_t *c;
	mp_bytes_t m;
	pid_t pid;

	assert_non_null(l);
	server_address = mp_listener_address(l);
	client_opts = co;
	pid = mpt_fork(client_echo, NULL);
	mpt_assert_rc(mp_listener_accept(l, mpt_timeout(10), &c), want_accept);
	if (want_accept == 0) {
		mpt_assert_ok(mp_connection_recv_bytes(c, 0, &m));
		assert_memory_equal(m.data, "ping", 4);
		mp_bytes_destroy(&m);
		mpt_assert_ok(mp_connection_send_bytes(c, "pong", 4));
		mp_connection_free(c);
	} else {
		assert_string_equal(mp_last_error(),
				    "mp_listener_accept: digest received was wrong");
	}
	assert_int_equal(mpt_exit_code(pid), want_child);
	mp_listener_free(l);
}

static void test_listener_client(void **state)
{
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	mp_auth_opts_t wrong = {.authkey = "guess", .authkey_len = 5};
	mp_auth_opts_t empty = {.authkey = "", .authkey_len = 0};
	char path[64], abstract[64];
	mp_connection_t *c;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mproc-test-%d.sock", (int)getpid());
	snprintf(abstract, sizeof(abstract), "@mproc-test-%d", (int)getpid());
	serve_one("127.0.0.1:0", NULL, NULL, 0, 0);
	serve_one(path, &key, &key, 0, 0);
	assert_int_equal(stat(path, &st), -1); /* unlinked by free */
	serve_one(abstract, &key, &key, 0, 0);
	serve_one("127.0.0.1:0", &empty, &empty, 0, 0); /* b'' is a key */
	serve_one("127.0.0.1:0", &key, &wrong, 42, MP_EAUTH);
	/* errors */
	mp_listener_t *l = mp_listener_new("127.0.0.1:0", NULL);
	assert_null(mp_listener_new(mp_listener_address(l), NULL));
	assert_int_equal(mp_last_error_code(), -EADDRINUSE);
	mpt_assert_rc(mp_listener_accept(l, 0.05, &c), -ETIMEDOUT);
	mp_listener_free(l);
	assert_null(mp_client("127.0.0.1:1", NULL, mpt_timeout(10)));
	assert_int_equal(mp_last_error_code(), -ECONNREFUSED);
	assert_null(mp_listener_new("", NULL));
	mp_listener_free(NULL);
}

static int free_listener(void *arg)
{
	mp_listener_free(arg);
	return 0;
}

/* CPython's Listener.close(): stop listening, remove the socket file. */
static void test_listener_close(void **state)
{
	char path[64];
	mp_connection_t *c = (mp_connection_t *)1;
	mp_listener_t *l, *l2;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mproc-test-close-%d.sock",
		 (int)getpid());
	assert_non_null(l = mp_listener_new(path, NULL));
	assert_int_equal(stat(path, &st), 0);
	/* a forked child's free leaves the creator's file (before: removed) */
	assert_int_equal(mpt_exit_code(mpt_fork(free_listener, l)), 0);
	assert_int_equal(stat(path, &st), 0);
	mpt_assert_ok(mp_listener_close(l));
	assert_int_equal(stat(path, &st), -1); /* removed */
	assert_string_equal(mp_listener_address(l), path); /* still valid */
	mpt_assert_rc(mp_listener_accept(l, 0, &c), MP_ECLOSED);
	assert_null(c);
	assert_string_equal(mp_last_error(),
			    "mp_listener_accept: listener is closed");
	assert_null(mp_client(path, NULL, mpt_timeout(10)));
	assert_int_equal(mp_last_error_code(), -ENOENT);
	mpt_assert_ok(mp_listener_close(l)); /* idempotent */
	mp_listener_free(l);
	mpt_assert_rc(mp_listener_close(NULL), -EINVAL);
	/* the file is removed once: a new listener's file at the same path
	 * survives the free of the closed one */
	assert_non_null(l = mp_listener_new(path, NULL));
	mpt_assert_ok(mp_listener_close(l));
	assert_non_null(l2 = mp_listener_new(path, NULL));
	mp_listener_free(l);
	assert_int_equal(stat(path, &st), 0);
	mp_listener_free(l2);
	assert_int_equal(stat(path, &st), -1);
}

/* ---- python3 interop ---- */

static const char *py_client =
	"import sys\n"
	"from multiprocessing.connection import Client\n"
	"try:\n"
	"    c = Client(sys.argv[1], authkey=sys.argv[2].encode())\n"
	"except Exception as e:\n"
	"    print(type(e).__name__); sys.exit(0)\n"
	"c.send_bytes(b'from python ' + b'x' * 100000)\n"
	"m = c.recv_bytes()\n"
	"print('python got', len(m), m[:7].decode())\n";

static const char *py_server =
	"import sys\n"
	"from multiprocessing.connection import Listener\n"
	"l = Listener(('127.0.0.1', 0), authkey=b'secret')\n"
	"print(l.address[1], flush=True)\n"
	"try:\n"
	"    c = l.accept()\n"
	"except Exception as e:\n"
	"    print(type(e).__name__, e, flush=True); sys.exit(0)\n"
	"m = c.recv_bytes()\n"
	"c.send_bytes(m.upper())\n"
	"print('python served', len(m), flush=True)\n";

static void test_python_client_to_c_listener(void **state)
{
	mp_listener_t *l = mp_listener_new("127.0.0.1:0",
					   &(mp_auth_opts_t){"secret", 6, 0, 0});
	mp_connection_t *c;
	mp_popen_t *py;
	mp_bytes_t out;
	mp_bytes_t m;

	(void)state;
	/* The address is "127.0.0.1:port": python wants a tuple. */
	char port[16];
	snprintf(port, sizeof(port), "%s", strchr(mp_listener_address(l), ':') + 1);
	char script[1024];
	snprintf(script, sizeof(script),
		 "import sys\nsys.argv[1] = ('127.0.0.1', %s)\n%s", port, py_client);
	for (int wrong = 0; wrong < 2; wrong++) {
		py = mp_popen_new((const char *[]){"python3", "-c", script, "x",
						   wrong ? "wrong" : "secret", NULL},
				  &(mp_popen_opts_t){.out.kind = MP_STDIO_PIPE});
		assert_non_null(py);
		if (!wrong) {
			mpt_assert_ok(mp_listener_accept(l, mpt_timeout(30), &c));
			mpt_assert_ok(mp_connection_recv_bytes(c, 0, &m));
			assert_int_equal(m.len, 100012);
			assert_memory_equal(m.data, "from python ", 12);
			mp_bytes_destroy(&m);
			mpt_assert_ok(mp_connection_send_bytes(c, "from C!", 7));
			mp_connection_free(c);
		} else {
			mpt_assert_rc(mp_listener_accept(l, mpt_timeout(30), &c),
				      MP_EAUTH);
		}
		mpt_assert_ok(mp_popen_communicate(py, NULL, 0, mpt_timeout(30),
						   &out, NULL));
		assert_string_equal(out.data, wrong ? "AuthenticationError\n"
						    : "python got 7 from C!\n");
		mp_bytes_destroy(&out);
		mp_popen_free(py);
	}
	mp_listener_free(l);
}

static void test_c_client_to_python_listener(void **state)
{
	char address[64];
	mp_connection_t *c;
	mp_popen_t *py;
	mp_bytes_t line, out;
	mp_bytes_t m;

	(void)state;
	for (int wrong = 0; wrong < 2; wrong++) {
		py = mp_popen_new((const char *[]){"python3", "-c", py_server, NULL},
				  &(mp_popen_opts_t){.out.kind = MP_STDIO_PIPE});
		assert_non_null(py);
		assert_int_equal(mp_popen_readline(py, mpt_timeout(30), &line), 1);
		snprintf(address, sizeof(address), "127.0.0.1:%d", atoi(line.data));
		mp_bytes_destroy(&line);
		c = mp_client(address, &(mp_auth_opts_t){wrong ? "nope" : "secret",
							wrong ? 4 : 6, 0, 0},
			      mpt_timeout(30));
		if (!wrong) {
			assert_non_null(c);
			mpt_assert_ok(mp_connection_send_bytes(c, "hello python", 12));
			mpt_assert_ok(mp_connection_recv_bytes(c, 0, &m));
			assert_memory_equal(m.data, "HELLO PYTHON", 12);
			mp_bytes_destroy(&m);
			mp_connection_free(c);
		} else {
			assert_null(c);
			assert_int_equal(mp_last_error_code(), MP_EAUTH);
			assert_string_equal(mp_last_error(),
					    "mp_client: digest sent was rejected");
		}
		mpt_assert_ok(mp_popen_communicate(py, NULL, 0, mpt_timeout(30),
						   &out, NULL));
		assert_non_null(strstr(out.data, wrong ? "AuthenticationError"
						       : "python served 12"));
		mp_bytes_destroy(&out);
		mp_popen_free(py);
	}
}

/* ---- a hostile peer ---- */

/* An allocator that records the largest request and can fail some. */
static struct {
	size_t largest;
	size_t refuse_over; /* fail requests above this (0: none) */
	int fail_at;        /* fail the fail_at-th call (0: none) */
	int calls;
	bool fail_realloc;  /* fail every realloc */
} counting;

static bool count_refuses(size_t n)
{
	if (n > counting.largest)
		counting.largest = n;
	return (counting.refuse_over && n > counting.refuse_over) ||
	       ++counting.calls == counting.fail_at;
}

static void *count_malloc(size_t n)
{
	return count_refuses(n) ? NULL : malloc(n);
}

static void *count_realloc(void *p, size_t n)
{
	return count_refuses(n) || counting.fail_realloc ? NULL : realloc(p, n);
}

static void *count_calloc(size_t k, size_t n)
{
	return count_refuses(k * n) ? NULL : calloc(k, n);
}

static void counting_on(void)
{
	memset(&counting, 0, sizeof(counting));
	mpt_assert_ok(mp_replace_allocator(count_malloc, count_realloc,
					   count_calloc, free));
}

static void counting_off(void)
{
	mpt_assert_ok(mp_replace_allocator(malloc, realloc, calloc, free));
}

/*
 * A header claiming 16 GiB whose would-be payload hides a whole frame: no
 * allocation near 16 GiB, and the hidden frame is never returned (before,
 * malloc failed with -ENOMEM, the connection stayed usable and the next
 * receive returned "hello").
 */
static void test_huge_header_allocates_nothing_smuggles_nothing(void **state)
{
	static const unsigned char raw[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4,
					    0, 0, 0, 0, 0, 0, 0, 5,
					    'h', 'e', 'l', 'l', 'o'};
	mp_connection_t *c;
	char small[64];
	mp_bytes_t m;
	size_t len;

	(void)state;
	counting_on();
	counting.refuse_over = 1u << 30;
	c = frames(raw, sizeof(raw));
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EIO);
	assert_string_equal(mp_last_error(), "mp_connection_recv_bytes: got "
			    "end of file during message");
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EPROTO);
	assert_non_null(strstr(mp_last_error(), "unusable after an end of file"));
	mpt_assert_rc(mp_connection_poll(c, 0), -EPROTO);
	mp_connection_free(c);
	/* recv_bytes_into: the message is too big and stays unread */
	c = frames(raw, sizeof(raw));
	for (int i = 0; i < 2; i++) {
		mpt_assert_rc(mp_connection_recv_bytes_into(c, small,
							    sizeof(small), &len),
			      -EMSGSIZE);
		assert_int_equal(len, (size_t)4 << 32);
	}
	assert_int_equal(mp_connection_poll(c, 0), 1);
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EIO);
	mpt_assert_rc(mp_connection_recv_bytes_into(c, small, sizeof(small),
						    &len), -EPROTO);
	mp_connection_free(c);
	assert_true(counting.largest <= 1u << 20);
	counting_off();
}

/* A child writing a 12-byte header then n zeros on sv[1] (sv[0]: ours). */
struct writer {
	int sv[2];
	size_t n;
	unsigned char hdr[12];
};

static int write_header_and_zeros(void *arg)
{
	struct writer *w = arg;
	static char zeros[65536];
	size_t done = 0;
	ssize_t r;

	close(w->sv[0]);
	if (write(w->sv[1], w->hdr, 12) != 12)
		return 1;
	while (done < w->n) {
		r = send(w->sv[1], zeros, w->n - done < sizeof(zeros)
					  ? w->n - done : sizeof(zeros),
			 MSG_NOSIGNAL);
		if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
			return 0; /* the reader gave up */
		if (r <= 0)
			return 2;
		done += (size_t)r;
	}
	return 0;
}

static mp_connection_t *start_writer(struct writer *w, pid_t *pid)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    w->sv), 0);
	*pid = mpt_fork(write_header_and_zeros, w);
	close(w->sv[1]);
	return mp_connection_new(w->sv[0], 0);
}

/* Memory grows with what arrived: 1 MiB sent under a 1 TiB header. */
static void test_payload_memory_follows_arrival(void **state)
{
	struct writer w = {.n = 1 << 20,
			   .hdr = {0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0}};
	mp_connection_t *c;
	mp_bytes_t m;
	pid_t pid;

	(void)state;
	c = start_writer(&w, &pid);
	counting_on();
	counting.refuse_over = 1u << 30;
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EIO);
	counting_off();
	assert_true(counting.largest <= 3u << 20);
	assert_int_equal(mpt_exit_code(pid), 0);
	mp_connection_free(c);
}

/* Running out of memory mid-payload breaks the connection; before the
 * payload, it keeps the message. */
static void test_no_memory_mid_message_breaks(void **state)
{
	struct writer w = {.n = 300000, .hdr = {0, 4, 0x93, 0xe0}};
	mp_connection_t *a, *b, *c;
	mp_bytes_t m;
	pid_t pid;

	(void)state;
	/* first allocation fails: the header stays, nothing lost */
	mpt_assert_ok(mp_pipe(0, &a, &b));
	mpt_assert_ok(mp_connection_send_bytes(a, "kept", 4));
	mpt_assert_rc(mp_connection_poll(b, mpt_timeout(10)), 1);
	counting_on();
	counting.fail_at = 2; /* 1: the read buffer, 2: the payload */
	mpt_assert_rc(mp_connection_recv_bytes(b, 0, &m), -ENOMEM);
	counting_off();
	mpt_assert_ok(mp_connection_recv_bytes(b, 0, &m));
	assert_int_equal(m.len, 4);
	assert_memory_equal(m.data, "kept", 4);
	mp_bytes_destroy(&m);
	mp_connection_free(a);
	mp_connection_free(b);
	/* a growth fails: broken */
	c = start_writer(&w, &pid);
	counting_on();
	counting.fail_realloc = true;
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -ENOMEM);
	counting_off();
	mpt_assert_rc(mp_connection_recv_bytes(c, 0, &m), -EPROTO);
	assert_non_null(strstr(mp_last_error(), "out of memory"));
	mp_connection_free(c);
	assert_int_equal(mpt_exit_code(pid), 0);
}

/* mp_pipe closed the fd of the end whose allocation failed. */
static void test_pipe_allocation_failure_leaks_no_fd(void **state)
{
	mp_connection_t *r, *w;
	int before = mpt_count_fds();

	(void)state;
	for (int k = 1; k <= 2; k++) {
		counting_on();
		counting.fail_at = k;
		mpt_assert_rc(mp_pipe(0, &r, &w), -ENOMEM);
		counting_off();
		assert_null(r);
		assert_null(w);
		assert_int_equal(mpt_count_fds(), before);
	}
}

/*
 * A connection that cannot be allocated inside mp_client or
 * mp_listener_accept: the message names the function called (before:
 * "mp_connection_new: out of memory", and mp_listener_accept returned the
 * code of whatever had failed last).
 */
static void test_inner_failure_names_the_caller(void **state)
{
	char address[64];
	mp_connection_t *c;
	mp_listener_t *l;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int fd;

	(void)state;
	snprintf(address, sizeof(address), "@mproc-test-inner-%d",
		 (int)getpid());
	assert_non_null(l = mp_listener_new(address, NULL));
	/* a raw client: the backlog takes it without an accept */
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "%s", address + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&un,
				 (socklen_t)(offsetof(struct sockaddr_un,
						      sun_path) +
					     strlen(address))), 0);
	counting_on();
	counting.fail_at = 1;
	mpt_assert_rc(mp_listener_accept(l, mpt_timeout(10), &c), -ENOMEM);
	counting_off();
	assert_null(c);
	assert_string_equal(mp_last_error(),
			    "mp_listener_accept: out of memory");
	close(fd);
	/* mp_client: the connect succeeds (backlog), the wrapping fails */
	counting_on();
	counting.fail_at = 1;
	assert_null(mp_client(address, NULL, mpt_timeout(10)));
	counting_off();
	assert_int_equal(mp_last_error_code(), -ENOMEM);
	assert_string_equal(mp_last_error(), "mp_client: out of memory");
	mp_listener_free(l);
}

/*
 * A scripted server in a child: on the i-th connection it sends frame i,
 * then answers every message with #FAILURE# until the peer closes.  Exits
 * with the number of messages the clients sent.
 */
struct script {
	mp_listener_t *l;
	const void *frame[4];
	size_t len[4];
	int n;
};

static int scripted_server(void *arg)
{
	struct script *s = arg;
	mp_connection_t *c;
	int got = 0;
	mp_bytes_t m;

	for (int i = 0; i < s->n; i++) {
		if (mp_listener_accept(s->l, 30, &c) != 0)
			return 100;
		if (mp_connection_send_bytes(c, s->frame[i], s->len[i]) != 0)
			return 101;
		while (mp_connection_poll(c, 30) == 1 &&
		       mp_connection_recv_bytes(c, 0, &m) == 0) {
			got++;
			mp_bytes_destroy(&m);
			mp_connection_send_bytes(c, "#FAILURE#", 9);
		}
		mp_connection_free(c);
	}
	return got;
}

static pid_t start_script(struct script *s, char *address, size_t size)
{
	pid_t pid;

	s->l = mp_listener_new("127.0.0.1:0", NULL);
	assert_non_null(s->l);
	snprintf(address, size, "%s", mp_listener_address(s->l));
	pid = mpt_fork(scripted_server, s);
	mp_listener_free(s->l); /* the child's copy listens */
	return pid;
}

/*
 * A server whose first message is not a challenge: the client's message
 * shows it as clean text (before: printed from freed memory, past the end
 * of a 1-byte block).
 */
static void test_client_reports_a_non_challenge_cleanly(void **state)
{
	static const unsigned char bin[30] = {'#', 'C', 'H', 0, 0xff, '\\', '\''};
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	struct script s = {.frame = {"x", bin, ""}, .len = {1, 30, 0}, .n = 3};
	char address[64];
	pid_t pid;

	(void)state;
	pid = start_script(&s, address, sizeof(address));
	assert_null(mp_client(address, &key, mpt_timeout(10)));
	assert_int_equal(mp_last_error_code(), MP_EAUTH);
	assert_string_equal(mp_last_error(),
			    "mp_client: expected a challenge, got b'x'");
	assert_null(mp_client(address, &key, mpt_timeout(10)));
	assert_string_equal(mp_last_error(),
			    "mp_client: expected a challenge, got "
			    "b'#CH\\x00\\xff\\x5c\\x27\\x00\\x00\\x00\\x00\\x00"
			    "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'...");
	assert_null(mp_client(address, &key, mpt_timeout(10)));
	assert_string_equal(mp_last_error(),
			    "mp_client: expected a challenge, got b''");
	assert_int_equal(mpt_exit_code(pid), 0); /* the client sent nothing */
}

/* Nonces under 20 bytes are refused unanswered (CPython 3.12). */
static void test_client_refuses_a_short_nonce(void **state)
{
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	struct script s = {
		.frame = {"#CHALLENGE#", "#CHALLENGE#0123456789abcdefghi",
			  "#CHALLENGE#{sha256}0123456789abcdefghi",
			  "#CHALLENGE#{sha384}0123456789abcdefghij0123456789"},
		.len = {11, 30, 38, 49}, .n = 4};
	const char *want[] = {"challenge too short: 0 bytes",
			      "challenge too short: 19 bytes",
			      "challenge too short: 27 bytes",
			      "unsupported challenge"};
	char address[64];
	pid_t pid;

	(void)state;
	pid = start_script(&s, address, sizeof(address));
	for (int i = 0; i < 4; i++) {
		assert_null(mp_client(address, &key, mpt_timeout(10)));
		assert_int_equal(mp_last_error_code(), MP_EAUTH);
		assert_non_null(strstr(mp_last_error(), want[i]));
	}
	assert_int_equal(mpt_exit_code(pid), 0); /* none was answered */
}

/*
 * Without SHA-256 and MD5 (an OpenSSL configuration that loads only the
 * base provider), both sides fail the handshake naming the cause.  Before,
 * the listener let in a peer that answered "{sha256}" with no digest at
 * all (HMAC's length 0) or 16 bytes compared with uninitialised stack, and
 * the client likewise.  Run by exec'ing this program with OPENSSL_CONF
 * set, so that OpenSSL reads the configuration afresh.
 */
static const char base_only_conf[] =
	"openssl_conf = openssl_init\n"
	"[openssl_init]\n"
	"providers = provider_sect\n"
	"[provider_sect]\n"
	"base = base_sect\n"
	"[base_sect]\n"
	"activate = 1\n";

#define CHALLENGE40 "#CHALLENGE#{sha256}0123456789012345678901234567890123456789"

/*
 * A peer that knows no key: it answers the challenge with "{sha256}" alone
 * (what a failed HMAC gave before: length 0), "{sha256}" and 32 zeros, or
 * 16 zeros (MD5's length), and goes on as if welcomed.
 */
static int keyless_client(const char *address, int kind)
{
	static const unsigned char answer[40] = "{sha256}";
	static const size_t len_of[] = {8, 40, 16};
	mp_connection_t *c = mp_client(address, NULL, 10);
	mp_bytes_t m;

	if (c == NULL || mp_connection_recv_bytes(c, 0, &m) != 0)
		return 1;
	mp_bytes_destroy(&m);
	mp_connection_send_bytes(c, kind == 2 ? answer + 24 : answer,
				 len_of[kind]);
	while (mp_connection_recv_bytes(c, 0, &m) == 0) {
		if (m.len == 9 && memcmp(m.data, "#WELCOME#", 9) == 0)
			mp_connection_send_bytes(c, CHALLENGE40,
						 sizeof(CHALLENGE40) - 1);
		else if (m.len == 8)
			mp_connection_send_bytes(c, "#WELCOME#", 9);
		mp_bytes_destroy(&m);
	}
	mp_connection_free(c);
	return 0;
}

/* A server that sends a challenge and welcomes any answer. */
static int keyless_server(mp_listener_t *l, bool md5)
{
	mp_connection_t *c;
	mp_bytes_t m;

	if (mp_listener_accept(l, 10, &c) != 0)
		return 1;
	if (md5)
		mp_connection_send_bytes(c, "#CHALLENGE#01234567890123456789", 31);
	else
		mp_connection_send_bytes(c, CHALLENGE40, sizeof(CHALLENGE40) - 1);
	while (mp_connection_recv_bytes(c, 0, &m) == 0) {
		if (m.len > 11 && memcmp(m.data, "#CHALLENGE#", 11) == 0)
			mp_connection_send_bytes(c, "{sha256}", 8);
		else
			mp_connection_send_bytes(c, "#WELCOME#", 9);
		mp_bytes_destroy(&m);
	}
	mp_connection_free(c);
	return 0;
}

static int without_digests(void)
{
	static const unsigned char k[] = "secret";
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	unsigned char out[64];
	char address[64], want[96];
	mp_connection_t *c;
	mp_listener_t *l;
	unsigned olen;
	int rc, fail = 0;
	pid_t pid;

	if (HMAC(EVP_sha256(), k, 6, k, 6, out, &olen) != NULL)
		return 99; /* OPENSSL_CONF did not take SHA-256 away */
	snprintf(address, sizeof(address), "@mproc-test-nodigest-%d",
		 (int)getpid());
	/* the listener's side */
	for (int kind = 0; kind < 3; kind++) {
		if ((l = mp_listener_new(address, &key)) == NULL)
			return 98;
		fflush(NULL);
		if ((pid = fork()) == 0)
			_exit(keyless_client(address, kind));
		rc = mp_listener_accept(l, 10, &c);
		snprintf(want, sizeof(want), "mp_listener_accept: %s",
			 kind == 0 ? "digest received was wrong"
			 : kind == 1 ? "cannot compute HMAC-SHA256: error:"
				     : "cannot compute HMAC-MD5: error:");
		if (rc != MP_EAUTH || strncmp(mp_last_error(), want,
					      strlen(want)) != 0) {
			fprintf(stderr, "listener (%d): %d %s\n", kind, rc,
				mp_last_error());
			fail |= 1 << kind;
		}
		if (rc == 0)
			mp_connection_free(c);
		waitpid(pid, NULL, 0);
		mp_listener_free(l);
	}
	for (int md5 = 0; md5 < 2; md5++) {
		/* the client's side */
		if ((l = mp_listener_new(address, NULL)) == NULL)
			return 97;
		fflush(NULL);
		if ((pid = fork()) == 0)
			_exit(keyless_server(l, md5));
		c = mp_client(address, &key, 10);
		snprintf(want, sizeof(want), "mp_client: cannot compute "
			 "HMAC-%s: error:", md5 ? "MD5" : "SHA256");
		if (c != NULL || mp_last_error_code() != MP_EAUTH ||
		    strncmp(mp_last_error(), want, strlen(want)) != 0) {
			fprintf(stderr, "client (%s): %s\n", md5 ? "md5" : "sha256",
				c ? "accepted" : mp_last_error());
			fail |= 8 << md5;
		}
		mp_connection_free(c);
		waitpid(pid, NULL, 0);
		mp_listener_free(l);
	}
	return fail;
}

static void test_handshake_fails_without_digests(void **state)
{
	char conf[64];
	FILE *f;
	pid_t pid;

	(void)state;
	snprintf(conf, sizeof(conf), "/tmp/mproc-test-base-%d.cnf", (int)getpid());
	assert_non_null(f = fopen(conf, "w"));
	fputs(base_only_conf, f);
	fclose(f);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		setenv("OPENSSL_CONF", conf, 1);
		execl(mpt_self_exe(), "test_connection", "--without-digests",
		      (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(mpt_exit_code(pid), 0);
	unlink(conf);
}

/* Unix socket files are 0600 whatever the umask; socket_mode widens. */
static void test_socket_file_mode(void **state)
{
	mode_t old = umask(0);
	mp_auth_opts_t wide = {.socket_mode = 0666};
	char path[64];
	struct stat st;
	mp_listener_t *l;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mproc-test-mode-%d.sock", (int)getpid());
	l = mp_listener_new(path, NULL);
	assert_non_null(l);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	mp_listener_free(l);
	l = mp_listener_new(path, &wide);
	assert_non_null(l);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	mp_listener_free(l);
	assert_null(mp_listener_new(path, &(mp_auth_opts_t){.socket_mode = 04700}));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	umask(old);
}

/* Ports outside 0..65535 are refused (before: wrapped modulo 65536). */
static void test_port_range(void **state)
{
	const char *bad[] = {"127.0.0.1:99999", "127.0.0.1:65536",
			     ":4294967297", "127.0.0.1:18446744073709551617"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(mp_listener_new(bad[i], NULL));
		assert_int_equal(mp_last_error_code(), -EINVAL);
		assert_non_null(strstr(mp_last_error(), "0..65535"));
		assert_null(mp_client(bad[i], NULL, 1));
		assert_int_equal(mp_last_error_code(), -EINVAL);
	}
}

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

/* A system call that fails with ENOBUFS (seccomp) in a forked child, and
 * the words mp_listener_new's message must then have. */
struct failing_call {
	long nr;
	const char *said;
};

/* In a forked child: the system call arg names fails with ENOBUFS, so a
 * TCP listener cannot be made.  0 when mp_listener_new fails with that
 * errno, the syscall named and no fd left open; 77 when seccomp is not
 * available. */
static int listener_without(void *arg)
{
#ifdef SECCOMP_ARCH
	const struct failing_call *fc = arg;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)fc->nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOBUFS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	int fds = mpt_count_fds();

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 77;
	if (mp_listener_new("127.0.0.1:0", NULL) != NULL)
		return 1;
	if (mp_last_error_code() != -ENOBUFS ||
	    strstr(mp_last_error(), fc->said) == NULL)
		return 2;
	return mpt_count_fds() == fds ? 0 : 3;
#else
	(void)arg;
	return 77;
#endif
}

/* A TCP listener whose getsockname or setsockopt(SO_REUSEADDR) fails
 * reports it (the first formatted its address from an uninitialised
 * sockaddr before, the second was ignored). */
static void test_listener_socket_call_failures(void **state)
{
	const struct failing_call calls[] = {
		{SYS_getsockname, "mp_listener_new: getsockname"},
		{SYS_setsockopt, "mp_listener_new: setsockopt(SO_REUSEADDR)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		int code = mpt_exit_code(mpt_fork(listener_without,
						  (void *)&calls[i]));

		if (code == 77)
			skip();
		assert_int_equal(code, 0);
	}
}

/*
 * A client that connects, reads the challenge, then sends nothing (or half
 * a message) and waits for the listener to give up.
 */
static bool half_frame;

static int stalling_client(void *arg)
{
	mp_connection_t *c = mp_client(arg, NULL, 10);
	static const unsigned char half[] = {0, 0, 0, 40, '{', 's', 'h'};
	mp_bytes_t m;

	if (c == NULL || mp_connection_recv_bytes(c, 0, &m) != 0)
		return 1;
	mp_bytes_destroy(&m);
	if (half_frame && write(mp_connection_fileno(c), half, sizeof(half)) !=
			      (ssize_t)sizeof(half))
		return 2;
	/* until the listener closes (or 10 s) */
	if (mp_connection_poll(c, 10) != 1)
		return 3;
	mp_connection_free(c);
	return 0;
}

static void test_accept_deadline_covers_handshake(void **state)
{
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	mp_listener_t *l = mp_listener_new("127.0.0.1:0", &key);
	mp_connection_t *c;
	double t0;
	pid_t pid;

	(void)state;
	assert_non_null(l);
	for (int half = 0; half < 2; half++) {
		half_frame = half;
		pid = mpt_fork(stalling_client, (void *)mp_listener_address(l));
		t0 = mpt_now();
		mpt_assert_rc(mp_listener_accept(l, 0.2, &c), -ETIMEDOUT);
		assert_true(mpt_now() - t0 < 5);
		assert_non_null(strstr(mp_last_error(), "timed out after 0.2s"));
		assert_int_equal(mpt_exit_code(pid), 0);
	}
	mp_listener_free(l);
}

/* mp_client's timeout: a server that never answers, a full backlog. */
static void test_client_deadline(void **state)
{
	mp_auth_opts_t key = {.authkey = "secret", .authkey_len = 6};
	mp_connection_t *held[16];
	char address[64];
	mp_listener_t *l;
	int n = 0, rc = 0;
	double t0;

	(void)state;
	l = mp_listener_new("127.0.0.1:0", NULL); /* never accepts */
	assert_non_null(l);
	t0 = mpt_now();
	assert_null(mp_client(mp_listener_address(l), &key, 0.2));
	assert_int_equal(mp_last_error_code(), -ETIMEDOUT);
	assert_true(mpt_now() - t0 < 5);
	mp_listener_free(l);
	/* a Unix listener's backlog (1) fills up: connect waits, bounded */
	snprintf(address, sizeof(address), "@mproc-test-backlog-%d", (int)getpid());
	l = mp_listener_new(address, NULL);
	assert_non_null(l);
	while (n < 16) {
		t0 = mpt_now();
		if ((held[n] = mp_client(address, NULL, 0.2)) == NULL) {
			rc = mp_last_error_code();
			break;
		}
		n++;
	}
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(mpt_now() - t0 < 5);
	assert_non_null(strstr(mp_last_error(), "within 0.2s"));
	while (n > 0)
		mp_connection_free(held[--n]);
	mp_listener_free(l);
}

static void test_mkfifo(void **state)
{
	char path[64];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mproc-fifo-%d", (int)getpid());
	mpt_assert_ok(mp_mkfifo(path, 0600));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	mpt_assert_rc(mp_mkfifo(path, 0600), -EEXIST);
	unlink(path);
	mpt_assert_rc(mp_mkfifo(NULL, 0600), -EINVAL);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--without-digests") == 0)
		return without_digests();
	const struct CMUnitTest tests[] = {
		MPT(test_pipe_messages_keep_boundaries),
		MPT(test_simplex_and_bad_arguments),
		MPT(test_connection_flags),
		MPT(test_recv_into_too_small_loses_nothing),
		MPT(test_wire_format_and_bad_frames),
		MPT(test_64mib_both_ways),
		MPT(test_fd_passing),
		MPT(test_listener_client),
		MPT(test_listener_close),
		MPT(test_inner_failure_names_the_caller),
		MPT(test_python_client_to_c_listener),
		MPT(test_c_client_to_python_listener),
		MPT(test_huge_header_allocates_nothing_smuggles_nothing),
		MPT(test_payload_memory_follows_arrival),
		MPT(test_no_memory_mid_message_breaks),
		MPT(test_pipe_allocation_failure_leaks_no_fd),
		MPT(test_client_reports_a_non_challenge_cleanly),
		MPT(test_client_refuses_a_short_nonce),
		MPT(test_handshake_fails_without_digests),
		MPT(test_socket_file_mode),
		MPT(test_port_range),
		MPT(test_listener_socket_call_failures),
		MPT(test_accept_deadline_covers_handshake),
		MPT(test_client_deadline),
		MPT(test_mkfifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
