/*
 * process/request.c - encoding and decoding the start request (see
 * request.h).
 */
#include "process/request.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "internal/error.h"
#include "mproc/process.h"

/* Take a NUL-terminated string of len bytes (NUL included) at *at. */
static int take_str(const unsigned char *buf, size_t len, size_t *at,
		    size_t slen, size_t max, const char *what,
		    const char **out)
{
	size_t end;

	if (slen == 0 || slen > max)
		return mp__why(-EPROTO, "request: %s length %zu not in 1..%zu",
			       what, slen, max);
	if (__builtin_add_overflow(*at, slen, &end) || end > len)
		return mp__why(-EPROTO, "request: %s runs past the end", what);
	if (memchr(buf + *at, '\0', slen) != buf + end - 1)
		return mp__why(-EPROTO, "request: %s is not one NUL-terminated "
					"string",
			       what);
	*out = (const char *)buf + *at;
	*at = end;
	return 0;
}

static int check_opts(const struct req_header *h)
{
	if (h->flags & ~(uint32_t)REQ_ALL_FLAGS)
		return mp__why(-EPROTO, "request: unknown flags 0x%x",
			       h->flags & ~(uint32_t)REQ_ALL_FLAGS);
	if (h->policy < MP_SCHED_INHERIT || h->policy > MP_SCHED_RR)
		return mp__why(-EPROTO, "request: policy %d", h->policy);
	if (h->priority < 0 || h->priority > 99)
		return mp__why(-EPROTO, "request: priority %d", h->priority);
	if (h->nice < -40 || h->nice > 40)
		return mp__why(-EPROTO, "request: nice %d", h->nice);
	if (h->ppid <= 0)
		return mp__why(-EPROTO, "request: parent pid %d", h->ppid);
	if (h->naffinity > REQ_MAX_AFFINITY)
		return mp__why(-EPROTO, "request: %u CPUs", h->naffinity);
	if (h->nshared > REQ_MAX_SHARED || h->nshared_fds > REQ_MAX_SHARED)
		return mp__why(-EPROTO, "request: %u shared objects, %u fds",
			       h->nshared, h->nshared_fds);
	return 0;
}

/* Check the shared objects' list at *at: kinds, fd indexes, parts. */
static int take_shared(const unsigned char *b, size_t len, size_t *at,
		       struct mp__req *r)
{
	size_t need = r->nshared_fds * 4 + r->nshared * sizeof(struct req_shared);

	if (need > len - *at)
		return mp__why(-EPROTO, "request: shared objects run past "
					"the end");
	r->shared_fds = b + *at;
	r->shared = b + *at + r->nshared_fds * 4;
	*at += need;
	for (size_t i = 0; i < r->nshared; i++) {
		struct req_shared s = mp__req_shared(r, i);
		bool region = s.flags & REQ_SH_REGION;
		bool bytes = s.flags & REQ_CONN_BYTES;
		int nparts = s.kind == MP_SHARED_QUEUE || bytes ? 2 : 1;
		/* what a manager's region holds: its sync objects, proxies */
		bool in_region = (s.kind >= MP_SHARED_LOCK &&
				  s.kind <= MP_SHARED_BARRIER) ||
				 s.kind >= MP_SHARED_DICTPROXY;

		if (s.kind < MP_SHARED_LOCK || s.kind > MP_SHARED_ARRAYPROXY)
			return mp__why(-EPROTO, "request: shared object %zu "
						"of kind %u",
				       i, s.kind);
		if ((s.flags & ~(uint32_t)(REQ_CONN_READABLE |
					   REQ_CONN_WRITABLE | REQ_SH_REGION |
					   REQ_CONN_BYTES)) ||
		    (region && !in_region) ||
		    (bytes && (s.kind != MP_SHARED_CONNECTION ||
			       s.off[1] == 0 ||
			       s.off[1] > REQ_MAX_CONN_BYTES ||
			       s.fd[1] == s.fd[0])) ||
		    (!region && s.kind >= MP_SHARED_DICTPROXY) ||
		    (region && (s.off[1] == 0 || s.off[1] % 4096 != 0)))
			return mp__why(-EPROTO, "request: shared object %zu "
						"flags 0x%x",
				       i, s.flags);
		for (int k = 0; k < 2; k++) {
			bool used = k < nparts;

			if (used ? s.fd[k] < 0 ||
					   (size_t)s.fd[k] >= r->nshared_fds
				 : s.fd[k] != -1 || (s.off[k] != 0 && !region))
				return mp__why(-EPROTO, "request: shared "
							"object %zu part %d",
					       i, k);
		}
	}
	for (size_t i = 0; i < r->nshared_fds; i++)
		if (mp__req_shared_fd(r, i) < 0)
			return mp__why(-EPROTO, "request: shared fd %zu", i);
	return 0;
}

