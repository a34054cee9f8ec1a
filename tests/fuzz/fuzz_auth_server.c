/*
 * fuzz_auth_server - the listener's side of CPython's authentication
 * handshake (mp__auth_deliver, then mp__auth_answer) against a client whose
 * messages are the input.
 *
 * Input: byte 0 bit 0 set runs only the answering half (the client's
 * challenge, then its verdict: the part an input can pass, since the
 * listener's own challenge is random and no input can answer it); the rest
 * is the client's byte stream over a socket pair.  Checks: the handshake
 * never succeeds without the key being used correctly (the delivering half
 * never returns 0), and every failure leaves a reason (mp__why) for the
 * public caller's message.
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

	if (size < 1)
		return 0;
	fd = feed_socketpair(data + 1, size - 1, &peer);
	if ((c = mp_connection_new(fd, 0)) == NULL)
		abort();
	/* all input is there: the deadline is never reached */
	io.deadline = mp__now_ns() + 10000000000u;
	mp__why(0, "-"); /* no reason left yet: a failure must leave one */
	if (data[0] & 1) {
		rc = mp__auth_answer(c, key, sizeof(key) - 1, &io);
	} else {
		rc = mp__auth_deliver(c, key, sizeof(key) - 1, &io);
		if (rc == 0) /* a random challenge answered from a file */
			abort();
	}
	if (rc < 0 && mp__reason(rc) == mp_strerror(rc))
		abort();
	if (rc == -ETIMEDOUT)
		abort();
	mp_connection_free(c);
	close(peer);
	return 0;
}
