/* ch4_signal - 4.6.1 Signals: a child tells its parent with SIGUSR1 */
#include <mproc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static int child_sender(void *arg)
{
	pid_t ppid = (pid_t)(long)arg;

	return mp_signal_send(ppid, SIGUSR1) == 0 ? 0 : 1; /* os.kill */
}

int main(void)
{
	int sigs[] = {SIGUSR1};
	pid_t sender = 0;
	mp_process_t *p;
	int sig;

	/* Block SIGUSR1 first: it is then waited for, not handled (a handler
	 * that sets a flag works too, but must be async-signal-safe). */
	mp_signal_block(sigs, 1);
	p = mp_process_new(child_sender, (void *)(long)getpid(), NULL);
	mp_process_start(p);
	sig = mp_signal_wait(sigs, 1, 5, &sender);
	if (sig > 0)
		printf("main process received signal: %d (SIGUSR1) from %d\n", sig,
		       (int)sender);
	mp_process_join(p, MP_FOREVER);
	printf("flag: %s\n", sig == SIGUSR1 ? "True" : "False");
	printf("sender was the child: %s\n",
	       sender == mp_process_pid(p) ? "yes" : "no");
	mp_process_free(p);
	return 0;
}
