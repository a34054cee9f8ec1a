/* ch2_avoid_zombies - 2.2.3 Avoiding zombies: join every child, and a cleanup that never leaves one behind */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct task {
	const char *name;
	double duration;
};

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int worker_task(void *arg)
{
	const struct task *t = arg;

	printf("worker %s started, PID: %d\n", t->name, (int)getpid());
	fflush(stdout);
	nap(t->duration);
	printf("worker %s done\n", t->name);
	return 0;
}

/*
 * The "managed_processes" context manager of the lesson: wait for each
 * process at most `grace` seconds, terminate it if it is still running, and
 * always join (reap) it.
 */
static void cleanup_processes(mp_process_t **procs, int n, double grace)
{
	for (int i = 0; i < n; i++) {
		if (mp_process_join(procs[i], grace) == -ETIMEDOUT) {
			printf("%s did not finish in %gs: terminating it\n",
			       mp_process_name(procs[i]), grace);
			mp_process_terminate(procs[i]);
			mp_process_join(procs[i], MP_FOREVER);
		}
		mp_process_free(procs[i]);
	}
	printf("all processes cleaned up\n");
}

int main(void)
{
	struct task tasks[4] = {{"Task-1", 0.2}, {"Task-2", 0.2}, {"Task-3", 0.2},
				{"Task-stuck", 60}};
	mp_process_t *procs[4];
	mp_proc_status_t st;
	pid_t pids[4];
	int i, zombies = 0;

	for (i = 0; i < 4; i++) {
		procs[i] = mp_process_new(worker_task, &tasks[i],
					  &(mp_process_opts_t){.name = tasks[i].name});
		if (procs[i] == NULL || mp_process_start(procs[i]) < 0)
			return 1;
		pids[i] = mp_process_pid(procs[i]);
	}
	printf("all processes started, waiting for them...\n");
	cleanup_processes(procs, 4, 1.0);
	for (i = 0; i < 4; i++)
		if (mp_proc_status(pids[i], &st) == 0 && st.state == 'Z')
			zombies++;
	printf("program finished, zombies left: %d\n", zombies);
	return zombies == 0 ? 0 : 1;
}
