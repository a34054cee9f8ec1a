/*
 * process/shared.c - shared objects that travel to a child started by any
 * method (opts.shared, mp_process_shared).
 *
 * Design notes.
 * - Parent (forkserver, spawn): each object becomes a struct req_shared
 *   in the start request: an arena object is (its memfd, the block's
 *   offset), a Queue its state block and its ring, a SharedMemory an fd
 *   of its segment (shm_open by name), a Connection or FD its fd.  The fds
 *   are listed once each (objects in one arena chunk share its memfd) and
 *   go with the request: by SCM_RIGHTS to the fork server, inherited
 *   across exec (close-on-exec cleared in the vforked child) for spawn.
 * - Child: each memfd is mapped once, whole, wherever the kernel puts it;
 *   every object is found at its offset (mp__arena_adopt checks the block
 *   header and bounds), so a handle never depends on the parent's
 *   addresses.  The objects that hold pointers are made so they need
 *   none: a Condition on its own RLock finds it by offset (NULL _rlock), a
 *   Queue's handle is per process (queue.c); a Condition on another lock
 *   and a Barrier with an action (code and arg pointers) are refused with
 *   -ENOTSUP.  The mappings stay for the child's life.
 * - Fork children get the parent's pointers: the same table, so a target
 *   reads its objects with mp_process_shared whatever the method.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connection/conn_int.h"
#include "internal/alloc.h"
#include "internal/arena.h"
#include "internal/error.h"
#include "internal/ring.h"
#include "internal/travel.h"
#include "mproc/shm.h"
#include "mproc/sync.h"
#include "process/process_int.h"

static const char *const kind_names[] = {
	[MP_SHARED_LOCK] = "Lock",
	[MP_SHARED_RLOCK] = "RLock",
	[MP_SHARED_SEMAPHORE] = "Semaphore",
	[MP_SHARED_EVENT] = "Event",
	[MP_SHARED_CONDITION] = "Condition",
	[MP_SHARED_BARRIER] = "Barrier",
	[MP_SHARED_VALUE] = "Value",
	[MP_SHARED_ARRAY] = "Array",
	[MP_SHARED_BLOCK] = "shared block",
	[MP_SHARED_SHM] = "SharedMemory",
	[MP_SHARED_QUEUE] = "Queue",
	[MP_SHARED_CONNECTION] = "Connection",
	[MP_SHARED_FD] = "fd",
	[MP_SHARED_DICTPROXY] = "DictProxy",
	[MP_SHARED_LISTPROXY] = "ListProxy",
	[MP_SHARED_NAMESPACEPROXY] = "NamespaceProxy",
	[MP_SHARED_QUEUEPROXY] = "QueueProxy",
	[MP_SHARED_VALUEPROXY] = "ValueProxy",
	[MP_SHARED_ARRAYPROXY] = "ArrayProxy",
};

/* This process's objects (what its parent passed), set before its target
 * runs and read-only after. */
static struct {
	mp_shared_kind_t kind;
	void *obj;
} table[MP_SHARED_MAX];
static size_t ntable;

int mp__shared_check(const mp_shared_t *objs, size_t n)
{
	if (n > MP_SHARED_MAX)
		return mp__why(-EINVAL, "opts->nshared %zu: at most %d objects",
			       n, MP_SHARED_MAX);
	if (n > 0 && objs == NULL)
		return mp__why(-EINVAL, "opts->shared is NULL but "
					"opts->nshared is %zu",
			       n);
	for (size_t i = 0; i < n; i++) {
		if (objs[i].kind < MP_SHARED_LOCK ||
		    objs[i].kind > MP_SHARED_ARRAYPROXY)
			return mp__why(-EINVAL, "opts->shared[%zu].kind %d is "
						"not a kind",
				       i, (int)objs[i].kind);
		if (objs[i].obj == NULL)
			return mp__why(-EINVAL, "opts->shared[%zu].obj is NULL",
				       i);
	}
	return 0;
}

