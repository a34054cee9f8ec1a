/*
 * internal/travel.h - what the modules give the process module so their
 * objects can travel to a forkserver or spawn child (process/shared.c has
 * the mechanism): the parts of an object, and a handle built on parts
 * mapped in another process.
 */
#ifndef MPROC_INTERNAL_TRAVEL_H
#define MPROC_INTERNAL_TRAVEL_H

#include <stddef.h>

#include "mproc/queue.h"
#include "mproc/shm.h"

/* A queue's ring and its shared state (arena blocks). */
void mpi_queue_parts(const mp_queue_t *q, void **ring, void **state);
/* The size of a queue's state block. */
size_t mpi_queue_state_size(void);
/* A handle on a ring and a state mapped here: 0 and *out, or -ENOMEM. */
int mpi_queue_adopt(void *ring, void *state, mp_queue_t **out);

/* An fd of a SharedMemory's segment (shm_open by its name; the caller
 * closes it): the fd, or -errno with a reason (unlinked: -ENOENT). */
int mpi_shm_open_fd(const mp_shm_t *s);
/* A handle on the segment open as fd (kept open only while mapping; its
 * name from /proc/self/fd), not tracked: 0 and *out, or -errno. */
int mpi_shm_adopt(int fd, mp_shm_t **out);

#endif