int mp__req_decode(const void *buf, size_t len, struct mp__req *r)
{
	const unsigned char *b = buf;
	struct req_header h;
	size_t at = sizeof(h), end;
	int rc;

	if (len < sizeof(h))
		return mp__why(-EPROTO, "request: %zu bytes, shorter than its "
					"header",
			       len);
	memcpy(&h, b, sizeof(h));
	if (h.magic != REQ_MAGIC)
		return mp__why(-EPROTO, "request: bad magic 0x%x", h.magic);
	if ((rc = check_opts(&h)) < 0)
		return rc;
	memset(r, 0, sizeof(*r));
	r->affinity = b + at;
	r->naffinity = h.naffinity;
	if ((size_t)h.naffinity * 4 > len - at)
		return mp__why(-EPROTO, "request: CPU list runs past the end");
	at += (size_t)h.naffinity * 4;
	for (size_t i = 0; i < r->naffinity; i++) {
		int cpu = mp__req_cpu(r, i);

		if (cpu < 0 || cpu >= REQ_MAX_AFFINITY)
			return mp__why(-EPROTO, "request: CPU %d", cpu);
	}
	if ((rc = take_str(b, len, &at, h.name_len, REQ_MAX_NAME, "name",
			   &r->name)) < 0 ||
	    (rc = take_str(b, len, &at, h.ident_len, REQ_MAX_IDENT,
			   "identity", &r->ident)) < 0 ||
	    (rc = take_str(b, len, &at, h.target_len, REQ_MAX_TARGET,
			   "target", &r->target)) < 0)
		return rc;
	r->nshared = h.nshared;
	r->nshared_fds = h.nshared_fds;
	if ((rc = take_shared(b, len, &at, r)) < 0)
		return rc;
	if (h.flags & REQ_ARG_FD) {
		if (h.arg_len > REQ_MAX_ARG_FD)
			return mp__why(-EMSGSIZE, "request: arg of %llu bytes",
				       (unsigned long long)h.arg_len);
		end = at;
	} else {
		if (h.arg_len >= len - at) /* the bytes and their NUL */
			return mp__why(-EPROTO, "request: arg of %llu bytes "
						"runs past the end",
				       (unsigned long long)h.arg_len);
		r->arg = (const char *)b + at;
		end = at + (size_t)h.arg_len + 1;
		if (b[end - 1] != '\0')
			return mp__why(-EPROTO, "request: arg without its NUL");
	}
	if (end != len)
		return mp__why(-EPROTO, "request: %zu bytes left over",
			       len - end);
	r->arg_len = (size_t)h.arg_len;
	r->flags = h.flags;
	r->nice = h.nice;
	r->policy = h.policy;
	r->priority = h.priority;
	r->ppid = h.ppid;
	return 0;
}

int mp__req_nfds(const struct mp__req *r)
{
	return __builtin_popcount(r->flags &
				  (REQ_FD_STDIN | REQ_FD_STDOUT |
				   REQ_FD_STDERR | REQ_FD_REPORT | REQ_ARG_FD |
				   REQ_FD_EXIT)) +
	       (int)r->nshared_fds;
}

struct req_shared mp__req_shared(const struct mp__req *r, size_t i)
{
	struct req_shared s;

	memcpy(&s, r->shared + i * sizeof(s), sizeof(s));
	return s;
}

int mp__req_shared_fd(const struct mp__req *r, size_t i)
{
	int32_t fd;

	memcpy(&fd, r->shared_fds + i * 4, 4);
	return fd;
}

int mp__req_cpu(const struct mp__req *r, size_t i)
{
	int32_t cpu;

	memcpy(&cpu, r->affinity + i * 4, 4);
	return cpu;
}

size_t mp__req_size(struct mp__req_src *s)
{
	size_t n = sizeof(s->h), arg;

	s->h.magic = REQ_MAGIC;
	s->h.name_len = (uint32_t)strlen(s->name) + 1;
	s->h.ident_len = (uint32_t)strlen(s->ident) + 1;
	s->h.target_len = (uint32_t)strlen(s->target) + 1;
	arg = s->h.flags & REQ_ARG_FD ? 0 : (size_t)s->h.arg_len + 1;
	if (__builtin_add_overflow(n, (size_t)s->h.naffinity * 4, &n) ||
	    __builtin_add_overflow(n, (size_t)s->h.name_len, &n) ||
	    __builtin_add_overflow(n, (size_t)s->h.ident_len, &n) ||
	    __builtin_add_overflow(n, (size_t)s->h.target_len, &n) ||
	    __builtin_add_overflow(n, (size_t)s->h.nshared_fds * 4, &n) ||
	    __builtin_add_overflow(n, (size_t)s->h.nshared *
					      sizeof(struct req_shared),
				   &n) ||
	    __builtin_add_overflow(n, arg, &n))
		return 0;
	return n;
}

void mp__req_encode(const struct mp__req_src *s, void *out)
{
	unsigned char *o = out;

	memcpy(o, &s->h, sizeof(s->h));
	o += sizeof(s->h);
	for (uint32_t i = 0; i < s->h.naffinity; i++) {
		int32_t cpu = s->affinity[i];

		memcpy(o, &cpu, 4);
		o += 4;
	}
	memcpy(o, s->name, s->h.name_len);
	o += s->h.name_len;
	memcpy(o, s->ident, s->h.ident_len);
	o += s->h.ident_len;
	memcpy(o, s->target, s->h.target_len);
	o += s->h.target_len;
	for (uint32_t i = 0; i < s->h.nshared_fds; i++) {
		int32_t fd = s->shared_fds[i];

		memcpy(o, &fd, 4);
		o += 4;
	}
	if (s->h.nshared > 0) {
		memcpy(o, s->shared, s->h.nshared * sizeof(struct req_shared));
		o += s->h.nshared * sizeof(struct req_shared);
	}
	if (!(s->h.flags & REQ_ARG_FD)) {
		if (s->h.arg_len > 0)
			memcpy(o, s->arg, (size_t)s->h.arg_len);
		o[s->h.arg_len] = '\0';
	}
}
