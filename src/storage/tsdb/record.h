/*
 * record.h - the payload of a WAL record: one acknowledged batch.
 *
 * A record defines the series the batch created (id + labels) and then lists
 * its samples by series id, with delta-encoded ids and timestamps and integer
 * values as varints (most host metrics are integers). Layout in FORMAT.md
 * ("WAL record payload").
 */
#ifndef SABA_STORAGE_TSDB_RECORD_H
#define SABA_STORAGE_TSDB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "storage/batch.h"
#include "storage/matcher.h"
#include "storage/tsdb/head.h"

#define RECORD_BATCH  1
#define RECORD_DELETE 2

/* Append the payload for batch b to out. ids[i] is the series of b->samples[i];
 * new_samples lists the indexes of samples whose series must be defined
 * (each series once), n_new entries. */
void record_encode_batch(struct buf *out, const struct batch *b, const uint32_t *ids,
                         const uint32_t *new_samples, size_t n_new);

/* Append the payload of a deletion: the samples in [mint, maxt] of the
 * series matching all of m (FORMAT.md "WAL record payload (type 2)"). */
void record_encode_delete(struct buf *out, struct matcher *const *m, size_t nm, int64_t mint,
                          int64_t maxt);

/* Replay one payload (a batch or a deletion) into the head. Returns 0, or SABA_ECORRUPT if the
 * payload does not decode (whatever decoded before the fault stays applied). *samples counts
 * applied samples. */
int record_apply(struct head *h, const uint8_t *p, size_t n, uint64_t *samples,
                 struct saba_err *err);

#endif
