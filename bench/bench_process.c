/*
 * bench_process.c - process start + join through each start method,
 * against the raw baselines measured in the same run: fork + waitpid (fork,
 * forkserver) and posix_spawn of /bin/true + waitpid (spawn).  Then the
 * same from a parent holding MP_BENCH_BIG_MB (default 4096) MiB of touched
 * memory: forkserver's cost should not move, fork's does.
 *
 * Beside the forkserver figure, relay=: the floor of any start through a
 * server, a minimal relay process forked at the start (like mp_init's
 * server) that, per one-byte request on a socket pair, forks a child that
 * _exits, sends back its pid, waits for it and sends its status: the same
 * round trips, nothing else.  And relay_parent=: the floor of mproc's
 * design, a relay that clones the child with CLONE_PARENT (the requester's
 * child, which it waits for itself) and sends its pid: one round trip.
 *
 * "bench_process forkserver [N]": only the forkserver figure (N starts
 * per repetition, default 2000), for strace/perf runs of that path alone.
 */
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/process.h"

extern char **environ;

enum { REPS = 7 };

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}
MP_TARGET(nothing);

struct run {
	const char *method;
	int n;
};

static double mproc_start_join(void *arg)
{
	const struct run *r = arg;
	mp_process_opts_t o = {.start_method = r->method};
	double t0 = bench_now();

	for (int i = 0; i < r->n; i++) {
		mp_process_t *p = mp_process_new(nothing, NULL, &o);

		if (p == NULL || mp_process_start(p) != 0 ||
		    mp_process_join(p, MP_FOREVER) != 0) {
			fprintf(stderr, "%s: %s\n", r->method, mp_last_error());
			exit(1);
		}
		mp_process_free(p);
	}
	return (bench_now() - t0) / r->n * 1e6;
}

static double fork_waitpid(void *arg)
{
	const struct run *r = arg;
	double t0 = bench_now();
	int status;

	for (int i = 0; i < r->n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			exit(1);
	}
	return (bench_now() - t0) / r->n * 1e6;
}

static double spawn_true(void *arg)
{
	const struct run *r = arg;
	char *argv[] = {"true", NULL};
	double t0 = bench_now();
	int status;

	for (int i = 0; i < r->n; i++) {
		pid_t pid;

		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) !=
			    0 ||
		    waitpid(pid, &status, 0) != pid)
			exit(1);
	}
	return (bench_now() - t0) / r->n * 1e6;
}

static int relay_sock = -1, relay_parent_sock = -1;

/* The relay server: serve requests until EOF, then exit.  With parent,
 * the child is the requester's (CLONE_PARENT) and only its pid is sent. */
static void relay_main(int sock, bool parent)
{
	char c;

	while (read(sock, &c, 1) == 1) {
		pid_t pid = parent ? (pid_t)syscall(SYS_clone,
						    CLONE_PARENT | SIGCHLD, 0,
						    0, 0, 0)
				   : fork();
		int st = -1;

		if (pid == 0)
			_exit(0);
		if (write(sock, &pid, sizeof(pid)) != sizeof(pid) ||
		    (!parent && ((pid > 0 && waitpid(pid, &st, 0) != pid) ||
				 write(sock, &st, sizeof(st)) != sizeof(st))))
			_exit(1);
	}
	_exit(0);
}

static int relay_start(bool parent)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (fork() == 0) {
		close(sv[0]);
		relay_main(sv[1], parent);
	}
	close(sv[1]);
	return sv[0];
}

static double relay_start_join(void *arg)
{
	const struct run *r = arg;
	double t0 = bench_now();

	for (int i = 0; i < r->n; i++) {
		pid_t pid;
		int st;

		if (write(relay_sock, "s", 1) != 1 ||
		    read(relay_sock, &pid, sizeof(pid)) != sizeof(pid) ||
		    pid <= 0 || read(relay_sock, &st, sizeof(st)) != sizeof(st))
			exit(1);
	}
	return (bench_now() - t0) / r->n * 1e6;
}

