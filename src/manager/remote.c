/*
 * manager/remote.c - a connected manager (mp_manager_connect): the client
 * of CPython's manager protocol, against an mproc server or CPython's.
 *
 * As CPython's BaseProxy, public functions (create, decref) go over a
 * connection of their own each; method calls go over a connection that
 * accept_connection turned into a method channel, one per calling thread
 * (CPython keeps one per thread too): a thread blocked in a remote wait
 * (a queue get, a lock acquire) holds up no other thread.  A thread's
 * channel is made at its first call, closed when the thread exits (a
 * pthread key's destructor) or with the manager handle.  A reply that
 * does not come (timeout, EOF) drops that thread's connection: its next
 * call opens a new one.  Pipelining (batch) is per thread too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "connection/conn_int.h"
#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/remote_int.h"
#include "manager/srv_int.h"

/* A thread's method channel: only that thread uses it (no lock). */
struct chan {
	struct mp__rclient *cl;
	struct chan *next;    /* in cl->chans, under cl->mu */
	pid_t pid;            /* the process that opened c */
	mp_connection_t *c;   /* the method channel, or NULL */
	bool batch;           /* pipelining calls without a result */
	int pending;          /* replies not read yet */
	int batch_rc;         /* the first failure among them, and why */
	mp_bytes_t out;       /* framed requests not sent yet */
	size_t outcap;
	char batch_why[256];
};

struct mp__rclient {
	char *address;
	void *key;
	size_t keylen;
	bool auth;
	double timeout;       /* per call; MP_FOREVER: none */
	pthread_key_t tls;    /* this thread's struct chan */
	pthread_mutex_t mu;   /* guards chans and handles */
	struct chan *chans;
	struct handle {
		void *h;
		struct mp__rproxy *p;
	} *handles;
	size_t n, cap;
};

/* The heap handles: the local structs with their remote field set. */
struct rdict {
	struct mp_dictproxy d;
	struct mp__rproxy p;
};

static void chan_gone(void *v);

const char *mp__rclient_address(const struct mp__rclient *cl)
{
	return cl->address;
}

int mp__rclient_new(const mp_manager_opts_t *o, struct mp__rclient **out)
{
	struct mp__rclient *cl;

	if (!(o->timeout >= 0 || o->timeout == MP_FOREVER))
		return mp__why(-EINVAL, "timeout %g is negative or NaN",
			       o->timeout);
	if ((cl = mp__calloc(1, sizeof(*cl))) == NULL)
		return -ENOMEM;
	cl->timeout = o->timeout > 0 ? o->timeout : MP_FOREVER;
	cl->auth = o->authkey != NULL;
	if ((cl->address = mp__strdup(o->address)) == NULL ||
	    (cl->auth && (cl->key = mp__malloc(o->authkey_len + 1)) == NULL) ||
	    pthread_mutex_init(&cl->mu, NULL) != 0)
		goto fail;
	if (pthread_key_create(&cl->tls, chan_gone) != 0) {
		pthread_mutex_destroy(&cl->mu);
		goto fail;
	}
	if (cl->auth)
		memcpy(cl->key, o->authkey, o->authkey_len);
	cl->keylen = o->authkey_len;
	*out = cl;
	return 0;
fail:
	mp__free(cl->address);
	mp__free(cl->key);
	mp__free(cl);
	return -ENOMEM;
}

static int public_call(struct mp__rclient *cl, const char *fn,
		       mp_obj_t *args, mp_obj_t **out);

/* CPython's connect(): a dummy call proves the address and the key. */
int mp__rclient_check(struct mp__rclient *cl)
{
	mp_obj_t *args = mp_obj_tuple(0, NULL);

	return args ? public_call(cl, "dummy", args, NULL) : -ENOMEM;
}

