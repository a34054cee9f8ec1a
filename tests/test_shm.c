/* test_shm.c - mp_shared_alloc, Value/Array (locked and raw) and named
 * SharedMemory segments, including cleanup after a creator is SIGKILLed. */
#include "mptest.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "mproc/shm.h"

static bool shm_exists(const char *name)
{
	char path[300];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return access(path, F_OK) == 0;
}

/* Wait (bounded) until a /dev/shm entry is gone. */
static bool gone_within(const char *name, double seconds)
{
	double t0 = mpt_now();

	while (shm_exists(name)) {
		if (mpt_now() - t0 > seconds)
			return false;
		poll(NULL, 0, 10);
	}
	return true;
}

/* ---- mp_shared_alloc ---- */

static int write_shared(void *arg)
{
	strcpy(arg, "written by the child");
	return 0;
}

static void test_shared_alloc(void **state)
{
	char *p;

	(void)state;
	assert_null(mp_shared_alloc(0));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	/* Larger than any object: no mapping is even tried. */
	assert_null(mp_shared_alloc((size_t)PTRDIFF_MAX + 1));
	assert_int_equal(mp_last_error_code(), -ENOMEM);
	assert_null(mp_shared_alloc(SIZE_MAX));
	assert_int_equal(mp_last_error_code(), -ENOMEM);
	p = mp_shared_alloc(1000);
	assert_non_null(p);
	assert_int_equal(mpt_exit_code(mpt_fork(write_shared, p)), 0);
	assert_string_equal(p, "written by the child");
	mp_shared_free(p);
	mp_shared_free(NULL);
}

/* ---- Value ---- */

