/*
 * timeutil.c - clocks, durations and time parameters (see timeutil.h).
 */
#include "base/timeutil.h"
#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

int duration_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t total = 0;
    int last_unit = -1;
    if (!*p)
        return SABA_EINVAL;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return SABA_EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10)
                return SABA_EINVAL;
            n = n * 10 + (*p++ - '0');
        }
        int u = -1;
        /* "ms" must be tried before "m". */
        if (p[0] == 'm' && p[1] == 's')
            u = 6;
        else
            for (int i = 0; i < 6; i++)
                if (*p == units[i].name[0])
                    u = i;
        if (u < 0 || u <= last_unit)
            return SABA_EINVAL;
        p += strlen(units[u].name);
        if (n > INT64_MAX / units[u].ms || total > INT64_MAX - n * units[u].ms)
            return SABA_EINVAL;
        total += n * units[u].ms;
        last_unit = u;
    }
    *ms = total;
    return 0;
}

int duration_param_parse(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s && *end == '\0' && errno == 0) {
        if (!isfinite(d) || d * 1000 > 9.2e18 || d * 1000 < -9.2e18)
            return SABA_EINVAL;
        *ms = (int64_t)llround(d * 1000);
        return 0;
    }
    return duration_parse(s, ms);
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int time_param_parse(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s && *end == '\0' && errno == 0) {
        if (!isfinite(d) || fabs(d) > 9.2e15)
            return SABA_EINVAL;
        *ms = (int64_t)llround(d * 1000);
        return 0;
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) */
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (parse_digits(&p, 4, &Y) || *p++ != '-' || parse_digits(&p, 2, &M) || *p++ != '-' ||
        parse_digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        return SABA_EINVAL;
    p++;
    if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &m) || *p++ != ':' ||
        parse_digits(&p, 2, &sec))
        return SABA_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
        m > 59 || sec > 60)
        return SABA_EINVAL;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits)
            return SABA_EINVAL;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om))
            return SABA_EINVAL;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return SABA_EINVAL;
    }
    if (*p)
        return SABA_EINVAL;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    *ms = (t - offset_s) * 1000 + frac_ms;
    return 0;
}

void duration_format(int64_t ms, char *out, int n)
{
    int len = 0;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, (size_t)n, "0s");
        return;
    }
    if (ms < 0) {
        len += snprintf(out, (size_t)n, "-");
        ms = -ms;
    }
    for (int i = 0; i < 7 && len < n; i++) {
        int64_t q = ms / units[i].ms;
        if (q) {
            len += snprintf(out + len, (size_t)(n - len), "%lld%s", (long long)q, units[i].name);
            ms -= q * units[i].ms;
        }
    }
}
