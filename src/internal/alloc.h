/*
 * internal/alloc.h - every allocation of the library goes through these, so
 * that mp_replace_allocator() sees all of them (and a test can fail the Nth).
 *
 * mp__malloc(0) and mp__calloc(0, n) return a unique pointer (never NULL on
 * success), as glibc does; mp__calloc and mp__reallocarray fail with NULL
 * (errno ENOMEM) when n * size overflows.
 */
#ifndef MPROC_INTERNAL_ALLOC_H
#define MPROC_INTERNAL_ALLOC_H

#include <stddef.h>

void *mp__malloc(size_t n);
void *mp__calloc(size_t n, size_t size);
void *mp__realloc(void *p, size_t n);
void *mp__reallocarray(void *p, size_t n, size_t size);
void mp__free(void *p);
char *mp__strdup(const char *s);
/* At most n bytes of s (which need not be NUL-terminated), NUL-terminated. */
char *mp__strndup(const char *s, size_t n);
/* vsnprintf into a new buffer; returns the length or -1 (ENOMEM). */
int mp__asprintf(char **out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
