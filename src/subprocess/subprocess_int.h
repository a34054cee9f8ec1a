/* subprocess/subprocess_int.h - what the files of subprocess share. */
#ifndef MPROC_SUBPROCESS_INT_H
#define MPROC_SUBPROCESS_INT_H

#include <stdbool.h>

#include "mproc/subprocess.h"

/* A growable byte buffer (always NUL-terminated when data != NULL). */
struct buf {
	char *data;
	size_t len, cap;
};

struct mp_popen {
	pid_t pid;
	int pidfd;
	int fd_in, fd_out, fd_err; /* the parent's pipe ends, or -1 */
	bool reaped, group;
	bool out_pipe; /* stdout was a PIPE (readline needs one) */
	int returncode;
	/* communicate */
	bool input_done;
	size_t input_off;
	struct buf out, err;
	/* readline: data read but not handed out, and the last line */
	struct buf line, last;
};

/* Append n bytes; -ENOMEM (also when the size would overflow). */
int mpi_buf_add(struct buf *b, const void *data, size_t n);

/* mp_popen_new, with messages naming func (mp_run's too). */
mp_popen_t *mpi_popen_new(const char *const argv[], const mp_popen_opts_t *opts,
			  const char *func);

#endif
