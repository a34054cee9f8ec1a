/*
 * mproc/obj.h - the values that cross languages and the pickle subset that
 * carries them (used by the manager, include/mproc/manager.h, and by any
 * program that talks to a Python peer).
 *
 * Values.  An mp_obj_t is a heap-allocated, tree-shaped Python value: None,
 * bool, int (any size), float, str (UTF-8), bytes, tuple, list, dict, set,
 * frozenset, and an inert "object": an allow-listed class reconstructed as
 * data (module, qualname, args tuple, optional state), which is how
 * KeyError('x') or a multiprocessing.managers.Token arrives.  Nothing is
 * ever executed: an object is only a record of what a Python peer would
 * have built.  A tree has one owner; mp_obj_free releases it with all it
 * holds.  Functions that put a value into a container take ownership of it,
 * also when they fail (the value is then freed), and accept NULL as "the
 * constructor failed": mp_obj_list_append(l, mp_obj_int(1)) needs no
 * check in between, the append reports the constructor's code.  Values
 * inside a container are borrowed (const): they live as long as it.
 *
 * Python's rules hold: 1 == 1.0 == True (also as dict keys and set
 * members), dicts keep insertion order, dict keys and set members must be
 * hashable (None, bool, int, float, str, bytes, frozenset, and tuples of
 * those; an object is not hashable here, since it has no identity), a dict
 * compares equal to a dict with the same items in another order, NaN is
 * never equal to itself.  Nesting is at most MP_OBJ_MAX_DEPTH containers
 * deep (Python's RecursionError), checked when a value is put in a
 * container.
 *
 * Pickles.  mp_pickle_dumps writes protocols 2, 3 and 4 as CPython 3.8-3.14
 * writes them (same opcodes, memo and frames, so a value without repeated
 * sub-objects pickles to CPython's exact bytes).  mp_pickle_loads reads
 * protocols 2-5 as CPython emits them.  Classes resolve only through a
 * short allow-list (docs/manager.md lists it): the builtin exceptions a
 * manager reply needs, queue.Empty/Full, threading.BrokenBarrierError,
 * multiprocessing.managers.Token and RemoteError (loaded as objects),
 * RebuildProxy with one of the managers' proxy classes (a pickled proxy:
 * loaded as an object whose first argument is the class's name, written
 * back as CPython writes it; see mp_obj_proxy), builtins.reversed;
 * builtins.set, frozenset, bytes, bytearray (loaded as bytes),
 * _codecs.encode (protocol 2's bytes), collections.OrderedDict (loaded as a
 * dict), copyreg._reconstructor with builtins.object (protocols 0/1's way
 * to build an object).  Any other global (os.system, builtins.eval, ...) is
 * refused with -EPERM and its name in the message.  Python 2 names that
 * protocol 2 uses (__builtin__, exceptions, copy_reg, Queue) are read.
 *
 * Limits, so that a peer cannot make a load allocate much beyond what it
 * sent: a declared length is checked against the bytes that remain before
 * anything is allocated; containers grow as their items arrive; the memo
 * holds only what PUT/MEMOIZE stored (an index is a key, never an array
 * size); a memo reference (GET) copies the object it names, and all the
 * copies of one load may total at most MP_PICKLE_COPY_FACTOR times the
 * input's length plus MP_PICKLE_COPY_BASE bytes; nesting is at most
 * MP_OBJ_MAX_DEPTH deep.  Malformed input never crashes and never leaks.
 *
 * Thread safety: values are not thread-safe (a handle); distinct values may
 * be used by distinct threads at once, and any number of threads may read
 * one value that nobody modifies.  The pickle functions are thread-safe on
 * distinct values.
 */
#ifndef MPROC_OBJ_H
#define MPROC_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_obj mp_obj_t;

