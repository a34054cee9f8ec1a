/*
 * mproc/process.h - child processes: Python's multiprocessing.Process,
 * current_process, parent_process, active_children and cpu_count.
 *
 * A process object describes a target function to run in a new process:
 *
 *     static int work(void *arg) { printf("hello %s\n", (char *)arg); return 0; }
 *
 *     mp_process_t *p = mp_process_new(work, "bob", NULL);
 *     mp_process_start(p);             // fork: work("bob") runs in the child
 *     mp_process_join(p, MP_FOREVER);  // wait for it, and reap it
 *     mp_process_exitcode(p, &code);   // work's return value (0..255)
 *     mp_process_free(p);
 *
 * By default the child is created with fork(): it sees a copy of the parent's
 * memory, so `arg` may point anywhere (other start methods below).  It
 * runs target(arg), then terminates its daemonic children and joins the
 * others (as CPython does at exit), flushes stdio and
 * calls _exit() with the target's return value: it never returns into the
 * caller's stack and never runs the parent's atexit handlers (a target that
 * calls exit() itself would run them: return instead).  Its stdin is
 * /dev/null unless keep_stdin is set.  The parent flushes its stdio before
 * forking (its earlier output comes first) and the child discards, unwritten,
 * what it inherited in the stdout and stderr buffers: output that another
 * thread buffers while the fork happens is printed once, by the parent.
 * Other FILE streams cannot be listed portably: a thread writing to one of
 * them at the moment of the fork may see that data written twice.
 *
 * Reaping.  The library never calls waitpid(-1) and installs no SIGCHLD
 * handler.  Each child is tracked by a pidfd and reaped by join, is_alive,
 * exitcode, active_children, the next start, free, or at exit.  At normal exit
 * (atexit) live daemonic children get SIGTERM, then SIGKILL after one second,
 * and non-daemonic children are joined, as CPython does.  From the moment
 * that exit cleanup begins, mp_process_start fails with MP_ECLOSED (so a
 * pool's supervisor cannot replace the workers being stopped), and exit
 * waits at most 5 s more for daemons that outlive SIGKILL: a program that
 * returns from main with a live pool or executor never hangs.
 *
 * "Subclassing" Process: C has no classes; put the state your run() needs in
 * a struct and pass it as `arg` (see docs/process.md).
 *
 * Thread safety: all functions may be called from several threads at once,
 * on the same object too, except that mp_process_set_name must not race with
 * mp_process_name on the same object.  A process object belongs to the
 * process that created it; in its children, the copy of the object only
 * answers name/pid/daemon queries (join etc. give -ECHILD).
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_process mp_process_t;

/* A target: runs in the child; its return value is the exit status (& 0xff). */
typedef int (*mp_target_fn)(void *arg);

/* Scheduling policies (sched(7)).  MP_SCHED_INHERIT keeps the parent's. */
typedef enum mp_sched_policy {
	MP_SCHED_INHERIT = 0,
	MP_SCHED_OTHER,
	MP_SCHED_BATCH,
	MP_SCHED_IDLE,
	MP_SCHED_FIFO, /* real-time: needs CAP_SYS_NICE or RLIMIT_RTPRIO */
	MP_SCHED_RR    /* real-time: same */
} mp_sched_policy_t;

/*
 * Options of a process; zero (or a NULL pointer) means the default.
 * Everything here is applied in the child before the target runs; a setting
 * the child is not allowed to make fails mp_process_start (-EPERM, ...).
 */
typedef struct mp_process_opts {
	const char *name;      /* default "Process-N" (copied) */
	bool daemon;           /* default false: see mp_process_set_daemon */
	int nice;              /* increment, like os.nice(); 0 = unchanged */
	const int *affinity;   /* CPU numbers the child may run on (copied) */
	size_t naffinity;      /* length of affinity; 0 = inherit */
	mp_sched_policy_t policy; /* default: inherit the parent's */
	int priority;          /* static priority 1..99 for FIFO/RR, else 0 */
	bool start_new_session; /* setsid(): own session and process group */
	bool new_process_group; /* setpgid(0, 0): own process group, so
				 * killpg(pid, sig) reaches what it starts */
	bool keep_stdin;       /* default: the child's stdin is /dev/null */
	/* How the child is made: "fork", "forkserver" or "spawn" (CPython's
	 * get_context(method).Process); NULL: the library-wide default at
	 * start (mp_set_start_method).  See "Start methods" below. */
	const char *start_method;
	/* forkserver and spawn: the child cannot see the parent's memory, so
	 * `arg` is copied as arg_len bytes at start (the child's `arg` points
	 * to its copy, followed by a NUL); arg_len 0 gives the child a NULL
	 * arg.  Ignored by fork, whose child sees `arg` itself. */
	size_t arg_len;
	/* Shared objects handed to the child, by any start method: the child
	 * gets handle i with mp_process_shared(i, kind).  See "Shared objects
	 * in any child" below.  The array is copied; the objects must live
	 * until the start returns. */
	const struct mp_shared *shared;
	size_t nshared;
} mp_process_opts_t;

