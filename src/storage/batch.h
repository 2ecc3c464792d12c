/*
 * batch.h - a batch of samples on its way from a parser into storage.
 *
 * Every ingestion protocol parses its input into a batch; the batch is
 * validated as it is built (limits, UTF-8, label rules), so storage only ever
 * sees well-formed series. A batch is written to the WAL and the head as one
 * unit: it is either acknowledged whole or not at all.
 *
 * Strings live in one arena and labels refer to them by offset, so a parser
 * can add a tag once and use it for several samples (one per line-protocol
 * field). Build a sample with batch_series_begin / batch_label... /
 * batch_series_end.
 */
#ifndef SABA_STORAGE_BATCH_H
#define SABA_STORAGE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Input limits; every protocol applies the same ones. Defaults in batch_limits_default. */
struct batch_limits {
    int64_t max_body_bytes; /* request body after decompression */
    int64_t max_line_bytes; /* one input line */
    int max_labels;         /* labels per series, __name__ included */
    int max_name_bytes;     /* metric or label name */
    int max_value_bytes;    /* label value */
    int64_t max_future_ms;  /* reject samples later than now + this */
};

extern const struct batch_limits batch_limits_default;

struct batch_label {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

struct batch_sample {
    uint64_t hash;      /* of the sorted label set; see batch_series_end */
    uint32_t label_off; /* index of the first label in batch.labels */
    uint16_t nlabels;
    int64_t t; /* milliseconds */
    double v;
};

struct batch {
    const struct batch_limits *limits;
    int64_t now_ms;             /* reference for max_future_ms, fixed at batch_init */
    struct buf strings;         /* arena of label names and values */
    struct batch_label *labels; /* labels of all samples, each sample's run sorted by name */
    size_t nlabels, cap_labels;
    struct batch_sample *samples;
    size_t nsamples, cap_samples;
    size_t open_label;  /* first label of the series being built */
    struct buf scratch; /* for hashing */
};

void batch_init(struct batch *b, const struct batch_limits *limits);
void batch_reset(struct batch *b);
void batch_free(struct batch *b);

/* Copy n bytes into the arena; returns their offset for batch_label_at. */
uint32_t batch_intern(struct batch *b, const char *s, size_t n);
/* Start a new series. */
void batch_series_begin(struct batch *b);
/* Add a label to the series being built. Empty values are dropped (they mean
 * "no label"). Returns 0 or SABA_EINVAL (bad UTF-8, too long, reserved name)
 * with the reason in err (err->line is left to the caller). */
int batch_label(struct batch *b, const char *name, size_t nlen, const char *value, size_t vlen,
                struct saba_err *err);
/* Same as batch_label for strings already in the arena. */
int batch_label_at(struct batch *b, uint32_t name_off, uint32_t nlen, uint32_t value_off,
                   uint32_t vlen, struct saba_err *err);
/* Finish the series with one sample. Sorts the labels, rejects a missing or
 * empty name, duplicate label names, too many labels, and timestamps outside
 * [0, now + max_future]. Returns 0 or SABA_EINVAL. */
int batch_series_end(struct batch *b, int64_t t, double v, struct saba_err *err);
/* Give up the series being built (after an error). */
void batch_series_abort(struct batch *b);

static inline const char *batch_str(const struct batch *b, uint32_t off)
{
    return b->strings.data + off;
}

#endif
