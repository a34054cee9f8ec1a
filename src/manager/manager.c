/*
 * manager/manager.c - the manager's life: its server process and its shared
 * region (the objects placed in the region are made by manager_objs.c).
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
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"
#include "process/process_int.h"
#include "sync/sync_int.h"

#define MIN_CAPACITY ((size_t)64 << 10)
#define MAX_CAPACITY ((size_t)1 << 40)

/* The server's life: only system calls (the creator may have threads). */
__attribute__((noreturn)) static void serve(struct mp__region *r,
					    mp_listener_t *l, int ctl,
					    int ready, pid_t creator,
					    const char *name)
{
	struct sigaction sa;
	struct pollfd p;
	char c;

	mp__die_with_parent(creator, 0);
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
	if (l != NULL && mp__listener_move_fd(l, fcntl(mp__listener_fd(l),
						       F_DUPFD, 10)) < 0)
		syscall(SYS_exit_group, 1);
	if ((ctl = fcntl(ctl, F_DUPFD, 10)) < 0 || dup2(ctl, 3) < 0)
		syscall(SYS_exit_group, 1);
	ctl = 3;
	if (l != NULL && mp__listener_move_fd(l, 4) < 0)
		syscall(SYS_exit_group, 1);
#ifdef SYS_close_range
	syscall(SYS_close_range, l != NULL ? 5u : 4u, ~0u, 0u);
#endif
	if (l != NULL)
		mp__srv_run(r, l, ctl); /* the remote side: threads */
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
		return MP__WHY_SYS("read");
	return mp__why(-ECHILD, "the manager's server process ended before "
				"it was ready");
}

