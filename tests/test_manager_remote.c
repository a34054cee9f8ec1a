/* test_manager_remote.c - the manager's remote side: CPython's protocol
 * both ways with the python3 on the machine (a CPython client on an mproc
 * server, an mproc client on CPython's SyncManager and on an mproc
 * server), authentication, errors, and hostile or dying peers.
 * A program of its own beside test_manager.c (2200 lines already): it
 * needs python3 throughout and runs servers and subprocesses. */
#include "mptest.h"
#include "mptest_py.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager/mgr_int.h"
#include "manager/remote_int.h"
#include "mproc/connection.h"
#include "mproc/manager.h"
#include "mproc/subprocess.h"
#include "mproc/sync.h"

#define KEY "secret"



/* Run a python3 script with the address as argv[1]; its stdout must be
 * want exactly (and its exit 0). */
static void python_expect(const char *script, const char *address,
			  const char *want)
{
	const char *argv[] = {"python3", "-c", script, address, NULL};
	mp_completed_t r;
	int rc = mp_run(argv, &(mp_run_opts_t){.capture_output = true,
					       .timeout = mpt_timeout(60)},
			&r);

	if (rc != 0 || r.returncode != 0 || strcmp(r.out.data, want) != 0)
		print_error("python3: rc %d (%s), exit %d\nstdout:\n%s\n"
			    "want:\n%s\nstderr:\n%s\n", rc, mp_last_error(),
			    r.returncode, rc == 0 ? r.out.data : "", want,
			    rc == 0 ? r.err.data : "");
	assert_int_equal(rc, 0);
	assert_int_equal(r.returncode, 0);
	assert_string_equal(r.out.data, want);
	mp_completed_destroy(&r);
}

static mp_manager_t *served(const char *address)
{
	mp_manager_opts_t o = {.address = address, .authkey = KEY,
			       .authkey_len = strlen(KEY)};
	mp_manager_t *m = mp_manager_new(&o);

	if (m == NULL)
		print_error("mp_manager_new: %s\n", mp_last_error());
	assert_non_null(m);
	return m;
}

static mp_obj_t *str(const char *s)
{
	return mp_obj_str(s);
}

static void assert_repr(const mp_obj_t *o, const char *want)
{
	mp_bytes_t b = {0};

	mpt_assert_ok(mp_obj_repr(o, &b));
	assert_string_equal(b.data, want);
	mp_bytes_destroy(&b);
}

/* v's repr, in a static buffer. */
static const char *repr_of_str(const mp_obj_t *v)
{
	static char buf[512];
	mp_bytes_t b = {0};

	mpt_assert_ok(mp_obj_repr(v, &b));
	snprintf(buf, sizeof(buf), "%s", b.data);
	mp_bytes_destroy(&b);
	return buf;
}

static void assert_err(int rc, int want, const char *text)
{
	if (rc != want || strstr(mp_last_error(), text) == NULL)
		print_error("rc %d (want %d), message '%s' (want '%s')\n", rc,
			    want, mp_last_error(), text);
	assert_int_equal(rc, want);
	assert_non_null(strstr(mp_last_error(), text));
}

/* ---- a CPython client on an mproc server ---- */

static const char cpython_client[] =
	"import sys\n"
	"from multiprocessing.managers import (SyncManager, DictProxy,\n"
	"    ListProxy, NamespaceProxy, AcquirerProxy, RemoteError)\n"
	"class M(SyncManager): pass\n"
	"M.register('get_dict', proxytype=DictProxy)\n"
	"M.register('get_list', proxytype=ListProxy)\n"
	"M.register('get_ns', proxytype=NamespaceProxy)\n"
	"M.register('get_lock', proxytype=AcquirerProxy)\n"
	"M.register('get_queue')\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = M(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"d = m.get_dict()\n"
	"d['balance'] += 5\n"
	"d['py'] = [1, 'two', None]\n"
	"print(d['balance'], len(d), sorted(d.keys()), 'py' in d,"
	" d.get('nope', 7))\n"
	"try:\n    d['missing']\nexcept KeyError as e:\n    print('KeyError', e)\n"
	"try:\n    d._callmethod('nosuch')\n"
	"except RemoteError as e:\n"
	"    print('not in exposed' in str(e), \"'nosuch'\" in str(e))\n"
	"print(str(d) == str(d.copy()), [k for k in d], list(iter(d)))\n"
	"l = m.get_list()\n"
	"l.append(3); l.extend([4, 5]); l.insert(0, 'x')\n"
	"print(l[0], l[-1], len(l), l.pop(), l.index(4), l.count(3))\n"
	"try:\n    l[99]\nexcept IndexError as e:\n    print('IndexError', e)\n"
	"ns = m.get_ns()\n"
	"ns.x = 42\n"
	"print(ns.x)\n"
	"try:\n    ns.y\nexcept AttributeError as e:\n"
	"    print('AttributeError', e)\n"
	"lk = m.get_lock()\n"
	"print(lk.acquire(), lk.acquire(False), lk.acquire(True, 0.01))\n"
	"lk.release()\n"
	"try:\n    lk.release()\nexcept RuntimeError as e:\n"
	"    print('RuntimeError', e)\n"
	"with lk:\n    pass\n"
	"nd = m.dict({'a': 1}); nd['b'] = 2; print(nd.copy())\n"
	"nl = m.list([1, 2]); nl.sort(reverse=True); print(nl[0], len(nl))\n"
	"e = m.Event(); print(e.is_set(), e.wait(0.01)); e.set();"
	" print(e.wait())\n"
	"c = m.Condition()\n"
	"with c:\n    print(c.wait(0.01))\n    c.notify_all()\n"
	"s = m.Semaphore(2); print(s.acquire(), s.acquire(), s.acquire(False))\n"
	"n = m.Namespace(); n.k = 'v'; print(n.k)\n"
	"import queue\n"
	"q = m.Queue(); q.put({'k': 1}); q.put_nowait(2)\n"
	"print(q.qsize(), q.get(), q.get(timeout=1), q.empty())\n"
	"try:\n    q.get_nowait()\nexcept queue.Empty:\n    print('Empty')\n"
	"bq = m.JoinableQueue(1); bq.put(1)\n"
	"try:\n    bq.put(2, timeout=0.01)\nexcept queue.Full:\n"
	"    print('Full')\n"
	"bq.get(); bq.task_done(); bq.join()\n"
	"v = m.Value('i', 7); v.value += 1; print(v.value)\n"
	"a = m.Array('d', [1.0, 2.0]); a[0] = 5; print(len(a), a[0], a[1])\n"
	"bs = m.BoundedSemaphore(1); print(bs.acquire()); bs.release()\n"
	"try:\n    bs.release()\nexcept ValueError as e:\n"
	"    print('ValueError', e)\n"
	"b = m.Barrier(1); print(b.wait(), b.parties, b.broken)\n"
	"print(m.get_queue().get(timeout=5))\n";

static const char cpython_client_out[] =
	"5 2 ['balance', 'py'] True 7\n"
	"KeyError 'missing'\n"
	"True True\n"
	"True ['balance', 'py'] ['balance', 'py']\n"
	"x 5 4 5 2 1\n"
	"IndexError list index out of range\n"
	"42\n"
	"AttributeError 'Namespace' object has no attribute 'y'\n"
	"True False False\n"
	"RuntimeError release unlocked lock\n"
	"{'a': 1, 'b': 2}\n"
	"2 2\n"
	"False False\n"
	"True\n"
	"False\n"
	"True True False\n"
	"v\n"
	"2 {'k': 1} 2 True\n"
	"Empty\n"
	"Full\n"
	"8\n"
	"2 5.0 2.0\n"
	"True\n"
	"ValueError Semaphore released too many times\n"
	"0 1 False\n"
	"from C\n";

