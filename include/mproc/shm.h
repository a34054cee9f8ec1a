/*
 * mproc/shm.h - shared memory: mp_shared_alloc, Value / Array (with or
 * without a lock: RawValue / RawArray), and named SharedMemory segments
 * (Python's multiprocessing.sharedctypes and shared_memory).
 *
 * Memory from mp_shared_alloc, Values and Arrays is shared with the children
 * forked after it was made (it is a MAP_SHARED memfd mapping, so nothing is
 * left in /dev/shm).  A SharedMemory segment has a name any process can
 * attach to.
 *
 * Types are ctypes' codes: 'c' char, 'b' signed char, 'B' unsigned char,
 * 'h' short, 'H' unsigned short, 'i' int, 'I' unsigned int, 'l' long,
 * 'L' unsigned long, 'q' long long, 'Q' unsigned long long, 'f' float,
 * 'd' double.
 *
 * Thread/process safety: Values, Arrays and mp_shared_alloc memory are
 * safe to use from any thread of any process that shares them;
 * mp_value_get/set and mp_array_get/set take the object's lock (if it has
 * one).  An mp_shm_t handle is not thread-safe (the segment's bytes are as
 * shared as the caller makes them).  A read-modify-write such as `+= 1` is not
 * atomic: hold the lock around it (mp_value_get_lock), as in CPython.
 */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stdbool.h>
#include <stddef.h>

#include "mproc/common.h"
#include "mproc/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mp_shared_alloc - size bytes of zeroed memory, aligned to 64, shared with
 * the children forked afterwards.  NULL with mp_last_error_code() -EINVAL
 * for size 0, -ENOMEM when the memory cannot be mapped.  mp_shared_free releases it (in the process that
 * allocated it; in a child it is a no-op); NULL is a no-op.
 */
MP_API void *mp_shared_alloc(size_t size);
MP_API void mp_shared_free(void *p);

/* ---- Value and Array ---- */

typedef struct mp_value mp_value_t;
typedef struct mp_array mp_array_t;

typedef struct mp_value_opts {
	bool raw; /* no lock: RawValue / RawArray (default: an RLock) */
} mp_value_opts_t;

/* The size of one element of a typecode, or 0 if the code is unknown. */
MP_API size_t mp_typecode_size(char typecode);

/*
 * mp_value_new - a Value of the given type, initialised from *init (NULL: 0).
 * NULL on failure: -EINVAL for an unknown typecode, -ENOMEM when no shared
 * memory could be mapped.
 * mp_value_free releases it (in the process that made it; in a child it is
 * a no-op); NULL is a no-op.
 */
MP_API mp_value_t *mp_value_new(char typecode, const void *init,
				const mp_value_opts_t *opts);
MP_API void mp_value_free(mp_value_t *v);

/*
 * The value itself, for direct typed access (hold the lock if others
 * write); NULL for NULL (-EINVAL in mp_last_error_code()).
 */
MP_API void *mp_value_ptr(mp_value_t *v);

/*
 * Copy the value out / in under its lock.  0; -EINVAL for NULL arguments;
 * MP_EOWNERDEAD when a holder of the lock died holding it (the copy is made
 * all the same and the lock released: repair with mp_rlock_consistent on
 * mp_value_get_lock(v), see sync.h).
 */
MP_API int mp_value_get(mp_value_t *v, void *out);
MP_API int mp_value_set(mp_value_t *v, const void *in);

/* Its RLock (Value.get_lock()), or NULL for a raw value (and for NULL,
 * with -EINVAL in mp_last_error_code()). */
MP_API mp_rlock_t *mp_value_get_lock(mp_value_t *v);

/* Its typecode; '\0' for NULL (-EINVAL in mp_last_error_code()). */
MP_API char mp_value_typecode(const mp_value_t *v);

/*
 * mp_array_new - an Array of n elements, initialised from init (n elements;
 * NULL: zeros).  NULL on failure: -EINVAL for an unknown typecode, n 0 or a
 * size that overflows, -ENOMEM when no shared memory could be mapped.
 * mp_array_free releases it as mp_value_free does.
 */
