/*
 * internal/alloc.h - every allocation of the library goes through these, so
 * that mp_replace_allocator() sees all of them (and a test can fail the Nth).
 *
 * mpi_malloc(0) and mpi_calloc(0, n) return a unique pointer (never NULL on
 * success), as glibc does; mpi_calloc and mpi_reallocarray fail with NULL
 * (errno ENOMEM) when n * size overflows.
 */
#ifndef MPROC_INTERNAL_ALLOC_H
#define MPROC_INTERNAL_ALLOC_H

#include <stddef.h>

void *mpi_malloc(size_t n);
void *mpi_calloc(size_t n, size_t size);
void *mpi_realloc(void *p, size_t n);
void *mpi_reallocarray(void *p, size_t n, size_t size);
void mpi_free(void *p);
char *mpi_strdup(const char *s);
/* At most n bytes of s (which need not be NUL-terminated), NUL-terminated. */
char *mpi_strndup(const char *s, size_t n);
/* vsnprintf into a new buffer; returns the length or -1 (ENOMEM). */
int mpi_asprintf(char **out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