static void test_remote_cpython_client(void **state)
{
	mp_manager_t *m;
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	mp_namespaceproxy_t *ns;
	mp_lock_t *lock;
	mp_queueproxy_t *q;
	mp_obj_t *init = mp_obj_dict(), *v = NULL;

	(void)state;
	NEED_PYTHON();
	m = served("127.0.0.1:0");
	assert_non_null(mp_manager_address(m));
	assert_null(strstr(mp_manager_address(m), ":0"));
	mpt_assert_ok(mp_obj_dict_set(init, str("balance"), mp_obj_int(0)));
	mpt_assert_ok(mp_manager_dict(m, init, &d));
	mp_obj_free(init);
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	mpt_assert_ok(mp_manager_namespace(m, &ns));
	mpt_assert_ok(mp_manager_lock(m, &lock));
	mpt_assert_ok(mp_manager_register(m, "get_dict", MP_MANAGER_DICT, d));
	mpt_assert_ok(mp_manager_register(m, "get_list", MP_MANAGER_LIST, l));
	mpt_assert_ok(mp_manager_register(m, "get_ns", MP_MANAGER_NAMESPACE,
					  ns));
	mpt_assert_ok(mp_manager_register(m, "get_lock", MP_MANAGER_LOCK,
					  lock));
	mpt_assert_ok(mp_manager_queue(m, 0, &q));
	mpt_assert_ok(mp_manager_register(m, "get_queue", MP_MANAGER_QUEUE, q));
	v = str("from C");
	mpt_assert_ok(mp_queueproxy_put(q, v, 0));
	mp_obj_free(v);
	v = NULL;
	assert_int_equal(mp_manager_register(m, "x", 99, d), -EINVAL);
	assert_int_equal(mp_manager_register(m, "x", MP_MANAGER_DICT, &v),
			 -EINVAL);
	python_expect(cpython_client, mp_manager_address(m),
		      cpython_client_out);
	/* the same objects, seen locally */
	mpt_assert_ok(mp_dictproxy_copy(d, &v));
	assert_repr(v, "{'balance': 5, 'py': [1, 'two', None]}");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_slice(l, 0, PTRDIFF_MAX, &v));
	assert_repr(v, "['x', 3, 4]");
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_get(ns, "x", &v));
	assert_repr(v, "42");
	mp_obj_free(v);
	assert_int_equal(mp_lock_locked(lock), 0);
	mp_manager_free(m);
}

/* A CPython client SIGKILLed while the server holds the Lock for it: its
 * connection's server thread ends, and the owner-death rule hands the
 * lock to the next taker. */
static void test_remote_client_killed_holding_lock(void **state)
{
	static const char script[] =
		"import os, signal, sys\n"
		"from multiprocessing.managers import BaseManager, "
		"AcquirerProxy\n"
		"class M(BaseManager): pass\n"
		"M.register('get_lock', proxytype=AcquirerProxy)\n"
		"host, port = sys.argv[1].rsplit(':', 1)\n"
		"m = M(address=(host, int(port)), authkey=b'secret')\n"
		"m.connect()\n"
		"lk = m.get_lock()\n"
		"lk.acquire()\n"
		"os.kill(os.getpid(), signal.SIGKILL)\n";
	const char *argv[] = {"python3", "-c", script, NULL, NULL};
	mp_completed_t r;
	mp_manager_t *m;
	mp_lock_t *lock;
	int rc;

	(void)state;
	NEED_PYTHON();
	m = served("127.0.0.1:0");
	mpt_assert_ok(mp_manager_lock(m, &lock));
	mpt_assert_ok(mp_manager_register(m, "get_lock", MP_MANAGER_LOCK,
					  lock));
	argv[3] = mp_manager_address(m);
	mpt_assert_ok(mp_run(argv, &(mp_run_opts_t){.capture_output = true,
				.timeout = mpt_timeout(60)}, &r));
	assert_int_equal(r.returncode, -SIGKILL);
	mp_completed_destroy(&r);
	assert_int_equal(mp_lock_locked(lock), 1);
	rc = mp_lock_acquire(lock, mpt_timeout(10));
	assert_int_equal(rc, MP_EOWNERDEAD);
	mpt_assert_ok(mp_lock_consistent(lock));
	mpt_assert_ok(mp_lock_release(lock));
	mp_manager_free(m);
}

/* A Unix socket address, and the file goes with the manager. */
static void test_remote_unix_address(void **state)
{
	static const char script[] =
		"import sys\n"
		"from multiprocessing.managers import SyncManager\n"
		"m = SyncManager(address=sys.argv[1], authkey=b'secret')\n"
		"m.connect()\n"
		"l = m.list(['a']); l.append('b'); print(len(l), l[1])\n";
	char path[64];
	mp_manager_t *m;

	(void)state;
	NEED_PYTHON();
	snprintf(path, sizeof(path), "/tmp/mproc-remote-%d", (int)getpid());
	m = served(path);
	assert_string_equal(mp_manager_address(m), path);
	assert_int_equal(access(path, F_OK), 0);
	python_expect(script, path, "2 b\n");
	mp_manager_free(m);
	assert_int_equal(access(path, F_OK), -1);
}

/* ---- mproc clients ---- */

static mp_manager_t *connect_to(const char *address, const char *key,
				double timeout)
{
	mp_manager_opts_t o = {.address = address, .authkey = key,
			       .authkey_len = key ? strlen(key) : 0,
			       .timeout = timeout};

	return mp_manager_connect(&o);
}

/* A server on a TCP port and a client connected to it. */
static mp_manager_t *served_client(mp_manager_t **m, double timeout)
{
	mp_manager_t *c;

	*m = served("127.0.0.1:0");
	c = connect_to(mp_manager_address(*m), KEY, timeout);
	assert_non_null(c);
	return c;
}

/* The operations through the SAME functions as the local path. */
static void drive_dict_list_ns(mp_manager_t *c, bool ns_too)
{
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	mp_namespaceproxy_t *ns;
	mp_queueproxy_t *q;
	mp_obj_t *init = mp_obj_dict(), *v = NULL, *k = NULL, *items;
	mp_bytes_t b = {0};

	mpt_assert_ok(mp_obj_dict_set(init, str("a"), mp_obj_int(1)));
	mpt_assert_ok(mp_manager_dict(c, init, &d));
	mp_obj_free(init);
	v = mp_obj_tuple_pack(2, mp_obj_int(2), mp_obj_float(2.5));
	k = str("b");
	mpt_assert_ok(mp_dictproxy_set(d, k, v));
	mp_obj_free(v);
	assert_int_equal(mp_dictproxy_len(d), 2);
	assert_int_equal(mp_dictproxy_contains(d, k), 1);
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	assert_repr(v, "(2, 2.5)");
	mp_obj_free(v);
	mp_obj_free(k);
	k = str("zz");
	assert_err(mp_dictproxy_get(d, k, &v), -ENOENT,
		   "mp_dictproxy_get: KeyError: 'zz'");
	assert_null(v);
	assert_err(mp_dictproxy_del(d, k), -ENOENT, "KeyError: 'zz'");
	assert_int_equal(mp_dictproxy_contains(d, k), 0);
	mpt_assert_ok(mp_dictproxy_setdefault(d, k, NULL, &v));
	assert_repr(v, "None");
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_pop(d, k, &v));
	mp_obj_free(v);
	mp_obj_free(k);
	mpt_assert_ok(mp_dictproxy_keys(d, &v));
	assert_repr(v, "['a', 'b']");
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_items(d, &items));
	assert_repr(items, "[('a', 1), ('b', (2, 2.5))]");
	mp_obj_free(items);
	mpt_assert_ok(mp_dictproxy_popitem(d, &k, &v));
	assert_repr(k, "'b'");
	mp_obj_free(k);
	mp_obj_free(v);
	k = mp_obj_list();
	assert_err(mp_dictproxy_set(d, k, k), -EINVAL,
		   "TypeError: unhashable type: 'list'");
	mp_obj_free(k);
	mpt_assert_ok(mp_dictproxy_clear(d));
	assert_int_equal(mp_dictproxy_len(d), 0);
	assert_err(mp_dictproxy_popitem(d, NULL, NULL), -ENOENT,
		   "KeyError: 'popitem(): dictionary is empty'");

	mpt_assert_ok(mp_manager_list(c, NULL, &l));
	v = mp_obj_int(3);
	mpt_assert_ok(mp_listproxy_append(l, v));
	mpt_assert_ok(mp_listproxy_insert(l, 0, v));
	mpt_assert_ok(mp_listproxy_append(l, v));
	mp_obj_free(v);
	v = mp_obj_tuple_pack(2, mp_obj_int(9), mp_obj_int(-1));
	mpt_assert_ok(mp_listproxy_extend(l, v));
	mp_obj_free(v);
	assert_int_equal(mp_listproxy_len(l), 5);
	mpt_assert_ok(mp_listproxy_sort(l, MP_SORT_REVERSE));
	mpt_assert_ok(mp_listproxy_slice(l, 1, -1, &v));
	assert_repr(v, "[3, 3, 3]");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_get(l, -1, &v));
	assert_repr(v, "-1");
	assert_int_equal(mp_listproxy_index(l, v), 4);
	assert_int_equal(mp_listproxy_count(l, v), 1);
	mpt_assert_ok(mp_listproxy_remove(l, v));
	assert_err(mp_listproxy_remove(l, v), -ENOENT, "ValueError: list."
		   "remove(x): x not in list");
	mpt_assert_ok(mp_listproxy_set(l, 0, v));
	mp_obj_free(v);
	assert_err(mp_listproxy_get(l, 10, &v), -ERANGE,
		   "mp_listproxy_get: IndexError: list index out of range");
	mpt_assert_ok(mp_listproxy_pop(l, 0, &v));
	assert_repr(v, "-1");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_clear(l));
	assert_int_equal(mp_listproxy_len(l), 0);
	assert_err(mp_listproxy_pop(l, -1, &v), -ERANGE,
		   "IndexError: pop from empty list");

	mpt_assert_ok(mp_manager_queue(c, 0, &q));
	v = str("first");
	mpt_assert_ok(mp_queueproxy_put(q, v, MP_FOREVER));
	mp_obj_free(v);
	v = mp_obj_int(2);
	mpt_assert_ok(mp_queueproxy_put_nowait(q, v));
	mp_obj_free(v);
	assert_int_equal(mp_queueproxy_qsize(q), 2);
	assert_int_equal(mp_queueproxy_full(q), 0);
	mpt_assert_ok(mp_queueproxy_get(q, MP_FOREVER, &v));
	assert_repr(v, "'first'");
	mp_obj_free(v);
	mpt_assert_ok(mp_queueproxy_get_nowait(q, &v));
	assert_repr(v, "2");
	mp_obj_free(v);
	assert_int_equal(mp_queueproxy_get_nowait(q, &v), -EAGAIN);
	assert_int_equal(mp_queueproxy_get(q, 0.01, &v), -ETIMEDOUT);
	assert_int_equal(mp_queueproxy_empty(q), 1);
	mpt_assert_ok(mp_queueproxy_task_done(q));
	mpt_assert_ok(mp_queueproxy_task_done(q));
	mpt_assert_ok(mp_queueproxy_join(q, MP_FOREVER));
	mpt_assert_ok(mp_manager_joinablequeue(c, 1, &q));
	v = mp_obj_none();
	mpt_assert_ok(mp_queueproxy_put(q, v, 0));
	assert_int_equal(mp_queueproxy_full(q), 1);
	assert_int_equal(mp_queueproxy_put(q, v, 0.01), -ETIMEDOUT);
	assert_int_equal(mp_queueproxy_put_nowait(q, v), -EAGAIN);
	mp_obj_free(v);

	if (!ns_too)
		return;
	mpt_assert_ok(mp_manager_namespace(c, &ns));
	v = str("v");
	mpt_assert_ok(mp_namespaceproxy_set(ns, "k", v));
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_get(ns, "k", &v));
	assert_repr(v, "'v'");
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_repr(ns, &b));
	assert_string_equal(b.data, "Namespace(k='v')");
	mp_bytes_destroy(&b);
	mpt_assert_ok(mp_namespaceproxy_del(ns, "k"));
	assert_err(mp_namespaceproxy_get(ns, "k", &v), -ENOENT,
		   "AttributeError: 'Namespace' object has no attribute 'k'");
}

