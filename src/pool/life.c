/*
 * pool/life.c - a pool's life cycle: new (workers and supervisor started),
 * close, terminate, join, free.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/arena.h"
#include "pool/pool_int.h"

mp_pool_t *mp_pool_new(const mp_pool_opts_t *opts)
{
	static const mp_pool_opts_t defaults;
	pthread_condattr_t ca;
	mp_pool_t *p;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	if ((rc = mpi_timeout_check(opts->task_timeout, "opts->task_timeout")) < 0) {
		MPI_RAISE(rc);
		return NULL;
	}
	if (opts->processes > MPI_POOL_MAX_PROCESSES) {
		MPI_ERR(-EINVAL, "opts->processes %u is too many", opts->processes);
		return NULL;
	}
	if ((p = mpi_calloc(1, sizeof(*p))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	p->opts = *opts;
	p->n = opts->processes ? opts->processes : (unsigned)mp_cpu_count();
	p->depth = 1;
	p->avg_ns = 1000000000; /* tasks are long until they prove short */
	p->timeout_ns = mpi_timeout_ns(opts->task_timeout);
	if (p->timeout_ns == MPI_NO_DEADLINE)
		p->timeout_ns = 0; /* MP_FOREVER or centuries: none, as 0 */
	p->w = mpi_calloc(p->n, sizeof(*p->w));
	p->slots = mpi_arena_alloc(p->n * sizeof(*p->slots));
	p->sup_sleeping = mpi_arena_alloc(sizeof(*p->sup_sleeping));
	p->results = mpi_ring_new(RESULT_BYTES, 0, 0);
	p->pfd = mpi_calloc(p->n + 1, sizeof(*p->pfd));
	p->deaf = mpi_calloc(p->n, sizeof(*p->deaf));
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->done, &ca);
	pthread_condattr_destroy(&ca);
	p->thread_joined = true; /* until the thread exists */
	if (p->w == NULL || p->slots == NULL || p->sup_sleeping == NULL ||
	    p->results == NULL || p->pfd == NULL || p->deaf == NULL ||
	    p->efd < 0) {
		MPI_ERR(-ENOMEM, "cannot set up the pool");
		goto fail;
	}
	for (unsigned i = 0; i < p->n; i++)
		if ((rc = mpi_pool_start_worker(p, i)) < 0) {
			MPI_ERR(rc, "cannot start a worker: %s", mp_strerror(rc));
			goto fail;
		}
	if ((rc = pthread_create(&p->thread, NULL, mpi_pool_supervisor, p)) != 0) {
		MPI_ERR(-rc, "cannot start the supervisor thread");
		goto fail;
	}
	p->thread_joined = false;
	return p;
fail:
	for (unsigned i = 0; p->w && i < p->n; i++)
		if (p->w[i].proc) {
			mpi_pool_kill_worker(&p->w[i]);
			mp_process_join(p->w[i].proc, MP_FOREVER);
			mp_process_free(p->w[i].proc);
		}
	p->state = STOPPED;
	mp_pool_free(p);
	return NULL;
}

int mp_pool_close(mp_pool_t *pool)
{
	MPI_CHECK_NULL(pool);
	mpi_pool_lock(pool);
	if (pool->state == RUN)
		pool->state = CLOSING;
	mpi_pool_unlock(pool);
	mpi_pool_kick(pool);
	return 0;
}

int mp_pool_terminate(mp_pool_t *pool)
{
	MPI_CHECK_NULL(pool);
	mpi_pool_lock(pool);
	if (pool->state != STOPPED) {
		pool->state = TERMINATED;
		mpi_pool_fail_pending(pool, MP_ECANCELLED, "the pool was terminated");
		for (unsigned i = 0; i < pool->n; i++)
			if (pool->w[i].alive)
				mpi_pool_kill_worker(&pool->w[i]);
	}
	mpi_pool_unlock(pool);
	mpi_pool_kick(pool);
	return 0;
}

static bool stopped(void *arg)
{
	return ((mp_pool_t *)arg)->state == STOPPED;
}

int mp_pool_join(mp_pool_t *pool, double timeout)
{
	uint64_t deadline;
	bool join;
	int rc;

	MPI_CHECK_NULL(pool);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	mpi_pool_lock(pool);
	if (pool->state == RUN) {
		mpi_pool_unlock(pool);
		return MPI_ERR(-EINVAL, "Pool is still running (close or "
					"terminate it first)");
	}
	rc = mpi_pool_wait(pool, stopped, pool, deadline);
	join = rc == 0 && !pool->thread_joined;
	if (join)
		pool->thread_joined = true;
	mpi_pool_unlock(pool);
	if (rc < 0)
		return MPI_ERR(rc, "workers still running after %gs", timeout);
	if (join)
		pthread_join(pool->thread, NULL);
	return 0;
}

void mp_pool_free(mp_pool_t *pool)
{
	if (pool == NULL)
		return;
	if (!pool->thread_joined) {
		mp_pool_terminate(pool);
		mp_pool_join(pool, MP_FOREVER);
	}
	for (unsigned i = 0; pool->w && i < pool->n; i++)
		if (pool->w[i].args.inbox)
			mpi_ring_free(pool->w[i].args.inbox);
	if (pool->results)
		mpi_ring_free(pool->results);
	mpi_arena_free(pool->slots);
	mpi_arena_free(pool->sup_sleeping);
	if (pool->efd >= 0)
		close(pool->efd);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->done);
	mpi_free(pool->pfd);
	mpi_free(pool->deaf);
	mpi_free(pool->w);
	mpi_free(pool);
}
