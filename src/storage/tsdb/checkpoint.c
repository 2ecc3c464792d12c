/*
 * checkpoint.c - writing and loading WAL checkpoints (see checkpoint.h).
 *
 * The checkpoint stores chunks as they are in the head (Gorilla bytes), each
 * behind a header laid out as the head's closed chunks are. Loading maps the
 * file and hands the mapping to the head, which uses the chunks where they
 * lie: a restart neither re-encodes nor copies a million chunks, and their
 * memory is page cache the kernel already holds (the file was just written
 * or read).
 */
#include "storage/tsdb/checkpoint.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/par.h"
#include "storage/tsdb/chunk.h"
#include "storage/tsdb/fileops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define CKPT_MAGIC 0x50434253u /* "SBCP" */
#define CKPT_V1    1           /* chunk records unaligned, u32 count: still read */
#define CKPT_V2    2           /* chunk records 8-byte aligned, in the head's layout */
#define CKPT_HDR   16

struct wctx {
    struct fops_out o;
    uint64_t nseries;
};

static int put_series(void *arg, const struct head_series_view *s)
{
    struct wctx *c = arg;
    struct fops_out *o = &c->o;
    int rc = fops_out_u32(o, s->id);
    rc |= fops_out_u32(o, (uint32_t)s->nls);
    for (size_t i = 0; i < s->nls && !rc; i++) {
        uint32_t nn = (uint32_t)strlen(s->ls[i].name), vn = (uint32_t)strlen(s->ls[i].value);
        rc |= fops_out_u32(o, nn);
        rc |= fops_out_put(o, s->ls[i].name, nn);
        rc |= fops_out_u32(o, vn);
        rc |= fops_out_put(o, s->ls[i].value, vn);
    }
    rc |= fops_out_u32(o, (uint32_t)s->nchunks);
    static const uint8_t zeros[8];
    for (size_t k = 0; k < s->nchunks && !rc; k++) {
        const struct block_chunk *ch = &s->chunks[k];
        rc |= fops_out_put(o, zeros, (8 - o->off % 8) % 8);
        rc |= fops_out_u64(o, (uint64_t)ch->mint);
        rc |= fops_out_u64(o, (uint64_t)ch->maxt);
        rc |= fops_out_u32(o, ch->nbytes);
        /* u16 count, u8 kind, u8 zero */
        rc |= fops_out_u32(o, ch->count | (uint32_t)HEAD_CHUNK_RECORD_MAPPED << 16);
        rc |= fops_out_put(o, ch->data, ch->nbytes);
    }
    c->nseries++;
    return rc ? -1 : 0;
}

static void remove_old(const char *waldir, uint32_t keep)
{
    DIR *d = opendir(waldir);
    if (!d)
        return;
    struct dirent *de;
    struct buf p = BUF_INIT;
    while ((de = readdir(d))) {
        unsigned n;
        char tail;
        if (sscanf(de->d_name, "checkpoint.%8u%c", &n, &tail) != 1 || n == keep)
            continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", waldir, de->d_name);
        fops->unlink(p.data);
    }
    closedir(d);
    buf_free(&p);
}

int checkpoint_write(const char *waldir, uint32_t seg, int64_t cut_t, struct head *h,
                     struct saba_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "checkpoint.%08u", seg);
    struct buf tmp = BUF_INIT, dst = BUF_INIT;
    buf_printf(&tmp, "%s/%s.tmp", waldir, name);
    buf_printf(&dst, "%s/%s", waldir, name);
    struct wctx c = {.o = {.fd = -1}};
    int rc = 0;
    c.o.fd = fops->open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (c.o.fd < 0)
        goto ioerr;
    fops_out_u32(&c.o, CKPT_MAGIC);
    fops_out_u32(&c.o, CKPT_V2);
    fops_out_u64(&c.o, (uint64_t)cut_t);
    if (head_visit(h, INT64_MIN, INT64_MAX, false, put_series, &c) != 0)
        goto ioerr;
    /* trailer: series count, CRC of everything before it */
    if (fops_out_u64(&c.o, c.nseries) || fops_out_flush(&c.o) || fops_out_u32(&c.o, c.o.crc) ||
        fops_out_flush(&c.o) || fops->fsync(c.o.fd))
        goto ioerr;
    fops->close(c.o.fd);
    c.o.fd = -1;
    if (fops->rename(tmp.data, dst.data) != 0 || fops_fsync_dir(waldir) != 0)
        goto ioerr;
    remove_old(waldir, seg);
    goto out;
