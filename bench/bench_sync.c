/* bench_sync.c - uncontended Lock, and a locked Value incremented by two
 * processes, against a robust process-shared pthread mutex. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/shm.h"
#include "mproc/sync.h"

enum { N = 20000000, REPS = 5, INCR = 1000000 };

static pthread_mutex_t *robust_new(void)
{
	pthread_mutex_t *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	return m;
}

static double lock_ns(void *arg)
{
	mp_lock_t *l = arg;
	double t0 = bench_now();

	for (int i = 0; i < N; i++) {
		mp_lock_acquire(l, MP_FOREVER);
		mp_lock_release(l);
	}
	return (bench_now() - t0) / N * 1e9;
}

static double mutex_ns(void *arg)
{
	pthread_mutex_t *m = arg;
	double t0 = bench_now();

	for (int i = 0; i < N; i++) {
		pthread_mutex_lock(m);
		pthread_mutex_unlock(m);
	}
	return (bench_now() - t0) / N * 1e9;
}

/* Two processes each add INCR to a shared int under the lock. */
static double value_rate(void *arg)
{
	mp_value_t *v = arg;
	double t0 = bench_now();
	pid_t pid[2];

	*(int *)mp_value_ptr(v) = 0;
	for (int k = 0; k < 2; k++)
		if ((pid[k] = fork()) == 0) {
			mp_rlock_t *l = mp_value_get_lock(v);
			for (int i = 0; i < INCR; i++) {
				mp_rlock_acquire(l, MP_FOREVER);
				(*(int *)mp_value_ptr(v))++;
				mp_rlock_release(l);
			}
			_exit(0);
		}
	for (int k = 0; k < 2; k++)
		waitpid(pid[k], NULL, 0);
	if (*(int *)mp_value_ptr(v) != 2 * INCR)
		exit(1);
	return 2 * INCR / (bench_now() - t0);
}

static double mutex_value_rate(void *arg)
{
	pthread_mutex_t *m = arg;
	int *x = (int *)mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double t0 = bench_now(), rate;
	pid_t pid[2];

	for (int k = 0; k < 2; k++)
		if ((pid[k] = fork()) == 0) {
			for (int i = 0; i < INCR; i++) {
				pthread_mutex_lock(m);
				(*x)++;
				pthread_mutex_unlock(m);
			}
			_exit(0);
		}
	for (int k = 0; k < 2; k++)
		waitpid(pid[k], NULL, 0);
	rate = 2 * INCR / (bench_now() - t0);
	munmap(x, 4096);
	return rate;
}

int main(void)
{
	mp_lock_t *l = mp_lock_new();
	pthread_mutex_t *m = robust_new();
	mp_value_t *v = mp_value_new('i', NULL, NULL);
	double a[REPS], b[REPS];

	for (int r = 0; r < REPS; r++) {
		a[r] = lock_ns(l);
		b[r] = mutex_ns(m);
	}
	bench_print("lock_uncontended_ns", bench_median(a, REPS),
		    bench_median(b, REPS), "ns");
	for (int r = 0; r < 3; r++) {
		a[r] = value_rate(v);
		b[r] = mutex_value_rate(m);
	}
	bench_print("value_locked_incr_per_s", bench_median(a, 3),
		    bench_median(b, 3), "per_s");
	mp_value_free(v);
	mp_lock_free(l);
	return 0;
}
