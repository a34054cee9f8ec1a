/*
 * cpu.c - mp_cpu_count and mp_proc_status: what /proc and /sys tell about
 * CPUs and processes.
 */
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/error.h"
#include "internal/procfs.h"
#include "mproc/process.h"

/*
 * Read a whole (small) file into buf, at most cap bytes: the length, or -1.
 * /proc and /sys files are read in one go, so a short buffer just cuts
 * the text, which the parsers handle.
 */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	n = errno;
	close(fd);
	errno = (int)n;
	return (ssize_t)len;
}

/* One cgroup file holding one integer (v1). */
static bool read_int(const char *path, int64_t *v)
{
	char buf[64];
	ssize_t n = read_file(path, buf, sizeof(buf));

	return n > 0 && mp__parse_cgroup_int(buf, (size_t)n, v) == 0;
}

/* The CPUs the quota of cgroup `path` allows (v2 cpu.max or v1 cfs
 * files), or INT_MAX when it sets none. */
static int quota_at(const struct mp__cgroup *cg, const char *path, size_t len)
{
	char file[MP__CGROUP_PATH_MAX + 64], buf[128];
	int64_t quota, period;
	ssize_t n;

	if (len == 1)
		len = 0; /* the root: no "//" */
	if (cg->v2) {
		snprintf(file, sizeof(file), "/sys/fs/cgroup%.*s/cpu.max",
			 (int)len, path);
		n = read_file(file, buf, sizeof(buf));
		if (n <= 0 || mp__parse_cpu_max(buf, (size_t)n, &quota,
						&period) != 1)
			return INT_MAX;
	} else {
		snprintf(file, sizeof(file),
			 "/sys/fs/cgroup/cpu%.*s/cpu.cfs_quota_us", (int)len,
			 path);
		if (!read_int(file, &quota) || quota <= 0)
			return INT_MAX; /* -1: no quota */
		snprintf(file, sizeof(file),
			 "/sys/fs/cgroup/cpu%.*s/cpu.cfs_period_us", (int)len,
			 path);
		if (!read_int(file, &period) || period <= 0)
			return INT_MAX;
	}
	return mp__quota_cpus(quota, period);
}

/*
 * The lowest CPU quota of our cgroup and its ancestors, in CPUs rounded up;
 * INT_MAX if none.  Handles cgroup v2 (cpu.max) and v1 (cpu.cfs_quota_us).
 */
static int cgroup_cpus(void)
{
	enum { CAP = 64 << 10 };
	char *buf = mp__malloc(CAP);
	struct mp__cgroup cg;
	size_t off = 0, len;
	int best = INT_MAX, q;
	ssize_t n;

	if (buf == NULL)
		return best;
	if ((n = read_file("/proc/self/cgroup", buf, CAP)) <= 0) {
		mp__free(buf);
		return best;
	}
	while (mp__cgroup_next(buf, (size_t)n, &off, &cg)) {
		/* Walk from our cgroup up to the root of the hierarchy. */
		for (len = cg.path_len; len > 0;
		     len = mp__cgroup_parent(cg.path, len))
			if ((q = quota_at(&cg, cg.path, len)) < best)
				best = q;
	}
	mp__free(buf);
	return best;
}

int mp_cpu_count(void)
{
	cpu_set_t set;
	int n = 0, q;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	q = cgroup_cpus();
	if (q < n)
		n = q;
	return n > 0 ? n : 1;
}

int mp_proc_status(pid_t pid, mp_proc_status_t *st)
{
	char path[64], buf[1024];
	struct mp__stat ps;
	size_t len;
	ssize_t n;

	MP__CHECK_NULL(st);
	if (pid <= 0)
		return MP__ERR(-EINVAL, "pid %d is not a process id", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((n = read_file(path, buf, sizeof(buf))) < 0)
		return MP__ERR(errno == ENOENT ? -ESRCH : -errno,
			       "no process %d (%s)", (int)pid,
			       mp_strerror(-errno));
	if (mp__parse_stat(buf, (size_t)n, &ps) < 0)
		return MP__ERR(-EIO, "cannot parse %s", path);
	len = ps.comm_len < sizeof(st->name) ? ps.comm_len
					     : sizeof(st->name) - 1;
	memcpy(st->name, ps.comm, len);
	st->name[len] = '\0';
	st->state = ps.state;
	st->ppid = (pid_t)ps.ppid;
	return 0;
}
