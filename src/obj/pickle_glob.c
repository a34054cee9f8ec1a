/*
 * obj/pickle_glob.c - the pickle reader's allow-list of globals (the
 * classes and functions it may name), resolving GLOBAL/STACK_GLOBAL, and what
 * REDUCE/NEWOBJ/BUILD make of an allowed global.  The writer names the
 * same globals (pickle_dump.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "obj/obj_int.h"
#include "obj/pickle_int.h"

#define EXC(n) {"builtins", n, R_CLASS, "exceptions", n}
#define EXC_OS(n) {"builtins", n, R_CLASS, "exceptions", "OSError"}
#define MGR "multiprocessing.managers"
#define PROXY(n) {MGR, n, R_PROXYTYPE, MGR, n}

const struct glob mp__pk_globs[] = {
	{"builtins", "set", R_SET, "__builtin__", "set"},
	{"builtins", "frozenset", R_FROZENSET, "__builtin__", "frozenset"},
	{"builtins", "list", R_LIST, "__builtin__", "list"},
	{"builtins", "bytes", R_BYTES, "__builtin__", "bytes"},
	{"builtins", "bytearray", R_BYTEARRAY, "__builtin__", "bytearray"},
	{"builtins", "object", R_OBJECT, "__builtin__", "object"},
	{"builtins", "reversed", R_CLASS, "__builtin__", "reversed"},
	{"builtins", "slice", R_CLASS, "__builtin__", "slice"},
	{"array", "array", R_CLASS, "array", "array"},
	{"_codecs", "encode", R_ENCODE, "_codecs", "encode"},
	{"copyreg", "_reconstructor", R_RECON, "copy_reg", "_reconstructor"},
	{"collections", "OrderedDict", R_ODICT, "collections", "OrderedDict"},
	{"multiprocessing.managers", "Token", R_CLASS,
	 "multiprocessing.managers", "Token"},
	{"multiprocessing.managers", "RemoteError", R_CLASS,
	 "multiprocessing.managers", "RemoteError"},
	{MGR, "RebuildProxy", R_REBUILD, MGR, "RebuildProxy"},
	PROXY("AutoProxy"), PROXY("ListProxy"), PROXY("DictProxy"),
	PROXY("NamespaceProxy"), PROXY("ValueProxy"), PROXY("ArrayProxy"),
	PROXY("AcquirerProxy"), PROXY("ConditionProxy"), PROXY("EventProxy"),
	PROXY("BarrierProxy"), PROXY("IteratorProxy"), PROXY("PoolProxy"),
	{"_queue", "Empty", R_CLASS, "_queue", "Empty"},
	{"queue", "Full", R_CLASS, "Queue", "Full"},
	{"threading", "BrokenBarrierError", R_CLASS, "threading",
	 "BrokenBarrierError"},
	EXC("BaseException"), EXC("Exception"), EXC("ArithmeticError"),
	EXC("AssertionError"), EXC("AttributeError"), EXC("EOFError"),
	EXC("IndexError"), EXC("KeyError"), EXC("LookupError"),
	EXC("MemoryError"), EXC("NameError"), EXC("NotImplementedError"),
	EXC("OSError"), EXC("OverflowError"), EXC("RuntimeError"),
	EXC("StopIteration"), EXC("TypeError"), EXC("ValueError"),
	EXC("ZeroDivisionError"), EXC_OS("TimeoutError"),
	EXC_OS("ConnectionError"), EXC_OS("BrokenPipeError"),
	EXC_OS("ConnectionRefusedError"), EXC_OS("ConnectionResetError"),
	EXC_OS("FileExistsError"), EXC_OS("FileNotFoundError"),
	EXC_OS("PermissionError"), EXC_OS("ProcessLookupError"),
};

_Static_assert(sizeof(mp__pk_globs) / sizeof(*mp__pk_globs) == MP__PK_NGLOBS,
	       "MP__PK_NGLOBS in pickle_int.h counts the allow-list");

/* Python 2 module names that protocol 2 uses, and Python 3's. */
static const char *py3_module(const char *m)
{
	if (strcmp(m, "__builtin__") == 0 || strcmp(m, "exceptions") == 0)
		return "builtins";
	if (strcmp(m, "copy_reg") == 0)
		return "copyreg";
	if (strcmp(m, "Queue") == 0)
		return "queue";
	return m;
}

