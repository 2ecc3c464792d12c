/*
 * csv.c - the CSV backfill format (see csv.h).
 */
#include "ingest/csv.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/timeutil.h"
#include "storage/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Split one line into fields (unquoting them) in fields[] (bufs). Returns the
 * number of fields or -1 on a bad quote. */
static int split(const char *p, const char *end, struct buf *fields, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -2;
        struct buf *f = &fields[n++];
        buf_reset(f);
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p == end)
                    return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        buf_putc(f, '"');
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                buf_putc(f, *p++);
            }
            if (p < end && *p != ',')
                return -1;
        } else {
            while (p < end && *p != ',') {
                if (*p == '"')
                    return -1;
                buf_putc(f, *p++);
            }
        }
        if (p == end)
            return n;
        p++; /* the comma */
    }
}

int csv_header_parse(const char *line, size_t n, struct csv_header *h, struct saba_err *err)
{
    memset(h, 0, sizeof *h);
    h->time_col = h->name_col = h->value_col = -1;
    if (n && line[n - 1] == '\r')
        n--;
    struct buf f[CSV_MAX_COLUMNS] = {0};
    int nf = split(line, line + n, f, CSV_MAX_COLUMNS);
    int rc = 0;
    if (nf < 0) {
        if (nf == -2)
            rc = err_set(err, SABA_EINVAL, 1, "more than %d columns", CSV_MAX_COLUMNS);
        else
            rc = err_set(err, SABA_EINVAL, 1, "bad quoting in the header");
        goto out;
    }
    for (int i = 0; i < nf; i++) {
        const char *s = f[i].data ? f[i].data : "";
        int *slot = !strcmp(s, "time")    ? &h->time_col
                    : !strcmp(s, "name")  ? &h->name_col
                    : !strcmp(s, "value") ? &h->value_col
                                          : NULL;
        if (slot) {
            if (*slot >= 0) {
                rc = err_set(err, SABA_EINVAL, 1, "column \"%s\" appears twice", s);
                goto out;
            }
            *slot = i;
        } else if (!s[0]) {
            rc = err_set(err, SABA_EINVAL, 1, "column %d has no name", i + 1);
            goto out;
        }
        h->names[i] = xstrdup(s);
    }
    h->ncols = nf;
    if (h->time_col < 0 || h->name_col < 0 || h->value_col < 0)
        rc = err_set(err, SABA_EINVAL, 1,
                     "the header must name the columns time, name and value (got \"%.*s\")",
                     (int)(n > 80 ? 80 : n), line);
out:
    for (int i = 0; i < CSV_MAX_COLUMNS; i++)
        buf_free(&f[i]);
    if (rc)
        csv_header_free(h);
    return rc;
}

void csv_header_free(struct csv_header *h)
{
    for (int i = 0; i < CSV_MAX_COLUMNS; i++) {
        free(h->names[i]);
        h->names[i] = NULL;
    }
    h->ncols = 0;
}

static int parse_value(const char *s, double *v)
{
    if (!strcasecmp(s, "nan")) {
        *v = NAN;
        return 0;
    }
    if (!strcasecmp(s, "+inf") || !strcasecmp(s, "inf")) {
        *v = INFINITY;
        return 0;
    }
    if (!strcasecmp(s, "-inf")) {
        *v = -INFINITY;
        return 0;
    }
    char *e;
    *v = strtod(s, &e);
    return *s && !*e ? 0 : -1;
}

static int parse_row(const struct csv_header *h, struct buf *f, int nf, struct batch *b,
                     struct saba_err *err)
{
    if (nf != h->ncols)
        return err_set(err, SABA_EINVAL, 0, "%d fields, the header has %d", nf, h->ncols);
    const char *ts = f[h->time_col].data ? f[h->time_col].data : "";
    int64_t t;
    if (time_param_parse(ts, &t) != 0)
        return err_set(err, SABA_EINVAL, 0, "invalid time \"%.40s\"", ts);
    double v;
    const char *vs = f[h->value_col].data ? f[h->value_col].data : "";
    if (parse_value(vs, &v) != 0)
        return err_set(err, SABA_EINVAL, 0, "invalid value \"%.40s\"", vs);
    batch_series_begin(b);
    int rc = 0;
    for (int i = 0; i < nf && rc == 0; i++) {
        if (i == h->time_col || i == h->value_col)
            continue;
        const char *name = i == h->name_col ? LABEL_NAME : h->names[i];
        rc = batch_label(b, name, strlen(name), f[i].data ? f[i].data : "", f[i].len, err);
    }
    if (rc) {
        batch_series_abort(b);
        return rc;
    }
    return batch_series_end(b, t, v, err);
}

int csv_parse(const struct csv_header *h, const char *data, size_t n, struct batch *b,
              struct saba_err *err)
{
    const char *p = data, *end = data + n;
    long line = 0;
    struct buf f[CSV_MAX_COLUMNS] = {0};
    int rc = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        if (le > p) {
            int nf = split(p, le, f, CSV_MAX_COLUMNS);
            if (nf < 0)
                rc = err_set(err, SABA_EINVAL, line, nf == -2 ? "too many fields" : "bad quoting");
            else
                rc = parse_row(h, f, nf, b, err);
            if (rc)
                err->line = line;
        }
        p = nl ? nl + 1 : end;
    }
    for (int i = 0; i < CSV_MAX_COLUMNS; i++)
        buf_free(&f[i]);
    return rc;
}
