/*
 * internal/travel.h - what the modules give the process module so their
 * objects can travel to a forkserver or spawn child (process/shared.c has
 * the mechanism): the parts of an object, and a handle built on parts
 * mapped in another process.
 */
#ifndef MPROC_INTERNAL_TRAVEL_H
#define MPROC_INTERNAL_TRAVEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/queue.h"
#include "mproc/shm.h"

/* A queue's ring and its shared state (arena blocks). */
void mp__queue_parts(const mp_queue_t *q, void **ring, void **state);
/* The size of a queue's state block. */
size_t mp__queue_state_size(void);
/* A handle on a ring and a state mapped here: 0 and *out, or -ENOMEM. */
int mp__queue_adopt(void *ring, void *state, mp_queue_t **out);

/* An fd of a SharedMemory's segment (shm_open by its name; the caller
 * closes it): the fd, or -errno with a reason (unlinked: -ENOENT). */
int mp__shm_open_fd(const mp_shm_t *s);
/* A handle on the segment open as fd (kept open only while mapping; its
 * name from /proc/self/fd), not tracked: 0 and *out, or -errno. */
int mp__shm_adopt(int fd, mp_shm_t **out);

/*
 * A local manager's objects (manager/travel.c).  mp__region_keep lists a
 * region this process mapped with its memfd (closed when the table is
 * full: its objects then cannot travel), mp__region_forget drops it
 * (closing the fd).  mp__region_describe: the memfd, offset and region
 * address of what p points into, or -EINVAL (not in a region, no
 * reason), or -ENOTSUP with a reason (a region outside the range below:
 * its objects go to fork children only).  mp__region_drop_all (the fork
 * server, its fds closed already): forget and unmap the program's.
 * mp__proxy_check: 0, or -ENOTSUP with a reason for a connected manager's
 * proxy.  mp__region_adopt (the child): map the region from fd at base
 * (once; *took: fd is kept as the region's) and check that an object of
 * kind (a proxy kind; else need bytes) is at off: 0 and *out, or a code
 * with a reason (-EEXIST when the address is taken here, -EPROTO).
 */
struct mp__region;
void mp__region_keep(struct mp__region *r, int fd);
void mp__region_forget(struct mp__region *r);
void mp__region_drop_all(void);
int mp__region_describe(const void *p, int *fd, uint64_t *off,
			uint64_t *base);
int mp__proxy_check(int kind, const void *obj);
int mp__region_adopt(int fd, uint64_t base, uint64_t off, int kind,
		     size_t need, bool *took, void **out);

/*
 * The address space regions live in (manager/space.c).  mp__space_reserve
 * (mp_init, first thing): reserve the range, at the address in
 * MP_SPAWN_SPACE in a spawn child.  mp__space_env: "MP_SPAWN_SPACE=<hex>"
 * in buf for a spawn child, or false (no range).  mp__space_map: fd's
 * len bytes mapped shared in a free part of the range, else wherever the
 * kernel likes: the address or MAP_FAILED (errno).  mp__space_map_at: the
 * same at exactly at (a free part of the range, or a free address
 * outside): 0, or -EEXIST / -errno with a reason.  mp__space_unmap: give
 * back what those mapped.  mp__space_holds: is p in the range (so the
 * same address is free in every child)?  mp__space_why_outside: why a
 * region is not (for a reason).  mp__space_drop: the range empty again
 * (the fork server).
 */
void mp__space_reserve(void);
bool mp__space_env(char *buf, size_t cap);
void *mp__space_map(int fd, size_t len);
int mp__space_map_at(int fd, void *at, size_t len);
void mp__space_unmap(void *p, size_t len);
bool mp__space_holds(const void *p);
const char *mp__space_why_outside(void);
void mp__space_drop(void);

#endif
