/*
 * pool/wire.h - the records a pool and its worker processes exchange, and
 * what a worker publishes in shared memory.
 *
 * A job (pool -> worker, through the worker's inbox ring) is a task_hdr
 * and its input: T_APPLY one buffer; T_MAP count elements of in_size bytes;
 * T_ITEMS count × (item_hdr, bytes padded to 8).  T_STOP is a bare header
 * that retires the worker.  A result (worker -> pool, through the shared
 * result ring) is a res_hdr and its data: the T_APPLY result, count ×
 * out_size bytes for T_MAP, count × (item_hdr, bytes padded to 8) for
 * T_ITEMS; for a failed job (status MP_ETASK) the data is the message.
 * Both sides live in one program (the workers are forks of it), so the
 * layouts are native; each side still checks every length it receives.
 */
#ifndef MPROC_POOL_WIRE_H
#define MPROC_POOL_WIRE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum { T_APPLY = 1, T_MAP = 2, T_ITEMS = 3, T_STOP = 4 };

struct task_hdr {
	uint64_t id;
	uint64_t fn;
	uint32_t kind, count;       /* count: map elements / items */
	uint64_t in_size, out_size; /* T_MAP: per element */
};

struct res_hdr {
	uint64_t id;
	int32_t status; /* 0, or MP_ETASK with the message as payload */
	uint32_t worker;
	uint64_t run_ns;
};

/* T_ITEMS: count × (item_hdr, bytes padded to 8) each way. */
struct item_hdr {
	int32_t status;
	uint32_t pad;
	uint64_t len;
};

/* n rounded up to 8; n is at most MP_TASK_MAX_BYTES (or a sum checked
 * against MP__RING_MAX_MESSAGE), so this never wraps. */
static inline size_t mp__align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* What a worker publishes about itself (shared memory, one per worker). */
struct worker_slot {
	_Alignas(64) uint64_t current; /* id of the job it started last */
	uint64_t started;              /* when (mp__now_ns) */
	uint32_t ready;                /* its initializer has returned */
	uint32_t big;                  /* streaming a result bigger than the
					* ring can hold: keep reading */
	uint32_t gone;                 /* set before its last result: it
					* touches neither this slot nor its
					* inbox again (see worker_loop) */
	/* Held by the worker while it lives (a robust mutex, on its
	 * thread's robust list): see mp__life_word. */
	pthread_mutex_t life;
	/* Its heir (forkserver pools with maxtasksperchild; see heir_line
	 * in worker.c): its pid, written by the kernel at the fork; the
	 * word it sleeps on (HEIR_WAIT) until the supervisor, having reset
	 * the slot for it and written the name and identity of its process
	 * object, sets HEIR_GO. */
	int32_t heir;
	uint32_t heir_go;
	char heir_name[48], heir_ident[48]; /* MP__HEIR_NAME_MAX */
};

enum { HEIR_WAIT = 0, HEIR_GO = 1 };

/*
 * The futex word of a slot's life lock, whose value the kernel defines
 * for a robust futex: the owner's tid, FUTEX_WAITERS, FUTEX_OWNER_DIED.
 * glibc keeps it first in pthread_mutex_t; the worker checks that it
 * holds its tid before it relies on it (hold_life in worker.c).  When the
 * worker's thread exits, the kernel sets FUTEX_OWNER_DIED in it and wakes
 * a waiter: before it frees the process's memory, so well before the
 * pidfd says the process is gone (the pool's watcher, workers.c).
 */
static inline uint32_t *mp__life_word(struct worker_slot *s)
{
	return (uint32_t *)(void *)&s->life;
}

#endif
