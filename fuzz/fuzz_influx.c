/*
 * fuzz_influx.c - fuzzes the InfluxDB line protocol parser, influx_parse()
 * (ingest/influx.h), with nanosecond precision and a fixed "now".
 * Checks: no memory or UB fault; an error carries a code, a line and a reason;
 * the batch invariants of fuzz_common.h hold (every sample's label run sorted
 * by name, with __name__, valid text, in-range timestamp), success or not.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "ingest/influx.h"
#include "storage/batch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch b;
    fuzz_batch_init(&b);
    struct influx_stats st = {0};
    struct saba_err err = {0};
    int rc = influx_parse((const char *)data, size, INFLUX_NS, FUZZ_NOW_MS, &b, &st, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == 0, "success with an error recorded: %s", err.msg);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL || rc == SABA_ETOOBIG, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && err.line >= 1 && err.msg[0] != '\0',
                   "error report: code=%d line=%ld msg=%s", err.code, err.line, err.msg);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "message not terminated");
    }
    fuzz_check_batch(&b);
    batch_free(&b);
    return 0;
}
