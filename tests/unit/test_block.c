/*
 * test_block.c - unit tests for the on-disk tier: blocks (block.h), the head
 * cut and WAL checkpoint, compaction (compact.h) and the file ops table with
 * fault injection (fileops.h), all through the tsdb engine (tsdb.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "storage/batch.h"
#include "storage/labels.h"
#include "storage/matcher.h"
#include "storage/storage.h"
#include "storage/tsdb/block.h"
#include "storage/tsdb/checkpoint.h"
#include "storage/tsdb/chunk.h"
#include "storage/tsdb/compact.h"
#include "storage/tsdb/fileops.h"
#include "storage/tsdb/rollup_chunk.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/tsdb.h"

#include "unit.h"

#define T0      1699995600000LL /* 2023-11-14T21:00:00Z, a multiple of 9 hours */
#define HOUR    3600000LL
#define MIN     60000LL
#define NSERIES 5
#define ALL     INT64_MIN, INT64_MAX

static struct storage *db_open(const char *dir)
{
    struct tsdb_options o = {.dir = dir,
                             .fsync_interval_ms = 0,
                             .block_duration_ms = HOUR,
                             .max_block_duration_ms = 9 * HOUR,
                             .retention_ms = 100LL * 365 * 24 * HOUR, /* keep 2023 data */
                             .no_maintenance = true};
    struct storage *st = NULL;
    struct saba_err err = {0};
    int rc = tsdb_open(&o, &st, &err);
    if (rc)
        fprintf(stderr, "tsdb_open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return st;
}

/* One sample per minute per series for hour h: value = minute index. */
static int append_hour(struct storage *st, int h)
{
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    for (int m = 0; m < 60; m++)
        for (int s = 0; s < NSERIES; s++) {
            char sv[16];
            snprintf(sv, sizeof sv, "%d", s);
            batch_series_begin(&b);
            assert_int_equal(batch_label(&b, "__name__", 8, "up", 2, &err), 0);
            assert_int_equal(batch_label(&b, "s", 1, sv, strlen(sv), &err), 0);
            assert_int_equal(batch_series_end(&b, T0 + h * HOUR + m * MIN, h * 60 + m, &err), 0);
        }
    int rc = st->ops->append(st, &b, &err);
    batch_free(&b);
    return rc;
}

/* Check that series s holds exactly hours [0, hours) once each. */
static void check_all(struct storage *st, int hours)
{
    struct series_set out = {0};
    struct saba_err err = {0};
    assert_int_equal(st->ops->select(st, NULL, 0, ALL, true, &out, &err), 0);
    assert_int_equal(out.n, NSERIES);
    for (size_t i = 0; i < out.n; i++) {
        assert_int_equal(out.v[i].n, (size_t)hours * 60);
        for (size_t k = 0; k < out.v[i].n; k++) {
            assert_int_equal(out.v[i].t[k], T0 + (int64_t)k * MIN);
            assert_true(out.v[i].v[k] == (double)k);
        }
    }
    series_set_free(&out);
}

static size_t count_entries(const char *dir, const char *prefix)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -c '^%s' || true", dir, prefix);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (fscanf(p, "%zu", &n) != 1)
        n = 0;
    pclose(p);
    return n;
}

static void maintain(struct storage *st, bool all)
{
    struct saba_err err = {0};
    int rc = tsdb_maintain(st, all, &err);
    if (rc)
        fprintf(stderr, "maintain: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

/* ---- tests ---- */

static void test_cut_checkpoint_and_restart(void **state)
{
    (void)state;
    char dir[64], path[128];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 4; h++)
        assert_int_equal(append_hour(st, h), 0);
    maintain(st, false);
    /* the head spanned 4h: everything before hour 3 went into one block */
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    assert_int_equal(bs.blocks, 1);
    assert_int_equal(bs.block_samples, 3 * 60 * NSERIES);
    check_all(st, 4);
    storage_close(st);
    snprintf(path, sizeof path, "%s/wal", dir);
    assert_int_equal(count_entries(path, "checkpoint"), 1);
    st = db_open(dir);
    check_all(st, 4);
    /* label names and values come from blocks and head */
    struct strlist l = {0};
    st->ops->label_values(st, "s", &l);
    assert_int_equal(l.n, NSERIES);
    strlist_free(&l);
    storage_close(st);
    unit_rm_rf(dir);
}

/* select_each hands over what select returns, series by series, whether
 * the window reads the head alone or blocks too. */
struct each_seen {
    struct series_set set; /* slot k: what visit got for series k */
    size_t begun;
};

static void each_begin(void *arg, size_t n)
{
    struct each_seen *e = arg;
    e->begun++;
    e->set.v = xcalloc(n ? n : 1, sizeof *e->set.v);
    e->set.n = n;
}

static void each_visit(void *arg, size_t k, struct labels *ls, size_t n, int64_t *t, double *v)
{
    struct each_seen *e = arg;
    struct series_data *d = &e->set.v[k];
    assert_null(d->labels.v);
    d->labels = *ls;
    d->n = n;
    d->t = xmalloc(n * sizeof *t);
    d->v = xmalloc(n * sizeof *v);
    memcpy(d->t, t, n * sizeof *t);
    memcpy(d->v, v, n * sizeof *v);
    t[0] = -1; /* the arrays are the callee's to write */
}

static void check_each_like_select(struct storage *st, int64_t mint, int64_t maxt)
{
    struct saba_err err = {0};
    struct series_set want = {0};
    struct each_seen got = {{0}, 0};
    assert_int_equal(st->ops->select(st, NULL, 0, mint, maxt, true, &want, &err), 0);
    assert_int_equal(
        st->ops->select_each(st, NULL, 0, mint, maxt, each_begin, each_visit, &got, &err), 0);
    assert_int_equal(got.begun, 1);
    size_t k = 0;
    for (size_t i = 0; i < got.set.n; i++) {
        const struct series_data *d = &got.set.v[i];
        if (!d->labels.v)
            continue; /* not visited: no sample in the window */
        assert_true(k < want.n);
        assert_int_equal(labels_cmp(&d->labels, &want.v[k].labels), 0);
        assert_int_equal(d->n, want.v[k].n);
        assert_memory_equal(d->t, want.v[k].t, d->n * sizeof *d->t);
        assert_memory_equal(d->v, want.v[k].v, d->n * sizeof *d->v);
        k++;
    }
    assert_int_equal(k, want.n);
    series_set_free(&want);
    series_set_free(&got.set);
}

static void test_select_each_matches_select(void **state)
{
    (void)state;
    char dir[64];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 4; h++)
        assert_int_equal(append_hour(st, h), 0);
    check_each_like_select(st, ALL);
    maintain(st, false); /* hours 0-2 into a block */
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    assert_int_equal(bs.blocks, 1);
    check_each_like_select(st, ALL);                                     /* block and head */
    check_each_like_select(st, T0 + 2 * HOUR + 30 * MIN, T0 + 3 * HOUR); /* across the cut */
    check_each_like_select(st, T0 + 3 * HOUR + MIN, INT64_MAX);          /* head only */
    check_each_like_select(st, T0 + 10 * HOUR, INT64_MAX);               /* nothing */
    storage_close(st);
    unit_rm_rf(dir);
}

