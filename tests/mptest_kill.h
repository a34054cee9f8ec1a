/*
 * mptest_kill.h - what test_pool, test_executor and test_subprocess share
 * to test killing a running task: a task that starts a grandchild, reports
 * both pids and hangs, and a bounded wait for a pid to be gone.
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

/* Wait (bounded) until pid is gone: no such process, a zombie (not
 * reaped yet: the test's, or a worker's before the pool reaps it), or
 * being reaped (state X, between the reap and /proc's entry going).  One
 * read of /proc per look, so that the verdict is about what was seen. */
static inline void assert_gone(pid_t pid)
{
	mp_proc_status_t st;
	double t0 = mpt_now();
	int rc;

	for (;;) {
		rc = mp_proc_status(pid, &st);
		if (rc == -ESRCH || (rc == 0 && (st.state == 'Z' || st.state == 'X')))
			return;
		if (mpt_now() - t0 >= mpt_timeout(5))
			break;
		poll(NULL, 0, 5);
	}
	if (rc < 0)
		fail_msg("pid %d: mp_proc_status: %d", (int)pid, rc);
	fail_msg("pid %d (%s, parent %d) is still there after %.1f s: state %c",
		 (int)pid, st.name, (int)st.ppid, mpt_now() - t0, st.state);
}

#endif
