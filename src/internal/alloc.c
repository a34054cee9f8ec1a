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
		return mpi_error(-EINVAL, __func__,
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

void *mpi_malloc(size_t n)
{
	void *p = alloc.malloc(n ? n : 1);

	if (p == NULL)
		errno = ENOMEM;
	return p;
}

void *mpi_calloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = alloc.calloc(n, size)) == NULL)
		errno = ENOMEM;
	return p;
}

void *mpi_realloc(void *p, size_t n)
{
	void *q = alloc.realloc(p, n ? n : 1);

	if (q == NULL)
		errno = ENOMEM;
	return q;
}

void *mpi_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return mpi_realloc(p, total);
}

void mpi_free(void *p)
{
	if (p != NULL)
		alloc.free(p);
}

char *mpi_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = mpi_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

char *mpi_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = mpi_malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

int mpi_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*out = NULL;
	if (n < 0 || (*out = mpi_malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(*out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return n;
}
