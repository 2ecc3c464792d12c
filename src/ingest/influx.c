/*
 * influx.c - InfluxDB line protocol parser (see influx.h).
 *
 * Escaping follows InfluxDB's reference: in measurements, backslash escapes
 * comma and space; in tag keys, tag values and field keys it also escapes
 * '='. A backslash before any other character is kept literally. String
 * field values are double-quoted with \" and \\ escapes.
 */
#include "ingest/influx.h"
#include "base/buf.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int influx_precision_parse(const char *s, enum influx_precision *out)
{
    if (!s || !*s || !strcmp(s, "n") || !strcmp(s, "ns"))
        *out = INFLUX_NS;
    else if (!strcmp(s, "u") || !strcmp(s, "us") || !strcmp(s, "\xc2\xb5") ||
             !strcmp(s, "\xc2\xb5s"))
        *out = INFLUX_US;
    else if (!strcmp(s, "ms"))
        *out = INFLUX_MS;
    else if (!strcmp(s, "s"))
        *out = INFLUX_S;
    else if (!strcmp(s, "m"))
        *out = INFLUX_M;
    else if (!strcmp(s, "h"))
        *out = INFLUX_H;
    else
        return SABA_EINVAL;
    return 0;
}

struct parser {
    const char *p, *end; /* the current line, without its newline */
    struct buf tmp;      /* unescaped token */
    struct buf full;     /* series name being built */
    uint32_t name_off;   /* "__name__" in the batch arena */
};

/* Read a token up to an unescaped delimiter from stops; unescape into tmp.
 * escapable: characters a backslash may escape. */
static void read_token(struct parser *ps, const char *stops, const char *escapable)
{
    buf_reset(&ps->tmp);
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\\' && ps->p + 1 < ps->end && strchr(escapable, ps->p[1])) {
            buf_putc(&ps->tmp, ps->p[1]);
            ps->p += 2;
            continue;
        }
        if (strchr(stops, c))
            break;
        buf_putc(&ps->tmp, c);
        ps->p++;
    }
}

/* Convert a timestamp in prec units to milliseconds; -1 on overflow. */
static int to_ms(int64_t ts, enum influx_precision prec, int64_t *ms)
{
    switch (prec) {
    case INFLUX_M:
    case INFLUX_H: {
        int64_t mul = (int64_t)prec * 1000;
        if (ts > INT64_MAX / mul || ts < INT64_MIN / mul)
            return -1;
        *ms = ts * mul;
        return 0;
    }
    case INFLUX_S:
        if (ts > INT64_MAX / 1000 || ts < INT64_MIN / 1000)
            return -1;
        *ms = ts * 1000;
        return 0;
    default: {
        int64_t div = 1000000 / (int64_t)prec; /* units per ms */
        /* floor division, so -1 ns is before 0 ms */
        *ms = ts / div - (ts % div < 0);
        return 0;
    }
    }
}

struct field {
    uint32_t key_off, key_len;
    double v;
};

static int parse_value(const char *s, size_t n, double *v, bool *is_string, const char **why)
{
    *is_string = false;
    if (n == 0) {
        *why = "missing field value";
        return -1;
    }
    if (s[0] == '"') {
        *is_string = true;
        return 0; /* already validated by the caller's scan */
    }
    static const char *const trues[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const falses[] = {"f", "F", "false", "False", "FALSE"};
    for (int i = 0; i < 5; i++) {
        if (strlen(trues[i]) == n && !memcmp(s, trues[i], n)) {
            *v = 1;
            return 0;
        }
        if (strlen(falses[i]) == n && !memcmp(s, falses[i], n)) {
            *v = 0;
            return 0;
        }
    }
    char num[64];
    if (n >= sizeof num) {
        *why = "invalid number";
        return -1;
    }
    memcpy(num, s, n);
    num[n] = '\0';
    char *end;
    errno = 0;
    if (num[n - 1] == 'i' || num[n - 1] == 'u') {
        num[n - 1] = '\0';
        if (n == 1) {
            *why = "invalid integer";
            return -1;
        }
        if (s[n - 1] == 'u') {
            if (num[0] == '-') {
                *why = "unsigned integer is negative";
                return -1;
            }
            unsigned long long u = strtoull(num, &end, 10);
            if (*end || errno) {
                *why = "invalid unsigned integer";
                return -1;
            }
            *v = (double)u;
        } else {
            long long i = strtoll(num, &end, 10);
            if (*end || errno) {
                *why = "invalid integer";
                return -1;
            }
            *v = (double)i;
        }
        return 0;
    }
    /* InfluxDB floats: digits, sign, point, exponent; no hex, no inf/nan words */
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789+-.eE", num[i])) {
            *why = "invalid number";
            return -1;
        }
    }
    *v = strtod(num, &end);
    if (*end || end == num) {
        *why = "invalid number";
        return -1;
    }
    if (isinf(*v)) {
        *why = "number out of range";
        return -1;
    }
    return 0;
}

/* Parse one line (without newline); returns 0 or -1 with the reason in err. */
static int parse_line(struct parser *ps, enum influx_precision prec, int64_t now, struct batch *b,
                      struct influx_stats *st, struct saba_err *err)
{
    /* measurement */
    read_token(ps, ", ", ", \\");
    if (ps->tmp.len == 0)
        return err_set(err, SABA_EINVAL, 0, "missing measurement");
    uint32_t meas_off = batch_intern(b, ps->tmp.data, ps->tmp.len);
    uint32_t meas_len = (uint32_t)ps->tmp.len;

