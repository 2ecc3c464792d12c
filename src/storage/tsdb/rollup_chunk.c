/*
 * rollup_chunk.c - encoding and decoding the rollup chunk layout (see
 * rollup_chunk.h and FORMAT.md "Rollup chunk").
 */
#include "storage/tsdb/rollup_chunk.h"
#include "base/alloc.h"
#include "storage/tsdb/block.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LAYOUT     1                  /* the first byte: this layout */
#define VAL_XOR    0xFF               /* a value column of XOR'ed float64 bits */
#define VAL_RESID  0x40               /* flag: decimals with residual bits */
#define MAXK       BLOCK_DECIMAL_MAXK /* most decimal digits tried */
#define ZSTD_LEVEL 9                  /* as the dense chunks: written once, read often */
/* A chunk is stored as a zstd frame only if that makes it this many times
 * smaller: in a year query over stored frames, zstd took 39 % of the time
 * (a profile of 1,000 series x 53 blocks of 168 buckets), more than the
 * columns' varints; the bytes read hardly matter next to that. */
#define ZSTD_GAIN 2
/* counts are whole numbers below 2^53 (exact as doubles) */
#define MAX_COUNT 9007199254740992.0

static double col_value(const struct rollup_point *p, int c)
{
    switch (c) {
    case RC_MIN:
        return p->min;
    case RC_MAX:
        return p->max;
    case RC_SUM:
        return p->sum;
    default:
        return p->last;
    }
}

static size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* v as x / 10^k plus the bits that tell v from that (0 for a decimal):
 * false if |v| * 10^k is not below 2^53 (or v not finite). */
static bool near_decimal(double v, int k, int64_t *x, uint64_t *resid)
{
    double s = v * block_pow10[k];
    if (!(fabs(s) < MAX_COUNT))
        return false;
    *x = llround(s);
    double a = (double)*x / block_pow10[k];
    uint64_t bv, ba;
    memcpy(&bv, &v, 8);
    memcpy(&ba, &a, 8);
    *resid = bv ^ ba;
    return true;
}

/* A value column: u8 k, then per point zigzag(x - previous x) with the
 * values x / 10^k; or u8 VAL_RESID | k, the same plus per point a uvarint
 * residual XOR'ed into the bits of x / 10^k (a sum of decimals is a decimal
 * but for its rounding: the residual is a few low bits); or u8 VAL_XOR and
 * per point u64le bits XOR previous bits. */
static void put_values(struct buf *b, const struct rollup_point *p, size_t n, int c)
{
    int k = 0;
    int64_t x = 0;
    uint64_t r = 0;
    for (size_t i = 0; i < n && k <= MAXK; i++)
        while (k <= MAXK && !block_decimal_at(col_value(&p[i], c), k, &x))
            k++;
    bool resid = false;
    if (k > MAXK) { /* the k with the fewest bytes of deltas and residuals */
        size_t best = 8 * n;
        for (int q = 0; q <= MAXK; q++) {
            size_t bytes = 0;
            int64_t prev = 0;
            for (size_t i = 0; i < n && bytes < best; i++) {
                if (!near_decimal(col_value(&p[i], c), q, &x, &r)) {
                    bytes = best;
                    break;
                }
                bytes += uvarint_len(zigzag_enc((int64_t)((uint64_t)x - (uint64_t)prev))) +
                         uvarint_len(r);
                prev = x;
            }
            if (bytes < best) {
                best = bytes;
                k = q;
                resid = true;
            }
        }
    }
    if (k > MAXK) {
        buf_putc(b, (char)VAL_XOR);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            double v = col_value(&p[i], c);
            uint64_t bits;
            memcpy(&bits, &v, 8);
            buf_put_u64le(b, bits ^ prev);
            prev = bits;
        }
        return;
    }
    buf_putc(b, (char)(resid ? VAL_RESID | k : k));
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (resid)
            near_decimal(col_value(&p[i], c), k, &x, &r);
        else
            block_decimal_at(col_value(&p[i], c), k, &x);
        buf_put_uvarint(b, zigzag_enc((int64_t)((uint64_t)x - (uint64_t)prev)));
        if (resid)
            buf_put_uvarint(b, r);
        prev = x;
    }
}

