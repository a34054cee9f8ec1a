/*
 * manager/serve_queue.c - the server's table entries for Queue,
 * JoinableQueue, Value, Array, BoundedSemaphore and Barrier (see
 * serve_types.c for the others and the helpers): each method calls the
 * function a local client calls on the same object in the region.
 *
 * CPython's server makes both Queue and JoinableQueue a queue.Queue,
 * which has task_done and join: so do we (both are joinable).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "obj/obj_int.h"
#include "manager/srv_int.h"
#include "mproc/sync.h"
#include "sync/sync_int.h"

/* ---- Queue ---- */

#define Q ((mp_queueproxy_t *)c->obj)

/* queue.Queue's (block=True, timeout=None) from argument i on. */
static int q_wait(struct mp__call *c, size_t i, bool *block, double *w)
{
	const mp_obj_t *b = mp__call_arg(c, i, "block");
	const mp_obj_t *t = mp__call_arg(c, i + 1, "timeout");
	int64_t v = 1;
	bool bv;
	int rc;

	if (b != NULL && mp_obj_as_bool(b, &bv) == 0)
		v = bv;
	else if (b != NULL && mp_obj_as_int(b, &v) < 0)
		v = 1;
	*block = v != 0;
	if (t != NULL && mp_obj_kind(t) != MP_OBJ_NONE &&
	    mp_obj_as_float(t, w) == 0 && *w < 0)
		return mp__call_raise(c, "ValueError", "'timeout' must be a "
				      "non-negative number");
	rc = mp__call_timeout(c, i + 1, "timeout", w);
	if (rc == 0 && *block && *w == 0 && c->max_wait == 0)
		*block = false; /* a harness never waits */
	return rc;
}

static int q_fail(struct mp__call *c, int rc, const char *mod,
		  const char *cls)
{
	if (rc == -EAGAIN || rc == -ETIMEDOUT) {
		c->exc = mp_obj_object(mod, cls, mp_obj_tuple(0, NULL), NULL,
				       0);
		return rc;
	}
	c->exc = mp__exc_from_error(rc, mp__reason(rc), NULL);
	return rc;
}

static int q_put_how(struct mp__call *c, bool nowait)
{
	const mp_obj_t *v;
	bool block = false;
	double w = 0;
	int rc;

	if ((rc = mp__call_need(c, 0, "item", &v)) < 0 ||
	    (!nowait && (rc = q_wait(c, 1, &block, &w)) < 0))
		return rc;
	if ((rc = mp__queue_put(Q, v, block, w)) < 0)
		return q_fail(c, rc, "queue", "Full");
	return 0;
}

static int q_put(struct mp__call *c) { return q_put_how(c, false); }
static int q_put_nowait(struct mp__call *c) { return q_put_how(c, true); }

static int q_get_how(struct mp__call *c, bool nowait)
{
	bool block = false;
	double w = 0;
	int rc;

	if (!nowait && (rc = q_wait(c, 0, &block, &w)) < 0)
		return rc;
	if ((rc = mp__queue_get(Q, block, w, &c->ret)) < 0)
		return q_fail(c, rc, "_queue", "Empty");
	return 0;
}

static int q_get(struct mp__call *c) { return q_get_how(c, false); }
static int q_get_nowait(struct mp__call *c) { return q_get_how(c, true); }

static int q_plain(struct mp__call *c, int rc)
{
	return rc < 0 ? q_fail(c, rc, NULL, NULL) : rc;
}

static int q_qsize(struct mp__call *c)
{
	return mp__call_count(c, q_plain(c, mp__queue_qsize(Q)));
}

static int q_empty(struct mp__call *c)
{
	int n = q_plain(c, mp__queue_qsize(Q));

	return mp__call_bool(c, n < 0 ? n : n == 0);
}

static int q_full(struct mp__call *c)
{
	return mp__call_bool(c, q_plain(c, mp__queue_full(Q)));
}

static int q_task_done(struct mp__call *c)
{
	return q_plain(c, mp__queue_task_done(Q));
}

static int q_join(struct mp__call *c)
{
	int rc = mp__queue_join(Q, c->max_wait);

	return rc == -ETIMEDOUT ? 0 : q_plain(c, rc);
}

