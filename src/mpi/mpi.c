/*
 * mpi/mpi.c - libmproc_mpi: an executor backend (mproc/backend.h) running
 * the tasks on the ranks of an MPI job (mproc/mpi.h, docs/mpi.md).
 *
 * Rank 0: one progress thread takes the executor's pending jobs, a credit
 * window of them per worker rank, and sends each rank its share in one
 * message (MPI_Isend); it has one MPI_Irecv posted per rank and gathers
 * results with MPI_Testsome.  It spins (sched_yield) only while results
 * are owed; otherwise it sleeps on a condition variable until a job is
 * queued.  A rank that owes results and has sent nothing (not even a
 * heartbeat) for rank_timeout is presumed dead: its jobs fail (MP_EBROKEN).
 *
 * Worker ranks: the same call runs worker_main and exits: tasks go to a
 * local mp_executor_t (forked worker processes: a crash fails one future),
 * results go back in batches.  While its local workers have queued work,
 * the rank sleeps on their completions (heartbeating), not in MPI.
 *
 * MPI is called by one thread at a time: the caller of mp_executor_new
 * until the progress thread starts, then only that thread.
 */
#include <errno.h>
#include <link.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mproc/mpi.h"
#include "mproc/process.h"
#include "mpi/wire.h"

enum { TAG_MSG = 7101, TAG_BIG = 7102 };
enum { STOP_GRACEFUL = 0, STOP_NOW = 1 };
#define STOP_FNID UINT32_MAX /* a STOP record's fnid */
/* A task shorter than this is "short": both sides yield and look again
 * rather than nap while one is owed. */
enum { SHORT_NS = 2000000 };
/* The time of a job whose function has not been timed yet. */
#define UNKNOWN_NS 1000000000u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the registry ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mp_mpi_fn_entry *reg_head;
static struct mp_mpi_fn_entry **table; /* sorted by name, at start */
static size_t ntable;

void mp_mpi_register(struct mp_mpi_fn_entry *e)
{
	pthread_mutex_lock(&reg_mu);
	e->next = reg_head;
	reg_head = e;
	pthread_mutex_unlock(&reg_mu);
}

static int by_name(const void *a, const void *b)
{
	const struct mp_mpi_fn_entry *x = *(struct mp_mpi_fn_entry *const *)a;
	const struct mp_mpi_fn_entry *y = *(struct mp_mpi_fn_entry *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->kind - y->kind;
}

/* Sort the registry into table: 0 with *hash (of the names and kinds), or
 * -ENOMEM. */
static int table_build(uint64_t *hash)
{
	struct mp_mpi_fn_entry *e, **t;
	size_t n = 0;
	uint64_t h = 1469598103934665603u;

	pthread_mutex_lock(&reg_mu);
	for (e = reg_head; e; e = e->next)
		n++;
	if ((t = calloc(n + 1, sizeof(*t))) == NULL) {
		pthread_mutex_unlock(&reg_mu);
		return -ENOMEM;
	}
	n = 0;
	for (e = reg_head; e; e = e->next)
		t[n++] = e;
	pthread_mutex_unlock(&reg_mu);
	qsort(t, n, sizeof(*t), by_name);
	for (size_t i = 0; i < n; i++) {
		for (const char *c = t[i]->name; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211u;
		h = (h ^ (uint64_t)t[i]->kind) * 1099511628211u;
	}
	free(table);
	table = t;
	ntable = n;
	*hash = h;
	return 0;
}

static bool duplicate(size_t i)
{
	return (i > 0 && strcmp(table[i - 1]->name, table[i]->name) == 0) ||
	       (i + 1 < ntable && strcmp(table[i + 1]->name, table[i]->name) == 0);
}

/* The id of fn (of kind), or -EINVAL. */
static int fn_id(uintptr_t fn, int kind, uint32_t *id)
{
	for (size_t i = 0; i < ntable; i++)
		if ((uintptr_t)table[i]->fn == fn && table[i]->kind == kind) {
			if (duplicate(i))
				return -EINVAL;
			*id = (uint32_t)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- MPI set-up ---- */

static pid_t init_pid; /* the process that ran MPI_Init here, or 0 */
/* A rank was lost: MPI_Finalize would wait for it for ever (Open MPI's
 * fence), so no rank finalizes. */
static bool lost_rank;

static void finalize_at_exit(void)
{
	int fin = 1;

	if (getpid() == init_pid && !lost_rank && MPI_Finalized(&fin) == MPI_SUCCESS && !fin)
		MPI_Finalize();
}

static int mpi_up(void)
{
	int inited = 0, provided = 0;

	MPI_Initialized(&inited);
	if (!inited) {
		if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED,
				    &provided) != MPI_SUCCESS)
			return mp_executor_backend_why(MP_EBROKEN,
						       "MPI_Init_thread failed");
		init_pid = getpid();
		atexit(finalize_at_exit);
	} else {
		MPI_Query_thread(&provided);
	}
	if (provided < MPI_THREAD_SERIALIZED)
		return mp_executor_backend_why(-ENOTSUP, "MPI gives thread level "
					       "%d, MPI_THREAD_SERIALIZED needed",
					       provided);
	return 0;
}

int mp_mpi_rank(void)
{
	int inited = 0, fin = 0, r = 0;

	MPI_Initialized(&inited);
	MPI_Finalized(&fin);
	if (inited && !fin)
		MPI_Comm_rank(MPI_COMM_WORLD, &r);
	return r;
}

int mp_mpi_size(void)
{
	int inited = 0, fin = 0, n = 1;

	MPI_Initialized(&inited);
	MPI_Finalized(&fin);
	if (inited && !fin)
		MPI_Comm_size(MPI_COMM_WORLD, &n);
	return n;
}

/* What every rank tells rank 0 at start. */
struct hello {
	unsigned char build_id[40];
	uint32_t build_id_len, nfn;
	uint64_t fnhash;
};

static int build_id_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct hello *h = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		size_t off = 0;

		if (ph->p_type != PT_NOTE)
			continue;
		while (off + sizeof(ElfW(Nhdr)) <= ph->p_memsz) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)(p + off);
			size_t name = (n->n_namesz + 3) & ~(size_t)3;
			size_t desc = (n->n_descsz + 3) & ~(size_t)3;

			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp(n + 1, "GNU", 4) == 0 &&
			    n->n_descsz <= sizeof(h->build_id)) {
				memcpy(h->build_id, (const char *)(n + 1) + name,
				       n->n_descsz);
				h->build_id_len = n->n_descsz;
				return 1;
			}
			off += sizeof(*n) + name + desc;
		}
	}
	return 1; /* the program is the first object: only it counts */
}

