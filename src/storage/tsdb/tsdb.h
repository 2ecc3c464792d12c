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

#include <stdint.h>

#include "base/err.h"
#include "storage/storage.h"

struct tsdb_options {
    const char *dir;           /* data directory, created if missing */
    int64_t fsync_interval_ms; /* 0 = fsync every write before acknowledging it */
    int64_t wal_segment_bytes; /* 0 = default (128 MiB) */
};

/* Open the engine. Returns 0 and *out (close with storage_close), or
 * SABA_ELOCKED if another process holds the directory, SABA_EIO otherwise,
 * with a message in err. */
int tsdb_open(const struct tsdb_options *opt, struct storage **out, struct saba_err *err);

#endif
