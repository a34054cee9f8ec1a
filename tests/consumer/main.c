/* A program outside the tree, built against the installed mproc. */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

static int child(void *arg)
{
	return strcmp(arg, "ok") == 0 ? 7 : 1;
}

int main(void)
{
	mp_process_t *p = mp_process_new(child, "ok", NULL);
	int code = -1;

	if (p == NULL || mp_process_start(p) != 0 ||
	    mp_process_join(p, MP_FOREVER) != 0 ||
	    mp_process_exitcode(p, &code) != 1 || code != 7) {
		fprintf(stderr, "consumer: %s\n", mp_last_error());
		return 1;
	}
	mp_process_free(p);
	printf("consumer: mproc %s works (child exit code %d)\n",
	       mp_version_string(), code);
	return 0;
}