/* ---- sending and receiving (both sides) ---- */

struct send {
	struct send *next;
	MPI_Request *req;
	int nreq;
	struct mpw_buf buf;
};

/* Post b (taken) to dest in pieces: 0, -ENOMEM, or MP_EBROKEN. */
static int post_send(struct send **list, MPI_Comm comm, int dest,
		     struct mpw_buf *b)
{
	struct send *s = calloc(1, sizeof(*s));
	size_t len = b->len, first = len < MPW_FIRST ? len : MPW_FIRST;
	int n = 1 + (int)((len - first + MPW_PIECE - 1) / MPW_PIECE), rc = 0;

	if (s == NULL || (s->req = calloc((size_t)n, sizeof(*s->req))) == NULL) {
		free(s);
		mpw_free(b);
		return -ENOMEM;
	}
	s->buf = *b;
	*b = (struct mpw_buf){0};
	s->nreq = n;
	if (MPI_Isend(s->buf.p, (int)first, MPI_BYTE, dest, TAG_MSG, comm,
		      &s->req[0]) != MPI_SUCCESS)
		rc = MP_EBROKEN;
	for (int i = 1; i < n; i++) {
		size_t off = first + (size_t)(i - 1) * MPW_PIECE;
		size_t k = len - off < MPW_PIECE ? len - off : MPW_PIECE;

		s->req[i] = MPI_REQUEST_NULL;
		if (rc == 0 && MPI_Isend(s->buf.p + off, (int)k, MPI_BYTE, dest,
					 TAG_BIG, comm, &s->req[i]) != MPI_SUCCESS)
			rc = MP_EBROKEN;
	}
	s->next = *list;
	*list = s;
	return rc;
}

/* Release the sends that have completed (all of them, waiting, if wait). */
static void reap_sends(struct send **list, bool wait)
{
	struct send **pp = list, *s;

	while ((s = *pp) != NULL) {
		int done = 1;

		if (wait)
			MPI_Waitall(s->nreq, s->req, MPI_STATUSES_IGNORE);
		else if (MPI_Testall(s->nreq, s->req, &done,
				     MPI_STATUSES_IGNORE) != MPI_SUCCESS)
			done = 1; /* failed: the peer is gone */
		if (!done) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		mpw_free(&s->buf);
		free(s->req);
		free(s);
	}
}

