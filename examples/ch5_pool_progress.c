/* ch5_pool_progress - 001 5.1.2 a long map with a progress bar: the progress callback redraws it on stderr as chunks finish */
#include <mproc.h>
#include <stdio.h>

#define N 500
#define WIDTH 40

/* Some work per element: sum(i*i for i in range(n)) */
static int work(const void *in, void *out)
{
	long n = *(const long *)in;
	double s = 0;

	for (long i = 0; i < n; i++)
		s += (double)i * (double)i;
	*(double *)out = s;
	return 0;
}

/* Called in the pool's result thread after each chunk. */
static void progress(size_t done, size_t total, void *arg)
{
	int *last = arg, pct = (int)(done * 100 / total), fill = pct * WIDTH / 100;

	if (pct == *last)
		return;
	*last = pct;
	fprintf(stderr, "\r[%.*s%*s] %3d%% (%zu/%zu)", fill,
		"########################################", WIDTH - fill, "",
		pct, done, total);
	if (done == total)
		fputc('\n', stderr);
}

int main(void)
{
	static long in[N];
	static double out[N];
	int last = -1;
	mp_pool_t *pool;

	for (int i = 0; i < N; i++)
		in[i] = 400000 + i; /* about a millisecond each */
	pool = mp_pool_new(NULL);
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	/* 5 elements a chunk: 100 chunks, 100 chances to redraw */
	if (mp_pool_map(pool, work, in, N, sizeof(long), out, sizeof(double),
			&(mp_map_opts_t){.chunksize = 5, .progress = progress,
				       .arg = &last}) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);
	printf("done: %d items, the first %.6g, the last %.6g\n", N, out[0],
	       out[N - 1]);
	return 0;
}
