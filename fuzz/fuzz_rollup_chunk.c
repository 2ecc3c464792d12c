/*
 * fuzz_rollup_chunk.c - fuzzes the rollup chunk decoder (storage/tsdb/
 * rollup_chunk.h). Input: u8 mode, u16le bucket count, then the chunk. Mode
 * bit 0 set: the rest is the frame's content, compressed here, so that
 * mutations reach the column parser behind zstd; clear: the rest is the
 * chunk as stored. Checks: decoding stays in bounds (ASan) and either fails
 * or yields count buckets; decoded buckets that the encoder accepts decode
 * again to the same values (bit for bit).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/buf.h"
#include "fuzz_common.h"
#include "storage/tsdb/rollup_chunk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static bool same(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Decode a chunk of count buckets with every column; returns the buckets or
 * -1 (arrays malloc'ed into t, col, freed by the caller). */
static int decode_all(const uint8_t *d, size_t n, size_t count, int64_t **t, double *col[RC_NCOLS])
{
    *t = malloc((count + 1) * sizeof **t);
    for (int c = 0; c < RC_NCOLS; c++)
        col[c] = malloc((count + 1) * sizeof(double));
    return rollup_chunk_decode(d, n, count, *t, col);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int mode = data[0];
    size_t count = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    uint8_t *frame = NULL;
    size_t fn = size;
    if (mode & 1) {
        size_t bound = ZSTD_compressBound(size);
        frame = malloc(bound ? bound : 1);
        fn = ZSTD_compress(frame, bound, data, size, 1);
        if (ZSTD_isError(fn)) {
            free(frame);
            return 0;
        }
        data = frame;
    }
    int64_t *t;
    double *col[RC_NCOLS];
    int got = decode_all(data, fn, count, &t, col);
    FUZZ_CHECK(got == -1 || (size_t)got == count, "got=%d count=%zu", got, count);
    if (got > 0) {
        /* what the encoder accepts must come back as it was */
        struct rollup_point *p = malloc(count * sizeof *p);
        for (size_t i = 0; i < count; i++)
            p[i] = rollup_chunk_point(t, col, i);
        int64_t res = t[0] > 0 ? t[0] : 1;
        if (count > 1 && t[1] > t[0])
            res = t[1] - t[0];
        ZSTD_CCtx *zc = ZSTD_createCCtx();
        struct buf raw = BUF_INIT, out = BUF_INIT;
        if (rollup_chunk_encode(zc, p, count, res, &raw, &out) == 0) {
            int64_t *t2;
            double *col2[RC_NCOLS];
            int got2 = decode_all((const uint8_t *)out.data, out.len, count, &t2, col2);
            FUZZ_CHECK(got2 == got, "re-encoded chunk does not decode");
            for (size_t i = 0; i < count; i++) {
                FUZZ_CHECK(t2[i] == t[i], "bucket %zu moved", i);
                for (int c = 0; c < RC_NCOLS; c++)
                    FUZZ_CHECK(same(col2[c][i], col[c][i]), "bucket %zu column %d changed", i, c);
            }
            free(t2);
            for (int c = 0; c < RC_NCOLS; c++)
                free(col2[c]);
        }
        buf_free(&raw);
        buf_free(&out);
        ZSTD_freeCCtx(zc);
        free(p);
    }
    free(t);
    for (int c = 0; c < RC_NCOLS; c++)
        free(col[c]);
    free(frame);
    return 0;
}
