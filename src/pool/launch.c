/*
 * pool/launch.c - starting a pool's workers (and their replacements) by
 * the pool's start method.
 *
 * fork: the worker is mp__pool_worker_main(&w->args) in a fork of the
 * caller, as always.  forkserver and spawn: the worker cannot see the
 * parent's memory, so
 *   - the rings, the slot array, the supervisor's flag (arena blocks) and
 *     the eventfd travel as shared objects (opts.shared, process/shared.c);
 *   - the rest (worker index, maxtasks, the initializer and initarg bytes)
 *     travels as arg bytes, with the parent's table of loaded objects
 *     (internal/code.h): the worker translates every task function and
 *     the initializer from the parent's address to its own by (object,
 *     offset), so any function works, registered or not;
 *   - the worker's entry is the registered target mp__pool_worker_remote.
 * A function the worker cannot place (in an object dlopen'd after
 * mp_init, for forkserver) fails its task with a reason.
 *
 * forkserver with maxtasksperchild: a worker's replacement is its heir, a
 * process it forked at its start (heir_line in worker.c), adopted here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/child.h"
#include "internal/code.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/hot.h"
#include "pool/pool_int.h"
#include "process/process_int.h"

/* The arg bytes of a forkserver/spawn worker: this, the objects, initarg. */
struct blob {
	uint32_t index, maxtasks, heirs, untimed;
	uint64_t initializer;
	uint64_t initarg_len;
	uint64_t nobj;
	struct mp__code_obj objs[];
};

enum { SH_INBOX, SH_RESULTS, SH_SLOTS, SH_SLEEPING, SH_EFD, SH_N };

int mp__pool_check_method(const mp_pool_opts_t *opts, const char **method)
{
	const char *names[3];
	const char *m = opts->start_method;

	*method = NULL;
	mp_get_all_start_methods(names, 3);
	if (m == NULL)
		m = names[0]; /* the default, now */
	for (int i = 0; i < 3; i++)
		if (strcmp(m, names[i]) == 0)
			*method = names[i];
	if (*method == NULL || strcmp(*method, m) != 0)
		return mp__why(-EINVAL, "cannot find context for '%s' "
					"(opts->start_method: fork, forkserver "
					"or spawn)",
			       m);
	if (strcmp(*method, "fork") != 0 && opts->initarg != NULL &&
	    opts->initarg_len == 0)
		return mp__why(-EINVAL, "opts->initarg is not NULL but "
					"opts->initarg_len is 0: a %s worker "
					"cannot see the parent's memory; give "
					"the size of the bytes to copy",
			       *method);
	return 0;
}

static int stand_in_task(const void *in, size_t len, mp_task_out_t *out)
{
	(void)in;
	(void)len;
	return mp_task_fail(out, "the task function is in no object this "
				 "worker has loaded (dlopen'd after mp_init?)");
}

static int stand_in_map(const void *in, void *out)
{
	(void)in;
	(void)out;
	return -ENOENT;
}

MP__HOT
uint64_t mp__pool_task_here(const struct mp__code_map *code, uint64_t fn,
			    uint32_t kind)
{
	uintptr_t here = mp__code_translate(code, fn);

	if (here != 0)
		return here;
	return kind == T_MAP ? (uint64_t)(uintptr_t)stand_in_map
			     : (uint64_t)(uintptr_t)stand_in_task;
}

/* The entry of a forkserver/spawn worker: rebuild its args, then run. */
MP__HOT
static int mp__pool_worker_remote(void *arg)
{
	static struct mp__code_map code;
	const struct blob *b = arg;
	struct worker_slot *slots;
	struct worker_args a = {0};
	int *efd;

	if (b == NULL || b->nobj > MP__CODE_MAX_OBJS)
		return 3;
	a.inbox = mp_process_shared(SH_INBOX, MP_SHARED_BLOCK);
	a.results = mp_process_shared(SH_RESULTS, MP_SHARED_BLOCK);
	slots = mp_process_shared(SH_SLOTS, MP_SHARED_BLOCK);
	a.sup_sleeping = mp_process_shared(SH_SLEEPING, MP_SHARED_BLOCK);
	efd = mp_process_shared(SH_EFD, MP_SHARED_FD);
	if (a.inbox == NULL || a.results == NULL || slots == NULL ||
	    a.sup_sleeping == NULL || efd == NULL)
		return 3;
	/* a fork server's child: the table mp_init remembered is ours */
	mp__code_map_init_forked(&code, b->objs, (size_t)b->nobj);
	a.slot = &slots[b->index];
	a.efd = *efd;
	a.index = b->index;
	a.maxtasks = b->maxtasks;
	a.heirs = b->heirs != 0;
	a.untimed = b->untimed != 0;
	a.code = &code;
	if (b->initializer != 0) {
		uintptr_t init = mp__code_translate(&code, b->initializer);

		if (init == 0) {
			fprintf(stderr, "mproc: pool worker: the initializer "
					"is in no object this worker has\n");
			return 3;
		}
		a.initializer = (void (*)(void *))init;
		if (b->initarg_len > 0)
			a.initarg = (char *)&b->objs[b->nobj];
	}
	return mp__pool_worker_main(&a);
}
MP_TARGET(mp__pool_worker_remote);

