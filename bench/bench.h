/*
 * bench.h - helpers shared by the bench_<module>.c programs.
 *
 * Contract with bench/run.sh: a bench program prints one line per figure,
 *     figure=<name> mproc=<value> baseline=<value> unit=<unit>
 * (baseline= left out when there is none), each value the median of at
 * least 3 repetitions.  Its CPython twin bench/cpython_<module>.py prints
 *     figure=<name> cpython=<value> unit=<unit>
 * and run.sh merges the two into the line DESIGN.md §5 asks for.
 */
#ifndef MP_BENCH_H
#define MP_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts them). */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over reps runs of fn(arg), each returning one measurement. */
static inline double bench_repeat(int reps, double (*fn)(void *), void *arg)
{
	double v[32];
	int i;

	if (reps > 32)
		reps = 32;
	for (i = 0; i < reps; i++)
		v[i] = fn(arg);
	return bench_median(v, reps);
}

static inline void bench_print(const char *figure, double mproc,
			       double baseline, const char *unit)
{
	if (baseline >= 0)
		printf("figure=%s mproc=%.4g baseline=%.4g unit=%s\n", figure,
		       mproc, baseline, unit);
	else
		printf("figure=%s mproc=%.4g unit=%s\n", figure, mproc, unit);
	fflush(stdout);
}

#endif