static void test_compaction_merges_windows(void **state)
{
    (void)state;
    char dir[64];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    struct tsdb_block_stats bs;
    for (int h = 0; h < 5; h++) {
        assert_int_equal(append_hour(st, h), 0);
        maintain(st, false);
    }
    /* hours 0-3 were cut one by one and merged: the data is from 2023, so
     * every window is settled (older than the maximum block duration) and
     * they end in one block of the 9h window; hour 4 is still in the head */
    tsdb_block_stats(st, &bs);
    assert_true(bs.compactions >= 2);
    assert_int_equal(bs.blocks, 1);
    assert_int_equal(bs.block_samples, 4 * 60 * NSERIES);
    check_all(st, 5);
    storage_close(st);
    st = db_open(dir);
    check_all(st, 5);
    maintain(st, true); /* flush the head too */
    tsdb_block_stats(st, &bs);
    assert_int_equal(bs.block_samples, 5 * 60 * NSERIES);
    check_all(st, 5);
    storage_close(st);
    unit_rm_rf(dir);
}

static void test_out_of_order_overlap_is_merged(void **state)
{
    (void)state;
    char dir[64];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 3; h++)
        assert_int_equal(append_hour(st, h), 0);
    maintain(st, true);
    /* rewrite hour 1 with other values (last write wins) and cut again:
     * two overlapping blocks, merged by compaction */
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    for (int s = 0; s < NSERIES; s++) {
        char sv[16];
        snprintf(sv, sizeof sv, "%d", s);
        batch_series_begin(&b);
        batch_label(&b, "__name__", 8, "up", 2, &err);
        batch_label(&b, "s", 1, sv, strlen(sv), &err);
        assert_int_equal(batch_series_end(&b, T0 + HOUR, -1, &err), 0);
    }
    assert_int_equal(st->ops->append(st, &b, &err), 0);
    batch_free(&b);
    maintain(st, true);
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    assert_int_equal(bs.blocks, 1);
    struct series_set out = {0};
    assert_int_equal(st->ops->select(st, NULL, 0, ALL, true, &out, &err), 0);
    assert_int_equal(out.n, NSERIES);
    assert_int_equal(out.v[0].n, 180);
    assert_true(out.v[0].v[60] == -1);
    assert_true(out.v[0].v[61] == 61);
    series_set_free(&out);
    storage_close(st);
    unit_rm_rf(dir);
}

static void test_plan(void **state)
{
    (void)state;
    struct block_meta m[4] = {
        {.seq = 1, .mint = 0, .maxt = HOUR - 1},
        {.seq = 2, .mint = HOUR, .maxt = 2 * HOUR - 1},
        {.seq = 3, .mint = 2 * HOUR, .maxt = 3 * HOUR - 1},
        {.seq = 4, .mint = 3 * HOUR, .maxt = 4 * HOUR - 1},
    };
    int64_t ranges[] = {3 * HOUR, 9 * HOUR};
    size_t pick[4];
    /* window [0,3h) not complete until everything before 3h is in blocks */
    assert_int_equal(compact_plan(m, 4, ranges, 2, 2 * HOUR, pick), 0);
    assert_int_equal(compact_plan(m, 4, ranges, 2, 3 * HOUR, pick), 3);
    /* overlapping blocks come first */
    m[3].mint = HOUR / 2;
    assert_int_equal(compact_plan(m, 4, ranges, 2, 0, pick), 4);
}

/* Fail the n-th operation of a kind during a cut + compaction, for every n:
 * the engine reports the error, keeps serving everything, and after a
 * restart (no faults) everything is still there exactly once. */
static void fault_loop(enum fault_kind kind, int e, bool torn)
{
    for (uint64_t n = 1; n < 1000; n++) {
        char dir[64];
        unit_mkdtemp(dir);
        struct storage *st = db_open(dir);
        for (int h = 0; h < 3; h++) {
            assert_int_equal(append_hour(st, h), 0);
            maintain(st, false);
        }
        fileops_fault_arm(kind, n, e, torn);
        int rc_app = append_hour(st, 3);
        struct saba_err err = {0};
        tsdb_maintain(st, false, &err);
        int rc_app2 = append_hour(st, 4);
        bool fired = fileops_fault_fired();
        fileops_fault_reset();
        int hours = 5;
        if (rc_app != 0 || rc_app2 != 0) {
            /* A refused write is not acknowledged; write it again. After a
             * failed fsync the WAL refuses writes until a restart. */
            if ((rc_app && append_hour(st, 3) != 0) || (rc_app2 && append_hour(st, 4) != 0)) {
                storage_close(st);
                st = db_open(dir);
                assert_int_equal(append_hour(st, 3), 0);
                assert_int_equal(append_hour(st, 4), 0);
            }
        }
        check_all(st, hours);
        storage_close(st);
        st = db_open(dir);
        check_all(st, hours);
        maintain(st, false);
        check_all(st, hours);
        storage_close(st);
        unit_rm_rf(dir);
        if (!fired) {
            /* n passed the last operation: every point was covered */
            print_message("fault kind %d: %llu points\n", (int)kind, (unsigned long long)n - 1);
            assert_true(n > 5);
            return;
        }
    }
    fail_msg("fault loop did not end");
}

static void test_faults_write(void **state)
{
    (void)state;
    unit_quiet_logs();
    fault_loop(FAULT_WRITE, EIO, false);
}

