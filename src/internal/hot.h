/*
 * internal/hot.h - MP__HOT marks the functions a pool's fresh worker runs
 * for each task (its birth as an heir, its loop, the rings, its exit).
 * They are placed together (.text.hot, next to each other whatever file
 * they come from): a new process faults its code in by windows of 64 KiB,
 * each fault at a price, and a worker that runs one task pays for every
 * window its few functions are spread over (see heir_line in
 * pool/worker.c).
 */
#ifndef MPROC_INTERNAL_HOT_H
#define MPROC_INTERNAL_HOT_H

#define MP__HOT __attribute__((section(".text.hot.mproc")))

#endif
