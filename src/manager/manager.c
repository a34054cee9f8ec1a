/*
 * manager/manager.c - the manager: its server process, its shared region,
 * and the synchronisation objects placed in the region.
 *
 * The server is a plain fork of the creator that names itself
 * "SyncManager-N", dies with the creator (PR_SET_PDEATHSIG, then a check
 * that the parent did not die before that), ignores SIGINT, keeps the
 * region mapped, and waits on a control pipe: a byte (or EOF) from the
 * creator ends it.  It calls only system calls after fork, so a creator
 * with threads can start it.  The remote protocol (a later step) will run
 * here, serving the same objects.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "manager/obj_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"

#define MIN_CAPACITY ((size_t)64 << 10)
#define MAX_CAPACITY ((size_t)1 << 40)

struct mp_manager {
	struct mpi_region *r;
	struct mpi_child server;
	pid_t creator;
	int ctl;            /* write end of the control pipe, or -1 */
	double shutdown_timeout;
	bool down;
};

/* The server's life: only system calls (the creator may have threads). */
__attribute__((noreturn)) static void serve(int ctl, int ready,
					    pid_t creator, const char *name)
{
	struct sigaction sa;
	struct pollfd p;
	char c;

	mpi_die_with_parent(creator, 0);
	syscall(SYS_prctl, PR_SET_NAME, name, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL); /* as CPython's manager server */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	/* Tell the creator we are ready (CPython's start() waits so). */
	if (write(ready, "r", 1) != 1)
		syscall(SYS_exit_group, 1);
	close(ready);
	/* Keep only the control pipe and stdio: the creator's other fds
	 * (pipes, sockets) must not stay open because of us. */
	if (ctl != 3) {
		if (dup2(ctl, 3) < 0)
			syscall(SYS_exit_group, 1);
		ctl = 3;
	}
#ifdef SYS_close_range
	syscall(SYS_close_range, 4u, ~0u, 0u);
#endif
	p.fd = ctl;
	p.events = POLLIN;
	for (;;) {
		int n = poll(&p, 1, 1000);

		if (n > 0 && read(ctl, &c, 1) != -1)
			break; /* a byte or EOF: shut down */
		if (n < 0 && errno != EINTR)
			break;
		if (getppid() != creator)
			break;
	}
	syscall(SYS_exit_group, 0);
	__builtin_unreachable();
}

/* Read the server's ready byte: 0, or -ECHILD when it ended first. */
static int await_ready(int fd)
{
	ssize_t n;
	char c;

	while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		return 0;
	if (n < 0)
		return MPI_WHY_SYS("read");
	return mpi_why(-ECHILD, "the manager's server process ended before "
				"it was ready");
}

