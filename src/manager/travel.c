/*
 * manager/travel.c - a local manager's objects travel to forkserver and
 * spawn children (process/shared.c does the rest of the mechanism).
 *
 * Every object of a local manager lives in its region: one memfd that
 * store.c maps once (this file keeps its fd).  The proxies hold the
 * region's address (their `r`; a namespace, its dict's), so the region
 * goes as (its memfd, the object's offset, the region's address in the
 * parent), and the child maps it at that same address: every pointer
 * inside stays right.  The address is free there because regions live in
 * a range that mp_init reserves at the same address in the program and
 * in every child (space.c); a region outside it (the range was full) is
 * refused before any child exists (-ENOTSUP with the reason), and a
 * child whose own objects are where the region goes says -EEXIST.  The
 * child checks the region's header and the object's extent; its mapping
 * and fd stay for its life, so it can pass the objects on.  A fork child
 * has the same mapping already.  The fork server drops the program's
 * (mp__region_drop_all).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "internal/travel.h"
#include "manager/mgr_int.h"
#include "mproc/process.h"

/* This process's regions (made here or adopted) and their memfds. */
static struct {
	struct reg {
		struct mp__region *r;
		size_t size;
		int fd;
	} *e;
	size_t n, cap;
} regs;
static pthread_mutex_t regs_lock = PTHREAD_MUTEX_INITIALIZER;

/* List r with its memfd: true, or false when out of memory. */
static bool keep(struct mp__region *r, size_t size, int fd)
{
	bool kept = true;

	pthread_mutex_lock(&regs_lock);
	if (regs.n == regs.cap) {
		size_t cap = regs.cap == 0 ? 16 : 2 * regs.cap;
		struct reg *e = mp__reallocarray(regs.e, cap, sizeof(*e));

		if (e == NULL)
			kept = false;
		else {
			regs.e = e;
			regs.cap = cap;
		}
	}
	if (kept)
		regs.e[regs.n++] = (struct reg){r, size, fd};
	pthread_mutex_unlock(&regs_lock);
	return kept;
}

void mp__region_keep(struct mp__region *r, int fd)
{
	if (!keep(r, r->size, fd))
		close(fd); /* its objects cannot travel; the rest works */
}

void mp__region_forget(struct mp__region *r)
{
	int fd = -1;

	pthread_mutex_lock(&regs_lock);
	for (size_t i = 0; i < regs.n; i++)
		if (regs.e[i].r == r) {
			fd = regs.e[i].fd;
			regs.e[i] = regs.e[--regs.n];
			break;
		}
	pthread_mutex_unlock(&regs_lock);
	if (fd >= 0)
		close(fd);
}

void mp__region_drop_all(void)
{
	pthread_mutex_lock(&regs_lock);
	for (size_t i = 0; i < regs.n; i++)
		if (!mp__space_holds(regs.e[i].r)) /* the range: below */
			munmap(regs.e[i].r, regs.e[i].size);
	mp__free(regs.e);
	regs.e = NULL;
	regs.n = regs.cap = 0;
	pthread_mutex_unlock(&regs_lock);
	mp__space_drop();
}

