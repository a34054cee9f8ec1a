/* bench_pool.h - what bench_pool.c and pool_fresh.c (the fresh-process
 * figure, linked into bench_pool) share. */
#ifndef BENCH_POOL_H
#define BENCH_POOL_H

#include "mproc/pool.h"

enum {
	REPS = 3,
	TINY_REPS = 5,           /* the tiny-task figures, alternated */
	MAP_REPS = 5,            /* maps: the first runs pay page faults */
	WORKERS = 2,
	N_TASKS = 200000,        /* tiny tasks per apply/submit run */
	N_BASE = 200000,         /* tasks per pipe-loop baseline run */
	WINDOW = 4096,           /* baseline: outstanding tasks (32 KiB) */
	N_MAP = 10000000,        /* tiny map items */
	CPU_TASKS = 8,           /* CPU-bound map: 8 elements, as the seeds */
	KILLS = 1000,            /* crash recovery: workers SIGKILLed */
	N_FRESH = 10000,         /* tasks of the fresh-process pool */
};

void die(const char *what);                  /* message, mp_last_error, exit */
int tiny_task(const void *in, size_t len, mp_task_out_t *out); /* x -> x + 1 */
/* Wait for each of the n results of tiny_task(i), check it is i + 1 (or
 * die) and free it. */
void collect_results(mp_async_result_t **r, long n);
void print_fresh(void);    /* pool_fresh_process_tasks_per_s (pool_fresh.c) */

#endif
