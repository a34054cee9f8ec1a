/* ch5_pool_queue - 003 6.3 a Queue used by pool workers (a library queue made before the pool; ch5_pool_manager_queue is the tutorial's manager.Queue()) */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

/* worker(q): q.put('data').  The argument is the queue pointer itself: the
 * workers are forked after the queue was made, so it is valid in them. */
static int worker(const void *in, size_t len, mp_task_out_t *out)
{
	mp_queue_t *q;

	if (len != sizeof(q))
		return mp_task_fail(out, "want a queue");
	memcpy(&q, in, sizeof(q));
	if (mp_queue_put(q, "data", 4, MP_FOREVER) < 0)
		return mp_task_fail(out, "put: %s", mp_last_error());
	return 0;
}

int main(void)
{
	mp_queue_t *q = mp_queue_new(NULL); /* first the queue, then the pool */
	mp_pool_t *pool;
	char buf[16];
	size_t len;
	mp_bytes_t res;

	if (q == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	if (mp_pool_apply(pool, worker, &q, sizeof(q), &res) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_bytes_destroy(&res); /* (no result: res.len is 0) */
	mp_pool_free(pool);

	if (mp_queue_get_into(q, buf, sizeof(buf) - 1, 1.0, &len) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	buf[len] = '\0';
	printf("received from the pool: %s\n", buf);
	mp_queue_free(q);
	return 0;
}
