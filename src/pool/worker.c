/*
 * pool/worker.c - the loop of a worker process: take a job from its inbox,
 * say in its slot that it started it, run it, post the result, and wake the
 * supervisor only if it sleeps.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "internal/hot.h"
#include "internal/lock.h"
#include "pool/pool_int.h"
#include "process/process_int.h"

/* A buffer that grows (see reserve): len bytes used of cap at b, which is
 * first (the caller's array) until it outgrows it.  (In this order, the
 * first values of a new one are no constant the compiler keeps in
 * .rodata: a page a fresh worker would fault in for them.) */
struct wbuf {
	char *b;
	size_t cap;
	char *first;
	size_t len;
};

/* A worker's task output: the result bytes (in out.b, out.len of them)
 * or the failure message. */
struct mp_task_out {
	struct wbuf out;
	bool failed;
	char msg[512];
};

/* Make room for `more` bytes after `used` in a growing buffer (doubling;
 * -ENOMEM also when used + more would pass PTRDIFF_MAX).  It starts in
 * the caller's array w->first (on the worker's stack: a fresh worker with
 * small tasks touches no heap page, each a page fault); the heap holds it
 * once it outgrows that. */
MP__HOT
static int reserve(struct wbuf *w, size_t used, size_t more)
{
	size_t want = w->cap, need;
	char *b;

	if (__builtin_add_overflow(used, more, &need) || need > PTRDIFF_MAX)
		return -ENOMEM;
	if (need <= w->cap)
		return 0;
	while (want < need)
		want = want > PTRDIFF_MAX / 2 ? need : want * 2;
	if (w->b != w->first) {
		b = mp__realloc(w->b, want);
	} else if ((b = mp__malloc(want)) != NULL && used > 0) {
		memcpy(b, w->b, used);
	}
	if (b == NULL)
		return -ENOMEM;
	w->b = b;
	w->cap = want;
	return 0;
}

MP__HOT
int mp_task_return(mp_task_out_t *out, const void *data, size_t len)
{
	MP__CHECK_NULL(out);
	if (data == NULL && len > 0)
		return MP__ERR(-EINVAL, "argument 'data' is NULL but len is %zu",
			       len);
	if (len > MP_TASK_MAX_BYTES)
		return MP__ERR(-EMSGSIZE, "len %zu exceeds MP_TASK_MAX_BYTES (%zu)",
			       len, (size_t)MP_TASK_MAX_BYTES);
	if (reserve(&out->out, 0, len) < 0)
		return MP__ERR(-ENOMEM, "out of memory for %zu bytes", len);
	if (len)
		memcpy(out->out.b, data, len);
	out->out.len = len;
	return 0;
}

