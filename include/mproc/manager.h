/*
 * mproc/manager.h - the manager (Python's multiprocessing.managers):
 * shared objects reached locally through shared memory and remotely with
 * CPython's wire protocol (mp_manager_opts_t.address, mp_manager_connect).
 * Its values are mproc/obj.h's mp_obj_t, pickled as CPython pickles them.
 */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"
#include "mproc/obj.h"
#include "mproc/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the manager (multiprocessing.Manager / SyncManager) ---- */

/*
 * A manager is a server process named "SyncManager-N" (its comm, as ps
 * shows it) that owns a shared store: one memory region mapped shared
 * before the clients fork, so every child by fork reaches the shared
 * objects at shared-memory speed, without a round trip to the server (the
 * "local fast path"; docs/manager.md says why).  The server dies with its
 * creator, also when the creator is SIGKILLed (PR_SET_PDEATHSIG, checked
 * after it is set), and ignores SIGINT as CPython's does.
 *
 * Shared objects are made by the manager and live as long as it: the
 * handles (mp_dictproxy_t, mp_listproxy_t, and the sync objects below)
 * point into the shared region, are valid in the creator and in every
 * child forked after they were made, until mp_manager_free in that
 * process; they are never freed one by one (mp_dictproxy_free... says
 * why; a connected manager's objects are).  After mp_manager_shutdown
 * every operation on them fails with MP_ECLOSED (CPython's proxies fail
 * once the server is gone).  The handles are safe across processes and
 * threads: every operation takes the object's robust lock.
 *
 * Values go in borrowed (the proxy stores a pickled copy, as CPython sends
 * one) and come out as new mp_obj_t the caller frees with mp_obj_free.
 * Mutating a value read from a shared object changes only the copy, until
 * it is assigned back, exactly as in CPython.
 *
 * Failures a Python server would raise come back as codes, with CPython's
 * text after the function name in mp_last_error(), and never break the
 * object:
 *   KeyError      -ENOENT   "KeyError: 'x'" (the key's repr)
 *   IndexError    -ERANGE   "IndexError: list index out of range"
 *   ValueError    -ENOENT   "ValueError: list.remove(x): x not in list"
 *   TypeError     -EINVAL   "TypeError: unhashable type: 'list'",
 *                           "TypeError: '<' not supported between
 *                           instances of 'str' and 'int'"
 *   RuntimeError  -EBUSY    "RuntimeError: dictionary changed size during
 *                           iteration"
 *   ValueError    -EINVAL   (other than "not in list") "ValueError: slice
 *                           step cannot be zero", "ValueError: task_done()
 *                           called too many times"
 *   OverflowError -ERANGE   "OverflowError: signed integer is greater than
 *                           maximum" (an Array's typecode)
 *   queue.Empty/Full        -EAGAIN from the _nowait calls, -ETIMEDOUT
 *                           from the waits
 *   BrokenBarrierError      MP_EBARRIER
 * and -ENOMEM when the shared region is full (its size is
 * mp_manager_opts_t.capacity), MP_ECLOSED after shutdown, -EINVAL for a
 * NULL argument.
 *
 * Crash safety: a client SIGKILLed in the middle of an operation (holding
 * the object's lock) leaves the object consistent: the next client takes
 * the lock over (the sync module's owner-death rule) and the operation is
 * either wholly done or not done at all (a crash may leak its block).
 */
typedef struct mp_manager mp_manager_t;
typedef struct mp_dictproxy mp_dictproxy_t;
typedef struct mp_listproxy mp_listproxy_t;
typedef struct mp_namespaceproxy mp_namespaceproxy_t;
typedef struct mp_queueproxy mp_queueproxy_t;
typedef struct mp_valueproxy mp_valueproxy_t;
typedef struct mp_arrayproxy mp_arrayproxy_t;

/* Options of mp_manager_new; all-zero or NULL: CPython's defaults. */
typedef struct mp_manager_opts {
	/* Seconds shutdown waits at each step (wait, SIGTERM, SIGKILL);
	 * 0: CPython's shutdown_timeout, 1.0.  Unlike other option
	 * timeouts, 0 is not "no limit" and MP_FOREVER is -EINVAL: shutdown
	 * and free are always bounded. */
	double shutdown_timeout;
	/* Bytes of address space reserved for the shared objects (pages are
	 * used only when touched); 0: MP_MANAGER_DEFAULT_CAPACITY. */
	size_t capacity;
	/* Serve the objects remotely too, with CPython's protocol
	 * (BaseManager(address, authkey)): a connection-module address,
	 * "host:port" (port 0 picks one: read it back with
	 * mp_manager_address) or a Unix socket path; NULL: local only.
	 * mp_manager_connect: the server to connect to. */
	const char *address;
	/* The key both sides prove (CPython's authkey); NULL: none.  Give
	 * one to every TCP address. */
	const void *authkey;
	size_t authkey_len;
	/* mp_manager_connect: seconds each call to the server may take
	 * (connect, handshake, a reply); 0 or MP_FOREVER: no limit. */
	double timeout;
} mp_manager_opts_t;

