/* ch4_event - 4.8.4 / 004 2.3.3.3 Event: workers wait for the start signal */
#include <mproc.h>
#include <stdio.h>
#include <time.h>

static mp_event_t *evt;

static int worker(void *arg)
{
	int i = (int)(long)arg;

	printf("worker %d waiting for the start signal...\n", i);
	fflush(stdout);
	mp_event_wait(evt, MP_FOREVER);
	printf("worker %d starts working\n", i);
	return 0;
}

int main(void)
{
	struct timespec t = {0, 300000000L};
	mp_process_t *ps[3];
	int i;

	if ((evt = mp_event_new()) == NULL)
		return 1;
	for (i = 0; i < 3; i++) {
		ps[i] = mp_process_new(worker, (void *)(long)i, NULL);
		mp_process_start(ps[i]);
	}
	nanosleep(&t, NULL);
	printf("supervisor gives the start signal\n");
	fflush(stdout);
	mp_event_set(evt);
	for (i = 0; i < 3; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	mp_event_free(evt);
	return 0;
}
