/*
 * compact.h - compaction: merging blocks into larger ones.
 *
 * The planner picks which blocks to merge: first any blocks whose time ranges
 * overlap (out-of-order cuts, imports), then, for growing ranges (block
 * duration x 3, x 9, ... up to the maximum block duration), the blocks of a
 * window that is complete (every sample before the window's end is already in
 * blocks). The merger streams the inputs' series in label order into one new
 * block; where two inputs hold a sample at the same timestamp, the input
 * with the higher seq (the newer write) wins, as in the head.
 *
 * Deletions: samples a block's tombstones cover are left out, so a block
 * with tombstones is rewritten (alone if nothing else is due) and its
 * replacement has none.
 *
 * Crash safety: the output block lists its inputs as parents. It is written
 * to <seq>.tmp and renamed into place; only then are the parents deleted
 * (renamed to <seq>.del, then removed). On open, tsdb deletes any block that
 * a visible block names as a parent, so a crash at any point leaves either
 * the old blocks or the new one visible, never both or neither.
 */
#ifndef SABA_STORAGE_TSDB_COMPACT_H
#define SABA_STORAGE_TSDB_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/tsdb/block.h"

/* Choose blocks to merge among metas (n entries, all of one resolution).
 * ranges: ascending window sizes (ms), nranges entries. done_before: every
 * sample before this time is in blocks. Writes the chosen indexes to pick
 * (room for n) and returns how many (0 = nothing to do; never 1). */
size_t compact_plan(const struct block_meta *metas, size_t n, const int64_t *ranges, size_t nranges,
                    int64_t done_before, size_t *pick);

/* Merge raw blocks in[0..n) (resolution 0: rollup blocks are not merged,
 * and their deletions apply when they are read) into blocks_dir/<seq>:
 * level = max input level + 1,
 * parents = the inputs' seqs; samples before drop_before are dropped
 * (retention). *out receives the new block's meta (nseries 0 if nothing was
 * left, then no block was written). Returns 0, SABA_EIO or SABA_ECORRUPT. */
int compact_merge(struct block **in, size_t n, const char *blocks_dir, uint64_t seq,
                  int64_t drop_before, struct block_meta *out, struct saba_err *err);

#endif
