/*
 * mpi/rank0.h - libmproc_mpi: rank 0's state, shared by rank0.c (the
 * progress thread) and start.c (the backend's start and stop).  See
 * mpi_int.h.
 */
#ifndef MP_MPI_RANK0_H
#define MP_MPI_RANK0_H

#include "mpi/mpi_int.h"

struct rank {
	bool alive, bye;
	unsigned inflight, nfree;
	unsigned nlong;     /* in flight and sent as long (not known short) */
	void **handle;      /* by slot: the job sent, or NULL */
	uint64_t *sent;     /* by slot: when */
	uint64_t *began;    /* by slot: when it began to run there (as far
			     * as rank 0 can tell), 0 while it waits there */
	uint32_t *fnid;     /* by slot: its function */
	bool *lng;          /* by slot: sent as long (counted in nlong) */
	uint32_t *free;     /* free slots (a stack) */
	uint64_t run_ns;    /* how long its last job ran there, 0: not known */
	uint32_t run_fnid;  /* that job's function */
	uint64_t last_heard;
	char *rbuf;
	struct mpw_buf out; /* the tasks of this round */
};

struct kill_req {
	struct kill_req *next;
	void *handle;
};

struct be {
	mp_executor_t *ex;
	MPI_Comm comm;
	int nranks;
	struct config cf;
	struct rank *r;        /* [1, nranks) */
	MPI_Request *rreq;     /* [0, nranks - 1): rank i + 1's receive */
	int *idx;
	MPI_Status *st;
	struct send *sends;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, quit, stopped;
	struct kill_req *kills; /* mp_future_kill's requests (under mu) */
	unsigned alive;
	mp_backend_job_t *jobs; /* hand_out's: window * ranks */
	bool held;             /* jobs[0] is taken and waits for credit */
	uint64_t last_beat;    /* when rank 0 last told the ranks it lives */
	uint64_t quiet_since;  /* nothing came nor went since (0: busy) */
	uint64_t *fn_avg;      /* by function: a job's time (moving
				* average), 0 = not known yet */
	uint64_t avg_ns;       /* that of the jobs at hand (UNKNOWN_NS) */
	uintptr_t last_fn;     /* mpb_fn_id's cache */
	int last_kind;
	uint32_t last_id;
};

/* rank0.c */
void mpb_kick(void *state);
int mpb_kill(void *state, void *handle);
void *mpb_progress(void *arg);

#endif
