/*
 * fuzz_pickle.c - the pickle reader (mp_pickle_loads), a peer's bytes.
 * Besides the sanitizers (no crash, no leak, no allocation far beyond the
 * input), the harness checks what the codec promises: a value that loads
 * is written back in protocols 2, 3 and 4, each of which loads again to
 * the very same value (mp__obj_identical: kinds, order, float bits) and is
 * written again to the very same bytes, and its repr can be made.
 * Protocol 2 names some OSError subclasses as OSError, as CPython does
 * (FileNotFoundError becomes OSError): there only the bytes must agree.
 * The manager's small-value reader (mp__unpickle_small) must agree with
 * the general one on every input it takes, and its writer
 * (mp__pickle_small) with mp_pickle_dumps on every value it takes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/mgr_int.h"
#include "obj/obj_int.h"
#include "mproc/manager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The small reader, where it answers, gives what the general one gives. */
static void check_small_read(const uint8_t *data, size_t size, int rc,
			     const mp_obj_t *o)
{
	mp_obj_t *s = NULL;
	int src = mp__unpickle_small(data, size, &s);

	check(src == 0 || src == 1);
	if (src == 1) {
		check(rc == 0 && mp__obj_identical(o, s));
		mp_obj_free(s);
	}
}

/* The small writer, where it answers, writes dumps's protocol 4 bytes. */
static void check_small_write(const mp_obj_t *o)
{
	unsigned char buf[MP__SMALL_PICKLE];
	const unsigned char *sp;
	mp_bytes_t p;
	size_t n;

	if ((sp = mp__pickle_small(o, buf, &n)) == NULL)
		return;
	check(mp_pickle_dumps(o, 4, &p) == 0);
	check(p.len == n && memcmp(p.data, sp, n) == 0);
	mp_bytes_destroy(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_obj_t *o = NULL, *back;
	mp_bytes_t p, r, again;
	int rc, proto;

	rc = mp_pickle_loads(data, size, &o);
	check_small_read(data, size, rc, o);
	if (rc < 0) {
		check(o == NULL);
		check(rc == -EPROTO || rc == -EPERM || rc == -ENOTSUP ||
		      rc == -EILSEQ || rc == -E2BIG);
		return 0;
	}
	check(mp_obj_repr(o, &r) == 0);
	mp_bytes_destroy(&r);
	check_small_write(o);
	for (proto = 2; proto <= 4; proto++) {
		rc = mp_pickle_dumps(o, proto, &p);
		if (rc == -E2BIG && proto < 4)
			continue; /* a set at the depth limit (see dumps) */
		check(rc == 0);
		back = NULL;
		rc = mp_pickle_loads(p.data, p.len, &back);
		check(rc == 0);
		check(proto == 2 || mp__obj_identical(o, back));
		check(mp_pickle_dumps(back, proto, &again) == 0);
		check(again.len == p.len && memcmp(again.data, p.data, p.len) == 0);
		mp_bytes_destroy(&again);
		mp_obj_free(back);
		mp_bytes_destroy(&p);
	}
	mp_obj_free(o);
	return 0;
}
