/*
 * mproc/common.h - what every mproc module shares: the export macro, the
 * version, error codes and messages, timeouts, bytes, the allocator, and the
 * rules every public function follows (below).  A module that breaks one of
 * these rules is a bug.
 *
 * Names.  mp_<noun>_<verb>, with CPython's noun and verb (mp_queue_put is
 * Queue.put).  Module-level Python functions keep their Python name where
 * the name is the point: mp_pipe (Pipe), mp_client (Client), mp_mkfifo
 * (os.mkfifo), mp_run (subprocess.run), mp_as_completed and mp_futures_wait
 * (concurrent.futures), mp_current_process, mp_parent_process,
 * mp_active_children, mp_cpu_count, mp_proc_status (/proc/<pid>/stat).
 * Every public type ends in _t (mp_queue_t, mp_pool_opts_t, mp_bytes_t);
 * function-pointer types end in _fn instead (mp_task_fn, mp_future_done_fn).
 * Options come in a struct <thing>_opts_t, where all-zero (or a NULL
 * pointer) means CPython's defaults, or as named flags (MP_PIPE_SIMPLEX);
 * never as positional booleans.
 *
 * Returns.  Every function that can fail returns an int: 0 (or a count) on
 * success and a negative code on failure.  Codes are -errno values where one
 * fits (-EINVAL, -ETIMEDOUT, -EAGAIN, -EPIPE, ...) and the MP_E* codes below
 * (all under -1000) for the rest.  Constructors return NULL on failure and
 * leave the code in mp_last_error_code().  Predicates (is_alive, done,
 * empty, locked, broken, ...) return 1 or 0, or a negative code.  After any
 * failure, mp_last_error() holds one message naming the public function and
 * the argument or cause; a call that succeeds leaves it untouched.  A getter
 * that returns a pointer, a size or a character (mp_value_ptr, mp_shm_size,
 * mp_array_typecode, ...) returns NULL, 0 or '\0' for a NULL object and
 * counts that as a failure: -EINVAL and a message, as any other.  Every
 * public function is called with NULL for each pointer argument by
 * tests/test_nulls.c, which fails when a new one is not.
 *
 * Argument order.  The object, then the inputs (caller-owned buffers with
 * their capacity count as inputs), then the options, then the timeout, then
 * the outputs: mp_queue_get(q, timeout, &msg).
 *
 * Timeouts.  A `double timeout` argument is in seconds, measured on
 * CLOCK_MONOTONIC.  MP_FOREVER blocks, 0 polls; any other negative value (or
 * NaN) is -EINVAL.  +inf, and any timeout of 1e9 seconds (31 years) or more,
 * also blocks.  A signal (EINTR) never shortens or lengthens a wait.
 * A timeout held in an option field (task_timeout, mp_run_opts_t.timeout,
 * mp_barrier_opts_t.timeout) means "no limit" when it is 0 or MP_FOREVER.
 * A call that waits for one thing returns 0 once it happened and -ETIMEDOUT
 * when the timeout passed first (timeout 0 included): join, wait, acquire,
 * get, put, accept, result.  Only the _nowait calls return -EAGAIN instead,
 * as CPython's Empty/Full.  Calls that wait for several things
 * (mp_futures_wait) return how many are done, as CPython returns its sets.
 *
 * Bytes.  Bytes the library hands out are an mp_bytes_t.  Owned (the
 * function fills a caller's mp_bytes_t): the caller releases them with
 * mp_bytes_destroy(); data is NUL-terminated for convenience (len excludes
 * it).  Borrowed (the function sets a `const mp_bytes_t *`): they stay valid
 * until the object that lent them is freed or asked again, as each function
 * says; they are not NUL-terminated.  Bytes going in are (const void *, size_t).
 *
 * Lifetimes, one verb for one act:
 *   _new / _free    allocate a handle / release it and all it owns.  _free
 *                   takes NULL, works in any state, implies close, and never
 *                   blocks for more than a bounded time (documented per
 *                   module); it may stop children it owns to keep that bound.
 *   _init / _destroy  set up / tear down an object in storage the caller owns
 *                   (an mp_lock_t placed in shared memory, an mp_completed_t
 *                   on the stack); _destroy never frees that storage.
 *   _close          CPython's close(): the object stops doing its main work
 *                   (no more sends, puts or tasks; a mapping is unmapped) but
 *                   the handle stays valid for queries, join, unlink and
 *                   _free.  Idempotent.
 *   _shutdown       the executor's shutdown(): close, then (by default) wait.
 *   _terminate / _kill  send SIGTERM / SIGKILL, as CPython.
 *   _unlink         remove a name from the system (a shared memory segment).
 * Handles are not thread-safe unless their header says so; shared objects
 * (locks, queues, values) are safe across processes and threads by design.
 */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MP_BUILDING) && defined(__GNUC__)
