/*
 * shm/segment.c - SharedMemory: named POSIX shared memory segments
 * (shm_open under /dev/shm), created, attached, closed, unlinked, freed.
 *
 * A handle keeps no fd: the one shm_open gave is closed as soon as the
 * segment is mapped, so close only unmaps (buf becomes NULL) and the handle
 * keeps its name and size for unlink and queries until mp_shm_free.
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
#include "internal/travel.h"
#include "shm/shm_int.h"

struct mp_shm {
	void *buf;
	size_t size;
	bool tracked;
	char name[NAME_MAX + 2]; /* "/name" */
};

/* "name" or "/name" to "/name" in out; -EINVAL / -ENAMETOOLONG. */
static int make_path(const char *name, char *out, size_t cap)
{
	if (*name == '/')
		name++;
	if (*name == '\0' || strchr(name, '/') != NULL || strchr(name, '\n'))
		return mp__why(-EINVAL, "name '%s' is invalid (non-empty, no '/')",
			       name);
	if (strlen(name) + 1 >= cap || strlen(name) > NAME_MAX - 1)
		return mp__why(-ENAMETOOLONG, "name '%.40s...' is too long",
			       name);
	snprintf(out, cap, "/%s", name);
	return 0;
}

/* Map the segment read-write into s->buf: 0 or -errno with a reason. */
static int map(mp_shm_t *s, int fd)
{
	void *p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return mp__why(-errno, "mmap of %s (%zu bytes): %s", s->name + 1,
			       s->size, mp_strerror(-errno));
	s->buf = p;
	return 0;
}

mp_shm_t *mp_shm_create(const char *name, size_t size, const mp_shm_opts_t *opts)
{
	mp_shm_t *s;
	int fd = -1, tries, rc;

	if (size == 0 || size > (size_t)PTRDIFF_MAX) {
		MP__ERR(-EINVAL, "'size' must be a positive number different "
				 "from zero");
		return NULL;
	}
	if ((s = mp__calloc(1, sizeof(*s))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	s->size = size;
	for (tries = 0; fd < 0 && tries < 100; tries++) {
		if (name == NULL) { /* like CPython: psm_ + 8 hex digits */
			unsigned r = 0;

			if (getrandom(&r, sizeof(r), 0) != sizeof(r))
				r = (unsigned)rand() ^ (unsigned)getpid();
			snprintf(s->name, sizeof(s->name), "/psm_%08x", r);
		} else if ((rc = make_path(name, s->name, sizeof(s->name))) < 0) {
			MP__RAISE(rc);
			mp__free(s);
			return NULL;
		}
		fd = shm_open(s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || name != NULL))
			break;
	}
	if (fd < 0) {
		MP__ERR(-errno, "shm_open(%s): %s", s->name + 1,
			mp_strerror(-errno));
		mp__free(s);
		return NULL;
	}
	s->tracked = opts == NULL || !opts->untracked;
	if (ftruncate(fd, (off_t)size) < 0) {
		MP__ERR(-errno, "ftruncate(%s, %zu): %s", s->name + 1, size,
			mp_strerror(-errno));
		goto fail;
	}
	if (s->tracked && (rc = mp__tracker_register(s->name)) < 0) {
		MP__ERR(rc, "cannot start the segment tracker: %s",
			mp_strerror(rc));
		goto fail;
	}
	if ((rc = map(s, fd)) < 0) {
		MP__RAISE(rc);
		if (s->tracked)
			mp__tracker_unregister(s->name);
		goto fail;
	}
	close(fd);
	return s;
fail:
	close(fd);
	shm_unlink(s->name);
	mp__free(s);
	return NULL;
}

mp_shm_t *mp_shm_attach(const char *name)
{
	struct stat st;
	mp_shm_t *s;
	int fd, rc;

	MP__CHECK_NULL_P(name);
	if ((s = mp__calloc(1, sizeof(*s))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	if ((rc = make_path(name, s->name, sizeof(s->name))) < 0) {
		MP__RAISE(rc);
		mp__free(s);
		return NULL;
	}
	fd = shm_open(s->name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		MP__ERR(-errno, "no shared memory segment '%s': %s", s->name + 1,
			mp_strerror(-errno));
		mp__free(s);
		return NULL;
	}
	if ((rc = fstat(fd, &st)) < 0 || st.st_size == 0) {
		if (rc < 0)
			MP__ERR(-errno, "fstat(%s): %s", s->name + 1,
				mp_strerror(-errno));
		else
			MP__ERR(-EINVAL, "segment '%s' is empty", s->name + 1);
		close(fd);
		mp__free(s);
		return NULL;
	}
	s->size = (size_t)st.st_size;
	if ((rc = map(s, fd)) < 0) {
		MP__RAISE(rc);
		close(fd);
		mp__free(s);
		return NULL;
	}
	close(fd);
	return s;
}

void *mp_shm_buf(const mp_shm_t *s)
{
	MP__CHECK_NULL_P(s);
	return s->buf;
}

size_t mp_shm_size(const mp_shm_t *s)
{
	MP__CHECK_NULL_RET(s, 0);
	return s->size;
}

const char *mp_shm_name(const mp_shm_t *s)
{
	MP__CHECK_NULL_P(s);
	return s->name + 1;
}

int mp_shm_close(mp_shm_t *s)
{
	MP__CHECK_NULL(s);
	if (s->buf != NULL) {
		if (munmap(s->buf, s->size) < 0)
			return MP__ERR(-errno, "munmap of %s: %s", s->name + 1,
				       mp_strerror(-errno));
		s->buf = NULL;
	}
	return 0;
}

void mp_shm_free(mp_shm_t *s)
{
	if (s == NULL)
		return;
	if (s->buf != NULL)
		munmap(s->buf, s->size); /* only EINVAL, impossible here */
	mp__free(s);
}

int mp_shm_unlink(mp_shm_t *s)
{
	MP__CHECK_NULL(s);
	if (shm_unlink(s->name) < 0)
		return MP__ERR(-errno, "shm_unlink(%s): %s", s->name + 1,
			       mp_strerror(-errno));
	mp__tracker_unregister(s->name);
	return 0;
}

int mp__shm_open_fd(const mp_shm_t *s)
{
	int fd = shm_open(s->name, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		return mp__why(-errno, "SharedMemory '%s' cannot travel: "
				       "shm_open: %s",
			       s->name + 1, mp_strerror(-errno));
	return fd;
}

int mp__shm_adopt(int fd, mp_shm_t **out)
{
	static const char dir[] = "/dev/shm/";
	char link[64], path[NAME_MAX + sizeof(dir) + 2];
	struct stat st;
	mp_shm_t *s;
	ssize_t n;
	int rc;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return MP__WHY_SYS("readlink(/proc/self/fd)");
	path[n] = '\0';
	if (strncmp(path, dir, sizeof(dir) - 1) != 0 ||
	    strlen(path) - (sizeof(dir) - 1) > NAME_MAX - 1)
		return mp__why(-EPROTO, "fd %d is not a shared memory segment "
					"(%s)",
			       fd, path);
	if (fstat(fd, &st) < 0)
		return MP__WHY_SYS("fstat");
	if (st.st_size <= 0)
		return mp__why(-EPROTO, "segment %s is empty", path);
	if ((s = mp__calloc(1, sizeof(*s))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	s->name[0] = '/';
	memcpy(s->name + 1, path + sizeof(dir) - 1,
	       strlen(path + sizeof(dir) - 1) + 1);
	s->size = (size_t)st.st_size;
	if ((rc = map(s, fd)) < 0) {
		mp__free(s);
		return rc;
	}
	*out = s;
	return 0;
}
