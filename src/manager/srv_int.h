/*
 * manager/srv_int.h - the manager's remote side: the server that speaks
 * CPython's manager protocol (multiprocessing.managers) over a Listener,
 * serving the objects of the shared region, and the client that drives
 * such a server (an mproc one or CPython's).  Internal: functions return
 * codes and leave reasons with mpi_why.
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
#define MPI_SRV_MAX_MSG ((size_t)64 << 20)
#define MPI_SRV_MAX_CONNS 256
#define MPI_SRV_AUTH_TIMEOUT 20.0

/* One call of a method on a shared object. */
struct mpi_call {
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
#define MPI_KIND_ITERATOR 100

/* A method: 0 and c->ret, or a negative code with c->exc set (or the
 * public function's message in mp_last_error, turned into CPython's
 * exception by the dispatcher). */
typedef int (*mpi_method_fn)(struct mpi_call *c);

struct mpi_method {
	const char *name;
	mpi_method_fn fn;
};

/* A typeid the server serves: how to make one, and its methods. */
struct mpi_srv_type {
	int kind;                /* mp_manager_kind_t */
	const char *typeid;      /* SyncManager's name: "dict", "Lock" */
	const char *pyclass;     /* the referent's class for messages */
	const char *const *exposed; /* what CPython's proxy type exposes */
	const struct mpi_method *methods; /* NULL-terminated */
	/* repr(obj) for the __repr__/__str__ fallback and #GETVALUE's copy
	 * (NULL: "<pyclass object>" / unsupported) */
	int (*repr)(void *obj, mp_obj_t **out);
	int (*value)(void *obj, mp_obj_t **out);
	/* create(typeid, *c->args, **c->kwds): the new object in the
	 * region into *out; 0, or a code with c->exc set or a reason */
	int (*create)(struct mpi_call *c, struct mpi_region *r, void **out);
};

/* The types of serve_list.c (list), serve_sync.c (Lock, RLock,
 * Semaphore, Condition, Event) and serve_queue.c (Queue, JoinableQueue,
 * Value, Array, BoundedSemaphore, Barrier), NULL-typeid-terminated. */
extern const struct mpi_srv_type mpi_srv_list_types[];
extern const struct mpi_srv_type mpi_srv_sync_types[];
extern const struct mpi_srv_type mpi_srv_more_types[];

/* A new object of kind made by mpi_mgr_obj_new, its failure as a
 * TypeError in c->exc (-ENOMEM: none). */
int mpi_call_new_plain(struct mpi_call *c, struct mpi_region *r, int kind,
		       const mp_obj_t *init, void **out);

/* Helpers of the method tables (serve_types.c). */
int mpi_call_need(struct mpi_call *c, size_t i, const char *name,
		  const mp_obj_t **out);
int mpi_call_raise(struct mpi_call *c, const char *cls, const char *msg);
int mpi_call_int(struct mpi_call *c, size_t i, const char *name,
		 int64_t dflt, int64_t *out);
int mpi_call_bool(struct mpi_call *c, int rc);
/* o a slice object (builtins.slice, as CPython pickles one): 1 and its
 * start, stop, step in b (an omitted bound as PySlice_Unpack makes it,
 * ints beyond ptrdiff_t clamped), 0 when o is no slice, or a negative
 * code with c->exc set (CPython's TypeError for a bound neither None nor
 * an int, ValueError for step 0). */
int mpi_call_slice(struct mpi_call *c, const mp_obj_t *o, ptrdiff_t b[3]);
int mpi_call_count(struct mpi_call *c, int rc);
/* A timeout argument (None or absent: MP_FOREVER) capped by max_wait:
 * 0, or a ValueError/TypeError set. */
int mpi_call_timeout(struct mpi_call *c, size_t i, const char *name,
		     double *out);

/* The table of served types, and lookups in it (NULL: none). */
const struct mpi_srv_type *mpi_srv_type_by_id(const char *typeid);
const struct mpi_srv_type *mpi_srv_type_by_kind(int kind);

/* An exception object module.qualname(arg) (arg taken; NULL: no args). */
mp_obj_t *mpi_exc_new(const char *qualname, mp_obj_t *arg);
/* The exception a failure stands for, from its code and message: msg
 * ("KeyError: 'x'", an internal reason), or NULL for a public function's
 * (mp_last_error(): "func: KeyError: 'x'"); key, when not NULL, is a
 * KeyError's argument. */
mp_obj_t *mpi_exc_from_error(int rc, const char *msg,
			     const mp_obj_t *key);

/* A positional argument i or keyword name of a call, borrowed, or NULL. */
const mp_obj_t *mpi_call_arg(const struct mpi_call *c, size_t i,
			     const char *name);

/* The server's address as a Token carries it: (host, port) or a path. */
mp_obj_t *mpi_token_address(const char *address);

/*
 * Nested proxies (nested.c).  The region's dict of names also maps an
 * object's offset (an int key) to its kind for the objects a value refers
 * to: note one (0 or a code), read one (the kind, or -ENOENT), and an id
 * as an offset inside the region (0, or -ENOENT for another text).
 */
int mpi_nest_note(struct mpi_region *r, uint64_t off, int kind);
int mpi_nest_kind(struct mpi_region *r, uint64_t off);
int mpi_nest_offset(const struct mpi_region *r, const char *id,
		    uint64_t *off);
/* The object of the region a proxy value v stands for (its id noted):
 * its kind and *p, or -ENOENT ("KeyError: 'id'"), -EINVAL (v not a
 * proxy), with a reason. */
int mpi_nest_resolve(struct mpi_region *r, const mp_obj_t *v, void **p);
/* TypeError "'int' object is not iterable" for o: -EINVAL, c->exc set. */
int mpi_call_raise_not_iterable(struct mpi_call *c, const mp_obj_t *o);
/* The value CPython pickles for a proxy to the object ident of type t:
 * RebuildProxy(proxytype, Token(t->typeid, address, ident), 'pickle',
 * kwds); NULL on ENOMEM. */
mp_obj_t *mpi_proxy_value(const struct mpi_srv_type *t, const char *address,
			  const char *ident);

/* The server's state, in the server process (or a fuzz harness). */
struct mpi_srv_obj {
	char ident[24];
	const struct mpi_srv_type *t;
	void *p;
	long refs;  /* 0: forgotten, freed when busy drops to 0 */
	int busy;   /* method calls under way on it */
	bool owned; /* made by create() or a method: freed at refs 0 */
};

struct mpi_srv {
	struct mpi_region *r;
	mp_listener_t *l;           /* NULL in a harness */
	const char *address;        /* its address (tokens and debug) */
	double max_wait;            /* MP_FOREVER; 0 in a harness */
	pthread_mutex_t mu;         /* guards objs, conns */
	struct mpi_srv_obj *objs;
	size_t nobjs, cap;
	int conns;
};

/* What the connection does after a reply. */
enum mpi_srv_next {
	MPI_SRV_CLOSE,    /* the public call is answered: close */
	MPI_SRV_SERVE,    /* accept_connection: serve methods from now on */
	MPI_SRV_SHUTDOWN, /* shutdown: stop the server */
};

/*
 * Handle one request of len bytes: the pickled reply into *reply (owned)
 * and what comes next into *next.  public: the connection's first request
 * (a public function), else a method call.  0, or -ENOMEM with no reply.
 */
int mpi_srv_handle(struct mpi_srv *s, const void *req, size_t len,
		   bool public, mp_bytes_t *reply, enum mpi_srv_next *next);

/* Serve p (of type t) as the ident it gets (its region offset in hex,
 * into ident[24]), refcount + 1: 0 or -ENOMEM.  An object tracked so is
 * not the server's: it is forgotten at refcount 0, never freed. */
int mpi_srv_track(struct mpi_srv *s, const struct mpi_srv_type *t, void *p,
		  char *ident);

int mpi_srv_init(struct mpi_srv *s, struct mpi_region *r);

/* The kind of a served ident, or -ENOENT. */
int mpi_srv_kind(struct mpi_srv *s, const char *ident);
/* Check the proxies a client sent inside v (CPython's RebuildProxy in the
 * server): each must name an object served or referred to (noted for
 * later reads): 0, -ENOENT with "KeyError: 'id'" left, -ENOMEM. */
int mpi_srv_nested(struct mpi_srv *s, const mp_obj_t *v);

/* TCP_NODELAY on a connected socket (nothing on a Unix one). */
void mpi_sock_nodelay(int fd);
void mpi_srv_destroy(struct mpi_srv *s);

/* The server process's life (never returns): accept connections on l and
 * serve each in a thread, until the control fd says stop. */
__attribute__((noreturn)) void mpi_srv_run(struct mpi_region *r,
					   mp_listener_t *l, int ctl);

/* The shared object of a kind made in the region (init: a dict's or
 * list's items, a Semaphore's value): 0 or a code with a reason. */
int mpi_mgr_obj_new(struct mpi_region *r, int kind, const mp_obj_t *init,
		   void **out);
/* Give back an object's blocks (and those of what it holds) to the
 * region: the server does, for an object it made, when its last
 * reference goes (decref) and no call on it is under way. */
void mpi_mgr_obj_free(struct mpi_region *r, int kind, void *p);

#endif
