/*
 * internal/child.h - tracking a child by pidfd, or by its pid where pidfds
 * do not exist (shared by the process, subprocess and shm modules).
 * Nothing here ever calls waitpid(-1): only the child named is waited for
 * or reaped.
 *
 * Fallback.  pidfd_open needs Linux 5.3, and valgrind 3.19 (Debian 12's)
 * does not know it (ENOSYS).  mp__have_pidfd() probes once; MP_NO_PIDFD=1
 * in the environment (read once) forces the fallback, for tests.  Without
 * pidfds a child is waited for, reaped and signalled by pid: safe from pid
 * reuse as long as it is not reaped (its zombie keeps the pid), which the
 * callers guarantee.  A struct mp__child holds the pid and `fd`: a pidfd,
 * or in the fallback any fd that becomes readable when the child ends (the
 * process module's exit pipe), or -1.  Failures are -errno codes with a
 * reason left (internal/error.h); nothing here writes mp_last_error().
 */
#ifndef MPROC_INTERNAL_CHILD_H
#define MPROC_INTERNAL_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* A child this process made: its pid and the fd that watches it (a
 * pidfd, the exit pipe in the fallback, or -1). */
struct mp__child {
	pid_t pid;
	int fd;
};

/* Are pidfds usable (probed once; false with MP_NO_PIDFD=1)? */
bool mp__have_pidfd(void);

/* pidfd_open(2): an O_CLOEXEC pidfd, or -1 with errno (ENOSYS in the
 * fallback). */
int mp__pidfd_open(pid_t pid);

/*
 * Wait until child c ended (it stays unreaped) or the deadline
 * (internal/clock.h; EINTR restarts): 0, -ETIMEDOUT, or -errno with a
 * reason.  With a pidfd, polls it; in the fallback, polls c->fd if >= 0 and
 * checks the pid (the fd may be readable early: a child that closed it),
 * else waits on the pid (waitid WNOWAIT: blocking without a deadline, in
 * short naps with one).  An exit pipe hangs up a moment before its child
 * can be reaped: then the wait may overrun the deadline by up to 5 ms.  A
 * child reaped by someone else counts as ended.
 */
int mp__child_wait(const struct mp__child *c, uint64_t deadline);

/*
 * Reap the child if it has ended (waitid WNOHANG, on the pidfd or the pid):
 * 1 and *code (exit status, or -N for signal N) and *ru (may be NULL), 0
 * while it runs, -errno with a reason (ECHILD: somebody else reaped it).
 */
int mp__child_reap(const struct mp__child *c, int *code, struct rusage *ru);

/* 0 if sig is a signal number (0..NSIG-1), else -EINVAL with a reason. */
int mp__signal_check(int sig);

/*
 * Send sig through the pidfd, or to the pid; a process that already ended
 * is not an error.  0, -EINVAL (sig is not a signal number: 0..NSIG-1) or
 * -errno, with a reason naming the call ("pidfd_send_signal(15): ...").
 */
int mp__child_signal(const struct mp__child *c, int sig);

/*
 * Kill an unreaped child (SIGKILL) and reap it, waiting as long as that
 * takes (a child being killed ends at once); EINTR restarts.  For a child
 * that failed to start, or one that must not outlive its handle.
 */
void mp__child_kill_reap(const struct mp__child *c);

/*
 * Watch the child pid just made: c becomes {pid, fd}, fd the exit pipe's
 * read end exitp[0] when there is one (the fallback; its write end
 * exitp[1], the child's, is closed here) or else a new pidfd.  Both ends
 * of exitp are taken (set to -1).  0, or -errno with a reason (pidfd_open)
 * after killing and reaping the child.
 */
int mp__child_watch(struct mp__child *c, pid_t pid, int exitp[2]);

/*
 * Reap a child known to be ending (it reported a start error and _exits):
 * waits for it, EINTR restarts.
 */
void mp__child_reap_wait(pid_t pid);

/*
 * The start-error report: a child that fails between fork and the work
 * (exec, or the setup before it) writes one of these to a close-on-exec
 * pipe and _exits(127); the parent reads EOF when the child got through
 * (exec closed the pipe, or the child closed it).
 */
struct mp__child_report {
	int err;       /* errno in the child */
	int stage;     /* the caller's numbering of its setup steps */
	char what[120]; /* the caller's text, may be empty */
};

/* Make the report pipe (both ends O_CLOEXEC): 0 or -errno with a reason. */
int mp__report_pipe(int fds[2]);

/*
 * In the child: write (err, stage, what) to fd and _exit(127).  Only
 * async-signal-safe calls (usable after vfork); what may be NULL and is
 * cut to fit.
 */
__attribute__((noreturn)) void mp__report_fail(int fd, int err, int stage,
					       const char *what);

/*
 * In the parent, after closing its copy of the write end: read the report
 * from fd (EINTR restarts).  1 when the child reported a failure (*r
 * filled, what NUL-terminated), 0 at EOF (it got through).
 */
int mp__report_read(int fd, struct mp__child_report *r);

/*
 * In a new child, right after fork: discard, without writing it, the output
 * the parent had buffered in stdout and stderr (and stdin's read-ahead when
 * `in`), so that the child's exit flush can never print the parent's lines
 * a second time.  The parent's fflush before fork cannot guarantee that:
 * another thread may buffer more output between that flush and the fork.
 * glibc's fork re-initialises every stream's lock in the child, so a lock
 * some other thread held at fork time is usable here.  Limit: other FILE
 * streams have no portable list; what a thread buffered in one of them at
 * the moment of the fork may be written twice.
 */
void mp__stdio_forget(bool in);

/*
 * vfork with every signal blocked, the caller's mask saved in *saved first
 * (the child restores it once its signal dispositions are safe).  The child
 * runs child(arg), which must exec or _exit; returns the pid, or -errno.
 * Its own function, so that no local of the caller lives across vfork.
 */
pid_t mp__vfork(void (*child)(void *arg), void *arg, sigset_t *saved);

/*
 * In a new child: die with SIGKILL when the parent dies (PR_SET_PDEATHSIG),
 * and exit at once with `code` if parent (its pid taken before the fork)
 * is already gone.  System calls only: safe after fork from threads.
 */
void mp__die_with_parent(pid_t parent, int code);

#endif
