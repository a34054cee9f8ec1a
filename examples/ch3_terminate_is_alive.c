/* ch3_terminate_is_alive - 002 2.2.6 pid, is_alive(), terminate() and exitcode */
#include <mproc.h>
#include <stdio.h>
#include <unistd.h>

static int work(void *arg)
{
	int i = (int)(long)arg;

	if (i == 3)
		pause(); /* the one that gets terminated: wait for its signal */
	printf("child %d has pid %d, its parent is %d\n", i,
	       (int)mp_process_pid(mp_current_process()), (int)getppid());
	return 0;
}

int main(void)
{
	mp_process_t *p[5];
	int i, code;

	printf("main program starts, pid %d\n",
	       (int)mp_process_pid(mp_current_process()));
	for (i = 0; i < 5; i++) {
		p[i] = mp_process_new(work, (void *)(long)i, NULL);
		/* Not started yet: no pid (CPython prints None). */
		printf("before start: pid %d\n", (int)mp_process_pid(p[i]));
		mp_process_start(p[i]);
		if (i == 3) {
			printf("process %d is alive? %d\n", (int)mp_process_pid(p[i]),
			       mp_process_is_alive(p[i]));
			mp_process_terminate(p[i]);
			/* Right after terminate() the child may not have died yet. */
			mp_process_join(p[i], MP_FOREVER);
			printf("after terminate and join: process %d is alive? %d\n",
			       (int)mp_process_pid(p[i]), mp_process_is_alive(p[i]));
		}
	}
	for (i = 0; i < 5; i++) {
		mp_process_join(p[i], MP_FOREVER);
		mp_process_exitcode(p[i], &code);
		printf("child %d exitcode %d%s\n", i, code,
		       code < 0 ? " (killed by a signal: -SIGTERM)" : "");
		mp_process_free(p[i]);
	}
	printf("main program ends\n");
	return 0;
}
