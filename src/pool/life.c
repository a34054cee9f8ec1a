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

int mp__pool_create(const mp_pool_opts_t *opts, mp_pool_t **out)
{
	mp_pool_t *p;
	int rc;

	if ((p = mp__calloc(1, sizeof(*p))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	if ((rc = mp__cond_init_monotonic(&p->done)) < 0 ||
	    (rc = -pthread_cond_init(&p->start_cond, NULL)) < 0) {
		mp__free(p);
		return mp__why(rc, "cannot set up the pool: %s", mp_strerror(rc));
	}
	pthread_mutex_init(&p->lock, NULL);
	p->thread_joined = true; /* until the thread exists */
	p->opts = *opts;
	if ((rc = mp__pool_check_method(opts, &p->opts.start_method)) < 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->done);
		mp__free(p);
		return rc;
	}
	p->inline_starts = strcmp(p->opts.start_method, "forkserver") == 0;
	p->n = opts->processes ? opts->processes : (unsigned)mp_cpu_count();
	p->depth = 1;
	p->avg_ns = 1000000000; /* tasks are long until they prove short */
	/* MP__NO_DEADLINE: no task timeout (0, MP_FOREVER, centuries). */
	p->timeout_ns = mp__option_timeout_ns(opts->task_timeout);
	p->w = mp__calloc(p->n, sizeof(*p->w));
	p->slots = mp__arena_alloc(p->n * sizeof(*p->slots));
	p->sup_sleeping = mp__arena_alloc(sizeof(*p->sup_sleeping));
	p->results = mp__ring_new(RESULT_BYTES, 0, 0);
	p->rbuf = mp__malloc(RBUF_BYTES);
	p->pfd = mp__calloc((RETIRED_PER_WORKER + 1) * (size_t)p->n + 1,
			    sizeof(*p->pfd));
	p->deaf = mp__calloc(p->n, sizeof(*p->deaf));
	p->retired = mp__calloc(RETIRED_PER_WORKER * (size_t)p->n,
				sizeof(*p->retired));
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->w == NULL || p->slots == NULL || p->sup_sleeping == NULL ||
	    p->results == NULL || p->rbuf == NULL || p->pfd == NULL ||
	    p->deaf == NULL || p->retired == NULL || p->efd < 0) {
		rc = mp__why(-ENOMEM, "cannot set up the pool");
		goto fail;
	}
	for (unsigned i = 0; i < p->n; i++)
		if ((rc = mp__pool_start_worker(p, i)) < 0) {
			char why[300];

			snprintf(why, sizeof(why), "%s", mp_last_error());
			rc = mp__why(rc, "cannot start a worker: %s", why);
			goto fail;
		}
	if ((rc = pthread_create(&p->thread, NULL, mp__pool_supervisor, p)) != 0) {
		rc = mp__why(-rc, "cannot start the supervisor thread");
		goto fail;
	}
	p->thread_joined = false;
	*out = p;
	return 0;
fail:
	for (unsigned i = 0; p->w && i < p->n; i++)
		if (p->w[i].proc) {
			mp__pool_kill_worker(&p->w[i]);
			mp_process_join(p->w[i].proc, MP_FOREVER);
			mp_process_free(p->w[i].proc);
		}
	p->state = STOPPED;
	mp__pool_destroy(p);
	return rc;
}

