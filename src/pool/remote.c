/*
 * pool/remote.c - a remote pool's side of mproc/backend.h: an executor
 * backend (the MPI ranks, src/mpi/) takes the pending jobs and ends them;
 * the pool has no worker and no supervisor (pool_int.h).
 */
#include <stdio.h>
#include <string.h>

#include "pool/pool_int.h"

size_t mp__pool_take(mp_pool_t *p, size_t max, mp_backend_job_t *jobs)
{
	struct mp__job *j;
	size_t k = 0;

	mp__pool_lock(p);
	/* CLOSING still runs what was queued before the close. */
	while (k < max && (p->state == RUN || p->state == CLOSING) &&
	       (j = p->head) != NULL) {
		struct task_hdr h;

		memcpy(&h, j->rec, sizeof(h));
		mp__pool_pending_unlink(p, j);
		j->state = J_RUNNING;
		jobs[k++] = (mp_backend_job_t){
			.handle = j, .fn = (uintptr_t)h.fn,
			.kind = h.kind == T_MAP ? MP_BACKEND_MAP : MP_BACKEND_APPLY,
			.count = h.count, .in_size = h.in_size,
			.out_size = h.out_size,
			.in = j->rec + sizeof(h),
			.in_len = j->rec_len - sizeof(h)};
	}
	mp__pool_unlock(p);
	return k;
}

void mp__pool_end(mp_pool_t *p, void *handle, int status, const void *data,
		  size_t len)
{
	struct mp__job *j = handle;

	mp__pool_lock(p);
	if (j->state == J_RUNNING)
		mp__pool_end_job(p, j, status, data, len, NULL);
	mp__pool_unlock(p);
}

int mp__pool_remote_state(mp_pool_t *p)
{
	int st;

	mp__pool_lock(p);
	st = p->state == RUN ? MP_BACKEND_RUN
	     : p->state == CLOSING ? MP_BACKEND_CLOSING
	     : p->state == STOPPED ? MP_BACKEND_STOPPED
	     : p->forced ? MP_BACKEND_KILLED : MP_BACKEND_TERMINATED;
	mp__pool_unlock(p);
	return st;
}

void mp__pool_remote_stopped(mp_pool_t *p)
{
	mp__pool_lock(p);
	mp__pool_seal(p);
	mp__pool_fail_pending(p, MP_ECANCELLED, "the task was cancelled");
	p->state = STOPPED;
	p->completed = true;
	mp__pool_unlock(p);
}

void mp__pool_remote_break(mp_pool_t *p, const char *msg)
{
	mp__pool_lock(p);
	if (!p->broken[0])
		snprintf(p->broken, sizeof(p->broken), "%s", msg);
	mp__pool_seal(p);
	mp__pool_fail_pending(p, MP_EBROKEN, p->broken);
	mp__pool_unlock(p);
}
