/*
 * manager/serve_call.c - what every served method uses: its arguments
 * (mpi_call_arg, _need, _int, _bool, _count) and the exceptions it
 * answers with (mpi_exc_new, mpi_exc_from_error, mpi_call_raise).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "manager/srv_int.h"
#include "obj/obj_int.h"

mp_obj_t *mpi_exc_new(const char *qualname, mp_obj_t *arg)
{
	mp_obj_t *args = arg ? mp_obj_tuple(1, &arg) : mp_obj_tuple(0, NULL);

	return args ? mp_obj_object("builtins", qualname, args, NULL, 0)
		    : NULL;
}

static const char *const exc_names[] = {
	"KeyError", "IndexError", "ValueError", "TypeError", "RuntimeError",
	"AttributeError", NULL,
};

mp_obj_t *mpi_exc_from_error(int rc, const char *msg,
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
			return mpi_exc_new("KeyError", mp_obj_copy(key));
		n = strlen(msg);
		if (i == 0 && n >= 2 && msg[0] == '\'' && msg[n - 1] == '\'')
			return mpi_exc_new("KeyError",
					   mp_obj_strn(msg + 1, n - 2));
		return mpi_exc_new(exc_names[i], mp_obj_str(msg));
	}
	return mpi_exc_new(rc == -ENOMEM ? "MemoryError"
			   : rc == -ETIMEDOUT ? "TimeoutError"
			   : "RuntimeError", mp_obj_str(msg));
}

const mp_obj_t *mpi_call_arg(const struct mpi_call *c, size_t i,
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
int mpi_call_need(struct mpi_call *c, size_t i, const char *name,
		const mp_obj_t **out)
{
	if ((*out = mpi_call_arg(c, i, name)) != NULL)
		return 0;
	c->exc = mpi_exc_new("TypeError", mp_obj_str("a required argument "
						      "is missing"));
	return -EINVAL;
}

int mpi_call_raise(struct mpi_call *c, const char *cls, const char *msg)
{
	c->exc = mpi_exc_new(cls, mp_obj_str(msg));
	return -EINVAL;
}

int mpi_call_raise_not_iterable(struct mpi_call *c, const mp_obj_t *o)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "'%s' object is not iterable",
		 mp_obj_kind_name(mp_obj_kind(o)));
	return mpi_call_raise(c, "TypeError", msg);
}

/* An int argument (default dflt when absent). */
int mpi_call_int(struct mpi_call *c, size_t i, const char *name,
		   int64_t dflt, int64_t *out)
{
	const mp_obj_t *o = mpi_call_arg(c, i, name);

	*out = dflt;
	if (o != NULL && mp_obj_kind(o) != MP_OBJ_BOOL &&
	    mp_obj_as_int(o, out) < 0)
		return mpi_call_raise(c, "TypeError", "an integer is required");
	if (o != NULL && mp_obj_kind(o) == MP_OBJ_BOOL) {
		bool b;

		mp_obj_as_bool(o, &b);
		*out = b;
	}
	return 0;
}

int mpi_call_bool(struct mpi_call *c, int rc)
{
	if (rc < 0)
		return rc;
	c->ret = mp_obj_bool(rc != 0);
	return 0;
}

int mpi_call_count(struct mpi_call *c, int rc)
{
	if (rc < 0)
		return rc;
	c->ret = mp_obj_int(rc);
	return 0;
}
