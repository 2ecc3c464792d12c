/*
 * par.c - par_for (see par.h): one pthread per slice, the caller runs the first.
 */
#include "base/par.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <unistd.h>

static _Atomic int threads; /* 0: not decided yet */

void par_set_threads(int n)
{
    atomic_store(&threads, n < 1 ? 1 : n > PAR_MAX_THREADS ? PAR_MAX_THREADS : n);
}

int par_threads(void)
{
    int n = atomic_load(&threads);
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : c > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)c;
        atomic_store(&threads, n);
    }
    return n;
}

struct slice {
    void (*fn)(void *ctx, size_t lo, size_t hi);
    void *ctx;
    size_t lo, hi;
};

static void *run_slice(void *arg)
{
    struct slice *s = arg;
    s->fn(s->ctx, s->lo, s->hi);
    return NULL;
}

void par_for(size_t n, size_t min_parallel, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
    size_t nt = (size_t)par_threads();
    if (n < min_parallel || nt < 2 || n < nt) {
        if (n)
            fn(ctx, 0, n);
        return;
    }
    struct slice s[PAR_MAX_THREADS];
    pthread_t tid[PAR_MAX_THREADS];
    bool started[PAR_MAX_THREADS] = {0};
    for (size_t i = 0; i < nt; i++)
        s[i] = (struct slice){fn, ctx, n * i / nt, n * (i + 1) / nt};
    for (size_t i = 1; i < nt; i++)
        started[i] = pthread_create(&tid[i], NULL, run_slice, &s[i]) == 0;
    run_slice(&s[0]);
    for (size_t i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            run_slice(&s[i]); /* no thread to be had: do it here */
    }
}