/* An integer column: u8 0 and one uvarint, the value of every entry (gaps
 * of 0, a steady count per bucket, last samples on the bucket end), or u8 1
 * and a uvarint per entry. */
static void put_ints(struct buf *b, const uint64_t *v, size_t n)
{
    bool same = n > 0;
    for (size_t i = 1; i < n && same; i++)
        same = v[i] == v[0];
    buf_putc(b, same ? 0 : 1);
    if (same) {
        buf_put_uvarint(b, v[0]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        buf_put_uvarint(b, v[i]);
}

int rollup_chunk_encode(ZSTD_CCtx *zc, const struct rollup_point *p, size_t n, int64_t res,
                        struct buf *raw, struct buf *out)
{
    if (n == 0 || n > BLOCK_DENSE_MAX_SAMPLES || res <= 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i].t % res != 0 || (i && p[i].t <= p[i - 1].t) || p[i].last_t > p[i].t ||
            p[i].last_t <= p[i].t - res || !(p[i].count >= 1 && p[i].count < MAX_COUNT) ||
            p[i].count != floor(p[i].count))
            return -1;
    }
    buf_reset(raw);
    buf_putc(raw, LAYOUT);
    buf_put_uvarint(raw, (uint64_t)res);
    buf_put_uvarint(raw, zigzag_enc(p[0].t));
    uint64_t *ints = xmalloc(n * sizeof *ints);
    for (size_t i = 1; i < n; i++)
        ints[i - 1] = (uint64_t)((p[i].t - p[i - 1].t) / res - 1);
    put_ints(raw, ints, n - 1);
    struct buf col = BUF_INIT;
    for (int c = 0; c < RC_NCOLS; c++) {
        buf_reset(&col);
        if (c == RC_COUNT || c == RC_LAST_T) {
            for (size_t i = 0; i < n; i++)
                ints[i] = c == RC_COUNT ? (uint64_t)p[i].count : (uint64_t)(p[i].t - p[i].last_t);
            put_ints(&col, ints, n);
        } else {
            put_values(&col, p, n, c);
        }
        buf_put_uvarint(raw, col.len);
        buf_append(raw, col.data, col.len);
    }
    free(ints);
    buf_free(&col);
    buf_reset(out);
    size_t bound = ZSTD_compressBound(raw->len);
    buf_reserve(out, bound);
    size_t z = ZSTD_compressCCtx(zc, out->data, bound, raw->data, raw->len, ZSTD_LEVEL);
    if (!ZSTD_isError(z) && z <= raw->len / ZSTD_GAIN) {
        out->len = z;
        return 0;
    }
    /* the content as it is: decompressing a small frame costs more than
     * decoding its columns */
    buf_reset(out);
    buf_append(out, raw->data, raw->len);
    return 0;
}

/* uvarint_read with the one- and two-byte cases inline: nearly every
 * number of a rollup chunk is one of those (gaps and offsets of 0, counts,
 * deltas of decimal values). */
static inline int get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    const uint8_t *q = *p;
    if (end - q >= 2) {
        if (q[0] < 0x80) {
            *out = q[0];
            *p = q + 1;
            return 0;
        }
        if (q[1] < 0x80) {
            *out = (uint64_t)(q[0] & 0x7f) | (uint64_t)q[1] << 7;
            *p = q + 2;
            return 0;
        }
    }
    return uvarint_read(p, end, out);
}

/* The head of an integer column (put_ints): returns 0 with *same the value
 * of every entry, 1 if a uvarint per entry follows, -1 if malformed. */
static int get_ints_mode(const uint8_t **p, const uint8_t *end, uint64_t *same)
{
    if (*p >= end || **p > 1)
        return -1;
    int mode = *(*p)++;
    *same = 0;
    if (mode == 0 && get_uvarint(p, end, same))
        return -1;
    return mode;
}

