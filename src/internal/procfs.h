/*
 * internal/procfs.h - parsers of what /proc and /sys say about processes
 * and cgroups: pure functions over (buf, len), with the reading left to
 * their callers (process/cpu.c, internal/lock.c).
 *
 * Design notes.
 * - The bytes come from the kernel, but a parser never relies on that: it
 *   reads exactly len bytes (no NUL needed, NULs inside are just bytes),
 *   rejects what does not have the documented shape (-EINVAL), and never
 *   overflows: numbers too large for their type saturate.
 * - Results that are text point into buf (no allocation).
 * - tests/fuzz/fuzz_procfs.c drives every parser here.
 */
#ifndef MPROC_INTERNAL_PROCFS_H
#define MPROC_INTERNAL_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* ---- /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat ---- */

struct mp__stat {
	const char *comm;  /* the command name, inside buf (not terminated) */
	size_t comm_len;
	char state;        /* R, S, D, Z, X, ... */
	int ppid;          /* saturated to INT_MAX */
};

/*
 * "pid (comm) S ppid ...": comm runs from the first '(' to the last ')'
 * (it may hold spaces and parentheses), then one space, the state letter,
 * one space and the parent's pid.  The rest of the line is not needed (a
 * buffer cut after ppid is fine).  0, or -EINVAL.
 */
int mp__parse_stat(const char *buf, size_t len, struct mp__stat *st);

/*
 * The last field of a stat line (52, exit_code): the wait status the
 * process exits with (a signal number in bits 0-6, an exit status in bits
 * 8-15), which the kernel sets as the process starts to exit (before it
 * frees the process's memory) and shows as 0 until then, or to a reader
 * without the right to see it.  Fields are counted from the ')' that ends
 * comm, one space apart.  0 with *status (saturated to INT_MAX), or
 * -EINVAL when there are fewer fields or the field is not a number.
 */
int mp__parse_stat_exit_code(const char *buf, size_t len, int *status);

/* ---- /proc/self/cgroup ---- */

struct mp__cgroup {
	const char *path;  /* "/..." inside buf (not terminated) */
	size_t path_len;   /* at most MP__CGROUP_PATH_MAX */
	int v2;            /* 1: the unified hierarchy; 0: v1 "cpu" */
};

#define MP__CGROUP_PATH_MAX 4000

/*
 * The next line from *off that says where our CPU quota lives: v2
 * ("0::/path") or a v1 hierarchy with the "cpu" controller
 * ("4:cpu,cpuacct:/path").  Lines of another shape, other controllers, or
 * paths that are not absolute, hold a NUL or exceed MP__CGROUP_PATH_MAX
 * are skipped.  1 with *cg set and *off past the line; 0 at the end.
 */
int mp__cgroup_next(const char *buf, size_t len, size_t *off,
		    struct mp__cgroup *cg);

/*
 * The length of path's parent: "/a/b" -> 2 ("/a"), "/a" -> 1 ("/"), and 0
 * for "/" (or an empty or relative path): the walk up is over.
 */
size_t mp__cgroup_parent(const char *path, size_t len);

/* ---- cgroup CPU limits ---- */

/*
 * cgroup v2 cpu.max: "max 100000" (no limit: 0) or "50000 100000" (1, with
 * *quota and *period, both > 0).  A period may be left out ("max").  Huge
 * numbers saturate at INT64_MAX.  -EINVAL for anything else.
 */
int mp__parse_cpu_max(const char *buf, size_t len, int64_t *quota,
		      int64_t *period);

/*
 * cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us: one decimal integer
 * (the quota is -1 for no limit), surrounding blanks allowed.  0 with *v
 * (saturated to the int64 range), or -EINVAL.
 */
int mp__parse_cgroup_int(const char *buf, size_t len, int64_t *v);

/*
 * CPUs a quota allows: ceil(quota / period), at least 1, saturated at
 * INT_MAX (never overflows).  quota and period must be > 0.
 */
int mp__quota_cpus(int64_t quota, int64_t period);

#endif
