/*
 * internal/child.h - tracking a child by pidfd, or by its pid where pidfds
 * do not exist (shared by the process, subprocess and shm modules).
 * Nothing here ever calls waitpid(-1): only the child named is waited for
 * or reaped.
 *
 * Fallback.  pidfd_open needs Linux 5.3, and valgrind 3.19 (Debian 12's)
 * does not know it (ENOSYS).  mpi_have_pidfd() probes once; MP_NO_PIDFD=1
 * in the environment (read once) forces the fallback, for tests.  Without
 * pidfds a child is waited for, reaped and signalled by pid: safe from pid
 * reuse as long as it is not reaped (its zombie keeps the pid), which the
 * callers guarantee.  Callers pass `fd`: a pidfd, or in the fallback any fd
 * that becomes readable when the child ends (the process module's exit
 * pipe), or -1.
 */
#ifndef MPROC_INTERNAL_CHILD_H
#define MPROC_INTERNAL_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Are pidfds usable (probed once; false with MP_NO_PIDFD=1)? */
bool mpi_have_pidfd(void);

/* pidfd_open(2): an O_CLOEXEC pidfd, or -1 with errno (ENOSYS in the
 * fallback). */
int mpi_pidfd_open(pid_t pid);

/*
 * Wait until child pid ended (it stays unreaped) or the deadline
 * (internal/clock.h; EINTR restarts): 0, -ETIMEDOUT, or -errno.  With a
 * pidfd, polls it; in the fallback, polls `fd` if >= 0 and checks the pid
 * (the fd may be readable early: a child that closed it), else waits on the
 * pid (waitid WNOWAIT: blocking without a deadline, in short naps with one).
 * An exit pipe hangs up a moment before its child can be reaped: then the
 * wait may overrun the deadline by up to 5 ms.  A child reaped by someone
 * else counts as ended.
 */
int mpi_child_wait(pid_t pid, int fd, uint64_t deadline);

/*
 * Reap the child if it has ended (waitid WNOHANG, on the pidfd or the pid):
 * 1 and *code (exit status, or -N for signal N) and *ru (may be NULL), 0
 * while it runs, -errno (ECHILD: somebody else reaped it).
 */
int mpi_child_reap(pid_t pid, int fd, int *code, struct rusage *ru);

/* Send sig through the pidfd, or to the pid; a process that already ended
 * is not an error. */
int mpi_child_signal(pid_t pid, int fd, int sig);

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
void mpi_stdio_forget(bool in);

#endif
