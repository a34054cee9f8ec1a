/*
 * internal/alloc.c - the allocator every part of the library uses, and
 * mp_replace_allocator() to swap it (libuv's uv_replace_allocator shape).
 */
#include "internal/alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"

static struct {
	mp_malloc_fn malloc;
	mp_realloc_fn realloc;
	mp_calloc_fn calloc;
	mp_free_fn free;
} alloc = { malloc, realloc, calloc, free };

int mp_replace_allocator(mp_malloc_fn m, mp_realloc_fn r,
			 mp_calloc_fn c, mp_free_fn f)
{
	if (m == NULL || r == NULL || c == NULL || f == NULL)
		return mp__error(-EINVAL, __func__,
				 "argument '%s' is NULL",
				 m == NULL ? "malloc_func" :
				 r == NULL ? "realloc_func" :
				 c == NULL ? "calloc_func" : "free_func");
	alloc.malloc = m;
	alloc.realloc = r;
	alloc.calloc = c;
	alloc.free = f;
	return 0;
}

void *mp__malloc(size_t n)
{
	void *p = alloc.malloc(n ? n : 1);

	if (p == NULL)
		errno = ENOMEM;
	return p;
}

void *mp__calloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = alloc.calloc(n, size)) == NULL)
		errno = ENOMEM;
	return p;
}

void *mp__realloc(void *p, size_t n)
{
	void *q = alloc.realloc(p, n ? n : 1);

	if (q == NULL)
		errno = ENOMEM;
	return q;
}

void *mp__reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return mp__realloc(p, total);
}

void mp__free(void *p)
{
	if (p != NULL)
		alloc.free(p);
}

char *mp__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = mp__malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

char *mp__strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = mp__malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

int mp__asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*out = NULL;
	if (n < 0 || (*out = mp__malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(*out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return n;
}
