/*
 * fuzz_analysis_csv.c - fuzzes the `saba analyze` CSV reader
 * (analysis/series_csv.h) and the engines behind it: the input is parsed
 * as 1-column and as 2-column CSV; whatever parses is run through
 * ChangeFinder, the anomaly score and the forecaster, as the CLI does.
 * Checks: no memory or UB fault; a rejected input reports a line and a
 * reason and leaves nothing allocated; a parsed one has strictly increasing
 * timestamps, finite values or NaN gaps, finite capacities; scores are in
 * [0, 1]; a forecast is >= 0 (or +Inf) with lo <= seconds.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "analysis/anomaly.h"
#include "analysis/changefinder.h"
#include "analysis/forecast.h"
#include "analysis/series_csv.h"
#include "base/err.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void check_parsed(const struct series_csv *s, int ncols)
{
    FUZZ_CHECK(s->n > 0 && s->ncols == ncols, "n=%zu ncols=%d", s->n, s->ncols);
    for (size_t i = 0; i < s->n; i++) {
        FUZZ_CHECK(i == 0 || s->t[i] > s->t[i - 1], "row %zu: time not increasing", i);
        FUZZ_CHECK(s->t[i] >= 0, "row %zu: negative time", i);
        FUZZ_CHECK(isfinite(s->v[0][i]) || isnan(s->v[0][i]), "row %zu: infinite value", i);
        FUZZ_CHECK(ncols < 2 || isfinite(s->v[1][i]), "row %zu: capacity", i);
        FUZZ_CHECK(s->line[i] >= 1 && s->ts_len[i] > 0, "row %zu: line/ts", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    for (int ncols = 1; ncols <= 2; ncols++) {
        struct series_csv s;
        struct saba_err e = {0};
        int rc = series_csv_parse(in, size, ncols, &s, &e);
        if (rc) {
            FUZZ_CHECK(rc == SABA_EINVAL && e.code == rc && e.msg[0], "rc=%d msg=%s", rc, e.msg);
            FUZZ_CHECK(s.n == 0 && !s.t && !s.line, "a rejected input left rows");
            continue;
        }
        check_parsed(&s, ncols);
        if (ncols == 1) {
            struct changefinder *cf = cf_new(&cf_params_default);
            struct anomaly *a = anomaly_new();
            for (size_t i = 0; i < s.n; i++) {
                double c = cf_score01(cf_update(cf, s.v[0][i]));
                double an = anomaly_update(a, s.t[i], s.v[0][i]);
                FUZZ_CHECK(c >= 0 && c <= 1, "cf score %g", c);
                FUZZ_CHECK(an >= 0 && an <= 1, "anomaly score %g", an);
            }
            cf_free(cf);
            anomaly_free(a);
        } else {
            struct forecast_result r;
            struct saba_err fe = {0};
            if (!forecast_run(s.t, s.v[0], s.n, s.v[1][s.n - 1], NULL, &r, &fe)) {
                FUZZ_CHECK(r.seconds >= 0 && !isnan(r.seconds), "seconds %g", r.seconds);
                FUZZ_CHECK(!(r.seconds_lo > r.seconds), "lo %g > %g", r.seconds_lo, r.seconds);
            } else {
                FUZZ_CHECK(fe.msg[0], "forecast error without a reason");
            }
        }
        series_csv_free(&s);
    }
    return 0;
}
