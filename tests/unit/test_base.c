/*
 * test_base.c - unit tests for src/base: buf, varints, zigzag, crc32c, num,
 * timeutil, hashmap, log, err, alloc.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/err.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "base/num.h"
#include "base/timeutil.h"

#include "unit.h"

/* ---- buf ---- */

static void test_buf_append_puts_putc(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "abc", 3);
    buf_puts(&b, "def");
    buf_putc(&b, 'g');
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "abcdefg");
    assert_true(b.cap > b.len);

    /* binary bytes, including NUL, are kept; the data stays NUL-terminated */
    buf_append(&b, "x\0y", 3);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "abcdefgx\0y", 10);
    assert_int_equal(b.data[10], '\0');

    /* growth across many reallocations keeps the content */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_putc(&big, (char)('a' + i % 26));
    assert_int_equal(big.len, 100000);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(big.data[i], 'a' + i % 26);
    assert_int_equal(big.data[100000], '\0');
    buf_free(&big);

    /* appending nothing to an empty buf still gives a C string */
    struct buf e = BUF_INIT;
    buf_append(&e, NULL, 0);
    assert_non_null(e.data);
    assert_int_equal(e.len, 0);
    assert_string_equal(e.data, "");
    buf_free(&e);

    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    buf_puts(&b, "again");
    assert_string_equal(b.data, "again");

    char *s = buf_steal(&b);
    assert_string_equal(s, "again");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);

    /* stealing an empty buf gives "" rather than NULL */
    s = buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    buf_free(&b);
    buf_free(&b); /* harmless on an empty buf */
    assert_null(b.data);
}

static void test_buf_printf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "42-x");
    assert_int_equal(b.len, 4);

    /* longer than the first attempt's room: the second vsnprintf pass */
    char long_s[1001];
    memset(long_s, 'q', 1000);
    long_s[1000] = '\0';
    buf_printf(&b, "[%s]", long_s);
    assert_int_equal(b.len, 4 + 1002);
    assert_memory_equal(b.data, "42-x[", 5);
    assert_memory_equal(b.data + 5, long_s, 1000);
    assert_string_equal(b.data + 1005, "]");

    /* an empty format on an empty buf */
    struct buf e = BUF_INIT;
    buf_printf(&e, "%s", "");
    assert_int_equal(e.len, 0);
    assert_non_null(e.data);
    assert_string_equal(e.data, "");
    buf_free(&e);
    buf_free(&b);
}

