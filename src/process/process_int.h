/*
 * process/process_int.h - what the files of the process module share.
 *
 * Design notes.
 * - A child is made with fork() (so glibc's atfork handlers keep malloc and
 *   stdio usable in the child) and tracked with a pidfd opened right after.
 *   join/is_alive poll the pidfd and reap with waitid(P_PIDFD, WNOHANG), so
 *   no other child of the program is ever reaped by mistake.
 * - Files: start.c makes and starts children, process.c is the rest of the
 *   public face, reap.c the registry, reaping and exit cleanup.
 * - `mpi_reg` lists every object of this process that holds a pidfd (started
 *   and not closed), under `mpi_reg_lock`.  The lock is held across fork(),
 *   so the child inherits a consistent list: it closes those pidfds (they are
 *   its siblings', not its children's) and starts with an empty list.
 * - An object freed while its child still runs is "detached": it stays in
 *   the list and is freed when a sweep (start, active_children, exit) reaps
 *   it.
 * - Scheduling options are applied in the child before the target runs; if
 *   one fails the child reports (errno, what) through a CLOEXEC pipe and
 *   _exits, and start returns the error.  The pipe is only made when such an
 *   option is set, so a plain start costs fork + pidfd_open.
 */
#ifndef MPROC_PROCESS_INT_H
#define MPROC_PROCESS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal/child.h"
#include "mproc/process.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* How long exit waits for daemons after SIGTERM before SIGKILL, and at
 * most after SIGKILL. */
#define DAEMON_GRACE 1.0
#define DAEMON_KILL_WAIT 5.0

enum state { ST_NEW, ST_STARTED, ST_REAPED, ST_CLOSED };
enum kind { K_CHILD, K_CURRENT, K_PARENT };

struct mp_process {
	mp_target_fn target;
	void *arg;
	char *name;
	char *name_owned; /* current/parent: the name set_name allocated */
	char *identity; /* "2:1": CPython's _identity, names grandchildren */
	bool daemon;
	bool detached;  /* freed by the user while running */
	enum kind kind;
	_Atomic enum state state; /* read without the lock */
	struct mpi_child child; /* pid, and its pidfd (or exit pipe) */
	pid_t creator; /* the process that made this object */
	int exitcode;
	mp_rusage_t ru;
	struct mp_process *next; /* in reg, while it holds a pidfd */
	/* options, applied in the child */
	int nice;
	int *affinity;
	size_t naffinity;
	mp_sched_policy_t policy;
	int priority;
	bool new_session;
	bool new_group;
	bool keep_stdin;
};

extern pthread_mutex_t mpi_reg_lock;
extern struct mp_process *mpi_reg;
extern atomic_uint mpi_counter; /* Process-N numbering, per process */
extern struct mp_process mpi_self, mpi_parent;
extern bool mpi_has_parent;
/* Exit cleanup has begun: mp_process_start fails (under mpi_reg_lock). */
extern bool mpi_exiting;

/*
 * Checks for calls that need a started child of this process: 0, or a code
 * with a reason (-EINVAL NULL or not a child, MP_ECLOSED, -ECHILD "can only
 * <verb> a child process" on an object another process made, -EINVAL "process
 * not started").
 */
int mpi_check_child(const struct mp_process *p, const char *verb);

/* Reap p if it has ended (takes the lock): true once p is reaped. */
bool mpi_reap(struct mp_process *p);

/* Free the object and what it holds. */
void mpi_proc_destroy(struct mp_process *p);

/* Unlink p from mpi_reg (lock held). */
void mpi_reg_remove(struct mp_process *p);

/*
 * Reap p if it has ended (lock held).  Returns true once p is reaped.  A
 * detached p is removed from the list and freed: do not touch it after.
 */
bool mpi_reap_locked(struct mp_process *p);

/* Reap every child that has ended (lock held). */
void mpi_sweep_locked(void);

/*
 * What CPython's util._exit_function does: terminate live daemonic children
 * (SIGTERM, SIGKILL after a grace period), then join the others.
 */
void mpi_exit_cleanup(void);

#endif