#define MP_API __attribute__((visibility("default")))
#else
#define MP_API
#endif

#define MP_VERSION_MAJOR 0
#define MP_VERSION_MINOR 1
#define MP_VERSION_PATCH 0
#define MP_VERSION_STRING "0.1.0"
/* One number for comparisons: 0xMMmmpp. */
#define MP_VERSION_HEX                                                        \
	((MP_VERSION_MAJOR << 16) | (MP_VERSION_MINOR << 8) | MP_VERSION_PATCH)

/*
 * The version of the library actually linked, as MP_VERSION_HEX / _STRING.
 * Never fail; thread-safe.
 */
MP_API unsigned mp_version(void);
MP_API const char *mp_version_string(void);

/* Block until the operation completes (CPython's timeout=None). */
#define MP_FOREVER (-1.0)

/*
 * mproc's own error codes (negative, below -1000).  X(name, value, text).
 * CPython's exception for each is named in the text where one exists.
 */
#define MP_ERRNO_MAP(X)                                                       \
	X(EEOF, -1001, "end of file: the peer closed the connection (EOFError)") \
	X(EBROKEN, -1002, "worker process died (BrokenProcessPool)")             \
	X(ETASK, -1003, "task failed")                                           \
	X(EOWNERDEAD, -1004, "previous owner died holding the lock")             \
	X(ECANCELLED, -1005, "cancelled (CancelledError)")                       \
	X(ECLOSED, -1006, "object is closed")                                    \
	X(EAUTH, -1007, "authentication failed (AuthenticationError)")           \
	X(EBARRIER, -1008, "barrier is broken (BrokenBarrierError)")             \
	X(ECALLED, -1009,                                                        \
	  "child exited with a non-zero status (CalledProcessError)")

enum {
#define MP_ERRNO_ENUM(name, value, text) MP_##name = (value),
	MP_ERRNO_MAP(MP_ERRNO_ENUM)
#undef MP_ERRNO_ENUM
};

/*
 * mp_strerror - a static description of any code: an MP_E* code, a negative
 * errno value, or 0.  Never NULL, never allocates; thread-safe.
 */
MP_API const char *mp_strerror(int code);

/*
 * mp_err_name - the symbolic name of a code: "MP_EOWNERDEAD" for mproc's
 * own, "ETIMEDOUT" for a negative errno value, "0" for 0, "unknown" for a
 * value that is neither.  Static, never NULL; thread-safe.
 */
MP_API const char *mp_err_name(int code);

/*
 * mp_last_error - the message of the last failure in the calling thread, with
 * its context ("mp_process_join: can only join a started process").  Valid
 * until the next mproc call in this thread fails.  "" if none failed yet.
 * Thread-safe: each thread has its own message.
 */
MP_API const char *mp_last_error(void);

/*
 * mp_last_error_code - the code of the last failure in the calling thread
 * (0 if none yet): how a constructor that returned NULL says why.
 * Thread-safe: each thread has its own code.
 */
MP_API int mp_last_error_code(void);

/*
 * mp_buf_free - release a buffer the library allocated for the caller (each
 * function that hands one out says so).  NULL is a no-op.  Thread-safe (as
 * free: not twice on one buffer).
 */
MP_API void mp_buf_free(void *buf);

/* Bytes the library hands out (see "Bytes" above). */
typedef struct mp_bytes {
	char *data;
	size_t len;
} mp_bytes_t;

/*
 * mp_bytes_destroy - release the data of owned bytes and reset *b to empty
 * (data NULL, len 0), so a second call is harmless.  NULL is a no-op.
 * Thread-safe on distinct bytes.
 */
MP_API void mp_bytes_destroy(mp_bytes_t *b);

/*
 * mp_replace_allocator - make every allocation of the library go through
 * these four functions instead of libc's (libuv's uv_replace_allocator).
 * Call it before any other mproc function, or after every object is freed:
 * a buffer must be freed by the allocator that made it.  Buffers handed to
 * the caller are then released by mp_buf_free() with free_func.  The
 * functions must follow malloc's contract (NULL on failure) and are also
 * called in children the library forks.  Returns 0, or -EINVAL if one is
 * NULL.  Not thread-safe: nothing else may run in the library meanwhile.
 */
typedef void *(*mp_malloc_fn)(size_t size);
typedef void *(*mp_realloc_fn)(void *ptr, size_t size);
typedef void *(*mp_calloc_fn)(size_t count, size_t size);
typedef void (*mp_free_fn)(void *ptr);
MP_API int mp_replace_allocator(mp_malloc_fn malloc_func,
				mp_realloc_fn realloc_func,
				mp_calloc_fn calloc_func,
				mp_free_fn free_func);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_COMMON_H */