static int start_server(mp_manager_t *m)
{
	char name[32];
	unsigned n;
	int fds[2], rdy[2], rc;
	pid_t pid;

	n = atomic_fetch_add(&mp__counter, 1) + 1;
	snprintf(name, sizeof(name), "SyncManager-%s%s%u", mp__self.identity,
		 *mp__self.identity ? ":" : "", n);
	/* a socket, so that asking a dead server never raises SIGPIPE */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return MP__WHY_SYS("socketpair");
	if (pipe2(rdy, O_CLOEXEC) < 0) {
		rc = MP__WHY_SYS("pipe2");
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	fflush(NULL); /* the server never writes, but a fork may not copy */
	pid = fork();
	if (pid < 0) {
		rc = MP__WHY_SYS("fork");
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
		mp__listener_drop_fd(m->l); /* the server has the socket */
	m->ctl = fds[1];
	m->server.pid = pid;
	m->server.fd = mp__have_pidfd() ? mp__pidfd_open(pid) : -1;
	rc = await_ready(rdy[0]);
	close(rdy[0]);
	if (rc < 0) {
		close(m->ctl);
		m->ctl = -1;
		mp__child_kill_reap(&m->server);
		if (m->server.fd >= 0)
			close(m->server.fd);
		m->server.fd = -1;
	}
	return rc;
}

/* The region's dict of registered names (mp_manager_register). */
static int names_new(struct mp__region *r)
{
	mp_dictproxy_t *d;
	int rc = mp__dict_new(r, NULL, &d);

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

/* A manager handle with no server, listener or connection yet; NULL when
 * out of memory. */
static mp_manager_t *manager_alloc(void)
{
	mp_manager_t *m = mp__calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->ctl = -1;
	m->server.fd = -1;
	m->creator = getpid();
	return m;
}

mp_manager_t *mp_manager_new(const mp_manager_opts_t *opts)
{
	mp_manager_opts_t o = {0};
	mp_manager_t *m;
	int rc;

	if (opts != NULL)
		o = *opts;
	if (!(o.shutdown_timeout >= 0)) {
		MP__ERR(-EINVAL, "shutdown_timeout %g is negative or NaN "
				 "(shutdown is always bounded)",
			o.shutdown_timeout);
		return NULL;
	}
	if (o.shutdown_timeout == 0)
		o.shutdown_timeout = 1.0;
	if (o.capacity == 0)
		o.capacity = MP_MANAGER_DEFAULT_CAPACITY;
	if (o.capacity < MIN_CAPACITY || o.capacity > MAX_CAPACITY) {
		MP__ERR(-EINVAL, "capacity %zu is outside 64 KiB..1 TiB",
			o.capacity);
		return NULL;
	}
	if ((m = manager_alloc()) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	m->shutdown_timeout = o.shutdown_timeout;
	if ((rc = mp__region_new(o.capacity, &m->r)) < 0 ||
	    (rc = names_new(m->r)) < 0 ||
	    (o.address != NULL && (rc = listen_on(m, &o)) < 0) ||
	    (rc = start_server(m)) < 0) {
		if (m->l != NULL)
			mp_listener_free(m->l);
		mp__region_unmap(m->r);
		mp__free(m);
		MP__RAISE(rc);
		return NULL;
	}
	return m;
}

int mp_manager_pid(const mp_manager_t *m)
{
	MP__CHECK_NULL(m);
	if (m->remote != NULL)
		return MP__ERR(-EINVAL, "a connected manager's server is not "
					"this process's child");
	return m->server.pid;
}

int mp_manager_batch_begin(mp_manager_t *m)
{
	int rc;

	MP__CHECK_NULL(m);
	if (m->remote != NULL && (rc = mp__rclient_batch(m->remote, true)) < 0)
		return MP__RAISE(rc);
	return 0;
}

int mp_manager_batch_end(mp_manager_t *m)
{
	int rc;

	MP__CHECK_NULL(m);
	if (m->remote != NULL &&
	    (rc = mp__rclient_batch(m->remote, false)) < 0)
		return MP__RAISE(rc);
	return 0;
}

const char *mp_manager_address(const mp_manager_t *m)
{
	MP__CHECK_NULL_P(m);
	if (m->remote != NULL)
		return mp__rclient_address(m->remote);
	return m->l ? mp_listener_address(m->l) : NULL;
}

mp_manager_t *mp_manager_connect(const mp_manager_opts_t *opts)
{
	mp_manager_t *m;
	int rc;

	if (opts == NULL || opts->address == NULL) {
		MP__ERR(-EINVAL, "opts->address is needed");
		return NULL;
	}
	if ((m = manager_alloc()) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	m->down = true;
	if ((rc = mp__rclient_new(opts, &m->remote)) < 0 ||
	    (rc = mp__rclient_check(m->remote)) < 0) {
		if (m->remote != NULL)
			mp__rclient_free(m->remote);
		mp__free(m);
		MP__RAISE(rc);
		return NULL;
	}
	return m;
}

/* Wait for the server until timeout seconds pass: true if it ended. */
static bool wait_server(const mp_manager_t *m, double timeout)
{
	return mp__child_wait(&m->server,
			      mp__deadline_in(mp__timeout_ns(timeout))) == 0;
}

/* The bounded stop: ask, wait, SIGTERM, wait, SIGKILL, reap. */
static void stop(mp_manager_t *m)
{
	if (m->down || getpid() != m->creator)
		return;
	if (m->l != NULL)
		mp__listener_drop_fd(m->l); /* the server has the socket */
	m->down = true;
	__atomic_store_n(&m->r->closed, 1, __ATOMIC_RELAXED);
	if (send(m->ctl, "q", 1, MSG_NOSIGNAL) < 0) {
		/* EOF on close below does the same */
	}
	close(m->ctl);
	m->ctl = -1;
	if (!wait_server(m, m->shutdown_timeout)) {
		mp__child_signal(&m->server, SIGTERM);
		if (!wait_server(m, m->shutdown_timeout))
			mp__child_signal(&m->server, SIGKILL);
	}
	mp__child_kill_reap(&m->server); /* ended or killed: reaps */
	if (m->server.fd >= 0)
		close(m->server.fd);
	m->server.fd = -1;
	mp_listener_free(m->l); /* removes a Unix socket file */
	m->l = NULL;
}

int mp_manager_shutdown(mp_manager_t *m)
{
	MP__CHECK_NULL(m);
	stop(m);
	return 0;
}

void mp_manager_free(mp_manager_t *m)
{
	if (m == NULL)
		return;
	if (m->remote != NULL) {
		mp__rclient_free(m->remote);
		mp__free(m);
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
			mp__listener_drop_fd(m->l);
			mp_listener_free(m->l); /* not the creator: no unlink */
		}
	}
	mp__region_unmap(m->r);
	mp__free(m);
}
