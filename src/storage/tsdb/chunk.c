/*
 * chunk.c - Gorilla chunk encoder and decoder (see chunk.h, FORMAT.md).
 *
 * Bits are written most significant first into bytes. Timestamp classes
 * (from Prometheus' XOR chunk): '0' dod=0, '10'+14 bits, '110'+17 bits,
 * '1110'+20 bits, '1111'+64 bits. Values: '0' same as before, '10' XOR fits
 * the previous window, '11'+5 bits leading zeros+6 bits length (0 = 64)+bits.
 */
#include "storage/tsdb/chunk.h"
#include "base/alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void chunk_enc_init(struct chunk_enc *e)
{
    memset(e, 0, sizeof *e);
    e->leading = 0xff;
}

void chunk_enc_free(struct chunk_enc *e)
{
    free(e->buf);
    chunk_enc_init(e);
}

/* Append the low n (1..64) bits of v, most significant first. Bytes past
 * nbits are zero (grown with memset), so bits are OR'ed into the partial
 * byte and whole bytes are stored. */
static void put_bits(struct chunk_enc *e, uint64_t v, unsigned n)
{
    uint32_t need = ((uint32_t)e->nbits + n + 7) / 8;
    assert((uint32_t)e->nbits + n <= UINT16_MAX); /* CHUNK_MAX_SAMPLES keeps it so */
    if (need > e->cap) {
        /* Grow in small steps: most chunks stay small, and the head holds one
         * open chunk per series. 24 bytes (a 32-byte malloc block) hold the
         * first two or three samples. */
        uint32_t cap = e->cap ? (uint32_t)e->cap + e->cap / 2 : 24;
        if (cap < need)
            cap = need + 8;
        if (cap > UINT16_MAX)
            cap = UINT16_MAX;
        e->buf = xrealloc(e->buf, cap);
        memset(e->buf + e->cap, 0, cap - e->cap);
        e->cap = (uint16_t)cap;
    }
    if (n < 64)
        v &= (UINT64_C(1) << n) - 1;
    uint8_t *p = e->buf + (e->nbits >> 3);
    unsigned room = 8 - (e->nbits & 7);
    e->nbits = (uint16_t)(e->nbits + n);
    if (n <= room) {
        *p |= (uint8_t)(v << (room - n));
        return;
    }
    n -= room;
    *p++ |= (uint8_t)(v >> n);
    while (n >= 8) {
        n -= 8;
        *p++ = (uint8_t)(v >> n);
    }
    if (n)
        *p = (uint8_t)(v << (8 - n));
}

