/*
 * internal/error.h - setting the thread-local error message (kept in
 * internal/error.c, read back by mp_last_error()).
 *
 * Every public function that fails calls MPI_ERR(code, fmt, ...), which
 * formats "<function>: <message>" into the calling thread's buffer (read back
 * by mp_last_error()) and evaluates to code, so failures read as
 *     return MPI_ERR(-EINVAL, "timeout %g is negative", t);
 */
#ifndef MPROC_INTERNAL_ERROR_H
#define MPROC_INTERNAL_ERROR_H

#include <errno.h>

#include "mproc/common.h"

int mpi_error(int code, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The calling thread's last message and code (mp_last_error's). */
const char *mpi_error_message(void);
int mpi_error_code(void);

#define MPI_ERR(code, ...) mpi_error((code), __func__, __VA_ARGS__)

/* Return -EINVAL naming the argument when ptr is NULL. */
#define MPI_CHECK_NULL(ptr)                                                   \
	do {                                                                  \
		if ((ptr) == NULL)                                            \
			return MPI_ERR(-EINVAL, "argument '%s' is NULL",      \
				       #ptr);                                 \
	} while (0)

/* Same for functions returning a pointer. */
#define MPI_CHECK_NULL_P(ptr)                                                 \
	do {                                                                  \
		if ((ptr) == NULL) {                                          \
			MPI_ERR(-EINVAL, "argument '%s' is NULL", #ptr);      \
			return NULL;                                          \
		}                                                             \
	} while (0)

/* -errno of the failed syscall, with its name in the message. */
#define MPI_SYSERR(what) MPI_ERR(-errno, "%s: %s", (what), mp_strerror(-errno))

#endif