static void test_buf_fixed_width(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_put_u32le(&b, 0x01020304u);
    buf_put_u64le(&b, 0x1122334455667788ULL);
    assert_int_equal(b.len, 12);
    const uint8_t want[] = {4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    assert_memory_equal(b.data, want, sizeof want);
    assert_int_equal(load_u32le((const uint8_t *)b.data), 0x01020304u);
    assert_int_equal(load_u64le((const uint8_t *)b.data + 4), 0x1122334455667788ULL);
    buf_free(&b);
}

static void test_varint_roundtrip(void **state)
{
    (void)state;
    const uint64_t vals[] = {0,          1,
                             127,        128,
                             255,        300,
                             16383,      16384,
                             UINT32_MAX, (uint64_t)UINT32_MAX + 1,
                             1ULL << 56, (1ULL << 63) - 1,
                             1ULL << 63, UINT64_MAX - 1,
                             UINT64_MAX};
    const size_t n = sizeof vals / sizeof vals[0];
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        buf_put_uvarint(&b, vals[i]);
    const uint8_t *p = (const uint8_t *)b.data, *end = p + b.len;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        assert_int_equal(uvarint_read(&p, end, &v), 0);
        assert_int_equal(v, vals[i]);
    }
    assert_ptr_equal(p, end);
    uint64_t v;
    assert_int_equal(uvarint_read(&p, end, &v), -1); /* nothing left */
    buf_free(&b);

    /* encoded sizes and exact bytes (LEB128) */
    struct buf e = BUF_INIT;
    buf_put_uvarint(&e, 127);
    assert_int_equal(e.len, 1);
    buf_reset(&e);
    buf_put_uvarint(&e, 128);
    assert_int_equal(e.len, 2);
    assert_memory_equal(e.data, "\x80\x01", 2);
    buf_reset(&e);
    buf_put_uvarint(&e, 300);
    assert_memory_equal(e.data, "\xac\x02", 2);
    buf_reset(&e);
    buf_put_uvarint(&e, UINT64_MAX);
    assert_int_equal(e.len, 10);
    assert_memory_equal(e.data, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    buf_free(&e);
}

static void test_uvarint_truncated(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_put_uvarint(&b, UINT64_MAX);
    buf_put_uvarint(&b, 300);
    /* every strict prefix of the 10-byte encoding is truncated */
    for (size_t len = 0; len < 10; len++) {
        uint8_t *copy = xmalloc(len ? len : 1);
        memcpy(copy, b.data, len);
        const uint8_t *p = copy;
        uint64_t v = 77;
        assert_int_equal(uvarint_read(&p, copy + len, &v), -1);
        assert_ptr_equal(p, copy); /* unchanged on error */
        assert_int_equal(v, 77);
        free(copy);
    }
    /* the second value cut after its first byte */
    const uint8_t *p = (const uint8_t *)b.data;
    uint64_t v;
    assert_int_equal(uvarint_read(&p, (const uint8_t *)b.data + 11, &v), 0);
    assert_int_equal(v, UINT64_MAX);
    const uint8_t *q = p;
    assert_int_equal(uvarint_read(&p, (const uint8_t *)b.data + 11, &v), -1);
    assert_ptr_equal(p, q);
    buf_free(&b);
}

static void test_uvarint_overflow(void **state)
{
    (void)state;
    uint64_t v = 0;
    /* the 10th byte may only carry bit 63 */
    const uint8_t ok[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    const uint8_t *p = ok;
    assert_int_equal(uvarint_read(&p, ok + sizeof ok, &v), 0);
    assert_int_equal(v, 1ULL << 63);
    assert_ptr_equal(p, ok + sizeof ok);

    const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    p = over;
    assert_int_equal(uvarint_read(&p, over + sizeof over, &v), -1);
    assert_ptr_equal(p, over);

    /* eleven bytes: a continuation bit on the 10th */
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00};
    p = eleven;
    assert_int_equal(uvarint_read(&p, eleven + sizeof eleven, &v), -1);
    assert_ptr_equal(p, eleven);

    const uint8_t many[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    p = many;
    assert_int_equal(uvarint_read(&p, many + sizeof many, &v), -1);
    assert_ptr_equal(p, many);
}

static void test_zigzag(void **state)
{
    (void)state;
    assert_int_equal(zigzag_enc(0), 0);
    assert_int_equal(zigzag_enc(-1), 1);
    assert_int_equal(zigzag_enc(1), 2);
    assert_int_equal(zigzag_enc(-2), 3);
    assert_int_equal(zigzag_enc(2), 4);
    assert_int_equal(zigzag_enc(INT64_MAX), UINT64_MAX - 1);
    assert_int_equal(zigzag_enc(INT64_MIN), UINT64_MAX);
    const int64_t vals[] = {0,
                            1,
                            -1,
                            63,
                            -64,
                            64,
                            -65,
                            1000000,
                            -1000000,
                            INT32_MAX,
                            INT32_MIN,
                            INT64_MAX,
                            INT64_MIN,
                            INT64_MAX - 1,
                            INT64_MIN + 1};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        assert_int_equal(zigzag_dec(zigzag_enc(vals[i])), vals[i]);
    /* small magnitudes stay small */
    assert_true(zigzag_enc(-64) < 128);
    assert_true(zigzag_enc(63) < 128);
}

static void check_json(const char *in, size_t n, const char *want)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "x=");
    buf_put_json_str(&b, in, n);
    assert_string_equal(b.data + 2, want);
    assert_int_equal(b.len, 2 + strlen(want));
    buf_free(&b);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    check_json("", 0, "\"\"");
    check_json("plain", 5, "\"plain\"");
    check_json("say \"hi\"", 8, "\"say \\\"hi\\\"\"");
    check_json("a\\b", 3, "\"a\\\\b\"");
    check_json("l1\nl2\tx\ry", 9, "\"l1\\nl2\\tx\\ry\"");
    check_json("\x01", 1, "\"\\u0001\"");
    check_json("\x1f", 1, "\"\\u001f\"");
    check_json("\x08\x0c", 2, "\"\\u0008\\u000c\"");
    check_json("a\0b", 3, "\"a\\u0000b\"");
    /* UTF-8 passes through unchanged */
    check_json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");
    /* only n bytes are read */
    check_json("abcdef", 3, "\"abc\"");
}

