/*
 * mproc/common.h - what every mproc module shares: the export macro, the
 * version, error codes and messages, timeouts, and library-owned buffers.
 *
 * Error model.  Every function that can fail returns an int: 0 (or a count)
 * on success and a negative code on failure.  Codes are -errno values where
 * one fits (-EINVAL, -ETIMEDOUT, -EAGAIN, -EPIPE, ...) and the MP_E* codes
 * below (all under -1000) for the rest.  Constructors return NULL on failure.
 * After any failure, mp_last_error() returns a message with its context.
 *
 * Timeouts.  A `double timeout` is in seconds, measured on CLOCK_MONOTONIC.
 * MP_FOREVER blocks, 0 polls; any other negative value (or NaN) is -EINVAL.
 * +inf, and any timeout of 1e9 seconds (31 years) or more, also blocks.
 * Option fields holding a timeout (task_timeout, mp_run_opts.timeout) take
 * 0 or MP_FOREVER for "no limit".
 * A signal (EINTR) never shortens or lengthens a wait.
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

/* The version of the library actually linked, as MP_VERSION_HEX / _STRING. */
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
 * mp_last_error - the message of the last failure in the calling thread, with
 * its context ("mp_process_join: can only join a started process").  Valid
 * until the next mproc call in this thread fails.  "" if none failed yet.
 * Thread-safe: each thread has its own message.
 */
MP_API const char *mp_last_error(void);

/*
 * mp_last_error_code - the code of the last failure in the calling thread
 * (0 if none yet): how a constructor that returned NULL says why.
 */
MP_API int mp_last_error_code(void);

/*
 * mp_buf_free - release a buffer the library allocated for the caller (each
 * function that hands one out says so).  NULL is a no-op.
 */
MP_API void mp_buf_free(void *buf);

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
typedef void *(*mp_malloc_func)(size_t size);
typedef void *(*mp_realloc_func)(void *ptr, size_t size);
typedef void *(*mp_calloc_func)(size_t count, size_t size);
typedef void (*mp_free_func)(void *ptr);
MP_API int mp_replace_allocator(mp_malloc_func malloc_func,
				mp_realloc_func realloc_func,
				mp_calloc_func calloc_func,
				mp_free_func free_func);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_COMMON_H */
