/*
 * fuzz_csv.c - fuzzes the CSV backfill parser (ingest/csv.h): the first line
 * of the input is the header, the rest the rows. Checks: header and rows
 * either parse with no error recorded or fail with SABA_EINVAL, a line and a
 * message; the batch keeps every invariant of storage/batch.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "ingest/csv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t hl = nl ? (size_t)(nl - p) : size;
    struct csv_header h;
    struct saba_err err = {0};
    int rc = csv_header_parse(p, hl, &h, &err);
    if (rc) {
        FUZZ_CHECK(rc == SABA_EINVAL && err.msg[0], "header rc=%d", rc);
        return 0;
    }
    FUZZ_CHECK(h.time_col >= 0 && h.name_col >= 0 && h.value_col >= 0 && h.ncols <= CSV_MAX_COLUMNS,
               "header columns");
    struct batch b;
    fuzz_batch_init(&b);
    size_t off = nl ? hl + 1 : size;
    rc = csv_parse(&h, p + off, size - off, &b, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == 0, "success with an error recorded: %s", err.msg);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL && err.code == rc && err.line >= 1 && err.msg[0],
                   "error report: rc=%d code=%d line=%ld", rc, err.code, err.line);
    }
    fuzz_check_batch(&b);
    batch_free(&b);
    csv_header_free(&h);
    return 0;
}