static void test_faults_torn_write_enospc(void **state)
{
    (void)state;
    unit_quiet_logs();
    fault_loop(FAULT_WRITE, ENOSPC, true);
}

static void test_faults_fsync(void **state)
{
    (void)state;
    unit_quiet_logs();
    fault_loop(FAULT_FSYNC, EIO, false);
}

static void test_faults_rename(void **state)
{
    (void)state;
    unit_quiet_logs();
    fault_loop(FAULT_RENAME, EIO, false);
}

/* A block whose index fails its checksum is skipped by name; the others serve. */
static void test_corrupt_block_skipped(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[256];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 3; h++)
        assert_int_equal(append_hour(st, h), 0);
    maintain(st, true);
    storage_close(st);
    snprintf(path, sizeof path, "%s/blocks/0000000000000001/index", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, 12), 1);
    byte ^= 0x55;
    assert_int_equal(pwrite(fd, &byte, 1, 12), 1);
    close(fd);
    struct saba_err err = {0};
    struct block *b;
    snprintf(path, sizeof path, "%s/blocks/0000000000000001", dir);
    assert_int_equal(block_open(path, &b, &err), SABA_ECORRUPT);
    assert_non_null(strstr(err.msg, "0000000000000001"));
    st = db_open(dir);
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    assert_int_equal(bs.corrupt_blocks, 1);
    assert_int_equal(bs.blocks, 0);
    /* the engine serves and accepts writes */
    assert_int_equal(append_hour(st, 5), 0);
    struct series_set out = {0};
    assert_int_equal(st->ops->select(st, NULL, 0, ALL, true, &out, &err), 0);
    assert_int_equal(out.n, NSERIES);
    assert_int_equal(out.v[0].n, 60);
    series_set_free(&out);
    storage_close(st);
    unit_rm_rf(dir);
}

/* A chunk that fails its checksum marks the block corrupt at query time. */
static void test_corrupt_chunk_skipped(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[256];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 3; h++)
        assert_int_equal(append_hour(st, h), 0);
    maintain(st, true);
    storage_close(st);
    snprintf(path, sizeof path, "%s/blocks/0000000000000001/chunks", dir);
    int fd = open(path, O_RDWR);
    uint8_t byte = 0;
    assert_int_equal(pread(fd, &byte, 1, 20), 1);
    byte ^= 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, 20), 1);
    close(fd);
    st = db_open(dir);
    struct series_set out = {0};
    struct saba_err err = {0};
    assert_int_equal(st->ops->select(st, NULL, 0, ALL, true, &out, &err), 0);
    assert_int_equal(out.n, 0);
    series_set_free(&out);
    storage_close(st);
    unit_rm_rf(dir);
}

static void test_garbage_is_refused(void **state)
{
    (void)state;
    uint8_t junk[256];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    struct block *b = NULL;
    struct saba_err err = {0};
    assert_int_equal(block_open_mem(junk, sizeof junk, junk, sizeof junk, &b, &err), SABA_ECORRUPT);
    struct head *h = head_new();
    int64_t cut;
    assert_int_equal(checkpoint_decode(junk, sizeof junk, h, &cut, &err), SABA_ECORRUPT);
    head_free(h);
}

/* Put v at p (u64le) and make the checkpoint image's trailing CRC right
 * again, so that only the chunk check can catch the change. */
static void ckpt_patch(uint8_t *img, size_t n, size_t at, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        img[at + (size_t)b] = (uint8_t)(v >> (8 * b));
    uint32_t crc = crc32c(0, img, n - 4);
    for (int b = 0; b < 4; b++)
        img[n - 4 + (size_t)b] = (uint8_t)(crc >> (8 * b));
}

/* A checkpoint whose chunk header disagrees with its chunk (first or last
 * time, sample count) is refused even with a good CRC: the head relies on
 * the header (a restart checks every chunk against it). */
