/* ch5_pool_methods - 004 2.3.1.2 / 003 5.1 the Pool's methods: map, map_async, apply, apply_async (with a callback), starmap */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

/* total of i*i for i < n (a double: the compiler cannot fold the loop) */
static double cpu_intensive(long n)
{
	double total = 0;

	for (long i = 0; i < n; i++)
		total += (double)i * (double)i;
	return total;
}

/* map's face: one fixed-size element in, one out. */
static int cpu_map(const void *in, void *out)
{
	*(double *)out = cpu_intensive(*(const long *)in);
	return 0;
}

/* apply's face: bytes in, bytes out. */
static int cpu_task(const void *in, size_t len, mp_task_out_t *out)
{
	long n;
	double r;

	if (len != sizeof(n))
		return mp_task_fail(out, "want a long, got %zu bytes", len);
	memcpy(&n, in, sizeof(n));
	r = cpu_intensive(n);
	return mp_task_return(out, &r, sizeof(r));
}

/* 003's task(n) = n * n */
static int square(const void *in, size_t len, mp_task_out_t *out)
{
	int n;

	if (len != sizeof(n))
		return mp_task_fail(out, "want an int");
	memcpy(&n, in, sizeof(n));
	n *= n;
	return mp_task_return(out, &n, sizeof(n));
}

/* starmap(add, [(1, 2), ...]): the element is a struct of the arguments. */
struct add_args {
	int a, b;
};

static int add(const void *in, void *out)
{
	const struct add_args *x = in;

	*(int *)out = x->a + x->b;
	return 0;
}

static void on_result(const void *out, size_t len, void *arg)
{
	(void)len;
	memcpy(arg, out, sizeof(int)); /* runs in the pool's result thread */
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, mp_last_error());
	return 1;
}

int main(void)
{
	long n8[8] = {1000000, 1000000, 1000000, 1000000,
		      1000000, 1000000, 1000000, 1000000};
	long n = 1000000;
	int ten = 10, from_callback = 0;
	double results[8];
	struct add_args pairs[] = {{1, 2}, {3, 4}, {5, 6}};
	int sums[3];
	mp_pool_t *pool;
	mp_async_result_t *ar;
	const mp_bytes_t *out;
	mp_bytes_t buf;

	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4}); /* Pool(4) */
	if (pool == NULL)
		return fail("Pool");

	/* map: blocks, keeps the order */
	if (mp_pool_map(pool, cpu_map, n8, 8, sizeof(long), results,
			sizeof(double), NULL) < 0)
		return fail("map");
	printf("map results: %d (each %.6g)\n", 8, results[0]);

	/* map_async: returns at once; get(timeout=10) waits */
	memset(results, 0, sizeof(results));
	ar = mp_pool_map_async(pool, cpu_map, n8, 8, sizeof(long), results,
			       sizeof(double), NULL);
	if (ar == NULL)
		return fail("map_async");
	if (mp_async_result_get(ar, 10, NULL) < 0)
		return fail("map_async get");
	mp_async_result_free(ar);
	printf("map_async results: %d (last %.6g)\n", 8, results[7]);

	/* apply: one call, blocks; the result is a buffer we free */
	if (mp_pool_apply(pool, cpu_task, &n, sizeof(n), &buf) < 0)
		return fail("apply");
	printf("apply result: %.6g\n", *(double *)buf.data);
	mp_bytes_destroy(&buf);

	/* apply_async: one call, does not block; get() waits for it */
	ar = mp_pool_apply_async(pool, cpu_task, &n, sizeof(n), NULL);
	if (ar == NULL)
		return fail("apply_async");
	if (mp_async_result_get(ar, MP_FOREVER, &out) < 0)
		return fail("apply_async get");
	printf("apply_async result: %.6g\n", *(const double *)out->data);
	mp_async_result_free(ar); /* out is gone with it */

	/* starmap: map over an array of argument structs */
	if (mp_pool_map(pool, add, pairs, 3, sizeof(pairs[0]), sums,
			sizeof(int), NULL) < 0)
		return fail("starmap");
	printf("starmap results: [%d, %d, %d]\n", sums[0], sums[1], sums[2]);

	/* 003 5.1: apply_async(task, args=(10,)).get(), then apply */
	ar = mp_pool_apply_async(pool, square, &ten, sizeof(ten),
				 &(mp_apply_opts_t){.callback = on_result,
						  .arg = &from_callback});
	if (ar == NULL || mp_async_result_get(ar, MP_FOREVER, &out) < 0)
		return fail("apply_async");
	printf("apply_async(task, 10).get() = %d\n", *(const int *)out->data);
	mp_async_result_free(ar);
	if (mp_pool_apply(pool, square, &ten, sizeof(ten), &buf) < 0)
		return fail("apply");
	printf("apply(task, 10) = %d\n", *(int *)buf.data);
	mp_bytes_destroy(&buf);

	/* close + join: every callback has run once join returns */
	if (mp_pool_close(pool) < 0 || mp_pool_join(pool, MP_FOREVER) < 0)
		return fail("close/join");
	printf("the callback saw %d\n", from_callback);
	mp_pool_free(pool);
	return 0;
}
