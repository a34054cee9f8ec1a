/* ch4_manager_balance - 4.8.1 Lock with a Manager dict: four processes deposit 1000 times each into account["balance"] */
#include <errno.h>
#include <mproc.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>

struct bank {
	mp_dictproxy_t *account; /* account = m.dict(balance=0) */
	mp_lock_t *lock;         /* lock = Lock() */
	mp_obj_t *key;           /* "balance" */
};

static int deposit(void *arg)
{
	struct bank *b = arg;
	mp_obj_t *v, *nv;
	int64_t x;

	for (int i = 0; i < 1000; i++) {
		mp_lock_acquire(b->lock, MP_FOREVER); /* with lock: */
		/* account["balance"] += 1: a get and a set, not atomic */
		if (mp_dictproxy_get(b->account, b->key, &v) < 0 ||
		    mp_obj_as_int(v, &x) < 0)
			return 1;
		mp_obj_free(v);
		sched_yield();
		nv = mp_obj_int(x + 1);
		if (mp_dictproxy_set(b->account, b->key, nv) < 0)
			return 1;
		mp_obj_free(nv);
		mp_lock_release(b->lock);
	}
	return 0;
}

/* The same deposit in one race-free call: the value updated under the
 * dict's own lock. */
static int add_one(const mp_obj_t *value, void *arg, mp_obj_t **out)
{
	int64_t x;

	(void)arg;
	if (value == NULL || mp_obj_as_int(value, &x) < 0)
		return -EINVAL;
	*out = mp_obj_int(x + 1);
	return *out == NULL ? -ENOMEM : 0;
}

static int deposit_apply(void *arg)
{
	struct bank *b = arg;

	for (int i = 0; i < 1000; i++)
		if (mp_dictproxy_apply(b->account, b->key, add_one, NULL) < 0)
			return 1;
	return 0;
}

static long run(struct bank *b, mp_target_fn fn)
{
	mp_process_t *ps[4];
	mp_obj_t *v;
	int64_t x = -1;
	int i;

	for (i = 0; i < 4; i++) {
		ps[i] = mp_process_new(fn, b, NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 4; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	if (mp_dictproxy_get(b->account, b->key, &v) == 0) {
		mp_obj_as_int(v, &x);
		mp_obj_free(v);
	}
	return (long)x;
}

int main(void)
{
	struct bank b;
	mp_manager_t *m = mp_manager_new(NULL); /* with Manager() as m: */
	mp_obj_t *init = mp_obj_dict();
	mp_obj_t *zero = mp_obj_int(0);

	b.key = mp_obj_str("balance");
	if (m == NULL || init == NULL || b.key == NULL || zero == NULL ||
	    mp_obj_dict_set(init, mp_obj_str("balance"), mp_obj_int(0)) < 0 ||
	    mp_manager_dict(m, init, &b.account) < 0 ||
	    (b.lock = mp_lock_new()) == NULL) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	printf("final balance: %ld (expected 4000)\n", run(&b, deposit));
	mp_dictproxy_set(b.account, b.key, zero);
	printf("with the one-call update: %ld (expected 4000)\n",
	       run(&b, deposit_apply));
	mp_lock_free(b.lock);
	mp_obj_free(zero);
	mp_obj_free(init);
	mp_obj_free(b.key);
	mp_manager_free(m); /* leaving the with block: shutdown */
	return 0;
}
