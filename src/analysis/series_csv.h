/*
 * series_csv.h - the CSV reader of `saba analyze`: rows of time and numbers.
 *
 * Input is what operators export from any tool: one row per sample,
 * `timestamp,value[,capacity]`, an optional header row, timestamps in Unix
 * seconds (fractions kept to the millisecond) or `YYYY-MM-DD HH:MM:SS` (UTC,
 * also with a `T`, fractional seconds and a trailing `Z`). Fields may be
 * padded with spaces or double-quoted; CRLF line ends and blank lines are
 * accepted. A pure parser: bytes in, arrays or (line, reason) out.
 */
#ifndef SABA_ANALYSIS_SERIES_CSV_H
#define SABA_ANALYSIS_SERIES_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SERIES_CSV_MAX_COLS 2

struct series_csv {
    int64_t *t;                     /* ms since the epoch, strictly increasing */
    double *v[SERIES_CSV_MAX_COLS]; /* value columns; NaN where the row said NaN */
    long *line;                     /* the 1-based input line of each row */
    const char **ts;                /* each row's timestamp text, pointing into the input */
    size_t *ts_len;                 /* and its length */
    size_t n;                       /* rows */
    int ncols;                      /* numeric columns after the timestamp */
};

/* Parse data[0..len) expecting exactly 1 + ncols fields per row (ncols 1 or
 * 2). Value fields are decimal numbers or NaN (a gap); when ncols is 2 the
 * second one (capacity) must be a finite number. Returns 0 and fills out (the
 * caller frees it with series_csv_free), or SABA_EINVAL with e naming the
 * line: a non-numeric field, a wrong field count, a timestamp that is not
 * after the previous row's (unsorted or duplicate), or no data rows at all.
 * On error out is left empty. out->ts points into data: valid while data is. */
int series_csv_parse(const char *data, size_t len, int ncols, struct series_csv *out,
                     struct saba_err *e);
/* Free the arrays; out is left empty. Freeing an empty one does nothing. */
void series_csv_free(struct series_csv *out);

/* Parse one timestamp field (see above) into ms. 0 or SABA_EINVAL. */
int series_csv_time(const char *s, size_t n, int64_t *ms);

#endif
