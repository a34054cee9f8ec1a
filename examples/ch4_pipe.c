/* ch4_pipe - 4.2.1 / 004 2.3.2.2 Pipe: a sender and a receiver process on the two ends */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static mp_connection_t *pconn, *cconn;

static int sender(void *arg)
{
	const char *msgs[] = {"hello from child", "123", "{\"ok\": true}", "[1, 2, 3]"};
	struct timespec t = {0, 50000000L};

	(void)arg;
	mp_connection_free(pconn); /* the child uses only its own end */
	for (int i = 0; i < 4; i++) {
		mp_connection_send_bytes(cconn, msgs[i], strlen(msgs[i]));
		printf("sent: %s\n", msgs[i]);
		fflush(stdout);
		nanosleep(&t, NULL);
	}
	mp_connection_send_bytes(cconn, "END", 3);
	mp_connection_free(cconn);
	return 0;
}

static int receiver(void *arg)
{
	char buf[256];
	size_t len;

	(void)arg;
	mp_connection_free(cconn);
	for (;;) {
		if (mp_connection_recv_bytes_into(pconn, buf, sizeof(buf) - 1, &len) < 0) {
			printf("receive failed: %s\n", mp_last_error());
			return 1;
		}
		buf[len] = '\0';
		if (strcmp(buf, "END") == 0) {
			printf("received: the end signal\n");
			break;
		}
		printf("received: %s\n", buf);
		fflush(stdout);
	}
	mp_connection_free(pconn);
	return 0;
}

int main(void)
{
	mp_process_t *p1, *p2;

	if (mp_pipe(0, &pconn, &cconn) < 0)
		return 1;
	p1 = mp_process_new(sender, NULL, NULL);
	p2 = mp_process_new(receiver, NULL, NULL);
	mp_process_start(p1);
	mp_process_start(p2);
	mp_connection_free(pconn); /* the parent keeps no end open */
	mp_connection_free(cconn);
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	return 0;
}