/* The kinds of value (mp_obj_kind). */
typedef enum mp_obj_kind {
	MP_OBJ_NONE = 0,
	MP_OBJ_BOOL,
	MP_OBJ_INT,       /* any size: 64-bit, or a big int */
	MP_OBJ_FLOAT,
	MP_OBJ_STR,       /* valid UTF-8, without surrogates */
	MP_OBJ_BYTES,
	MP_OBJ_TUPLE,
	MP_OBJ_LIST,
	MP_OBJ_DICT,
	MP_OBJ_SET,
	MP_OBJ_FROZENSET,
	MP_OBJ_OBJECT     /* an allow-listed class, as inert data */
} mp_obj_kind_t;

/* Containers nest at most this deep (a list in a list is depth 2). */
#define MP_OBJ_MAX_DEPTH 200

/* mp_obj_object flag: built as cls.__new__(cls, *args) (pickle's NEWOBJ),
 * not by calling cls(*args) (REDUCE); a Token is built so. */
#define MP_OBJ_NEWOBJ 1u

/*
 * mp_obj_none, mp_obj_bool, mp_obj_int, mp_obj_float - a new None, bool,
 * 64-bit int or float.  NULL only when memory runs out
 * (mp_last_error_code() -ENOMEM).  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_none(void);
MP_API mp_obj_t *mp_obj_bool(bool v);
MP_API mp_obj_t *mp_obj_int(int64_t v);
MP_API mp_obj_t *mp_obj_float(double v);

/*
 * mp_obj_bigint - a new int of any size from len bytes of little-endian
 * two's complement (pickle's LONG1/LONG4 form; len 0 is 0).  An int that
 * fits 64 bits is stored as one, so mp_obj_as_int reads it.  NULL with
 * -EINVAL for data NULL with len > 0, -E2BIG beyond 1 MiB of bytes,
 * -ENOMEM.  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_bigint(const void *data, size_t len);

/*
 * mp_obj_str, mp_obj_strn - a new str from a NUL-terminated string, or from
 * len bytes that may hold NULs.  The bytes must be valid UTF-8 without
 * surrogates: else NULL with -EILSEQ (and the offset in the message).
 * -EINVAL for NULL, -ENOMEM.  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_str(const char *s);
MP_API mp_obj_t *mp_obj_strn(const char *s, size_t len);

/*
 * mp_obj_bytes - a new bytes holding a copy of len bytes of data (data may
 * be NULL when len is 0).  NULL with -EINVAL, -ENOMEM.  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_bytes(const void *data, size_t len);

/*
 * mp_obj_tuple - a new tuple of the n values of items, whose ownership it
 * takes (all of them, also on failure).  A NULL item fails with that
 * constructor's code (mp_last_error_code()), freeing the others.
 * mp_obj_tuple_pack is the same with the n values as arguments:
 * mp_obj_tuple_pack(2, mp_obj_str("a"), mp_obj_int(1)) is ('a', 1).
 * NULL on failure: the item's code, -EINVAL for items NULL with n > 0,
 * -E2BIG past MP_OBJ_MAX_DEPTH, -ENOMEM.
 * Thread-safe.
 */
MP_API mp_obj_t *mp_obj_tuple(size_t n, mp_obj_t *const *items);
MP_API mp_obj_t *mp_obj_tuple_pack(size_t n, ...);

/*
 * mp_obj_list, mp_obj_dict, mp_obj_set, mp_obj_frozenset - a new empty
 * list, dict, set or frozenset, to fill with mp_obj_list_append,
 * mp_obj_dict_set and mp_obj_set_add.  NULL with -ENOMEM.  Thread-safe.
 */
MP_API mp_obj_t *mp_obj_list(void);
MP_API mp_obj_t *mp_obj_dict(void);
MP_API mp_obj_t *mp_obj_set(void);
MP_API mp_obj_t *mp_obj_frozenset(void);

