/*
 * series_csv.c - the `saba analyze` CSV reader (see series_csv.h).
 *
 * Rows are split by hand (no quoting beyond a pair of double quotes around a
 * field, which is all spreadsheet exports of numbers produce). Numbers go
 * through strtod on a NUL-terminated copy of the field, so a field like
 * "1e5x" or "0x10" is rejected instead of half-read.
 */
#include "analysis/series_csv.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define FIELD_MAX 64 /* longest numeric field accepted */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* YYYY-MM-DD[ T]HH:MM:SS[.fff][Z] */
static int parse_datetime(const char *s, size_t n, int64_t *ms)
{
    int y, mo, d, h, mi, se;
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' ||
        s[16] != ':')
        return SABA_EINVAL;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return SABA_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 59)
        return SABA_EINVAL;
    size_t i = 19;
    int frac = 0, scale = 100;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return SABA_EINVAL;
        for (; i < n && isdigit((unsigned char)s[i]); i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    if (i < n && s[i] == 'Z')
        i++;
    if (i != n)
        return SABA_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *ms = secs * 1000 + frac;
    return 0;
}

/* A complete decimal number (strtod syntax without hex), NaN allowed when nan_ok. */
static int parse_number(const char *s, size_t n, int nan_ok, double *out)
{
    char tmp[FIELD_MAX + 1];
    if (n == 0 || n > FIELD_MAX)
        return SABA_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (nan_ok && (!strcmp(tmp, "NaN") || !strcmp(tmp, "nan") || !strcmp(tmp, "NAN"))) {
        *out = NAN;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return SABA_EINVAL; /* no hex, inf, nan(...) or spaces */
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return SABA_EINVAL;
    *out = v;
    return 0;
}

int series_csv_time(const char *s, size_t n, int64_t *ms)
{
    if (n >= 19 && s[4] == '-')
        return parse_datetime(s, n, ms);
    double v;
    /* Unix seconds within [1970, 5138): beyond that ms would not be meaningful */
    if (parse_number(s, n, 0, &v) || v < 0 || v >= 1e11)
        return SABA_EINVAL;
    *ms = (int64_t)llround(v * 1000);
    return 0;
}

/* Trim spaces/tabs and one pair of surrounding double quotes. */
static void trim(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e - p >= 2 && *p == '"' && e[-1] == '"') {
        p++;
        e--;
    }
    *s = p;
    *n = (size_t)(e - p);
}

static void show(char *out, size_t cap, const char *s, size_t n)
{
    size_t m = n < cap - 4 ? n : cap - 4;
    size_t j = 0;
    for (size_t i = 0; i < m; i++)
        out[j++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    if (m < n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

void series_csv_free(struct series_csv *out)
{
    free(out->t);
    for (int i = 0; i < SERIES_CSV_MAX_COLS; i++)
        free(out->v[i]);
    free(out->line);
    free(out->ts);
    free(out->ts_len);
    memset(out, 0, sizeof *out);
}

int series_csv_parse(const char *data, size_t len, int ncols, struct series_csv *out,
                     struct saba_err *e)
{
    static const char *const names[] = {"timestamp", "value", "capacity"};
    struct series_csv s = {.ncols = ncols};
    size_t cap = 0;
    long line = 0;
    int rc = 0;
    const char *p = data, *end = data + len;
    int header_ok = 1; /* the first non-blank line may be a header */
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3; /* a UTF-8 byte order mark, as spreadsheet exports write */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *ls = p;
        p = next;
        size_t ln = (size_t)(le - ls);
        trim(&ls, &ln);
        if (ln == 0)
            continue;

        const char *f[SERIES_CSV_MAX_COLS + 2];
        size_t fl[SERIES_CSV_MAX_COLS + 2];
        int nf = 0;
        const char *q = ls, *qe = ls + ln;
        for (;;) {
            const char *c = memchr(q, ',', (size_t)(qe - q));
            if (nf == ncols + 1) {
                nf++; /* one too many: enough to report */
                break;
            }
            f[nf] = q;
            fl[nf] = (size_t)((c ? c : qe) - q);
            trim(&f[nf], &fl[nf]);
            nf++;
            if (!c)
                break;
            q = c + 1;
        }

        int64_t t;
        if (series_csv_time(f[0], fl[0], &t)) {
            if (header_ok) {
                int alpha = 0;
                for (size_t i = 0; i < fl[0]; i++)
                    alpha |= isalpha((unsigned char)f[0][i]) && f[0][i] != 'e' && f[0][i] != 'E';
                header_ok = 0;
                if (alpha)
                    continue; /* a header row */
            }
            char shown[48];
            show(shown, sizeof shown, f[0], fl[0]);
            rc = err_set(e, SABA_EINVAL, line,
                         "timestamp \"%s\" is neither Unix seconds nor YYYY-MM-DD HH:MM:SS", shown);
            goto fail;
        }
        header_ok = 0;
        if (nf != ncols + 1) {
            rc = err_set(e, SABA_EINVAL, line, "expected %d fields (%s), found %s%d", ncols + 1,
                         ncols == 1 ? "timestamp,value" : "timestamp,value,capacity",
                         nf > ncols + 1 ? "more than " : "", nf > ncols + 1 ? ncols + 1 : nf);
            goto fail;
        }
        double v[SERIES_CSV_MAX_COLS];
        for (int i = 0; i < ncols; i++) {
            if (parse_number(f[i + 1], fl[i + 1], i == 0, &v[i])) {
                char shown[48];
                show(shown, sizeof shown, f[i + 1], fl[i + 1]);
                rc = err_set(e, SABA_EINVAL, line, "%s \"%s\" is not a %snumber", names[i + 1],
                             shown, i == 0 ? "" : "finite ");
                goto fail;
            }
        }
        if (s.n > 0 && t <= s.t[s.n - 1]) {
            rc = err_set(e, SABA_EINVAL, line,
                         t == s.t[s.n - 1]
                             ? "duplicate timestamp (same as line %ld)"
                             : "timestamp earlier than line %ld's (rows must be sorted by time)",
                         s.line[s.n - 1]);
            goto fail;
        }
        if (s.n == cap) {
            cap = cap ? 2 * cap : 1024;
            s.t = xrealloc(s.t, cap * sizeof *s.t);
            s.line = xrealloc(s.line, cap * sizeof *s.line);
            s.ts = xrealloc(s.ts, cap * sizeof *s.ts);
            s.ts_len = xrealloc(s.ts_len, cap * sizeof *s.ts_len);
            for (int i = 0; i < ncols; i++)
                s.v[i] = xrealloc(s.v[i], cap * sizeof *s.v[i]);
        }
        s.t[s.n] = t;
        s.line[s.n] = line;
        s.ts[s.n] = f[0];
        s.ts_len[s.n] = fl[0];
        for (int i = 0; i < ncols; i++)
            s.v[i][s.n] = v[i];
        s.n++;
    }
    if (s.n == 0) {
        rc = err_set(e, SABA_EINVAL, line, "no data rows (expected %s)",
                     ncols == 1 ? "timestamp,value" : "timestamp,value,capacity");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    series_csv_free(&s);
    memset(out, 0, sizeof *out);
    return rc;
}
