/*
 * json.h - saba's JSON metrics format: bytes -> batch, or (item, reason).
 *
 *   [{"name": "node_load5", "labels": {"host": "web-1"}, "host": "web-1",
 *     "time": 1732250000.5, "value": 0.42}, ...]
 *
 * "time" is Unix seconds (fractions kept to the millisecond); "labels" and
 * "host" are optional ("host" is a shorthand for the host label). "value" is
 * a number or one of the strings "NaN", "+Inf", "-Inf" (JSON has no literal
 * for them). The error line is the 1-based index of the bad item, or the
 * text line of a JSON syntax error.
 */
#ifndef SABA_INGEST_JSON_H
#define SABA_INGEST_JSON_H

#include <stddef.h>

#include "base/err.h"
#include "storage/batch.h"

int saba_json_parse(const char *data, size_t n, struct batch *b, struct saba_err *err);

#endif