const struct glob *mp__pk_glob_find(const char *module, const char *name)
{
	size_t i;

	module = py3_module(module);
	for (i = 0; i < MP__PK_NGLOBS; i++)
		if (strcmp(mp__pk_globs[i].module, module) == 0 &&
		    strcmp(mp__pk_globs[i].name, name) == 0)
			return &mp__pk_globs[i];
	return NULL;
}

static const struct glob *glob_of(const mp_obj_t *g)
{
	return mp__pk_glob_find(g->u.s.data,
				g->u.s.data + strlen(g->u.s.data) + 1);
}

/* ---- globals and what calling them makes ---- */

static int push_global(struct dec *d, const char *module, size_t mlen,
		       const char *name, size_t nlen)
{
	char m[128], n[128];
	const struct glob *g;

	if (mlen >= sizeof(m) || nlen >= sizeof(n) ||
	    memchr(module, '\0', mlen) || memchr(name, '\0', nlen))
		return mp__why(-EPERM, "global '%.*s.%.*s' is not allowed",
			       (int)(mlen < 60 ? mlen : 60), module,
			       (int)(nlen < 60 ? nlen : 60), name);
	memcpy(m, module, mlen);
	m[mlen] = '\0';
	memcpy(n, name, nlen);
	n[nlen] = '\0';
	if ((g = mp__pk_glob_find(m, n)) == NULL)
		return mp__why(-EPERM, "global '%s.%s' is not allowed", m, n);
	return mp__pk_push(d, mp__obj_global(g->module, g->name));
}

int mp__pk_op_global(struct dec *d)
{
	const char *m = NULL, *n = NULL;
	size_t ml = 0, nl = 0;
	int rc;

	if ((rc = mp__pk_read_line(d, &m, &ml)) < 0 ||
	    (rc = mp__pk_read_line(d, &n, &nl)) < 0)
		return rc;
	return push_global(d, m, ml, n, nl);
}

int mp__pk_op_stack_global(struct dec *d)
{
	mp_obj_t *m = NULL, *n = NULL;
	int rc;

	if ((rc = mp__pk_pop(d, &n)) < 0 || (rc = mp__pk_pop(d, &m)) < 0)
		goto out;
	if (m->kind != MP_OBJ_STR || n->kind != MP_OBJ_STR)
		rc = mp__pk_bad("STACK_GLOBAL requires str");
	else
		rc = push_global(d, m->u.s.data, m->u.s.len, n->u.s.data,
				 n->u.s.len);
out:
	mp__obj_decref(m);
	mp__obj_decref(n);
	return rc;
}

static bool is_latin1_name(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_STR && (strcmp(o->u.s.data, "latin1") == 0 ||
					 strcmp(o->u.s.data, "latin-1") == 0);
}

/* _codecs.encode(s, 'latin1'): code points below 256 as bytes. */
static mp_obj_t *encode_latin1(const mp_obj_t *s, int *rc)
{
	const unsigned char *p = (const unsigned char *)s->u.s.data;
	mp_obj_t *b;
	size_t i, n = 0;

	*rc = -ENOMEM;
	if ((b = mp__obj_str(MP_OBJ_BYTES, NULL, 0, rc)) == NULL)
		return NULL;
	mp__free(b->u.s.data);
	if ((b->u.s.data = mp__malloc(s->u.s.len + 1)) == NULL) {
		mp__obj_decref(b);
		return NULL;
	}
	for (i = 0; i < s->u.s.len; i++) {
		if (p[i] < 0x80) {
			b->u.s.data[n++] = (char)p[i];
		} else if ((p[i] & 0xfe) == 0xc2 && i + 1 < s->u.s.len) {
			b->u.s.data[n++] = (char)(((p[i] & 3) << 6) |
						  (p[i + 1] & 0x3f));
			i++;
		} else {
			mp__obj_decref(b);
			*rc = mp__pk_bad("'latin-1' codec can't encode a "
					 "character above U+00FF");
			return NULL;
		}
	}
	b->u.s.data[n] = '\0';
	b->u.s.len = n;
	return b;
}

