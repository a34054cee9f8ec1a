/* test_signal.c - sending signals and waiting for them with a timeout. */
#include "mptest.h"

#include <signal.h>

#include "mproc/signal.h"

static int notify_parent(void *arg)
{
	(void)arg;
	return mp_signal_send(getppid(), SIGUSR1) == 0 ? 0 : 1;
}

static void test_child_signals_parent(void **state)
{
	int sigs[] = {SIGUSR1, SIGUSR2};
	pid_t pid, sender = 0;
	int status;

	(void)state;
	mpt_assert_ok(mp_signal_block(sigs, 2)); /* before the child can send */
	pid = mpt_fork(notify_parent, NULL);
	assert_int_equal(mp_signal_wait(sigs, 2, mpt_timeout(10), &sender), SIGUSR1);
	assert_int_equal(sender, pid);
	status = mpt_wait(pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mpt_assert_ok(mp_signal_unblock(sigs, 2));
}

static void test_wait_timeout_and_errors(void **state)
{
	int sigs[] = {SIGUSR2};
	double t0 = mpt_now();

	(void)state;
	mpt_assert_rc(mp_signal_wait(sigs, 1, 0.1, NULL), -ETIMEDOUT);
	assert_true(mpt_now() - t0 >= 0.09);
	/* A signal already pending is returned at once. */
	mpt_assert_ok(mp_signal_send(getpid(), SIGUSR2));
	assert_int_equal(mp_signal_wait(sigs, 1, 0, NULL), SIGUSR2);
	mpt_assert_ok(mp_signal_unblock(sigs, 1));
	mpt_assert_rc(mp_signal_send(getpid(), 999), -EINVAL);
	mpt_assert_rc(mp_signal_send(0, SIGUSR1), -EINVAL);
	mpt_assert_rc(mp_signal_send(0x3fffffff, 0), -ESRCH);
	mpt_assert_rc(mp_signal_block((int[]){SIGKILL}, 1), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_signal_block: signal 9 "
			    "cannot be blocked or waited for");
	mpt_assert_rc(mp_signal_wait(sigs, 0, 1, NULL), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_signal_wait: no signals given");
	mpt_assert_rc(mp_signal_unblock((int[]){0}, 1), -EINVAL);
	assert_string_equal(mp_last_error(), "mp_signal_unblock: signal 0 "
			    "cannot be blocked or waited for");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_child_signals_parent),
		MPT(test_wait_timeout_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
