/*
 * test_chunk.c - unit tests for the Gorilla chunk encoder/decoder
 * (src/storage/tsdb/chunk.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "storage/tsdb/chunk.h"

#include "unit.h"

/* Encode n samples, decode them from an exact-size copy (so ASan sees any
 * read past the end) and compare timestamps and value bit patterns. */
static void roundtrip(const int64_t *ts, const double *vs, size_t n)
{
    struct chunk_enc e;
    chunk_enc_init(&e);
    for (size_t i = 0; i < n; i++)
        chunk_enc_append(&e, ts[i], vs[i]);
    assert_int_equal(e.count, n);
    uint32_t len = chunk_enc_len(&e);
    assert_true(len <= e.cap || n == 0);
    uint8_t *copy = xmalloc(len ? len : 1);
    memcpy(copy, e.buf, len);
    chunk_enc_free(&e);

    struct chunk_iter it;
    chunk_iter_init(&it, copy, len, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        int64_t t = 0;
        double v = 0;
        assert_int_equal(chunk_iter_next(&it, &t, &v), 1);
        assert_int_equal(t, ts[i]);
        assert_double_bits_equal(v, vs[i]);
    }
    int64_t t;
    double v;
    assert_int_equal(chunk_iter_next(&it, &t, &v), 0);
    assert_int_equal(chunk_iter_next(&it, &t, &v), 0); /* stays at the end */

    /* chunk_decode: all of it, then the samples from the second to the last but one */
    int64_t *dt = xmalloc((n ? n : 1) * sizeof *dt);
    double *dv = xmalloc((n ? n : 1) * sizeof *dv);
    assert_int_equal(chunk_decode(copy, len, (uint16_t)n, INT64_MIN, INT64_MAX, dt, dv), n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dt[i], ts[i]);
        assert_double_bits_equal(dv[i], vs[i]);
    }
    if (n >= 3 && ts[1] <= ts[n - 2]) {
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += ts[i] >= ts[1] && ts[i] <= ts[n - 2];
        size_t got = chunk_decode(copy, len, (uint16_t)n, ts[1], ts[n - 2], dt, dv);
        assert_true(got <= want); /* stops at the first sample after maxt */
        for (size_t i = 0; i < got; i++)
            assert_true(dt[i] >= ts[1] && dt[i] <= ts[n - 2]);
        if (ts[n - 1] > ts[n - 2] && ts[1] > ts[0])
            assert_int_equal(got, want);
    }
    free(dt);
    free(dv);
    free(copy);
}

static void test_empty_chunk(void **state)
{
    (void)state;
    struct chunk_enc e;
    chunk_enc_init(&e);
    assert_int_equal(chunk_enc_len(&e), 0);
    assert_null(e.buf);
    struct chunk_iter it;
    chunk_iter_init(&it, NULL, 0, 0);
    int64_t t;
    double v;
    assert_int_equal(chunk_iter_next(&it, &t, &v), 0);
    chunk_enc_free(&e);
}

static void test_one_sample(void **state)
{
    (void)state;
    const int64_t ts[] = {1732250000000LL};
    const double vs[] = {0.42};
    roundtrip(ts, vs, 1);
    /* one sample is a raw 64-bit timestamp and 64-bit value */
    struct chunk_enc e;
    chunk_enc_init(&e);
    chunk_enc_append(&e, ts[0], vs[0]);
    assert_int_equal(chunk_enc_len(&e), 16);
    chunk_enc_free(&e);
}

static void test_regular_interval_120(void **state)
{
    (void)state;
    int64_t ts[CHUNK_TARGET_SAMPLES];
    double vs[CHUNK_TARGET_SAMPLES];
    for (int i = 0; i < CHUNK_TARGET_SAMPLES; i++) {
        ts[i] = 1732250000000LL + i * 15000;
        vs[i] = 1.5;
    }
    roundtrip(ts, vs, CHUNK_TARGET_SAMPLES);
}

