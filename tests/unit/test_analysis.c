/*
 * test_analysis.c - unit tests for src/analysis: the CSV reader of
 * `saba analyze`, the forecaster (time to capacity) and the streaming
 * anomaly score. ChangeFinder has its own file (test_analysis_changefinder.c).
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

#include "analysis/anomaly.h"
#include "analysis/forecast.h"
#include "analysis/series_csv.h"
#include "base/buf.h"

#include "unit.h"

static uint64_t rng_state;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

/* ---- series_csv ---- */

static int parse(const char *s, int ncols, struct series_csv *out, struct saba_err *e)
{
    memset(e, 0, sizeof *e);
    return series_csv_parse(s, strlen(s), ncols, out, e);
}

static void test_csv_formats(void **state)
{
    (void)state;
    struct series_csv s;
    struct saba_err e;
    const char *in = "\xEF\xBB\xBF"
                     "timestamp,value\r\n"
                     "1700000000,1.5\r\n"
                     "\r\n"
                     " 1700000060.25 , \"2e3\" \n"
                     "2023-11-14 22:15:00,NaN\n"
                     "2023-11-14T22:16:00.5Z,-7\n";
    assert_int_equal(parse(in, 1, &s, &e), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.t[0], 1700000000000LL);
    assert_int_equal(s.t[1], 1700000060250LL);
    assert_int_equal(s.t[2], 1700000100000LL); /* 2023-11-14 22:15:00 UTC */
    assert_int_equal(s.t[3], 1700000160500LL);
    assert_true(s.v[0][0] == 1.5 && s.v[0][1] == 2000 && isnan(s.v[0][2]) && s.v[0][3] == -7);
    assert_int_equal(s.line[1], 4);
    assert_int_equal(s.ts_len[2], 19);
    assert_memory_equal(s.ts[2], "2023-11-14 22:15:00", 19);
    series_csv_free(&s);
    series_csv_free(&s); /* freeing an empty one does nothing */

    assert_int_equal(parse("1,10,100\n2,11,100\n", 2, &s, &e), 0);
    assert_true(s.n == 2 && s.v[1][1] == 100);
    series_csv_free(&s);
}

