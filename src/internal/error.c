/*
 * internal/error.c - the thread-local error message and code (see
 * internal/error.h); mp_last_error() and mp_last_error_code() read them.
 */
#include "internal/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];
static _Thread_local int last_code;

int mpi_error(int code, const char *func, const char *fmt, ...)
{
	va_list ap;
	int n;

	last_code = code;
	n = snprintf(last_error, sizeof(last_error), "%s: ", func);
	if (n < 0 || (size_t)n >= sizeof(last_error))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof(last_error) - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

const char *mpi_error_message(void)
{
	return last_error;
}

int mpi_error_code(void)
{
	return last_code;
}