static void test_irregular_intervals(void **state)
{
    (void)state;
    enum { N = CHUNK_MAX_SAMPLES };
    int64_t ts[N];
    double vs[N];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int64_t t = 1000;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += (int64_t)(x % 30000); /* includes 0: equal timestamps are legal input */
        ts[i] = t;
        vs[i] = (double)(i % 7);
    }
    roundtrip(ts, vs, N);
}

static void test_dod_buckets(void **state)
{
    (void)state;
    /* after two samples with delta D, each next delta is D + dod */
    const int64_t dods[] = {0,       1,          -1,        8191,         -8191,    8192,   -8192,
                            8193,    -8193,      65535,     -65535,       65536,    -65536, 65537,
                            -65537,  524287,     -524287,   524288,       -524288,  524289, -524289,
                            1 << 24, -(1 << 24), 1LL << 40, -(1LL << 40), 1LL << 62};
    for (size_t k = 0; k < sizeof dods / sizeof dods[0]; k++) {
        const int64_t D = (1LL << 41); /* large enough that D + dod stays positive */
        int64_t ts[6];
        double vs[6] = {1, 2, 3, 4, 5, 6};
        ts[0] = 1000;
        ts[1] = ts[0] + D;
        ts[2] = ts[1] + D + dods[k];
        if (dods[k] > (1LL << 60)) {
            /* keep the rest in range: a huge negative dod back to small deltas */
            ts[3] = ts[2] + 1;
            ts[4] = ts[3] + 1;
            ts[5] = ts[4] + 1;
        } else {
            ts[3] = ts[2] + D + dods[k]; /* dod 0 again */
            ts[4] = ts[3] + D;           /* -dod */
            ts[5] = ts[4] + D;
        }
        roundtrip(ts, vs, 6);
    }
}

static void test_large_jumps_and_negative_timestamps(void **state)
{
    (void)state;
    {
        const int64_t ts[] = {-5000000000000LL, -4000000000000LL, -1, 0, 1,
                              5000000000000LL,  5000000000001LL};
        const double vs[] = {1, 2, 3, 4, 5, 6, 7};
        roundtrip(ts, vs, 7);
    }
    {
        /* the extremes of int64: delta-of-delta wraps, decoding must undo it */
        const int64_t ts[] = {INT64_MIN, INT64_MIN + 1, 0, INT64_MAX - 1, INT64_MAX};
        const double vs[] = {0, 0, 0, 0, 0};
        roundtrip(ts, vs, 5);
    }
    {
        const int64_t ts[] = {-100, -90, -80, -70, -50, -49};
        const double vs[] = {1, 1, 1, 1, 1, 1};
        roundtrip(ts, vs, 6);
    }
}

static void test_values(void **state)
{
    (void)state;
    enum { N = 120 };
    int64_t ts[N];
    double vs[N];
    for (int i = 0; i < N; i++)
        ts[i] = 1000 + i * 10000;

    /* repeated */
    for (int i = 0; i < N; i++)
        vs[i] = 42.125;
    roundtrip(ts, vs, N);

    /* integers, growing counters */
    for (int i = 0; i < N; i++)
        vs[i] = (double)(i * i * 1000);
    roundtrip(ts, vs, N);

    /* random doubles over all bit patterns, including NaN payloads */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        vs[i] = bitsd(x);
    }
    roundtrip(ts, vs, N);

    /* special values */
    const uint64_t special[] = {
        0x0000000000000000ULL, /* +0 */
        0x8000000000000000ULL, /* -0 */
        0x7ff8000000000000ULL, /* NaN */
        0x7ff0000000000002ULL, /* staleness marker */
        0xfff8000000000001ULL, /* negative NaN with payload */
        0x7ff0000000000000ULL, /* +Inf */
        0xfff0000000000000ULL, /* -Inf */
        0x0000000000000001ULL, /* smallest subnormal */
        0x8000000000000001ULL, /* XOR with the previous: all 64 bits significant */
        0x7fefffffffffffffULL, /* DBL_MAX */
        0x3ff0000000000000ULL, /* 1.0 */
        0x3ff0000000000001ULL, /* next after 1.0: 63 leading zeros in the XOR */
        0x3ff0000000000003ULL, /* fits the previous window */
        0xbff0000000000000ULL, /* -1.0 */
        0x0000000000000000ULL, 0xffffffffffffffffULL,
    };
    const size_t ns = sizeof special / sizeof special[0];
    for (size_t i = 0; i < N; i++)
        vs[i] = bitsd(special[(i * 7) % ns]);
    roundtrip(ts, vs, N);
    for (size_t i = 0; i < ns; i++)
        vs[i] = bitsd(special[i]);
    roundtrip(ts, vs, ns);

    /* -0.0 after 0.0 and back must keep the sign bit */
    const double z[] = {0.0, -0.0, 0.0, -0.0, -0.0};
    roundtrip(ts, z, 5);
}

