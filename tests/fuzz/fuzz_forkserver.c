/*
 * fuzz_forkserver.c - the fork server's request check (mp__fs_validate,
 * over the decoder of process/request.h): what a peer on the server's
 * socket controls.  The first byte is the number of fds that came with the
 * message (0..6 + REQ_MAX_SHARED), the rest the message, copied to a buffer of exactly its
 * size (so ASan sees any read past it).  Besides the sanitizers, the
 * harness checks what the decoder promises for what it accepts: strings
 * and arg inside the message and NUL-terminated, the fd count the flags
 * say, and that encoding the decoded request gives back the same bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mproc/process.h"
#include "process/process_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int target(void *arg)
{
	(void)arg;
	return 0;
}
MP_TARGET(target);

static void check(int ok)
{
	if (!ok)
		abort();
}

static int inside(const void *p, size_t n, const char *buf, size_t len)
{
	const char *c = p;

	return c >= buf && n <= len && c - buf <= (ptrdiff_t)(len - n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ucred cred = {.pid = 4242, .uid = getuid(), .gid = getgid()};
	struct mp__req_src src;
	struct mp__req r;
	mp_target_fn fn = NULL;
	char *buf, *again;
	size_t len, n;
	int nfds;

	if (size < 1)
		return 0;
	nfds = data[0] % (7 + REQ_MAX_SHARED);
	len = size - 1;
	buf = malloc(len ? len : 1);
	check(buf != NULL);
	memcpy(buf, data + 1, len);
	if (mp__fs_validate(buf, len, nfds, &cred, 4242, &r, &fn) == 0) {
		check(fn == target);
		check(nfds == mp__req_nfds(&r));
		check(inside(r.name, strlen(r.name) + 1, buf, len));
		check(inside(r.ident, strlen(r.ident) + 1, buf, len));
		check(inside(r.target, strlen(r.target) + 1, buf, len));
		if (r.arg != NULL)
			check(inside(r.arg, r.arg_len + 1, buf, len) &&
			      r.arg[r.arg_len] == '\0');
		check(r.ppid == 4242);
		/* Round trip: the same request encodes to the same bytes. */
		memset(&src, 0, sizeof(src));
		memcpy(&src.h, buf, sizeof(src.h));
		src.name = r.name;
		src.ident = r.ident;
		src.target = r.target;
		src.arg = r.arg;
		int cpus[r.naffinity + 1], sfds[r.nshared_fds + 1];
		struct req_shared ents[r.nshared + 1];

		for (size_t i = 0; i < r.nshared_fds; i++)
			sfds[i] = mp__req_shared_fd(&r, i);
		for (size_t i = 0; i < r.nshared; i++) {
			ents[i] = mp__req_shared(&r, i);
			check(ents[i].kind >= MP_SHARED_LOCK &&
			      ents[i].kind <= MP_SHARED_ARRAYPROXY);
			/* in a manager's region: one part and its address */
			check(!(ents[i].flags & REQ_SH_REGION) ||
			      (ents[i].fd[1] == -1 && ents[i].off[1] != 0 &&
			       ents[i].off[1] % 4096 == 0));
			check(ents[i].kind < MP_SHARED_DICTPROXY ||
			      (ents[i].flags & REQ_SH_REGION));
			/* a Connection's read-ahead: a memfd of its own and
			 * a bounded count */
			check(!(ents[i].flags & REQ_CONN_BYTES) ||
			      (ents[i].kind == MP_SHARED_CONNECTION &&
			       ents[i].fd[1] >= 0 &&
			       (size_t)ents[i].fd[1] < r.nshared_fds &&
			       ents[i].fd[1] != ents[i].fd[0] &&
			       ents[i].off[1] > 0 &&
			       ents[i].off[1] <= REQ_MAX_CONN_BYTES));
			check(ents[i].fd[0] >= 0 &&
			      (size_t)ents[i].fd[0] < r.nshared_fds);
		}
		src.shared_fds = sfds;
		src.shared = ents;

		for (size_t i = 0; i < r.naffinity; i++)
			cpus[i] = mp__req_cpu(&r, i);
		src.affinity = cpus;
		{
			n = mp__req_size(&src);
			check(n == len);
			again = malloc(n);
			check(again != NULL);
			mp__req_encode(&src, again);
			check(memcmp(again, buf, n) == 0);
			free(again);
		}
	}
	/* Without credentials, or from another pid: always refused. */
	check(mp__fs_validate(buf, len, nfds, NULL, 4242, &r, &fn) == -EPERM);
	cred.pid = 4243;
	check(mp__fs_validate(buf, len, nfds, &cred, 4242, &r, &fn) == -EPERM);
	free(buf);
	return 0;
}
