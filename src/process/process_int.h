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
 * - `mp__reg` lists every object of this process that holds a pidfd (started
 *   and not closed), under `mp__reg_lock`.  The lock is held across fork(),
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
#include "process/request.h"
#include "mproc/process.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* How long exit waits for daemons after SIGTERM before SIGKILL, and at
 * most after SIGKILL. */
#define DAEMON_GRACE 1.0
#define DAEMON_KILL_WAIT 5.0

enum state { ST_NEW, ST_STARTED, ST_REAPED, ST_CLOSED };
/* Start methods; M_DEFAULT: the library-wide default at start. */
enum method { M_DEFAULT, M_FORK, M_SPAWN, M_FORKSERVER };
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
	struct mp__child child; /* pid, and its pidfd (or exit pipe) */
	enum method method; /* as asked (M_DEFAULT: the default at start) */
	enum method used;   /* the one start used (under mp__reg_lock) */
	size_t arg_len;     /* forkserver/spawn: bytes at arg to copy */
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
	mp_shared_t *shared; /* opts.shared, copied */
	size_t nshared;
	/* forkserver: start returns once the server forked the child, without
	 * waiting for its setup (options, shared objects); a failed setup
	 * makes the child exit 127 (a pool worker: its death says it) */
	bool quick_start;
};

extern pthread_mutex_t mp__reg_lock;
extern struct mp_process *mp__reg;
extern atomic_uint mp__counter; /* Process-N numbering, per process */
extern struct mp_process mp__self, mp__parent;
extern bool mp__has_parent;
/* Exit cleanup has begun: mp_process_start fails (under mp__reg_lock). */
extern bool mp__exiting;

/*
 * This process's pid, cached (glibc no longer caches getpid, and a start
 * asked for it five times): cleared in every fork child (the atfork
 * handler), set by mp__become in a forkserver child (cloned without
 * atfork handlers); a spawn child starts afresh.  A process made by a raw
 * clone() without fork() is not supported here (nor by glibc's own tid
 * cache).
 */
extern _Atomic pid_t mp__pid_cache;
pid_t mp__pid_init(void);
static inline pid_t mp__pid(void)
{
	pid_t pid = atomic_load_explicit(&mp__pid_cache, memory_order_relaxed);

	return __builtin_expect(pid != 0, 1) ? pid : mp__pid_init();
}

/*
 * Checks for calls that need a started child of this process: 0, or a code
 * with a reason (-EINVAL NULL or not a child, MP_ECLOSED, -ECHILD "can only
 * <verb> a child process" on an object another process made, -EINVAL "process
 * not started").
 */
int mp__check_child(const struct mp_process *p, const char *verb);

/* Reap p if it has ended (takes the lock): true once p is reaped. */
bool mp__reap(struct mp_process *p);

/* Free the object and what it holds. */
void mp__proc_destroy(struct mp_process *p);

/* Unlink p from mp__reg (lock held). */
void mp__reg_remove(struct mp_process *p);

/*
 * Reap p if it has ended (lock held).  Returns true once p is reaped.  A
 * detached p is removed from the list and freed: do not touch it after.
 */
bool mp__reap_locked(struct mp_process *p);

/* Reap every child that has ended (lock held). */
void mp__sweep_locked(void);

/*
 * What CPython's util._exit_function does: terminate live daemonic children
 * (SIGTERM, SIGKILL after a grace period), then join the others.
 */
void mp__exit_cleanup(void);

/* ---- start methods (method.c, spawn.c, forkserver.c) ---- */

/* The method's name, and the method of a name (-1 if none). */
const char *mp__method_name(enum method m);
int mp__method_of(const char *name);
/* The library-wide default (never M_DEFAULT). */
enum method mp__default_method(void);

/* The registered name of fn: NULL (with a reason: -EINVAL) if fn is not
 * registered or its name is taken twice. */
const char *mp__target_name(mp_target_fn fn, int *code);
/* The function registered under name, or NULL. */
mp_target_fn mp__target_find(const char *name);

/* The fd of this program's binary, opened by mp_init (-1 before). */
extern int mp__exe_fd;
/* argv[0] as mp_init saw it (NULL before). */
extern const char *mp__argv0;

/* In a new child: closes the fds of the registry (siblings') and empties
 * it; releases the registry lock its thread holds.  Runs in every fork child (atfork). */
void mp__after_fork_child(void);

/* Set when the calling thread forks holding mp__reg_lock itself. */
extern _Thread_local bool mp__forking;

/*
 * In a new child (any method): become the process object named (sets
 * mp_current_process / mp_parent_process).  Strings are kept, not copied.
 * parent_fd: a pidfd of the parent for a child that is not the parent's
 * own (forkserver), else -1.  self: our pid (cached: mp__pid).
 */
void mp__become(const char *name, const char *ident, bool daemon, pid_t ppid,
		int parent_fd, pid_t self);

/*
 * In a fork server's child (a forkserver pool's worker), before it runs
 * anything of the user's: fork a sibling, the program's child
 * (CLONE_PARENT), as the server forks ours, its pid written at *pid_at by
 * the kernel before this returns (CLONE_PARENT_SETTID: so it is there
 * even if the caller is killed at once).  The sibling starts as a copy of
 * the caller, with nothing set up (no PR_SET_PDEATHSIG, same process
 * group).  The pid, 0 in the sibling, or -errno (-ENOTSUP outside a fork
 * server's child, or without clone3).
 */
