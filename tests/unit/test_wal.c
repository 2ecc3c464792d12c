/*
 * test_wal.c - unit tests for the write-ahead log (src/storage/tsdb/wal.h).
 */
#include <dirent.h>
#include <fcntl.h>
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
#include "storage/tsdb/wal.h"

#include "unit.h"

/* ---- fixtures ---- */

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof *f);
    unit_mkdtemp(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unit_rm_rf(f->dir);
    free(f);
    return 0;
}

/* The replay callback records every payload it sees. */
struct seen {
    char **p;
    size_t *n;
    size_t count, cap;
    int fail_on; /* return non-zero for this record index (or -1) */
};

static int record_cb(void *ctx, const uint8_t *payload, size_t n)
{
    struct seen *s = ctx;
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->p = xrealloc(s->p, s->cap * sizeof *s->p);
        s->n = xrealloc(s->n, s->cap * sizeof *s->n);
    }
    s->p[s->count] = xmalloc(n ? n : 1);
    memcpy(s->p[s->count], payload, n);
    s->n[s->count] = n;
    return (int)s->count++ == s->fail_on ? -1 : 0;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->p[i]);
    free(s->p);
    free(s->n);
    memset(s, 0, sizeof *s);
    s->fail_on = -1;
}

/* Deterministic payload i: "rec-<i>-" padded to len bytes. */
static size_t make_payload(int i, char *out, size_t len)
{
    int n = snprintf(out, len, "rec-%d-", i);
    for (size_t k = (size_t)n; k < len; k++)
        out[k] = (char)('a' + (i + (int)k) % 26);
    return len;
}

static size_t payload_len(int i)
{
    return 20 + (size_t)(i * 37) % 150;
}

static void assert_payload(const struct seen *s, size_t idx, int i)
{
    char want[256];
    size_t n = make_payload(i, want, payload_len(i));
    assert_true(idx < s->count);
    assert_int_equal(s->n[idx], n);
    assert_memory_equal(s->p[idx], want, n);
}

static struct wal *open_wal(const char *dir, int64_t fsync_ms, int64_t seg_bytes, struct seen *s,
                            struct wal_replay_stats *st)
{
    struct wal_options o = {.fsync_interval_ms = fsync_ms, .segment_bytes = seg_bytes};
    struct wal *w = NULL;
    struct saba_err err = {0};
    int rc = wal_open(dir, &o, record_cb, s, st, &w, &err);
    if (rc != 0)
        fprintf(stderr, "wal_open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(w);
    return w;
}

static void append_range(struct wal *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        char p[256];
        size_t n = make_payload(i, p, payload_len(i));
        uint64_t lsn = 0;
        struct saba_err err = {0};
        assert_int_equal(wal_append(w, p, n, &lsn, &err), 0);
        assert_true(lsn > 0);
        assert_int_equal(wal_sync(w, lsn, &err), 0);
    }
}

static uint64_t bytes_for(int from, int to)
{
    uint64_t total = 0;
    for (int i = from; i < to; i++)
        total += WAL_HEADER_BYTES + payload_len(i);
    return total;
}

/* Sorted segment file paths in dir. */
static size_t list_segments(const char *dir, char out[][128], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && n < max) {
            int len = snprintf(out[n++], 128, "%s/%s", dir, de->d_name);
            assert_true(len > 0 && len < 128);
        }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(out[j - 1], out[j]) > 0; j--) {
            char tmp[128];
            memcpy(tmp, out[j], 128);
            memcpy(out[j], out[j - 1], 128);
            memcpy(out[j - 1], tmp, 128);
        }
    return n;
}

static void append_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ---- tests ---- */

static void test_append_reopen_replays_in_order(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(wal_size(w), 0);
    append_range(w, 0, 100);
    assert_int_equal(wal_size(w), bytes_for(0, 100));
    wal_close(w);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 100);
    for (int i = 0; i < 100; i++)
        assert_payload(&s, (size_t)i, i);
    assert_int_equal(st.records, 100);
    assert_int_equal(st.bytes, bytes_for(0, 100));
    assert_int_equal(st.truncated_bytes, 0);
    assert_int_equal(st.corrupt_segments, 0);
    assert_int_equal(wal_size(w), bytes_for(0, 100));

    /* appends after a replay follow the old records */
    append_range(w, 100, 110);
    wal_close(w);
    seen_free(&s);
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 110);
    for (int i = 0; i < 110; i++)
        assert_payload(&s, (size_t)i, i);
    wal_close(w);
    seen_free(&s);
}

