/* ch4_shared_counter - 004 2.3.2.3 Value, Array and Lock: a counter to 40000 and an array doubled */
#include <mproc.h>
#include <stdio.h>

static mp_value_t *counter;
static mp_array_t *arr;
static mp_lock_t *lock;

static int increment_counter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++) {
		mp_lock_acquire(lock, MP_FOREVER);
		(*(int *)mp_value_ptr(counter))++;
		mp_lock_release(lock);
	}
	return 0;
}

static int modify_array(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < mp_array_len(arr); i++) {
		double x;
		mp_array_get(arr, i, &x); /* arr[i] = arr[i] * 2 */
		x *= 2;
		mp_array_set(arr, i, &x);
	}
	return 0;
}

static void run(mp_target_fn fn, int n)
{
	mp_process_t *ps[4];

	for (int i = 0; i < n; i++) {
		ps[i] = mp_process_new(fn, NULL, NULL);
		mp_process_start(ps[i]);
	}
	for (int i = 0; i < n; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
}

int main(void)
{
	double *a;

	counter = mp_value_new('i', NULL, NULL);      /* Value('i', 0) */
	arr = mp_array_new('d', 4, (double[]){1.0, 2.0, 3.0, 4.0}, NULL);
	lock = mp_lock_new();
	if (counter == NULL || arr == NULL || lock == NULL)
		return 1;
	run(increment_counter, 4);
	printf("Counter: %d\n", *(int *)mp_value_ptr(counter)); /* 40000 */
	run(modify_array, 1);
	a = mp_array_ptr(arr);
	printf("Array: [%.1f, %.1f, %.1f, %.1f]\n", a[0], a[1], a[2], a[3]);
	mp_value_free(counter);
	mp_array_free(arr);
	mp_lock_free(lock);
	return 0;
}
