/*
 * manager/store.c - the manager's shared region and its allocator, pickled
 * values in it, canonical dict keys, and Python's < for sort.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/lock.h"
#include "manager/mgr_int.h"
#include "manager/obj_int.h"

#define REGION_MAGIC 0x6d70726f634d4752ull /* "mprocMGR" */

int mpi_region_new(size_t size, struct mpi_region **out)
{
	struct mpi_region *r;
	uint64_t seed = 0;
	void *p;
	int fd;

	size = (size + 4095) & ~(size_t)4095;
	fd = memfd_create("mproc-manager", MFD_CLOEXEC);
	if (fd < 0)
		return MPI_WHY_SYS("memfd_create");
	if (ftruncate(fd, (off_t)size) < 0) {
		int rc = MPI_WHY_SYS("ftruncate");

		close(fd);
		return rc;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		int rc = MPI_WHY_SYS("mmap");

		close(fd);
		return rc;
	}
	close(fd); /* the mapping keeps the memory */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = mpi_now_ns() ^ (uint64_t)getpid() << 32;
	r = p;
	r->magic = REGION_MAGIC;
	r->size = size;
	r->seed = seed;
	r->top = (sizeof(*r) + 63) & ~(uint64_t)63;
	*out = r;
	return 0;
}

void mpi_region_unmap(struct mpi_region *r)
{
	if (r != NULL)
		munmap(r, r->size);
}

static int size_class(size_t n, unsigned *cls)
{
	size_t need;
	unsigned c = 0;

	if (__builtin_add_overflow(n, sizeof(struct mpi_block), &need))
		return -ENOMEM;
	while (((size_t)32 << c) < need) {
		if (++c >= MPI_MGR_CLASSES)
			return -ENOMEM;
	}
	*cls = c;
	return 0;
}

/*
 * A per-thread cache of freed small blocks, so that the replace-a-value
 * path does not take the allocator's lock twice.  It belongs to one
 * region (pointer and seed: a new region mapped at the same address has
 * another seed) and one thread of one process (mpi_self_id changes in a
 * forked child, whose copy is then dropped: the blocks stay the
 * parent's).  At most TC_MAX blocks per class are kept; a thread that
 * ends, or a region freed, leaves its cached blocks unused.
 */
#define TC_CLASSES 6 /* up to 1 KiB blocks */
#define TC_MAX 16

struct tcache {
	uint64_t owner;
	const struct mpi_region *r;
	uint64_t seed;
	unsigned n[TC_CLASSES];
	uint64_t off[TC_CLASSES][TC_MAX];
};

static _Thread_local struct tcache tc;

static struct tcache *tc_for(const struct mpi_region *r)
{
	uint64_t me = mpi_self_id();

	if (tc.owner == me && tc.r == r && tc.seed == r->seed)
		return &tc;
	if (tc.owner == me && tc.r != NULL)
		return NULL; /* serving another region: no cache */
	memset(&tc, 0, sizeof(tc));
	tc.owner = me;
	tc.r = r;
	tc.seed = r->seed;
	return &tc;
}

/* With the lock held: a free block of class c, split from a larger free
 * block when c's list is empty (the upper halves go to the lists below),
 * or 0. */
static uint64_t split_larger(struct mpi_region *r, unsigned c)
{
	struct mpi_block *b;
	uint64_t off;
	unsigned k;

	for (k = c + 1; k < MPI_MGR_CLASSES && r->free_head[k] == 0; k++)
		;
	if (k >= MPI_MGR_CLASSES)
		return 0;
	off = r->free_head[k];
	b = mpi_at(r, off);
	__atomic_store_n(&r->free_head[k], b->next, __ATOMIC_RELAXED);
	while (k-- > c) {
		b = mpi_at(r, off + ((uint64_t)32 << k));
		b->cls = k;
		b->next = r->free_head[k];
		__atomic_store_n(&r->free_head[k], off + ((uint64_t)32 << k),
				 __ATOMIC_RELAXED);
	}
	return off;
}