ioerr:
    rc = err_set(err, SABA_EIO, 0, "write WAL checkpoint %s: %s", dst.data, strerror(errno));
    if (c.o.fd >= 0)
        fops->close(c.o.fd);
    fops->unlink(tmp.data);
out:
    buf_free(&c.o.b);
    buf_free(&tmp);
    buf_free(&dst);
    return rc;
}

/* Does the chunk decode to exactly count strictly increasing samples from
 * mint to maxt? The head relies on that (head.c invariant 2). Every chunk of
 * a restart passes here, so it decodes with chunk_decode, the fast decoder,
 * into arrays on the stack (count is at most CHUNK_MAX_SAMPLES * 4, checked
 * by the caller). */
static bool chunk_sane(const struct block_chunk *c)
{
    int64_t ts[CHUNK_MAX_SAMPLES * 4];
    double vs[CHUNK_MAX_SAMPLES * 4];
    if (c->count == 0 || c->count > CHUNK_MAX_SAMPLES * 4)
        return false;
    size_t n = chunk_decode(c->data, c->nbytes, c->count, INT64_MIN, INT64_MAX, ts, vs);
    if (n != c->count || ts[0] != c->mint || ts[n - 1] != c->maxt)
        return false;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return false;
    return true;
}

/* One pass over the series of a checkpoint image (bounds checked all the
 * way). With a head, series and chunks go into it; without one, every chunk
 * is decoded and checked against its header (chunk_sane) and nothing is
 * stored. checkpoint_decode runs the two side by side. */
