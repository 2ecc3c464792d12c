/*
 * graphite.h - Graphite plaintext protocol parser: one line -> one sample.
 *
 *   path[;tag=value...] value [timestamp]
 *
 * The dotted path is stored as the metric name as is (query it with
 * {__name__="servers.web-1.load"}); Graphite tags become labels. The value
 * may be "nan" (collectd writes it for unknown values), stored as NaN. A
 * missing timestamp or -1 means "now"; fractional seconds are kept to the
 * millisecond. CRLF line ends are accepted.
 */
#ifndef SABA_INGEST_GRAPHITE_H
#define SABA_INGEST_GRAPHITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

/* Parse one line (newline excluded; a trailing CR is ignored) into b.
 * Blank lines add nothing and succeed. Returns 0 or SABA_EINVAL with the
 * reason in err (err->line is left to the caller). */
int graphite_parse_line(const char *line, size_t n, int64_t now_ms, struct batch *b,
                        struct saba_err *err);

#endif