static void test_checkpoint_chunk_checked(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[128];
    unit_mkdtemp(dir);
    struct head *h = head_new();
    const struct head_label ls[] = {{"__name__", 8, "x", 1}};
    assert_int_equal(head_series_create(h, 0, ls, 1), 0);
    for (int i = 0; i < 10; i++)
        head_append(h, 0, T0 + i * 1000, i * 0.5);
    struct saba_err err = {0};
    assert_int_equal(checkpoint_write(dir, 1, INT64_MIN, h, &err), 0);
    head_free(h);
    snprintf(path, sizeof path, "%s/checkpoint.00000001", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t img[4096];
    size_t n = fread(img, 1, sizeof img, f);
    fclose(f);
    /* header 16, id and label count 8, "__name__"="x" 17, chunk count 4,
     * padded to a multiple of 8 (version 2) */
    const size_t chunk = 48;
    assert_int_equal(load_u32le(img + 4), 2);
    assert_int_equal(img[chunk + 22], HEAD_CHUNK_RECORD_MAPPED);
    assert_true(n > chunk + 24);
    assert_int_equal(load_u64le(img + chunk), T0);
    assert_int_equal(load_u64le(img + chunk + 8), T0 + 9000);
    int64_t cut;
    h = head_new();
    assert_int_equal(checkpoint_decode(img, n, h, &cut, &err), 0);
    head_free(h);
    const struct {
        size_t at;
        uint64_t v;
    } bad[] = {{chunk, T0 - 1}, {chunk, T0 + 1}, {chunk + 8, T0 + 9001}, {chunk + 8, T0 + 8000}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint8_t copy[4096];
        memcpy(copy, img, n);
        ckpt_patch(copy, n, bad[k].at, bad[k].v);
        h = head_new();
        assert_int_equal(checkpoint_decode(copy, n, h, &cut, &err), SABA_ECORRUPT);
        assert_non_null(strstr(err.msg, "chunk"));
        head_free(h);
    }
    /* one sample fewer than the chunk holds (count is the u16 after nbytes) */
    uint8_t copy[4096];
    memcpy(copy, img, n);
    uint64_t nb_cnt = load_u64le(copy + chunk + 16);
    ckpt_patch(copy, n, chunk + 16, nb_cnt - (1ull << 32));
    h = head_new();
    assert_int_equal(checkpoint_decode(copy, n, h, &cut, &err), SABA_ECORRUPT);
    head_free(h);
    unit_rm_rf(dir);
}

/* Samples of series 0 of h in [mint, maxt], as head_select returns them. */
static size_t head_points(struct head *h, int64_t mint, int64_t maxt, int64_t *first_t,
                          double *last_v)
{
    struct matcher *m;
    struct saba_err err = {0};
    assert_int_equal(matcher_new(MATCH_EQ, "__name__", "x", &m, &err), 0);
    struct series_set out = {0};
    assert_int_equal(head_select(h, &m, 1, mint, maxt, true, &out, &err), 0);
    size_t n = out.n ? out.v[0].n : 0;
    if (n) {
        *first_t = out.v[0].t[0];
        *last_v = out.v[0].v[n - 1];
    }
    series_set_free(&out);
    matcher_free(m);
    return n;
}

/* A head with one series "x" of n samples a second apart, checkpointed into
 * dir as checkpoint.00000001; returns the image (malloc'ed) and its size. */
static uint8_t *checkpoint_of(const char *dir, int n, size_t *len)
{
    struct head *h = head_new();
    const struct head_label ls[] = {{"__name__", 8, "x", 1}};
    assert_int_equal(head_series_create(h, 0, ls, 1), 0);
    for (int i = 0; i < n; i++)
        head_append(h, 0, T0 + i * 1000, i * 0.25);
    struct saba_err err = {0};
    assert_int_equal(checkpoint_write(dir, 1, INT64_MIN, h, &err), 0);
    head_free(h);
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoint.00000001", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *img = xmalloc(1 << 20);
    *len = fread(img, 1, 1 << 20, f);
    fclose(f);
    return img;
}

/* A restart keeps the checkpoint's chunks where they lie in the mapped file.
 * The head must read them, re-encode and drop them like any other (a cut, an
 * out-of-order sample), survive the file being unlinked, and let go of the
 * mapping when the last of them goes (ASan and the fd/map count would show a
 * leak or a use after unmap). */
static void test_checkpoint_chunks_mapped(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[128];
    unit_mkdtemp(dir);
    size_t len;
    free(checkpoint_of(dir, 1000, &len)); /* 1000 samples: 9 chunks */
    struct head *h = head_new();
    int64_t seg, cut, first = 0;
    double last = 0;
    struct saba_err err = {0};
    assert_int_equal(checkpoint_load(dir, h, &seg, &cut, NULL, &err), 0);
    assert_int_equal(seg, 1);
    snprintf(path, sizeof path, "%s/checkpoint.00000001", dir);
    assert_int_equal(unlink(path), 0); /* the next checkpoint deletes it */
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 1000);
    assert_int_equal(first, T0);
    assert_true(last == 999 * 0.25);
    head_append(h, 0, T0 + 500 * 1000 + 1, -1.0); /* into a mapped chunk: re-encoded */
    head_append(h, 0, T0 + 1000 * 1000, 7.0);
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 1002);
    assert_true(last == 7.0);
    /* a cut drops the older mapped chunks and re-encodes the straddling one */
    assert_int_equal(head_truncate(h, T0 + 700 * 1000), 701); /* with the inserted one */
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 301);
    assert_int_equal(first, T0 + 700 * 1000);
    assert_int_equal(head_truncate(h, T0 + 2000 * 1000), 301); /* the last mapped chunks */
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 0);
    head_free(h);
    /* and a head freed while it still uses the mapping */
    free(checkpoint_of(dir, 300, &len));
    h = head_new();
    assert_int_equal(checkpoint_load(dir, h, &seg, &cut, NULL, &err), 0);
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 300);
    head_free(h);
    unit_rm_rf(dir);
}

/* A checkpoint of several MB is checked on a second thread while the head
 * is built and the WAL replayed: a chunk that disagrees with its header, or a
 * bad CRC, still fails the open (naming the file), and a good one loads whole. */
static void test_checkpoint_big_checked_aside(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], wal[96], path[128], name[32];
    unit_mkdtemp(dir);
    snprintf(wal, sizeof wal, "%s/wal", dir);
    assert_int_equal(mkdir(wal, 0755), 0);
    struct head *h = head_new();
    enum { NS = 20000, NP = 150 };
    for (uint32_t id = 0; id < NS; id++) {
        snprintf(name, sizeof name, "host-%05u", id);
        const struct head_label ls[] = {{"__name__", 8, "x", 1},
                                        {"host", 4, name, (uint32_t)strlen(name)}};
        assert_int_equal(head_series_create(h, id, ls, 2), 0);
        for (int i = 0; i < NP; i++)
            head_append(h, id, T0 + i * 1000, (double)(id ^ (uint32_t)i));
    }
    struct saba_err err = {0};
    assert_int_equal(checkpoint_write(wal, 1, INT64_MIN, h, &err), 0);
    head_free(h);
    snprintf(path, sizeof path, "%s/checkpoint.00000001", wal);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *img = xmalloc(64 << 20);
    size_t n = fread(img, 1, 64 << 20, f);
    fclose(f);
    assert_true(n > (6u << 20) && n < (64u << 20));
    struct storage *st = db_open(dir);
    struct storage_stats ss = {0};
    st->ops->stats(st, &ss);
    assert_int_equal(ss.series, NS);
    assert_int_equal(ss.samples, (uint64_t)NS * NP);
    storage_close(st);
    /* the last series' first chunk claims to start a millisecond late */
    size_t at = (n - 20) & ~(size_t)7; /* chunk records are 8-byte aligned */
    while (at > 16 && load_u64le(img + at) != (uint64_t)T0)
        at -= 8;
    assert_true(at > n / 2);
    uint8_t *bad = xmalloc(n);
    for (int k = 0; k < 2; k++) {
        memcpy(bad, img, n);
        if (k == 0)
            ckpt_patch(bad, n, at, T0 + 1);
        else
            bad[n / 2] ^= 1;
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bad, 1, n, f), n);
        fclose(f);
        struct tsdb_options o = {.dir = dir, .no_maintenance = true};
        st = NULL;
        assert_int_equal(tsdb_open(&o, &st, &err), SABA_ECORRUPT);
        assert_null(st);
        assert_non_null(strstr(err.msg, k == 0 ? "chunk does not match" : "checksum"));
        assert_non_null(strstr(err.msg, "checkpoint.00000001"));
    }
    free(bad);
    free(img);
    unit_rm_rf(dir);
}