static void test_max_samples_worst_case(void **state)
{
    (void)state;
    /* CHUNK_MAX_SAMPLES samples that each take the widest encodings: 64-bit
     * delta-of-delta jumps and values whose XOR never fits the previous window */
    enum { N = CHUNK_MAX_SAMPLES };
    int64_t *ts = xmalloc(N * sizeof *ts);
    double *vs = xmalloc(N * sizeof *vs);
    const uint64_t pat[] = {0x0000000000000001ULL, 0x8000000000000000ULL, 0x00000000ffffffffULL,
                            0xffffffff00000000ULL, 0x7ff0000000000002ULL, 0x5555555555555555ULL};
    int64_t t = -(1LL << 50);
    for (int i = 0; i < N; i++) {
        t += (i % 2) ? (1LL << 40) : (1LL << 41);
        ts[i] = t;
        vs[i] = bitsd(pat[i % 6] ^ (uint64_t)i);
    }
    roundtrip(ts, vs, N);
    free(ts);
    free(vs);
}

static void test_bit_layout(void **state)
{
    (void)state;
    /* FORMAT.md: the first sample is 64 bits of timestamp and 64 bits of
     * value, most significant bit first */
    struct chunk_enc e;
    chunk_enc_init(&e);
    chunk_enc_append(&e, 0x0102030405060708LL, 1.0);
    assert_int_equal(chunk_enc_len(&e), 16);
    const uint8_t first[16] = {1, 2, 3, 4, 5, 6, 7, 8, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(e.buf, first, 16);
    assert_int_equal(chunk_first_t(e.buf), 0x0102030405060708LL);
    /* then dod = 1: '10' + 14-bit 1, and the same value: '0' (17 bits) */
    chunk_enc_append(&e, 0x0102030405060709LL, 1.0);
    assert_int_equal(chunk_enc_len(&e), 19);
    const uint8_t second[3] = {0x80, 0x01, 0x00};
    assert_memory_equal(e.buf + 16, second, 3);
    /* dod = 0 and the same value: two zero bits */
    chunk_enc_append(&e, 0x010203040506070aLL, 1.0);
    assert_int_equal(chunk_enc_len(&e), 19);
    assert_int_equal(e.buf[18], 0x00);
    assert_int_equal(chunk_first_t(e.buf), 0x0102030405060708LL);
    chunk_enc_free(&e);

    /* a negative first timestamp is two's complement */
    chunk_enc_init(&e);
    chunk_enc_append(&e, -2, 0.0);
    assert_int_equal(e.buf[0], 0xff);
    assert_int_equal(e.buf[7], 0xfe);
    assert_int_equal(chunk_first_t(e.buf), -2);
    chunk_enc_free(&e);

    /* a regular 15 s scrape of a constant: 128 bits, then 20 + 1 bits for the
     * second sample (dod 15000 needs 17 bits), then 2 bits per sample */
    chunk_enc_init(&e);
    for (int i = 0; i < CHUNK_TARGET_SAMPLES; i++)
        chunk_enc_append(&e, 1732250000000LL + i * 15000, 42.0);
    assert_int_equal(chunk_enc_len(&e), (128 + 21 + (CHUNK_TARGET_SAMPLES - 2) * 2 + 7) / 8);
    chunk_enc_free(&e);
}

static void test_truncated(void **state)
{
    (void)state;
    enum { N = 40 };
    struct chunk_enc e;
    chunk_enc_init(&e);
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        chunk_enc_append(&e, 1000 + i * 1000 + (int64_t)(x >> 60), bitsd(x));
    }
    uint32_t len = chunk_enc_len(&e);
    /* every strict prefix: the iterator reports -1 before yielding N samples,
     * and never reads outside the (exact-size) buffer */
    for (uint32_t cut = 0; cut < len; cut++) {
        uint8_t *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, e.buf, cut);
        struct chunk_iter it;
        chunk_iter_init(&it, cut ? copy : NULL, cut, N);
        int64_t t;
        double v;
        int got = 0, rc;
        while ((rc = chunk_iter_next(&it, &t, &v)) == 1)
            got++;
        assert_int_equal(rc, -1);
        assert_true(got < N);
        free(copy);
    }
    /* the whole chunk decodes */
    struct chunk_iter it;
    chunk_iter_init(&it, e.buf, len, N);
    int64_t t;
    double v;
    int got = 0;
    while (chunk_iter_next(&it, &t, &v) == 1)
        got++;
    assert_int_equal(got, N);
    chunk_enc_free(&e);
}

