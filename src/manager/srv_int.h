/*
 * manager/srv_int.h - the manager's remote side: the server that speaks
 * CPython's manager protocol (multiprocessing.managers) over a Listener,
 * serving the objects of the shared region, and the client that drives
 * such a server (an mproc one or CPython's).  Internal: functions return
 * codes and leave reasons with mp__why.
 *
 * Requests and replies are pickles in Connection messages:
 *   public:  (None, funcname, args, kwds) -> ('#RETURN', result) or
 *            ('#TRACEBACK', text); funcname in create, accept_connection,
 *            incref, decref, dummy, get_methods, number_of_objects,
 *            debug_info, shutdown; the connection ends after the reply,
 *            except after accept_connection, when it serves methods:
 *   methods: (ident, methodname, args, kwds) -> ('#RETURN', value) |
 *            ('#ERROR', exception) | ('#TRACEBACK', text).
 */
#ifndef MPROC_MANAGER_SRV_INT_H
#define MPROC_MANAGER_SRV_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "manager/mgr_int.h"
#include "mproc/connection.h"

/* Limits a peer cannot exceed: a request message's size (a longer one is
 * refused on its header and the connection dropped), connections served
 * at once (more are closed at once), the handshake's time. */
#define MP__SRV_MAX_MSG ((size_t)64 << 20)
#define MP__SRV_MAX_CONNS 256
#define MP__SRV_AUTH_TIMEOUT 20.0

/* One call of a method on a shared object. */
struct mp__call {
	void *obj;
	const mp_obj_t *args;  /* a tuple */
	const mp_obj_t *kwds;  /* a dict */
	double max_wait;       /* bound on blocking waits (MP_FOREVER: none) */
	mp_obj_t *ret;         /* the result (NULL: None) */
	mp_obj_t *exc;         /* or the exception raised */
	const mp_obj_t *key;   /* a KeyError's argument, when it is a key */
	/* set by a method whose result is a new shared object (CPython's
	 * _method_to_typeid_): its typeid; c->ret is then create's args */
	const char *proxy;
};

/* The kind of the Iterator a dict's __iter__ returns (not public: a
 * list of the keys in the region, served with __next__). */
#define MP__KIND_ITERATOR 100

/* A method: 0 and c->ret, or a negative code with c->exc set (or the
 * public function's message in mp_last_error, turned into CPython's
 * exception by the dispatcher). */
typedef int (*mp__method_fn)(struct mp__call *c);

struct mp__method {
	const char *name;
	mp__method_fn fn;
};

/* A typeid the server serves: how to make one, and its methods. */
struct mp__srv_type {
	int kind;                /* mp_manager_kind_t */
	const char *typeid;      /* SyncManager's name: "dict", "Lock" */
	const char *pyclass;     /* the referent's class for messages */
	const char *const *exposed; /* what CPython's proxy type exposes */
	const struct mp__method *methods; /* NULL-terminated */
	/* repr(obj) for the __repr__/__str__ fallback and #GETVALUE's copy
	 * (NULL: "<pyclass object>" / unsupported) */
	int (*repr)(void *obj, mp_obj_t **out);
	int (*value)(void *obj, mp_obj_t **out);
	/* create(typeid, *c->args, **c->kwds): the new object in the
	 * region into *out; 0, or a code with c->exc set or a reason */
	int (*create)(struct mp__call *c, struct mp__region *r, void **out);
};

/* The types of serve_list.c (list), serve_sync.c (Lock, RLock,
 * Semaphore, Condition, Event) and serve_queue.c (Queue, JoinableQueue,
 * Value, Array, BoundedSemaphore, Barrier), NULL-typeid-terminated. */
extern const struct mp__srv_type mp__srv_list_types[];
extern const struct mp__srv_type mp__srv_sync_types[];
extern const struct mp__srv_type mp__srv_more_types[];

/* A new object of kind made by mp__mgr_obj_new, its failure as a
 * TypeError in c->exc (-ENOMEM: none). */
int mp__call_new_plain(struct mp__call *c, struct mp__region *r, int kind,
		       const mp_obj_t *init, void **out);

/* Helpers of the method tables (serve_types.c). */
int mp__call_need(struct mp__call *c, size_t i, const char *name,
		  const mp_obj_t **out);
int mp__call_raise(struct mp__call *c, const char *cls, const char *msg);
int mp__call_int(struct mp__call *c, size_t i, const char *name,
		 int64_t dflt, int64_t *out);
int mp__call_bool(struct mp__call *c, int rc);
/* o a slice object (builtins.slice, as CPython pickles one): 1 and its
 * start, stop, step in b (an omitted bound as PySlice_Unpack makes it,
 * ints beyond ptrdiff_t clamped), 0 when o is no slice, or a negative
 * code with c->exc set (CPython's TypeError for a bound neither None nor
 * an int, ValueError for step 0). */
int mp__call_slice(struct mp__call *c, const mp_obj_t *o, ptrdiff_t b[3]);
int mp__call_count(struct mp__call *c, int rc);
/* A timeout argument (None or absent: MP_FOREVER) capped by max_wait:
 * 0, or a ValueError/TypeError set. */
int mp__call_timeout(struct mp__call *c, size_t i, const char *name,
		     double *out);

