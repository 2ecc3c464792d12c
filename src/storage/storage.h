/*
 * storage.h - the storage engine interface.
 *
 * The server talks to storage only through this table of functions, so that
 * the embedded tsdb (src/storage/tsdb) can later be swapped for a backend on
 * a distributed database without touching ingestion or query code.
 *
 * Threading: every operation is safe to call from any thread concurrently.
 */
#ifndef SABA_STORAGE_STORAGE_H
#define SABA_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"
#include "storage/labels.h"
#include "storage/matcher.h"

/* One selected series and, if asked for, its samples in [mint, maxt] in time order. */
struct series_data {
    struct labels labels; /* owned */
    size_t n;
    int64_t *t; /* owned, n entries (NULL if samples were not requested) */
    double *v;
};

struct series_set {
    struct series_data *v; /* sorted by labels */
    size_t n;
};

void series_set_free(struct series_set *s);

/* A list of strings (label names or values), owned. */
struct strlist {
    char **v;
    size_t n, cap;
};

void strlist_add(struct strlist *l, const char *s);
/* Sort and drop duplicates. */
void strlist_sort_unique(struct strlist *l);
void strlist_free(struct strlist *l);

struct storage_stats {
    uint64_t series;
    uint64_t samples;
    uint64_t head_bytes; /* memory of chunks and index, estimated */
    uint64_t wal_bytes;
    uint64_t out_of_order; /* samples inserted behind a series' newest sample */
    uint64_t overwritten;  /* samples that replaced one at the same timestamp */
    /* the on-disk tier (0 for engines without one) */
    uint64_t blocks, block_bytes, block_samples, compactions, corrupt_blocks;
};

struct storage;

/* Aggregates kept per rollup bucket (values match the tsdb block kinds). */
enum storage_agg {
    STORAGE_AGG_MIN = 1,
    STORAGE_AGG_MAX,
    STORAGE_AGG_SUM,
    STORAGE_AGG_COUNT,
    STORAGE_AGG_LAST,
    STORAGE_AGG_LAST_T /* time (ms) of the bucket's last sample, as a value */
};

#define STORAGE_MAX_ROLLUPS 4
/* Most aggregates one select_rollup or scan_rollup asks for. */
#define STORAGE_MAX_ROLLUP_AGGS 8

/* scan_rollup's callback: one series' n buckets (ends ascending) with v[i]
 * the values of aggs[i]. The arrays and labels are the engine's, valid only
 * during the call. A nonzero return stops the scan, which returns it. */
typedef int (*storage_rollup_visit)(void *arg, const struct labels *ls, size_t n, const int64_t *t,
                                    const double *const *v);

/* select_each's callbacks. begin(arg, n) runs first, once, on the calling
 * thread: the selection holds n series. Then visit(arg, k, ls, n, t, v) runs
 * for series k (0 <= k < n, in label order; a series without samples in the
 * window is skipped) with its labels, which the callee now owns, and its
 * n >= 1 samples in time order, in the engine's scratch arrays: writable,
 * valid only during the call. visit runs concurrently on several threads
 * (for different k), maybe with the engine's read lock held (the tsdb holds
 * it while it decodes the head, so appends wait): it must not call the
 * engine. */
typedef void (*storage_select_begin)(void *arg, size_t n);
typedef void (*storage_series_visit)(void *arg, size_t k, struct labels *ls, size_t n, int64_t *t,
                                     double *v);

struct storage_ops {
    /* Append a validated batch durably: when this returns 0 the batch is in the
     * WAL (fsynced if the policy is "always") and visible to queries. The batch
     * is applied whole or, on error, not acknowledged (SABA_EIO). */
    int (*append)(struct storage *s, const struct batch *b, struct saba_err *err);
    /* Select series matching all matchers that have samples in [mint, maxt].
     * With samples=false only labels are returned. Result sorted by labels. */
    int (*select)(struct storage *s, struct matcher *const *m, size_t nm, int64_t mint,
                  int64_t maxt, bool samples, struct series_set *out, struct saba_err *err);
    /* Optional: what select with samples returns, handed over series by
     * series instead of built whole, so that a caller computing one result
     * per series (rate(x[5m]) over every host) never holds all the samples
     * and the engine allocates nothing per series but the labels. Returns 0
     * or an error as select does (then visit may not have run at all). */
    int (*select_each)(struct storage *s, struct matcher *const *m, size_t nm, int64_t mint,
                       int64_t maxt, storage_select_begin begin, storage_series_visit visit,
                       void *arg, struct saba_err *err);
    /* All label names, or all values of one label, over all series (sorted). */
    int (*label_names)(struct storage *s, struct strlist *out);
    int (*label_values)(struct storage *s, const char *name, struct strlist *out);
    void (*stats)(struct storage *s, struct storage_stats *out);
    /* Rollups (optional: NULL for engines without them). rollup_resolutions
     * writes the bucket widths (ms, ascending, at most STORAGE_MAX_ROLLUPS)
     * and returns how many. select_rollup returns, per matching series, the
     * aggregates aggs[0..naggs) of each bucket ((k-1)*res, k*res] whose end
     * lies in [mint, maxt], as samples stamped with the bucket end: outs[i]
     * holds aggs[i], and all outs list the same series (sorted by labels)
     * with the same timestamps. res must be one of the resolutions. Buckets
     * the rollup tier does not hold yet are computed from raw samples, so the
     * answer is the same whichever tier holds the data. */
    /* Optional: delete the samples in [mint, maxt] of every series matching
     * all of m, durably (like an append: done when this returns 0). Queries
     * stop returning them at once; the on-disk form drops them at the next
     * compaction. Returns 0, SABA_EIO or SABA_ENOSPC. */
    int (*delete_series)(struct storage *s, struct matcher *const *m, size_t nm, int64_t mint,
                         int64_t maxt, struct saba_err *err);
    /* Optional: write everything in memory to the on-disk form now (for
     * backups and benchmarks). Returns 0, SABA_EIO or SABA_ENOSPC. */
    int (*flush)(struct storage *s, struct saba_err *err);
    size_t (*rollup_resolutions)(struct storage *s, int64_t *out);
    /* Time range [*from, *to] the rollup tier of width res holds (bucket
     * ends); false if it holds nothing yet (then raw samples serve best). */
    bool (*rollup_span)(struct storage *s, int64_t res, int64_t *from, int64_t *to);
    int (*select_rollup)(struct storage *s, struct matcher *const *m, size_t nm, int64_t mint,
                         int64_t maxt, int64_t res, const enum storage_agg *aggs, size_t naggs,
                         struct series_set *outs, struct saba_err *err);
    /* Optional: what select_rollup returns, handed over series by series
     * (in label order, only the series with buckets in [mint, maxt]) instead
     * of built whole, so a caller can fold a year of buckets without holding
     * them. visit runs on the calling thread with the engine's read lock
     * held: it must not call the engine. Several scans may run at once
     * (over disjoint time ranges, say). Returns 0, visit's nonzero return,
     * or SABA_EINVAL for an unknown resolution or aggregate. */
    int (*scan_rollup)(struct storage *s, struct matcher *const *m, size_t nm, int64_t mint,
                       int64_t maxt, int64_t res, const enum storage_agg *aggs, size_t naggs,
                       storage_rollup_visit visit, void *arg, struct saba_err *err);
    /* Flush and release; storage_close(NULL) does nothing. */
    void (*close)(struct storage *s);
};

struct storage {
    const struct storage_ops *ops;
};

static inline void storage_close(struct storage *s)
{
    if (s)
        s->ops->close(s);
}

#endif
