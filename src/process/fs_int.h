/*
 * process/fs_int.h - what the fork server (fs_server.c) and its client
 * (forkserver.c) share: the messages besides the request (request.h) and
 * fd passing.  Internal.
 */
#ifndef MPROC_PROCESS_FS_INT_H
#define MPROC_PROCESS_FS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "process/request.h"

/* stdin, stdout, stderr, exit pipe, report, arg, then the shared
 * objects' */
#define MAX_FDS (6 + REQ_MAX_SHARED)

/* The reply to a request (no fds come with it). */
struct fs_reply {
	int32_t err;  /* 0 or a negative code */
	int32_t pid;  /* the child, a child of the program */
	int32_t reap; /* 0, or a spare that died untaken: reap it */
};

/*
 * The program's last message (mp__forkserver_stop): whoever reads it
 * replies and exits, a spare with its pid in .pid (the program reaps it).
 */
#define FS_QUIT "mp-forkserver-quit"

/* Close the n fds (those >= 0), a run of consecutive numbers at once. */
void mp__fs_close_fds(const int *fds, int n);
/*
 * Move *fd off 0-2 (close-on-exec): the fds a start makes (a closed stdio
 * fd of the program's would otherwise be taken by them and go to the
 * child as its stdio), the server's own, a received fd in the child's
 * way.  0, or a code with a reason (*fd is then closed and -1).
 */
int mp__fs_off_stdio(int *fd);

/* Send buf with fds (may be 0 of them): 0 or -errno. */
int mp__fs_send_fds(int sock, const void *buf, size_t len, const int *fds,
		    int nfds);
/*
 * Receive one message into buf (cap bytes) and up to MAX_FDS fds (closed
 * on exec if cloexec), and the sender's credentials if cred != NULL.
 * The length, 0 at EOF, or -errno; -EMSGSIZE when the message or its fds
 * were cut (the fds that came are then closed).  *nfds: how many fds came.
 */
ssize_t mp__fs_recv_fds(int sock, void *buf, size_t cap, int *fds, int *nfds,
			struct ucred *cred, bool *has_cred, bool cloexec);

/* The server's life, in the child mp_init forked: never returns. */
__attribute__((noreturn)) void mp__fs_server_main(int sock, pid_t parent);

#endif