static void test_remote_mproc_client_mproc_server(void **state)
{
	mp_manager_t *m, *c;

	(void)state;
	c = served_client(&m, mpt_timeout(10));
	assert_string_equal(mp_manager_address(c), mp_manager_address(m));
	drive_dict_list_ns(c, true);
	assert_int_equal(mp_manager_pid(c), -EINVAL);
	mp_manager_free(c);
	mp_manager_free(m);
}

/* Pipelining: calls without a result go out without waiting; failures
 * come back from batch_end. */
static void test_remote_batch(void **state)
{
	mp_manager_t *m, *c;
	mp_dictproxy_t *d;
	mp_obj_t *k, *v, *bad = mp_obj_list();
	int i;

	(void)state;
	c = served_client(&m, mpt_timeout(10));
	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	mpt_assert_ok(mp_manager_batch_begin(c));
	for (i = 0; i < 200; i++) {
		k = mp_obj_int(i);
		mpt_assert_ok(mp_dictproxy_set(d, k, k));
		mp_obj_free(k);
		if (i == 50) /* fails remotely: reported at the end */
			mpt_assert_ok(mp_dictproxy_set(d, bad, bad));
	}
	k = mp_obj_int(199);
	mpt_assert_ok(mp_dictproxy_get(d, k, &v)); /* reads all before */
	assert_repr(v, "199");
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_del(d, k));
	mpt_assert_ok(mp_dictproxy_del(d, k)); /* KeyError, deferred */
	mp_obj_free(k);
	assert_err(mp_manager_batch_end(c), -EINVAL,
		   "TypeError: unhashable type: 'list'");
	assert_int_equal(mp_dictproxy_len(d), 199);
	mpt_assert_ok(mp_manager_batch_end(c));
	mpt_assert_ok(mp_manager_batch_begin(m)); /* local: no-op */
	mpt_assert_ok(mp_manager_batch_end(m));
	mp_obj_free(bad);
	mp_manager_free(c);
	mp_manager_free(m);
}

/* A CPython SyncManager server, its address on the first line. */
static const char cpython_server[] =
	"import sys\n"
	"from multiprocessing.managers import SyncManager\n"
	"m = SyncManager(address=('127.0.0.1', 0), authkey=b'secret')\n"
	"m.start()\n"
	"print('%s:%d' % m.address, flush=True)\n"
	"sys.stdin.read()\n"
	"m.shutdown()\n";

static mp_popen_t *start_cpython_server(char *address, size_t n)
{
	const char *argv[] = {"python3", "-c", cpython_server, NULL};
	mp_popen_opts_t o = {.in = {MP_STDIO_PIPE, -1},
			     .out = {MP_STDIO_PIPE, -1}};
	mp_popen_t *p = mp_popen_new(argv, &o);
	mp_bytes_t line = {0};

	assert_non_null(p);
	assert_int_equal(mp_popen_readline(p, mpt_timeout(30), &line), 1);
	snprintf(address, n, "%.*s", (int)line.len - 1, line.data);
	mp_bytes_destroy(&line);
	return p;
}

static void stop_cpython_server(mp_popen_t *p)
{
	int code = -1;

	mpt_assert_ok(mp_popen_communicate(p, NULL, 0, mpt_timeout(30), NULL,
					   NULL));
	mpt_assert_ok(mp_popen_wait(p, mpt_timeout(30), &code));
	assert_int_equal(code, 0);
	mp_popen_free(p);
}

/* drive(c) through a C client of a CPython SyncManager (skipped without
 * python3). */
static void on_cpython_server(void (*drive)(mp_manager_t *c))
{
	char address[128];
	mp_popen_t *p;
	mp_manager_t *c;

	NEED_PYTHON();
	p = start_cpython_server(address, sizeof(address));
	c = connect_to(address, KEY, mpt_timeout(60));
	assert_non_null(c);
	drive(c);
	mp_manager_free(c);
	stop_cpython_server(p);
}

static void test_remote_mproc_client_cpython_server(void **state)
{
	char address[128];
	mp_popen_t *p;
	mp_manager_t *c;

	(void)state;
	NEED_PYTHON();
	p = start_cpython_server(address, sizeof(address));
	c = connect_to(address, KEY, mpt_timeout(30));
	if (c == NULL)
		print_error("connect: %s\n", mp_last_error());
	assert_non_null(c);
	drive_dict_list_ns(c, false);
	mp_manager_free(c);
	/* the wrong key, against CPython's server */
	assert_null(connect_to(address, "wrong", mpt_timeout(30)));
	assert_int_equal(mp_last_error_code(), MP_EAUTH);
	stop_cpython_server(p);
}

/* ---- one connection per thread ---- */

struct blocked {
	mp_queueproxy_t *q;
	mp_event_t started; /* a local event: the thread is about to get */
	int rc;
	mp_obj_t *got;
};

static void *blocked_get(void *arg)
{
	struct blocked *b = arg;

	mp_event_set(&b->started);
	b->rc = mp_queueproxy_get(b->q, mpt_timeout(30), &b->got);
	return NULL;
}

/* Thread A blocks in a remote get; this thread's dict calls through the
 * same manager handle still complete, well before A's get would end. */
static void drive_threads(mp_manager_t *c)
{
	struct blocked b = {0};
	mp_dictproxy_t *d;
	mp_obj_t *k = mp_obj_int(1), *v;
	pthread_t t;
	double t0;
	int i;

	mpt_assert_ok(mp_manager_queue(c, 0, &b.q));
	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	mpt_assert_ok(mp_event_init(&b.started));
	assert_int_equal(pthread_create(&t, NULL, blocked_get, &b), 0);
	mpt_assert_ok(mp_event_wait(&b.started, mpt_timeout(10)));
	t0 = mpt_now();
	/* dozens of round trips: A's get is surely sent meanwhile */
	for (i = 0; i < 50; i++) {
		mpt_assert_ok(mp_dictproxy_set(d, k, k));
		assert_int_equal(mp_dictproxy_len(d), 1);
	}
	assert_true(mpt_now() - t0 < mpt_timeout(5));
	v = str("wake");
	mpt_assert_ok(mp_queueproxy_put(b.q, v, MP_FOREVER));
	mp_obj_free(v);
	assert_int_equal(pthread_join(t, NULL), 0);
	mpt_assert_ok(b.rc);
	assert_repr(b.got, "'wake'");
	mp_obj_free(b.got);
	mp_obj_free(k);
}

