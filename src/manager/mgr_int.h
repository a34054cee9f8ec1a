/*
 * manager/mgr_int.h - the manager's shared store: one memfd region mapped
 * MAP_SHARED | MAP_NORESERVE before any client forks, so every child by fork
 * sees it at the same address; an allocator inside it; the shared dict and
 * list built on it.  Internal: functions return codes and leave reasons.
 *
 * Crash consistency.  A client may be SIGKILLed at any instruction, also
 * while it holds a lock.  Every update is therefore built aside and then
 * published by ONE aligned 8-byte store (an offset, a count), and what can
 * be derived (a dict's index and live count) is rebuilt by the next taker
 * of the lock when the lock reports its owner's death.  The worst a crash
 * leaves is a leaked block.
 */
#ifndef MPROC_MANAGER_MGR_INT_H
#define MPROC_MANAGER_MGR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/child.h"
#include "internal/clock.h"
#include "internal/lock.h"
#include "mproc/connection.h"
#include "mproc/manager.h"

/* Size classes of the allocator: 32 << c bytes (block header included). */
#define MP__MGR_CLASSES 40

struct mp__region {
	uint64_t magic;
	uint64_t size;        /* bytes mapped */
	uint64_t seed;        /* hash seed of dict keys */
	uint64_t alloc_lock;  /* internal/lock.h word */
	uint64_t top;         /* first never-allocated byte (offset) */
	uint32_t closed;      /* the manager was shut down */
	uint32_t pad;
	uint64_t names;       /* the dict of mp_manager_register, or 0 */
	uint64_t free_head[MP__MGR_CLASSES]; /* offsets of free blocks, 0: none */
};

/* A block: this header, then the payload (16-byte aligned). */
struct mp__block {
	uint64_t cls;  /* size class */
	uint64_t next; /* free list link while free */
};

#define MP__REGION_MAGIC 0x6d70726f634d4752ull /* "mprocMGR" */

/* Map a region of size bytes (rounded): 0 or -errno with a reason. */
int mp__region_new(size_t size, struct mp__region **out);
/* Unmap it (this process's mapping only). */
void mp__region_unmap(struct mp__region *r);

/* Allocate n payload bytes: the payload's offset, or 0 (-ENOMEM reason
 * left) when the region is full. */
uint64_t mp__region_alloc(struct mp__region *r, size_t n);
/* Zeroed room for an object in the region: 0 or -ENOMEM. */
int mp__region_room(struct mp__region *r, size_t size, void **out);
/* Give back the block of a payload offset (0 is a no-op). */
void mp__region_free(struct mp__region *r, uint64_t off);
/* Small blocks freed by a thread wait in its own cache for its next
 * allocations; they go back to the region's lists here, where the other
 * threads find them: by a thread about to end (a server connection's),
 * else they would be lost, and by the server before a reply that frees
 * an object or ends a public call, else the client's next call (served
 * by another thread) would not find the room it just freed. */
void mp__region_flush(struct mp__region *r);

static inline void *mp__at(const struct mp__region *r, uint64_t off)
{
	return (char *)r + off;
}

static inline bool mp__region_closed(const struct mp__region *r)
{
	return __atomic_load_n(&r->closed, __ATOMIC_RELAXED) != 0;
}

/* Take / give an object's lock; *dead tells that its owner died (then
 * the caller repairs what the lock guards). */
static inline void mp__obj_lock(uint64_t *lock, bool *dead)
{
	*dead = mp__lock_take(lock, MP__NO_DEADLINE) == MP_EOWNERDEAD;
}

static inline void mp__obj_unlock(uint64_t *lock)
{
	mp__lock_give(lock);
}

/* A pickled value in the region: {uint64 len, bytes}. */
int mp__region_put_obj(struct mp__region *r, const mp_obj_t *o,
		       uint64_t *off);
int mp__region_get_obj(const struct mp__region *r, uint64_t off,
		       mp_obj_t **out);