/* The kinds of a manager's shared objects, for mp_manager_register
 * (mp_shared_kind_t in process.h is the other list: objects handed to a
 * child). */
typedef enum mp_manager_kind {
	MP_MANAGER_DICT = 1,   /* mp_dictproxy_t */
	MP_MANAGER_LIST,       /* mp_listproxy_t */
	MP_MANAGER_NAMESPACE,  /* mp_namespaceproxy_t */
	MP_MANAGER_LOCK,       /* mp_lock_t */
	MP_MANAGER_RLOCK,      /* mp_rlock_t */
	MP_MANAGER_CONDITION,  /* mp_condition_t */
	MP_MANAGER_EVENT,      /* mp_event_t */
	MP_MANAGER_SEMAPHORE,  /* mp_semaphore_t */
	MP_MANAGER_QUEUE,      /* mp_queueproxy_t (Queue) */
	MP_MANAGER_JOINABLEQUEUE, /* mp_queueproxy_t (JoinableQueue) */
	MP_MANAGER_VALUE,      /* mp_valueproxy_t */
	MP_MANAGER_ARRAY,      /* mp_arrayproxy_t */
	MP_MANAGER_BOUNDEDSEMAPHORE, /* mp_semaphore_t (bounded) */
	MP_MANAGER_BARRIER,    /* mp_barrier_t */
} mp_manager_kind_t;

#define MP_MANAGER_DEFAULT_CAPACITY ((size_t)256 << 20)

/*
 * mp_manager_new - start a manager (Manager() / SyncManager.start()): map
 * its shared region and start its server process, "SyncManager-N" with N
 * counting the managers of this process from 1.  NULL on failure:
 * -EINVAL (a negative or NaN shutdown_timeout, a capacity under 64 KiB or
 * above 1 TiB), -ENOMEM, or the -errno of mmap/memfd_create/fork.
 * Thread-safe.
 */
MP_API mp_manager_t *mp_manager_new(const mp_manager_opts_t *opts);

/*
 * mp_manager_connect - connect to a running manager's server at
 * opts->address with opts->authkey (BaseManager(address,
 * authkey).connect()): an mproc manager started with an address, or
 * CPython's (SyncManager, or a BaseManager with the types registered).
 * The handle's mp_manager_* constructors create objects of every type in
 * that server, and the same functions drive them: mp_dictproxy_*,
 * mp_listproxy_*, mp_namespaceproxy_*, mp_queueproxy_*, mp_valueproxy_*,
 * mp_arrayproxy_*, and for the sync objects the sync.h functions
 * (mp_lock_acquire...; see mp_manager_lock).  Each call is one request
 * and its reply (or pipelined: mp_manager_batch_begin).  Remote
 * exceptions come back as the local codes with CPython's text ("KeyError:
 * 'x'" -ENOENT; an exception without a local code or a traceback:
 * -EREMOTEIO); a server that is gone: MP_ECLOSED.  Not on a connected
 * manager (-ENOTSUP): mp_dictproxy_apply (see there), list slices with a
 * step, a Condition on another lock.  A handle lives until its _free
 * (mp_dictproxy_free, mp_lock_free...: the server is told, and frees the
 * object with its last reference) or mp_manager_free of this handle,
 * which lets go of all of them and closes the connections without
 * stopping the server.  NULL on
 * failure: -EINVAL (no address, a bad timeout), MP_EAUTH (wrong key),
 * -ECONNREFUSED, -ETIMEDOUT, -ENOMEM, -errno.  Thread-safe: each thread that calls
 * through a connected manager gets a connection of its own (as CPython's
 * proxies keep one per thread), opened at its first call and closed when
 * the thread exits, so a thread blocked in a remote wait holds up no
 * other thread.  A child forked from a process holding a connected manager
 * may use its handles: the child's first call opens a connection of its
 * own (as CPython's proxies reconnect after fork).
 */
MP_API mp_manager_t *mp_manager_connect(const mp_manager_opts_t *opts);

/*
 * mp_manager_address - the address the server listens on ("127.0.0.1:
 * 40123" with the real port, or the Unix path), owned by m, or NULL when
 * it serves locally only (or m is NULL: -EINVAL in mp_last_error_code()).
 * CPython's manager.address.
 */
MP_API const char *mp_manager_address(const mp_manager_t *m);

