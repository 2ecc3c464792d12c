/*
 * test_json.c - unit tests for saba's JSON metrics parser (src/ingest/json.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/json.h"
#include "storage/batch.h"

#include "unit.h"

struct parsed {
    struct batch b;
    struct saba_err err;
    int rc;
};

static void parse(struct parsed *p, const char *s)
{
    memset(p, 0, sizeof *p);
    batch_init(&p->b, NULL);
    p->rc = saba_json_parse(s, strlen(s), &p->b, &p->err);
}

static void done(struct parsed *p)
{
    batch_free(&p->b);
}

static void assert_fails(const char *input, long line, const char *reason)
{
    struct parsed p;
    parse(&p, input);
    if (p.rc != SABA_EINVAL)
        fail_msg("%s: rc %d, want SABA_EINVAL", input, p.rc);
    assert_int_equal(p.err.code, SABA_EINVAL);
    if (p.err.line != line)
        fail_msg("%s: line %ld, want %ld (%s)", input, p.err.line, line, p.err.msg);
    if (!strstr(p.err.msg, reason))
        fail_msg("%s: error \"%s\" does not mention \"%s\"", input, p.err.msg, reason);
    done(&p);
}

static void test_array_of_samples(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"name\": \"node_load5\", \"labels\": {\"host\": \"web-1\", \"dc\": \"eu\"},"
              " \"time\": 1732250000, \"value\": 0.42},"
              " {\"name\": \"up\", \"time\": 1732250001, \"value\": 1}]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 2);
    assert_sample(&p, 0, "__name__=node_load5,dc=eu,host=web-1", 1732250000000LL, 0.42);
    assert_sample(&p, 1, "__name__=up", 1732250001000LL, 1);
    done(&p);

    parse(&p, "[]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 0);
    done(&p);
}

static void test_host_shorthand(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"name\": \"m\", \"host\": \"web-1\", \"time\": 1, \"value\": 1},"
              " {\"name\": \"m\", \"host\": \"web-1\", \"labels\": {\"host\": \"web-1\","
              " \"a\": \"b\"}, \"time\": 2, \"value\": 2},"
              " {\"name\": \"m\", \"labels\": {\"host\": \"web-1\"}, \"time\": 3, \"value\": 3}]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 3);
    assert_sample(&p, 0, "__name__=m,host=web-1", 1000, 1);
    assert_sample(&p, 1, "__name__=m,a=b,host=web-1", 2000, 2);
    assert_sample(&p, 2, "__name__=m,host=web-1", 3000, 3);
    assert_int_equal(p.b.samples[0].hash, p.b.samples[2].hash);
    done(&p);

    assert_fails("[{\"name\": \"m\", \"host\": \"a\", \"labels\": {\"host\": \"b\"}, \"time\": 1,"
                 " \"value\": 1}]",
                 1, "differ");
    assert_fails("[{\"name\": \"m\", \"host\": 5, \"time\": 1, \"value\": 1}]", 1,
                 "\"host\" must be a string");
}

static void test_single_object(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "{\"name\": \"m\", \"time\": 1732250000.5, \"value\": -2}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 1);
    assert_sample(&p, 0, "__name__=m", 1732250000500LL, -2);
    done(&p);
    assert_fails("{\"name\": \"m\", \"time\": 1}", 1, "item 1: ");
}

static void test_special_values(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"name\": \"m\", \"time\": 1, \"value\": \"NaN\"},"
              " {\"name\": \"m\", \"time\": 2, \"value\": \"+Inf\"},"
              " {\"name\": \"m\", \"time\": 3, \"value\": \"-Inf\"},"
              " {\"name\": \"m\", \"time\": 4, \"value\": 1e308},"
              " {\"name\": \"m\", \"time\": 5, \"value\": -0.0},"
              " {\"name\": \"m\", \"time\": 6, \"value\": 12345678901234}]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 6);
    assert_true(isnan(p.b.samples[0].v));
    assert_double_bits_equal(p.b.samples[1].v, INFINITY);
    assert_double_bits_equal(p.b.samples[2].v, -INFINITY);
    assert_double_bits_equal(p.b.samples[3].v, 1e308);
    assert_double_bits_equal(p.b.samples[5].v, 12345678901234.0);
    done(&p);

    assert_fails("[{\"name\": \"m\", \"time\": 1, \"value\": \"nan\"}]", 1, "\"value\"");
    assert_fails("[{\"name\": \"m\", \"time\": 1, \"value\": \"1.5\"}]", 1, "\"value\"");
    assert_fails("[{\"name\": \"m\", \"time\": 1, \"value\": true}]", 1, "\"value\"");
    assert_fails("[{\"name\": \"m\", \"time\": 1, \"value\": null}]", 1, "\"value\"");
    assert_fails("[{\"name\": \"m\", \"time\": 1}]", 1, "\"value\"");
}

static void test_fractional_time(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"name\": \"m\", \"time\": 1732250000.123, \"value\": 1},"
              " {\"name\": \"m\", \"time\": 1732250000.5, \"value\": 1},"
              " {\"name\": \"m\", \"time\": 1732250000.0004, \"value\": 1},"
              " {\"name\": \"m\", \"time\": 0, \"value\": 1}]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.samples[0].t, 1732250000123LL);
    assert_int_equal(p.b.samples[1].t, 1732250000500LL);
    assert_int_equal(p.b.samples[2].t, 1732250000000LL);
    assert_int_equal(p.b.samples[3].t, 0);
    done(&p);
}

static void test_item_errors(void **state)
{
    (void)state;
    const char *ok = "{\"name\": \"m\", \"time\": 1, \"value\": 1}";
    char in[1024];
    snprintf(in, sizeof in, "[%s, {\"time\": 1, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"name\" must be a string");
    snprintf(in, sizeof in, "[%s, {\"name\": 3, \"time\": 1, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"name\"");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"time\": \"1\", \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"time\" must be a number");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"time\"");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"time\": 1, \"value\": 1, \"extra\": 1}]", ok);
    assert_fails(in, 2, "item 2: unknown key \"extra\"");
    snprintf(in, sizeof in,
             "[%s, {\"name\": \"m\", \"labels\": {\"a\": 1}, \"time\": 1, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: label \"a\" must be a string");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"labels\": [], \"time\": 1, \"value\": 1}]",
             ok);
    assert_fails(in, 2, "item 2: \"labels\" must be an object");
    snprintf(in, sizeof in, "[%s, %s, 5]", ok, ok);
    assert_fails(in, 3, "item 3: not an object");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"time\": -1, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"time\" out of range");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"time\": 1e300, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: \"time\" out of range");
    /* batch validation errors name the item too */
    snprintf(in, sizeof in, "[%s, {\"name\": \"\", \"time\": 1, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: missing metric name");
    snprintf(in, sizeof in,
             "[%s, {\"name\": \"m\", \"labels\": {\"__x\": \"1\"}, \"time\": 1, \"value\": 1}]",
             ok);
    assert_fails(in, 2, "item 2: ");
    snprintf(in, sizeof in, "[%s, {\"name\": \"m\", \"time\": 4102444800, \"value\": 1}]", ok);
    assert_fails(in, 2, "item 2: timestamp");
    /* a scalar at the top level */
    assert_fails("42", 1, "array");
}

static void test_invalid_json_reports_line(void **state)
{
    (void)state;
    assert_fails("[\n{\"name\": \"m\", \"time\": 1, \"value\": 1},\n{\"name\": \"m\",,}\n]", 3,
                 "invalid JSON");
    assert_fails("[{\"name\": \"m\"", 1, "invalid JSON");
    assert_fails("", 1, "invalid JSON");
    assert_fails("\n\n\nnope", 4, "invalid JSON");
    /* duplicate keys are rejected */
    assert_fails("{\"name\": \"a\", \"name\": \"b\", \"time\": 1, \"value\": 1}", 1,
                 "invalid JSON");
    /* a NUL inside a string */
    assert_fails("{\"name\": \"a\\u0000b\", \"time\": 1, \"value\": 1}", 1, "invalid JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_of_samples),
        cmocka_unit_test(test_host_shorthand),
        cmocka_unit_test(test_single_object),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_fractional_time),
        cmocka_unit_test(test_item_errors),
        cmocka_unit_test(test_invalid_json_reports_line),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
