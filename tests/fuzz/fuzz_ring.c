/*
 * fuzz_ring - the input is what other processes left in a queue's shared
 * ring: its data bytes (record headers and payloads) and its tail, taken
 * by the consumer side (mp__ring_get) until it finds nothing more.
 *
 * Input: byte 0: bit 0 chooses the ring's size (4 or 8 KiB), bit 1 a
 * caller's buffer (of exactly 64 bytes + 4 KiB, so a write past it is
 * caught) or a library-allocated one, bits 2-3 max_message (none, 64,
 * 1000, 1 MiB); byte 1: head's lap; bytes 2-3: head's offset (8-aligned);
 * bytes 4-11: tail (a peer writes it: any value); the rest: the ring's data
 * from offset 0 (zeros after).  The ring is malloc'ed, so that a read past
 * its data is caught; it is closed, so that an empty ring returns at once.
 * Checks: every get returns 0 with a message no longer than the bytes head
 * moved past, -EMSGSIZE leaving the message (found again, at the same
 * head, by the next get), -EPROTO leaving head at tail (8-
 * aligned, never behind), or the end (MP_ECLOSED); head never goes round
 * the ring twice (but for -EPROTO's jump to tail); no single allocation
 * above what a ring holds plus a quarter (a peer's announced total never
 * makes us allocate: see ring.h's Trust).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ring.h"
#include "mproc/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t largest; /* the largest allocation since the last reset */

static void *count_malloc(size_t n)
{
	largest = n > largest ? n : largest;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n)
{
	largest = n > largest ? n : largest;
	return realloc(p, n);
}

static void *count_calloc(size_t k, size_t n)
{
	largest = k * n > largest ? k * n : largest;
	return calloc(k, n);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxmsg[4] = {0, 64, 1000, 1 << 20};
	static bool init;
	struct mp__ring *r;
	uint64_t cap, head, tail;
	size_t len;
	bool mine, dropped = false;
	unsigned char *buf = NULL;
	void *out;
	int rc;

	if (!init) {
		mp_replace_allocator(count_malloc, count_realloc, count_calloc,
				     free);
		init = true;
	}
	if (size < 12)
		return 0;
	cap = data[0] & 1 ? 8192 : 4096;
	mine = data[0] & 2;
	r = aligned_alloc(64, sizeof(*r) + cap);
	if (r == NULL)
		abort();
	memset(r, 0, sizeof(*r) + cap);
	r->cap = cap;
	r->max_message = maxmsg[data[0] >> 2 & 3];
	r->closed = 1;
	head = (uint64_t)data[1] << __builtin_ctzll(cap) |
	       ((uint64_t)(data[2] | data[3] << 8) & (cap - 1) & ~(uint64_t)7);
	tail = le64(data + 4);
	r->head = head;
	r->tail = tail;
	r->ptail = r->phead = head;
	memcpy(r->data, data + 12, size - 12 < cap ? size - 12 : cap);
	if (mine && (buf = malloc(64 + 4096)) == NULL)
		abort();
	largest = 0;
	for (int i = 0; i < 4096; i++) {
		uint64_t before = r->head;

		out = mine ? buf : NULL;
		len = 0;
		rc = mp__ring_get(r, &out, mine ? 64 + 4096 : 0, &len, 0);
		if (rc == 0) {
			if (len > r->head - before || (mine && out != buf))
				abort();
			if (!mine)
				mp__free(out);
		} else if (rc == -EMSGSIZE) {
			size_t was = len;

			/* it stays (after what was skipped before it): the
			 * next get finds it again, where it was */
			before = r->head;
			if (!mine || len <= 64 + 4096 ||
			    mp__ring_get(r, &out, 64 + 4096, &len, 0) != -EMSGSIZE ||
			    len != was || r->head != before)
				abort();
			break;
		} else if (rc == -EPROTO) {
			if (r->head & 7 || (int64_t)(r->head - before) < 0)
				abort();
			dropped = true; /* head went to the peer's tail */
		} else if (rc == MP_ECLOSED) {
			break;
		} else {
			abort(); /* -ENOMEM below the malloc limit, or else */
		}
		if (!dropped && r->head - head > cap) /* never a second lap */
			abort();
	}
	if (largest > cap + cap / 4 + 1)
		abort();
	free(buf);
	free(r);
	return 0;
}
