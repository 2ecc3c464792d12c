/*
 * head.h - the in-memory tier: series, their compressed chunks, and the
 * inverted index from label pairs to series.
 *
 * Every label string is interned once in a symbol table; a series is its
 * sorted (name, value) symbol pairs plus a list of closed Gorilla chunks and
 * one open chunk. Postings (label pair -> ascending series ids) answer
 * matcher-based selection. Series ids are dense and assigned in creation
 * order, which the WAL relies on to refer to series compactly.
 *
 * Sample semantics (documented in README "Storage semantics"):
 *  - in-order samples are appended;
 *  - a sample at an existing timestamp replaces the stored value (last write wins);
 *  - an older sample (out of order) is inserted into the chunk covering its time.
 *
 * Not thread-safe: the tsdb holds a read/write lock around every call.
 */
#ifndef SABA_STORAGE_TSDB_HEAD_H
#define SABA_STORAGE_TSDB_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/batch.h"
#include "storage/storage.h"
#include "storage/tsdb/block.h"

struct head;

/* A label given by pointer and length (not NUL-terminated), for replay. */
struct head_label {
    const char *name;
    uint32_t name_len;
    const char *value;
    uint32_t value_len;
};

struct head *head_new(void);
void head_free(struct head *h);

/* Find the series of batch sample s, creating it if new. Returns its id;
 * *is_new tells whether it has not been written to the WAL yet (see
 * head_set_logged). */
uint32_t head_series_for(struct head *h, const struct batch *b, const struct batch_sample *s,
                         bool *is_new);
/* Create a series with a given id (WAL replay). Returns 0, or SABA_EINVAL if the
 * id is taken by a different label set. */
int head_series_create(struct head *h, uint32_t id, const struct head_label *ls, size_t n);
/* Mark a series as written to the WAL (or not, after a failed append). */
void head_set_logged(struct head *h, uint32_t id, bool logged);
/* Does the series exist? */
bool head_has_series(const struct head *h, uint32_t id);
/* Number of series (the next id). */
uint32_t head_num_series(const struct head *h);

/* Add one sample to series id, per the semantics above. */
void head_append(struct head *h, uint32_t id, int64_t t, double v);

/* See storage_ops.select. */
int head_select(struct head *h, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                bool samples, struct series_set *out, struct saba_err *err);
/* head_select with samples, handed to visit series by series (see
 * storage.h, select_each). */
int head_select_each(struct head *h, struct matcher *const *m, size_t nm, int64_t mint,
                     int64_t maxt, storage_select_begin begin, storage_series_visit visit,
                     void *arg, struct saba_err *err);
void head_label_names(struct head *h, struct strlist *out);
void head_label_values(struct head *h, const char *name, struct strlist *out);
void head_stats(struct head *h, struct storage_stats *out);

/* ---- cutting blocks and checkpoints ---- */

/* Oldest and newest sample time in the head; false if the head is empty. */
bool head_time_range(const struct head *h, int64_t *mint, int64_t *maxt);

/* A series as head_visit shows it. Everything is borrowed for the duration of
 * the callback only. */
struct head_series_view {
    uint32_t id;
    const struct label *ls;
    size_t nls;
    const struct block_chunk *chunks; /* time order, only samples in [after, before) */
    size_t nchunks;
};
typedef int (*head_series_fn)(void *ctx, const struct head_series_view *s);

/* Call fn for every series with samples in [after, before) (INT64_MIN,
 * INT64_MAX: all), in ascending label order if sorted, else by id. Chunks
 * straddling a bound are re-encoded to hold only the samples inside. Stops
 * at the first non-zero return and returns it. */
int head_visit(struct head *h, int64_t after, int64_t before, bool sorted, head_series_fn fn,
               void *ctx);

/* Drop every sample older than t. A series left without samples is marked
 * not logged, so the next batch that uses it defines it again in the WAL
 * (the checkpoint leaves it out). Returns the number of samples dropped. */
uint64_t head_truncate(struct head *h, int64_t t);

/* Delete the samples in [mint, maxt] of every series matching all of m.
 * Returns the number of samples deleted. */
uint64_t head_delete(struct head *h, struct matcher *const *m, size_t nm, int64_t mint,
                     int64_t maxt);

/* Add a chunk to series id as a closed chunk (checkpoint loading). The chunk
 * must lie after every chunk the series has. Copies data. */
void head_load_chunk(struct head *h, uint32_t id, const struct block_chunk *c);

#endif
