/*
 * common.c - version, error names, and the public faces of the thread-local
 * error message (kept by internal/error.c).
 */
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"

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

const char *mp_err_name(int code)
{
	const char *s;

	if (code == 0)
		return "0";
	switch (code) {
#define MP_ERRNO_NAME(name, value, text)                                      \
	case MP_##name:                                                       \
		return "MP_" #name;
		MP_ERRNO_MAP(MP_ERRNO_NAME)
#undef MP_ERRNO_NAME
	default:
		break;
	}
	if (code < 0 && code > -4096 && (s = strerrorname_np(-code)) != NULL)
		return s;
	return "unknown";
}

const char *mp_last_error(void)
{
	return mp__error_message();
}

int mp_last_error_code(void)
{
	return mp__error_code();
}

void mp_buf_free(void *buf)
{
	mp__free(buf);
}

void mp_bytes_destroy(mp_bytes_t *b)
{
	if (b == NULL)
		return;
	mp__free(b->data);
	b->data = NULL;
	b->len = 0;
}