/* A checkpoint whose structure is wrong although its CRC and chunks are
 * right (two series with one label set) fails the load with the walk's reason
 * and the file's name. */
static void test_checkpoint_duplicate_series_refused(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[128];
    unit_mkdtemp(dir);
    struct head *h = head_new();
    const struct head_label a[] = {{"__name__", 8, "a", 1}}, b[] = {{"__name__", 8, "b", 1}};
    assert_int_equal(head_series_create(h, 0, a, 1), 0);
    assert_int_equal(head_series_create(h, 1, b, 1), 0);
    head_append(h, 0, T0, 1);
    head_append(h, 1, T0, 2);
    struct saba_err err = {0};
    assert_int_equal(checkpoint_write(dir, 1, INT64_MIN, h, &err), 0);
    head_free(h);
    snprintf(path, sizeof path, "%s/checkpoint.00000001", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint8_t img[4096];
    size_t n = fread(img, 1, sizeof img, f);
    uint8_t *v = memmem(img, n,
                        "__name__\x01\x00\x00\x00"
                        "b",
                        13);
    assert_non_null(v);
    v[12] = 'a';
    uint32_t crc = crc32c(0, img, n - 4);
    for (int k = 0; k < 4; k++)
        img[n - 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
    rewind(f);
    assert_int_equal(fwrite(img, 1, n, f), n);
    fclose(f);
    h = head_new();
    int64_t seg, cut;
    assert_int_equal(checkpoint_load(dir, h, &seg, &cut, NULL, &err), SABA_ECORRUPT);
    assert_non_null(strstr(err.msg, "duplicate series"));
    assert_non_null(strstr(err.msg, "checkpoint.00000001"));
    head_free(h);
    unit_rm_rf(dir);
}

/* A version 1 checkpoint (an older saba's: chunk records unaligned, a u32
 * count, no kind byte) still loads, copied into the head. */
static void test_checkpoint_v1_readable(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64];
    unit_mkdtemp(dir);
    size_t n;
    uint8_t *v2 = checkpoint_of(dir, 500, &n);
    /* rewrite it as version 1: drop the padding before each chunk record,
     * clear the kind byte, and sign it again */
    uint8_t *v1 = xmalloc(n);
    memcpy(v1, v2, 45);
    v1[4] = 1;
    size_t o = 45, q = 45;
    uint32_t nc = load_u32le(v2 + 41);
    assert_int_equal(nc, 5);
    for (uint32_t k = 0; k < nc; k++) {
        q += (8 - q % 8) % 8;
        uint32_t nb = load_u32le(v2 + q + 16);
        memcpy(v1 + o, v2 + q, 24 + nb);
        v1[o + 22] = 0;
        o += 24 + nb;
        q += 24 + nb;
    }
    memcpy(v1 + o, v2 + q, n - 4 - q); /* the series count */
    o += n - 4 - q;
    uint32_t crc = crc32c(0, v1, o);
    for (int b = 0; b < 4; b++)
        v1[o++] = (uint8_t)(crc >> (8 * b));
    struct head *h = head_new();
    int64_t cut, first = 0;
    double last = 0;
    struct saba_err err = {0};
    assert_int_equal(checkpoint_decode(v1, o, h, &cut, &err), 0);
    free(v1); /* copied: the head must not point into it */
    assert_int_equal(head_points(h, INT64_MIN, INT64_MAX, &first, &last), 500);
    assert_int_equal(first, T0);
    assert_true(last == 499 * 0.25);
    head_free(h);
    free(v2);
    unit_rm_rf(dir);
}

/* Dense chunks give back exactly what went in: decimals (deltas and deltas of
 * deltas), arbitrary doubles (NaN payloads, -0.0, infinities: XOR mode) and
 * irregular timestamps, across the 4096-sample chunk limit. */
static void test_dense_roundtrip(void **state)
{
    (void)state;
    char dir[64], path[128];
    unit_mkdtemp(dir);
    enum { N = 5000, SERIES = 4 };
    int64_t *t = xmalloc(N * sizeof *t);
    double *v[SERIES];
    for (int s = 0; s < SERIES; s++)
        v[s] = xmalloc(N * sizeof(double));
    uint64_t rnd = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        t[i] = T0 + i * 10000 + (int64_t)(rnd % 7) - (i % 3 == 0 ? 5000 : 0);
        v[0][i] = (double)(int64_t)(rnd % 10000) / 100.0; /* gauge, 2 decimals */
        v[1][i] = 1e12 + 1500.0 * i + (double)(rnd % 3);  /* counter */
        v[2][i] = bitsd(rnd);                             /* any bits at all */
        v[3][i] = i % 5 == 0 ? -0.0 : i % 7 == 0 ? INFINITY : -(double)(rnd % 100) / 8.0;
    }
    for (int i = 1; i < N; i++)
        if (t[i] <= t[i - 1])
            t[i] = t[i - 1] + 1;
    struct block_meta meta = {.seq = 7};
    struct block_writer *w;
    struct saba_err err = {0};
    snprintf(path, sizeof path, "%s", dir);
    assert_int_equal(block_writer_new(path, &meta, &w, &err), 0);
    for (int s = 0; s < SERIES; s++) {
        /* hand the samples over as head chunks of 120 */
        struct chunk_enc enc[N / 120 + 1];
        struct block_chunk cs[N / 120 + 1];
        size_t nc = 0;
        for (int off = 0; off < N; off += 120, nc++) {
            int cnt = N - off < 120 ? N - off : 120;
            chunk_enc_init(&enc[nc]);
            for (int i = 0; i < cnt; i++)
                chunk_enc_append(&enc[nc], t[off + i], v[s][off + i]);
            cs[nc] = (struct block_chunk){
                t[off],        t[off + cnt - 1], enc[nc].buf,      chunk_enc_len(&enc[nc]),
                (uint16_t)cnt, BLOCK_KIND_RAW,   BLOCK_ENC_GORILLA};
        }
        char sv[16];
        snprintf(sv, sizeof sv, "%d", s);
        struct label ls[2] = {{"__name__", "d"}, {"s", sv}};
        assert_int_equal(block_writer_add(w, ls, 2, cs, nc, &err), 0);
        for (size_t i = 0; i < nc; i++)
            chunk_enc_free(&enc[i]);
    }
    assert_int_equal(block_writer_commit(w, &meta, &err), 0);
    snprintf(path, sizeof path, "%s/0000000000000007", dir);
    struct block *b;
    assert_int_equal(block_open(path, &b, &err), 0);
    int64_t *gt = xmalloc(N * sizeof *gt);
    double *gv = xmalloc(N * sizeof *gv);
    for (uint32_t s = 0; s < SERIES; s++) {
        struct label ls[4];
        uint32_t nc;
        assert_int_equal(block_series_labels(b, s, ls, &nc), 2);
        assert_int_equal(nc, 2); /* 5000 samples: 4096 + 904 */
        size_t n = 0;
        for (uint32_t j = 0; j < nc; j++) {
            struct block_chunk c;
            assert_int_equal(block_series_chunk(b, s, j, &c), 0);
            assert_int_equal(c.enc, BLOCK_ENC_PLANES);
            int got = block_chunk_decode(&c, gt + n, gv + n);
            assert_int_equal(got, c.count);
            n += (size_t)got;
        }
        assert_int_equal(n, N);
        for (int i = 0; i < N; i++) {
            assert_int_equal(gt[i], t[i]);
            assert_int_equal(dbits(gv[i]), dbits(v[s][i]));
        }
    }
    block_close(b);
    free(gt);
    free(gv);
    free(t);
    for (int s = 0; s < SERIES; s++)
        free(v[s]);
    unit_rm_rf(dir);
}

