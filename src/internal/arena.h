/*
 * internal/arena.h - the shared arena: memory the library shares with the
 * children forked after it (not the shm module, which builds on it).
 *
 * Every block comes from a memfd-backed MAP_SHARED mapping, so a child
 * created by fork afterwards sees (and writes) the same bytes, and nothing
 * appears in /dev/shm.  Small blocks are carved from 1 MiB arena chunks;
 * blocks of 64 KiB or more get a mapping of their own.
 *
 * Ownership: a block is freed only by the process that allocated it; a child
 * that calls mp__arena_free on an inherited block only forgets it (the memory
 * stays valid for the parent).  After fork the child allocates from fresh
 * chunks, never from its parent's (which the parent keeps allocating from).
 * Thread-safe.
 */
#ifndef MPROC_INTERNAL_ARENA_H
#define MPROC_INTERNAL_ARENA_H

#include <stddef.h>

/* A zeroed block of `size` bytes, 64-byte aligned; NULL (errno set) on failure. */
void *mp__arena_alloc(size_t size);

/* Release a block from mp__arena_alloc.  NULL is a no-op. */
void mp__arena_free(void *block);

/*
 * Describe a block as (memfd, offset) so it can later be handed to a process
 * that did not inherit it.  The fd stays owned by the library.  0, or
 * -EINVAL for NULL or anything but a block of an arena mapping of this
 * process (its own or, after fork, its parent's; not one a forkserver or
 * spawn child adopted: its header names the parent's fd); a pointer
 * elsewhere is never read.
 */
int mp__arena_describe(const void *block, int *fd, size_t *offset);

/*
 * In another process: the block at offset `offset` of a mapping of the
 * memfd mp__arena_describe named (map, maplen bytes: the whole memfd),
 * after checking that its header is there and that the block lies inside
 * the mapping, with at least `need` bytes.  NULL (-EPROTO) otherwise.
 * The block is foreign here: mp__arena_free forgets it.
 */
void *mp__arena_adopt(void *map, size_t maplen, size_t offset, size_t need);

#endif
