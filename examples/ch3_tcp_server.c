/* ch3_tcp_server - 002 2.2.4 A concurrent TCP server: one process per connection */
#include <arpa/inet.h>
#include <ctype.h>
#include <mproc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CLIENTS = 3, MESSAGES = 3 };

static int port;

/* Handler process: echo each message back in upper case until EOF. */
static int work(void *arg)
{
	int conn = (int)(long)arg;
	char buf[1024];
	ssize_t n;

	while ((n = recv(conn, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		printf("[handler %d] message from the client: %s\n", (int)getpid(), buf);
		fflush(stdout);
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (send(conn, buf, (size_t)n, 0) != n)
			break;
	}
	close(conn);
	return n < 0;
}

/* Client process: connect, send a few lines, read each echo. */
static int client(void *arg)
{
	int id = (int)(long)arg, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char msg[64], reply[64];

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	for (int m = 0; m < MESSAGES; m++) {
		int len = snprintf(msg, sizeof(msg), "hello %d from client %d", m, id);
		ssize_t got = 0, r;

		if (send(fd, msg, (size_t)len, 0) != len)
			return 1;
		while (got < len && (r = recv(fd, reply + got, (size_t)(len - got), 0)) > 0)
			got += r;
		reply[got] = '\0';
		printf("[client %d] the server replied: %s\n", id, reply);
		fflush(stdout);
	}
	close(fd);
	return 0;
}

int main(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	mp_process_t *clients[CLIENTS], *handlers[CLIENTS];
	int server, one = 1, i, code, bad = 0;

	server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Port 0: the kernel picks a free port, so the demo never collides. */
	if (server < 0 || bind(server, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(server, 5) < 0 ||
	    getsockname(server, (struct sockaddr *)&sa, &len) < 0) {
		perror("server");
		return 1;
	}
	port = ntohs(sa.sin_port);
	printf("server listening on 127.0.0.1:%d\n", port);
	for (i = 0; i < CLIENTS; i++) {
		clients[i] = mp_process_new(client, (void *)(long)(i + 1), NULL);
		if (clients[i] == NULL || mp_process_start(clients[i]) < 0)
			return 1;
	}
	/* The server: accept a connection, hand it to a new process. */
	for (i = 0; i < CLIENTS; i++) {
		int conn = accept4(server, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0)
			return 1;
		handlers[i] = mp_process_new(work, (void *)(long)conn, NULL);
		if (handlers[i] == NULL || mp_process_start(handlers[i]) < 0)
			return 1;
		close(conn); /* the handler has its own copy */
		printf("server: connection %d handed to process %d\n", i + 1,
		       (int)mp_process_pid(handlers[i]));
	}
	close(server);
	for (i = 0; i < CLIENTS; i++) {
		mp_process_join(clients[i], 10);
		mp_process_join(handlers[i], 10);
		bad |= mp_process_exitcode(clients[i], &code) != 1 || code != 0;
		bad |= mp_process_exitcode(handlers[i], &code) != 1 || code != 0;
		mp_process_free(clients[i]);
		mp_process_free(handlers[i]);
	}
	printf("server: all %d clients served %s\n", CLIENTS, bad ? "WITH ERRORS" : "");
	return bad;
}