static int walk(const uint8_t *p, size_t n, struct head *h, struct saba_err *err)
{
#define BAD(why) err_set(err, SABA_ECORRUPT, 0, "checkpoint: %s", why)
    bool v2 = load_u32le(p + 4) == CKPT_V2;
    const uint8_t *q = p + CKPT_HDR, *end = p + n - 12;
    uint64_t want = load_u64le(end), got = 0;
    struct head_label ls[256];
    struct block_chunk *cs = NULL;
    size_t ccap = 0;
    uint32_t prev_id = 0;
    int rc = 0;
    if (h) /* a series takes 28 bytes at least: a bad count cannot ask for more */
        head_reserve(h,
                     (uint32_t)(want < (uint64_t)(end - q) / 28 ? want : (uint64_t)(end - q) / 28));
    while (q < end && rc == 0) {
        if (end - q < 8) {
            rc = BAD("truncated series");
            break;
        }
        uint32_t id = load_u32le(q), nl = load_u32le(q + 4);
        q += 8;
        if (nl == 0 || nl > 256) {
            rc = BAD("bad label count");
            break;
        }
        for (uint32_t i = 0; i < nl && rc == 0; i++) {
            for (int k = 0; k < 2; k++) {
                if (end - q < 4 || load_u32le(q) > (uint64_t)(end - q - 4)) {
                    rc = BAD("truncated label");
                    break;
                }
                uint32_t len = load_u32le(q);
                if (k == 0) {
                    ls[i].name = (const char *)q + 4;
                    ls[i].name_len = len;
                } else {
                    ls[i].value = (const char *)q + 4;
                    ls[i].value_len = len;
                }
                q += 4 + len;
            }
        }
        if (rc)
            break;
        /* ids ascend (head_visit order); the bound keeps a corrupt id from
         * sizing the head's slab table beyond what a head can hold */
        if (id >= (1u << 28) || (got && id <= prev_id) ||
            (h && (head_has_series(h, id) || head_series_create(h, id, ls, nl) != 0))) {
            rc = BAD("bad or duplicate series");
            break;
        }
        if (end - q < 4) {
            rc = BAD("truncated chunk count");
            break;
        }
        uint32_t nc = load_u32le(q);
        q += 4;
        if (nc > (uint64_t)(end - q) / 24) {
            rc = BAD("truncated chunk");
            break;
        }
        if (nc > ccap) {
            ccap = nc + 16;
            cs = xrealloc(cs, ccap * sizeof *cs);
        }
        int64_t prev_max = INT64_MIN;
        for (uint32_t k = 0; k < nc; k++) {
            if (v2) /* records start at multiples of 8 (from the image's start) */
                q += (8 - (size_t)(q - p) % 8) % 8;
            if (q > end || end - q < 24) {
                rc = BAD("truncated chunk");
                break;
            }
            struct block_chunk c = {(int64_t)load_u64le(q),
                                    (int64_t)load_u64le(q + 8),
                                    q + 24,
                                    load_u32le(q + 16),
                                    0,
                                    0,
                                    BLOCK_ENC_GORILLA};
            uint32_t cnt = load_u32le(q + 20);
            if (v2) {
                if (q[22] != HEAD_CHUNK_RECORD_MAPPED || q[23] != 0) {
                    rc = BAD("bad chunk kind");
                    break;
                }
                cnt &= 0xffff;
            }
            q += 24;
            if (c.nbytes > (uint64_t)(end - q) || cnt == 0 || cnt > CHUNK_MAX_SAMPLES * 4 ||
                c.mint > c.maxt || c.mint <= prev_max) {
                rc = BAD("bad chunk");
                break;
            }
            c.count = (uint16_t)cnt;
            if (!h && !chunk_sane(&c)) {
                rc = BAD("chunk does not match its header");
                break;
            }
            cs[k] = c;
            prev_max = c.maxt;
            q += c.nbytes;
        }
        if (rc == 0 && h)
            head_load_chunks(h, id, cs, nc);
        got++;
        prev_id = id;
    }
    free(cs);
    if (rc == 0 && got != want)
        rc = BAD("series count mismatch");
#undef BAD
    return rc;
}

/* The checker's half of a load: the CRC, then every chunk. */
struct checkpoint_check {
    const uint8_t *p;
    size_t n;
    struct head *h;
    char *path; /* for messages, or NULL */
    bool threaded;
    pthread_t th;
    int rc;
    struct saba_err err;
};

static void *check_image(void *arg)
{
    struct checkpoint_check *j = arg;
    if (crc32c(0, j->p, j->n - 4) != load_u32le(j->p + j->n - 4))
        j->rc = err_set(&j->err, SABA_ECORRUPT, 0, "checkpoint: checksum mismatch");
    else
        j->rc = walk(j->p, j->n, NULL, &j->err);
    return NULL;
}

/* Images smaller than this are decoded on one thread (tests, fuzzing). */
#define CKPT_PARALLEL_BYTES (4u << 20)

int checkpoint_check_finish(struct checkpoint_check *c, struct saba_err *err)
{
    if (!c)
        return 0;
    if (c->threaded)
        pthread_join(c->th, NULL);
    int rc = c->rc;
    if (rc && c->path)
        err_set(err, rc, 0, "%s: %s", c->path, c->err.msg);
    else if (rc)
        err_set(err, rc, 0, "%s", c->err.msg);
    if (c->path) /* checkpoint_load's: the image may go once its chunks do */
        head_adopt_image(c->h, NULL, 0);
    free(c->path);
    free(c);
    return rc;
}

/* Build h from the image and check it, the check on a second thread for a
 * large image: checking the CRC and every chunk is as much work as building
 * the head. With pending, a successful build returns with the check maybe
 * still running (checkpoint_check_finish has its verdict); else it waits. */
