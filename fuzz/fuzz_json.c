/*
 * fuzz_json.c - fuzzes saba's JSON metrics parser, saba_json_parse()
 * (ingest/json.h), over jansson, with a fixed "now".
 * Checks: no memory or UB fault and no leak; an error carries a code and a
 * reason; the batch invariants of fuzz_common.h hold, success or not, and a
 * successful parse has at most one sample per input item.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "ingest/json.h"
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
    struct saba_err err = {0};
    int rc = saba_json_parse((const char *)data, size, &b, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == 0, "success with an error recorded: %s", err.msg);
        /* each item is an object of at least 2 bytes ("{}") */
        FUZZ_CHECK(b.nsamples <= size / 2 + 1, "%zu samples from %zu bytes", b.nsamples, size);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0', "error report: code=%d msg=%s", err.code,
                   err.msg);
    }
    fuzz_check_batch(&b);
    batch_free(&b);
    return 0;
}
