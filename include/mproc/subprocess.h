/*
 * mproc/subprocess.h - running other programs: Python's subprocess.run,
 * Popen, communicate, CompletedProcess, CalledProcessError, TimeoutExpired.
 *
 *     mp_completed_t r;
 *     int rc = mp_run((const char *[]){"ls", "-la", NULL},
 *                     &(mp_run_opts_t){.capture_output = true, .check = true}, &r);
 *     if (rc == 0) fwrite(r.out.data, 1, r.out.len, stdout);
 *     mp_completed_destroy(&r);
 *
 * Programs start with vfork + exec (the parent's memory is never copied, so
 * a large parent starts children as fast as a small one); a program that
 * cannot be executed makes the call fail (-ENOENT, -EACCES, ...) with the
 * name in the message, never a child that exits 127.  Children are tracked
 * by pidfd and never reaped by anyone else's waitpid(-1); every fd the
 * library opens is close-on-exec; by default only fds 0-2 (and pass_fds)
 * reach the child.  Signal handlers are reset in the child, SIGPIPE to its
 * default, and the signal mask is the parent thread's.
 *
 * Thread safety: a Popen object may be used from one thread at a time;
 * different objects from any threads.
 */
#ifndef MPROC_SUBPROCESS_H
#define MPROC_SUBPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a standard stream of the child goes. */
typedef enum mp_stdio_kind {
	MP_STDIO_INHERIT = 0, /* the parent's (default) */
	MP_STDIO_PIPE,        /* a pipe to the parent (Popen's stdin/stdout/...) */
	MP_STDIO_DEVNULL,     /* /dev/null */
	MP_STDIO_FD,          /* the fd given (not closed by mproc) */
	MP_STDIO_STDOUT       /* stderr only: wherever stdout goes */
} mp_stdio_kind_t;

typedef struct mp_stdio {
	mp_stdio_kind_t kind;
	int fd; /* for MP_STDIO_FD */
} mp_stdio_t;

typedef struct mp_popen_opts {
	const char *cwd;            /* run there; NULL: the parent's */
	const char *const *env;     /* replace the environment (NULL-ended "K=V") */
	const char *const *env_add; /* or add/override these to the parent's */
	mp_stdio_t in, out, err;
	bool start_new_session;     /* setsid() in the child */
	bool new_process_group;     /* setpgid(0, 0): killpg reaches it all */
	const int *pass_fds;        /* fds kept open in the child; each must be
				     * open (else -EBADF) */
	size_t npass_fds;
	bool keep_fds;              /* close_fds=False: keep every inheritable fd */
	bool set_umask;             /* apply umask below (0 is a valid umask) */
	mode_t umask;
} mp_popen_opts_t;

typedef struct mp_popen mp_popen_t;

/*
 * mp_popen_new - start argv[0] (searched in PATH unless it has a '/'; with
 * opts->env, the PATH of that environment) with arguments argv.  NULL on
 * failure with mp_last_error_code(): -ENOENT (no such program), -EACCES
 * (not executable), -EINVAL (bad arguments), -EBADF (an MP_STDIO_FD or a
 * pass_fds entry that is not an open fd), -ENOMEM, the errno of chdir,
 * ...; no child is left behind.
 */
MP_API mp_popen_t *mp_popen_new(const char *const argv[],
				const mp_popen_opts_t *opts);

/*
 * mp_popen_pid - the child's pid (its process group id with
 * new_process_group).  pid_t is signed: -EINVAL when p is NULL.
 */
MP_API pid_t mp_popen_pid(const mp_popen_t *p);

/*
 * mp_popen_stdin / _stdout / _stderr - the parent's end of a PIPE stream,
 * or -1 when that stream is not a PIPE (or communicate closed it).  Owned
 * by p.  -EINVAL when p is NULL.
 */
MP_API int mp_popen_stdin(const mp_popen_t *p);
MP_API int mp_popen_stdout(const mp_popen_t *p);
MP_API int mp_popen_stderr(const mp_popen_t *p);

/*
 * mp_popen_poll - 1 and *returncode (may be NULL) once the child ended
 * (reaping it), else 0.  returncode is the exit status, or -N if signal N
 * killed it.  -EINVAL when p is NULL, or the errno of waitid.
 */
MP_API int mp_popen_poll(mp_popen_t *p, int *returncode);

/*
 * mp_popen_wait - wait for the end, at most timeout seconds: 0 (and
 * *returncode, may be NULL) once it ended and was reaped, -ETIMEDOUT when
 * the timeout passed first (timeout 0 included; the child still runs: call
 * again).  -EINVAL for NULL or a bad timeout; the errno of the wait.
 */
MP_API int mp_popen_wait(mp_popen_t *p, double timeout, int *returncode);

