/*
 * manager/manager.c - the manager: its server process, its shared region,
 * and the synchronisation objects placed in the region.
 *
 * The server is a plain fork of the creator that names itself
 * "SyncManager-N", dies with the creator (PR_SET_PDEATHSIG, then a check
 * that the parent did not die before that), ignores SIGINT, keeps the
 * region mapped, and waits on a control socket: a byte (or EOF) from the
 * creator ends it.  Without an address it calls only system calls after
 * fork, so a creator with threads can start it.  With an address it runs
 * the remote side (server.c: CPython's protocol, a thread per connection;
 * that file says why threads are safe in this fork) on the listener the
 * creator bound, serving the same objects.  A connected manager
 * (mp_manager_connect) has no server of its own: remote.c is its client.
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "connection/conn_int.h"
#include "manager/obj_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"

#define MIN_CAPACITY ((size_t)64 << 10)
#define MAX_CAPACITY ((size_t)1 << 40)

struct mp_manager {
	struct mpi_region *r;
	struct mpi_child server;
	pid_t creator;
	int ctl;            /* our end of the control socket, or -1 */
	double shutdown_timeout;
	bool down;
	mp_listener_t *l;   /* the remote side's listener, or NULL */
	struct mpi_rclient *remote; /* a connected manager: its client */
};

/* The server's life: only system calls (the creator may have threads). */
__attribute__((noreturn)) static void serve(struct mpi_region *r,
					    mp_listener_t *l, int ctl,
					    int ready, pid_t creator,
					    const char *name)
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
	/* Keep only the control socket, the listener and stdio: the creator's other fds
	 * (pipes, sockets) must not stay open because of us. */
	/* ctl to 3 and the listener to 4, each first out of the way */
	if (l != NULL && mpi_listener_move_fd(l, fcntl(mpi_listener_fd(l),
						       F_DUPFD, 10)) < 0)
		syscall(SYS_exit_group, 1);
	if ((ctl = fcntl(ctl, F_DUPFD, 10)) < 0 || dup2(ctl, 3) < 0)
		syscall(SYS_exit_group, 1);
	ctl = 3;
	if (l != NULL && mpi_listener_move_fd(l, 4) < 0)
		syscall(SYS_exit_group, 1);
#ifdef SYS_close_range
	syscall(SYS_close_range, l != NULL ? 5u : 4u, ~0u, 0u);
#endif
	if (l != NULL)
		mpi_srv_run(r, l, ctl); /* the remote side: threads */
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
	/* a socket, so that asking a dead server never raises SIGPIPE */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return MPI_WHY_SYS("socketpair");
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
		serve(m->r, m->l, fds[0], rdy[1], m->creator, name);
	}
	close(fds[0]);
	close(rdy[1]);
	if (m->l != NULL)
		mpi_listener_drop_fd(m->l); /* the server has the socket */
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

/* The region's dict of registered names (mp_manager_register). */
static int names_new(struct mpi_region *r)
{
	mp_dictproxy_t *d;
	int rc = mpi_dict_new(r, NULL, &d);

	if (rc == 0)
		r->names = (uint64_t)((char *)d - (char *)r);
	return rc;
}

/* Bind the remote side's listener here, in the creator: name resolution
 * never runs in the forked server. */
static int listen_on(mp_manager_t *m, const mp_manager_opts_t *o)
{
	mp_auth_opts_t a = {.authkey = o->authkey,
			    .authkey_len = o->authkey_len, .backlog = 16};

	if ((m->l = mp_listener_new(o->address, &a)) == NULL)
		return mp_last_error_code();
	return 0;
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
	    (rc = names_new(m->r)) < 0 ||
	    (o.address != NULL && (rc = listen_on(m, &o)) < 0) ||
	    (rc = start_server(m)) < 0) {
		if (m->l != NULL)
			mp_listener_free(m->l);
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
	if (m->remote != NULL)
		return MPI_ERR(-EINVAL, "a connected manager's server is not "
					"this process's child");
	return m->server.pid;
}