static int decode(const uint8_t *p, size_t n, struct head *h, int64_t *cut_t, char *path,
                  struct checkpoint_check **pending, struct saba_err *err)
{
    struct checkpoint_check *c = xcalloc(1, sizeof *c);
    *c = (struct checkpoint_check){.p = p, .n = n, .h = h, .path = path};
    if (n < CKPT_HDR + 12 || load_u32le(p) != CKPT_MAGIC ||
        (load_u32le(p + 4) != CKPT_V1 && load_u32le(p + 4) != CKPT_V2)) {
        c->rc = err_set(&c->err, SABA_ECORRUPT, 0, "checkpoint: not a checkpoint");
        return checkpoint_check_finish(c, err);
    }
    c->threaded = n >= CKPT_PARALLEL_BYTES && par_threads() > 1 &&
                  pthread_create(&c->th, NULL, check_image, c) == 0;
    if (!c->threaded) {
        check_image(c);
        if (c->rc)
            return checkpoint_check_finish(c, err);
    }
    struct saba_err e2 = {0};
    int rc = walk(p, n, h, &e2);
    if (rc) {
        /* the checker's reason first: a bad CRC explains the rest (and
         * finishing frees path, so the walk's reason is written first) */
        err_set(err, rc, 0, "%s%s%s", path ? path : "", path ? ": " : "", e2.msg);
        checkpoint_check_finish(c, err);
        return rc;
    }
    *cut_t = (int64_t)load_u64le(p + 8);
    if (pending) {
        *pending = c;
        return 0;
    }
    return checkpoint_check_finish(c, err);
}

int checkpoint_decode(const uint8_t *p, size_t n, struct head *h, int64_t *cut_t,
                      struct saba_err *err)
{
    return decode(p, n, h, cut_t, NULL, NULL, err);
}

int checkpoint_load(const char *waldir, struct head *h, int64_t *seg, int64_t *cut_t,
                    struct checkpoint_check **pending, struct saba_err *err)
{
    *seg = -1;
    if (pending)
        *pending = NULL;
    *cut_t = INT64_MIN;
    DIR *d = opendir(waldir);
    if (!d)
        return errno == ENOENT ? 0
                               : err_set(err, SABA_EIO, 0, "open %s: %s", waldir, strerror(errno));
    int64_t best = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned n;
        char tail;
        if (sscanf(de->d_name, "checkpoint.%8u%c", &n, &tail) == 1 && (int64_t)n > best)
            best = n;
    }
    closedir(d);
    if (best < 0)
        return 0;
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/checkpoint.%08u", waldir, (unsigned)best);
    /* mapped, not read into the heap: a checkpoint of a large head is
     * hundreds of MB, and copying it out of the page cache into freshly
     * faulted pages was a quarter of a restart (bench/RESULTS.md) */
    int rc = 0, fd = fops->open(p.data, O_RDONLY | O_CLOEXEC, 0);
    struct stat st;
    void *m = MAP_FAILED;
    if (fd < 0 || fstat(fd, &st) != 0)
        rc = err_set(err, SABA_EIO, 0, "read %s: %s", p.data, strerror(errno));
    else if (st.st_size == 0)
        rc = err_set(err, SABA_ECORRUPT, 0, "%s: empty", p.data);
    else if ((m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)) ==
             MAP_FAILED)
        rc = err_set(err, SABA_EIO, 0, "mmap %s: %s", p.data, strerror(errno));
    if (fd >= 0)
        fops->close(fd);
    if (m != MAP_FAILED) {
        /* the head owns the mapping from here, and keeps the chunks in it;
         * checkpoint_check_finish lets it go once they are gone */
        head_adopt_image(h, m, (size_t)st.st_size);
        rc = decode(m, (size_t)st.st_size, h, cut_t, buf_steal(&p), pending, err);
    }
    buf_free(&p);
    if (!rc)
        *seg = best;
    return rc;
}