/* ---- crc32c ---- */

static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static void test_crc32c_vectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t z[32] = {0}, ff[32], inc[32], dec[32];
    memset(ff, 0xff, sizeof ff);
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    /* RFC 3720 (iSCSI) B.4 */
    assert_int_equal(crc32c(0, z, 32), 0x8A9136AAu);
    assert_int_equal(crc32c(0, ff, 32), 0x62A8AB43u);
    assert_int_equal(crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(crc32c(0, dec, 32), 0x113FDB5Cu);
    assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_crc32c_incremental_and_unaligned(void **state)
{
    (void)state;
    uint8_t data[300];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (uint8_t)x;
    }
    /* inputs long enough for the three-lane rounds, with a running CRC */
    static uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (uint8_t)x;
    }
    for (size_t len = 700; len <= sizeof big - 3; len += 37)
        for (size_t off = 0; off < 3; off++)
            assert_int_equal(crc32c(0x12345678u, big + off, len),
                             crc32c_ref(0x12345678u, big + off, len));
    /* every offset (alignment) and length against a bitwise reference */
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= 140; len++)
            assert_int_equal(crc32c(0, data + off, len), crc32c_ref(0, data + off, len));
    /* continuing a CRC equals computing it in one go */
    uint32_t whole = crc32c(0, data, sizeof data);
    for (size_t split = 0; split <= sizeof data; split += 7) {
        uint32_t c = crc32c(0, data, split);
        c = crc32c(c, data + split, sizeof data - split);
        assert_int_equal(c, whole);
    }
    assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

/* ---- num ---- */

static void check_float(double v, const char *want)
{
    struct buf b = BUF_INIT;
    num_put_float(&b, v);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_num_put_float(void **state)
{
    (void)state;
    check_float(0.42, "0.42");
    check_float(1e21, "1000000000000000000000");
    check_float(1e-7, "0.0000001");
    check_float(NAN, "NaN");
    check_float(INFINITY, "+Inf");
    check_float(-INFINITY, "-Inf");
    check_float(12.5, "12.5");
    check_float(-3, "-3");
    check_float(0.1 + 0.2, "0.30000000000000004");
    check_float(0, "0");
    check_float(1, "1");
    check_float(100, "100");
    check_float(-0.5, "-0.5");
    check_float(123456.789, "123456.789");
    check_float(1.2345678901234568e20, "123456789012345680000");
    check_float(0.000001, "0.000001");
    check_float(9007199254740993.0, "9007199254740992");

    /* the shortest representation always reads back as the same double */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v = bitsd(x);
        if (!isfinite(v))
            continue;
        struct buf b = BUF_INIT;
        num_put_float(&b, v);
        assert_null(strchr(b.data, 'e'));
        assert_double_bits_equal(strtod(b.data, NULL), v);
        buf_free(&b);
    }
}

/* Reference for num_put_float: the shortest %.*e form that reads back as v,
 * laid out in positional notation (Go's FormatFloat(v, 'f', -1, 64)). */