/* set(x) / frozenset(x) of args (x,) or (); takes x's items. */
static mp_obj_t *make_set(int kind, mp_obj_t *args, int *rc)
{
	mp_obj_t *s, *x;
	size_t i;

	*rc = -ENOMEM;
	if (args->u.c.n > 1 ||
	    (args->u.c.n == 1 && (x = args->u.c.v[0])->kind != MP_OBJ_LIST &&
	     x->kind != MP_OBJ_TUPLE && x->kind != MP_OBJ_SET &&
	     x->kind != MP_OBJ_FROZENSET)) {
		*rc = mp__pk_bad("%s() takes a list", mp_obj_kind_name(kind));
		return NULL;
	}
	if ((s = mp__obj_new(kind)) == NULL)
		return NULL;
	if (args->u.c.n == 0)
		return s;
	x = args->u.c.v[0];
	if (x->kind == MP_OBJ_DICT) {
		*rc = mp__pk_bad("%s() of a dict is not supported",
			  mp_obj_kind_name(kind));
		mp__obj_decref(s);
		return NULL;
	}
	if (x->refs > 0) { /* the memo still sees x: copy its items */
		for (i = 0; i < x->u.c.n; i++) {
			mp_obj_t *c = mp__obj_copy(x->u.c.v[i], NULL, false,
						   rc);

			if (c == NULL || (*rc = mp__obj_add(s, c)) < 0) {
				mp__obj_decref(s);
				return NULL;
			}
		}
		return s;
	}
	for (i = 0; i < x->u.c.n; i++) {
		if ((*rc = mp__obj_add(s, x->u.c.v[i])) < 0) {
			while (++i < x->u.c.n)
				mp__obj_decref(x->u.c.v[i]);
			x->u.c.n = 0;
			mp__obj_decref(s);
			return NULL;
		}
	}
	x->u.c.n = 0; /* the items are the set's now */
	return s;
}

/* list() or list(x) of a list or tuple x: a new list of copies of the
 * items (x may still be in the memo), as make_set copies. */
static mp_obj_t *make_list(const mp_obj_t *args, int *rc)
{
	const mp_obj_t *x = args->u.c.n == 1 ? args->u.c.v[0] : NULL;
	mp_obj_t *l, *c;
	size_t i;

	*rc = -ENOMEM;
	if (args->u.c.n > 1 || (x != NULL && x->kind != MP_OBJ_LIST &&
				x->kind != MP_OBJ_TUPLE)) {
		*rc = mp__pk_bad("list() takes a list or a tuple");
		return NULL;
	}
	if ((l = mp__obj_new(MP_OBJ_LIST)) == NULL)
		return NULL;
	for (i = 0; x != NULL && i < x->u.c.n; i++)
		if ((c = mp__obj_copy(x->u.c.v[i], NULL, false, rc)) == NULL ||
		    (*rc = mp__obj_append(l, c)) < 0) {
			mp__obj_decref(l);
			return NULL;
		}
	*rc = 0;
	return l;
}

/* An object of allow-listed class g built from args (taken). */
static mp_obj_t *make_object(const mp_obj_t *g, mp_obj_t *args,
			     unsigned flags, int *rc)
{
	mp_obj_t *o = mp__obj_new(MP_OBJ_OBJECT);
	const char *name = g->u.s.data + strlen(g->u.s.data) + 1;

	*rc = -ENOMEM;
	if (o == NULL || (o->u.o.module = mp__strdup(g->u.s.data)) == NULL ||
	    (o->u.o.qualname = mp__strdup(name)) == NULL) {
		mp__obj_decref(o);
		mp__obj_decref(args);
		return NULL;
	}
	o->flags = (uint8_t)flags;
	o->depth = (uint16_t)(args->depth + 1);
	if (o->depth > MP_OBJ_MAX_DEPTH) {
		*rc = mp__why(-E2BIG, "nesting exceeds %d levels",
			      MP_OBJ_MAX_DEPTH);
		mp__obj_decref(o);
		mp__obj_decref(args);
		return NULL;
	}
	o->u.o.args = args;
	return o;
}

static bool args_are(const mp_obj_t *a, size_t n)
{
	return a->u.c.n == n;
}