static void test_null_callback_and_stats(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_options o = {0};
    struct wal *w = NULL;
    struct saba_err err = {0};
    assert_int_equal(wal_open(f->dir, &o, NULL, NULL, NULL, &w, &err), 0);
    uint64_t lsn1 = 0, lsn2 = 0;
    assert_int_equal(wal_append(w, "x", 1, &lsn1, &err), 0);
    assert_int_equal(wal_append(w, "yz", 2, &lsn2, &err), 0);
    assert_true(lsn2 > lsn1);
    assert_int_equal(wal_flush(w, &err), 0);
    wal_close(w);
    w = open_wal(f->dir, 0, 0, &s, NULL);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.n[0], 1);
    assert_memory_equal(s.p[0], "x", 1);
    assert_memory_equal(s.p[1], "yz", 2);
    wal_close(w);
    wal_close(NULL);
    seen_free(&s);
}

static void test_torn_tail_truncated_mid_record(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 10);
    wal_close(w);

    char segs[8][128];
    assert_int_equal(list_segments(f->dir, segs, 8), 1);
    uint64_t full = bytes_for(0, 10);
    assert_int_equal(unit_file_size(segs[0]), (long)full);
    /* cut the last record in the middle of its payload */
    uint64_t cut = full - payload_len(9) / 2;
    assert_int_equal(truncate(segs[0], (off_t)cut), 0);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 9);
    for (int i = 0; i < 9; i++)
        assert_payload(&s, (size_t)i, i);
    assert_int_equal(st.records, 9);
    assert_int_equal(st.truncated_bytes, cut - bytes_for(0, 9));
    assert_int_equal(unit_file_size(segs[0]), (long)bytes_for(0, 9));
    assert_int_equal(wal_size(w), bytes_for(0, 9));
    /* later appends replay fine */
    append_range(w, 100, 105);
    wal_close(w);
    seen_free(&s);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 14);
    for (int i = 0; i < 9; i++)
        assert_payload(&s, (size_t)i, i);
    for (int i = 0; i < 5; i++)
        assert_payload(&s, (size_t)(9 + i), 100 + i);
    assert_int_equal(st.truncated_bytes, 0);
    wal_close(w);
    seen_free(&s);
}

static void test_torn_tail_cut_in_header(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 3);
    wal_close(w);
    char segs[8][128];
    assert_int_equal(list_segments(f->dir, segs, 8), 1);
    /* keep 5 bytes of the last record's 8-byte header */
    assert_int_equal(truncate(segs[0], (off_t)(bytes_for(0, 2) + 5)), 0);
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 2);
    assert_int_equal(st.truncated_bytes, 5);
    append_range(w, 2, 3);
    wal_close(w);
    seen_free(&s);
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 3);
    for (int i = 0; i < 3; i++)
        assert_payload(&s, (size_t)i, i);
    wal_close(w);
    seen_free(&s);
}

static void test_garbage_tail_truncated(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 5);
    wal_close(w);
    char segs[8][128];
    assert_int_equal(list_segments(f->dir, segs, 8), 1);
    /* a header that claims 64 bytes, a wrong CRC and a partial payload */
    const char garbage[] = "\x40\x00\x00\x00\xde\xad\xbe\xefpartial record";
    append_bytes(segs[0], garbage, sizeof garbage - 1);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 5);
    assert_int_equal(st.truncated_bytes, sizeof garbage - 1);
    assert_int_equal(unit_file_size(segs[0]), (long)bytes_for(0, 5));
    append_range(w, 5, 8);
    wal_close(w);
    seen_free(&s);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 8);
    for (int i = 0; i < 8; i++)
        assert_payload(&s, (size_t)i, i);
    assert_int_equal(st.truncated_bytes, 0);
    wal_close(w);
    seen_free(&s);

    /* a complete-looking record with a huge length field */
    uint8_t big[16] = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 'x', 'y', 'z'};
    append_bytes(segs[0], big, sizeof big);
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 8);
    assert_int_equal(st.truncated_bytes, sizeof big);
    wal_close(w);
    seen_free(&s);
}

/* Regression test (was a bug): a tail of zero bytes (what a crash leaves when the file size was
 * extended but the data blocks never reached the disk, common on ext4/XFS)
 * is a torn tail, but wal_scan accepts an all-zero header as a valid empty
 * record (length 0, CRC32C("") == 0). The zeros are replayed as empty
 * records (the tsdb logs one "WAL record does not decode" per 8 bytes, on
 * every restart), never truncated, and new records are appended after them. */
static void test_zero_filled_tail_truncated(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 4);
    wal_close(w);
    char segs[8][128];
    assert_int_equal(list_segments(f->dir, segs, 8), 1);
    uint8_t zeros[4096] = {0};
    append_bytes(segs[0], zeros, sizeof zeros);

    w = open_wal(f->dir, 0, 0, &s, &st);
    size_t count = s.count;
    uint64_t truncated = st.truncated_bytes;
    long size = unit_file_size(segs[0]);
    wal_close(w);
    seen_free(&s);
    assert_int_equal(count, 4);
    assert_int_equal(truncated, sizeof zeros);
    assert_int_equal(size, (long)bytes_for(0, 4));
}