    /* tags */
    uint32_t tags[128][4];
    size_t ntags = 0;
    while (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        read_token(ps, "=, ", ",= \\");
        if (ps->tmp.len == 0)
            return err_set(err, SABA_EINVAL, 0, "missing tag key");
        if (ps->p >= ps->end || *ps->p != '=')
            return err_set(err, SABA_EINVAL, 0, "missing tag value");
        if (ntags == 128)
            return err_set(err, SABA_EINVAL, 0, "more than %d labels", b->limits->max_labels);
        tags[ntags][0] = batch_intern(b, ps->tmp.data, ps->tmp.len);
        tags[ntags][1] = (uint32_t)ps->tmp.len;
        ps->p++;
        read_token(ps, "=, ", ",= \\");
        if (ps->tmp.len == 0)
            return err_set(err, SABA_EINVAL, 0, "missing tag value");
        tags[ntags][2] = batch_intern(b, ps->tmp.data, ps->tmp.len);
        tags[ntags][3] = (uint32_t)ps->tmp.len;
        ntags++;
    }
    if (ps->p >= ps->end || *ps->p != ' ')
        return err_set(err, SABA_EINVAL, 0, "missing fields");
    while (ps->p < ps->end && *ps->p == ' ')
        ps->p++;

    /* fields */
    struct field fields[256];
    size_t nfields = 0;
    for (;;) {
        read_token(ps, "=, ", ",= \\");
        if (ps->tmp.len == 0)
            return err_set(err, SABA_EINVAL, 0, "missing field key");
        if (ps->p >= ps->end || *ps->p != '=')
            return err_set(err, SABA_EINVAL, 0, "missing field value");
        ps->p++;
        struct buf *name = &ps->tmp;
        /* series name: <measurement>_<field> */
        buf_reset(&ps->full);
        buf_append(&ps->full, batch_str(b, meas_off), meas_len);
        buf_putc(&ps->full, '_');
        buf_append(&ps->full, name->data, name->len);
        uint32_t key_off = batch_intern(b, ps->full.data, ps->full.len);
        uint32_t key_len = (uint32_t)ps->full.len;

        const char *vs = ps->p;
        if (ps->p < ps->end && *ps->p == '"') {
            ps->p++;
            while (ps->p < ps->end && *ps->p != '"')
                ps->p += (*ps->p == '\\' && ps->p + 1 < ps->end) ? 2 : 1;
            if (ps->p >= ps->end)
                return err_set(err, SABA_EINVAL, 0, "unterminated string field value");
            ps->p++;
        } else {
            while (ps->p < ps->end && *ps->p != ',' && *ps->p != ' ')
                ps->p++;
        }
        double v = 0;
        bool is_string;
        const char *why = NULL;
        if (parse_value(vs, (size_t)(ps->p - vs), &v, &is_string, &why) != 0)
            return err_set(err, SABA_EINVAL, 0, "%s in field \"%.*s\"", why,
                           (int)(key_len - meas_len - 1 > 64 ? 64 : key_len - meas_len - 1),
                           batch_str(b, key_off) + meas_len + 1);
        if (is_string) {
            st->skipped_string_fields++;
        } else {
            if (nfields == 256)
                return err_set(err, SABA_EINVAL, 0, "more than 256 fields on one line");
            fields[nfields++] = (struct field){key_off, key_len, v};
        }
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        break;
    }

    /* timestamp */
    int64_t t = now;
    while (ps->p < ps->end && *ps->p == ' ')
        ps->p++;
    if (ps->p < ps->end) {
        char num[32];
        size_t n = (size_t)(ps->end - ps->p);
        while (n && (ps->p[n - 1] == ' ' || ps->p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof num)
            return err_set(err, SABA_EINVAL, 0, "invalid timestamp");
        memcpy(num, ps->p, n);
        num[n] = '\0';
        char *end;
        errno = 0;
        long long ts = strtoll(num, &end, 10);
        if (*end || errno || end == num)
            return err_set(err, SABA_EINVAL, 0, "invalid timestamp \"%s\"", num);
        if (to_ms(ts, prec, &t) != 0)
            return err_set(err, SABA_EINVAL, 0, "timestamp out of range");
    }

    for (size_t i = 0; i < nfields; i++) {
        batch_series_begin(b);
        int rc = batch_label_at(b, ps->name_off, 8, fields[i].key_off, fields[i].key_len, err);
        for (size_t k = 0; rc == 0 && k < ntags; k++)
            rc = batch_label_at(b, tags[k][0], tags[k][1], tags[k][2], tags[k][3], err);
        if (rc == 0)
            rc = batch_series_end(b, t, fields[i].v, err);
        else
            batch_series_abort(b);
        if (rc)
            return rc;
    }
    return 0;
}

int influx_parse(const char *data, size_t n, enum influx_precision prec, int64_t now_ms,
                 struct batch *b, struct influx_stats *st, struct saba_err *err)
{
    struct parser ps = {0};
    ps.name_off = batch_intern(b, "__name__", 8);
    const char *p = data, *end = data + n;
    long line = 0;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if ((int64_t)(le - p) > b->limits->max_line_bytes) {
            rc = err_set(err, SABA_ETOOBIG, line, "line longer than %lld bytes",
                         (long long)b->limits->max_line_bytes);
            break;
        }
        const char *s = p, *e = le;
        if (e > s && e[-1] == '\r')
            e--;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        p = nl ? nl + 1 : end;
        if (s == e || *s == '#')
            continue;
        if (memchr(s, '\0', (size_t)(e - s))) {
            rc = err_set(err, SABA_EINVAL, line, "NUL byte in line");
            break;
        }
        ps.p = s;
        ps.end = e;
        st->lines++;
        rc = parse_line(&ps, prec, now_ms, b, st, err);
        if (rc) {
            err->line = line;
            break;
        }
    }
    buf_free(&ps.tmp);
    buf_free(&ps.full);
    return rc;
}