/*
 * mp_manager_batch_begin, mp_manager_batch_end - pipelining on a connected
 * manager.  Between them, the calls through m that give back no value
 * (mp_dictproxy_set/_del/_update/_clear, mp_listproxy_append/_set/...,
 * mp_namespaceproxy_set/_del, mp_queueproxy_put, and a _pop or _popitem
 * whose outputs are NULL) return 0 as soon as their request is sent; a
 * call that gives back a value sends its request and then reads every
 * pending reply and its own: one round trip for them all (the server
 * answers in order).  At most 64 are outstanding.  mp_manager_batch_end
 * reads what is pending and returns 0, or the first failure among the
 * batched calls (its code and message).  On a local manager both are
 * no-ops (0).  -EINVAL for NULL.  Batching is per thread: it covers the
 * calling thread's calls only (each thread has its own connection).
 */
MP_API int mp_manager_batch_begin(mp_manager_t *m);
MP_API int mp_manager_batch_end(mp_manager_t *m);

/*
 * mp_manager_register - serve the shared object obj (of kind, made by
 * this manager) to remote clients under typeid: a client's create(typeid)
 * (the method a CPython client gets from BaseManager.register(typeid,
 * proxytype=...)) returns a proxy to this very object, as CPython's
 * register(typeid, callable) with a callable returning one object.  A
 * typeid registered again names the new object; a registered name shadows
 * a built-in typeid ("dict").  -EINVAL (NULL, an empty typeid, an unknown
 * kind, obj not in m's region, m a connected manager), -ENOMEM,
 * MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_register(mp_manager_t *m, const char *typeid,
			       int kind, void *obj);

/*
 * mp_obj_proxy - a new value that stands for the shared object obj of
 * kind (an mp_manager_kind_t) made by m, local or connected: a nested
 * proxy.  Stored in a dict, list, Namespace, Value or Queue of the same
 * manager, it reads back as a value that mp_obj_as_proxy turns into a
 * handle again, and as a working proxy in a CPython client.  It is the
 * value CPython pickles for a proxy: an object RebuildProxy(proxytype
 * name, Token(typeid, address, id), 'pickle', kwds) (mp_obj_object_info
 * reads it), the address m's (None when m serves locally only).  On a
 * connected manager obj is any handle m gave.  NULL with -EINVAL (NULL,
 * an unknown kind, obj not in m's region or not m's handle), -ENOMEM,
 * MP_ECLOSED.  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_proxy(mp_manager_t *m, int kind, const void *obj);

/*
 * mp_obj_as_proxy - the shared object a nested proxy o stands for, as a
 * handle of m into *out (cast it to the kind's type: mp_dictproxy_t *,
 * mp_lock_t *, ...): o is a value made by mp_obj_proxy, or read back from
 * a shared object where a C or CPython client stored a proxy.  kind is
 * the kind expected, or 0 for any.  Returns the object's kind (> 0).  A
 * local manager gives the object in its region (valid as the handles
 * mp_manager_dict gives), and only for an object a value of this manager
 * was made to stand for: a forged or foreign id is -ENOENT "KeyError:
 * 'id'", never followed.  A connected manager makes a new handle of any
 * kind, taking a reference on the server as CPython's proxy does; it
 * lives until its _free (mp_dictproxy_free, mp_lock_free, ...) or
 * mp_manager_free of m.
 * -EINVAL "TypeError: ..." (o not a proxy, a proxy to another kind, an
 * unknown kind, NULL), MP_ECLOSED, the server's codes, -ENOMEM.
 * Thread-safe.
 */
MP_API int mp_obj_as_proxy(const mp_obj_t *o, mp_manager_t *m, int kind,
			   void **out);

/*
 * mp_manager_pid - the server process's pid, or -EINVAL for NULL.
 */
MP_API int mp_manager_pid(const mp_manager_t *m);

/*
 * mp_manager_shutdown - stop the server (SyncManager.shutdown()): ask it
 * to exit, wait up to shutdown_timeout, then SIGTERM and wait as long
 * again, then SIGKILL; reap it.  Afterwards every operation on the
 * manager's objects fails with MP_ECLOSED; their memory stays mapped until
 * mp_manager_free.  Bounded by about 2 x shutdown_timeout.  Idempotent.
 * In a process other than the creator (a forked child) it does nothing
 * (the server belongs to the creator).  0, or -EINVAL for NULL.
 * Not thread-safe on one manager.
 */
MP_API int mp_manager_shutdown(mp_manager_t *m);

/*
 * mp_manager_free - shut down (in the creator, as mp_manager_shutdown,
 * bounded the same way) and release the handle and this process's mapping
 * of the shared objects: every handle it made becomes invalid here.  NULL
 * is a no-op.
 */
MP_API void mp_manager_free(mp_manager_t *m);

/*
 * mp_manager_dict - a new shared dict (manager.dict(init)), filled with a
 * copy of the items of init when it is a dict (NULL: empty).  -EINVAL (m
 * or out NULL, init not a dict), -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_dict(mp_manager_t *m, const mp_obj_t *init,
			   mp_dictproxy_t **out);

/*
 * mp_manager_list - a new shared list (manager.list(init)), filled with a
 * copy of the items of init when it is a list or tuple (NULL: empty).
 * Errors as mp_manager_dict.  Thread-safe.
 */
