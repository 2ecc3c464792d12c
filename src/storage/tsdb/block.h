/*
 * block.h - immutable on-disk blocks: the long-term tier of the tsdb.
 *
 * A block is a directory DATA/blocks/<seq> holding every sample of its
 * series in a time range: `chunks` (format v2: packs, zstd frames of many
 * series' chunks; v1: one zstd frame per chunk), `index` (v2: zstd-compressed)
 * (series with their label symbols and chunk references, a label index
 * name -> value -> postings, a symbol table) and `meta` (range, counts,
 * resolution, compaction parents). Layouts in FORMAT.md ("Blocks").
 *
 * A block is written once by block_writer into <seq>.tmp and made visible by
 * one rename, so a crash leaves either no block or a whole one. Readers mmap
 * the files (a v2 index is decompressed into memory at open); the index
 * checksum is verified at open (a bad block is refused by name and the
 * engine skips it), a pack's checksum when it is decompressed and each
 * chunk's checksum when it is read. Decompressed packs are kept in a small
 * cache shared by all blocks and threads.
 *
 * Rollup blocks (resolution > 0) hold, per series, five chunks per time
 * range: min, max, sum, count and last of each resolution-wide bucket
 * (chunk kinds below).
 */
#ifndef SABA_STORAGE_TSDB_BLOCK_H
#define SABA_STORAGE_TSDB_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "base/err.h"
#include "storage/labels.h"
#include "storage/matcher.h"
#include "storage/storage.h"

#define BLOCK_MAX_PARENTS 64

/* What the samples of a chunk are: raw samples or one rollup aggregate. */
enum block_kind {
    BLOCK_KIND_RAW = 0,
    BLOCK_KIND_MIN,
    BLOCK_KIND_MAX,
    BLOCK_KIND_SUM,
    BLOCK_KIND_COUNT,
    BLOCK_KIND_LAST,
    BLOCK_KIND_LAST_T, /* rollups: timestamp (ms) of the bucket's last sample */
    BLOCK_KIND_ROLLUP, /* rollups: all six aggregates in one chunk (BLOCK_ENC_ROLLUP) */
    BLOCK_KINDS
};

struct block_meta {
    uint64_t seq;          /* unique, increasing; on equal timestamps the higher seq wins */
    int64_t mint, maxt;    /* first and last sample time, inclusive */
    int64_t resolution_ms; /* 0 = raw samples, else the rollup bucket width */
    uint32_t level;        /* 0 = cut from the head; +1 per compaction */
    uint64_t nseries, nsamples, nchunks;
    uint64_t bytes;  /* size of chunks + index + meta */
    uint64_t source; /* rollup blocks: seq of the raw block they summarize; 0 otherwise */
    uint32_t nparents;
    uint64_t parents[BLOCK_MAX_PARENTS]; /* blocks this one replaces (compaction) */
};

/* How a chunk's bytes encode its samples. */
enum block_enc {
    BLOCK_ENC_GORILLA = 0, /* the head's chunk format (chunk.h) */
    /* The blocks' format: decimal-scaled integer deltas or XOR'ed float bits,
     * zstd-compressed (FORMAT.md "Dense chunk"). The writer turns every
     * Gorilla chunk into this. Written by format v1 only. */
    BLOCK_ENC_DENSE = 1,
    /* The content of a dense chunk without the zstd frame: what a format v2
     * block may store inside its packs (FORMAT.md "chunks"); only the first
     * version 2 writer wrote it. */
    BLOCK_ENC_RAW = 2,
    /* The same timestamps and value codes with the codes as byte planes
     * (FORMAT.md "Plane chunk"), inside a version 2 pack: what the writer
     * turns every chunk into. */
    BLOCK_ENC_PLANES = 3,
    /* The rollup tiers' format: every aggregate of a run of buckets in one
     * chunk, zstd-compressed when that pays (rollup_chunk.h, FORMAT.md
     * "Rollup chunk"); kind BLOCK_KIND_ROLLUP only, which block_chunk_decode
     * does not decode. Never inside a pack: read in place. */
    BLOCK_ENC_ROLLUP = 4,
};

/* Decimal values (what agents print) are stored as x / 10^k for k up to
 * this, by dense, plane and rollup chunks alike. */
#define BLOCK_DECIMAL_MAXK 9
extern const double block_pow10[BLOCK_DECIMAL_MAXK + 1]; /* 10^k */
/* Is v exactly x / 10^k for an integer x with |x| < 2^53 (and not -0)? */
bool block_decimal_at(double v, int k, int64_t *x);
/* Decompress the zstd frame src[0..n) with the calling thread's context
 * (made on first use, freed when the thread exits) into *out (malloc'ed,
 * *len bytes). Returns 0; -1 if the frame does not state its content size or
 * states more than max (corrupt: *out is NULL); -2 if it does not decompress
 * to that size. For every chunk, pack and index decoder. */
int block_unzstd(const uint8_t *src, size_t n, size_t max, uint8_t **out, size_t *len);

/* Most samples in one dense chunk (the count field is 16 bits). */
#define BLOCK_DENSE_MAX_SAMPLES 4096

/* One chunk handed to or read from a block. data is borrowed. */
struct block_chunk {
    int64_t mint, maxt;
    const uint8_t *data;
    uint32_t nbytes;
    uint16_t count;
    uint8_t kind;
    uint8_t enc; /* enum block_enc */
};

