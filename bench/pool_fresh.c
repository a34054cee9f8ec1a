/* pool_fresh.c - bench_pool's pool_fresh_process_tasks_per_s: a pool of
 * 2 workers with maxtasksperchild=1 (every task on a new worker) over
 * N_FRESH tiny tasks; mproc= through forkserver, fork= through fork,
 * beside CPython's Pool doing the same (cpython= forkserver, cpython_fork=
 * fork).  baseline=: two processes each looping fork() + _exit(0) +
 * waitpid(), the floor of "one new process per task" on two workers,
 * forked from this process while small (see helper_start).  bare_fs=: the bare floor of the server design, no library (see
 * bare_rate): a small server forked at the start clones each task's
 * process for the program, which sends the task through one shared memfd
 * and reaps.  bare_heir=: the bare floor of heirs (see bare_heir_rate):
 * each task's process forked by the one before it.  mproc_cpu_us=,
 * baseline_cpu_us=, bare_fs_cpu_us= and bare_heir_cpu_us=: the
 * CPU time per task of the whole (this process's threads, the reaped
 * workers or loops and their children, the fork server), medians: on 2
 * cores the rate is bound by it, and it moves less than the rate when the
 * machine is busy.  mproc_per_baseline= and mproc_per_bare_heir=: the
 * median of each round's ratio (see print_fresh). */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_pool.h"
#include "process/process_int.h" /* mp__forkserver_pid */

/* ---- a fresh process per task ---- */

