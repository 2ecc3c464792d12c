/*
 * tsdb.h - saba's embedded storage engine: WAL + in-memory head behind the
 * storage interface (storage.h).
 *
 * The engine owns one data directory: it takes an exclusive lock on
 * DIR/LOCK (so two servers never share it), keeps its WAL in DIR/wal and
 * replays it on open. Formats: FORMAT.md beside this file.
 */
#ifndef SABA_STORAGE_TSDB_TSDB_H
#define SABA_STORAGE_TSDB_TSDB_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/storage.h"

struct tsdb_options {
    const char *dir;           /* data directory, created if missing */
    int64_t fsync_interval_ms; /* 0 = fsync every write before acknowledging it */
    int64_t wal_segment_bytes; /* 0 = default (128 MiB) */
    /* Blocks. 0 = the default in parentheses. */
    int64_t block_duration_ms;       /* head cut into blocks of this width (2h) */
    int64_t max_block_duration_ms;   /* compaction stops growing blocks here (7d) */
    int64_t retention_ms;            /* raw samples kept this long (15d) */
    int64_t maintenance_interval_ms; /* how often to cut, compact, apply retention (1m) */
    /* Rollup tiers: bucket width and retention of each (1m for 90d, 1h for
     * 460d); a resolution of -1 turns a tier off. */
    int64_t rollup_res_ms[2];
    int64_t rollup_retention_ms[2];
    bool no_maintenance; /* no background thread (saba import, tests) */
};

/* Defaults of the block settings (tsdb_options, config.c). */
#define TSDB_DEFAULT_BLOCK_DURATION_MS     (2LL * 3600 * 1000)
#define TSDB_DEFAULT_MAX_BLOCK_DURATION_MS (7LL * 24 * 3600 * 1000)
#define TSDB_DEFAULT_RETENTION_MS          (15LL * 24 * 3600 * 1000)
#define TSDB_DEFAULT_MAINTENANCE_MS        (60LL * 1000)
#define TSDB_DEFAULT_ROLLUP1_MS            (60LL * 1000)
#define TSDB_DEFAULT_ROLLUP1_RETENTION_MS  (90LL * 24 * 3600 * 1000)
#define TSDB_DEFAULT_ROLLUP2_MS            (3600LL * 1000)
/* 460 days: what Mackerel keeps, so history moved from it stays in reach */
#define TSDB_DEFAULT_ROLLUP2_RETENTION_MS (460LL * 24 * 3600 * 1000)

/* Open the engine. Returns 0 and *out (close with storage_close), or
 * SABA_ELOCKED if another process holds the directory, SABA_EIO otherwise,
 * with a message in err. */
int tsdb_open(const struct tsdb_options *opt, struct storage **out, struct saba_err *err);

/* Run one round of maintenance now: cut the head into a block if it spans
 * more than 1.5 block durations (all of it if flush_head), compact, apply
 * retention. st must come from tsdb_open. Returns 0 or the first error (the
 * engine keeps serving what it has either way). */
int tsdb_maintain(struct storage *st, bool flush_head, struct saba_err *err);

/* Add a batch to the head without logging it (saba import: the data lands in
 * blocks through tsdb_maintain(st, true, ...), which must follow). */
int tsdb_append_unlogged(struct storage *st, const struct batch *b, struct saba_err *err);

/* Block-level counters for /metrics and saba tsdb inspect. blocks and
 * block_bytes count every tier; block_samples and block_series raw blocks. */
struct tsdb_block_stats {
    uint64_t blocks, block_bytes, block_samples, block_series;
    uint64_t cuts, compactions, rollups, corrupt_blocks, failed_maintenance;
};
void tsdb_block_stats(struct storage *st, struct tsdb_block_stats *out);

/* Test hooks, read from the environment at tsdb_open (never set in production):
 *   SABA_TEST_CRASH=<cut|compact>:<n>  raise SIGKILL at the n-th file
 *       operation (write, fsync, rename, unlink, mkdir, rmdir) of the first
 *       head cut or compaction, to test crash safety at every step;
 *   SABA_TEST_COMPACT=off              never compact (to set up such tests). */

#endif
