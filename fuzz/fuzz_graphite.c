/*
 * fuzz_graphite.c - fuzzes the Graphite plaintext parser: the input is split
 * on '\n' and each line goes to graphite_parse_line() (ingest/graphite.h)
 * into one batch, as the TCP listener does with a connection's stream.
 * Checks: no memory or UB fault; a rejected line adds nothing and leaves no
 * series open; the batch invariants of fuzz_common.h hold after every line.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "ingest/graphite.h"
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
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t before = b.nsamples;
        struct saba_err err = {0};
        int rc = graphite_parse_line(p, (size_t)(le - p), FUZZ_NOW_MS, &b, &err);
        if (rc == 0) {
            FUZZ_CHECK(b.nsamples <= before + 1, "one line added %zu samples", b.nsamples - before);
        } else {
            FUZZ_CHECK(rc == SABA_EINVAL || rc == SABA_ETOOBIG, "rc=%d", rc);
            FUZZ_CHECK(err.code == rc && err.msg[0] != '\0', "error report: code=%d msg=%s",
                       err.code, err.msg);
            FUZZ_CHECK(b.nsamples == before, "a rejected line added a sample");
        }
        fuzz_check_batch(&b);
        p = nl ? nl + 1 : end;
    }
    batch_free(&b);
    return 0;
}
