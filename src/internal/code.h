/*
 * internal/code.h - function pointers across processes: (object, offset)
 * translation.
 *
 * A pointer to code is only meaningful in the address space it came from.
 * A fork or forkserver child has the parent's layout for every object
 * loaded before the fork (the server forked early: objects dlopen'd later
 * are not there); a spawn child has the same objects, loaded elsewhere
 * (ASLR).  The parent describes its loaded objects (name, address range,
 * load base: dl_iterate_phdr); the child matches them by name to its own
 * and turns a parent's address into (object, offset) and back into its
 * own address.  An address in no object, or in one the child lacks,
 * translates to 0.
 */
#ifndef MPROC_INTERNAL_CODE_H
#define MPROC_INTERNAL_CODE_H

#include <stddef.h>
#include <stdint.h>

/* One loaded object, as the parent saw it (a fixed-size record). */
struct mp__code_obj {
	uint64_t lo, hi; /* its loaded address range */
	uint64_t base;   /* dlpi_addr */
	char name[232];  /* dlpi_name ("" for the executable), cut to fit */
};

#define MP__CODE_MAX_OBJS 64

/* Fill out with up to cap of this process's objects: how many. */
size_t mp__code_describe(struct mp__code_obj *out, size_t cap);

/* Describe this process's objects now, for the mp__code_map_init calls of
 * its forks (the fork server's children), which then need not walk them
 * again while no object has been loaded or unloaded since: called by
 * mp_init before it starts the fork server; not thread-safe. */
void mp__code_remember(void);

/* The child's view: for each of the parent's objects, the delta to add. */
struct mp__code_map {
	size_t n;
	struct {
		uint64_t lo, hi;
		int64_t delta;
		int found;
	} o[MP__CODE_MAX_OBJS];
};

/* Match the parent's n objects to this process's (by name and size). */
void mp__code_map_init(struct mp__code_map *m, const struct mp__code_obj *objs,
		       size_t n);

/* The same in a child that can trust what mp__code_remember described (a
 * fork server's child, made by a server that loads nothing, before it
 * loads anything itself): no walk of the loader's objects, which takes
 * the loader's lock (some page faults in each new child); without a
 * remembered table (a spawned child), as mp__code_map_init. */
void mp__code_map_init_forked(struct mp__code_map *m,
			      const struct mp__code_obj *objs, size_t n);

/* The parent's code address addr here, or 0 when it cannot be found. */
uintptr_t mp__code_translate(const struct mp__code_map *m, uint64_t addr);

#endif
