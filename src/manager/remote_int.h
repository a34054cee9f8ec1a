/*
 * manager/remote_int.h - the client side of a connected manager
 * (mp_manager_connect): a connection per calling thread to the server,
 * after CPython's accept_connection, each proxy operation one (ident,
 * method, args, kwds) request and its reply.  The handles it makes are
 * heap structs (struct mpi_rhandle below): a proxy's `remote` field is
 * set, so the public mp_dictproxy_* ... functions call the mpi_r*
 * functions here instead of working on the shared region; a sync
 * object's words send the sync.h functions to mpi_sync_remote
 * (remote_sync.c).  Internal: codes and reasons (mpi_why).
 */
#ifndef MPROC_MANAGER_REMOTE_INT_H
#define MPROC_MANAGER_REMOTE_INT_H

#include <stdbool.h>

#include "manager/mgr_int.h"
#include "mproc/manager.h"
#include "sync/sync_int.h"

struct mpi_rclient;

/* A remote object: its client and ident. */
struct mpi_rproxy {
	struct mpi_rclient *cl;
	char ident[64];
};

/* A connected manager's handle: the public struct first (what the caller
 * holds), then the remote object it stands for. */
struct mpi_rhandle {
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
	struct mpi_rproxy p;
};

int mpi_rclient_new(const mp_manager_opts_t *o, struct mpi_rclient **out);
/* decref the objects, close, free the handles and the client. */
void mpi_rclient_free(struct mpi_rclient *cl);
/* The dummy call of CPython's connect(): 0, MP_EAUTH, -ECONNREFUSED... */
int mpi_rclient_check(struct mpi_rclient *cl);
const char *mpi_rclient_address(const struct mpi_rclient *cl);
/* create(typeid, *args) on the server (args: a tuple of at most 7, or
 * NULL): a new heap handle of kind (struct mpi_rhandle) into *out, freed
 * with the client. */
int mpi_rclient_create(struct mpi_rclient *cl, int kind,
		       const mp_obj_t *args, void **out);

/* A handle of kind (any MP_MANAGER_* kind) for the server's object ident
 * that a nested proxy named: incref'd there first, as CPython's
 * RebuildProxy does, and freed (decref'd) with the client or by
 * mpi_rhandle_free.  0, -ENOTSUP (no such kind), the incref's code,
 * -ENOMEM. */
int mpi_rclient_adopt(struct mpi_rclient *cl, int kind, const char *ident,
		      void **out);
/* The remote object of h if h is one of cl's handles, else NULL. */
const struct mpi_rproxy *mpi_rclient_find(struct mpi_rclient *cl,
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
int mpi_rcall(struct mpi_rproxy *p, const char *method, mp_obj_t *args,
	      mp_obj_t *kwds, mp_obj_t **out);
/* The same for a call that may wait on the server up to wait seconds
 * (MP_FOREVER: no limit): its reply may take that on top of the call's
 * timeout. */
int mpi_rcall_wait(struct mpi_rproxy *p, const char *method, mp_obj_t *args,
		   double wait, mp_obj_t **out);
/* method() whose reply is '#PROXY' (dict.__iter__): the new object into
 * *out (the server holds one reference for it: mpi_rdecref it). */
int mpi_rcall_proxy(struct mpi_rproxy *p, const char *method,
		    struct mpi_rproxy *out);
/* decref(ident): the server may free the object. */
int mpi_rdecref(const struct mpi_rproxy *p);
/* A handle's _free (CPython's proxy finalizer): out of the client's
 * list, decref sent (its failure ignored), the heap handle released. */
void mpi_rhandle_free(struct mpi_rhandle *h);
/* A method on an index (and a value when not NULL): l[i], a[i] = v. */
int mpi_rindex(struct mpi_rproxy *p, const char *method, ptrdiff_t i,
	       const mp_obj_t *value, mp_obj_t **out);

/*
 * Pipelining (mp_manager_batch_begin/_end): while on, calls without a
 * result are sent without waiting for their replies (at most
 * MPI_BATCH_MAX outstanding); the next call with a result sends its
 * request, then reads the pending replies and its own.  Switching (on or
 * off) reads every pending reply: 0, or the first failure among them.
 */
#define MPI_BATCH_MAX 64
int mpi_rclient_batch(struct mpi_rclient *cl, bool on);

/* Public functions on a remote handle: the body after the NULL checks. */
#define MPI_REMOTE(call)                                                      \
	do {                                                                  \
		int rc_ = (call);                                             \
		return rc_ < 0 ? MPI_RAISE(rc_) : rc_;                        \
	} while (0)

/* The operations of the three proxies, remotely (remote.c). */
int mpi_rdict_op(struct mpi_rproxy *p, const char *method, const mp_obj_t *a,
		 const mp_obj_t *b, mp_obj_t **out);
int mpi_rlist_slice(struct mpi_rproxy *p, ptrdiff_t start, ptrdiff_t stop,
		    mp_obj_t **out);
/* Queue.put(value, block, timeout) and get(block, timeout) remotely:
 * queue.Full / queue.Empty are -EAGAIN (block false) or -ETIMEDOUT. */
int mpi_rqueue_put(struct mpi_rproxy *p, const mp_obj_t *value, bool block,
		   double timeout);
int mpi_rqueue_get(struct mpi_rproxy *p, bool block, double timeout,
		   mp_obj_t **out);

/* Iterating a remote dict: __iter__ gives a server iterator whose ident
 * is kept in the caller's mp_dictproxy_iter_t; next is its __next__ (and
 * __getitem__ for the value): 1 and the item, 0 at the end (the iterator
 * is then decref'd, as after a failure), or a code (-EBUSY: CPython's
 * RuntimeError "dictionary changed size during iteration"). */
#define MPI_RITER_IDENT 24
int mpi_rdict_iter(struct mpi_rproxy *d, char ident[MPI_RITER_IDENT]);
int mpi_rdict_next(struct mpi_rproxy *d, char ident[MPI_RITER_IDENT],
		   mp_obj_t **key, mp_obj_t **value);

/* A result's int (len, count, index, bool), or the call's code. */
int mpi_rint(struct mpi_rproxy *p, const char *method, const mp_obj_t *a);

/* A reply's bytes (remote_reply.c): 0 and the value (taken out) into *out
 * (if not NULL); a '#PROXY' reply (exposed, token) is a value too when
 * proxy is true.  Else the remote exception's code (KeyError -ENOENT,
 * IndexError -ERANGE, TypeError -EINVAL, ...; -EREMOTEIO for others and
 * tracebacks) with its text as the reason, or -EPROTO. */
int mpi_rreply_decode(const mp_bytes_t *b, bool proxy, mp_obj_t **out);

#endif
