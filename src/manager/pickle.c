/*
 * manager/pickle.c - the pickle subset of the manager protocol: a writer
 * of protocols 2-4 that gives CPython's bytes, and a reader of protocols
 * 2-5 that builds mp_obj_t values and never executes anything.
 *
 * Design notes (reader).  A stack machine as pickle's own: a stack of
 * owned values, a stack of marks (the fence: nothing below the top mark
 * may be popped), and a memo from keys to values.  The memo holds a
 * reference (refs) to what PUT/MEMOIZE stored; GET and DUP push a deep
 * copy, since values are trees.  Copies cost bytes, so all the copies of a
 * load share a budget proportional to the input.  A copy differs from
 * CPython's shared object only if the object changes after it was copied,
 * which CPython's pickler does only for recursive structures: so a value
 * copied (and each copy) is frozen, and APPEND, SETITEM, ADDITEMS or BUILD
 * on a frozen value is refused as a recursive structure.  A global is a
 * node of kind MPI_OBJ_GLOBAL, resolved through the allow-list below when
 * GLOBAL/STACK_GLOBAL is read; REDUCE/NEWOBJ turn it into data; a global
 * left in the result is refused at STOP.
 *
 * Design notes (writer).  CPython's C pickler, step by step: the same
 * opcodes, the memo (PUT after each str, bytes, tuple, list, dict, set,
 * global and reduced object; a global written twice is fetched with GET),
 * batches of 1000 for APPENDS/SETITEMS/ADDITEMS, and protocol 4's frames
 * (committed at the end of a value once 64 KiB are buffered; a payload of
 * 64 KiB or more goes outside any frame).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "manager/obj_int.h"

/* ---- the allow-list ---- */

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
};

struct glob {
	const char *module, *name;
	enum role role;
	const char *m2, *n2; /* protocol 2's (Python 2) names */
};

#define EXC(n) {"builtins", n, R_CLASS, "exceptions", n}
#define EXC_OS(n) {"builtins", n, R_CLASS, "exceptions", "OSError"}

static const struct glob globs[] = {
	{"builtins", "set", R_SET, "__builtin__", "set"},
	{"builtins", "frozenset", R_FROZENSET, "__builtin__", "frozenset"},
	{"builtins", "list", R_LIST, "__builtin__", "list"},
	{"builtins", "bytes", R_BYTES, "__builtin__", "bytes"},
	{"builtins", "bytearray", R_BYTEARRAY, "__builtin__", "bytearray"},
	{"builtins", "object", R_OBJECT, "__builtin__", "object"},
	{"_codecs", "encode", R_ENCODE, "_codecs", "encode"},
	{"copyreg", "_reconstructor", R_RECON, "copy_reg", "_reconstructor"},
	{"collections", "OrderedDict", R_ODICT, "collections", "OrderedDict"},
	{"multiprocessing.managers", "Token", R_CLASS,
	 "multiprocessing.managers", "Token"},
	{"multiprocessing.managers", "RemoteError", R_CLASS,
	 "multiprocessing.managers", "RemoteError"},
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

#define NGLOBS (sizeof(globs) / sizeof(*globs))

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

static const struct glob *glob_find(const char *module, const char *name)
{
	size_t i;

	module = py3_module(module);
	for (i = 0; i < NGLOBS; i++)
		if (strcmp(globs[i].module, module) == 0 &&
		    strcmp(globs[i].name, name) == 0)
			return &globs[i];
	return NULL;
}

static const struct glob *glob_of(const mp_obj_t *g)
{
	return glob_find(g->u.s.data, g->u.s.data + strlen(g->u.s.data) + 1);
}

/* ======================================================================
 * The reader
 * ====================================================================== */

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

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mpi_why(-EPROTO, "%s", msg);
}

static int need(struct dec *d, size_t n)
{
	if ((size_t)(d->end - d->p) < n)
		return bad("truncated: %zu bytes needed, %zu left", n,
			   (size_t)(d->end - d->p));
	return 0;
}

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

/* A length of n bytes (little-endian), checked against what remains. */
static int read_len(struct dec *d, int n, size_t *len)
{
	uint64_t v;
	int rc;

	if ((rc = need(d, (size_t)n)) < 0)
		return rc;
	v = le(d->p, n);
	d->p += n;
	if (v > (uint64_t)(d->end - d->p))
		return bad("length %llu exceeds the %zu bytes left",
			   (unsigned long long)v, (size_t)(d->end - d->p));
	*len = (size_t)v;
	return 0;
}

/* The text up to the next '\n' (excluded); advances past it. */
static int read_line(struct dec *d, const char **s, size_t *len)
{
	const unsigned char *nl = memchr(d->p, '\n', (size_t)(d->end - d->p));

	if (nl == NULL)
		return bad("truncated: no end of line");
	*s = (const char *)d->p;
	*len = (size_t)(nl - d->p);
	d->p = nl + 1;
	return 0;
}

static size_t fence(const struct dec *d)
{
	return d->nmarks > 0 ? d->marks[d->nmarks - 1] : 0;
}

static int push(struct dec *d, mp_obj_t *o)
{
	mp_obj_t **st;
	size_t cap;

	if (o == NULL)
		return -ENOMEM;
	if (d->n == d->cap) {
		cap = d->cap < 16 ? 16 : d->cap * 2;
		if ((st = mpi_reallocarray(d->st, cap, sizeof(*st))) == NULL) {
			mpi_obj_decref(o);
			return -ENOMEM;
		}
		d->st = st;
		d->cap = cap;
	}
	d->st[d->n++] = o;
	return 0;
}

/* Push a node made by an internal constructor that reports through rc. */
static int push_rc(struct dec *d, mp_obj_t *o, int rc)
{
	return o == NULL ? rc : push(d, o);
}

static int underflow(void)
{
	return bad("unpickling stack underflow");
}

static int pop(struct dec *d, mp_obj_t **o)
{
	if (d->n <= fence(d))
		return underflow();
	*o = d->st[--d->n];
	return 0;
}

/* The top value, still on the stack. */
static int top(struct dec *d, mp_obj_t **o)
{
	if (d->n <= fence(d))
		return underflow();
	*o = d->st[d->n - 1];
	return 0;
}

static int pop_mark(struct dec *d, size_t *k)
{
	if (d->nmarks == 0)
		return bad("could not find MARK");
	*k = d->marks[--d->nmarks];
	return 0;
}

static int frozen(const mp_obj_t *o)
{
	if (o->frozen)
		return mpi_why(-ENOTSUP, "recursive structure (a %s that "
					 "contains itself) is not supported",
			       mp_obj_kind_name(o->kind));
	return 0;
}