/*
 * mp_obj_object - a new inert object of class module.qualname: args is the
 * tuple the class is called with (NULL: the empty tuple), state what
 * pickle's BUILD gives it (NULL: none; a Token's is its (typeid, address,
 * id) tuple, an exception's an attribute dict), flags 0 or MP_OBJ_NEWOBJ.
 * Takes ownership of args and state, also on failure.  As NULL means
 * "none" for them, check their constructors before this call.  The names
 * are not checked against the pickle allow-list here (mp_pickle_dumps
 * does).  NULL with -EINVAL (a name NULL or empty, args not a tuple,
 * unknown flags), -E2BIG past MP_OBJ_MAX_DEPTH, -ENOMEM.
 * Thread-safe.
 */
MP_API mp_obj_t *mp_obj_object(const char *module, const char *qualname,
			       mp_obj_t *args, mp_obj_t *state,
			       unsigned flags);

/*
 * mp_obj_copy - a deep copy of o (a new tree with the same values).  NULL
 * with -EINVAL for NULL, -ENOMEM.  Thread-safe if nobody modifies o.
 */
MP_API mp_obj_t *mp_obj_copy(const mp_obj_t *o);

/*
 * mp_obj_free - release o and everything it holds.  NULL is a no-op.  A
 * value held by a container is the container's: free the container.
 */
MP_API void mp_obj_free(mp_obj_t *o);

/* mp_obj_kind - the kind of o (an mp_obj_kind_t), or -EINVAL for NULL. */
MP_API int mp_obj_kind(const mp_obj_t *o);

/*
 * mp_obj_kind_name - Python's type name of a kind: "NoneType", "bool",
 * "int", "float", "str", "bytes", "tuple", "list", "dict", "set",
 * "frozenset", "object"; "?" for another value.  Static; thread-safe.
 */
MP_API const char *mp_obj_kind_name(int kind);

/*
 * mp_obj_as_bool - the value of a bool.  -EINVAL (message naming the kind)
 * for another kind or a NULL argument.
 */
MP_API int mp_obj_as_bool(const mp_obj_t *o, bool *out);

/*
 * mp_obj_as_int - the value of an int or a bool (True is 1) as int64_t.
 * -ERANGE for an int that does not fit (Python's OverflowError; use
 * mp_obj_as_bigint), -EINVAL for another kind or a NULL argument.
 */
MP_API int mp_obj_as_int(const mp_obj_t *o, int64_t *out);

/*
 * mp_obj_as_bigint - any int or bool as its shortest little-endian two's
 * complement bytes (0 is no bytes), into owned bytes the caller releases
 * with mp_bytes_destroy.  -EINVAL for another kind or NULL, -ENOMEM.
 */
MP_API int mp_obj_as_bigint(const mp_obj_t *o, mp_bytes_t *out);

/*
 * mp_obj_as_float - a float, or an int or bool converted as Python's
 * float() does (to nearest).  -ERANGE for an int too large for a double
 * (OverflowError), -EINVAL for another kind or NULL.
 */
MP_API int mp_obj_as_float(const mp_obj_t *o, double *out);

/*
 * mp_obj_as_str, mp_obj_as_bytes - the UTF-8 bytes of a str, the bytes of
 * a bytes, borrowed: valid until o is freed or modified.  The data is
 * NUL-terminated (len excludes it; a str may hold NULs).  -EINVAL for
 * another kind or NULL.
 */
MP_API int mp_obj_as_str(const mp_obj_t *o, const mp_bytes_t **out);
MP_API int mp_obj_as_bytes(const mp_obj_t *o, const mp_bytes_t **out);

/*
 * mp_obj_len - Python's len(o): the items of a tuple, list, dict, set or
 * frozenset, the bytes of a bytes, the code points of a str.  -EINVAL
 * (Python's TypeError "object of type 'int' has no len()") for another
 * kind, or NULL.
 */
MP_API int mp_obj_len(const mp_obj_t *o, size_t *out);

/*
 * mp_obj_item - item i of a tuple or list (o[i]; negative counts from the
 * end as in Python), or the i-th member of a set or frozenset in iteration
 * order (insertion order), borrowed.  -ERANGE when i is out of range
 * (IndexError), -EINVAL for another kind or NULL.
 */