static double tv_s(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* CPU seconds process pid has used (its /proc/<pid>/stat), or 0. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *at;
	unsigned long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
	if ((at = strrchr(buf, ')')) == NULL ||
	    sscanf(at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds used so far by this process (all its threads), its reaped
 * children (workers, loops) and their reaped descendants, and the fork
 * server (a child reaped only at the end: read in /proc). */
static double cpu_now(void)
{
	struct rusage self, kids;
	pid_t server = mp__forkserver_pid();

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return tv_s(self.ru_utime) + tv_s(self.ru_stime) + tv_s(kids.ru_utime) +
	       tv_s(kids.ru_stime) + (server > 0 ? proc_cpu_s(server) : 0);
}

/* CPU microseconds per task of each run (see cpu_now). */
struct cpu_log {
	double us[32];
	int n;
};

static void cpu_note(struct cpu_log *log, double c0)
{
	if (log != NULL && log->n < 32)
		log->us[log->n++] = (cpu_now() - c0) / N_FRESH * 1e6;
}

/* Tasks per second of a maxtasksperchild=1 pool started by method (its
 * CPU time per task noted in log, if not NULL). */
static double fresh_rate(const char *method, struct cpu_log *log)
{
	static mp_async_result_t *r[N_FRESH];
	double c0 = cpu_now();
	mp_pool_t *pool = mp_pool_new(&(mp_pool_opts_t){
		.processes = WORKERS, .maxtasksperchild = 1,
		.start_method = method});
	double t0;

	if (pool == NULL)
		die("pool_new (fresh)");
	t0 = bench_now();
	for (long i = 0; i < N_FRESH; i++) {
		r[i] = mp_pool_apply_async(pool, tiny_task, &i, sizeof(i), NULL);
		if (r[i] == NULL)
			die("apply_async (fresh)");
	}
	collect_results(r, N_FRESH);
	t0 = bench_now() - t0;
	mp_pool_free(pool);
	cpu_note(log, c0);
	return N_FRESH / t0;
}

static double fresh_forkserver(void *arg)
{
	return fresh_rate("forkserver", arg);
}

static double fresh_fork(void *arg)
{
	return fresh_rate("fork", arg);
}

/* The baseline: WORKERS processes each fork + _exit + waitpid in a loop. */
static double fresh_baseline(void *arg)
{
	pid_t loops[WORKERS];
	double c0 = cpu_now(), t0 = bench_now(), rate;

	for (int w = 0; w < WORKERS; w++) {
		if ((loops[w] = fork()) == 0) {
			for (int i = 0; i < N_FRESH / WORKERS; i++) {
				pid_t c = fork();
				int st;

				if (c == 0)
					_exit(0);
				if (c < 0 || waitpid(c, &st, 0) != c)
					_exit(1);
			}
			_exit(0);
		}
		if (loops[w] < 0)
			die("fork");
	}
	for (int w = 0; w < WORKERS; w++) {
		int st;

		if (waitpid(loops[w], &st, 0) != loops[w] || st != 0)
			die("baseline loop");
	}
	rate = N_FRESH / (bench_now() - t0);
	cpu_note(arg, c0);
	return rate;
}

/* ---- the bare floor of a fresh process per task (bare_fs=) ----
 *
 * The simplest C version of what a forkserver pool with
 * maxtasksperchild=1 does, without mproc: a server process forked at the
 * start (while small), a unix socket pair to it and one shared memfd it
 * inherits.  Per task the program writes the task into its slot of the
 * memfd and one byte (the slot) to the server; the server clones a child
 * with CLONE_PARENT (the program's own, reaped by it, as mproc's are); the
 * child maps the memfd, reads its task, writes the result and its pid,
 * wakes the program through a futex in the memfd and exits; the program
 * takes the result, sends the slot's next task and reaps the child.
 * WORKERS slots in flight. */

struct bare_slot {
	long task, result;
	pid_t pid;
	_Atomic int done;
};

struct bare_mem {
	_Atomic uint32_t seq; /* the futex: bumped by every child done */
	struct bare_slot slot[WORKERS];
};

static struct {
	pid_t server;
	int sock, memfd;
	struct bare_mem *mem;
} bare = {.server = -1, .sock = -1, .memfd = -1};

static void bare_child(int memfd, int s)
{
	struct bare_mem *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				  MAP_SHARED, memfd, 0);
	struct bare_slot *sl;

	if (m == MAP_FAILED)
		_exit(1);
	sl = &m->slot[s];
	sl->result = sl->task + 1;
	sl->pid = getpid();
	atomic_store(&sl->done, 1);
	atomic_fetch_add(&m->seq, 1);
	syscall(SYS_futex, &m->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
	_exit(0);
}

/* The server: one byte (a slot) in, one child cloned out; EOF ends it. */
static void bare_server(int sock, int memfd)
{
	for (;;) {
		unsigned char s;
		ssize_t n = read(sock, &s, 1);
		long c;

		if (n == 0)
			_exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || s >= WORKERS)
			_exit(1);
		/* fork semantics (no new stack), the child the program's */
		c = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL,
			    NULL);
		if (c == 0)
			bare_child(memfd, s);
		if (c < 0)
			_exit(1);
	}
}

static void bare_start(void)
{
	int sv[2];

	if ((bare.memfd = memfd_create("bare_fs", MFD_CLOEXEC)) < 0 ||
	    ftruncate(bare.memfd, sizeof(struct bare_mem)) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("bare_start");
	if ((bare.server = fork()) == 0) {
		close(sv[0]);
		bare_server(sv[1], bare.memfd);
	}
	if (bare.server < 0)
		die("bare_start: fork");
	close(sv[1]);
	bare.sock = sv[0];
	bare.mem = mmap(NULL, sizeof(*bare.mem), PROT_READ | PROT_WRITE,
			MAP_SHARED, bare.memfd, 0);
	if (bare.mem == MAP_FAILED)
		die("bare_start: mmap");
}

static void bare_stop(void)
{
	int st;

	close(bare.sock);
	if (waitpid(bare.server, &st, 0) != bare.server || st != 0)
		die("bare server");
	munmap(bare.mem, sizeof(*bare.mem));
	close(bare.memfd);
}

static void bare_send(int s, long task)
{
	unsigned char b = (unsigned char)s;

	bare.mem->slot[s].task = task;
	atomic_store(&bare.mem->slot[s].done, 0);
	while (write(bare.sock, &b, 1) != 1)
		if (errno != EINTR)
			die("bare_send");
}

/* Sleep until a child bumps the futex from seq: -1 after 10 s of none. */
static int bare_wait(uint32_t seq)
{
	struct timespec limit = {.tv_sec = 10};

	if (syscall(SYS_futex, &bare.mem->seq, FUTEX_WAIT, seq, &limit, NULL,
		    0) < 0 && errno == ETIMEDOUT)
		return -1;
	return 0;
}

/* CPU seconds of bare_rate's processes so far (cpu_now's and the bare
 * server's). */
static double bare_cpu(void)
{
	return cpu_now() + proc_cpu_s(bare.server);
}

/* Tasks per second of the bare design (its CPU per task, with the bare
 * server's, noted in arg). */
static double bare_rate(void *arg)
{
	struct bare_mem *m = bare.mem;
	long sent = 0, got = 0, task[WORKERS];
	double c0 = bare_cpu(), t0 = bench_now(), rate;
	struct cpu_log *log = arg;

	for (int s = 0; s < WORKERS; s++)
		bare_send(s, task[s] = sent++);
	while (got < N_FRESH) {
		uint32_t seq = atomic_load(&m->seq);
		int any = 0;

		for (int s = 0; s < WORKERS; s++) {
			pid_t pid;
			int st;

			if (!atomic_load(&m->slot[s].done))
				continue;
			any = 1;
			got++;
			pid = m->slot[s].pid;
			if (m->slot[s].result != task[s] + 1)
				die("bare: wrong result");
			if (sent < N_FRESH)
				bare_send(s, task[s] = sent++);
			else
				atomic_store(&m->slot[s].done, 0);
			if (waitpid(pid, &st, 0) != pid || st != 0)
				die("bare: child");
		}
		if (!any && bare_wait(seq) < 0) /* a child or the server died */
			die("bare: no answer in 10 s");
	}
	rate = N_FRESH / (bench_now() - t0);
	if (log != NULL && log->n < 32)
		log->us[log->n++] = (bare_cpu() - c0) / N_FRESH * 1e6;
	return rate;
}

/* ---- the bare floor of heirs (bare_heir=) ----
 *
 * The simplest C version of what a forkserver pool with maxtasksperchild=1
 * does since heirs, without mproc: WORKERS slots, each a line of processes.
 * A member, at its turn, forks its heir (CLONE_PARENT: the program's child),
 * takes the next task, writes the result and its pid in the task's record,
 * wakes the program (a futex in shared memory), passes the turn to its heir
 * (another futex) and exits; the program reaps each member by the pid in
 * the records, in order. */

struct heir_rec {
	long result;
	pid_t pid;
	_Atomic int done;
};

struct heir_mem {
	_Atomic uint32_t seq;         /* bumped by every record */
	_Atomic long next;            /* the next task */
	_Atomic uint32_t turn[WORKERS];
	struct heir_rec rec[N_FRESH + WORKERS];
};

static void heir_futex(_Atomic uint32_t *w, int op, uint32_t v)
{
	syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* A member of slot s, its turn number g. */
static void heir_member(struct heir_mem *m, int s, uint32_t g)
{
	for (;;) {
		uint32_t v;
		long t;

		while ((v = atomic_load(&m->turn[s])) != g)
			heir_futex(&m->turn[s], FUTEX_WAIT, v);
		t = atomic_fetch_add(&m->next, 1);
		if (t < N_FRESH &&
		    syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL,
			    NULL) == 0) {
			/* the heir: die with the program (as mproc's do),
			 * wait for our turn */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			g++;
			continue;
		}
		m->rec[t].result = t + 1;
		m->rec[t].pid = getpid();
		atomic_store(&m->rec[t].done, 1);
		atomic_fetch_add(&m->seq, 1);
		heir_futex(&m->seq, FUTEX_WAKE, 1);
		atomic_store(&m->turn[s], g + 1);
		heir_futex(&m->turn[s], FUTEX_WAKE, 1);
		_exit(0);
	}
}

/* Tasks per second of bare heirs (CPU per task noted in arg). */
static double bare_heir_rate(void *arg)
{
	struct heir_mem *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double c0 = cpu_now(), t0 = bench_now(), rate;
	struct cpu_log *log = arg;

	if (m == MAP_FAILED)
		die("bare_heir: mmap");
	for (int s = 0; s < WORKERS; s++) {
		pid_t pid;

		m->turn[s] = 1;
		if ((pid = fork()) == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			heir_member(m, s, 1);
		}
		if (pid < 0)
			die("bare_heir: fork");
	}
	/* Each record in order: N_FRESH tasks, then one per slot from the
	 * member that found no task left. */
	for (long t = 0; t < N_FRESH + WORKERS; t++) {
		struct timespec limit = {.tv_sec = 10};
		pid_t pid;
		int st;

		while (!atomic_load(&m->rec[t].done)) {
			uint32_t seq = atomic_load(&m->seq);

			if (atomic_load(&m->rec[t].done))
				break;
			if (syscall(SYS_futex, &m->seq, FUTEX_WAIT, seq, &limit,
				    NULL, 0) < 0 && errno == ETIMEDOUT)
				die("bare_heir: no answer in 10 s");
		}
		if (t < N_FRESH && m->rec[t].result != t + 1)
			die("bare_heir: wrong result");
		pid = m->rec[t].pid;
		if (waitpid(pid, &st, 0) != pid || st != 0)
			die("bare_heir: member");
	}
	rate = N_FRESH / (bench_now() - t0);
	if (log != NULL && log->n < 32)
		log->us[log->n++] = (cpu_now() - c0) / N_FRESH * 1e6;
	munmap(m, sizeof(*m));
	return rate;
}

/* ---- helpers: measured runs forked from this process while small ----
 *
 * This process grows with the pools it runs (their rings, its heap: 1.8
 * -> 5 MiB resident here), and the baseline's loops and the bare heirs'
 * first members are forks of it: measured after a pool, they would copy
 * more and look slower, flattering mproc.  So each runs in a helper
 * forked at the start, which runs one measurement per command and sends
 * back its rate and CPU time per task. */

struct helper {
	pid_t pid;
	int cmd, ans; /* our ends: a byte per run out, two doubles back */
};

static void helper_start(struct helper *h, double (*fn)(void *))
{
	int cmd[2], ans[2];

	if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(ans, O_CLOEXEC) != 0)
		die("helper: pipe");
	if ((h->pid = fork()) < 0)
		die("helper: fork");
	if (h->pid == 0) {
		char c;

		close(cmd[1]);
		close(ans[0]);
		while (read(cmd[0], &c, 1) == 1) {
			struct cpu_log log = {.n = 0};
			double out[2];

			out[0] = fn(&log);
			out[1] = log.n > 0 ? log.us[0] : 0;
			if (write(ans[1], out, sizeof(out)) != sizeof(out))
				_exit(1);
		}
		_exit(0); /* EOF: helper_stop */
	}
	close(cmd[0]);
	close(ans[1]);
	h->cmd = cmd[1];
	h->ans = ans[0];
}

/* One run in helper h: its rate; its CPU per task noted in log. */
static double helper_run(struct helper *h, struct cpu_log *log)
{
	double out[2];
	size_t got = 0;

	if (write(h->cmd, "r", 1) != 1)
		die("helper: write");
	while (got < sizeof(out)) {
		ssize_t n = read(h->ans, (char *)out + got, sizeof(out) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("helper: no answer");
		got += (size_t)n;
	}
	if (log->n < 32)
		log->us[log->n++] = out[1];
	return out[0];
}

static void helper_stop(struct helper *h)
{
	int st;

	close(h->cmd);
	if (waitpid(h->pid, &st, 0) != h->pid || st != 0)
		die("helper: exit");
	close(h->ans);
}

/*
 * FRESH_REPS rounds, each running every side once, next to each other:
 * this VM's speed drifts by tens of percent over a minute, which blocks
 * of runs per side turned into differences between the sides.  Medians of
 * each side, and of the rounds' own ratios (mproc_per_baseline=,
 * mproc_per_bare_heir=: mproc over the run beside it).
 */
void print_fresh(void)
{
	enum { FRESH_REPS = 5 };
	struct cpu_log mc = {.n = 0}, bc = {.n = 0}, fc = {.n = 0}, hc = {.n = 0};
	double b[FRESH_REPS], f[FRESH_REPS], m[FRESH_REPS], fl[FRESH_REPS],
		h[FRESH_REPS], mb[FRESH_REPS], mh[FRESH_REPS];
	struct helper loops, heirs;

	/* while small, as mp_init's server */
	bare_start();
	helper_start(&loops, fresh_baseline);
	helper_start(&heirs, bare_heir_rate);
	for (int r = 0; r < FRESH_REPS; r++) {
		b[r] = helper_run(&loops, &bc);
		m[r] = fresh_forkserver(&mc);
		h[r] = helper_run(&heirs, &hc);
		fl[r] = bare_rate(&fc);
		f[r] = fresh_fork(NULL);
		mb[r] = m[r] / b[r];
		mh[r] = m[r] / h[r];
	}
	helper_stop(&heirs);
	helper_stop(&loops);
	bare_stop();
	printf("figure=pool_fresh_process_tasks_per_s mproc=%.4g fork=%.4g "
	       "baseline=%.4g bare_fs=%.4g bare_heir=%.4g "
	       "mproc_per_baseline=%.3g mproc_per_bare_heir=%.3g "
	       "mproc_cpu_us=%.4g baseline_cpu_us=%.4g bare_fs_cpu_us=%.4g "
	       "bare_heir_cpu_us=%.4g unit=tasks_per_s\n",
	       bench_median(m, FRESH_REPS), bench_median(f, FRESH_REPS),
	       bench_median(b, FRESH_REPS), bench_median(fl, FRESH_REPS),
	       bench_median(h, FRESH_REPS), bench_median(mb, FRESH_REPS),
	       bench_median(mh, FRESH_REPS), bench_median(mc.us, mc.n),
	       bench_median(bc.us, bc.n), bench_median(fc.us, fc.n),
	       bench_median(hc.us, hc.n));
	fflush(stdout);
}
