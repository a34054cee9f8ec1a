/* ch5_executor_futures - 004 2.3.1.3 futures beyond as_completed: wait(FIRST_COMPLETED), cancel, add_done_callback */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* nap(s): sleep s seconds, return s */
static int nap(const void *in, size_t len, mp_task_out_t *out)
{
	double s;
	struct timespec t;

	if (len != sizeof(s))
		return mp_task_fail(out, "want a double");
	memcpy(&s, in, sizeof(s));
	t.tv_sec = (time_t)s;
	t.tv_nsec = (long)((s - (double)t.tv_sec) * 1e9);
	nanosleep(&t, NULL);
	return mp_task_return(out, &s, sizeof(s));
}

/* Runs once the future is done: in the executor's thread, or at once. */
static void report(mp_future_t *f, void *arg)
{
	const mp_bytes_t *out;

	if (mp_future_result(f, 0, &out) == 0)
		printf("callback (%s): nap(%g) finished\n", (const char *)arg,
		       *(const double *)out->data);
	else
		printf("callback (%s): %s\n", (const char *)arg, mp_last_error());
	fflush(stdout);
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, mp_last_error());
	return 1;
}

int main(void)
{
	double secs[4] = {0.05, 0.3, 0.3, 0.3};
	mp_future_t *f[4], *fs[3];
	mp_executor_t *ex;
	int n;

	ex = mp_executor_new(&(mp_executor_opts_t){.max_workers = 2});
	if (ex == NULL)
		return fail("executor");
	for (int i = 0; i < 4; i++)
		if ((f[i] = mp_executor_submit(ex, nap, &secs[i], sizeof(double))) == NULL)
			return fail("submit");

	/* Two workers, four tasks: the last one waits, so it can be cancelled. */
	n = mp_future_cancel(f[3]);
	printf("cancel the queued nap: %d, cancelled: %d\n", n,
	       mp_future_cancelled(f[3]));
	if (mp_future_add_done_callback(f[2], report, "later") < 0)
		return fail("add_done_callback");

	/* done, not_done = wait(fs, return_when=FIRST_COMPLETED) */
	memcpy(fs, f, sizeof(fs));
	n = mp_futures_wait(fs, 3, MP_FOREVER, MP_FIRST_COMPLETED);
	if (n < 0)
		return fail("wait");
	printf("first completed: %d done, %d not done, the done one is nap(%g)\n",
	       n, 3 - n, fs[0] == f[0] ? secs[0] : -1.0);
	n = mp_future_cancel(f[1]);
	printf("cancel a running nap: %d (running: %d)\n", n,
	       mp_future_running(f[1]));

	/* Already done: the callback runs at once, in this thread. */
	if (mp_future_add_done_callback(f[0], report, "at once") < 0)
		return fail("add_done_callback");

	if ((n = mp_futures_wait(f, 4, MP_FOREVER, MP_ALL_COMPLETED)) < 0)
		return fail("wait");
	printf("all completed: %d of 4 done\n", n);
	printf("the cancelled one: %s\n",
	       mp_future_result(f[3], 0, NULL) == MP_ECANCELLED ?
	       "MP_ECANCELLED" : "?");
	if (mp_executor_shutdown(ex, 0) < 0)
		return fail("shutdown");
	for (int i = 0; i < 4; i++)
		mp_future_free(f[i]);
	mp_executor_free(ex);
	return 0;
}
