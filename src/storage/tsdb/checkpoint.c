/*
 * checkpoint.c - writing and loading WAL checkpoints (see checkpoint.h).
 *
 * The checkpoint stores chunks as they are in the head (Gorilla bytes), so
 * loading it is a copy, not a re-encoding: a million series load in the time
 * it takes to read the file.
 */
#include "storage/tsdb/checkpoint.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "storage/tsdb/chunk.h"
#include "storage/tsdb/fileops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define CKPT_MAGIC 0x50434253u /* "SBCP" */
#define CKPT_V1    1
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
    for (size_t k = 0; k < s->nchunks && !rc; k++) {
        const struct block_chunk *ch = &s->chunks[k];
        rc |= fops_out_u64(o, (uint64_t)ch->mint);
        rc |= fops_out_u64(o, (uint64_t)ch->maxt);
        rc |= fops_out_u32(o, ch->nbytes);
        rc |= fops_out_u32(o, ch->count);
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
    fops_out_u32(&c.o, CKPT_V1);
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

int checkpoint_decode(const uint8_t *p, size_t n, struct head *h, int64_t *cut_t,
                      struct saba_err *err)
{
#define BAD(why) err_set(err, SABA_ECORRUPT, 0, "checkpoint: %s", why)
    if (n < CKPT_HDR + 12 || load_u32le(p) != CKPT_MAGIC || load_u32le(p + 4) != CKPT_V1)
        return BAD("not a checkpoint");
    if (crc32c(0, p, n - 4) != load_u32le(p + n - 4))
        return BAD("checksum mismatch");
    const uint8_t *q = p + CKPT_HDR, *end = p + n - 12;
    uint64_t want = load_u64le(end), got = 0;
    struct head_label ls[256];
    uint32_t prev_id = 0;
    while (q < end) {
        if (end - q < 8)
            return BAD("truncated series");
        uint32_t id = load_u32le(q), nl = load_u32le(q + 4);
        q += 8;
        if (nl == 0 || nl > 256)
            return BAD("bad label count");
        for (uint32_t i = 0; i < nl; i++) {
            for (int k = 0; k < 2; k++) {
                if (end - q < 4 || load_u32le(q) > (uint64_t)(end - q - 4))
                    return BAD("truncated label");
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
        /* ids ascend (head_visit order); the bound keeps a corrupt id from
         * sizing the head's slab table beyond what a head can hold */
        if (id >= (1u << 28) || (got && id <= prev_id) || head_has_series(h, id) ||
            head_series_create(h, id, ls, nl) != 0)
            return BAD("bad or duplicate series");
        if (end - q < 4)
            return BAD("truncated chunk count");
        uint32_t nc = load_u32le(q);
        q += 4;
        int64_t prev_max = INT64_MIN;
        for (uint32_t k = 0; k < nc; k++) {
            if (end - q < 24)
                return BAD("truncated chunk");
            struct block_chunk c = {(int64_t)load_u64le(q),
                                    (int64_t)load_u64le(q + 8),
                                    q + 24,
                                    load_u32le(q + 16),
                                    0,
                                    0,
                                    BLOCK_ENC_GORILLA};
            uint32_t cnt = load_u32le(q + 20);
            q += 24;
            if (c.nbytes > (uint64_t)(end - q) || cnt == 0 || cnt > CHUNK_MAX_SAMPLES * 4 ||
                c.mint > c.maxt || c.mint <= prev_max)
                return BAD("bad chunk");
            c.count = (uint16_t)cnt;
            if (!chunk_sane(&c))
                return BAD("chunk does not match its header");
            head_load_chunk(h, id, &c);
            prev_max = c.maxt;
            q += c.nbytes;
        }
        got++;
        prev_id = id;
    }
    if (got != want)
        return BAD("series count mismatch");
    *cut_t = (int64_t)load_u64le(p + 8);
#undef BAD
    return 0;
}

int checkpoint_load(const char *waldir, struct head *h, int64_t *seg, int64_t *cut_t,
                    struct saba_err *err)
{
    *seg = -1;
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
        madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        struct saba_err e2 = {0};
        rc = checkpoint_decode(m, (size_t)st.st_size, h, cut_t, &e2);
        if (rc)
            err_set(err, rc, 0, "%s: %s", p.data, e2.msg);
        munmap(m, (size_t)st.st_size);
    }
    buf_free(&p);
    if (!rc)
        *seg = best;
    return rc;
}