static void test_value_types(void **state)
{
	static const char codes[] = "cbBhHiIlLqQfd";
	unsigned char init[8] = {7}, out[8];
	mp_value_t *v;

	(void)state;
	for (const char *c = codes; *c; c++) {
		size_t sz = mp_typecode_size(*c);

		assert_true(sz >= 1 && sz <= 8);
		v = mp_value_new(*c, init, NULL);
		assert_non_null(v);
		assert_int_equal(mp_value_typecode(v), *c);
		memset(out, 0xff, sizeof(out));
		mpt_assert_ok(mp_value_get(v, out));
		assert_memory_equal(out, init, sz);
		assert_non_null(mp_value_get_lock(v));
		mp_value_free(v);
	}
	assert_null(mp_value_new('z', NULL, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_non_null(strstr(mp_last_error(), "typecode 'z'"));
	v = mp_value_new('d', NULL, &(mp_value_opts_t){.raw = true}); /* RawValue */
	assert_null(mp_value_get_lock(v));
	assert_true(*(double *)mp_value_ptr(v) == 0.0);
	double d = 2.5;
	mpt_assert_ok(mp_value_set(v, &d));
	assert_true(*(double *)mp_value_ptr(v) == 2.5);
	mpt_assert_rc(mp_value_get(v, NULL), -EINVAL);
	mp_value_free(v);
}

enum { NPROC = 4, NINC = 1000 };

static int add_locked(void *arg)
{
	mp_value_t *v = arg;

	for (int i = 0; i < NINC; i++) {
		mp_rlock_t *l = mp_value_get_lock(v);
		if (mp_rlock_acquire(l, MP_FOREVER) != 0)
			return 1;
		int x = *(int *)mp_value_ptr(v);
		sched_yield();
		*(int *)mp_value_ptr(v) = x + 1;
		mp_rlock_release(l);
	}
	return 0;
}

static void test_value_counter_across_processes(void **state)
{
	mp_value_t *v = mp_value_new('i', NULL, NULL);
	pid_t pid[NPROC];
	int i, total;

	(void)state;
	for (i = 0; i < NPROC; i++)
		pid[i] = mpt_fork(add_locked, v);
	for (i = 0; i < NPROC; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	mpt_assert_ok(mp_value_get(v, &total));
	assert_int_equal(total, NPROC * NINC);
	mp_value_free(v);
}

/* ---- Array ---- */

static int squares(void *arg)
{
	mp_array_t *a = arg;

	for (size_t i = 0; i < mp_array_len(a); i++) {
		long x;
		if (mp_array_get(a, i, &x) != 0)
			return 1;
		x *= x;
		if (mp_array_set(a, i, &x) != 0)
			return 2;
	}
	return 0;
}

static void test_array(void **state)
{
	long init[5] = {1, 2, 3, 4, 5}, x;
	mp_array_t *a = mp_array_new('l', 5, init, NULL);

	(void)state;
	assert_non_null(a);
	assert_int_equal(mp_array_len(a), 5);
	assert_int_equal(mp_array_typecode(a), 'l');
	assert_int_equal(mpt_exit_code(mpt_fork(squares, a)), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(((long *)mp_array_ptr(a))[i], init[i] * init[i]);
	mpt_assert_rc(mp_array_get(a, 5, &x), -ERANGE);
	mpt_assert_rc(mp_array_set(a, 99, &x), -ERANGE);
	assert_non_null(mp_array_get_lock(a));
	mp_array_free(a);
	a = mp_array_new('c', 10, NULL, &(mp_value_opts_t){.raw = true});
	assert_null(mp_array_get_lock(a));
	assert_int_equal(((char *)mp_array_ptr(a))[9], 0);
	mp_array_free(a);
	assert_null(mp_array_new('i', 0, NULL, NULL));
	assert_null(mp_array_new('i', SIZE_MAX / 2, NULL, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL); /* size overflows */
	/* Out of shared memory: -ENOMEM, whatever errno the mapping left. */
	assert_null(mp_array_new('c', (size_t)PTRDIFF_MAX, NULL, NULL));
	assert_int_equal(mp_last_error_code(), -ENOMEM);
	assert_non_null(strstr(mp_last_error(), "mp_array_new: cannot map "));
	assert_non_null(strstr(mp_last_error(), " bytes of shared memory: "));
	assert_null(mp_shared_alloc((size_t)PTRDIFF_MAX + 1));
	assert_non_null(strstr(mp_last_error(), "mp_shared_alloc: cannot map "));
}

/* ---- a Value's or Array's lock owner dies ---- */

/* Take the object's lock and end without releasing it. */
static int take_lock_and_exit(void *arg)
{
	_exit(mp_rlock_acquire(arg, MP_FOREVER) == 0 ? 0 : 1);
}

/* The exact message of the first get after the death, then of the next one
 * (the lock is still not marked consistent); then repair it. */
static void check_dead_owner(const char *func, mp_rlock_t *lock,
			     int (*get)(void *obj, void *out), void *obj)
{
	char want[200];
	pid_t pid;
	int out = -1;

	pid = mpt_fork(take_lock_and_exit, lock);
	assert_int_equal(mpt_exit_code(pid), 0);
	mpt_assert_rc(get(obj, &out), MP_EOWNERDEAD);
	assert_int_equal(out, 42); /* the copy was made */
	snprintf(want, sizeof(want),
		 "%s: the previous owner (pid %d, thread %d) died holding the "
		 "lock; the lock is yours",
		 func, (int)pid, (int)pid);
	assert_string_equal(mp_last_error(), want);
	assert_int_equal(mp_last_error_code(), MP_EOWNERDEAD);
	mpt_assert_rc(get(obj, &out), MP_EOWNERDEAD);
	snprintf(want, sizeof(want),
		 "%s: an owner died holding the lock and its state was not "
		 "marked consistent; the lock is yours",
		 func);
	assert_string_equal(mp_last_error(), want);
	assert_int_equal(mp_rlock_count(lock), 0); /* released after the copy */
	mpt_assert_rc(mp_rlock_acquire(lock, 0), MP_EOWNERDEAD);
	mpt_assert_ok(mp_rlock_consistent(lock));
	mpt_assert_ok(mp_rlock_release(lock));
	out = -1;
	mpt_assert_ok(get(obj, &out));
	assert_int_equal(out, 42);
}

static int value_get(void *obj, void *out)
{
	return mp_value_get(obj, out);
}

static int array_get(void *obj, void *out)
{
	return mp_array_get(obj, 2, out);
}

static void test_get_with_dead_lock_owner_message(void **state)
{
	mp_value_t *v = mp_value_new('i', &(int){42}, NULL);
	mp_array_t *a = mp_array_new('i', 3, (int[]){0, 0, 42}, NULL);

	(void)state;
	assert_non_null(v);
	assert_non_null(a);
	check_dead_owner("mp_value_get", mp_value_get_lock(v), value_get, v);
	check_dead_owner("mp_array_get", mp_array_get_lock(a), array_get, a);
	mp_value_free(v);
	mp_array_free(a);
}

/* ---- SharedMemory ---- */

static char seg_name[64];

static int attach_and_write(void *arg)
{
	mp_shm_t *s = mp_shm_attach(arg);

	if (s == NULL || mp_shm_size(s) != 4096)
		return 1;
	memcpy(mp_shm_buf(s), "hello from the child", 21);
	mp_shm_free(s);
	return 0;
}

static void test_shm_create_attach_unlink(void **state)
{
	mp_shm_t *s, *t;

	(void)state;
	snprintf(seg_name, sizeof(seg_name), "mptest_%d", (int)getpid());
	s = mp_shm_create(seg_name, 4096, NULL);
	assert_non_null(s);
	assert_string_equal(mp_shm_name(s), seg_name);
	assert_int_equal(mp_shm_size(s), 4096);
	assert_true(shm_exists(seg_name));
	assert_int_equal(((char *)mp_shm_buf(s))[4095], 0);
	assert_int_equal(mpt_exit_code(mpt_fork(attach_and_write, seg_name)),
			 0);
	assert_string_equal(mp_shm_buf(s), "hello from the child");
	/* Same name again: taken.  A second handle by attach sees the data. */
	assert_null(mp_shm_create(seg_name, 10, NULL));
	assert_int_equal(mp_last_error_code(), -EEXIST);
	t = mp_shm_attach(seg_name);
	assert_non_null(t);
	assert_string_equal(mp_shm_buf(t), "hello from the child");
	mpt_assert_ok(mp_shm_unlink(s));
	assert_false(shm_exists(seg_name));
	mpt_assert_rc(mp_shm_unlink(t), -ENOENT);
	assert_string_equal(mp_shm_buf(t), "hello from the child"); /* mapped */
	mp_shm_free(t);
	mp_shm_free(s);
}

/* Is a mapping of /dev/shm/<name> in this process? */
static bool mapped(const char *name)
{
	char line[512], want[300];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	assert_non_null(f);
	snprintf(want, sizeof(want), "/dev/shm/%s", name);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *end = strstr(line, want);

		found = end != NULL && (end[strlen(want)] == '\n' ||
					end[strlen(want)] == ' ');
	}
	fclose(f);
	return found;
}

/* CPython's order: close() then unlink(); the handle outlives close. */
static void test_shm_close_then_unlink_then_free(void **state)
{
	char name[64];
	mp_shm_t *s;

	(void)state;
	snprintf(name, sizeof(name), "mptest_close_%d", (int)getpid());
	s = mp_shm_create(name, 8192, NULL);
	assert_non_null(s);
	assert_true(mapped(name));
	mpt_assert_ok(mp_shm_close(s));
	assert_false(mapped(name));
	assert_null(mp_shm_buf(s));
	assert_string_equal(mp_shm_name(s), name);
	assert_int_equal(mp_shm_size(s), 8192);
	mpt_assert_ok(mp_shm_close(s)); /* idempotent */
	assert_true(shm_exists(name));  /* close never unlinks */
	mpt_assert_ok(mp_shm_unlink(s));
	assert_false(shm_exists(name));
	mpt_assert_rc(mp_shm_unlink(s), -ENOENT);
	mp_shm_free(s);
	mp_shm_free(NULL);
	mpt_assert_rc(mp_shm_close(NULL), -EINVAL);
}

static void test_shm_unlink_then_close_and_free_without_close(void **state)
{
	char name[64];
	mp_shm_t *s, *t;

	(void)state;
	snprintf(name, sizeof(name), "mptest_unl_%d", (int)getpid());
	s = mp_shm_create(name, 100, NULL);
	assert_non_null(s);
	strcpy(mp_shm_buf(s), "still mapped");
	mpt_assert_ok(mp_shm_unlink(s));
	assert_false(shm_exists(name));
	assert_string_equal(mp_shm_buf(s), "still mapped");
	mpt_assert_ok(mp_shm_close(s));
	mpt_assert_ok(mp_shm_close(s));
	mp_shm_free(s);
	/* free implies close, and never unlinks. */
	s = mp_shm_create(name, 100, NULL);
	assert_non_null(s);
	strcpy(mp_shm_buf(s), "kept");
	mp_shm_free(s);
	assert_false(mapped(name));
	assert_true(shm_exists(name));
	t = mp_shm_attach(name);
	assert_non_null(t);
	assert_string_equal(mp_shm_buf(t), "kept");
	mpt_assert_ok(mp_shm_unlink(t));
	mp_shm_free(t);
}

static void test_shm_errors_and_auto_name(void **state)
{
	mp_shm_t *s;

	(void)state;
	assert_null(mp_shm_attach("mproc_no_such_segment"));
	assert_int_equal(mp_last_error_code(), -ENOENT);
	assert_null(mp_shm_create("x", 0, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_shm_create("a/b", 10, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_shm_create("", 10, NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_shm_attach(NULL));
	s = mp_shm_create(NULL, 100, NULL);
	assert_non_null(s);
	assert_int_equal(strlen(mp_shm_name(s)), 12);
	assert_int_equal(strncmp(mp_shm_name(s), "psm_", 4), 0);
	assert_true(mp_shm_size(s) >= 100);
	mpt_assert_ok(mp_shm_unlink(s));
	mp_shm_free(s);
}

static int create_then_die(void *arg)
{
	mp_shm_t *s = mp_shm_create(arg, 1 << 20, NULL);
	char c = 0;

	if (s == NULL)
		return 1;
	memset(mp_shm_buf(s), 1, 1 << 20);
	if (write(STDOUT_FILENO, &c, 0) < 0) /* (keeps the compiler honest) */
		return 2;
	raise(SIGKILL); /* never unlinks, never closes */
	return 3;
}

static int create_then_exit(void *arg)
{
	return mp_shm_create(arg, 100, NULL) == NULL; /* exits without unlink */
}

static void test_shm_creator_killed_leaves_no_segment(void **state)
{
	char name[64];

	(void)state;
	snprintf(name, sizeof(name), "mptest_crash_%d", (int)getpid());
	assert_int_equal(mpt_exit_code(mpt_fork(create_then_die, name)),
			 128 + SIGKILL);
	assert_true(gone_within(name, mpt_timeout(5)));
	snprintf(name, sizeof(name), "mptest_exit_%d", (int)getpid());
	assert_int_equal(mpt_exit_code(mpt_fork(create_then_exit, name)), 0);
	assert_true(gone_within(name, mpt_timeout(5)));
}

static int create_untracked(void *arg)
{
	return mp_shm_create(arg, 100, &(mp_shm_opts_t){.untracked = true}) == NULL;
}

static void test_shm_untracked_survives_creator(void **state)
{
	char name[64];
	mp_shm_t *s;

	(void)state;
	snprintf(name, sizeof(name), "mptest_keep_%d", (int)getpid());
	assert_int_equal(mpt_exit_code(mpt_fork(create_untracked, name)), 0);
	/* Give a (wrong) tracker time to act, then check it did not. */
	poll(NULL, 0, 200);
	assert_true(shm_exists(name));
	s = mp_shm_attach(name);
	assert_non_null(s);
	mpt_assert_ok(mp_shm_unlink(s));
	mp_shm_free(s);
}

/* ---- the tracker when pidfd_open fails (EMFILE) ---- */

enum { EMFILE_KIDS = 12, EMFILE_LIMIT = 8 };

/* A creator: sends its segment's name, then holds it until `go` reaches
 * EOF (go < 0: at once) and ends without unlinking it. */
static void emfile_kid(int names, int go)
{
	char name[16] = {0};
	mp_shm_t *s = mp_shm_create(NULL, 4096, NULL);
	ssize_t n;

	if (s == NULL)
		_exit(1);
	snprintf(name, sizeof(name), "%s", mp_shm_name(s));
	if (write(names, name, sizeof(name)) != sizeof(name))
		_exit(2);
	while (go >= 0 && ((n = read(go, name, 1)) > 0 ||
			   (n < 0 && errno == EINTR)))
		;
	_exit(0);
}

/*
 * Runs in a fresh exec of this program (so no tracker is inherited): the
 * tracker starts under RLIMIT_NOFILE = EMFILE_LIMIT and cannot open a pidfd
 * for every creator.  No segment of a live creator may be unlinked, and
 * those of creators that ended must still be cleaned up.  Returns an exit
 * status (0 = pass) and says what failed on stderr.
 */
static int tracker_emfile_helper(void)
{
	char names[EMFILE_KIDS + 1][16];
	struct rlimit rl, low;
	int np[2], go[2], missing = 0;
	pid_t kid;
	mp_shm_t *mine;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 10;
	low = (struct rlimit){EMFILE_LIMIT, rl.rlim_max};
	if (setrlimit(RLIMIT_NOFILE, &low) < 0)
		return 11;
	mine = mp_shm_create(NULL, 4096, NULL); /* starts the tracker */
	if (mine == NULL || setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 12;
	if (pipe2(np, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
		return 13;
	for (int i = 0; i <= EMFILE_KIDS; i++) {
		if ((kid = fork()) < 0)
			return 14;
		if (kid == 0) {
			close(go[1]);
			/* The last one ends at once: once its segment is gone,
			 * the tracker has read every registration before it. */
			emfile_kid(np[1], i < EMFILE_KIDS ? go[0] : -1);
		}
		if (read(np[0], names[i], sizeof(names[i])) != sizeof(names[i]))
			return 15;
	}
	close(go[0]);
	if (waitpid(kid, NULL, 0) != kid) /* reaped: kill(pid, 0) fails */
		return 16;
	if (!gone_within(names[EMFILE_KIDS], mpt_timeout(10))) {
		fprintf(stderr, "%s of an ended creator was kept\n",
			names[EMFILE_KIDS]);
		return 17;
	}
	for (int i = 0; i < EMFILE_KIDS; i++)
		if (!shm_exists(names[i])) {
			fprintf(stderr, "%s unlinked while its creator lives\n",
				names[i]);
			missing++;
		}
	close(go[1]); /* the creators end without unlinking */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	for (int i = 0; i < EMFILE_KIDS; i++)
		if (!gone_within(names[i], mpt_timeout(10))) {
			fprintf(stderr, "%s kept after its creator ended\n",
				names[i]);
			return 18;
		}
	mp_shm_unlink(mine);
	mp_shm_free(mine);
	return missing ? 20 : 0;
}

/*
 * The helper's (and so its tracker's) stderr is a pipe: the tracker, which
 * falls back to watching pids when pidfd_open fails, must write nothing
 * there (the library never writes to stderr).  EOF comes when every holder
 * of the write end is gone: the helper, its creators, and the tracker,
 * which ends with its last creator.
 */
static void test_tracker_pidfd_emfile_keeps_live_segments(void **state)
{
	char out[4096];
	size_t have = 0;
	int err[2];
	ssize_t n;
	pid_t pid;
	double t0;

	(void)state;
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dup2(err[1], STDERR_FILENO);
		execl(mpt_self_exe(), "test_shm", "--tracker-emfile",
		      (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	close(err[1]);
	t0 = mpt_now();
	for (;;) {
		struct pollfd pfd = {.fd = err[0], .events = POLLIN};
		int left = (int)((mpt_timeout(30) - (mpt_now() - t0)) * 1000);

		assert_true(left > 0);
		if (poll(&pfd, 1, left) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		n = read(err[0], out + have, sizeof(out) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0 || (have += (size_t)n) == sizeof(out) - 1)
			break;
	}
	close(err[0]);
	out[have] = '\0';
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_string_equal(out, "");
}

/* The tracker keeps one fd open for the rest of the process: start it
 * before the per-test fd snapshots. */
static int start_tracker(void **state)
{
	mp_shm_t *s = mp_shm_create(NULL, 1, NULL);

	(void)state;
	if (s == NULL)
		return -1;
	mp_shm_unlink(s);
	mp_shm_free(s);
	return 0;
}

/* A thread that registers and unregisters segments with the tracker
 * (taking its lock) until told to stop. */
static void *churn_segments(void *arg)
{
	int *stop = arg;
	char name[64];
	mp_shm_t *s;

	snprintf(name, sizeof(name), "mptest_churn_%d", (int)getpid());
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		if ((s = mp_shm_create(name, 64, NULL)) == NULL)
			return (void *)1;
		mp_shm_unlink(s);
		mp_shm_free(s);
	}
	return NULL;
}

static int create_in_child(void *arg)
{
	char name[64];
	mp_shm_t *s;

	(void)arg;
	alarm(10); /* a tracker lock inherited held would hang here */
	snprintf(name, sizeof(name), "mptest_forked_%d", (int)getpid());
	if ((s = mp_shm_create(name, 64, NULL)) == NULL)
		return 1;
	mp_shm_unlink(s);
	mp_shm_free(s);
	return 0;
}

/* fork while another thread is inside the tracker's lock: the child must
 * not inherit the lock held by a thread that does not exist there. */
static void test_fork_while_a_thread_registers(void **state)
{
	int stop = 0, trials = MPT_EXIT_TRIALS;
	pthread_t t;
	void *ret;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, churn_segments, &stop), 0);
	for (int i = 0; i < trials; i++)
		assert_int_equal(mpt_exit_code(mpt_fork(create_in_child, NULL)),
				 0);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, &ret);
	assert_null(ret);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		MPT(test_shared_alloc),
		MPT(test_value_types),
		MPT(test_value_counter_across_processes),
		MPT(test_array),
		MPT(test_get_with_dead_lock_owner_message),
		MPT(test_shm_create_attach_unlink),
		MPT(test_shm_close_then_unlink_then_free),
		MPT(test_shm_unlink_then_close_and_free_without_close),
		MPT(test_shm_errors_and_auto_name),
		MPT(test_shm_creator_killed_leaves_no_segment),
		MPT(test_shm_untracked_survives_creator),
		MPT(test_tracker_pidfd_emfile_keeps_live_segments),
		MPT(test_fork_while_a_thread_registers),
	};

	if (argc == 2 && strcmp(argv[1], "--tracker-emfile") == 0)
		return tracker_emfile_helper();

	return cmocka_run_group_tests(tests, start_tracker, NULL);
}
