/*
 * par.h - run a loop over [0, n) on every CPU.
 *
 * Query evaluation is per series and embarrassingly parallel (a rate() over
 * all hosts computes each series on its own): par_for splits the index range
 * into one contiguous slice per thread and waits for all of them. Small loops
 * stay on the calling thread, where starting threads would cost more than
 * they save.
 */
#ifndef SABA_BASE_PAR_H
#define SABA_BASE_PAR_H

#include <stddef.h>

/* Call fn(ctx, lo, hi) on disjoint slices covering [0, n), concurrently when
 * n >= min_parallel, and return when all are done. fn must be thread-safe
 * for disjoint slices. */
void par_for(size_t n, size_t min_parallel, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

/* par_for never splits into more slices than this. */
#define PAR_MAX_THREADS 64

/* Threads par_for uses at most (the CPUs online, at least 1; 1 makes it serial). */
void par_set_threads(int n);
int par_threads(void);

#endif
