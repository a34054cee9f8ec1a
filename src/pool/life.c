/*
 * pool/life.c - a pool's life cycle: new (workers and supervisor started),
 * close, terminate, join, free.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/cond.h"
#include "internal/error.h"
#include "internal/arena.h"
#include "pool/pool_int.h"

int mpi_pool_create(const mp_pool_opts_t *opts, mp_pool_t **out)
{
	mp_pool_t *p;
	int rc;

	if ((p = mpi_calloc(1, sizeof(*p))) == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	if ((rc = mpi_cond_init_monotonic(&p->done)) < 0 ||
	    (rc = -pthread_cond_init(&p->start_cond, NULL)) < 0) {
		mpi_free(p);
		return mpi_why(rc, "cannot set up the pool: %s", mp_strerror(rc));
	}
	pthread_mutex_init(&p->lock, NULL);
	p->thread_joined = true; /* until the thread exists */
	p->opts = *opts;
	if ((rc = mpi_pool_check_method(opts, &p->opts.start_method)) < 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->done);
		mpi_free(p);
		return rc;
	}
	p->inline_starts = strcmp(p->opts.start_method, "forkserver") == 0;
	p->n = opts->processes ? opts->processes : (unsigned)mp_cpu_count();
	p->depth = 1;
	p->avg_ns = 1000000000; /* tasks are long until they prove short */
	/* MPI_NO_DEADLINE: no task timeout (0, MP_FOREVER, centuries). */
	p->timeout_ns = mpi_option_timeout_ns(opts->task_timeout);
	p->w = mpi_calloc(p->n, sizeof(*p->w));
	p->slots = mpi_arena_alloc(p->n * sizeof(*p->slots));
	p->sup_sleeping = mpi_arena_alloc(sizeof(*p->sup_sleeping));
	p->results = mpi_ring_new(RESULT_BYTES, 0, 0);
	p->rbuf = mpi_malloc(RBUF_BYTES);
	p->pfd = mpi_calloc(p->n + 1, sizeof(*p->pfd));
	p->deaf = mpi_calloc(p->n, sizeof(*p->deaf));
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->w == NULL || p->slots == NULL || p->sup_sleeping == NULL ||
	    p->results == NULL || p->rbuf == NULL || p->pfd == NULL ||
	    p->deaf == NULL || p->efd < 0) {
		rc = mpi_why(-ENOMEM, "cannot set up the pool");
		goto fail;
	}
	for (unsigned i = 0; i < p->n; i++)
		if ((rc = mpi_pool_start_worker(p, i)) < 0) {
			char why[300];

			snprintf(why, sizeof(why), "%s", mp_last_error());
			rc = mpi_why(rc, "cannot start a worker: %s", why);
			goto fail;
		}
	if ((rc = pthread_create(&p->thread, NULL, mpi_pool_supervisor, p)) != 0) {
		rc = mpi_why(-rc, "cannot start the supervisor thread");
		goto fail;
	}
	p->thread_joined = false;
	*out = p;
	return 0;
fail:
	for (unsigned i = 0; p->w && i < p->n; i++)
		if (p->w[i].proc) {
			mpi_pool_kill_worker(&p->w[i]);
			mp_process_join(p->w[i].proc, MP_FOREVER);
			mp_process_free(p->w[i].proc);
		}
	p->state = STOPPED;
	mpi_pool_destroy(p);
	return rc;
}