/* The kept fixture tests/data/tsdb-block-v1 was written by the format 1
 * writer: series fx{i="0".."2"}, 300 samples each at 10 s from T0, value
 * i * 100 + (k % 50) * 0.25. It stays readable, and a compaction of it
 * writes a format 2 block with the same samples. */
static void check_fixture(struct block *b)
{
    assert_int_equal(block_num_series(b), 3);
    int64_t t[300];
    double v[300];
    for (uint32_t s = 0; s < 3; s++) {
        struct label ls[4];
        uint32_t nc;
        assert_int_equal(block_series_labels(b, s, ls, &nc), 2);
        assert_string_equal(ls[0].value, "fx");
        size_t n = 0;
        for (uint32_t j = 0; j < nc; j++) {
            struct block_chunk c;
            assert_int_equal(block_series_chunk(b, s, j, &c), 0);
            assert_true(n + c.count <= 300);
            assert_int_equal(block_chunk_decode(&c, t + n, v + n), c.count);
            n += c.count;
        }
        assert_int_equal(n, 300);
        for (int k = 0; k < 300; k++) {
            assert_int_equal(t[k], T0 + k * 10000LL);
            assert_true(v[k] == s * 100 + (k % 50) * 0.25);
        }
    }
    struct matcher *m;
    struct saba_err err = {0};
    assert_int_equal(matcher_new(MATCH_EQ, "i", "1", &m, &err), 0);
    struct series_set out = {0};
    assert_int_equal(
        block_select(b, &m, 1, T0 + 10000, T0 + 20000, true, BLOCK_KIND_RAW, &out, &err), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].n, 2);
    assert_true(out.v[0].v[1] == 100.5);
    series_set_free(&out);
    matcher_free(m);
}

static void test_v1_block_readable(void **state)
{
    (void)state;
    char dir[64], path[128];
    unit_mkdtemp(dir);
    struct block *b, *b2;
    struct saba_err err = {0};
    assert_int_equal(block_open("tests/data/tsdb-block-v1", &b, &err), 0);
    assert_int_equal(block_version(b), 1);
    check_fixture(b);
    struct block_meta meta;
    assert_int_equal(compact_merge(&b, 1, dir, 9, INT64_MIN, &meta, &err), 0);
    block_close(b);
    snprintf(path, sizeof path, "%s/0000000000000009", dir);
    assert_int_equal(block_open(path, &b2, &err), 0);
    assert_int_equal(block_version(b2), 2);
    check_fixture(b2);
    block_close(b2);
    unit_rm_rf(dir);
}

/* Many series fill several packs: every series reads back, from a cold and
 * a warm pack cache, and a flipped byte inside a pack is caught by the
 * pack's checksum: that series fails, the block is marked corrupt. */
static void test_packs_roundtrip_and_corrupt_pack(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64], path[160];
    unit_mkdtemp(dir);
    enum { SERIES = 200, N = 600 };
    struct block_meta meta = {.seq = 3};
    struct block_writer *w;
    struct saba_err err = {0};
    assert_int_equal(block_writer_new(dir, &meta, &w, &err), 0);
    uint64_t rnd = 2463534242ull;
    for (int s = 0; s < SERIES; s++) {
        struct chunk_enc enc[N / 120];
        struct block_chunk cs[N / 120];
        for (int c = 0; c < N / 120; c++) {
            chunk_enc_init(&enc[c]);
            for (int i = c * 120; i < c * 120 + 120; i++) {
                rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
                chunk_enc_append(&enc[c], T0 + i * 10000LL, s + (double)(rnd % 100000) / 1000);
            }
            cs[c] = (struct block_chunk){T0 + c * 1200000LL,     enc[c].t, enc[c].buf,
                                         chunk_enc_len(&enc[c]), 120,      BLOCK_KIND_RAW,
                                         BLOCK_ENC_GORILLA};
        }
        char sv[16];
        snprintf(sv, sizeof sv, "%04d", s);
        struct label ls[2] = {{"__name__", "p"}, {"s", sv}};
        assert_int_equal(block_writer_add(w, ls, 2, cs, N / 120, &err), 0);
        for (int c = 0; c < N / 120; c++)
            chunk_enc_free(&enc[c]);
    }
    assert_int_equal(block_writer_commit(w, &meta, &err), 0);
    snprintf(path, sizeof path, "%s/0000000000000003", dir);
    int64_t t[N];
    double v[N];
    for (int pass = 0; pass < 2; pass++) {
        struct block *b;
        assert_int_equal(block_open(path, &b, &err), 0);
        for (int rep = 0; rep < 2; rep++) /* cold, then warm cache */
            for (uint32_t s = 0; s < SERIES; s++) {
                uint32_t nc;
                struct label ls[4];
                assert_int_equal(block_series_labels(b, s, ls, &nc), 2);
                assert_int_equal(nc, 1);
                struct block_chunk c;
                int rc = block_series_chunk(b, s, 0, &c);
                if (pass == 1 && rc != 0) {
                    assert_int_equal(rc, SABA_ECORRUPT);
                    assert_true(block_is_corrupt(b));
                    goto corrupt_seen;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(block_chunk_decode(&c, t, v), N);
                assert_int_equal(t[N - 1], T0 + (N - 1) * 10000LL);
                assert_true(v[0] >= s && v[0] < s + 100);
            }
        assert_int_equal(pass, 0); /* the corruption must be seen */
        block_close(b);
        /* flip a byte in the middle of the chunks file: inside some pack */
        snprintf(path + strlen(path), sizeof path - strlen(path), "/chunks");
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        off_t size = lseek(fd, 0, SEEK_END);
        assert_true(size > 4 * 65536 / 4); /* several packs */
        uint8_t byte;
        assert_int_equal(pread(fd, &byte, 1, size / 2), 1);
        byte ^= 0x20;
        assert_int_equal(pwrite(fd, &byte, 1, size / 2), 1);
        close(fd);
        path[strlen(path) - strlen("/chunks")] = 0;
        continue;
    corrupt_seen:
        block_close(b);
        break;
    }
    unit_rm_rf(dir);
}

