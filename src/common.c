/*
 * common.c - version, error names and the thread-local error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"

static _Thread_local char last_error[512];
static _Thread_local int last_code;

unsigned mp_version(void)
{
	return MP_VERSION_HEX;
}

const char *mp_version_string(void)
{
	return MP_VERSION_STRING;
}

const char *mp_strerror(int code)
{
	const char *s;

	if (code == 0)
		return "success";
	switch (code) {
#define MP_ERRNO_CASE(name, value, text)                                      \
	case MP_##name:                                                       \
		return text;
		MP_ERRNO_MAP(MP_ERRNO_CASE)
#undef MP_ERRNO_CASE
	default:
		break;
	}
	if (code < 0 && code > -4096 && (s = strerrordesc_np(-code)) != NULL)
		return s;
	return "unknown error";
}

const char *mp_last_error(void)
{
	return last_error;
}

int mp_last_error_code(void)
{
	return last_code;
}

void mp_buf_free(void *buf)
{
	mpi_free(buf);
}

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
