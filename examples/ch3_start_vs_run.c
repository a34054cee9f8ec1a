/* ch3_start_vs_run - 002 2.1 start() runs the target in a new process, run() in the caller */
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static pid_t main_pid;

static int worker(void *arg)
{
	int num = (int)(long)arg;

	printf("worker %d runs in process %d (%s)\n", num, (int)getpid(),
	       getpid() == main_pid ? "the main process" : "a new process");
	fflush(stdout);
	nap(0.2);
	printf("worker %d done\n", num);
	return 0;
}

static void use_start(void)
{
	mp_process_t *p[3];
	int i;

	printf("main process: %d\n", (int)getpid());
	for (i = 0; i < 3; i++) {
		p[i] = mp_process_new(worker, (void *)(long)i, NULL);
		mp_process_start(p[i]); /* a new process, asynchronous */
	}
	printf("all processes started, main process carries on...\n");
	for (i = 0; i < 3; i++) {
		mp_process_join(p[i], MP_FOREVER);
		mp_process_free(p[i]);
	}
	printf("all children have ended\n");
}

static void use_run(void)
{
	mp_process_t *p1 = mp_process_new(worker, (void *)1L, NULL);
	mp_process_t *p2 = mp_process_new(worker, (void *)2L, NULL);

	printf("current process: %d\n", (int)getpid());
	mp_process_run(p1); /* synchronous, no new process */
	printf("run() finished, main process carries on...\n");
	mp_process_run(p2);
	printf("all run() calls done\n");
	mp_process_free(p1);
	mp_process_free(p2);
}

static void common_mistakes(void)
{
	mp_process_t *p = mp_process_new(worker, (void *)7L, NULL);

	/* Mistake 1: start() twice. */
	mp_process_start(p);
	if (mp_process_start(p) < 0)
		printf("second start(): %s\n", mp_last_error());
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	/* Mistake 2: run() then start(): allowed, but the work runs twice. */
	p = mp_process_new(worker, (void *)8L, NULL);
	mp_process_run(p);
	mp_process_start(p);
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
}

int main(void)
{
	main_pid = getpid();
	printf("==================================================\n");
	printf("with start():\n");
	use_start();
	printf("\n==================================================\n");
	printf("with run():\n");
	use_run();
	printf("\n==================================================\n");
	printf("common mistakes:\n");
	common_mistakes();
	return 0;
}
