/* mptest_obj.h - helpers of the tests of values (test_obj.c,
 * test_manager.c): a value's repr, and short constructors. */
#ifndef MPTEST_OBJ_H
#define MPTEST_OBJ_H

#include "mptest.h"
#include "mproc/obj.h"

/* repr(o), in one of 4 static buffers (so that 4 may be compared). */
static inline char *repr_of(const mp_obj_t *o)
{
	static char buf[4][4096];
	static int k;
	char *b = buf[k++ % 4];
	mp_bytes_t r;

	mpt_assert_ok(mp_obj_repr(o, &r));
	snprintf(b, 4096, "%s", r.data);
	mp_bytes_destroy(&r);
	return b;
}

#define assert_repr(o, want) assert_string_equal(repr_of(o), (want))

static inline mp_obj_t *S(const char *s)
{
	return mp_obj_str(s);
}

static inline mp_obj_t *I(int64_t v)
{
	return mp_obj_int(v);
}

#endif
