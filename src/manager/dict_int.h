/*
 * manager/dict_int.h - what the shared dict's files share: the table in the
 * region and a key being looked up (dict.c), the collections the public
 * functions make (dict_api.c, namespace.c).  Internal: codes and reasons
 * left with mp__why.
 */
#ifndef MPROC_MANAGER_DICT_INT_H
#define MPROC_MANAGER_DICT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "manager/mgr_int.h"
#include "obj/obj_int.h"

struct dent {
	uint64_t hash;
	uint64_t key; /* key block offset; 0: removed */
	uint64_t val; /* value block offset */
};

struct dtable {
	uint64_t cap;  /* entries */
	uint64_t icap; /* index slots, a power of 2 >= 2 cap */
	uint64_t used; /* entries published */
	uint64_t live; /* entries not removed (derived) */
	struct dent e[];
	/* then uint32_t idx[icap] */
};

/*
 * A key being looked up: its canonical bytes and hash.  A str or bytes key
 * (the common case) does not build them: its canonical bytes are a tag, its
 * length (8 bytes) and its data, compared in place.
 */
struct key {
	const mp_obj_t *obj;
	struct mp__kbuf kb;
	bool text;       /* str or bytes: kb unused */
	unsigned char tag[9];
	uint64_t h;
};

/* What mp__dict_collect makes. */
enum { WANT_KEYS, WANT_VALUES, WANT_ITEMS, WANT_DICT };

/* dict.c */
struct dtable *mp__dict_tab(const mp_dictproxy_t *d);
int mp__dict_closed(const mp_dictproxy_t *d);
void mp__dict_lock(mp_dictproxy_t *d);
void mp__dict_unlock(mp_dictproxy_t *d);
int mp__dict_key_prep(const mp_dictproxy_t *d, const mp_obj_t *obj,
		      struct key *k);
int64_t mp__dict_find(mp_dictproxy_t *d, const struct key *k);
int mp__dict_key_error(const mp_obj_t *key);
int mp__dict_get_key(const mp_dictproxy_t *d, uint64_t off, mp_obj_t **out);
int mp__dict_set_locked(mp_dictproxy_t *d, const struct key *k, uint64_t voff);
void mp__dict_del_locked(mp_dictproxy_t *d, uint64_t j);

/* dict_api.c */
int mp__dict_get(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out);
int mp__dict_pop_key(mp_dictproxy_t *d, const mp_obj_t *key, mp_obj_t **out);
int mp__dict_collect(mp_dictproxy_t *d, int want, mp_obj_t **out);

#endif
