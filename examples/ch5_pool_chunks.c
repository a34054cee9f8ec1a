/* ch5_pool_chunks - 004 2.3.4.2 chunked processing: a big array mapped as blocks of 100, two blocks per task (chunksize=2) */
#include <mproc.h>
#include <stdio.h>

#define N 1000
#define BLOCK 100

/* One map element is a whole block: [x * 2 for x in chunk] */
struct block {
	int x[BLOCK];
};

static int process_chunk(const void *in, void *out)
{
	const struct block *b = in;
	struct block *r = out;

	for (int i = 0; i < BLOCK; i++)
		r->x[i] = b->x[i] * 2;
	return 0;
}

int main(void)
{
	static int data[N], results[N]; /* N / BLOCK blocks, back to back */
	long sum = 0;
	mp_pool_t *pool;

	for (int i = 0; i < N; i++)
		data[i] = i;
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	/* chunksize saves messages: 10 blocks travel as 5 tasks */
	if (mp_pool_map(pool, process_chunk, data, N / BLOCK, sizeof(struct block),
			results, sizeof(struct block),
			&(mp_map_opts_t){.chunksize = 2}) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);

	/* The blocks come back in order and contiguous: already "flattened". */
	for (int i = 0; i < N; i++)
		sum += results[i];
	printf("flat results: %d items [%d, %d, %d, ..., %d], sum %ld\n", N,
	       results[0], results[1], results[2], results[N - 1], sum);
	return 0;
}
