/*
 * num.h - number formatting and parsing shared by the API and the config.
 */
#ifndef SABA_BASE_NUM_H
#define SABA_BASE_NUM_H

#include <stdint.h>

#include "base/buf.h"

/* Append v as Prometheus' API does (Go's strconv.FormatFloat(v, 'f', -1, 64)):
 * the shortest decimal that round-trips, never in exponent form; "NaN",
 * "+Inf", "-Inf" for the special values. */
void num_put_float(struct buf *b, double v);
/* Append a millisecond timestamp as Unix seconds with up to 3 decimals, as a
 * JSON number (1732250000.5). */
void num_put_ts(struct buf *b, int64_t ms);
/* Parse a byte size: an integer with an optional unit B, KB, MB, GB (powers of
 * 1000) or KiB, MiB, GiB (powers of 1024). Returns 0 or SABA_EINVAL. */
int size_parse(const char *s, int64_t *out);

#endif
