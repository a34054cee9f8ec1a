/* ch4_value_array - 4.4.1 Value and Array: a shared counter and a shared array squared in place */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

struct args {
	mp_value_t *counter;
	mp_array_t *nums;
	mp_lock_t *lock;
	int n;
};

static int add_counter(void *arg)
{
	struct args *a = arg;
	struct timespec ms = {0, 100000}; /* a short pause, as the lesson's sleep */

	for (int i = 0; i < a->n; i++) {
		mp_lock_acquire(a->lock, MP_FOREVER);
		(*(int *)mp_value_ptr(a->counter))++;
		mp_lock_release(a->lock);
		if (i % 100 == 0)
			nanosleep(&ms, NULL);
	}
	return 0;
}

static int square_inplace(void *arg)
{
	struct args *a = arg;
	int *nums = mp_array_ptr(a->nums);

	mp_lock_acquire(a->lock, MP_FOREVER);
	for (size_t i = 0; i < mp_array_len(a->nums); i++)
		nums[i] = nums[i] * nums[i];
	mp_lock_release(a->lock);
	return 0;
}

int main(void)
{
	struct args a = {
		.counter = mp_value_new('i', &(int){0}, NULL),
		.nums = mp_array_new('i', 4, (int[]){1, 2, 3, 4}, NULL),
		.lock = mp_lock_new(),
		.n = 1000,
	};
	mp_process_t *ps[4], *p;
	int i, *nums;

	if (a.counter == NULL || a.nums == NULL || a.lock == NULL)
		return 1;
	for (i = 0; i < 4; i++) {
		ps[i] = mp_process_new(add_counter, &a, NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 4; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	printf("counter: %d\n", *(int *)mp_value_ptr(a.counter));
	p = mp_process_new(square_inplace, &a, NULL);
	mp_process_start(p);
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	nums = mp_array_ptr(a.nums);
	printf("squared: [%d, %d, %d, %d]\n", nums[0], nums[1], nums[2], nums[3]);
	mp_value_free(a.counter);
	mp_array_free(a.nums);
	mp_lock_free(a.lock);
	return 0;
}
