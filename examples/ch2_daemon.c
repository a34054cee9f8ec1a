/* ch2_daemon - 2.3.2 Daemon processes: a daemonic child ends with its parent (even a SIGKILLed one) */
#include <mproc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pids[2]; /* the daemon reports its pid here */

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int daemon_task(void *arg)
{
	pid_t me = getpid();

	(void)arg;
	printf("daemon started, PID: %d\n", (int)me);
	fflush(stdout);
	if (write(pids[1], &me, sizeof(me)) != sizeof(me))
		return 1;
	for (int count = 1; count <= 100; count++) {
		printf("daemon running... count: %d\n", count);
		fflush(stdout);
		nap(0.2);
	}
	printf("daemon reached its maximum count\n"); /* never printed */
	return 0;
}

/* The lesson's main process: start a daemon, work a little, end. */
static int main_process(void *arg)
{
	int abrupt = (int)(long)arg;
	mp_process_t *d = mp_process_new(daemon_task, NULL,
					 &(mp_process_opts_t){.daemon = true});

	printf("main process PID: %d\n", (int)getpid());
	/* Setting daemon after start is refused, as in CPython. */
	if (d == NULL || mp_process_start(d) < 0)
		return 1;
	if (mp_process_set_daemon(d, false) < 0)
		printf("(%s)\n", mp_last_error());
	for (int i = 1; i <= 3; i++) {
		nap(0.1);
		printf("main process working... %d/3\n", i);
	}
	fflush(stdout);
	if (abrupt) {
		printf("main process is killed with SIGKILL\n");
		fflush(stdout);
		kill(getpid(), SIGKILL);
	}
	printf("main process ends - the daemon ends with it\n");
	return 0; /* at exit, live daemons are terminated */
}

/* Run one scenario; return 0 if the daemon was gone within a second. */
static int scenario(int abrupt)
{
	mp_process_t *m = mp_process_new(main_process, (void *)(long)abrupt, NULL);
	pid_t daemon_pid;
	siginfo_t si;
	int fd, gone;

	if (m == NULL || mp_process_start(m) < 0 ||
	    read(pids[0], &daemon_pid, sizeof(daemon_pid)) != sizeof(daemon_pid))
		return 1;
	fd = (int)syscall(SYS_pidfd_open, daemon_pid, 0);
	mp_process_join(m, MP_FOREVER);
	/* The daemon ends within a second of its parent. */
	gone = fd < 0 || poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1,
			      1000) == 1;
	printf("observer: daemon %d is %s\n", (int)daemon_pid,
	       gone ? "gone" : "STILL RUNNING");
	if (fd >= 0)
		close(fd);
	/* After an abrupt death, the orphaned daemon was re-parented to us. */
	while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
		;
	mp_process_free(m);
	return gone ? 0 : 1;
}

int main(void)
{
	int rc;

	if (pipe(pids) < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return 1;
	printf("-- the main process ends normally\n");
	rc = scenario(0);
	printf("-- the main process is killed (CPython's daemon would live on)\n");
	rc |= scenario(1);
	return rc;
}
