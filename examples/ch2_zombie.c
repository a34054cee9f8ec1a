/* ch2_zombie - 2.2.2 Zombie processes: finished children nobody has reaped yet */
#include <errno.h>
#include <mproc.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

static int go[2]; /* the children finish once all three have started */

static int zombie_child(void *arg)
{
	char c;

	printf("child %d started, PID: %d; about to finish...\n",
	       (int)(long)arg, (int)getpid());
	fflush(stdout);
	/* As in CPython, start() reaps children that have already ended, so
	 * finish only after the last start. */
	return read(go[0], &c, 1) == 1 ? 0 : 1;
}

int main(void)
{
	mp_process_t *p[3];
	struct pollfd pfd[3];
	mp_proc_status_t st;
	int i;

	printf("main process PID: %d\n", (int)getpid());
	if (pipe(go) < 0)
		return 1;
	for (i = 0; i < 3; i++) {
		p[i] = mp_process_new(zombie_child, (void *)(long)(i + 1), NULL);
		if (p[i] == NULL || mp_process_start(p[i]) < 0)
			return 1;
		printf("child %d started, PID %d (no join)\n", i + 1,
		       (int)mp_process_pid(p[i]));
		pfd[i] = (struct pollfd){.fd = mp_process_sentinel(p[i]),
					 .events = POLLIN};
	}
	if (write(go[1], "xxx", 3) != 3)
		return 1;
	/* Wait until all three have finished, without reaping them (the
	 * sentinel becomes readable when a child ends). */
	for (i = 0; i < 3; i++)
		if (poll(&pfd[i], 1, 10000) != 1)
			return 1;
	printf("main process carries on; its finished children are now:\n");
	for (i = 0; i < 3; i++) {
		if (mp_proc_status(mp_process_pid(p[i]), &st) < 0) {
			fprintf(stderr, "ch2_zombie: %s\n", mp_last_error());
			return 1;
		}
		printf("  PID %d state %c%s\n", (int)mp_process_pid(p[i]),
		       st.state, st.state == 'Z' ? " (zombie, <defunct> in ps)" : "");
	}
	/* active_children() reaps finished children, as in CPython. */
	printf("active children after reaping: %d\n", mp_active_children(NULL, 0));
	for (i = 0; i < 3; i++) {
		int gone = mp_proc_status(mp_process_pid(p[i]), &st) == -ESRCH;
		printf("  PID %d %s\n", (int)mp_process_pid(p[i]),
		       gone ? "is gone: reaped" : "is still there");
		mp_process_free(p[i]);
	}
	return 0;
}