static void ref_float(double v, char *out, size_t n)
{
    char e[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    char digits[24];
    int nd = 0;
    const char *p = e;
    struct buf b = BUF_INIT;
    if (*p == '-') {
        buf_putc(&b, '-');
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int point = atoi(p + 1) + 1;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (point <= 0) {
        buf_puts(&b, "0.");
        for (int i = 0; i < -point; i++)
            buf_putc(&b, '0');
        buf_append(&b, digits, (size_t)nd);
    } else if (point >= nd) {
        buf_append(&b, digits, (size_t)nd);
        for (int i = nd; i < point; i++)
            buf_putc(&b, '0');
    } else {
        buf_append(&b, digits, (size_t)point);
        buf_putc(&b, '.');
        buf_append(&b, digits + point, (size_t)(nd - point));
    }
    snprintf(out, n, "%s", b.data);
    buf_free(&b);
}

static void check_float_ref(double v)
{
    char want[400];
    ref_float(v, want, sizeof want);
    struct buf b = BUF_INIT;
    num_put_float(&b, v);
    if (strcmp(b.data, want) != 0)
        fail_msg("num_put_float(%.17g [%016llx]) = \"%s\", want \"%s\"", v,
                 (unsigned long long)dbits(v), b.data, want);
    buf_free(&b);
}

static void test_num_put_float_matches_reference(void **state)
{
    (void)state;
    const double fixed[] = {0.1,
                            0.2,
                            0.3,
                            0.7,
                            1.1,
                            2.675,
                            1e11 + 0.5,
                            999999999999.0,
                            999999999999.9999,
                            1e12,
                            1e12 + 1,
                            123456789.123456,
                            0.000001,
                            0.0000015,
                            0.0000001,
                            4503599627370497.0,
                            9007199254740991.0,
                            0.1 + 0.7,
                            1.0 / 3,
                            2.0 / 3,
                            100.0 / 3,
                            1e15 / 7,
                            2.2250738585072014e-308,
                            1.7976931348623157e308,
                            0.29999999999999999,
                            35.000000000000007,
                            3.0000000000000004,
                            1234.5678,
                            98765.4321,
                            0.015625,
                            1e-5 * 3};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        check_float_ref(fixed[i]);
        check_float_ref(-fixed[i]);
    }
    /* decimals with few digits, the fast path's domain, and their neighbours */
    uint64_t x = 0x2545F4914F6CDD1DULL;
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % 9);
        uint64_t digits = (x >> 8) % (i % 3 == 0   ? 1000ULL
                                      : i % 3 == 1 ? 100000000ULL
                                                   : 1000000000000000ULL);
        double v = (double)digits / p10[k];
        if (v == 0)
            continue;
        check_float_ref(v);
        if (i % 4 == 0)
            check_float_ref(-v);
        if (i % 16 == 0) {
            check_float_ref(nextafter(v, INFINITY));
            check_float_ref(nextafter(v, 0));
        }
    }
    /* and arbitrary finite doubles (subnormals: see the next test) */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v = bitsd(x);
        if (isfinite(v) && fabs(v) >= DBL_MIN)
            check_float_ref(v);
    }
}

/* Regression test (was a bug): num_put_float does not give the shortest form for small subnormal
 * numbers: its fallback starts at 15 significant digits ("%.14e"), which is
 * only the shortest (zero-padded) form for normal doubles. Subnormals have
 * fewer significant bits, so 5e-324 is written as 0.000...494065645841247
 * instead of 0.000...5 (Go's FormatFloat, and Prometheus, give "5e-324" ->
 * 0.000...5), and the double nearest 1e-320 as ...999988671826831 instead
 * of ...1. Normal doubles are not affected. */
static void test_num_put_float_subnormal_is_shortest(void **state)
{
    (void)state;
    char want[400], got[400];
    const double v[] = {5e-324, 1e-320, -3e-310};
    int bad = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ref_float(v[i], want, sizeof want);
        struct buf b = BUF_INIT;
        num_put_float(&b, v[i]);
        snprintf(got, sizeof got, "%s", b.data);
        buf_free(&b);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "num_put_float(%g): %s, want %s\n", v[i], got, want);
            bad++;
        }
    }
    /* the reference itself: 5e-324 is one significant digit */
    ref_float(5e-324, want, sizeof want);
    assert_int_equal(strlen(want), 2 + 323 + 1);
    assert_int_equal(want[strlen(want) - 1], '5');
    assert_int_equal(bad, 0);
}

