/*
 * internal/lock.c - the robust lock core's slow paths (design notes in
 * internal/lock.h).
 */
#include "internal/lock.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/hot.h"
#include "internal/procfs.h"
#include "mproc/common.h"

/* initial-exec: no __tls_get_addr call on the hot path of a PIC build */
_Thread_local uint64_t mp__self_id_cache
	__attribute__((tls_model("initial-exec")));
MP__HOT
void mp__self_id_forget(void)
{
	mp__self_id_cache = 0; /* the child has another pid and tid */
}

/* At load, not at the first lock: a fresh process forked from one that
 * had not locked yet (a pool worker's heir) then has nothing to register,
 * and no page of pthread_atfork's to fault in. */
__attribute__((constructor)) static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, mp__self_id_forget);
}

__attribute__((noinline, cold)) uint64_t mp__self_id_init(void)
{
	mp__self_id_cache = (uint64_t)syscall(SYS_getpid) << 32 |
			    (uint32_t)syscall(SYS_gettid);
	return mp__self_id_cache;
}

/*
 * Does the owner recorded in state still run?  tgkill tells whether the
 * thread exists; a killed process stays a zombie until its parent reaps it
 * (and that parent may be the one waiting for the lock), so a thread that
 * exists is also asked for its state: Z (zombie) or X (dead) count as dead.
 */
static bool owner_alive(uint64_t state)
{
	pid_t pid = (pid_t)(state >> 32);
	pid_t tid = (pid_t)(state & 0x7fffffff);
	char path[64], buf[512];
	struct mp__stat st;
	ssize_t n;
	int fd;

	if (pid <= 0 || tid <= 0)
		return true; /* cannot tell */
	if (syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno != ENOENT;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	/* Unreadable or unparsable: cannot tell, so alive. */
	if (n <= 0 || mp__parse_stat(buf, (size_t)n, &st) < 0)
		return true;
	return st.state != 'Z' && st.state != 'X';
}

bool mp__lock_owner_dead(const uint64_t *state)
{
	uint64_t s = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	return s != 0 && !owner_alive(s);
}

static int took_over(uint64_t dead, uint64_t *out)
{
	if (out != NULL)
		*out = dead & ~MP__LOCK_WAITERS;
	return MP_EOWNERDEAD;
}

/* Sleep, check the owner now and then, take over from a dead one. */
int mp__lock_wait(uint64_t *state, uint64_t deadline, uint64_t *dead)
{
	uint64_t me = mp__self_id(), until, cur;
	int rc;

	for (;;) {
		cur = __atomic_load_n(state, __ATOMIC_RELAXED);
		if (cur == 0) {
			if (__atomic_compare_exchange_n(state, &cur,
							me | MP__LOCK_WAITERS,
							false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return 0;
			continue;
		}
		if (mp__expired(deadline)) { /* a poll, or time is up */
			if (owner_alive(cur))
				return -ETIMEDOUT;
			if (__atomic_compare_exchange_n(
				    state, &cur, me | (cur & MP__LOCK_WAITERS),
				    false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return took_over(cur, dead);
			continue;
		}
		if (!(cur & MP__LOCK_WAITERS)) {
			if (!__atomic_compare_exchange_n(
				    state, &cur, cur | MP__LOCK_WAITERS, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			cur |= MP__LOCK_WAITERS;
		}
		until = mp__now_ns() + MP__OWNER_CHECK_NS;
		if (deadline < until)
			until = deadline;
		rc = mp__futex_wait(mp__low_word(state), (uint32_t)cur, until);
		if (rc != -ETIMEDOUT)
			continue;
		if (__atomic_load_n(state, __ATOMIC_RELAXED) == cur &&
		    !owner_alive(cur) &&
		    __atomic_compare_exchange_n(state, &cur,
						me | MP__LOCK_WAITERS, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return took_over(cur, dead);
	}
}
