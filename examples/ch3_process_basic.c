/* ch3_process_basic - 3.2.1 multiprocessing.Process: start a child, do other work, join it */
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct job {
	const char *name;
	int duration;
};

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int worker_task(void *arg)
{
	const struct job *j = arg;

	printf("process %s starts working, PID: %d\n", j->name, (int)getpid());
	for (int i = 0; i < j->duration; i++) {
		nap(0.1);
		printf("process %s working... %d/%d\n", j->name, i + 1, j->duration);
	}
	printf("process %s finished\n", j->name);
	return 0;
}

int main(void)
{
	struct job job = {"Worker-1", 3};
	mp_process_t *p;
	int code = -1;

	printf("main process PID: %d\n", (int)getpid());
	p = mp_process_new(worker_task, &job, NULL);
	printf("starting the child...\n");
	if (p == NULL || mp_process_start(p) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	printf("main process carries on with other work\n");
	nap(0.1);
	printf("waiting for the child to finish...\n");
	mp_process_join(p, MP_FOREVER);
	mp_process_exitcode(p, &code);
	printf("all done (child exit code %d)\n", code);
	mp_process_free(p);
	return 0;
}
