/*
 * fuzz_wal.c - fuzzes WAL replay: wal_scan() (storage/tsdb/wal.h) over the input as a segment
 * image, and record_apply() (storage/tsdb/record.h) of each intact record into a fresh head.
 * Checks: wal_scan stops exactly where the framing or a CRC first breaks; with the CRCs
 * recomputed, corrupt payloads reach record_apply and leave a sane head (time-sorted samples);
 * a batch built from the input survives encode -> frame -> scan -> apply unchanged.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/err.h"
#include "fuzz_common.h"
#include "storage/batch.h"
#include "storage/labels.h"
#include "storage/storage.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/record.h"
#include "storage/tsdb/wal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

struct scan_ctx {
    const uint8_t *image;
    size_t n;
    struct head *head; /* NULL: only count records */
    uint64_t records, applied, samples;
    struct saba_err err; /* of the last record that did not apply */
};

static int on_record(void *arg, const uint8_t *p, size_t n)
{
    struct scan_ctx *c = arg;
    FUZZ_CHECK(p >= c->image + WAL_HEADER_BYTES && n <= (size_t)(c->image + c->n - p),
               "payload outside the image");
    c->records++;
    if (!c->head)
        return 0;
    struct saba_err err = {0};
    int rc = record_apply(c->head, p, n, &c->samples, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == SABA_ECORRUPT && err.code == rc && err.msg[0] != '\0',
                   "record_apply: rc=%d code=%d msg=%s", rc, err.code, err.msg);
        c->err = err;
        return -1;
    }
    c->applied++;
    return 0;
}

/* Walk the framing (u32le length, u32le CRC32C, payload). With fix set, rewrite each
 * CRC to match its payload; otherwise stop at the first mismatch. Returns the length of
 * the intact prefix and its record count in *nrec. */
static size_t walk_frames(uint8_t *d, size_t n, bool fix, uint64_t *nrec)
{
    size_t off = 0;
    *nrec = 0;
    while (n - off >= WAL_HEADER_BYTES) {
        uint32_t len = load_u32le(d + off);
        /* FORMAT.md: len is 1 to 2^30; 0 is a zero-filled torn tail, not a record */
        if (len == 0 || len > WAL_MAX_RECORD_BYTES || len > n - off - WAL_HEADER_BYTES)
            break;
        uint32_t crc = crc32c(0, d + off + WAL_HEADER_BYTES, len);
        if (fix) {
            for (int i = 0; i < 4; i++)
                d[off + 4 + i] = (uint8_t)(crc >> (8 * i));
        } else if (crc != load_u32le(d + off + 4)) {
            break;
        }
        off += WAL_HEADER_BYTES + len;
        (*nrec)++;
    }
    return off;
}

static struct series_set select_all(struct head *h)
{
    struct series_set set = {0};
    struct saba_err err = {0};
    int rc = head_select(h, NULL, 0, INT64_MIN, INT64_MAX, true, &set, &err);
    FUZZ_CHECK(rc == 0, "head_select: %s", err.msg);
    return set;
}

/* Whatever was replayed, every series reads back in strictly increasing time order
 * (a sample at an existing timestamp replaces it). */
static void check_head(struct head *h)
{
    struct series_set set = select_all(h);
    for (size_t i = 0; i < set.n; i++) {
        const struct series_data *s = &set.v[i];
        FUZZ_CHECK(s->n > 0, "series %zu selected without samples", i);
        for (size_t k = 1; k < s->n; k++)
            FUZZ_CHECK(s->t[k - 1] < s->t[k], "series %zu: t[%zu]=%lld, t[%zu]=%lld", i, k - 1,
                       (long long)s->t[k - 1], k, (long long)s->t[k]);
    }
    series_set_free(&set);
    struct strlist names = {0};
    head_label_names(h, &names);
    for (size_t i = 0; i < names.n && i < 16; i++) {
        struct strlist values = {0};
        head_label_values(h, names.v[i], &values);
        strlist_free(&values);
    }
    strlist_free(&names);
}

/* Two heads hold the same series with bit-identical samples. */
static void check_same(struct head *a, struct head *b)
{
    struct storage_stats sa = {0}, sb = {0};
    head_stats(a, &sa);
    head_stats(b, &sb);
    FUZZ_CHECK(sa.series == sb.series && sa.samples == sb.samples &&
                   sa.out_of_order == sb.out_of_order && sa.overwritten == sb.overwritten,
               "stats differ: series %llu/%llu samples %llu/%llu", (unsigned long long)sa.series,
               (unsigned long long)sb.series, (unsigned long long)sa.samples,
               (unsigned long long)sb.samples);
    struct series_set x = select_all(a), y = select_all(b);
    FUZZ_CHECK(x.n == y.n, "%zu series written, %zu replayed", x.n, y.n);
    for (size_t i = 0; i < x.n; i++) {
        FUZZ_CHECK(labels_cmp(&x.v[i].labels, &y.v[i].labels) == 0, "series %zu: labels", i);
        FUZZ_CHECK(x.v[i].n == y.v[i].n, "series %zu: %zu samples written, %zu replayed", i,
                   x.v[i].n, y.v[i].n);
        FUZZ_CHECK(!memcmp(x.v[i].t, y.v[i].t, x.v[i].n * sizeof *x.v[i].t),
                   "series %zu: timestamps", i);
        FUZZ_CHECK(!memcmp(x.v[i].v, y.v[i].v, x.v[i].n * sizeof *x.v[i].v), "series %zu: values",
                   i);
    }
    series_set_free(&x);
    series_set_free(&y);
}

/* 18 input bytes per sample: a few series (so later samples reuse earlier ones), times near
 * "now" or anywhere since 1970, integer or arbitrary float64 values, some long labels. */