MP_API int mp_obj_item(const mp_obj_t *o, ptrdiff_t i,
		       const mp_obj_t **out);

/*
 * mp_obj_list_append - append item to list (list.append), taking ownership
 * of item (freed on failure).  -EINVAL for a list that is not a list, the
 * code of a NULL item (its constructor's), -E2BIG past MP_OBJ_MAX_DEPTH,
 * -ENOMEM.
 */
MP_API int mp_obj_list_append(mp_obj_t *list, mp_obj_t *item);

/*
 * mp_obj_dict_set - d[key] = value, taking ownership of both (freed on
 * failure).  A key equal to one present replaces its value in place and
 * keeps the first key (Python: d[1.0] = x on {1: y} keeps the key 1).
 * -EINVAL for d not a dict or an unhashable key ("unhashable type:
 * 'list'"), the code of a NULL key or value, -E2BIG, -ENOMEM.
 */
MP_API int mp_obj_dict_set(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value);

/*
 * mp_obj_dict_get - d[key], borrowed.  -ENOENT when the key is absent
 * (KeyError; the message holds the key's repr), -EINVAL for d not a dict,
 * an unhashable key, or NULL.  mp_obj_dict_get_str is the same with a str
 * key given as a C string.
 */
MP_API int mp_obj_dict_get(const mp_obj_t *d, const mp_obj_t *key,
			   const mp_obj_t **out);
MP_API int mp_obj_dict_get_str(const mp_obj_t *d, const char *key,
			       const mp_obj_t **out);

/*
 * mp_obj_dict_del - del d[key]: the item is freed and the others keep
 * their order.  -ENOENT when absent (KeyError), -EINVAL as for get.
 */
MP_API int mp_obj_dict_del(mp_obj_t *d, const mp_obj_t *key);

/*
 * mp_obj_dict_item - the i-th item of d in iteration (insertion) order,
 * borrowed: for (i = 0; i < len; i++) walks d.items().  key or value may
 * be NULL.  -ERANGE for i >= len, -EINVAL for d not a dict or NULL.
 */
MP_API int mp_obj_dict_item(const mp_obj_t *d, size_t i,
			    const mp_obj_t **key, const mp_obj_t **value);

/*
 * mp_obj_set_add - add item to a set or frozenset being built (set.add),
 * taking ownership of item (freed on failure, and when an equal member is
 * already there).  Returns 1 if added, 0 if already present.  -EINVAL for
 * s not a set or an unhashable item, the code of a NULL item, -ENOMEM.
 */
MP_API int mp_obj_set_add(mp_obj_t *s, mp_obj_t *item);

/*
 * mp_obj_contains - Python's `item in o`: a key of a dict, a member of a
 * set or frozenset, an item (==) of a tuple or list.  1 or 0; -EINVAL for
 * another kind, an unhashable item looked up in a dict or set, or NULL.
 */
MP_API int mp_obj_contains(const mp_obj_t *o, const mp_obj_t *item);

/*
 * mp_obj_object_info - what an object is made of, borrowed: its module,
 * qualname ("KeyError", "Token"), args tuple, state (NULL when none) and
 * flags.  Any output may be NULL.  -EINVAL for another kind or o NULL.
 */
MP_API int mp_obj_object_info(const mp_obj_t *o, const char **module,
			      const char **qualname, const mp_obj_t **args,
			      const mp_obj_t **state, unsigned *flags);

/*
 * mp_obj_eq - Python's a == b: 1 or 0.  Numbers compare by value across
 * bool, int and float; a list never equals a tuple; dicts and sets ignore
 * order; a set equals a frozenset with the same members; two objects are
 * equal when module, qualname, args, state and flags are.  -EINVAL for a
 * NULL argument.  Thread-safe if nobody modifies a or b.
 */