void mp__shared_inherit(const mp_shared_t *objs, size_t n)
{
	if (n == 0 && ntable == 0)
		return; /* no page written: a fork child stays cheap */
	for (size_t i = 0; i < n; i++) {
		table[i].kind = objs[i].kind;
		table[i].obj = objs[i].obj;
	}
	ntable = n;
}

void *mp_process_shared(size_t index, mp_shared_kind_t kind)
{
	if (index >= ntable) {
		MP__ERR(-EINVAL, "index %zu: this process got %zu shared "
				 "objects",
			index, ntable);
		return NULL;
	}
	if (table[index].kind != kind) {
		MP__ERR(-EINVAL, "shared object %zu is a %s, not a %s", index,
			kind_names[table[index].kind],
			kind >= MP_SHARED_LOCK && kind <= MP_SHARED_ARRAYPROXY
				? kind_names[kind]
				: "kind");
		return NULL;
	}
	return table[index].obj;
}

/* The memfds this process adopted (what its parent passed), mapped whole
 * and kept open, so that it can pass their objects on in turn; its fork
 * children inherit both.  Filled before the target runs. */
static struct maps {
	void *base[REQ_MAX_SHARED];
	size_t len[REQ_MAX_SHARED];
	int fd[REQ_MAX_SHARED];
	size_t n;
} adopted;

/* ---- the parent: describe ---- */

/* The index of fd in t's list (added if new): >= 0, or -E2BIG. */
static int add_fd(struct mp__travel *t, int fd, bool owned)
{
	for (size_t i = 0; i < t->nfds; i++)
		if (t->fds[i] == fd)
			return (int)i;
	if (t->nfds == REQ_MAX_SHARED) {
		if (owned)
			close(fd);
		return mp__why(-E2BIG, "the shared objects need more than %d "
				       "fds",
			       REQ_MAX_SHARED);
	}
	t->owned[t->nfds] = owned;
	t->fds[t->nfds] = fd;
	return (int)t->nfds++;
}

/* Is b in a memfd this process adopted?  Then its fd and offset. */
static bool adopted_block(const void *b, int *fd, size_t *off)
{
	for (size_t i = 0; i < adopted.n; i++) {
		const char *base = adopted.base[i];

		if ((const char *)b > base &&
		    (const char *)b < base + adopted.len[i]) {
			*fd = adopted.fd[i];
			*off = (size_t)((const char *)b - base);
			return true;
		}
	}
	return false;
}

/* mp__region_describe's -ENOTSUP for opts->shared[i]. */
static int region_refused(int rc, size_t i, uint32_t kind)
{
	char why[256];

	snprintf(why, sizeof(why), "%s", mp__reason(rc));
	return mp__why(rc, "opts->shared[%zu] (a %s) can go only to fork "
			   "children: %s",
		       i, kind_names[kind], why);
}

/* Part k of e: the arena block b (of at least one object). */
static int add_block(struct mp__travel *t, struct req_shared *e, int k,
		     const void *b, size_t i)
{
	size_t off;
	int fd, idx, rc;
	uint64_t roff, base;

	if (mp__arena_describe(b, &fd, &off) == 0 ||
	    adopted_block(b, &fd, &off)) {
		/* an arena block */
	} else if (k == 0 && e->kind <= MP_SHARED_BARRIER &&
		   (rc = mp__region_describe(b, &fd, &roff, &base)) !=
			   -EINVAL) {
		/* a local manager's Lock, Event, ... */
		if (rc < 0)
			return region_refused(rc, i, e->kind);
		e->flags |= REQ_SH_REGION;
		off = (size_t)roff;
		e->off[1] = base;
	} else
		return mp__why(-EINVAL, "opts->shared[%zu] (a %s) is not in "
					"the library's shared memory (made "
					"by its _new function?)",
			       i, kind_names[e->kind]);
	if ((idx = add_fd(t, fd, false)) < 0)
		return idx;
	e->fd[k] = idx;
	e->off[k] = off;
	return 0;
}

/* What Connection c read but did not receive yet goes as part 1 of e (a
 * memfd of its own), so the child reads on where this process stopped. */