static void test_garbage_never_reads_out_of_bounds(void **state)
{
    (void)state;
    /* arbitrary bytes with a claimed count: any result, but no overread */
    uint64_t x = 7;
    for (int round = 0; round < 2000; round++) {
        uint32_t n = (uint32_t)(round % 40);
        uint8_t *data = xmalloc(n ? n : 1);
        for (uint32_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            data[i] = (uint8_t)(x >> 56);
        }
        struct chunk_iter it;
        chunk_iter_init(&it, n ? data : NULL, n, (uint16_t)(round % 300));
        int64_t t;
        double v;
        int rc, got = 0;
        while ((rc = chunk_iter_next(&it, &t, &v)) == 1)
            got++;
        assert_true(rc == 0 || rc == -1);
        assert_true(got <= round % 300);
        free(data);
    }
}

/* Random mixtures of every timestamp class and value encoding, with XOR
 * windows of every width: the decoder reads most samples from one 64-bit peek
 * and falls back to bit-by-bit reads for wide ones and near the stream's end. */
static void test_random_mixtures(void **state)
{
    (void)state;
    enum { N = 300 };
    int64_t ts[N];
    double vs[N];
    uint64_t rnd = 7;
    for (int round = 0; round < 200; round++) {
        int64_t t = 1700000000000LL, delta = 15000;
        uint64_t bits = 0x4059000000000000ULL;
        size_t n = 1 + (size_t)round % N;
        for (size_t i = 0; i < n; i++) {
            rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
            static const int64_t jumps[] = {0, 1, -3, 5000, -70000, 500000, 1LL << 40};
            delta += (rnd >> 61) < 4 ? 0 : jumps[(rnd >> 32) % 7];
            t += delta;
            unsigned width = (unsigned)(rnd >> 20) % 65, shift = (unsigned)(rnd >> 10) % 64;
            uint64_t flip = width == 64 ? rnd : (rnd & ((1ULL << width) - 1)) << shift;
            if ((rnd >> 8) % 4 == 0)
                flip = 0;
            bits ^= flip;
            ts[i] = t;
            vs[i] = bitsd(bits);
        }
        roundtrip(ts, vs, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_chunk),
        cmocka_unit_test(test_one_sample),
        cmocka_unit_test(test_regular_interval_120),
        cmocka_unit_test(test_irregular_intervals),
        cmocka_unit_test(test_dod_buckets),
        cmocka_unit_test(test_large_jumps_and_negative_timestamps),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_max_samples_worst_case),
        cmocka_unit_test(test_bit_layout),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage_never_reads_out_of_bounds),
        cmocka_unit_test(test_random_mixtures),
    };
    return cmocka_run_group_tests_name("chunk", tests, NULL, NULL);
}
