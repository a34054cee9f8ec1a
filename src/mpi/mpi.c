/*
 * mpi/mpi.c - libmproc_mpi: the registry of tasks, MPI set-up, and
 * sending and receiving in pieces (both sides).  See mpi_int.h.
 */
#include "mpi/mpi_int.h"

uint64_t mpb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef MPB_TRACE
void mpb_trace(const char *ev, int rank, uint32_t slot)
{
	struct timespec cpu;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	fprintf(stderr, "mpbtrace %d %s %d %u %llu %llu\n", (int)getpid(), ev,
		rank, slot, (unsigned long long)mpb_now_ns(),
		(unsigned long long)cpu.tv_sec * 1000000000ull +
			(unsigned long long)cpu.tv_nsec);
}
#endif

/* ---- the registry ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mp_mpi_fn_entry *reg_head;
struct mp_mpi_fn_entry **mpb_table; /* sorted by name, at start */
size_t mpb_ntable;

void mp_mpi_register(struct mp_mpi_fn_entry *e)
{
	/* (libmproc_mpi cannot write mp_last_error: the header says it is
	 * ignored; a nameless entry would crash the sort at start) */
	if (e == NULL || e->name == NULL || e->fn == NULL)
		return;
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

/* Sort the registry into mpb_table: 0 with *hash (of the names and kinds), or
 * -ENOMEM. */
int mpb_table_build(uint64_t *hash)
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
	free(mpb_table);
	mpb_table = t;
	mpb_ntable = n;
	*hash = h;
	return 0;
}

static bool duplicate(size_t i)
{
	const char *name = mpb_table[i]->name;

	return (i > 0 && strcmp(mpb_table[i - 1]->name, name) == 0) ||
	       (i + 1 < mpb_ntable && strcmp(mpb_table[i + 1]->name, name) == 0);
}

/* The id of fn (of kind), or -EINVAL. */
int mpb_fn_id(uintptr_t fn, int kind, uint32_t *id)
{
	for (size_t i = 0; i < mpb_ntable; i++)
		if ((uintptr_t)mpb_table[i]->fn == fn && mpb_table[i]->kind == kind) {
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
bool mpb_lost_rank;

static void finalize_at_exit(void)
{
	int fin = 1;

	if (getpid() == init_pid && !mpb_lost_rank &&
	    MPI_Finalized(&fin) == MPI_SUCCESS && !fin)
		MPI_Finalize();
}

MPI_Comm mpb_parent = MPI_COMM_NULL;

void mpb_disconnect(void)
{
	if (mpb_parent != MPI_COMM_NULL && !mpb_lost_rank)
		MPI_Comm_disconnect(&mpb_parent);
}

int mpb_up(void)
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

int mpb_build_id_cb(struct dl_phdr_info *info, size_t size, void *arg)
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

/* Post b (taken) to dest in pieces: 0, -ENOMEM, or MP_EBROKEN. */
int mpb_post_send(struct send **list, MPI_Comm comm, int dest,
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
	s->dest = dest;
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
void mpb_reap_sends(struct send **list, bool wait)
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

/* A message in pieces to dest (to anyone if dest < 0) is still going out:
 * Open MPI's shared memory moves it in fragments only while MPI is
 * called, so its sender must not nap. */
bool mpb_big_send_out(const struct send *list, int dest)
{
	for (; list != NULL; list = list->next)
		if (list->nreq > 1 && (dest < 0 || list->dest == dest))
			return true;
	return false;
}

/* A first piece of got bytes arrived from src into rbuf: the whole
 * message into *msg (rbuf, or malloc'd: the caller frees it when it is
 * not rbuf) and *len.  0, -ENOMEM, -EPROTO or MP_EBROKEN.  Before each
 * further piece beat(arg) runs: the ranks waiting on this one hear that
 * it lives (a 2 GiB message takes seconds). */
int mpb_finish_recv(MPI_Comm comm, int src, char *rbuf, int got,
		    char **msg, size_t *len, void (*beat)(void *), void *arg)
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

		beat(arg);
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

void mpb_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

int mpb_send_one(struct send **sends, MPI_Comm comm, int dest,
		 uint32_t type, const struct mpw_rec *r, const void *data)
{
	struct mpw_buf b = {0};

	if (mpw_begin(&b, type) < 0 || (r && mpw_add(&b, r, data) < 0)) {
		mpw_free(&b);
		return -ENOMEM;
	}
	mpw_finish(&b);
	return mpb_post_send(sends, comm, dest, &b);
}

/* CLOCK_MONOTONIC in ns (the clock of mpb_cond_init's condition variables). */
struct timespec mpb_monotonic_in(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(ns % 1000000000u);
	ts.tv_sec += (time_t)(ns / 1000000000u) + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}
