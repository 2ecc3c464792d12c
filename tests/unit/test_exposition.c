/*
 * test_exposition.c - unit tests for the Prometheus text / OpenMetrics parser
 * (src/ingest/exposition.h): samples, labels and escapes, timestamps in both
 * formats, families and _created, exemplars, # EOF, and bad input answered
 * with the right line and reason.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/exposition.h"
#include "storage/batch.h"

#include "unit.h"

#define NOW 1732250000000LL

struct parsed {
    struct batch b;
    struct expo_stats st;
    struct saba_err err;
    int rc;
};

static void parse(struct parsed *p, enum expo_format fmt, const char *text)
{
    memset(p, 0, sizeof *p);
    batch_init(&p->b, NULL);
    p->b.now_ms = NOW;
    p->rc = expo_parse_batch(text, strlen(text), fmt, NOW, &p->b, &p->st, &p->err);
}

static void parse_ok(struct parsed *p, enum expo_format fmt, const char *text)
{
    parse(p, fmt, text);
    if (p->rc)
        fail_msg("parse failed: line %ld: %s", p->err.line, p->err.msg);
}

static void assert_fails(enum expo_format fmt, const char *text, long line, const char *reason)
{
    struct parsed p;
    parse(&p, fmt, text);
    if (p.rc == 0)
        fail_msg("\"%s\" was accepted", text);
    if (p.err.line != line || !strstr(p.err.msg, reason))
        fail_msg("\"%s\": got line %ld \"%s\", want line %ld \"%s\"", text, p.err.line, p.err.msg,
                 line, reason);
    batch_free(&p.b);
}

static void test_text_basic(void **state)
{
    (void)state;
    struct parsed p;
    parse_ok(&p, EXPO_TEXT,
             "# HELP http_requests_total The total number of HTTP requests.\n"
             "# TYPE http_requests_total counter\n"
             "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
             "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
             "\n"
             "# A normal comment.\n"
             "metric_without_timestamp_and_labels 12.47\n"
             "  leading_blanks{} -3e-2\n"
             "trailing_comma{a=\"1\",} +Inf\n"
             "x:rule:name NaN\n"
             "neg -Inf\n");
    assert_int_equal(p.b.nsamples, 7);
    assert_sample(&p, 0, "__name__=http_requests_total,code=200,method=post", 1395066363000LL,
                  1027);
    assert_sample(&p, 1, "__name__=http_requests_total,code=400,method=post", 1395066363000LL, 3);
    assert_sample(&p, 2, "__name__=metric_without_timestamp_and_labels", NOW, 12.47);
    assert_sample(&p, 3, "__name__=leading_blanks", NOW, -0.03);
    assert_sample(&p, 4, "__name__=trailing_comma,a=1", NOW, INFINITY);
    assert_int_equal(p.b.samples[5].t, NOW);
    assert_true(isnan(p.b.samples[5].v));
    assert_sample(&p, 6, "__name__=neg", NOW, -INFINITY);
    assert_int_equal(p.st.samples, 7);
    batch_free(&p.b);
}

static void test_escapes(void **state)
{
    (void)state;
    struct parsed p;
    parse_ok(&p, EXPO_TEXT,
             "# HELP m a \\\\ help\\nwith escapes\n"
             "m{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",u=\"日本\"} 1\n"
             "m{v=\"tab\there\"} 2\n"
             "m{w=\"C:\\temp\"} 3\n"
             "# HELP m2 other escapes in help \\t pass too\n");
    assert_int_equal(p.b.nsamples, 3);
    assert_sample(&p, 0, "__name__=m,path=C:\\dir,q=say \"hi\",u=日本", NOW, 1);
    assert_sample(&p, 1, "__name__=m,v=tab\there", NOW, 2);
    /* an escape other than \\ \" \n is kept as written, as Prometheus' scraper does */
    assert_sample(&p, 2, "__name__=m,w=C:\\temp", NOW, 3);
    batch_free(&p.b);
}

struct seen {
    char names[16][64];
    enum expo_type types[16];
    bool created[16];
    bool has_ts[16];
    int64_t ts[16];
    long lines[16];
    int n;
};

static int record(void *ctx, const struct expo_sample *s, struct saba_err *err)
{
    (void)err;
    struct seen *w = ctx;
    if (w->n < 16) {
        snprintf(w->names[w->n], sizeof w->names[0], "%s", s->name);
        w->types[w->n] = s->type;
        w->created[w->n] = s->created;
        w->has_ts[w->n] = s->has_timestamp;
        w->ts[w->n] = s->t_ms;
        w->lines[w->n] = s->line;
    }
    w->n++;
    return 0;
}

