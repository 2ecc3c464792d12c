/*
 * rollup_chunk.h - the rollup tiers' chunk layout: the six aggregates of a
 * run of buckets (min, max, sum, count, last, last time) in one chunk (a
 * zstd frame only where that halves it), as columns with their lengths, so
 * a reader checks one chunk per series and block and decodes only the
 * columns it needs (a year of max_over_time reads max, last and last time). Counts are plain
 * integers, last times offsets back from the bucket end (almost always 0),
 * bucket ends multiples of the resolution (a gap count each). Layout in
 * FORMAT.md ("Rollup chunk"). Block encoding BLOCK_ENC_ROLLUP, kind
 * BLOCK_KIND_ROLLUP.
 */
#ifndef SABA_STORAGE_TSDB_ROLLUP_CHUNK_H
#define SABA_STORAGE_TSDB_ROLLUP_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "base/buf.h"
#include "storage/tsdb/rollup.h"

/* Columns, in the order the chunk stores them after the bucket ends. */
enum rollup_col { RC_COUNT, RC_LAST_T, RC_MIN, RC_MAX, RC_SUM, RC_LAST, RC_NCOLS };

/* Encode n (1 to BLOCK_DENSE_MAX_SAMPLES) points of resolution res into
 * out (compressed with zc; raw is scratch). Returns 0, or -1 if the points
 * do not fit the layout (a bucket end off the resolution's grid, a count
 * that is not a small whole number, a last time outside its bucket): the
 * caller then stores the aggregates as one chunk per kind. */
int rollup_chunk_encode(ZSTD_CCtx *zc, const struct rollup_point *p, size_t n, int64_t res,
                        struct buf *raw, struct buf *out);

/* Decode a chunk of count buckets: their ends into t (NULL: not wanted) and
 * each column c with col[c] != NULL into col[c] (last times as ms since the
 * epoch, like the other values as doubles); each array has room for count
 * values. Returns count, or -1 if the chunk is malformed. Thread-safe. */
int rollup_chunk_decode(const uint8_t *data, size_t nbytes, size_t count, int64_t *t,
                        double *const col[RC_NCOLS]);

/* Point i of columns decoded by rollup_chunk_decode (t and every column). */
static inline struct rollup_point rollup_chunk_point(const int64_t *t, double *const col[RC_NCOLS],
                                                     size_t i)
{
    return (struct rollup_point){t[i],
                                 col[RC_MIN][i],
                                 col[RC_MAX][i],
                                 col[RC_SUM][i],
                                 col[RC_COUNT][i],
                                 col[RC_LAST][i],
                                 (int64_t)col[RC_LAST_T][i]};
}

#endif