static void test_corrupt_crc_in_last_record_dropped(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 6);
    wal_close(w);
    char segs[8][128];
    assert_int_equal(list_segments(f->dir, segs, 8), 1);

    /* flip one payload byte of the last record */
    int fd = open(segs[0], O_RDWR);
    assert_true(fd >= 0);
    off_t at = (off_t)(bytes_for(0, 5) + WAL_HEADER_BYTES + 3);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);

    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 5);
    for (int i = 0; i < 5; i++)
        assert_payload(&s, (size_t)i, i);
    assert_int_equal(st.truncated_bytes, WAL_HEADER_BYTES + payload_len(5));
    assert_int_equal(wal_size(w), bytes_for(0, 5));
    append_range(w, 5, 7);
    wal_close(w);
    seen_free(&s);
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 7);
    for (int i = 0; i < 7; i++)
        assert_payload(&s, (size_t)i, i);
    wal_close(w);
    seen_free(&s);
}

static void test_segment_rotation(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 4096, &s, &st);
    append_range(w, 0, 200);
    assert_int_equal(wal_size(w), bytes_for(0, 200));
    wal_close(w);

    char segs[64][128];
    size_t nseg = list_segments(f->dir, segs, 64);
    assert_true(nseg >= 5);
    long total = 0;
    for (size_t i = 0; i < nseg; i++) {
        long sz = unit_file_size(segs[i]);
        assert_true(sz > 0);
        assert_true(sz <= 4096); /* no single record is larger than a segment */
        total += sz;
        /* names are numbered, 8 digits */
        const char *base = strrchr(segs[i], '/') + 1;
        assert_int_equal(strlen(base), 8);
        assert_int_equal(strspn(base, "0123456789"), 8);
    }
    assert_int_equal(total, (long)bytes_for(0, 200));

    w = open_wal(f->dir, 0, 4096, &s, &st);
    assert_int_equal(s.count, 200);
    for (int i = 0; i < 200; i++)
        assert_payload(&s, (size_t)i, i);
    assert_int_equal(st.records, 200);
    assert_int_equal(st.bytes, bytes_for(0, 200));
    assert_int_equal(wal_size(w), bytes_for(0, 200));
    /* more appends continue in the newest segment, then new ones */
    append_range(w, 200, 260);
    assert_int_equal(wal_size(w), bytes_for(0, 260));
    wal_close(w);
    seen_free(&s);

    assert_true(list_segments(f->dir, segs, 64) > nseg);
    w = open_wal(f->dir, 0, 4096, &s, &st);
    assert_int_equal(s.count, 260);
    for (int i = 0; i < 260; i++)
        assert_payload(&s, (size_t)i, i);
    wal_close(w);
    seen_free(&s);
}

static void test_corrupt_record_in_older_segment(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 4096, &s, &st);
    append_range(w, 0, 120);
    wal_close(w);
    char segs[64][128];
    size_t nseg = list_segments(f->dir, segs, 64);
    assert_true(nseg >= 3);
    long first_size = unit_file_size(segs[0]);

    /* corrupt the second record of the first segment */
    int fd = open(segs[0], O_RDWR);
    assert_true(fd >= 0);
    off_t at = (off_t)(bytes_for(0, 1) + WAL_HEADER_BYTES);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);

    w = open_wal(f->dir, 0, 4096, &s, &st);
    /* the rest of that segment is skipped, later segments replay, nothing is
     * truncated (only the newest segment's tail may be cut) */
    assert_int_equal(st.corrupt_segments, 1);
    assert_int_equal(st.truncated_bytes, 0);
    assert_int_equal(unit_file_size(segs[0]), first_size);
    assert_payload(&s, 0, 0);
    size_t skipped = 120 - s.count;
    assert_true(skipped >= 2);
    for (size_t k = 1; k < s.count; k++)
        assert_payload(&s, k, (int)(k + skipped));
    assert_payload(&s, s.count - 1, 119);
    assert_int_equal(wal_size(w), bytes_for(0, 120));
    wal_close(w);
    seen_free(&s);
}

static void test_callback_failure_does_not_stop_replay(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    struct wal *w = open_wal(f->dir, 0, 0, &s, &st);
    append_range(w, 0, 10);
    wal_close(w);
    s.fail_on = 3;
    w = open_wal(f->dir, 0, 0, &s, &st);
    assert_int_equal(s.count, 10);
    assert_int_equal(st.records, 10);
    assert_int_equal(st.truncated_bytes, 0);
    for (int i = 0; i < 10; i++)
        assert_payload(&s, (size_t)i, i);
    wal_close(w);
    seen_free(&s);
}

