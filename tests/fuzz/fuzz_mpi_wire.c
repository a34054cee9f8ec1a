/*
 * fuzz_mpi_wire.c - the decoder of the messages between MPI ranks
 * (src/mpi/wire.h: what rank 0 and the worker ranks receive).  Besides the
 * sanitizers, it checks what mpw_decode promises: every record's data
 * inside the message, records handed out only when the whole message is
 * valid, and that re-encoding the records gives a message that decodes to
 * the same records.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

struct seen {
	const char *buf;
	size_t len, n;
	struct mpw_buf again;
	const struct mpw_buf *cmp;
	size_t off;
};

static int on_rec(void *arg, const struct mpw_rec *r, const char *d)
{
	struct seen *s = arg;

	check(d >= s->buf && r->len <= s->len && d + r->len <= s->buf + s->len);
	s->n++;
	if (s->cmp == NULL) {
		check(mpw_add(&s->again, r, d) == 0);
	} else { /* the second decode: the same records */
		struct mpw_rec o;

		memcpy(&o, s->cmp->p + s->off, sizeof(o));
		check(memcmp(&o, r, sizeof(o)) == 0);
		check(memcmp(s->cmp->p + s->off + sizeof(o), d, r->len) == 0);
		s->off += sizeof(o) + ((r->len + 7) & ~(size_t)7);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: reads past it are caught. */
	char *buf = malloc(size ? size : 1);
	struct seen s = {buf, size, 0, {0}, NULL, 0};
	const char *why = NULL;
	uint32_t type = 0;
	int rc;

	memcpy(buf, data, size);
	check(mpw_begin(&s.again, MPW_TASKS) == 0);
	rc = mpw_decode(buf, size, &type, on_rec, &s, &why);
	if (rc != 0) {
		check(rc == -EPROTO && why != NULL && s.n == 0);
	} else {
		struct seen t = {s.again.p, s.again.len, 0, {0}, &s.again,
				 sizeof(struct mpw_hdr)};
		uint32_t type2;

		check(type >= MPW_TASKS && type <= MPW_BYE);
		mpw_finish(&s.again);
		t.buf = s.again.p;
		t.len = s.again.len;
		check(mpw_decode(s.again.p, s.again.len, &type2, on_rec, &t,
				 &why) == 0);
		check(t.n == s.n);
	}
	mpw_free(&s.again);
	free(buf);
	return 0;
}