MP_API int mp_manager_list(mp_manager_t *m, const mp_obj_t *init,
			   mp_listproxy_t **out);

/*
 * mp_manager_namespace - a new shared Namespace (manager.Namespace()),
 * without attributes.  Errors as mp_manager_dict.  Thread-safe.
 */
MP_API int mp_manager_namespace(mp_manager_t *m, mp_namespaceproxy_t **out);

/*
 * mp_manager_lock, mp_manager_rlock, mp_manager_condition,
 * mp_manager_event, mp_manager_semaphore - manager.Lock(), RLock(),
 * Condition(lock), Event(), Semaphore(value): the library's robust
 * cross-process objects (include/mproc/sync.h, used with its functions),
 * placed in the manager's region and living as long as it.  For clients
 * forked from the creator they give what CPython's proxies to the
 * server's threading objects give (acquire, release, wait, notify from
 * any client).  Releasing an unlocked manager Lock says threading.Lock's
 * "release unlocked lock" (CPython's RuntimeError) with the sync module's
 * code for a release too many, -EINVAL (a library mp_lock_new Lock keeps
 * multiprocessing's "semaphore or lock released too many times").  Their
 * owner-death rule covers a client that
 * dies holding them.  Not to be freed or destroyed by the caller.
 * On a connected manager (mp_manager_connect) they are made in the server
 * and the handle is the same type, driven by the same sync.h functions,
 * each call a request as CPython's proxies send it (its waits block in
 * the server; owner: the calling thread, which has a connection of its
 * own).  There: releasing an unlocked Lock is -EINVAL with the server's
 * "RuntimeError: release unlocked lock"; an RLock or Condition not held
 * -EPERM; mp_lock_locked, mp_rlock_count and mp_semaphore_get_value are
 * -ENOTSUP (no proxy exposes them); mp_lock_consistent is 0; a Condition
 * on opts->lock or rlock is -ENOTSUP; the handle is let go with the sync
 * _free (mp_lock_free...), which sends decref.
 * -EINVAL (NULL; a condition's opts with both lock and rlock), -ENOMEM,
 * MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_lock(mp_manager_t *m, mp_lock_t **out);
MP_API int mp_manager_rlock(mp_manager_t *m, mp_rlock_t **out);
MP_API int mp_manager_condition(mp_manager_t *m,
				const mp_condition_opts_t *opts,
				mp_condition_t **out);
MP_API int mp_manager_event(mp_manager_t *m, mp_event_t **out);
MP_API int mp_manager_semaphore(mp_manager_t *m, unsigned value,
				mp_semaphore_t **out);

/*
 * mp_manager_queue, mp_manager_joinablequeue - a new shared Queue or
 * JoinableQueue (manager.Queue(maxsize), manager.JoinableQueue(maxsize))
 * of values; maxsize 0 is unbounded (CPython's maxsize <= 0).  -EINVAL (m
 * or out NULL, maxsize over INT32_MAX), -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_queue(mp_manager_t *m, unsigned maxsize,
			    mp_queueproxy_t **out);
MP_API int mp_manager_joinablequeue(mp_manager_t *m, unsigned maxsize,
				    mp_queueproxy_t **out);

/*
 * mp_manager_value - a new shared Value holding a copy of init
 * (manager.Value(typecode, init): CPython's manager keeps the typecode
 * without checking it, so it is not asked for here; the Value holds any
 * value).  -EINVAL (NULL), -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_value(mp_manager_t *m, const mp_obj_t *init,
			    mp_valueproxy_t **out);

/*
 * mp_manager_array - a new shared Array (manager.Array(typecode,
 * sequence), an array.array in CPython's server): as many C numbers of
 * the typecode as init has items (a list or tuple; NULL: none), each
 * checked as array.array checks it (see mp_arrayproxy_set).  Typecodes b,
 * B, h, H, i, I, l, L, q, Q (integers of 1, 1, 2, 2, 4, 4, 8, 8, 8, 8
 * bytes), f, d (float, double); 'u' (deprecated in CPython) is not
 * provided.  The length is fixed.  -EINVAL "ValueError: bad typecode
 * (must be ...)", the TypeError/OverflowError of an item (nothing made),
 * init not a list or tuple, NULL; -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_array(mp_manager_t *m, char typecode,
			    const mp_obj_t *init, mp_arrayproxy_t **out);

/*
 * mp_manager_bounded_semaphore - manager.BoundedSemaphore(value): an
 * mp_semaphore_t (used with the sync.h functions) placed in the region,
 * bounded by value; releasing above it is -EINVAL with threading's text
 * "Semaphore released too many times" (CPython's ValueError).  -EINVAL
 * also for value 0 (it could never be released; threading allows it) or
 * over INT32_MAX, NULL; -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
					mp_semaphore_t **out);

/*
 * mp_manager_barrier - manager.Barrier(parties, timeout=opts->timeout): an
 * mp_barrier_t (used with mp_barrier_wait/abort/reset/parties/n_waiting/
 * broken) placed in the region.  A broken barrier is MP_EBARRIER
 * (BrokenBarrierError), as the sync module's.  opts may be NULL; an action
 * is refused (-EINVAL: CPython runs it in the server, which C callers
 * cannot reach).  -EINVAL also for parties 0 or over INT32_MAX, a bad
 * opts->timeout, NULL; -ENOMEM, MP_ECLOSED.  Thread-safe.
 */
