/*
 * manager/space.c - the address space local managers' regions live in,
 * the same in a program and in every child it starts.
 *
 * A region's objects hold pointers, so a forkserver or spawn child maps it
 * at the parent's address (travel.c).  mp_init reserves one range of
 * address space first thing (SPACE_SIZE, PROT_NONE and MAP_NORESERVE: it
 * costs no memory) at a fixed address far from where the kernel, the
 * loader and the sanitizers put things (checked: MAP_FIXED_NOREPLACE;
 * the next candidate, else wherever the kernel likes), and regions are
 * carved from it.  The fork server and its children are forks of the
 * program after mp_init and have the range; a spawn child gets its
 * address in MP_SPAWN_SPACE, and its mp_init reserves the same range
 * before anything else.  A child maps an incoming region with MAP_FIXED
 * only over a free part of its own range, never over anything else.
 *
 * A region made before mp_init reserves the range itself (the same
 * candidates; mp_init then finds it), so it is in the range as well.
 * When the range has no room (a region bigger than what is free, or
 * SPACE_PARTS regions in it) or there is none (the address taken in a
 * spawn child), a region goes where the kernel puts it and its objects
 * go only to fork children: travel.c refuses them for the others
 * (mp__space_holds), as its address could be anything's in the child.
 *
 * The table of used parts is per process: a fork child inherits it (and
 * the mappings); the fork server drops what it inherited (mp__space_drop:
 * the program's regions are not its own), so its children start empty.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal/error.h"
#include "internal/travel.h"

#define SPACE_SIZE ((size_t)64 << 30)
#define SPACE_PARTS 256 /* as many as default-sized (256 MiB) regions fit */
#define SPACE_ENV "MP_SPAWN_SPACE"

/* Where to try, in order.  The first is free in a plain program (the
 * kernel's mmap area starts at least 1 TiB higher), in ASan's high
 * memory and in TSan's (gcc's and clang's) application range; the second
 * lies above every randomised base of a PIE binary. */
static const uintptr_t candidates[] = {
	(uintptr_t)0x7e9000000000ull,
	(uintptr_t)0x566000000000ull,
};

static struct {
	char *base; /* NULL: no range */
	bool tried; /* reserved once (mp_init, or the first region) */
	struct {
		size_t off, len;
	} part[SPACE_PARTS];
	size_t n;
} space;
static pthread_mutex_t space_lock = PTHREAD_MUTEX_INITIALIZER;

/* The range at want: true once it is ours. */
static bool reserve_at(uintptr_t want)
{
	void *p = mmap((void *)want, SPACE_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       (want != 0 ? MAP_FIXED_NOREPLACE : 0),
		       -1, 0);

	if (p == MAP_FAILED)
		return false;
	if (want != 0 && (uintptr_t)p != want) { /* a kernel before 4.17 */
		munmap(p, SPACE_SIZE);
		return false;
	}
	space.base = p;
	return true;
}

/* The first candidate that is free, else where the kernel likes. */
static void reserve_any(void)
{
	space.tried = true;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++)
		if (reserve_at(candidates[i]))
			return;
	reserve_at(0);
}

void mp__space_reserve(void)
{
	const char *env = getenv(SPACE_ENV);
	uintptr_t want = 0;

	if (env != NULL) {
		char *end;
		unsigned long long v = strtoull(env, &end, 16);

		if (*end == '\0' && v % 4096 == 0)
			want = (uintptr_t)v;
		unsetenv(SPACE_ENV);
	}
	if (space.base != NULL)
		return; /* a fork child of a process that had it, or a region
			   made before mp_init reserved it */
	if (want != 0) {
		space.tried = true;
		reserve_at(want); /* the parent's: else the child's regions
				     go to fork children only */
		return;
	}
	reserve_any();
}

bool mp__space_env(char *buf, size_t cap)
{
	if (space.base == NULL)
		return false;
	snprintf(buf, cap, SPACE_ENV "=%" PRIxPTR, (uintptr_t)space.base);
	return true;
}

/* Does [off, off + len) meet a used part?  (With the lock.) */
static bool used(size_t off, size_t len)
{
	for (size_t i = 0; i < space.n; i++)
		if (off < space.part[i].off + space.part[i].len &&
		    space.part[i].off < off + len)
			return true;
	return false;
}

