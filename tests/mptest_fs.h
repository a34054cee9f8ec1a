/*
 * mptest_fs.h - for test programs whose main() calls mp_init (so spawn
 * children run there, and each test process has a fork server, a child):
 * MPT's teardown stops the server before mptest's checks (no child left,
 * no fd leaked: its socket was open at setup).
 */
#ifndef MPTEST_FS_H
#define MPTEST_FS_H

#include "mptest.h"

#include "process/process_int.h"

static bool fs_at_setup;

static int fs_setup(void **state)
{
	fs_at_setup = mp__forkserver_pid() > 0;
	return mpt_setup(state);
}

static int fs_teardown(void **state)
{
	mp__forkserver_stop();
	if (fs_at_setup)
		mpt_before.nfds--;
	return mpt_teardown(state);
}

#undef MPT
#define MPT(fn) cmocka_unit_test_setup_teardown(fn, fs_setup, fs_teardown)
#undef MPT_DEADLINE
#define MPT_DEADLINE(fn, seconds)                                             \
	cmocka_unit_test_prestate_setup_teardown(                             \
		fn, fs_setup, fs_teardown,                                    \
		&(struct mpt_opts){.deadline = (seconds)})

/* The start methods, in the order tests run them. */
static const char *const methods[] = {"fork", "forkserver", "spawn"};

#endif
