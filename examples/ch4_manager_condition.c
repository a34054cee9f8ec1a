/* ch4_manager_condition - 4.8.5 Condition with a Manager: buf = manager.list(), cond = manager.Condition(manager.Lock()) */
#include <mproc.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct shared {
	mp_listproxy_t *buf;  /* buf = manager.list() */
	mp_condition_t *cond; /* cond = manager.Condition(lock) */
};

static int producer(void *arg)
{
	struct shared *s = arg;
	struct timespec t = {0, 50000000L};

	for (int i = 0; i < 5; i++) {
		mp_obj_t *v = mp_obj_int(i);

		mp_condition_acquire(s->cond, MP_FOREVER); /* with cond: */
		mp_listproxy_append(s->buf, v);            /* buf.append(i) */
		printf("produced: %d\n", i);
		fflush(stdout);
		mp_condition_notify(s->cond, 1);
		mp_condition_release(s->cond);
		mp_obj_free(v);
		nanosleep(&t, NULL);
	}
	return 0;
}

static int consumer(void *arg)
{
	struct shared *s = arg;
	mp_obj_t *v;
	int64_t x;

	for (int i = 0; i < 5; i++) {
		mp_condition_acquire(s->cond, MP_FOREVER);
		while (mp_listproxy_len(s->buf) == 0) /* while not buf: */
			mp_condition_wait(s->cond, MP_FOREVER);
		if (mp_listproxy_pop(s->buf, 0, &v) < 0 || /* buf.pop(0) */
		    mp_obj_as_int(v, &x) < 0)
			return 1;
		mp_obj_free(v);
		printf("consumed: %lld\n", (long long)x);
		fflush(stdout);
		mp_condition_release(s->cond);
	}
	return 0;
}

int main(void)
{
	mp_manager_t *manager = mp_manager_new(NULL);
	mp_condition_opts_t o = {0};
	struct shared s;
	mp_process_t *p1, *p2;
	mp_lock_t *lock;

	/* The Lock and the Condition come from the manager, as the lesson
	 * insists: they live with the list, in the manager's memory. */
	if (manager == NULL || mp_manager_list(manager, NULL, &s.buf) < 0 ||
	    mp_manager_lock(manager, &lock) < 0 ||
	    (o.lock = lock, mp_manager_condition(manager, &o, &s.cond)) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	p1 = mp_process_new(producer, &s, NULL);
	p2 = mp_process_new(consumer, &s, NULL);
	mp_process_start(p1);
	mp_process_start(p2);
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	mp_manager_free(manager);
	return 0;
}