/* The table of served types, and lookups in it (NULL: none). */
const struct mp__srv_type *mp__srv_type_by_id(const char *typeid);
const struct mp__srv_type *mp__srv_type_by_kind(int kind);

/* An exception object module.qualname(arg) (arg taken; NULL: no args). */
mp_obj_t *mp__exc_new(const char *qualname, mp_obj_t *arg);
/* The exception a failure stands for, from its code and message: msg
 * ("KeyError: 'x'", an internal reason), or NULL for a public function's
 * (mp_last_error(): "func: KeyError: 'x'"); key, when not NULL, is a
 * KeyError's argument. */
mp_obj_t *mp__exc_from_error(int rc, const char *msg,
			     const mp_obj_t *key);

/* A positional argument i or keyword name of a call, borrowed, or NULL. */
const mp_obj_t *mp__call_arg(const struct mp__call *c, size_t i,
			     const char *name);

/* The server's address as a Token carries it: (host, port) or a path. */
mp_obj_t *mp__token_address(const char *address);

/*
 * Nested proxies (nested.c).  The region's dict of names also maps an
 * object's offset (an int key) to its kind for the objects a value refers
 * to: note one (0 or a code), read one (the kind, or -ENOENT), and an id
 * as an offset inside the region (0, or -ENOENT for another text).
 */
int mp__nest_note(struct mp__region *r, uint64_t off, int kind);
int mp__nest_kind(struct mp__region *r, uint64_t off);
int mp__nest_offset(const struct mp__region *r, const char *id,
		    uint64_t *off);
/* The object of the region a proxy value v stands for (its id noted):
 * its kind and *p, or -ENOENT ("KeyError: 'id'"), -EINVAL (v not a
 * proxy), with a reason. */
int mp__nest_resolve(struct mp__region *r, const mp_obj_t *v, void **p);
/* TypeError "'int' object is not iterable" for o: -EINVAL, c->exc set. */
int mp__call_raise_not_iterable(struct mp__call *c, const mp_obj_t *o);
/* The value CPython pickles for a proxy to the object ident of type t:
 * RebuildProxy(proxytype, Token(t->typeid, address, ident), 'pickle',
 * kwds); NULL on ENOMEM. */
mp_obj_t *mp__proxy_value(const struct mp__srv_type *t, const char *address,
			  const char *ident);

/* The server's state, in the server process (or a fuzz harness). */
struct mp__srv_obj {
	char ident[24];
	const struct mp__srv_type *t;
	void *p;
	long refs;  /* 0: forgotten, freed when busy drops to 0 */
	int busy;   /* method calls under way on it */
	bool owned; /* made by create() or a method: freed at refs 0 */
};

struct mp__srv {
	struct mp__region *r;
	mp_listener_t *l;           /* NULL in a harness */
	const char *address;        /* its address (tokens and debug) */
	double max_wait;            /* MP_FOREVER; 0 in a harness */
	pthread_mutex_t mu;         /* guards objs, conns */
	struct mp__srv_obj *objs;
	size_t nobjs, cap;
	int conns;
};

/* What the connection does after a reply. */
enum mp__srv_next {
	MP__SRV_CLOSE,    /* the public call is answered: close */
	MP__SRV_SERVE,    /* accept_connection: serve methods from now on */
	MP__SRV_SHUTDOWN, /* shutdown: stop the server */
};

/*
 * Handle one request of len bytes: the pickled reply into *reply (owned)
 * and what comes next into *next.  public: the connection's first request
 * (a public function), else a method call.  0, or -ENOMEM with no reply.
 */
int mp__srv_handle(struct mp__srv *s, const void *req, size_t len,
		   bool public, mp_bytes_t *reply, enum mp__srv_next *next);

/* Serve p (of type t) as the ident it gets (its region offset in hex,
 * into ident[24]), refcount + 1: 0 or -ENOMEM.  An object tracked so is
 * not the server's: it is forgotten at refcount 0, never freed. */
int mp__srv_track(struct mp__srv *s, const struct mp__srv_type *t, void *p,
		  char *ident);

int mp__srv_init(struct mp__srv *s, struct mp__region *r);

/* The kind of a served ident, or -ENOENT. */
int mp__srv_kind(struct mp__srv *s, const char *ident);
/* Check the proxies a client sent inside v (CPython's RebuildProxy in the
 * server): each must name an object served or referred to (noted for
 * later reads): 0, -ENOENT with "KeyError: 'id'" left, -ENOMEM. */
int mp__srv_nested(struct mp__srv *s, const mp_obj_t *v);

/* TCP_NODELAY on a connected socket (nothing on a Unix one). */
void mp__sock_nodelay(int fd);
void mp__srv_destroy(struct mp__srv *s);

/* The server process's life (never returns): accept connections on l and
 * serve each in a thread, until the control fd says stop. */
__attribute__((noreturn)) void mp__srv_run(struct mp__region *r,
					   mp_listener_t *l, int ctl);

/* The shared object of a kind made in the region (init: a dict's or
 * list's items, a Semaphore's value): 0 or a code with a reason. */
int mp__mgr_obj_new(struct mp__region *r, int kind, const mp_obj_t *init,
		   void **out);
/* Give back an object's blocks (and those of what it holds) to the
 * region: the server does, for an object it made, when its last
 * reference goes (decref) and no call on it is under way. */
void mp__mgr_obj_free(struct mp__region *r, int kind, void *p);

#endif
