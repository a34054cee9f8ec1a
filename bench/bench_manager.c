/* bench_manager.c - a manager's shared dict on the local path: set and get
 * by one client process over 100 keys, the tutorial's locked deposit
 * (Lock + get + set) by two processes, and a Queue's put + get by one
 * client process. */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mproc/manager.h"
#include "mproc/sync.h"

enum { KEYS = 100, OPS = 2000000, REPS = 3, INCR = 200000 };

static mp_dictproxy_t *dict;
static mp_queueproxy_t *queue;
static mp_obj_t *keys[KEYS], *vals[KEYS];

enum mode { SET, GET, QUEUE };

/* One operation of a client (QUEUE: a put and a get of one small value):
 * 0 or a code. */
static int client_op(enum mode mode, int k)
{
	mp_obj_t *v;
	int rc;

	if (mode == SET)
		return mp_dictproxy_set(dict, keys[k], vals[k]);
	if (mode == QUEUE && (rc = mp_queueproxy_put(queue, vals[k], 0)) < 0)
		return rc;
	rc = mode == GET ? mp_dictproxy_get(dict, keys[k], &v)
			 : mp_queueproxy_get(queue, 0, &v);
	mp_obj_free(v);
	return rc;
}

/* One client process does OPS operations and reports its rate. */
static double client_rate(enum mode mode)
{
	int fds[2];
	double rate = 0;
	pid_t pid;

	if (pipe(fds) < 0)
		exit(1);
	if ((pid = fork()) == 0) {
		double t0 = bench_now();

		for (int i = 0; i < OPS; i++)
			if (client_op(mode, i % KEYS) < 0)
				_exit(1);
		rate = OPS / (bench_now() - t0);
		if (write(fds[1], &rate, sizeof(rate)) != sizeof(rate))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &rate, sizeof(rate)) != sizeof(rate))
		exit(1);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return rate;
}

static double set_rate(void *arg)
{
	(void)arg;
	return client_rate(SET);
}

static double get_rate(void *arg)
{
	(void)arg;
	return client_rate(GET);
}

static double queue_rate(void *arg)
{
	(void)arg;
	return client_rate(QUEUE);
}

/* Two processes: with lock: d["balance"] += 1, INCR times each. */
static double incr_rate(void *arg)
{
	mp_lock_t *lock = arg;
	mp_obj_t *key = mp_obj_str("balance"), *zero = mp_obj_int(0), *v;
	double t0;
	int64_t x = 0;
	pid_t pid[2];

	mp_dictproxy_set(dict, key, zero);
	t0 = bench_now();
	for (int k = 0; k < 2; k++)
		if ((pid[k] = fork()) == 0) {
			for (int i = 0; i < INCR; i++) {
				mp_lock_acquire(lock, MP_FOREVER);
				if (mp_dictproxy_get(dict, key, &v) < 0 ||
				    mp_obj_as_int(v, &x) < 0)
					_exit(1);
				mp_obj_free(v);
				v = mp_obj_int(x + 1);
				mp_dictproxy_set(dict, key, v);
				mp_obj_free(v);
				mp_lock_release(lock);
			}
			_exit(0);
		}
	for (int k = 0; k < 2; k++)
		waitpid(pid[k], NULL, 0);
	t0 = bench_now() - t0;
	mp_dictproxy_get(dict, key, &v);
	mp_obj_as_int(v, &x);
	if (x != 2 * INCR)
		exit(1);
	mp_obj_free(v);
	mp_obj_free(key);
	mp_obj_free(zero);
	return 2 * INCR / t0;
}

int main(void)
{
	mp_manager_t *m = mp_manager_new(NULL);
	mp_lock_t *lock = mp_lock_new();
	char name[16];

	if (m == NULL || lock == NULL || mp_manager_dict(m, NULL, &dict) < 0 ||
	    mp_manager_queue(m, 0, &queue) < 0)
		return 1;
	for (int i = 0; i < KEYS; i++) {
		snprintf(name, sizeof(name), "key%d", i);
		keys[i] = mp_obj_str(name);
		vals[i] = mp_obj_int(i);
	}
	bench_print("manager_dict_set_ops_per_s",
		    bench_repeat(REPS, set_rate, NULL), -1, "ops_per_s");
	bench_print("manager_dict_get_ops_per_s",
		    bench_repeat(REPS, get_rate, NULL), -1, "ops_per_s");
	bench_print("manager_locked_incr_per_s",
		    bench_repeat(REPS, incr_rate, lock), -1, "per_s");
	bench_print("manager_queue_put_get_per_s",
		    bench_repeat(REPS, queue_rate, NULL), -1, "per_s");
	for (int i = 0; i < KEYS; i++) {
		mp_obj_free(keys[i]);
		mp_obj_free(vals[i]);
	}
	mp_lock_free(lock);
	mp_manager_free(m);
	return 0;
}