static int q_create_how(struct mp__call *c, struct mp__region *r, void **out)
{
	int64_t n;
	int rc = mp__call_int(c, 0, "maxsize", 0, &n);

	if (rc < 0)
		return rc;
	if (n < 0)
		n = 0; /* queue.Queue: maxsize <= 0 is unbounded */
	if (n > INT32_MAX)
		return mp__call_raise(c, "ValueError", "maxsize is over "
				      "INT32_MAX");
	return mp__queue_new(r, (unsigned)n, true, (mp_queueproxy_t **)out);
}

#undef Q

/* ---- Value and Array ---- */

static int v_get(struct mp__call *c)
{
	int rc = mp__value_get(c->obj, &c->ret);

	return rc < 0 ? q_plain(c, rc) : 0;
}

static int v_set(struct mp__call *c)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 0, "value", &v);

	return rc < 0 ? rc : q_plain(c, mp__value_set(c->obj, v));
}

static int v_create(struct mp__call *c, struct mp__region *r, void **out)
{
	const mp_obj_t *v;
	int rc = mp__call_need(c, 1, "value", &v);

	return rc < 0 ? rc : q_plain(c, mp__value_new(r, v,
						(mp_valueproxy_t **)out));
}

/* The index argument: 0 and *i, 1 and b for a slice, or a code with
 * c->exc set. */
static int a_index(struct mp__call *c, int64_t *i, ptrdiff_t b[3])
{
	const mp_obj_t *o;
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc < 0 || (rc = mp__call_slice(c, o, b)) != 0)
		return rc;
	if (mp_obj_kind(o) != MP_OBJ_INT || mp_obj_as_int(o, i) < 0)
		return mp__call_raise(c, "TypeError", "array indices must be "
				      "integers");
	return 0;
}

/* a[start:stop:step] as CPython's server returns it: an array.array of
 * the same typecode (written as array.array(typecode, [items])). */
static int a_get_slice(struct mp__call *c, const ptrdiff_t b[3])
{
	struct mp_arrayproxy *a = c->obj;
	char tc[2] = {a->code, '\0'};
	struct mp__span s;
	mp_obj_t *l, *v;
	uint64_t k;
	int rc;

	if ((rc = mp__slice_resolve(b[0], b[1], b[2], a->n, &s)) < 0)
		return q_plain(c, rc);
	if ((l = mp_obj_list()) == NULL)
		return -ENOMEM;
	for (k = 0; k < s.len; k++)
		if ((rc = mp__array_get(a, (ptrdiff_t)mp__slice_at(&s, k),
					&v)) < 0 ||
		    (rc = mp_obj_list_append(l, v)) < 0) {
			mp_obj_free(l);
			return q_plain(c, rc);
		}
	c->ret = mp_obj_object("array", "array",
			       mp_obj_tuple_pack(2, mp_obj_str(tc), l), NULL,
			       0);
	return c->ret == NULL ? -ENOMEM : 0;
}

static int a_len(struct mp__call *c)
{
	return mp__call_count(c, mp_arrayproxy_len(c->obj));
}

static int a_get(struct mp__call *c)
{
	ptrdiff_t b[3];
	int64_t i;
	int rc = a_index(c, &i, b);

	if (rc == 1)
		return a_get_slice(c, b);
	return rc < 0 ? rc : q_plain(c, mp__array_get(c->obj, (ptrdiff_t)i,
						      &c->ret));
}

static int a_set(struct mp__call *c)
{
	const mp_obj_t *v;
	char msg[96];
	ptrdiff_t b[3];
	int64_t i;
	int rc;

	if ((rc = a_index(c, &i, b)) < 0 ||
	    mp__call_need(c, 1, NULL, &v) < 0)
		return rc < 0 ? rc : -EINVAL;
	if (rc == 1 && mp_obj_kind(v) == MP_OBJ_OBJECT) /* an array.array */
		return mp__call_raise(c, "TypeError", "mproc's manager assigns "
				      "no slice of an Array");
	if (rc == 1) {
		snprintf(msg, sizeof(msg), "can only assign array (not \"%s\") "
			 "to array slice", mp_obj_kind_name(mp_obj_kind(v)));
		return mp__call_raise(c, "TypeError", msg);
	}
	return q_plain(c, mp__array_set(c->obj, (ptrdiff_t)i, v));
}

