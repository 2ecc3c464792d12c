/*
 * num.c - number formatting and parsing (see num.h).
 */
#include "base/num.h"
#include "base/dtoa.h"
#include "base/err.h"

#include <ctype.h>
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append a non-negative integer < 10^19. */
static void put_u64(struct buf *b, uint64_t u)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    buf_reserve(b, (size_t)n);
    for (int i = n - 1; i >= 0; i--)
        b->data[b->len++] = tmp[i];
    b->data[b->len] = '\0';
}

/* Fast exact path for values with few decimals, which is what metrics mostly
 * are: if m / 10^k (both exact doubles, so IEEE division rounds correctly)
 * equals v, then the decimal string of m scaled by 10^-k reads back as v, and
 * the smallest such k gives the shortest form. */
static bool put_short_decimal(struct buf *b, double v)
{
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(v);
    if (!(a < 1e12))
        return false;
    for (int k = 0; k <= 6; k++) {
        double scaled = a * pow10[k];
        if (scaled >= 9007199254740992.0) /* 2^53: m no longer exact */
            return false;
        double m = nearbyint(scaled);
        if (m / pow10[k] != a)
            continue;
        uint64_t u = (uint64_t)m;
        if (v < 0)
            buf_putc(b, '-');
        if (k == 0) {
            put_u64(b, u);
            return true;
        }
        uint64_t p = (uint64_t)pow10[k];
        put_u64(b, u / p);
        buf_putc(b, '.');
        char frac[8];
        uint64_t r = u % p;
        for (int i = k - 1; i >= 0; i--) {
            frac[i] = (char)('0' + r % 10);
            r /= 10;
        }
        buf_append(b, frac, (size_t)k);
        return true;
    }
    return false;
}

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
    if (put_short_decimal(b, v))
        return;
    /* The shortest digits that read back as v, laid out positionally. */
    char digits[DTOA_MAX_DIGITS + 1];
    int point;
    int nd = dtoa_shortest(v, digits, &point);
    bool neg = signbit(v);
    if (neg)
        buf_putc(b, '-');
    /* The value is 0.d1d2d3... * 10^point. */
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
        buf_putc(b, '-');
        put_u64(b, (uint64_t)(-(s + 1)));
        r = 1000 - r;
    } else if (s < 0) {
        buf_putc(b, '-');
        put_u64(b, (uint64_t)(-s));
    } else {
        put_u64(b, (uint64_t)s);
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
