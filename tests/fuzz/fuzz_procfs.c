/*
 * fuzz_procfs.c - the parsers of /proc and /sys text (internal/procfs.h).
 * The first byte picks the parser, the rest is the file's text.  Besides
 * the sanitizers, the harness checks what the parsers promise: results
 * inside the input, a parent walk that ends, CPU counts in range.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void stat_line(const char *buf, size_t len)
{
	struct mp__stat st;

	int status;

	if (mp__parse_stat_exit_code(buf, len, &status) == 0)
		check(status >= 0);
	if (mp__parse_stat(buf, len, &st) != 0)
		return;
	check(st.comm > buf && st.comm + st.comm_len < buf + len);
	check(st.ppid >= 0);
}

static void cgroup_file(const char *buf, size_t len)
{
	struct mp__cgroup cg;
	size_t off = 0, last = 0, n;

	while (mp__cgroup_next(buf, len, &off, &cg)) {
		check(off > last && off <= len);
		last = off;
		check(cg.path >= buf && cg.path + cg.path_len <= buf + len);
		check(cg.path_len > 0 && cg.path_len <= MP__CGROUP_PATH_MAX);
		check(cg.path[0] == '/');
		for (n = cg.path_len; n > 0;) {
			size_t up = mp__cgroup_parent(cg.path, n);

			check(up < n);
			n = up;
		}
	}
	check(off == len || len == 0);
}

static void cpu_max(const char *buf, size_t len)
{
	int64_t quota = 0, period = 0;
	int rc = mp__parse_cpu_max(buf, len, &quota, &period);

	check(rc == 0 || rc == 1 || rc < 0);
	if (rc == 1) {
		int cpus = mp__quota_cpus(quota, period);

		check(quota > 0 && period > 0 && cpus >= 1 && cpus <= INT_MAX);
	}
}

static void cgroup_int(const char *buf, size_t len)
{
	int64_t v, w;

	if (mp__parse_cgroup_int(buf, len, &v) != 0)
		return;
	/* Both quota and period come from such files. */
	w = v > 0 ? v : 1;
	check(mp__quota_cpus(w, w) == 1);
	check(mp__quota_cpus(w, 1) >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		stat_line(buf, size - 1);
		break;
	case 1:
		cgroup_file(buf, size - 1);
		break;
	case 2:
		cpu_max(buf, size - 1);
		break;
	default:
		cgroup_int(buf, size - 1);
		break;
	}
	return 0;
}
