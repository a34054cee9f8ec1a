/*
 * obj/obj_int.h - the inside of mp_obj_t, shared by obj*.c (the value
 * type) and pickle_*.c (the codec).  Functions here are internal: they
 * return codes and leave reasons with mp__why, never write the message.
 */
#ifndef MPROC_OBJ_OBJ_INT_H
#define MPROC_OBJ_OBJ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/obj.h"

/*
 * A global (a class or function named by GLOBAL/STACK_GLOBAL) while the
 * decoder works: never part of a value handed out.
 */
#define MP__OBJ_GLOBAL 100

/* Big ints: at most this many bytes of two's complement (8 Mbit). */
#define MP__BIGINT_MAX ((size_t)1 << 20)

struct mp_obj {
	uint8_t kind;    /* mp_obj_kind_t, or MP__OBJ_GLOBAL */
	uint8_t flags;   /* object: MP_OBJ_NEWOBJ */
	bool big;        /* int: the value is in s (two's complement LE) */
	bool frozen;     /* decoder: a memo copy was taken (see pickle_load.c) */
	uint16_t depth;  /* 0 for a scalar; 1 + the deepest item */
	uint32_t refs;   /* references beyond the owner's (decoder memo) */
	union {
		bool b;
		int64_t i;
		double f;
		mp_bytes_t s; /* str, bytes, big int; global: "module\0name" */
		struct {
			mp_obj_t **v;   /* items; a dict's are key, value */
			size_t n;       /* items (a dict's pairs) */
			size_t cap;     /* slots in v */
			uint32_t *idx;  /* hash index (dict, set): pos + 1 */
			size_t icap;    /* slots in idx, a power of 2, or 0 */
		} c;
		struct {
			char *module;
			char *qualname;
			mp_obj_t *args;  /* a tuple */
			mp_obj_t *state; /* or NULL */
		} o;
	} u;
};

/* Allocate a node of a kind (zeroed payload); NULL on ENOMEM. */
mp_obj_t *mp__obj_new(int kind);
/* Drop one reference (mp_obj_free's body, no message). */
void mp__obj_decref(mp_obj_t *o);
/* A str/bytes node owning a copy of len bytes; NULL: -ENOMEM / -EILSEQ
 * (str not valid UTF-8) in *rc. */
mp_obj_t *mp__obj_str(int kind, const void *data, size_t len, int *rc);
/* A big int from two's complement LE bytes, normalised (NULL: *rc). */
mp_obj_t *mp__obj_bigint(const void *data, size_t len, int *rc);
/* A global node "module"."name" (NULL: -ENOMEM). */
mp_obj_t *mp__obj_global(const char *module, const char *name);

/* Append to a tuple/list node (takes item; frees it on failure). */
int mp__obj_append(mp_obj_t *seq, mp_obj_t *item);
/* d[key] = value on a dict node (takes both). */
int mp__obj_setitem(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value);
/* Add to a set/frozenset node (takes item): 1 added, 0 present. */
int mp__obj_add(mp_obj_t *s, mp_obj_t *item);
/* Deep copy; budget (may be NULL) is decreased by the bytes made and the
 * copy fails with -E2BIG when it would go below 0.  NULL: *rc. */
mp_obj_t *mp__obj_copy(const mp_obj_t *o, int64_t *budget, bool freeze,
		       int *rc);
/* The approximate bytes a node takes (for budgets). */
size_t mp__obj_cost(const mp_obj_t *o);

/* Python ==: 1 / 0. */
int mp__obj_eq(const mp_obj_t *a, const mp_obj_t *b);
/* Same kind and same value all the way down (NaN is the same as NaN,
 * 1 is not 1.0): what a round trip must give back. */
bool mp__obj_identical(const mp_obj_t *a, const mp_obj_t *b);
/* 0 if o may be a dict key / set member, else -EINVAL with a reason. */
int mp__obj_hashable(const mp_obj_t *o);
/* Shortest two's complement LE bytes of an int/bool node into out
 * (cap >= 9 for a small int; a big one points at its own bytes). */
const unsigned char *mp__obj_int_bytes(const mp_obj_t *o, unsigned char *tmp,
				       size_t *len);
/* float(o) of a bool, int or float: 0, or -ERANGE (OverflowError, reason
 * left) for an int too large for a double. */
int mp__obj_as_double(const mp_obj_t *o, double *out);
/* Python's repr appended to a growing buffer. */
int mp__obj_repr(const mp_obj_t *o, mp_bytes_t *buf, size_t *cap);

/* Is t a multiprocessing.managers.Token with a (typeid str, address, id
 * str) state?  (pickle_glob.c) */
bool mp__obj_is_token(const mp_obj_t *t);

/* Is the UTF-8 of len bytes valid (no surrogates, <= U+10FFFF)?  Returns
 * the offset of the first bad byte, or len. */
size_t mp__utf8_check(const unsigned char *s, size_t len);

/* mp_pickle_dumps / mp_pickle_loads without the message (protocol 2-4
 * checked by the caller; out not NULL). */
int mp__pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out);
int mp__pickle_loads(const void *data, size_t len, mp_obj_t **out);

/* Shared by the files of mp_obj_t (obj.c, obj_eq.c, obj_api.c). */
/* obj.c */
bool mp__obj_is_container(const mp_obj_t *o);
size_t mp__obj_slots(const mp_obj_t *o);
size_t mp__obj_le_shortest(const unsigned char *b, size_t len);
ptrdiff_t mp__obj_find(const mp_obj_t *c, const mp_obj_t *key, uint64_t h);
void mp__obj_index_put(mp_obj_t *c, size_t pos, uint64_t h);
int mp__obj_take_depth(mp_obj_t *c, const mp_obj_t *item);

/* obj_eq.c */
int64_t mp__obj_num_small(const mp_obj_t *o);
uint64_t mp__obj_hash_of(const mp_obj_t *o);
bool mp__obj_is_num(const mp_obj_t *o);
bool mp__obj_set_kind(int k);

#endif
