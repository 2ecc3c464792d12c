/*
 * test_backfill_formats.c - unit tests for the backfill parsers of saba
 * import: Prometheus text exposition (ingest/exposition.h) and CSV
 * (ingest/csv.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/csv.h"
#include "ingest/exposition.h"
#include "storage/batch.h"

#include "unit.h"

#define NOW 1732250000000LL

/* Label i of sample s as "name=value". */
static void label_at(const struct batch *b, size_t s, size_t i, char *out, size_t n)
{
    const struct batch_label *l = &b->labels[b->samples[s].label_off + i];
    snprintf(out, n, "%.*s=%.*s", (int)l->name_len, batch_str(b, l->name_off), (int)l->value_len,
             batch_str(b, l->value_off));
}

static void test_promtext(void **state)
{
    (void)state;
    const char *in = "# HELP up whether\n# TYPE up gauge\n"
                     "up{job=\"node\",path=\"/a \\\"b\\\"\\\\\"} 1 1732249990000\n"
                     "\n  node_load1 0.5\n"
                     "x_total{a=\"1\",} +Inf 1732249000000\n"
                     "nan_metric NaN 1732249000000\n";
    struct batch b;
    batch_init(&b, NULL);
    b.now_ms = NOW;
    struct saba_err err = {0};
    struct expo_stats st = {0};
    assert_int_equal(expo_parse_batch(in, strlen(in), EXPO_TEXT, NOW, &b, &st, &err), 0);
    assert_int_equal(b.nsamples, 4);
    char l[128];
    label_at(&b, 0, 2, l, sizeof l);
    assert_string_equal(l, "path=/a \"b\"\\");
    assert_int_equal(b.samples[0].t, 1732249990000LL);
    assert_int_equal(b.samples[1].t, NOW); /* no timestamp: now */
    assert_true(b.samples[1].v == 0.5);
    assert_true(isinf(b.samples[2].v) && b.samples[2].v > 0);
    assert_true(isnan(b.samples[3].v));
    batch_free(&b);
}

static void test_promtext_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
        long line;
    } cases[] = {
        {"ok 1\nbad{x=1} 2\n", "expected '\"' to start the value of label \"x\"", 2},
        {"x{a=\"1\"} oops\n", "invalid value \"oops\"", 1},
        {"x 1 12.5\n", "invalid timestamp \"12.5\"", 1},
        {"x{a=\"1 2\n", "unterminated value of label \"a\"", 1},
        {"9x 1\n", "invalid metric name at \"9x\"", 1},
        {"x 1 1 1\n", "unexpected \"1\" after the sample", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct batch b;
        batch_init(&b, NULL);
        b.now_ms = NOW;
        struct saba_err err = {0};
        struct expo_stats st = {0};
        assert_int_equal(
            expo_parse_batch(cases[i].in, strlen(cases[i].in), EXPO_TEXT, NOW, &b, &st, &err),
            SABA_EINVAL);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("\"%s\": error \"%s\" lacks \"%s\"", cases[i].in, err.msg, cases[i].want);
        assert_int_equal(err.line, cases[i].line);
        batch_free(&b);
    }
}

static void test_csv(void **state)
{
    (void)state;
    const char *hdr = "host,time,value,name,dc";
    struct csv_header h;
    struct saba_err err = {0};
    assert_int_equal(csv_header_parse(hdr, strlen(hdr), &h, &err), 0);
    const char *rows = "\"web,1\",1732249000,1.5,cpu,\n"
                       "web-2,2024-11-22T04:16:40Z,-2,\"c\"\"q\",eu\r\n";
    struct batch b;
    batch_init(&b, NULL);
    b.now_ms = NOW;
    assert_int_equal(csv_parse(&h, rows, strlen(rows), &b, &err), 0);
    assert_int_equal(b.nsamples, 2);
    assert_int_equal(b.samples[0].nlabels, 2); /* empty dc is no label */
    char l[64];
    label_at(&b, 0, 1, l, sizeof l);
    assert_string_equal(l, "host=web,1");
    assert_int_equal(b.samples[1].t, 1732249000000LL);
    label_at(&b, 1, 0, l, sizeof l);
    assert_string_equal(l, "__name__=c\"q");
    assert_true(b.samples[1].v == -2);
    batch_free(&b);
    csv_header_free(&h);
}

static void test_csv_errors(void **state)
{
    (void)state;
    struct csv_header h;
    struct saba_err err = {0};
    assert_int_equal(csv_header_parse("time,value", 10, &h, &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "time, name and value"));
    assert_int_equal(csv_header_parse("time,name,value,time", 20, &h, &err), SABA_EINVAL);
    assert_string_equal(err.msg, "column \"time\" appears twice");
    assert_int_equal(csv_header_parse("time,name,value", 15, &h, &err), 0);
    static const struct {
        const char *in, *want;
        long line;
    } cases[] = {
        {"1,x,1\n1,x\n", "2 fields, the header has 3", 2},
        {"yesterday,x,1\n", "invalid time \"yesterday\"", 1},
        {"1,x,1e\n", "invalid value \"1e\"", 1},
        {"1,\"x,1\n", "bad quoting", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct batch b;
        batch_init(&b, NULL);
        b.now_ms = NOW;
        assert_int_equal(csv_parse(&h, cases[i].in, strlen(cases[i].in), &b, &err), SABA_EINVAL);
        assert_string_equal(err.msg, cases[i].want);
        assert_int_equal(err.line, cases[i].line);
        batch_free(&b);
    }
    csv_header_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtext),
        cmocka_unit_test(test_promtext_errors),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