/* Decode a value column of count values from [p, end) into v. */
static int get_values(const uint8_t *p, const uint8_t *end, size_t count, double *v)
{
    if (p == end)
        return -1;
    int k = *p++;
    if (k == VAL_XOR) {
        if ((size_t)(end - p) != 8 * count)
            return -1;
        uint64_t bits = 0;
        for (size_t i = 0; i < count; i++, p += 8) {
            bits ^= load_u64le(p);
            memcpy(&v[i], &bits, 8);
        }
        return 0;
    }
    bool resid = k & VAL_RESID;
    k &= ~VAL_RESID;
    if (k > MAXK)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t z, r = 0;
        if (get_uvarint(&p, end, &z) || (resid && get_uvarint(&p, end, &r)))
            return -1;
        x = (int64_t)((uint64_t)x + (uint64_t)zigzag_dec(z));
        v[i] = (double)x / block_pow10[k];
        if (resid) {
            uint64_t bits;
            memcpy(&bits, &v[i], 8);
            bits ^= r;
            memcpy(&v[i], &bits, 8);
        }
    }
    return p == end ? 0 : -1;
}

int rollup_chunk_decode(const uint8_t *data, size_t nbytes, size_t count, int64_t *t,
                        double *const col[RC_NCOLS])
{
    if (count == 0 || count > BLOCK_DENSE_MAX_SAMPLES)
        return -1;
    /* header and ends (at most 3 + 10 + 10 bytes per bucket) and six
     * columns (at most 10 + 1 + 10 bytes per bucket each): more is corrupt */
    uint8_t *raw = NULL;
    size_t got = nbytes;
    int rc = -1;
    if (nbytes >= 4 && load_u32le(data) == ZSTD_MAGICNUMBER) {
        if (block_unzstd(data, nbytes, 21 + 10u * count + RC_NCOLS * (11 + 10u * count), &raw,
                         &got))
            return -1;
        data = raw;
    }
    if (got < 1 || data[0] != LAYOUT)
        goto out;
    const uint8_t *p = data + 1, *end = data + got;
    uint64_t res, z;
    if (get_uvarint(&p, end, &res) || res == 0 || res > INT64_MAX || get_uvarint(&p, end, &z))
        goto out;
    int64_t prev = zigzag_dec(z);
    if (t)
        t[0] = prev;
    uint64_t same;
    int mode = get_ints_mode(&p, end, &same);
    if (mode < 0)
        goto out;
    for (size_t i = 1; i < count; i++) {
        uint64_t gap = same;
        if (mode && get_uvarint(&p, end, &gap))
            goto out;
        if (!t)
            continue;
        /* (gap + 1) * res, in unsigned arithmetic: garbage wraps, never traps */
        prev = (int64_t)((uint64_t)prev + (gap + 1) * res);
        t[i] = prev;
    }
    for (int c = 0; c < RC_NCOLS; c++) {
        uint64_t len;
        if (get_uvarint(&p, end, &len) || len > (uint64_t)(end - p))
            goto out;
        const uint8_t *cend = p + len;
        if (col[c] && (c == RC_COUNT || c == RC_LAST_T)) {
            const uint8_t *q = p;
            mode = get_ints_mode(&q, cend, &same);
            if (mode < 0 || (c == RC_LAST_T && !t))
                goto out;
            for (size_t i = 0; i < count; i++) {
                z = same;
                if (mode && get_uvarint(&q, cend, &z))
                    goto out;
                if (c == RC_COUNT)
                    col[c][i] = (double)z;
                else
                    col[c][i] = (double)(int64_t)((uint64_t)t[i] - z);
            }
            if (q != cend)
                goto out;
        } else if (col[c] && get_values(p, cend, count, col[c])) {
            goto out;
        }
        p = cend;
    }
    if (p == end)
        rc = (int)count;
out:
    free(raw);
    return rc;
}
