/*
 * fuzz_promtext.c - fuzzes the Prometheus text exposition parser
 * (ingest/promtext.h) used by saba import. Checks: it succeeds with no error
 * recorded or fails with SABA_EINVAL, a 1-based line and a message; either
 * way the batch keeps every invariant of storage/batch.h (fuzz_check_batch).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "ingest/promtext.h"

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
    struct saba_err err = {0};
    int rc = promtext_parse((const char *)data, size, FUZZ_NOW_MS, &b, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == 0, "success with an error recorded: %s", err.msg);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && err.line >= 1 && err.msg[0] != '\0',
                   "error report: code=%d line=%ld msg=%s", err.code, err.line, err.msg);
    }
    fuzz_check_batch(&b);
    batch_free(&b);
    return 0;
}
