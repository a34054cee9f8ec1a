/* test_common.c - error codes and messages, version, timeouts, and the
 * internals every module shares (clock, futex, shared arena). */
#include "mptest.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/alloc.h"
#include "internal/arena.h"
#include "mproc.h"

static void test_version(void **state)
{
	char want[32];

	(void)state;
	assert_int_equal(mp_version(), MP_VERSION_HEX);
	snprintf(want, sizeof(want), "%d.%d.%d", MP_VERSION_MAJOR,
		 MP_VERSION_MINOR, MP_VERSION_PATCH);
	assert_string_equal(mp_version_string(), want);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(mp_strerror(0), "success");
	assert_non_null(strstr(mp_strerror(MP_EEOF), "EOFError"));
	assert_non_null(strstr(mp_strerror(MP_EBROKEN), "died"));
	assert_non_null(strstr(mp_strerror(MP_EOWNERDEAD), "owner died"));
	assert_non_null(strstr(mp_strerror(MP_ECALLED), "CalledProcessError"));
	assert_string_equal(mp_strerror(-ETIMEDOUT), "Connection timed out");
	assert_string_equal(mp_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(mp_strerror(-99999), "unknown error");
	assert_string_equal(mp_strerror(12345), "unknown error");
	/* Every mproc code is below -1000 and has its own text. */
	assert_true(MP_EEOF < -1000 && MP_ECALLED < -1000);
	assert_string_not_equal(mp_strerror(MP_ETASK), mp_strerror(MP_EAUTH));
}

static int fail_with(int code)
{
	return MP__ERR(code, "value %d is bad", 42);
}

static void *other_thread(void *arg)
{
	(void)arg;
	fail_with(-EPIPE);
	return strstr(mp_last_error(), "fail_with: value 42") ? (void *)1 : NULL;
}

static void test_last_error_is_per_thread(void **state)
{
	pthread_t t;
	void *ok;

	(void)state;
	assert_int_equal(fail_with(-EINVAL), -EINVAL);
	assert_string_equal(mp_last_error(), "fail_with: value 42 is bad");
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, &ok);
	assert_non_null(ok);
	/* The other thread's failure did not touch ours. */
	assert_string_equal(mp_last_error(), "fail_with: value 42 is bad");
	assert_int_equal(mp_last_error_code(), -EINVAL);
}

