/*
 * internal/code.c - function pointers across processes (see code.h).
 */
#include "internal/code.h"
#include "internal/hot.h"

#include <elf.h>
#include <link.h>
#include <string.h>

struct describe_ctx {
	struct mp__code_obj *out;
	size_t cap, n;
};

static int describe_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct describe_ctx *c = arg;
	struct mp__code_obj *o;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	if (c->n == c->cap)
		return 1;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (hi == 0)
		return 0;
	o = &c->out[c->n++];
	memset(o, 0, sizeof(*o));
	o->lo = lo;
	o->hi = hi;
	o->base = info->dlpi_addr;
	if (info->dlpi_name != NULL)
		strncpy(o->name, info->dlpi_name, sizeof(o->name) - 1);
	return 0;
}

size_t mp__code_describe(struct mp__code_obj *out, size_t cap)
{
	struct describe_ctx c = {out, cap, 0};

	dl_iterate_phdr(describe_one, &c);
	return c.n;
}

/* This process's objects as described by mp__code_remember, and the
 * loader's counts of loads and unloads then. */
static struct {
	unsigned long long adds, subs;
	size_t n;
	struct mp__code_obj o[MP__CODE_MAX_OBJS];
} remembered;

static int counts(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *c = arg;

	(void)size;
	c[0] = info->dlpi_adds;
	c[1] = info->dlpi_subs;
	return 1; /* the first object says it */
}

void mp__code_remember(void)
{
	unsigned long long c[2] = {0, 0};

	dl_iterate_phdr(counts, c);
	remembered.n = mp__code_describe(remembered.o, MP__CODE_MAX_OBJS);
	remembered.adds = c[0];
	remembered.subs = c[1];
}

/* Map the parent's objects to here[0..nhere). */
static void map_to(struct mp__code_map *m, const struct mp__code_obj *objs,
		   size_t n, const struct mp__code_obj *here, size_t nhere)
{
	memset(m, 0, sizeof(*m));
	m->n = n < MP__CODE_MAX_OBJS ? n : MP__CODE_MAX_OBJS;
	for (size_t i = 0; i < m->n; i++) {
		m->o[i].lo = objs[i].lo;
		m->o[i].hi = objs[i].hi;
		for (size_t j = 0; j < nhere; j++)
			if (strncmp(here[j].name, objs[i].name,
				    sizeof(here[j].name)) == 0 &&
			    here[j].hi - here[j].lo == objs[i].hi - objs[i].lo) {
				m->o[i].delta = (int64_t)(here[j].base -
							  objs[i].base);
				m->o[i].found = 1;
				break;
			}
	}
}

void mp__code_map_init(struct mp__code_map *m, const struct mp__code_obj *objs,
		       size_t n)
{
	struct mp__code_obj fresh[MP__CODE_MAX_OBJS];
	unsigned long long c[2] = {0, 0};

	dl_iterate_phdr(counts, c);
	if (remembered.n == 0 || c[0] != remembered.adds ||
	    c[1] != remembered.subs)
		map_to(m, objs, n, fresh,
		       mp__code_describe(fresh, MP__CODE_MAX_OBJS));
	else
		map_to(m, objs, n, remembered.o, remembered.n);
}

void mp__code_map_init_forked(struct mp__code_map *m,
			      const struct mp__code_obj *objs, size_t n)
{
	if (remembered.n == 0)
		mp__code_map_init(m, objs, n);
	else
		map_to(m, objs, n, remembered.o, remembered.n);
}

MP__HOT
uintptr_t mp__code_translate(const struct mp__code_map *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (addr >= m->o[i].lo && addr < m->o[i].hi)
			return m->o[i].found ? (uintptr_t)(addr + (uint64_t)m->o[i].delta)
					     : 0;
	return 0;
}
