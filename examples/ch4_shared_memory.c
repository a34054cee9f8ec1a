/* ch4_shared_memory - 4.4.2 SharedMemory: a named segment written by the parent, read by a child */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

struct args {
	char name[64];
	size_t size;
};

static int reader(void *arg)
{
	struct args *a = arg;
	mp_shm_t *shm = mp_shm_attach(a->name); /* SharedMemory(name=name) */

	if (shm == NULL) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	printf("child read: %.*s\n", (int)a->size, (char *)mp_shm_buf(shm));
	mp_shm_close(shm); /* shm.close() */
	mp_shm_free(shm);
	return 0;
}

int main(void)
{
	mp_shm_t *shm = mp_shm_create(NULL, 64, NULL); /* create=True, size=64 */
	struct args a = {.size = 11};
	mp_process_t *p;

	if (shm == NULL) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	memcpy(mp_shm_buf(shm), "hello world", 11); /* shm.buf[:11] = ... */
	snprintf(a.name, sizeof(a.name), "%s", mp_shm_name(shm));
	printf("segment %s, %zu bytes\n", mp_shm_name(shm), mp_shm_size(shm));
	p = mp_process_new(reader, &a, NULL);
	mp_process_start(p);
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	mp_shm_close(shm);  /* shm.close() */
	mp_shm_unlink(shm); /* shm.unlink(): after close, as in CPython */
	mp_shm_free(shm);
	printf("segment closed and unlinked\n");
	return 0;
}