static void expect_error(const char *in, int ncols, long line, const char *needle)
{
    struct series_csv s;
    struct saba_err e;
    assert_int_equal(parse(in, ncols, &s, &e), SABA_EINVAL);
    assert_int_equal(e.line, line);
    if (!strstr(e.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", e.msg, needle);
    assert_null(s.t);
    assert_int_equal(s.n, 0);
}

static void test_csv_errors(void **state)
{
    (void)state;
    expect_error("", 1, 0, "no data rows");
    expect_error("timestamp,value\n\n", 1, 2, "no data rows");
    expect_error("1,2\n2,abc\n", 1, 2, "value \"abc\" is not a number");
    expect_error("1,2\n2,0x10\n", 1, 2, "not a number");
    expect_error("1,2\n2,inf\n", 1, 2, "not a number");
    expect_error("1,2\n2,\n", 1, 2, "not a number");
    expect_error("1,2\n3,2\n2,2\n", 1, 3, "earlier than line 2");
    expect_error("1,2\n1,3\n", 1, 2, "duplicate timestamp");
    expect_error("1,2\nyesterday,2\n", 1, 2, "timestamp \"yesterday\"");
    expect_error("2023-02-29 00:00:00,1\n", 1, 1, "timestamp");
    expect_error("2023-01-01 24:00:00,1\n", 1, 1, "timestamp");
    expect_error("-5,1\n", 1, 1, "timestamp");
    expect_error("1,2,3\n", 1, 1, "expected 2 fields");
    expect_error("1\n", 1, 1, "expected 2 fields");
    expect_error("1,2\n", 2, 1, "expected 3 fields");
    expect_error("1,2,NaN\n", 2, 1, "capacity \"NaN\" is not a finite number");
    /* a header is only accepted as the first row */
    expect_error("1,2\ntimestamp,value\n", 1, 2, "timestamp \"timestamp\"");
}

/* ---- forecast ---- */

#define MIN_MS 60000LL

/* 7 days of 1-minute samples of f(i) + noise; capacity cap. */
static struct forecast_result run_forecast(double (*f)(int), double noise, double cap, int n)
{
    int64_t *t = malloc((size_t)n * sizeof *t);
    double *x = malloc((size_t)n * sizeof *x);
    rng_state = 31337;
    for (int i = 0; i < n; i++) {
        t[i] = 1700000000000LL + i * MIN_MS;
        x[i] = f(i) + noise * gauss();
    }
    struct forecast_result r;
    struct saba_err e = {0};
    assert_int_equal(forecast_run(t, x, (size_t)n, cap, &forecast_opts_default, &r, &e), 0);
    free(t);
    free(x);
    return r;
}

static double g_linear(int i)
{
    return 100 + 0.01 * i; /* 0.01 per minute */
}
static double g_flat(int i)
{
    (void)i;
    return 500;
}
static double g_shrink(int i)
{
    return 800 - 0.01 * i;
}
static double g_outliers(int i)
{
    return 100 + 0.01 * i + (i % 997 == 0 ? 400 : 0) - (i % 1499 == 0 ? 300 : 0);
}
/* deploy 2 days before the end: +150 level and 3x the slope */
static double g_deploy(int i)
{
    int d = 10080 - 2880;
    return i < d ? 100 + 0.01 * i : 250 + 0.01 * d + 0.03 * (i - d);
}
/* log rotation every 10 h: grows 0.1/min, drops back; base grows 0.005/min */
static double g_sawtooth(int i)
{
    return 100 + 0.005 * i + 0.1 * (i % 600);
}

static void test_forecast_linear(void **state)
{
    (void)state;
    struct forecast_result r = run_forecast(g_linear, 1.0, 1000, 10080);
    /* at the end the level is ~200.8: 799.2 to go at 0.01/min = 79,920 min */
    double want = (1000 - g_linear(10079)) / 0.01 * 60;
    assert_true(fabs(r.seconds - want) < 0.01 * want);
    assert_true(r.seconds_lo <= r.seconds && r.seconds <= r.seconds_hi);
    assert_true(fabs(r.slope - 0.01 / 60) < 0.005 / 60);
    assert_int_equal(r.model, FORECAST_LINEAR);
    assert_int_equal(r.samples, 10080);
    assert_int_equal(r.window_start_ms, 1700000000000LL);
    assert_int_equal(r.last_ms, 1700000000000LL + 10079 * MIN_MS);
}

static void test_forecast_never(void **state)
{
    (void)state;
    struct forecast_result r = run_forecast(g_flat, 2.0, 1000, 10080);
    assert_true(isinf(r.seconds));
    assert_int_equal(r.model, FORECAST_FLAT);
    r = run_forecast(g_shrink, 1.0, 1000, 10080);
    assert_true(isinf(r.seconds));
    /* already full */
    r = run_forecast(g_linear, 0.0, 150, 10080);
    assert_int_equal(r.model, FORECAST_FULL);
    assert_true(r.seconds == 0);
}

static void test_forecast_outliers(void **state)
{
    (void)state;
    struct forecast_result r = run_forecast(g_outliers, 1.0, 1000, 10080);
    double want = (1000 - g_linear(10079)) / 0.01 * 60;
    assert_true(fabs(r.seconds - want) < 0.02 * want);
}

static void test_forecast_deploy_regime(void **state)
{
    (void)state;
    struct forecast_result r = run_forecast(g_deploy, 1.0, 2000, 10080);
    double want = (2000 - g_deploy(10079)) / 0.03 * 60;
    assert_true(fabs(r.seconds - want) < 0.05 * want);
    /* the regime starts at the deploy, within a bucket or two */
    int64_t deploy_ms = 1700000000000LL + (10080 - 2880) * MIN_MS;
    assert_true(llabs(r.regime_start_ms - deploy_ms) < 90 * MIN_MS);
    assert_true(r.changes >= 1);
}

static void test_forecast_sawtooth(void **state)
{
    (void)state;
    /* peaks grow 0.005/min: the last peak is ~100 + 50.4 + 72; with capacity
     * 400 the peaks reach it in ~(400 - 222) / 0.005 min, not when a line
     * through the middle (or the current tooth's slope) would say */
    struct forecast_result r = run_forecast(g_sawtooth, 0.5, 400, 10080);
    assert_int_equal(r.model, FORECAST_SAWTOOTH);
    assert_true(r.drops >= 10);
    double peak_now = 100 + 0.005 * 10079 + 0.1 * 599;
    double want = (400 - peak_now) / 0.005 * 60;
    assert_true(fabs(r.seconds - want) < 0.1 * want);
}

/* Linear growth with two days missing in the middle: still linear (a gap
 * once made the curvature test see acceleration). */
static void test_forecast_gap(void **state)
{
    (void)state;
    int64_t *t = malloc(10080 * sizeof *t);
    double *x = malloc(10080 * sizeof *x);
    size_t n = 0;
    rng_state = 8;
    for (int i = 0; i < 10080; i++) {
        if (i > 3000 && i < 6000)
            continue;
        t[n] = 1700000000000LL + i * MIN_MS;
        x[n++] = 500 + 0.05 * i + gauss();
    }
    struct forecast_result r;
    assert_int_equal(forecast_run(t, x, n, 2000, NULL, &r, NULL), 0);
    double want = (2000 - (500 + 0.05 * 10079)) / 0.05 * 60;
    assert_int_equal(r.model, FORECAST_LINEAR);
    assert_true(fabs(r.seconds - want) < 0.02 * want);
    free(t);
    free(x);
}

/* Usage that jumps by 10 every 10 hours and is flat between (batch jobs):
 * the jumps are the growth, not "changes" after which nothing grows. */
static double g_stairs(int i)
{
    return 100 + 10 * (i / 600);
}

static void test_forecast_staircase(void **state)
{
    (void)state;
    struct forecast_result r = run_forecast(g_stairs, 0.3, 1000, 10080);
    double want = (1000 - g_stairs(10079)) / (10.0 / 600) * 60;
    assert_true(isfinite(r.seconds));
    assert_true(fabs(r.seconds - want) < 0.15 * want);
}

static void test_forecast_errors(void **state)
{
    (void)state;
    int64_t t[3] = {1000, 2000, 3000};
    double x[3] = {1, NAN, 3};
    struct forecast_result r;
    struct saba_err e = {0};
    assert_int_equal(forecast_run(t, x, 3, 10, NULL, &r, &e), SABA_EINVAL);
    assert_non_null(strstr(e.msg, "at least 3"));
    x[1] = 2;
    assert_int_equal(forecast_run(t, x, 3, INFINITY, NULL, &r, &e), SABA_EINVAL);
    int64_t bad[3] = {1000, 1000, 3000};
    assert_int_equal(forecast_run(bad, x, 3, 10, NULL, &r, &e), SABA_EINVAL);
    assert_int_equal(forecast_run(t, x, 3, 10, NULL, &r, &e), 0);
    assert_true(r.seconds > 0 && isfinite(r.seconds));
}

/* ---- anomaly ---- */

static double an_run(double (*f)(int), int n, int from, int to, int *first_high, double *after)
{
    struct anomaly *a = anomaly_new();
    rng_state = 2024;
    double best = 0;
    *first_high = -1;
    *after = 0;
    for (int i = 0; i < n; i++) {
        double s = anomaly_update(a, 1700000000000LL + i * MIN_MS, 50 + 2 * gauss() + f(i));
        assert_true(s >= 0 && s <= 1);
        if (i >= from && i < to) {
            best = s > best ? s : best;
            if (s >= 0.5 && *first_high < 0)
                *first_high = i;
        }
        if (i >= to && s > *after)
            *after = s;
    }
    assert_true(anomaly_state_bytes(a) <= 1024);
    anomaly_free(a);
    return best;
}

static double h_none(int i)
{
    (void)i;
    return 0;
}
static double h_spike(int i)
{
    return i == 1500 ? 30 : 0;
}
static double h_shift(int i)
{
    return i >= 1500 ? 12 : 0;
}
static double h_trend(int i)
{
    return i >= 1500 ? 0.3 * (i - 1500) : 0;
}

static void test_anomaly_onsets(void **state)
{
    (void)state;
    int first;
    double after;
    double quiet = an_run(h_none, 2000, 200, 2000, &first, &after);
    assert_true(quiet < 0.5);
    /* a 15-sigma spike: high at once, low again within 10 samples */
    double spike = an_run(h_spike, 1700, 1500, 1510, &first, &after);
    assert_true(spike > 0.8);
    assert_int_equal(first, 1500);
    assert_true(after < 0.5);
    /* a 6-sigma level shift: high at once, then falls back */
    double shift = an_run(h_shift, 1800, 1500, 1560, &first, &after);
    assert_true(shift > 0.5);
    assert_in_range(first, 1500, 1503);
    assert_true(after < 0.5);
    /* a trend change: high within 40 samples */
    double trend = an_run(h_trend, 1560, 1500, 1540, &first, &after);
    assert_true(trend > 0.5);
    assert_in_range(first, 1500, 1540);
}

/* Daily cycle (5-minute samples), then one day without the afternoon peak. */
static void test_anomaly_daily_pattern(void **state)
{
    (void)state;
    struct anomaly *a = anomaly_new();
    rng_state = 77;
    const int per_day = 288, days = 8;
    double max_normal = 0, max_broken = 0;
    for (int i = 0; i < days * per_day; i++) {
        int64_t t = 1700006400000LL + (int64_t)i * 300000; /* midnight UTC */
        double tod = (double)(i % per_day) / per_day;
        double peak = exp(-pow((tod - 0.6) / 0.06, 2)) * 40; /* afternoon peak */
        int broken = i / per_day == days - 1;
        double x = 100 + (broken ? 0 : peak) + gauss();
        double s = anomaly_update(a, t, x);
        if (i >= 4 * per_day && !broken)
            max_normal = fmax(max_normal, s);
        if (broken)
            max_broken = fmax(max_broken, s);
    }
    assert_true(max_normal < 0.5);
    assert_true(max_broken > 0.5);
    anomaly_free(a);
}

/* A series whose normal includes frequent 8-12 sigma bursts: after a while
 * those stop alarming, while a 30-sigma spike still does. */
static void test_anomaly_adapts_to_bursty_series(void **state)
{
    (void)state;
    struct anomaly *a = anomaly_new();
    rng_state = 99;
    int early = 0, late = 0;
    for (int i = 0; i < 6000; i++) {
        int burst = urand() < 0.03;
        double x = 20 + gauss() + (burst ? 8 + 4 * urand() : 0);
        double s = anomaly_update(a, 1700000000000LL + i * MIN_MS, x);
        if (burst && s >= 0.5 && i > 100)
            *(i < 1000 ? &early : &late) += 1;
    }
    double big = anomaly_update(a, 1700000000000LL + 6000 * MIN_MS, 20 + 30);
    /* far fewer alarms per sample once adapted (900 samples early, 5000 late) */
    assert_true((double)late / 5000 < (double)early / 900 / 3);
    assert_true(big > 0.5);
    anomaly_free(a);
}

static void test_anomaly_safe_and_restore(void **state)
{
    (void)state;
    struct anomaly *a = anomaly_new();
    for (int i = 0; i < 200; i++)
        assert_true(anomaly_update(a, 1000 * (int64_t)i, 7) == 0 || i > 30);
    const double wild[] = {1e300, -1e300, DBL_MAX, 0, NAN, INFINITY, 5e-324};
    for (int i = 0; i < 300; i++) {
        double s = anomaly_update(a, 1000 * (int64_t)(200 + i), wild[i % 7]);
        assert_true(s >= 0 && s <= 1);
    }
    /* time going backwards is ignored */
    assert_true(anomaly_update(a, 5, 1) == 0);
    anomaly_free(a);

    struct anomaly *x = anomaly_new(), *y = NULL;
    rng_state = 5;
    double v[3000];
    for (int i = 0; i < 3000; i++)
        v[i] = 10 + sin(i / 40.0) + 0.3 * gauss() + (i > 2500 ? 3 : 0);
    for (int i = 0; i < 1200; i++)
        anomaly_update(x, 1700000000000LL + i * MIN_MS, v[i]);
    struct buf b = BUF_INIT;
    anomaly_save(x, &b);
    struct saba_err e = {0};
    y = anomaly_restore((const uint8_t *)b.data, b.len, &e);
    assert_non_null(y);
    for (int i = 1200; i < 3000; i++) {
        int64_t t = 1700000000000LL + i * MIN_MS;
        assert_double_bits_equal(anomaly_update(x, t, v[i]), anomaly_update(y, t, v[i]));
    }
    for (size_t n = 0; n < b.len; n += 7)
        assert_null(anomaly_restore((const uint8_t *)b.data, n, &e));
    b.data[0] = 'X';
    assert_null(anomaly_restore((const uint8_t *)b.data, b.len, &e));
    assert_int_equal(e.code, SABA_ECORRUPT);
    buf_free(&b);
    anomaly_free(x);
    anomaly_free(y);
    anomaly_free(NULL);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_formats),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_forecast_linear),
        cmocka_unit_test(test_forecast_never),
        cmocka_unit_test(test_forecast_outliers),
        cmocka_unit_test(test_forecast_deploy_regime),
        cmocka_unit_test(test_forecast_sawtooth),
        cmocka_unit_test(test_forecast_gap),
        cmocka_unit_test(test_forecast_staircase),
        cmocka_unit_test(test_forecast_errors),
        cmocka_unit_test(test_anomaly_onsets),
        cmocka_unit_test(test_anomaly_daily_pattern),
        cmocka_unit_test(test_anomaly_adapts_to_bursty_series),
        cmocka_unit_test(test_anomaly_safe_and_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
