/*
 * manager/server.c - the manager's server speaking CPython's protocol
 * (multiprocessing.managers.Server): the request decoder and dispatcher
 * (mp__srv_handle, which the fuzz harness drives) and the table of served
 * objects (ident -> object, refcounts).  The process's accept loop, with
 * one thread per connection as CPython's server has, is serve_conn.c.
 *
 * Threads in a fork.  The server process is a fork of the creator (see
 * manager.c), which may have had threads.  The listener is bound in the
 * creator (address resolution never runs in the child); the child calls
 * malloc, pthread_create and OpenSSL's HMAC.  glibc's fork makes malloc
 * and thread creation usable in the child (it holds and resets the malloc
 * arenas' and the loader's locks across fork); OpenSSL's HMAC takes no
 * lock once its digests are loaded, which mp_manager_new does in the
 * creator before forking (see manager.c).  The shared objects' locks are
 * the region's robust locks: a creator thread holding one at fork time
 * still holds it in the creator and gives it back there.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
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
#include "obj/obj_int.h"
#include "manager/srv_int.h"

int mp__srv_init(struct mp__srv *s, struct mp__region *r)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->max_wait = MP_FOREVER;
	s->address = "";
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return mp__why(-ENOMEM, "pthread_mutex_init failed");
	return 0;
}

void mp__srv_destroy(struct mp__srv *s)
{
	pthread_mutex_destroy(&s->mu);
	mp__free(s->objs);
	s->objs = NULL;
}

/* ---- replies ---- */

static mp_obj_t *pair(const char *kind, mp_obj_t *value)
{
	return mp_obj_tuple_pack(2, mp_obj_str(kind),
				 value ? value : mp_obj_none());
}

