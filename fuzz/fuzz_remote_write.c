/*
 * fuzz_remote_write.c - fuzzes the remote-write decoder, remote_write_parse()
 * (ingest/remote_write.h), on decompressed protobuf bytes.
 * Checks: no memory or UB fault; an error carries a code and a reason; the
 * batch invariants of fuzz_common.h hold, success or not.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "ingest/remote_write.h"
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
    struct remote_write_stats st = {0};
    struct saba_err err = {0};
    int rc = remote_write_parse(data, size, &b, &st, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == 0, "success with an error recorded: %s", err.msg);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL || rc == SABA_ETOOBIG, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0', "error report: code=%d msg=%s", err.code,
                   err.msg);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "message not terminated");
    }
    fuzz_check_batch(&b);
    batch_free(&b);
    return 0;
}
