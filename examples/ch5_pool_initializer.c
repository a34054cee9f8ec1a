/* ch5_pool_initializer - 004 2.3.4.1 the worker-pool pattern: an initializer runs once in each worker, then map */
#include <mproc.h>
#include <stdio.h>
#include <unistd.h>

static void init_worker(void *arg)
{
	(void)arg;
	printf("Worker %d initialized\n", (int)getpid());
	fflush(stdout); /* a worker's stdio buffer is its own */
}

static int process_item(const void *in, void *out)
{
	*(int *)out = *(const int *)in * 2;
	return 0;
}

int main(void)
{
	int items[10], results[10];
	mp_pool_t *pool;

	for (int i = 0; i < 10; i++)
		items[i] = i;
	fflush(stdout); /* before the workers fork: nothing printed twice */
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4,
					   .initializer = init_worker});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	if (mp_pool_map(pool, process_item, items, 10, sizeof(int), results,
			sizeof(int), NULL) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	/* close + join: the workers exit, so all four have said hello */
	if (mp_pool_close(pool) < 0 || mp_pool_join(pool, MP_FOREVER) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);
	printf("[");
	for (int i = 0; i < 10; i++)
		printf(i ? ", %d" : "%d", results[i]);
	printf("]\n");
	return 0;
}
