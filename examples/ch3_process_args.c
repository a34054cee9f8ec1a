/* ch3_process_args - 3.2.3 Passing arguments: positional, keyword and extra arguments become one struct */
#include <mproc.h>
#include <stdio.h>

/*
 * Python's task_with_args(name, age, city="Unknown", **kwargs).  In C the
 * target takes one pointer: pass a struct; a designated initialiser names
 * the fields like keyword arguments, and fields left out take their zero
 * "default" (here city NULL means "Unknown").
 */
struct person {
	const char *name;
	int age;
	const char *city;
	const char *extra[4][2]; /* the **kwargs: {key, value} pairs */
};

static int task_with_args(void *arg)
{
	const struct person *p = arg;

	printf("name: %s, age: %d, city: %s\n", p->name, p->age,
	       p->city ? p->city : "Unknown");
	printf("other info: {");
	for (int i = 0; i < 4 && p->extra[i][0]; i++)
		printf("%s'%s': '%s'", i ? ", " : "", p->extra[i][0], p->extra[i][1]);
	printf("}\n");
	return 0;
}

int main(void)
{
	struct person args[3] = {
		{.name = "Zhang San", .age = 25},                /* args=(...) */
		{.name = "Li Si", .age = 30, .city = "Beijing"}, /* kwargs */
		{"Wang Wu", 28, .city = "Shanghai",
		 .extra = {{"job", "programmer"}, {"hobby", "coding"}}},
	};
	mp_process_t *p[3];
	int i;

	for (i = 0; i < 3; i++) {
		p[i] = mp_process_new(task_with_args, &args[i], NULL);
		if (p[i] == NULL || mp_process_start(p[i]) < 0)
			return 1;
		/* One at a time, so the three reports do not interleave. */
		mp_process_join(p[i], MP_FOREVER);
		mp_process_free(p[i]);
	}
	return 0;
}
