/*
 * rollup.c - making rollup blocks from raw blocks (see rollup.h).
 */
#include "storage/tsdb/rollup.h"
#include "base/alloc.h"
#include "storage/tsdb/chunk.h"
#include "storage/tsdb/rollup_chunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus' staleness marker (a NaN with this payload) is not a sample. */
#define STALE_BITS 0x7ff0000000000002ull

/* Buckets per rollup chunk: a 7-day block at 1 h is 168, at 1 m 10,080 (5
 * chunks); within the chunk count's limit (BLOCK_DENSE_MAX_SAMPLES). */
#define ROLLUP_CHUNK_BUCKETS 2048

/* Buckets are left-open, (end - res, end], and stamped with their end, so
 * that a window (t - range, t] with t and range multiples of res is exactly
 * a run of whole buckets. */
static int64_t bucket_of(int64_t t, int64_t res)
{
    int64_t r = t % res;
    if (r < 0)
        r += res;
    return r ? t - r + res : t;
}

size_t rollup_bucketize(const int64_t *t, const double *v, size_t n, int64_t res,
                        struct rollup_point *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        if (bits == STALE_BITS)
            continue;
        int64_t b = bucket_of(t[i], res);
        if (!k || out[k - 1].t != b) {
            out[k++] = (struct rollup_point){b, v[i], v[i], v[i], 1, v[i], t[i]};
            continue;
        }
        struct rollup_point *p = &out[k - 1];
        if (v[i] < p->min || isnan(p->min))
            p->min = v[i];
        if (v[i] > p->max || isnan(p->max))
            p->max = v[i];
        p->sum += v[i];
        p->count += 1;
        p->last = v[i];
        p->last_t = t[i];
    }
    return k;
}

double rollup_value(const struct rollup_point *p, enum block_kind kind)
{
    switch (kind) {
    case BLOCK_KIND_MIN:
        return p->min;
    case BLOCK_KIND_MAX:
        return p->max;
    case BLOCK_KIND_SUM:
        return p->sum;
    case BLOCK_KIND_COUNT:
        return p->count;
    case BLOCK_KIND_LAST_T:
        return (double)p->last_t;
    default:
        return p->last;
    }
}

