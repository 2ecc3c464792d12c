/*
 * fuzz_analysis_state.c - fuzzes the readers of saved analysis states:
 * cf_restore (analysis/changefinder.h) and anomaly_restore
 * (analysis/anomaly.h), which the server will run on bytes it stored.
 * Checks: no memory or UB fault; a refused input says why; an accepted one
 * saves back to exactly the same bytes, and keeps scoring finite values in
 * range after more samples.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "analysis/anomaly.h"
#include "analysis/changefinder.h"
#include "base/buf.h"
#include "base/err.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static const double probe[] = {0, 1, -1, 1e300, -1e300, 5e-324, NAN, 42, 42, 42};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct saba_err e = {0};
    struct changefinder *cf = cf_restore(data, size, &e);
    if (!cf) {
        FUZZ_CHECK(e.code == SABA_ECORRUPT && e.msg[0], "cf_restore: code %d", e.code);
    } else {
        struct buf b = BUF_INIT;
        cf_save(cf, &b);
        FUZZ_CHECK(b.len == size && !memcmp(b.data, data, size), "cf state does not round-trip");
        buf_free(&b);
        for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
            double s = cf_update(cf, probe[i]);
            FUZZ_CHECK(!isnan(s) && cf_score01(s) >= 0 && cf_score01(s) <= 1, "cf score %g", s);
        }
        cf_free(cf);
    }

    memset(&e, 0, sizeof e);
    struct anomaly *a = anomaly_restore(data, size, &e);
    if (!a) {
        FUZZ_CHECK(e.code == SABA_ECORRUPT && e.msg[0], "anomaly_restore: code %d", e.code);
        return 0;
    }
    struct buf b = BUF_INIT;
    anomaly_save(a, &b);
    FUZZ_CHECK(b.len == size && !memcmp(b.data, data, size), "anomaly state does not round-trip");
    buf_free(&b);
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        double s = anomaly_update(a, (int64_t)(i + 1) * 60000 + 1700000000000LL, probe[i]);
        FUZZ_CHECK(s >= 0 && s <= 1, "anomaly score %g", s);
    }
    anomaly_free(a);
    return 0;
}
