/*
 * influx.h - InfluxDB line protocol parser: bytes -> batch, or (line, reason).
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Each numeric field becomes a sample of the series named
 * <measurement>_<field>, with the tags as labels. Floats, integers (1i),
 * unsigned integers (1u) and booleans (1/0) are stored as float64; string
 * fields carry no number and are skipped (counted in stats). Blank lines,
 * leading whitespace and '#' comments are accepted, as the influx CLI sends
 * them. The first bad line stops the parse: the caller rejects the batch.
 */
#ifndef SABA_INGEST_INFLUX_H
#define SABA_INGEST_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

/* Timestamp unit: nanoseconds per unit. */
enum influx_precision {
    INFLUX_NS = 1,
    INFLUX_US = 1000,
    INFLUX_MS = 1000000,
    INFLUX_S = 1000000000,
    INFLUX_M = 60,  /* minutes: handled specially (x 60 s) */
    INFLUX_H = 3600 /* hours */
};

/* Parse a precision parameter: n, ns, u, us, µ, µs, ms, s, m, h (v1 and v2 API
 * spellings). NULL or "" means ns. Returns 0 or SABA_EINVAL. */
int influx_precision_parse(const char *s, enum influx_precision *out);

struct influx_stats {
    uint64_t lines;
    uint64_t skipped_string_fields;
};

/* Parse data into b (which carries the limits). now_ms stamps lines without a
 * timestamp. Returns 0, or SABA_EINVAL / SABA_ETOOBIG with err->line set. */
int influx_parse(const char *data, size_t n, enum influx_precision prec, int64_t now_ms,
                 struct batch *b, struct influx_stats *st, struct saba_err *err);

#endif
