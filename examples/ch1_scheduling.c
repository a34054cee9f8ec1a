/* ch1_scheduling - 1.4 Process states and scheduling: nice, CPU affinity and scheduling policy of a child */
#include <mproc.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static int report(void *arg)
{
	struct sched_param sp;
	cpu_set_t set;
	mp_proc_status_t st;
	int policy = sched_getscheduler(0);
	const char *names[] = {"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",
			       "SCHED_BATCH", "?", "SCHED_IDLE"};

	sched_getparam(0, &sp);
	sched_getaffinity(0, sizeof(set), &set);
	mp_proc_status(getpid(), &st);
	printf("  %s: state %c, nice %d, policy %s, priority %d, runs on %d CPU(s)%s\n",
	       (const char *)arg, st.state, getpriority(PRIO_PROCESS, 0),
	       policy >= 0 && policy <= 5 ? names[policy] : "?",
	       sp.sched_priority, CPU_COUNT(&set),
	       CPU_ISSET(0, &set) && CPU_COUNT(&set) == 1 ? " (CPU 0)" : "");
	return 0;
}

static void run(const char *what, const mp_process_opts_t *o)
{
	mp_process_t *p = mp_process_new(report, (void *)what, o);

	if (p == NULL) {
		printf("  %s: %s\n", what, mp_last_error());
		return;
	}
	if (mp_process_start(p) < 0)
		/* Not permitted here: a clear error, never a silent fallback. */
		printf("  %s: cannot start: %s\n", what, mp_last_error());
	else
		mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
}

int main(void)
{
	printf("usable CPUs (affinity and cgroup quota): %d\n", mp_cpu_count());
	printf("children started with different scheduling settings:\n");
	run("default", NULL);
	run("nice +10", &(mp_process_opts_t){.nice = 10});
	run("pinned to CPU 0",
	    &(mp_process_opts_t){.affinity = (int[]){0}, .naffinity = 1});
	run("batch", &(mp_process_opts_t){.policy = MP_SCHED_BATCH});
	run("idle", &(mp_process_opts_t){.policy = MP_SCHED_IDLE});
	run("real-time FIFO 10",
	    &(mp_process_opts_t){.policy = MP_SCHED_FIFO, .priority = 10});
	run("real-time RR 5",
	    &(mp_process_opts_t){.policy = MP_SCHED_RR, .priority = 5});
	run("bad priority",
	    &(mp_process_opts_t){.policy = MP_SCHED_OTHER, .priority = 5});
	return 0;
}