MP_API int mp_obj_eq(const mp_obj_t *a, const mp_obj_t *b);

/*
 * mp_obj_repr - Python's repr(o) as owned text (release it with
 * mp_bytes_destroy): "{'a': [1, 2.5, None]}", "b'\x00'", "KeyError('x')",
 * "Token(typeid='dict', address=('127.0.0.1', 5000), id='7f')".  Floats
 * print as Python's shortest repr.  Non-ASCII characters of a str print as
 * themselves, except those a short table knows to be unprintable (C1
 * controls, spaces other than ' ', format characters, private use), which
 * are escaped as Python does; Python's full Unicode table may escape a few
 * more (unassigned code points).  An object prints as an exception does,
 * qualname(args...); a Token as Token's own repr; an object built by NEWOBJ
 * with no args but a state as "<module.qualname object>".  A big int of
 * more than 4300 digits prints in hex ("0x..."), where Python refuses.
 * -EINVAL for NULL, -ENOMEM.
 */
MP_API int mp_obj_repr(const mp_obj_t *o, mp_bytes_t *out);

/* ---- pickle ---- */

/* The protocol mp_pickle_dumps writes by default (CPython 3.8-3.13's). */
#define MP_PICKLE_DEFAULT_PROTOCOL 4
/* Memo copies of one load: at most FACTOR x input length + BASE bytes. */
#define MP_PICKLE_COPY_FACTOR 16
#define MP_PICKLE_COPY_BASE ((size_t)1 << 20)

/*
 * mp_pickle_dumps - pickle o with protocol 2, 3 or 4 (or -1:
 * MP_PICKLE_DEFAULT_PROTOCOL) into owned bytes (release them with
 * mp_bytes_destroy), as CPython's pickle.dumps(o, protocol) does.  bytes
 * pickle in protocol 2 as CPython does (_codecs.encode(str, 'latin1'));
 * sets as REDUCE of builtins.set below protocol 4; objects by REDUCE (or
 * NEWOBJ), then BUILD when they have a state.  -EINVAL for a NULL
 * argument or another protocol, or a RebuildProxy object whose arguments
 * are not (proxy class name, Token, str, dict), -EPERM for an object
 * whose class is not on the allow-list (the message names it), -E2BIG below protocol 4 for a
 * str or bytes over 4 GiB or a set nested MP_OBJ_MAX_DEPTH deep (its
 * argument tuple would pass the limit), -ENOMEM.  On failure *out is
 * left empty.  Thread-safe if nobody modifies o.
 */
MP_API int mp_pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out);

/*
 * mp_pickle_loads - unpickle the len bytes at data (protocols 2-5, and the
 * opcodes of 0 and 1 that CPython 3 still emits inside them) into a new
 * value *out, which the caller frees with mp_obj_free.  Bytes after the
 * STOP opcode are ignored, as pickle.loads does.  On failure *out is NULL
 * and the message names the opcode and its offset.  -EPROTO for malformed
 * data: truncated, a length beyond the data, an unknown opcode, a stack or
 * mark underflow, an unknown memo key, a wrong argument for an
 * allow-listed class, an unhashable key.  -EPERM for a global outside the
 * allow-list (the message names it).  -ENOTSUP for a valid pickle this
 * reader does not take: out-of-band buffers (NEXT_BUFFER), persistent ids,
 * the copyreg extension registry, protocol 0's text strings and INST/OBJ,
 * recursive structures (a list containing itself), a class as a value, a
 * protocol above 5.  -EILSEQ for a str that is not valid UTF-8 (lone
 * surrogates).  -E2BIG for nesting beyond MP_OBJ_MAX_DEPTH or memo copies
 * beyond the budget (see "Limits" above).  -EINVAL for a NULL argument
 * (data may be NULL when len is 0).  -ENOMEM.  Thread-safe.
 */
MP_API int mp_pickle_loads(const void *data, size_t len, mp_obj_t **out);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_OBJ_H */
