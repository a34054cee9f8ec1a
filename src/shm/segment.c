/*
 * shm/segment.c - SharedMemory: named POSIX shared memory segments
 * (shm_open under /dev/shm), created, attached, closed and unlinked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "shm/shm_int.h"

struct mp_shm {
	void *buf;
	size_t size;
	bool tracked;
	char name[NAME_MAX + 2]; /* "/name" */
};

/* "name" or "/name" to "/name" in out; -EINVAL / -ENAMETOOLONG. */
static int make_path(const char *name, char *out, size_t cap,
		     const char *func)
{
	if (*name == '/')
		name++;
	if (*name == '\0' || strchr(name, '/') != NULL || strchr(name, '\n'))
		return mpi_error(-EINVAL, func,
				 "name '%s' is invalid (non-empty, no '/')",
				 name);
	if (strlen(name) + 1 >= cap || strlen(name) > NAME_MAX - 1)
		return mpi_error(-ENAMETOOLONG, func, "name '%.40s...' is too long",
				 name);
	snprintf(out, cap, "/%s", name);
	return 0;
}

static mp_shm_t *map(mp_shm_t *s, int fd, int prot, const char *func)
{
	s->buf = mmap(NULL, s->size, prot, MAP_SHARED, fd, 0);
	if (s->buf == MAP_FAILED) {
		mpi_error(-errno, func, "mmap of %s (%zu bytes): %s", s->name + 1,
			  s->size, mp_strerror(-errno));
		return NULL;
	}
	return s;
}

mp_shm_t *mp_shm_create(const char *name, size_t size, const mp_shm_opts_t *opts)
{
	mp_shm_t *s;
	int fd = -1, tries, rc;

	if (size == 0 || size > (size_t)PTRDIFF_MAX) {
		MPI_ERR(-EINVAL, "'size' must be a positive number different "
				 "from zero");
		return NULL;
	}
	if ((s = mpi_calloc(1, sizeof(*s))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	s->size = size;
	for (tries = 0; fd < 0 && tries < 100; tries++) {
		if (name == NULL) { /* like CPython: psm_ + 8 hex digits */
			unsigned r = 0;

			if (getrandom(&r, sizeof(r), 0) != sizeof(r))
				r = (unsigned)rand() ^ (unsigned)getpid();
			snprintf(s->name, sizeof(s->name), "/psm_%08x", r);
		} else if (make_path(name, s->name, sizeof(s->name), __func__) < 0) {
			mpi_free(s);
			return NULL;
		}
		fd = shm_open(s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || name != NULL))
			break;
	}
	if (fd < 0) {
		MPI_ERR(-errno, "shm_open(%s): %s", s->name + 1,
			mp_strerror(-errno));
		mpi_free(s);
		return NULL;
	}
	s->tracked = opts == NULL || !opts->untracked;
	if (ftruncate(fd, (off_t)size) < 0) {
		MPI_ERR(-errno, "ftruncate(%s, %zu): %s", s->name + 1, size,
			mp_strerror(-errno));
		goto fail;
	}
	if (s->tracked && (rc = mpi_tracker_register(s->name)) < 0) {
		MPI_ERR(rc, "cannot start the segment tracker: %s",
			mp_strerror(rc));
		goto fail;
	}
	if (map(s, fd, PROT_READ | PROT_WRITE, __func__) == NULL) {
		if (s->tracked)
			mpi_tracker_unregister(s->name);
		goto fail;
	}
	close(fd);
	return s;
fail:
	close(fd);
	shm_unlink(s->name);
	mpi_free(s);
	return NULL;
}

mp_shm_t *mp_shm_attach(const char *name)
{
	struct stat st;
	mp_shm_t *s;
	int fd;

	MPI_CHECK_NULL_P(name);
	if ((s = mpi_calloc(1, sizeof(*s))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	if (make_path(name, s->name, sizeof(s->name), __func__) < 0) {
		mpi_free(s);
		return NULL;
	}
	fd = shm_open(s->name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		MPI_ERR(-errno, "no shared memory segment '%s': %s", s->name + 1,
			mp_strerror(-errno));
		mpi_free(s);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		MPI_ERR(st.st_size == 0 ? -EINVAL : -errno,
			"segment '%s' is empty or unreadable", s->name + 1);
		close(fd);
		mpi_free(s);
		return NULL;
	}
	s->size = (size_t)st.st_size;
	if (map(s, fd, PROT_READ | PROT_WRITE, __func__) == NULL) {
		close(fd);
		mpi_free(s);
		return NULL;
	}
	close(fd);
	return s;
}

void *mp_shm_buf(const mp_shm_t *s)
{
	return s ? s->buf : NULL;
}

size_t mp_shm_size(const mp_shm_t *s)
{
	return s ? s->size : 0;
}

const char *mp_shm_name(const mp_shm_t *s)
{
	return s ? s->name + 1 : NULL;
}

void mp_shm_close(mp_shm_t *s)
{
	if (s == NULL)
		return;
	munmap(s->buf, s->size);
	mpi_free(s);
}

int mp_shm_unlink(mp_shm_t *s)
{
	MPI_CHECK_NULL(s);
	if (shm_unlink(s->name) < 0)
		return MPI_ERR(-errno, "shm_unlink(%s): %s", s->name + 1,
			       mp_strerror(-errno));
	mpi_tracker_unregister(s->name);
	return 0;
}
