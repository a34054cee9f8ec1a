/* ch4_fifo - 4.2.2 Named pipe (FIFO): unrelated processes meet at a path */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char path[64];

static int fifo_reader(void *arg)
{
	char line[128];
	FILE *f = fopen(path, "r"); /* blocks until a writer opens it */

	(void)arg;
	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		printf("read: %s\n", line);
		fflush(stdout);
	}
	fclose(f);
	return 0;
}

static int fifo_writer(void *arg)
{
	const char *msgs[] = {"hello", "fifo", "pipe"};
	struct timespec t = {0, 50000000L};
	FILE *f = fopen(path, "w");

	(void)arg;
	if (f == NULL)
		return 1;
	for (int i = 0; i < 3; i++) {
		fprintf(f, "%s\n", msgs[i]);
		fflush(f);
		printf("wrote: %s\n", msgs[i]);
		fflush(stdout);
		nanosleep(&t, NULL);
	}
	fclose(f);
	return 0;
}

int main(void)
{
	mp_process_t *r, *w;

	snprintf(path, sizeof(path), "/tmp/demo_fifo_%d", (int)getpid());
	unlink(path);
	if (mp_mkfifo(path, 0600) < 0) { /* os.mkfifo */
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	r = mp_process_new(fifo_reader, NULL, NULL);
	w = mp_process_new(fifo_writer, NULL, NULL);
	mp_process_start(r);
	mp_process_start(w);
	mp_process_join(r, 10);
	mp_process_join(w, 10);
	mp_process_free(r);
	mp_process_free(w);
	unlink(path);
	printf("fifo removed\n");
	return 0;
}
