/*
 * fuzz_pickle.c - the pickle reader (mp_pickle_loads), a peer's bytes.
 * Besides the sanitizers (no crash, no leak, no allocation far beyond the
 * input), the harness checks what the codec promises: a value that loads
 * is written back in protocols 2, 3 and 4, each of which loads again to
 * the very same value (mpi_obj_identical: kinds, order, float bits) and is
 * written again to the very same bytes, and its repr can be made.
 * Protocol 2 names some OSError subclasses as OSError, as CPython does
 * (FileNotFoundError becomes OSError): there only the bytes must agree.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/obj_int.h"
#include "mproc/manager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_obj_t *o = NULL, *back;
	mp_bytes_t p, r, again;
	int rc, proto;

	rc = mp_pickle_loads(data, size, &o);
	if (rc < 0) {
		check(o == NULL);
		check(rc == -EPROTO || rc == -EPERM || rc == -ENOTSUP ||
		      rc == -EILSEQ || rc == -E2BIG);
		return 0;
	}
	check(mp_obj_repr(o, &r) == 0);
	mp_bytes_destroy(&r);
	for (proto = 2; proto <= 4; proto++) {
		rc = mp_pickle_dumps(o, proto, &p);
		if (rc == -E2BIG && proto < 4)
			continue; /* a set at the depth limit (see dumps) */
		check(rc == 0);
		back = NULL;
		rc = mp_pickle_loads(p.data, p.len, &back);
		check(rc == 0);
		check(proto == 2 || mpi_obj_identical(o, back));
		check(mp_pickle_dumps(back, proto, &again) == 0);
		check(again.len == p.len && memcmp(again.data, p.data, p.len) == 0);
		mp_bytes_destroy(&again);
		mp_obj_free(back);
		mp_bytes_destroy(&p);
	}
	mp_obj_free(o);
	return 0;
}
