/* ch5_subprocess_run - 5.2.2 subprocess.run(): capture a command's output and check its return code */
#include <mproc.h>
#include <stdio.h>

int main(void)
{
	mp_completed_t r;
	char **lines;
	int n;

	/* The lesson asks `python --version`; any program on the machine will do. */
	if (mp_run((const char *[]){"uname", "-sr", NULL},
		   &(mp_run_opts_t){.capture_output = true}, &r) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	n = mp_bytes_lines(&r.out, &lines);
	printf("system version: %s\n", n > 0 ? lines[0] : "?");
	mp_buf_free(lines);
	mp_completed_destroy(&r);

	if (mp_run((const char *[]){"ls", "-la", NULL},
		   &(mp_run_opts_t){.capture_output = true}, &r) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	if (r.returncode == 0) {
		n = mp_bytes_lines(&r.out, &lines);
		printf("command succeeded\n");
		printf("output lines: %d\n", n);
		mp_buf_free(lines);
	} else {
		printf("command failed, return code: %d\n", r.returncode);
		printf("error: %s\n", r.err.data);
	}
	mp_completed_destroy(&r);
	return 0;
}
