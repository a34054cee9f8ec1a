/*
 * mproc/mpi.h - the executor across machines: libmproc_mpi runs the tasks
 * of an mp_executor_t on the ranks of an Open MPI job (pkg-config
 * mproc_mpi, CMake component mproc::mproc_mpi; docs/mpi.md).
 *
 * SPMD, as mpi4py's MPICommExecutor: every rank of `mpirun -np N ./app`
 * calls mp_executor_new with .backend = mp_mpi_backend(); rank 0 gets the
 * executor, the other ranks run tasks until rank 0 shuts it down, and then
 * exit(0) inside that call.  Everything else is the executor's API
 * (mproc/executor.h), unchanged.
 *
 * A task must be registered by name on every rank (the ranks are other
 * processes of the same binary, where pointers differ):
 *
 *     static int shout(const void *in, size_t len, mp_task_out_t *out);
 *     MP_MPI_TASK(shout);
 *     static int square(const void *in, void *out);
 *     MP_MPI_MAP(square);
 *
 * Each worker rank runs its tasks in local worker processes (a local
 * mp_executor_t), so a task that crashes fails its own future only
 * (MP_EBROKEN).  A rank that stops answering while it owes results is
 * presumed dead after opts.rank_timeout: its tasks fail with MP_EBROKEN,
 * the others go on; with no rank left the executor is broken.
 */
#ifndef MPROC_MPI_H
#define MPROC_MPI_H

#include "mproc/backend.h"
#include "mproc/executor.h"
#include "mproc/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_mpi_opts {
	unsigned local_workers; /* worker processes per worker rank; 0 = 1 */
	unsigned window;        /* at most this many tasks in flight per
				 * worker rank (while tasks are short; long
				 * ones: 2 per local worker); 0 = 256 */
	double rank_timeout;    /* a rank owing results and silent this long
				 * is dead, and rank 0 silent this long for
				 * the worker ranks; 0 = 10 s (heartbeats
				 * every 1/4) */
	unsigned spawn;         /* 0: SPMD (mpirun -np N ./app); N: this
				 * process, started alone (./app), starts N
				 * worker ranks running this program with
				 * its arguments (MPI_Comm_spawn), which
				 * serve inside mp_executor_new */
} mp_mpi_opts_t;

/*
 * mp_mpi_backend - the backend for mp_executor_opts_t.backend
 * (backend_arg: an mp_mpi_opts_t *, or NULL for the defaults).  Its start
 * initialises MPI (MPI_THREAD_SERIALIZED or better) unless the program
 * did, and finalises it at exit if it did so.  mp_executor_new then fails
 * with -EPROTO when a rank runs another binary (build ids differ) or has
 * other registered tasks, -ENOTSUP without enough thread support or
 * fewer than 2 ranks, for a second executor in one MPI job (the worker
 * ranks exit with the first) and for opts->initializer or
 * max_tasks_per_child (not supported; opts->max_workers is ignored:
 * local_workers is per rank), -EINVAL for spawn in a job of more than one
 * rank (mpirun -np N), MP_EBROKEN when MPI fails, -ENOMEM.  Never NULL.
 * Thread-safe.
 */
MP_API const struct mp_executor_backend *mp_mpi_backend(void);

/* The MPI rank of this process (MPI_COMM_WORLD; 0 before MPI_Init) and the
 * number of ranks (1 before).  Thread-safe. */
MP_API int mp_mpi_rank(void);
MP_API int mp_mpi_size(void);

/* A registered function (filled by MP_MPI_TASK / MP_MPI_MAP). */
struct mp_mpi_fn_entry {
	const char *name;
	void (*fn)(void);
	int kind; /* MP_BACKEND_APPLY or MP_BACKEND_MAP */
	struct mp_mpi_fn_entry *next;
};

/*
 * mp_mpi_register - make fn runnable by name on every rank.  The macros
 * below call it at load time; the entry must live for ever.  Register
 * before mp_executor_new (every rank the same set).  Two functions of one
 * name make both unusable (their tasks fail with -EINVAL).  e NULL, or an
 * entry without a name or fn, is ignored.  Thread-safe.
 */
MP_API void mp_mpi_register(struct mp_mpi_fn_entry *e);

#define MP_MPI_REGISTER_(fn, kind, type)                                       \
	__attribute__((unused)) static const type mp_mpi_type_##fn = fn;      \
	static struct mp_mpi_fn_entry mp_mpi_entry_##fn = {                    \
		#fn, (void (*)(void))fn, kind, 0};                            \
	__attribute__((constructor)) static void mp_mpi_ctor_##fn(void)        \
	{                                                                      \
		mp_mpi_register(&mp_mpi_entry_##fn);                           \
	}                                                                      \
	struct mp_mpi_semicolon_##fn

/* MP_MPI_TASK(fn): an mp_task_fn for submit; MP_MPI_MAP(fn): an mp_map_fn
 * for map.  At file scope, after fn. */
#define MP_MPI_TASK(fn)                                                        \
	MP_MPI_REGISTER_(fn, MP_BACKEND_APPLY, mp_task_fn)
#define MP_MPI_MAP(fn) MP_MPI_REGISTER_(fn, MP_BACKEND_MAP, mp_map_fn)

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MPI_H */