static int add_unread(struct mp__travel *t, struct req_shared *e,
		      const mp_connection_t *c, size_t i)
{
	unsigned char *buf;
	int n, fd, idx;

	if (!mp__conn_buffered(c) && !c->has_pend && c->nfds == 0 &&
	    c->broken == NULL)
		return 0;
	if ((buf = mp__malloc(MP__RBUF)) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	if ((n = mp__conn_unread(c, buf)) <= 0) {
		char why[200];

		mp__free(buf);
		if (n == 0)
			return 0;
		snprintf(why, sizeof(why), "%s", mp__reason(n));
		return mp__why(n, "opts->shared[%zu]: %s: it cannot travel",
			       i, why);
	}
	fd = mp__memfd_with("mproc-conn", buf, (size_t)n);
	mp__free(buf);
	if (fd < 0 || (idx = add_fd(t, fd, true)) < 0)
		return fd < 0 ? fd : idx;
	e->flags |= REQ_CONN_BYTES;
	e->fd[1] = idx;
	e->off[1] = (uint64_t)n;
	return 0;
}

static int describe_one(struct mp__travel *t, const mp_shared_t *o,
			size_t i, const char *method)
{
	struct req_shared *e = &t->ent[i];
	void *ring, *state;
	int fd, idx;

	*e = (struct req_shared){.kind = (uint32_t)o->kind, .fd = {-1, -1}};
	switch (o->kind) {
	case MP_SHARED_CONDITION: {
		const mp_condition_t *c = o->obj;

		if (c->_lock != NULL || c->_rlock != NULL)
			return mp__why(-ENOTSUP, "opts->shared[%zu]: a "
						 "Condition on another lock "
						 "cannot travel to a %s child "
						 "(only one on its own RLock)",
				       i, method);
		return add_block(t, e, 0, c, i);
	}
	case MP_SHARED_BARRIER: {
		const mp_barrier_t *b = o->obj;

		if (b->_action != NULL)
			return mp__why(-ENOTSUP, "opts->shared[%zu]: a Barrier "
						 "with an action cannot travel "
						 "to a %s child (the action "
						 "and its arg are pointers)",
				       i, method);
		return add_block(t, e, 0, b, i);
	}
	case MP_SHARED_QUEUE:
		mp__queue_parts(o->obj, &ring, &state);
		if ((idx = add_block(t, e, 0, state, i)) < 0)
			return idx;
		return add_block(t, e, 1, ring, i);
	case MP_SHARED_SHM:
		if ((fd = mp__shm_open_fd(o->obj)) < 0)
			return fd;
		if ((idx = add_fd(t, fd, true)) < 0)
			return idx;
		e->fd[0] = idx;
		return 0;
	case MP_SHARED_CONNECTION: {
		const mp_connection_t *c = o->obj;

		if (c->fd < 0)
			return mp__why(-EINVAL, "opts->shared[%zu]: the "
						"Connection is closed",
				       i);
		e->flags = (c->readable ? REQ_CONN_READABLE : 0) |
			   (c->writable ? REQ_CONN_WRITABLE : 0);
		if ((idx = add_unread(t, e, c, i)) < 0)
			return idx;
		fd = c->fd;
		break;
	}
	case MP_SHARED_FD:
		fd = *(const int *)o->obj;
		if (fd < 0 || fcntl(fd, F_GETFD) < 0)
			return mp__why(-EBADF, "opts->shared[%zu]: fd %d is not "
					       "open",
				       i, fd);
		break;
	case MP_SHARED_DICTPROXY:
	case MP_SHARED_LISTPROXY:
	case MP_SHARED_NAMESPACEPROXY:
	case MP_SHARED_QUEUEPROXY:
	case MP_SHARED_VALUEPROXY:
	case MP_SHARED_ARRAYPROXY:
		if ((idx = mp__proxy_check((int)o->kind, o->obj)) < 0)
			return idx;
		if ((idx = mp__region_describe(o->obj, &fd, &e->off[0],
					       &e->off[1])) == -ENOTSUP)
			return region_refused(idx, i, e->kind);
		if (idx < 0)
			return mp__why(-EINVAL, "opts->shared[%zu] (a %s) is "
						"not a local manager's",
				       i, kind_names[e->kind]);
		e->flags = REQ_SH_REGION;
		break;
	default:
		return add_block(t, e, 0, o->obj, i);
	}
	if ((idx = add_fd(t, fd, false)) < 0)
		return idx;
	e->fd[0] = idx;
	return 0;
}

int mp__travel_describe(const mp_shared_t *objs, size_t n,
			const char *method, struct mp__travel *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		if ((rc = describe_one(t, &objs[i], i, method)) < 0) {
			mp__travel_release(t);
			return rc;
		}
		t->n++;
	}
	return 0;
}