static void test_fsync_interval(void **state)
{
    struct fx *f = *state;
    struct seen s = {.fail_on = -1};
    struct wal_replay_stats st;
    /* a background flusher with a short interval */
    struct wal *w = open_wal(f->dir, 5, 4096, &s, &st);
    append_range(w, 0, 50);
    usleep(20000); /* let the flusher run at least once */
    append_range(w, 50, 80);
    struct saba_err err = {0};
    assert_int_equal(wal_flush(w, &err), 0);
    assert_int_equal(wal_size(w), bytes_for(0, 80));
    wal_close(w);
    w = open_wal(f->dir, 1000, 4096, &s, &st);
    assert_int_equal(s.count, 80);
    for (int i = 0; i < 80; i++)
        assert_payload(&s, (size_t)i, i);
    /* a long interval: close still makes everything durable and stops the thread */
    append_range(w, 80, 90);
    wal_close(w);
    seen_free(&s);
    w = open_wal(f->dir, 0, 4096, &s, &st);
    assert_int_equal(s.count, 90);
    wal_close(w);
    seen_free(&s);
}

static void test_wal_creates_directory(void **state)
{
    struct fx *f = *state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/wal", f->dir);
    struct seen s = {.fail_on = -1};
    struct wal *w = open_wal(sub, 0, 0, &s, NULL);
    append_range(w, 0, 2);
    wal_close(w);
    w = open_wal(sub, 0, 0, &s, NULL);
    assert_int_equal(s.count, 2);
    wal_close(w);
    seen_free(&s);

    /* a path whose parent does not exist */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir", f->dir);
    struct wal_options o = {0};
    struct saba_err err = {0};
    w = NULL;
    assert_int_equal(wal_open(bad, &o, record_cb, &s, NULL, &w, &err), SABA_EIO);
    assert_null(w);
    assert_true(strlen(err.msg) > 0);
}

/* ---- wal_scan on buffers ---- */

static void build_image(struct buf *b, int n)
{
    for (int i = 0; i < n; i++) {
        char p[256];
        size_t len = make_payload(i, p, payload_len(i));
        buf_put_u32le(b, (uint32_t)len);
        buf_put_u32le(b, crc32c(0, p, len));
        buf_append(b, p, len);
    }
}

static void test_wal_scan(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    build_image(&b, 5);
    assert_int_equal(b.len, bytes_for(0, 5));

    struct seen s = {.fail_on = -1};
    uint64_t records = 0;
    assert_int_equal(wal_scan((const uint8_t *)b.data, b.len, record_cb, &s, &records), b.len);
    assert_int_equal(records, 5);
    assert_int_equal(s.count, 5);
    for (int i = 0; i < 5; i++)
        assert_payload(&s, (size_t)i, i);
    seen_free(&s);

    /* records is optional, fn is optional */
    assert_int_equal(wal_scan((const uint8_t *)b.data, b.len, NULL, NULL, NULL), b.len);
    assert_int_equal(wal_scan(NULL, 0, NULL, NULL, NULL), 0);

    /* every truncation returns the intact prefix, read from an exact-size copy */
    for (size_t cut = 0; cut <= b.len; cut++) {
        uint8_t *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        uint64_t want = 0;
        for (int i = 0; i < 5; i++)
            if (bytes_for(0, i + 1) <= cut)
                want = bytes_for(0, i + 1);
        records = 0;
        assert_int_equal(wal_scan(copy, cut, NULL, NULL, &records), want);
        free(copy);
    }

    /* a bad CRC in record 3 stops the scan there */
    uint8_t *img = xmalloc(b.len);
    memcpy(img, b.data, b.len);
    img[bytes_for(0, 2) + 4] ^= 1;
    records = 0;
    assert_int_equal(wal_scan(img, b.len, NULL, NULL, &records), bytes_for(0, 2));
    assert_int_equal(records, 2);
    /* a length field beyond WAL_MAX_RECORD_BYTES is corruption */
    memcpy(img, b.data, b.len);
    img[bytes_for(0, 1) + 3] = 0x7f;
    assert_int_equal(wal_scan(img, b.len, NULL, NULL, NULL), bytes_for(0, 1));
    /* a length pointing past the end */
    memcpy(img, b.data, b.len);
    img[bytes_for(0, 4)] = 0xff;
    assert_int_equal(wal_scan(img, b.len, NULL, NULL, NULL), bytes_for(0, 4));
    free(img);
    buf_free(&b);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen_replays_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_callback_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_truncated_mid_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_cut_in_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_tail_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_filled_tail_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_crc_in_last_record_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_in_older_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_failure_does_not_stop_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fsync_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_creates_directory, setup, teardown),
        cmocka_unit_test(test_wal_scan),
    };
    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
