/*
 * manager/serve_conn.c - the server process's accept loop (mp__srv_run):
 * one thread per connection, as CPython's server has, each doing the
 * handshake and then handing requests to mp__srv_handle (server.c).  See
 * server.c's top comment for what a server forked from a threaded creator
 * may do.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "connection/conn_int.h"
#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "manager/srv_int.h"
#include "obj/obj_int.h"

/* ---- the process ---- */

struct conn_arg {
	struct mp__srv *s;
	int fd;
};

/* Replies held for one write at most (then they go out). */
#define HOLD_MAX ((size_t)64 << 10)

/* One connection: the handshake, the public call, maybe methods. */
static void *serve_conn(void *arg)
{
	struct conn_arg a = *(struct conn_arg *)arg;
	struct mp__io io = {0, MP__SRV_AUTH_TIMEOUT};
	enum mp__srv_next next = MP__SRV_CLOSE;
	mp_connection_t *c = NULL;
	mp_bytes_t req = {0}, rep = {0}, held = {0};
	const void *key;
	size_t keylen, cap = 0;
	bool public = true;

	mp__free(arg);
	if (mp__conn_new(a.fd, true, true, &c) < 0) {
		close(a.fd);
		goto out;
	}
	mp__deadline(MP__SRV_AUTH_TIMEOUT, &io.deadline);
	if (mp__listener_key(a.s->l, &key, &keylen) &&
	    (mp__auth_deliver(c, key, keylen, &io) < 0 ||
	     mp__auth_answer(c, key, keylen, &io) < 0))
		goto out;
	io = (struct mp__io){MP__NO_DEADLINE, MP_FOREVER};
	while (mp__conn_recv(c, MP__SRV_MAX_MSG, &io, &req) == 0) {
		int rc = mp__srv_handle(a.s, req.data, req.len, public, &rep,
					&next);

		mp_bytes_destroy(&req);
		if (rc < 0)
			break;
		/* A public call's thread ends after its reply: the blocks it
		 * freed (a decref's object, a create's scratch) go back to
		 * the region's lists first, where the client's next call
		 * (another thread) looks for room. */
		if (next != MP__SRV_SERVE)
			mp__region_flush(a.s->r);
		/* Replies to pipelined requests (the next one is already
		 * read) go out together, in one write. */
		if (next == MP__SRV_SERVE && mp__conn_buffered(c) &&
		    held.len < HOLD_MAX &&
		    mp__conn_frame_add(&held, &cap, rep.data, rep.len) == 0) {
			mp_bytes_destroy(&rep);
			public = false;
			continue;
		}
		if (held.len > 0 &&
		    mp__conn_frame_add(&held, &cap, rep.data, rep.len) == 0) {
			mp_bytes_destroy(&rep);
			rc = mp__conn_send_framed(c, held.data, held.len, &io);
			held.len = 0;
		} else if (held.len > 0) { /* a huge reply: keep the order */
			if ((rc = mp__conn_send_framed(c, held.data, held.len,
						       &io)) == 0)
				rc = mp__conn_send(c, rep.data, rep.len, &io);
			held.len = 0;
		} else {
			rc = mp__conn_send(c, rep.data, rep.len, &io);
		}
		mp_bytes_destroy(&rep);
		if (rc < 0)
			break;
		if (next == MP__SRV_SHUTDOWN)
			syscall(SYS_exit_group, 0);
		if (next == MP__SRV_CLOSE)
			break;
		public = false;
	}
out:
	mp_bytes_destroy(&held);
	mp_bytes_destroy(&req);
	mp_bytes_destroy(&rep);
	mp_connection_free(c);
	mp__region_flush(a.s->r); /* this thread's cached blocks: back */
	pthread_mutex_lock(&a.s->mu);
	a.s->conns--;
	pthread_mutex_unlock(&a.s->mu);
	return NULL;
}

static void start_conn(struct mp__srv *s, pthread_attr_t *attr, int fd)
{
	struct conn_arg *a;
	pthread_t t;
	bool room;

	pthread_mutex_lock(&s->mu);
	room = s->conns < MP__SRV_MAX_CONNS;
	if (room)
		s->conns++;
	pthread_mutex_unlock(&s->mu);
	if (room && (a = mp__malloc(sizeof(*a))) != NULL) {
		*a = (struct conn_arg){s, fd};
		if (pthread_create(&t, attr, serve_conn, a) == 0)
			return;
		mp__free(a);
	}
	if (room) {
		pthread_mutex_lock(&s->mu);
		s->conns--;
		pthread_mutex_unlock(&s->mu);
	}
	close(fd);
}

void mp__sock_nodelay(int fd)
{
	int one = 1;

	/* replies and pipelined requests go out at once, not after an ACK
	 * (Nagle); not a TCP socket (EOPNOTSUPP, ENOPROTOOPT): nothing */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		/* ignored */
	}
}

void mp__srv_run(struct mp__region *r, mp_listener_t *l, int ctl)
{
	static struct mp__srv s;
	pthread_attr_t attr;
	struct pollfd p[2];
	pid_t parent = getppid();
	char c;

	if (mp__srv_init(&s, r) < 0 || pthread_attr_init(&attr) != 0)
		syscall(SYS_exit_group, 1);
	s.l = l;
	s.address = mp_listener_address(l);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	p[0] = (struct pollfd){ctl, POLLIN, 0};
	p[1] = (struct pollfd){mp__listener_fd(l), POLLIN, 0};
	for (;;) {
		int n = poll(p, 2, 1000), fd;

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    read(ctl, &c, 1) != -1)
			break; /* a byte or EOF: shut down */
		if (n > 0 && (p[1].revents & POLLIN) &&
		    (fd = accept4(p[1].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			mp__sock_nodelay(fd);
			start_conn(&s, &attr, fd);
		}
		if (getppid() != parent)
			break;
	}
	syscall(SYS_exit_group, 0);
	__builtin_unreachable();
}