/* A first piece of got bytes arrived from src into rbuf: the whole
 * message into *msg (rbuf, or malloc'd: the caller frees it when it is
 * not rbuf) and *len.  0, -ENOMEM, -EPROTO or MP_EBROKEN. */
static int finish_recv(MPI_Comm comm, int src, char *rbuf, int got,
		       char **msg, size_t *len)
{
	struct mpw_hdr h;
	size_t have = (size_t)got;
	char *p;

	*msg = rbuf;
	*len = have;
	if (have < MPW_FIRST || have < sizeof(h))
		return 0;
	memcpy(&h, rbuf, sizeof(h));
	if (h.total <= have)
		return 0;
	if ((p = malloc(have)) == NULL)
		return -ENOMEM;
	memcpy(p, rbuf, have);
	/* Grow by what arrives, never by what the header says. */
	while (have < h.total) {
		MPI_Status st;
		int k = -1;
		char *q;

		if (MPI_Probe(src, TAG_BIG, comm, &st) != MPI_SUCCESS ||
		    MPI_Get_count(&st, MPI_BYTE, &k) != MPI_SUCCESS) {
			free(p);
			return MP_EBROKEN;
		}
		if (k <= 0 || (uint64_t)k > h.total - have) {
			free(p);
			return -EPROTO; /* an empty piece, or too much */
		}
		if ((q = realloc(p, have + (size_t)k)) == NULL) {
			free(p);
			return -ENOMEM;
		}
		p = q;
		if (MPI_Recv(p + have, k, MPI_BYTE, src, TAG_BIG, comm,
			     MPI_STATUS_IGNORE) != MPI_SUCCESS) {
			free(p);
			return MP_EBROKEN;
		}
		have += (size_t)k;
	}
	*msg = p;
	*len = have;
	return 0;
}

static void cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

/* ---- the shared configuration ---- */

struct config {
	uint32_t window, local;
	double rank_timeout, task_timeout;
};

/* ---- worker ranks ---- */

struct wtask {
	struct wtask *next;
	mp_future_t *f;
	struct worker *w;
	uint64_t start;
	uint32_t slot;
};

