/*
 * promtext.h - Prometheus text exposition format (what /metrics endpoints
 * and promtool's backfill input look like): `name{l="v",...} value [ts_ms]`.
 *
 * Used by `saba import` to backfill. `# HELP` / `# TYPE` and other comments
 * and blank lines are skipped; label values take the \\ \" \n escapes;
 * values are floats, NaN, +Inf or -Inf; the timestamp is milliseconds since
 * the epoch (a line without one is stamped now_ms).
 */
#ifndef SABA_INGEST_PROMTEXT_H
#define SABA_INGEST_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

/* Parse data (whole lines) into b. Returns 0, or SABA_EINVAL with err->line
 * (1-based within data) and the reason. */
int promtext_parse(const char *data, size_t n, int64_t now_ms, struct batch *b,
                   struct saba_err *err);

#endif
