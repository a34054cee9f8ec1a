/*
 * obj/pickle_int.h - what the files of the pickle codec share: the
 * allow-list of globals (pickle_glob.c, named by the writer too), and the
 * reader's machine (pickle_stack.c) that its opcodes (pickle_load.c,
 * pickle_glob.c) run on.  Internal: codes and reasons left with mp__why;
 * mp__pk_bad leaves the reason of a malformed pickle.
 */
#ifndef MPROC_OBJ_PICKLE_INT_H
#define MPROC_OBJ_PICKLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obj/obj_int.h"

enum role {
	R_CLASS,      /* a class whose instances are kept as objects */
	R_SET,
	R_FROZENSET,
	R_LIST,       /* list(iterable): dict views as CPython's managers send them */
	R_BYTES,
	R_BYTEARRAY,
	R_ENCODE,     /* _codecs.encode(str, 'latin1') */
	R_ODICT,      /* collections.OrderedDict() */
	R_RECON,      /* copyreg._reconstructor(cls, object, None) */
	R_OBJECT,     /* builtins.object, only as _reconstructor's base */
	R_REBUILD,    /* managers.RebuildProxy(proxytype, Token, ser, kwds) */
	R_PROXYTYPE,  /* a proxy class, only as RebuildProxy's first arg */
};

struct glob {
	const char *module, *name;
	enum role role;
	const char *m2, *n2; /* protocol 2's (Python 2) names */
};

/* The allow-list: MP__PK_NGLOBS entries (checked in pickle_glob.c). */
#define MP__PK_NGLOBS 58
extern const struct glob mp__pk_globs[];
const struct glob *mp__pk_glob_find(const char *module, const char *name);

/* The reader. */
struct memo_slot {
	uint32_t key;
	mp_obj_t *o; /* NULL: free slot */
};

struct dec {
	const unsigned char *start, *p, *end;
	mp_obj_t **st;      /* the stack; each entry owned */
	size_t n, cap;
	size_t *marks;      /* stack heights at each MARK */
	size_t nmarks, mcap;
	struct memo_slot *memo;
	size_t mlen, mslots; /* entries, slots (a power of 2, or 0) */
	int64_t budget;
};

/* pickle_glob.c */
int mp__pk_op_global(struct dec *d);
int mp__pk_op_stack_global(struct dec *d);
int mp__pk_op_reduce(struct dec *d, bool newobj, bool ex);
int mp__pk_op_build(struct dec *d);

/* pickle_stack.c */
int mp__pk_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mp__pk_need(struct dec *d, size_t n);
uint64_t mp__pk_le(const unsigned char *p, int n);
int mp__pk_read_len(struct dec *d, int n, size_t *len);
int mp__pk_read_line(struct dec *d, const char **s, size_t *len);
size_t mp__pk_fence(const struct dec *d);
int mp__pk_push(struct dec *d, mp_obj_t *o);
int mp__pk_push_rc(struct dec *d, mp_obj_t *o, int rc);
int mp__pk_underflow(void);
int mp__pk_pop(struct dec *d, mp_obj_t **o);
int mp__pk_top(struct dec *d, mp_obj_t **o);
int mp__pk_pop_mark(struct dec *d, size_t *k);
int mp__pk_frozen(const mp_obj_t *o);
int mp__pk_build_marked(struct dec *d, int kind);
int mp__pk_fill_marked(struct dec *d, int kind, const char *op);
int mp__pk_build_tuple(struct dec *d, size_t n);
int mp__pk_memo_put(struct dec *d, uint64_t key);
int mp__pk_push_copy(struct dec *d, mp_obj_t *o);
int mp__pk_memo_get(struct dec *d, uint64_t key);
int mp__pk_read_decimal(struct dec *d, bool sign, int64_t *out);

#endif