static void check_ts(int64_t ms, const char *want)
{
    struct buf b = BUF_INIT;
    num_put_ts(&b, ms);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_num_put_ts(void **state)
{
    (void)state;
    check_ts(1732250000000LL, "1732250000");
    check_ts(1732250000500LL, "1732250000.5");
    check_ts(1732250000123LL, "1732250000.123");
    check_ts(1732250000010LL, "1732250000.01");
    check_ts(1732250000001LL, "1732250000.001");
    check_ts(0, "0");
    check_ts(1, "0.001");
    check_ts(-500, "-0.5");
    check_ts(-1500, "-1.5");
    check_ts(-2000, "-2");
}

static void test_size_parse(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(size_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(size_parse("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(size_parse("10B", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(size_parse("64KB", &v), 0);
    assert_int_equal(v, 64000);
    assert_int_equal(size_parse("3MB", &v), 0);
    assert_int_equal(v, 3000000);
    assert_int_equal(size_parse("2GB", &v), 0);
    assert_int_equal(v, 2000000000LL);
    assert_int_equal(size_parse("1KiB", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(size_parse("128MiB", &v), 0);
    assert_int_equal(v, 128LL << 20);
    assert_int_equal(size_parse("4GiB", &v), 0);
    assert_int_equal(v, 4LL << 30);
    v = 99;
    assert_int_equal(size_parse("", &v), SABA_EINVAL);
    assert_int_equal(size_parse("MB", &v), SABA_EINVAL);
    assert_int_equal(size_parse("-1", &v), SABA_EINVAL);
    assert_int_equal(size_parse("10XB", &v), SABA_EINVAL);
    assert_int_equal(size_parse("10kb", &v), SABA_EINVAL);
    assert_int_equal(size_parse("10 MB junk", &v), SABA_EINVAL);
    assert_int_equal(size_parse("9223372036854775807GiB", &v), SABA_EINVAL);
    assert_int_equal(v, 99);
}

/* ---- timeutil ---- */

static void test_duration_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(duration_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(duration_parse("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(duration_parse("1d", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(duration_parse("0s", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(duration_parse("2w", &ms), 0);
    assert_int_equal(ms, 14LL * 86400000);
    assert_int_equal(duration_parse("1y", &ms), 0);
    assert_int_equal(ms, 365LL * 86400000);
    assert_int_equal(duration_parse("1m500ms", &ms), 0);
    assert_int_equal(ms, 60500);
    assert_int_equal(duration_parse("1y2w3d4h5m6s7ms", &ms), 0);
    assert_int_equal(ms, 365LL * 86400000 + 14LL * 86400000 + 3LL * 86400000 + 4 * 3600000 +
                             5 * 60000 + 6000 + 7);

    ms = 4242;
    const char *bad[] = {
        "5",    "m",  "5m1h", "",     "1h1h",  "-5m", "5 m", "5mm",
        "1.5h", "5M", "h1",   "1s1m", "5ms1s", "1x",  " 5m", "99999999999999999999y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(duration_parse(bad[i], &ms), SABA_EINVAL);
        assert_int_equal(ms, 4242);
    }
}

static void test_duration_param_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(duration_param_parse("60", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(duration_param_parse("1.5", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(duration_param_parse("1m", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(duration_param_parse("0.001", &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(duration_param_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    ms = 4242;
    assert_int_equal(duration_param_parse("", &ms), SABA_EINVAL);
    assert_int_equal(duration_param_parse("abc", &ms), SABA_EINVAL);
    assert_int_equal(duration_param_parse("1x", &ms), SABA_EINVAL);
    assert_int_equal(duration_param_parse("inf", &ms), SABA_EINVAL);
    assert_int_equal(duration_param_parse("NaN", &ms), SABA_EINVAL);
    assert_int_equal(duration_param_parse("1e300", &ms), SABA_EINVAL);
    assert_int_equal(ms, 4242);
}

static void test_time_param_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(time_param_parse("1732250000", &ms), 0);
    assert_int_equal(ms, 1732250000000LL);
    assert_int_equal(time_param_parse("1732250000.5", &ms), 0);
    assert_int_equal(ms, 1732250000500LL);
    assert_int_equal(time_param_parse("1732250000.123", &ms), 0);
    assert_int_equal(ms, 1732250000123LL);
    assert_int_equal(time_param_parse("0", &ms), 0);
    assert_int_equal(ms, 0);

    /* 2024-11-22T04:33:20Z is Unix 1732250000 */
    assert_int_equal(time_param_parse("2024-11-22T04:33:20Z", &ms), 0);
    assert_int_equal(ms, 1732250000000LL);
    assert_int_equal(time_param_parse("2024-11-22T04:33:20.5Z", &ms), 0);
    assert_int_equal(ms, 1732250000500LL);
    assert_int_equal(time_param_parse("2024-11-22T04:33:20.123456789Z", &ms), 0);
    assert_int_equal(ms, 1732250000123LL);
    assert_int_equal(time_param_parse("2024-11-22T04:33:20.07Z", &ms), 0);
    assert_int_equal(ms, 1732250000070LL);
    assert_int_equal(time_param_parse("2024-11-22T13:33:20+09:00", &ms), 0);
    assert_int_equal(ms, 1732250000000LL);
    assert_int_equal(time_param_parse("2024-11-22T13:33:20.250+09:00", &ms), 0);
    assert_int_equal(ms, 1732250000250LL);
    assert_int_equal(time_param_parse("2024-11-21T23:33:20-05:00", &ms), 0);
    assert_int_equal(ms, 1732250000000LL);
    assert_int_equal(time_param_parse("2024-11-22T10:03:20+05:30", &ms), 0);
    assert_int_equal(ms, 1732250000000LL);
    assert_int_equal(time_param_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(time_param_parse("2000-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 951782400000LL);

    ms = 4242;
    const char *bad[] = {"",
                         "abc",
                         "now",
                         "2024-11-22",
                         "2024-11-22T04:33:20",
                         "2024-11-22T04:33Z",
                         "2024-11-22T04:33:20Zjunk",
                         "2024-13-22T04:33:20Z",
                         "2024-00-22T04:33:20Z",
                         "2024-11-00T04:33:20Z",
                         "2024-11-22T24:00:00Z",
                         "2024-11-22T04:60:00Z",
                         "2024-11-22T04:33:20.Z",
                         "2024-11-22T04:33:20+0900",
                         "2024-11-22T04:33:20+09",
                         "24-11-22T04:33:20Z",
                         "2024/11/22T04:33:20Z",
                         "1e400",
                         "NaN",
                         "inf",
                         "12abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(time_param_parse(bad[i], &ms), SABA_EINVAL);
        assert_int_equal(ms, 4242);
    }
}

/* Regression test (was a bug): time_param_parse accepts days that do not exist in the month and
 * lets timegm() normalize them: "2024-02-30T00:00:00Z" is taken as March 1,
 * "2023-02-29" as March 1, "2024-04-31" as May 1. Only 1..31 is checked.
 * Prometheus (Go's time.Parse with RFC 3339) rejects them ("day out of
 * range"), so a typo silently queries another day instead of a 400. */
static void test_time_param_parse_rejects_impossible_dates(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(time_param_parse("2024-02-29T00:00:00Z", &ms), 0); /* leap year */
    assert_int_equal(ms, 1709164800000LL);
    assert_int_equal(time_param_parse("2000-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(time_param_parse("2024-02-30T00:00:00Z", &ms), SABA_EINVAL);
    assert_int_equal(time_param_parse("2023-02-29T00:00:00Z", &ms), SABA_EINVAL);
    assert_int_equal(time_param_parse("1900-02-29T00:00:00Z", &ms), SABA_EINVAL);
    assert_int_equal(time_param_parse("2024-04-31T00:00:00Z", &ms), SABA_EINVAL);
    assert_int_equal(time_param_parse("2024-11-31T00:00:00Z", &ms), SABA_EINVAL);
}

static void test_duration_format(void **state)
{
    (void)state;
    char out[32];
    duration_format(0, out, sizeof out);
    assert_string_equal(out, "0s");
    duration_format(5400000, out, sizeof out);
    assert_string_equal(out, "1h30m");
    duration_format(300000, out, sizeof out);
    assert_string_equal(out, "5m");
    duration_format(250, out, sizeof out);
    assert_string_equal(out, "250ms");
    duration_format(86400000 + 1500, out, sizeof out);
    assert_string_equal(out, "1d1s500ms");
    /* format and parse are inverse */
    const int64_t vals[] = {1, 999, 1000, 61000, 3600000, 90061001, 400LL * 86400000};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int64_t back = -1;
        duration_format(vals[i], out, sizeof out);
        assert_int_equal(duration_parse(out, &back), 0);
        assert_int_equal(back, vals[i]);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = now_ms();
    assert_true(a > 1700000000000LL); /* after Nov 2023 */
    int64_t m1 = mono_ns(), m2 = mono_ns();
    assert_true(m2 >= m1);
}

/* ---- hashmap ---- */

static void test_hashmap_basic(void **state)
{
    (void)state;
    struct hashmap m = HASHMAP_INIT;
    uint64_t v;
    size_t pos;
    assert_false(hashmap_find(&m, 1, &v, &pos)); /* empty map */
    for (uint64_t k = 0; k < 5000; k++)
        hashmap_add(&m, k * 7919, k + 1);
    assert_int_equal(m.len, 5000);
    assert_true(m.len * 10 <= m.cap * 7); /* load factor */
    assert_true((m.cap & (m.cap - 1)) == 0);
    for (uint64_t k = 0; k < 5000; k++) {
        assert_true(hashmap_find(&m, k * 7919, &v, &pos));
        assert_int_equal(v, k + 1);
        assert_false(hashmap_next(&m, k * 7919, &v, &pos)); /* unique */
    }
    assert_false(hashmap_find(&m, 7919ULL * 5000, &v, &pos));
    assert_false(hashmap_find(&m, 1, &v, &pos));
    assert_true(hashmap_bytes(&m) >= m.cap * (8 + 8 + 1));

    assert_true(hashmap_find(&m, 7919 * 3, &v, &pos));
    hashmap_set_at(&m, pos, 999);
    assert_true(hashmap_find(&m, 7919 * 3, &v, &pos));
    assert_int_equal(v, 999);

    hashmap_free(&m);
    assert_int_equal(m.cap, 0);
    assert_int_equal(m.len, 0);
    assert_false(hashmap_find(&m, 0, &v, &pos));
    assert_int_equal(hashmap_bytes(&m), 0);
}

static void collect_dups(const struct hashmap *m, uint64_t key, uint8_t *seen, size_t nseen,
                         size_t *count)
{
    uint64_t v;
    size_t pos;
    *count = 0;
    for (bool ok = hashmap_find(m, key, &v, &pos); ok; ok = hashmap_next(m, key, &v, &pos)) {
        assert_true(v < nseen);
        assert_int_equal(seen[v], 0); /* each value once */
        seen[v] = 1;
        (*count)++;
    }
}

static void test_hashmap_duplicate_keys(void **state)
{
    (void)state;
    /* duplicates of one key all land in one probe run, interleaved with other
     * keys; hashmap_next must walk all of them, across growth */
    struct hashmap m = HASHMAP_INIT;
    const uint64_t key = 0xdeadbeefcafef00dULL;
    for (uint64_t i = 0; i < 300; i++) {
        hashmap_add(&m, key, i);
        hashmap_add(&m, key + 1 + i, 100000 + i);
        if (i % 3 == 0)
            hashmap_add(&m, 42, 1000 + i);
    }
    uint8_t seen[300] = {0};
    size_t count;
    collect_dups(&m, key, seen, 300, &count);
    assert_int_equal(count, 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(seen[i], 1);

    uint8_t seen42[1300] = {0};
    collect_dups(&m, 42, seen42, 1300, &count);
    assert_int_equal(count, 100);
    for (int i = 0; i < 300; i += 3)
        assert_int_equal(seen42[1000 + i], 1);

    /* a key never added: find fails even though its slot neighbours are busy */
    uint64_t v;
    size_t pos;
    assert_false(hashmap_find(&m, key - 1, &v, &pos));

    /* set_at on a duplicate changes that entry only */
    assert_true(hashmap_find(&m, key, &v, &pos));
    uint64_t first = v;
    hashmap_set_at(&m, pos, 7777);
    memset(seen, 0, sizeof seen);
    size_t n = 0;
    bool found7777 = false;
    for (bool ok = hashmap_find(&m, key, &v, &pos); ok; ok = hashmap_next(&m, key, &v, &pos)) {
        if (v == 7777)
            found7777 = true;
        else
            assert_int_not_equal(v, first);
        n++;
    }
    assert_int_equal(n, 300);
    assert_true(found7777);
    hashmap_free(&m);
}

/* ---- log, err, alloc ---- */

static void test_log_level_parse(void **state)
{
    (void)state;
    enum log_level l = LOG_LVL_ERROR;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LVL_DEBUG);
    assert_int_equal(log_level_parse("info", &l), 0);
    assert_int_equal(l, LOG_LVL_INFO);
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_LVL_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_LVL_ERROR);
    l = LOG_LVL_INFO;
    assert_int_equal(log_level_parse("", &l), SABA_EINVAL);
    assert_int_equal(log_level_parse("verbose", &l), SABA_EINVAL);
    assert_int_equal(log_level_parse("warning", &l), SABA_EINVAL);
    assert_int_equal(log_level_parse("info ", &l), SABA_EINVAL);
    assert_int_equal(l, LOG_LVL_INFO);

    enum log_level saved = log_threshold;
    log_set_level(LOG_LVL_WARN);
    assert_int_equal(log_threshold, LOG_LVL_WARN);
    log_set_level(saved);
}

static void test_log_ratelimited(void **state)
{
    (void)state;
    int64_t last = 0;
    assert_true(log_ratelimited(&last, 60000));
    assert_true(last > 0);
    assert_false(log_ratelimited(&last, 60000));
    assert_false(log_ratelimited(&last, 60000));
    last -= 61000; /* pretend a minute passed */
    assert_true(log_ratelimited(&last, 60000));
}

static void test_err_set(void **state)
{
    (void)state;
    struct saba_err e = {0};
    assert_int_equal(err_set(&e, SABA_EINVAL, 7, "bad %s %d", "thing", 3), SABA_EINVAL);
    assert_int_equal(e.code, SABA_EINVAL);
    assert_int_equal(e.line, 7);
    assert_string_equal(e.msg, "bad thing 3");
    assert_int_equal(err_set(NULL, SABA_EIO, 1, "x"), SABA_EIO);

    /* a long message is cut, still NUL-terminated */
    char longs[2000];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    err_set(&e, SABA_ETOOBIG, 0, "%s", longs);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
}

static void test_alloc(void **state)
{
    (void)state;
    char *s = xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hello world", 5);
    assert_string_equal(s, "hello");
    free(s);
    int *z = xcalloc(10, sizeof *z);
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 1000 * sizeof *z);
    assert_int_equal(z[9], 0);
    free(z);
    void *p = xmalloc(0);
    assert_non_null(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_puts_putc),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_fixed_width),
        cmocka_unit_test(test_varint_roundtrip),
        cmocka_unit_test(test_uvarint_truncated),
        cmocka_unit_test(test_uvarint_overflow),
        cmocka_unit_test(test_zigzag),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_incremental_and_unaligned),
        cmocka_unit_test(test_num_put_float),
        cmocka_unit_test(test_num_put_float_matches_reference),
        cmocka_unit_test(test_num_put_float_subnormal_is_shortest),
        cmocka_unit_test(test_num_put_ts),
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_param_parse),
        cmocka_unit_test(test_time_param_parse),
        cmocka_unit_test(test_time_param_parse_rejects_impossible_dates),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_hashmap_basic),
        cmocka_unit_test(test_hashmap_duplicate_keys),
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_ratelimited),
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