/* str and bytes shorter than this have the small pickle form. */
#define MP__SMALL_TEXT 240
#define MP__SMALL_PICKLE (MP__SMALL_TEXT + 16)
/*
 * The protocol 4 pickle of a small value (None, bool, int64, float, str or
 * bytes under MP__SMALL_TEXT bytes), the same bytes as mp_pickle_dumps(o,
 * 4), built in buf (MP__SMALL_PICKLE bytes): where it starts in buf, and
 * its length in *len; NULL for another value.
 */
const unsigned char *mp__pickle_small(const mp_obj_t *o, unsigned char *buf,
				      size_t *len);
/* Read back exactly those forms: 1 and *out, 0 for another pickle (use
 * the general reader), -ENOMEM. */
int mp__unpickle_small(const unsigned char *p, size_t n, mp_obj_t **out);

/* The canonical bytes of a hashable key: equal (==) keys, equal bytes.
 * Appended to *buf (cap in *cap; buf may start as a caller's stack array
 * when *heap is false).  -EINVAL (unhashable) or -ENOMEM. */
struct mp__kbuf {
	unsigned char *p;
	size_t len, cap;
	bool heap;
	unsigned char stack[192];
};
void mp__kbuf_init(struct mp__kbuf *b);
void mp__kbuf_release(struct mp__kbuf *b);
int mp__key_canon(const mp_obj_t *key, struct mp__kbuf *b);
uint64_t mp__key_hash(uint64_t seed, const void *p, size_t n);

/* Append n bytes to a growing text (NUL kept after it): 0, -ENOMEM. */
int mp__text_add(mp_bytes_t *b, size_t *cap, const char *s, size_t n);

/* Python's a < b for sort: 1/0, or -EINVAL with "'<' not supported..." */
int mp__obj_lt(const mp_obj_t *a, const mp_obj_t *b);

struct mp_dictproxy {
	uint64_t lock;
	uint64_t table;   /* offset of the table */
	uint64_t version; /* bumped when keys are added or removed */
	struct mp__region *r;
	struct mp__rproxy *remote; /* a connected manager's: see remote.c */
};

struct mp_listproxy {
	uint64_t lock;
	uint64_t table;   /* offset of {cap, n, items[cap]} */
	struct mp__region *r;
	struct mp__rproxy *remote;
};

struct mp_namespaceproxy {
	struct mp_dictproxy *d;
	struct mp__rproxy *remote;
};

/* A Queue / JoinableQueue (queue.c says how it publishes and waits). */
struct mp_queueproxy {
	uint64_t lock;
	uint64_t table;    /* offset of the ring */
	uint64_t done;     /* task_done() calls, mod 2^32 in use */
	uint32_t seq;      /* bumped at every change: the futex word */
	uint32_t waiters;  /* sleepers (one too many per killed one) */
	uint32_t maxsize;  /* 0: unbounded */
	uint32_t joinable;
	struct mp__region *r;
	struct mp__rproxy *remote; /* a connected manager's: see remote.c */
};

int mp__queue_new(struct mp__region *r, unsigned maxsize, bool joinable,
		  struct mp_queueproxy **out);
/*
 * The Queue's operations as CPython's QueueProxy methods, for the local
 * calls and the remote dispatcher: put(item, block, timeout) and
 * get(block, timeout) return 0, -EAGAIN (block false: queue.Full /
 * queue.Empty), -ETIMEDOUT (block true and still full / empty: CPython
 * raises Full / Empty then too), MP_ECLOSED, -EINVAL (a bad timeout;
 * task_done or join on a plain Queue; task_done called too many times),
 * -ENOMEM; qsize and full return the count / 1 or 0.  Reasons left.
 */
int mp__queue_put(struct mp_queueproxy *q, const mp_obj_t *value, bool block,
		  double timeout);
int mp__queue_get(struct mp_queueproxy *q, bool block, double timeout,
		  mp_obj_t **out);
