/*
 * manager/remote_int.h - the client side of a connected manager
 * (mp_manager_connect): a connection per calling thread to the server,
 * after CPython's accept_connection, each proxy operation one (ident,
 * method, args, kwds) request and its reply.  The handles it makes are
 * heap structs (struct mp__rhandle below): a proxy's `remote` field is
 * set, so the public mp_dictproxy_* ... functions call the mp__r*
 * functions here instead of working on the shared region; a sync
 * object's words send the sync.h functions to mp__sync_remote
 * (remote_sync.c).  Internal: codes and reasons (mp__why).
 */
#ifndef MPROC_MANAGER_REMOTE_INT_H
#define MPROC_MANAGER_REMOTE_INT_H

#include <stdbool.h>

#include "manager/mgr_int.h"
#include "mproc/manager.h"
#include "sync/sync_int.h"

struct mp__rclient;

/* A remote object: its client and ident. */
struct mp__rproxy {
	struct mp__rclient *cl;
	char ident[64];
};

/* A connected manager's handle: the public struct first (what the caller
 * holds), then the remote object it stands for. */
struct mp__rhandle {
	union {
		struct mp_dictproxy d;
		struct mp_listproxy l;
		struct mp_namespaceproxy n;
		struct mp_queueproxy q;
		struct mp_valueproxy v;
		/* an Array's header (its data[] stays empty) */
		unsigned char a[sizeof(struct mp_arrayproxy)];
		mp_lock_t lk;
		mp_rlock_t rl;
		mp_semaphore_t s;
		mp_event_t e;
		mp_condition_t c;
		mp_barrier_t b;
	} u;
	int kind; /* mp_manager_kind_t */
	struct mp__rproxy p;
};

int mp__rclient_new(const mp_manager_opts_t *o, struct mp__rclient **out);
/* decref the objects, close, free the handles and the client. */
void mp__rclient_free(struct mp__rclient *cl);
/* The dummy call of CPython's connect(): 0, MP_EAUTH, -ECONNREFUSED... */
int mp__rclient_check(struct mp__rclient *cl);
const char *mp__rclient_address(const struct mp__rclient *cl);
/* create(typeid, *args) on the server (args: a tuple of at most 7, or
 * NULL): a new heap handle of kind (struct mp__rhandle) into *out, freed
 * with the client. */
int mp__rclient_create(struct mp__rclient *cl, int kind,
		       const mp_obj_t *args, void **out);

/* A handle of kind (any MP_MANAGER_* kind) for the server's object ident
 * that a nested proxy named: incref'd there first, as CPython's
 * RebuildProxy does, and freed (decref'd) with the client or by
 * mp__rhandle_free.  0, -ENOTSUP (no such kind), the incref's code,
 * -ENOMEM. */
int mp__rclient_adopt(struct mp__rclient *cl, int kind, const char *ident,
		      void **out);
/* The remote object of h if h is one of cl's handles, else NULL. */
const struct mp__rproxy *mp__rclient_find(struct mp__rclient *cl,
					  const void *h);

/*
 * Call method on the remote object with args (a tuple, taken) and kwds (a
 * dict, taken; NULL: {}): 0 and the result in *out (may be NULL: dropped);
 * the remote exception as a code with CPython's text ("KeyError: 'x'"):
 * KeyError, ValueError, AttributeError -ENOENT; IndexError -ERANGE;
 * TypeError -EINVAL; RuntimeError -EBUSY; NotImplementedError -ENOTSUP;
 * another exception or a traceback -EREMOTEIO; MP_ECLOSED when the
 * server closed the connection or is gone, -ETIMEDOUT, -ENOMEM.
 */
int mp__rcall(struct mp__rproxy *p, const char *method, mp_obj_t *args,
	      mp_obj_t *kwds, mp_obj_t **out);
/* The same for a call that may wait on the server up to wait seconds
 * (MP_FOREVER: no limit): its reply may take that on top of the call's
 * timeout. */
int mp__rcall_wait(struct mp__rproxy *p, const char *method, mp_obj_t *args,
		   double wait, mp_obj_t **out);
/* method() whose reply is '#PROXY' (dict.__iter__): the new object into
 * *out (the server holds one reference for it: mp__rdecref it). */
int mp__rcall_proxy(struct mp__rproxy *p, const char *method,
		    struct mp__rproxy *out);
/* decref(ident): the server may free the object. */
int mp__rdecref(const struct mp__rproxy *p);
/* A handle's _free (CPython's proxy finalizer): out of the client's
 * list, decref sent (its failure ignored), the heap handle released. */
void mp__rhandle_free(struct mp__rhandle *h);
/* A method on an index (and a value when not NULL): l[i], a[i] = v. */
int mp__rindex(struct mp__rproxy *p, const char *method, ptrdiff_t i,
	       const mp_obj_t *value, mp_obj_t **out);

/*
 * Pipelining (mp_manager_batch_begin/_end): while on, calls without a
 * result are sent without waiting for their replies (at most
 * MP__BATCH_MAX outstanding); the next call with a result sends its
 * request, then reads the pending replies and its own.  Switching (on or
 * off) reads every pending reply: 0, or the first failure among them.
 */
#define MP__BATCH_MAX 64
int mp__rclient_batch(struct mp__rclient *cl, bool on);

/* Public functions on a remote handle: the body after the NULL checks. */
#define MP__REMOTE(call)                                                      \
	do {                                                                  \
		int rc_ = (call);                                             \
		return rc_ < 0 ? MP__RAISE(rc_) : rc_;                        \
	} while (0)

/* The operations of the three proxies, remotely (remote.c). */
int mp__rdict_op(struct mp__rproxy *p, const char *method, const mp_obj_t *a,
		 const mp_obj_t *b, mp_obj_t **out);
int mp__rlist_slice(struct mp__rproxy *p, ptrdiff_t start, ptrdiff_t stop,
		    mp_obj_t **out);
/* Queue.put(value, block, timeout) and get(block, timeout) remotely:
 * queue.Full / queue.Empty are -EAGAIN (block false) or -ETIMEDOUT. */
int mp__rqueue_put(struct mp__rproxy *p, const mp_obj_t *value, bool block,
		   double timeout);
int mp__rqueue_get(struct mp__rproxy *p, bool block, double timeout,
		   mp_obj_t **out);

/* Iterating a remote dict: __iter__ gives a server iterator whose ident
 * is kept in the caller's mp_dictproxy_iter_t; next is its __next__ (and
 * __getitem__ for the value): 1 and the item, 0 at the end (the iterator
 * is then decref'd, as after a failure), or a code (-EBUSY: CPython's
 * RuntimeError "dictionary changed size during iteration"). */
#define MP__RITER_IDENT 24
int mp__rdict_iter(struct mp__rproxy *d, char ident[MP__RITER_IDENT]);
int mp__rdict_next(struct mp__rproxy *d, char ident[MP__RITER_IDENT],
		   mp_obj_t **key, mp_obj_t **value);

/* A result's int (len, count, index, bool), or the call's code. */
int mp__rint(struct mp__rproxy *p, const char *method, const mp_obj_t *a);

/* A reply's bytes (remote_reply.c): 0 and the value (taken out) into *out
 * (if not NULL); a '#PROXY' reply (exposed, token) is a value too when
 * proxy is true.  Else the remote exception's code (KeyError -ENOENT,
 * IndexError -ERANGE, TypeError -EINVAL, ...; -EREMOTEIO for others and
 * tracebacks) with its text as the reason, or -EPROTO. */
int mp__rreply_decode(const mp_bytes_t *b, bool proxy, mp_obj_t **out);

#endif