/*
 * Shared objects in any child.  A fork child could use the parent's
 * pointers; a forkserver or spawn child cannot (it never saw the parent's
 * memory).  So objects travel the same way for every method: list them in
 * opts.shared, and in the child take each one's handle with
 * mp_process_shared(i, kind).  With forkserver and spawn the object's
 * memfd (arena objects), its shm fd (SharedMemory) or its socket / pipe
 * (Connection, FD) goes with the start request (SCM_RIGHTS, or inherited
 * across exec), and the child maps it wherever it can and builds a handle
 * on it; a fork child gets the parent's pointers.  Kinds and what `obj` is:
 */
typedef enum mp_shared_kind {
	MP_SHARED_LOCK = 1,   /* mp_lock_t * from mp_lock_new */
	MP_SHARED_RLOCK,      /* mp_rlock_t * from mp_rlock_new */
	MP_SHARED_SEMAPHORE,  /* mp_semaphore_t * (bounded too) from _new */
	MP_SHARED_EVENT,      /* mp_event_t * from mp_event_new */
	MP_SHARED_CONDITION,  /* mp_condition_t * from _new, on its own RLock */
	MP_SHARED_BARRIER,    /* mp_barrier_t * from _new, without an action */
	MP_SHARED_VALUE,      /* mp_value_t * */
	MP_SHARED_ARRAY,      /* mp_array_t * */
	MP_SHARED_BLOCK,      /* a block from mp_shared_alloc */
	MP_SHARED_SHM,        /* mp_shm_t * (not unlinked yet) */
	MP_SHARED_QUEUE,      /* mp_queue_t * (Queue, SimpleQueue, Joinable) */
	MP_SHARED_CONNECTION, /* mp_connection_t * */
	MP_SHARED_FD,         /* int *: an fd; the child gets an int * too */
	/* A local manager's proxies (mproc/manager.h; its Lock, RLock,
	 * Semaphore, Event, Condition, Barrier go as the kinds above): */
	MP_SHARED_DICTPROXY,      /* mp_dictproxy_t * */
	MP_SHARED_LISTPROXY,      /* mp_listproxy_t * */
	MP_SHARED_NAMESPACEPROXY, /* mp_namespaceproxy_t * */
	MP_SHARED_QUEUEPROXY,     /* mp_queueproxy_t * (Queue, JoinableQueue) */
	MP_SHARED_VALUEPROXY,     /* mp_valueproxy_t * */
	MP_SHARED_ARRAYPROXY      /* mp_arrayproxy_t * */
} mp_shared_kind_t;

/* One object to hand to a child. */
typedef struct mp_shared {
	mp_shared_kind_t kind;
	void *obj;
} mp_shared_t;

/* At most this many objects per start. */
#define MP_SHARED_MAX 32

/*
 * mp_process_shared - in a child: the handle of opts.shared[index] its
 * parent passed, as an object of this process (same kind, same calls).
 * Arena objects (locks to blocks) live as long as the child; a
 * Connection, SharedMemory or Queue handle may be closed/freed as usual.
 * NULL with -EINVAL when this process got no such index, or got it as
 * another kind.  Thread-safe.
 */
MP_API void *mp_process_shared(size_t index, mp_shared_kind_t kind);

/*
 * Start methods (CPython's names).
 *   "fork"        the child is a fork() of the caller, as above: fastest;
 *                 `arg` may point anywhere.  From a parent with several
 *                 threads, the child has a copy of only the calling thread:
 *                 locks other threads held (in user code or libraries) stay
 *                 held for ever in the child.  mproc's own state is made
 *                 consistent (pthread_atfork), glibc's malloc and stdio too;
 *                 user code must not take its own locks, nor call anything
 *                 that is not async-signal-safe from other libraries, in a
 *                 child forked from a threaded parent.  Use "forkserver".
 *   "forkserver"  the child is forked from a small single-threaded server
 *                 that mp_init() started before the program grew threads
 *                 or a heap: safe from threaded parents, and its cost does
 *                 not grow with the parent's memory.
 *   "spawn"       a fresh exec of the program (the binary mp_init() opened,
 *                 even if the file was replaced since): nothing is
 *                 inherited but the fds 0-2; mp_init() in the new process
 *                 runs the target and exits with its return value.
 * forkserver and spawn find the target by the name MP_TARGET registered,
 * and copy `arg` as opts->arg_len bytes; both need mp_init() to have run.
 * The child's stdin, stdout and stderr are the parent's at start (stdin
 * /dev/null unless keep_stdin), the other fds are not inherited.
 */

