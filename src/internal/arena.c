/*
 * internal/arena.c - the shared arena (see internal/arena.h).
 *
 * Design notes.  Each block is preceded by a 64-byte header in the shared
 * mapping naming its owner pid and size class.  Arena chunks are 1 MiB memfd
 * mappings; a chunk hands out blocks by bumping an offset and recycles freed
 * blocks through per-size-class free lists.  All of the arena's bookkeeping
 * (the chunk list, offsets, free-list heads) is in private memory: after a
 * fork the child's copy is marked foreign in a pthread_atfork handler, so
 * parent and child never allocate from the same chunk.  A chunk whose last
 * block is freed is unmapped and its fd closed, so a program (or a test) that
 * frees everything holds nothing.
 */
#include "internal/alloc.h"
#include "internal/arena.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_SIZE (1u << 20)
#define BIG_BLOCK (64u << 10)
#define HDR 64u
#define NCLASS 11 /* 64 B .. 64 KiB, powers of two */
#define MAGIC 0x6d707368u

struct chunk {
	struct chunk *next;
	char *base;
	size_t used;
	size_t live; /* blocks handed out and not freed */
	int fd;
	void *free_head[NCLASS];
};

struct hdr {
	uint32_t magic;
	int32_t owner;
	uint32_t cls;  /* size class, or NCLASS for a block of its own */
	uint32_t pad;
	size_t map_len; /* whole mapping, for a block of its own */
	struct chunk *chunk;
	int fd;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk *chunks;

/* Every arena mapping this process holds (its own and, after fork, its
 * parent's), so that describe reads a header only where one can be: a
 * pointer elsewhere is refused, never dereferenced.  Under the lock. */
static struct range {
	const char *base;
	size_t len;
} *ranges;
static size_t nranges, cap_ranges;

static int range_add(const char *base, size_t len)
{
	if (nranges == cap_ranges) {
		size_t cap = cap_ranges ? cap_ranges * 2 : 16;
		struct range *r = mp__reallocarray(ranges, cap, sizeof(*r));

		if (r == NULL)
			return -1;
		ranges = r;
		cap_ranges = cap;
	}
	ranges[nranges++] = (struct range){base, len};
	return 0;
}

static void range_del(const char *base)
{
	for (size_t i = 0; i < nranges; i++)
		if (ranges[i].base == base) {
			ranges[i] = ranges[--nranges];
			break;
		}
	if (nranges == 0) { /* the last mapping gone: hold no memory */
		mp__free(ranges);
		ranges = NULL;
		cap_ranges = 0;
	}
}

static bool range_has(const char *p, size_t n)
{
	for (size_t i = 0; i < nranges; i++)
		if (p >= ranges[i].base && n <= ranges[i].len &&
		    (size_t)(p - ranges[i].base) <= ranges[i].len - n)
			return true;
	return false;
}

static void before_fork(void)
{
	pthread_mutex_lock(&lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

static void after_fork_child(void)
{
	/* The parent's chunks stay mapped (inherited objects live there) but
	 * are no longer ours to allocate from: forget them. */
	chunks = NULL;
	/* The forking thread took the lock in before_fork and is the one
	 * thread here: unlock it (re-initialising a held mutex would leave
	 * it held in ThreadSanitizer's eyes, and is undefined besides). */
	pthread_mutex_unlock(&lock);
}

/*
 * The library's fork handlers take their locks in one order, whoever forks:
 * the process registry's (process/reap.c), then the arena's, then the shm
 * tracker's.  Prepare handlers run in the reverse order of registration,
 * so the tracker registers first (constructor 101), the arena second (102),
 * the registry last (a default constructor); mp_process_start, which holds
 * the registry's lock when it forks, takes them in that order too.
 */
__attribute__((constructor(102))) static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static int make_mapping(size_t len, char **base)
{
	int fd = memfd_create("mproc", MFD_CLOEXEC);
	void *m;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*base = m;
	return fd;
}

static unsigned size_class(size_t size)
{
	unsigned c = 0;

	while (((size_t)64 << c) < size)
		c++;
	return c;
}

static void *alloc_big(size_t size)
{
	size_t len = (size + HDR + 4095) & ~(size_t)4095;
	char *base;
	int fd = make_mapping(len, &base);
	struct hdr *h;

	if (fd < 0)
		return NULL;
	pthread_mutex_lock(&lock);
	if (range_add(base, len) < 0) {
		pthread_mutex_unlock(&lock);
		munmap(base, len);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_unlock(&lock);
	h = (struct hdr *)base;
	h->magic = MAGIC;
	h->owner = (int32_t)getpid();
	h->cls = NCLASS;
	h->map_len = len;
	h->chunk = NULL;
	h->fd = fd;
	return base + HDR;
}

void *mp__arena_alloc(size_t size)
{
	struct chunk *c;
	struct hdr *h = NULL;
	unsigned cls;
	size_t bsize;

	if (size == 0)
		size = 1;
	/* No object is larger (and the mapping's length must fit off_t). */
	if (size > PTRDIFF_MAX - 8192) {
		errno = ENOMEM;
		return NULL;
	}
	if (size + HDR > BIG_BLOCK)
		return alloc_big(size);
	cls = size_class(size + HDR);
	bsize = (size_t)64 << cls;
	pthread_mutex_lock(&lock);
	for (c = chunks; c != NULL; c = c->next) {
		if (c->free_head[cls] != NULL) {
			h = c->free_head[cls];
			c->free_head[cls] = *(void **)((char *)h + HDR);
		} else if (c->used + bsize <= CHUNK_SIZE) {
			h = (struct hdr *)(c->base + c->used);
			c->used += bsize;
		}
		if (h != NULL) {
			c->live++;
			break;
		}
	}
	if (h == NULL) {
		c = mp__calloc(1, sizeof(*c));
		if (c == NULL || (c->fd = make_mapping(CHUNK_SIZE, &c->base)) < 0) {
			int e = errno;
			mp__free(c);
			pthread_mutex_unlock(&lock);
			errno = e;
			return NULL;
		}
		if (range_add(c->base, CHUNK_SIZE) < 0) {
			munmap(c->base, CHUNK_SIZE);
			close(c->fd);
			mp__free(c);
			pthread_mutex_unlock(&lock);
			errno = ENOMEM;
			return NULL;
		}
		c->next = chunks;
		chunks = c;
		h = (struct hdr *)c->base;
		c->used = bsize;
		c->live = 1;
	}
	pthread_mutex_unlock(&lock);
	memset(h, 0, bsize);
	h->magic = MAGIC;
	h->owner = (int32_t)getpid();
	h->cls = cls;
	h->chunk = c;
	h->fd = c->fd;
	return (char *)h + HDR;
}

void mp__arena_free(void *block)
{
	struct hdr *h;
	struct chunk *c, **pp;

	if (block == NULL)
		return;
	h = (struct hdr *)((char *)block - HDR);
	if (h->magic != MAGIC || h->owner != (int32_t)getpid())
		return; /* inherited from the parent: not ours to release */
	if (h->cls == NCLASS) {
		int fd = h->fd;

		pthread_mutex_lock(&lock);
		range_del((const char *)h);
		pthread_mutex_unlock(&lock);
		munmap(h, h->map_len);
		close(fd);
		return;
	}
	pthread_mutex_lock(&lock);
	c = h->chunk;
	for (pp = &chunks; *pp != NULL && *pp != c; pp = &(*pp)->next)
		;
	if (*pp == NULL) { /* not one of our chunks (cannot happen) */
		pthread_mutex_unlock(&lock);
		return;
	}
	if (--c->live == 0) {
		*pp = c->next;
		range_del(c->base);
		munmap(c->base, CHUNK_SIZE);
		close(c->fd);
		mp__free(c);
	} else {
		*(void **)block = c->free_head[h->cls];
		c->free_head[h->cls] = h;
	}
	pthread_mutex_unlock(&lock);
}

int mp__arena_describe(const void *block, int *fd, size_t *offset)
{
	const struct hdr *h;
	bool ok;

	if (block == NULL)
		return -EINVAL;
	h = (const struct hdr *)((const char *)block - HDR);
	pthread_mutex_lock(&lock);
	ok = range_has((const char *)h, HDR);
	pthread_mutex_unlock(&lock);
	if (!ok || h->magic != MAGIC)
		return -EINVAL;
	*fd = h->fd;
	*offset = h->chunk ? (size_t)((const char *)block - h->chunk->base)
			   : (size_t)HDR;
	return 0;
}

void *mp__arena_adopt(void *map, size_t maplen, size_t offset, size_t need)
{
	const struct hdr *h;
	size_t extent;

	if (offset < HDR || offset > maplen || offset % 64 != 0)
		return NULL;
	h = (const struct hdr *)((char *)map + offset - HDR);
	if (h->magic != MAGIC || h->cls > NCLASS)
		return NULL;
	if (h->cls < NCLASS)
		extent = ((size_t)64 << h->cls) - HDR;
	else
		extent = h->map_len - HDR;
	if (h->cls == NCLASS && offset != HDR)
		return NULL;
	if (extent > maplen - offset || need > extent)
		return NULL;
	return (char *)map + offset;
}
