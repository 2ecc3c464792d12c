/*
 * csv.h - CSV for backfilling samples: one sample per row.
 *
 * The first line is a header naming the columns. `time` (Unix seconds, with
 * fractions, or RFC 3339), `name` (the metric name) and `value` are required;
 * every other column is a label of that name (an empty cell means no such
 * label). Fields may be quoted ("a,b", "" for a quote), as in RFC 4180.
 *
 *   time,name,value,host,device
 *   1732250000,node_disk_io_time_seconds_total,1234.5,web-1,sda
 */
#ifndef SABA_INGEST_CSV_H
#define SABA_INGEST_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/batch.h"

#define CSV_MAX_COLUMNS 64

struct csv_header {
    int ncols;
    int time_col, name_col, value_col;
    char *names[CSV_MAX_COLUMNS]; /* owned */
};

/* Parse the header line (newline excluded). Returns 0 or SABA_EINVAL. */
int csv_header_parse(const char *line, size_t n, struct csv_header *h, struct saba_err *err);
void csv_header_free(struct csv_header *h);

/* Parse rows (whole lines, no header) into b. Returns 0 or SABA_EINVAL with
 * err->line 1-based within data. */
int csv_parse(const struct csv_header *h, const char *data, size_t n, struct batch *b,
              struct saba_err *err);

#endif
