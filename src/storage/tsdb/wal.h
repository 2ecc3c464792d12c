/*
 * wal.h - the write-ahead log: every accepted batch is appended here before
 * it is acknowledged.
 *
 * The WAL is a directory of numbered segment files. A segment is a sequence of
 * records: u32le payload length, u32le CRC32C of the payload, payload (see
 * FORMAT.md). Opening a WAL replays every record in order; a torn or corrupt
 * tail of the last segment (a crash during append) is truncated and logged,
 * never fatal. The payload is opaque here: the head defines what it holds.
 */
#ifndef SABA_STORAGE_TSDB_WAL_H
#define SABA_STORAGE_TSDB_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define WAL_HEADER_BYTES     8
#define WAL_MAX_RECORD_BYTES (1u << 30) /* a larger length field is corruption */

struct wal;

struct wal_options {
    int64_t fsync_interval_ms; /* 0 = fsync before every acknowledgement ("always") */
    int64_t segment_bytes;     /* start a new segment beyond this size */
    int64_t replay_from;       /* segments below this number are covered by a checkpoint:
                                  not replayed, deleted at open */
};

struct wal_replay_stats {
    uint64_t records;
    uint64_t bytes;
    uint64_t truncated_bytes; /* torn tail cut off the last segment */
    uint64_t corrupt_segments;
};

/* Called for each intact record during replay, in order. The payload is borrowed
 * for the duration of the call. A non-zero return is logged and replay goes on. */
typedef int (*wal_record_fn)(void *ctx, const uint8_t *payload, size_t n);

/* Open (creating if needed) the WAL in dir, replaying existing records through fn.
 * Returns 0 and *out (free with wal_close), or a negative code with err filled in. */
int wal_open(const char *dir, const struct wal_options *opt, wal_record_fn fn, void *ctx,
             struct wal_replay_stats *stats, struct wal **out, struct saba_err *err);

/* Append one record. Not safe against concurrent wal_append calls: the caller
 * serializes appends (the tsdb's write lock). Writes reach the page cache before
 * return; *lsn identifies the record for wal_sync. Returns 0 or SABA_EIO. */
int wal_append(struct wal *w, const void *payload, size_t n, uint64_t *lsn, struct saba_err *err);

/* Make every record up to lsn durable: with fsync "always" this fsyncs now (one
 * fsync serves every record written before it); with an interval it returns at
 * once, as the background flusher covers it. Thread-safe. */
int wal_sync(struct wal *w, uint64_t lsn, struct saba_err *err);

/* Fsync everything written so far, whatever the policy (for shutdown and the flusher). */
int wal_flush(struct wal *w, struct saba_err *err);

/* Seal the current segment (fsync) and start the next one. *sealed is the
 * number of the sealed segment. Caller serializes with wal_append. Returns 0
 * or SABA_EIO (then the WAL stays on the old segment). */
int wal_cut(struct wal *w, uint32_t *sealed, struct saba_err *err);

/* Delete segments numbered below seg (a checkpoint covers them). */
void wal_remove_before(struct wal *w, uint32_t seg);

/* Total bytes in all segments. */
uint64_t wal_size(struct wal *w);

/* Flush, stop the background flusher and close. wal_close(NULL) does nothing. */
void wal_close(struct wal *w);

/* Scan a segment image: call fn for each intact record from the start and
 * return the length of the intact prefix (where a torn or corrupt record
 * begins, or n). Pure; used by replay and by the fuzz target. */
size_t wal_scan(const uint8_t *data, size_t n, wal_record_fn fn, void *ctx, uint64_t *records);

#endif
