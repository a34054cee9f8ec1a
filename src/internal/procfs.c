/*
 * procfs.c - parsers of /proc and /sys text (see internal/procfs.h).
 */
#include "internal/procfs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Decimal digits at *p (below end) into *v, saturating at INT64_MAX;
 * false if there is none.  *p moves past them.
 */
static bool digits(const char **p, const char *end, int64_t *v)
{
	const char *s = *p;
	int64_t x = 0;

	while (*p < end && is_digit(**p)) {
		int d = **p - '0';

		x = x > (INT64_MAX - d) / 10 ? INT64_MAX : x * 10 + d;
		(*p)++;
	}
	*v = x;
	return *p > s;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* ---- stat ---- */

/* The ')' that ends comm (the last one after the first '('), or NULL;
 * *open receives the '('. */
static const char *comm_end(const char *buf, size_t len, const char **open)
{
	const char *end = buf + len, *p;

	if (len == 0 || (*open = memchr(buf, '(', len)) == NULL)
		return NULL;
	for (p = end; p > *open + 1; p--)
		if (p[-1] == ')')
			return p - 1;
	return NULL;
}

int mp__parse_stat(const char *buf, size_t len, struct mp__stat *st)
{
	const char *end = buf + len, *open, *close, *p;
	int64_t ppid;

	if ((close = comm_end(buf, len, &open)) == NULL)
		return -EINVAL;
	/* ") S ppid": one space, a letter, one space, the number. */
	p = close + 1;
	if (end - p < 4 || p[0] != ' ' || p[2] != ' ' ||
	    !((p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z')))
		return -EINVAL;
	st->state = p[1];
	p += 3;
	if (!digits(&p, end, &ppid) || (p < end && !is_blank(*p)))
		return -EINVAL;
	st->ppid = ppid > INT_MAX ? INT_MAX : (int)ppid;
	st->comm = open + 1;
	st->comm_len = (size_t)(close - open - 1);
	return 0;
}

int mp__parse_stat_exit_code(const char *buf, size_t len, int *status)
{
	const char *end = buf + len, *open, *p;
	int64_t v;

	if ((p = comm_end(buf, len, &open)) == NULL)
		return -EINVAL;
	/* Field 52 follows the 50th space after comm (field 2). */
	for (int k = 0; k < 50; k++) {
		p = memchr(p + 1, ' ', (size_t)(end - p - 1));
		if (p == NULL)
			return -EINVAL;
	}
	p++;
	if (!digits(&p, end, &v) || (p < end && !is_blank(*p)))
		return -EINVAL;
	*status = v > INT_MAX ? INT_MAX : (int)v;
	return 0;
}

/* ---- /proc/self/cgroup ---- */

/* Is "cpu" one of the comma-separated controllers of s[0..n)? */
static bool has_cpu(const char *s, size_t n)
{
	size_t i = 0;

	while (i <= n) {
		const char *comma = memchr(s + i, ',', n - i);
		size_t k = comma ? (size_t)(comma - (s + i)) : n - i;

		if (k == 3 && memcmp(s + i, "cpu", 3) == 0)
			return true;
		i += k + 1;
	}
	return false;
}

/* An absolute path, no NUL, no "." or ".." component, not too long. */
static bool path_ok(const char *s, size_t n)
{
	if (n == 0 || n > MP__CGROUP_PATH_MAX || s[0] != '/' ||
	    memchr(s, '\0', n) != NULL)
		return false;
	for (size_t i = 0; i < n;) {
		const char *slash = memchr(s + i + 1, '/', n - i - 1);
		size_t k = (slash ? (size_t)(slash - s) : n) - i - 1;

		/* the component s[i + 1 .. i + 1 + k) */
		if ((k == 1 && s[i + 1] == '.') ||
		    (k == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
			return false;
		i += k + 1;
	}
	return true;
}

/* "id:controllers:path" with a CPU-relevant hierarchy: true and *cg. */
static bool cgroup_line(const char *s, size_t n, struct mp__cgroup *cg)
{
	const char *c1 = memchr(s, ':', n), *c2, *end = s + n, *p = s;
	int64_t id;

	if (c1 == NULL ||
	    (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))) == NULL)
		return false;
	if (!digits(&p, c1, &id) || p != c1)
		return false;
	if (c2 == c1 + 1)
		cg->v2 = id == 0;
	else if (has_cpu(c1 + 1, (size_t)(c2 - c1 - 1)))
		cg->v2 = 0;
	else
		return false;
	if (c2 == c1 + 1 && !cg->v2)
		return false; /* an empty list outside hierarchy 0 */
	cg->path = c2 + 1;
	cg->path_len = (size_t)(end - c2 - 1);
	return path_ok(cg->path, cg->path_len);
}

int mp__cgroup_next(const char *buf, size_t len, size_t *off,
		    struct mp__cgroup *cg)
{
	while (*off < len) {
		const char *line = buf + *off;
		const char *nl = memchr(line, '\n', len - *off);
		size_t n = nl ? (size_t)(nl - line) : len - *off;

		*off += n + (nl != NULL);
		if (cgroup_line(line, n, cg))
			return 1;
	}
	return 0;
}

size_t mp__cgroup_parent(const char *path, size_t len)
{
	size_t i = len;

	if (len <= 1 || path[0] != '/')
		return 0;
	while (i > 0 && path[i - 1] != '/')
		i--;
	/* path[i - 1] is the last '/' (i >= 1: path[0] is one) */
	return i == 1 ? 1 : i - 1;
}

/* ---- CPU limits ---- */

int mp__parse_cpu_max(const char *buf, size_t len, int64_t *quota,
		      int64_t *period)
{
	const char *end = buf + len, *p = skip_blanks(buf, end), *q;
	bool max = false;

	if (end - p >= 3 && memcmp(p, "max", 3) == 0) {
		max = true;
		p += 3;
	} else if (!digits(&p, end, quota)) {
		return -EINVAL;
	}
	q = p;
	p = skip_blanks(p, end);
	if (p == end && max)
		return 0; /* "max" alone */
	if (p == q || !digits(&p, end, period))
		return -EINVAL;
	if (skip_blanks(p, end) != end)
		return -EINVAL;
	if (max)
		return 0;
	return *quota > 0 && *period > 0 ? 1 : -EINVAL;
}

int mp__parse_cgroup_int(const char *buf, size_t len, int64_t *v)
{
	const char *end = buf + len, *p = skip_blanks(buf, end);
	bool neg = p < end && *p == '-';

	if (neg)
		p++;
	if (!digits(&p, end, v) || skip_blanks(p, end) != end)
		return -EINVAL;
	if (neg) /* -INT64_MAX at worst: saturation stays in range */
		*v = -*v;
	return 0;
}

int mp__quota_cpus(int64_t quota, int64_t period)
{
	int64_t n;

	if (quota <= 0 || period <= 0)
		return INT_MAX;
	n = quota / period + (quota % period != 0);
	return n > INT_MAX ? INT_MAX : n < 1 ? 1 : (int)n;
}