static void test_remote_thread_connections(void **state)
{
	mp_manager_t *m, *c;

	(void)state;
	c = served_client(&m, mpt_timeout(60));
	drive_threads(c);
	mp_manager_free(c);
	mp_manager_free(m);
	on_cpython_server(drive_threads);
}

/* ---- sync objects, Value, Array and dict iteration of a connected
 * manager, through the sync.h and proxy functions ---- */

struct waiter {
	mp_lock_t *lock;
	mp_event_t *ev;
	int rc;
};

static void *lock_waiter(void *arg)
{
	struct waiter *w = arg;

	w->rc = mp_lock_acquire(w->lock, mpt_timeout(30));
	if (w->rc == 0)
		w->rc = mp_lock_release(w->lock);
	return NULL;
}

static void *event_waiter(void *arg)
{
	struct waiter *w = arg;

	w->rc = mp_event_wait(w->ev, mpt_timeout(30));
	return NULL;
}

static void drive_sync(mp_manager_t *c)
{
	struct waiter w = {0};
	mp_lock_t *lk;
	mp_rlock_t *rl;
	mp_semaphore_t *s, *bs;
	mp_event_t *ev;
	mp_condition_t *cv;
	mp_barrier_t *b;
	pthread_t t;

	mpt_assert_ok(mp_manager_lock(c, &lk));
	mpt_assert_ok(mp_lock_acquire(lk, MP_FOREVER));
	assert_int_equal(mp_lock_acquire(lk, 0), -ETIMEDOUT);
	assert_int_equal(mp_lock_acquire(lk, 0.01), -ETIMEDOUT);
	/* another thread (its own connection) blocks in the server until
	 * this one releases */
	w.lock = lk;
	assert_int_equal(pthread_create(&t, NULL, lock_waiter, &w), 0);
	mpt_assert_ok(mp_lock_release(lk));
	assert_int_equal(pthread_join(t, NULL), 0);
	mpt_assert_ok(w.rc);
	assert_err(mp_lock_release(lk), -EINVAL,
		   "mp_lock_release: RuntimeError: release unlocked lock");
	assert_int_equal(mp_lock_locked(lk), -ENOTSUP);
	mpt_assert_ok(mp_lock_consistent(lk));

	mpt_assert_ok(mp_manager_rlock(c, &rl));
	mpt_assert_ok(mp_rlock_acquire(rl, MP_FOREVER));
	mpt_assert_ok(mp_rlock_acquire(rl, 0));
	mpt_assert_ok(mp_rlock_release(rl));
	mpt_assert_ok(mp_rlock_release(rl));
	assert_err(mp_rlock_release(rl), -EPERM, "RuntimeError: cannot "
		   "release un-acquired lock");
	assert_int_equal(mp_rlock_count(rl), -ENOTSUP);

	mpt_assert_ok(mp_manager_semaphore(c, 2, &s));
	mpt_assert_ok(mp_semaphore_acquire(s, MP_FOREVER));
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	assert_int_equal(mp_semaphore_acquire(s, 0.01), -ETIMEDOUT);
	mpt_assert_ok(mp_semaphore_release(s, 2));
	mpt_assert_ok(mp_semaphore_acquire(s, 0));
	assert_int_equal(mp_semaphore_get_value(s), -ENOTSUP);
	mpt_assert_ok(mp_manager_bounded_semaphore(c, 1, &bs));
	mpt_assert_ok(mp_semaphore_acquire(bs, 0));
	mpt_assert_ok(mp_semaphore_release(bs, 1));
	assert_err(mp_semaphore_release(bs, 1), -EINVAL,
		   "ValueError: Semaphore released too many times");

	mpt_assert_ok(mp_manager_event(c, &ev));
	assert_int_equal(mp_event_is_set(ev), 0);
	assert_int_equal(mp_event_wait(ev, 0.01), -ETIMEDOUT);
	w.ev = ev;
	assert_int_equal(pthread_create(&t, NULL, event_waiter, &w), 0);
	mpt_assert_ok(mp_event_set(ev));
	assert_int_equal(pthread_join(t, NULL), 0);
	mpt_assert_ok(w.rc);
	assert_int_equal(mp_event_is_set(ev), 1);
	mpt_assert_ok(mp_event_wait(ev, MP_FOREVER));
	mpt_assert_ok(mp_event_clear(ev));
	assert_int_equal(mp_event_is_set(ev), 0);

	mpt_assert_ok(mp_manager_condition(c, NULL, &cv));
	assert_int_equal(mp_condition_wait(cv, 0.01), -EPERM);
	mpt_assert_ok(mp_condition_acquire(cv, MP_FOREVER));
	assert_int_equal(mp_condition_wait(cv, 0.01), -ETIMEDOUT);
	mpt_assert_ok(mp_condition_notify(cv, 1));
	mpt_assert_ok(mp_condition_notify_all(cv));
	mpt_assert_ok(mp_condition_release(cv));
	assert_int_equal(mp_condition_notify(cv, 1), -EPERM);
	assert_int_equal(mp_manager_condition(c, &(mp_condition_opts_t){
		.lock = lk}, &cv), -ENOTSUP);

	mpt_assert_ok(mp_manager_barrier(c, 1, NULL, &b));
	assert_int_equal(mp_barrier_wait(b, MP_BARRIER_DEFAULT), 0);
	assert_int_equal(mp_barrier_wait(b, 5), 0);
	assert_int_equal(mp_barrier_parties(b), 1);
	assert_int_equal(mp_barrier_n_waiting(b), 0);
	assert_int_equal(mp_barrier_broken(b), 0);
	mpt_assert_ok(mp_barrier_abort(b));
	assert_int_equal(mp_barrier_broken(b), 1);
	assert_int_equal(mp_barrier_wait(b, 1), MP_EBARRIER);
	mpt_assert_ok(mp_barrier_reset(b));
	assert_int_equal(mp_barrier_broken(b), 0);
}

static int add_one(const mp_obj_t *value, void *arg, mp_obj_t **out)
{
	(void)value;
	(void)arg;
	*out = mp_obj_int(1);
	return 0;
}

static void drive_value_array_iter(mp_manager_t *c)
{
	mp_valueproxy_t *v;
	mp_arrayproxy_t *a;
	mp_dictproxy_t *d;
	mp_dictproxy_iter_t it;
	mp_obj_t *o, *k, *init = mp_obj_tuple_pack(2, mp_obj_int(1),
						   mp_obj_int(2));
	char seen[64] = "";
	int i;

	o = str("seven");
	mpt_assert_ok(mp_manager_value(c, o, &v));
	mp_obj_free(o);
	mpt_assert_ok(mp_valueproxy_get(v, &o));
	assert_repr(o, "'seven'");
	mp_obj_free(o);
	o = mp_obj_float(1.5);
	mpt_assert_ok(mp_valueproxy_set(v, o));
	mp_obj_free(o);
	mpt_assert_ok(mp_valueproxy_get(v, &o));
	assert_repr(o, "1.5");
	mp_obj_free(o);

	mpt_assert_ok(mp_manager_array(c, 'i', init, &a));
	assert_int_equal(mp_arrayproxy_len(a), 2);
	mpt_assert_ok(mp_arrayproxy_get(a, -1, &o));
	assert_repr(o, "2");
	mpt_assert_ok(mp_arrayproxy_set(a, 0, o));
	mp_obj_free(o);
	mpt_assert_ok(mp_arrayproxy_get(a, 0, &o));
	assert_repr(o, "2");
	mp_obj_free(o);
	assert_err(mp_arrayproxy_get(a, 5, &o), -ERANGE,
		   "IndexError: array index out of range");
	o = mp_obj_float(2.5);
	assert_err(mp_arrayproxy_set(a, 0, o), -EINVAL, "TypeError");
	mp_obj_free(o);

	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	for (i = 0; i < 3; i++) {
		k = mp_obj_int(i);
		o = mp_obj_int(10 * i);
		mpt_assert_ok(mp_dictproxy_set(d, k, o));
		mp_obj_free(k);
		mp_obj_free(o);
	}
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	while ((i = mp_dictproxy_next(d, &it, &k, &o)) == 1) {
		mp_bytes_t b1 = {0}, b2 = {0};

		mpt_assert_ok(mp_obj_repr(k, &b1));
		mpt_assert_ok(mp_obj_repr(o, &b2));
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen),
			 "%s:%s ", b1.data, b2.data);
		mp_bytes_destroy(&b1);
		mp_bytes_destroy(&b2);
		mp_obj_free(k);
		mp_obj_free(o);
	}
	assert_int_equal(i, 0);
	assert_string_equal(seen, "0:0 1:10 2:20 ");
	assert_int_equal(mp_dictproxy_next(d, &it, &k, NULL), 0);
	/* the dict grows under the iteration: CPython's RuntimeError */
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	assert_int_equal(mp_dictproxy_next(d, &it, &k, NULL), 1);
	mp_obj_free(k);
	k = mp_obj_int(99);
	mpt_assert_ok(mp_dictproxy_set(d, k, k));
	assert_err(mp_dictproxy_next(d, &it, &o, NULL), -EBUSY,
		   "RuntimeError: dictionary changed size during iteration");
	assert_int_equal(mp_dictproxy_apply(d, k, add_one, NULL), -ENOTSUP);
	mp_obj_free(k);
	mp_obj_free(init);
}

