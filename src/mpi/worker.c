/*
 * mpi/worker.c - libmproc_mpi: a worker rank runs the tasks rank 0 sends
 * in a local mp_executor_t and sends the results back.  See mpi_int.h.
 */
#include "mpi/mpi_int.h"

/* ---- worker ranks ---- */

struct wtask {
	struct wtask *next;
	mp_future_t *f;
	struct worker *w;
	uint64_t start;   /* handed to the local executor */
	uint64_t done_at; /* its completion (local_done) */
	uint64_t ran;     /* how long it ran, 0: not known */
	uint32_t slot;
};

struct worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wtask *done; /* completed, pushed by the local executor */
	struct wtask **by_slot; /* the tasks not collected yet */
	uint32_t window;
	mp_executor_t *local;
	unsigned inflight;
	bool stop, stop_now;
	uint64_t avg_ns; /* a local task's time, moving average */
	uint64_t last_done; /* the last completion (under mu) */
	unsigned nlocal; /* local workers */
	struct mpw_buf out;
};

struct chunk_in {
	uint64_t fn, count, in_size, out_size;
};

/* A map chunk, in a local worker process. */
static int run_chunk(const void *in, size_t len, mp_task_out_t *out)
{
	struct chunk_in c;
	const char *x = (const char *)in + sizeof(c);
	char *y;
	int rc;

	memcpy(&c, in, sizeof(c));
	(void)len;
	MPB_TRACE_EV("start", (int)getppid(), UINT32_MAX);
	if ((y = malloc(c.count * c.out_size + 1)) == NULL)
		return mp_task_fail(out, "MemoryError: %llu bytes of results",
				    (unsigned long long)(c.count * c.out_size));
	for (uint64_t i = 0; i < c.count; i++)
		if ((rc = ((mp_map_fn)(uintptr_t)c.fn)(x + i * c.in_size,
						       y + i * c.out_size)) != 0) {
			free(y);
			return mp_task_fail(out, "map element %llu failed (%d)",
					    (unsigned long long)i, rc);
		}
	MPB_TRACE_EV("end", (int)getppid(), UINT32_MAX);
	rc = mp_task_return(out, y, c.count * c.out_size);
	free(y);
	return rc;
}

/* The local workers' initializer: MPI's crash handlers (inherited) would
 * print a backtrace; the default action lets the executor name the
 * signal. */
static void local_init(void *arg)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

	(void)arg;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