/* Move stack[k..n) into container c (appended, set as pairs, or added). */
static int fill(struct dec *d, mp_obj_t *c, size_t k)
{
	size_t i;
	int rc = 0;

	if (c->kind == MP_OBJ_DICT && (d->n - k) % 2 != 0)
		rc = bad("odd number of items for a dict");
	for (i = k; i < d->n; i += (c->kind == MP_OBJ_DICT ? 2 : 1)) {
		if (rc < 0) {
			mpi_obj_decref(d->st[i]);
			if (c->kind == MP_OBJ_DICT && i + 1 < d->n)
				mpi_obj_decref(d->st[i + 1]);
		} else if (c->kind == MP_OBJ_DICT) {
			rc = mpi_obj_setitem(c, d->st[i], d->st[i + 1]);
		} else if (c->kind == MP_OBJ_SET ||
			   c->kind == MP_OBJ_FROZENSET) {
			rc = mpi_obj_add(c, d->st[i]);
			rc = rc < 0 ? rc : 0;
		} else {
			rc = mpi_obj_append(c, d->st[i]);
		}
	}
	d->n = k;
	return rc;
}

/* Pop the items above the top mark into a new container of kind. */
static int build_marked(struct dec *d, int kind)
{
	mp_obj_t *c;
	size_t k = 0;
	int rc;

	if ((rc = pop_mark(d, &k)) < 0)
		return rc;
	if ((c = mpi_obj_new(kind)) == NULL)
		return -ENOMEM;
	if ((rc = fill(d, c, k)) < 0) {
		mpi_obj_decref(c);
		return rc;
	}
	return push(d, c);
}

/* Fill the container just below the top mark (APPENDS, SETITEMS,
 * ADDITEMS). */
static int fill_marked(struct dec *d, int kind, const char *op)
{
	mp_obj_t *c;
	size_t k = 0;
	int rc;

	if ((rc = pop_mark(d, &k)) < 0)
		return rc;
	if (k == 0 || k <= fence(d)) {
		rc = underflow();
	} else {
		c = d->st[k - 1];
		if (c->kind != kind &&
		    !(kind == MP_OBJ_SET && c->kind == MP_OBJ_FROZENSET))
			rc = bad("%s on a %s", op, mp_obj_kind_name(c->kind));
		else
			rc = frozen(c);
		if (rc == 0)
			return fill(d, c, k);
	}
	while (d->n > k)
		mpi_obj_decref(d->st[--d->n]);
	return rc;
}

static int build_tuple(struct dec *d, size_t n)
{
	mp_obj_t *t;
	int rc;

	if (d->n - fence(d) < n)
		return underflow();
	if ((t = mpi_obj_new(MP_OBJ_TUPLE)) == NULL)
		return -ENOMEM;
	if ((rc = fill(d, t, d->n - n)) < 0) {
		mpi_obj_decref(t);
		return rc;
	}
	return push(d, t);
}

/* ---- the memo ---- */

static struct memo_slot *memo_slot(struct dec *d, uint32_t key)
{
	size_t i, mask = d->mslots - 1;

	if (d->mslots == 0)
		return NULL;
	for (i = (size_t)(key * 2654435761u) & mask;; i = (i + 1) & mask)
		if (d->memo[i].o == NULL || d->memo[i].key == key)
			return &d->memo[i];
}

static int memo_grow(struct dec *d)
{
	struct memo_slot *old = d->memo, *s;
	size_t n = d->mslots, i;
	size_t cap = n == 0 ? 16 : n * 2;

	if ((d->memo = mpi_calloc(cap, sizeof(*d->memo))) == NULL) {
		d->memo = old;
		return -ENOMEM;
	}
	d->mslots = cap;
	for (i = 0; i < n; i++)
		if (old[i].o != NULL) {
			s = memo_slot(d, old[i].key);
			*s = old[i];
		}
	mpi_free(old);
	return 0;
}

static int memo_put(struct dec *d, uint64_t key)
{
	struct memo_slot *s;
	mp_obj_t *o = NULL;
	int rc;

	if (key > UINT32_MAX)
		return bad("memo key %llu is too large",
			   (unsigned long long)key);
	if ((rc = top(d, &o)) < 0)
		return rc;
	if (2 * (d->mlen + 1) > d->mslots && (rc = memo_grow(d)) < 0)
		return rc;
	s = memo_slot(d, (uint32_t)key);
	if (s->o != NULL)
		mpi_obj_decref(s->o);
	else
		d->mlen++;
	s->key = (uint32_t)key;
	s->o = o;
	o->refs++;
	return 0;
}

/* Push a copy of o (GET, DUP): both are frozen from now on. */
static int push_copy(struct dec *d, mp_obj_t *o)
{
	int rc = -ENOMEM;
	mp_obj_t *c = mpi_obj_copy(o, &d->budget, true, &rc);

	return push_rc(d, c, rc);
}

static int memo_get(struct dec *d, uint64_t key)
{
	struct memo_slot *s = key > UINT32_MAX ? NULL
					       : memo_slot(d, (uint32_t)key);

	if (s == NULL || s->o == NULL)
		return bad("memo key %llu not found", (unsigned long long)key);
	return push_copy(d, s->o);
}