MP_API int mp_manager_barrier(mp_manager_t *m, unsigned parties,
			      const mp_barrier_opts_t *opts,
			      mp_barrier_t **out);

/*
 * mp_dictproxy_free, mp_listproxy_free, mp_namespaceproxy_free,
 * mp_queueproxy_free, mp_valueproxy_free, mp_arrayproxy_free - let go of
 * a proxy, as CPython's proxy finalizer does.  On a connected manager
 * (mp_manager_connect) the handle is released and the server told
 * (decref): the server frees the object when no proxy of any client
 * refers to it any more, and the handle must not be used again.  A sync
 * object of a connected manager is let go the same way by its sync.h
 * _free (mp_lock_free, mp_event_free, ...).  On a local manager they do
 * nothing: its objects are shared with every child forked after they
 * were made, through the same pointer and without a count of who holds
 * it, so they live as long as the manager (mp_manager_free).  NULL is a
 * no-op.  Not thread-safe on one handle; any handle freed by
 * mp_manager_free of its manager must not be freed again.
 */
MP_API void mp_dictproxy_free(mp_dictproxy_t *d);
MP_API void mp_listproxy_free(mp_listproxy_t *l);
MP_API void mp_namespaceproxy_free(mp_namespaceproxy_t *ns);
MP_API void mp_queueproxy_free(mp_queueproxy_t *q);
MP_API void mp_valueproxy_free(mp_valueproxy_t *v);
MP_API void mp_arrayproxy_free(mp_arrayproxy_t *a);

/* ---- DictProxy ---- */

/*
 * mp_dictproxy_get - d[key] as a new value *out.  -ENOENT "KeyError: key"
 * when absent, -EINVAL (unhashable key, NULL), MP_ECLOSED.
 */
MP_API int mp_dictproxy_get(mp_dictproxy_t *d, const mp_obj_t *key,
			    mp_obj_t **out);

/*
 * mp_dictproxy_set - d[key] = value (copies of both).  A key equal to one
 * present keeps the first key (d[1.0] = x on {1: y} keeps 1).  -EINVAL,
 * -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_dictproxy_set(mp_dictproxy_t *d, const mp_obj_t *key,
			    const mp_obj_t *value);

/* mp_dictproxy_del - del d[key].  -ENOENT (KeyError), -EINVAL, ECLOSED. */
MP_API int mp_dictproxy_del(mp_dictproxy_t *d, const mp_obj_t *key);

/* mp_dictproxy_contains - key in d: 1 or 0; -EINVAL, MP_ECLOSED. */
MP_API int mp_dictproxy_contains(mp_dictproxy_t *d, const mp_obj_t *key);

/* mp_dictproxy_len - len(d); -EINVAL, MP_ECLOSED. */
MP_API int mp_dictproxy_len(mp_dictproxy_t *d);

/*
 * mp_dictproxy_keys, _values, _items, _copy - a new list of the keys, of
 * the values, of (key, value) tuples, or a new plain dict (d.copy()), in
 * insertion order, taken in one step under the lock.  -EINVAL, -ENOMEM,
 * MP_ECLOSED.
 */
MP_API int mp_dictproxy_keys(mp_dictproxy_t *d, mp_obj_t **out);
MP_API int mp_dictproxy_values(mp_dictproxy_t *d, mp_obj_t **out);
MP_API int mp_dictproxy_items(mp_dictproxy_t *d, mp_obj_t **out);
MP_API int mp_dictproxy_copy(mp_dictproxy_t *d, mp_obj_t **out);

/*
 * mp_dictproxy_update - d.update(other): set each item of the plain dict
 * other, in its order, all under one lock.  -EINVAL (other not a dict),
 * -ENOMEM (the items set before it stay), MP_ECLOSED.
 */
MP_API int mp_dictproxy_update(mp_dictproxy_t *d, const mp_obj_t *other);

/*
 * mp_dictproxy_setdefault - d.setdefault(key, dflt): *out gets d[key],
 * after setting it to dflt (None when dflt is NULL) if absent.  out may be
 * NULL.  -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_dictproxy_setdefault(mp_dictproxy_t *d, const mp_obj_t *key,
				   const mp_obj_t *dflt, mp_obj_t **out);

/*
 * mp_dictproxy_pop - d.pop(key): remove key, its value into *out (out
 * may be NULL).  -ENOENT (KeyError), -EINVAL, MP_ECLOSED.
 */