static int start_server(mp_manager_t *m)
{
	char name[32];
	unsigned n;
	int fds[2], rdy[2], rc;
	pid_t pid;

	n = atomic_fetch_add(&mpi_counter, 1) + 1;
	snprintf(name, sizeof(name), "SyncManager-%s%s%u", mpi_self.identity,
		 *mpi_self.identity ? ":" : "", n);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return MPI_WHY_SYS("pipe2");
	if (pipe2(rdy, O_CLOEXEC) < 0) {
		rc = MPI_WHY_SYS("pipe2");
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	fflush(NULL); /* the server never writes, but a fork may not copy */
	pid = fork();
	if (pid < 0) {
		rc = MPI_WHY_SYS("fork");
		close(fds[0]);
		close(fds[1]);
		close(rdy[0]);
		close(rdy[1]);
		return rc;
	}
	if (pid == 0) {
		close(fds[1]);
		close(rdy[0]);
		serve(fds[0], rdy[1], m->creator, name);
	}
	close(fds[0]);
	close(rdy[1]);
	m->ctl = fds[1];
	m->server.pid = pid;
	m->server.fd = mpi_have_pidfd() ? mpi_pidfd_open(pid) : -1;
	rc = await_ready(rdy[0]);
	close(rdy[0]);
	if (rc < 0) {
		close(m->ctl);
		m->ctl = -1;
		mpi_child_kill_reap(&m->server);
		if (m->server.fd >= 0)
			close(m->server.fd);
		m->server.fd = -1;
	}
	return rc;
}

mp_manager_t *mp_manager_new(const mp_manager_opts_t *opts)
{
	mp_manager_opts_t o = {0};
	mp_manager_t *m;
	int rc;

	if (opts != NULL)
		o = *opts;
	if (!(o.shutdown_timeout >= 0)) {
		MPI_ERR(-EINVAL, "shutdown_timeout %g is negative or NaN "
				 "(shutdown is always bounded)",
			o.shutdown_timeout);
		return NULL;
	}
	if (o.shutdown_timeout == 0)
		o.shutdown_timeout = 1.0;
	if (o.capacity == 0)
		o.capacity = MP_MANAGER_DEFAULT_CAPACITY;
	if (o.capacity < MIN_CAPACITY || o.capacity > MAX_CAPACITY) {
		MPI_ERR(-EINVAL, "capacity %zu is outside 64 KiB..1 TiB",
			o.capacity);
		return NULL;
	}
	if ((m = mpi_calloc(1, sizeof(*m))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	m->ctl = -1;
	m->server.fd = -1;
	m->creator = getpid();
	m->shutdown_timeout = o.shutdown_timeout;
	if ((rc = mpi_region_new(o.capacity, &m->r)) < 0 ||
	    (rc = start_server(m)) < 0) {
		mpi_region_unmap(m->r);
		mpi_free(m);
		MPI_RAISE(rc);
		return NULL;
	}
	return m;
}

int mp_manager_pid(const mp_manager_t *m)
{
	MPI_CHECK_NULL(m);
	return m->server.pid;
}

/* Wait for the server until timeout seconds pass: true if it ended. */
static bool wait_server(const mp_manager_t *m, double timeout)
{
	return mpi_child_wait(&m->server,
			      mpi_deadline_in(mpi_timeout_ns(timeout))) == 0;
}

/* The bounded stop: ask, wait, SIGTERM, wait, SIGKILL, reap. */
static void stop(mp_manager_t *m)
{
	if (m->down || getpid() != m->creator)
		return;
	m->down = true;
	__atomic_store_n(&m->r->closed, 1, __ATOMIC_RELAXED);
	if (write(m->ctl, "q", 1) < 0) {
		/* EOF on close below does the same */
	}
	close(m->ctl);
	m->ctl = -1;
	if (!wait_server(m, m->shutdown_timeout)) {
		mpi_child_signal(&m->server, SIGTERM);
		if (!wait_server(m, m->shutdown_timeout))
			mpi_child_signal(&m->server, SIGKILL);
	}
	mpi_child_kill_reap(&m->server); /* ended or killed: reaps */
	if (m->server.fd >= 0)
		close(m->server.fd);
	m->server.fd = -1;
}

int mp_manager_shutdown(mp_manager_t *m)
{
	MPI_CHECK_NULL(m);
	stop(m);
	return 0;
}

void mp_manager_free(mp_manager_t *m)
{
	if (m == NULL)
		return;
	stop(m);
	if (getpid() != m->creator) {
		/* A forked child's copy: its inherited control fd is ours. */
		if (m->ctl >= 0)
			close(m->ctl);
		if (m->server.fd >= 0)
			close(m->server.fd);
	}
	mpi_region_unmap(m->r);
	mpi_free(m);
}

static int usable(const mp_manager_t *m)
{
	if (mpi_region_closed(m->r))
		return mpi_why(MP_ECLOSED, "the manager was shut down");
	return 0;
}

int mp_manager_dict(mp_manager_t *m, const mp_obj_t *init,
		    mp_dictproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (init != NULL && init->kind != MP_OBJ_DICT)
		return MPI_ERR(-EINVAL, "init is a '%s', not a dict",
			       mp_obj_kind_name(init->kind));
	if ((rc = usable(m)) < 0 || (rc = mpi_dict_new(m->r, init, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* init of a list or array: NULL, a list or a tuple; else -EINVAL. */
static int seq_init(const mp_obj_t *init)
{
	if (init != NULL && init->kind != MP_OBJ_LIST &&
	    init->kind != MP_OBJ_TUPLE)
		return mpi_why(-EINVAL, "init is a '%s', not a list or tuple",
			       mp_obj_kind_name(init->kind));
	return 0;
}

int mp_manager_list(mp_manager_t *m, const mp_obj_t *init,
		    mp_listproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = seq_init(init)) < 0)
		return MPI_RAISE(rc);
	if ((rc = usable(m)) < 0 || (rc = mpi_list_new(m->r, init, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_namespace(mp_manager_t *m, mp_namespaceproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = usable(m)) < 0 || (rc = mpi_namespace_new(m->r, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

static int new_queue(mp_manager_t *m, unsigned maxsize, bool joinable,
		     mp_queueproxy_t **out)
{
	int rc;

	if (maxsize > INT32_MAX)
		return mpi_why(-EINVAL, "maxsize %u is over INT32_MAX",
			       maxsize);
	if ((rc = usable(m)) < 0)
		return rc;
	return mpi_queue_new(m->r, maxsize, joinable, out);
}

int mp_manager_queue(mp_manager_t *m, unsigned maxsize, mp_queueproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = new_queue(m, maxsize, false, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_joinablequeue(mp_manager_t *m, unsigned maxsize,
			     mp_queueproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = new_queue(m, maxsize, true, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_value(mp_manager_t *m, const mp_obj_t *init,
		     mp_valueproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	MPI_CHECK_NULL(init);
	if ((rc = usable(m)) < 0 || (rc = mpi_value_new(m->r, init, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_array(mp_manager_t *m, char typecode, const mp_obj_t *init,
		     mp_arrayproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = seq_init(init)) < 0)
		return MPI_RAISE(rc);
	if ((rc = usable(m)) < 0 ||
	    (rc = mpi_array_new(m->r, typecode, init, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* Zeroed room for one sync object in the region: 0 or a code. */
static int room(mp_manager_t *m, size_t size, void **out)
{
	uint64_t off;
	int rc;

	*out = NULL;
	if ((rc = usable(m)) < 0)
		return rc;
	if ((off = mpi_region_alloc(m->r, size)) == 0)
		return -ENOMEM;
	*out = mpi_at(m->r, off);
	memset(*out, 0, size);
	return 0;
}

/*
 * The sync objects' _init functions fail only on NULL, which cannot
 * happen here; they are called as the storage's constructors.
 */
int mp_manager_lock(mp_manager_t *m, mp_lock_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = room(m, sizeof(mp_lock_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_lock_init(p);
	*out = p;
	return 0;
}

int mp_manager_rlock(mp_manager_t *m, mp_rlock_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = room(m, sizeof(mp_rlock_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_rlock_init(p);
	*out = p;
	return 0;
}

int mp_manager_condition(mp_manager_t *m, const mp_condition_opts_t *opts,
			 mp_condition_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (opts != NULL && opts->lock != NULL && opts->rlock != NULL)
		return MPI_ERR(-EINVAL, "opts gives both a lock and an rlock");
	if ((rc = room(m, sizeof(mp_condition_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_condition_init(p, opts);
	*out = p;
	return 0;
}

int mp_manager_event(mp_manager_t *m, mp_event_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = room(m, sizeof(mp_event_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_event_init(p);
	*out = p;
	return 0;
}

int mp_manager_semaphore(mp_manager_t *m, unsigned value,
			 mp_semaphore_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (value > INT32_MAX)
		return MPI_ERR(-EINVAL, "value %u is over INT32_MAX", value);
	if ((rc = room(m, sizeof(mp_semaphore_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_semaphore_init(p, value, NULL);
	*out = p;
	return 0;
}

int mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
				 mp_semaphore_t **out)
{
	mp_semaphore_opts_t so = {.bounded = true};
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (value == 0 || value > INT32_MAX)
		return MPI_ERR(-EINVAL, "value %u: need 1 .. INT32_MAX (a "
					"BoundedSemaphore of 0 can never be "
					"released)", value);
	if ((rc = room(m, sizeof(mp_semaphore_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_semaphore_init(p, value, &so);
	mpi_semaphore_threading_wording(p);
	*out = p;
	return 0;
}

int mp_manager_barrier(mp_manager_t *m, unsigned parties,
		       const mp_barrier_opts_t *opts, mp_barrier_t **out)
{
	void *p;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (opts != NULL && opts->action != NULL)
		return MPI_ERR(-EINVAL, "opts->action: a manager's Barrier "
					"has no action here (CPython runs it "
					"in the server process)");
	if (parties == 0 || parties > INT32_MAX)
		return MPI_ERR(-EINVAL, "parties %u: need 1 .. INT32_MAX",
			       parties);
	if (opts != NULL &&
	    (rc = mpi_timeout_check(opts->timeout, "opts->timeout")) < 0)
		return MPI_RAISE(rc);
	if ((rc = room(m, sizeof(mp_barrier_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_barrier_init(p, parties, opts);
	*out = p;
	return 0;
}
