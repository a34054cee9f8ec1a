/* shm/shm_int.h - what the files of the shm module share. */
#ifndef MPROC_SHM_INT_H
#define MPROC_SHM_INT_H

#include <stdbool.h>

#include "mproc/shm.h"

/*
 * Ask the tracker (started on first use) to unlink `name` when the calling
 * process ends without unlinking it.  0 or -errno.
 */
int mp__tracker_register(const char *name);

/* The calling process unlinked `name`: the tracker forgets it. */
void mp__tracker_unregister(const char *name);

#endif