/* ('#TRACEBACK', text) as CPython's format_exc() would end. */
static mp_obj_t *traceback(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static mp_obj_t *traceback(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int n;

	n = snprintf(text, sizeof(text), "Traceback (most recent call "
		     "last):\n  File \"<mproc manager server>\"\n");
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	return pair("#TRACEBACK", mp_obj_str(text));
}

/* repr(o) into a fixed buffer (truncated), for messages. */
static const char *reprbuf(const mp_obj_t *o, char *buf, size_t n)
{
	mp_bytes_t b = {0};

	if (mp_obj_repr(o, &b) < 0)
		snprintf(buf, n, "<?>");
	else
		snprintf(buf, n, "%s", b.data);
	mp_bytes_destroy(&b);
	return buf;
}

/* ---- the table of objects ---- */

/* The live entry of ident (not one forgotten, waiting for its calls). */
static struct mp__srv_obj *find(struct mp__srv *s, const char *ident)
{
	size_t i;

	for (i = 0; i < s->nobjs; i++)
		if (s->objs[i].refs > 0 && strcmp(s->objs[i].ident, ident) == 0)
			return &s->objs[i];
	return NULL;
}

static int track(struct mp__srv *s, const struct mp__srv_type *t, void *p,
		 char *ident, bool owned);

int mp__srv_track(struct mp__srv *s, const struct mp__srv_type *t, void *p,
		  char *ident)
{
	return track(s, t, p, ident, false);
}

/* Record obj (refcount + 1), its ident into ident[24]: 0 or -ENOMEM.
 * owned: the server made it, and frees it at refcount 0. */
static int track(struct mp__srv *s, const struct mp__srv_type *t, void *p,
		 char *ident, bool owned)
{
	struct mp__srv_obj *o, *v;
	int rc = 0;

	/* its offset in the region (a freed object's may name a later one,
	 * as CPython's id() may) */
	snprintf(ident, 24, "%lx", (unsigned long)((char *)p - (char *)s->r));
	pthread_mutex_lock(&s->mu);
	if ((o = find(s, ident)) == NULL) {
		if (s->nobjs == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 16;

			v = mp__reallocarray(s->objs, cap, sizeof(*v));
			if (v == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			s->objs = v;
			s->cap = cap;
		}
		o = &s->objs[s->nobjs++];
		memset(o, 0, sizeof(*o));
		snprintf(o->ident, sizeof(o->ident), "%s", ident);
		o->t = t;
		o->p = p;
		o->owned = owned;
	}
	o->refs++;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The object of ident (copied out under the lock): true if found.  The
 * objects live as long as the region, so the pointer stays valid. */
static bool lookup(struct mp__srv *s, const char *ident,
		   struct mp__srv_obj *out)
{
	struct mp__srv_obj *o;

	pthread_mutex_lock(&s->mu);
	o = find(s, ident);
	if (o != NULL)
		*out = *o;
	pthread_mutex_unlock(&s->mu);
	return o != NULL;
}

int mp__srv_kind(struct mp__srv *s, const char *ident)
{
	struct mp__srv_obj o;

	return lookup(s, ident, &o) ? o.t->kind : -ENOENT;
}

/* Serve again an object no proxy holds but a value refers to (CPython's
 * id_to_local_proxy_obj), refcount 1: 0, -ENOENT (neither), -ENOMEM. */
static int revive(struct mp__srv *s, const char *ident)
{
	const struct mp__srv_type *t;
	uint64_t off;
	char id[24];
	int kind;

	if (mp__nest_offset(s->r, ident, &off) < 0 ||
	    (kind = mp__nest_kind(s->r, off)) < 0 ||
	    (t = mp__srv_type_by_kind(kind)) == NULL)
		return -ENOENT;
	return mp__srv_track(s, t, mp__at(s->r, off), id);
}


/* Take entry o out of the table (s->mu held): its object, to free
 * after unlocking when the server owns it (*free set). */
static struct mp__srv_obj drop(struct mp__srv *s, struct mp__srv_obj *o,
			       bool *free)
{
	struct mp__srv_obj gone = *o;

	*o = s->objs[--s->nobjs];
	*free = gone.owned;
	return gone;
}

/* Free an object the table dropped, unless a value refers to it (a nested
 * proxy: revive() may serve it again; then it lives as long as the
 * region, as before objects were freed).  Its blocks go back to the
 * region's lists now, before the reply, not into this thread's cache
 * (store.c): freed by done() in a method channel's thread, they would
 * wait there for that thread's next allocations or its end, while the
 * client's next create (another thread) grows the region, or finds a
 * full one full. */
static void release(struct mp__srv *s, const struct mp__srv_obj *gone)
{
	uint64_t off = (uint64_t)((char *)gone->p - (char *)s->r);

	if (mp__nest_kind(s->r, off) == -ENOENT) {
		mp__mgr_obj_free(s->r, gone->t->kind, gone->p);
		mp__region_flush(s->r);
	}
}

/* +1 or -1 on ident's refcount: 0, -ENOENT (unknown).  At 0 CPython
 * forgets the object (and frees it with its last reference): so does
 * this server with an object it made, once no call on it is under way
 * (else the last such call frees it: done()). */
static int refcount(struct mp__srv *s, const char *ident, int delta)
{
	struct mp__srv_obj *o, gone = {0};
	bool free = false;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if ((o = find(s, ident)) == NULL)
		rc = -ENOENT;
	else if ((o->refs += delta) == 0 && (o->busy == 0 || !o->owned))
		gone = drop(s, o, &free);
	pthread_mutex_unlock(&s->mu);
	if (free)
		release(s, &gone);
	return rc;
}

/* A method call on ident begins: its entry copied into *out, the object
 * kept until done(): true if found. */
static bool begin(struct mp__srv *s, const char *ident,
		  struct mp__srv_obj *out)
{
	struct mp__srv_obj *o;

	pthread_mutex_lock(&s->mu);
	if ((o = find(s, ident)) != NULL) {
		o->busy++;
		*out = *o;
	}
	pthread_mutex_unlock(&s->mu);
	return o != NULL;
}

/* The call on p has ended: the last one on a forgotten object frees it. */
static void done(struct mp__srv *s, void *p)
{
	struct mp__srv_obj gone = {0};
	bool free = false;
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nobjs; i++)
		if (s->objs[i].p == p && s->objs[i].busy > 0) {
			if (--s->objs[i].busy == 0 && s->objs[i].refs == 0)
				gone = drop(s, &s->objs[i], &free);
			break;
		}
	pthread_mutex_unlock(&s->mu);
	if (free)
		release(s, &gone);
}

/* ---- public functions ---- */

static const char *str_arg(const mp_obj_t *args, size_t i)
{
	const mp_obj_t *o;
	const mp_bytes_t *b;

	if (mp_obj_item(args, (ptrdiff_t)i, &o) < 0 ||
	    mp_obj_as_str(o, &b) < 0)
		return NULL;
	return b->data;
}

static mp_obj_t *exposed_tuple(const struct mp__srv_type *t)
{
	mp_obj_t *l = mp_obj_list();
	size_t i;

	for (i = 0; l != NULL && t->exposed[i] != NULL; i++)
		if (mp_obj_list_append(l, mp_obj_str(t->exposed[i])) < 0) {
			mp_obj_free(l);
			return NULL;
		}
	return l;
}

/* A name registered by mp_manager_register: its kind and object. */
static bool registered(struct mp__srv *s, const char *typeid, int *kind,
		       void **p)
{
	mp_obj_t *key, *v = NULL;
	const mp_obj_t *a, *b;
	int64_t k, addr;
	bool ok = false;

	if (s->r->names == 0 || (key = mp_obj_str(typeid)) == NULL)
		return false;
	if (mp_dictproxy_get(mp__at(s->r, s->r->names), key, &v) == 0 &&
	    mp_obj_item(v, 0, &a) == 0 && mp_obj_item(v, 1, &b) == 0 &&
	    mp_obj_as_int(a, &k) == 0 && mp_obj_as_int(b, &addr) == 0) {
		*kind = (int)k;
		*p = mp__at(s->r, (uint64_t)addr);
		ok = true;
	}
	mp_obj_free(key);
	mp_obj_free(v);
	return ok;
}

/* A public function that raised: CPython's server answers with the
 * traceback's text (#TRACEBACK), whose last line is "TypeError: msg". */
static mp_obj_t *create_failed(mp_obj_t *exc)
{
	const char *cls = "MemoryError";
	const mp_obj_t *a = NULL, *a0 = NULL;
	const mp_bytes_t *msg = NULL;
	mp_obj_t *r;

	if (exc != NULL &&
	    mp_obj_object_info(exc, NULL, &cls, &a, NULL, NULL) == 0 &&
	    mp_obj_item(a, 0, &a0) == 0)
		mp_obj_as_str(a0, &msg);
	r = traceback("Traceback (most recent call last):\n  (create, in "
		      "mproc's manager server)\n%s%s%s\n", cls,
		      msg ? ": " : "", msg ? msg->data : "");
	mp_obj_free(exc);
	return r;
}

/* A type create() makes: not an Iterator, which only dict.__iter__
 * makes (its state names the dict by offset: a client may not forge
 * one). */
static bool public_type(const struct mp__srv_type *t)
{
	return t->kind != MP__KIND_ITERATOR;
}

static mp_obj_t *create(struct mp__srv *s, const mp_obj_t *args,
			const mp_obj_t *kwds)
{
	const struct mp__srv_type *t;
	const char *typeid = str_arg(args, 0);
	struct mp__call c = {.kwds = kwds, .max_wait = s->max_wait};
	mp_obj_t *rest;
	char ident[24];
	size_t n = 0, i;
	void *p;
	int kind, rc;
	bool owned = false; /* a registered object is its maker's */

	if (typeid == NULL)
		return traceback("TypeError: create() needs a typeid str\n");
	if ((rc = mp__srv_nested(s, args)) < 0 ||
	    (rc = mp__srv_nested(s, kwds)) < 0)
		return rc == -ENOMEM ? NULL : traceback("%s\n",
							mp__reason(rc));
	if (registered(s, typeid, &kind, &p)) {
		t = mp__srv_type_by_kind(kind);
	} else {
		if ((t = mp__srv_type_by_id(typeid)) == NULL ||
		    !public_type(t))
			return traceback("KeyError: '%.200s'\n", typeid);
		/* the arguments after the typeid */
		mp_obj_len(args, &n);
		if ((rest = mp_obj_list()) == NULL)
			return NULL;
		for (i = 1; i < n; i++) {
			const mp_obj_t *a;

			mp_obj_item(args, (ptrdiff_t)i, &a);
			if (mp_obj_list_append(rest, mp_obj_copy(a)) < 0) {
				mp_obj_free(rest);
				return NULL;
			}
		}
		c.args = rest;
		owned = true;
		rc = t->create(&c, s->r, &p);
		mp_obj_free(rest);
		if (rc < 0)
			return create_failed(c.exc ? c.exc
				: mp__exc_from_error(rc, mp__reason(rc), NULL));
	}
	if (t == NULL || track(s, t, p, ident, owned) < 0)
		return NULL;
	return pair("#RETURN", mp_obj_tuple_pack(2, mp_obj_str(ident),
						 exposed_tuple(t)));
}

static mp_obj_t *incref_decref(struct mp__srv *s, const mp_obj_t *args,
			       int delta)
{
	const char *ident = str_arg(args, 0);
	int rc;

	if (ident == NULL)
		return traceback("TypeError: an ident str is needed\n");
	rc = refcount(s, ident, delta);
	if (rc == -ENOENT && delta > 0)
		rc = revive(s, ident);
	if (rc == -ENOENT)
		return traceback("KeyError: '%.200s'\n", ident);
	return pair("#RETURN", NULL);
}

/* get_methods(token): the exposed names of the token's object. */
static mp_obj_t *get_methods(struct mp__srv *s, const mp_obj_t *args)
{
	const mp_obj_t *tok = NULL, *state = NULL, *id = NULL;
	const mp_bytes_t *b;
	struct mp__srv_obj o;

	if (mp_obj_item(args, 0, &tok) < 0 ||
	    mp_obj_object_info(tok, NULL, NULL, NULL, &state, NULL) < 0 ||
	    mp_obj_item(state, 2, &id) < 0 || mp_obj_as_str(id, &b) < 0)
		return traceback("TypeError: get_methods() needs a Token\n");
	if (!lookup(s, b->data, &o))
		return traceback("KeyError: '%.200s'\n", b->data);
	return pair("#RETURN", exposed_tuple(o.t));
}

static mp_obj_t *counted(struct mp__srv *s, bool text)
{
	char line[160];
	mp_bytes_t b = {0};
	size_t i, n = 0, cap = 0;
	mp_obj_t *r;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nobjs; i++) {
		if (s->objs[i].refs <= 0)
			continue;
		n++;
		if (!text)
			continue;
		snprintf(line, sizeof(line), "%s  %s:       refcount=%ld\n"
			 "    <%s object>", n > 1 ? "\n" : "", s->objs[i].ident,
			 s->objs[i].refs, s->objs[i].t->pyclass);
		if (mp__text_add(&b, &cap, line, strlen(line)) < 0)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	if (!text)
		return pair("#RETURN", mp_obj_int((int64_t)n));
	r = pair("#RETURN", mp_obj_strn(b.data ? b.data : "", b.len));
	mp_bytes_destroy(&b);
	return r;
}

static mp_obj_t *public_call(struct mp__srv *s, const char *fn,
			     const mp_obj_t *args, const mp_obj_t *kwds,
			     enum mp__srv_next *next)
{
	if (strcmp(fn, "dummy") == 0)
		return pair("#RETURN", NULL);
	if (strcmp(fn, "create") == 0)
		return create(s, args, kwds);
	if (strcmp(fn, "incref") == 0)
		return incref_decref(s, args, 1);
	if (strcmp(fn, "decref") == 0)
		return incref_decref(s, args, -1);
	if (strcmp(fn, "get_methods") == 0)
		return get_methods(s, args);
	if (strcmp(fn, "number_of_objects") == 0)
		return counted(s, false);
	if (strcmp(fn, "debug_info") == 0)
		return counted(s, true);
	if (strcmp(fn, "accept_connection") == 0) {
		*next = MP__SRV_SERVE;
		return pair("#RETURN", NULL);
	}
	if (strcmp(fn, "shutdown") == 0) {
		*next = MP__SRV_SHUTDOWN;
		return pair("#RETURN", NULL);
	}
	return traceback("AssertionError: '%.200s' unrecognized\n", fn);
}

/* ---- methods ---- */

static bool exposes(const struct mp__srv_type *t, const char *name)
{
	size_t i;

	for (i = 0; t->exposed[i] != NULL; i++)
		if (strcmp(t->exposed[i], name) == 0)
			return true;
	return false;
}

static mp_obj_t *not_exposed(const struct mp__srv_type *t, const char *name)
{
	char set[1024];
	size_t i, n = 0;

	set[0] = '\0';
	for (i = 0; t->exposed[i] != NULL && n < sizeof(set) - 64; i++)
		n += (size_t)snprintf(set + n, sizeof(set) - n, "%s'%s'",
				      i ? ", " : "", t->exposed[i]);
	return traceback("AttributeError: method '%.200s' of <class '%s'> "
			 "object is not in exposed={%s}\n", name, t->pyclass,
			 set);
}

/* CPython's fallbacks for names not exposed: __str__, __repr__, and
 * #GETVALUE (a copy of the referent). */
static mp_obj_t *fallback(const struct mp__srv_obj *o, const char *name)
{
	mp_obj_t *v = NULL;
	char text[96];

	if (strcmp(name, "__repr__") == 0 || strcmp(name, "__str__") == 0) {
		if (o->t->repr != NULL) {
			if (o->t->repr(o->p, &v) < 0)
				return pair("#ERROR", mp__exc_from_error(
					mp_last_error_code(), NULL, NULL));
			return pair("#RETURN", v);
		}
		snprintf(text, sizeof(text), "<%s object at 0x%s>",
			 o->t->pyclass, o->ident);
		return pair("#RETURN", mp_obj_str(text));
	}
	if (strcmp(name, "#GETVALUE") == 0 && o->t->value != NULL) {
		if (o->t->value(o->p, &v) < 0)
			return pair("#ERROR", mp__exc_from_error(
				mp_last_error_code(), NULL, NULL));
		return pair("#RETURN", v);
	}
	return not_exposed(o->t, name);
}

mp_obj_t *mp__token_address(const char *a)
{
	const char *colon = strrchr(a, ':');

	if (a[0] == '/' || a[0] == '@' || colon == NULL)
		return mp_obj_str(a);
	return mp_obj_tuple_pack(2, mp_obj_strn(a, (size_t)(colon - a)),
				 mp_obj_int(strtol(colon + 1, NULL, 10)));
}

/* ('#PROXY', (exposed, Token(typeid, address, ident))) for the new
 * object a method made (CPython's _method_to_typeid_), created from
 * c->ret (the create arguments, taken). */
static mp_obj_t *proxy_reply(struct mp__srv *s, struct mp__call *c)
{
	const struct mp__srv_type *t = mp__srv_type_by_id(c->proxy);
	struct mp__call cc = {.kwds = NULL, .max_wait = s->max_wait};
	mp_obj_t *kw = mp_obj_dict(), *tok, *r;
	char ident[24];
	void *p;
	int rc;

	cc.args = c->ret;
	cc.kwds = kw;
	rc = t && kw ? t->create(&cc, s->r, &p) : -ENOMEM;
	mp_obj_free(c->ret);
	mp_obj_free(kw);
	if (rc < 0)
		return pair("#ERROR", cc.exc ? cc.exc : mp__exc_new(
			    "MemoryError", mp_obj_str(mp__reason(rc))));
	if (track(s, t, p, ident, true) < 0)
		return NULL;
	tok = mp_obj_object("multiprocessing.managers", "Token",
			    mp_obj_tuple(0, NULL), mp_obj_tuple_pack(3,
			    mp_obj_str(t->typeid), mp__token_address(s->address),
			    mp_obj_str(ident)), MP_OBJ_NEWOBJ);
	r = tok ? mp_obj_tuple_pack(2, exposed_tuple(t), tok) : NULL;
	return r ? pair("#PROXY", r) : NULL;
}

/* method_call's body, on the object o (kept until it returns). */
static mp_obj_t *method_run(struct mp__srv *s, struct mp__srv_obj *o,
			    const char *name, const mp_obj_t *args,
			    const mp_obj_t *kwds)
{
	struct mp__call c = {0};
	size_t i;
	int rc;

	if (!exposes(o->t, name))
		return fallback(o, name);
	for (i = 0; o->t->methods[i].name != NULL; i++)
		if (strcmp(o->t->methods[i].name, name) == 0)
			break;
	if (o->t->methods[i].name == NULL)
		return pair("#ERROR", mp__exc_new("NotImplementedError",
			mp_obj_str("mproc's manager does not serve this "
				   "method")));
	c.obj = o->p;
	c.args = args;
	c.kwds = kwds;
	c.max_wait = s->max_wait;
	rc = o->t->methods[i].fn(&c);
	if (rc < 0) {
		mp_obj_free(c.ret);
		if (c.exc == NULL)
			c.exc = mp__exc_from_error(rc, NULL, c.key);
		return pair("#ERROR", c.exc);
	}
	if (c.proxy != NULL)
		return proxy_reply(s, &c);
	return pair("#RETURN", c.ret);
}

static mp_obj_t *method_call(struct mp__srv *s, const mp_obj_t *id,
			     const char *name, const mp_obj_t *args,
			     const mp_obj_t *kwds)
{
	struct mp__srv_obj o;
	const mp_bytes_t *ident;
	mp_obj_t *r;
	char buf[96];
	int rc;

	/* the request's proxies first, as CPython's unpickling */
	if ((rc = mp__srv_nested(s, args)) < 0 ||
	    (rc = mp__srv_nested(s, kwds)) < 0)
		return rc == -ENOMEM ? NULL : traceback("%s\n",
							mp__reason(rc));
	if (mp_obj_as_str(id, &ident) < 0 || !begin(s, ident->data, &o))
		return traceback("KeyError: %s\n", reprbuf(id, buf,
							    sizeof(buf)));
	r = method_run(s, &o, name, args, kwds);
	done(s, o.p);
	return r;
}

/* ---- one request ---- */

int mp__srv_handle(struct mp__srv *s, const void *req, size_t len,
		   bool public, mp_bytes_t *reply, enum mp__srv_next *next)
{
	const mp_obj_t *id, *fn, *args, *kwds;
	const mp_bytes_t *name;
	mp_obj_t *rq = NULL, *msg;
	size_t n = 0;
	int rc;

	*reply = (mp_bytes_t){0};
	*next = public ? MP__SRV_CLOSE : MP__SRV_SERVE;
	rc = mp__pickle_loads(req, len, &rq);
	if (rc < 0)
		msg = traceback("_pickle.UnpicklingError: %s\n",
				mp__reason(rc));
	else if (mp_obj_kind(rq) != MP_OBJ_TUPLE || mp_obj_len(rq, &n) < 0 ||
		 n != 4 || mp_obj_item(rq, 0, &id) < 0 ||
		 mp_obj_item(rq, 1, &fn) < 0 || mp_obj_item(rq, 2, &args) < 0 ||
		 mp_obj_item(rq, 3, &kwds) < 0 || mp_obj_as_str(fn, &name) < 0 ||
		 mp_obj_kind(args) != MP_OBJ_TUPLE ||
		 mp_obj_kind(kwds) != MP_OBJ_DICT)
		msg = traceback("ValueError: a request is (ident, methodname, "
				"args tuple, kwds dict)\n");
	else if (public)
		msg = public_call(s, name->data, args, kwds, next);
	else
		msg = method_call(s, id, name->data, args, kwds);
	mp_obj_free(rq);
	if (msg == NULL)
		return -ENOMEM;
	rc = mp__pickle_dumps(msg, 4, reply);
	mp_obj_free(msg);
	if (rc < 0) {
		/* a value our writer refuses: CPython's #UNSERIALIZABLE */
		msg = pair("#UNSERIALIZABLE", mp_obj_str(mp__reason(rc)));
		rc = msg ? mp__pickle_dumps(msg, 4, reply) : -ENOMEM;
		mp_obj_free(msg);
	}
	return rc;
}
