/* subprocess/subprocess_int.h - what the files of subprocess share. */
#ifndef MPROC_SUBPROCESS_INT_H
#define MPROC_SUBPROCESS_INT_H

#include <stdbool.h>

#include "internal/child.h"
#include "mproc/subprocess.h"

/* A growable byte buffer (always NUL-terminated when data != NULL). */
struct buf {
	char *data;
	size_t len, cap;
};

struct mp_popen {
	struct mp__child child; /* pid and pidfd (-1 without pidfds) */
	int fd_in, fd_out, fd_err; /* the parent's pipe ends, or -1 */
	bool reaped, group;
	bool out_pipe; /* stdout was a PIPE (readline needs one) */
	int returncode;
	/* communicate */
	bool input_done;
	size_t input_off;
	struct buf out, err;
	/* readline: data read but not handed out yet */
	struct buf line;
};

/* Append n bytes; -ENOMEM (also when the size would overflow). */
int mp__buf_add(struct buf *b, const void *data, size_t n);

/*
 * Start argv with opts (mp_popen_new and mp_run): 0 and *out, or a code
 * with a reason (the public function reports it); no child left behind.
 */
int mp__popen_new(const char *const argv[], const mp_popen_opts_t *opts,
		  mp_popen_t **out);

/* Release p: close its pipes, kill and reap a child still running. */
void mp__popen_free(mp_popen_t *p);

#endif
