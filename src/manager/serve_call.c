/*
 * manager/serve_call.c - what every served method uses: its arguments
 * (mp__call_arg, _need, _int, _bool, _count, _slice) and the exceptions it
 * answers with (mp__exc_new, mp__exc_from_error, mp__call_raise).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "manager/srv_int.h"
#include "obj/obj_int.h"

mp_obj_t *mp__exc_new(const char *qualname, mp_obj_t *arg)
{
	mp_obj_t *args = arg ? mp_obj_tuple(1, &arg) : mp_obj_tuple(0, NULL);

	return args ? mp_obj_object("builtins", qualname, args, NULL, 0)
		    : NULL;
}

static const char *const exc_names[] = {
	"KeyError", "IndexError", "ValueError", "TypeError", "RuntimeError",
	"AttributeError", NULL,
};

mp_obj_t *mp__exc_from_error(int rc, const char *msg,
			     const mp_obj_t *key)
{
	const char *p;
	size_t i, n;

	if (msg == NULL && (p = strstr(msg = mp_last_error(), ": ")) != NULL)
		msg = p + 2; /* after the function's name */
	for (i = 0; exc_names[i] != NULL; i++) {
		n = strlen(exc_names[i]);
		if (strncmp(msg, exc_names[i], n) != 0 || msg[n] != ':')
			continue;
		msg += n + 2;
		if (i == 0 && key != NULL)
			return mp__exc_new("KeyError", mp_obj_copy(key));
		n = strlen(msg);
		if (i == 0 && n >= 2 && msg[0] == '\'' && msg[n - 1] == '\'')
			return mp__exc_new("KeyError",
					   mp_obj_strn(msg + 1, n - 2));
		return mp__exc_new(exc_names[i], mp_obj_str(msg));
	}
	return mp__exc_new(rc == -ENOMEM ? "MemoryError"
			   : rc == -ETIMEDOUT ? "TimeoutError"
			   : "RuntimeError", mp_obj_str(msg));
}

const mp_obj_t *mp__call_arg(const struct mp__call *c, size_t i,
			     const char *name)
{
	const mp_obj_t *o = NULL;

	if (mp_obj_item(c->args, (ptrdiff_t)i, &o) == 0)
		return o;
	if (name != NULL && mp_obj_dict_get_str(c->kwds, name, &o) == 0)
		return o;
	return NULL;
}

/* A required argument, or a TypeError. */
int mp__call_need(struct mp__call *c, size_t i, const char *name,
		const mp_obj_t **out)
{
	if ((*out = mp__call_arg(c, i, name)) != NULL)
		return 0;
	c->exc = mp__exc_new("TypeError", mp_obj_str("a required argument "
						      "is missing"));
	return -EINVAL;
}

int mp__call_raise(struct mp__call *c, const char *cls, const char *msg)
{
	c->exc = mp__exc_new(cls, mp_obj_str(msg));
	return -EINVAL;
}

int mp__call_raise_not_iterable(struct mp__call *c, const mp_obj_t *o)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "'%s' object is not iterable",
		 mp_obj_kind_name(mp_obj_kind(o)));
	return mp__call_raise(c, "TypeError", msg);
}

/* An int argument (default dflt when absent). */
int mp__call_int(struct mp__call *c, size_t i, const char *name,
		   int64_t dflt, int64_t *out)
{
	const mp_obj_t *o = mp__call_arg(c, i, name);

	*out = dflt;
	if (o != NULL && mp_obj_kind(o) != MP_OBJ_BOOL &&
	    mp_obj_as_int(o, out) < 0)
		return mp__call_raise(c, "TypeError", "an integer is required");
	if (o != NULL && mp_obj_kind(o) == MP_OBJ_BOOL) {
		bool b;

		mp_obj_as_bool(o, &b);
		*out = b;
	}
	return 0;
}

int mp__call_bool(struct mp__call *c, int rc)
{
	if (rc < 0)
		return rc;
	c->ret = mp_obj_bool(rc != 0);
	return 0;
}

int mp__call_count(struct mp__call *c, int rc)
{
	if (rc < 0)
		return rc;
	c->ret = mp_obj_int(rc);
	return 0;
}

/* A slice bound: None (1), an int or bool clamped to ptrdiff_t as
 * CPython's _PyEval_SliceIndex (0), or -EINVAL for another kind. */
static int slice_index(const mp_obj_t *o, ptrdiff_t *out)
{
	mp_bytes_t b = {0};
	int64_t v;
	int rc;

	if (mp_obj_kind(o) == MP_OBJ_NONE)
		return 1;
	if ((rc = mp_obj_as_int(o, &v)) == -ERANGE) { /* clamp by sign */
		if ((rc = mp_obj_as_bigint(o, &b)) < 0)
			return rc;
		v = b.len > 0 && (b.data[b.len - 1] & 0x80) ? INT64_MIN
							     : INT64_MAX;
		mp_bytes_destroy(&b);
	} else if (rc < 0) {
		return rc;
	}
	*out = (ptrdiff_t)v;
	return 0;
}

int mp__call_slice(struct mp__call *c, const mp_obj_t *o, ptrdiff_t b[3])
{
	const char *m = NULL, *q = NULL;
	const mp_obj_t *a = NULL, *x[3] = {NULL, NULL, NULL};
	size_t n = 0, i;
	int rc[3];

	if (mp_obj_object_info(o, &m, &q, &a, NULL, NULL) < 0 ||
	    strcmp(m, "builtins") != 0 || strcmp(q, "slice") != 0)
		return 0;
	if (mp_obj_len(a, &n) < 0 || n < 1 || n > 3)
		return mp__call_raise(c, "TypeError", "slice expected 1 to 3 "
				      "arguments");
	for (i = 0; i < n; i++) /* slice(stop) or slice(start, stop[, step]) */
		mp_obj_item(a, (ptrdiff_t)i, &x[n == 1 ? 1 : i]);
	/* the step first, then start and stop, as PySlice_Unpack */
	b[2] = 1;
	for (i = 3; i-- > 0;) {
		rc[i] = x[i] == NULL ? 1 : slice_index(x[i], &b[i]);
		if (rc[i] < 0)
			return mp__call_raise(c, "TypeError", "slice indices "
					      "must be integers or None or "
					      "have an __index__ method");
		if (i == 2 && rc[2] == 0 && b[2] == 0)
			return mp__call_raise(c, "ValueError", "slice step "
					      "cannot be zero");
		if (i == 2 && rc[2] == 1)
			b[2] = 1;
	}
	if (rc[0] == 1)
		b[0] = b[2] < 0 ? PTRDIFF_MAX : 0;
	if (rc[1] == 1)
		b[1] = b[2] < 0 ? PTRDIFF_MIN : PTRDIFF_MAX;
	return 1;
}