#define UNIT 18

static void build_batch(struct batch *b, const uint8_t *d, size_t n)
{
    static char pad[800];
    memset(pad, 'x', sizeof pad);
    for (size_t i = 0; i + UNIT <= n && b->nsamples < 300; i += UNIT) {
        const uint8_t *u = d + i;
        char name[16], job[8];
        snprintf(name, sizeof name, "fuzz_m%u", u[0] & 7u);
        snprintf(job, sizeof job, "j%u", (u[0] >> 3) & 3u);
        uint64_t tb = load_u64le(u + 2);
        int64_t t = (u[1] & 1) ? FUZZ_NOW_MS - (int64_t)(tb % 100000)
                               : (int64_t)(tb % (uint64_t)(FUZZ_NOW_MS + 1));
        double v;
        if (u[1] & 2) {
            v = (double)(int32_t)load_u32le(u + 10);
        } else {
            uint64_t bits = load_u64le(u + 10);
            memcpy(&v, &bits, sizeof v);
        }
        struct saba_err err = {0};
        batch_series_begin(b);
        int rc = batch_label(b, "__name__", 8, name, strlen(name), &err);
        if (rc == 0)
            rc = batch_label(b, "job", 3, job, strlen(job), &err);
        if (rc == 0 && (u[1] & 4))
            rc = batch_label(b, "pad", 3, pad, (size_t)(u[1] >> 3) * 25, &err);
        if (rc == 0)
            rc = batch_series_end(b, t, v, &err);
        else
            batch_series_abort(b);
        FUZZ_CHECK(rc == 0, "building the batch: %s", err.msg);
    }
}

/* Append one batch as the tsdb does (tsdb_append) and frame its record into seg. */
static void write_batch(struct head *h, const struct batch *b, struct buf *seg)
{
    uint32_t *ids = malloc((b->nsamples + 1) * sizeof *ids);
    uint32_t *fresh = malloc((b->nsamples + 1) * sizeof *fresh);
    size_t nfresh = 0;
    for (size_t i = 0; i < b->nsamples; i++) {
        bool is_new;
        ids[i] = head_series_for(h, b, &b->samples[i], &is_new);
        if (is_new) {
            head_set_logged(h, ids[i], true);
            fresh[nfresh++] = (uint32_t)i;
        }
    }
    struct buf rec = BUF_INIT;
    record_encode_batch(&rec, b, ids, fresh, nfresh);
    for (size_t i = 0; i < b->nsamples; i++)
        head_append(h, ids[i], b->samples[i].t, b->samples[i].v);
    buf_put_u32le(seg, (uint32_t)rec.len);
    buf_put_u32le(seg, crc32c(0, rec.data, rec.len));
    buf_append(seg, rec.data, rec.len);
    buf_free(&rec);
    free(ids);
    free(fresh);
}

/* Two batches from the two halves of the input, so the second record refers to series
 * the first one defined. */
static void roundtrip(const uint8_t *d, size_t n)
{
    struct head *written = head_new();
    struct buf seg = BUF_INIT;
    size_t nsamples = 0, nrecords = 0;
    for (int half = 0; half < 2; half++) {
        struct batch b;
        fuzz_batch_init(&b);
        build_batch(&b, half ? d + n / 2 : d, half ? n - n / 2 : n / 2);
        fuzz_check_batch(&b);
        if (b.nsamples > 0) {
            write_batch(written, &b, &seg);
            nsamples += b.nsamples;
            nrecords++;
        }
        batch_free(&b);
    }
    if (nrecords > 0) {
        struct scan_ctx c = {.image = (const uint8_t *)seg.data, .n = seg.len, .head = head_new()};
        uint64_t records = 0;
        size_t good = wal_scan((const uint8_t *)seg.data, seg.len, on_record, &c, &records);
        FUZZ_CHECK(good == seg.len, "scan stopped at %zu of %zu", good, seg.len);
        FUZZ_CHECK(records == nrecords && c.applied == nrecords,
                   "%zu records written, %llu scanned, %llu applied (%s)", nrecords,
                   (unsigned long long)records, (unsigned long long)c.applied, c.err.msg);
        FUZZ_CHECK(c.samples == nsamples, "%zu samples written, %llu replayed", nsamples,
                   (unsigned long long)c.samples);
        check_same(written, c.head);
        head_free(c.head);
    }
    buf_free(&seg);
    head_free(written);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The image as given: wal_scan must agree with the reference walk. */
    uint64_t want_records, records = 0;
    size_t want = walk_frames((uint8_t *)data, size, false, &want_records);
    struct scan_ctx raw = {.image = data, .n = size};
    size_t good = wal_scan(data, size, on_record, &raw, &records);
    FUZZ_CHECK(good == want, "wal_scan returned %zu, the intact prefix is %zu", good, want);
    FUZZ_CHECK(records == want_records && raw.records == want_records,
               "%llu records counted, %llu called back, %llu intact", (unsigned long long)records,
               (unsigned long long)raw.records, (unsigned long long)want_records);

    /* 2. The same image with every CRC made valid: all well-framed records are replayed. */
    uint8_t *img = malloc(size ? size : 1);
    memcpy(img, data, size);
    size_t framed = walk_frames(img, size, true, &want_records);
    struct scan_ctx fixed = {.image = img, .n = size, .head = head_new()};
    records = 0;
    good = wal_scan(img, size, on_record, &fixed, &records);
    FUZZ_CHECK(good == framed && records == want_records,
               "re-checksummed image: scan stopped at %zu of %zu", good, framed);
    check_head(fixed.head);
    head_free(fixed.head);
    free(img);

    /* 3. Round trip of batches derived from the input. */
    roundtrip(data, size);
    return 0;
}
