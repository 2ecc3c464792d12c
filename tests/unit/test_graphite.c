/*
 * test_graphite.c - unit tests for the Graphite plaintext parser
 * (src/ingest/graphite.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/graphite.h"
#include "storage/batch.h"

#include "unit.h"

#define NOW 1732250000000LL

static int parse(struct batch *b, const char *line, struct saba_err *err)
{
    return graphite_parse_line(line, strlen(line), NOW, b, err);
}

static void assert_one(const char *line, const char *labels, int64_t t, double v)
{
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    int rc = parse(&b, line, &err);
    if (rc)
        fail_msg("\"%s\": %s", line, err.msg);
    assert_int_equal(b.nsamples, 1);
    char lb[1024];
    assert_string_equal(unit_sample_labels(&b, 0, lb, sizeof lb), labels);
    assert_int_equal(b.samples[0].t, t);
    assert_double_bits_equal(b.samples[0].v, v);
    batch_free(&b);
}

static void assert_fails(const char *line, const char *reason)
{
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    int rc = parse(&b, line, &err);
    if (rc != SABA_EINVAL)
        fail_msg("\"%s\": rc %d, want SABA_EINVAL", line, rc);
    if (!strstr(err.msg, reason))
        fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", line, err.msg, reason);
    assert_int_equal(b.nsamples, 0);
    assert_int_equal(b.nlabels, 0);
    batch_free(&b);
}

static void test_path_value_timestamp(void **state)
{
    (void)state;
    assert_one("servers.web-1.load 0.42 1732250000", "__name__=servers.web-1.load", 1732250000000LL,
               0.42);
    assert_one("a.b 12 1732240000", "__name__=a.b", 1732240000000LL, 12);
    assert_one("a.b -3.5e2 0", "__name__=a.b", 0, -350);
    /* extra whitespace between fields, tabs */
    assert_one("  a.b \t 1  \t 1732250000  ", "__name__=a.b", 1732250000000LL, 1);
}

static void test_tags_become_labels(void **state)
{
    (void)state;
    assert_one("disk.used;host=web-1;mount=/var 17 1732250000",
               "__name__=disk.used,host=web-1,mount=/var", 1732250000000LL, 17);
    assert_one("x;b=2;a=1 1 1732250000", "__name__=x,a=1,b=2", 1732250000000LL, 1);
    /* a value may contain '=' */
    assert_one("x;q=a=b 1 1732250000", "__name__=x,q=a=b", 1732250000000LL, 1);
}

static void test_nan_value(void **state)
{
    (void)state;
    const char *lines[] = {"a.b nan 1732250000", "a.b NaN 1732250000", "a.b NAN 1732250000"};
    for (size_t i = 0; i < 3; i++) {
        struct batch b;
        batch_init(&b, NULL);
        struct saba_err err = {0};
        assert_int_equal(parse(&b, lines[i], &err), 0);
        assert_int_equal(b.nsamples, 1);
        assert_true(isnan(b.samples[0].v));
        batch_free(&b);
    }
}

static void test_missing_or_minus_one_timestamp_is_now(void **state)
{
    (void)state;
    assert_one("a.b 1", "__name__=a.b", NOW, 1);
    assert_one("a.b 1 -1", "__name__=a.b", NOW, 1);
    assert_one("a.b 1 -1.0", "__name__=a.b", NOW, 1);
    assert_one("a.b 2   ", "__name__=a.b", NOW, 2);
}

static void test_fractional_timestamps(void **state)
{
    (void)state;
    assert_one("a.b 1 1732250000.5", "__name__=a.b", 1732250000500LL, 1);
    assert_one("a.b 1 1732250000.123", "__name__=a.b", 1732250000123LL, 1);
    assert_one("a.b 1 1732250000.1239", "__name__=a.b", 1732250000124LL, 1);
    assert_one("a.b 1 1732250000.", "__name__=a.b", 1732250000000LL, 1);
}

static void test_crlf_and_blank(void **state)
{
    (void)state;
    assert_one("a.b 5 1732250000\r", "__name__=a.b", 1732250000000LL, 5);
    assert_one("a.b;t=x 5\r", "__name__=a.b,t=x", NOW, 5);
    const char *blank[] = {"", "   ", "\r", " \t \r"};
    for (size_t i = 0; i < 4; i++) {
        struct batch b;
        batch_init(&b, NULL);
        struct saba_err err = {0};
        assert_int_equal(parse(&b, blank[i], &err), 0);
        assert_int_equal(b.nsamples, 0);
        batch_free(&b);
    }
    /* n is honoured: the rest of the buffer is not part of the line */
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const char *buf = "a.b 7 1732250000\nc.d 8 1732250000";
    assert_int_equal(graphite_parse_line(buf, 16, NOW, &b, &err), 0);
    assert_int_equal(b.nsamples, 1);
    assert_double_bits_equal(b.samples[0].v, 7.0);
    batch_free(&b);
}

