/*
 * shm/value.c - mp_shared_alloc, Value and Array.  A Value or Array is one
 * block of the shared arena: a header (type, length, RLock) then the data.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal/arena.h"
#include "internal/error.h"
#include "mproc/shm.h"
#include "sync/sync_int.h"

struct mp_array {
	char typecode;
	bool locked;
	size_t elem, len;
	mp_rlock_t lock;
	_Alignas(16) unsigned char data[];
};

/* A Value is an Array of one element; the two types keep calls checked. */
struct mp_value {
	struct mp_array a;
};

void *mp_shared_alloc(size_t size)
{
	void *p = NULL;
	int rc;

	if (size == 0) {
		MP__ERR(-EINVAL, "size 0: allocate at least one byte");
		return NULL;
	}
	if ((rc = mp__shared_new(size, &p)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	return p;
}

void mp_shared_free(void *p)
{
	mp__arena_free(p);
}

size_t mp_typecode_size(char typecode)
{
	switch (typecode) {
	case 'c':
	case 'b':
	case 'B':
		return 1;
	case 'h':
	case 'H':
		return sizeof(short);
	case 'i':
	case 'I':
		return sizeof(int);
	case 'l':
	case 'L':
		return sizeof(long);
	case 'q':
	case 'Q':
		return sizeof(long long);
	case 'f':
		return sizeof(float);
	case 'd':
		return sizeof(double);
	default:
		return 0;
	}
}

/* The size of an Array of n elements of typecode; a code with a reason. */
static int array_size(char typecode, size_t n, size_t *size)
{
	size_t elem = mp_typecode_size(typecode), bytes;

	if (elem == 0)
		return mp__why(-EINVAL, "typecode '%c' is not one of c b B h H "
			       "i I l L q Q f d",
			       typecode > 32 && typecode < 127 ? typecode : '?');
	if (n == 0 || __builtin_mul_overflow(n, elem, &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(struct mp_array), size))
		return mp__why(-EINVAL, "length %zu is invalid", n);
	return 0;
}

static int array_new(char typecode, size_t n, const void *init,
		     const mp_value_opts_t *opts, struct mp_array **out)
{
	struct mp_array *a;
	void *p = NULL;
	size_t size = 0;
	int rc;

	if ((rc = array_size(typecode, n, &size)) < 0 ||
	    (rc = mp__shared_new(size, &p)) < 0)
		return rc;
	a = p; /* zeroed: the RLock is initialised, free */
	a->typecode = typecode;
	a->elem = mp_typecode_size(typecode);
	a->len = n;
	a->locked = opts == NULL || !opts->raw;
	if (init != NULL)
		memcpy(a->data, init, n * a->elem);
	*out = a;
	return 0;
}

/*
 * Lock (if any) around a copy.  MP_EOWNERDEAD: a holder of the lock died;
 * the copy is made all the same (the lock was ours) and the reason left.
 */
static int copy_locked(struct mp_array *a, void *dst, const void *src)
{
	int rc = 0;

	if (a->locked) {
		rc = mp__rlock_acquire(&a->lock, MP_FOREVER);
		if (rc < 0 && rc != MP_EOWNERDEAD)
			return rc;
	}
	memcpy(dst, src, a->elem);
	if (a->locked)
		mp__rlock_release(&a->lock);
	return rc;
}

/* ---- Value ---- */

mp_value_t *mp_value_new(char typecode, const void *init,
			 const mp_value_opts_t *opts)
{
	struct mp_array *a = NULL;
	int rc = array_new(typecode, 1, init, opts, &a);

	return rc < 0 ? (MP__RAISE(rc), NULL) : (mp_value_t *)a;
}

void mp_value_free(mp_value_t *v)
{
	mp__arena_free(v);
}

void *mp_value_ptr(mp_value_t *v)
{
	MP__CHECK_NULL_P(v);
	return v->a.data;
}

int mp_value_get(mp_value_t *v, void *out)
{
	int rc;

	MP__CHECK_NULL(v);
	MP__CHECK_NULL(out);
	rc = copy_locked(&v->a, out, v->a.data);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_value_set(mp_value_t *v, const void *in)
{
	int rc;

	MP__CHECK_NULL(v);
	MP__CHECK_NULL(in);
	rc = copy_locked(&v->a, v->a.data, in);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

mp_rlock_t *mp_value_get_lock(mp_value_t *v)
{
	MP__CHECK_NULL_P(v);
	return v->a.locked ? &v->a.lock : NULL;
}

char mp_value_typecode(const mp_value_t *v)
{
	MP__CHECK_NULL_RET(v, '\0');
	return v->a.typecode;
}

/* ---- Array ---- */

mp_array_t *mp_array_new(char typecode, size_t n, const void *init,
			 const mp_value_opts_t *opts)
{
	struct mp_array *a = NULL;
	int rc = array_new(typecode, n, init, opts, &a);

	return rc < 0 ? (MP__RAISE(rc), NULL) : a;
}

void mp_array_free(mp_array_t *a)
{
	mp__arena_free(a);
}

void *mp_array_ptr(mp_array_t *a)
{
	MP__CHECK_NULL_P(a);
	return a->data;
}

size_t mp_array_len(const mp_array_t *a)
{
	MP__CHECK_NULL_RET(a, 0);
	return a->len;
}

char mp_array_typecode(const mp_array_t *a)
{
	MP__CHECK_NULL_RET(a, '\0');
	return a->typecode;
}

int mp_array_get(mp_array_t *a, size_t i, void *out)
{
	int rc;

	MP__CHECK_NULL(a);
	MP__CHECK_NULL(out);
	if (i >= a->len)
		return MP__ERR(-ERANGE, "index %zu out of range (length %zu)", i,
			       a->len);
	rc = copy_locked(a, out, a->data + i * a->elem);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

int mp_array_set(mp_array_t *a, size_t i, const void *in)
{
	int rc;

	MP__CHECK_NULL(a);
	MP__CHECK_NULL(in);
	if (i >= a->len)
		return MP__ERR(-ERANGE, "index %zu out of range (length %zu)", i,
			       a->len);
	rc = copy_locked(a, a->data + i * a->elem, in);
	return rc < 0 ? MP__RAISE(rc) : 0;
}

mp_rlock_t *mp_array_get_lock(mp_array_t *a)
{
	MP__CHECK_NULL_P(a);
	return a->locked ? &a->lock : NULL;
}
