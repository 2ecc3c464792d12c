/*
 * remote_write.h - Prometheus remote-write 1.0: a decoded (snappy-free)
 * protobuf WriteRequest -> batch, or (series, reason).
 *
 * Every sample of every TimeSeries becomes a batch sample with the series'
 * labels; staleness markers (Prometheus' special NaN) pass through bit for
 * bit. Exemplars, native histograms and metadata are not stored: they are
 * counted in remote_write_stats so the server can report them. As with the
 * other protocols the request is all or nothing: the first bad series
 * rejects it, and err->line is that series' 1-based index in the request.
 */
#ifndef SABA_INGEST_REMOTE_WRITE_H
#define SABA_INGEST_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

struct remote_write_stats {
    uint64_t series;
    uint64_t exemplars;  /* skipped */
    uint64_t histograms; /* native histogram samples, skipped */
    uint64_t metadata;   /* skipped */
};

int remote_write_parse(const uint8_t *data, size_t n, struct batch *b,
                       struct remote_write_stats *st, struct saba_err *err);

#endif
