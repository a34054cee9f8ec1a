/* ch3_data_isolation - 4.1.1 / 002 2.2.3 Data isolation: each child changes its own copy of a global */
#include <mproc.h>
#include <stdio.h>

static int num = 100;
static int money = 99;

static int func(void *arg)
{
	(void)arg;
	num -= 1; /* a copy: the parent's num does not change */
	return 0;
}

static int change_money(void *arg)
{
	(void)arg;
	printf("balance before the change: %d\n", money);
	money += 1;
	printf("balance after the change: %d\n", money);
	return 0;
}

static int run_all(mp_target_fn fn, int n)
{
	mp_process_t *p[10];
	int i;

	for (i = 0; i < n; i++)
		if ((p[i] = mp_process_new(fn, NULL, NULL)) == NULL ||
		    mp_process_start(p[i]) < 0)
			return -1;
	for (i = 0; i < n; i++) {
		mp_process_join(p[i], MP_FOREVER);
		mp_process_free(p[i]);
	}
	return 0;
}

int main(void)
{
	if (run_all(func, 10) < 0)
		return 1;
	printf("num = %d\n", num); /* 100: ten children each changed a copy */
	if (run_all(change_money, 3) < 0)
		return 1;
	printf("money after all children changed it: %d\n", money);
	return 0;
}
