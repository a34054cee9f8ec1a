/* ch4_socket_listener - 4.7.1 Local TCP server and client, as an authenticated Listener/Client */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

static char address[128];
static const mp_auth_opts_t key = {.authkey = "secret password", .authkey_len = 15};

static int client(void *arg)
{
	const mp_auth_opts_t *k = arg;
	mp_connection_t *c = mp_client(address, k, 10);
	char buf[64];
	size_t len;

	if (c == NULL) {
		printf("client: %s\n", mp_last_error());
		return 0;
	}
	mp_connection_send_bytes(c, "hello", 5);
	if (mp_connection_recv_bytes_into(c, buf, sizeof(buf) - 1, &len) == 0) {
		buf[len] = '\0';
		printf("client received: %s\n", buf);
	}
	mp_connection_free(c);
	return 0;
}

int main(void)
{
	/* Port 0: a free port, so the demo never collides. */
	mp_listener_t *l = mp_listener_new("127.0.0.1:0", &key);
	mp_auth_opts_t wrong = {.authkey = "guess", .authkey_len = 5};
	mp_connection_t *conn;
	mp_process_t *p;
	char buf[64];
	size_t len;

	if (l == NULL) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	snprintf(address, sizeof(address), "%s", mp_listener_address(l));
	printf("server listening on %s\n", address);
	p = mp_process_new(client, (void *)&key, NULL);
	mp_process_start(p);
	if (mp_listener_accept(l, 10, &conn) == 0) {
		mp_connection_recv_bytes_into(conn, buf, sizeof(buf) - 4, &len);
		buf[len] = '\0';
		printf("server received: %s\n", buf);
		char reply[80];
		int n = snprintf(reply, sizeof(reply), "OK:%s", buf);
		mp_connection_send_bytes(conn, reply, (size_t)n);
		mp_connection_free(conn);
	}
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	/* A client with the wrong key is turned away, on both sides. */
	p = mp_process_new(client, &wrong, NULL);
	mp_process_start(p);
	if (mp_listener_accept(l, 10, &conn) == MP_EAUTH)
		printf("server: %s\n", mp_last_error());
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	mp_listener_free(l);
	return 0;
}