void mp__travel_release(struct mp__travel *t)
{
	for (size_t i = 0; i < t->nfds; i++)
		if (t->owned[i])
			close(t->fds[i]);
	t->nfds = 0;
}

/* ---- the child: adopt ---- */

/* The request's fds in the child: mapped (made once, and then listed in
 * adopted), or the object's own fd (a Connection, an fd). */
struct reqmaps {
	void *base[REQ_MAX_SHARED];
	size_t len[REQ_MAX_SHARED];
	bool mapped[REQ_MAX_SHARED]; /* kept open in adopted */
	bool keep[REQ_MAX_SHARED];   /* the fd is the object's (not mapped) */
	bool closed[REQ_MAX_SHARED]; /* closed already */
};

/* The mapping of fd index idx (made once). */
static int map_fd(struct reqmaps *m, const int *fds, int idx)
{
	struct stat st;
	void *b;

	if (m->base[idx] != NULL)
		return 0;
	if (fstat(fds[idx], &st) < 0)
		return MP__WHY_SYS("fstat");
	if (st.st_size <= 0)
		return mp__why(-EPROTO, "an empty memfd");
	b = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fds[idx], 0);
	if (b == MAP_FAILED)
		return MP__WHY_SYS("mmap");
	m->base[idx] = b;
	m->len[idx] = (size_t)st.st_size;
	if (adopted.n < REQ_MAX_SHARED) {
		adopted.base[adopted.n] = b;
		adopted.len[adopted.n] = (size_t)st.st_size;
		adopted.fd[adopted.n++] = fds[idx];
		m->mapped[idx] = true;
	}
	return 0;
}

/* The block of part k of e, at least need bytes: 0 and *out, or a code. */
static int block_of(struct reqmaps *m, const int *fds,
		    const struct req_shared *e, int k, size_t need, void **out)
{
	int rc;

	if ((rc = map_fd(m, fds, e->fd[k])) < 0)
		return rc;
	*out = mp__arena_adopt(m->base[e->fd[k]], m->len[e->fd[k]],
			       (size_t)e->off[k], need);
	return *out ? 0 : mp__why(-EPROTO, "no %s at offset %llu",
				  kind_names[e->kind],
				  (unsigned long long)e->off[k]);
}

static size_t size_of(uint32_t kind)
{
	switch (kind) {
	case MP_SHARED_LOCK:
		return sizeof(mp_lock_t);
	case MP_SHARED_RLOCK:
		return sizeof(mp_rlock_t);
	case MP_SHARED_SEMAPHORE:
		return sizeof(mp_semaphore_t);
	case MP_SHARED_EVENT:
		return sizeof(mp_event_t);
	case MP_SHARED_CONDITION:
		return sizeof(mp_condition_t);
	case MP_SHARED_BARRIER:
		return sizeof(mp_barrier_t);
	default:
		return 1;
	}
}