static void local_done(mp_future_t *f, void *arg)
{
	struct wtask *t = arg;
	struct worker *w = t->w;

	(void)f;
	MPB_TRACE_EV("done", mp_mpi_rank(), t->slot);
	pthread_mutex_lock(&w->mu);
	/* With one local worker the tasks run one after another: this one
	 * began when it was handed over or when the one before it ended. */
	t->done_at = mpb_now_ns();
	if (w->nlocal == 1)
		t->ran = t->done_at - (t->start > w->last_done ? t->start
							 : w->last_done);
	w->last_done = t->done_at;
	t->next = w->done;
	w->done = t;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Queue a failed result for slot. */
static void fail_slot(struct worker *w, uint32_t slot, int status,
		      const char *msg)
{
	struct mpw_rec r = {.slot = slot, .status = status,
			    .len = strlen(msg)};

	mpw_add(&w->out, &r, msg);
}

static int worker_on_rec(void *arg, const struct mpw_rec *r, const char *data)
{
	struct worker *w = arg;
	struct wtask *t;
	mp_future_t *f = NULL;

	if (r->fnid == STOP_FNID) { /* MPW_STOP */
		w->stop = true;
		mpb_lost_rank = r->count != 0;
		w->stop_now = r->status == STOP_NOW;
		return 0;
	}
	if (r->fnid == KILL_FNID) {
		/* Kill the local worker (its process group) running it, or
		 * cancel it if it waits: it ends with MP_ECANCELLED (its
		 * result if it ended first) and goes back as any result.
		 * Not ours (any more): it ended, its result is on the way. */
		if (r->slot < w->window && w->by_slot[r->slot] != NULL)
			mp_future_kill(w->by_slot[r->slot]->f);
		return 0;
	}
	MPB_TRACE_EV("recv", mp_mpi_rank(), r->slot);
	if (r->fnid >= mpb_ntable || mpb_table[r->fnid]->kind < MP_BACKEND_APPLY) {
		fail_slot(w, r->slot, -EINVAL, "unknown task function");
		return 0;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fail_slot(w, r->slot, -ENOMEM, "out of memory");
		return 0;
	}
	if (mpb_table[r->fnid]->kind == MP_BACKEND_APPLY) {
		f = mp_executor_submit(w->local, (mp_task_fn)mpb_table[r->fnid]->fn,
				       data, r->len);
	} else if (r->in_size && r->len / r->in_size == r->count &&
		   r->len % r->in_size == 0 && r->count > 0 &&
		   r->out_size <= (SIZE_MAX / 4) / r->count) {
		struct chunk_in c = {(uintptr_t)mpb_table[r->fnid]->fn, r->count,
				     r->in_size, r->out_size};
		char *buf = malloc(sizeof(c) + r->len);

		if (buf != NULL) {
			memcpy(buf, &c, sizeof(c));
			memcpy(buf + sizeof(c), data, r->len);
			f = mp_executor_submit(w->local, run_chunk, buf,
					       sizeof(c) + r->len);
			free(buf);
		}
	} else {
		free(t);
		fail_slot(w, r->slot, -EPROTO, "a map chunk of a bad size");
		return 0;
	}
	if (f == NULL) {
		free(t);
		fail_slot(w, r->slot, mp_last_error_code(), mp_last_error());
		return 0;
	}
	if (r->slot >= w->window || w->by_slot[r->slot] != NULL) {
		free(t);
		mp_future_free(f); /* it runs on, unreported */
		fail_slot(w, r->slot, -EPROTO, "a task for a slot in use");
		return 0;
	}
	t->f = f;
	t->w = w;
	t->slot = r->slot;
	w->by_slot[r->slot] = t;
	t->start = mpb_now_ns();
	w->inflight++;
	MPB_TRACE_EV("hand", mp_mpi_rank(), r->slot);
	if (mp_future_add_done_callback(f, local_done, t) < 0) {
		fail_slot(w, r->slot, -ENOMEM, "out of memory");
		mp_future_free(f); /* it runs on, unreported */
		w->by_slot[r->slot] = NULL;
		free(t);
		w->inflight--;
	}
	return 0;
}

/* The message of the calling thread's last failure, without "func: ". */
static const char *last_msg(void)
{
	const char *m = mp_last_error(), *c = strstr(m, ": ");

	return c ? c + 2 : m;
}

/* Move the completed tasks into w->out. */
static void worker_collect(struct worker *w)
{
	struct wtask *t, *next;

	pthread_mutex_lock(&w->mu);
	t = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; t != NULL; t = next) {
		const mp_bytes_t *res = NULL;
		int rc = mp_future_result(t->f, 0, &res);

		next = t->next;
		w->avg_ns = w->avg_ns - w->avg_ns / 8 +
			    (mpb_now_ns() - t->start) / w->inflight / 8;
		if (rc == 0) {
			/* Rank 0 learns how long it ran (wire.h). */
			struct mpw_rec r = {.slot = t->slot, .len = res->len,
					    .in_size = t->ran};

			if (mpw_add(&w->out, &r, res->data) < 0)
				fail_slot(w, t->slot, -ENOMEM, "out of memory");
		} else {
			fail_slot(w, t->slot, rc, last_msg());
		}
		mp_future_free(t->f);
		w->by_slot[t->slot] = NULL;
		free(t);
		w->inflight--;
	}
}

/* Sleep on the local completions for at most ns. */
static void wait_local(struct worker *w, uint64_t ns)
{
	struct timespec ts = mpb_monotonic_in(ns);

	pthread_mutex_lock(&w->mu);
	if (w->done == NULL)
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	pthread_mutex_unlock(&w->mu);
}

