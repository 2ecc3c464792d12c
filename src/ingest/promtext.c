/*
 * promtext.c - Prometheus text exposition parser (see promtext.h).
 */
#include "ingest/promtext.h"
#include "base/buf.h"
#include "storage/labels.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parse a float token [p, end): Prometheus accepts Go's ParseFloat syntax. */
static int parse_value(const char *p, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!strcasecmp(tmp, "nan")) {
        *out = NAN;
        return 0;
    }
    if (!strcasecmp(tmp, "+inf") || !strcasecmp(tmp, "inf")) {
        *out = INFINITY;
        return 0;
    }
    if (!strcasecmp(tmp, "-inf")) {
        *out = -INFINITY;
        return 0;
    }
    char *e;
    errno = 0;
    double v = strtod(tmp, &e);
    /* strtod also takes "nan(...)", "infinity" and hex; fine, but not junk */
    if (*e || e == tmp)
        return -1;
    *out = v;
    return 0;
}

static int parse_line(const char *p, const char *end, int64_t now_ms, struct batch *b,
                      struct buf *val, struct saba_err *err)
{
    const char *s = p;
    if (s == end || !name_char(*s, true))
        return err_set(err, SABA_EINVAL, 0, "expected a metric name");
    while (s < end && name_char(*s, false))
        s++;
    batch_series_begin(b);
    int rc = batch_label(b, LABEL_NAME, strlen(LABEL_NAME), p, (size_t)(s - p), err);
    if (rc)
        goto fail;
    if (s < end && *s == '{') {
        s++;
        for (;;) {
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            if (s < end && *s == '}') {
                s++;
                break;
            }
            const char *ln = s;
            if (s == end || !name_char(*s, true) || *s == ':') {
                rc = err_set(err, SABA_EINVAL, 0, "expected a label name");
                goto fail;
            }
            while (s < end && name_char(*s, false) && *s != ':')
                s++;
            size_t lnlen = (size_t)(s - ln);
            if (s == end || *s != '=' || s + 1 == end || s[1] != '"') {
                rc = err_set(err, SABA_EINVAL, 0, "expected =\" after label name");
                goto fail;
            }
            s += 2;
            buf_reset(val);
            while (s < end && *s != '"') {
                if (*s == '\\') {
                    if (++s == end)
                        break;
                    char c = *s == 'n' ? '\n' : *s;
                    if (*s != 'n' && *s != '\\' && *s != '"') {
                        rc = err_set(err, SABA_EINVAL, 0, "invalid escape \\%c in label value", *s);
                        goto fail;
                    }
                    buf_putc(val, c);
                } else {
                    buf_putc(val, *s);
                }
                s++;
            }
            if (s == end) {
                rc = err_set(err, SABA_EINVAL, 0, "unterminated label value");
                goto fail;
            }
            s++;
            rc = batch_label(b, ln, lnlen, val->data ? val->data : "", val->len, err);
            if (rc)
                goto fail;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            if (s < end && *s == ',') {
                s++;
                continue;
            }
            if (s < end && *s == '}') {
                s++;
                break;
            }
            rc = err_set(err, SABA_EINVAL, 0, "expected , or } after label value");
            goto fail;
        }
    }
    if (s == end || (*s != ' ' && *s != '\t')) {
        rc = err_set(err, SABA_EINVAL, 0, "expected a space before the value");
        goto fail;
    }
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    const char *vs = s;
    while (s < end && *s != ' ' && *s != '\t')
        s++;
    double v;
    if (parse_value(vs, (size_t)(s - vs), &v) != 0) {
        rc = err_set(err, SABA_EINVAL, 0, "invalid value \"%.*s\"",
                     (int)(s - vs > 40 ? 40 : s - vs), vs);
        goto fail;
    }
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    int64_t t = now_ms;
    if (s < end) {
        const char *ts = s;
        while (s < end && *s != ' ' && *s != '\t')
            s++;
        char tmp[32], *e;
        size_t n = (size_t)(s - ts);
        if (n >= sizeof tmp) {
            rc = err_set(err, SABA_EINVAL, 0, "invalid timestamp");
            goto fail;
        }
        memcpy(tmp, ts, n);
        tmp[n] = '\0';
        errno = 0;
        long long x = strtoll(tmp, &e, 10);
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (*e || errno || s != end) {
            rc = err_set(err, SABA_EINVAL, 0, "invalid timestamp \"%s\" (want milliseconds)", tmp);
            goto fail;
        }
        t = x;
    }
    return batch_series_end(b, t, v, err);
fail:
    batch_series_abort(b);
    return rc;
}

int promtext_parse(const char *data, size_t n, int64_t now_ms, struct batch *b,
                   struct saba_err *err)
{
    const char *p = data, *end = data + n;
    long line = 0;
    struct buf val = BUF_INIT;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *q = p, *qe = le;
        if (qe > q && qe[-1] == '\r')
            qe--;
        while (q < qe && (*q == ' ' || *q == '\t'))
            q++;
        if (q < qe && *q != '#') {
            rc = parse_line(q, qe, now_ms, b, &val, err);
            if (rc)
                err->line = line;
        }
        p = nl ? nl + 1 : end;
    }
    buf_free(&val);
    return rc;
}