static void test_openmetrics_families_created_exemplars(void **state)
{
    (void)state;
    static const char om[] =
        "# TYPE req counter\n"
        "# UNIT req_seconds seconds\n"
        "# HELP req Requests.\n"
        "req_total{code=\"200\"} 10 1732249990.5 # {trace_id=\"abc\"} 1.0 1732249990.1\n"
        "req_created{code=\"200\"} 1732240000\n"
        "# TYPE lat histogram\n"
        "lat_bucket{le=\"0.1\"} 3 # {trace_id=\"x\"} 0.05\n"
        "lat_bucket{le=\"+Inf\"} 5\n"
        "lat_sum 1.5\n"
        "lat_count 5\n"
        "lat_created 1732240000\n"
        "# TYPE up2 gauge\n"
        "up2 1\n"
        "other_created 7\n"
        "# EOF\n";
    struct seen w = {0};
    struct saba_err err = {0};
    int rc = expo_parse(om, sizeof om - 1, EXPO_OPENMETRICS, 0, record, &w, &err);
    if (rc)
        fail_msg("line %ld: %s", err.line, err.msg);
    assert_int_equal(w.n, 9);
    assert_string_equal(w.names[0], "req_total");
    assert_int_equal(w.types[0], EXPO_COUNTER);
    assert_true(w.has_ts[0]);
    assert_int_equal(w.ts[0], 1732249990500LL); /* OpenMetrics: seconds */
    assert_int_equal(w.lines[0], 4);
    assert_true(w.created[1]);
    assert_int_equal(w.types[2], EXPO_HISTOGRAM);
    assert_false(w.created[2]);
    assert_int_equal(w.types[4], EXPO_HISTOGRAM);
    assert_true(w.created[6]);
    assert_int_equal(w.types[7], EXPO_GAUGE);
    assert_false(w.created[8]); /* not of a counter family: an ordinary sample */
    assert_int_equal(w.types[8], EXPO_UNTYPED);

    struct parsed p;
    parse_ok(&p, EXPO_OPENMETRICS, om);
    assert_int_equal(p.b.nsamples, 7); /* the two _created samples are skipped */
    assert_int_equal(p.st.created, 2);
    assert_sample(&p, 0, "__name__=req_total,code=200", 1732249990500LL, 10);
    batch_free(&p.b);
}

static void test_text_timestamps_are_milliseconds(void **state)
{
    (void)state;
    struct parsed p;
    parse_ok(&p, EXPO_TEXT, "a 1 1732249990123\nb 2 0\n");
    assert_sample(&p, 0, "__name__=a", 1732249990123LL, 1);
    assert_sample(&p, 1, "__name__=b", 0, 2);
    batch_free(&p.b);
    assert_fails(EXPO_TEXT, "a 1 1732249990.5\n", 1, "invalid timestamp");
}

