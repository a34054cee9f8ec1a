/* ch5_executor_errors - 004 2.3.4.4 error handling: a task that fails, and (beyond CPython) a worker that crashes; the executor goes on */
#include <mproc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define N 10

/* risky_function(x): fails for 5 ("raise ValueError"), crashes for 7 */
static int risky_function(const void *in, size_t len, mp_task_out_t *out)
{
	int x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want an int");
	memcpy(&x, in, sizeof(x));
	if (x == 5)
		return mp_task_fail(out, "ValueError: Bad value: %d", x);
	if (x == 7)
		raise(SIGKILL); /* the worker dies, as if the OOM killer took it */
	x *= 2;
	return mp_task_return(out, &x, sizeof(x));
}

/* The map flavour: a non-zero return fails the element's chunk. */
static int risky_map(const void *in, void *out)
{
	int x = *(const int *)in;

	if (x == 5)
		return -1;
	*(int *)out = x * 2;
	return 0;
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, mp_last_error());
	return 1;
}

int main(void)
{
	int inputs[N], outputs[N], rc;
	mp_future_t *futures[N], *f;
	mp_as_completed_t *it;
	mp_executor_t *ex;
	mp_pool_t *pool;
	const mp_bytes_t *out;

	for (int i = 0; i < N; i++)
		inputs[i] = i;
	ex = mp_executor_new(&(mp_executor_opts_t){.max_workers = 4});
	if (ex == NULL)
		return fail("executor");
	/* futures = {executor.submit(risky_function, i): i for i in range(10)} */
	for (int i = 0; i < N; i++)
		if ((futures[i] = mp_executor_submit(ex, risky_function, &inputs[i],
						     sizeof(int))) == NULL)
			return fail("submit");
	if ((it = mp_as_completed(futures, N, MP_FOREVER)) == NULL)
		return fail("as_completed");
	while ((rc = mp_as_completed_next(it, &f)) == 0) {
		int x = 0;

		while (futures[x] != f) /* futures[future]: the input */
			x++;
		rc = mp_future_result(f, MP_FOREVER, &out);
		if (rc == 0)
			printf("Input %d -> Result %d\n", x, *(const int *)out->data);
		else
			printf("Input %d raised %s: %s\n", x,
			       rc == MP_ETASK ? "MP_ETASK" : rc == MP_EBROKEN ?
			       "MP_EBROKEN" : mp_strerror(rc), mp_last_error());
	}
	if (rc != MP_EEOF)
		return fail("as_completed next");
	mp_as_completed_free(it);
	for (int i = 0; i < N; i++)
		mp_future_free(futures[i]);

	/* CPython's executor would now be broken; this one replaced the worker. */
	f = mp_executor_submit(ex, risky_function, &inputs[3], sizeof(int));
	if (f == NULL || mp_future_result(f, MP_FOREVER, &out) < 0)
		return fail("submit after the crash");
	printf("after the crash: risky_function(3) = %d\n", *(const int *)out->data);
	mp_future_free(f);
	mp_executor_free(ex);

	/* Pool.map: the first failure is the result, once every chunk ended. */
	if ((pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4})) == NULL)
		return fail("pool");
	rc = mp_pool_map(pool, risky_map, inputs, N, sizeof(int), outputs,
			 sizeof(int), NULL);
	printf("map: %s (%s)\n", rc == MP_ETASK ? "MP_ETASK" : mp_strerror(rc),
	       mp_last_error());
	mp_pool_free(pool);
	return 0;
}
