/* test_connection.c - Pipe/Connection, wire format, bad frames, fd passing,
 * Listener/Client with authkeys, interop with python3, FIFOs. */
#include "mptest.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "mproc/connection.h"
#include "mproc/subprocess.h"

static int exit_code(pid_t pid)
{
	int status = mpt_wait(pid);

	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_pipe_messages_keep_boundaries(void **state)
{
	mp_connection_t *a, *b;
	void *buf;
	size_t len;

	(void)state;
	mpt_assert_ok(mp_pipe(true, &a, &b));
	mpt_assert_ok(mp_connection_send_bytes(a, "a", 1));
	mpt_assert_ok(mp_connection_send_bytes(a, "b", 1));
	mpt_assert_ok(mp_connection_send_bytes(a, "", 0)); /* a real message */
	mpt_assert_ok(mp_connection_send_bytes(a, "cd", 2));
	assert_int_equal(mp_connection_poll(b, 0), 1);
	assert_int_equal(mp_connection_poll(b, 0), 1); /* poll consumes nothing */
	const char *want[] = {"a", "b", "", "cd"};
	for (int i = 0; i < 4; i++) {
		mpt_assert_ok(mp_connection_recv_bytes(b, &buf, &len, 0));
		assert_int_equal(len, strlen(want[i]));
		assert_memory_equal(buf, want[i], len);
		mp_buf_free(buf);
	}
	double t0 = mpt_now();
	assert_int_equal(mp_connection_poll(b, 0.1), 0);
	assert_true(mpt_now() - t0 >= 0.09);
	/* duplex: the other way too */
	mpt_assert_ok(mp_connection_send_bytes(b, "back", 4));
	mpt_assert_ok(mp_connection_recv_bytes(a, &buf, &len, 0));
	assert_memory_equal(buf, "back", 4);
	mp_buf_free(buf);
	/* the peer closes: EOF */
	mp_connection_free(a);
	assert_int_equal(mp_connection_poll(b, 1), 1);
	mpt_assert_rc(mp_connection_recv_bytes(b, &buf, &len, 0), MP_EEOF);
	mpt_assert_ok(mp_connection_close(b));
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
	mpt_assert_ok(mp_pipe(false, &r, &w));
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
	assert_null(mp_connection_new(-1, true, true));
	fd = open("/dev/null", O_RDONLY);
	assert_null(mp_connection_new(fd, false, false));
	w = mp_connection_new(fd, false, true); /* not a socket: no fd passing */
	mpt_assert_rc(mp_connection_send_fd(w, 0), -EBADF);
	mp_connection_free(w); /* closes fd */
	mpt_assert_rc(mp_pipe(true, NULL, &w), -EINVAL);
}

static void test_recv_into_too_small_loses_nothing(void **state)
{
	mp_connection_t *a, *b;
	char small[4], big[64];
	size_t len;

	(void)state;
	mpt_assert_ok(mp_pipe(true, &a, &b));
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
	return mp_connection_new(sv[0], true, true);
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
	void *buf;
	size_t len;

	(void)state;
	/* CPython's large-message header (-1, then 8 bytes) is understood. */
	c = frames(large_form, sizeof(large_form));
	mpt_assert_ok(mp_connection_recv_bytes(c, &buf, &len, 0));
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	mp_buf_free(buf);
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 0), MP_EEOF);
	mp_connection_free(c);
	c = frames(negative, sizeof(negative));
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 0), -EPROTO);
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 0), -EPROTO);
	mp_connection_free(c);
	c = frames(truncated, sizeof(truncated));
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 0), -EIO);
	assert_non_null(strstr(mp_last_error(), "got end of file during message"));
	mp_connection_free(c);
	/* A frame announcing 4 GiB is refused with maxlength, unallocated. */
	c = frames(huge, sizeof(huge));
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 1 << 20), -EMSGSIZE);
	assert_non_null(strstr(mp_last_error(), "bad message length"));
	mpt_assert_rc(mp_connection_recv_bytes(c, &buf, &len, 0), -EPROTO);
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
	unsigned char *buf;
	size_t len;

	if (mp_connection_recv_bytes(c, (void **)&buf, &len, 0) != 0 || len != n)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 13))
			return 2;
	mp_buf_free(buf);
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
	mpt_assert_ok(mp_pipe(true, &a, &b));
	child_end = b;
	pid = mpt_fork(both_ways_child, NULL);
	mp_connection_free(b);
	s = (struct sender){a, BIG, -1};
	pthread_create(&t, NULL, send_thread, &s);
	assert_int_equal(check_big(a, BIG), 0);
	pthread_join(t, NULL);
	mpt_assert_ok(s.rc);
	assert_int_equal(exit_code(pid), 0);
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
	mpt_assert_ok(mp_pipe(true, &a, &b));
	child_end = b;
	pid = mpt_fork(write_through_received_fd, NULL);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	mpt_assert_ok(mp_connection_send_fd(a, p[1]));
	close(p[1]);
	assert_int_equal(exit_code(pid), 0);
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
static const mp_auth_opts *client_opts;

