/*
 * mpi/start.c - libmproc_mpi: rank 0's backend (mp_mpi_backend): its
 * start (the job's communicator, spawn, every rank compares its binary,
 * the worker ranks go to worker.c) and its stop.  See mpi_int.h.
 */
#include "mpi/rank0.h"

#include <fcntl.h>

static void be_free(struct be *b)
{
	for (int k = 1; b->r && k < b->nranks; k++) {
		free(b->r[k].handle);
		free(b->r[k].sent);
		free(b->r[k].began);
		free(b->r[k].fnid);
		free(b->r[k].lng);
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
	while (b->kills != NULL) {
		struct kill_req *q = b->kills;

		b->kills = q->next;
		free(q);
	}
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

static void be_stop(void *state)
{
	struct be *b = state;

	/* The executor is terminated: the thread ends on its own. */
	mpb_kick(b);
	pthread_join(b->thread, NULL);
	mpb_reap_sends(&b->sends, false);
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
	mpb_disconnect();
	be_free(b);
}

static int be_setup(struct be *b)
{
	unsigned w = b->cf.window;

	b->r = calloc((size_t)b->nranks, sizeof(*b->r));
	b->rreq = calloc((size_t)b->nranks, sizeof(*b->rreq));
	b->idx = calloc((size_t)b->nranks, sizeof(*b->idx));
	b->jobs = calloc((size_t)b->nranks * w, sizeof(*b->jobs));
	b->fn_avg = calloc(mpb_ntable + 1, sizeof(*b->fn_avg));
	b->avg_ns = UNKNOWN_NS; /* long until they prove short */
	b->st = calloc((size_t)b->nranks, sizeof(*b->st));
	if (!b->r || !b->rreq || !b->idx || !b->st || !b->jobs || !b->fn_avg)
		return -ENOMEM;
	for (int k = 1; k < b->nranks; k++) {
		struct rank *r = &b->r[k];

		r->handle = calloc(w, sizeof(*r->handle));
		r->sent = calloc(w, sizeof(*r->sent));
		r->began = calloc(w, sizeof(*r->began));
		r->fnid = calloc(w, sizeof(*r->fnid));
		r->lng = calloc(w, sizeof(*r->lng));
		r->free = calloc(w, sizeof(*r->free));
		r->rbuf = malloc(MPW_FIRST);
		if (!r->handle || !r->sent || !r->began || !r->fnid || !r->lng || !r->free ||
		    !r->rbuf)
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
	struct hello h = {.nfn = (uint32_t)mpb_ntable, .fnhash = fnhash};
	struct hello *all = NULL;
	int bad = -1;

	dl_iterate_phdr(mpb_build_id_cb, &h);
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

/* This program's arguments after argv[0] (from /proc/self/cmdline), as
 * MPI_Comm_spawn wants them: a NULL-terminated array in one allocation,
 * or NULL. */
static char **own_args(void)
{
	static char buf[65536];
	size_t len = 0, n = 0;
	ssize_t k;
	char **argv;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	while (len < sizeof(buf) - 1 &&
	       (k = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	if ((argv = calloc(n + 1, sizeof(*argv))) == NULL)
		return NULL;
	n = 0;
	for (size_t i = strlen(buf) + 1; i < len; i += strlen(buf + i) + 1)
		argv[n++] = buf + i;
	return argv;
}

/* The communicator of the job, rank 0 first: MPI_COMM_WORLD's copy
 * (SPMD); with spawn, rank 0 alone starts spawn copies of this program
 * (MPI_Comm_spawn: same arguments) and merges them in; a process so
 * started merges itself in (after rank 0) and serves.  0 or a code with
 * a reason. */
static int job_comm(unsigned spawn, MPI_Comm *comm)
{
	MPI_Comm parent = MPI_COMM_NULL;
	MPI_Errhandler eh;
	char exe[4096], **argv;
	ssize_t k;
	int n = 0, rc;

	MPI_Comm_get_parent(&parent);
	if (parent != MPI_COMM_NULL) { /* started by a spawn */
		mpb_parent = parent;
		return MPI_Intercomm_merge(parent, 1, comm) == MPI_SUCCESS
			       ? 0 : mp_executor_backend_why(
					     MP_EBROKEN, "MPI_Intercomm_merge failed");
	}
	if (spawn == 0)
		return MPI_Comm_dup(MPI_COMM_WORLD, comm) == MPI_SUCCESS
			       ? 0 : mp_executor_backend_why(
					     MP_EBROKEN, "MPI_Comm_dup failed");
	MPI_Comm_size(MPI_COMM_WORLD, &n);
	if (n != 1)
		return mp_executor_backend_why(-EINVAL, "spawn wants a program "
					       "started alone (not by mpirun -np "
					       "%d)", n);
	if ((k = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		return mp_executor_backend_why(-errno, "cannot name this "
					       "program: /proc/self/exe: %s",
					       mp_strerror(-errno));
	exe[k] = '\0';
	if ((argv = own_args()) == NULL)
		return mp_executor_backend_why(-ENOMEM, "cannot read this "
					       "program's arguments");
	/* A failed spawn returns (the program's handler comes back). */
	MPI_Comm_get_errhandler(MPI_COMM_SELF, &eh);
	MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
	rc = MPI_Comm_spawn(exe, argv, (int)spawn, MPI_INFO_NULL, 0,
			    MPI_COMM_SELF, &parent, MPI_ERRCODES_IGNORE);
	MPI_Comm_set_errhandler(MPI_COMM_SELF, eh);
	MPI_Errhandler_free(&eh);
	free(argv);
	if (rc != MPI_SUCCESS)
		return mp_executor_backend_why(MP_EBROKEN, "MPI_Comm_spawn of "
					       "%u ranks failed (not enough "
					       "slots? see docs/mpi.md)", spawn);
	mpb_parent = parent;
	if (MPI_Intercomm_merge(parent, 0, comm) != MPI_SUCCESS)
		return mp_executor_backend_why(MP_EBROKEN,
					       "MPI_Intercomm_merge failed");
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
	if ((rc = mpb_up()) < 0 ||
	    (rc = job_comm(mo ? mo->spawn : 0, &comm)) < 0)
		return rc;
	MPI_Comm_rank(comm, &me);
	MPI_Comm_size(comm, &n);
	if (n < 2) {
		MPI_Comm_free(&comm);
		return mp_executor_backend_why(-ENOTSUP, "the MPI job has one "
					       "rank: launch it with mpirun -np "
					       "N, N >= 2 (or set spawn)");
	}
	MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	if (mpb_table_build(&fnhash) < 0)
		return mp_executor_backend_why(-ENOMEM, "out of memory");
	if ((rc = compare_ranks(comm, me, n, fnhash)) < 0) {
		/* No rank finalizes: the worker ranks exit at once. */
		mpb_lost_rank = true;
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
		mpb_worker_main(comm, &cf);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		MPI_Comm_free(&comm);
		return mp_executor_backend_why(-ENOMEM, "out of memory");
	}
	b->ex = ex;
	b->comm = comm;
	b->nranks = n;
	b->cf = cf;
	pthread_mutex_init(&b->mu, NULL);
	mpb_cond_init(&b->cv);
	if ((rc = be_setup(b)) < 0 ||
	    (rc = -pthread_create(&b->thread, NULL, mpb_progress, b)) < 0) {
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

static const struct mp_executor_backend mp__backend = {
	"MPI", be_start, mpb_kick, be_stop, mpb_kill};

const struct mp_executor_backend *mp_mpi_backend(void)
{
	return &mp__backend;
}