static void drive_sync_value_array_iter(mp_manager_t *c)
{
	drive_sync(c);
	drive_value_array_iter(c);
}

static void test_remote_sync_value_iter(void **state)
{
	mp_manager_t *m, *c;
	mp_barrier_t *b;

	(void)state;
	c = served_client(&m, mpt_timeout(60));
	drive_sync(c);
	drive_value_array_iter(c);
	mp_manager_free(c);
	/* a wait on the server's default may outlast the call timeout */
	c = connect_to(mp_manager_address(m), KEY, 0.5);
	assert_non_null(c);
	mpt_assert_ok(mp_manager_barrier(c, 1, NULL, &b));
	assert_int_equal(mp_barrier_wait(b, MP_BARRIER_DEFAULT), 0);
	mp_manager_free(c);
	mp_manager_free(m);
	on_cpython_server(drive_sync_value_array_iter);
}

/* ---- objects freed on their last proxy ---- */

/* The server's high-water mark in the region: it grows only when no
 * freed block can be reused. */
static uint64_t region_top(const mp_manager_t *m)
{
	return __atomic_load_n(&m->r->top, __ATOMIC_ACQUIRE);
}

/* Make objects of every kind through c, use them, let them go. */
static void churn(mp_manager_t *c)
{
	mp_obj_t *init = mp_obj_dict(), *v, *k;
	mp_dictproxy_t *d;
	mp_dictproxy_iter_t it;
	mp_listproxy_t *l;
	mp_namespaceproxy_t *ns;
	mp_queueproxy_t *q;
	mp_valueproxy_t *val;
	mp_arrayproxy_t *a;
	mp_lock_t *lk;
	mp_condition_t *cv;
	mp_event_t *ev;
	char text[512];
	int i;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (i = 0; i < 100; i++)
		mpt_assert_ok(mp_obj_dict_set(init, mp_obj_int(i), str(text)));
	mpt_assert_ok(mp_manager_dict(c, init, &d));
	mpt_assert_ok(mp_dictproxy_iter(d, &it)); /* to the end: freed */
	while ((i = mp_dictproxy_next(d, &it, &k, NULL)) == 1)
		mp_obj_free(k);
	assert_int_equal(i, 0);
	mpt_assert_ok(mp_dictproxy_values(d, &v));
	mpt_assert_ok(mp_manager_list(c, v, &l));
	mpt_assert_ok(mp_manager_value(c, v, &val));
	mpt_assert_ok(mp_manager_queue(c, 0, &q));
	mpt_assert_ok(mp_queueproxy_put(q, v, MP_FOREVER));
	mp_obj_free(v);
	mpt_assert_ok(mp_manager_namespace(c, &ns));
	mpt_assert_ok(mp_namespaceproxy_set(ns, "big", init));
	mp_obj_free(init);
	mpt_assert_ok(mp_manager_array(c, 'd', NULL, &a));
	mpt_assert_ok(mp_manager_lock(c, &lk));
	mpt_assert_ok(mp_lock_acquire(lk, MP_FOREVER)); /* freed held */
	mpt_assert_ok(mp_manager_condition(c, NULL, &cv));
	mpt_assert_ok(mp_manager_event(c, &ev));
	mp_dictproxy_free(d);
	mp_listproxy_free(l);
	mp_valueproxy_free(val);
	mp_queueproxy_free(q);
	mp_namespaceproxy_free(ns);
	mp_arrayproxy_free(a);
	mp_lock_free(lk);
	mp_condition_free(cv);
	mp_event_free(ev);
}

struct getter {
	mp_queueproxy_t *q;
	mp_event_t started;
	int rc;
};

static void *timed_get(void *arg)
{
	struct getter *g = arg;
	mp_obj_t *v = NULL;

	mp_event_set(&g->started);
	g->rc = mp_queueproxy_get(g->q, 1.0, &v);
	return NULL;
}

static void test_remote_objects_freed(void **state)
{
	static const char script[] =
		"import sys, pickle, gc, multiprocessing\n"
		"from multiprocessing.managers import SyncManager\n"
		"multiprocessing.current_process().authkey = b'secret'\n"
		"host, port = sys.argv[1].rsplit(':', 1)\n"
		"m = SyncManager(address=(host, int(port)), authkey=b'secret')\n"
		"m.connect()\n"
		"n0 = m._number_of_objects()\n"
		"d = m.dict({'a': 1})\n"
		"d2 = pickle.loads(pickle.dumps(d))\n"
		"print(m._number_of_objects() - n0)\n"
		"del d; gc.collect()\n"
		"print(d2['a'], m._number_of_objects() - n0)\n"
		"del d2; gc.collect()\n"
		"print(m._number_of_objects() - n0)\n";
	struct getter g = {0};
	struct mp__rproxy remote;
	mp_manager_t *m, *c;
	mp_dictproxy_t *keep;
	mp_obj_t *k = str("k"), *v;
	uint64_t top;
	pthread_t t;
	int i;

	(void)state;
	c = served_client(&m, mpt_timeout(60));
	mpt_assert_ok(mp_manager_dict(c, NULL, &keep));
	mpt_assert_ok(mp_dictproxy_set(keep, k, k));
	churn(c);
	top = region_top(m);
	/* the same objects again and again take no more room */
	for (i = 0; i < 10; i++)
		churn(c);
	assert_true(region_top(m) == top);
	/* what still has a proxy survives */
	mpt_assert_ok(mp_dictproxy_get(keep, k, &v));
	assert_repr(v, "'k'");
	mp_obj_free(v);
	/* freed while a call waits on it: freed when the call ends */
	mpt_assert_ok(mp_manager_queue(c, 0, &g.q));
	mpt_assert_ok(mp_event_init(&g.started));
	assert_int_equal(pthread_create(&t, NULL, timed_get, &g), 0);
	mpt_assert_ok(mp_event_wait(&g.started, mpt_timeout(10)));
	/* the last reference goes (another client's, say) while the get
	 * waits: this handle's copy of the remote object */
	remote = ((struct mp__rhandle *)g.q)->p;
	mpt_assert_ok(mp__rdecref(&remote));
	assert_int_equal(pthread_join(t, NULL), 0);
	mp_queueproxy_free(g.q); /* its decref: a KeyError, ignored */
	/* -ETIMEDOUT, or a KeyError when the decref came first */
	assert_true(g.rc == -ETIMEDOUT || g.rc == -EREMOTEIO);
	churn(c);
	assert_true(region_top(m) == top);
	/* a local handle's _free does nothing: forked children may hold
	 * the same pointer, and nothing counts them */
	mpt_assert_ok(mp_manager_dict(m, NULL, &keep));
	mpt_assert_ok(mp_dictproxy_set(keep, k, k));
	mp_dictproxy_free(keep);
	mpt_assert_ok(mp_dictproxy_get(keep, k, &v));
	assert_repr(v, "'k'");
	mp_obj_free(v);
	mp_obj_free(k);
	mp_manager_free(c);
	if (have_python())
		python_expect(script, mp_manager_address(m), "1\n1 1\n0\n");
	mp_manager_free(m);
}

struct lingering_wait {
	mp_event_t *ev;
	mp_event_t started, done, release;
	int rc;
};

/* A wait in a thread of its own (its own method channel), which then
 * lives on until released: so does that channel's server thread. */
static void *lingering_wait_fn(void *arg)
{
	struct lingering_wait *w = arg;

	mp_event_set(&w->started);
	w->rc = mp_event_wait(w->ev, mpt_timeout(1));
	mp_event_set(&w->done);
	mp_event_wait(&w->release, mpt_timeout(30));
	return NULL;
}

/* An object freed when the call waiting on it ends gives its room back
 * at once, to every thread: the next object of its size takes it, while
 * the thread that served the call still serves its channel. */