static mp_connection_t *dial(struct mp__rclient *cl, int *rc)
{
	mp_auth_opts_t a = {.authkey = cl->auth ? cl->key : NULL,
			    .authkey_len = cl->keylen};
	mp_connection_t *c = mp_client(cl->address, &a, cl->timeout);

	if (c == NULL)
		*rc = mp__why(mp_last_error_code(), "%s", mp_last_error());
	else
		mp__sock_nodelay(mp_connection_fileno(c));
	return c;
}

/* A request (taken), pickled and framed, appended to *b. */
static int frame_req(mp_obj_t *req, mp_bytes_t *b, size_t *cap)
{
	mp_bytes_t p = {0};
	int rc;

	if (req == NULL)
		return -ENOMEM;
	rc = mp__pickle_dumps(req, 4, &p);
	mp_obj_free(req);
	if (rc == 0)
		rc = mp__conn_frame_add(b, cap, p.data, p.len);
	mp_bytes_destroy(&p);
	return rc;
}

/* Send a request (taken) on c, within the call's timeout. */
static int send_req(struct mp__rclient *cl, mp_connection_t *c,
		    mp_obj_t *req)
{
	struct mp__io io = {MP__NO_DEADLINE, cl->timeout};
	mp_bytes_t b = {0};
	size_t cap = 0;
	int rc = frame_req(req, &b, &cap);

	if (rc == 0 && (rc = mp__deadline(cl->timeout, &io.deadline)) == 0)
		rc = mp__conn_send_framed(c, b.data, b.len, &io);
	mp_bytes_destroy(&b);
	return rc;
}

/* How a reply is awaited: a call that waits on the server (a lock's
 * acquire, a queue's get) may take its wait on top of the call's timeout;
 * a '#PROXY' reply is taken as a value. */
struct rwait {
	double wait; /* seconds; MP_FOREVER: no limit */
	bool proxy;
};

/* Read one reply on c: its value into *out (NULL: dropped), or the
 * remote exception's code. */
static int recv_reply_w(struct mp__rclient *cl, mp_connection_t *c,
			struct rwait w, mp_obj_t **out)
{
	/* a negative wait (MP_FOREVER, a Barrier's default): no limit */
	double t = cl->timeout == MP_FOREVER || w.wait < 0
			   ? MP_FOREVER : cl->timeout + w.wait;
	struct mp__io io = {MP__NO_DEADLINE, t};
	mp_bytes_t b = {0};
	int rc;

	if ((rc = mp__deadline(t, &io.deadline)) < 0)
		return rc;
	if ((rc = mp__conn_recv(c, 0, &io, &b)) < 0) {
		if (rc == MP_EEOF || rc == -ECONNRESET || rc == -EIO)
			rc = mp__why(MP_ECLOSED, "the manager's server closed "
				     "the connection (it is gone)");
		return rc;
	}
	rc = mp__rreply_decode(&b, w.proxy, out);
	mp_bytes_destroy(&b);
	return rc;
}

static int recv_reply(struct mp__rclient *cl, mp_connection_t *c,
		      mp_obj_t **out)
{
	return recv_reply_w(cl, c, (struct rwait){0, false}, out);
}

/* Send a request and read its reply on c. */
static int exchange(struct mp__rclient *cl, mp_connection_t *c,
		    mp_obj_t *req, mp_obj_t **out)
{
	int rc = send_req(cl, c, req);

	return rc < 0 ? rc : recv_reply(cl, c, out);
}

static mp_obj_t *request(mp_obj_t *id, const char *fn, mp_obj_t *args,
			 mp_obj_t *kwds)
{
	return mp_obj_tuple_pack(4, id, mp_obj_str(fn),
				 args ? args : mp_obj_tuple(0, NULL),
				 kwds ? kwds : mp_obj_dict());
}

/* A public function on a connection of its own (args taken). */
static int public_call(struct mp__rclient *cl, const char *fn,
		       mp_obj_t *args, mp_obj_t **out)
{
	mp_connection_t *c;
	int rc;

	if ((c = dial(cl, &rc)) == NULL) {
		mp_obj_free(args);
		return rc;
	}
	rc = exchange(cl, c, request(mp_obj_none(), fn, args, NULL), out);
	mp_connection_free(c);
	return rc;
}

