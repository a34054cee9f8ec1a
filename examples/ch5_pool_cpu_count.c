/* ch5_pool_cpu_count - 001 3.4.3 a pool of cpu_count() workers: each task prints the system and its pid, map collects data * 2 */
#include <mproc.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>

static struct utsname sys_info; /* read once; the workers inherit it */

static int cross_platform_task(const void *in, void *out)
{
	int data = *(const int *)in;

	printf("system: %s, process pid: %d, data: %d\n", sys_info.sysname,
	       (int)getpid(), data);
	fflush(stdout); /* the worker's own stdio buffer */
	*(int *)out = data * 2;
	return 0;
}

int main(void)
{
	int data_list[10], results[10];
	int process_count;
	mp_pool_t *pool;

	if (uname(&sys_info) < 0)
		return perror("uname"), 1;
	printf("current system: %s\n", sys_info.sysname);
	printf("CPU cores: %d\n", mp_cpu_count());
	/* Linux forks cheaply: one worker per CPU this process may use
	 * (mp_cpu_count honours the affinity mask and the cgroup quota). */
	process_count = mp_cpu_count();
	printf("processes used: %d\n", process_count);
	fflush(stdout);

	for (int i = 0; i < 10; i++)
		data_list[i] = i + 1;
	pool = mp_pool_new(&(mp_pool_opts_t){.processes = (unsigned)process_count});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	if (mp_pool_map(pool, cross_platform_task, data_list, 10, sizeof(int),
			results, sizeof(int), NULL) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);
	printf("results: [");
	for (int i = 0; i < 10; i++)
		printf(i ? ", %d" : "%d", results[i]);
	printf("]\n");
	return 0;
}