/*
 * mp_init - call first thing in main(), before threads or big allocations:
 *
 *     int main(int argc, char **argv) { mp_init(argc, argv); ... }
 *
 * It opens this program's binary (for spawn) and starts the fork server
 * (forkserver).  In a child started by spawn it never returns: it runs the
 * target the parent named and exits with its return value (CPython's
 * `if __name__ == "__main__"` guard, turned inside out).  0, or a negative
 * code (the methods that need what failed then fail with it): the errno of
 * opening /proc/self/exe, the fork server's start error, -EINVAL when
 * MP_SPAWN_FD is set but names no fd.  A second
 * call in the same process returns 0 and does nothing.  Not thread-safe:
 * call it before threads exist.
 *
 * The fork server dies with the program, even if the program is killed
 * by SIGKILL, and its running children are killed (SIGKILL) with it; at a
 * normal exit mproc first joins them, as it joins fork children.  Only the
 * process that called mp_init can use its server: children of that process
 * get -ENOTSUP for "forkserver" (spawn and fork work there).
 */
MP_API int mp_init(int argc, char **argv);

/* Flag of mp_set_start_method: change a default already set. */
#define MP_START_FORCE 1

/*
 * mp_set_start_method - the library-wide default start method ("fork" until
 * set), as multiprocessing.set_start_method.  -EINVAL for NULL or an
 * unknown name ("cannot find context for 'x'"), -EBUSY if it was already
 * set and flags lacks MP_START_FORCE ("context has already been set").
 * Thread-safe.
 */
MP_API int mp_set_start_method(const char *method, int flags);

/*
 * mp_get_start_method - the library-wide default start method's name
 * (static).  Thread-safe.
 */
MP_API const char *mp_get_start_method(void);

/*
 * mp_get_all_start_methods - the names of the start methods, the default
 * first (CPython's order otherwise: fork, spawn, forkserver).  Stores up to
 * cap of them in out (NULL when cap is 0) and returns how many there are.
 * -EINVAL when out is NULL and cap > 0.  Thread-safe.
 */
MP_API int mp_get_all_start_methods(const char **out, size_t cap);

/* A registered target (filled by MP_TARGET; do not touch the fields). */
struct mp_target_entry {
	const char *name;
	mp_target_fn fn;
	struct mp_target_entry *next;
	int duplicate; /* another function has the same name */
};

/*
 * mp_target_register - make fn findable by name in forkserver and spawn
 * children.  MP_TARGET(fn) calls it at load time (before main), which is
 * what spawn needs: the new program must know the name before mp_init.
 * The entry must live for ever (a static).  Two functions under one name
 * make both unusable by name (start fails with -EINVAL).  e NULL (or
 * without a name or fn): nothing is registered, -EINVAL in
 * mp_last_error_code().  Thread-safe.
 */
MP_API void mp_target_register(struct mp_target_entry *e);

/*
 * MP_TARGET(fn) - after the definition of target fn, at file scope:
 *
 *     static int work(void *arg) { ... }
 *     MP_TARGET(work);
 *
 * registers fn under its name "work" when the program loads.
 */
