/*
 * graphite.c - Graphite plaintext line parser (see graphite.h).
 */
#include "ingest/graphite.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t field(const char **p, const char *end, const char **start)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    *start = *p;
    while (*p < end && **p != ' ' && **p != '\t')
        (*p)++;
    return (size_t)(*p - *start);
}

int graphite_parse_line(const char *line, size_t n, int64_t now_ms, struct batch *b,
                        struct saba_err *err)
{
    const char *p = line, *end = line + n;
    if (end > p && end[-1] == '\r')
        end--;
    if ((int64_t)n > b->limits->max_line_bytes)
        return err_set(err, SABA_ETOOBIG, 0, "line longer than %lld bytes",
                       (long long)b->limits->max_line_bytes);
    const char *path, *val, *ts;
    size_t np = field(&p, end, &path);
    if (np == 0)
        return 0;
    size_t nv = field(&p, end, &val);
    size_t nt = field(&p, end, &ts);
    const char *extra;
    if (field(&p, end, &extra))
        return err_set(err, SABA_EINVAL, 0,
                       "expected \"path value [timestamp]\", got extra fields");
    if (nv == 0)
        return err_set(err, SABA_EINVAL, 0, "missing value");
    if (memchr(line, '\0', (size_t)(end - line)))
        return err_set(err, SABA_EINVAL, 0, "NUL byte in line");

    char num[64];
    if (nv >= sizeof num)
        return err_set(err, SABA_EINVAL, 0, "invalid value");
    memcpy(num, val, nv);
    num[nv] = '\0';
    double v;
    if (!strcasecmp(num, "nan")) {
        v = NAN;
    } else {
        char *e;
        errno = 0;
        v = strtod(num, &e);
        /* strtod also reads "inf", hex and "nan(...)"; Graphite values are decimal */
        if (*e || e == num || strpbrk(num, "xXnN") || (errno == ERANGE && isinf(v)))
            return err_set(err, SABA_EINVAL, 0, "invalid value \"%.32s\"", num);
        if (isinf(v))
            return err_set(err, SABA_EINVAL, 0, "invalid value \"%.32s\"", num);
    }
    int64_t t = now_ms;
    if (nt) {
        if (nt >= sizeof num)
            return err_set(err, SABA_EINVAL, 0, "invalid timestamp");
        memcpy(num, ts, nt);
        num[nt] = '\0';
        char *e;
        double d = strtod(num, &e);
        if (*e || e == num || !isfinite(d) || strpbrk(num, "xXnNiI"))
            return err_set(err, SABA_EINVAL, 0, "invalid timestamp \"%.32s\"", num);
        if (d != -1) {
            if (d < 0 || d > 9.2e15)
                return err_set(err, SABA_EINVAL, 0, "timestamp out of range");
            t = (int64_t)llround(d * 1000);
        }
    }

    batch_series_begin(b);
    const char *semi = memchr(path, ';', np);
    size_t name_len = semi ? (size_t)(semi - path) : np;
    if (name_len == 0) {
        batch_series_abort(b);
        return err_set(err, SABA_EINVAL, 0, "empty metric path");
    }
    int rc = batch_label(b, "__name__", 8, path, name_len, err);
    const char *q = semi, *pend = path + np;
    while (rc == 0 && q && q < pend) {
        q++; /* skip ';' */
        const char *next = memchr(q, ';', (size_t)(pend - q));
        const char *te = next ? next : pend;
        const char *eq = memchr(q, '=', (size_t)(te - q));
        if (!eq || eq == q || eq + 1 == te) {
            rc = err_set(err, SABA_EINVAL, 0, "invalid tag \"%.*s\" (want name=value)",
                         (int)((te - q) > 64 ? 64 : (te - q)), q);
            break;
        }
        rc = batch_label(b, q, (size_t)(eq - q), eq + 1, (size_t)(te - eq - 1), err);
        q = next;
    }
    if (rc) {
        batch_series_abort(b);
        return rc;
    }
    return batch_series_end(b, t, v, err);
}