static uint64_t d2u(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static double u2d(uint64_t u)
{
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* Each class is one put_bits call: its prefix and payload together. */
static void put_dod(struct chunk_enc *e, int64_t dod)
{
    if (dod == 0) {
        put_bits(e, 0, 1);
    } else if (dod >= -(1 << 13) && dod < (1 << 13)) {
        put_bits(e, 0x2u << 14 | ((uint64_t)dod & 0x3fff), 16);
    } else if (dod >= -(1 << 16) && dod < (1 << 16)) {
        put_bits(e, 0x6u << 17 | ((uint64_t)dod & 0x1ffff), 20);
    } else if (dod >= -(1 << 19) && dod < (1 << 19)) {
        put_bits(e, 0xeu << 20 | ((uint64_t)dod & 0xfffff), 24);
    } else {
        put_bits(e, 0xf, 4);
        put_bits(e, (uint64_t)dod, 64);
    }
}

static void put_value(struct chunk_enc *e, uint64_t vbits)
{
    uint64_t x = vbits ^ e->vbits;
    if (x == 0) {
        put_bits(e, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31)
        lead = 31; /* 5 bits */
    if (e->leading != 0xff && lead >= e->leading && trail >= e->trailing) {
        unsigned sig = 64u - e->leading - e->trailing;
        if (sig <= 62) {
            put_bits(e, UINT64_C(0x2) << sig | x >> e->trailing, sig + 2);
        } else {
            put_bits(e, 0x2, 2);
            put_bits(e, x >> e->trailing, sig);
        }
        return;
    }
    unsigned sig = 64 - lead - trail;
    put_bits(e, 0x3u << 11 | lead << 6 | (sig & 63), 13); /* '11', lead, sig (64 as 0) */
    put_bits(e, x >> trail, sig);
    e->leading = (uint8_t)lead;
    e->trailing = (uint8_t)trail;
}

void chunk_enc_append(struct chunk_enc *e, int64_t t, double v)
{
    uint64_t vbits = d2u(v);
    if (e->count == 0) {
        put_bits(e, (uint64_t)t, 64);
        put_bits(e, vbits, 64);
        e->delta = 0;
    } else {
        int64_t delta = (int64_t)((uint64_t)t - (uint64_t)e->t);
        put_dod(e, (int64_t)((uint64_t)delta - (uint64_t)e->delta));
        put_value(e, vbits);
        e->delta = delta;
    }
    e->t = t;
    e->vbits = vbits;
    e->count++;
}

int64_t chunk_first_t(const uint8_t *data)
{
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | data[i];
    return (int64_t)t;
}

void chunk_iter_init(struct chunk_iter *it, const uint8_t *data, uint32_t nbytes, uint16_t count)
{
    memset(it, 0, sizeof *it);
    it->data = data;
    it->nbits = nbytes * 8;
    it->count = count;
}

/* Whether 8 bytes remain from the byte of the read position: then peek_bits
 * returns at least 57 bits of data. */
static inline bool can_peek(const struct chunk_iter *it)
{
    return (it->pos >> 3) + 8 <= it->nbits / 8;
}

/* The bits from the read position on, first at the top (at least 57 valid). */
static inline uint64_t peek_bits(const struct chunk_iter *it)
{
    const uint8_t *d = it->data + (it->pos >> 3);
    uint64_t w = (uint64_t)d[0] << 56 | (uint64_t)d[1] << 48 | (uint64_t)d[2] << 40 |
                 (uint64_t)d[3] << 32 | (uint64_t)d[4] << 24 | (uint64_t)d[5] << 16 |
                 (uint64_t)d[6] << 8 | d[7]; /* compilers turn this into one bswap */
    return w << (it->pos & 7);
}

/* Read n (<= 64) bits; returns -1 if the stream ends first. Reads a 64-bit
 * big-endian word where 8 bytes remain (the common case), bytewise at the tail. */
static inline int get_bits(struct chunk_iter *it, unsigned n, uint64_t *out)
{
    if (it->pos + n > it->nbits)
        return -1;
    if (n == 0) {
        *out = 0;
        return 0;
    }
    if (n <= 56 && can_peek(it)) {
        *out = peek_bits(it) >> (64 - n);
        it->pos += n;
        return 0;
    }
    uint64_t v = 0;
    while (n) {
        unsigned bitpos = it->pos & 7;
        unsigned room = 8 - bitpos;
        unsigned take = n < room ? n : room;
        uint8_t b = it->data[it->pos >> 3];
        uint64_t bits = (b >> (room - take)) & ((1u << take) - 1);
        v = (v << take) | bits;
        it->pos += take;
        n -= take;
    }
    *out = v;
    return 0;
}

static int64_t sign_extend(uint64_t v, unsigned bits)
{
    uint64_t m = 1ULL << (bits - 1);
    return (int64_t)((v ^ m) - m);
}

/* A timestamp's delta of delta, bit by bit (near the stream's end, and the
 * 64-bit class). */
static __attribute__((noinline)) int read_dod_slow(struct chunk_iter *it, int64_t *dod)
{
    static const unsigned widths[] = {0, 14, 17, 20, 64};
    uint64_t b;
    unsigned ones = 0;
    while (ones < 4) {
        if (get_bits(it, 1, &b))
            return -1;
        if (!b)
            break;
        ones++;
    }
    *dod = 0;
    if (ones) {
        if (get_bits(it, widths[ones], &b))
            return -1;
        *dod = ones == 4 ? (int64_t)b : sign_extend(b, widths[ones]);
    }
    return 0;
}

/* A timestamp's delta of delta. Away from the stream's end the class and its
 * bits come out of one peek (all but the 64-bit class fit in 24 bits). */
static inline __attribute__((always_inline)) int read_dod(struct chunk_iter *it, int64_t *dod)
{
    static const unsigned widths[] = {0, 14, 17, 20, 64};
    if (can_peek(it)) {
        uint64_t w = peek_bits(it);
        unsigned ones = (unsigned)__builtin_clzll(~w | 1ULL << 59); /* leading 1s, at most 4 */
        if (ones < 4) {
            unsigned width = widths[ones];
            *dod = width ? sign_extend((w << (ones + 1)) >> (64 - width), width) : 0;
            it->pos += ones + 1 + width;
            return 0;
        }
    }
    return read_dod_slow(it, dod);
}

/* A value, bit by bit (near the stream's end, and wide XOR windows). */
static __attribute__((noinline)) int read_value_slow(struct chunk_iter *it)
{
    uint64_t b;
    if (get_bits(it, 1, &b))
        return -1;
    if (!b)
        return 0;
    if (get_bits(it, 1, &b))
        return -1;
    if (b) {
        uint64_t lead, sig;
        if (get_bits(it, 5, &lead) || get_bits(it, 6, &sig))
            return -1;
        if (sig == 0)
            sig = 64;
        if (lead + sig > 64)
            return -1;
        it->leading = (uint8_t)lead;
        it->trailing = (uint8_t)(64 - lead - sig);
    } else if (it->leading == 0xff) {
        return -1;
    }
    unsigned sig = 64u - it->leading - it->trailing;
    if (get_bits(it, sig, &b))
        return -1;
    it->vbits ^= b << it->trailing;
    return 0;
}

/* A value (XOR with the previous one), from one peek when its bits fit. */
static inline __attribute__((always_inline)) int read_value(struct chunk_iter *it)
{
    if (can_peek(it)) {
        uint64_t w = peek_bits(it);
        if (!(w >> 63)) { /* '0': the same value */
            it->pos += 1;
            return 0;
        }
        if (!(w >> 62 & 1)) { /* '10': the previous window */
            if (it->leading == 0xff)
                return -1;
            unsigned sig = 64u - it->leading - it->trailing;
            if (2 + sig <= 57) {
                it->vbits ^= (w << 2) >> (64 - sig) << it->trailing;
                it->pos += 2 + sig;
                return 0;
            }
        } else { /* '11': a new window */
            unsigned lead = (unsigned)(w << 2 >> 59), sig = (unsigned)(w << 7 >> 58);
            if (sig == 0)
                sig = 64;
            if (lead + sig > 64)
                return -1;
            if (13 + sig <= 57) {
                it->leading = (uint8_t)lead;
                it->trailing = (uint8_t)(64 - lead - sig);
                it->vbits ^= (w << 13) >> (64 - sig) << it->trailing;
                it->pos += 13 + sig;
                return 0;
            }
        }
    }
    return read_value_slow(it);
}

/* chunk_iter_next, inlined into chunk_decode's loop (where the iterator lives
 * in registers) */
static inline __attribute__((always_inline)) int iter_next(struct chunk_iter *it, int64_t *t,
                                                           double *v)
{
    if (it->i >= it->count)
        return 0;
    if (it->i == 0) {
        uint64_t tb;
        if (get_bits(it, 64, &tb) || get_bits(it, 64, &it->vbits))
            return -1;
        it->t = (int64_t)tb;
        it->delta = 0;
        it->leading = 0xff;
    } else {
        int64_t dod;
        if (read_dod(it, &dod))
            return -1;
        it->delta = (int64_t)((uint64_t)it->delta + (uint64_t)dod);
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->delta);
        if (read_value(it))
            return -1;
    }
    it->i++;
    *t = it->t;
    *v = u2d(it->vbits);
    return 1;
}

int chunk_iter_next(struct chunk_iter *it, int64_t *t, double *v)
{
    return iter_next(it, t, v);
}

size_t chunk_decode(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t mint,
                    int64_t maxt, int64_t *ts, double *vs)
{
    struct chunk_iter it = {.data = data, .nbits = nbytes * 8, .count = count};
    size_t n = 0;
    int64_t t;
    double v;
    while (iter_next(&it, &t, &v) == 1) {
        if (t < mint)
            continue;
        if (t > maxt)
            break;
        ts[n] = t;
        vs[n++] = v;
    }
    return n;
}