int mp_task_fail(mp_task_out_t *out, const char *fmt, ...)
{
	va_list ap;

	if (out == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	out->failed = true;
	return -1;
}

/* Append len bytes, zero-padded to 8 (the padding zeroed first, by one
 * 8-byte store rather than a memset: a page of libc less to fault in). */
MP__HOT
static int put(struct wbuf *w, const void *data, size_t len)
{
	size_t padded = mp__align8(len);

	if (reserve(w, w->len, padded) < 0)
		return -ENOMEM;
	if (padded > len)
		__builtin_memcpy(w->b + w->len + padded - 8, &(uint64_t){0}, 8);
	if (len)
		memcpy(w->b + w->len, data, len);
	w->len += padded;
	return 0;
}

/* Run one task; its outcome goes to res (status, payload). */
MP__HOT
static int run_one(mp_task_fn fn, const void *in, size_t len, mp_task_out_t *o)
{
	int rc;

	o->out.len = 0;
	o->failed = false;
	rc = fn(in, len, o);
	if (rc == 0 && !o->failed)
		return 0;
	if (!o->failed)
		snprintf(o->msg, sizeof(o->msg), "task returned %d", rc);
	return MP_ETASK;
}

/* Build the result record of job h (input at in, in_len bytes) in res. */
MP__HOT
static int run(const struct task_hdr *h, const unsigned char *in, size_t in_len,
	       struct wbuf *res, mp_task_out_t *o)
{
	struct res_hdr *r;
	int status = 0;

	res->len = 0;
	if (put(res, &(struct res_hdr){0}, sizeof(*r)) < 0)
		return -ENOMEM;
	if (h->kind == T_APPLY) {
		status = run_one((mp_task_fn)(uintptr_t)h->fn, in, in_len, o);
		if (status == 0 ? put(res, o->out.b, o->out.len)
				: put(res, o->msg, strlen(o->msg)))
			return -ENOMEM;
		res->len = sizeof(*r) + (status ? strlen(o->msg) : o->out.len);
	} else if (h->kind == T_MAP) {
		mp_map_fn fn = (mp_map_fn)(uintptr_t)h->fn;
		size_t plen, ilen;
		char *out;

		/* The record comes from another process: its sizes must
		 * match what arrived and not wrap. */
		if (__builtin_mul_overflow((size_t)h->count, h->in_size, &ilen) ||
		    ilen != in_len ||
		    __builtin_mul_overflow((size_t)h->count, h->out_size, &plen) ||
		    plen > MP_TASK_MAX_BYTES)
			return -EPROTO;
		if (reserve(res, res->len, plen) < 0)
			return -ENOMEM;
		out = res->b + res->len;
		memset(out, 0, plen);
		for (uint32_t i = 0; i < h->count; i++) {
			int rc = fn(in + (size_t)i * h->in_size,
				    out + (size_t)i * h->out_size);
			if (rc != 0) {
				status = MP_ETASK;
				res->len = sizeof(*r);
				snprintf(o->msg, sizeof(o->msg), "map function "
					 "returned %d for element %u of the chunk",
					 rc, i);
				if (put(res, o->msg, strlen(o->msg)) < 0)
					return -ENOMEM;
				res->len = sizeof(*r) + strlen(o->msg);
				break;
			}
		}
		if (status == 0)
			res->len += plen;
	} else { /* T_ITEMS: each item's own status */
		mp_task_fn fn = (mp_task_fn)(uintptr_t)h->fn;
		size_t off = 0;

		for (uint32_t i = 0; i < h->count; i++) {
			struct item_hdr ih;
			int st;

			if (off + sizeof(ih) > in_len)
				return -EPROTO;
			memcpy(&ih, in + off, sizeof(ih));
			off += sizeof(ih);
			if (ih.len > in_len - off)
				return -EPROTO;
			st = run_one(fn, in + off, ih.len, o);
			off += mp__align8(ih.len);
			ih = (struct item_hdr){
				st, 0, st ? strlen(o->msg) : o->out.len};
			if (put(res, &ih, sizeof(ih)) < 0 ||
			    put(res, st ? o->msg : o->out.b, ih.len) < 0)
				return -ENOMEM;
		}
	}
	r = (struct res_hdr *)res->b;
	r->id = h->id;
	r->status = status;
	return 0;
}

/* Write the eventfd if the supervisor sleeps (and say it no longer does).
 * The fence orders the result's put (whose fast path ends with a plain
 * store) before the look at the flag: the supervisor sets the flag, then
 * looks at the ring (mp__ring_empty), so one of the two sees the other. */
MP__HOT
static void wake_supervisor(const struct worker_args *a)
{
	uint64_t one = 1;

	mp__ring_fence();
	if (__atomic_load_n(a->sup_sleeping, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(a->sup_sleeping, 0, __ATOMIC_SEQ_CST))
		/* (libc's syscall(), on the page heir_line uses: write()
		 * would fault one more in, in a fresh worker) */
		while (syscall(SYS_write, a->efd, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
}

/*
 * Hold the slot's life lock for as long as this process lives, with
 * FUTEX_WAITERS set in its word, so that the kernel, which releases a
 * dead thread's robust locks before it frees the process's memory, wakes
 * the pool's watcher then (see mp__life_word).  Without robust locks, or
 * with a C library whose lock word is not first, nothing is armed: the
 * pool learns of the death from the pidfd, later.  True if armed.
 */
MP__HOT
static bool hold_life(struct worker_slot *s)
{
	uint32_t *word = mp__life_word(s);
	bool armed;

	/* the supervisor made it robust (init_life in workers.c) */
	armed = pthread_mutex_lock(&s->life) == 0 &&
		__atomic_load_n(word, __ATOMIC_RELAXED) ==
			(uint32_t)syscall(SYS_gettid);
	if (armed)
		__atomic_fetch_or(word, FUTEX_WAITERS, __ATOMIC_SEQ_CST);
	return armed;
}

static int worker_loop(const struct worker_args *a, bool *armed);

_Static_assert(sizeof(((struct worker_slot *)0)->heir_name) <=
			       MP__HEIR_NAME_MAX &&
		       sizeof(((struct worker_slot *)0)->heir_ident) <=
			       MP__HEIR_NAME_MAX,
	       "heir names fit mp__become_heir");

/*
 * A worker of a forkserver pool with maxtasksperchild forks its heir first
 * thing, before its initializer and its first task: a copy of it as the
 * fork server made it, and the program's child (mp__fs_fork_heir), which
 * dies with the program and sleeps on slot->heir_go.  When the worker has
 * sent its last result, the supervisor, instead of asking the fork server
 * for a new process, takes the heir (mp__pool_adopt_heir in launch.c): it
 * gives it a process group of its own, resets the slot, writes the name
 * of the heir's process object there and sets HEIR_GO.  The heir
 * takes that name, forks its own heir and runs as the slot's worker: its
 * initializer, then the task the supervisor put in the inbox.  So a fresh
 * process per task costs a fork from a small process, as a fork server's
 * child does, without the round trip to the server (whose requests are
 * served one at a time).  An heir that is not taken (the worker died, or
 * the pool ends) is killed by the supervisor.  Returns in the process that
 * is to run as the worker; where no heir can be forked, the supervisor
 * starts the next worker through the server.
 */
MP__HOT
static void heir_line(const struct worker_args *a)
{
	struct worker_slot *s = a->slot;
	pid_t program = (pid_t)syscall(SYS_getppid);

	/* Raw syscalls: each libc wrapper on a page of its own would cost
	 * every new process a page fault. */
	for (;;) {
		pid_t me = mp__fs_fork_heir(&s->heir);

		if (me != 0)
			return;
		mp__self_id_forget(); /* no atfork handler ran */
		mp__die_with_parent(program, 0);
		/* (its own process group: the supervisor makes it, see
		 * mp__pool_adopt_heir) */
		/* A look at the parent each second besides: an heir found
		 * re-parented (the program gone, and its PR_SET_PDEATHSIG
		 * somehow not delivered) leaves.  A relative timeout: no
		 * clock read (see untimed). */
		while (__atomic_load_n(&s->heir_go, __ATOMIC_ACQUIRE) != HEIR_GO)
			if (syscall(SYS_futex, &s->heir_go, FUTEX_WAIT, HEIR_WAIT,
				    &(struct timespec){.tv_sec = 1}, NULL, 0) < 0 &&
			    errno == ETIMEDOUT &&
			    syscall(SYS_getppid) != program)
				syscall(SYS_exit_group, 0);
		__atomic_store_n(&s->heir_go, HEIR_WAIT, __ATOMIC_RELAXED);
		mp__become_heir(s->heir_name, s->heir_ident,
				(pid_t)syscall(SYS_getpid));
	}
}

/* The loop, under the life lock; a worker that ends normally (0: closed,
 * stopped, its task budget spent) takes FUTEX_WAITERS off the lock's word
 * first, so that its exit wakes nobody (a fresh process per task would
 * wake the watcher at each). */
MP__HOT
int mp__pool_worker_main(void *arg)
{
	const struct worker_args *a = arg;
	bool armed;
	int rc;

	if (a->heirs)
		heir_line(a);
	armed = hold_life(a->slot);
	rc = worker_loop(a, &armed);

	if (rc == 0 && armed)
		__atomic_fetch_and(mp__life_word(a->slot), ~(uint32_t)FUTEX_WAITERS,
				   __ATOMIC_SEQ_CST);
	return rc;
}

/* Before the result of its last task: give the slot up (see
 * worker_slot.gone), the life lock unlocked first, quietly (no waiter bit:
 * nobody is woken), so that the kernel has nothing of ours in the slot to
 * mark at our exit; *armed is then false: from here on the slot may be a
 * replacement's. */
MP__HOT
static void leave_slot(const struct worker_args *a, bool *armed)
{
	if (!*armed)
		return; /* the lock may be ours: keep the slot */
	__atomic_fetch_and(mp__life_word(a->slot), ~(uint32_t)FUTEX_WAITERS,
			   __ATOMIC_SEQ_CST);
	if (pthread_mutex_unlock(&a->slot->life) != 0)
		return;
	*armed = false;
	__atomic_store_n(&a->slot->gone, 1, __ATOMIC_RELEASE);
}

/* The first buffers of a worker's loop (see reserve): a tiny task's
 * record, its result, the record of that result. */
enum { FIRST_IN = 1024, FIRST_OUT = 256, FIRST_RES = 512 };

MP__HOT
static int worker_loop(const struct worker_args *a, bool *armed)
{
	/* (8-aligned: records are read in place) */
	_Alignas(8) char in0[FIRST_IN], res0[FIRST_RES], out0[FIRST_OUT];
	struct wbuf in = {in0, sizeof(in0), in0, 0},
		    res = {res0, sizeof(res0), res0, 0};
	mp_task_out_t o; /* (its message is written before it is read) */
	unsigned done = 0;
	bool big;

	o.out = (struct wbuf){out0, sizeof(out0), out0, 0};
	o.failed = false;
	if (a->initializer != NULL)
		a->initializer(a->initarg);
	__atomic_store_n(&a->slot->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		struct task_hdr h;
		uint64_t t0;
		size_t len;
		void *b = in.b;
		int rc;

		/* Tiny tasks come faster than a sleeping worker wakes.  Not
		 * for the first task of a worker with a task budget: a
		 * replacement finds its first job put there before its start
		 * (preplace in workers.c), or there is none to wait for; its
		 * spin would only take a core from the supervisor. */
		if (done > 0 || a->maxtasks == 0)
			mp__ring_spin(a->inbox, SPIN_NS);
		rc = mp__ring_get(a->inbox, &b, in.cap, &len, MP__NO_DEADLINE);
		if (rc == -EMSGSIZE) {
			if (reserve(&in, 0, len) < 0)
				return 3;
			continue;
		}
		if (rc < 0 || len < sizeof(h))
			return 0; /* inbox closed: the pool is closing */
		memcpy(&h, in.b, sizeof(h));
		if (h.kind == T_STOP)
			return 0;
		if (a->code != NULL)
			h.fn = mp__pool_task_here(a->code, h.fn, h.kind);
		/* (no clock read, which faults in three pages in a new
		 * process, where nobody reads the times) */
		t0 = a->untimed ? 0 : mp__now_ns();
		__atomic_store_n(&a->slot->started, t0, __ATOMIC_RELAXED);
		__atomic_store_n(&a->slot->current, h.id, __ATOMIC_RELEASE);
		if (run(&h, (unsigned char *)in.b + sizeof(h), len - sizeof(h),
			&res, &o) < 0)
			return 3;
		((struct res_hdr *)res.b)->worker = a->index;
		((struct res_hdr *)res.b)->run_ns =
			a->untimed ? 0 : mp__now_ns() - t0;
		/* A result the ring streams needs the supervisor reading
		 * while it is written: say so, and wake it first. */
		big = res.len >= a->results->cap / 4;
		done += h.kind == T_APPLY ? 1 : h.count;
		if (a->maxtasks && done >= a->maxtasks && !big)
			leave_slot(a, armed);
		if (big) {
			__atomic_store_n(&a->slot->big, 1, __ATOMIC_SEQ_CST);
			wake_supervisor(a);
		}
		if (mp__ring_put(a->results, res.b, res.len, MP__NO_DEADLINE) < 0)
			return 4;
		if (big)
			__atomic_store_n(&a->slot->big, 0, __ATOMIC_SEQ_CST);
		wake_supervisor(a);
		if (a->maxtasks && done >= a->maxtasks)
			return 0; /* the supervisor replaces it */
	}
}
