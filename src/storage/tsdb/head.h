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

/* The head's counters. Replay threads appending with head_append_shard count
 * into their own, added to the head's by head_add_tally. */
struct head_tally {
    uint64_t nsamples, ooo, overwritten;
    int64_t chunk_bytes;
    int64_t mint, maxt; /* sample time range, valid if nsamples > 0 */
};

struct head *head_new(void);
void head_free(struct head *h);

/* Find the series of batch sample s, creating it if new. Returns its id;
 * *is_new tells whether it has not been written to the WAL yet (see
 * head_set_logged). */
uint32_t head_series_for(struct head *h, const struct batch *b, const struct batch_sample *s,
                         bool *is_new);
/* Size the head's tables for nseries series (a hint: a checkpoint knows
 * how many it holds, and growing a table of a million is slow). */
void head_reserve(struct head *h, uint32_t nseries);
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

/* ---- WAL replay on several threads ----
 *
 * The one exception to "not thread-safe": while threads call
 * head_append_shard, each for its own set of existing series (no series in
 * two sets), one other thread may create series with ids below
 * head_capacity (head_series_create) and append to series in its own set
 * (head_append). Nothing else may run meanwhile. Handing a series' samples
 * to another thread must synchronise (a mutex), so that thread sees the
 * series. */

/* Series ids below this get their slots without moving the head's tables. */
uint32_t head_capacity(const struct head *h);
/* head_append, counting into k (the caller's, then head_add_tally). */
void head_append_shard(struct head *h, struct head_tally *k, uint32_t id, int64_t t, double v);
void head_add_tally(struct head *h, const struct head_tally *k);
/* Start loading series id, and the end of its open chunk, into the cache. A
 * replay calls them some samples ahead (the series first, as the second
 * reads it): with a million series, the reads and writes of each sample's
 * series and chunk were cache misses, most of a replay's time. The series
 * must exist (created before, on this thread or handed over). */
void head_prefetch_series(const struct head *h, uint32_t id);
void head_prefetch(const struct head *h, uint32_t id);

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

/* ---- loading a checkpoint ---- */

/* Bytes before a chunk's data in a version 2 checkpoint chunk record
 * (FORMAT.md "WAL checkpoint"), the layout of the head's closed chunks. */
#define HEAD_CHUNK_RECORD_HEADER 24
/* The kind byte (offset 22) of such a record: "use me where I lie". */
#define HEAD_CHUNK_RECORD_MAPPED 2

/* Hand the head a read-only mapping of a checkpoint (image, len), which it
 * unmaps once no chunk uses it. head_load_chunks then keeps chunks whose
 * records lie in it where they are instead of copying them. Call with NULL
 * when loading is done: from then on the last chunk out unmaps it. */
void head_adopt_image(struct head *h, const void *image, size_t len);

/* Add n chunks, in time order, to series id as closed chunks. They must lie
 * after every chunk the series has. A chunk whose data is in an adopted
 * image, 8-byte aligned behind a record header of kind
 * HEAD_CHUNK_RECORD_MAPPED, is used in place; any other is copied. */
void head_load_chunks(struct head *h, uint32_t id, const struct block_chunk *c, size_t n);

#endif