int mp__pool_create_remote(const mp_pool_opts_t *opts,
			   const struct mp_executor_backend *backend,
			   mp_pool_t **out)
{
	mp_pool_t *p;
	int rc;

	if ((p = mp__calloc(1, sizeof(*p))) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	if ((rc = mp__cond_init_monotonic(&p->done)) < 0) {
		mp__free(p);
		return mp__why(rc, "cannot set up the pool: %s", mp_strerror(rc));
	}
	pthread_mutex_init(&p->lock, NULL);
	p->thread_joined = true; /* the backend has the threads */
	p->opts = *opts;
	p->backend = backend;
	p->remote_n = 1;
	p->efd = -1;
	p->timeout_ns = mp__option_timeout_ns(opts->task_timeout);
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
	if ((rc = mp__timeout_check(opts->task_timeout, "opts->task_timeout")) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	if (opts->processes > MP__POOL_MAX_PROCESSES) {
		MP__ERR(-EINVAL, "opts->processes %u is too many (at most %d)",
			opts->processes, MP__POOL_MAX_PROCESSES);
		return NULL;
	}
	if ((rc = mp__pool_create(opts, &p)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	return p;
}

void mp__pool_close(mp_pool_t *p)
{
	mp__pool_lock(p);
	if (p->state == RUN)
		p->state = CLOSING;
	mp__pool_seal(p); /* what was handed over still runs */
	mp__pool_unlock(p);
	mp__pool_kick(p);
}

int mp_pool_close(mp_pool_t *pool)
{
	MP__CHECK_NULL(pool);
	mp__pool_close(pool);
	return 0;
}

void mp__pool_terminate(mp_pool_t *p)
{
	mp__pool_lock(p);
	if (p->state != STOPPED) {
		p->state = TERMINATED;
		mp__pool_seal(p);
		mp__pool_fail_pending(p, MP_ECANCELLED, "the pool was terminated");
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive)
				mp__pool_kill_worker(&p->w[i]);
		for (unsigned k = 0; k < p->nretired; k++)
			kill(-mp_process_pid(p->retired[k]), SIGKILL);
	}
	mp__pool_unlock(p);
	mp__pool_kick(p);
}

void mp__pool_signal_workers(mp_pool_t *p, int sig)
{
	mp__pool_lock(p);
	if (p->state != STOPPED && p->state != TERMINATED) {
		p->state = TERMINATED;
		p->forced = true;
		mp__pool_seal(p);
		mp__pool_fail_pending(p, MP_ECANCELLED, "the task was cancelled");
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive)
				kill(-mp_process_pid(p->w[i].proc), sig);
		for (unsigned k = 0; k < p->nretired; k++)
			kill(-mp_process_pid(p->retired[k]), sig);
	}
	mp__pool_unlock(p);
	mp__pool_kick(p);
}

int mp_pool_terminate(mp_pool_t *pool)
{
	MP__CHECK_NULL(pool);
	mp__pool_terminate(pool);
	return 0;
}

static bool stopped(void *arg)
{
	return ((mp_pool_t *)arg)->state == STOPPED;
}

int mp__pool_join(mp_pool_t *p, uint64_t deadline)
{
	bool join;
	int rc;

	mp__pool_lock(p);
	if (p->state == RUN) {
		mp__pool_unlock(p);
		return mp__why(-EINVAL, "Pool is still running (close or "
					"terminate it first)");
	}
	rc = mp__pool_wait(p, stopped, p, deadline);
	join = rc == 0 && !p->thread_joined;
	if (join)
		p->thread_joined = true;
	mp__pool_unlock(p);
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

	MP__CHECK_NULL(pool);
	if ((rc = mp__deadline(timeout, &deadline)) < 0)
		return MP__RAISE(rc);
	if ((rc = mp__pool_join(pool, deadline)) == -ETIMEDOUT)
		return MP__ERR(rc, "workers still running after %gs", timeout);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

void mp__pool_destroy(mp_pool_t *pool)
{
	if (pool == NULL)
		return;
	if (pool->backend != NULL) {
		mp__pool_terminate(pool); /* a no-op once STOPPED */
		if (pool->bstate != NULL)
			pool->backend->stop(pool->bstate);
	}
	if (!pool->thread_joined) {
		/* Killed workers die: the join is bounded. */
		mp__pool_terminate(pool);
		mp__pool_join(pool, MP__NO_DEADLINE);
	}
	for (unsigned i = 0; pool->w && i < pool->n; i++) {
		if (pool->w[i].args.inbox)
			mp__ring_free(pool->w[i].args.inbox);
		mp__free(pool->w[i].blob);
	}
	if (pool->results)
		mp__ring_free(pool->results);
	mp__arena_free(pool->slots);
	mp__arena_free(pool->sup_sleeping);
	if (pool->efd >= 0)
		close(pool->efd);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->start_cond);
	mp__free(pool->rbuf);
	mp__free(pool->pfd);
	mp__free(pool->deaf);
	mp__free(pool->retired);
	mp__free(pool->w);
	mp__free(pool);
}

void mp_pool_free(mp_pool_t *pool)
{
	mp__pool_destroy(pool);
}
