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

#include <stdbool.h>
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

/* Replaying many records: samples are appended on two threads when
 * threaded (see record.c), in WAL order per series. Samples of a record are
 * in the head once record_replay_free returns (earlier for this thread's
 * share), which also adds the worker's counts to the head's. The head must
 * not be used otherwise in between. */
struct record_replay;
struct record_replay *record_replay_new(struct head *h, bool threaded);
int record_replay_apply(struct record_replay *r, const uint8_t *p, size_t n, uint64_t *samples,
                        struct saba_err *err);
void record_replay_free(struct record_replay *r);

/* Replay one payload (a batch or a deletion) into the head. Returns 0, or SABA_ECORRUPT if the
 * payload does not decode (whatever decoded before the fault stays applied). *samples counts
 * applied samples. */
int record_apply(struct head *h, const uint8_t *p, size_t n, uint64_t *samples,
                 struct saba_err *err);

#endif
