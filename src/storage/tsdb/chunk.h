/*
 * chunk.h - Gorilla-style compressed sample chunks (delta-of-delta timestamps,
 * XOR-compressed floats).
 *
 * The head keeps each series as a list of chunks: closed ones are immutable
 * byte strings, the last one is appended to through a chunk_enc. The bit
 * layout is specified in FORMAT.md ("Chunk"); it follows Facebook's Gorilla
 * paper with Prometheus' timestamp buckets, so a regular scrape costs about
 * one bit per timestamp and a repeated value one bit per value.
 */
#ifndef SABA_STORAGE_TSDB_CHUNK_H
#define SABA_STORAGE_TSDB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

/* Samples per chunk before the head closes it (Prometheus uses 120). */
#define CHUNK_TARGET_SAMPLES 120

/* Most samples a chunk may hold: the head splits chunks long before this. At
 * most 145 bits per sample keeps a full chunk's bit count within 16 bits. */
#define CHUNK_MAX_SAMPLES 400

/* Encoder state of an open chunk. All fields are private to chunk.c. The head
 * keeps one per series, so it is packed into 40 bytes. */
struct chunk_enc {
    uint8_t *buf;
    int64_t t, delta;
    uint64_t vbits;
    uint16_t nbits;
    uint16_t cap; /* bytes allocated in buf */
    uint16_t count;
    uint8_t leading, trailing; /* XOR window of the previous value; leading 0xff = none */
};

/* Start an empty chunk (no allocation until the first sample). */
void chunk_enc_init(struct chunk_enc *e);
void chunk_enc_free(struct chunk_enc *e);
/* Append a sample. Timestamps must not decrease (the caller, the head,
 * re-encodes a chunk to insert out-of-order samples). */
void chunk_enc_append(struct chunk_enc *e, int64_t t, double v);
/* Timestamp of a chunk's first sample (the chunk must hold at least one). */
int64_t chunk_first_t(const uint8_t *data);
/* Bytes holding the encoded bits so far. */
static inline uint32_t chunk_enc_len(const struct chunk_enc *e)
{
    return (e->nbits + 7) / 8;
}

/* Decoding. The iterator borrows data, which must stay valid while it is used. */
struct chunk_iter {
    const uint8_t *data;
    uint32_t nbits, pos;
    uint16_t count, i;
    uint8_t leading, trailing;
    int64_t t, delta;
    uint64_t vbits;
};

void chunk_iter_init(struct chunk_iter *it, const uint8_t *data, uint32_t nbytes, uint16_t count);
/* Next sample: returns 1 and writes *t, *v; 0 at the end; -1 if the data is
 * malformed (truncated bit stream). */
int chunk_iter_next(struct chunk_iter *it, int64_t *t, double *v);
/* Decode the samples of a chunk (data, nbytes, count as for chunk_iter_init)
 * whose time is in [mint, maxt] into ts[] and vs[] (room for count each), in
 * order; returns how many. Decoding stops after maxt and at malformed data:
 * with mint = INT64_MIN and maxt = INT64_MAX a valid chunk gives count. */
size_t chunk_decode(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t mint,
                    int64_t maxt, int64_t *ts, double *vs);

#endif
