/*
 * pool/supervisor.c - the supervisor thread: one round takes the starts'
 * outcomes, the results and the deaths, ends the tasks out of time, then
 * dispatches; between rounds it sleeps in poll on the pool's eventfd and
 * the workers' sentinels (design notes in pool_int.h).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "internal/child.h"
#include "internal/clock.h"
#include "pool/pool_int.h"

/* Kill overrunning workers; the next deadline to check. */
static uint64_t check_timeouts(mp_pool_t *p)
{
	uint64_t now = mp__now_ns(), next = MP__NO_DEADLINE;

	if (p->timeout_ns == MP__NO_DEADLINE)
		return next;
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		uint64_t end;

		if (!w->alive || w->head == NULL || w->timed_out)
			continue;
		if (__atomic_load_n(&p->slots[i].current, __ATOMIC_ACQUIRE) ==
		    w->head->id)
			end = __atomic_load_n(&p->slots[i].started,
					      __ATOMIC_RELAXED) + p->timeout_ns;
		else
			end = now + p->timeout_ns; /* not started: check later */
		if (end <= now) {
			mp__pool_kill_worker(w);
			w->timed_out = w->head->id;
		} else if (end < next) {
			next = end;
		}
	}
	return next;
}

/* How often a worker whose sentinel hung up early is looked at. */
enum { DEAF_TICK_NS = 10000000 };

/*
 * Has worker i ended?  Its sentinel says so (a pidfd's POLLIN).  Without
 * pidfds the sentinel is an exit pipe (POLLHUP), which a worker that closed
 * its fds or exec'd hangs up early: then check the pid, and from then on
 * poll that worker by time (deaf[i] = its process).
 */
static bool worker_gone(mp_pool_t *p, unsigned i, short revents,
			mp_process_t **deaf)
{
	mp_process_t *proc = p->w[i].proc;

	if (!p->w[i].alive)
		return false;
	if (mp__have_pidfd())
		return revents & POLLIN;
	if (!(revents & (POLLIN | POLLHUP)) && deaf[i] != proc)
		return false;
	if (mp_process_is_alive(proc) == 0)
		return true;
	deaf[i] = proc;
	return false;
}

/* Has a live worker a job whose result has not come? */
static bool jobs_out(const mp_pool_t *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].alive && p->w[i].head != NULL)
			return true;
	return false;
}

/* One round: returns false once the pool has stopped.  *next: when to
 * look at the queues behind running tasks again (see mp__pool_reclaim). */
static bool supervise(mp_pool_t *p, struct pollfd *pfd, mp_process_t **deaf,
		      uint64_t *next)
{
	bool any = false;

	mp__pool_starts_done(p);
	mp__pool_retry_starts(p); /* before deaths: see worker_ended */
	mp__pool_drain_results(p);
	mp__pool_reap_retired(p); /* first: room for the new ones */
	mp__pool_retire(p);
	for (unsigned i = 0; i < p->n; i++)
		if (worker_gone(p, i, pfd[i + 1].revents, deaf))
			mp__pool_worker_ended(p, i);
	*next = mp__pool_reclaim(p);
	mp__pool_inq_take(p);
	mp__pool_dispatch(p);
	if (p->state == CLOSING && p->head == NULL)
		for (unsigned i = 0; i < p->n; i++)
			if (p->w[i].alive && !p->w[i].stopping) {
				mp__ring_close(p->w[i].args.inbox);
				p->w[i].stopping = true;
			}
	any = p->nretired > 0;
	for (unsigned i = 0; i < p->n; i++)
		any |= p->w[i].alive || p->w[i].starting;
	if (!any && p->state != RUN && (p->head == NULL || p->state == TERMINATED)) {
		p->state = STOPPED;
		p->completed = true;
		return false;
	}
	return true;
}

void *mp__pool_supervisor(void *arg)
{
	mp_pool_t *p = arg;
	struct pollfd *pfd = p->pfd;
	mp_process_t **deaf = p->deaf;
	uint64_t counter, again;
	nfds_t nfds;

	mp__pool_lock(p);
	mp__pool_watcher_start(p);
	while (supervise(p, pfd, deaf, &again)) {
		uint64_t next;

		if (mp__pool_start_here(p)) { /* take the outcomes at once */
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd)); /* stale */
			continue;
		}
		next = check_timeouts(p);

		if (p->respawn_at != 0 && p->respawn_at < next)
			next = p->respawn_at;
		if (again < next)
			next = again;

		for (unsigned i = 0; i < p->n; i++) {
			bool watch = p->w[i].alive && deaf[i] != p->w[i].proc;

			pfd[i + 1] = (struct pollfd){
				watch ? mp_process_sentinel(p->w[i].proc) : -1,
				POLLIN, 0};
			if (p->w[i].alive && !watch && /* see worker_gone */
			    (next == MP__NO_DEADLINE ||
			     next > mp__now_ns() + DEAF_TICK_NS))
				next = mp__now_ns() + DEAF_TICK_NS;
		}
		for (unsigned k = 0; k < p->nretired; k++)
			pfd[p->n + 1 + k] = (struct pollfd){
				mp_process_sentinel(p->retired[k]), POLLIN, 0};
		/* While a job runs, its result will wake us: the retirees are
		 * reaped then (mp__pool_reap_retired), not each at a wake of
		 * its own (unless they pile up). */
		nfds = p->n + 1 +
		       (jobs_out(p) && p->nretired < p->n ? 0 : p->nretired);
		pfd[0] = (struct pollfd){p->efd, POLLIN, 0};
		__atomic_store_n(p->sup_sleeping, 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < p->n; i++) /* see worker_slot.big */
			if (__atomic_load_n(&p->slots[i].big, __ATOMIC_SEQ_CST) &&
			    (next == MP__NO_DEADLINE || next > mp__now_ns() + 1000000))
				next = mp__now_ns() + 1000000;
		if (!mp__ring_empty(p->results) || mp__pool_inq_waiting(p)) {
			__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
			continue;
		}
		mp__pool_unlock(p); /* runs the notifies */
		if (poll(pfd, nfds, next == MP__NO_DEADLINE
						 ? -1 : mp__remaining_ms(next)) < 0)
			memset(pfd, 0, (p->n + 1) * sizeof(*pfd));
		__atomic_store_n(p->sup_sleeping, 0, __ATOMIC_SEQ_CST);
		mp__pool_lock(p);
		while (read(p->efd, &counter, sizeof(counter)) > 0)
			;
	}
	mp__pool_threads_join(p);
	mp__pool_unlock(p);
	return NULL;
}