/* A block with several chunk kinds (as rollup blocks have) keeps one pack
 * per kind: the packs fill at different rates (the kinds' values differ in
 * size), their offsets are patched into the references when each is
 * written, and every series' every kind reads back. */
static void test_packs_per_kind(void **state)
{
    (void)state;
    char dir[64], path[160];
    unit_mkdtemp(dir);
    enum { SERIES = 300, N = 200 };
    struct block_meta meta = {.seq = 4, .resolution_ms = 60000};
    struct block_writer *w;
    struct saba_err err = {0};
    assert_int_equal(block_writer_new(dir, &meta, &w, &err), 0);
    for (int s = 0; s < SERIES; s++) {
        struct chunk_enc enc[3];
        struct block_chunk cs[3];
        for (int k = 0; k < 3; k++) {
            chunk_enc_init(&enc[k]);
            for (int i = 0; i < N; i++) /* kind 1 small integers, 2 and 3 noisier decimals */
                chunk_enc_append(&enc[k], T0 + i * MIN,
                                 k == 0 ? s
                                        : s * 1000 + (double)((i * 7919 * (k + 1)) % 10007) / 100);
            cs[k] = (struct block_chunk){T0,
                                         T0 + (N - 1) * MIN,
                                         enc[k].buf,
                                         chunk_enc_len(&enc[k]),
                                         N,
                                         (uint8_t)(BLOCK_KIND_MIN + k),
                                         BLOCK_ENC_GORILLA};
        }
        char sv[16];
        snprintf(sv, sizeof sv, "%04d", s);
        struct label ls[2] = {{"__name__", "r"}, {"s", sv}};
        assert_int_equal(block_writer_add(w, ls, 2, cs, 3, &err), 0);
        for (int k = 0; k < 3; k++)
            chunk_enc_free(&enc[k]);
    }
    assert_int_equal(block_writer_commit(w, &meta, &err), 0);
    snprintf(path, sizeof path, "%s/0000000000000004", dir);
    struct block *b;
    assert_int_equal(block_open(path, &b, &err), 0);
    int64_t t[N];
    double v[N];
    for (int k = 0; k < 3; k++) {
        struct series_set out = {0};
        assert_int_equal(
            block_select(b, NULL, 0, ALL, true, (enum block_kind)(BLOCK_KIND_MIN + k), &out, &err),
            0);
        assert_int_equal(out.n, SERIES);
        for (size_t s = 0; s < out.n; s++) {
            assert_int_equal(out.v[s].n, N);
            for (int i = 0; i < N; i++)
                assert_true(
                    out.v[s].v[i] ==
                    (k == 0 ? (double)s : s * 1000 + (double)((i * 7919 * (k + 1)) % 10007) / 100));
        }
        series_set_free(&out);
    }
    /* and by position, kind by kind within a series */
    for (uint32_t s = 0; s < SERIES; s += 37) {
        struct label ls[4];
        uint32_t nc;
        assert_int_equal(block_series_labels(b, s, ls, &nc), 2);
        assert_int_equal(nc, 3);
        for (uint32_t j = 0; j < nc; j++) {
            struct block_chunk c;
            assert_int_equal(block_series_chunk(b, s, j, &c), 0);
            assert_int_equal(c.kind, BLOCK_KIND_MIN + j);
            assert_int_equal(block_chunk_decode(&c, t, v), N);
            assert_int_equal(t[N - 1], T0 + (N - 1) * MIN);
        }
    }
    block_close(b);
    unit_rm_rf(dir);
}

/* Samples of series "1" in [lo, hi] are gone from head and blocks at once,
 * after a restart (WAL record + tombstones) and after compaction applied the
 * tombstones; other series keep everything. */
static void check_deleted(struct storage *st, int64_t lo, int64_t hi, int hours)
{
    struct series_set out = {0};
    struct saba_err err = {0};
    assert_int_equal(st->ops->select(st, NULL, 0, ALL, true, &out, &err), 0);
    assert_int_equal(out.n, NSERIES);
    for (size_t i = 0; i < out.n; i++) {
        bool victim = !strcmp(labels_get(&out.v[i].labels, "s"), "1");
        size_t k = 0;
        for (int m = 0; m < hours * 60; m++) {
            int64_t t = T0 + (int64_t)m * MIN;
            if (victim && t >= lo && t <= hi)
                continue;
            assert_true(k < out.v[i].n);
            assert_int_equal(out.v[i].t[k], t);
            assert_true(out.v[i].v[k] == (double)m);
            k++;
        }
        assert_int_equal(out.v[i].n, k);
    }
    series_set_free(&out);
}

