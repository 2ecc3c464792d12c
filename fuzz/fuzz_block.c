/*
 * fuzz_block.c - fuzzes the block reader (storage/tsdb/block.h): the input is
 * u32le index length, the index image, then the chunks image. Each input is
 * tried as it is and with the index checksum recomputed, so mutations reach
 * the layout checks behind the CRC. Checks: block_open_mem either refuses
 * with SABA_ECORRUPT and a message or opens a block on which selection,
 * label listing and series/chunk iteration stay in bounds (ASan) and return
 * sorted, well-formed results. The chunks image is also decoded as one
 * dense chunk directly (zstd frame and varint stream with fuzzed content),
 * and as the content of a dense and of a plane chunk (format 2, no frame).
 *
 * Format 2 behind its checksums and compression: the index image is also
 * given the version 2 inside, its TOC checksum fixed, and wrapped as a
 * version 2 index file (zstd, CRC); the chunks image after its 8-byte header
 * becomes the content of one pack at offset 8 of a version 2 chunks file.
 * So the fuzzer reaches the pack and chunk-reference checks of format 2.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "fuzz_common.h"
#include "storage/matcher.h"
#include "storage/storage.h"
#include "storage/tsdb/block.h"
#include "storage/tsdb/chunk.h"

#include <zstd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void exercise(const uint8_t *ix, size_t ixn, const uint8_t *ch, size_t chn)
{
    struct block *b = NULL;
    struct saba_err err = {0};
    int rc = block_open_mem(ix, ixn, ch, chn, &b, &err);
    if (rc) {
        FUZZ_CHECK(rc == SABA_ECORRUPT && err.msg[0], "rc=%d msg=%s", rc, err.msg);
        return;
    }
    struct strlist names = {0};
    block_label_names(b, &names);
    for (size_t i = 0; i < names.n && i < 8; i++) {
        struct strlist vals = {0};
        block_label_values(b, names.v[i], &vals);
        strlist_free(&vals);
    }
    struct matcher *m[2];
    size_t nm = 0;
    if (names.n && matcher_new(MATCH_RE, names.v[0], ".+", &m[nm], &err) == 0)
        nm++;
    for (int kind = 0; kind < 2; kind++) {
        struct series_set out = {0};
        rc = block_select(b, m, nm, INT64_MIN, INT64_MAX, true, (enum block_kind)kind, &out, &err);
        FUZZ_CHECK(rc == 0 || rc == SABA_ECORRUPT, "select rc=%d", rc);
        for (size_t i = 0; i < out.n; i++)
            FUZZ_CHECK(out.v[i].labels.n > 0, "series without labels");
        series_set_free(&out);
    }
    for (size_t i = 0; i < nm; i++)
        matcher_free(m[i]);
    strlist_free(&names);
    struct label ls[256];
    for (uint32_t i = 0; i < block_num_series(b) && i < 64; i++) {
        uint32_t nc;
        if (block_series_labels(b, i, ls, &nc) < 0)
            continue;
        for (uint32_t j = 0; j < nc && j < 16; j++) {
            struct block_chunk c;
            if (block_series_chunk(b, i, j, &c) != 0)
                break;
            int64_t *t = malloc((c.count + 1u) * sizeof *t);
            double *v = malloc((c.count + 1u) * sizeof *v);
            int got = block_chunk_decode(&c, t, v);
            FUZZ_CHECK(got == -1 || got == c.count, "decoded %d of %u", got, c.count);
            free(t);
            free(v);
        }
    }
    block_close(b);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Wrap a (fuzzed) index image and pack content as format 2 files. */
static void exercise_v2(const uint8_t *img, size_t n, const uint8_t *content, size_t cn)
{
    if (n < 56)
        return;
    uint8_t *im = malloc(n);
    memcpy(im, img, n);
    put32(im + 4, 2);
    put32(im + n - 8, crc32c(0, im, n - 8));
    size_t zb = ZSTD_compressBound(n);
    uint8_t *ix = malloc(16 + zb + 8);
    memcpy(ix, "SBIX", 4);
    put32(ix + 4, 2);
    for (int i = 0; i < 8; i++)
        ix[8 + i] = (uint8_t)((uint64_t)n >> (8 * i));
    size_t z = ZSTD_compress(ix + 16, zb, im, n, 1);
    if (!ZSTD_isError(z)) {
        size_t ixn = 16 + z;
        put32(ix + ixn, crc32c(0, ix, ixn));
        memcpy(ix + ixn + 4, "SBIX", 4);
        ixn += 8;
        size_t cb = ZSTD_compressBound(cn);
        uint8_t *ch = malloc(20 + cb);
        memcpy(ch, "SBCH", 4);
        put32(ch + 4, 2);
        size_t chn = 8;
        if (cn) {
            size_t cz = ZSTD_compress(ch + 20, cb, content, cn, 1);
            if (!ZSTD_isError(cz)) {
                put32(ch + 8, (uint32_t)cz);
                put32(ch + 12, (uint32_t)cn);
                put32(ch + 16, crc32c(0, ch + 20, cz));
                chn = 20 + cz;
            }
        }
        uint8_t *chc = malloc(chn); /* exact size, as a mapping */
        memcpy(chc, ch, chn);
        free(ch);
        exercise(ix, ixn, chc, chn);
        free(chc);
    }
    free(ix);
    free(im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t ixn = load_u32le(data);
    if (ixn > size - 4)
        ixn = size - 4;
    const uint8_t *ch = data + 4 + ixn;
    size_t chn = size - 4 - ixn;
    /* mmap'ed files are not NUL-padded either: exact-size copies let ASan see overreads */
    uint8_t *ix = malloc(ixn ? ixn : 1);
    memcpy(ix, data + 4, ixn);
    uint8_t *chc = malloc(chn ? chn : 1);
    memcpy(chc, ch, chn);
    exercise(ix, ixn, chc, chn);
    if (ixn >= 48) {
        /* recompute the TOC checksum (FORMAT.md: CRC of all bytes before it) */
        uint32_t crc = crc32c(0, ix, ixn - 8);
        for (int i = 0; i < 4; i++)
            ix[ixn - 8 + i] = (uint8_t)(crc >> (8 * i));
        exercise(ix, ixn, chc, chn);
        exercise_v2(ix, ixn, chn > 8 ? chc + 8 : chc, chn > 8 ? chn - 8 : 0);
    }
    /* the chunks image as one dense chunk (the CRCs above keep most mutated
     * chunks from reaching the decoder): count from its first two bytes */
    if (chn >= 2) {
        struct block_chunk c = {0,
                                0,
                                chc + 2,
                                (uint32_t)(chn - 2),
                                (uint16_t)((chc[0] | chc[1] << 8) & 0xfff),
                                BLOCK_KIND_RAW,
                                BLOCK_ENC_DENSE};
        int64_t *t = malloc((c.count + 1u) * sizeof *t);
        double *v = malloc((c.count + 1u) * sizeof *v);
        for (int enc = BLOCK_ENC_DENSE; enc <= BLOCK_ENC_PLANES; enc++) {
            c.enc = (uint8_t)enc;
            int got = block_chunk_decode(&c, t, v);
            FUZZ_CHECK(got == -1 || got == c.count, "enc %d decoded %d of %u", enc, got, c.count);
        }
        free(t);
        free(v);
    }
    free(ix);
    free(chc);
    return 0;
}
