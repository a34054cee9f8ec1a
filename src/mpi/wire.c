/*
 * mpi/wire.c - encoding and checking the messages between ranks (wire.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/wire.h"

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int reserve(struct mpw_buf *b, size_t more)
{
	size_t need = b->len + more, cap = b->cap ? b->cap : 4096;
	char *p;

	if (need < b->len)
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap = cap * 2 > cap ? cap * 2 : need;
	if ((p = realloc(b->p, cap)) == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int mpw_begin(struct mpw_buf *b, uint32_t type)
{
	struct mpw_hdr h = {MPW_MAGIC, type, 0, 0, 0};

	b->len = 0;
	b->count = 0;
	if (reserve(b, sizeof(h)) < 0)
		return -ENOMEM;
	memcpy(b->p, &h, sizeof(h));
	b->len = sizeof(h);
	return 0;
}

int mpw_add(struct mpw_buf *b, const struct mpw_rec *r, const void *data)
{
	size_t n = pad8(r->len);

	if (r->len > SIZE_MAX / 2 || reserve(b, sizeof(*r) + n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, r, sizeof(*r));
	if (r->len)
		memcpy(b->p + b->len + sizeof(*r), data, r->len);
	memset(b->p + b->len + sizeof(*r) + r->len, 0, n - r->len);
	b->len += sizeof(*r) + n;
	b->count++;
	return 0;
}

void mpw_finish(struct mpw_buf *b)
{
	struct mpw_hdr h;

	memcpy(&h, b->p, sizeof(h));
	h.count = b->count;
	h.total = b->len;
	memcpy(b->p, &h, sizeof(h));
}

void mpw_free(struct mpw_buf *b)
{
	free(b->p);
	*b = (struct mpw_buf){0};
}

int mpw_decode(const void *buf, size_t len, uint32_t *type,
	       int (*fn)(void *arg, const struct mpw_rec *r, const char *data),
	       void *arg, const char **why)
{
	const char *p = buf;
	struct mpw_hdr h;
	size_t off;
	int pass, rc;

	if (len < sizeof(h)) {
		*why = "a message shorter than its header";
		return -EPROTO;
	}
	memcpy(&h, p, sizeof(h));
	if (h.magic != MPW_MAGIC || h.type < MPW_TASKS || h.type > MPW_BYE) {
		*why = "a message with a bad magic number or type";
		return -EPROTO;
	}
	if (h.total != len) {
		*why = "a message whose length is not what its header says";
		return -EPROTO;
	}
	*type = h.type;
	/* Pass 0 checks every record, pass 1 hands them out. */
	for (pass = 0; pass < 2; pass++) {
		off = sizeof(h);
		for (uint32_t i = 0; i < h.count; i++) {
			struct mpw_rec r;

			if (len - off < sizeof(r)) {
				*why = "a record past the end of its message";
				return -EPROTO;
			}
			memcpy(&r, p + off, sizeof(r));
			off += sizeof(r);
			if (r.len > len - off || pad8(r.len) > len - off) {
				*why = "record data past the end of its message";
				return -EPROTO;
			}
			if (pass == 1 && (rc = fn(arg, &r, p + off)) != 0)
				return rc;
			off += pad8(r.len);
		}
		if (off != len) {
			*why = "bytes after the last record of a message";
			return -EPROTO;
		}
	}
	return 0;
}