/* A Token object: multiprocessing.managers.Token with a state tuple
 * (typeid str, address, id str). */
bool mp__obj_is_token(const mp_obj_t *t)
{
	const mp_obj_t *st = t->u.o.state;

	return t->kind == MP_OBJ_OBJECT &&
	       strcmp(t->u.o.module, MGR) == 0 &&
	       strcmp(t->u.o.qualname, "Token") == 0 && st != NULL &&
	       st->kind == MP_OBJ_TUPLE && st->u.c.n == 3 &&
	       st->u.c.v[0]->kind == MP_OBJ_STR &&
	       st->u.c.v[2]->kind == MP_OBJ_STR;
}

/*
 * RebuildProxy(proxytype, token, serializer, kwds), CPython's pickled
 * proxy, kept as an object whose first argument is the proxy class's
 * name as a str (pickle_dump.c writes it back as the class).  The other
 * arguments are shared with args (which may be in the memo), not copied:
 * nothing allocates beyond the new tuple.  Takes args.
 */
static mp_obj_t *make_rebuild(const mp_obj_t *f, mp_obj_t *args, int *rc)
{
	mp_obj_t *const *a = args->u.c.v;
	mp_obj_t *t = NULL, *name;
	size_t i;

	*rc = -ENOMEM;
	if (!args_are(args, 4) || a[0]->kind != MP__OBJ_GLOBAL ||
	    glob_of(a[0])->role != R_PROXYTYPE || !mp__obj_is_token(a[1]) ||
	    a[2]->kind != MP_OBJ_STR || a[3]->kind != MP_OBJ_DICT) {
		*rc = mp__pk_bad("RebuildProxy takes (proxy class, Token, "
				 "serializer str, kwds dict)");
		goto out;
	}
	if ((t = mp__obj_new(MP_OBJ_TUPLE)) == NULL)
		goto out;
	name = mp__obj_str(MP_OBJ_STR, glob_of(a[0])->name,
			   strlen(glob_of(a[0])->name), rc);
	if (name == NULL || (*rc = mp__obj_append(t, name)) < 0)
		goto out;
	for (i = 1; i < 4; i++) {
		a[i]->refs++; /* one more owner: the new tuple */
		if ((*rc = mp__obj_append(t, a[i])) < 0)
			goto out;
	}
	mp__obj_decref(args);
	return make_object(f, t, 0, rc);
out:
	mp__obj_decref(t);
	mp__obj_decref(args);
	return NULL;
}

/* callable(*args) for REDUCE; newobj: cls.__new__(cls, *args). */
static mp_obj_t *call(mp_obj_t *f, mp_obj_t *args, bool newobj, int *rc)
{
	const struct glob *g = glob_of(f);
	const mp_obj_t *a0 = args->u.c.n > 0 ? args->u.c.v[0] : NULL;
	mp_obj_t *r = NULL;

	*rc = -ENOMEM;
	if (newobj && g->role != R_CLASS) {
		*rc = mp__why(-ENOTSUP, "NEWOBJ of %s.%s is not supported",
			      g->module, g->name);
		goto out;
	}
	switch (g->role) {
	case R_CLASS:
		return make_object(f, args, newobj ? MP_OBJ_NEWOBJ : 0, rc);
	case R_SET:
	case R_FROZENSET:
		r = make_set(g->role == R_SET ? MP_OBJ_SET : MP_OBJ_FROZENSET,
			     args, rc);
		goto out;
	case R_LIST:
		r = make_list(args, rc);
		goto out;
	case R_BYTES:
	case R_BYTEARRAY:
		if (args_are(args, 0))
			r = mp__obj_str(MP_OBJ_BYTES, NULL, 0, rc);
		else if (args_are(args, 1) && a0->kind == MP_OBJ_BYTES)
			r = mp__obj_copy(a0, NULL, false, rc);
		else if (g->role == R_BYTEARRAY && args_are(args, 2) &&
			 a0->kind == MP_OBJ_STR &&
			 is_latin1_name(args->u.c.v[1]))
			r = encode_latin1(a0, rc);
		else
			*rc = mp__pk_bad("%s() with these arguments is not "
					 "supported", g->name);
		goto out;
	case R_ENCODE:
		if (args_are(args, 2) && a0->kind == MP_OBJ_STR &&
		    is_latin1_name(args->u.c.v[1]))
			r = encode_latin1(a0, rc);
		else
			*rc = mp__pk_bad("_codecs.encode takes "
					 "(str, 'latin1')");
		goto out;
	case R_ODICT:
		if (args_are(args, 0))
			r = mp__obj_new(MP_OBJ_DICT);
		else
			*rc = mp__pk_bad("OrderedDict() takes no arguments "
					 "here");
		goto out;
	case R_RECON:
		if (args_are(args, 3) && a0->kind == MP__OBJ_GLOBAL &&
		    glob_of(a0)->role == R_CLASS &&
		    args->u.c.v[1]->kind == MP__OBJ_GLOBAL &&
		    glob_of(args->u.c.v[1])->role == R_OBJECT &&
		    args->u.c.v[2]->kind == MP_OBJ_NONE) {
			mp_obj_t *empty = mp__obj_new(MP_OBJ_TUPLE);

			if (empty != NULL)
				r = make_object(a0, empty, MP_OBJ_NEWOBJ, rc);
		} else {
			*rc = mp__pk_bad("copyreg._reconstructor takes (class, "
				  "object, None)");
		}
		goto out;
	case R_OBJECT:
		*rc = mp__why(-ENOTSUP, "builtins.object() is not supported");
		goto out;
	case R_REBUILD:
		r = make_rebuild(f, args, rc);
		args = NULL;
		goto out;
	case R_PROXYTYPE:
		*rc = mp__why(-ENOTSUP, "calling %s.%s is not supported (a "
			      "proxy class is only RebuildProxy's argument)",
			      g->module, g->name);
		goto out;
	}
out:
	mp__obj_decref(args);
	return r;
}