MP_API mp_array_t *mp_array_new(char typecode, size_t n, const void *init,
				const mp_value_opts_t *opts);
MP_API void mp_array_free(mp_array_t *a);

/*
 * mp_array_ptr - the first element, for direct typed access (hold the lock
 * if others write); mp_array_len - the number of elements;
 * mp_array_typecode - its typecode.  NULL, 0 and '\0' for NULL (-EINVAL
 * in mp_last_error_code()).
 */
MP_API void *mp_array_ptr(mp_array_t *a);
MP_API size_t mp_array_len(const mp_array_t *a);
MP_API char mp_array_typecode(const mp_array_t *a);

/* Copy element i out / in under the lock.  -ERANGE for i >= len; otherwise
 * as mp_value_get / mp_value_set (MP_EOWNERDEAD included). */
MP_API int mp_array_get(mp_array_t *a, size_t i, void *out);
MP_API int mp_array_set(mp_array_t *a, size_t i, const void *in);

/* Its RLock (Array.get_lock()), or NULL for a raw array (and for NULL,
 * with -EINVAL in mp_last_error_code()). */
MP_API mp_rlock_t *mp_array_get_lock(mp_array_t *a);

/* ---- SharedMemory ---- */

typedef struct mp_shm mp_shm_t;

typedef struct mp_shm_opts {
	/*
	 * By default the creator's segment is unlinked when the creator
	 * process ends without unlinking it (even by SIGKILL): a tracker
	 * process watches it.  untracked keeps the segment after the creator
	 * ends (CPython 3.13's track=False).
	 */
	bool untracked;
} mp_shm_opts_t;

/*
 * mp_shm_create - a new segment of size bytes (zeroed) named `name`, or an
 * automatic name like CPython's ("psm_" + 8 hex digits) when name is NULL.
 * Returns NULL with mp_last_error_code(): -EINVAL for size 0 or a bad name
 * (empty, or containing '/'), -EEXIST if the name is taken, -ENAMETOOLONG,
 * -ENOMEM, or the errno of shm_open/ftruncate/mmap.
 */
MP_API mp_shm_t *mp_shm_create(const char *name, size_t size,
			       const mp_shm_opts_t *opts);

/*
 * mp_shm_attach - map an existing segment.  NULL with mp_last_error_code():
 * -ENOENT if none, -EINVAL for a NULL or bad name or an empty segment,
 * -ENAMETOOLONG, -ENOMEM, or the errno of shm_open/fstat/mmap.
 */
MP_API mp_shm_t *mp_shm_attach(const char *name);

/*
 * The mapping (NULL after mp_shm_close, or for NULL), its size (whole
 * segment; 0 for NULL) and its name (without '/'; NULL for NULL).  For
 * NULL, -EINVAL in mp_last_error_code().  Valid until mp_shm_free.
 */
MP_API void *mp_shm_buf(const mp_shm_t *s);
MP_API size_t mp_shm_size(const mp_shm_t *s);
MP_API const char *mp_shm_name(const mp_shm_t *s);

/*
 * mp_shm_close - CPython's close(): unmap the segment (the handle keeps no
 * fd).  The segment itself stays, and so does the handle: mp_shm_name,
 * mp_shm_size and mp_shm_unlink still work, mp_shm_buf returns NULL.
 * Idempotent.  0, -EINVAL for NULL.
 */
MP_API int mp_shm_close(mp_shm_t *s);

/*
 * mp_shm_unlink - remove the segment's name (call it once, from one process),
 * before or after mp_shm_close; mappings stay valid until closed.  0,
 * -ENOENT if already removed, -EINVAL for NULL.
 */
MP_API int mp_shm_unlink(mp_shm_t *s);

/*
 * mp_shm_free - release the handle, closing it first if needed.  Never
 * unlinks (a created segment that is not unlinked stays until its creator
 * ends, or for good when untracked).  NULL is a no-op.
 */
MP_API void mp_shm_free(mp_shm_t *s);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SHM_H */