static void test_format_of(void **state)
{
    (void)state;
    assert_int_equal(expo_format_of(NULL), EXPO_TEXT);
    assert_int_equal(expo_format_of("text/plain; version=0.0.4; charset=utf-8"), EXPO_TEXT);
    assert_int_equal(expo_format_of("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                     EXPO_OPENMETRICS);
    assert_int_equal(expo_format_of("application/openmetrics-text"), EXPO_OPENMETRICS);
    assert_int_equal(expo_format_of("application/openmetrics-textx"), EXPO_TEXT);
}

static void test_text_errors_name_the_line(void **state)
{
    (void)state;
    assert_fails(EXPO_TEXT, "ok 1\n9bad 1\n", 2, "invalid metric name");
    assert_fails(EXPO_TEXT, "ok 1\nm{a=\"1\" 2\n", 2, "expected ',' or '}'");
    assert_fails(EXPO_TEXT, "m{a=1} 2\n", 1, "expected '\"'");
    assert_fails(EXPO_TEXT, "m{a=\"1} 2\n", 1, "unterminated value");
    assert_fails(EXPO_TEXT, "m{a=\"1\",a=\"2\"} 2\n", 1, "duplicate label name \"a\"");
    assert_fails(EXPO_TEXT, "m{1a=\"x\"} 2\n", 1, "invalid label name");
    assert_fails(EXPO_TEXT, "m\n", 1, "missing value");
    assert_fails(EXPO_TEXT, "m{}\n", 1, "missing value");
    assert_fails(EXPO_TEXT, "\n\nm abc\n", 3, "invalid value \"abc\"");
    assert_fails(EXPO_TEXT, "m 1 2 3\n", 1, "unexpected \"3\"");
    assert_fails(EXPO_TEXT, "m 0x10\n", 1, "invalid value");
    assert_fails(EXPO_TEXT, "m nan(1)\n", 1, "invalid value");
    assert_fails(EXPO_TEXT, "# TYPE m histogramm\n", 1, "invalid type");
    assert_fails(EXPO_TEXT, "# TYPE m stateset\n", 1, "invalid type");
    assert_fails(EXPO_TEXT, "# HELP\n", 1, "needs a metric name");
    assert_fails(EXPO_TEXT, "m{a=\"\xff\"} 1\n", 1, "not valid UTF-8");
    assert_fails(EXPO_TEXT, "m 1 # trailing comment\n", 1, "unexpected");
    static const char nul[] = "ok 1\nm\0 1\n";
    struct parsed p;
    memset(&p, 0, sizeof p);
    batch_init(&p.b, NULL);
    p.rc = expo_parse_batch(nul, sizeof nul - 1, EXPO_TEXT, NOW, &p.b, NULL, &p.err);
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.line, 2);
    batch_free(&p.b);
}

static void test_openmetrics_errors(void **state)
{
    (void)state;
    assert_fails(EXPO_OPENMETRICS, "a 1\n", 2, "missing \"# EOF\"");
    assert_fails(EXPO_OPENMETRICS, "a 1\n# EOF\nb 2\n", 3, "content after \"# EOF\"");
    assert_fails(EXPO_OPENMETRICS, "a 1\n\n# EOF\n", 2, "blank line");
    assert_fails(EXPO_OPENMETRICS, "# random comment\n# EOF\n", 1, "invalid comment");
    assert_fails(EXPO_OPENMETRICS, "# TYPE a untyped\n# EOF\n", 1, "invalid type");
    assert_fails(EXPO_OPENMETRICS, "# TYPE m counter\n# TYPE m gauge\n# EOF\n", 2, "second # TYPE");
    assert_fails(EXPO_OPENMETRICS, "# UNIT a_bytes seconds\n# EOF\n", 1, "does not end with");
    assert_fails(EXPO_OPENMETRICS, "a_total 1 # {x=\"1\"}\n# EOF\n", 1, "exemplar");
    assert_fails(EXPO_OPENMETRICS, "a_total 1 # x\n# EOF\n", 1, "exemplar: expected '{'");
    assert_fails(EXPO_OPENMETRICS, "a 1 abc\n# EOF\n", 1, "invalid timestamp");
    /* valid forms */
    struct parsed p;
    parse_ok(&p, EXPO_OPENMETRICS,
             "# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n"
             "# TYPE u unknown\nu 1\n# UNIT t_seconds seconds\nt_seconds 2 1.25\n# EOF\n");
    assert_int_equal(p.b.nsamples, 4);
    assert_sample(&p, 3, "__name__=t_seconds", 1250, 2);
    batch_free(&p.b);
}

static void test_limits_and_batch_errors(void **state)
{
    (void)state;
    struct batch_limits lim = batch_limits_default;
    lim.max_line_bytes = 32;
    struct batch b;
    batch_init(&b, &lim);
    struct saba_err err = {0};
    const char *text = "a 1\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 2\n";
    assert_int_equal(expo_parse_batch(text, strlen(text), EXPO_TEXT, NOW, &b, NULL, &err),
                     SABA_ETOOBIG);
    assert_int_equal(err.line, 2);
    batch_free(&b);
    /* the batch's own rules (reserved names) come back with the sample's line */
    assert_fails(EXPO_TEXT, "a 1\nb{__x=\"1\"} 2\n", 2, "reserved");
}

static int stop_at_second(void *ctx, const struct expo_sample *s, struct saba_err *err)
{
    int *n = ctx;
    if (++*n == 2)
        return err_set(err, SABA_EINVAL, 0, "callback says no to %s", s->name);
    return 0;
}

static void test_callback_stops_the_parse(void **state)
{
    (void)state;
    int n = 0;
    struct saba_err err = {0};
    const char *text = "a 1\n# c\nb 2\nc 3\n";
    assert_int_equal(expo_parse(text, strlen(text), EXPO_TEXT, 0, stop_at_second, &n, &err),
                     SABA_EINVAL);
    assert_int_equal(n, 2);
    assert_int_equal(err.line, 3);
    assert_string_equal(err.msg, "callback says no to b");
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_basic),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_openmetrics_families_created_exemplars),
        cmocka_unit_test(test_text_timestamps_are_milliseconds),
        cmocka_unit_test(test_format_of),
        cmocka_unit_test(test_text_errors_name_the_line),
        cmocka_unit_test(test_openmetrics_errors),
        cmocka_unit_test(test_limits_and_batch_errors),
        cmocka_unit_test(test_callback_stops_the_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