pid_t mp__fs_fork_heir(pid_t *pid_at);

/* The longest name or identity (with its NUL) mp__become_heir takes. */
#define MP__HEIR_NAME_MAX 48

/*
 * In a sibling made by mp__fs_fork_heir, taken into service: become the
 * process object the program made for it (name and identity copied), its
 * parent still the program.  self: our pid.
 */
void mp__become_heir(const char *name, const char *ident, pid_t self);

/*
 * p (new, made by this process) is the object of pid, an unreaped child of
 * ours already running (mp__fs_fork_heir's sibling of a forkserver child):
 * p becomes started through the fork server, watched by a pidfd.  0, or a
 * code with a reason (the child killed and reaped then).  Needs pidfds.
 */
int mp__process_adopt(struct mp_process *p, pid_t pid);

/* In a new child: apply p's options; on failure report on errfd and
 * _exit(127). */
void mp__apply_opts(const struct mp_process *p, int errfd);
bool mp__needs_setup(const struct mp_process *p);

/*
 * In a forkserver or spawn child: the arg bytes of r as the target's arg:
 * NULL for none, else r->arg itself when it is aligned for any type, or an
 * aligned copy (with its NUL).  NULL with ENOMEM in errno if that fails.
 */
void *mp__req_arg(const struct mp__req *r);

/* Run target(arg) as a child's main: exit cleanup, flush, _exit(code). */
__attribute__((noreturn)) void mp__child_run(mp_target_fn target, void *arg);

/* Fill a request source from p (target name tname, arg bytes, shared
 * objects t). */
struct mp__travel;
void mp__req_from(const struct mp_process *p, const char *tname,
		  const struct mp__travel *t, struct mp__req_src *s);

/* A memfd (close-on-exec, named name) holding the n bytes of buf: the fd,
 * or a code with a reason (spawn.c). */
int mp__memfd_with(const char *name, const void *buf, size_t n);

/*
 * Start p (its fields checked, method chosen) by spawn / through the fork
 * server: with mp__reg_lock held; on success p->child is set and the
 * caller links p in.  *setup_fd: the read end of the setup report pipe
 * (or -1) for the caller to read after unlocking.  0 or a code with a
 * reason.
 */
int mp__spawn_start(struct mp_process *p, const char *tname, int *setup_fd);
int mp__fs_start(struct mp_process *p, const char *tname, int *setup_fd);

/*
 * Send a request (len bytes, with nfds fds) to the fork server and read
 * the reply: 0 with *pid (a child of ours, to reap), the server's error,
 * or MP_EBROKEN when it is gone; a reason is left.  Thread-safe.
 */
int mp__fs_request(const void *req, size_t len, const int *fds, int nfds,
		   pid_t *pid);

/*
 * The fork server's check of one request (len bytes, nfds fds, the
 * sender's credentials or NULL): 0 with *r decoded and *fn its target,
 * or the code of the reply: -EPERM (not the program: credentials or
 * parent pid), -EPROTO (the decoder refused it), -EBADF (fd count),
 * -ENOENT (no such target).  No allocation; the fuzz harness's entry.
 */
struct ucred;
int mp__fs_validate(const void *buf, size_t len, int nfds,
		    const struct ucred *cred, pid_t parent, struct mp__req *r,
		    mp_target_fn *fn);


/* The fork server: start it (mp_init), is it ours, stop it (tests). */
int mp__fs_launch(void);
bool mp__fs_usable(void);
void mp__forkserver_stop(void);
pid_t mp__forkserver_pid(void);

/* What to signal for p: its pidfd (or its pid without pidfds). */
static inline struct mp__child mp__sig_target(const struct mp_process *p)
{
	return p->child;
}

/* ---- shared objects (shared.c) ---- */

/* Check opts.shared: 0, or -EINVAL with a reason naming the field. */
int mp__shared_check(const mp_shared_t *objs, size_t n);
/* A fork child: its objects are the parent's pointers. */
void mp__shared_inherit(const mp_shared_t *objs, size_t n);

/* The shared objects of a start, as the request carries them. */
struct mp__travel {
	struct req_shared ent[REQ_MAX_SHARED];
	int fds[REQ_MAX_SHARED];    /* the parent's fd numbers */
	bool owned[REQ_MAX_SHARED]; /* opened for this start: closed after */
	size_t n, nfds;
};
/* Describe objs for a child of method (named in reasons): 0, or -EINVAL
 * (not library shared memory), -ENOTSUP (a Condition on another lock, a
 * Barrier with an action), -EBADF, -E2BIG, with a reason. */
int mp__travel_describe(const mp_shared_t *objs, size_t n,
			const char *method, struct mp__travel *t);
/* Close the fds the description opened. */
void mp__travel_release(struct mp__travel *t);
/* In a forkserver or spawn child: build handles on r's objects, whose fds
 * are fds[0..r->nshared_fds) here (closed once mapped, kept for
 * Connections and FDs): 0, or a code with a reason. */
int mp__travel_adopt(const struct mp__req *r, const int *fds);

/* Without pidfds: take exitw as this process's exit pipe (spawn child). */
void mp__set_exit_pipe(int exitw);

/* In a spawn child: run the request in fd and exit (mp_init). */
__attribute__((noreturn)) void mp__spawn_child_main(int fd);

#endif