int mp_manager_batch_begin(mp_manager_t *m)
{
	int rc;

	MPI_CHECK_NULL(m);
	if (m->remote != NULL && (rc = mpi_rclient_batch(m->remote, true)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_batch_end(mp_manager_t *m)
{
	int rc;

	MPI_CHECK_NULL(m);
	if (m->remote != NULL &&
	    (rc = mpi_rclient_batch(m->remote, false)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

const char *mp_manager_address(const mp_manager_t *m)
{
	if (m == NULL)
		return NULL;
	if (m->remote != NULL)
		return mpi_rclient_address(m->remote);
	return m->l ? mp_listener_address(m->l) : NULL;
}

mp_manager_t *mp_manager_connect(const mp_manager_opts_t *opts)
{
	mp_manager_t *m;
	int rc;

	if (opts == NULL || opts->address == NULL) {
		MPI_ERR(-EINVAL, "opts->address is needed");
		return NULL;
	}
	if ((m = mpi_calloc(1, sizeof(*m))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	m->ctl = -1;
	m->server.fd = -1;
	m->creator = getpid();
	m->down = true;
	if ((rc = mpi_rclient_new(opts, &m->remote)) < 0 ||
	    (rc = mpi_rclient_check(m->remote)) < 0) {
		if (m->remote != NULL)
			mpi_rclient_free(m->remote);
		mpi_free(m);
		MPI_RAISE(rc);
		return NULL;
	}
	return m;
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
	if (m->l != NULL)
		mpi_listener_drop_fd(m->l); /* the server has the socket */
	m->down = true;
	__atomic_store_n(&m->r->closed, 1, __ATOMIC_RELAXED);
	if (send(m->ctl, "q", 1, MSG_NOSIGNAL) < 0) {
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
	mp_listener_free(m->l); /* removes a Unix socket file */
	m->l = NULL;
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
	if (m->remote != NULL) {
		mpi_rclient_free(m->remote);
		mpi_free(m);
		return;
	}
	stop(m);
	if (getpid() != m->creator) {
		/* A forked child's copy: its inherited control fd is ours. */
		if (m->ctl >= 0)
			close(m->ctl);
		if (m->server.fd >= 0)
			close(m->server.fd);
		if (m->l != NULL) {
			mpi_listener_drop_fd(m->l);
			mp_listener_free(m->l); /* not the creator: no unlink */
		}
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

/* Zeroed room for one sync object in the region: 0 or -ENOMEM. */
int mpi_region_room(struct mpi_region *r, size_t size, void **out)
{
	uint64_t off;

	if ((off = mpi_region_alloc(r, size)) == 0)
		return -ENOMEM;
	*out = mpi_at(r, off);
	memset(*out, 0, size);
	return 0;
}

/*
 * The sync objects' _init functions fail only on NULL, which cannot
 * happen here; they are called as the storage's constructors.
 */
int mpi_mgr_obj_new(struct mpi_region *r, int kind, const mp_obj_t *init,
		   void **out)
{
	int64_t v = 1;
	int rc;

	*out = NULL;
	switch (kind) {
	case MP_MANAGER_DICT:
		if (init != NULL && init->kind != MP_OBJ_DICT)
			return mpi_why(-EINVAL, "TypeError: init is a '%s', "
				       "not a dict", mp_obj_kind_name(init->kind));
		return mpi_dict_new(r, init, (mp_dictproxy_t **)out);
	case MP_MANAGER_LIST:
		if (init != NULL && init->kind != MP_OBJ_LIST &&
		    init->kind != MP_OBJ_TUPLE)
			return mpi_why(-EINVAL, "TypeError: init is a '%s', "
				       "not a list or tuple",
				       mp_obj_kind_name(init->kind));
		return mpi_list_new(r, init, (mp_listproxy_t **)out);
	case MP_MANAGER_NAMESPACE:
		return mpi_namespace_new(r, (mp_namespaceproxy_t **)out);
	case MP_MANAGER_LOCK:
		if ((rc = mpi_region_room(r, sizeof(mp_lock_t), out)) == 0)
			mp_lock_init(*out);
		return rc;
	case MP_MANAGER_RLOCK:
		if ((rc = mpi_region_room(r, sizeof(mp_rlock_t), out)) == 0)
			mp_rlock_init(*out);
		return rc;
	case MP_MANAGER_CONDITION: /* on its own RLock */
		if ((rc = mpi_region_room(r, sizeof(mp_condition_t), out)) == 0)
			mp_condition_init(*out, NULL);
		return rc;
	case MP_MANAGER_EVENT:
		if ((rc = mpi_region_room(r, sizeof(mp_event_t), out)) == 0)
			mp_event_init(*out);
		return rc;
	case MP_MANAGER_SEMAPHORE:
		if (init != NULL && (mp_obj_as_int(init, &v) < 0 || v < 0 ||
				     v > INT32_MAX))
			return mpi_why(-EINVAL, "ValueError: a semaphore's "
				       "value is an int in 0..INT32_MAX");
		if ((rc = mpi_region_room(r, sizeof(mp_semaphore_t), out)) == 0)
			mp_semaphore_init(*out, (unsigned)v, NULL);
		return rc;
	}
	return mpi_why(-EINVAL, "unknown kind %d", kind);
}

/* A local or remote manager's new object of kind: 0 or a code. */
static int make(mp_manager_t *m, int kind, const mp_obj_t *init, void **out)
{
	int rc;

	if (m->remote != NULL)
		return mpi_rclient_create(m->remote, kind, init, out);
	if ((rc = usable(m)) < 0)
		return rc;
	return mpi_mgr_obj_new(m->r, kind, init, out);
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
	if ((rc = make(m, MP_MANAGER_DICT, init, (void **)out)) < 0)
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
	if ((rc = make(m, MP_MANAGER_LIST, init, (void **)out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_namespace(mp_manager_t *m, mp_namespaceproxy_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = make(m, MP_MANAGER_NAMESPACE, NULL, (void **)out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* What a connected manager does not make for C clients: its objects
 * would be the server's (threading objects, queue.Queue), which the
 * mp_lock_t... functions cannot reach. */
static int local_only(const mp_manager_t *m)
{
	if (m->remote != NULL)
		return mpi_why(-ENOTSUP, "a connected manager serves dict, "
			       "list and Namespace to C clients, not this "
			       "type");
	return 0;
}

static int new_queue(mp_manager_t *m, unsigned maxsize, bool joinable,
		     mp_queueproxy_t **out)
{
	int rc;

	if (maxsize > INT32_MAX)
		return mpi_why(-EINVAL, "maxsize %u is over INT32_MAX",
			       maxsize);
	if (m->remote != NULL) {
		mp_obj_t *n = maxsize ? mp_obj_int(maxsize) : NULL;

		rc = mpi_rclient_create(m->remote, joinable ?
					MP_MANAGER_JOINABLEQUEUE : MP_MANAGER_QUEUE,
					n, (void **)out);
		mp_obj_free(n);
		return rc;
	}
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
	if ((rc = local_only(m)) < 0 || (rc = usable(m)) < 0 ||
	    (rc = mpi_value_new(m->r, init, out)) < 0)
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
	if ((rc = local_only(m)) < 0 || (rc = usable(m)) < 0 ||
	    (rc = mpi_array_new(m->r, typecode, init, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* A sync object: local managers only. */
static int make_sync(mp_manager_t *m, int kind, const mp_obj_t *init,
		     void **out)
{
	int rc = local_only(m);

	return rc < 0 ? rc : make(m, kind, init, out);
}

int mp_manager_lock(mp_manager_t *m, mp_lock_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = make_sync(m, MP_MANAGER_LOCK, NULL, (void **)out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_rlock(mp_manager_t *m, mp_rlock_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = make_sync(m, MP_MANAGER_RLOCK, NULL, (void **)out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_condition(mp_manager_t *m, const mp_condition_opts_t *opts,
			 mp_condition_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (opts != NULL && opts->lock != NULL && opts->rlock != NULL)
		return MPI_ERR(-EINVAL, "opts gives both a lock and an rlock");
	if ((rc = make_sync(m, MP_MANAGER_CONDITION, NULL, (void **)out)) < 0)
		return MPI_RAISE(rc);
	if (opts != NULL) /* the storage is fresh: initialise it again */
		mp_condition_init(*out, opts);
	return 0;
}

int mp_manager_event(mp_manager_t *m, mp_event_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if ((rc = make_sync(m, MP_MANAGER_EVENT, NULL, (void **)out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

int mp_manager_semaphore(mp_manager_t *m, unsigned value,
			 mp_semaphore_t **out)
{
	mp_obj_t *v;
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	MPI_CHECK_NULL(m);
	if (value > INT32_MAX)
		return MPI_ERR(-EINVAL, "value %u is over INT32_MAX", value);
	if ((v = mp_obj_int(value)) == NULL)
		return MPI_RAISE(-ENOMEM);
	rc = make_sync(m, MP_MANAGER_SEMAPHORE, v, (void **)out);
	mp_obj_free(v);
	return rc < 0 ? MPI_RAISE(rc) : 0;
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
	if ((rc = local_only(m)) < 0 || (rc = usable(m)) < 0 ||
	    (rc = mpi_region_room(m->r, sizeof(mp_semaphore_t), &p)) < 0)
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
	if ((rc = local_only(m)) < 0 || (rc = usable(m)) < 0 ||
	    (rc = mpi_region_room(m->r, sizeof(mp_barrier_t), &p)) < 0)
		return MPI_RAISE(rc);
	mp_barrier_init(p, parties, opts);
	*out = p;
	return 0;
}

int mp_manager_register(mp_manager_t *m, const char *typeid, int kind,
			void *obj)
{
	mp_obj_t *k, *v;
	int rc;

	MPI_CHECK_NULL(m);
	MPI_CHECK_NULL(typeid);
	MPI_CHECK_NULL(obj);
	if (m->remote != NULL)
		return MPI_ERR(-EINVAL, "m is a connected manager: register "
					"in the manager that serves");
	if (typeid[0] == '\0')
		return MPI_ERR(-EINVAL, "typeid is empty");
	if (kind >= MPI_KIND_ITERATOR || mpi_srv_type_by_kind(kind) == NULL)
		return MPI_ERR(-EINVAL, "unknown kind %d", kind);
	if ((char *)obj <= (char *)m->r ||
	    (char *)obj >= (char *)m->r + m->r->size)
		return MPI_ERR(-EINVAL, "obj is not in this manager's region");
	if ((rc = usable(m)) < 0)
		return MPI_RAISE(rc);
	k = mp_obj_str(typeid);
	v = mp_obj_tuple_pack(2, mp_obj_int(kind),
			      mp_obj_int((int64_t)((char *)obj -
						   (char *)m->r)));
	rc = k && v ? mp_dictproxy_set(mpi_at(m->r, m->r->names), k, v)
		    : -ENOMEM;
	mp_obj_free(k);
	mp_obj_free(v);
	return rc < 0 ? MPI_RAISE(rc) : 0;
}