/*
 * Nothing happened.  With local work queued (more tasks than local
 * workers), rank 0 sends nothing new until a result goes back: sleep on
 * the local completions (until the next heartbeat).  Otherwise a message
 * may come: MPI has no descriptor to sleep on, so yield and look again
 * while tasks are short and nothing has happened for less than SHORT_NS
 * (or for IDLE_SPIN_NS of idleness), then nap (a 64th of a task or of
 * the quiet so far, at most 1 ms), woken early by a local completion.
 * The quiet bounds the spin: a long task after short ones (a short
 * average) would otherwise be polled by a spinning rank for its whole
 * run, taking a CPU from it.  While every local worker runs a task of
 * PREFETCH_NS or more, nothing rank 0 may send is urgent but a kill: nap
 * an 8th of a task, at most 8 ms (a kill waits that long at most).
 */
enum { IDLE_SPIN_NS = 200000 };

static void worker_idle(struct worker *w, const struct config *cf,
			uint64_t beat_ns, uint64_t *idle_since, bool sending)
{
	uint64_t now = mpb_now_ns(), nap, quiet;

	if (*idle_since == 0)
		*idle_since = now;
	if (sending) { /* see mpb_big_send_out */
		sched_yield();
		return;
	}
	if (w->inflight > cf->local || (w->stop && w->inflight > 0)) {
		wait_local(w, beat_ns);
		return;
	}
	if (w->inflight == cf->local && w->avg_ns >= PREFETCH_NS) {
		wait_local(w, w->avg_ns / 8 < 8000000 ? w->avg_ns / 8 : 8000000);
		return;
	}
	quiet = now - *idle_since;
	if ((w->inflight > 0 && w->avg_ns < SHORT_NS && quiet < SHORT_NS) ||
	    (w->inflight == 0 && quiet < IDLE_SPIN_NS)) {
		sched_yield();
		return;
	}
	nap = w->inflight > 0 ? (w->avg_ns > quiet ? w->avg_ns : quiet) / 64
			      : quiet;
	wait_local(w, nap < 1000000 ? nap : 1000000);
}

struct beat_to {
	struct send **sends;
	MPI_Comm comm;
};

/* Between the pieces of a big message from rank 0: rank 0 hears that we
 * live. */
static void beat_rank0(void *arg)
{
	struct beat_to *t = arg;

	mpb_send_one(t->sends, t->comm, 0, MPW_BEAT, NULL, NULL);
	mpb_reap_sends(t->sends, false);
}

