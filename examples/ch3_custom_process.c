/* ch3_custom_process - 3.3.1 A custom Process class: state and run() bound together */
#include <mproc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/*
 * Python subclasses Process and overrides run().  The C idiom: a struct
 * that holds the state, plus the run function that receives it; a small
 * constructor ties them to an mp_process_t.  The child gets a copy of the
 * struct (fork), so what run() stores there stays in the child, exactly as
 * self.result does in Python: send results back through a Pipe, Queue or
 * shared memory (chapter 4).
 */
struct custom_worker {
	const char *task_name;
	int work_duration;
};

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int custom_worker_run(void *self)
{
	struct custom_worker *w = self;
	const char *me = mp_process_name(mp_current_process());

	printf("custom process %s starts task: %s (PID %d)\n", me, w->task_name,
	       (int)getpid());
	for (int i = 0; i < w->work_duration; i++) {
		nap(0.05);
		printf("%s - %s progress: %d/%d\n", me, w->task_name, i + 1,
		       w->work_duration);
	}
	printf("custom process %s finished its task\n", me);
	return 0;
}

static mp_process_t *custom_worker_new(struct custom_worker *w, const char *name)
{
	return mp_process_new(custom_worker_run, w,
			      &(mp_process_opts_t){.name = name});
}

/* A second "class": processes a list of data with a function. */
struct data_processor {
	const int *data;
	int n;
	int (*process_func)(int);
};

static int square(int x)
{
	return x * x;
}

static int data_processor_run(void *self)
{
	struct data_processor *d = self;
	const char *me = mp_process_name(mp_current_process());

	printf("data process %s handles %d items\n", me, d->n);
	for (int i = 0; i < d->n; i++)
		printf("%s: item %d/%d - %d -> %d\n", me, i + 1, d->n, d->data[i],
		       d->process_func(d->data[i]));
	printf("data process %s done\n", me);
	return 0;
}

int main(void)
{
	struct custom_worker w[3] = {{"data cleaning", 3}, {"data analysis", 4},
				     {"report generation", 2}};
	const char *names[3] = {"Cleaner", "Analyzer", "Reporter"};
	static const int data[] = {1, 2, 3, 4, 5};
	struct data_processor dp = {data, 5, square};
	mp_process_t *all[4];
	int i;

	printf("main process PID: %d\n", (int)getpid());
	for (i = 0; i < 3; i++)
		all[i] = custom_worker_new(&w[i], names[i]);
	all[3] = mp_process_new(data_processor_run, &dp,
				&(mp_process_opts_t){.name = "DataProcessor"});
	for (i = 0; i < 4; i++) {
		if (all[i] == NULL || mp_process_start(all[i]) < 0)
			return 1;
		printf("started process: %s\n", mp_process_name(all[i]));
	}
	for (i = 0; i < 4; i++) {
		mp_process_join(all[i], MP_FOREVER);
		printf("process %s has ended\n", mp_process_name(all[i]));
		mp_process_free(all[i]);
	}
	printf("all custom processes are done\n");
	return 0;
}
