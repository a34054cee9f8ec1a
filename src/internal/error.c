/*
 * internal/error.c - the thread-local message of mp_last_error() and the
 * internal layer's reason (see internal/error.h).
 */
#include "internal/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];
static _Thread_local int last_code;
static _Thread_local char why[400];
static _Thread_local int why_code;

static void vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	if (vsnprintf(buf, cap, fmt, ap) < 0)
		buf[0] = '\0';
}

int mp__error(int code, const char *func, const char *fmt, ...)
{
	va_list ap;
	int n;

	last_code = code;
	n = snprintf(last_error, sizeof(last_error), "%s: ", func);
	if (n < 0 || (size_t)n >= sizeof(last_error))
		n = 0;
	va_start(ap, fmt);
	vformat(last_error + n, sizeof(last_error) - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

int mp__why(int code, const char *fmt, ...)
{
	va_list ap;

	why_code = code;
	va_start(ap, fmt);
	vformat(why, sizeof(why), fmt, ap);
	va_end(ap);
	return code;
}

const char *mp__reason(int code)
{
	if (why_code != code || code == 0)
		return mp_strerror(code);
	why_code = 0;
	return why;
}

int mp__raise(int code, const char *func)
{
	return mp__error(code, func, "%s", mp__reason(code));
}

const char *mp__error_message(void)
{
	return last_error;
}

int mp__error_code(void)
{
	return last_code;
}