int mp__pk_op_reduce(struct dec *d, bool newobj, bool ex)
{
	mp_obj_t *f = NULL, *args = NULL, *kw = NULL, *r;
	int rc;

	if ((ex && (rc = mp__pk_pop(d, &kw)) < 0) ||
	    (rc = mp__pk_pop(d, &args)) < 0 ||
	    (rc = mp__pk_pop(d, &f)) < 0)
		goto out;
	if (args->kind != MP_OBJ_TUPLE) {
		rc = mp__pk_bad("%s arguments must be a tuple, not %s",
				newobj ? "NEWOBJ" : "REDUCE",
				mp_obj_kind_name(args->kind));
	} else if (ex && (kw->kind != MP_OBJ_DICT || kw->u.c.n != 0)) {
		rc = mp__why(-ENOTSUP, "NEWOBJ_EX with keyword arguments is "
				       "not supported");
	} else if (f->kind != MP__OBJ_GLOBAL) {
		rc = mp__pk_bad("%s of a %s (not a class)",
				newobj ? "NEWOBJ" : "REDUCE",
				mp_obj_kind_name(f->kind));
	} else {
		r = call(f, args, newobj, &rc);
		args = NULL;
		rc = mp__pk_push_rc(d, r, rc);
	}
out:
	mp__obj_decref(f);
	mp__obj_decref(args);
	mp__obj_decref(kw);
	return rc;
}

int mp__pk_op_build(struct dec *d)
{
	mp_obj_t *state = NULL, *o = NULL;
	unsigned dep;
	int rc;

	if ((rc = mp__pk_pop(d, &state)) < 0 || (rc = mp__pk_top(d, &o)) < 0)
		goto fail;
	if (o->kind != MP_OBJ_OBJECT) {
		rc = mp__pk_bad("BUILD on a %s", mp_obj_kind_name(o->kind));
		goto fail;
	}
	if ((rc = mp__pk_frozen(o)) < 0)
		goto fail;
	dep = (unsigned)state->depth + 1;
	if (dep > MP_OBJ_MAX_DEPTH) {
		rc = mp__why(-E2BIG, "nesting exceeds %d levels",
			     MP_OBJ_MAX_DEPTH);
		goto fail;
	}
	if (dep > o->depth)
		o->depth = (uint16_t)dep;
	mp__obj_decref(o->u.o.state);
	o->u.o.state = state;
	return 0;
fail:
	mp__obj_decref(state);
	return rc;
}