static int client_echo(void *arg)
{
	mp_connection_t *c = mp_client(server_address, client_opts, mpt_timeout(10));
	void *buf;
	size_t len;
	int rc;

	(void)arg;
	if (c == NULL)
		return mp_last_error_code() == MP_EAUTH ? 42 : 1;
	rc = mp_connection_send_bytes(c, "ping", 4) ||
	     mp_connection_recv_bytes(c, &buf, &len, 0) || len != 4 ||
	     memcmp(buf, "pong", 4);
	if (rc == 0)
		mp_buf_free(buf);
	mp_connection_free(c);
	return rc;
}

static void serve_one(const char *address, const mp_auth_opts *lo,
		      const mp_auth_opts *co, int want_child, int want_accept)
{
	mp_listener_t *l = mp_listener_new(address, lo);
	mp_connection_t *c;
	void *buf;
	size_t len;
	pid_t pid;

	assert_non_null(l);
	server_address = mp_listener_address(l);
	client_opts = co;
	pid = mpt_fork(client_echo, NULL);
	mpt_assert_rc(mp_listener_accept(l, &c, mpt_timeout(10)), want_accept);
	if (want_accept == 0) {
		mpt_assert_ok(mp_connection_recv_bytes(c, &buf, &len, 0));
		assert_memory_equal(buf, "ping", 4);
		mp_buf_free(buf);
		mpt_assert_ok(mp_connection_send_bytes(c, "pong", 4));
		mp_connection_free(c);
	} else {
		assert_string_equal(mp_last_error(),
				    "mp_listener_accept: digest received was wrong");
	}
	assert_int_equal(exit_code(pid), want_child);
	mp_listener_free(l);
}

static void test_listener_client(void **state)
{
	mp_auth_opts key = {.authkey = "secret", .authkey_len = 6};
	mp_auth_opts wrong = {.authkey = "guess", .authkey_len = 5};
	mp_auth_opts empty = {.authkey = "", .authkey_len = 0};
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
	mpt_assert_rc(mp_listener_accept(l, &c, 0.05), -ETIMEDOUT);
	mp_listener_free(l);
	assert_null(mp_client("127.0.0.1:1", NULL, mpt_timeout(10)));
	assert_int_equal(mp_last_error_code(), -ECONNREFUSED);
	assert_null(mp_listener_new("", NULL));
	mp_listener_free(NULL);
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
					   &(mp_auth_opts){"secret", 6, 0, 0});
	mp_connection_t *c;
	mp_popen_t *py;
	mp_bytes out;
	void *buf;
	size_t len;

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
				  &(mp_popen_opts){.out.kind = MP_STDIO_PIPE});
		assert_non_null(py);
		if (!wrong) {
			mpt_assert_ok(mp_listener_accept(l, &c, mpt_timeout(30)));
			mpt_assert_ok(mp_connection_recv_bytes(c, &buf, &len, 0));
			assert_int_equal(len, 100012);
			assert_memory_equal(buf, "from python ", 12);
			mp_buf_free(buf);
			mpt_assert_ok(mp_connection_send_bytes(c, "from C!", 7));
			mp_connection_free(c);
		} else {
			mpt_assert_rc(mp_listener_accept(l, &c, mpt_timeout(30)),
				      MP_EAUTH);
		}
		mpt_assert_ok(mp_popen_communicate(py, NULL, 0, mpt_timeout(30),
						   &out, NULL));
		assert_string_equal(out.data, wrong ? "AuthenticationError\n"
						    : "python got 7 from C!\n");
		mp_popen_free(py);
	}
	mp_listener_free(l);
}

static void test_c_client_to_python_listener(void **state)
{
	char address[64];
	mp_connection_t *c;
	mp_popen_t *py;
	mp_bytes line, out;
	void *buf;
	size_t len;

	(void)state;
	for (int wrong = 0; wrong < 2; wrong++) {
		py = mp_popen_new((const char *[]){"python3", "-c", py_server, NULL},
				  &(mp_popen_opts){.out.kind = MP_STDIO_PIPE});
		assert_non_null(py);
		assert_int_equal(mp_popen_readline(py, &line, mpt_timeout(30)), 1);
		snprintf(address, sizeof(address), "127.0.0.1:%d", atoi(line.data));
		c = mp_client(address, &(mp_auth_opts){wrong ? "nope" : "secret",
							wrong ? 4 : 6, 0, 0},
			      mpt_timeout(30));
		if (!wrong) {
			assert_non_null(c);
			mpt_assert_ok(mp_connection_send_bytes(c, "hello python", 12));
			mpt_assert_ok(mp_connection_recv_bytes(c, &buf, &len, 0));
			assert_memory_equal(buf, "HELLO PYTHON", 12);
			mp_buf_free(buf);
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
		mp_popen_free(py);
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_pipe_messages_keep_boundaries),
		MPT(test_simplex_and_bad_arguments),
		MPT(test_recv_into_too_small_loses_nothing),
		MPT(test_wire_format_and_bad_frames),
		MPT(test_64mib_both_ways),
		MPT(test_fd_passing),
		MPT(test_listener_client),
		MPT(test_python_client_to_c_listener),
		MPT(test_c_client_to_python_listener),
		MPT(test_mkfifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
