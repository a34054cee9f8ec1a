/*
 * fuzz_manager_request.c - the manager server's request path: a peer's
 * bytes straight into mp__srv_handle (the pickle reader, the request's
 * shape, the public functions and every served method) against a real
 * in-process region holding one object of each served type.  The first
 * byte chooses the connection's phase: 0, its first request (a public
 * function: create, incref, accept_connection ...), else a method call.
 * The objects' idents are fixed names here ("d", "l", "n", "lock",
 * "rlock", "sem", "cond", "ev", "q", "v", "a", "bs", "bar") so that the seed corpus (real CPython 3.11
 * requests, mkcorpus_manager.py) reaches them; waits are bounded to 0.
 * Besides the sanitizers: every request gets a reply that loads as a
 * (kind, value) pair.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "manager/srv_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAPACITY ((size_t)64 << 20)

static struct mp__region *region;
static struct mp__srv srv;
static size_t fixed;

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The arguments create gets for each object (a list, as decoded). */
static mp_obj_t *create_args(int kind)
{
	mp_obj_t *l = mp_obj_list(), *a;

	switch (kind) {
	case MP_MANAGER_QUEUE:
		mp_obj_list_append(l, mp_obj_int(3));
		break;
	case MP_MANAGER_VALUE:
		mp_obj_list_append(l, mp_obj_str("i"));
		mp_obj_list_append(l, mp_obj_int(7));
		break;
	case MP_MANAGER_ARRAY:
		a = mp_obj_list();
		mp_obj_list_append(a, mp_obj_int(1));
		mp_obj_list_append(a, mp_obj_int(2));
		mp_obj_list_append(l, mp_obj_str("i"));
		mp_obj_list_append(l, a);
		break;
	case MP_MANAGER_BOUNDEDSEMAPHORE:
		mp_obj_list_append(l, mp_obj_int(2));
		break;
	case MP_MANAGER_BARRIER:
		mp_obj_list_append(l, mp_obj_int(1));
		break;
	}
	return l;
}

/* One object of each type, made by its table entry's create. */
static void setup(void)
{
	static const struct {
		int kind;
		const char *ident;
	} objs[] = {
		{MP_MANAGER_DICT, "d"}, {MP_MANAGER_LIST, "l"},
		{MP_MANAGER_NAMESPACE, "n"}, {MP_MANAGER_LOCK, "lock"},
		{MP_MANAGER_RLOCK, "rlock"}, {MP_MANAGER_SEMAPHORE, "sem"},
		{MP_MANAGER_CONDITION, "cond"}, {MP_MANAGER_EVENT, "ev"},
		{MP_MANAGER_QUEUE, "q"}, {MP_MANAGER_VALUE, "v"},
		{MP_MANAGER_ARRAY, "a"}, {MP_MANAGER_BOUNDEDSEMAPHORE, "bs"},
		{MP_MANAGER_BARRIER, "bar"},
	};
	const struct mp__srv_type *t;
	struct mp__call c = {0};
	mp_dictproxy_t *names;
	mp_obj_t *args, *kw;
	char ident[24];
	size_t i;
	void *p;

	if (region != NULL) {
		mp__srv_destroy(&srv);
		mp__region_unmap(region);
	}
	check(mp__region_new(CAPACITY, &region) == 0);
	/* the dict of names, which also records the objects nested proxies
	 * refer to (manager.c makes it in mp_manager_new) */
	check(mp__dict_new(region, NULL, &names) == 0);
	region->names = (uint64_t)((char *)names - (char *)region);
	check(mp__srv_init(&srv, region) == 0);
	srv.max_wait = 0;
	srv.address = "127.0.0.1:5000";
	kw = mp_obj_dict();
	for (i = 0; i < sizeof(objs) / sizeof(*objs); i++) {
		t = mp__srv_type_by_kind(objs[i].kind);
		check((args = create_args(objs[i].kind)) != NULL);
		c = (struct mp__call){.args = args, .kwds = kw};
		check(t->create(&c, region, &p) == 0);
		mp_obj_free(args);
		check(mp__srv_track(&srv, t, p, ident) == 0);
		snprintf(srv.objs[i].ident, sizeof(srv.objs[i].ident), "%s",
			 objs[i].ident);
	}
	mp_obj_free(kw);
	fixed = srv.nobjs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum mp__srv_next next;
	mp_bytes_t rep = {0};
	mp_obj_t *r = NULL;
	size_t n = 0;

	if (region == NULL || region->top > CAPACITY / 2)
		setup();
	if (size < 1)
		return 0;
	if (mp__srv_handle(&srv, data + 1, size - 1, data[0] == 0, &rep,
			   &next) == 0) {
		check(mp__pickle_loads(rep.data, rep.len, &r) == 0);
		check(mp_obj_kind(r) == MP_OBJ_TUPLE &&
		      mp_obj_len(r, &n) == 0 && n == 2);
		mp_obj_free(r);
	}
	mp_bytes_destroy(&rep);
	/* objects created by this input leave the table (their blocks stay
	 * in the region, which setup() renews when half full) */
	srv.nobjs = srv.nobjs < fixed ? srv.nobjs : fixed;
	return 0;
}
