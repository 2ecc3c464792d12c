/*
 * test_eval.c - unit tests for PromQL evaluation (src/query/eval.h) against a
 * real tsdb in a temporary directory.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "base/alloc.h"
#include "base/buf.h"
#include "query/ast.h"
#include "query/eval.h"
#include "storage/batch.h"
#include "storage/storage.h"
#include "storage/tsdb/tsdb.h"

#include "unit.h"

#define T0  1700000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

struct fx {
    char dir[64];
    struct storage *st;
};

static void put(struct storage *st, int64_t t, double v, ...)
{
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    batch_series_begin(&b);
    va_list ap;
    va_start(ap, v);
    for (;;) {
        const char *n = va_arg(ap, const char *);
        if (!n)
            break;
        const char *val = va_arg(ap, const char *);
        assert_int_equal(batch_label(&b, n, strlen(n), val, strlen(val), &err), 0);
    }
    va_end(ap);
    assert_int_equal(batch_series_end(&b, t, v, &err), 0);
    assert_int_equal(st->ops->append(st, &b, &err), 0);
    batch_free(&b);
}

static double stale(void)
{
    return bitsd(STALE_NAN_BITS);
}

/*
 *   up{job="a"}   T0: 1   T0+1m: 2   T0+2m: 3
 *   up{job="b"}   T0+30s: 10
 *   up2{job="a"}  T0+1m: 7
 *   s             T0: 1   T0+1m: stale   T0+2m: 5   T0+2m30s: stale
 */
static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof *f);
    unit_mkdtemp(f->dir);
    struct tsdb_options o = {.dir = f->dir};
    struct saba_err err = {0};
    if (tsdb_open(&o, &f->st, &err) != 0) {
        fprintf(stderr, "tsdb_open: %s\n", err.msg);
        return -1;
    }
    put(f->st, T0, 1, "__name__", "up", "job", "a", NULL);
    put(f->st, T0 + MIN, 2, "__name__", "up", "job", "a", NULL);
    put(f->st, T0 + 2 * MIN, 3, "__name__", "up", "job", "a", NULL);
    put(f->st, T0 + 30 * SEC, 10, "__name__", "up", "job", "b", NULL);
    put(f->st, T0 + MIN, 7, "__name__", "up2", "job", "a", NULL);
    put(f->st, T0, 1, "__name__", "s", NULL);
    put(f->st, T0 + MIN, stale(), "__name__", "s", NULL);
    put(f->st, T0 + 2 * MIN, 5, "__name__", "s", NULL);
    put(f->st, T0 + 150 * SEC, stale(), "__name__", "s", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    storage_close(f->st);
    unit_rm_rf(f->dir);
    free(f);
    return 0;
}

static struct node *parse(const char *q)
{
    struct node *n = NULL;
    struct saba_err err = {0};
    if (promql_parse(q, &n, &err) != 0)
        fail_msg("parse \"%s\": %s", q, err.msg);
    return n;
}

static int instant_lb(struct fx *f, const char *q, int64_t t, int64_t lookback,
                      struct query_result *r, struct saba_err *err)
{
    struct node *n = parse(q);
    struct eval_opts o = {.lookback_ms = lookback, .storage = f->st};
    int rc = eval_instant(&o, n, t, r, err);
    node_free(n);
    return rc;
}

static void instant(struct fx *f, const char *q, int64_t t, struct query_result *r)
{
    struct saba_err err = {0};
    int rc = instant_lb(f, q, t, EVAL_DEFAULT_LOOKBACK_MS, r, &err);
    if (rc)
        fail_msg("eval \"%s\": %s", q, err.msg);
}

static void range(struct fx *f, const char *q, int64_t start, int64_t end, int64_t step,
                  struct query_result *r)
{
    struct node *n = parse(q);
    struct eval_opts o = {.lookback_ms = EVAL_DEFAULT_LOOKBACK_MS, .storage = f->st};
    struct saba_err err = {0};
    int rc = eval_range(&o, n, start, end, step, r, &err);
    node_free(n);
    if (rc)
        fail_msg("eval range \"%s\": %s", q, err.msg);
    assert_int_equal(r->type, VAL_MATRIX);
}

/* Render series as "{a=1,b=2}=v@t ..." for an instant vector or
 * "{...}=[v@t,v@t]" for a matrix; times relative to T0 in ms. */
static char *render(const struct query_result *r)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < r->set.n; i++) {
        const struct series_data *s = &r->set.v[i];
        if (i)
            buf_putc(&b, ' ');
        buf_putc(&b, '{');
        for (size_t k = 0; k < s->labels.n; k++)
            buf_printf(&b, "%s%s=%s", k ? "," : "", s->labels.v[k].name, s->labels.v[k].value);
        buf_puts(&b, "}=");
        if (r->type == VAL_MATRIX)
            buf_putc(&b, '[');
        for (size_t k = 0; k < s->n; k++)
            buf_printf(&b, "%s%g@%lld", k ? "," : "", s->v[k], (long long)(s->t[k] - T0));
        if (r->type == VAL_MATRIX)
            buf_putc(&b, ']');
    }
    return buf_steal(&b);
}