/* Put the n bytes of memfd fd (exactly that long) into c's buffer. */
static int preload(mp_connection_t *c, int fd, size_t n)
{
	unsigned char *buf;
	struct stat st;
	size_t got = 0;
	int rc;

	if (fstat(fd, &st) < 0)
		return MP__WHY_SYS("fstat");
	if (st.st_size != (off_t)n || n > MP__RBUF)
		return mp__why(-EPROTO, "%zu unread bytes announced, %lld "
					"came",
			       n, (long long)st.st_size);
	if ((buf = mp__malloc(n)) == NULL)
		return mp__why(-ENOMEM, "out of memory");
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			mp__free(buf);
			return r < 0 ? MP__WHY_SYS("pread(memfd)")
				     : mp__why(-EPROTO, "a short memfd");
		}
		got += (size_t)r;
	}
	rc = mp__conn_preload(c, buf, n);
	mp__free(buf);
	return rc;
}

static int adopt_one(struct reqmaps *m, const int *fds,
		     const struct req_shared *e, void **out)
{
	struct mp__ring *ring;
	void *state;
	int fd = fds[e->fd[0]], rc, *box;

	if (e->flags & REQ_SH_REGION) {
		bool took;

		rc = mp__region_adopt(fd, e->off[1], e->off[0], (int)e->kind,
				      size_of(e->kind), &took, out);
		m->mapped[e->fd[0]] |= took;
		return rc;
	}
	switch (e->kind) {
	case MP_SHARED_QUEUE:
		if ((rc = block_of(m, fds, e, 0, mp__queue_state_size(),
				   &state)) < 0 ||
		    (rc = block_of(m, fds, e, 1, sizeof(*ring),
				   (void **)&ring)) < 0)
			return rc;
		if (ring->cap > m->len[e->fd[1]] ||
		    mp__arena_adopt(m->base[e->fd[1]], m->len[e->fd[1]],
				    (size_t)e->off[1],
				    sizeof(*ring) + (size_t)ring->cap) == NULL)
			return mp__why(-EPROTO, "a ring past its mapping");
		return mp__queue_adopt(ring, state, (mp_queue_t **)out);
	case MP_SHARED_SHM:
		return mp__shm_adopt(fd, (mp_shm_t **)out);
	case MP_SHARED_CONNECTION:
		m->keep[e->fd[0]] = true;
		if ((rc = mp__conn_new(fd, e->flags & REQ_CONN_READABLE,
				       e->flags & REQ_CONN_WRITABLE,
				       (mp_connection_t **)out)) < 0 ||
		    !(e->flags & REQ_CONN_BYTES) ||
		    (rc = preload(*out, fds[e->fd[1]], (size_t)e->off[1])) == 0)
			return rc;
		mp_connection_free(*out); /* closes the socket: not ours now */
		m->keep[e->fd[0]] = false;
		m->closed[e->fd[0]] = true;
		return rc;
	case MP_SHARED_FD:
		if ((box = mp__malloc(sizeof(*box))) == NULL)
			return mp__why(-ENOMEM, "out of memory");
		m->keep[e->fd[0]] = true;
		*box = fd;
		*out = box;
		return 0;
	default:
		return block_of(m, fds, e, 0, size_of(e->kind), out);
	}
}

int mp__travel_adopt(const struct mp__req *r, const int *fds)
{
	struct reqmaps m;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	ntable = 0;
	/* Managers' regions first: they go at fixed addresses, which a
	 * memfd mapped wherever the kernel likes could take before them. */
	for (size_t k = 0; k < 2 * r->nshared && rc == 0; k++) {
		size_t i = k % r->nshared;
		struct req_shared e = mp__req_shared(r, i);

		if ((k < r->nshared) != ((e.flags & REQ_SH_REGION) != 0))
			continue;
		if ((rc = adopt_one(&m, fds, &e, &table[i].obj)) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", mp__reason(rc));
			rc = mp__why(rc, "shared object %zu (%s): %s", i,
				     kind_names[e.kind], why);
		}
		table[i].kind = (mp_shared_kind_t)e.kind;
	}
	for (size_t i = 0; i < r->nshared_fds; i++) {
		if (m.closed[i])
			continue;
		if (!m.keep[i] && !m.mapped[i])
			close(fds[i]);
		else /* spawn: it came without */
			fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	if (rc == 0)
		ntable = r->nshared;
	return rc;
}