static int a_create(struct mp__call *c, struct mp__region *r, void **out)
{
	const mp_obj_t *tc, *init;
	const mp_bytes_t *s;
	int rc;

	if ((rc = mp__call_need(c, 0, "typecode", &tc)) < 0 ||
	    (rc = mp__call_need(c, 1, "sequence", &init)) < 0)
		return rc;
	if (mp_obj_as_str(tc, &s) < 0 || s->len != 1)
		return mp__call_raise(c, "TypeError", "array() argument 1 must "
				      "be a unicode character");
	if (mp_obj_kind(init) <= MP_OBJ_FLOAT) /* as array.array(tc, 3) */
		return mp__call_raise_not_iterable(c, init);
	return q_plain(c, mp__array_new(r, s->data[0], init,
					(mp_arrayproxy_t **)out));
}

/* ---- BoundedSemaphore and Barrier ---- */

static int bsem_create(struct mp__call *c, struct mp__region *r, void **out)
{
	mp_semaphore_opts_t so = {.bounded = true};
	int64_t v;
	int rc = mp__call_int(c, 0, "value", 1, &v);

	if (rc == 0 && (v < 1 || v > INT32_MAX))
		return mp__call_raise(c, "ValueError", "mproc's manager needs "
				      "a BoundedSemaphore value in 1 .. "
				      "INT32_MAX");
	if (rc < 0 || (rc = mp__region_room(r, sizeof(mp_semaphore_t), out)) < 0)
		return rc;
	mp_semaphore_init(*out, (unsigned)v, &so);
	mp__semaphore_threading_wording(*out);
	return 0;
}

static int bsem_acquire(struct mp__call *c)
{
	const mp_obj_t *b = mp__call_arg(c, 0, "blocking");
	bool blocking = true;
	double w = 0;
	int rc = mp__call_timeout(c, 1, "timeout", &w);

	if (b != NULL)
		mp_obj_as_bool(b, &blocking);
	if (rc < 0)
		return rc;
	rc = mp_semaphore_acquire(c->obj, blocking ? w : 0);
	return mp__call_bool(c, rc == -ETIMEDOUT ? 0 : rc < 0 ? rc : 1);
}

static int bsem_release(struct mp__call *c)
{
	int64_t n;
	int rc = mp__call_int(c, 0, "n", 1, &n);

	if (rc == 0 && (n < 1 || n > INT32_MAX))
		return mp__call_raise(c, "ValueError", "n must be one or more");
	if (rc == 0 && mp_semaphore_release(c->obj, (unsigned)n) < 0)
		return mp__call_raise(c, "ValueError", "Semaphore released too "
				      "many times");
	return rc;
}

static int bar_create(struct mp__call *c, struct mp__region *r, void **out)
{
	mp_barrier_opts_t o = {.timeout = MP_FOREVER};
	const mp_obj_t *a = mp__call_arg(c, 1, "action");
	const mp_obj_t *t = mp__call_arg(c, 2, "timeout");
	int64_t n;
	int rc = mp__call_int(c, 0, "parties", 0, &n);

	if (rc < 0)
		return rc;
	if (a != NULL && mp_obj_kind(a) != MP_OBJ_NONE)
		return mp__call_raise(c, "NotImplementedError", "a manager's "
				      "Barrier has no action here");
	if (n < 1 || n > INT32_MAX)
		return mp__call_raise(c, "ValueError", "parties must be > 0");
	if (t != NULL && mp_obj_kind(t) != MP_OBJ_NONE &&
	    (mp_obj_as_float(t, &o.timeout) < 0 || !(o.timeout >= 0)))
		return mp__call_raise(c, "ValueError", "timeout must be a "
				      "non-negative number");
	if ((rc = mp__region_room(r, sizeof(mp_barrier_t), out)) < 0)
		return rc;
	mp_barrier_init(*out, (unsigned)n, &o);
	return 0;
}

