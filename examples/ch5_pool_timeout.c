/* ch5_pool_timeout - 004 2.3.4.3 timeouts: get(timeout) then terminate(); and mproc's per-task timeout, which kills what the task started too */
#include <errno.h>
#include <mproc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pid_t *grandchild; /* shared memory: the pid a task started */

/* slow_function(x): sleep x seconds, return x */
static int slow_function(const void *in, size_t len, mp_task_out_t *out)
{
	double x;
	struct timespec t;

	if (len != sizeof(x))
		return mp_task_fail(out, "want a double");
	memcpy(&x, in, sizeof(x));
	t.tv_sec = (time_t)x;
	t.tv_nsec = (long)((x - (double)t.tv_sec) * 1e9);
	nanosleep(&t, NULL);
	return mp_task_return(out, &x, sizeof(x));
}

/* A task that starts a process of its own and then hangs. */
static int hang_with_child(const void *in, size_t len, mp_task_out_t *out)
{
	pid_t pid = fork();

	(void)in;
	(void)len;
	if (pid < 0)
		return mp_task_fail(out, "fork: %s", strerror(errno));
	if (pid == 0) {
		pause();
		_exit(0);
	}
	*grandchild = pid;
	pause();
	return 0;
}

/* Gone, or a zombie waiting for init to reap it: either way, dead. */
static int dead(pid_t pid)
{
	mp_proc_status_t st;

	for (int i = 0; i < 100; i++) {
		if (mp_proc_status(pid, &st) == -ESRCH || st.state == 'Z')
			return 1;
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	return 0;
}

int main(void)
{
	double ten = 10, quick = 0.01;
	mp_async_result_t *r;
	mp_pool_t *pool;
	mp_bytes_t buf;
	int rc;

	/* CPython's way: stop waiting after a while, then terminate the pool. */
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 2});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	r = mp_pool_apply_async(pool, slow_function, &ten, sizeof(ten), NULL);
	if (r == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	rc = mp_async_result_get(r, 0.3, NULL); /* get(timeout=0.3) */
	if (rc == -ETIMEDOUT) {
		printf("Task timed out! (ready: %d)\n", mp_async_result_ready(r));
		if (mp_pool_terminate(pool) < 0) /* stop it by force */
			return fprintf(stderr, "%s\n", mp_last_error()), 1;
	}
	rc = mp_async_result_get(r, MP_FOREVER, NULL);
	printf("after terminate, get: %s\n", mp_strerror(rc));
	mp_async_result_free(r);
	mp_pool_free(pool);

	/* mproc's way: a timeout per task.  The overrunning task fails, its
	 * worker's process group (its own children too) is killed, and a fresh
	 * worker takes its place. */
	grandchild = mp_shared_alloc(sizeof(*grandchild));
	if (grandchild == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 2, .task_timeout = 0.3});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	rc = mp_pool_apply(pool, hang_with_child, NULL, 0, &buf);
	printf("hanging task: %s (%s)\n", mp_strerror(rc), mp_last_error());
	printf("the process it started is dead: %s\n",
	       *grandchild > 0 && dead(*grandchild) ? "yes" : "no");
	rc = mp_pool_apply(pool, slow_function, &quick, sizeof(quick), &buf);
	if (rc < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	printf("the pool goes on: slow_function(%g) = %g\n", quick, *(double *)buf.data);
	mp_bytes_destroy(&buf);
	mp_pool_free(pool);
	mp_shared_free(grandchild);
	return 0;
}
