/* ch4_queue - 4.3.1 / 004 2.3.2.1 / 003 6 Queue: producer and consumer, an end marker, the queue's methods */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static mp_queue_t *q;

static int producer(void *arg)
{
	struct timespec t = {0, 20000000L};
	char item[32];

	(void)arg;
	for (int i = 0; i < 5; i++) {
		int n = snprintf(item, sizeof(item), "item-%d", i);
		mp_queue_put(q, item, (size_t)n, MP_FOREVER);
		printf("produced: %s\n", item);
		fflush(stdout);
		nanosleep(&t, NULL);
	}
	mp_queue_put(q, "", 0, MP_FOREVER); /* the sentinel (None) */
	return 0;
}

static int consumer(void *arg)
{
	char item[32];
	size_t len;

	(void)arg;
	for (;;) {
		if (mp_queue_get_into(q, item, sizeof(item) - 1, MP_FOREVER, &len) < 0)
			return 1;
		if (len == 0) {
			printf("consumed: the end marker\n");
			return 0;
		}
		item[len] = '\0';
		printf("consumed: %s\n", item);
		fflush(stdout);
	}
}

int main(void)
{
	mp_process_t *p1, *p2;
	mp_bytes_t msg;

	q = mp_queue_new(NULL);
	if (q == NULL)
		return 1;
	p1 = mp_process_new(producer, NULL, NULL);
	p2 = mp_process_new(consumer, NULL, NULL);
	mp_process_start(p1);
	mp_process_start(p2);
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	mp_queue_free(q);

	/* The methods of 003 6.2, on a queue of at most 2 items. */
	q = mp_queue_new(&(mp_queue_opts_t){.maxsize = 2});
	printf("empty: %d, qsize: %d\n", mp_queue_empty(q), mp_queue_qsize(q));
	mp_queue_put(q, "data", 4, 0);
	mp_queue_put(q, "more", 4, 0);
	printf("after two puts: full: %d, qsize: %d\n", mp_queue_full(q),
	       mp_queue_qsize(q));
	if (mp_queue_put_nowait(q, "x", 1) == -EAGAIN)
		printf("put_nowait on a full queue: queue.Full\n");
	if (mp_queue_get(q, 0, &msg) == 0) /* NUL-terminated */
		printf("got: %s\n", msg.data);
	mp_bytes_destroy(&msg);
	mp_queue_free(q);
	return 0;
}
