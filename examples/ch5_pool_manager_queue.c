/* ch5_pool_manager_queue - 003 6.3 a manager.Queue() handed to pool workers: the workers put, the parent gets */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

/* worker(q): q.put('data').  The argument is the queue proxy itself: it
 * points into the manager's shared region, valid in the pool's workers
 * (forked after the manager started), as CPython pickles the proxy. */
static int worker(const void *in, size_t len, mp_task_out_t *out)
{
	mp_queueproxy_t *q;
	mp_obj_t *v;
	int rc;

	if (len != sizeof(q))
		return mp_task_fail(out, "want a queue");
	memcpy(&q, in, sizeof(q));
	v = mp_obj_str("data");
	rc = mp_queueproxy_put(q, v, MP_FOREVER);
	mp_obj_free(v);
	if (rc < 0)
		return mp_task_fail(out, "put: %s", mp_last_error());
	return 0;
}

static int fail(void)
{
	fprintf(stderr, "%s\n", mp_last_error());
	return 1;
}

int main(void)
{
	mp_manager_t *manager = mp_manager_new(NULL); /* Manager() */
	mp_queueproxy_t *q;
	mp_pool_t *pool;
	mp_bytes_t res, r;
	mp_obj_t *v;
	int i;

	if (manager == NULL || mp_manager_queue(manager, 0, &q) < 0)
		return fail(); /* q = manager.Queue() */
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4});
	if (pool == NULL)
		return fail();
	/* with Pool(4) as p: p.apply(worker, (q,)) -- four times here, so
	 * that several workers put */
	for (i = 0; i < 4; i++) {
		if (mp_pool_apply(pool, worker, &q, sizeof(q), &res) < 0)
			return fail();
		mp_bytes_destroy(&res); /* (no result: res.len is 0) */
	}
	mp_pool_free(pool);

	printf("qsize after the pool: %d\n", mp_queueproxy_qsize(q));
	while (mp_queueproxy_get_nowait(q, &v) == 0) {
		if (mp_obj_repr(v, &r) == 0) {
			printf("received from the pool: %s\n", r.data);
			mp_bytes_destroy(&r);
		}
		mp_obj_free(v);
	}
	printf("empty: %d\n", mp_queueproxy_empty(q));
	mp_manager_free(manager);
	return 0;
}
