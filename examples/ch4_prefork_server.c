/* ch4_prefork_server - fd passing: a pre-forked TCP server hands accepted sockets to its workers */
#include <arpa/inet.h>
#include <ctype.h>
#include <mproc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { WORKERS = 2, CLIENTS = 4 };

static mp_connection_t *to_worker[WORKERS], *worker_end[WORKERS];
static int port;

/* A worker: receive sockets from the acceptor, answer each client. */
static int worker(void *arg)
{
	int w = (int)(long)arg, fd;
	char buf[128];
	ssize_t n;

	/* Keep only our own end: else EOF would never come. */
	for (int i = 0; i < WORKERS; i++) {
		mp_connection_free(to_worker[i]);
		if (i != w)
			mp_connection_free(worker_end[i]);
	}
	while (mp_connection_recv_fd(worker_end[w], &fd) == 0) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				buf[i] = (char)toupper((unsigned char)buf[i]);
			send(fd, buf, (size_t)n, 0);
			printf("worker %d (pid %d) served a client\n", w, (int)getpid());
			fflush(stdout);
		}
		close(fd);
	}
	return 0;
}

static int client(void *arg)
{
	int id = (int)(long)arg, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char msg[32], reply[32] = "";
	int n = snprintf(msg, sizeof(msg), "hello %d", id);

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, msg, (size_t)n, 0) != n || recv(fd, reply, sizeof(reply) - 1, 0) <= 0)
		return 1;
	printf("client %d got: %s\n", id, reply);
	close(fd);
	return 0;
}

int main(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	mp_process_t *workers[WORKERS], *clients[CLIENTS];
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), i, bad = 0, code;

	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return 1;
	port = ntohs(sa.sin_port);
	for (i = 0; i < WORKERS; i++)
		if (mp_pipe(0, &to_worker[i], &worker_end[i]) < 0)
			return 1;
	for (i = 0; i < WORKERS; i++) { /* pre-fork the workers */
		workers[i] = mp_process_new(worker, (void *)(long)i, NULL);
		mp_process_start(workers[i]);
	}
	for (i = 0; i < WORKERS; i++)
		mp_connection_free(worker_end[i]);
	for (i = 0; i < CLIENTS; i++) {
		clients[i] = mp_process_new(client, (void *)(long)i, NULL);
		mp_process_start(clients[i]);
	}
	for (i = 0; i < CLIENTS; i++) { /* accept, hand over round-robin */
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 || mp_connection_send_fd(to_worker[i % WORKERS], fd) < 0)
			return 1;
		close(fd);
	}
	for (i = 0; i < CLIENTS; i++) {
		mp_process_join(clients[i], 10);
		bad |= mp_process_exitcode(clients[i], &code) != 1 || code != 0;
		mp_process_free(clients[i]);
	}
	for (i = 0; i < WORKERS; i++) {
		mp_connection_free(to_worker[i]); /* EOF: the worker ends */
		mp_process_join(workers[i], 10);
		mp_process_free(workers[i]);
	}
	close(lfd);
	printf("all %d clients served by %d pre-forked workers%s\n", CLIENTS, WORKERS,
	       bad ? " (WITH ERRORS)" : "");
	return bad;
}
