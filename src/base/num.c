/*
 * num.c - number formatting and parsing (see num.h).
 */
#include "base/num.h"
#include "base/err.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void num_put_float(struct buf *b, double v)
{
    if (isnan(v)) {
        buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        buf_puts(b, signbit(v) ? "-0" : "0");
        return;
    }
    /* Find the shortest %.*e form that reads back as v, then lay its digits out
     * in positional notation. */
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    char digits[24] = {0};
    int nd = 0;
    const char *p = e;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (neg)
        buf_putc(b, '-');
    /* The value is 0.d1d2d3... * 10^(exp10+1). */
    int point = exp10 + 1;
    if (point <= 0) {
        buf_puts(b, "0.");
        for (int i = 0; i < -point; i++)
            buf_putc(b, '0');
        buf_append(b, digits, (size_t)nd);
    } else if (point >= nd) {
        buf_append(b, digits, (size_t)nd);
        for (int i = nd; i < point; i++)
            buf_putc(b, '0');
    } else {
        buf_append(b, digits, (size_t)point);
        buf_putc(b, '.');
        buf_append(b, digits + point, (size_t)(nd - point));
    }
}

void num_put_ts(struct buf *b, int64_t ms)
{
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) {
        r += 1000;
        s -= 1;
    }
    if (s < 0 && r) {
        /* -0.5 s is written -0.5, not -1.500 */
        buf_printf(b, "-%lld", (long long)(-(s + 1)));
        r = 1000 - r;
    } else {
        buf_printf(b, "%lld", (long long)s);
    }
    if (r) {
        char frac[5];
        snprintf(frac, sizeof frac, ".%03d", (int)r);
        int n = 4;
        while (frac[n - 1] == '0')
            n--;
        buf_append(b, frac, (size_t)n);
    }
}

int size_parse(const char *s, int64_t *out)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0)
        return SABA_EINVAL;
    while (*end == ' ')
        end++;
    static const struct {
        const char *u;
        int64_t mul;
    } u[] = {{"", 1},
             {"B", 1},
             {"KB", 1000},
             {"MB", 1000000},
             {"GB", 1000000000},
             {"KiB", 1024},
             {"MiB", 1024 * 1024},
             {"GiB", 1024LL * 1024 * 1024}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        if (strcmp(end, u[i].u) == 0) {
            if (n > INT64_MAX / u[i].mul)
                return SABA_EINVAL;
            *out = n * u[i].mul;
            return 0;
        }
    }
    return SABA_EINVAL;
}