int rollup_write(struct block *raw, int64_t res, const char *blocks_dir, uint64_t seq,
                 const uint64_t *parents, size_t np, struct block_meta *out, struct saba_err *err)
{
    struct block_meta meta = {.seq = seq, .resolution_ms = res};
    meta.source = block_get_meta(raw)->seq;
    for (size_t i = 0; i < np && i < BLOCK_MAX_PARENTS; i++)
        meta.parents[meta.nparents++] = parents[i];
    struct block_writer *w;
    int rc = block_writer_new(blocks_dir, &meta, &w, err);
    if (rc)
        return rc;
    struct label ls[256];
    int64_t *ts = NULL;
    double *vs = NULL;
    struct rollup_point *pts = NULL;
    size_t cap = 0;
    struct block_chunk *cs = NULL;
    struct chunk_enc *encs = NULL;
    size_t cap_c = 0;
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    if (!zc)
        abort(); /* out of memory, as xmalloc */
    struct buf raw_buf = BUF_INIT, *zbufs = NULL;
    size_t cap_z = 0;
    uint32_t nseries = block_num_series(raw);
    for (uint32_t i = 0; i < nseries && rc == 0; i++) {
        uint32_t nc;
        int nl = block_series_labels(raw, i, ls, &nc);
        if (nl < 0) {
            rc = err_set(err, SABA_ECORRUPT, 0, "%s: bad series entry", block_path(raw));
            break;
        }
        size_t n = 0;
        for (uint32_t j = 0; j < nc && rc == 0; j++) {
            struct block_chunk c;
            rc = block_series_chunk(raw, i, j, &c);
            if (rc) {
                err_set(err, rc, 0, "%s: chunk checksum mismatch", block_path(raw));
                break;
            }
            if (c.kind != BLOCK_KIND_RAW)
                continue;
            if (n + c.count > cap) {
                cap = (n + c.count) * 2;
                ts = xrealloc(ts, cap * sizeof *ts);
                vs = xrealloc(vs, cap * sizeof *vs);
                pts = xrealloc(pts, cap * sizeof *pts);
            }
            int got = block_chunk_decode(&c, ts + n, vs + n);
            if (got < 0) {
                rc = err_set(err, SABA_ECORRUPT, 0, "%s: chunk does not decode", block_path(raw));
                break;
            }
            if (block_series_has_tombstones(raw, i)) { /* deleted samples stay out */
                size_t k = n;
                for (size_t q = n; q < n + (size_t)got; q++)
                    if (!block_deleted(raw, i, ts[q])) {
                        ts[k] = ts[q];
                        vs[k++] = vs[q];
                    }
                got = (int)(k - n);
            }
            n += (size_t)got;
        }
        if (rc || !n)
            continue;
        size_t np_ = rollup_bucketize(ts, vs, n, res, pts);
        /* one rollup chunk (every aggregate) per run of buckets; runs the
         * layout cannot hold fall back to six chunks, one per aggregate */
        size_t runs = (np_ + ROLLUP_CHUNK_BUCKETS - 1) / ROLLUP_CHUNK_BUCKETS;
        size_t need =
            runs * 6 * ((ROLLUP_CHUNK_BUCKETS + CHUNK_TARGET_SAMPLES - 1) / CHUNK_TARGET_SAMPLES);
        if (need > cap_c) {
            cap_c = need;
            cs = xrealloc(cs, cap_c * sizeof *cs);
            encs = xrealloc(encs, cap_c * sizeof *encs);
        }
        if (runs > cap_z) {
            zbufs = xrealloc(zbufs, runs * sizeof *zbufs);
            for (size_t q = cap_z; q < runs; q++)
                zbufs[q] = (struct buf)BUF_INIT;
            cap_z = runs;
        }
        size_t k = 0, ne = 0;
        for (size_t r = 0; r < runs; r++) {
            size_t off = r * ROLLUP_CHUNK_BUCKETS;
            size_t cnt = np_ - off < ROLLUP_CHUNK_BUCKETS ? np_ - off : ROLLUP_CHUNK_BUCKETS;
            if (rollup_chunk_encode(zc, pts + off, cnt, res, &raw_buf, &zbufs[r]) == 0) {
                cs[k++] = (struct block_chunk){pts[off].t,
                                               pts[off + cnt - 1].t,
                                               (const uint8_t *)zbufs[r].data,
                                               (uint32_t)zbufs[r].len,
                                               (uint16_t)cnt,
                                               BLOCK_KIND_ROLLUP,
                                               BLOCK_ENC_ROLLUP};
                continue;
            }
            for (size_t o = off; o < off + cnt; o += CHUNK_TARGET_SAMPLES) {
                size_t m =
                    off + cnt - o < CHUNK_TARGET_SAMPLES ? off + cnt - o : CHUNK_TARGET_SAMPLES;
                for (int kind = BLOCK_KIND_MIN; kind <= BLOCK_KIND_LAST_T; kind++, k++, ne++) {
                    chunk_enc_init(&encs[ne]);
                    for (size_t q = 0; q < m; q++)
                        chunk_enc_append(&encs[ne], pts[o + q].t,
                                         rollup_value(&pts[o + q], (enum block_kind)kind));
                    cs[k] = (struct block_chunk){
                        pts[o].t,    pts[o + m - 1].t, encs[ne].buf,     chunk_enc_len(&encs[ne]),
                        (uint16_t)m, (uint8_t)kind,    BLOCK_ENC_GORILLA};
                }
            }
        }
        rc = block_writer_add(w, ls, (size_t)nl, cs, k, err);
        for (size_t q = 0; q < ne; q++)
            chunk_enc_free(&encs[q]);
    }
    free(ts);
    free(vs);
    free(pts);
    free(cs);
    free(encs);
    for (size_t q = 0; q < cap_z; q++)
        buf_free(&zbufs[q]);
    free(zbufs);
    buf_free(&raw_buf);
    ZSTD_freeCCtx(zc);
    if (rc) {
        block_writer_abort(w);
        return rc;
    }
    return block_writer_commit(w, out, err);
}
