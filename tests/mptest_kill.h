/*
 * mptest_kill.h - what test_pool and test_executor share to test killing a
 * running task: a task that starts a grandchild, reports both pids and
 * hangs, and a bounded wait for a pid to be gone.
 */
#ifndef MPTEST_KILL_H
#define MPTEST_KILL_H

#include "mptest.h"

#include "mproc/pool.h"
#include "mproc/process.h"

/* Start a grandchild, report {worker, grandchild} on the fd, hang. */
static inline int report_pids_and_hang(const void *in, size_t len,
				       mp_task_out_t *out)
{
	pid_t pids[2] = {getpid(), fork()};

	(void)len;
	(void)out;
	if (pids[1] == 0) {
		for (;;)
			pause();
	}
	if (write(*(const int *)in, pids, sizeof(pids)) != sizeof(pids))
		return 1;
	for (;;)
		pause();
}

/* Wait (bounded) until pid is gone or a zombie that is not the test's. */
static inline void assert_gone(pid_t pid)
{
	mp_proc_status_t st;
	double t0 = mpt_now();

	while (mp_proc_status(pid, &st) == 0 && st.state != 'Z' &&
	       mpt_now() - t0 < mpt_timeout(5))
		poll(NULL, 0, 5);
	assert_true(mp_proc_status(pid, &st) == -ESRCH || st.state == 'Z');
}

#endif