/* Map fd's len bytes at offset off of the range and list the part (with
 * the lock): the address, or NULL (errno). */
static void *place(int fd, size_t off, size_t len)
{
	void *p;

	if (space.n == SPACE_PARTS) {
		errno = ENOSPC;
		return NULL;
	}
	p = mmap(space.base + off, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	space.part[space.n].off = off;
	space.part[space.n++].len = len;
	return p;
}

/* The lowest free offset that holds len bytes, or SIZE_MAX. */
static size_t first_fit(size_t len)
{
	size_t best = SIZE_MAX;

	if (len > SPACE_SIZE)
		return SIZE_MAX;
	if (!used(0, len))
		return 0;
	for (size_t i = 0; i < space.n; i++) {
		size_t off = space.part[i].off + space.part[i].len;

		if (off < best && len <= SPACE_SIZE - off && !used(off, len))
			best = off;
	}
	return best;
}

void *mp__space_map(int fd, size_t len)
{
	void *p = NULL;

	pthread_mutex_lock(&space_lock);
	if (!space.tried)
		reserve_any(); /* a region before mp_init: mp_init keeps it */
	if (space.base != NULL) {
		size_t off = first_fit(len);

		if (off != SIZE_MAX)
			p = place(fd, off, len);
	}
	pthread_mutex_unlock(&space_lock);
	if (p != NULL)
		return p;
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, 0);
}

/* Is p in the range?  Then *off is its offset. */
static bool in_space(const void *p, size_t *off)
{
	if (space.base == NULL || (const char *)p < space.base ||
	    (const char *)p >= space.base + SPACE_SIZE)
		return false;
	*off = (size_t)((const char *)p - space.base);
	return true;
}

bool mp__space_holds(const void *p)
{
	size_t off;
	bool in;

	pthread_mutex_lock(&space_lock);
	in = in_space(p, &off);
	pthread_mutex_unlock(&space_lock);
	return in;
}

const char *mp__space_why_outside(void)
{
	return space.base == NULL
		       ? "this process has no such range: its address was "
			 "taken"
		       : "the range (64 GiB, 256 regions) had no room for it";
}

int mp__space_map_at(int fd, void *at, size_t len)
{
	size_t off;
	void *p;

	pthread_mutex_lock(&space_lock);
	if (in_space(at, &off)) {
		int rc = 0;

		if (len > SPACE_SIZE - off || used(off, len))
			rc = mp__why(-EEXIST, "manager region: its address %p "
					      "is taken here",
				     at);
		else if (place(fd, off, len) == NULL)
			rc = MP__WHY_SYS("mmap");
		pthread_mutex_unlock(&space_lock);
		return rc;
	}
	pthread_mutex_unlock(&space_lock);
	p = mmap(at, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED && errno != EEXIST)
		return MP__WHY_SYS("mmap");
	if (p != at) {
		if (p != MAP_FAILED) /* a kernel before 4.17 */
			munmap(p, len);
		return mp__why(-EEXIST, "manager region: its address %p is "
					"taken here (outside the range mp_init "
					"reserves)",
			       at);
	}
	return 0;
}

void mp__space_unmap(void *p, size_t len)
{
	size_t off;

	pthread_mutex_lock(&space_lock);
	if (in_space(p, &off) &&
	    /* back to reserved: the range stays whole and ours */
	    mmap(p, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) != MAP_FAILED) {
		for (size_t i = 0; i < space.n; i++)
			if (space.part[i].off == off) {
				space.part[i] = space.part[--space.n];
				break;
			}
		pthread_mutex_unlock(&space_lock);
		return;
	}
	/* Outside the range, or the hole stays listed as used (so nothing
	 * is ever mapped with MAP_FIXED over what may be another's). */
	pthread_mutex_unlock(&space_lock);
	munmap(p, len);
}

void mp__space_drop(void)
{
	pthread_mutex_lock(&space_lock);
	if (space.base != NULL &&
	    mmap(space.base, SPACE_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) != MAP_FAILED)
		space.n = 0;
	pthread_mutex_unlock(&space_lock);
}