static void test_delete_series(void **state)
{
    (void)state;
    unit_quiet_logs();
    char dir[64];
    unit_mkdtemp(dir);
    struct storage *st = db_open(dir);
    for (int h = 0; h < 4; h++)
        assert_int_equal(append_hour(st, h), 0);
    maintain(st, false); /* hours 0-2 in blocks, 3 in the head */
    struct matcher *m;
    struct saba_err err = {0};
    assert_int_equal(matcher_new(MATCH_EQ, "s", "1", &m, &err), 0);
    int64_t lo = T0 + HOUR + 10 * MIN, hi = T0 + 3 * HOUR + 20 * MIN;
    assert_int_equal(st->ops->delete_series(st, &m, 1, lo, hi, &err), 0);
    matcher_free(m);
    check_deleted(st, lo, hi, 4);
    storage_close(st);
    st = db_open(dir);
    check_deleted(st, lo, hi, 4);
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    uint64_t before = bs.compactions;
    maintain(st, false); /* applies the tombstones */
    tsdb_block_stats(st, &bs);
    assert_true(bs.compactions > before);
    assert_int_equal(bs.block_samples, 3 * 60 * NSERIES - (3 * 60 - 70));
    check_deleted(st, lo, hi, 4);
    storage_close(st);
    st = db_open(dir);
    check_deleted(st, lo, hi, 4);
    storage_close(st);
    unit_rm_rf(dir);
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Rollup chunks give back every aggregate bit for bit: decimals, sums that
 * are not short decimals (XOR columns), NaN, gaps between buckets, last
 * times before the bucket end; only the columns asked for are written. */
static void test_rollup_chunk_roundtrip(void **state)
{
    (void)state;
    const int64_t R = 3600000;
    struct rollup_point p[300];
    size_t n = 0;
    for (int64_t k = 1; n < 300; k++) {
        if (k % 7 == 3)
            continue; /* a bucket without samples */
        double v = (double)(k % 97) / 100 + 10;
        /* sums of decimals are decimals but for their rounding (v + 0.1 + 0.2) */
        p[n] = (struct rollup_point){k * R, v - 0.25, v + 0.5, v + 0.1 + 0.2, 4, v, k * R};
        if (k % 11 == 0)
            p[n].last_t = k * R - 900000;
        if (k == 40)
            p[n].max = NAN;
        n++;
    }
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    struct buf raw = BUF_INIT, out = BUF_INIT;
    assert_int_equal(rollup_chunk_encode(zc, p, n, R, &raw, &out), 0);
    int64_t t[300];
    double col[RC_NCOLS][300];
    double *cols[RC_NCOLS];
    for (int c = 0; c < RC_NCOLS; c++)
        cols[c] = col[c];
    assert_int_equal(rollup_chunk_decode((const uint8_t *)out.data, out.len, n, t, cols), (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i], p[i].t);
        assert_true(same_bits(col[RC_MIN][i], p[i].min));
        assert_true(same_bits(col[RC_MAX][i], p[i].max));
        assert_true(same_bits(col[RC_SUM][i], p[i].sum));
        assert_true(same_bits(col[RC_COUNT][i], p[i].count));
        assert_true(same_bits(col[RC_LAST][i], p[i].last));
        assert_int_equal((int64_t)col[RC_LAST_T][i], p[i].last_t);
    }
    /* only max and the last time */
    double *some[RC_NCOLS] = {NULL};
    double mx[300], lt[300];
    some[RC_MAX] = mx;
    some[RC_LAST_T] = lt;
    assert_int_equal(rollup_chunk_decode((const uint8_t *)out.data, out.len, n, t, some), (int)n);
    assert_true(same_bits(mx[7], p[7].max) && lt[10] == (double)p[10].last_t);
    /* a wrong count, a cut frame and garbage are refused */
    assert_int_equal(rollup_chunk_decode((const uint8_t *)out.data, out.len, n - 1, t, cols), -1);
    assert_int_equal(rollup_chunk_decode((const uint8_t *)out.data, out.len - 1, n, t, cols), -1);
    uint8_t junk[64] = {1, 2, 3};
    assert_int_equal(rollup_chunk_decode(junk, sizeof junk, 4, t, cols), -1);
    /* steady buckets compress: stored as a zstd frame, read back the same */
    for (size_t i = 0; i < n; i++)
        p[i] = (struct rollup_point){(int64_t)(i + 1) * R, 1, 2, 6, 4, 1.5, (int64_t)(i + 1) * R};
    assert_int_equal(rollup_chunk_encode(zc, p, n, R, &raw, &out), 0);
    assert_true(out.len < raw.len / 2 && load_u32le((const uint8_t *)out.data) == 0xFD2FB528u);
    assert_int_equal(rollup_chunk_decode((const uint8_t *)out.data, out.len, n, t, cols), (int)n);
    assert_true(t[n - 1] == (int64_t)n * R && col[RC_SUM][9] == 6 && col[RC_LAST][3] == 1.5);
    /* points the layout cannot hold are left to the caller */
    p[5].t += 1;
    assert_int_equal(rollup_chunk_encode(zc, p, n, R, &raw, &out), -1);
    p[5].t -= 1;
    p[6].count = 2.5;
    assert_int_equal(rollup_chunk_encode(zc, p, n, R, &raw, &out), -1);
    buf_free(&raw);
    buf_free(&out);
    ZSTD_freeCCtx(zc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_checkpoint_and_restart),
        cmocka_unit_test(test_select_each_matches_select),
        cmocka_unit_test(test_compaction_merges_windows),
        cmocka_unit_test(test_out_of_order_overlap_is_merged),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_faults_write),
        cmocka_unit_test(test_faults_torn_write_enospc),
        cmocka_unit_test(test_faults_fsync),
        cmocka_unit_test(test_faults_rename),
        cmocka_unit_test(test_corrupt_block_skipped),
        cmocka_unit_test(test_corrupt_chunk_skipped),
        cmocka_unit_test(test_garbage_is_refused),
        cmocka_unit_test(test_checkpoint_chunk_checked),
        cmocka_unit_test(test_checkpoint_chunks_mapped),
        cmocka_unit_test(test_checkpoint_v1_readable),
        cmocka_unit_test(test_checkpoint_duplicate_series_refused),
        cmocka_unit_test(test_checkpoint_big_checked_aside),
        cmocka_unit_test(test_dense_roundtrip),
        cmocka_unit_test(test_rollup_chunk_roundtrip),
        cmocka_unit_test(test_delete_series),
        cmocka_unit_test(test_v1_block_readable),
        cmocka_unit_test(test_packs_roundtrip_and_corrupt_pack),
        cmocka_unit_test(test_packs_per_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