_Noreturn void mpb_worker_main(MPI_Comm comm, const struct config *cf)
{
	struct worker w = {.mu = PTHREAD_MUTEX_INITIALIZER,
			   .avg_ns = 1000000000, .window = cf->window,
			   .nlocal = cf->local};
	struct send *sends = NULL;
	char *rbuf = malloc(MPW_FIRST);
	uint64_t beat_ns = (uint64_t)(cf->rank_timeout * 1e9 / 4);
	uint64_t last_sent = mpb_now_ns();
	MPI_Request rreq = MPI_REQUEST_NULL;
	uint64_t idle_since = 0, heard = mpb_now_ns();
	uint64_t silence = (uint64_t)(cf->rank_timeout * 1e9);
	int code = 0;

	mpb_cond_init(&w.cv);
	w.local = mp_executor_new(&(mp_executor_opts_t){
		.max_workers = cf->local, .task_timeout = cf->task_timeout,
		.initializer = local_init});
	w.by_slot = calloc(cf->window, sizeof(*w.by_slot));
	if (rbuf == NULL || w.local == NULL || w.by_slot == NULL) {
		fprintf(stderr, "mproc_mpi rank %d: cannot start: %s\n",
			mp_mpi_rank(), mp_last_error());
		MPI_Abort(comm, 1);
	}
	if (mpw_begin(&w.out, MPW_RESULTS) < 0)
		MPI_Abort(comm, 1);
	MPI_Irecv(rbuf, MPW_FIRST, MPI_BYTE, 0, TAG_MSG, comm, &rreq);
	while (!w.stop || (!w.stop_now && w.inflight > 0)) {
		bool busy = false;
		int flag = 0;
		MPI_Status st;

		if (!w.stop && MPI_Test(&rreq, &flag, &st) != MPI_SUCCESS) {
			code = 1; /* rank 0 is gone */
			w.stop_now = true;
			break;
		}
		if (flag) {
			char *msg;
			size_t len;
			uint32_t type;
			const char *why = "";
			int got = 0;

			MPI_Get_count(&st, MPI_BYTE, &got);
			busy = true;
			heard = mpb_now_ns();
			if (mpb_finish_recv(comm, 0, rbuf, got, &msg, &len,
					    beat_rank0, &(struct beat_to){
						    &sends, comm}) < 0 ||
			    mpw_decode(msg, len, &type, worker_on_rec, &w,
				       &why) < 0) {
				fprintf(stderr, "mproc_mpi rank %d: a bad message "
					"from rank 0: %s\n", mp_mpi_rank(), why);
				MPI_Abort(comm, 1);
			}
			if (msg != rbuf)
				free(msg);
			if (!w.stop)
				MPI_Irecv(rbuf, MPW_FIRST, MPI_BYTE, 0, TAG_MSG,
					  comm, &rreq);
		}
		worker_collect(&w);
		if (w.out.count > 0 && !w.stop_now) {
			mpw_finish(&w.out);
			if (mpb_post_send(&sends, comm, 0, &w.out) < 0 ||
			    mpw_begin(&w.out, MPW_RESULTS) < 0) {
				code = 1;
				w.stop_now = true;
				break;
			}
			last_sent = mpb_now_ns();
			busy = true;
			MPB_TRACE_EV("reply", mp_mpi_rank(), UINT32_MAX);
		}
		mpb_reap_sends(&sends, false);
		if (busy || (w.stop && !w.stop_now && w.inflight == 0)) {
			idle_since = 0;
			continue;
		}
		if (w.inflight > 0 && mpb_now_ns() - last_sent > beat_ns) {
			mpb_send_one(&sends, comm, 0, MPW_BEAT, NULL, NULL);
			last_sent = mpb_now_ns();
		}
		worker_idle(&w, cf, beat_ns, &idle_since,
			    mpb_big_send_out(sends, -1));
		if (!w.stop && mpb_now_ns() - heard > silence) {
			fprintf(stderr, "mproc_mpi rank %d: rank 0 sent nothing "
				"for %gs: presumed dead, exiting\n",
				mp_mpi_rank(), cf->rank_timeout);
			w.stop = w.stop_now = true;
			mpb_lost_rank = true;
			code = 1;
		}
	}
	if (w.stop_now)
		mp_executor_kill_workers(w.local);
	mp_executor_shutdown(w.local, MP_SHUTDOWN_CANCEL_FUTURES);
	worker_collect(&w); /* free what is left */
	mp_executor_free(w.local);
	free(w.by_slot);
	mpw_free(&w.out);
	if (code == 0) {
		struct mpw_rec bye = {
			.fnid = STOP_FNID,
			.count = (uint32_t)mp_active_children(NULL, 0)};

		mpb_send_one(&sends, comm, 0, MPW_BYE, &bye, NULL);
	}
	if (code == 0) {
		mpb_reap_sends(&sends, true);
		if (rreq != MPI_REQUEST_NULL) {
			MPI_Cancel(&rreq);
			MPI_Request_free(&rreq);
		}
		MPI_Comm_free(&comm);
		mpb_disconnect();
	} /* else rank 0 is gone: nothing of MPI's can finish; exit */
	free(rbuf);
	if (code == 0 && !mpb_lost_rank)
		MPI_Finalize();
	else
		mpb_lost_rank = true; /* nor at exit */
	exit(code);
}