int mp__region_describe(const void *p, int *fd, uint64_t *off,
			uint64_t *base)
{
	int rc = -EINVAL;

	pthread_mutex_lock(&regs_lock);
	for (size_t i = 0; i < regs.n; i++) {
		const char *b = (const char *)regs.e[i].r;

		if ((const char *)p > b && (const char *)p < b + regs.e[i].size) {
			*fd = regs.e[i].fd;
			*off = (uint64_t)((const char *)p - b);
			*base = (uint64_t)(uintptr_t)b;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&regs_lock);
	if (rc == 0 && !mp__space_holds((const void *)(uintptr_t)*base))
		rc = mp__why(-ENOTSUP, "its manager's region (at %p) is "
				       "outside the address range mp_init "
				       "reserves for regions (%s)",
			     (void *)(uintptr_t)*base,
			     mp__space_why_outside());
	return rc;
}

/* The proxy kinds: the region that holds obj (and no remote proxy). */
int mp__proxy_check(int kind, const void *obj)
{
	const struct mp__rproxy *remote = NULL;

	switch (kind) {
	case MP_SHARED_DICTPROXY:
		remote = ((const mp_dictproxy_t *)obj)->remote;
		break;
	case MP_SHARED_LISTPROXY:
		remote = ((const mp_listproxy_t *)obj)->remote;
		break;
	case MP_SHARED_NAMESPACEPROXY:
		remote = ((const mp_namespaceproxy_t *)obj)->remote;
		break;
	case MP_SHARED_QUEUEPROXY:
		remote = ((const mp_queueproxy_t *)obj)->remote;
		break;
	default:
		break;
	}
	if (remote != NULL)
		return mp__why(-ENOTSUP, "a connected manager's proxy cannot "
					 "travel to a forkserver or spawn "
					 "child (connect from the child)");
	return 0;
}

/* The region at base (mapped there once, from fd; *took: fd is now the
 * region's): NULL with a reason. */
static struct mp__region *region_at(int fd, uint64_t base, bool *took,
				    int *rc)
{
	struct mp__region *r = (struct mp__region *)(uintptr_t)base;
	struct stat st;

	pthread_mutex_lock(&regs_lock);
	for (size_t i = 0; i < regs.n; i++)
		if (regs.e[i].r == r) {
			pthread_mutex_unlock(&regs_lock);
			return r; /* mapped already */
		}
	pthread_mutex_unlock(&regs_lock);
	if (fstat(fd, &st) < 0) {
		*rc = MP__WHY_SYS("fstat");
		return NULL;
	}
	if (st.st_size < (off_t)sizeof(*r) || base == 0 || base % 4096 != 0) {
		*rc = mp__why(-EPROTO, "not a manager's region");
		return NULL;
	}
	if ((*rc = mp__space_map_at(fd, r, (size_t)st.st_size)) < 0)
		return NULL; /* space.c: in mp_init's range, or free */
	if (r->magic != MP__REGION_MAGIC || r->size != (uint64_t)st.st_size) {
		mp__space_unmap(r, (size_t)st.st_size);
		*rc = mp__why(-EPROTO, "not a manager's region");
		return NULL;
	}
	*took = keep(r, (size_t)st.st_size, fd);
	return r;
}

/* The bytes an object of kind at p takes (the region is mapped). */
static size_t extent(int kind, const void *p, size_t room)
{
	switch (kind) {
	case MP_SHARED_DICTPROXY:
		return sizeof(mp_dictproxy_t);
	case MP_SHARED_LISTPROXY:
		return sizeof(mp_listproxy_t);
	case MP_SHARED_NAMESPACEPROXY:
		return sizeof(mp_namespaceproxy_t);
	case MP_SHARED_QUEUEPROXY:
		return sizeof(mp_queueproxy_t);
	case MP_SHARED_VALUEPROXY:
		return sizeof(mp_valueproxy_t);
	case MP_SHARED_ARRAYPROXY: {
		const mp_arrayproxy_t *a = p;

		if (room < sizeof(*a) || a->size == 0 ||
		    a->n > (room - sizeof(*a)) / a->size)
			return SIZE_MAX;
		return sizeof(*a) + a->n * a->size;
	}
	default:
		return 0;
	}
}

int mp__region_adopt(int fd, uint64_t base, uint64_t off, int kind,
		     size_t need, bool *took, void **out)
{
	struct mp__region *r;
	size_t room;
	char *p;
	int rc = 0;

	*took = false;
	if ((r = region_at(fd, base, took, &rc)) == NULL)
		return rc;
	if (off < sizeof(*r) || off >= r->size)
		return mp__why(-EPROTO, "no object at offset %llu",
			       (unsigned long long)off);
	p = (char *)r + off;
	room = (size_t)(r->size - off);
	if (kind >= MP_SHARED_DICTPROXY)
		need = extent(kind, p, room);
	if (need > room)
		return mp__why(-EPROTO, "an object past the region's end");
	/* The proxies' pointers: this region, as in the parent. */
	if ((kind == MP_SHARED_DICTPROXY &&
	     ((mp_dictproxy_t *)p)->r != r) ||
	    (kind == MP_SHARED_LISTPROXY && ((mp_listproxy_t *)p)->r != r) ||
	    (kind == MP_SHARED_QUEUEPROXY && ((mp_queueproxy_t *)p)->r != r) ||
	    (kind == MP_SHARED_VALUEPROXY && ((mp_valueproxy_t *)p)->r != r) ||
	    (kind == MP_SHARED_ARRAYPROXY && ((mp_arrayproxy_t *)p)->r != r) ||
	    (kind == MP_SHARED_NAMESPACEPROXY &&
	     ((char *)((mp_namespaceproxy_t *)p)->d <= (char *)r ||
	      (char *)((mp_namespaceproxy_t *)p)->d + sizeof(mp_dictproxy_t) >
		      (char *)r + r->size ||
	      ((mp_namespaceproxy_t *)p)->d->r != r)))
		return mp__why(-EPROTO, "no %s at offset %llu",
			       "manager proxy", (unsigned long long)off);
	*out = p;
	return 0;
}