/*
 * mp_popen_communicate - write input (may be NULL) to stdin and close it,
 * read stdout and stderr (those that are PIPEs) to EOF, then wait for the
 * child; no deadlock however much flows each way.  Returns 0 once the child
 * ended and was reaped, -ETIMEDOUT when the timeout passed first (timeout 0
 * included).  out and err (may be NULL) are owned bytes: release each with
 * mp_bytes_destroy (they are set empty first, so that is safe after any
 * return).  On 0 they hold everything the child wrote; on -ETIMEDOUT a copy
 * of what was read so far: p keeps it, and a later call goes on from there
 * and returns it all again (input is sent only once), as CPython does.
 * -EINVAL for NULL p, a bad timeout, input NULL with len > 0, or input
 * given when stdin is not a PIPE; -ENOMEM.
 */
MP_API int mp_popen_communicate(mp_popen_t *p, const void *input, size_t len,
				double timeout, mp_bytes_t *out, mp_bytes_t *err);

/*
 * mp_popen_readline - the next line of the child's stdout (a PIPE), for
 * real-time output, waiting at most timeout seconds: 1 and *line, owned
 * bytes (release with mp_bytes_destroy; the line keeps its '\n' unless it
 * is the last, unterminated one), 0 at end of file, -ETIMEDOUT when no
 * whole line came in time (timeout 0 included; what arrived is kept for the
 * next call).  *line is empty after any return but 1.  -EINVAL for NULL
 * arguments, a bad timeout, or a stdout that is not a PIPE (there is
 * nothing to read: that is not an end of file); -ENOMEM.  Do not mix with
 * communicate.
 */
MP_API int mp_popen_readline(mp_popen_t *p, double timeout, mp_bytes_t *line);

/*
 * mp_popen_terminate / _kill / _send_signal - send SIGTERM / SIGKILL / sig
 * to the child, through its pidfd (a finished child: no-op).  -EINVAL for
 * NULL or an invalid signal number, or the errno of pidfd_send_signal/kill.
 */
MP_API int mp_popen_terminate(mp_popen_t *p);
MP_API int mp_popen_kill(mp_popen_t *p);
MP_API int mp_popen_send_signal(mp_popen_t *p, int sig);

/*
 * mp_popen_free - close the pipes, and if the child still runs kill it
 * (SIGKILL) and reap it: never leaves a zombie, never blocks for long.
 * NULL is a no-op.
 */
MP_API void mp_popen_free(mp_popen_t *p);

/* ---- run ---- */

typedef struct mp_run_opts {
	mp_popen_opts_t popen;
	const void *input;  /* sent to stdin (which becomes a PIPE) */
	size_t input_len;
	bool capture_output; /* stdout and stderr become PIPEs */
	double timeout;     /* seconds; 0 (the default) or MP_FOREVER = no
			     * limit */
	bool check;         /* non-zero exit status -> MP_ECALLED */
} mp_run_opts_t;

/* CompletedProcess (also what TimeoutExpired and CalledProcessError hold). */
typedef struct mp_completed {
	int returncode; /* exit status, or -N for signal N */
	mp_bytes_t out, err; /* captured (empty when not captured) */
	bool timed_out;
	pid_t pid;
} mp_completed_t;

/*
 * mp_run - run argv to completion (subprocess.run).  Returns 0; MP_ECALLED
 * with check and a
 * non-zero returncode; -ETIMEDOUT when the timeout expired: the child's
 * whole process group was killed (it runs in a group of its own when a
 * timeout is given) and reaped, and res holds the output read so far; the
 * errors of mp_popen_new (named as mp_run's); -EINVAL for a negative or
 * NaN timeout, or input NULL with input_len > 0.  A timeout of +inf (or
 * over 1e9 s) is no limit.  res is filled on 0, MP_ECALLED and -ETIMEDOUT
 * and must then be released with mp_completed_destroy; on other
 * errors it holds nothing (destroying it is harmless).  Thread-safe.
 */
MP_API int mp_run(const char *const argv[], const mp_run_opts_t *opts,
		  mp_completed_t *res);

/*
 * mp_completed_destroy - release what a result holds (its out and err
 * bytes), not the struct itself, which the caller owns.  NULL is a no-op;
 * a second call is harmless.
 */
MP_API void mp_completed_destroy(mp_completed_t *res);

/*
 * mp_bytes_lines - split bytes into lines (without their '\n'); *lines is an
 * array of count strings in one allocation: release it with mp_buf_free.
 * Returns the count (a last line without '\n' counts); -EINVAL for NULL
 * arguments or b->data NULL with b->len > 0; -EOVERFLOW over INT32_MAX
 * lines; -ENOMEM.
 */
MP_API int mp_bytes_lines(const mp_bytes_t *b, char ***lines);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SUBPROCESS_H */