static void test_remote_freed_in_call_room(void **state)
{
	struct lingering_wait w = {0};
	struct mp__rproxy remote;
	mp_manager_t *m, *c;
	mp_event_t *ev, *served;
	uint64_t top;
	double t0;
	pthread_t t;
	bool grew;

	(void)state;
	c = served_client(&m, mpt_timeout(60));
	mpt_assert_ok(mp_manager_event(c, &w.ev));
	mpt_assert_ok(mp_event_init(&w.started));
	mpt_assert_ok(mp_event_init(&w.done));
	mpt_assert_ok(mp_event_init(&w.release));
	/* the server's Event: its ident is its offset in the region */
	remote = ((struct mp__rhandle *)w.ev)->p;
	served = (mp_event_t *)((char *)m->r + strtoull(remote.ident, NULL,
							  16));
	assert_int_equal(pthread_create(&t, NULL, lingering_wait_fn, &w), 0);
	mpt_assert_ok(mp_event_wait(&w.started, mpt_timeout(10)));
	t0 = mpt_now();
	while (__atomic_load_n(&served->_waiters, __ATOMIC_ACQUIRE) == 0 &&
	       mpt_now() - t0 < mpt_timeout(10))
		sched_yield();
	/* the last reference goes while the server waits on the Event */
	mpt_assert_ok(mp__rdecref(&remote));
	mpt_assert_ok(mp_event_wait(&w.done, mpt_timeout(10)));
	top = region_top(m);
	mpt_assert_ok(mp_manager_event(c, &ev));
	grew = region_top(m) != top;
	mp_event_set(&w.release);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(grew);
	assert_int_equal(w.rc, -ETIMEDOUT);
	mp_event_free(ev);
	mp_event_free(w.ev); /* its decref: a KeyError, ignored */
	mp_manager_free(c);
	mp_manager_free(m);
}

/* ---- a fork of a connected client ---- */

static int dict_ops(mp_dictproxy_t *d, int base)
{
	mp_obj_t *k, *v = NULL;
	int i, bad = 0;

	for (i = 0; i < 200 && !bad; i++) {
		k = mp_obj_int(base + i);
		bad = mp_dictproxy_set(d, k, k) < 0 ||
		      mp_dictproxy_get(d, k, &v) < 0 || mp_obj_eq(k, v) != 1;
		mp_obj_free(v);
		v = NULL;
		mp_obj_free(k);
	}
	return bad;
}

static mp_dictproxy_t *forked_dict;

static int child_ops(void *arg)
{
	(void)arg;
	return dict_ops(forked_dict, 1000);
}

/* The child dials its own connection: parent and child calls at the
 * same time do not share one stream. */
static void test_remote_fork_child_connection(void **state)
{
	mp_manager_t *m, *c;
	pid_t pid;

	(void)state;
	c = served_client(&m, mpt_timeout(30));
	mpt_assert_ok(mp_manager_dict(c, NULL, &forked_dict));
	assert_int_equal(dict_ops(forked_dict, 0), 0); /* connected */
	pid = mpt_fork(child_ops, NULL);
	assert_int_equal(dict_ops(forked_dict, 2000), 0);
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_int_equal(mp_dictproxy_len(forked_dict), 600);
	mp_manager_free(c);
	mp_manager_free(m);
}

static void test_remote_wrong_authkey(void **state)
{
	static const char script[] =
		"import sys\n"
		"from multiprocessing import AuthenticationError\n"
		"from multiprocessing.managers import SyncManager\n"
		"host, port = sys.argv[1].rsplit(':', 1)\n"
		"m = SyncManager(address=(host, int(port)), authkey=b'nope')\n"
		"try:\n    m.connect()\n"
		"except AuthenticationError as e:\n    print('refused')\n";
	mp_manager_t *m, *c;

	(void)state;
	m = served("127.0.0.1:0");
	assert_null(connect_to(mp_manager_address(m), "nope", mpt_timeout(10)));
	assert_int_equal(mp_last_error_code(), MP_EAUTH);
	assert_null(connect_to(mp_manager_address(m), NULL, mpt_timeout(10)));
	if (have_python())
		python_expect(script, mp_manager_address(m), "refused\n");
	/* the server still serves */
	c = connect_to(mp_manager_address(m), KEY, mpt_timeout(10));
	assert_non_null(c);
	mp_manager_free(c);
	mp_manager_free(m);
}

/* A peer that sends half a frame and dies: only its connection goes. */
static int half_frame(void *arg)
{
	mp_auth_opts_t a = {.authkey = KEY, .authkey_len = strlen(KEY)};
	mp_connection_t *c = mp_client(arg, &a, 10);
	unsigned char hdr[] = {0, 0, 1, 0, 0x80, 4};

	if (c == NULL)
		return 1;
	if (write(mp_connection_fileno(c), hdr, sizeof(hdr)) != sizeof(hdr))
		return 2;
	kill(getpid(), SIGKILL);
	return 3;
}

static void test_remote_half_frame_and_garbage(void **state)
{
	mp_auth_opts_t a = {.authkey = KEY, .authkey_len = strlen(KEY)};
	mp_manager_t *m, *c;
	mp_connection_t *raw;
	mp_dictproxy_t *d;
	mp_bytes_t rep = {0};
	pid_t pid;
	int i;

	(void)state;
	c = served_client(&m, mpt_timeout(10));
	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	for (i = 0; i < 3; i++) {
		pid = mpt_fork(half_frame, (void *)mp_manager_address(m));
		assert_int_equal(mpt_wait(pid), SIGKILL);
	}
	/* garbage as a request: a traceback, and the connection goes on */
	raw = mp_client(mp_manager_address(m), &a, mpt_timeout(10));
	assert_non_null(raw);
	mpt_assert_ok(mp_connection_send_bytes(raw, "\x80\x04junk", 6));
	mpt_assert_ok(mp_connection_recv_bytes(raw, 0, &rep));
	assert_non_null(memmem(rep.data, rep.len, "#TRACEBACK", 10));
	mp_bytes_destroy(&rep);
	mp_connection_free(raw);
	assert_int_equal(mp_dictproxy_len(d), 0);
	mp_manager_free(c);
	mp_manager_free(m);
}

/* The server stops answering, then dies: calls fail within the timeout. */
static void test_remote_server_death(void **state)
{
	mp_manager_t *m, *c;
	mp_dictproxy_t *d;
	double t0;
	pid_t pid;

	(void)state;
	c = served_client(&m, mpt_timeout(0.5)); /* connects in it too */
	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	pid = mp_manager_pid(m);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = mpt_now();
	assert_int_equal(mp_dictproxy_len(d), -ETIMEDOUT);
	assert_true(mpt_now() - t0 < mpt_timeout(5));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(kill(pid, SIGCONT), 0);
	t0 = mpt_now();
	assert_true(mp_dictproxy_len(d) < 0);
	assert_true(mpt_now() - t0 < mpt_timeout(5));
	mp_manager_free(c);
	mp_manager_free(m);
}

/* ---- nested proxies ---- */

/* A CPython client stores proxies in a dict of ours and uses them as it
 * reads them back (CPython's RebuildProxy: the server notes the object,
 * the reader increfs it, also after its creator's proxy was dropped). */
static const char nested_client[] =
	"import sys, multiprocessing\n"
	"from multiprocessing.managers import (SyncManager, DictProxy,\n"
	"    ListProxy, Token, RemoteError)\n"
	"# a proxy rebuilt from a value takes the process's key (CPython)\n"
	"multiprocessing.current_process().authkey = b'secret'\n"
	"class M(SyncManager): pass\n"
	"M.register('get_dict', proxytype=DictProxy)\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = M(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"d = m.get_dict()\n"
	"d['inner'] = m.list()\n"
	"d['inner'].append(1)\n"
	"d['inner'].append(2)\n"
	"print(type(d['inner']).__name__, len(d['inner']), d['inner'][1])\n"
	"d['q'] = m.Queue()\n"
	"d['q'].put(5)\n"
	"print(d['q'].get())\n"
	"d['c'][0] += 1\n"
	"d['c'].append(8)\n"
	"print(d['c'][0], len(d['c']))\n"
	"d['l'] = [m.dict({'k': 'v'})]\n"
	"print(d['l'][0]['k'])\n"
	"fake = ListProxy(Token('list', m.address, 'dead'), 'pickle',\n"
	"                 authkey=b'secret', incref=False)\n"
	"try:\n    d['x'] = fake\n"
	"except RemoteError as e:\n"
	"    print('refused', \"KeyError: 'dead'\" in str(e))\n"
	"print(sorted(d.keys()))\n";

