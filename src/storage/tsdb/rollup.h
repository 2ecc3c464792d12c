/*
 * rollup.h - rollup tiers: raw samples summarized per time bucket.
 *
 * For a resolution R (1 m and 1 h by default), a rollup block holds for each
 * series and each bucket ((k-1)*R, k*R] that has samples their min, max,
 * sum, count, last value and the last value's time, stamped with the
 * bucket ends (k*R), all six in one rollup chunk per run of buckets
 * (rollup_chunk.h; blocks written before it: one chunk stream per kind
 * MIN..LAST_T). Left-open buckets match
 * PromQL's range windows (t - range, t]. A year of a series at 1 h is 8,760
 * points per kind instead of ~525,000 raw samples, which is what makes long
 * range queries fast; max_over_time uses the max stream, avg_over_time
 * sum/count, and so on, so results keep their meaning.
 *
 * A rollup block is made from one raw block once that block has reached its
 * final size (its compaction window at the maximum block duration is
 * complete) and records it as `source`; if the raw block is later replaced
 * (out-of-order data merged in), the rollup is made again from the new block
 * and replaces the rollup blocks inside its range (as parents, crash-safe
 * like compaction). Retention is per tier.
 */
#ifndef SABA_STORAGE_TSDB_ROLLUP_H
#define SABA_STORAGE_TSDB_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/tsdb/block.h"

/* Summarize raw block `raw` at resolution res (ms) into blocks_dir/<seq>,
 * replacing the rollup blocks listed in parents (np entries). *out gets the
 * meta (nseries 0: nothing written). Returns 0, SABA_EIO or SABA_ECORRUPT. */
int rollup_write(struct block *raw, int64_t res, const char *blocks_dir, uint64_t seq,
                 const uint64_t *parents, size_t np, struct block_meta *out, struct saba_err *err);

/* Bucket aggregates of one series. */
struct rollup_point {
    int64_t t; /* bucket end */
    double min, max, sum, count, last;
    int64_t last_t; /* time of the last sample: lets a closed window [t - range, t]
                       include a sample exactly at t - range */
};

/* Summarize time-sorted samples t/v (n) into buckets of width res: writes up
 * to n points to out and returns how many. Staleness markers are skipped;
 * NaN values count, and min/max prefer a number over NaN (as *_over_time). */
size_t rollup_bucketize(const int64_t *t, const double *v, size_t n, int64_t res,
                        struct rollup_point *out);

/* The value of one aggregate (a block kind MIN..LAST) of a point. */
double rollup_value(const struct rollup_point *p, enum block_kind kind);

#endif
