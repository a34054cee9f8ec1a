/*
 * fuzz_auth_client - the client's side of CPython's authentication
 * handshake (mp__auth_answer, then mp__auth_deliver, as mp_client runs
 * them) against a listener whose messages are the input: its challenge,
 * its verdict on our answer, then its answer to our (random) challenge,
 * which no input can get right.
 *
 * Checks: the handshake never succeeds (the second half's challenge is
 * random), never times out (all input is there), and every failure sets a
 * message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connection/conn_int.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "conn_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "fuzz-key";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp__io io = {0, 10};
	mp_connection_t *c;
	int fd, peer, rc;

	fd = feed_socketpair(data, size, &peer);
	if ((c = mp_connection_new(fd, 0)) == NULL)
		abort();
	io.deadline = mp__now_ns() + 10000000000u;
	mp__why(0, "-"); /* no reason left yet: a failure must leave one */
	rc = mp__auth_answer(c, key, sizeof(key) - 1, &io);
	if (rc == 0)
		rc = mp__auth_deliver(c, key, sizeof(key) - 1, &io);
	if (rc == 0 || rc == -ETIMEDOUT || mp__reason(rc) == mp_strerror(rc))
		abort();
	mp_connection_free(c);
	close(peer);
	return 0;
}
