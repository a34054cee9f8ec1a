/* ch1_pid_ppid - 1.3.1 Process identifiers: the pid and ppid of a process and of its child */
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int child(void *arg)
{
	(void)arg;
	/* current_process().pid and os.getpid() agree. */
	printf("child: pid %d (current_process: %d), parent pid %d\n",
	       (int)getpid(), (int)mp_process_pid(mp_current_process()),
	       (int)getppid());
	return 0;
}

int main(void)
{
	mp_process_t *p;

	printf("current process PID: %d\n", (int)getpid());
	printf("parent process PID: %d\n", (int)getppid());
	for (int i = 0; i < 3; i++) {
		nap(0.1);
		printf("tick %d - process %d is running\n", i + 1, (int)getpid());
	}
	p = mp_process_new(child, NULL, NULL);
	if (p == NULL || mp_process_start(p) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	mp_process_join(p, MP_FOREVER);
	printf("main: my child was %d, and its parent was me (%d)\n",
	       (int)mp_process_pid(p), (int)getpid());
	mp_process_free(p);
	return 0;
}
