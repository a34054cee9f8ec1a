/*
 * mpi/mpi_int.h - libmproc_mpi: an executor backend (mproc/backend.h) running
 * the tasks on the ranks of an MPI job (mproc/mpi.h, docs/mpi.md).
 *
 * Rank 0: one progress thread takes the executor's pending jobs, a credit
 * window of them per worker rank, and sends each rank its share in one
 * message (MPI_Isend); it has one MPI_Irecv posted per rank and gathers
 * results with MPI_Testsome.  While results are owed it yields (short
 * jobs) or naps until the next one is due (rank0.c: idle), woken early
 * when a job is queued; otherwise it sleeps on a condition variable until
 * a job is queued.  A rank that owes results and has sent nothing (not even a
 * heartbeat) for rank_timeout is presumed dead: its jobs fail (MP_EBROKEN).
 *
 * Worker ranks: the same call runs worker_main and exits: tasks go to a
 * local mp_executor_t (forked worker processes: a crash fails one future),
 * results go back in batches.  While its local workers have queued work,
 * the rank sleeps on their completions (heartbeating), not in MPI.
 *
 * MPI is called by one thread at a time: the caller of mp_executor_new
 * until the progress thread starts, then only that thread.
 *
 * Files: mpi.c (the registry of tasks, MPI set-up, sending and receiving
 * in pieces, shared by both sides), worker.c (worker ranks), rank0.c (rank
 * 0's progress thread), start.c (the backend, its start and stop; rank0.h
 * is rank 0's state, shared by the two), wire.c (the messages).
 * Functions and data shared between them are prefixed mpb_.
 */
#ifndef MP_MPI_INT_H
#define MP_MPI_INT_H

#include <errno.h>
#include <link.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mproc/mpi.h"
#include "mproc/process.h"
#include "mpi/wire.h"

enum { TAG_MSG = 7101, TAG_BIG = 7102 };
enum { STOP_GRACEFUL = 0, STOP_NOW = 1 };
#define STOP_FNID UINT32_MAX /* a STOP record's fnid */
#define KILL_FNID (UINT32_MAX - 1) /* a KILL record's (in MPW_TASKS) */
/* A task shorter than this is "short": both sides yield and look again
 * rather than nap while one is owed. */
enum { SHORT_NS = 2000000 };
/* A job known to take this long or more is sent ahead: one waits on its
 * rank behind each running one (rank0.c: credit). */
enum { PREFETCH_NS = 10000000 };
/* The time of a job whose function has not been timed yet. */
#define UNKNOWN_NS 1000000000u

struct send {
	struct send *next;
	MPI_Request *req;
	int nreq, dest;
	struct mpw_buf buf;
};

/* ---- the shared configuration ---- */

struct config {
	uint32_t window, local;
	double rank_timeout, task_timeout;
};

/* What every rank tells rank 0 at start. */
struct hello {
	unsigned char build_id[40];
	uint32_t build_id_len, nfn;
	uint64_t fnhash;
};

/* mpi.c: the registry, sorted at start */
extern struct mp_mpi_fn_entry **mpb_table;
extern size_t mpb_ntable;
/* A rank was lost: no rank may call MPI_Finalize. */
extern bool mpb_lost_rank;
/* The spawn mode's intercommunicator (rank 0's to the ranks it started,
 * theirs to rank 0), or MPI_COMM_NULL. */
extern MPI_Comm mpb_parent;

uint64_t mpb_now_ns(void);
/* CLOCK_MONOTONIC ns from now (the clock of mpb_cond_init's condvars). */
struct timespec mpb_monotonic_in(uint64_t ns);
void mpb_cond_init(pthread_cond_t *cv);
int mpb_table_build(uint64_t *hash);
int mpb_fn_id(uintptr_t fn, int kind, uint32_t *id);
int mpb_up(void);
/* Spawn mode, at a clean end: disconnect from the other side (so that
 * either may finalize and exit without the other). */
void mpb_disconnect(void);
int mpb_build_id_cb(struct dl_phdr_info *info, size_t size, void *arg);
int mpb_post_send(struct send **list, MPI_Comm comm, int dest,
		  struct mpw_buf *b);
void mpb_reap_sends(struct send **list, bool wait);
bool mpb_big_send_out(const struct send *list, int dest);
int mpb_finish_recv(MPI_Comm comm, int src, char *rbuf, int got,
		    char **msg, size_t *len, void (*beat)(void *), void *arg);
int mpb_send_one(struct send **sends, MPI_Comm comm, int dest,
		 uint32_t type, const struct mpw_rec *r, const void *data);

/* A trace of each task's way (build with -DMPB_TRACE): one line per event
 * on stderr, "mpbtrace <pid> <event> <rank> <slot> <monotonic ns> <process
 * CPU ns>" (a local worker's start and end give its rank's pid as rank,
 * rank 0's nap its length in us); compiled out otherwise.  Read by
 * bench/mpi/mpbtrace_maps.py. */
#ifdef MPB_TRACE
void mpb_trace(const char *ev, int rank, uint32_t slot);
#define MPB_TRACE_EV(ev, rank, slot) mpb_trace(ev, rank, slot)
#else
#define MPB_TRACE_EV(ev, rank, slot) ((void)0)
#endif

/* worker.c: a worker rank's whole life (it exits the process). */
_Noreturn void mpb_worker_main(MPI_Comm comm, const struct config *cf);

#endif