int mpi_pool_create_remote(const mp_pool_opts_t *opts,
			   const struct mp_executor_backend *backend,
			   mp_pool_t **out)
{
	mp_pool_t *p;
	int rc;

	if ((p = mpi_calloc(1, sizeof(*p))) == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	if ((rc = mpi_cond_init_monotonic(&p->done)) < 0) {
		mpi_free(p);
		return mpi_why(rc, "cannot set up the pool: %s", mp_strerror(rc));
	}
	pthread_mutex_init(&p->lock, NULL);
	p->thread_joined = true; /* the backend has the threads */
	p->opts = *opts;
	p->backend = backend;
	p->remote_n = 1;
	p->efd = -1;
	p->timeout_ns = mpi_option_timeout_ns(opts->task_timeout);
	*out = p;
	return 0;
}

mp_pool_t *mp_pool_new(const mp_pool_opts_t *opts)
{
	static const mp_pool_opts_t defaults;
	mp_pool_t *p = NULL;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	if ((rc = mpi_timeout_check(opts->task_timeout, "opts->task_timeout")) < 0) {
		MPI_RAISE(rc);
		return NULL;
	}
	if (opts->processes > MPI_POOL_MAX_PROCESSES) {
		MPI_ERR(-EINVAL, "opts->processes %u is too many (at most %d)",
			opts->processes, MPI_POOL_MAX_PROCESSES);
		return NULL;
	}
	if ((rc = mpi_pool_create(opts, &p)) < 0) {
		MPI_RAISE(rc);
		return NULL;
	}
	return p;
}

void mpi_pool_close(mp_pool_t *p)
{
	mpi_pool_lock(p);
	if (p->state == RUN)
		p->state = CLOSING;
	mpi_pool_seal(p); /* what was handed over still runs */
	mpi_pool_unlock(p);
	mpi_pool_kick(p);
}

int mp_pool_close(mp_pool_t *pool)
{
	MPI_CHECK_NULL(pool);
	mpi_pool_close(pool);
	return 0;
}

void mpi_pool_terminate(mp_pool_t *p)
{
	mpi_pool_lock(p);
	if (p->state != STOPPED) {
		p->state = TERMINATED;
		mpi_pool_seal(p);
		mpi_pool_fail_pending(p, MP_ECANCELLED, "the pool was terminated");
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive)
				mpi_pool_kill_worker(&p->w[i]);
	}
	mpi_pool_unlock(p);
	mpi_pool_kick(p);
}

void mpi_pool_signal_workers(mp_pool_t *p, int sig)
{
	mpi_pool_lock(p);
	if (p->state != STOPPED && p->state != TERMINATED) {
		p->state = TERMINATED;
		p->forced = true;
		mpi_pool_seal(p);
		mpi_pool_fail_pending(p, MP_ECANCELLED, "the task was cancelled");
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive)
				kill(-mp_process_pid(p->w[i].proc), sig);
	}
	mpi_pool_unlock(p);
	mpi_pool_kick(p);
}

int mp_pool_terminate(mp_pool_t *pool)
{
	MPI_CHECK_NULL(pool);
	mpi_pool_terminate(pool);
	return 0;
}

static bool stopped(void *arg)
{
	return ((mp_pool_t *)arg)->state == STOPPED;
}

int mpi_pool_join(mp_pool_t *p, uint64_t deadline)
{
	bool join;
	int rc;

	mpi_pool_lock(p);
	if (p->state == RUN) {
		mpi_pool_unlock(p);
		return mpi_why(-EINVAL, "Pool is still running (close or "
					"terminate it first)");
	}
	rc = mpi_pool_wait(p, stopped, p, deadline);
	join = rc == 0 && !p->thread_joined;
	if (join)
		p->thread_joined = true;
	mpi_pool_unlock(p);
	if (rc < 0)
		return rc;
	if (join)
		pthread_join(p->thread, NULL);
	return 0;
}

int mp_pool_join(mp_pool_t *pool, double timeout)
{
	uint64_t deadline;
	int rc;

	MPI_CHECK_NULL(pool);
	if ((rc = mpi_deadline(timeout, &deadline)) < 0)
		return MPI_RAISE(rc);
	if ((rc = mpi_pool_join(pool, deadline)) == -ETIMEDOUT)
		return MPI_ERR(rc, "workers still running after %gs", timeout);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}

void mpi_pool_destroy(mp_pool_t *pool)
{
	if (pool == NULL)
		return;
	if (pool->backend != NULL) {
		mpi_pool_terminate(pool); /* a no-op once STOPPED */
		if (pool->bstate != NULL)
			pool->backend->stop(pool->bstate);
	}
	if (!pool->thread_joined) {
		/* Killed workers die: the join is bounded. */
		mpi_pool_terminate(pool);
		mpi_pool_join(pool, MPI_NO_DEADLINE);
	}
	for (unsigned i = 0; pool->w && i < pool->n; i++) {
		if (pool->w[i].args.inbox)
			mpi_ring_free(pool->w[i].args.inbox);
		mpi_free(pool->w[i].blob);
	}
	if (pool->results)
		mpi_ring_free(pool->results);
	mpi_arena_free(pool->slots);
	mpi_arena_free(pool->sup_sleeping);
	if (pool->efd >= 0)
		close(pool->efd);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->start_cond);
	mpi_free(pool->rbuf);
	mpi_free(pool->pfd);
	mpi_free(pool->deaf);
	mpi_free(pool->w);
	mpi_free(pool);
}

void mp_pool_free(mp_pool_t *pool)
{
	mpi_pool_destroy(pool);
}
