/*
 * mpi/rank0.c - libmproc_mpi: rank 0's progress thread (credit window,
 * batches, Testsome, heartbeats, lost ranks).  The backend's start and
 * stop are in start.c.  See mpi_int.h.
 */
#include "mpi/rank0.h"

/* ---- rank 0 ---- */

/* Jobs were queued or the state changed: wake the progress thread. */
void mpb_kick(void *state)
{
	struct be *b = state;

	pthread_mutex_lock(&b->mu);
	b->kicked = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* mp_future_kill of a taken job: the progress thread sends it on. */
int mpb_kill(void *state, void *handle)
{
	struct be *b = state;
	struct kill_req *q = malloc(sizeof(*q));

	if (q == NULL)
		return -ENOMEM;
	q->handle = handle;
	pthread_mutex_lock(&b->mu);
	q->next = b->kills;
	b->kills = q;
	b->kicked = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 1;
}

/* A job of rank k's ended at about `at` (one that ran there, not one
 * that waited): the local worker it freed began the oldest job waiting
 * there then, as the rank's local executor runs them in order.  Only
 * after a job not short: short ones end by the hundred, and rank_nap
 * does not look at them. */
static void begin_next(struct rank *r, uint32_t window, uint64_t at)
{
	uint32_t next = window;

	for (uint32_t s = 0; s < window; s++)
		if (r->handle[s] != NULL && r->began[s] == 0 &&
		    (next == window || r->sent[s] < r->sent[next]))
			next = s;
	if (next < window)
		r->began[next] = at;
}

/* End the job in slot of rank k; it ran for ran ns there, as the rank
 * says (0: not known). */
static void end_slot(struct be *b, int k, uint32_t slot, int status,
		     const void *data, size_t len, uint64_t ran)
{
	struct rank *r = &b->r[k];
	void *h = r->handle[slot];
	uint64_t now = mpb_now_ns(), out = now - r->sent[slot];
	/* A job's time: its round trip shared by those it queued with. */
	uint64_t t = out / r->inflight;
	uint64_t *avg = &b->fn_avg[r->fnid[slot]];
	/* When it ended: it began plus what it ran (or its function's
	 * average), unless its result came sooner.  Rank 0 may have napped
	 * past the end, and the rank's clock is not ours. */
	uint64_t took = ran != 0 && ran <= out ? ran : *avg;
	uint64_t ended = took != 0 && r->began[slot] + took < now
			 ? r->began[slot] + took : now;

	MPB_TRACE_EV("got", k, slot);
	if (ran != 0 && ran <= out) {
		r->run_ns = ran;
		r->run_fnid = r->fnid[slot];
	}

	/* Falls fast (a cold first run, once; a job sent as long waits a
	 * round trip more), rises slowly. */
	*avg = *avg == 0 ? t : t < *avg ? *avg / 2 + t / 2
			       : *avg - *avg / 8 + t / 8;
	b->avg_ns = *avg;
	r->handle[slot] = NULL;
	r->free[r->nfree++] = slot;
	r->inflight--;
	r->nlong -= r->lng[slot];
	if (r->began[slot] != 0 && *avg >= SHORT_NS)
		begin_next(r, b->cf.window, ended);
	r->began[slot] = 0;
	mp_executor_backend_end(b->ex, h, status, data, len);
}

/* End every job rank k runs with status and msg. */
static void end_rank_jobs(struct be *b, int k, int status, const char *msg)
{
	for (uint32_t s = 0; s < b->cf.window; s++)
		if (b->r[k].handle[s] != NULL)
			end_slot(b, k, s, status, msg, strlen(msg), 0);
}

/* End the job held for credit, if any. */
static void end_held(struct be *b, int status, const char *msg)
{
	if (!b->held)
		return;
	b->held = false;
	mp_executor_backend_end(b->ex, b->jobs[0].handle, status, msg,
				strlen(msg));
}

/* Rank k is lost: its jobs fail; with none left the executor breaks. */
static void rank_lost(struct be *b, int k, const char *why)
{
	char msg[256];

	if (!b->r[k].alive)
		return;
	snprintf(msg, sizeof(msg), "MPI rank %d %s (see docs/mpi.md)", k, why);
	b->r[k].alive = false;
	b->alive--;
	mpb_lost_rank = true;
	if (b->rreq[k - 1] != MPI_REQUEST_NULL) {
		MPI_Cancel(&b->rreq[k - 1]);
		MPI_Request_free(&b->rreq[k - 1]);
	}
	end_rank_jobs(b, k, MP_EBROKEN, msg);
	if (b->alive == 0) {
		end_held(b, MP_EBROKEN, msg);
		mp_executor_backend_break(b->ex, msg);
	}
}

struct on_result {
	struct be *b;
	int k;
};

static int result_rec(void *arg, const struct mpw_rec *rec, const char *data)
{
	struct on_result *o = arg;
	struct rank *r = &o->b->r[o->k];

	if (rec->fnid == STOP_FNID) { /* MPW_BYE */
		r->bye = true;
		return 0;
	}
	if (rec->slot >= o->b->cf.window || r->handle[rec->slot] == NULL)
		return -EPROTO;
	/* A result's in_size: how long it ran (worker.c). */
	end_slot(o->b, o->k, rec->slot, rec->status, data, rec->len,
		 rec->in_size);
	return 0;
}

static void beat_now(void *arg);

/* A message arrived from rank k (got bytes of its first piece). */
static void on_message(struct be *b, int k, int got)
{
	struct on_result o = {b, k};
	const char *why = "a message too large for memory";
	char *msg;
	size_t len;
	uint32_t type;
	int rc;

	b->r[k].last_heard = mpb_now_ns();
	rc = mpb_finish_recv(b->comm, k, b->r[k].rbuf, got, &msg, &len,
			     beat_now, b);
	if (rc == 0)
		rc = mpw_decode(msg, len, &type, result_rec, &o, &why);
	if (msg != b->r[k].rbuf && rc != -ENOMEM)
		free(msg);
	if (rc == -EPROTO && why[0] == '\0')
		why = "a result for a slot it does not hold";
	if (rc < 0) {
		char m[160];

		snprintf(m, sizeof(m), "sent a bad message: %s", why);
		rank_lost(b, k, m);
		return;
	}
	if (b->r[k].bye)
		return;
	if (MPI_Irecv(b->r[k].rbuf, MPW_FIRST, MPI_BYTE, k, TAG_MSG, b->comm,
		      &b->rreq[k - 1]) != MPI_SUCCESS)
		rank_lost(b, k, "failed (MPI_Irecv)");
}

/* One job into rank k's message of this round: 1, or 0 (it failed). */
static int add_job(struct be *b, int k, const mp_backend_job_t *j)
{
	struct rank *r = &b->r[k];
	struct mpw_rec rec = {.count = j->count, .in_size = j->in_size,
			      .out_size = j->out_size, .len = j->in_len};
	uint32_t slot;

	if (j->fn == b->last_fn && j->kind == b->last_kind) {
		rec.fnid = b->last_id;
	} else if (mpb_fn_id(j->fn, j->kind, &rec.fnid) < 0) {
		static const char m[] = "the task function is not registered "
					"on the MPI ranks (MP_MPI_TASK, "
					"MP_MPI_MAP) or its name is taken twice";

		mp_executor_backend_end(b->ex, j->handle, -EINVAL, m,
					sizeof(m) - 1);
		return 0;
	} else {
		b->last_fn = j->fn;
		b->last_kind = j->kind;
		b->last_id = rec.fnid;
	}
	if (r->out.count == 0 && mpw_begin(&r->out, MPW_TASKS) < 0)
		goto nomem;
	slot = r->free[r->nfree - 1];
	rec.slot = slot;
	if (mpw_add(&r->out, &rec, j->in) < 0)
		goto nomem;
	r->nfree--;
	r->handle[slot] = j->handle;
	r->sent[slot] = mpb_now_ns();
	/* A local worker of the rank is idle: it begins this one at once. */
	r->began[slot] = r->inflight < b->cf.local ? r->sent[slot] : 0;
	r->fnid[slot] = rec.fnid;
	r->lng[slot] = b->avg_ns >= SHORT_NS;
	r->nlong += r->lng[slot];
	MPB_TRACE_EV("queue", k, slot);
	if (r->inflight++ == 0)
		r->last_heard = mpb_now_ns(); /* the clock starts now */
	return 1;
nomem:
	mp_executor_backend_end(b->ex, j->handle, -ENOMEM, "out of memory", 13);
	return 0;
}

/* Does rank k run a job of a function not timed yet, or one out for 3
 * times its function's average (e.g. one that waits for ever)?  Nothing
 * is sent ahead to wait behind it. */
static bool overran(const struct be *b, int k)
{
	const struct rank *r = &b->r[k];
	uint64_t now = mpb_now_ns();

	for (uint32_t s = 0; r->inflight > 0 && s < b->cf.window; s++) {
		uint64_t avg = b->fn_avg[r->fnid[s]];

		if (r->handle[s] != NULL && (avg == 0 || now - r->sent[s] > 3 * avg))
			return true;
	}
	return false;
}

/* What rank k may be given now.  A job not known to be short (under
 * SHORT_NS) goes only to a rank with an idle local worker (fewer jobs in
 * flight than local workers): no such job waits on a rank behind another
 * while a worker elsewhere is idle; it waits here (held) instead, and
 * long jobs spread over the ranks.  But a job known to take PREFETCH_NS
 * or more gets a second place per local worker: it waits on its rank,
 * its local worker starts it as soon as the one before ends, without the
 * round trip to rank 0 (a result back, the next job out: 3-8 ms per job
 * on a loaded machine); not behind a job that overran (see overran).
 * The price: at the end of a batch such a job may wait on one rank while
 * a worker of another is idle (at most one job per local worker), and a
 * job that runs far longer than its function's average holds the one
 * sent ahead behind it.  Jobs known to be short get the whole window,
 * but not a rank whose local workers all run long jobs. */
static unsigned credit(const struct be *b, int k)
{
	const struct rank *r = &b->r[k];
	unsigned cap = !r->alive ? 0
		       : b->avg_ns >= PREFETCH_NS && b->avg_ns != UNKNOWN_NS &&
				 !overran(b, k)
		       ? 2 * b->cf.local
		       : b->avg_ns >= SHORT_NS ? b->cf.local
		       : r->nlong < b->cf.local ? b->cf.window : 0;

	return r->inflight < cap ? cap - r->inflight : 0;
}

/* Is rank k a better choice than rank best (0: none yet)?  Fewer long
 * jobs in flight (more idle local workers), then fewer jobs; on a tie
 * the first. */
static bool better(const struct be *b, int k, int best)
{
	const struct rank *r = &b->r[k], *o = &b->r[best];

	return best == 0 || r->nlong < o->nlong ||
	       (r->nlong == o->nlong && r->inflight < o->inflight);
}

/* Send each rank its message of this round, if any: true if any. */
static bool send_round(struct be *b)
{
	bool any = false;

	for (int k = 1; k < b->nranks; k++) {
		struct rank *r = &b->r[k];

		if (r->out.count == 0)
			continue;
		mpw_finish(&r->out);
		any = true;
		if (mpb_post_send(&b->sends, b->comm, k, &r->out) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
		MPB_TRACE_EV("isend", k, UINT32_MAX);
	}
	return any;
}

/* mp_future_kill's requests: a job held here ends at once; one on a rank
 * gets a KILL record (its slot) in the rank's next message, and the rank
 * kills its local worker's process group and sends back MP_ECANCELLED
 * (or the result, if the task ended first).  A request for a job that
 * has ended meanwhile finds no slot.  A slot is reused only after its
 * result came back, and the rank reads rank 0's messages in order, so a
 * KILL never reaches the next job of its slot. */
static void send_kills(struct be *b)
{
	struct kill_req *q, *next;

	pthread_mutex_lock(&b->mu);
	q = b->kills;
	b->kills = NULL;
	pthread_mutex_unlock(&b->mu);
	for (; q != NULL; q = next) {
		next = q->next;
		if (b->held && b->jobs[0].handle == q->handle)
			end_held(b, MP_ECANCELLED, "the task was killed");
		for (int k = 1; k < b->nranks; k++) {
			struct rank *r = &b->r[k];
			struct mpw_rec rec = {.fnid = KILL_FNID};

			for (rec.slot = 0; r->alive && rec.slot < b->cf.window;
			     rec.slot++)
				if (r->handle[rec.slot] == q->handle)
					break;
			if (!r->alive || rec.slot == b->cf.window)
				continue;
			if ((r->out.count == 0 &&
			     mpw_begin(&r->out, MPW_TASKS) < 0) ||
			    mpw_add(&r->out, &rec, NULL) < 0)
				rank_lost(b, k, "cannot be told to kill a task "
					  "(out of memory)");
		}
		free(q);
	}
}

/* Hand pending jobs to the ranks with credit, each to the best (better:
 * the most idle local workers), one message per rank.  The credit is that of the first job's function
 * (a function not seen yet counts as long), so that first job is taken
 * to learn it; without credit it is held (jobs[0]) until a result frees
 * some: never sent past the credit, which piled long jobs on one rank
 * while the other idled.  true if any was sent. */
static bool hand_out(struct be *b)
{
	size_t n = 0, got;
	uint32_t id;

	if (!b->held) {
		for (int k = 1; k < b->nranks; k++)
			n += b->r[k].alive ? b->r[k].nfree : 0;
		if (n == 0 || mp_executor_backend_take(b->ex, 1, b->jobs) == 0)
			return send_round(b);
		b->held = true;
	}
	b->avg_ns = mpb_fn_id(b->jobs[0].fn, b->jobs[0].kind, &id) == 0 &&
			    b->fn_avg[id] != 0
		    ? b->fn_avg[id] : UNKNOWN_NS;
	n = 0;
	for (int k = 1; k < b->nranks; k++)
		n += credit(b, k);
	if (n == 0)
		return send_round(b);
	b->held = false;
	got = 1 + (n > 1 ? mp_executor_backend_take(b->ex, n - 1, b->jobs + 1)
			 : 0);
	for (size_t i = 0; i < got; i++) {
		int best = 0;

		for (int k = 1; k < b->nranks; k++)
			if (credit(b, k) > 0 && better(b, k, best))
				best = k;
		if (best == 0) /* a rank was lost meanwhile */
			mp_executor_backend_end(b->ex, b->jobs[i].handle,
						MP_EBROKEN, "no MPI rank left", 16);
		else
			add_job(b, best, &b->jobs[i]);
	}
	return send_round(b);
}

static unsigned inflight(const struct be *b)
{
	unsigned n = 0;

	for (int k = 1; k < b->nranks; k++)
		n += b->r[k].alive ? b->r[k].inflight : 0;
	return n;
}

/* Receive what has arrived: true if anything did. */
static bool gather(struct be *b)
{
	int n = 0;

	if (MPI_Testsome(b->nranks - 1, b->rreq, &n, b->idx, b->st) !=
	    MPI_SUCCESS) {
		/* Which one failed: its status says. */
		for (int i = 0; i < b->nranks - 1; i++)
			if (b->rreq[i] != MPI_REQUEST_NULL && n > 0 &&
			    b->st[i].MPI_ERROR != MPI_SUCCESS)
				rank_lost(b, i + 1, "failed (MPI error)");
		return true;
	}
	if (n == MPI_UNDEFINED)
		return false;
	for (int i = 0; i < n; i++) {
		int got = 0;

		MPI_Get_count(&b->st[i], MPI_BYTE, &got);
		on_message(b, b->idx[i] + 1, got);
	}
	return n > 0;
}

/* Ranks owing results and silent for rank_timeout are lost. */
static void check_silence(struct be *b)
{
	uint64_t now = mpb_now_ns(), limit = (uint64_t)(b->cf.rank_timeout * 1e9);

	for (int k = 1; k < b->nranks; k++) {
		struct rank *r = &b->r[k];
		char why[128];

		if (!r->alive || r->inflight == 0 || now - r->last_heard <= limit)
			continue;
		snprintf(why, sizeof(why), "sent nothing for %gs while running "
			 "%u tasks: presumed dead", b->cf.rank_timeout,
			 r->inflight);
		rank_lost(b, k, why);
	}
}

/* Tell the live ranks to stop and wait (rank_timeout at most) for their
 * goodbyes. */
static void stop_ranks(struct be *b, int how)
{
	struct mpw_rec stop = {.fnid = STOP_FNID, .status = how,
			       .count = mpb_lost_rank};
	uint64_t until = mpb_now_ns() + (uint64_t)(b->cf.rank_timeout * 1e9);
	bool waiting = true;

	for (int k = 1; k < b->nranks; k++)
		if (b->r[k].alive &&
		    mpb_send_one(&b->sends, b->comm, k, MPW_STOP, &stop, NULL) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
	while (waiting && mpb_now_ns() < until) {
		waiting = false;
		for (int k = 1; k < b->nranks; k++)
			waiting |= b->r[k].alive && !b->r[k].bye;
		if (waiting && !gather(b))
			sched_yield();
		if (how == STOP_NOW)
			for (int k = 1; k < b->nranks; k++)
				end_rank_jobs(b, k, MP_ECANCELLED,
					      "the task was cancelled");
	}
	for (int k = 1; k < b->nranks; k++)
		if (b->r[k].alive && !b->r[k].bye)
			rank_lost(b, k, "did not say goodbye at shutdown");
	mpb_reap_sends(&b->sends, false);
}

/* Rank 0's naps while results are owed (MPI has no descriptor to sleep
 * on), woken early by a kick (new jobs, a kill). */
enum { NAP_MIN_NS = 100000, NAP_MAX_NS = 8000000, NAP_LATE_NS = 1000000 };

/* The nap before rank 0 looks for a result due at due (ns): a quarter of
 * the time left, at most NAP_MAX_NS, so that it wakes a few times while
 * a job runs and often near its end (a result that comes early waits
 * about a third of how early it came); once due, NAP_MIN_NS and a 16th
 * of the delay, at most NAP_LATE_NS. */
static uint64_t nap_until(uint64_t now, uint64_t due)
{
	uint64_t nap;

	if (now < due) {
		nap = (due - now) / 4;
		return nap < NAP_MIN_NS ? NAP_MIN_NS
		       : nap > NAP_MAX_NS ? NAP_MAX_NS : nap;
	}
	nap = NAP_MIN_NS + (now - due) / 16;
	return nap < NAP_LATE_NS ? nap : NAP_LATE_NS;
}

/* How long rank 0 may nap before it looks for rank k's next result, or
 * 0 when it cannot tell (a job of a function not timed yet, or short).
 * A rank whose local workers each have a job waiting behind the running
 * one (sent ahead: PREFETCH_NS) needs nothing soon: an 8th of a job's
 * time, at most NAP_MAX_NS (a result waits at most that long).
 * Otherwise a local worker idles, or the batch ends, when its job ends:
 * nap_until the first running job is due: its beginning (when it was
 * sent to an idle local worker, or when the job before it ended: that
 * one's beginning plus how long it ran, which the rank tells) plus what
 * the last job of its function took on that rank (the ranks' CPUs
 * differ) or its function's average, a little less (jobs take a few %
 * more or less, and a result that comes before it is due waits longer
 * than one that comes after). */
static uint64_t rank_nap(const struct be *b, int k, uint64_t now)
{
	const struct rank *r = &b->r[k];
	uint64_t due = UINT64_MAX, avg = 0;
	unsigned waiting = 0;

	for (uint32_t s = 0; s < b->cf.window; s++) {
		uint64_t a, t;

		if (r->handle[s] == NULL)
			continue;
		if ((a = b->fn_avg[r->fnid[s]]) < SHORT_NS)
			return 0;
		/* What it takes there, if the rank said (its last job was
		 * of the same function), less a 32nd; else its function's
		 * average, less a 16th. */
		t = r->run_ns != 0 && r->run_fnid == r->fnid[s]
			    ? r->run_ns - r->run_ns / 32 : a - a / 16;
		if (r->began[s] == 0)
			waiting++;
		else if (r->began[s] + t < due) {
			due = r->began[s] + t;
			avg = a;
		}
	}
	if (due == UINT64_MAX)
		return 0;
	if (waiting >= b->cf.local)
		return avg / 8 < NAP_MAX_NS ? avg / 8 : NAP_MAX_NS;
	return nap_until(now, due);
}

/* Sleep ns at most: until kicked. */
static void wait_kick(struct be *b, uint64_t ns)
{
	struct timespec ts = mpb_monotonic_in(ns);

	pthread_mutex_lock(&b->mu);
	if (!b->kicked)
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	b->kicked = false;
	pthread_mutex_unlock(&b->mu);
}

/* Nothing arrived and results are owed.  While jobs are short and the
 * quiet has lasted less than SHORT_NS, yield and look again (a result is
 * microseconds away).  Jobs whose time is known: the shortest rank_nap,
 * so that rank 0 wakes rarely while they run and often when a result is
 * due (it wakes on a CPU a task may need: 2 cores, 2 ranks busy).
 * Otherwise nap a 64th of a job's time or of the quiet so far, at most
 * 1 ms (a result waits at most that long).  The quiet bounds the spin
 * when a long job follows short ones of the same function. */
static void idle(struct be *b)
{
	uint64_t now = mpb_now_ns(), quiet, nap = UINT64_MAX;
	bool sending = false;

	if (b->quiet_since == 0)
		b->quiet_since = now;
	quiet = now - b->quiet_since;
	for (int k = 1; k < b->nranks; k++) /* not to a rank lost */
		sending |= b->r[k].alive && mpb_big_send_out(b->sends, k);
	if ((b->avg_ns < SHORT_NS && quiet < SHORT_NS) || sending) {
		sched_yield();
		return;
	}
	for (int k = 1; k < b->nranks && nap != 0; k++)
		if (b->r[k].alive && b->r[k].inflight > 0) {
			uint64_t n = rank_nap(b, k, now);

			nap = n < nap ? n : nap;
		}
	if (nap == 0 || nap == UINT64_MAX) {
		nap = (b->avg_ns > quiet ? b->avg_ns : quiet) / 64;
		nap = nap < 1000000 ? nap : 1000000;
	}
	MPB_TRACE_EV("nap", (int)(nap / 1000), 0);
	wait_kick(b, nap);
}

/* Every quarter of rank_timeout, tell the live ranks that rank 0 lives
 * (they exit when it falls silent for rank_timeout). */
static uint64_t beat_every(const struct be *b)
{
	return (uint64_t)(b->cf.rank_timeout * 1e9 / 4);
}

static void beat_ranks(struct be *b)
{
	uint64_t now = mpb_now_ns();

	if (now - b->last_beat < beat_every(b))
		return;
	b->last_beat = now;
	for (int k = 1; k < b->nranks; k++)
		if (b->r[k].alive &&
		    mpb_send_one(&b->sends, b->comm, k, MPW_BEAT, NULL, NULL) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
}

/* Between the pieces of a big message: every live rank hears from rank 0
 * (they may wait on it), and what was sent moves on. */
static void beat_now(void *arg)
{
	struct be *b = arg;

	b->last_beat = 0;
	beat_ranks(b);
	mpb_reap_sends(&b->sends, false);
}

void *mpb_progress(void *arg)
{
	struct be *b = arg;
	int st, how = STOP_GRACEFUL;

	for (;;) {
		bool busy;

		st = mp_executor_backend_state(b->ex);
		if (st == MP_BACKEND_TERMINATED || st == MP_BACKEND_KILLED) {
			int code = st == MP_BACKEND_KILLED ? MP_EBROKEN
							   : MP_ECANCELLED;
			const char *m = st == MP_BACKEND_KILLED
					? "the worker ranks were terminated"
					: "the task was cancelled";

			for (int k = 1; k < b->nranks; k++)
				end_rank_jobs(b, k, code, m);
			end_held(b, code, m);
			how = STOP_NOW;
			break;
		}
		busy = gather(b);
		send_kills(b);
		busy |= hand_out(b);
		beat_ranks(b);
		mpb_reap_sends(&b->sends, false);
		if (st == MP_BACKEND_CLOSING && inflight(b) == 0 && !b->held &&
		    mp_executor_backend_state(b->ex) == MP_BACKEND_CLOSING &&
		    !hand_out(b))
			break;
		if (busy) {
			b->quiet_since = 0;
			continue;
		}
		if (inflight(b) > 0) {
			check_silence(b);
			idle(b);
			continue;
		}
		b->quiet_since = 0;
		wait_kick(b, beat_every(b));
	}
	stop_ranks(b, how);
	mp_executor_backend_stopped(b->ex);
	pthread_mutex_lock(&b->mu);
	b->stopped = true;
	pthread_mutex_unlock(&b->mu);
	return NULL;
}