/* A decimal line (PUT, GET, INT); at most 20 digits. */
static int read_decimal(struct dec *d, bool sign, int64_t *out)
{
	const char *s = NULL;
	char buf[24], *end;
	size_t len = 0;
	int rc;

	if ((rc = read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 0 || len >= sizeof(buf))
		return bad("bad decimal of %zu characters", len);
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoll(buf, &end, 10);
	if (*end != '\0' || errno != 0 ||
	    (!sign && (*out < 0 || buf[0] == '-')))
		return bad("bad decimal '%s'", buf);
	return 0;
}

/* ---- numbers and strings ---- */

static int push_int(struct dec *d, int64_t v)
{
	mp_obj_t *o = mpi_obj_new(MP_OBJ_INT);

	if (o != NULL)
		o->u.i = v;
	return push(d, o);
}

/* A decimal text int (LONG's "123L", INT's beyond 64 bits) of at most
 * Python's 4300 digits, as two's complement. */
static int push_decimal(struct dec *d, const char *s, size_t len)
{
	bool neg = false;
	size_t i, n = 0, cap;
	unsigned char *b;
	int rc;

	if (len > 0 && s[len - 1] == 'L')
		len--;
	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++, len--;
	}
	if (len == 0 || len > 4300)
		return bad("bad text int of %zu digits", len);
	cap = len / 2 + 2;
	if ((b = mpi_calloc(cap, 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) { /* b = b * 10 + digit, little-endian */
		unsigned carry;
		size_t j;

		if (s[i] < '0' || s[i] > '9') {
			mpi_free(b);
			return bad("bad digit in a text int");
		}
		carry = (unsigned)(s[i] - '0');
		for (j = 0; j < n || carry; j++) {
			unsigned v = (j < n ? b[j] * 10u : 0) + carry;
			b[j] = (unsigned char)v;
			carry = v >> 8;
		}
		n = j > n ? j : n;
	}
	n++; /* a sign byte */
	if (neg) {
		unsigned carry = 1;
		for (i = 0; i < n; i++) {
			unsigned v = (unsigned)(unsigned char)~b[i] + carry;
			b[i] = (unsigned char)v;
			carry = v >> 8;
		}
	}
	rc = -ENOMEM;
	{
		mp_obj_t *o = mpi_obj_bigint(b, n, &rc);
		mpi_free(b);
		return push_rc(d, o, rc);
	}
}

static int op_int(struct dec *d)
{
	const char *s = NULL;
	size_t len = 0;
	int rc;
	mp_obj_t *o = NULL;

	if ((rc = read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 2 && (memcmp(s, "00", 2) == 0 || memcmp(s, "01", 2) == 0)) {
		if ((o = mpi_obj_new(MP_OBJ_BOOL)) != NULL)
			o->u.b = s[1] == '1';
		return push(d, o);
	}
	return push_decimal(d, s, len);
}

static int op_float_text(struct dec *d)
{
	const char *s = NULL;
	char buf[64], *end;
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	if ((rc = read_line(d, &s, &len)) < 0)
		return rc;
	if (len == 0 || len >= sizeof(buf))
		return bad("bad text float of %zu characters", len);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((o = mpi_obj_new(MP_OBJ_FLOAT)) == NULL)
		return -ENOMEM;
	o->u.f = strtod(buf, &end);
	if (*end != '\0' || end == buf) {
		mpi_obj_decref(o);
		return bad("bad text float '%s'", buf);
	}
	return push(d, o);
}

static int op_binfloat(struct dec *d)
{
	uint64_t bits = 0;
	mp_obj_t *o = NULL;
	int i, rc;

	if ((rc = need(d, 8)) < 0)
		return rc;
	for (i = 0; i < 8; i++)
		bits = (bits << 8) | d->p[i];
	d->p += 8;
	if ((o = mpi_obj_new(MP_OBJ_FLOAT)) != NULL)
		memcpy(&o->u.f, &bits, sizeof(bits));
	return push(d, o);
}

static int op_long(struct dec *d, int nlen)
{
	size_t len = 0;
	int rc;
	mp_obj_t *o = NULL;

	if (nlen == 4) {
		if ((rc = need(d, 4)) < 0)
			return rc;
		if (d->p[3] & 0x80)
			return bad("LONG pickle has negative byte count");
	}
	if ((rc = read_len(d, nlen, &len)) < 0)
		return rc;
	rc = -ENOMEM;
	o = mpi_obj_bigint(d->p, len, &rc);
	d->p += len;
	return push_rc(d, o, rc);
}

static int op_text(struct dec *d, int kind, int nlen)
{
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	if ((rc = read_len(d, nlen, &len)) < 0)
		return rc;
	rc = -ENOMEM;
	o = mpi_obj_str(kind, d->p, len, &rc);
	d->p += len;
	return push_rc(d, o, rc);
}

/* ---- globals and what calling them makes ---- */

static int push_global(struct dec *d, const char *module, size_t mlen,
		       const char *name, size_t nlen)
{
	char m[128], n[128];
	const struct glob *g;

	if (mlen >= sizeof(m) || nlen >= sizeof(n) ||
	    memchr(module, '\0', mlen) || memchr(name, '\0', nlen))
		return mpi_why(-EPERM, "global '%.*s.%.*s' is not allowed",
			       (int)(mlen < 60 ? mlen : 60), module,
			       (int)(nlen < 60 ? nlen : 60), name);
	memcpy(m, module, mlen);
	m[mlen] = '\0';
	memcpy(n, name, nlen);
	n[nlen] = '\0';
	if ((g = glob_find(m, n)) == NULL)
		return mpi_why(-EPERM, "global '%s.%s' is not allowed", m, n);
	return push(d, mpi_obj_global(g->module, g->name));
}

static int op_global(struct dec *d)
{
	const char *m = NULL, *n = NULL;
	size_t ml = 0, nl = 0;
	int rc;

	if ((rc = read_line(d, &m, &ml)) < 0 ||
	    (rc = read_line(d, &n, &nl)) < 0)
		return rc;
	return push_global(d, m, ml, n, nl);
}

static int op_stack_global(struct dec *d)
{
	mp_obj_t *m = NULL, *n = NULL;
	int rc;

	if ((rc = pop(d, &n)) < 0 || (rc = pop(d, &m)) < 0)
		goto out;
	if (m->kind != MP_OBJ_STR || n->kind != MP_OBJ_STR)
		rc = bad("STACK_GLOBAL requires str");
	else
		rc = push_global(d, m->u.s.data, m->u.s.len, n->u.s.data,
				 n->u.s.len);
out:
	mpi_obj_decref(m);
	mpi_obj_decref(n);
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
	if ((b = mpi_obj_str(MP_OBJ_BYTES, NULL, 0, rc)) == NULL)
		return NULL;
	mpi_free(b->u.s.data);
	if ((b->u.s.data = mpi_malloc(s->u.s.len + 1)) == NULL) {
		mpi_obj_decref(b);
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
			mpi_obj_decref(b);
			*rc = bad("'latin-1' codec can't encode a character "
				  "above U+00FF");
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
		*rc = bad("%s() takes a list", mp_obj_kind_name(kind));
		return NULL;
	}
	if ((s = mpi_obj_new(kind)) == NULL)
		return NULL;
	if (args->u.c.n == 0)
		return s;
	x = args->u.c.v[0];
	if (x->kind == MP_OBJ_DICT) {
		*rc = bad("%s() of a dict is not supported",
			  mp_obj_kind_name(kind));
		mpi_obj_decref(s);
		return NULL;
	}
	if (x->refs > 0) { /* the memo still sees x: copy its items */
		for (i = 0; i < x->u.c.n; i++) {
			mp_obj_t *c = mpi_obj_copy(x->u.c.v[i], NULL, false,
						   rc);

			if (c == NULL || (*rc = mpi_obj_add(s, c)) < 0) {
				mpi_obj_decref(s);
				return NULL;
			}
		}
		return s;
	}
	for (i = 0; i < x->u.c.n; i++) {
		if ((*rc = mpi_obj_add(s, x->u.c.v[i])) < 0) {
			while (++i < x->u.c.n)
				mpi_obj_decref(x->u.c.v[i]);
			x->u.c.n = 0;
			mpi_obj_decref(s);
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
		*rc = bad("list() takes a list or a tuple");
		return NULL;
	}
	if ((l = mpi_obj_new(MP_OBJ_LIST)) == NULL)
		return NULL;
	for (i = 0; x != NULL && i < x->u.c.n; i++)
		if ((c = mpi_obj_copy(x->u.c.v[i], NULL, false, rc)) == NULL ||
		    (*rc = mpi_obj_append(l, c)) < 0) {
			mpi_obj_decref(l);
			return NULL;
		}
	*rc = 0;
	return l;
}

/* An object of allow-listed class g built from args (taken). */
static mp_obj_t *make_object(const mp_obj_t *g, mp_obj_t *args,
			     unsigned flags, int *rc)
{
	mp_obj_t *o = mpi_obj_new(MP_OBJ_OBJECT);
	const char *name = g->u.s.data + strlen(g->u.s.data) + 1;

	*rc = -ENOMEM;
	if (o == NULL || (o->u.o.module = mpi_strdup(g->u.s.data)) == NULL ||
	    (o->u.o.qualname = mpi_strdup(name)) == NULL) {
		mpi_obj_decref(o);
		mpi_obj_decref(args);
		return NULL;
	}
	o->flags = (uint8_t)flags;
	o->depth = (uint16_t)(args->depth + 1);
	if (o->depth > MP_OBJ_MAX_DEPTH) {
		*rc = mpi_why(-E2BIG, "nesting exceeds %d levels",
			      MP_OBJ_MAX_DEPTH);
		mpi_obj_decref(o);
		mpi_obj_decref(args);
		return NULL;
	}
	o->u.o.args = args;
	return o;
}

static bool args_are(const mp_obj_t *a, size_t n)
{
	return a->u.c.n == n;
}

/* callable(*args) for REDUCE; newobj: cls.__new__(cls, *args). */
static mp_obj_t *call(mp_obj_t *f, mp_obj_t *args, bool newobj, int *rc)
{
	const struct glob *g = glob_of(f);
	const mp_obj_t *a0 = args->u.c.n > 0 ? args->u.c.v[0] : NULL;
	mp_obj_t *r = NULL;

	*rc = -ENOMEM;
	if (newobj && g->role != R_CLASS) {
		*rc = mpi_why(-ENOTSUP, "NEWOBJ of %s.%s is not supported",
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
			r = mpi_obj_str(MP_OBJ_BYTES, NULL, 0, rc);
		else if (args_are(args, 1) && a0->kind == MP_OBJ_BYTES)
			r = mpi_obj_copy(a0, NULL, false, rc);
		else if (g->role == R_BYTEARRAY && args_are(args, 2) &&
			 a0->kind == MP_OBJ_STR &&
			 is_latin1_name(args->u.c.v[1]))
			r = encode_latin1(a0, rc);
		else
			*rc = bad("%s() with these arguments is not supported",
				  g->name);
		goto out;
	case R_ENCODE:
		if (args_are(args, 2) && a0->kind == MP_OBJ_STR &&
		    is_latin1_name(args->u.c.v[1]))
			r = encode_latin1(a0, rc);
		else
			*rc = bad("_codecs.encode takes (str, 'latin1')");
		goto out;
	case R_ODICT:
		if (args_are(args, 0))
			r = mpi_obj_new(MP_OBJ_DICT);
		else
			*rc = bad("OrderedDict() takes no arguments here");
		goto out;
	case R_RECON:
		if (args_are(args, 3) && a0->kind == MPI_OBJ_GLOBAL &&
		    glob_of(a0)->role == R_CLASS &&
		    args->u.c.v[1]->kind == MPI_OBJ_GLOBAL &&
		    glob_of(args->u.c.v[1])->role == R_OBJECT &&
		    args->u.c.v[2]->kind == MP_OBJ_NONE) {
			mp_obj_t *empty = mpi_obj_new(MP_OBJ_TUPLE);

			if (empty != NULL)
				r = make_object(a0, empty, MP_OBJ_NEWOBJ, rc);
		} else {
			*rc = bad("copyreg._reconstructor takes (class, "
				  "object, None)");
		}
		goto out;
	case R_OBJECT:
		*rc = mpi_why(-ENOTSUP, "builtins.object() is not supported");
		goto out;
	}
out:
	mpi_obj_decref(args);
	return r;
}

static int op_reduce(struct dec *d, bool newobj, bool ex)
{
	mp_obj_t *f = NULL, *args = NULL, *kw = NULL, *r;
	int rc;

	if ((ex && (rc = pop(d, &kw)) < 0) || (rc = pop(d, &args)) < 0 ||
	    (rc = pop(d, &f)) < 0)
		goto out;
	if (args->kind != MP_OBJ_TUPLE) {
		rc = bad("%s arguments must be a tuple, not %s",
			 newobj ? "NEWOBJ" : "REDUCE",
			 mp_obj_kind_name(args->kind));
	} else if (ex && (kw->kind != MP_OBJ_DICT || kw->u.c.n != 0)) {
		rc = mpi_why(-ENOTSUP, "NEWOBJ_EX with keyword arguments is "
				       "not supported");
	} else if (f->kind != MPI_OBJ_GLOBAL) {
		rc = bad("%s of a %s (not a class)",
			 newobj ? "NEWOBJ" : "REDUCE",
			 mp_obj_kind_name(f->kind));
	} else {
		r = call(f, args, newobj, &rc);
		args = NULL;
		rc = push_rc(d, r, rc);
	}
out:
	mpi_obj_decref(f);
	mpi_obj_decref(args);
	mpi_obj_decref(kw);
	return rc;
}

static int op_build(struct dec *d)
{
	mp_obj_t *state = NULL, *o = NULL;
	unsigned dep;
	int rc;

	if ((rc = pop(d, &state)) < 0 || (rc = top(d, &o)) < 0)
		goto fail;
	if (o->kind != MP_OBJ_OBJECT) {
		rc = bad("BUILD on a %s", mp_obj_kind_name(o->kind));
		goto fail;
	}
	if ((rc = frozen(o)) < 0)
		goto fail;
	dep = (unsigned)state->depth + 1;
	if (dep > MP_OBJ_MAX_DEPTH) {
		rc = mpi_why(-E2BIG, "nesting exceeds %d levels",
			     MP_OBJ_MAX_DEPTH);
		goto fail;
	}
	if (dep > o->depth)
		o->depth = (uint16_t)dep;
	mpi_obj_decref(o->u.o.state);
	o->u.o.state = state;
	return 0;
fail:
	mpi_obj_decref(state);
	return rc;
}

/* ---- the opcode loop ---- */

static int op_append(struct dec *d)
{
	mp_obj_t *item = NULL, *l = NULL;
	int rc;

	if ((rc = pop(d, &item)) < 0)
		return rc;
	if ((rc = top(d, &l)) < 0 || (l->kind != MP_OBJ_LIST &&
				      (rc = bad("APPEND on a %s",
						mp_obj_kind_name(l->kind)))) ||
	    (rc = frozen(l)) < 0) {
		mpi_obj_decref(item);
		return rc;
	}
	return mpi_obj_append(l, item);
}

static int op_setitem(struct dec *d)
{
	mp_obj_t *k = NULL, *v = NULL, *dict = NULL;
	int rc;

	if ((rc = pop(d, &v)) < 0 || (rc = pop(d, &k)) < 0 ||
	    (rc = top(d, &dict)) < 0)
		goto fail;
	if (dict->kind != MP_OBJ_DICT) {
		rc = bad("SETITEM on a %s", mp_obj_kind_name(dict->kind));
		goto fail;
	}
	if ((rc = frozen(dict)) < 0)
		goto fail;
	return mpi_obj_setitem(dict, k, v);
fail:
	mpi_obj_decref(k);
	mpi_obj_decref(v);
	return rc;
}

static int op_pop(struct dec *d)
{
	mp_obj_t *o = NULL;

	if (d->n > fence(d)) {
		o = d->st[--d->n];
		mpi_obj_decref(o);
		return 0;
	}
	if (d->nmarks > 0) { /* POP with nothing above the mark drops it */
		d->nmarks--;
		return 0;
	}
	return underflow();
}

static int op_mark(struct dec *d)
{
	size_t *m, cap;

	if (d->nmarks == d->mcap) {
		cap = d->mcap < 16 ? 16 : d->mcap * 2;
		if ((m = mpi_reallocarray(d->marks, cap, sizeof(*m))) == NULL)
			return -ENOMEM;
		d->marks = m;
		d->mcap = cap;
	}
	d->marks[d->nmarks++] = d->n;
	return 0;
}

static int op_pop_mark(struct dec *d)
{
	size_t k = 0;
	int rc;

	if ((rc = pop_mark(d, &k)) < 0)
		return rc;
	while (d->n > k)
		mpi_obj_decref(d->st[--d->n]);
	return 0;
}

static int unsupported(const char *what)
{
	return mpi_why(-ENOTSUP, "%s is not supported", what);
}

/* One opcode (already consumed); 1 at STOP. */
static int step(struct dec *d, unsigned char op)
{
	int64_t v = 0;
	size_t len = 0;
	mp_obj_t *o = NULL;
	int rc;

	switch (op) {
	case 0x80: /* PROTO */
		if ((rc = need(d, 1)) < 0)
			return rc;
		if (*d->p > 5)
			return mpi_why(-ENOTSUP, "unsupported pickle protocol: "
						 "%d", *d->p);
		d->p++;
		return 0;
	case 0x95: /* FRAME: frames only group opcodes */
		return read_len(d, 8, &len);
	case '.': /* STOP */
		return 1;
	case 'N':
		return push(d, mpi_obj_new(MP_OBJ_NONE));
	case 0x88: /* NEWTRUE */
	case 0x89: /* NEWFALSE */
		if ((o = mpi_obj_new(MP_OBJ_BOOL)) != NULL)
			o->u.b = op == 0x88;
		return push(d, o);
	case 'I':
		return op_int(d);
	case 'L': {
		const char *s = NULL;

		if ((rc = read_line(d, &s, &len)) < 0)
			return rc;
		return push_decimal(d, s, len);
	}
	case 'J':
		if ((rc = need(d, 4)) < 0)
			return rc;
		v = (int32_t)(uint32_t)le(d->p, 4);
		d->p += 4;
		return push_int(d, v);
	case 'K':
	case 'M':
		if ((rc = need(d, op == 'K' ? 1 : 2)) < 0)
			return rc;
		v = (int64_t)le(d->p, op == 'K' ? 1 : 2);
		d->p += op == 'K' ? 1 : 2;
		return push_int(d, v);
	case 0x8a: /* LONG1 */
		return op_long(d, 1);
	case 0x8b: /* LONG4 */
		return op_long(d, 4);
	case 'F':
		return op_float_text(d);
	case 'G':
		return op_binfloat(d);
	case 'X':
		return op_text(d, MP_OBJ_STR, 4);
	case 0x8c: /* SHORT_BINUNICODE */
		return op_text(d, MP_OBJ_STR, 1);
	case 0x8d: /* BINUNICODE8 */
		return op_text(d, MP_OBJ_STR, 8);
	case 'B':
		return op_text(d, MP_OBJ_BYTES, 4);
	case 'C':
		return op_text(d, MP_OBJ_BYTES, 1);
	case 0x8e: /* BINBYTES8 */
	case 0x96: /* BYTEARRAY8: loaded as bytes */
		return op_text(d, MP_OBJ_BYTES, 8);
	case 0x97:
	case 0x98:
		return unsupported("an out-of-band buffer (NEXT_BUFFER)");
	case 'S':
	case 'T':
	case 'U':
	case 'V':
		return unsupported("protocol 0's text string");
	case ')':
		return push(d, mpi_obj_new(MP_OBJ_TUPLE));
	case 't':
		if ((rc = pop_mark(d, &len)) < 0)
			return rc;
		return build_tuple(d, d->n - len);
	case 0x85:
	case 0x86:
	case 0x87:
		return build_tuple(d, (size_t)(op - 0x84));
	case ']':
		return push(d, mpi_obj_new(MP_OBJ_LIST));
	case 'l':
		return build_marked(d, MP_OBJ_LIST);
	case 'a':
		return op_append(d);
	case 'e':
		return fill_marked(d, MP_OBJ_LIST, "APPENDS");
	case '}':
		return push(d, mpi_obj_new(MP_OBJ_DICT));
	case 'd':
		return build_marked(d, MP_OBJ_DICT);
	case 's':
		return op_setitem(d);
	case 'u':
		return fill_marked(d, MP_OBJ_DICT, "SETITEMS");
	case 0x8f: /* EMPTY_SET */
		return push(d, mpi_obj_new(MP_OBJ_SET));
	case 0x90: /* ADDITEMS */
		return fill_marked(d, MP_OBJ_SET, "ADDITEMS");
	case 0x91: /* FROZENSET */
		return build_marked(d, MP_OBJ_FROZENSET);
	case '(':
		return op_mark(d);
	case '0':
		return op_pop(d);
	case '1':
		return op_pop_mark(d);
	case '2': /* DUP */
		if ((rc = top(d, &o)) < 0)
			return rc;
		return push_copy(d, o);
	case 'p':
		if ((rc = read_decimal(d, false, &v)) < 0)
			return rc;
		return memo_put(d, (uint64_t)v);
	case 'q':
	case 'r':
		if ((rc = need(d, op == 'q' ? 1 : 4)) < 0)
			return rc;
		v = (int64_t)le(d->p, op == 'q' ? 1 : 4);
		d->p += op == 'q' ? 1 : 4;
		return memo_put(d, (uint64_t)v);
	case 0x94: /* MEMOIZE */
		return memo_put(d, d->mlen);
	case 'g':
		if ((rc = read_decimal(d, false, &v)) < 0)
			return rc;
		return memo_get(d, (uint64_t)v);
	case 'h':
	case 'j':
		if ((rc = need(d, op == 'h' ? 1 : 4)) < 0)
			return rc;
		v = (int64_t)le(d->p, op == 'h' ? 1 : 4);
		d->p += op == 'h' ? 1 : 4;
		return memo_get(d, (uint64_t)v);
	case 'c':
		return op_global(d);
	case 0x93: /* STACK_GLOBAL */
		return op_stack_global(d);
	case 'R':
		return op_reduce(d, false, false);
	case 0x81: /* NEWOBJ */
		return op_reduce(d, true, false);
	case 0x92: /* NEWOBJ_EX */
		return op_reduce(d, true, true);
	case 'b':
		return op_build(d);
	case 'i':
	case 'o':
		return unsupported("INST/OBJ (protocols 0 and 1)");
	case 'P':
	case 'Q':
		return unsupported("a persistent id");
	case 0x82:
	case 0x83:
	case 0x84:
		return unsupported("the copyreg extension registry (EXT)");
	default:
		return bad("invalid load key, '\\x%02x'", op);
	}
}

/* A global left in the value (a class pickled as a value). */
static int no_globals(const mp_obj_t *o)
{
	size_t i, n;
	int rc;

	if (o->kind == MPI_OBJ_GLOBAL)
		return mpi_why(-ENOTSUP, "a class (%s.%s) as a value is not "
					 "supported", o->u.s.data,
			       o->u.s.data + strlen(o->u.s.data) + 1);
	if (o->kind == MP_OBJ_OBJECT) {
		if ((rc = no_globals(o->u.o.args)) < 0)
			return rc;
		return o->u.o.state ? no_globals(o->u.o.state) : 0;
	}
	if (o->kind < MP_OBJ_TUPLE || o->kind > MP_OBJ_FROZENSET)
		return 0;
	n = o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
	for (i = 0; i < n; i++)
		if ((rc = no_globals(o->u.c.v[i])) < 0)
			return rc;
	return 0;
}

static void dec_free(struct dec *d)
{
	size_t i;

	for (i = 0; i < d->mslots; i++)
		mpi_obj_decref(d->memo[i].o);
	mpi_free(d->memo);
	while (d->n > 0)
		mpi_obj_decref(d->st[--d->n]);
	mpi_free(d->st);
	mpi_free(d->marks);
}

/* The opcode for a message: 'c' or 0x93. */
static void op_name(unsigned char op, char *buf, size_t cap)
{
	if (op >= 0x20 && op < 0x7f && op != '\'')
		snprintf(buf, cap, "'%c'", op);
	else
		snprintf(buf, cap, "0x%02x", op);
}

/* Internal load: 0 and the value, or a code with a reason. */
static int loads(const void *data, size_t len, mp_obj_t **out)
{
	struct dec d = {.start = data, .p = data,
			.end = (const unsigned char *)data + len};
	const unsigned char *at = d.p;
	char why[320], name[8];
	mp_obj_t *o = NULL;
	unsigned char op = 0;
	int rc = 0;

	d.budget = (int64_t)MP_PICKLE_COPY_BASE +
		   (int64_t)MP_PICKLE_COPY_FACTOR * (int64_t)len;
	while (rc == 0) {
		at = d.p;
		if (d.p == d.end) {
			rc = bad("pickle data was truncated (no STOP)");
			break;
		}
		op = *d.p++;
		rc = step(&d, op);
	}
	if (rc == 1) {
		rc = pop(&d, &o);
		if (rc == 0 && (rc = no_globals(o)) < 0) {
			mpi_obj_decref(o);
			o = NULL;
		}
		at = d.p - 1;
	}
	dec_free(&d);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", mpi_reason(rc));
		if (rc == -EINVAL) /* an unhashable key: malformed data */
			rc = -EPROTO;
		op_name(op, name, sizeof(name));
		return mpi_why(rc, "%s (opcode %s at offset %zu)", why, name,
			       (size_t)(at - d.start));
	}
	o->frozen = false;
	*out = o;
	return 0;
}

/* Clear the decoder's marks on a loaded tree. */
static void thaw(mp_obj_t *o)
{
	size_t i, n;

	o->frozen = false;
	if (o->kind == MP_OBJ_OBJECT) {
		thaw(o->u.o.args);
		if (o->u.o.state)
			thaw(o->u.o.state);
	} else if (o->kind >= MP_OBJ_TUPLE && o->kind <= MP_OBJ_FROZENSET) {
		n = o->kind == MP_OBJ_DICT ? 2 * o->u.c.n : o->u.c.n;
		for (i = 0; i < n; i++)
			thaw(o->u.c.v[i]);
	}
}

int mpi_pickle_loads(const void *data, size_t len, mp_obj_t **out)
{
	int rc;

	*out = NULL;
	if ((rc = loads(data == NULL ? "" : data, len, out)) < 0)
		return rc;
	thaw(*out);
	return 0;
}

int mp_pickle_loads(const void *data, size_t len, mp_obj_t **out)
{
	int rc;

	MPI_CHECK_NULL(out);
	*out = NULL;
	if (data == NULL && len > 0)
		return MPI_ERR(-EINVAL, "argument 'data' is NULL");
	if ((rc = mpi_pickle_loads(data, len, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}

/* ======================================================================
 * The writer
 * ====================================================================== */

#define FRAME_TARGET 65536
#define FRAME_MIN 4
#define BATCH 1000

struct enc {
	mp_bytes_t out;
	size_t cap;
	int proto;
	bool framing;
	ptrdiff_t frame;          /* offset of the open frame's header, or -1 */
	uint32_t memo;            /* next memo key */
	uint32_t gmemo[NGLOBS];   /* memo key + 1 of each global written */
	uint32_t mmemo[NGLOBS];   /* protocol 4: of its module name */
	uint32_t latin1;          /* memo key + 1 of 'latin1' */
};

static int grow(struct enc *e, size_t n)
{
	size_t need, cap;
	char *p;

	if (__builtin_add_overflow(e->out.len, n + 1, &need))
		return mpi_why(-E2BIG, "pickle too large");
	if (need <= e->cap)
		return 0;
	cap = e->cap < 256 ? 256 : e->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = mpi_realloc(e->out.data, cap)) == NULL)
		return -ENOMEM;
	e->out.data = p;
	e->cap = cap;
	return 0;
}

static int w(struct enc *e, const void *p, size_t n)
{
	int rc;

	if (e->framing && e->frame < 0) { /* open a frame: header later */
		if ((rc = grow(e, 9)) < 0)
			return rc;
		e->frame = (ptrdiff_t)e->out.len;
		e->out.len += 9;
	}
	if ((rc = grow(e, n)) < 0)
		return rc;
	memcpy(e->out.data + e->out.len, p, n);
	e->out.len += n;
	return 0;
}

static int w1(struct enc *e, unsigned char c)
{
	return w(e, &c, 1);
}

/* An opcode with an n-byte little-endian argument. */
static int wop(struct enc *e, unsigned char op, uint64_t v, int n)
{
	unsigned char b[9];
	int i;

	b[0] = op;
	for (i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * i));
	return w(e, b, (size_t)n + 1);
}

static void commit_frame(struct enc *e)
{
	size_t len, start;

	if (e->frame < 0)
		return;
	start = (size_t)e->frame;
	len = e->out.len - start - 9;
	if (len >= FRAME_MIN) {
		e->out.data[start] = (char)0x95;
		for (int i = 0; i < 8; i++)
			e->out.data[start + 1 + i] = (char)(len >> (8 * i));
	} else {
		memmove(e->out.data + start, e->out.data + start + 9, len);
		e->out.len -= 9;
	}
	e->frame = -1;
}

static void boundary(struct enc *e)
{
	if (e->frame >= 0 && e->out.len - (size_t)e->frame - 9 >= FRAME_TARGET)
		commit_frame(e);
}

/* A header and a payload; a large payload goes outside any frame. */
static int w_payload(struct enc *e, const unsigned char *hdr, size_t hlen,
		     const void *p, size_t n)
{
	bool framing = e->framing;
	int rc;

	if (framing && n >= FRAME_TARGET) {
		commit_frame(e);
		e->framing = false;
	}
	if ((rc = w(e, hdr, hlen)) == 0)
		rc = w(e, p, n);
	e->framing = framing;
	return rc;
}

static int memoize(struct enc *e)
{
	uint32_t k = e->memo++;

	if (e->proto >= 4)
		return w1(e, 0x94);
	if (k < 256)
		return wop(e, 'q', k, 1);
	return wop(e, 'r', k, 4);
}

static int get(struct enc *e, uint32_t k)
{
	if (k < 256)
		return wop(e, 'h', k, 1);
	return wop(e, 'j', k, 4);
}

static int save(struct enc *e, const mp_obj_t *o);

static int save_text(struct enc *e, int kind, const void *p, size_t n)
{
	unsigned char h[9];
	size_t hl;
	int rc;

	if (kind == MP_OBJ_STR) {
		if (e->proto >= 4 && n < 256)
			h[0] = 0x8c, hl = 1;
		else if (n <= UINT32_MAX)
			h[0] = 'X', hl = 4;
		else if (e->proto >= 4)
			h[0] = 0x8d, hl = 8;
		else
			return mpi_why(-E2BIG, "cannot serialize a string "
					       "larger than 4GiB");
	} else {
		if (n < 256)
			h[0] = 'C', hl = 1;
		else if (n <= UINT32_MAX)
			h[0] = 'B', hl = 4;
		else if (e->proto >= 4)
			h[0] = 0x8e, hl = 8;
		else
			return mpi_why(-E2BIG, "cannot serialize a bytes "
					       "object larger than 4 GiB");
	}
	for (size_t i = 0; i < hl; i++)
		h[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	if ((rc = w_payload(e, h, hl + 1, p, n)) < 0)
		return rc;
	return memoize(e);
}

static int save_str_c(struct enc *e, const char *s)
{
	return save_text(e, MP_OBJ_STR, s, strlen(s));
}

static int save_global(struct enc *e, const struct glob *g)
{
	size_t i = (size_t)(g - globs);
	const char *m = g->module, *n = g->name;
	int rc;

	if (e->gmemo[i] != 0)
		return get(e, e->gmemo[i] - 1);
	if (e->proto >= 4) {
		/* one memoized string per module name, as CPython's */
		for (size_t j = 0; j < NGLOBS; j++)
			if (e->mmemo[j] != 0 &&
			    strcmp(globs[j].module, m) == 0) {
				e->mmemo[i] = e->mmemo[j];
				break;
			}
		if (e->mmemo[i] != 0)
			rc = get(e, e->mmemo[i] - 1);
		else if ((rc = save_str_c(e, m)) == 0)
			e->mmemo[i] = e->memo;
		if (rc == 0)
			rc = save_str_c(e, n);
		if (rc == 0)
			rc = w1(e, 0x93);
	} else {
		if (e->proto == 2)
			m = g->m2, n = g->n2;
		if ((rc = w1(e, 'c')) == 0 && (rc = w(e, m, strlen(m))) == 0 &&
		    (rc = w1(e, '\n')) == 0 && (rc = w(e, n, strlen(n))) == 0)
			rc = w1(e, '\n');
	}
	if (rc == 0 && (rc = memoize(e)) == 0)
		e->gmemo[i] = e->memo;
	return rc;
}

static const struct glob *glob_role(enum role r)
{
	size_t i;

	for (i = 0; i < NGLOBS; i++)
		if (globs[i].role == r)
			return &globs[i];
	return NULL;
}

static int save_int(struct enc *e, const mp_obj_t *o)
{
	unsigned char tmp[9];
	const unsigned char *b;
	int64_t v = 0;
	size_t n;
	int rc;

	if (!o->big) {
		v = o->u.i;
		if (v >= 0 && v <= 0xff)
			return wop(e, 'K', (uint64_t)v, 1);
		if (v >= 0 && v <= 0xffff)
			return wop(e, 'M', (uint64_t)v, 2);
		if (v >= INT32_MIN && v <= INT32_MAX)
			return wop(e, 'J', (uint64_t)v, 4);
	}
	b = mpi_obj_int_bytes(o, tmp, &n);
	if (n < 256)
		rc = wop(e, 0x8a, n, 1);
	else
		rc = wop(e, 0x8b, n, 4);
	return rc ? rc : w(e, b, n);
}

static int save_float(struct enc *e, double f)
{
	unsigned char b[9];
	uint64_t bits;
	int i;

	memcpy(&bits, &f, sizeof(bits));
	b[0] = 'G';
	for (i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
	return w(e, b, 9);
}

/* Protocol 2's bytes: bytes() or _codecs.encode(latin-1 text, 'latin1'). */
static int save_bytes2(struct enc *e, const mp_obj_t *o)
{
	const unsigned char *p = (const unsigned char *)o->u.s.data;
	char *u;
	size_t i, n = 0;
	int rc;

	if (o->u.s.len == 0) {
		if ((rc = save_global(e, glob_role(R_BYTES))) == 0 &&
		    (rc = w1(e, ')')) == 0 && (rc = w1(e, 'R')) == 0)
			rc = memoize(e);
		return rc;
	}
	if ((rc = save_global(e, glob_role(R_ENCODE))) < 0)
		return rc;
	if ((u = mpi_malloc(2 * o->u.s.len)) == NULL)
		return -ENOMEM;
	for (i = 0; i < o->u.s.len; i++) {
		if (p[i] < 0x80) {
			u[n++] = (char)p[i];
		} else {
			u[n++] = (char)(0xc0 | p[i] >> 6);
			u[n++] = (char)(0x80 | (p[i] & 0x3f));
		}
	}
	rc = save_text(e, MP_OBJ_STR, u, n);
	mpi_free(u);
	if (rc < 0)
		return rc;
	if (e->latin1 != 0) {
		rc = get(e, e->latin1 - 1);
	} else if ((rc = save_str_c(e, "latin1")) == 0) {
		e->latin1 = e->memo;
	}
	if (rc == 0 && (rc = w1(e, 0x86)) == 0 && (rc = memoize(e)) == 0 &&
	    (rc = w1(e, 'R')) == 0)
		rc = memoize(e);
	return rc;
}

static int save_tuple(struct enc *e, const mp_obj_t *o)
{
	size_t i, n = o->u.c.n;
	int rc = 0;

	if (n == 0)
		return w1(e, ')');
	if (n > 3)
		rc = w1(e, '(');
	for (i = 0; i < n && rc == 0; i++)
		rc = save(e, o->u.c.v[i]);
	if (rc == 0)
		rc = w1(e, n > 3 ? 't' : (unsigned char)(0x84 + n));
	return rc ? rc : memoize(e);
}

/* The items of a list/dict after EMPTY_LIST/EMPTY_DICT, as CPython. */
static int save_batches(struct enc *e, const mp_obj_t *o)
{
	bool dict = o->kind == MP_OBJ_DICT;
	size_t step = dict ? 2 : 1, n = o->u.c.n, i = 0, k;
	int rc;

	if (n == 0)
		return 0;
	if (n == 1) {
		if ((rc = save(e, o->u.c.v[0])) == 0 && dict)
			rc = save(e, o->u.c.v[1]);
		return rc ? rc : w1(e, dict ? 's' : 'a');
	}
	while (i < n) {
		if ((rc = w1(e, '(')) < 0)
			return rc;
		for (k = 0; k < BATCH && i < n; k++, i++) {
			if ((rc = save(e, o->u.c.v[step * i])) < 0 ||
			    (dict && (rc = save(e, o->u.c.v[2 * i + 1])) < 0))
				return rc;
		}
		if ((rc = w1(e, dict ? 'u' : 'e')) < 0)
			return rc;
	}
	return 0;
}

static int save_set(struct enc *e, const mp_obj_t *o)
{
	bool frozen = o->kind == MP_OBJ_FROZENSET;
	size_t i = 0, k, n = o->u.c.n;
	mp_obj_t list;
	int rc;

	if (e->proto < 4) { /* set(list) by REDUCE */
		/* the argument tuple is one level deeper than the set */
		if (o->depth + 1 > MP_OBJ_MAX_DEPTH)
			return mpi_why(-E2BIG, "a set nested %u deep "
				       "cannot be written in protocol %d "
				       "(the limit is %d)", o->depth,
				       e->proto, MP_OBJ_MAX_DEPTH);
		memset(&list, 0, sizeof(list));
		list.kind = MP_OBJ_LIST;
		list.u.c.v = o->u.c.v;
		list.u.c.n = n;
		rc = save_global(e, glob_role(frozen ? R_FROZENSET : R_SET));
		if (rc == 0 && (rc = w1(e, ']')) == 0 && (rc = memoize(e)) == 0)
			rc = save_batches(e, &list);
		if (rc == 0 && (rc = w1(e, 0x85)) == 0 &&
		    (rc = memoize(e)) == 0 && (rc = w1(e, 'R')) == 0)
			rc = memoize(e);
		return rc;
	}
	if (frozen) {
		rc = w1(e, '(');
		for (i = 0; i < n && rc == 0; i++)
			rc = save(e, o->u.c.v[i]);
		if (rc == 0 && (rc = w1(e, 0x91)) == 0)
			rc = memoize(e);
		return rc;
	}
	if ((rc = w1(e, 0x8f)) < 0 || (rc = memoize(e)) < 0 || n == 0)
		return rc;
	do { /* CPython writes an empty batch after a full last one */
		if ((rc = w1(e, '(')) < 0)
			return rc;
		for (k = 0; k < BATCH && i < n; k++, i++)
			if ((rc = save(e, o->u.c.v[i])) < 0)
				return rc;
		if ((rc = w1(e, 0x90)) < 0)
			return rc;
	} while (k == BATCH);
	return 0;
}

static int save_object(struct enc *e, const mp_obj_t *o)
{
	const struct glob *g = glob_find(o->u.o.module, o->u.o.qualname);
	int rc;

	if (g == NULL || g->role != R_CLASS ||
	    strcmp(g->module, o->u.o.module) != 0)
		return mpi_why(-EPERM, "class '%s.%s' is not on the allow-list",
			       o->u.o.module, o->u.o.qualname);
	if ((rc = save_global(e, g)) < 0 || (rc = save(e, o->u.o.args)) < 0 ||
	    (rc = w1(e, o->flags & MP_OBJ_NEWOBJ ? 0x81 : 'R')) < 0 ||
	    (rc = memoize(e)) < 0)
		return rc;
	if (o->u.o.state == NULL)
		return 0;
	if ((rc = save(e, o->u.o.state)) < 0)
		return rc;
	return w1(e, 'b');
}

static int save(struct enc *e, const mp_obj_t *o)
{
	int rc;

	switch (o->kind) {
	case MP_OBJ_NONE:
		rc = w1(e, 'N');
		break;
	case MP_OBJ_BOOL:
		rc = w1(e, o->u.b ? 0x88 : 0x89);
		break;
	case MP_OBJ_INT:
		rc = save_int(e, o);
		break;
	case MP_OBJ_FLOAT:
		rc = save_float(e, o->u.f);
		break;
	case MP_OBJ_STR:
		rc = save_text(e, MP_OBJ_STR, o->u.s.data, o->u.s.len);
		break;
	case MP_OBJ_BYTES:
		if (e->proto == 2)
			rc = save_bytes2(e, o);
		else
			rc = save_text(e, MP_OBJ_BYTES, o->u.s.data,
				       o->u.s.len);
		break;
	case MP_OBJ_TUPLE:
		rc = save_tuple(e, o);
		break;
	case MP_OBJ_LIST:
	case MP_OBJ_DICT:
		if ((rc = w1(e, o->kind == MP_OBJ_LIST ? ']' : '}')) == 0 &&
		    (rc = memoize(e)) == 0)
			rc = save_batches(e, o);
		break;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		rc = save_set(e, o);
		break;
	case MP_OBJ_OBJECT:
		rc = save_object(e, o);
		break;
	default:
		rc = mpi_why(-EINVAL, "cannot pickle a %s",
			     mp_obj_kind_name(o->kind));
	}
	if (rc == 0)
		boundary(e);
	return rc;
}

int mpi_pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out)
{
	struct enc e;
	unsigned char proto[2];
	int rc;

	out->data = NULL;
	out->len = 0;
	memset(&e, 0, sizeof(e));
	e.proto = protocol;
	e.frame = -1;
	proto[0] = 0x80;
	proto[1] = (unsigned char)protocol;
	rc = w(&e, proto, 2);
	e.framing = protocol >= 4;
	if (rc == 0 && (rc = save(&e, o)) == 0 && (rc = w1(&e, '.')) == 0)
		commit_frame(&e);
	if (rc < 0) {
		mpi_free(e.out.data);
		return rc;
	}
	e.out.data[e.out.len] = '\0';
	*out = e.out;
	return 0;
}

int mp_pickle_dumps(const mp_obj_t *o, int protocol, mp_bytes_t *out)
{
	int rc;

	MPI_CHECK_NULL(out);
	out->data = NULL;
	out->len = 0;
	MPI_CHECK_NULL(o);
	if (protocol == -1)
		protocol = MP_PICKLE_DEFAULT_PROTOCOL;
	if (protocol < 2 || protocol > 4)
		return MPI_ERR(-EINVAL, "protocol %d: only 2, 3 and 4 are "
					"written", protocol);
	if ((rc = mpi_pickle_dumps(o, protocol, out)) < 0)
		return MPI_RAISE(rc);
	return 0;
}
