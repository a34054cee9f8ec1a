/* ch5_executor_map - 004 2.3.1.3 ProcessPoolExecutor: executor.map, then submit + as_completed */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N 20

/* process_data(data): a little I/O-like wait, then data * 2 */
static int process_data(const void *in, size_t len, mp_task_out_t *out)
{
	struct timespec t = {0, 10000000L}; /* 10 ms (the lesson's 0.1 s, shrunk) */
	int data;

	if (len != sizeof(data))
		return mp_task_fail(out, "want an int");
	memcpy(&data, in, sizeof(data));
	nanosleep(&t, NULL);
	data *= 2;
	return mp_task_return(out, &data, sizeof(data));
}

/* The same as a map function (fixed-size element in and out). */
static int process_data_map(const void *in, void *out)
{
	struct timespec t = {0, 10000000L};

	nanosleep(&t, NULL);
	*(int *)out = *(const int *)in * 2;
	return 0;
}

int main(void)
{
	int data_list[N], results[N], sum = 0;
	mp_future_t *futures[N];
	mp_as_completed_t *it;
	mp_future_t *f;
	mp_executor_t *ex;
	const mp_bytes_t *out;
	int rc;

	for (int i = 0; i < N; i++)
		data_list[i] = i;
	ex = mp_executor_new(&(mp_executor_opts_t){.max_workers = 4});
	if (ex == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;

	/* Way 1: map (results in input order) */
	if (mp_executor_map(ex, process_data_map, data_list, N, sizeof(int),
			    results, sizeof(int), NULL, MP_FOREVER) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	printf("map: [%d, %d, %d, ..., %d]\n", results[0], results[1],
	       results[2], results[N - 1]);

	/* Way 2: submit + as_completed (results as they finish) */
	for (int i = 0; i < N; i++) {
		futures[i] = mp_executor_submit(ex, process_data, &data_list[i],
						sizeof(int));
		if (futures[i] == NULL)
			return fprintf(stderr, "%s\n", mp_last_error()), 1;
	}
	it = mp_as_completed(futures, N, MP_FOREVER);
	if (it == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	while ((rc = mp_as_completed_next(it, &f)) == 0) {
		if (mp_future_result(f, MP_FOREVER, &out) < 0)
			return fprintf(stderr, "%s\n", mp_last_error()), 1;
		printf("Got result: %d\n", *(const int *)out->data);
		sum += *(const int *)out->data;
	}
	if (rc != MP_EEOF)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_as_completed_free(it);
	for (int i = 0; i < N; i++)
		mp_future_free(futures[i]);
	printf("sum of the results: %d\n", sum);

	/* Leaving `with`: shutdown(wait=True) */
	if (mp_executor_shutdown(ex, 0) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_executor_free(ex);
	return 0;
}