/* A failure that leaves the stream out of step (or gone). */
static bool stream_failure(int rc)
{
	return rc == MP_ECLOSED || rc == -ETIMEDOUT || rc == -EPIPE ||
	       rc == -EPROTO || rc == -EIO || rc == -ECONNRESET;
}

/* Requests waiting in ch->out at most this many bytes. */
#define OUT_MAX ((size_t)64 << 10)

/* Close a channel's connection and forget what was pending on it. */
static void chan_drop(struct chan *ch)
{
	mp_connection_free(ch->c);
	ch->c = NULL;
	ch->pending = 0;
	ch->out.len = 0;
}

/* The pthread key's destructor: a thread ends, so does its channel. */
static void chan_gone(void *v)
{
	struct chan *ch = v, **pp;
	struct mp__rclient *cl = ch->cl;

	pthread_mutex_lock(&cl->mu);
	for (pp = &cl->chans; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	chan_drop(ch);
	mp_bytes_destroy(&ch->out);
	mp__free(ch);
}

/* The calling thread's channel (made at its first call), or NULL. */
static struct chan *chan_mine(struct mp__rclient *cl)
{
	struct chan *ch = pthread_getspecific(cl->tls);

	if (ch != NULL && ch->pid != getpid()) {
		/* a fork's child: the connection is the parent's stream (its
		 * copy of the fd goes), the child dials its own, as CPython's
		 * proxies reset theirs after fork */
		chan_drop(ch);
		ch->batch = false;
		ch->batch_rc = 0;
		ch->pid = getpid();
	}
	if (ch != NULL)
		return ch;
	if ((ch = mp__calloc(1, sizeof(*ch))) == NULL)
		return NULL;
	ch->cl = cl;
	ch->pid = getpid();
	if (pthread_setspecific(cl->tls, ch) != 0) {
		mp__free(ch);
		return NULL;
	}
	pthread_mutex_lock(&cl->mu);
	ch->next = cl->chans;
	cl->chans = ch;
	pthread_mutex_unlock(&cl->mu);
	return ch;
}

/* Send what waits in ch->out, in one write. */
static int flush(struct chan *ch)
{
	struct mp__io io = {MP__NO_DEADLINE, ch->cl->timeout};
	int rc;

	if (ch->out.len == 0)
		return 0;
	if ((rc = mp__deadline(ch->cl->timeout, &io.deadline)) == 0)
		rc = mp__conn_send_framed(ch->c, ch->out.data, ch->out.len,
					  &io);
	ch->out.len = 0;
	return rc;
}

/* Send the waiting requests and read the replies of the pipelined calls;
 * the first failure among them is kept for mp_manager_batch_end.  0, or
 * a stream failure. */
static int drain(struct chan *ch)
{
	int rc;

	if ((rc = flush(ch)) < 0)
		return rc;
	for (; ch->pending > 0; ch->pending--) {
		rc = recv_reply(ch->cl, ch->c, NULL);
		if (rc < 0 && ch->batch_rc == 0) {
			ch->batch_rc = rc;
			snprintf(ch->batch_why, sizeof(ch->batch_why), "%s",
				 mp__reason(rc));
		}
		if (rc < 0 && stream_failure(rc))
			return rc;
	}
	return 0;
}

/* The thread's channel, connected (accept_connection): 0 or a code. */
static int chan_open(struct mp__rclient *cl, struct chan **out)
{
	struct chan *ch = chan_mine(cl);
	int rc = 0;

	if ((*out = ch) == NULL)
		return -ENOMEM;
	if (ch->c == NULL &&
	    (ch->c = dial(cl, &rc)) != NULL &&
	    (rc = exchange(cl, ch->c, request(mp_obj_none(),
			"accept_connection", mp_obj_tuple_pack(1,
			mp_obj_str("mproc")), NULL), NULL)) < 0)
		chan_drop(ch);
	return ch->c == NULL ? rc : 0;
}

static int rcall(struct mp__rproxy *p, const char *method, mp_obj_t *args,
		 mp_obj_t *kwds, struct rwait w, mp_obj_t **out)
{
	struct chan *ch;
	mp_obj_t *req = request(mp_obj_str(p->ident), method, args, kwds);
	int rc;

	if ((rc = chan_open(p->cl, &ch)) < 0) {
		mp_obj_free(req);
		return rc;
	}
	/* A batched call's request waits in ch->out; the next call with a
	 * result sends them all and its own in one write, then reads the
	 * replies: one round trip (the server answers in order). */
	if ((rc = frame_req(req, &ch->out, &ch->outcap)) < 0)
		return rc;
	if (ch->batch && out == NULL) {
		if (++ch->pending >= MP__BATCH_MAX || ch->out.len > OUT_MAX)
			rc = drain(ch);
	} else if ((rc = flush(ch)) == 0 && (rc = drain(ch)) == 0) {
		rc = recv_reply_w(p->cl, ch->c, w, out);
	}
	if (rc < 0 && stream_failure(rc))
		chan_drop(ch); /* out of step: the next call redials */
	return rc;
}

int mp__rcall(struct mp__rproxy *p, const char *method, mp_obj_t *args,
	      mp_obj_t *kwds, mp_obj_t **out)
{
	return rcall(p, method, args, kwds, (struct rwait){0, false}, out);
}

int mp__rcall_wait(struct mp__rproxy *p, const char *method, mp_obj_t *args,
		   double wait, mp_obj_t **out)
{
	return rcall(p, method, args, NULL, (struct rwait){wait, false}, out);
}

int mp__rcall_proxy(struct mp__rproxy *p, const char *method,
		    struct mp__rproxy *out)
{
	mp_obj_t *r = NULL;
	const mp_obj_t *tok, *state, *id;
	const mp_bytes_t *s;
	int rc = rcall(p, method, mp_obj_tuple(0, NULL), NULL,
		       (struct rwait){0, true}, &r);

	if (rc < 0)
		return rc;
	if (mp_obj_item(r, 1, &tok) < 0 ||
	    mp_obj_object_info(tok, NULL, NULL, NULL, &state, NULL) < 0 ||
	    mp_obj_item(state, 2, &id) < 0 || mp_obj_as_str(id, &s) < 0 ||
	    s->len >= sizeof(out->ident))
		rc = mp__why(-EPROTO, "%s() did not return a proxy", method);
	else
		memcpy(out->ident, s->data, s->len + 1);
	out->cl = p->cl;
	mp_obj_free(r);
	return rc;
}

int mp__rdecref(const struct mp__rproxy *p)
{
	mp_obj_t *a = mp_obj_tuple_pack(1, mp_obj_str(p->ident));

	return a ? public_call(p->cl, "decref", a, NULL) : -ENOMEM;
}

int mp__rclient_batch(struct mp__rclient *cl, bool on)
{
	struct chan *ch = chan_mine(cl);
	int rc = 0;

	if (ch == NULL)
		return -ENOMEM;
	if (ch->c != NULL && (rc = drain(ch)) < 0)
		chan_drop(ch);
	if (rc == 0 && ch->batch_rc < 0)
		rc = mp__why(ch->batch_rc, "%s", ch->batch_why);
	ch->batch_rc = 0;
	ch->batch = on;
	return rc;
}

static const char *const typeids[] = {
	[MP_MANAGER_DICT] = "dict", [MP_MANAGER_LIST] = "list",
	[MP_MANAGER_NAMESPACE] = "Namespace", [MP_MANAGER_QUEUE] = "Queue",
	[MP_MANAGER_JOINABLEQUEUE] = "JoinableQueue",
	[MP_MANAGER_LOCK] = "Lock", [MP_MANAGER_RLOCK] = "RLock",
	[MP_MANAGER_SEMAPHORE] = "Semaphore",
	[MP_MANAGER_BOUNDEDSEMAPHORE] = "BoundedSemaphore",
	[MP_MANAGER_CONDITION] = "Condition", [MP_MANAGER_EVENT] = "Event",
	[MP_MANAGER_BARRIER] = "Barrier", [MP_MANAGER_VALUE] = "Value",
	[MP_MANAGER_ARRAY] = "Array",
};

/* A new heap handle of kind for the remote object p (copied in): the
 * local struct with its remote field set, or a sync object's words set
 * so that every local fast path fails (sync/sync_int.h). */
static struct mp__rhandle *handle_new(int kind, const struct mp__rproxy *p)
{
	struct mp__rhandle *h = mp__calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->kind = kind;
	h->p = *p;
	switch (kind) {
	case MP_MANAGER_DICT:
		h->u.d.remote = &h->p;
		break;
	case MP_MANAGER_LIST:
		h->u.l.remote = &h->p;
		break;
	case MP_MANAGER_NAMESPACE:
		h->u.n.remote = &h->p;
		break;
	case MP_MANAGER_QUEUE:
	case MP_MANAGER_JOINABLEQUEUE:
		h->u.q.remote = &h->p;
		h->u.q.joinable = 1; /* the server says if it is */
		break;
	case MP_MANAGER_VALUE:
		h->u.v.remote = &h->p;
		break;
	case MP_MANAGER_ARRAY:
		((struct mp_arrayproxy *)(void *)h->u.a)->remote = &h->p;
		break;
	case MP_MANAGER_SEMAPHORE:
	case MP_MANAGER_BOUNDEDSEMAPHORE:
		h->u.s._flags = MP__SEM_REMOTE;
		break;
	case MP_MANAGER_EVENT:
		h->u.e._waiters = MP__EVENT_REMOTE;
		break;
	case MP_MANAGER_CONDITION:
		h->u.c._own._lock._state = MP__SYNC_REMOTE;
		break;
	default: /* Lock, RLock, Barrier: a lock word first */
		h->u.lk._state = MP__SYNC_REMOTE;
		break;
	}
	return h;
}

static int handle_add(int kind, const struct mp__rproxy *p, void **out);

int mp__rclient_create(struct mp__rclient *cl, int kind,
		       const mp_obj_t *args, void **out)
{
	struct mp__rproxy p = {.cl = cl};
	const mp_obj_t *id, *a;
	const mp_bytes_t *s;
	mp_obj_t *items[8], *res = NULL;
	size_t n = 0, i;
	int rc;

	/* create(typeid, *args) */
	if (args != NULL && (mp_obj_len(args, &n) < 0 || n >= 8))
		return mp__why(-EINVAL, "create() takes a tuple of 0..7 args");
	items[0] = mp_obj_str(typeids[kind]);
	for (i = 0; i < n; i++) {
		mp_obj_item(args, (ptrdiff_t)i, &a);
		items[i + 1] = mp_obj_copy(a);
	}
	if ((rc = public_call(cl, "create", mp_obj_tuple(n + 1, items),
			      &res)) < 0)
		return rc;
	if (mp_obj_item(res, 0, &id) < 0 || mp_obj_as_str(id, &s) < 0 ||
	    s->len >= sizeof(p.ident)) {
		mp_obj_free(res);
		return mp__why(-EPROTO, "create() did not return (ident, "
			       "exposed)");
	}
	memcpy(p.ident, s->data, s->len + 1);
	mp_obj_free(res);
	return handle_add(kind, &p, out);
}

/* A heap handle of kind for p's object, freed (and its object decref'd)
 * with the client or by mp__rhandle_free: 0 or -ENOMEM (the reference is
 * given back). */
static int handle_add(int kind, const struct mp__rproxy *p, void **out)
{
	struct mp__rclient *cl = p->cl;
	struct mp__rhandle *h = handle_new(kind, p);
	struct handle *v;

	pthread_mutex_lock(&cl->mu);
	if (h != NULL && cl->n == cl->cap) {
		size_t cap = cl->cap ? 2 * cl->cap : 8;

		if ((v = mp__reallocarray(cl->handles, cap, sizeof(*v))) == NULL) {
			mp__free(h);
			h = NULL;
		} else {
			cl->handles = v;
			cl->cap = cap;
		}
	}
	if (h != NULL)
		cl->handles[cl->n++] = (struct handle){h, &h->p};
	pthread_mutex_unlock(&cl->mu);
	if (h == NULL) {
		mp__rdecref(p); /* the server forgets it (or not: no matter) */
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

int mp__rclient_adopt(struct mp__rclient *cl, int kind, const char *ident,
		      void **out)
{
	struct mp__rproxy p = {.cl = cl};
	mp_obj_t *a;
	int rc;

	if (kind < 0 || kind >= (int)(sizeof(typeids) / sizeof(typeids[0])) ||
	    typeids[kind] == NULL)
		return mp__why(-ENOTSUP, "a connected manager gives C clients "
			       "no handle of this kind (%d)", kind);
	if (strlen(ident) >= sizeof(p.ident))
		return mp__why(-EPROTO, "a proxy's id is too long");
	snprintf(p.ident, sizeof(p.ident), "%s", ident);
	/* as RebuildProxy in a client: the new proxy holds a reference */
	if ((a = mp_obj_tuple_pack(1, mp_obj_str(ident))) == NULL)
		return -ENOMEM;
	if ((rc = public_call(cl, "incref", a, NULL)) < 0)
		return rc;
	return handle_add(kind, &p, out);
}

const struct mp__rproxy *mp__rclient_find(struct mp__rclient *cl,
					  const void *h)
{
	const struct mp__rproxy *p = NULL;
	size_t i;

	pthread_mutex_lock(&cl->mu);
	for (i = 0; i < cl->n && p == NULL; i++)
		if (cl->handles[i].h == h)
			p = cl->handles[i].p;
	pthread_mutex_unlock(&cl->mu);
	return p;
}

void mp__rhandle_free(struct mp__rhandle *h)
{
	struct mp__rclient *cl = h->p.cl;
	size_t i;

	pthread_mutex_lock(&cl->mu);
	for (i = 0; i < cl->n; i++)
		if (cl->handles[i].h == h) {
			cl->handles[i] = cl->handles[--cl->n];
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	mp__rdecref(&h->p); /* a server gone: nothing to tell */
	mp__free(h);
}

void mp__rclient_free(struct mp__rclient *cl)
{
	struct chan *ch;
	bool gone = false;
	size_t i;

	if (cl->timeout < 0 || cl->timeout > 5)
		cl->timeout = 5; /* freeing stays bounded */
	/* No thread's channel is in use now: a batch not ended sends its
	 * requests first (their failures are dropped), then the objects
	 * are released. */
	pthread_key_delete(cl->tls);
	for (ch = cl->chans; ch != NULL; ch = ch->next)
		if (ch->c != NULL && drain(ch) < 0)
			chan_drop(ch);
	for (i = 0; i < cl->n; i++) {
		mp_obj_t *a = gone ? NULL : mp_obj_tuple_pack(1, mp_obj_str(
						  cl->handles[i].p->ident));

		/* a server that does not answer is not asked again */
		if (a != NULL && public_call(cl, "decref", a, NULL) < 0)
			gone = true;
		mp__free(cl->handles[i].h);
	}
	while ((ch = cl->chans) != NULL) {
		cl->chans = ch->next;
		chan_drop(ch);
		mp_bytes_destroy(&ch->out);
		mp__free(ch);
	}
	pthread_mutex_destroy(&cl->mu);
	mp__free(cl->handles);
	mp__free(cl->address);
	mp__free(cl->key);
	mp__free(cl);
}