static void test_errors(void **state)
{
    (void)state;
    assert_fails("a.b", "missing value");
    assert_fails("a.b   \r", "missing value");
    assert_fails("a.b abc 1732250000", "invalid value");
    assert_fails("a.b inf 1732250000", "invalid value");
    assert_fails("a.b -inf 1732250000", "invalid value");
    assert_fails("a.b Infinity", "invalid value");
    assert_fails("a.b 0x10 1732250000", "invalid value");
    assert_fails("a.b 1e999 1732250000", "invalid value");
    assert_fails("a.b 1,5 1732250000", "invalid value");
    assert_fails("a.b nan(1) 1732250000", "invalid value");
    assert_fails("a.b 1 1732250000 extra", "extra fields");
    assert_fails("a.b 1 2 3 4", "extra fields");
    assert_fails("a.b 1 abc", "invalid timestamp");
    assert_fails("a.b 1 0x10", "invalid timestamp");
    assert_fails("a.b 1 inf", "invalid timestamp");
    assert_fails("a.b 1 nan", "invalid timestamp");
    assert_fails("a.b 1 -2", "out of range");
    assert_fails("a.b 1 1e300", "out of range");
    assert_fails("a;b 1 1732250000", "invalid tag");
    assert_fails("a;b= 1 1732250000", "invalid tag");
    assert_fails("a;=b 1 1732250000", "invalid tag");
    assert_fails("a;x=1;b 1 1732250000", "invalid tag");
    assert_fails(";a=b 1 1732250000", "empty metric path");
    /* batch validation */
    assert_fails("a;__x=1 1 1732250000", "reserved");
    assert_fails("a;t=1;t=2 1 1732250000", "duplicate");
    assert_fails("a.\xff 1 1732250000", "UTF-8");
    assert_fails("a.b 1 4102444800", "future"); /* 2100 */
}

/* An empty tag after a trailing ';' is as invalid as any other. */
static void test_trailing_semicolon_is_invalid_tag(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(parse(&b, "a; 1 1732250000", &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "invalid tag"));
    assert_int_equal(parse(&b, "a;x=1; 1 1732250000", &err), SABA_EINVAL);
    assert_int_equal(parse(&b, "a;x=1;;y=2 1 1732250000", &err), SABA_EINVAL);
    assert_int_equal(b.nsamples, 0);
    batch_free(&b);
}

/* Regression test (was a bug): a NUL byte inside the value or timestamp field ends the number early
 * and the rest is ignored: "a.b 1\0garbage" is stored as 1. Only the path is
 * checked for NUL ("NUL byte in path"); the value and timestamp are copied
 * into a C string and parsed up to the first NUL. */
static void test_nul_in_value_or_timestamp_rejected(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const char v[] = "a.b 1\0garbage 1732250000";
    const char t[] = "a.b 1 1732250000\0999";
    int rc1 = graphite_parse_line(v, sizeof v - 1, NOW, &b, &err);
    int rc2 = graphite_parse_line(t, sizeof t - 1, NOW, &b, &err);
    batch_free(&b);
    assert_int_equal(rc1, SABA_EINVAL);
    assert_int_equal(rc2, SABA_EINVAL);
}

static void test_nul_in_path_and_line_limit(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const char p[] = "a\0b 1 1732250000";
    assert_int_equal(graphite_parse_line(p, sizeof p - 1, NOW, &b, &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "NUL"));
    batch_free(&b);

    struct batch_limits lim = batch_limits_default;
    lim.max_line_bytes = 20;
    batch_init(&b, &lim);
    assert_int_equal(parse(&b, "a.b 1 1732250000", &err), 0);
    assert_int_equal(parse(&b, "a.very.long.path.name 1 1732250000", &err), SABA_ETOOBIG);
    assert_int_equal(err.code, SABA_ETOOBIG);
    assert_int_equal(b.nsamples, 1);
    batch_free(&b);
}

static void test_several_lines_share_a_batch(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(parse(&b, "a.b 1 1732250000", &err), 0);
    assert_int_equal(parse(&b, "a.b;x=y 1 1732250000", &err), 0);
    assert_int_equal(parse(&b, "bad;tag 1", &err), SABA_EINVAL);
    assert_int_equal(parse(&b, "a.b 2 1732250001", &err), 0);
    assert_int_equal(b.nsamples, 3);
    assert_int_equal(b.samples[0].hash, b.samples[2].hash);
    assert_int_not_equal(b.samples[0].hash, b.samples[1].hash);
    batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_value_timestamp),
        cmocka_unit_test(test_tags_become_labels),
        cmocka_unit_test(test_nan_value),
        cmocka_unit_test(test_missing_or_minus_one_timestamp_is_now),
        cmocka_unit_test(test_fractional_timestamps),
        cmocka_unit_test(test_crlf_and_blank),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_trailing_semicolon_is_invalid_tag),
        cmocka_unit_test(test_nul_in_value_or_timestamp_rejected),
        cmocka_unit_test(test_nul_in_path_and_line_limit),
        cmocka_unit_test(test_several_lines_share_a_batch),
    };
    return cmocka_run_group_tests_name("graphite", tests, NULL, NULL);
}
