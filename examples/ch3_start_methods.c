/* ch3_start_methods - 3.4 Start methods and the __main__ guard: fork, forkserver and spawn */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * Python's worker(name), started by Process(target=worker, args=(...,)).
 * With spawn (and forkserver) the child cannot see the parent's memory:
 * the target is found by the name MP_TARGET registered, and the argument
 * travels as bytes (here a NUL-terminated string, arg_len = strlen + 1).
 */
static int worker(void *arg)
{
	const char *name = arg;

	printf("worker %s runs (%s), pid %d\n", name,
	       mp_process_name(mp_current_process()), (int)getpid());
	return 0;
}
MP_TARGET(worker);

/* safe_windows_example(): three workers, started by one method. */
static int run_three(const char *method)
{
	static const char *const names[] = {"Worker-1", "Worker-2", "Worker-3"};
	mp_process_t *p[3];
	char pname[32];
	int i, code, failed = 0;

	for (i = 0; i < 3; i++) {
		snprintf(pname, sizeof(pname), "%s-%d", method, i + 1);
		p[i] = mp_process_new(worker, (void *)names[i],
				      &(mp_process_opts_t){
					      .name = pname,
					      .start_method = method,
					      .arg_len = strlen(names[i]) + 1});
		if (p[i] == NULL || mp_process_start(p[i]) < 0) {
			fprintf(stderr, "%s\n", mp_last_error());
			return 1;
		}
		/* One at a time, so the lines come in order. */
		mp_process_join(p[i], MP_FOREVER);
		if (mp_process_exitcode(p[i], &code) != 1 || code != 0)
			failed = 1;
		mp_process_free(p[i]);
	}
	return failed;
}

int main(int argc, char **argv)
{
	/*
	 * The `if __name__ == '__main__':` of C: mp_init first.  In a child
	 * started by spawn it runs the worker and exits, so nothing below
	 * runs twice (a spawn child re-runs the program from the start, as
	 * Windows re-imports the main module).  In the main process it
	 * starts the fork server while the program is still small.
	 */
	const char *all[3];
	int i, n;

	if (mp_init(argc, argv) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	printf("main process pid %d\n", (int)getpid());
	printf("default start method: %s\n", mp_get_start_method());
	n = mp_get_all_start_methods(all, 3);
	for (i = 0; i < n; i++) /* get_context(method).Process(...) */
		if (run_three(all[i]) != 0)
			return 1;
	/* set_start_method('spawn'): the default for every new process. */
	if (mp_set_start_method("spawn", 0) < 0)
		return 1;
	printf("default start method now: %s\n", mp_get_start_method());
	if (mp_set_start_method("fork", 0) < 0) /* a second set is refused */
		printf("set_start_method again: %s\n", mp_last_error());
	printf("all processes done\n");
	return 0;
}
