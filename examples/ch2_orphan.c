/* ch2_orphan - 2.1.2 Orphan processes: the parent dies first and the child is adopted */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report[2]; /* the orphan tells this program what it saw */

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int child_task(void *arg)
{
	pid_t first = getppid(), now = first;
	int i;

	(void)arg;
	printf("child started, PID=%d, parent PID=%d\n", (int)getpid(), (int)first);
	fflush(stdout);
	/* Watch the parent pid for up to 5 seconds. */
	for (i = 0; i < 100 && now == first; i++) {
		nap(0.05);
		now = getppid();
	}
	if (now == first) {
		printf("child: still not adopted after 5 s\n");
		return 1;
	}
	printf("child: my parent %d is gone; adopted by PID %d -> I am an orphan\n",
	       (int)first, (int)now);
	fflush(stdout);
	if (write(report[1], &now, sizeof(now)) != sizeof(now))
		return 1;
	return 0;
}

/* The "main process" of the lesson: starts the child, then dies at once. */
static int main_process(void *arg)
{
	mp_process_t *p = mp_process_new(child_task, NULL, NULL);

	(void)arg;
	printf("main process PID=%d\n", (int)getpid());
	if (p == NULL || mp_process_start(p) < 0)
		return 1;
	nap(0.3);
	printf("main process exits abruptly (os._exit)\n");
	fflush(stdout);
	_exit(0); /* no join: the child is orphaned */
}

int main(void)
{
	mp_process_t *m;
	pid_t adopter = 0;
	siginfo_t si;

	/* Real systems hand orphans to init or a "subreaper" (systemd --user);
	 * this program makes itself the subreaper so it can reap the orphan. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || pipe(report) < 0)
		return 1;
	m = mp_process_new(main_process, NULL, NULL);
	if (m == NULL || mp_process_start(m) < 0 ||
	    mp_process_join(m, 10) < 0)
		return 1;
	if (read(report[0], &adopter, sizeof(adopter)) != sizeof(adopter))
		return 1;
	printf("observer (PID %d): the orphan was adopted by %s\n", (int)getpid(),
	       adopter == getpid() ? "me, the subreaper" : "another process");
	/* The adopter reaps the orphan, so it never stays a zombie. */
	while (waitid(P_ALL, 0, &si, WEXITED) == 0)
		printf("observer: reaped orphan PID %d, exit status %d\n",
		       (int)si.si_pid, si.si_status);
	mp_process_free(m);
	return errno == ECHILD ? 0 : 1;
}
