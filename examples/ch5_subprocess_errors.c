/* ch5_subprocess_errors - 5.2.4 Error handling (check=True) and timeouts */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>

int main(void)
{
	mp_completed_t r;
	int rc;

	/* check=True: a non-zero exit status is an error (CalledProcessError). */
	rc = mp_run((const char *[]){"sh", "-c", "echo 'ValueError: an example error' >&2; exit 1",
				     NULL},
		    &(mp_run_opts_t){.check = true, .capture_output = true}, &r);
	if (rc == MP_ECALLED) {
		printf("command failed, return code: %d\n", r.returncode);
		printf("error output: %s", r.err.data);
		printf("(%s)\n", mp_last_error());
	}
	mp_completed_destroy(&r);

	/* timeout=2 on a 5-second child (TimeoutExpired). */
	rc = mp_run((const char *[]){"sleep", "5", NULL},
		    &(mp_run_opts_t){.timeout = 2, .capture_output = true}, &r);
	if (rc == -ETIMEDOUT)
		printf("command timed out (%s); the child was killed: return code %d\n",
		       mp_last_error(), r.returncode);
	mp_completed_destroy(&r);

	/* A program that does not exist (FileNotFoundError). */
	rc = mp_run((const char *[]){"no-such-command", NULL}, NULL, &r);
	if (rc == -ENOENT)
		printf("cannot start: %s\n", mp_last_error());
	return 0;
}
