/*
 * internal/error.h - how failures become the one message of mp_last_error().
 *
 * A message is written once, by the public function the caller called:
 *
 *   - A public function that finds the failure itself says so:
 *         return MP__ERR(-EINVAL, "timeout %g is negative", t);
 *     formats "<function>: <message>" and evaluates to the code.
 *   - Internal functions (everything not MP_API) never write the message.
 *     They return a code, and may leave a reason for it:
 *         return mp__why(-EPROTO, "record length %zu exceeds the ring", n);
 *         return MP__WHY_SYS("poll");        (-errno, "poll: <strerror>")
 *   - The public function that gets a code from below reports it with
 *         return MP__RAISE(rc);
 *     "<function>: <reason>", the reason being what the internal call left
 *     for this code, else mp_strerror(code).  MP__ERR(rc, "cannot X: %s",
 *     mp__reason(rc)) adds context the same way.
 *   - A public function never reports through another public function (that
 *     would name the wrong function); it calls the internal layer.  A reason
 *     left by an internal failure the caller recovered from is harmless: it
 *     is read only with the same code, and reading it clears it.
 * A public call that succeeds leaves mp_last_error() as it was.
 */
#ifndef MPROC_INTERNAL_ERROR_H
#define MPROC_INTERNAL_ERROR_H

#include <errno.h>

#include "mproc/common.h"

/* Public layer: "func: fmt..." into mp_last_error(); returns code. */
int mp__error(int code, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Internal layer: leave a reason for code; returns code. */
int mp__why(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), cold));

/*
 * The reason left for code by the internal layer (and forget it), or
 * mp_strerror(code) when none was left for this code.  The pointer is valid
 * until the next mp__why in this thread.
 */
const char *mp__reason(int code);

/* Public layer: report a code that came from below; returns code. */
int mp__raise(int code, const char *func) __attribute__((cold));

/* The calling thread's last message and code (mp_last_error's). */
const char *mp__error_message(void);
int mp__error_code(void);

#define MP__ERR(code, ...) mp__error((code), __func__, __VA_ARGS__)
#define MP__RAISE(code) mp__raise((code), __func__)

/* Return -EINVAL naming the argument when ptr is NULL (public layer). */
#define MP__CHECK_NULL(ptr)                                                   \
	do {                                                                  \
		if ((ptr) == NULL)                                            \
			return MP__ERR(-EINVAL, "argument '%s' is NULL",      \
				       #ptr);                                 \
	} while (0)

/* Same for functions returning something else than the code: return ret
 * (NULL, 0, '\0') with the code and message set. */
#define MP__CHECK_NULL_RET(ptr, ret)                                          \
	do {                                                                  \
		if ((ptr) == NULL) {                                          \
			MP__ERR(-EINVAL, "argument '%s' is NULL", #ptr);      \
			return ret;                                           \
		}                                                             \
	} while (0)

/* Same for functions returning a pointer. */
#define MP__CHECK_NULL_P(ptr) MP__CHECK_NULL_RET(ptr, NULL)

/* -errno of the failed syscall, with its name in the message (public). */
#define MP__SYSERR(what) MP__ERR(-errno, "%s: %s", (what), mp_strerror(-errno))

/* The same, as a reason left by the internal layer. */
#define MP__WHY_SYS(what) mp__why(-errno, "%s: %s", (what), mp_strerror(-errno))

#endif