static int bar_wait(struct mp__call *c)
{
	const mp_obj_t *t = mp__call_arg(c, 0, "timeout");
	double w = MP_BARRIER_DEFAULT;
	int rc;

	if (t != NULL && mp_obj_kind(t) != MP_OBJ_NONE &&
	    (rc = mp__call_timeout(c, 0, "timeout", &w)) < 0)
		return rc;
	if (c->max_wait >= 0)
		w = c->max_wait;
	rc = mp_barrier_wait(c->obj, w);
	if (rc == MP_EBARRIER) {
		c->exc = mp_obj_object("threading", "BrokenBarrierError",
				       mp_obj_tuple(0, NULL), NULL, 0);
		return rc;
	}
	return mp__call_count(c, rc);
}

static int bar_abort(struct mp__call *c) { return mp_barrier_abort(c->obj); }
static int bar_reset(struct mp__call *c) { return mp_barrier_reset(c->obj); }

static int bar_attr(struct mp__call *c)
{
	const mp_obj_t *o;
	const mp_bytes_t *s;
	int rc = mp__call_need(c, 0, NULL, &o);

	if (rc < 0 || mp_obj_as_str(o, &s) < 0)
		return rc < 0 ? rc : mp__call_raise(c, "TypeError", "attribute "
						    "name must be string");
	if (strcmp(s->data, "parties") == 0)
		return mp__call_count(c, mp_barrier_parties(c->obj));
	if (strcmp(s->data, "n_waiting") == 0)
		return mp__call_count(c, mp_barrier_n_waiting(c->obj));
	if (strcmp(s->data, "broken") == 0)
		return mp__call_bool(c, mp_barrier_broken(c->obj));
	return mp__call_raise(c, "AttributeError", "'Barrier' object has no "
			      "attribute served by mproc");
}

/* ---- the table ---- */

static const char *const q_exposed[] = {
	"empty", "full", "get", "get_nowait", "join", "put", "put_nowait",
	"qsize", "task_done", NULL,
};
static const struct mp__method q_methods[] = {
	{"empty", q_empty}, {"full", q_full}, {"get", q_get},
	{"get_nowait", q_get_nowait}, {"join", q_join}, {"put", q_put},
	{"put_nowait", q_put_nowait}, {"qsize", q_qsize},
	{"task_done", q_task_done}, {NULL, NULL},
};

static const char *const v_exposed[] = {"get", "set", NULL};
static const struct mp__method v_methods[] = {
	{"get", v_get}, {"set", v_set}, {NULL, NULL},
};

static const char *const a_exposed[] = {
	"__len__", "__getitem__", "__setitem__", NULL,
};
static const struct mp__method a_methods[] = {
	{"__len__", a_len}, {"__getitem__", a_get}, {"__setitem__", a_set},
	{NULL, NULL},
};

static const char *const acq_exposed[] = {"acquire", "release", NULL};
static const struct mp__method bsem_methods[] = {
	{"acquire", bsem_acquire}, {"release", bsem_release}, {NULL, NULL},
};

static const char *const bar_exposed[] = {
	"__getattribute__", "wait", "abort", "reset", NULL,
};
static const struct mp__method bar_methods[] = {
	{"__getattribute__", bar_attr}, {"wait", bar_wait},
	{"abort", bar_abort}, {"reset", bar_reset}, {NULL, NULL},
};

const struct mp__srv_type mp__srv_more_types[] = {
	{MP_MANAGER_QUEUE, "Queue", "queue.Queue", q_exposed, q_methods, NULL,
	 NULL, q_create_how},
	{MP_MANAGER_JOINABLEQUEUE, "JoinableQueue", "queue.Queue", q_exposed,
	 q_methods, NULL, NULL, q_create_how},
	{MP_MANAGER_VALUE, "Value", "multiprocessing.managers.Value",
	 v_exposed, v_methods, NULL, NULL, v_create},
	{MP_MANAGER_ARRAY, "Array", "array.array", a_exposed, a_methods, NULL,
	 NULL, a_create},
	{MP_MANAGER_BOUNDEDSEMAPHORE, "BoundedSemaphore",
	 "threading.BoundedSemaphore", acq_exposed, bsem_methods, NULL, NULL,
	 bsem_create},
	{MP_MANAGER_BARRIER, "Barrier", "threading.Barrier", bar_exposed,
	 bar_methods, NULL, NULL, bar_create},
	{0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