static double relay_parent_start_join(void *arg)
{
	const struct run *r = arg;
	double t0 = bench_now();

	for (int i = 0; i < r->n; i++) {
		pid_t pid;
		int st;

		if (write(relay_parent_sock, "s", 1) != 1 ||
		    read(relay_parent_sock, &pid, sizeof(pid)) != sizeof(pid) ||
		    pid <= 0 || waitpid(pid, &st, 0) != pid)
			exit(1);
	}
	return (bench_now() - t0) / r->n * 1e6;
}

/* The forkserver figure with both baselines, alternated. */
static void figure_forkserver(int n)
{
	struct run r = {"forkserver", n};
	double m[REPS], b[REPS], rel[REPS], relp[REPS];

	mproc_start_join(&r);
	fork_waitpid(&r);
	relay_start_join(&r);
	relay_parent_start_join(&r);
	for (int i = 0; i < REPS; i++) {
		m[i] = mproc_start_join(&r);
		b[i] = fork_waitpid(&r);
		rel[i] = relay_start_join(&r);
		relp[i] = relay_parent_start_join(&r);
	}
	printf("figure=process_start_join_forkserver_us mproc=%.4g "
	       "baseline=%.4g relay=%.4g relay_parent=%.4g unit=us\n",
	       bench_median(m, REPS), bench_median(b, REPS),
	       bench_median(rel, REPS), bench_median(relp, REPS));
	fflush(stdout);
}

/* Alternate mproc and the baseline so machine noise hits both alike. */
static void figure(const char *name, const char *method, int n,
		   double (*baseline)(void *))
{
	struct run r = {method, n};
	double m[REPS], b[REPS];

	mproc_start_join(&r);
	baseline(&r);
	for (int i = 0; i < REPS; i++) {
		m[i] = mproc_start_join(&r);
		b[i] = baseline(&r);
	}
	bench_print(name, bench_median(m, REPS), bench_median(b, REPS), "us");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *mb_env = getenv("MP_BENCH_BIG_MB");
	size_t mb = mb_env ? strtoul(mb_env, NULL, 10) : 4096;
	double small_fs;
	char *big;

	if (mp_init(argc, argv) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	/* while small too */
	relay_sock = relay_start(false);
	relay_parent_sock = relay_start(true);
	if (argc >= 2 && strcmp(argv[1], "forkserver") == 0) {
		if (relay_sock < 0 || relay_parent_sock < 0)
			return 1;
		figure_forkserver(argc >= 3 ? atoi(argv[2]) : 2000);
		return 0;
	}
	/* The figure older runs printed: the default method (fork). */
	figure("process_start_join_us", NULL, 2000, fork_waitpid);
	figure("process_start_join_fork_us", "fork", 2000, fork_waitpid);
	if (relay_sock >= 0 && relay_parent_sock >= 0)
		figure_forkserver(2000);
	else
		figure("process_start_join_forkserver_us", "forkserver", 2000,
		       fork_waitpid);
	figure("process_start_join_spawn_us", "spawn", 500, spawn_true);
	if (mb == 0)
		return 0;
	/* A big parent: mb MiB touched (one write per page). */
	{
		struct run r = {"forkserver", 300};
		double v[REPS];

		small_fs = bench_repeat(REPS, mproc_start_join, &r);
		big = mmap(NULL, mb << 20, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED)
			return 0;
		for (size_t i = 0; i < mb << 20; i += 4096)
			big[i] = (char)i;
		for (int i = 0; i < REPS; i++)
			v[i] = mproc_start_join(&r);
		/* baseline: the small-parent forkserver figure, same run */
		bench_print("process_start_join_forkserver_big_parent_us",
			    bench_median(v, REPS), small_fs, "us");
		r.method = "fork";
		r.n = 30;
		bench_print("process_start_join_fork_big_parent_us",
			    bench_repeat(3, mproc_start_join, &r), -1, "us");
		munmap(big, mb << 20);
	}
	return 0;
}