struct worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wtask *done; /* completed, pushed by the local executor */
	mp_executor_t *local;
	unsigned inflight;
	bool stop, stop_now;
	uint64_t avg_ns; /* a local task's time, moving average */
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
	pthread_mutex_lock(&w->mu);
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
		lost_rank = r->count != 0;
		w->stop_now = r->status == STOP_NOW;
		return 0;
	}
	if (r->fnid >= ntable || table[r->fnid]->kind < MP_BACKEND_APPLY) {
		fail_slot(w, r->slot, -EINVAL, "unknown task function");
		return 0;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fail_slot(w, r->slot, -ENOMEM, "out of memory");
		return 0;
	}
	if (table[r->fnid]->kind == MP_BACKEND_APPLY) {
		f = mp_executor_submit(w->local, (mp_task_fn)table[r->fnid]->fn,
				       data, r->len);
	} else if (r->in_size && r->len / r->in_size == r->count &&
		   r->len % r->in_size == 0 && r->count > 0 &&
		   r->out_size <= (SIZE_MAX / 4) / r->count) {
		struct chunk_in c = {(uintptr_t)table[r->fnid]->fn, r->count,
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
	t->f = f;
	t->w = w;
	t->slot = r->slot;
	t->start = now_ns();
	w->inflight++;
	if (mp_future_add_done_callback(f, local_done, t) < 0) {
		fail_slot(w, r->slot, -ENOMEM, "out of memory");
		mp_future_free(f); /* it runs on, unreported */
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
			    (now_ns() - t->start) / w->inflight / 8;
		if (rc == 0) {
			struct mpw_rec r = {.slot = t->slot, .len = res->len};

			if (mpw_add(&w->out, &r, res->data) < 0)
				fail_slot(w, t->slot, -ENOMEM, "out of memory");
		} else {
			fail_slot(w, t->slot, rc, last_msg());
		}
		mp_future_free(t->f);
		free(t);
		w->inflight--;
	}
}

static int send_one(struct send **sends, MPI_Comm comm, int dest,
		    uint32_t type, const struct mpw_rec *r, const void *data)
{
	struct mpw_buf b = {0};

	if (mpw_begin(&b, type) < 0 || (r && mpw_add(&b, r, data) < 0)) {
		mpw_free(&b);
		return -ENOMEM;
	}
	mpw_finish(&b);
	return post_send(sends, comm, dest, &b);
}

/* CLOCK_MONOTONIC in ns (the clock of cond_init's condition variables). */
static struct timespec monotonic_in(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(ns % 1000000000u);
	ts.tv_sec += (time_t)(ns / 1000000000u) + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}

/* Sleep on the local completions for at most ns. */
static void wait_local(struct worker *w, uint64_t ns)
{
	struct timespec ts = monotonic_in(ns);

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
 * while tasks are short (or for IDLE_SPIN_NS of idleness), then nap
 * (a 64th of a task, at most 1 ms), woken early by a local completion.
 */
enum { IDLE_SPIN_NS = 200000 };

static void worker_idle(struct worker *w, const struct config *cf,
			uint64_t beat_ns, uint64_t *idle_since)
{
	uint64_t now = now_ns(), nap;

	if (*idle_since == 0)
		*idle_since = now;
	if (w->inflight > cf->local || (w->stop && w->inflight > 0)) {
		wait_local(w, beat_ns);
		return;
	}
	nap = w->inflight > 0 ? w->avg_ns / 64 : now - *idle_since;
	if ((w->inflight > 0 && w->avg_ns < SHORT_NS) ||
	    (w->inflight == 0 && nap < IDLE_SPIN_NS)) {
		sched_yield();
		return;
	}
	wait_local(w, nap < 1000000 ? nap : 1000000);
}

static _Noreturn void worker_main(MPI_Comm comm, const struct config *cf)
{
	struct worker w = {.mu = PTHREAD_MUTEX_INITIALIZER,
			   .avg_ns = 1000000000};
	struct send *sends = NULL;
	char *rbuf = malloc(MPW_FIRST);
	uint64_t beat_ns = (uint64_t)(cf->rank_timeout * 1e9 / 4);
	uint64_t last_sent = now_ns();
	MPI_Request rreq = MPI_REQUEST_NULL;
	uint64_t idle_since = 0, heard = now_ns();
	uint64_t silence = (uint64_t)(cf->rank_timeout * 1e9);
	int code = 0;

	cond_init(&w.cv);
	w.local = mp_executor_new(&(mp_executor_opts_t){
		.max_workers = cf->local, .task_timeout = cf->task_timeout,
		.initializer = local_init});
	if (rbuf == NULL || w.local == NULL) {
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
			heard = now_ns();
			if (finish_recv(comm, 0, rbuf, got, &msg, &len) < 0 ||
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
			if (post_send(&sends, comm, 0, &w.out) < 0 ||
			    mpw_begin(&w.out, MPW_RESULTS) < 0) {
				code = 1;
				w.stop_now = true;
				break;
			}
			last_sent = now_ns();
			busy = true;
		}
		reap_sends(&sends, false);
		if (busy || (w.stop && !w.stop_now && w.inflight == 0)) {
			idle_since = 0;
			continue;
		}
		if (w.inflight > 0 && now_ns() - last_sent > beat_ns) {
			send_one(&sends, comm, 0, MPW_BEAT, NULL, NULL);
			last_sent = now_ns();
		}
		worker_idle(&w, cf, beat_ns, &idle_since);
		if (!w.stop && now_ns() - heard > silence) {
			fprintf(stderr, "mproc_mpi rank %d: rank 0 sent nothing "
				"for %gs: presumed dead, exiting\n",
				mp_mpi_rank(), cf->rank_timeout);
			w.stop = w.stop_now = true;
			lost_rank = true;
			code = 1;
		}
	}
	if (w.stop_now)
		mp_executor_kill_workers(w.local);
	mp_executor_shutdown(w.local, MP_SHUTDOWN_CANCEL_FUTURES);
	worker_collect(&w); /* free what is left */
	mp_executor_free(w.local);
	mpw_free(&w.out);
	if (code == 0) {
		struct mpw_rec bye = {
			.fnid = STOP_FNID,
			.count = (uint32_t)mp_active_children(NULL, 0)};

		send_one(&sends, comm, 0, MPW_BYE, &bye, NULL);
	}
	if (code == 0) {
		reap_sends(&sends, true);
		if (rreq != MPI_REQUEST_NULL) {
			MPI_Cancel(&rreq);
			MPI_Request_free(&rreq);
		}
		MPI_Comm_free(&comm);
	} /* else rank 0 is gone: nothing of MPI's can finish; exit */
	free(rbuf);
	if (code == 0 && !lost_rank)
		MPI_Finalize();
	else
		lost_rank = true; /* nor at exit */
	exit(code);
}

/* ---- rank 0 ---- */

struct rank {
	bool alive, bye;
	unsigned inflight, nfree;
	void **handle;      /* by slot: the job sent, or NULL */
	uint64_t *sent;     /* by slot: when */
	uint32_t *fnid;     /* by slot: its function */
	uint32_t *free;     /* free slots (a stack) */
	uint64_t last_heard;
	char *rbuf;
	struct mpw_buf out; /* the tasks of this round */
};

struct be {
	mp_executor_t *ex;
	MPI_Comm comm;
	int nranks;
	struct config cf;
	struct rank *r;        /* [1, nranks) */
	MPI_Request *rreq;     /* [0, nranks - 1): rank i + 1's receive */
	int *idx;
	MPI_Status *st;
	struct send *sends;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, quit, stopped;
	unsigned alive;
	mp_backend_job_t *jobs; /* hand_out's: window * ranks */
	uint64_t last_beat;    /* when rank 0 last told the ranks it lives */
	uint64_t *fn_avg;      /* by function: a job's time (moving
				* average), 0 = not known yet */
	uint64_t avg_ns;       /* that of the jobs at hand (UNKNOWN_NS) */
	uintptr_t last_fn;     /* fn_id's cache */
	int last_kind;
	uint32_t last_id;
};

static void be_kick(void *state)
{
	struct be *b = state;

	pthread_mutex_lock(&b->mu);
	b->kicked = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* End the job in slot of rank k. */
static void end_slot(struct be *b, int k, uint32_t slot, int status,
		     const void *data, size_t len)
{
	struct rank *r = &b->r[k];
	void *h = r->handle[slot];
	/* A job's time: its round trip shared by those it queued with. */
	uint64_t t = (now_ns() - r->sent[slot]) / r->inflight;
	uint64_t *avg = &b->fn_avg[r->fnid[slot]];

	*avg = *avg == 0 ? t : *avg - *avg / 8 + t / 8;
	b->avg_ns = *avg;
	r->handle[slot] = NULL;
	r->free[r->nfree++] = slot;
	r->inflight--;
	mp_executor_backend_end(b->ex, h, status, data, len);
}

/* End every job rank k runs with status and msg. */
static void end_rank_jobs(struct be *b, int k, int status, const char *msg)
{
	for (uint32_t s = 0; s < b->cf.window; s++)
		if (b->r[k].handle[s] != NULL)
			end_slot(b, k, s, status, msg, strlen(msg));
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
	lost_rank = true;
	if (b->rreq[k - 1] != MPI_REQUEST_NULL) {
		MPI_Cancel(&b->rreq[k - 1]);
		MPI_Request_free(&b->rreq[k - 1]);
	}
	end_rank_jobs(b, k, MP_EBROKEN, msg);
	if (b->alive == 0)
		mp_executor_backend_break(b->ex, msg);
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
	end_slot(o->b, o->k, rec->slot, rec->status, data, rec->len);
	return 0;
}

/* A message arrived from rank k (got bytes of its first piece). */
static void on_message(struct be *b, int k, int got)
{
	struct on_result o = {b, k};
	const char *why = "a message too large for memory";
	char *msg;
	size_t len;
	uint32_t type;
	int rc;

	b->r[k].last_heard = now_ns();
	rc = finish_recv(b->comm, k, b->r[k].rbuf, got, &msg, &len);
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
	} else if (fn_id(j->fn, j->kind, &rec.fnid) < 0) {
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
	r->sent[slot] = now_ns();
	r->fnid[slot] = rec.fnid;
	if (r->inflight++ == 0)
		r->last_heard = now_ns(); /* the clock starts now */
	return 1;
nomem:
	mp_executor_backend_end(b->ex, j->handle, -ENOMEM, "out of memory", 13);
	return 0;
}

/* What rank k may be given now: the whole window while jobs prove short
 * (under SHORT_NS each), else one queued behind each local worker, so
 * that long jobs spread over the ranks. */

static unsigned credit(const struct be *b, int k)
{
	const struct rank *r = &b->r[k];
	unsigned cap = !r->alive ? 0
		       : b->avg_ns < SHORT_NS ? b->cf.window : 2 * b->cf.local;

	return r->inflight < cap ? cap - r->inflight : 0;
}

/* Hand pending jobs to the ranks with credit, each to the least loaded,
 * one message per rank.  The credit is that of the first job's function
 * (a function not seen yet counts as long).  true if any was sent. */
static bool hand_out(struct be *b)
{
	size_t n = 0, got;
	uint32_t id;
	bool any = false;

	for (int k = 1; k < b->nranks; k++)
		n += b->r[k].alive ? b->r[k].nfree : 0;
	if (n == 0 || mp_executor_backend_take(b->ex, 1, b->jobs) == 0)
		return false;
	b->avg_ns = fn_id(b->jobs[0].fn, b->jobs[0].kind, &id) == 0 &&
			    b->fn_avg[id] != 0
		    ? b->fn_avg[id] : UNKNOWN_NS;
	n = 0;
	for (int k = 1; k < b->nranks; k++)
		n += credit(b, k);
	got = 1 + (n > 1 ? mp_executor_backend_take(b->ex, n - 1, b->jobs + 1)
			 : 0);
	for (size_t i = 0; i < got; i++) {
		int best = 0, any_room = 0;

		for (int k = 1; k < b->nranks; k++) {
			if (credit(b, k) > 0 &&
			    (best == 0 || b->r[k].inflight < b->r[best].inflight))
				best = k;
			if (b->r[k].alive && b->r[k].nfree > 0)
				any_room = k;
		}
		if (best == 0) /* the first job, past the credit: any room */
			best = any_room;
		if (best == 0) /* a rank was lost meanwhile */
			mp_executor_backend_end(b->ex, b->jobs[i].handle,
						MP_EBROKEN, "no MPI rank left", 16);
		else
			add_job(b, best, &b->jobs[i]);
	}
	for (int k = 1; k < b->nranks; k++) {
		struct rank *r = &b->r[k];

		if (r->out.count == 0)
			continue;
		mpw_finish(&r->out);
		any = true;
		if (post_send(&b->sends, b->comm, k, &r->out) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
	}
	return any;
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
	uint64_t now = now_ns(), limit = (uint64_t)(b->cf.rank_timeout * 1e9);

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
			       .count = lost_rank};
	uint64_t until = now_ns() + (uint64_t)(b->cf.rank_timeout * 1e9);
	bool waiting = true;

	for (int k = 1; k < b->nranks; k++)
		if (b->r[k].alive &&
		    send_one(&b->sends, b->comm, k, MPW_STOP, &stop, NULL) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
	while (waiting && now_ns() < until) {
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
	reap_sends(&b->sends, false);
}

/* Nothing arrived and results are owed.  MPI has no descriptor to sleep
 * on, so: while jobs are short, yield and look again (a result is
 * microseconds away); once they are long (avg_ns of SHORT_NS or more),
 * nap a 64th of a job's time, at most 1 ms, so that the progress thread
 * does not take a CPU from the tasks: a result waits at most that long. */
static void idle(const struct be *b)
{
	struct timespec ts = {0, 0};
	uint64_t nap = b->avg_ns / 64;

	if (b->avg_ns < SHORT_NS) {
		sched_yield();
		return;
	}
	ts.tv_nsec = (long)(nap < 1000000 ? nap : 1000000);
	nanosleep(&ts, NULL);
}

/* Every quarter of rank_timeout, tell the live ranks that rank 0 lives
 * (they exit when it falls silent for rank_timeout). */
static uint64_t beat_every(const struct be *b)
{
	return (uint64_t)(b->cf.rank_timeout * 1e9 / 4);
}

static void beat_ranks(struct be *b)
{
	uint64_t now = now_ns();

	if (now - b->last_beat < beat_every(b))
		return;
	b->last_beat = now;
	for (int k = 1; k < b->nranks; k++)
		if (b->r[k].alive &&
		    send_one(&b->sends, b->comm, k, MPW_BEAT, NULL, NULL) < 0)
			rank_lost(b, k, "failed (MPI_Isend)");
}

/* Sleep until kicked or the next heartbeat is due. */
static void wait_kick(struct be *b)
{
	struct timespec ts = monotonic_in(beat_every(b));

	pthread_mutex_lock(&b->mu);
	if (!b->kicked)
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	b->kicked = false;
	pthread_mutex_unlock(&b->mu);
}

static void *progress(void *arg)
{
	struct be *b = arg;
	int st, how = STOP_GRACEFUL;

	for (;;) {
		bool busy;

		st = mp_executor_backend_state(b->ex);
		if (st == MP_BACKEND_TERMINATED || st == MP_BACKEND_KILLED) {
			for (int k = 1; k < b->nranks; k++)
				end_rank_jobs(b, k, st == MP_BACKEND_KILLED
						    ? MP_EBROKEN : MP_ECANCELLED,
					      st == MP_BACKEND_KILLED
						      ? "the worker ranks were terminated"
						      : "the task was cancelled");
			how = STOP_NOW;
			break;
		}
		busy = gather(b);
		busy |= hand_out(b);
		beat_ranks(b);
		reap_sends(&b->sends, false);
		if (st == MP_BACKEND_CLOSING && inflight(b) == 0 &&
		    mp_executor_backend_state(b->ex) == MP_BACKEND_CLOSING &&
		    !hand_out(b))
			break;
		if (busy)
			continue;
		if (inflight(b) > 0) {
			check_silence(b);
			idle(b);
			continue;
		}
		wait_kick(b);
	}
	stop_ranks(b, how);
	mp_executor_backend_stopped(b->ex);
	pthread_mutex_lock(&b->mu);
	b->stopped = true;
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static void be_free(struct be *b)
{
	for (int k = 1; b->r && k < b->nranks; k++) {
		free(b->r[k].handle);
		free(b->r[k].sent);
		free(b->r[k].fnid);
		free(b->r[k].free);
		free(b->r[k].rbuf);
		mpw_free(&b->r[k].out);
	}
	free(b->r);
	free(b->rreq);
	free(b->idx);
	free(b->jobs);
	free(b->fn_avg);
	free(b->st);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

static void be_stop(void *state)
{
	struct be *b = state;

	/* The executor is terminated: the thread ends on its own. */
	be_kick(b);
	pthread_join(b->thread, NULL);
	reap_sends(&b->sends, false);
	for (int k = 1; k < b->nranks; k++)
		if (b->rreq[k - 1] != MPI_REQUEST_NULL) {
			MPI_Cancel(&b->rreq[k - 1]);
			MPI_Request_free(&b->rreq[k - 1]);
		}
	/* Sends a dead rank never took are dropped with their buffers. */
	while (b->sends != NULL) {
		struct send *s = b->sends;

		b->sends = s->next;
		for (int i = 0; i < s->nreq; i++)
			if (s->req[i] != MPI_REQUEST_NULL)
				MPI_Request_free(&s->req[i]);
		mpw_free(&s->buf);
		free(s->req);
		free(s);
	}
	MPI_Comm_free(&b->comm);
	be_free(b);
}

static int be_setup(struct be *b)
{
	unsigned w = b->cf.window;

	b->r = calloc((size_t)b->nranks, sizeof(*b->r));
	b->rreq = calloc((size_t)b->nranks, sizeof(*b->rreq));
	b->idx = calloc((size_t)b->nranks, sizeof(*b->idx));
	b->jobs = calloc((size_t)b->nranks * w, sizeof(*b->jobs));
	b->fn_avg = calloc(ntable + 1, sizeof(*b->fn_avg));
	b->avg_ns = UNKNOWN_NS; /* long until they prove short */
	b->st = calloc((size_t)b->nranks, sizeof(*b->st));
	if (!b->r || !b->rreq || !b->idx || !b->st || !b->jobs || !b->fn_avg)
		return -ENOMEM;
	for (int k = 1; k < b->nranks; k++) {
		struct rank *r = &b->r[k];

		r->handle = calloc(w, sizeof(*r->handle));
		r->sent = calloc(w, sizeof(*r->sent));
		r->fnid = calloc(w, sizeof(*r->fnid));
		r->free = calloc(w, sizeof(*r->free));
		r->rbuf = malloc(MPW_FIRST);
		if (!r->handle || !r->sent || !r->fnid || !r->free || !r->rbuf)
			return -ENOMEM;
		for (unsigned s = 0; s < w; s++)
			r->free[r->nfree++] = w - 1 - s;
		r->alive = true;
		b->rreq[k - 1] = MPI_REQUEST_NULL;
		if (MPI_Irecv(r->rbuf, MPW_FIRST, MPI_BYTE, k, TAG_MSG, b->comm,
			      &b->rreq[k - 1]) != MPI_SUCCESS)
			return MP_EBROKEN;
	}
	b->alive = (unsigned)b->nranks - 1;
	return 0;
}

/* Every rank: compare build ids and registries; rank 0 says who differs.
 * 0, or -EPROTO / MP_EBROKEN with a reason (on every rank). */
static int compare_ranks(MPI_Comm comm, int me, int n, uint64_t fnhash)
{
	struct hello h = {.nfn = (uint32_t)ntable, .fnhash = fnhash};
	struct hello *all = NULL;
	int bad = -1;

	dl_iterate_phdr(build_id_cb, &h);
	if (me == 0 && (all = calloc((size_t)n, sizeof(*all))) == NULL)
		return mp_executor_backend_why(-ENOMEM, "out of memory");
	if (MPI_Gather(&h, sizeof(h), MPI_BYTE, all, sizeof(h), MPI_BYTE, 0,
		       comm) != MPI_SUCCESS) {
		free(all);
		return mp_executor_backend_why(MP_EBROKEN, "MPI_Gather failed");
	}
	for (int k = 1; me == 0 && k < n && bad < 0; k++)
		if (memcmp(&all[k], &all[0], sizeof(h)) != 0)
			bad = k;
	free(all);
	if (MPI_Bcast(&bad, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
		return mp_executor_backend_why(MP_EBROKEN, "MPI_Bcast failed");
	if (bad >= 0)
		return mp_executor_backend_why(-EPROTO, "MPI rank %d runs another "
					       "binary than rank 0 (build id or "
					       "registered tasks differ)", bad);
	return 0;
}

static int be_start(mp_executor_t *ex, const mp_executor_opts_t *opts,
		    void **state, unsigned *workers)
{
	const mp_mpi_opts_t *mo = opts->backend_arg;
	struct config cf = {0};
	uint64_t fnhash = 0;
	MPI_Comm comm;
	struct be *b;
	int me, n, rc;

	static bool started; /* one executor per MPI job */

	if (opts->initializer != NULL || opts->max_tasks_per_child != 0)
		return mp_executor_backend_why(-ENOTSUP, "the MPI backend takes "
					       "no initializer nor "
					       "max_tasks_per_child");
	if (__atomic_exchange_n(&started, true, __ATOMIC_ACQ_REL))
		return mp_executor_backend_why(-ENOTSUP, "one MPI executor per "
					       "MPI job: its worker ranks have "
					       "exited with the first");
	if ((rc = mpi_up()) < 0)
		return rc;
	MPI_Comm_rank(MPI_COMM_WORLD, &me);
	MPI_Comm_size(MPI_COMM_WORLD, &n);
	if (n < 2)
		return mp_executor_backend_why(-ENOTSUP, "the MPI job has one "
					       "rank: launch it with mpirun -np "
					       "N, N >= 2");
	if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS)
		return mp_executor_backend_why(MP_EBROKEN, "MPI_Comm_dup failed");
	MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	if (table_build(&fnhash) < 0)
		return mp_executor_backend_why(-ENOMEM, "out of memory");
	if ((rc = compare_ranks(comm, me, n, fnhash)) < 0) {
		/* No rank finalizes: the worker ranks exit at once. */
		lost_rank = true;
		MPI_Comm_free(&comm);
		if (me != 0) {
			fprintf(stderr, "mproc_mpi rank %d: %s\n", me,
				"rank 0 runs another binary: exiting");
			exit(1);
		}
		return rc;
	}
	/* Rank 0's options rule. */
	if (me == 0) {
		cf.local = mo && mo->local_workers ? mo->local_workers : 1;
		cf.window = mo && mo->window ? mo->window : 256;
		if (cf.window < 2 * cf.local)
			cf.window = 2 * cf.local;
		cf.rank_timeout = mo && mo->rank_timeout > 0 ? mo->rank_timeout
							      : 10.0;
		cf.task_timeout = opts->task_timeout;
	}
	MPI_Bcast(&cf, sizeof(cf), MPI_BYTE, 0, comm);
	if (me != 0)
		worker_main(comm, &cf);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		MPI_Comm_free(&comm);
		return mp_executor_backend_why(-ENOMEM, "out of memory");
	}
	b->ex = ex;
	b->comm = comm;
	b->nranks = n;
	b->cf = cf;
	pthread_mutex_init(&b->mu, NULL);
	cond_init(&b->cv);
	if ((rc = be_setup(b)) < 0 ||
	    (rc = -pthread_create(&b->thread, NULL, progress, b)) < 0) {
		/* The workers wait for a STOP that never comes: abort. */
		MPI_Abort(comm, 1);
		be_free(b);
		return mp_executor_backend_why(rc, "cannot start the MPI "
					       "backend: %s", mp_strerror(rc));
	}
	*state = b;
	*workers = (unsigned)(n - 1) * cf.local;
	return 0;
}

static const struct mp_executor_backend mpi_backend = {
	"MPI", be_start, be_kick, be_stop};

const struct mp_executor_backend *mp_mpi_backend(void)
{
	return &mpi_backend;
}