int mp__queue_qsize(struct mp_queueproxy *q);
int mp__queue_full(struct mp_queueproxy *q);
int mp__queue_task_done(struct mp_queueproxy *q);
int mp__queue_join(struct mp_queueproxy *q, double timeout);

/* A Value: its pickle's offset, swapped under the lock (value.c). */
struct mp_valueproxy {
	uint64_t lock;
	uint64_t off;
	struct mp__region *r;
	struct mp__rproxy *remote; /* a connected manager's: see remote.c */
};

/* An Array: n C numbers of `size` bytes each, of typecode `code`. */
struct mp_arrayproxy {
	struct mp__region *r;
	uint64_t n;
	uint32_t size;
	char code;
	char pad[3];
	struct mp__rproxy *remote; /* a connected manager's: see remote.c */
	unsigned char data[]; /* 8-byte aligned */
};

int mp__value_new(struct mp__region *r, const mp_obj_t *init,
		  struct mp_valueproxy **out);
int mp__array_new(struct mp__region *r, char typecode, const mp_obj_t *init,
		  struct mp_arrayproxy **out);
/* ValueProxy.get/set, ArrayProxy.__getitem__/__setitem__ for the local
 * calls and the remote dispatcher: 0 or a code with its reason
 * (-ERANGE IndexError/OverflowError, -EINVAL TypeError, -ENOMEM,
 * MP_ECLOSED). */
int mp__value_get(struct mp_valueproxy *v, mp_obj_t **out);
int mp__value_set(struct mp_valueproxy *v, const mp_obj_t *value);
int mp__array_get(struct mp_arrayproxy *a, ptrdiff_t i, mp_obj_t **out);

/* A slice resolved against a length n as CPython's PySlice_AdjustIndices
 * (list_slice.c; PTRDIFF_MIN/MAX stand for omitted bounds): its first
 * index, step and the number of items it selects; 0, or -EINVAL
 * "ValueError: slice step cannot be zero" as a reason.  mp__slice_at: the
 * index of its item k. */
struct mp__span {
	int64_t start, step;
	uint64_t len;
};
int mp__slice_resolve(ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
		      uint64_t n, struct mp__span *s);
uint64_t mp__slice_at(const struct mp__span *s, uint64_t k);
int mp__array_set(struct mp_arrayproxy *a, ptrdiff_t i,
		  const mp_obj_t *value);

/*
 * For list_slice.c: MP_ECLOSED (reason left) or 0; take the list's lock
 * and see its n item block offsets (valid until the lock is given back
 * or the table replaced); publish a new table holding the n offsets of
 * items (lock held; the old table is freed, not the blocks): 0 or -ENOMEM.
 */
int mp__list_usable(const struct mp_listproxy *l);
const uint64_t *mp__list_lock(struct mp_listproxy *l, uint64_t *n);
void mp__list_unlock(struct mp_listproxy *l);
int mp__list_replace(struct mp_listproxy *l, const uint64_t *items,
		     uint64_t n);
/* l *= times, as list.__imul__, in one publish (times <= 0 empties it,
 * as mp_listproxy_clear): 0, MP_ECLOSED, -ENOMEM ("MemoryError: ...";
 * nothing changed). */
int mp__list_repeat(struct mp_listproxy *l, int64_t times);

int mp__namespace_new(struct mp__region *r, struct mp_namespaceproxy **out);
int mp__dict_new(struct mp__region *r, const mp_obj_t *init,
		 struct mp_dictproxy **out);
int mp__list_new(struct mp__region *r, const mp_obj_t *init,
		 struct mp_listproxy **out);

/* A manager (manager.c starts and stops it, manager_objs.c makes its
 * objects). */
struct mp__rclient;

struct mp_manager {
	struct mp__region *r;
	struct mp__child server;
	pid_t creator;
	int ctl;            /* our end of the control socket, or -1 */
	double shutdown_timeout;
	bool down;
	mp_listener_t *l;   /* the remote side's listener, or NULL */
	struct mp__rclient *remote; /* a connected manager: its client */
};

#endif