MP_API int mp_dictproxy_pop(mp_dictproxy_t *d, const mp_obj_t *key,
			    mp_obj_t **out);

/*
 * mp_dictproxy_popitem - d.popitem(): remove the last inserted item into
 * *key and *value (either may be NULL).  -ENOENT "KeyError: 'popitem():
 * dictionary is empty'", -EINVAL, MP_ECLOSED.
 */
MP_API int mp_dictproxy_popitem(mp_dictproxy_t *d, mp_obj_t **key,
				mp_obj_t **value);

/* mp_dictproxy_clear - d.clear(); -EINVAL, MP_ECLOSED. */
MP_API int mp_dictproxy_clear(mp_dictproxy_t *d);

/*
 * The update helper: fn sees key's current value (NULL when absent) and
 * gives the new one in *out (taken over by the dict; NULL: leave the
 * item as it is) and returns 0, or a negative code that aborts without a
 * change.  It runs with the dict's lock held: it must not call the dict.
 */
typedef int (*mp_dictproxy_apply_fn)(const mp_obj_t *value, void *arg,
				     mp_obj_t **out);

/*
 * mp_dictproxy_apply - read, update and write d[key] under the dict's lock
 * in one call: the race-free form of d[key] += 1.  0; fn's negative code
 * (the dict unchanged; message "callback failed"); -EINVAL, -ENOMEM,
 * MP_ECLOSED.  A client killed inside fn leaves d[key] as it was.
 * -ENOTSUP on a connected manager's dict: fn is C code the server cannot
 * run, and a get, fn and set from here would not be atomic against other
 * clients (a CPython client takes no lock of ours); take a manager Lock
 * around get and set there.
 */
MP_API int mp_dictproxy_apply(mp_dictproxy_t *d, const mp_obj_t *key,
			      mp_dictproxy_apply_fn fn, void *arg);

/* An iteration over a shared dict (for key in d); caller's storage. */
typedef struct mp_dictproxy_iter {
	size_t _pos;
	uint64_t _len;
	uint64_t _version;
	char _ident[24]; /* a connected manager's: the server's iterator */
} mp_dictproxy_iter_t;

/*
 * mp_dictproxy_iter - start iterating d into *it.  0; -EINVAL, ECLOSED.
 * On a connected manager it is CPython's iter(d): an Iterator in the
 * server, whose __next__ each mp_dictproxy_next calls (with a
 * __getitem__ when value is wanted: a key deleted in between is
 * -ENOENT); the server forgets it when the iteration ends or fails, so
 * iterate to the end (one left half-way stays in the server until the
 * server ends).
 */
MP_API int mp_dictproxy_iter(mp_dictproxy_t *d, mp_dictproxy_iter_t *it);

/*
 * mp_dictproxy_next - the next item in insertion order as new values
 * (key or value may be NULL): 1, or 0 at the end.  -EBUSY when d changed
 * size since mp_dictproxy_iter ("RuntimeError: dictionary changed size
 * during iteration") or had keys replaced ("... dictionary keys changed
 * during iteration"), as CPython; -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_dictproxy_next(mp_dictproxy_t *d, mp_dictproxy_iter_t *it,
			     mp_obj_t **key, mp_obj_t **value);

/* ---- ListProxy ---- */

/*
 * mp_listproxy_get - l[i] (negative i counts from the end) as a new value.
 * -ERANGE "IndexError: list index out of range", -EINVAL, MP_ECLOSED.
 */
MP_API int mp_listproxy_get(mp_listproxy_t *l, ptrdiff_t i, mp_obj_t **out);

/*
 * mp_listproxy_set - l[i] = value.  -ERANGE "IndexError: list assignment
 * index out of range", -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_listproxy_set(mp_listproxy_t *l, ptrdiff_t i,
			    const mp_obj_t *value);

/*
 * mp_listproxy_slice - l[start:stop] as a new list, with Python's
 * clamping and negative indexes (PTRDIFF_MAX as stop: to the end).
 * -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_listproxy_slice(mp_listproxy_t *l, ptrdiff_t start,
			      ptrdiff_t stop, mp_obj_t **out);

/*
 * mp_listproxy_get_slice - l[start:stop:step] as a new list;
 * mp_listproxy_set_slice - l[start:stop:step] = items (a list or tuple,
 * copied); mp_listproxy_del_slice - del l[start:stop:step].  Bounds follow
 * Python (negative from the end, clamped); PTRDIFF_MIN and PTRDIFF_MAX
 * stand for an omitted bound (None), as in CPython: l[::-1] is
 * (PTRDIFF_MAX, PTRDIFF_MIN, -1), l[2:] is (2, PTRDIFF_MAX, 1).  With
 * step 1 set_slice replaces the slice by any number of items; with another
 * step their number must be the slice's: -EINVAL "ValueError: attempt to
 * assign sequence of size 3 to extended slice of size 2".  -EINVAL
 * "ValueError: slice step cannot be zero", items not a list or tuple,
 * NULL; -ENOMEM, MP_ECLOSED.  A failure changes nothing; a change is
 * published in one store (a client killed leaves old or new).
 */
