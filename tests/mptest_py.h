/*
 * mptest_py.h - what the manager's two test programs share to run python3
 * beside the C side: whether python3 runs, and NEED_PYTHON() to skip a test
 * without it (make check installs python3 with the other dependencies, so
 * there the interop tests always run).
 */
#ifndef MPTEST_PY_H
#define MPTEST_PY_H

#include "mptest.h"

#include "mproc/subprocess.h"

static inline bool have_python(void)
{
	static int have = -1;
	mp_completed_t r = {0};

	if (have < 0) {
		const char *argv[] = {"python3", "-c", "pass", NULL};

		have = mp_run(argv, &(mp_run_opts_t){.capture_output = true,
						     .timeout = mpt_timeout(30)},
			      &r) == 0 &&
		       r.returncode == 0;
		mp_completed_destroy(&r);
	}
	return have;
}

#define NEED_PYTHON()                                                         \
	do {                                                                  \
		if (!have_python()) {                                         \
			print_message("python3 not found: skipped\n");        \
			skip();                                               \
		}                                                             \
	} while (0)

#endif