static void test_remote_nested_cpython_client(void **state)
{
	mp_manager_t *m;
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	mp_obj_t *v, *k;
	void *p;

	(void)state;
	NEED_PYTHON();
	m = served("127.0.0.1:0");
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	mpt_assert_ok(mp_manager_register(m, "get_dict", MP_MANAGER_DICT, d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	v = mp_obj_int(7);
	mpt_assert_ok(mp_listproxy_append(l, v));
	mp_obj_free(v);
	/* a proxy C made, stored for the CPython client */
	k = str("c");
	v = mp_obj_proxy(m, MP_MANAGER_LIST, l);
	assert_non_null(v);
	mpt_assert_ok(mp_dictproxy_set(d, k, v));
	mp_obj_free(v);
	mp_obj_free(k);
	python_expect(nested_client, mp_manager_address(m),
		      "ListProxy 2 2\n5\n8 2\nv\nrefused True\n"
		      "['c', 'inner', 'l', 'q']\n");
	/* what the CPython client stored, used from C */
	mpt_assert_ok(mp_listproxy_slice(l, 0, PTRDIFF_MAX, &v));
	assert_repr(v, "[8, 8]");
	mp_obj_free(v);
	k = str("inner");
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	mp_obj_free(k);
	assert_int_equal(mp_obj_as_proxy(v, m, MP_MANAGER_LIST, &p),
			 MP_MANAGER_LIST);
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_slice(p, 0, PTRDIFF_MAX, &v));
	assert_repr(v, "[1, 2]");
	mp_obj_free(v);
	k = str("q");
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	mp_obj_free(k);
	assert_int_equal(mp_obj_as_proxy(v, m, 0, &p), MP_MANAGER_QUEUE);
	assert_int_equal(mp_queueproxy_qsize(p), 0);
	mp_obj_free(v);
	mp_manager_free(m);
}

/* A C client stores a proxy in a dict of a connected manager, reads it
 * back and uses it: against CPython's SyncManager and ours. */
static void drive_nested(mp_manager_t *c)
{
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	mp_obj_t *v, *w, *k = str("inner");
	mp_lock_t *lk;
	void *p = NULL;

	mpt_assert_ok(mp_manager_dict(c, NULL, &d));
	mpt_assert_ok(mp_manager_list(c, NULL, &l));
	v = mp_obj_proxy(c, MP_MANAGER_LIST, l);
	assert_non_null(v);
	mpt_assert_ok(mp_dictproxy_set(d, k, v));
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	assert_non_null(strstr(repr_of_str(v), "RebuildProxy('ListProxy', "
				"Token(typeid='list', address=('127.0.0.1', "));
	assert_err(mp_obj_as_proxy(v, c, MP_MANAGER_DICT, &p), -EINVAL,
		   "not a 'dict'");
	assert_int_equal(mp_obj_as_proxy(v, c, MP_MANAGER_LIST, &p),
			 MP_MANAGER_LIST);
	assert_ptr_not_equal(p, l);
	mp_obj_free(v);
	w = mp_obj_str("through the nested proxy");
	mpt_assert_ok(mp_listproxy_append(p, w));
	mp_obj_free(w);
	mpt_assert_ok(mp_listproxy_get(l, 0, &v));
	assert_repr(v, "'through the nested proxy'");
	mp_obj_free(v);
	assert_int_equal(mp_listproxy_len(p), 1);
	/* Both client proxies go: the value in the dict keeps the list. */
	mp_listproxy_free(p);
	mp_listproxy_free(l);
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	assert_int_equal(mp_obj_as_proxy(v, c, MP_MANAGER_LIST, &p),
			 MP_MANAGER_LIST);
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_get(p, 0, &v));
	assert_repr(v, "'through the nested proxy'");
	mp_obj_free(v);
	mp_listproxy_free(p);
	/* Any kind nests: a Lock taken through the nested handle. */
	mpt_assert_ok(mp_manager_lock(c, &lk));
	v = mp_obj_proxy(c, MP_MANAGER_LOCK, lk);
	assert_non_null(v);
	mpt_assert_ok(mp_dictproxy_set(d, k, v));
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_get(d, k, &v));
	assert_int_equal(mp_obj_as_proxy(v, c, 0, &p), MP_MANAGER_LOCK);
	mp_obj_free(v);
	mpt_assert_ok(mp_lock_acquire(p, 0));
	assert_int_equal(mp_lock_acquire(lk, 0), -ETIMEDOUT);
	mpt_assert_ok(mp_lock_release(p));
	mpt_assert_ok(mp_lock_acquire(lk, 0));
	mpt_assert_ok(mp_lock_release(lk));
	mp_lock_free(p);
	mp_lock_free(lk);
	mp_obj_free(k);
}

static void test_remote_nested_mproc_client(void **state)
{
	mp_manager_t *m, *c;

	(void)state;
	on_cpython_server(drive_nested);
	m = served("127.0.0.1:0");
	c = connect_to(mp_manager_address(m), KEY, mpt_timeout(30));
	assert_non_null(c);
	drive_nested(c);
	mp_manager_free(c);
	mp_manager_free(m);
}

/* ---- list operators, Condition(lock), Array(size): as CPython's ---- */

static const char extras_client[] =
	"import sys\n"
	"from multiprocessing.managers import SyncManager, RemoteError\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = SyncManager(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"l = m.list([1, 'b', 3])\n"
	"print(l + [4], l * 2, 2 * l, l * -1, True * l)\n"
	"r = reversed(l)\n"
	"print(type(r).__name__, list(r), list(reversed(m.list())))\n"
	"l *= 3\n"
	"print(len(l), l[4], l[-1])\n"
	"l2 = l\n"
	"l *= 1\n"
	"print(l is l2, len(l))\n"
	"l *= 0\n"
	"print(len(l))\n"
	"l.append(1)\n"
	"l *= -5\n"
	"print(len(l))\n"
	"for bad in (lambda: l * 'x', lambda: l * 1.5, lambda: l + (1,),\n"
	"            lambda: l + 5, lambda: l.__imul__(None),\n"
	"            lambda: l * 2**70, lambda: m.Array('i', 3),\n"
	"            lambda: m.Array('d', None)):\n"
	"    try:\n        print(bad())\n"
	"    except (TypeError, OverflowError) as e:\n"
	"        print(type(e).__name__, e)\n"
	"    except RemoteError as e:  # create() fails with a traceback\n"
	"        print('RemoteError', str(e).strip().splitlines()[-2])\n"
	"print(l)\n";

/* m.Condition(m.Lock()) works on CPython's server only when the server
 * process's own key is the manager's (its proxy to the Lock connects with
 * it: AuthenticationError here); on ours the Condition takes the Lock. */
static const char cond_client[] =
	"import sys\n"
	"from multiprocessing.managers import SyncManager\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = SyncManager(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"lk = m.Lock()\n"
	"c = m.Condition(lk)\n"
	"lk.acquire()\n"
	"print(c.wait(0.01), c.notify_all())\n"
	"lk.release()\n"
	"with c:\n    print(c.wait_for(lambda: True, 0.01), lk.acquire(False))\n"
	"print(lk.acquire(False))\n"
	"lk.release()\n"
	"rc = m.Condition(m.RLock())\n"
	"with rc:\n    print(rc.wait(0.01))\n"
	"try:\n    m.Condition(m.Event())\n"
	"except Exception as e:\n"
	"    print(str(e).strip().splitlines()[-2])\n"
	"c2 = m.Condition(None)\n"
	"with c2:\n    print(c2.wait(0.01))\n";

static const char extras_out[] =
	"[1, 'b', 3, 4] [1, 'b', 3, 1, 'b', 3] [1, 'b', 3, 1, 'b', 3] [] "
	"[1, 'b', 3]\n"
	"list_reverseiterator [3, 'b', 1] []\n"
	"9 b 3\n"
	"True 9\n"
	"0\n"
	"0\n"
	"TypeError 'str' object cannot be interpreted as an integer\n"
	"TypeError 'float' object cannot be interpreted as an integer\n"
	"TypeError can only concatenate list (not \"tuple\") to list\n"
	"TypeError can only concatenate list (not \"int\") to list\n"
	"TypeError 'NoneType' object cannot be interpreted as an integer\n"
	"OverflowError cannot fit 'int' into an index-sized integer\n"
	"RemoteError TypeError: 'int' object is not iterable\n"
	"RemoteError TypeError: 'NoneType' object is not iterable\n"
	"[]\n";

/* The same script, and output want, against CPython's server and ours. */
static void expect_on_both(const char *script, const char *want)
{
	char address[128];
	mp_popen_t *p = start_cpython_server(address, sizeof(address));
	mp_manager_t *m;

	python_expect(script, address, want);
	stop_cpython_server(p);
	m = served("127.0.0.1:0");
	python_expect(script, mp_manager_address(m), want);
	mp_manager_free(m);
}