struct mp__ring *mp__pool_inbox(struct worker *w)
{
	struct mp__ring *r = w->args.inbox;

	/* What a clean exit leaves: at most the T_STOP that retired it (a
	 * closed inbox says MP_ECLOSED: not reused). */
	for (int k = 0; r != NULL && w->inbox_clean && k < 4; k++) {
		struct task_hdr h;
		void *b = &h;
		size_t len;
		int rc = mp__ring_get(r, &b, sizeof(h), &len, 0);

		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			return r; /* empty and open */
		if (rc < 0 || len != sizeof(h) || h.kind != T_STOP)
			break;
	}
	if (r != NULL)
		mp__ring_free(r); /* a fresh inbox: no stale job */
	return mp__ring_new(INBOX_BYTES, 0, 0);
}

int mp__pool_worker_proc(mp_pool_t *p, struct worker *w)
{
	const char *method = p->opts.start_method;
	mp_process_opts_t o = {.daemon = true, .new_process_group = true,
			       .start_method = method};
	mp_shared_t sh[SH_N] = {
		[SH_INBOX] = {MP_SHARED_BLOCK, w->args.inbox},
		[SH_RESULTS] = {MP_SHARED_BLOCK, p->results},
		[SH_SLOTS] = {MP_SHARED_BLOCK, p->slots},
		[SH_SLEEPING] = {MP_SHARED_BLOCK, p->sup_sleeping},
		[SH_EFD] = {MP_SHARED_FD, &p->efd}};
	struct mp__code_obj objs[MP__CODE_MAX_OBJS];
	size_t extra, nobj, len;
	struct blob *b;

	if (strcmp(method, "fork") == 0) {
		w->proc = mp_process_new(mp__pool_worker_main, &w->args, &o);
		return w->proc == NULL ? mp_last_error_code() : 0;
	}
	/* mp_process_new copies the shared list; the arg bytes are copied
	 * at start (maybe in the starter thread): they live in w->blob. */
	extra = p->opts.initarg ? p->opts.initarg_len : 0;
	nobj = mp__code_describe(objs, MP__CODE_MAX_OBJS);
	len = sizeof(*b) + nobj * sizeof(objs[0]) + extra;
	if ((b = mp__calloc(1, len)) == NULL)
		return MP__ERR(-ENOMEM, "out of memory");
	b->index = w->args.index;
	b->maxtasks = w->args.maxtasks;
	b->untimed = w->args.untimed;
	/* A fresh process per few tasks: each worker forks its heir, so
	 * that its replacement is there without a round trip to the fork
	 * server (heir_line in worker.c; adopted with a pidfd). */
	b->heirs = w->args.maxtasks > 0 && strcmp(method, "forkserver") == 0 &&
		   mp__have_pidfd();
	b->initializer = (uint64_t)(uintptr_t)w->args.initializer;
	b->initarg_len = extra;
	b->nobj = nobj;
	memcpy(b->objs, objs, nobj * sizeof(objs[0]));
	if (extra > 0)
		memcpy(&b->objs[nobj], p->opts.initarg, extra);
	o.arg_len = len;
	o.shared = sh;
	o.nshared = SH_N;
	w->blob = b;
	w->proc = mp_process_new(mp__pool_worker_remote, b, &o);
	if (w->proc == NULL)
		return mp_last_error_code();
	/* No wait for the worker's setup: a worker that cannot take its
	 * objects exits 127 and is replaced like any dead worker. */
	w->proc->quick_start = true;
	return 0;
}

/* ---- heirs (heir_line in worker.c) ---- */

pid_t mp__pool_take_heir(mp_pool_t *p, unsigned i)
{
	return __atomic_exchange_n(&p->slots[i].heir, 0, __ATOMIC_ACQ_REL);
}

/* It sleeps: it ends at once; it is our child, unreaped, so its pid is
 * still its own. */
void mp__pool_drop_heir(pid_t pid)
{
	if (pid > 0)
		mp__child_kill_reap(&(struct mp__child){.pid = pid, .fd = -1});
}

/* Adopted by w->proc, in a process group of its own, told its name,
 * woken (nobody else touches the slot now). */
int mp__pool_adopt_heir(struct worker *w, pid_t pid)
{
	struct worker_slot *s = w->args.slot;
	const char *name = mp_process_name(w->proc);
	const char *ident = w->proc->identity;
	size_t nlen = strlen(name) + 1, ilen = strlen(ident) + 1;
	int rc;

	if (nlen > sizeof(s->heir_name) || ilen > sizeof(s->heir_ident)) {
		mp__pool_drop_heir(pid);
		return -ENAMETOOLONG;
	}
	/* Its own process group, before it is woken (not by itself at its
	 * birth: an heir the scheduler had not run yet would have no group
	 * when a group kill came for the worker it now is). */
	if (setpgid(pid, pid) < 0) {
		rc = -errno;
		mp__pool_drop_heir(pid);
		return rc;
	}
	if ((rc = mp__process_adopt(w->proc, pid)) < 0)
		return rc;
	memcpy(s->heir_name, name, nlen);
	memcpy(s->heir_ident, ident, ilen);
	__atomic_store_n(&s->heir_go, HEIR_GO, __ATOMIC_RELEASE);
	mp__futex_wake(&s->heir_go, 1);
	return 0;
}