#define MP_TARGET(fn)                                                         \
	static struct mp_target_entry mp_target_entry_##fn = {#fn, fn, 0, 0}; \
	__attribute__((constructor)) static void mp_target_ctor_##fn(void)    \
	{                                                                     \
		mp_target_register(&mp_target_entry_##fn);                    \
	}                                                                     \
	struct mp_target_semicolon_##fn

/*
 * mp_process_new - a process object that will run target(arg).  Not started.
 * opts may be NULL.  Returns NULL on failure with mp_last_error() set and
 * mp_last_error_code() -EINVAL: NULL target, a policy/priority pair out of
 * range, a bad CPU number, an unknown opts->start_method ("cannot find
 * context for 'x'"); or -ENOMEM.
 * Each call takes the next number of this process's counter, so default names
 * are "Process-1", "Process-2", ... and "Process-2:1" in the child Process-2.
 */
MP_API mp_process_t *mp_process_new(mp_target_fn target, void *arg,
				    const mp_process_opts_t *opts);

/*
 * mp_process_start - create the child (by the start method) and run the
 * target there.  Also reaps children of this process that have already
 * finished.
 * Thread-safe (one thread wins a race to start the same object).
 * Errors: -EINVAL started twice ("cannot start a process twice"), -EPERM from
 * a daemonic process ("daemonic processes are not allowed to have children"),
 * -EPERM or -EACCES (a lower nice) when a scheduling option is not
 * permitted, -EINVAL when no CPU of the affinity can be used, the errno of
 * setsid/setpgid (start_new_session, new_process_group), -ECHILD on an
 * object this process did not create, MP_ECLOSED after close,
 * -EAGAIN/-ENOMEM from fork.
 * forkserver and spawn: -EINVAL when the target is not registered
 * (MP_TARGET) or arg is not NULL but opts->arg_len is 0, -ENOTSUP when
 * mp_init() did not run (or, for forkserver, in a child of the process
 * that ran it), MP_EBROKEN when the fork server died, and the errors the
 * server or exec met.  A failed start leaves no child behind.
 */
MP_API int mp_process_start(mp_process_t *p);

/*
 * mp_process_run - run the target in the calling process (Process.run()),
 * and return its return value.  -EINVAL for NULL or the current process.
 * As thread-safe as the target.
 */
MP_API int mp_process_run(mp_process_t *p);

/*
 * mp_process_join - wait until the child ends (and reap it), at most timeout
 * seconds.  Returns 0 once it has ended, -ETIMEDOUT if it is still alive
 * (timeout 0 included).  May be called any number of times.  Errors:
 * -EINVAL NULL, before start ("can only join a started process") or for a
 * bad timeout, -EDEADLK on the current process, -ECHILD on an object another
 * process made ("can only join a child process"), MP_ECLOSED.  On
 * mp_parent_process() it waits for the parent to end (no reaping).
 * Thread-safe (see the top).
 */
MP_API int mp_process_join(mp_process_t *p, double timeout);

/*
 * mp_process_is_alive - 1 from start until the child ends, else 0 (reaping a
 * child that has ended).  The current process is alive; the parent is alive
 * until it ends.  Negative on error: -EINVAL NULL, -ECHILD on an object
 * another process made ("can only test a child process"), MP_ECLOSED.
 * Thread-safe.
 */
MP_API int mp_process_is_alive(mp_process_t *p);

/*
 * mp_process_exitcode - returns 1 and stores the exit code in *exitcode once
 * the child has ended (reaping it if needed): the target's return value
 * (0..255), or -N if a signal N killed it.  Returns 0 (CPython's None) before
 * start, while it runs, and for the current or parent process.  A closed
 * object keeps its exit code.  Negative on error: -EINVAL NULL, -ECHILD on
 * an object another process made ("can only test a child process", as
 * is_alive and join).  Thread-safe.
 */
MP_API int mp_process_exitcode(mp_process_t *p, int *exitcode);

/*
 * mp_process_terminate / _kill / _send_signal - send SIGTERM / SIGKILL / sig
 * to the child (through its pidfd: never to a recycled pid).  A child that has
 * already ended is not an error.  Descendants of the child are not signalled
 * (use start_new_session and killpg for that).  -EINVAL NULL, before start
 * or for an invalid signal number, -ECHILD on an object another process
 * made, MP_ECLOSED, or the errno of pidfd_send_signal/kill.  Thread-safe.
 */
MP_API int mp_process_terminate(mp_process_t *p);
MP_API int mp_process_kill(mp_process_t *p);
MP_API int mp_process_send_signal(mp_process_t *p, int sig);

/*
 * mp_process_sentinel - an fd that becomes readable (POLLIN) when the child
 * ends; owned by the object, valid until close/free.  -EINVAL NULL or before
 * start ("process not started"), MP_ECLOSED after close, -ECHILD on an
 * object another process made.  Thread-safe.  It is a pidfd; where
 * pidfds do not exist (Linux < 5.3, valgrind; MP_NO_PIDFD=1 forces it) it is
 * the read end of a pipe whose write end only the child holds: readable
 * (POLLHUP) as the child exits, a moment before join can reap it, or early
 * if the child closes it (exec, closing every fd).  Children started by the
 * child with mp_process_start do not inherit it; raw fork() children do.
 */
MP_API int mp_process_sentinel(mp_process_t *p);

/* Resource usage of a finished child (from wait). */
typedef struct mp_rusage {
	double utime;  /* user CPU seconds */
	double stime;  /* system CPU seconds */
	long maxrss_kb; /* peak resident set, KiB */
} mp_rusage_t;

/*
 * mp_process_rusage - CPU times and peak RSS of the child once it has ended
 * and been reaped.  -EBUSY while it runs, -EINVAL NULL, before start or on
 * the current or parent process, -ECHILD on an object another process made.
 * Thread-safe.
 */
MP_API int mp_process_rusage(mp_process_t *p, mp_rusage_t *ru);

/*
 * mp_process_close - release the object's resources (its pidfd) but keep its
 * exit code and name; later calls other than exitcode, name, pid and free
 * give MP_ECLOSED.  -EBUSY if the child still runs ("Cannot close a process
 * while it is still running"); -EINVAL for NULL or the current or parent
 * process.  Closing twice is a no-op.
 */
MP_API int mp_process_close(mp_process_t *p);

/*
 * mp_process_free - destroy the object.  NULL is a no-op.  Never blocks: a
 * child still running is detached, kept track of, and reaped later (by the
 * next start, mp_active_children, or at exit), so it never becomes a zombie.
 * The current and parent process objects are not freed.
 */
MP_API void mp_process_free(mp_process_t *p);

/*
 * mp_process_pid - the process's pid; 0 before start (CPython's None).
 * pid_t is signed: -EINVAL when p is NULL.  Thread-safe.
 */
MP_API pid_t mp_process_pid(const mp_process_t *p);

/*
 * mp_process_name - the name; owned by the object, valid until set_name or
 * free.  NULL (-EINVAL in mp_last_error_code()) when p is NULL.  Not to race
 * with mp_process_set_name on the same object.
 */
MP_API const char *mp_process_name(const mp_process_t *p);

/*
 * mp_process_set_name - change the name (copied), of a child object, the
 * current process or the parent.  Before start it also becomes the child's
 * comm, shown by ps (first 15 bytes); on mp_current_process() it renames the
 * calling thread's comm too.  -EINVAL for NULL, -ENOMEM.  Not to race with
 * mp_process_name on the same object.
 */
MP_API int mp_process_set_name(mp_process_t *p, const char *name);

/*
 * mp_process_daemon - 1 if the process is daemonic, else 0; -EINVAL when p
 * is NULL.  Thread-safe.
 */
MP_API int mp_process_daemon(const mp_process_t *p);

/*
 * mp_process_set_daemon - a daemonic child is terminated when its parent
 * exits normally, and killed (PR_SET_PDEATHSIG, SIGKILL) when the parent
 * dies any other way, even by SIGKILL; it may not start children.  Note: the
 * kernel delivers that signal when the *thread* that started the child ends,
 * so start daemons from a thread that lives as long as the process.
 * -EINVAL after start ("process has already started").
 */
MP_API int mp_process_set_daemon(mp_process_t *p, bool daemon);

/*
 * mp_current_process - the calling process as a process object: name
 * "MainProcess" in the main process, the child's name in a child.  Owned by
 * the library; never NULL.
 */
MP_API mp_process_t *mp_current_process(void);

/*
 * mp_parent_process - in a child started by mproc, the parent (its name and
 * pid; is_alive and join watch it); NULL in the main process.
 */
MP_API mp_process_t *mp_parent_process(void);

/*
 * mp_active_children - the started children of this process that are still
 * alive, reaping those that have ended.  Stores up to cap of them in out (out
 * may be NULL when cap is 0) and returns how many there are (which may exceed
 * cap).  Children whose object was freed are not listed.  The pointers stay
 * valid until the caller frees the objects.  -EINVAL when out is NULL and
 * cap > 0.
 */
MP_API int mp_active_children(mp_process_t **out, size_t cap);

/*
 * mp_cpu_count - the number of CPUs this process can actually use: the CPUs
 * in its affinity mask, lowered to the cgroup CPU quota (v1 cfs_quota or v2
 * cpu.max, rounded up) when one is set.  Always >= 1.  (CPython's cpu_count()
 * counts every CPU of the machine; os.process_cpu_count() honours affinity.)
 */
MP_API int mp_cpu_count(void);

/* The state of any process (struct mp_proc_status, mp_proc_status_t),
 * read from /proc/<pid>/stat by mp_proc_status(). */
typedef struct mp_proc_status {
	char state;    /* R running, S sleeping, D disk wait, Z zombie, T stopped, ... */
	pid_t ppid;    /* parent pid */
	char name[16]; /* comm */
} mp_proc_status_t;

/*
 * mp_proc_status - fill *st for pid from /proc/<pid>/stat.  -EINVAL for a
 * NULL st or a pid <= 0, -ESRCH if there is no such process, -EIO if the
 * file cannot be parsed.  Thread-safe.
 */
MP_API int mp_proc_status(pid_t pid, mp_proc_status_t *st);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_PROCESS_H */