static void test_long_message_truncated(void **state)
{
	char big[2000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	MP__ERR(-EINVAL, "%s", big);
	assert_true(strlen(mp_last_error()) < 600);
	assert_true(strncmp(mp_last_error(), "test_long_message_truncated: xx",
			    31) == 0);
}

static void test_deadline(void **state)
{
	uint64_t d, t0;
	struct timespec ts;

	(void)state;
	assert_int_equal(mp__deadline(MP_FOREVER, &d), 0);
	assert_true(d == MP__NO_DEADLINE);
	assert_null(mp__remaining(d, &ts));
	assert_int_equal(mp__remaining_ms(d), -1);
	assert_int_equal(mp__deadline(INFINITY, &d), 0);
	assert_true(d == MP__NO_DEADLINE);
	assert_int_equal(mp__deadline(-0.5, &d), -EINVAL);
	assert_string_equal(mp__reason(-EINVAL),
			    "timeout -0.5 is invalid (use seconds >= 0, or "
			    "MP_FOREVER)");
	assert_int_equal(mp__deadline(NAN, &d), -EINVAL);
	assert_int_equal(mp__deadline(-2, &d), -EINVAL);
	t0 = mp__now_ns();
	assert_int_equal(mp__deadline(0, &d), 0);
	assert_true(d >= t0);
	assert_true(mp__expired(d));
	assert_int_equal(mp__remaining_ms(d), 0);
	assert_int_equal(mp__deadline(2.5, &d), 0);
	assert_non_null(mp__remaining(d, &ts));
	assert_true(ts.tv_sec == 2 || ts.tv_sec == 1);
	assert_true(mp__remaining_ms(d) > 2000 && mp__remaining_ms(d) <= 2500);
	assert_false(mp__expired(d));
}

/* Every timeout goes through mp__timeout_ns: huge values mean no limit and
 * never wrap into an instant deadline. */
static void test_timeout_ns(void **state)
{
	uint64_t d, t0;

	(void)state;
	assert_true(mp__timeout_ns(MP_FOREVER) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(-7) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(INFINITY) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(-INFINITY) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(1.8e10) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(1.9e10) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(1e300) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(DBL_MAX) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(MP__TIMEOUT_CAP) == MP__NO_DEADLINE);
	assert_true(mp__timeout_ns(MP__TIMEOUT_CAP * 0.999) ==
		    (uint64_t)(MP__TIMEOUT_CAP * 0.999 * 1e9));
	assert_true(mp__timeout_ns(NAN) == 0);
	assert_true(mp__timeout_ns(0) == 0);
	assert_true(mp__timeout_ns(-0.0) == 0);
	assert_true(mp__timeout_ns(1e-300) == 1); /* tiny is still a timeout */
	assert_true(mp__timeout_ns(DBL_MIN) == 1);
	assert_true(mp__timeout_ns(1e-12) == 1);
	assert_true(mp__timeout_ns(1e-9) == 1);
	assert_true(mp__timeout_ns(2.5) == 2500000000u);
	assert_true(mp__timeout_ns(86400) == 86400000000000u);
	/* Deadlines saturate instead of wrapping. */
	assert_true(mp__deadline_in(MP__NO_DEADLINE) == MP__NO_DEADLINE);
	assert_true(mp__deadline_in(MP__NO_DEADLINE - 1) == MP__NO_DEADLINE);
	t0 = mp__now_ns();
	d = mp__deadline_in(0);
	assert_true(d >= t0 && d != MP__NO_DEADLINE);
	/* mp__deadline: huge values are no deadline, not an expired one. */
	assert_int_equal(mp__deadline(1.8e10, &d), 0);
	assert_true(d == MP__NO_DEADLINE);
	assert_false(mp__expired(d));
	assert_int_equal(mp__deadline(DBL_MAX, &d), 0);
	assert_true(d == MP__NO_DEADLINE);
	assert_int_equal(mp__deadline(1e-300, &d), 0);
	assert_true(d != MP__NO_DEADLINE);
	assert_int_equal(mp__deadline(-INFINITY, &d), -EINVAL);
	assert_int_equal(mp__deadline(-1e-300, &d), -EINVAL);
	/* The check the option fields use. */
	assert_int_equal(mp__timeout_check(0, "opts->x"), 0);
	assert_int_equal(mp__timeout_check(MP_FOREVER, "opts->x"), 0);
	assert_int_equal(mp__timeout_check(INFINITY, "opts->x"), 0);
	assert_int_equal(mp__timeout_check(NAN, "opts->x"), -EINVAL);
	assert_int_equal(mp__timeout_check(-3, "opts->x"), -EINVAL);
	assert_string_equal(mp__reason(-EINVAL),
			    "opts->x -3 is invalid (use seconds >= 0, or "
			    "MP_FOREVER)");
	/* Option fields: 0 and every "forever" spelling are no limit. */
	assert_true(mp__option_timeout_ns(0) == MP__NO_DEADLINE);
	assert_true(mp__option_timeout_ns(-0.0) == MP__NO_DEADLINE);
	assert_true(mp__option_timeout_ns(MP_FOREVER) == MP__NO_DEADLINE);
	assert_true(mp__option_timeout_ns(INFINITY) == MP__NO_DEADLINE);
	assert_true(mp__option_timeout_ns(2e9) == MP__NO_DEADLINE);
	assert_true(mp__option_timeout_ns(1.5) == 1500000000u);
	assert_true(mp__option_timeout_ns(1e-12) == 1);
}

static void test_err_name(void **state)
{
	(void)state;
	assert_string_equal(mp_err_name(0), "0");
	assert_string_equal(mp_err_name(MP_EOWNERDEAD), "MP_EOWNERDEAD");
	assert_string_equal(mp_err_name(MP_EEOF), "MP_EEOF");
	assert_string_equal(mp_err_name(MP_ECALLED), "MP_ECALLED");
	assert_string_equal(mp_err_name(-ETIMEDOUT), "ETIMEDOUT");
	assert_string_equal(mp_err_name(-EINVAL), "EINVAL");
	assert_string_equal(mp_err_name(-99999), "unknown");
	assert_string_equal(mp_err_name(5), "unknown");
}

static int inner(void)
{
	return mp__why(-EPROTO, "record %d is corrupt", 7);
}

static int outer_public(int recover)
{
	int rc = inner();

	if (recover)
		return 0; /* recovered: the message stays as it was */
	return MP__RAISE(rc);
}

static int outer_plain(void)
{
	return MP__RAISE(-EPIPE); /* nothing left for -EPIPE: strerror */
}

/* A message is written once, by the public function, with the reason the
 * internal layer left; a call that recovers leaves the message alone. */
static void test_reason_reaches_the_public_message(void **state)
{
	(void)state;
	MP__ERR(-EINVAL, "earlier");
	assert_int_equal(outer_public(1), 0);
	assert_string_equal(mp_last_error(), "test_reason_reaches_the_public_"
					     "message: earlier");
	assert_int_equal(outer_public(0), -EPROTO);
	assert_string_equal(mp_last_error(),
			    "outer_public: record 7 is corrupt");
	assert_int_equal(mp_last_error_code(), -EPROTO);
	/* The reason is read once; a later failure with no reason of its own
	 * does not reuse it, even with the same code. */
	assert_int_equal(MP__RAISE(-EPROTO), -EPROTO);
	assert_string_equal(mp_last_error(),
			    "test_reason_reaches_the_public_message: Protocol "
			    "error");
	assert_int_equal(outer_plain(), -EPIPE);
	assert_string_equal(mp_last_error(), "outer_plain: Broken pipe");
	/* A reason left for another code is not used. */
	inner();
	assert_int_equal(outer_plain(), -EPIPE);
	assert_string_equal(mp_last_error(), "outer_plain: Broken pipe");
}

static void test_bytes_destroy(void **state)
{
	mp_bytes_t b = {mp__strndup("abc", 3), 3};

	(void)state;
	mp_bytes_destroy(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	mp_bytes_destroy(&b); /* harmless twice */
	mp_bytes_destroy(NULL);
}

static void test_futex_timeout_and_wake(void **state)
{
	uint32_t *w = mp__arena_alloc(sizeof(*w));
	uint64_t d;
	double t0;
	pid_t pid;
	int status;

	(void)state;
	assert_non_null(w);
	/* Value differs: returns at once. */
	assert_int_equal(mp__futex_wait(w, 1, MP__NO_DEADLINE), -EAGAIN);
	/* Times out after the deadline. */
	t0 = mpt_now();
	mp__deadline(0.1, &d);
	while (mp__futex_wait(w, 0, d) != -ETIMEDOUT)
		;
	assert_true(mpt_now() - t0 >= 0.099);
	/* A child changes the word and wakes us, across processes. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		__atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
		mp__futex_wake(w, INT32_MAX);
		_exit(0);
	}
	mp__deadline(mpt_timeout(10), &d);
	while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == 0 &&
	       mp__futex_wait(w, 0, d) != -ETIMEDOUT)
		;
	assert_int_equal(*w, 1);
	status = mpt_wait(pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mp__arena_free(w);
}

static int child_allocs(void *arg)
{
	char *inherited = arg, *mine;
	int fd, fd2;
	size_t off, off2;

	/* Writes to inherited memory are seen by the parent. */
	strcpy(inherited, "from child");
	/* The child's own blocks never overlap its parent's. */
	mine = mp__arena_alloc(100);
	if (mine == NULL || mine == inherited)
		return 1;
	if (mp__arena_describe(mine, &fd, &off) != 0 ||
	    mp__arena_describe(inherited, &fd2, &off2) != 0 || fd == fd2)
		return 2;
	mp__arena_free(inherited); /* not ours: only forgotten */
	mp__arena_free(mine);
	return strcmp(inherited, "from child") == 0 ? 0 : 3;
}

static void test_shared_arena(void **state)
{
	char *a, *b, *big;
	int status, fd;
	size_t off;

	(void)state;
	a = mp__arena_alloc(100);
	b = mp__arena_alloc(5000);
	big = mp__arena_alloc(1 << 20);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(big);
	assert_int_equal((uintptr_t)a % 64, 0);
	assert_int_equal((uintptr_t)b % 64, 0);
	assert_int_equal(a[0], 0);
	assert_int_equal(big[(1 << 20) - 1], 0);
	assert_int_equal(mp__arena_describe(a, &fd, &off), 0);
	assert_true(fd >= 0);
	status = mpt_wait(mpt_fork(child_allocs, a));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(a, "from child");
	/* A freed block is reused. */
	mp__arena_free(b);
	assert_ptr_equal(mp__arena_alloc(5000), b);
	mp__arena_free(b);
	mp__arena_free(a);
	mp__arena_free(big);
	mp__arena_free(NULL);
	/* teardown: every chunk was unmapped, its memfd closed */
}

static void test_arena_many_blocks(void **state)
{
	enum { N = 5000 };
	static char *blk[N];
	int i;

	(void)state;
	for (i = 0; i < N; i++) { /* several chunks */
		blk[i] = mp__arena_alloc((size_t)(i % 700) + 1);
		assert_non_null(blk[i]);
		memset(blk[i], i & 0xff, (size_t)(i % 700) + 1);
	}
	for (i = 0; i < N; i++)
		assert_int_equal((unsigned char)blk[i][0], i & 0xff);
	for (i = 0; i < N; i++)
		mp__arena_free(blk[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_version),
		MPT(test_strerror),
		MPT(test_last_error_is_per_thread),
		MPT(test_long_message_truncated),
		MPT(test_deadline),
		MPT(test_timeout_ns),
		MPT(test_err_name),
		MPT(test_reason_reaches_the_public_message),
		MPT(test_bytes_destroy),
		MPT(test_futex_timeout_and_wake),
		MPT(test_shared_arena),
		MPT(test_arena_many_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