MP_API int mp_listproxy_get_slice(mp_listproxy_t *l, ptrdiff_t start,
				  ptrdiff_t stop, ptrdiff_t step,
				  mp_obj_t **out);
MP_API int mp_listproxy_set_slice(mp_listproxy_t *l, ptrdiff_t start,
				  ptrdiff_t stop, ptrdiff_t step,
				  const mp_obj_t *items);
MP_API int mp_listproxy_del_slice(mp_listproxy_t *l, ptrdiff_t start,
				  ptrdiff_t stop, ptrdiff_t step);

/* mp_listproxy_reverse - l.reverse(); -EINVAL, -ENOMEM, MP_ECLOSED. */
MP_API int mp_listproxy_reverse(mp_listproxy_t *l);

/* mp_listproxy_append - l.append(value).  -EINVAL, -ENOMEM, ECLOSED. */
MP_API int mp_listproxy_append(mp_listproxy_t *l, const mp_obj_t *value);

/*
 * mp_listproxy_extend - l.extend(items) for a list or tuple, under one
 * lock, all or nothing.  -EINVAL (not a list or tuple), -ENOMEM, ECLOSED.
 */
MP_API int mp_listproxy_extend(mp_listproxy_t *l, const mp_obj_t *items);

/*
 * mp_listproxy_insert - l.insert(i, value), i clamped as Python does.
 * -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_listproxy_insert(mp_listproxy_t *l, ptrdiff_t i,
			       const mp_obj_t *value);

/*
 * mp_listproxy_pop - l.pop(i) (-1: the last) into *out (may be NULL).
 * -ERANGE "IndexError: pop from empty list" / "pop index out of range",
 * -EINVAL, MP_ECLOSED.
 */
MP_API int mp_listproxy_pop(mp_listproxy_t *l, ptrdiff_t i, mp_obj_t **out);

/*
 * mp_listproxy_remove - l.remove(value): the first item == value.
 * -ENOENT "ValueError: list.remove(x): x not in list", -EINVAL, ECLOSED.
 */
MP_API int mp_listproxy_remove(mp_listproxy_t *l, const mp_obj_t *value);

/*
 * mp_listproxy_index - l.index(value): the position of the first item ==
 * value.  -ENOENT "ValueError: 5 is not in list", -EINVAL, MP_ECLOSED.
 */
MP_API int mp_listproxy_index(mp_listproxy_t *l, const mp_obj_t *value);

/* mp_listproxy_count - l.count(value); -EINVAL, MP_ECLOSED. */
MP_API int mp_listproxy_count(mp_listproxy_t *l, const mp_obj_t *value);

/* mp_listproxy_sort flag: sort in descending order (reverse=True). */
#define MP_SORT_REVERSE 1u

/*
 * mp_listproxy_sort - l.sort(reverse=flags & MP_SORT_REVERSE): stable, by
 * Python's < over None-free comparable values (numbers, str, bytes, and
 * tuples/lists of those).  -EINVAL "TypeError: '<' not supported between
 * instances of 'str' and 'int'" (l unchanged), -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_listproxy_sort(mp_listproxy_t *l, unsigned flags);

/* mp_listproxy_len - len(l); -EINVAL, MP_ECLOSED. */
MP_API int mp_listproxy_len(mp_listproxy_t *l);

/* mp_listproxy_clear - l.clear(); -EINVAL, MP_ECLOSED. */
MP_API int mp_listproxy_clear(mp_listproxy_t *l);

/* ---- NamespaceProxy ---- */

/*
 * mp_namespaceproxy_get - ns.name as a new value.  -ENOENT
 * "AttributeError: 'Namespace' object has no attribute 'name'", -EINVAL
 * (NULL, an empty name, or a name starting with '_': in CPython those are
 * the proxy's own attributes), MP_ECLOSED.
 */
MP_API int mp_namespaceproxy_get(mp_namespaceproxy_t *ns, const char *name,
				 mp_obj_t **out);

/*
 * mp_namespaceproxy_set - ns.name = value (a copy).  -EINVAL as for get,
 * -EILSEQ (name not UTF-8), -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_namespaceproxy_set(mp_namespaceproxy_t *ns, const char *name,
				 const mp_obj_t *value);

/* mp_namespaceproxy_del - del ns.name.  Errors as get. */
MP_API int mp_namespaceproxy_del(mp_namespaceproxy_t *ns, const char *name);

/*
 * mp_namespaceproxy_repr - repr(ns), "Namespace(a=1, b='x')" in the order
 * the attributes were first set, as owned text (mp_bytes_destroy).
 * -EINVAL, -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_namespaceproxy_repr(mp_namespaceproxy_t *ns, mp_bytes_t *out);

/* ---- Queue and JoinableQueue ---- */