#define assert_result(r, want)                                                                     \
    do {                                                                                           \
        char *got_ = render(r);                                                                    \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

/* ---- instant vector selectors ---- */

static void test_instant_selector_newest_in_lookback(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    int64_t t = T0 + 90 * SEC;
    instant(f, "up", t, &r);
    assert_int_equal(r.type, VAL_VECTOR);
    assert_int_equal(r.t, t);
    /* the newest sample at or before t, stamped with the evaluation time */
    assert_result(&r, "{__name__=up,job=a}=2@90000 {__name__=up,job=b}=10@90000");
    for (size_t i = 0; i < r.set.n; i++) {
        assert_int_equal(r.set.v[i].n, 1);
        assert_int_equal(r.set.v[i].t[0], t);
    }
    query_result_free(&r);

    /* a sample exactly at t counts */
    instant(f, "up{job=\"a\"}", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=2@60000");
    query_result_free(&r);
    instant(f, "up{job=\"a\"}", T0 + MIN - 1, &r);
    assert_result(&r, "{__name__=up,job=a}=1@59999");
    query_result_free(&r);

    /* exactly t - 5m is still inside the window (closed interval, Prometheus 2.x) */
    t = T0 + 30 * SEC + 5 * MIN;
    instant(f, "up", t, &r);
    assert_result(&r, "{__name__=up,job=a}=3@330000 {__name__=up,job=b}=10@330000");
    query_result_free(&r);
    /* one millisecond later it is too old: job b disappears, job a remains */
    instant(f, "up", t + 1, &r);
    assert_result(&r, "{__name__=up,job=a}=3@330001");
    query_result_free(&r);
    instant(f, "up", T0 + 7 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=3@420000");
    query_result_free(&r);

    /* before the first sample */
    instant(f, "up", T0 + 29 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=1@29000");
    query_result_free(&r);

    /* matchers select */
    instant(f, "{job=\"a\"}", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=3@120000 {__name__=up2,job=a}=7@120000");
    query_result_free(&r);
    instant(f, "{__name__=~\"up.*\", job!=\"b\"}", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=3@120000 {__name__=up2,job=a}=7@120000");
    query_result_free(&r);
    instant(f, "(up{job=\"b\"})", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=b}=10@120000");
    query_result_free(&r);
}

static void test_custom_lookback(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    struct saba_err err = {0};
    assert_int_equal(instant_lb(f, "up", T0 + 90 * SEC, MIN, &r, &err), 0);
    assert_result(&r, "{__name__=up,job=a}=2@90000 {__name__=up,job=b}=10@90000");
    query_result_free(&r);
    assert_int_equal(instant_lb(f, "up", T0 + 90 * SEC + 1, MIN, &r, &err), 0);
    assert_result(&r, "{__name__=up,job=a}=2@90001");
    query_result_free(&r);
}

static void test_offset_and_at(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    /* offset shifts the window back */
    instant(f, "up offset 1m", T0 + 90 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=1@90000 {__name__=up,job=b}=10@90000");
    query_result_free(&r);
    instant(f, "up{job=\"a\"} offset 1m", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=2@120000");
    query_result_free(&r);
    /* a negative offset looks forward */
    instant(f, "up{job=\"a\"} offset -1m", T0 + 30 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=2@30000");
    query_result_free(&r);

    /* @ pins the window, whatever the evaluation time */
    char q[128];
    snprintf(q, sizeof q, "up @ %lld", (long long)((T0 + MIN) / 1000));
    instant(f, q, T0 + 100 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=2@6000000 {__name__=up,job=b}=10@6000000");
    query_result_free(&r);
    snprintf(q, sizeof q, "up{job=\"a\"} @ %lld.999", (long long)(T0 / 1000));
    instant(f, q, T0 + 100 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=1@6000000");
    query_result_free(&r);
    /* @ and offset together: offset is relative to @ */
    snprintf(q, sizeof q, "up{job=\"a\"} @ %lld offset 1m", (long long)((T0 + 2 * MIN) / 1000));
    instant(f, q, T0 + 100 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=2@6000000");
    query_result_free(&r);
    /* in an instant query start() and end() are the evaluation time */
    instant(f, "up{job=\"a\"} @ end()", T0 + 90 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=2@90000");
    query_result_free(&r);
}

static void test_staleness_marker_hides_series(void **state)
{
    struct fx *f = *state;
    assert_true(value_is_stale(stale()));
    assert_false(value_is_stale(NAN));
    assert_false(value_is_stale(1.0));

    struct query_result r;
    instant(f, "s", T0 + 30 * SEC, &r);
    assert_result(&r, "{__name__=s}=1@30000");
    query_result_free(&r);
    /* the newest sample is the marker: no value, although an older one is in range */
    instant(f, "s", T0 + MIN, &r);
    assert_int_equal(r.type, VAL_VECTOR);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    instant(f, "s", T0 + 90 * SEC, &r);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    /* a real sample after the marker brings it back */
    instant(f, "s", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=s}=5@120000");
    query_result_free(&r);
    instant(f, "s", T0 + 3 * MIN, &r);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    /* a plain NaN is a value, not a marker */
    put(f->st, T0 + 10 * MIN, NAN, "__name__", "n", NULL);
    instant(f, "n", T0 + 10 * MIN, &r);
    assert_int_equal(r.set.n, 1);
    assert_true(isnan(r.set.v[0].v[0]));
    assert_false(value_is_stale(r.set.v[0].v[0]));
    query_result_free(&r);
}

/* ---- range queries ---- */

static void test_range_query_step_grid(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    range(f, "up{job=\"a\"}", T0, T0 + 125 * SEC, 30 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@0,1@30000,2@60000,2@90000,3@120000]");
    query_result_free(&r);

    /* a series is absent at steps where it has no sample in the lookback */
    range(f, "up{job=\"b\"}", T0, T0 + 400 * SEC, 100 * SEC, &r);
    assert_result(&r, "{__name__=up,job=b}=[10@100000,10@200000,10@300000]");
    query_result_free(&r);

    /* end on the grid is included; a one-step range */
    range(f, "up{job=\"a\"}", T0 + MIN, T0 + MIN, 15 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=[2@60000]");
    query_result_free(&r);
    range(f, "up{job=\"a\"}", T0, T0 + 2 * MIN, MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@0,2@60000,3@120000]");
    query_result_free(&r);

    /* staleness per step */
    range(f, "s", T0, T0 + 3 * MIN, 30 * SEC, &r);
    assert_result(&r, "{__name__=s}=[1@0,1@30000,5@120000]");
    query_result_free(&r);

    /* @ start() / end() pin every step */
    range(f, "up{job=\"a\"} @ start()", T0 + MIN, T0 + 3 * MIN, MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[2@60000,2@120000,2@180000]");
    query_result_free(&r);
    range(f, "up{job=\"a\"} @ end()", T0, T0 + MIN, 30 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=[2@0,2@30000,2@60000]");
    query_result_free(&r);
    range(f, "up{job=\"a\"} offset 1m", T0 + MIN, T0 + 3 * MIN, MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@60000,2@120000,3@180000]");
    query_result_free(&r);

    /* several series, sorted by labels */
    range(f, "{job=\"a\"}", T0, T0 + MIN, MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@0,2@60000] {__name__=up2,job=a}=[7@60000]");
    query_result_free(&r);
}

/* ---- range vector selectors ---- */

static void test_matrix_selector(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    /* raw samples in [t - range, t], both ends included */
    instant(f, "up{job=\"a\"}[1m]", T0 + 2 * MIN, &r);
    assert_int_equal(r.type, VAL_MATRIX);
    assert_result(&r, "{__name__=up,job=a}=[2@60000,3@120000]");
    query_result_free(&r);
    instant(f, "up{job=\"a\"}[1m]", T0 + 2 * MIN - 1, &r);
    assert_result(&r, "{__name__=up,job=a}=[2@60000]");
    query_result_free(&r);
    instant(f, "up[5m]", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@0,2@60000,3@120000] {__name__=up,job=b}=[10@30000]");
    query_result_free(&r);
    /* offset and @ apply to the range */
    instant(f, "up{job=\"a\"}[1m] offset 1m", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@0,2@60000]");
    query_result_free(&r);
    char q[128];
    snprintf(q, sizeof q, "up{job=\"a\"}[30s] @ %lld", (long long)((T0 + MIN) / 1000));
    instant(f, q, T0 + 100 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[2@60000]");
    query_result_free(&r);
    /* staleness markers are not samples */
    instant(f, "s[5m]", T0 + 3 * MIN, &r);
    assert_result(&r, "{__name__=s}=[1@0,5@120000]");
    query_result_free(&r);
    instant(f, "(up{job=\"b\"}[1m])", T0 + MIN, &r);
    assert_int_equal(r.type, VAL_MATRIX);
    assert_result(&r, "{__name__=up,job=b}=[10@30000]");
    query_result_free(&r);
}

/* Regression test (was a bug): a range vector selector returns a series with no samples when every
 * sample in its range is a staleness marker: eval_matrix drops the markers
 * but keeps the emptied series, and the API then renders
 * {"metric":{...},"values":[]}. Prometheus leaves such series out of the
 * matrix (a series is only returned with at least one point). */
static void test_matrix_all_stale_range_drops_series(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    /* s has only its marker at T0+1m in [T0+40s, T0+1m30s]; up{job=a} has a sample */
    instant(f, "{__name__=~\"s|up\", job!=\"b\"}[50s]", T0 + 90 * SEC, &r);
    char *got = render(&r);
    query_result_free(&r);
    int ok = strcmp(got, "{__name__=up,job=a}=[2@60000]") == 0;
    if (!ok)
        fprintf(stderr, "got: %s\n", got);
    free(got);
    assert_true(ok);
}

/* ---- operators and literals ---- */

static void test_unary_minus_drops_name(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    instant(f, "-up", T0 + 90 * SEC, &r);
    assert_int_equal(r.type, VAL_VECTOR);
    assert_result(&r, "{job=a}=-2@90000 {job=b}=-10@90000");
    query_result_free(&r);
    instant(f, "-(up{job=\"a\"})", T0 + 90 * SEC, &r);
    assert_result(&r, "{job=a}=-2@90000");
    query_result_free(&r);
    instant(f, "- -up{job=\"a\"}", T0 + 90 * SEC, &r);
    assert_result(&r, "{job=a}=2@90000");
    query_result_free(&r);
    /* unary plus changes nothing */
    instant(f, "+up{job=\"a\"}", T0 + 90 * SEC, &r);
    assert_result(&r, "{__name__=up,job=a}=2@90000");
    query_result_free(&r);
    range(f, "-up{job=\"a\"}", T0, T0 + MIN, MIN, &r);
    assert_result(&r, "{job=a}=[-1@0,-2@60000]");
    query_result_free(&r);

    /* series that only differ by name collide once it is dropped */
    struct saba_err err = {0};
    assert_int_equal(
        instant_lb(f, "-{job=\"a\"}", T0 + 2 * MIN, EVAL_DEFAULT_LOOKBACK_MS, &r, &err),
        SABA_EEXEC);
    assert_non_null(strstr(err.msg, "same labelset"));
    query_result_free(&r);
}

static void test_literals(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    instant(f, "42", T0, &r);
    assert_int_equal(r.type, VAL_SCALAR);
    assert_int_equal(r.t, T0);
    assert_double_bits_equal(r.scalar, 42.0);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    instant(f, "-1.5", T0 + 1, &r);
    assert_int_equal(r.type, VAL_SCALAR);
    assert_int_equal(r.t, T0 + 1);
    assert_double_bits_equal(r.scalar, -1.5);
    query_result_free(&r);
    instant(f, "-(3)", T0, &r);
    assert_double_bits_equal(r.scalar, -3.0);
    query_result_free(&r);
    instant(f, "NaN", T0, &r);
    assert_true(isnan(r.scalar));
    query_result_free(&r);
    instant(f, "\"hello\"", T0, &r);
    assert_int_equal(r.type, VAL_STRING);
    assert_int_equal(r.t, T0);
    assert_string_equal(r.string, "hello");
    query_result_free(&r);
    assert_null(r.string);

    /* a scalar over a range: one series without labels, a value at every step */
    range(f, "42", T0, T0 + 100 * SEC, 25 * SEC, &r);
    assert_int_equal(r.set.n, 1);
    assert_int_equal(r.set.v[0].labels.n, 0);
    assert_result(&r, "{}=[42@0,42@25000,42@50000,42@75000,42@100000]");
    query_result_free(&r);
    range(f, "-(7)", T0, T0 + 10 * SEC, 3 * SEC, &r);
    assert_result(&r, "{}=[-7@0,-7@3000,-7@6000,-7@9000]");
    query_result_free(&r);
}

/* ---- aggregations ---- */

static void test_aggregations(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    const int64_t t = T0 + 2 * MIN; /* up{job=a}=3, up{job=b}=10, up2{job=a}=7 */
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"sum(up)", "{}=13@120000"},
        {"avg(up)", "{}=6.5@120000"},
        {"min(up)", "{}=3@120000"},
        {"max(up)", "{}=10@120000"},
        {"count(up)", "{}=2@120000"},
        {"group(up)", "{}=1@120000"},
        {"stddev(up)", "{}=3.5@120000"},
        {"stdvar(up)", "{}=12.25@120000"},
        {"sum by (job) ({job=~\".+\"})", "{job=a}=10@120000 {job=b}=10@120000"},
        {"sum({job=~\".+\"}) by (job)", "{job=a}=10@120000 {job=b}=10@120000"},
        {"count by (__name__) ({job=~\".+\"})", "{__name__=up}=2@120000 {__name__=up2}=1@120000"},
        {"sum without (job) ({job=~\".+\"})", "{}=20@120000"},
        {"max without () ({job=~\".+\"})", "{job=a}=7@120000 {job=b}=10@120000"},
        {"min by (nolabel) (up)", "{}=3@120000"},
        {"sum by (job) (up offset 1m)", "{job=a}=2@120000 {job=b}=10@120000"},
        {"sum(-up)", "{}=-13@120000"},
        {"count(sum by (job) (up))", "{}=2@120000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        instant(f, cases[i].q, t, &r);
        assert_int_equal(r.type, VAL_VECTOR);
        char *got = render(&r);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s:\n  got  %s\n  want %s", cases[i].q, got, cases[i].want);
        free(got);
        query_result_free(&r);
    }

    /* over a range, per step: job b only exists from T0+30s on */
    range(f, "sum(up)", T0, T0 + 2 * MIN, MIN, &r);
    assert_result(&r, "{}=[1@0,12@60000,13@120000]");
    query_result_free(&r);
    range(f, "count by (job) (up)", T0, T0 + 2 * MIN, MIN, &r);
    assert_result(&r, "{job=a}=[1@0,1@60000,1@120000] {job=b}=[1@60000,1@120000]");
    query_result_free(&r);

    /* min and max skip NaN unless there is nothing else */
    put(f->st, T0 + 10 * MIN, NAN, "__name__", "nn", "k", "1", NULL);
    put(f->st, T0 + 10 * MIN, 4, "__name__", "nn", "k", "2", NULL);
    put(f->st, T0 + 10 * MIN, -4, "__name__", "nn", "k", "3", NULL);
    instant(f, "min(nn)", T0 + 10 * MIN, &r);
    assert_result(&r, "{}=-4@600000");
    query_result_free(&r);
    instant(f, "max(nn)", T0 + 10 * MIN, &r);
    assert_result(&r, "{}=4@600000");
    query_result_free(&r);
    instant(f, "max(nn{k=\"1\"})", T0 + 10 * MIN, &r);
    assert_int_equal(r.set.n, 1);
    assert_true(isnan(r.set.v[0].v[0]));
    query_result_free(&r);
}

/* ---- <agg>_over_time ---- */

static void test_over_time(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    const int64_t t = T0 + 2 * MIN; /* up{job=a}: 1, 2, 3 in [T0, T0+2m] */
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"avg_over_time(up{job=\"a\"}[2m])", "{job=a}=2@120000"},
        {"sum_over_time(up{job=\"a\"}[2m])", "{job=a}=6@120000"},
        {"min_over_time(up{job=\"a\"}[2m])", "{job=a}=1@120000"},
        {"max_over_time(up{job=\"a\"}[2m])", "{job=a}=3@120000"},
        {"count_over_time(up{job=\"a\"}[2m])", "{job=a}=3@120000"},
        {"stdvar_over_time(up{job=\"a\"}[2m])", "{job=a}=0.666667@120000"},
        {"stddev_over_time(up{job=\"a\"}[2m])", "{job=a}=0.816497@120000"},
        {"present_over_time(up{job=\"a\"}[2m])", "{job=a}=1@120000"},
        /* the window is closed at both ends */
        {"count_over_time(up{job=\"a\"}[1m])", "{job=a}=2@120000"},
        {"count_over_time(up{job=\"a\"}[59999ms])", "{job=a}=1@120000"},
        {"sum_over_time(up{job=\"a\"}[1m] offset 1m)", "{job=a}=3@120000"},
        {"count_over_time(up[5m])", "{job=a}=3@120000 {job=b}=1@120000"},
        {"sum(count_over_time(up[5m]))", "{}=4@120000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        instant(f, cases[i].q, t, &r);
        assert_int_equal(r.type, VAL_VECTOR);
        char *got = render(&r);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s:\n  got  %s\n  want %s", cases[i].q, got, cases[i].want);
        free(got);
        query_result_free(&r);
    }

    /* staleness markers are not samples */
    instant(f, "count_over_time(s[5m])", T0 + 3 * MIN, &r);
    assert_result(&r, "{}=2@180000");
    query_result_free(&r);
    instant(f, "max_over_time(s[5m])", T0 + 3 * MIN, &r);
    assert_result(&r, "{}=5@180000");
    query_result_free(&r);

    /* per step in a range query; steps with an empty window have no point */
    range(f, "count_over_time(up{job=\"a\"}[1m])", T0 - MIN, T0 + 2 * MIN, MIN, &r);
    assert_result(&r, "{job=a}=[1@0,2@60000,2@120000]");
    query_result_free(&r);
    range(f, "sum_over_time(up{job=\"b\"}[1m])", T0, T0 + 2 * MIN, 30 * SEC, &r);
    assert_result(&r, "{job=b}=[10@30000,10@60000,10@90000]");
    query_result_free(&r);
}

/* Regression test (was a bug): last_over_time() drops __name__ like the other _over_time functions,
 * but in Prometheus 2.x it keeps it ("The last_over_time function acts like
 * offset; thus, it should keep the metric name", promql/engine.go). */
static void test_last_over_time_keeps_name(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    instant(f, "last_over_time(up{job=\"a\"}[1m])", T0 + 2 * MIN, &r);
    char *got = render(&r);
    query_result_free(&r);
    int ok = strcmp(got, "{__name__=up,job=a}=3@120000") == 0;
    if (!ok)
        fprintf(stderr, "got: %s\n", got);
    free(got);
    assert_true(ok);
}

/* Regression test (was a bug): a range function over one metric name kept
 * the selection's order after dropping __name__, but a label name sorting
 * before "__name__" (uppercase) makes {Zone="x",__name__="m"} come before
 * {__name__="m"} and {Zone="x"} after {}. The result must be sorted. */
static void test_range_function_result_sorted_without_name(void **state)
{
    struct fx *f = *state;
    put(f->st, T0, 1, "__name__", "mz", "Zone", "x", NULL);
    put(f->st, T0 + MIN, 2, "__name__", "mz", "Zone", "x", NULL);
    put(f->st, T0, 1, "__name__", "mz", NULL);
    put(f->st, T0 + MIN, 3, "__name__", "mz", NULL);
    struct query_result r;
    instant(f, "max_over_time(mz[5m])", T0 + MIN, &r);
    assert_result(&r, "{}=3@60000 {Zone=x}=2@60000");
    query_result_free(&r);
    range(f, "max_over_time(mz[5m])", T0 + MIN, T0 + MIN, MIN, &r);
    assert_result(&r, "{}=[3@60000] {Zone=x}=[2@60000]");
    query_result_free(&r);
}

/* Regression test (was a bug): _over_time functions drop __name__ but do not check that the result
 * still has distinct label sets: count_over_time({job="a"}[5m]) returns two
 * series both labelled {job="a"} (from up and up2). Prometheus fails the
 * query with "vector cannot contain metrics with the same labelset", as
 * saba's own unary minus does. */
static void test_over_time_same_labelset_is_an_error(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    struct saba_err err = {0};
    int rc = instant_lb(f, "count_over_time({job=\"a\"}[5m])", T0 + 2 * MIN,
                        EVAL_DEFAULT_LOOKBACK_MS, &r, &err);
    query_result_free(&r);
    assert_int_equal(rc, SABA_EEXEC);
    assert_non_null(strstr(err.msg, "same labelset"));
}

/* deriv and predict_linear in a range query slide their sums from step to
 * step (eval_func.c, struct lsq); an instant query sums its one window as
 * Prometheus does. Every point of the range answer must be the instant
 * answer at that time: within 1e-10 relative, constant windows exactly 0. */
static void test_sliding_regression(void **state)
{
    struct fx *f = *state;
    uint64_t rnd = 42;
    for (int i = 0; i < 300; i++) {
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        double noise = (double)(rnd >> 11) / 0x1p53; /* [0, 1) */
        int64_t t = T0 + i * 15 * SEC + (int64_t)(rnd >> 60) * 7;
        /* a disk filling slowly at a level of 1e11: the sums cancel */
        put(f->st, t, 1e11 + 2e4 * i + 1e5 * noise, "__name__", "lin", "k", "level", NULL);
        put(f->st, t, 42, "__name__", "lin", "k", "const", NULL);
        /* flat at 1e15 but for a last bit: the bound sends it to Prometheus' way */
        put(f->st, t, 1e15 + (i % 3), "__name__", "lin", "k", "flat", NULL);
        put(f->st, t, noise - 0.5, "__name__", "lin", "k", "mixed", NULL);
        /* NaN, infinities, huge and tiny values now and then */
        static const double odd[] = {NAN, INFINITY, -INFINITY, 1e300, 1e-300, -0.0};
        put(f->st, t, i % 13 == 0 ? odd[(i / 13) % 6] : noise, "__name__", "lin", "k", "odd", NULL);
        /* a gap of 10 minutes and a staleness marker */
        if (i < 100 || i > 140)
            put(f->st, t, i == 200 ? stale() : 3 * noise + i, "__name__", "lin", "k", "gaps", NULL);
        /* a sample every 45 s: [1m] windows hold one or two */
        if (i % 3 == 0)
            put(f->st, t, noise * i, "__name__", "lin", "k", "sparse", NULL);
        /* constant, then not, then constant again */
        put(f->st, t, i < 120 ? 5 : i < 130 ? (double)i : 7, "__name__", "lin", "k", "steps", NULL);
    }
    static const char *const qs[] = {
        "deriv(lin[5m])",
        "predict_linear(lin[5m], 3600)",
        "deriv(lin[1m])",
        "predict_linear(lin[10m] offset 1m, -600)",
        "predict_linear(lin[30m], 4 * 3600)",
        "deriv(lin[3m:20s])",
    };
    int64_t start = T0 + 3 * MIN, end = T0 + 75 * MIN, step = 20 * SEC;
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++) {
        struct query_result r;
        range(f, qs[qi], start, end, step, &r);
        size_t points = 0;
        for (size_t i = 0; i < r.set.n; i++) {
            const struct series_data *s = &r.set.v[i];
            const char *k = s->labels.v[s->labels.n - 1].value;
            size_t p = 0;
            for (int64_t t = start; t <= end; t += step) {
                struct query_result one;
                char sel[64];
                snprintf(sel, sizeof sel, "lin{k=\"%s\"}", k);
                char q[160];
                const char *at = strstr(qs[qi], "(lin") + 1;
                snprintf(q, sizeof q, "%.*s%s%s", (int)(at - qs[qi]), qs[qi], sel, at + 3);
                instant(f, q, t, &one);
                if (one.set.n == 0) {
                    assert_true(p >= s->n || s->t[p] != t);
                    query_result_free(&one);
                    continue;
                }
                assert_int_equal(one.set.n, 1);
                if (p >= s->n || s->t[p] != t)
                    fail_msg("%s {k=%s} at %lld: no point in the range answer", qs[qi], k,
                             (long long)(t - T0));
                double a = s->v[p++], b = one.set.v[0].v[0];
                if (!(a == b || (isnan(a) && isnan(b)) ||
                      fabs(a - b) <= 1e-10 * fmax(fabs(a), fabs(b))))
                    fail_msg("%s {k=%s} at %lld: range %.17g, instant %.17g", qs[qi], k,
                             (long long)(t - T0), a, b);
                if (!strcmp(k, "const") && strstr(qs[qi], "deriv"))
                    assert_true(a == 0);
                points++;
                query_result_free(&one);
            }
            assert_int_equal(p, s->n);
        }
        assert_true(points > 200);
        query_result_free(&r);
    }
}

#ifdef __SANITIZE_ADDRESS__
/* Run LeakSanitizer now, with the dead stack frames below us wiped first so
 * stale pointers left there do not hide a leak. */
static __attribute__((noinline)) void wipe_stack(void)
{
    volatile char junk[256 * 1024];
    memset((char *)junk, 0, sizeof junk);
}

static int leak_check(void)
{
    wipe_stack();
    return __lsan_do_recoverable_leak_check();
}
#endif

/* Regression test (was a bug): when the expression inside an aggregation fails, eval_agg() returns
 * the error without freeing the inner result: sum(-{job="a"}) fails (as it
 * should: up and up2 collide once unary minus drops __name__) but leaks the
 * inner series set. In the ASan build the test runs LeakSanitizer right away
 * and fails; the release build cannot see the leak and passes. */
static void test_failed_aggregation_does_not_leak(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    struct saba_err err = {0};
    assert_int_equal(
        instant_lb(f, "sum(-{job=\"a\"})", T0 + 2 * MIN, EVAL_DEFAULT_LOOKBACK_MS, &r, &err),
        SABA_EEXEC);
    assert_non_null(strstr(err.msg, "same labelset"));
    query_result_free(&r);
#ifdef __SANITIZE_ADDRESS__
    assert_int_equal(leak_check(), 0);
#endif
}

static void check_refused(struct fx *f, const char *q, int code, const char *msg)
{
    struct node *n = parse(q);
    struct eval_opts o = {.lookback_ms = EVAL_DEFAULT_LOOKBACK_MS, .storage = f->st};
    struct saba_err err = {0};
    struct query_result r;
    int rc;
    if (code == SABA_EINVAL)
        rc = eval_range(&o, n, T0, T0 + MIN, 15 * SEC, &r, &err);
    else
        rc = eval_instant(&o, n, T0 + MIN, &r, &err);
    query_result_free(&r);
    node_free(n);
    if (rc != code)
        fail_msg("\"%s\": rc %d, want %d", q, rc, code);
    if (!strstr(err.msg, msg))
        fail_msg("\"%s\": \"%s\" does not mention \"%s\"", q, err.msg, msg);
}

static void eval_error(struct fx *f, const char *q, int code, const char *want)
{
    struct query_result r;
    struct saba_err err = {0};
    struct node *n = NULL;
    int rc = promql_parse(q, &n, &err);
    if (rc == 0) {
        rc = instant_lb(f, q, T0 + MIN, EVAL_DEFAULT_LOOKBACK_MS, &r, &err);
        query_result_free(&r);
        node_free(n);
    }
    assert_int_equal(rc, code);
    if (!strstr(err.msg, want))
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", q, err.msg, want);
}

/* The rest of the language, on values worked out by hand from the fixture. */
static void test_operators_and_functions(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    instant(f, "up + 1", T0 + MIN, &r);
    assert_result(&r, "{job=a}=3@60000 {job=b}=11@60000");
    query_result_free(&r);
    instant(f, "up{job=\"a\"} + on(job) up2", T0 + MIN, &r);
    assert_result(&r, "{job=a}=9@60000");
    query_result_free(&r);
    instant(f, "up > 2", T0 + MIN, &r); /* a filter keeps the name */
    assert_result(&r, "{__name__=up,job=b}=10@60000");
    query_result_free(&r);
    instant(f, "up > bool 2", T0 + MIN, &r);
    assert_result(&r, "{job=a}=0@60000 {job=b}=1@60000");
    query_result_free(&r);
    instant(f, "up unless up2", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=b}=10@60000");
    query_result_free(&r);
    instant(f, "up2 or up", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=b}=10@60000 {__name__=up2,job=a}=7@60000");
    query_result_free(&r);

    /* 1, 2, 3 at 0, 60, 120 s: an increase of 2 over exactly 120 s */
    instant(f, "rate(up{job=\"a\"}[2m])", T0 + 2 * MIN, &r);
    assert_int_equal(r.set.n, 1);
    assert_near(r.set.v[0].v[0], 2.0 / 120, 1e-15);
    query_result_free(&r);
    instant(f, "deriv(up{job=\"a\"}[2m])", T0 + 2 * MIN, &r);
    assert_near(r.set.v[0].v[0], 1.0 / 60, 1e-15);
    query_result_free(&r);
    instant(f, "predict_linear(up{job=\"a\"}[2m], 60)", T0 + 2 * MIN, &r);
    assert_near(r.set.v[0].v[0], 4, 1e-12);
    query_result_free(&r);

    instant(f, "topk(1, up)", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=b}=10@60000");
    query_result_free(&r);
    instant(f, "quantile(0.5, up)", T0 + MIN, &r);
    assert_result(&r, "{}=6@60000");
    query_result_free(&r);
    instant(f, "count_values(\"v\", up * 1e21)", T0 + MIN, &r);
    assert_result(&r, "{v=10000000000000000000000}=1@60000 {v=2000000000000000000000}=1@60000");
    query_result_free(&r);
    instant(f, "label_replace(up, \"x\", \"$1-${1}z$$\", \"job\", \"(.*)\")", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=a,x=a-az$}=2@60000 {__name__=up,job=b,x=b-bz$}=10@60000");
    query_result_free(&r);
    instant(f, "label_join(up, \"x\", \"+\", \"job\", \"__name__\")", T0 + MIN, &r);
    assert_result(&r, "{__name__=up,job=a,x=a+up}=2@60000 {__name__=up,job=b,x=b+up}=10@60000");
    query_result_free(&r);
    instant(f, "absent(nope{job=\"x\"})", T0 + MIN, &r);
    assert_result(&r, "{job=x}=1@60000");
    query_result_free(&r);
    instant(f, "clamp(up, 3, 5)", T0 + MIN, &r);
    assert_result(&r, "{job=a}=3@60000 {job=b}=5@60000");
    query_result_free(&r);

    /* the subquery's steps are multiples of 1m: T0+40s (value 1), T0+100s (2) */
    instant(f, "max_over_time(up{job=\"a\"}[2m:1m])", T0 + 2 * MIN, &r);
    assert_result(&r, "{job=a}=2@120000");
    query_result_free(&r);
    instant(f, "up{job=\"a\"}[2m:1m]", T0 + 2 * MIN, &r);
    assert_result(&r, "{__name__=up,job=a}=[1@40000,2@100000]");
    query_result_free(&r);

    instant(f, "time()", T0, &r);
    assert_int_equal(r.type, VAL_SCALAR);
    assert_near(r.scalar, T0 / 1000.0, 0);
    query_result_free(&r);
}

static void test_errors(void **state)
{
    struct fx *f = *state;
    eval_error(f, "rate(up)", SABA_EINVAL,
               "expected type range vector in call to function \"rate\", got instant vector");
    eval_error(f, "nope(up)", SABA_EINVAL, "unknown function with name \"nope\"");
    eval_error(f, "round()", SABA_EINVAL, "expected at least 1 argument(s) in call to \"round\"");
    eval_error(f, "topk(\"x\", up)", SABA_EINVAL, "expected type scalar in aggregation parameter");
    eval_error(f, "up and on(job) group_left up2", SABA_EINVAL, "no grouping allowed for \"and\"");
    eval_error(f, "up + on() up2", SABA_EEXEC, "many-to-one matching must be explicit");
    eval_error(f, "up2 + on() up", SABA_EEXEC, "found duplicate series for the match group {}");
    eval_error(f, "label_replace(up, \"1x\", \"\", \"job\", \"\")", SABA_EEXEC,
               "invalid destination label name");
    eval_error(f, "label_replace(up, \"x\", \"\", \"job\", \"(\")", SABA_EEXEC,
               "invalid regular expression in label_replace()");
    eval_error(f, "count_values(\"1\", up)", SABA_EEXEC, "invalid label name \"1\"");
    eval_error(f, "label_replace(up, \"job\", \"x\", \"\", \"\")", SABA_EEXEC,
               "vector cannot contain metrics with the same labelset");

    /* a range query of a range vector (or a string) is invalid */
    check_refused(f, "up[5m]", SABA_EINVAL, "range vector");
    check_refused(f, "(up[5m])", SABA_EINVAL, "range vector");
    check_refused(f, "up[5m:1m]", SABA_EINVAL, "range vector");
    check_refused(f, "\"s\"", SABA_EINVAL, "string");

    /* a query that would hold more points than max_samples fails, whatever
     * its shape, instead of exhausting memory */
    const char *big[] = {"up", "rate(up[5m])", "sum(up)", "max_over_time(up[5m:1s])", "up + up"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        struct node *n = parse(big[i]);
        struct eval_opts o = {EVAL_DEFAULT_LOOKBACK_MS, f->st, 1000};
        struct saba_err err = {0};
        struct query_result r;
        assert_int_equal(eval_range(&o, n, T0, T0 + 10 * MIN, SEC, &r, &err), SABA_EEXEC);
        assert_non_null(strstr(err.msg, "too many samples"));
        query_result_free(&r);
        /* the same query under the default budget works */
        o.max_samples = 0;
        assert_int_equal(eval_range(&o, n, T0, T0 + 10 * MIN, SEC, &r, &err), 0);
        query_result_free(&r);
        node_free(n);
    }
    /* the raw samples a selection reads count too: up has 4 in the last hour */
    struct node *n = parse("count_over_time(up[1h])");
    struct eval_opts o = {EVAL_DEFAULT_LOOKBACK_MS, f->st, 3};
    struct saba_err err = {0};
    struct query_result r;
    assert_int_equal(eval_instant(&o, n, T0 + 10 * MIN, &r, &err), SABA_EEXEC);
    assert_non_null(strstr(err.msg, "too many samples"));
    query_result_free(&r);
    o.max_samples = 10;
    assert_int_equal(eval_instant(&o, n, T0 + 10 * MIN, &r, &err), 0);
    query_result_free(&r);
    node_free(n);
}

/* Range functions over a range query take their samples series by series
 * (storage select_each) where the engine offers it; the answers, errors and
 * the sample budget's verdicts are those of the whole selection (what an
 * engine without select_each gets). */
static void test_select_each_same_as_select(void **state)
{
    struct fx *f = *state;
    const char *qs[] = {"rate(up[2m])",
                        "count_over_time(s[5m])",
                        "last_over_time(up[1m])",
                        "predict_linear(up[3m], 60)",
                        "deriv(up[3m] offset 30s)",
                        "sum_over_time(up[2m] @ 120)",
                        "max_over_time({job=~\"a|b\"}[90s])",
                        "quantile_over_time(0.5, up[3m])",
                        "absent_over_time(nope[1m])"};
    struct storage_ops without = *f->st->ops;
    without.select_each = NULL;
    const struct storage_ops *with = f->st->ops;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        struct node *n = parse(qs[i]);
        for (int64_t budget = 1; budget <= 64; budget += budget < 16 ? 1 : 16) {
            struct eval_opts o = {EVAL_DEFAULT_LOOKBACK_MS, f->st, budget};
            struct query_result a, b;
            struct saba_err ea = {0}, eb = {0};
            f->st->ops = with;
            int ra = eval_range(&o, n, T0 - MIN, T0 + 4 * MIN, 15 * SEC, &a, &ea);
            f->st->ops = &without;
            int rb = eval_range(&o, n, T0 - MIN, T0 + 4 * MIN, 15 * SEC, &b, &eb);
            f->st->ops = with;
            assert_int_equal(ra, rb);
            if (ra) {
                /* over the budget, a whole selection may stop computing
                 * series early and find a clash of label sets first (which
                 * series it reaches depends on the threads); the series
                 * handed over one by one are all computed, and then the
                 * budget's error wins */
                if (strcmp(ea.msg, eb.msg) != 0)
                    assert_non_null(strstr(ea.msg, "too many samples"));
            } else {
                assert_int_equal(a.set.n, b.set.n);
                for (size_t k = 0; k < a.set.n; k++) {
                    assert_int_equal(labels_cmp(&a.set.v[k].labels, &b.set.v[k].labels), 0);
                    assert_int_equal(a.set.v[k].n, b.set.v[k].n);
                    assert_memory_equal(a.set.v[k].t, b.set.v[k].t, a.set.v[k].n * 8);
                    assert_memory_equal(a.set.v[k].v, b.set.v[k].v, a.set.v[k].n * 8);
                }
            }
            query_result_free(&a);
            query_result_free(&b);
        }
        node_free(n);
    }
}

/* Regression test (was a bug; same as test_head.c's test_select_matching_nothing): a selector that
 * matches no sample makes head_select() call qsort(NULL, 0, ...), undefined
 * behaviour that aborts the ASan/UBSan build on every empty query result.
 * Passes in the release build. Kept last in this file because UBSan ends the
 * process. */
static void test_selecting_nothing(void **state)
{
    struct fx *f = *state;
    struct query_result r;
    /* every sample older than t - 5m */
    instant(f, "up", T0 + 10 * MIN, &r);
    assert_int_equal(r.type, VAL_VECTOR);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    instant(f, "nope", T0, &r);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    instant(f, "up[1m]", T0 + 10 * MIN, &r);
    assert_int_equal(r.type, VAL_MATRIX);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
    range(f, "up", T0 + 10 * MIN, T0 + 20 * MIN, MIN, &r);
    assert_int_equal(r.set.n, 0);
    query_result_free(&r);
}

int main(void)
{
    unit_quiet_logs();
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_instant_selector_newest_in_lookback),
        T(test_custom_lookback),
        T(test_offset_and_at),
        T(test_staleness_marker_hides_series),
        T(test_range_query_step_grid),
        T(test_matrix_selector),
        T(test_matrix_all_stale_range_drops_series),
        T(test_unary_minus_drops_name),
        T(test_literals),
        T(test_aggregations),
        T(test_over_time),
        T(test_last_over_time_keeps_name),
        T(test_over_time_same_labelset_is_an_error),
        T(test_range_function_result_sorted_without_name),
        T(test_sliding_regression),
        T(test_failed_aggregation_does_not_leak),
        T(test_operators_and_functions),
        T(test_errors),
        T(test_select_each_same_as_select),
        T(test_selecting_nothing), /* last: see its note */
    };
#undef T
    return cmocka_run_group_tests_name("eval", tests, NULL, NULL);
}