static void test_remote_list_operators_condition_array(void **state)
{
	mp_manager_t *m;

	(void)state;
	NEED_PYTHON();
	expect_on_both(extras_client, extras_out);
	m = served("127.0.0.1:0");
	python_expect(cond_client, mp_manager_address(m),
		      "False None\nTrue False\nTrue\nFalse\n"
		      "TypeError: mproc's manager makes a Condition on a Lock or "
		      "RLock proxy (or its own RLock)\nFalse\n");
	mp_manager_free(m);
}

/* ---- slices: a CPython client's l[a:b:c], = and del, and an Array's
 * a[a:b:c] (an array.array), as CPython's ---- */

static const char slice_client[] =
	"import sys\n"
	"from multiprocessing.managers import SyncManager\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = SyncManager(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"l = m.list(list(range(10)))\n"
	"print(l[1:3], l[::2], l[::-1], l[-3:], l[:-7:-2], l[8:2:-3], l[5:2])\n"
	"print(l[-100:100:4], l[2**70:], l[:-2**70], l[::-2**70], l[True:None])\n"
	"l[1:3] = ['a', 'b', 'c']\n"
	"print(l)\n"
	"l[::3] = (0, 3, 6, 9)\n"
	"print(l)\n"
	"l[5:2] = ['x']\n"
	"print(l)\n"
	"l[-2:] = []\n"
	"print(l)\n"
	"del l[::2]\n"
	"print(l)\n"
	"del l[-1:0:-2]\n"
	"print(l)\n"
	"del l[5:]\n"
	"print(l, len(l))\n"
	"l[:] = [7, 8, 9, 10]\n"
	"del l[::-1]\n"
	"print(l)\n"
	"l.extend([1, 2, 3, 4, 5])\n"
	"for bad in (lambda: l.__setitem__(slice(None, None, 2), [1]),\n"
	"            lambda: l.__setitem__(slice(0, 5, -1), [1, 2]),\n"
	"            lambda: l.__setitem__(slice(1, 2), 5),\n"
	"            lambda: l.__setitem__(slice(1, 5, 2), None),\n"
	"            lambda: l['a':2], lambda: l[1:2.5], lambda: l[::0],\n"
	"            lambda: l.__delitem__(slice(None, None, 0)),\n"
	"            lambda: l.__delitem__(slice('x', None)),\n"
	"            lambda: l['x'], lambda: l[2**70], lambda: l[None],\n"
	"            lambda: l['a':None:0], lambda: l[True]):\n"
	"    try:\n"
	"        print(bad())\n"
	"    except (TypeError, ValueError, IndexError) as e:\n"
	"        print(type(e).__name__, e)\n"
	"print(l)\n"
	"a = m.Array('i', [0, 1, 2, 3, 4, 5])\n"
	"d = m.Array('d', [0.5, 1.5, 2.5])\n"
	"print(a[1:3], a[::-2], a[-2:], a[4:1], a[::2**70], d[::2], len(a))\n"
	"for bad in (lambda: a['x':1], lambda: a[::0], lambda: a['x'],\n"
	"            lambda: a.__setitem__(slice(1, 3), [7, 8]),\n"
	"            lambda: a.__setitem__(slice(None, None, 2), (1, 2, 3))):\n"
	"    try:\n"
	"        print(bad())\n"
	"    except (TypeError, ValueError) as e:\n"
	"        print(type(e).__name__, e)\n"
	"print(a[:])\n";

static const char slice_out[] =
	"[1, 2] [0, 2, 4, 6, 8] [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] [7, 8, 9] [9, 7, 5] [8, 5] []\n"
	"[0, 4, 8] [] [] [9] [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
	"[0, 'a', 'b', 'c', 3, 4, 5, 6, 7, 8, 9]\n"
	"[0, 'a', 'b', 3, 3, 4, 6, 6, 7, 9, 9]\n"
	"[0, 'a', 'b', 3, 3, 'x', 4, 6, 6, 7, 9, 9]\n"
	"[0, 'a', 'b', 3, 3, 'x', 4, 6, 6, 7]\n"
	"['a', 3, 'x', 6, 7]\n"
	"['a', 3, 6]\n"
	"['a', 3, 6] 3\n"
	"[]\n"
	"ValueError attempt to assign sequence of size 1 to extended slice of size 3\n"
	"ValueError attempt to assign sequence of size 2 to extended slice of size 0\n"
	"TypeError can only assign an iterable\n"
	"TypeError must assign iterable to extended slice\n"
	"TypeError slice indices must be integers or None or have an __index__ method\n"
	"TypeError slice indices must be integers or None or have an __index__ method\n"
	"ValueError slice step cannot be zero\n"
	"ValueError slice step cannot be zero\n"
	"TypeError slice indices must be integers or None or have an __index__ method\n"
	"TypeError list indices must be integers or slices, not str\n"
	"IndexError cannot fit 'int' into an index-sized integer\n"
	"TypeError list indices must be integers or slices, not NoneType\n"
	"ValueError slice step cannot be zero\n"
	"2\n"
	"[1, 2, 3, 4, 5]\n"
	"array('i', [1, 2]) array('i', [5, 3, 1]) array('i', [4, 5]) array('i') array('i', [0]) array('d', [0.5, 2.5]) 6\n"
	"TypeError slice indices must be integers or None or have an __index__ method\n"
	"ValueError slice step cannot be zero\n"
	"TypeError array indices must be integers\n"
	"TypeError can only assign array (not \"list\") to array slice\n"
	"TypeError can only assign array (not \"tuple\") to array slice\n"
	"array('i', [0, 1, 2, 3, 4, 5])\n";

static void test_remote_list_slices(void **state)
{
	(void)state;
	NEED_PYTHON();
	expect_on_both(slice_client, slice_out);
}

/* ---- dict.update from pairs and keywords, as CPython's ---- */

static const char update_client[] =
	"import sys\n"
	"from multiprocessing.managers import SyncManager\n"
	"host, port = sys.argv[1].rsplit(':', 1)\n"
	"m = SyncManager(address=(host, int(port)), authkey=b'secret')\n"
	"m.connect()\n"
	"d = m.dict()\n"
	"d.update([('a', 1), ['b', [2]]], c=3)\n"
	"d.update((('a', 0),), a=5)\n"
	"d.update({('t', 1): None})\n"
	"d.update()\n"
	"d.update(z=0)\n"
	"print(sorted(d.items(), key=repr))\n"
	"for bad in ([('x', 1), 5], [('y', 1), (1, 2, 3)], [('w', 1), ([1], 2)],\n"
	"            [('v', 1), ((1, [2]), 3)], 7, None):\n"
	"    try:\n"
	"        d.update(bad)\n"
	"    except (TypeError, ValueError) as e:\n"
	"        print(type(e).__name__, e)\n"
	"try:\n"
	"    d.update({}, {})\n"
	"except TypeError as e:\n"
	"    print(type(e).__name__, e)\n"
	"print(sorted(d.items(), key=repr))\n";

static const char update_out[] =
	"[('a', 5), ('b', [2]), ('c', 3), ('z', 0), (('t', 1), None)]\n"
	"TypeError cannot convert dictionary update sequence element #1 to a sequence\n"
	"ValueError dictionary update sequence element #1 has length 3; 2 is required\n"
	"TypeError unhashable type: 'list'\n"
	"TypeError unhashable type: 'list'\n"
	"TypeError 'int' object is not iterable\n"
	"TypeError 'NoneType' object is not iterable\n"
	"TypeError update expected at most 1 argument, got 2\n"
	"[('a', 5), ('b', [2]), ('c', 3), ('v', 1), ('w', 1), ('x', 1), ('y', 1), ('z', 0), (('t', 1), None)]\n";

static void test_remote_dict_update(void **state)
{
	(void)state;
	NEED_PYTHON();
	expect_on_both(update_client, update_out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_remote_cpython_client),
		MPT(test_remote_client_killed_holding_lock),
		MPT(test_remote_unix_address),
		MPT(test_remote_mproc_client_mproc_server),
		MPT(test_remote_batch),
		MPT(test_remote_mproc_client_cpython_server),
		MPT(test_remote_wrong_authkey),
		MPT(test_remote_thread_connections),
		MPT(test_remote_sync_value_iter),
		MPT(test_remote_objects_freed),
		MPT(test_remote_freed_in_call_room),
		MPT(test_remote_fork_child_connection),
		MPT(test_remote_half_frame_and_garbage),
		MPT(test_remote_server_death),
		MPT(test_remote_nested_cpython_client),
		MPT(test_remote_nested_mproc_client),
		MPT(test_remote_list_operators_condition_array),
		MPT(test_remote_list_slices),
		MPT(test_remote_dict_update),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