/* Decode chunk c (either encoding) into t and v, which have room for
 * c->count samples. Returns the number of samples decoded (c->count), or -1
 * if the chunk is malformed. */
int block_chunk_decode(const struct block_chunk *c, int64_t *t, double *v);

/* ---- writing ---- */

struct block_writer;

/* Start a block in blocks_dir/<meta->seq>.tmp. meta gives seq, resolution,
 * level and parents; counts and range are computed. Returns 0 or SABA_EIO. */
int block_writer_new(const char *blocks_dir, const struct block_meta *meta,
                     struct block_writer **out, struct saba_err *err);
/* Add a series. Series must come in ascending labels_cmp order, each once;
 * chunks in time order within each kind. Gorilla chunks are re-encoded as
 * dense chunks (consecutive ones of a kind merged, up to
 * BLOCK_DENSE_MAX_SAMPLES); dense chunks are stored as they are. A series
 * without chunks is skipped. */
int block_writer_add(struct block_writer *w, const struct label *ls, size_t nls,
                     const struct block_chunk *c, size_t n, struct saba_err *err);
/* Write the index and meta, fsync, and rename the block into place. Frees w
 * whatever happens; on error nothing is left behind. *meta_out (may be NULL)
 * receives the final meta. A block without series is not written: returns 0
 * and sets meta_out->nseries = 0. */
int block_writer_commit(struct block_writer *w, struct block_meta *meta_out, struct saba_err *err);
/* Give up: remove the temporary directory and free w. NULL does nothing. */
void block_writer_abort(struct block_writer *w);

/* ---- reading ---- */

struct block;

/* Open blocks_dir/<name>: read meta, mmap index and chunks, verify the index.
 * Returns 0, SABA_ECORRUPT (bad checksum or layout; the message names the
 * file) or SABA_EIO. */
int block_open(const char *dir, struct block **out, struct saba_err *err);
/* Same over memory images (the fuzz target and tests); borrows the buffers. */
int block_open_mem(const uint8_t *index, size_t index_len, const uint8_t *chunks, size_t chunks_len,
                   struct block **out, struct saba_err *err);
void block_close(struct block *b);

const struct block_meta *block_get_meta(const struct block *b);
const char *block_path(const struct block *b);
/* True once a chunk failed its checksum; the engine stops reading the block. */
bool block_is_corrupt(const struct block *b);

/* Like storage_ops.select over one block, for chunks of one kind. Returns 0 or
 * SABA_ECORRUPT (a chunk failed its checksum; the block is marked corrupt). */
int block_select(struct block *b, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                 bool samples, enum block_kind kind, struct series_set *out, struct saba_err *err);
void block_label_names(struct block *b, struct strlist *out);
void block_label_values(struct block *b, const char *name, struct strlist *out);

/* Series by position (ascending label order), for compaction and inspection. */
uint32_t block_num_series(const struct block *b);
/* Labels of series i into ls (room for 256) and its chunk count. Returns the
 * label count, or -1 if the entry is malformed. Strings point into the block. */
int block_series_labels(const struct block *b, uint32_t i, struct label *ls, uint32_t *nchunks);
/* Chunk j of series i, checksum verified. Returns 0 or SABA_ECORRUPT.
 * out->data points into the block's mapping (v1), or (v2, BLOCK_ENC_RAW or
 * BLOCK_ENC_PLANES) into a decompressed pack that the calling thread holds until its next
 * block_series_chunk or block_select call on any block: copy it to keep it
 * longer. */
int block_series_chunk(struct block *b, uint32_t i, uint32_t j, struct block_chunk *out);
/* Series numbers (ascending) of the series whose labels satisfy every
 * matcher: *ids gets an array the caller frees (NULL when none match).
 * Returns how many. A corrupt block matches nothing. */
size_t block_match(const struct block *b, struct matcher *const *m, size_t nm, uint32_t **ids);
/* The reference of chunk j of series i (range, count, kind, encoding, size)
 * without reading or verifying the chunk: out->data is NULL. To filter
 * chunks before block_series_chunk reads the ones wanted. Returns 0, or
 * SABA_ECORRUPT if the series entry is malformed or j out of range. */
int block_series_chunk_ref(const struct block *b, uint32_t i, uint32_t j, struct block_chunk *out);
/* Mark b corrupt (logged once, with why): for readers that found a chunk
 * that passed its checksum but does not decode. */
void block_set_corrupt(struct block *b, const char *why);
/* Size of the index file (compressed, for v2). */
uint64_t block_index_bytes(const struct block *b);
/* Format version of the block's files (1 or 2). */
uint32_t block_version(const struct block *b);

/* ---- deletions ---- */

/* Record that the samples in [mint, maxt] of the series matching all of m are
 * deleted: appended to the block's `tombstones` file (written atomically)
 * and applied by every read from now on; compaction rewrites the block
 * without them. *nseries gets the number of series affected. The caller
 * excludes readers (the engine's write lock). Returns 0, SABA_EIO or
 * SABA_ENOSPC (nothing changed then). */
int block_delete(struct block *b, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                 size_t *nseries, struct saba_err *err);
bool block_has_tombstones(const struct block *b);
bool block_series_has_tombstones(const struct block *b, uint32_t series);
/* Is the sample of series i at time t deleted? */
bool block_deleted(const struct block *b, uint32_t series, int64_t t);

/* Read only the meta file of a block directory (no mmap). */
int block_read_meta(const char *dir, struct block_meta *out, struct saba_err *err);

#endif
