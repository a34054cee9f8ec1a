/*
 * manager/remote_reply.c - a connected manager's replies (remote.c sends
 * the requests): CPython's (kind, value) pickle to a value, or to a code
 * and a reason from the remote exception or traceback.
 */
#include <errno.h>
#include <string.h>

#include "internal/error.h"
#include "manager/remote_int.h"
#include "obj/obj_int.h"

/* The text of a remote exception: CPython's str(e). */
static int exc_code(const mp_obj_t *e)
{
	static const struct {
		const char *name;
		int code;
	} map[] = {
		{"KeyError", -ENOENT}, {"ValueError", -ENOENT},
		{"AttributeError", -ENOENT}, {"IndexError", -ERANGE},
		{"TypeError", -EINVAL}, {"RuntimeError", -EBUSY},
		{"NotImplementedError", -ENOTSUP}, {"MemoryError", -ENOMEM},
		{"StopIteration", -ENODATA},
		{"Full", -EAGAIN}, {"Empty", -EAGAIN},
	};
	const mp_obj_t *args = NULL, *a0 = NULL;
	const char *name = "?";
	const mp_bytes_t *s;
	mp_bytes_t r = {0};
	size_t i, n = 0;
	int code = -EREMOTEIO, rc;

	mp_obj_object_info(e, NULL, &name, &args, NULL, NULL);
	for (i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(name, map[i].name) == 0)
			code = map[i].code;
	if (args != NULL)
		mp_obj_len(args, &n);
	if (n == 0)
		return mp__why(code, "%s", name); /* queue.Empty() */
	if (n == 1)
		mp_obj_item(args, 0, &a0);
	if (a0 != NULL && strcmp(name, "KeyError") != 0 &&
	    mp_obj_as_str(a0, &s) == 0)
		return mp__why(code, "%s: %s", name, s->data);
	rc = mp_obj_repr(a0 ? a0 : e, &r);
	code = mp__why(code, "%s: %s", name, rc == 0 ? r.data : "?");
	mp_bytes_destroy(&r);
	return code;
}

/* The last line of a traceback's text. */
static int traceback_code(const char *kind, const mp_obj_t *v)
{
	const mp_bytes_t *s;
	const char *t, *end;
	size_t n;

	if (mp_obj_as_str(v, &s) < 0)
		return mp__why(-EREMOTEIO, "%s (without text)", kind);
	t = s->data;
	n = s->len;
	while (n > 0 && t[n - 1] == '\n')
		n--;
	end = t + n;
	for (t = end; t > s->data && t[-1] != '\n'; t--)
		;
	return mp__why(-EREMOTEIO, "%s: %.*s", kind == NULL ? "" : kind,
		       (int)(end - t), t);
}

int mp__rreply_decode(const mp_bytes_t *b, bool proxy, mp_obj_t **out)
{
	const mp_obj_t *k, *v;
	const mp_bytes_t *kind;
	mp_obj_t *r = NULL;
	size_t n = 0;
	int rc;

	if ((rc = mp__pickle_loads(b->data, b->len, &r)) < 0)
		return rc;
	if (mp_obj_kind(r) != MP_OBJ_TUPLE || mp_obj_len(r, &n) < 0 ||
	    n != 2 || mp_obj_item(r, 0, &k) < 0 || mp_obj_item(r, 1, &v) < 0 ||
	    mp_obj_as_str(k, &kind) < 0) {
		mp_obj_free(r);
		return mp__why(-EPROTO, "a reply is (kind, value)");
	}
	if (strcmp(kind->data, "#RETURN") == 0 ||
	    (proxy && strcmp(kind->data, "#PROXY") == 0)) {
		rc = 0;
		if (out != NULL) {
			/* take the value out: a None in its place */
			mp_obj_t *none = mp_obj_none();

			if (none == NULL)
				rc = -ENOMEM;
			else {
				*out = r->u.c.v[1];
				r->u.c.v[1] = none;
			}
		}
	} else if (strcmp(kind->data, "#ERROR") == 0 &&
		   mp_obj_kind(v) == MP_OBJ_OBJECT) {
		rc = exc_code(v);
	} else {
		rc = traceback_code(kind->data, v);
	}
	mp_obj_free(r);
	return rc;
}
