/*
 * process/method.c - start methods: their names and the library-wide
 * default, the registry of targets (MP_TARGET), and mp_init.
 *
 * The registry is a lock-free list of static entries pushed by the
 * constructors MP_TARGET makes (before main, single-threaded) or later
 * (dlopen): a push is one compare-and-swap, a lookup a walk.  No entry is
 * ever removed, so a walk needs no lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/code.h"
#include "internal/error.h"
#include "internal/travel.h"
#include "process/process_int.h"

int mp__exe_fd = -1;
const char *mp__argv0;

static const char *const method_names[] = {
	[M_FORK] = "fork", [M_SPAWN] = "spawn", [M_FORKSERVER] = "forkserver"};

/* The default: M_DEFAULT until set (then fork is used). */
static _Atomic int default_method = M_DEFAULT;

static _Atomic(struct mp_target_entry *) targets;

const char *mp__method_name(enum method m)
{
	return m == M_DEFAULT ? mp__method_name(mp__default_method())
			      : method_names[m];
}

int mp__method_of(const char *name)
{
	for (int m = M_FORK; m <= M_FORKSERVER; m++)
		if (strcmp(name, method_names[m]) == 0)
			return m;
	return -1;
}

enum method mp__default_method(void)
{
	int m = atomic_load(&default_method);

	return m == M_DEFAULT ? M_FORK : (enum method)m;
}

int mp_set_start_method(const char *method, int flags)
{
	int m, old;

	MP__CHECK_NULL(method);
	if (flags & ~MP_START_FORCE)
		return MP__ERR(-EINVAL, "unknown flags 0x%x", flags);
	if ((m = mp__method_of(method)) < 0)
		return MP__ERR(-EINVAL, "cannot find context for '%s' "
					"(fork, forkserver or spawn)",
			       method);
	if (flags & MP_START_FORCE) {
		atomic_store(&default_method, m);
		return 0;
	}
	old = M_DEFAULT;
	if (!atomic_compare_exchange_strong(&default_method, &old, m) &&
	    old != m)
		return MP__ERR(-EBUSY, "context has already been set (to "
				       "'%s'; MP_START_FORCE changes it)",
			       method_names[old]);
	return 0;
}

const char *mp_get_start_method(void)
{
	return method_names[mp__default_method()];
}

int mp_get_all_start_methods(const char **out, size_t cap)
{
	static const enum method order[] = {M_FORK, M_SPAWN, M_FORKSERVER};
	enum method def = mp__default_method();
	size_t n = 0;

	if (out == NULL && cap > 0)
		return MP__ERR(-EINVAL, "argument 'out' is NULL but cap is %zu",
			       cap);
	if (n < cap)
		out[n] = method_names[def];
	n++;
	for (size_t i = 0; i < 3; i++) {
		if (order[i] == def)
			continue;
		if (n < cap)
			out[n] = method_names[order[i]];
		n++;
	}
	return (int)n;
}

/* ---- targets ---- */

void mp_target_register(struct mp_target_entry *e)
{
	struct mp_target_entry *head, *q;

	if (e == NULL || e->name == NULL || e->fn == NULL) {
		MP__ERR(-EINVAL, "argument '%s' is NULL",
			e == NULL ? "e" : e->name == NULL ? "e->name" : "e->fn");
		return;
	}
	head = atomic_load(&targets);
	for (;;) {
		for (q = head; q != NULL; q = q->next)
			if (q == e)
				return; /* registered already */
			else if (strcmp(q->name, e->name) == 0 &&
				 q->fn != e->fn)
				q->duplicate = e->duplicate = 1;
		e->next = head;
		if (atomic_compare_exchange_weak(&targets, &head, e))
			return;
	}
}

const char *mp__target_name(mp_target_fn fn, int *code)
{
	struct mp_target_entry *q;

	for (q = atomic_load(&targets); q != NULL; q = q->next)
		if (q->fn == fn) {
			if (q->duplicate) {
				*code = mp__why(-EINVAL,
						"target name '%s' is registered"
						" for two functions",
						q->name);
				return NULL;
			}
			return q->name;
		}
	*code = mp__why(-EINVAL, "the target is not registered: a forkserver "
				 "or spawn child finds it by name "
				 "(MP_TARGET(fn) after its definition)");
	return NULL;
}

mp_target_fn mp__target_find(const char *name)
{
	struct mp_target_entry *q;

	for (q = atomic_load(&targets); q != NULL; q = q->next)
		if (strcmp(q->name, name) == 0)
			return q->duplicate ? NULL : q->fn;
	return NULL;
}

void *mp__req_arg(const struct mp__req *r)
{
	char *copy;

	if (r->arg_len == 0 || r->arg == NULL)
		return NULL;
	if ((uintptr_t)r->arg % _Alignof(max_align_t) == 0)
		return (void *)r->arg;
	if ((copy = mp__malloc(r->arg_len + 1)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(copy, r->arg, r->arg_len + 1);
	return copy;
}

/* ---- mp_init ---- */

void mp__req_from(const struct mp_process *p, const char *tname,
		  const struct mp__travel *t, struct mp__req_src *s)
{
	memset(s, 0, sizeof(*s));
	s->h.flags = (p->daemon ? REQ_DAEMON : 0) |
		     (p->new_session ? REQ_SESSION : 0) |
		     (p->new_group ? REQ_GROUP : 0) |
		     (p->keep_stdin ? REQ_KEEP_STDIN : 0);
	s->h.nice = p->nice;
	s->h.policy = (int32_t)p->policy;
	s->h.priority = p->priority;
	s->h.ppid = (int32_t)mp__pid();
	s->h.naffinity = (uint32_t)p->naffinity;
	s->h.arg_len = p->arg != NULL ? p->arg_len : 0;
	s->affinity = p->affinity;
	s->name = p->name;
	s->ident = p->identity;
	s->target = tname;
	s->arg = p->arg;
	s->h.nshared = (uint32_t)t->n;
	s->h.nshared_fds = (uint32_t)t->nfds;
	s->shared = t->ent;
	s->shared_fds = t->fds;
}

int mp_init(int argc, char **argv)
{
	static pid_t done;
	const char *spawn;
	int rc = 0;

	(void)argc;
	if (done == getpid())
		return 0;
	done = getpid();
	/* Before anything can take its address (the fork server and spawn
	 * children get the same range: manager/space.c). */
	mp__space_reserve();
	if (argv != NULL && argv[0] != NULL)
		mp__argv0 = argv[0];
	if (mp__exe_fd < 0 &&
	    (mp__exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0)
		rc = MP__SYSERR("open(/proc/self/exe)");
	spawn = getenv("MP_SPAWN_FD");
	if (spawn != NULL) {
		char *end;
		long fd = strtol(spawn, &end, 10);

		if (*end == ',') { /* no pidfds: our exit pipe */
			long w = strtol(end + 1, &end, 10);

			if (w > 2 && w < 65536)
				mp__set_exit_pipe((int)w);
		}
		if (*end == '\0' && fd > 2 && fd < 65536) {
			unsetenv("MP_SPAWN_FD");
			mp__spawn_child_main((int)fd); /* never returns */
		}
		return MP__ERR(-EINVAL, "MP_SPAWN_FD=%s is not an fd", spawn);
	}
	mp__code_remember(); /* for the fork server's children */
	if (rc == 0 && (rc = mp__fs_launch()) < 0)
		rc = MP__RAISE(rc);
	return rc;
}
