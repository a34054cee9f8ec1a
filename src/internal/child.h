/*
 * internal/child.h - tracking a child by pidfd (shared by the process and
 * subprocess modules).  Nothing here ever calls waitpid(-1): only the child
 * the pidfd names is waited for or reaped.
 */
#ifndef MPROC_INTERNAL_CHILD_H
#define MPROC_INTERNAL_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* pidfd_open(2): an O_CLOEXEC pidfd, or -1 with errno. */
int mpi_pidfd_open(pid_t pid);

/*
 * Wait until the pidfd is readable (the process ended) or the deadline
 * (internal/clock.h; EINTR restarts): 0, -ETIMEDOUT, or -errno.
 */
int mpi_wait_pidfd(int fd, uint64_t deadline);

/*
 * Reap the child if it has ended (waitid(P_PIDFD, WNOHANG)): 1 and *code
 * (exit status, or -N for signal N) and *ru (may be NULL), 0 while it
 * runs, -errno (ECHILD: somebody else reaped it).
 */
int mpi_pidfd_reap(int fd, int *code, struct rusage *ru);

/* Send sig through the pidfd; a process that already ended is not an error. */
int mpi_pidfd_signal(int fd, int sig);

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
