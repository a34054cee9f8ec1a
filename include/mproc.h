/*
 * mproc.h - Python's multiprocessing, concurrent.futures (process side) and
 * subprocess for C programs on Linux: the whole library in one header.
 *
 * Include this, or only the module headers you use (mproc/<module>.h).
 * See docs/guide.md for the tour and docs/<module>.md for each module.
 */
#ifndef MPROC_H
#define MPROC_H

#include "mproc/backend.h"
#include "mproc/common.h"
#include "mproc/connection.h"
#include "mproc/executor.h"
#include "mproc/manager.h"
#include "mproc/obj.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "mproc/queue.h"
#include "mproc/shm.h"
#include "mproc/signal.h"
#include "mproc/subprocess.h"
#include "mproc/sync.h"

#endif /* MPROC_H */