/*
 * Each step publishes with one store: a crash while the lock is held
 * leaves the free lists and top consistent (at worst a block is lost).
 * Blocks are never merged again: a region that filled up with large
 * blocks serves small ones from them.
 */
uint64_t mpi_region_alloc(struct mpi_region *r, size_t n)
{
	struct mpi_block *b;
	uint64_t off, bsize;
	struct tcache *t;
	unsigned c;
	bool dead;

	if (size_class(n, &c) < 0)
		goto full;
	if (c < TC_CLASSES && (t = tc_for(r)) != NULL && t->n[c] > 0)
		return t->off[c][--t->n[c]] + sizeof(*b);
	bsize = (uint64_t)32 << c;
	mpi_obj_lock(&r->alloc_lock, &dead);
	off = r->free_head[c];
	if (off != 0) {
		b = mpi_at(r, off);
		__atomic_store_n(&r->free_head[c], b->next, __ATOMIC_RELAXED);
	} else if (r->top + bsize <= r->size) {
		off = r->top;
		__atomic_store_n(&r->top, off + bsize, __ATOMIC_RELAXED);
	} else {
		off = split_larger(r, c);
	}
	mpi_obj_unlock(&r->alloc_lock);
	if (off == 0)
		goto full;
	b = mpi_at(r, off);
	b->cls = c;
	b->next = 0;
	return off + sizeof(*b);
full:
	mpi_why(-ENOMEM, "the manager's shared memory is full (capacity "
			 "%llu bytes; mp_manager_opts_t.capacity)",
		(unsigned long long)r->size);
	return 0;
}

void mpi_region_free(struct mpi_region *r, uint64_t off)
{
	struct mpi_block *b;
	struct tcache *t;
	uint64_t c;
	bool dead;

	if (off == 0)
		return;
	off -= sizeof(*b);
	b = mpi_at(r, off);
	c = b->cls;
	if (c >= MPI_MGR_CLASSES)
		return; /* never: a damaged header is leaked, not trusted */
	if (c < TC_CLASSES && (t = tc_for(r)) != NULL && t->n[c] < TC_MAX) {
		t->off[c][t->n[c]++] = off;
		return;
	}
	mpi_obj_lock(&r->alloc_lock, &dead);
	b->next = r->free_head[c];
	__atomic_store_n(&r->free_head[c], off, __ATOMIC_RELAXED);
	mpi_obj_unlock(&r->alloc_lock);
}

/* ---- small pickles, written and read without the general codec ---- */

