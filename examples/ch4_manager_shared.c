/* ch4_manager_shared - 004 2.3.2.4 Manager: a dict and a list filled by four processes, printed by the parent */
#include <mproc.h>
#include <stdint.h>
#include <stdio.h>

struct shared {
	mp_dictproxy_t *dict;
	mp_listproxy_t *list;
	int worker_id;
};

static int worker(void *arg)
{
	struct shared *s = arg;
	char text[32];
	mp_obj_t *k, *v;
	int rc;

	snprintf(text, sizeof(text), "result_%d", s->worker_id);
	k = mp_obj_int(s->worker_id);
	v = mp_obj_str(text);
	/* shared_dict[worker_id] = f"result_{worker_id}" */
	rc = mp_dictproxy_set(s->dict, k, v);
	/* shared_list.append(worker_id) */
	if (rc == 0)
		rc = mp_listproxy_append(s->list, k);
	mp_obj_free(k);
	mp_obj_free(v);
	return rc < 0;
}

static void print(const char *label, mp_obj_t *o)
{
	mp_bytes_t r;

	if (o != NULL && mp_obj_repr(o, &r) == 0) {
		printf("%s: %s\n", label, r.data);
		mp_bytes_destroy(&r);
	}
	mp_obj_free(o);
}

int main(void)
{
	mp_manager_t *m = mp_manager_new(NULL); /* with Manager() as manager */
	struct shared s[4];
	mp_dictproxy_t *dict;
	mp_listproxy_t *list;
	mp_process_t *ps[4];
	mp_obj_t *o;
	int i;

	if (m == NULL || mp_manager_dict(m, NULL, &dict) < 0 ||
	    mp_manager_list(m, NULL, &list) < 0) {
		fprintf(stderr, "%s\n", mp_last_error());
		return 1;
	}
	for (i = 0; i < 4; i++) {
		s[i] = (struct shared){dict, list, i};
		ps[i] = mp_process_new(worker, &s[i], NULL);
		mp_process_start(ps[i]);
	}
	for (i = 0; i < 4; i++) {
		mp_process_join(ps[i], MP_FOREVER);
		mp_process_free(ps[i]);
	}
	/* The processes ran in any order: sort the list for a stable print
	 * (the dict prints in the order the processes wrote it). */
	print("Dict", mp_dictproxy_copy(dict, &o) == 0 ? o : NULL);
	print("List", mp_listproxy_slice(list, 0, PTRDIFF_MAX, &o) == 0 ? o
									   : NULL);
	mp_listproxy_sort(list, 0);
	print("List (sorted)",
	      mp_listproxy_slice(list, 0, PTRDIFF_MAX, &o) == 0 ? o : NULL);
	printf("len: %d and %d\n", mp_dictproxy_len(dict),
	       mp_listproxy_len(list));
	mp_manager_free(m);
	return 0;
}
