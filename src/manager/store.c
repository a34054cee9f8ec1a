/*
 * manager/store.c - the manager's shared region and its allocator, and
 * pickled values in it (canonical keys and Python's < are in keys.c).
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
#include "internal/travel.h"
#include "manager/mgr_int.h"
#include "obj/obj_int.h"

int mp__region_new(size_t size, struct mp__region **out)
{
	struct mp__region *r;
	uint64_t seed = 0;
	void *p;
	int fd;

	size = (size + 4095) & ~(size_t)4095;
	fd = memfd_create("mproc-manager", MFD_CLOEXEC);
	if (fd < 0)
		return MP__WHY_SYS("memfd_create");
	if (ftruncate(fd, (off_t)size) < 0) {
		int rc = MP__WHY_SYS("ftruncate");

		close(fd);
		return rc;
	}
	p = mp__space_map(fd, size); /* space.c: where children can map it */
	if (p == MAP_FAILED) {
		int rc = MP__WHY_SYS("mmap");

		close(fd);
		return rc;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = mp__now_ns() ^ (uint64_t)getpid() << 32;
	r = p;
	r->magic = MP__REGION_MAGIC;
	r->size = size;
	r->seed = seed;
	r->top = (sizeof(*r) + 63) & ~(uint64_t)63;
	mp__region_keep(r, fd); /* the fd: for its objects to travel */
	*out = r;
	return 0;
}

void mp__region_unmap(struct mp__region *r)
{
	if (r != NULL) {
		mp__region_forget(r); /* travel.c: its fd */
		mp__space_unmap(r, r->size);
	}
}

static int size_class(size_t n, unsigned *cls)
{
	size_t need;
	unsigned c = 0;

	if (__builtin_add_overflow(n, sizeof(struct mp__block), &need))
		return -ENOMEM;
	while (((size_t)32 << c) < need) {
		if (++c >= MP__MGR_CLASSES)
			return -ENOMEM;
	}
	*cls = c;
	return 0;
}

/*
 * A per-thread cache of freed small blocks, so that the replace-a-value
 * path does not take the allocator's lock twice.  It belongs to one
 * region (pointer and seed: a new region mapped at the same address has
 * another seed) and one thread of one process (mp__self_id changes in a
 * forked child, whose copy is then dropped: the blocks stay the
 * parent's).  At most TC_MAX blocks per class are kept; a thread that
 * ends, or a region freed, leaves its cached blocks unused.
 */
#define TC_CLASSES 6 /* up to 1 KiB blocks */
#define TC_MAX 16

struct tcache {
	uint64_t owner;
	const struct mp__region *r;
	uint64_t seed;
	unsigned n[TC_CLASSES];
	uint64_t off[TC_CLASSES][TC_MAX];
};

static _Thread_local struct tcache tc;

