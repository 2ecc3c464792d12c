/*
 * fuzz_checkpoint.c - fuzzes WAL checkpoint loading: checkpoint_decode()
 * (storage/tsdb/checkpoint.h) into a fresh head, as given and with the
 * trailing CRC recomputed so mutations reach the record parser. Checks: it
 * refuses with SABA_ECORRUPT and a message or loads a head whose series can
 * be selected, visited and truncated without going out of bounds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "fuzz_common.h"
#include "storage/storage.h"
#include "storage/tsdb/checkpoint.h"
#include "storage/tsdb/head.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static int count_series(void *ctx, const struct head_series_view *s)
{
    FUZZ_CHECK(s->nls > 0 && s->nchunks > 0, "empty series visited");
    (*(size_t *)ctx)++;
    return 0;
}

static void exercise(const uint8_t *p, size_t n)
{
    struct head *h = head_new();
    struct saba_err err = {0};
    int64_t cut;
    int rc = checkpoint_decode(p, n, h, &cut, &err);
    if (rc) {
        FUZZ_CHECK(rc == SABA_ECORRUPT && err.msg[0], "rc=%d msg=%s", rc, err.msg);
    } else {
        struct series_set out = {0};
        FUZZ_CHECK(head_select(h, NULL, 0, INT64_MIN, INT64_MAX, true, &out, &err) == 0,
                   "select failed");
        for (size_t i = 0; i < out.n; i++)
            for (size_t k = 1; k < out.v[i].n; k++)
                FUZZ_CHECK(out.v[i].t[k - 1] < out.v[i].t[k], "samples out of order");
        series_set_free(&out);
        size_t nseries = 0;
        head_visit(h, INT64_MIN, INT64_MAX, true, count_series, &nseries);
        int64_t mint, maxt;
        if (head_time_range(h, &mint, &maxt))
            head_truncate(h, mint + (maxt - mint) / 2);
    }
    head_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    exercise(p, size);
    if (size >= 4) {
        uint32_t crc = crc32c(0, p, size - 4);
        for (int i = 0; i < 4; i++)
            p[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        exercise(p, size);
    }
    free(p);
    return 0;
}