/*
 * mp_queueproxy_put - q.put(value, timeout=timeout): append a copy of
 * value, waiting at most timeout seconds for room in a bounded queue
 * (MP_FOREVER: block; 0: do not wait).  0; -ETIMEDOUT when it is still
 * full after the timeout (0 included; CPython's queue.Full), -EINVAL (NULL,
 * a bad timeout), -ENOMEM, MP_ECLOSED (also for a caller blocked when the
 * manager shuts down, within 0.1 s).
 * mp_queueproxy_put_nowait - q.put_nowait(value): -EAGAIN "queue.Full"
 * when full, else as put.
 * Values are stored as pickles; the queue is FIFO across all processes.
 */
MP_API int mp_queueproxy_put(mp_queueproxy_t *q, const mp_obj_t *value,
			     double timeout);
MP_API int mp_queueproxy_put_nowait(mp_queueproxy_t *q,
				    const mp_obj_t *value);

/*
 * mp_queueproxy_get - q.get(timeout=timeout): take the first value into
 * *out (a new value), waiting at most timeout seconds.  0; -ETIMEDOUT when
 * still empty after the timeout (0 included; queue.Empty), -EINVAL,
 * -ENOMEM (the value stays queued), MP_ECLOSED.
 * mp_queueproxy_get_nowait - q.get_nowait(): -EAGAIN "queue.Empty" when
 * empty, else as get.
 */
MP_API int mp_queueproxy_get(mp_queueproxy_t *q, double timeout,
			     mp_obj_t **out);
MP_API int mp_queueproxy_get_nowait(mp_queueproxy_t *q, mp_obj_t **out);

/*
 * mp_queueproxy_qsize - q.qsize(): the exact number of values queued (taken
 * under the queue's lock).  mp_queueproxy_empty, mp_queueproxy_full -
 * q.empty(), q.full() (never full when unbounded): 1 or 0.  -EINVAL,
 * MP_ECLOSED.
 */
MP_API int mp_queueproxy_qsize(mp_queueproxy_t *q);
MP_API int mp_queueproxy_empty(mp_queueproxy_t *q);
MP_API int mp_queueproxy_full(mp_queueproxy_t *q);

/*
 * mp_queueproxy_task_done - q.task_done() of a JoinableQueue: one task
 * taken from it is finished.  -EINVAL "ValueError: task_done() called too
 * many times" when none is unfinished, -EINVAL on a plain Queue (which has
 * no task_done), MP_ECLOSED.
 * mp_queueproxy_join - q.join(), with a timeout CPython's lacks: wait
 * until every value put was marked done.  0; -ETIMEDOUT when some are
 * still unfinished after the timeout (0 included); -EINVAL (a plain Queue,
 * a bad timeout), MP_ECLOSED.
 */
MP_API int mp_queueproxy_task_done(mp_queueproxy_t *q);
MP_API int mp_queueproxy_join(mp_queueproxy_t *q, double timeout);

/* ---- ValueProxy and ArrayProxy ---- */

/*
 * mp_valueproxy_get - v.value (v.get()) as a new value; mp_valueproxy_set
 * - v.value = value (v.set(value)), a copy.  -EINVAL (NULL), -ENOMEM,
 * MP_ECLOSED.
 */
MP_API int mp_valueproxy_get(mp_valueproxy_t *v, mp_obj_t **out);
MP_API int mp_valueproxy_set(mp_valueproxy_t *v, const mp_obj_t *value);

/* mp_arrayproxy_len - len(a); -EINVAL, MP_ECLOSED. */
MP_API int mp_arrayproxy_len(mp_arrayproxy_t *a);

/*
 * mp_arrayproxy_get - a[i] (negative i from the end) as a new int or
 * float.  -ERANGE "IndexError: array index out of range", -EINVAL,
 * -ENOMEM, MP_ECLOSED.
 */
MP_API int mp_arrayproxy_get(mp_arrayproxy_t *a, ptrdiff_t i, mp_obj_t **out);

/*
 * mp_arrayproxy_set - a[i] = value, converted as array.array does: an
 * integer typecode takes an int or bool ("TypeError: 'float' object cannot
 * be interpreted as an integer", -EINVAL) within its range (-ERANGE with
 * CPython's OverflowError text: "OverflowError: signed integer is greater
 * than maximum", ...); f and d take a bool, int or float ("TypeError: must
 * be real number, not str"; f rounds to single precision, out of range:
 * inf).  -ERANGE "IndexError: array assignment index out of range",
 * -EINVAL (NULL), MP_ECLOSED.  Each item is one atomic store: no lock.
 */
MP_API int mp_arrayproxy_set(mp_arrayproxy_t *a, ptrdiff_t i,
			     const mp_obj_t *value);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MANAGER_H */
