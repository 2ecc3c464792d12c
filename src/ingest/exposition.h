/*
 * exposition.h - Prometheus text exposition format (0.0.4) and OpenMetrics
 * text (1.0.0) parser: bytes -> samples, or (line, reason).
 *
 *   # HELP name text            # TYPE name counter|gauge|...   # UNIT name unit
 *   name{label="value",...} value [timestamp]     (OpenMetrics: [# {exemplar} v [t]])
 *
 * The parser is pure and knows nothing of storage: it calls back once per
 * sample with the metric name, the labels as exposed (unescaped) and the
 * value, so each user decides what the series becomes (the scraper adds
 * target labels with honor_labels semantics; expo_parse_batch stores them as
 * they are). Text format timestamps are integer milliseconds; OpenMetrics
 * timestamps are (fractional) seconds; both come out in milliseconds.
 * OpenMetrics input must end with "# EOF"; exemplars are checked for syntax
 * and skipped; "_created" samples of counters, histograms and summaries are
 * flagged (they carry a creation time, not a value). Where Prometheus'
 * own scraper is lenient, so is this parser (an unknown escape in a label
 * value is kept as written, HELP text is not unescaped, a repeated TYPE in
 * the text format passes), so a target that Prometheus scrapes is scraped
 * here too. The first bad line stops the parse with its 1-based number.
 */
#ifndef SABA_INGEST_EXPOSITION_H
#define SABA_INGEST_EXPOSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

enum expo_format {
    EXPO_TEXT,        /* text/plain; version=0.0.4 (and anything unknown) */
    EXPO_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 or 0.0.1 */
};

/* The Accept header a scraper sends: OpenMetrics first, then the text format. */
#define EXPO_ACCEPT_HEADER                                                                         \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"       \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* The format of a response from its Content-Type (NULL or unknown: text). */
enum expo_format expo_format_of(const char *content_type);

enum expo_type {
    EXPO_UNTYPED, /* no TYPE line, "untyped" or OpenMetrics' "unknown" */
    EXPO_COUNTER,
    EXPO_GAUGE,
    EXPO_HISTOGRAM,
    EXPO_GAUGEHISTOGRAM,
    EXPO_SUMMARY,
    EXPO_STATESET,
    EXPO_INFO,
};

struct expo_label {
    const char *name, *value; /* NUL-terminated, unescaped */
    size_t name_len, value_len;
};

/* One sample as exposed. Every pointer is borrowed from the parser and valid
 * only during the callback. */
struct expo_sample {
    const char *name; /* metric name, NUL-terminated */
    size_t name_len;
    const struct expo_label *labels; /* in exposition order; names are unique */
    size_t nlabels;
    double value;
    bool has_timestamp;
    int64_t t_ms;        /* when has_timestamp */
    enum expo_type type; /* of the family the sample belongs to (from # TYPE) */
    bool created;        /* an OpenMetrics "_created" sample of a counter/histogram/summary */
    long line;
};

/* Called once per sample. Return 0 to go on, or a negative SABA_E* code
 * (with err set) to stop the parse; expo_parse then returns that code and
 * sets err->line to the sample's line if the callback left it 0. */
typedef int (*expo_sample_fn)(void *ctx, const struct expo_sample *s, struct saba_err *err);

/* Parse data[0..n) in format fmt, calling fn for each sample. Lines longer
 * than max_line_bytes (0: no limit) are refused with SABA_ETOOBIG. Returns 0,
 * SABA_EINVAL/SABA_ETOOBIG with err->line and the reason, or the callback's
 * code. */
int expo_parse(const char *data, size_t n, enum expo_format fmt, int64_t max_line_bytes,
               expo_sample_fn fn, void *ctx, struct saba_err *err);

struct expo_stats {
    uint64_t samples; /* stored in the batch */
    uint64_t created; /* "_created" samples skipped */
};

/* Parse data into b as series named after the metric with the exposed labels
 * (for importing a file): samples without a timestamp get now_ms. Stops at
 * the first bad line or sample (batch limits included) with err->line set;
 * the caller then discards the batch. */
int expo_parse_batch(const char *data, size_t n, enum expo_format fmt, int64_t now_ms,
                     struct batch *b, struct expo_stats *st, struct saba_err *err);

#endif