static void le_put(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le_get(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* The body (after PROTO, before a frame) of a small value, or 0. */
static size_t small_body(const mp_obj_t *o, unsigned char *b)
{
	unsigned char tmp[16];
	const unsigned char *ib;
	uint64_t bits;
	size_t n = 0, len;
	int64_t i;

	switch (o->kind) {
	case MP_OBJ_NONE:
		b[n++] = 'N';
		break;
	case MP_OBJ_BOOL:
		b[n++] = o->u.b ? 0x88 : 0x89;
		break;
	case MP_OBJ_INT:
		if (o->big)
			return 0;
		i = o->u.i;
		if (i >= 0 && i < 256) {
			b[n++] = 'K';
			b[n++] = (unsigned char)i;
		} else if (i >= 0 && i < 65536) {
			b[n++] = 'M';
			le_put(b + n, (uint64_t)i, 2);
			n += 2;
		} else if (i >= INT32_MIN && i <= INT32_MAX) {
			b[n++] = 'J';
			le_put(b + n, (uint64_t)i, 4);
			n += 4;
		} else {
			ib = mpi_obj_int_bytes(o, tmp, &len);
			b[n++] = 0x8a;
			b[n++] = (unsigned char)len;
			memcpy(b + n, ib, len);
			n += len;
		}
		break;
	case MP_OBJ_FLOAT:
		memcpy(&bits, &o->u.f, 8);
		b[n++] = 'G';
		for (int k = 0; k < 8; k++)
			b[n++] = (unsigned char)(bits >> (56 - 8 * k));
		break;
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		if (o->u.s.len >= MPI_SMALL_TEXT)
			return 0;
		b[n++] = o->kind == MP_OBJ_STR ? 0x8c : 'C';
		b[n++] = (unsigned char)o->u.s.len;
		memcpy(b + n, o->u.s.data, o->u.s.len);
		n += o->u.s.len;
		b[n++] = 0x94; /* MEMOIZE */
		break;
	default:
		return 0;
	}
	b[n++] = '.';
	return n;
}

const unsigned char *mpi_pickle_small(const mp_obj_t *o, unsigned char *buf,
				      size_t *len)
{
	size_t n = small_body(o, buf + 11);

	if (n == 0)
		return NULL;
	if (n < 4) { /* CPython frames a body of 4 bytes or more */
		buf[9] = 0x80;
		buf[10] = 4;
		*len = n + 2;
		return buf + 9;
	}
	buf[0] = 0x80;
	buf[1] = 4;
	buf[2] = 0x95;
	le_put(buf + 3, n, 8);
	*len = n + 11;
	return buf;
}

int mpi_unpickle_small(const unsigned char *p, size_t n, mp_obj_t **out)
{
	const unsigned char *q, *end = p + n;
	mp_obj_t *o;
	uint64_t bits;
	int rc = 0;

	*out = NULL;
	if (n < 4 || p[0] != 0x80 || p[1] != 4 || end[-1] != '.')
		return 0;
	q = p + 2;
	if (q[0] == 0x95) {
		if (n < 12 || le_get(q + 1, 8) != (uint64_t)(end - q - 9))
			return 0;
		q += 9;
	}
	n = (size_t)(end - q) - 1; /* the opcode and its argument */
	switch (q[0]) {
	case 'N':
	case 0x88:
	case 0x89:
		if (n != 1)
			return 0;
		if ((o = mpi_obj_new(q[0] == 'N' ? MP_OBJ_NONE
						 : MP_OBJ_BOOL)) != NULL)
			o->u.b = q[0] == 0x88;
		break;
	case 'K':
	case 'M':
	case 'J':
		if (n != (q[0] == 'K' ? 2u : q[0] == 'M' ? 3u : 5u))
			return 0;
		if ((o = mpi_obj_new(MP_OBJ_INT)) != NULL)
			o->u.i = q[0] == 'J' ? (int32_t)le_get(q + 1, 4)
					     : (int64_t)le_get(q + 1, n - 1);
		break;
	case 0x8a: /* LONG1 of at most 8 bytes: an int64 */
		if (n < 2 || q[1] > 8 || n != 2u + q[1])
			return 0;
		bits = le_get(q + 2, q[1]);
		if (q[1] > 0 && q[1] < 8 && (q[1 + q[1]] & 0x80))
			bits |= ~(uint64_t)0 << (8 * q[1]); /* sign */
		if ((o = mpi_obj_new(MP_OBJ_INT)) != NULL)
			o->u.i = (int64_t)bits;
		break;
	case 'G':
		if (n != 9)
			return 0;
		bits = 0;
		for (int k = 1; k <= 8; k++)
			bits = bits << 8 | q[k];
		if ((o = mpi_obj_new(MP_OBJ_FLOAT)) != NULL)
			memcpy(&o->u.f, &bits, 8);
		break;
	case 0x8c:
	case 'C':
		if (n < 3 || q[1] != n - 3 || q[n - 1] != 0x94)
			return 0;
		o = mpi_obj_str(q[0] == 'C' ? MP_OBJ_BYTES : MP_OBJ_STR,
				q + 2, q[1], &rc);
		if (o == NULL && rc != -ENOMEM)
			return 0; /* the general reader says why */
		break;
	default:
		return 0;
	}
	if (o == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	*out = o;
	return 1;
}

/* ---- values ---- */

int mpi_region_put_obj(struct mpi_region *r, const mp_obj_t *o,
		       uint64_t *off)
{
	unsigned char small[MPI_SMALL_PICKLE];
	const unsigned char *sp;
	mp_bytes_t b;
	uint64_t *p;
	size_t n;
	int rc;

	if ((sp = mpi_pickle_small(o, small, &n)) != NULL) {
		if ((*off = mpi_region_alloc(r, sizeof(uint64_t) + n)) == 0)
			return -ENOMEM;
		p = mpi_at(r, *off);
		p[0] = n;
		memcpy(p + 1, sp, n);
		return 0;
	}
	if ((rc = mpi_pickle_dumps(o, MP_PICKLE_DEFAULT_PROTOCOL, &b)) < 0)
		return rc;
	*off = mpi_region_alloc(r, sizeof(uint64_t) + b.len);
	if (*off == 0) {
		mpi_free(b.data);
		return -ENOMEM;
	}
	p = mpi_at(r, *off);
	p[0] = b.len;
	memcpy(p + 1, b.data, b.len);
	mpi_free(b.data);
	return 0;
}

int mpi_region_get_obj(const struct mpi_region *r, uint64_t off,
		       mp_obj_t **out)
{
	const uint64_t *p = mpi_at(r, off);
	int rc = mpi_unpickle_small((const unsigned char *)(p + 1),
				    (size_t)p[0], out);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	return mpi_pickle_loads(p + 1, (size_t)p[0], out);
}

/* ---- canonical keys ---- */

void mpi_kbuf_init(struct mpi_kbuf *b)
{
	b->p = b->stack;
	b->len = 0;
	b->cap = sizeof(b->stack);
	b->heap = false;
}

void mpi_kbuf_release(struct mpi_kbuf *b)
{
	if (b->heap)
		mpi_free(b->p);
	mpi_kbuf_init(b);
}

static int kput(struct mpi_kbuf *b, const void *p, size_t n)
{
	size_t need, cap;
	unsigned char *q;

	if (__builtin_add_overflow(b->len, n, &need))
		return -ENOMEM;
	if (need > b->cap) {
		cap = b->cap * 2 > need ? b->cap * 2 : need;
		q = b->heap ? mpi_realloc(b->p, cap) : mpi_malloc(cap);
		if (q == NULL)
			return mpi_why(-ENOMEM, "out of memory");
		if (!b->heap)
			memcpy(q, b->p, b->len);
		b->p = q;
		b->cap = cap;
		b->heap = true;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len = need;
	return 0;
}

static int ktag(struct mpi_kbuf *b, char tag, uint64_t n)
{
	unsigned char h[9];

	h[0] = (unsigned char)tag;
	memcpy(h + 1, &n, 8);
	return kput(b, h, 9);
}

/* Shortest two's complement LE bytes of v (in, len <= cap) in place. */
static size_t shortest(unsigned char *v, size_t len)
{
	while (len > 1 &&
	       ((v[len - 1] == 0x00 && !(v[len - 2] & 0x80)) ||
		(v[len - 1] == 0xff && (v[len - 2] & 0x80))))
		len--;
	return len;
}

/*
 * An integral double of magnitude >= 2^63 as shortest two's complement
 * LE bytes (at most 130: 1024 bits and a sign byte).
 */
static size_t float_int_bytes(double f, unsigned char *v)
{
	uint64_t bits, mant;
	int e, i, carry;
	size_t n = 130;

	memcpy(&bits, &f, 8);
	e = (int)((bits >> 52) & 0x7ff) - 1075;
	mant = (bits & (((uint64_t)1 << 52) - 1)) | (uint64_t)1 << 52;
	memset(v, 0, n);
	mant <<= e % 8;
	for (i = 0; i < 8 && (size_t)(e / 8 + i) < n; i++)
		v[e / 8 + i] = (unsigned char)(mant >> (8 * i));
	if (bits >> 63) {
		carry = 1;
		for (size_t k = 0; k < n; k++) {
			int x = (unsigned char)~v[k] + carry;

			v[k] = (unsigned char)x;
			carry = x >> 8;
		}
	}
	return shortest(v, n);
}

static int canon_num(const mp_obj_t *o, struct mpi_kbuf *b)
{
	unsigned char tmp[160];
	const unsigned char *p;
	uint64_t bits;
	size_t len;
	double f;
	int rc;

	if (o->kind == MP_OBJ_BOOL)
		return ktag(b, 'I', (uint64_t)o->u.b);
	if (o->kind == MP_OBJ_INT && !o->big)
		return ktag(b, 'I', (uint64_t)o->u.i);
	if (o->kind == MP_OBJ_INT) {
		p = mpi_obj_int_bytes(o, tmp, &len);
		if ((rc = ktag(b, 'B', len)) < 0)
			return rc;
		return kput(b, p, len);
	}
	f = o->u.f;
	if (f - f == 0.0 && f >= -9223372036854775808.0 &&
	    f < 9223372036854775808.0) {
		if ((double)(int64_t)f == f) /* integral: == that int */
			return ktag(b, 'I', (uint64_t)(int64_t)f);
	} else if (f - f == 0.0) {
		/* finite beyond int64: integral, == a big int */
		len = float_int_bytes(f, tmp);
		if ((rc = ktag(b, 'B', len)) < 0)
			return rc;
		return kput(b, tmp, len);
	}
	if (f != f)
		f = __builtin_nan("");
	memcpy(&bits, &f, 8);
	return ktag(b, 'F', bits);
}

struct kpart {
	unsigned char *p;
	size_t len;
};

static int kpart_cmp(const void *a, const void *b)
{
	const struct kpart *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int canon(const mp_obj_t *o, struct mpi_kbuf *b);

/* A frozenset: its members' encodings in sorted order (== ignores it). */
static int canon_set(const mp_obj_t *o, struct mpi_kbuf *b)
{
	struct kpart *parts;
	struct mpi_kbuf one;
	size_t i, n = o->u.c.n;
	int rc = 0;

	parts = mpi_calloc(n ? n : 1, sizeof(*parts));
	if (parts == NULL)
		return mpi_why(-ENOMEM, "out of memory");
	for (i = 0; i < n && rc == 0; i++) {
		mpi_kbuf_init(&one);
		rc = canon(o->u.c.v[i], &one);
		if (rc == 0) {
			parts[i].p = mpi_malloc(one.len ? one.len : 1);
			if (parts[i].p == NULL)
				rc = mpi_why(-ENOMEM, "out of memory");
			else
				memcpy(parts[i].p, one.p, one.len);
			parts[i].len = one.len;
		}
		mpi_kbuf_release(&one);
	}
	if (rc == 0) {
		qsort(parts, n, sizeof(*parts), kpart_cmp);
		rc = ktag(b, 'Z', n);
		for (i = 0; i < n && rc == 0; i++)
			rc = kput(b, parts[i].p, parts[i].len);
	}
	for (i = 0; i < n; i++)
		mpi_free(parts[i].p);
	mpi_free(parts);
	return rc;
}

static int canon(const mp_obj_t *o, struct mpi_kbuf *b)
{
	size_t i;
	int rc;

	switch (o->kind) {
	case MP_OBJ_NONE:
		return kput(b, "N", 1);
	case MP_OBJ_BOOL:
	case MP_OBJ_INT:
	case MP_OBJ_FLOAT:
		return canon_num(o, b);
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		if ((rc = ktag(b, o->kind == MP_OBJ_STR ? 'S' : 'Y',
			       o->u.s.len)) < 0)
			return rc;
		return kput(b, o->u.s.data, o->u.s.len);
	case MP_OBJ_TUPLE:
		if ((rc = ktag(b, 'T', o->u.c.n)) < 0)
			return rc;
		for (i = 0; i < o->u.c.n; i++)
			if ((rc = canon(o->u.c.v[i], b)) < 0)
				return rc;
		return 0;
	case MP_OBJ_FROZENSET:
		return canon_set(o, b);
	default:
		return mpi_why(-EINVAL, "TypeError: unhashable type: '%s'",
			       mp_obj_kind_name(o->kind));
	}
}

int mpi_key_canon(const mp_obj_t *key, struct mpi_kbuf *b)
{
	return canon(key, b);
}

uint64_t mpi_key_hash(uint64_t seed, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull), x;

	while (n >= 8) {
		memcpy(&x, s, 8);
		h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		s += 8;
		n -= 8;
	}
	x = 0;
	while (n-- > 0)
		x = x << 8 | s[n];
	h = (h ^ x) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* ---- Python's < ---- */

static int type_error(const mp_obj_t *a, const mp_obj_t *b)
{
	return mpi_why(-EINVAL, "TypeError: '<' not supported between "
				"instances of '%s' and '%s'",
		       mp_obj_kind_name(a->kind), mp_obj_kind_name(b->kind));
}

static bool is_num(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_BOOL || o->kind == MP_OBJ_INT ||
	       o->kind == MP_OBJ_FLOAT;
}

/* Compare two's complement LE byte strings: -1, 0, 1. */
static int twos_cmp(const unsigned char *a, size_t na,
		    const unsigned char *b, size_t nb)
{
	size_t n = na > nb ? na : nb, i;
	unsigned char sa = (a[na - 1] & 0x80) ? 0xff : 0;
	unsigned char sb = (b[nb - 1] & 0x80) ? 0xff : 0;

	if (sa != sb)
		return sa ? -1 : 1;
	for (i = n; i-- > 0;) {
		unsigned char x = i < na ? a[i] : sa, y = i < nb ? b[i] : sb;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int int_bytes(const mp_obj_t *o, unsigned char *tmp,
		     const unsigned char **p, size_t *len)
{
	*p = mpi_obj_int_bytes(o, tmp, len);
	if (*len == 0) { /* zero */
		tmp[0] = 0;
		*p = tmp;
		*len = 1;
	}
	return 0;
}

/* An int (not a float) against a finite or infinite float f: -1/0/1. */
static int int_float_cmp(const mp_obj_t *a, double f)
{
	unsigned char ta[160], tf[160];
	const unsigned char *pa;
	size_t na, nf;

	if (f - f != 0.0) /* inf */
		return f > 0 ? -1 : 1;
	if (a->kind == MP_OBJ_BOOL || !a->big) {
		long double x = a->kind == MP_OBJ_BOOL ? a->u.b : a->u.i;

		return x < f ? -1 : x > f;
	}
	int_bytes(a, ta, &pa, &na);
	if (f < 9.2e18 && f > -9.2e18) /* a big int is beyond */
		return (pa[na - 1] & 0x80) ? -1 : 1;
	nf = float_int_bytes(f, tf);
	return twos_cmp(pa, na, tf, nf);
}

static int num_lt(const mp_obj_t *a, const mp_obj_t *b)
{
	unsigned char ta[160], tb[160];
	const unsigned char *pa, *pb;
	size_t na, nb;

	if (a->kind == MP_OBJ_FLOAT && b->kind == MP_OBJ_FLOAT)
		return a->u.f < b->u.f;
	if ((a->kind == MP_OBJ_FLOAT && a->u.f != a->u.f) ||
	    (b->kind == MP_OBJ_FLOAT && b->u.f != b->u.f))
		return 0; /* NaN */
	if (a->kind == MP_OBJ_FLOAT)
		return int_float_cmp(b, a->u.f) > 0;
	if (b->kind == MP_OBJ_FLOAT)
		return int_float_cmp(a, b->u.f) < 0;
	int_bytes(a, ta, &pa, &na);
	int_bytes(b, tb, &pb, &nb);
	return twos_cmp(pa, na, pb, nb) < 0;
}

static int bytes_lt(const mp_bytes_t *a, const mp_bytes_t *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->data, b->data, n);

	return c != 0 ? c < 0 : a->len < b->len;
}

int mpi_obj_lt(const mp_obj_t *a, const mp_obj_t *b)
{
	size_t i, n;
	int rc;

	if (is_num(a) && is_num(b))
		return num_lt(a, b);
	if (a->kind != b->kind)
		return type_error(a, b);
	switch (a->kind) {
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		return bytes_lt(&a->u.s, &b->u.s);
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		n = a->u.c.n < b->u.c.n ? a->u.c.n : b->u.c.n;
		for (i = 0; i < n; i++) {
			rc = mpi_obj_eq(a->u.c.v[i], b->u.c.v[i]);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return mpi_obj_lt(a->u.c.v[i], b->u.c.v[i]);
		}
		return a->u.c.n < b->u.c.n;
	default:
		return type_error(a, b);
	}
}