static struct tcache *tc_for(const struct mp__region *r)
{
	uint64_t me = mp__self_id();

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
static uint64_t split_larger(struct mp__region *r, unsigned c)
{
	struct mp__block *b;
	uint64_t off;
	unsigned k;

	for (k = c + 1; k < MP__MGR_CLASSES && r->free_head[k] == 0; k++)
		;
	if (k >= MP__MGR_CLASSES)
		return 0;
	off = r->free_head[k];
	b = mp__at(r, off);
	__atomic_store_n(&r->free_head[k], b->next, __ATOMIC_RELAXED);
	while (k-- > c) {
		b = mp__at(r, off + ((uint64_t)32 << k));
		b->cls = k;
		b->next = r->free_head[k];
		__atomic_store_n(&r->free_head[k], off + ((uint64_t)32 << k),
				 __ATOMIC_RELAXED);
	}
	return off;
}

void mp__region_flush(struct mp__region *r)
{
	struct tcache *t = tc_for(r);
	struct mp__block *b;
	unsigned c;
	bool dead;

	if (t == NULL)
		return;
	mp__obj_lock(&r->alloc_lock, &dead);
	for (c = 0; c < TC_CLASSES; c++)
		while (t->n[c] > 0) {
			uint64_t off = t->off[c][--t->n[c]];

			b = mp__at(r, off);
			b->next = r->free_head[c];
			__atomic_store_n(&r->free_head[c], off,
					 __ATOMIC_RELAXED);
		}
	mp__obj_unlock(&r->alloc_lock);
}

/*
 * Each step publishes with one store: a crash while the lock is held
 * leaves the free lists and top consistent (at worst a block is lost).
 * Blocks are never merged again: a region that filled up with large
 * blocks serves small ones from them.
 */
uint64_t mp__region_alloc(struct mp__region *r, size_t n)
{
	struct mp__block *b;
	uint64_t off, bsize;
	struct tcache *t;
	unsigned c;
	bool dead;

	if (size_class(n, &c) < 0)
		goto full;
	if (c < TC_CLASSES && (t = tc_for(r)) != NULL && t->n[c] > 0)
		return t->off[c][--t->n[c]] + sizeof(*b);
	bsize = (uint64_t)32 << c;
	mp__obj_lock(&r->alloc_lock, &dead);
	off = r->free_head[c];
	if (off != 0) {
		b = mp__at(r, off);
		__atomic_store_n(&r->free_head[c], b->next, __ATOMIC_RELAXED);
	} else if (r->top + bsize <= r->size) {
		off = r->top;
		__atomic_store_n(&r->top, off + bsize, __ATOMIC_RELAXED);
	} else {
		off = split_larger(r, c);
	}
	mp__obj_unlock(&r->alloc_lock);
	if (off == 0)
		goto full;
	b = mp__at(r, off);
	b->cls = c;
	b->next = 0;
	return off + sizeof(*b);
full:
	mp__why(-ENOMEM, "the manager's shared memory is full (capacity "
			 "%llu bytes; mp_manager_opts_t.capacity)",
		(unsigned long long)r->size);
	return 0;
}

void mp__region_free(struct mp__region *r, uint64_t off)
{
	struct mp__block *b;
	struct tcache *t;
	uint64_t c;
	bool dead;

	if (off == 0)
		return;
	off -= sizeof(*b);
	b = mp__at(r, off);
	c = b->cls;
	if (c >= MP__MGR_CLASSES)
		return; /* never: a damaged header is leaked, not trusted */
	if (c < TC_CLASSES && (t = tc_for(r)) != NULL && t->n[c] < TC_MAX) {
		t->off[c][t->n[c]++] = off;
		return;
	}
	mp__obj_lock(&r->alloc_lock, &dead);
	b->next = r->free_head[c];
	__atomic_store_n(&r->free_head[c], off, __ATOMIC_RELAXED);
	mp__obj_unlock(&r->alloc_lock);
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
			ib = mp__obj_int_bytes(o, tmp, &len);
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
		if (o->u.s.len >= MP__SMALL_TEXT)
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

const unsigned char *mp__pickle_small(const mp_obj_t *o, unsigned char *buf,
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

int mp__unpickle_small(const unsigned char *p, size_t n, mp_obj_t **out)
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
		if ((o = mp__obj_new(q[0] == 'N' ? MP_OBJ_NONE
						 : MP_OBJ_BOOL)) != NULL)
			o->u.b = q[0] == 0x88;
		break;
	case 'K':
	case 'M':
	case 'J':
		if (n != (q[0] == 'K' ? 2u : q[0] == 'M' ? 3u : 5u))
			return 0;
		if ((o = mp__obj_new(MP_OBJ_INT)) != NULL)
			o->u.i = q[0] == 'J' ? (int32_t)le_get(q + 1, 4)
					     : (int64_t)le_get(q + 1, n - 1);
		break;
	case 0x8a: /* LONG1 of at most 8 bytes: an int64 */
		if (n < 2 || q[1] > 8 || n != 2u + q[1])
			return 0;
		bits = le_get(q + 2, q[1]);
		if (q[1] > 0 && q[1] < 8 && (q[1 + q[1]] & 0x80))
			bits |= ~(uint64_t)0 << (8 * q[1]); /* sign */
		if ((o = mp__obj_new(MP_OBJ_INT)) != NULL)
			o->u.i = (int64_t)bits;
		break;
	case 'G':
		if (n != 9)
			return 0;
		bits = 0;
		for (int k = 1; k <= 8; k++)
			bits = bits << 8 | q[k];
		if ((o = mp__obj_new(MP_OBJ_FLOAT)) != NULL)
			memcpy(&o->u.f, &bits, 8);
		break;
	case 0x8c:
	case 'C':
		if (n < 3 || q[1] != n - 3 || q[n - 1] != 0x94)
			return 0;
		o = mp__obj_str(q[0] == 'C' ? MP_OBJ_BYTES : MP_OBJ_STR,
				q + 2, q[1], &rc);
		if (o == NULL && rc != -ENOMEM)
			return 0; /* the general reader says why */
		break;
	default:
		return 0;
	}
	if (o == NULL)
		return mp__why(-ENOMEM, "out of memory");
	*out = o;
	return 1;
}

/* ---- values ---- */

int mp__region_put_obj(struct mp__region *r, const mp_obj_t *o,
		       uint64_t *off)
{
	unsigned char small[MP__SMALL_PICKLE];
	const unsigned char *sp;
	mp_bytes_t b;
	uint64_t *p;
	size_t n;
	int rc;

	if ((sp = mp__pickle_small(o, small, &n)) != NULL) {
		if ((*off = mp__region_alloc(r, sizeof(uint64_t) + n)) == 0)
			return -ENOMEM;
		p = mp__at(r, *off);
		p[0] = n;
		memcpy(p + 1, sp, n);
		return 0;
	}
	if ((rc = mp__pickle_dumps(o, MP_PICKLE_DEFAULT_PROTOCOL, &b)) < 0)
		return rc;
	*off = mp__region_alloc(r, sizeof(uint64_t) + b.len);
	if (*off == 0) {
		mp__free(b.data);
		return -ENOMEM;
	}
	p = mp__at(r, *off);
	p[0] = b.len;
	memcpy(p + 1, b.data, b.len);
	mp__free(b.data);
	return 0;
}

int mp__region_get_obj(const struct mp__region *r, uint64_t off,
		       mp_obj_t **out)
{
	const uint64_t *p = mp__at(r, off);
	int rc = mp__unpickle_small((const unsigned char *)(p + 1),
				    (size_t)p[0], out);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	return mp__pickle_loads(p + 1, (size_t)p[0], out);
}
