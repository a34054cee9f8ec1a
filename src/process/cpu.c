/*
 * cpu.c - mp_cpu_count and mp_proc_status: what /proc and /sys tell about
 * CPUs and processes.
 */
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/error.h"
#include "mproc/process.h"

/* Read two numbers (or "max") from a cgroup file; 1 if a quota is set. */
static int read_quota(const char *path, const char *fmt, long long *quota,
		      long long *period)
{
	FILE *f = fopen(path, "re");
	char q[32] = "";
	int ok = 0;

	if (f == NULL)
		return 0;
	if (fmt == NULL) { /* v2 cpu.max: "max 100000" or "50000 100000" */
		if (fscanf(f, "%31s %lld", q, period) == 2 &&
		    strcmp(q, "max") != 0) {
			*quota = atoll(q);
			ok = *quota > 0 && *period > 0;
		}
	} else if (fscanf(f, "%lld", quota) == 1 && *quota > 0) {
		/* v1: cpu.cfs_quota_us (-1 for none) + cpu.cfs_period_us */
		FILE *g = fopen(fmt, "re");

		if (g != NULL) {
			ok = fscanf(g, "%lld", period) == 1 && *period > 0;
			fclose(g);
		}
	}
	fclose(f);
	return ok;
}

/*
 * The lowest CPU quota of our cgroup and its ancestors, in CPUs rounded up;
 * INT_MAX if none.  Handles cgroup v2 (cpu.max) and v1 (cpu.cfs_quota_us).
 */
static int cgroup_cpus(void)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096], path[4400], qpath[4500], ppath[4500];
	int best = INT_MAX;

	if (f == NULL)
		return best;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *ctrl = strchr(line, ':'), *rel;
		bool v2;
		char *slash;

		if (ctrl == NULL || (rel = strchr(ctrl + 1, ':')) == NULL)
			continue;
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		ctrl++;
		v2 = *ctrl == '\0';
		if (!v2 && strstr(ctrl, "cpu") == NULL)
			continue;
		if (!v2 && strcmp(ctrl, "cpu,cpuacct") != 0 &&
		    strcmp(ctrl, "cpu") != 0 && strcmp(ctrl, "cpuacct,cpu") != 0)
			continue;
		/* Walk from our cgroup up to the root of the hierarchy. */
		snprintf(path, sizeof(path), "%s", rel);
		for (;;) {
			long long quota = 0, period = 0;
			int ok;

			if (v2) {
				snprintf(qpath, sizeof(qpath),
					 "/sys/fs/cgroup%s/cpu.max",
					 strcmp(path, "/") ? path : "");
				ok = read_quota(qpath, NULL, &quota, &period);
			} else {
				const char *base = "/sys/fs/cgroup/cpu";
				const char *p = strcmp(path, "/") ? path : "";

				snprintf(qpath, sizeof(qpath),
					 "%s%s/cpu.cfs_quota_us", base, p);
				snprintf(ppath, sizeof(ppath),
					 "%s%s/cpu.cfs_period_us", base, p);
				ok = read_quota(qpath, ppath, &quota, &period);
			}
			if (ok) {
				long long n = (quota + period - 1) / period;
				if (n < best)
					best = n > INT_MAX ? INT_MAX : (int)n;
			}
			slash = strrchr(path, '/');
			if (slash == NULL || slash == path)
				break;
			*slash = '\0';
		}
	}
	fclose(f);
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

int mp_proc_status(pid_t pid, mp_proc_stat *st)
{
	char path[64], buf[1024], *open, *close_;
	FILE *f;
	size_t len;
	int ppid;

	MPI_CHECK_NULL(st);
	if (pid <= 0)
		return MPI_ERR(-EINVAL, "pid %d is not a process id", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return MPI_ERR(errno == ENOENT ? -ESRCH : -errno,
			       "no process %d (%s)", (int)pid,
			       mp_strerror(-errno));
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and ')'. */
	open = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	if (open == NULL || close_ == NULL || close_ < open ||
	    sscanf(close_ + 1, " %c %d", &st->state, &ppid) != 2)
		return MPI_ERR(-EIO, "cannot parse %s", path);
	len = (size_t)(close_ - open - 1);
	if (len >= sizeof(st->name))
		len = sizeof(st->name) - 1;
	memcpy(st->name, open + 1, len);
	st->name[len] = '\0';
	st->ppid = (pid_t)ppid;
	return 0;
}
