/*
 * wal.c - write-ahead log segments, replay and fsync policy (see wal.h).
 *
 * Invariants:
 *  1. Records are appended whole with one write(2) to the newest segment;
 *     a crash leaves at most one partial record, at the end of that segment.
 *  2. synced <= written; every record that ends at or before `synced` has
 *     been fdatasync'ed.
 *  3. A segment is fsynced before the next one is created, so only the newest
 *     segment can hold unsynced bytes.
 */
#include "storage/tsdb/wal.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/timeutil.h"
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
#include <sys/uio.h>
#include <unistd.h>

struct wal {
    char *dir;
    struct wal_options opt;
    pthread_mutex_t mu; /* guards everything below */
    int fd;             /* newest segment */
    uint32_t seg;       /* its number */
    uint64_t seg_bytes; /* its size */
    uint64_t written;   /* total bytes appended since open: the LSN space */
    uint64_t synced;    /* invariant 2 */
    uint64_t old_bytes; /* bytes in segments before the newest */
    uint32_t first_seg; /* oldest segment on disk */
    bool io_failed;     /* a write or fsync failed: refuse appends, see wal_append */
    pthread_t flusher;
    bool flusher_running;
    pthread_cond_t stop_cv;
    bool stopping;
};

size_t wal_scan(const uint8_t *data, size_t n, wal_record_fn fn, void *ctx, uint64_t *records)
{
    size_t off = 0;
    while (n - off >= WAL_HEADER_BYTES) {
        uint32_t len = load_u32le(data + off), crc = load_u32le(data + off + 4);
        /* len 0 never occurs (wal_append refuses it): an all-zero header is
         * the zero-filled tail a crash can leave, not a record */
        if (len == 0 || len > WAL_MAX_RECORD_BYTES || len > n - off - WAL_HEADER_BYTES)
            break;
        const uint8_t *payload = data + off + WAL_HEADER_BYTES;
        if (crc32c(0, payload, len) != crc)
            break;
        if (fn && fn(ctx, payload, len) != 0)
            log_warn("wal", "msg=\"record could not be applied; skipped\" offset=%zu", off);
        if (records)
            (*records)++;
        off += WAL_HEADER_BYTES + len;
    }
    return off;
}

static char *seg_path(const struct wal *w, uint32_t seg)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/%08u", w->dir, seg);
    return buf_steal(&b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* List segment numbers in dir, sorted. */
static int list_segments(const char *dir, uint32_t **out, size_t *n, struct saba_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, SABA_EIO, 0, "open WAL directory %s: %s", dir, strerror(errno));
    size_t cap = 16;
    uint32_t *v = xmalloc(cap * sizeof *v);
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        if (strlen(s) != 8 || strspn(s, "0123456789") != 8)
            continue;
        if (*n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = (uint32_t)strtoul(s, NULL, 10);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_u32);
    *out = v;
    return 0;
}

/* Map a segment for replay (read-only, populated): reading it into the heap
 * copied it out of the page cache into freshly faulted pages, a tenth of
 * replaying a large WAL. unmap_file releases it. */
static int map_file(const char *path, uint8_t **data, size_t *n, struct saba_err *err)
{
    int fd = fops->open(path, O_RDONLY, 0);
    if (fd < 0)
        return err_set(err, SABA_EIO, 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fops->close(fd);
        return err_set(err, SABA_EIO, 0, "stat %s: %s", path, strerror(errno));
    }
    *n = (size_t)st.st_size;
    *data = NULL;
    if (*n) {
        void *m = mmap(NULL, *n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m == MAP_FAILED) {
            fops->close(fd);
            return err_set(err, SABA_EIO, 0, "mmap %s: %s", path, strerror(errno));
        }
        *data = m;
    }
    fops->close(fd);
    return 0;
}

static void unmap_file(uint8_t *data, size_t n)
{
    if (data)
        munmap(data, n);
}

static int fsync_dir(const char *dir)
{
    return fops_fsync_dir(dir);
}

static int open_segment(struct wal *w, uint32_t seg, struct saba_err *err)
{
    char *path = seg_path(w, seg);
    int fd = fops->open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        int rc = err_set(err, SABA_EIO, 0, "open WAL segment %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    free(path);
    struct stat st;
    fstat(fd, &st);
    if (fsync_dir(w->dir) != 0) {
        fops->close(fd);
        return err_set(err, SABA_EIO, 0, "fsync WAL directory %s: %s", w->dir, strerror(errno));
    }
    w->fd = fd;
    w->seg = seg;
    w->seg_bytes = (uint64_t)st.st_size;
    return 0;
}

static void *flusher_main(void *arg)
{
    struct wal *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + w->opt.fsync_interval_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->stop_cv, &w->mu, &ts);
        if (w->stopping)
            break;
        if (w->synced < w->written && !w->io_failed) {
            uint64_t target = w->written;
            if (fops->fsync(w->fd) == 0) {
                w->synced = target;
            } else {
                w->io_failed = true;
                log_error("wal", "msg=\"fsync failed; refusing writes\" err=\"%s\"",
                          strerror(errno));
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_open(const char *dir, const struct wal_options *opt, wal_record_fn fn, void *ctx,
             struct wal_replay_stats *stats, struct wal **out, struct saba_err *err)
{
    struct wal_replay_stats st = {0};
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return err_set(err, SABA_EIO, 0, "create WAL directory %s: %s", dir, strerror(errno));
    struct wal *w = xcalloc(1, sizeof *w);
    w->dir = xstrdup(dir);
    w->opt = *opt;
    if (w->opt.segment_bytes <= 0)
        w->opt.segment_bytes = 128 << 20;
    w->fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->stop_cv, NULL);

    uint32_t *segs = NULL;
    size_t nsegs = 0;
    int rc = list_segments(dir, &segs, &nsegs, err);
    if (rc)
        goto fail;
    size_t first = 0;
    while (first < nsegs && (int64_t)segs[first] < opt->replay_from) {
        /* covered by the checkpoint; left behind by a crash before deletion */
        char *path = seg_path(w, segs[first++]);
        fops->unlink(path);
        free(path);
    }
    memmove(segs, segs + first, (nsegs - first) * sizeof *segs);
    nsegs -= first;
    for (size_t i = 0; i < nsegs; i++) {
        char *path = seg_path(w, segs[i]);
        uint8_t *data = NULL;
        size_t n = 0;
        rc = map_file(path, &data, &n, err);
        if (rc) {
            free(path);
            goto fail;
        }
        size_t good = data ? wal_scan(data, n, fn, ctx, &st.records) : 0;
        st.bytes += good;
        unmap_file(data, n);
        if (good < n) {
            if (i + 1 == nsegs) {
                /* A torn tail: the crash interrupted an append that was never
                 * acknowledged. Cut it so new records follow intact ones. */
                log_warn("wal", "msg=\"truncating torn WAL tail\" segment=%s offset=%zu bytes=%zu",
                         path, good, n - good);
                int tfd = fops->open(path, O_WRONLY, 0);
                int trc = tfd < 0 ? -1 : fops->ftruncate(tfd, (off_t)good);
                if (tfd >= 0)
                    fops->close(tfd);
                if (trc != 0) {
                    rc = err_set(err, SABA_EIO, 0, "truncate %s: %s", path, strerror(errno));
                    free(path);
                    goto fail;
                }
                st.truncated_bytes += n - good;
            } else {
                log_error("wal",
                          "msg=\"corrupt record in the middle of the WAL; rest of segment "
                          "skipped\" segment=%s offset=%zu bytes=%zu",
                          path, good, n - good);
                st.corrupt_segments++;
                w->old_bytes += n - good;
            }
        }
        if (i + 1 < nsegs)
            w->old_bytes += good;
        free(path);
    }
    uint32_t start = nsegs                  ? segs[nsegs - 1]
                     : opt->replay_from > 0 ? (uint32_t)opt->replay_from
                                            : 0;
    rc = open_segment(w, start, err);
    if (rc)
        goto fail;
    w->first_seg = nsegs ? segs[0] : start;
    free(segs);
    segs = NULL;
    if (w->opt.fsync_interval_ms > 0) {
        if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
            rc = err_set(err, SABA_EIO, 0, "start WAL flusher thread");
            goto fail;
        }
        w->flusher_running = true;
    }
    if (stats)
        *stats = st;
    *out = w;
    return 0;
fail:
    free(segs);
    if (w->fd >= 0)
        fops->close(w->fd);
    free(w->dir);
    free(w);
    return rc;
}

static int write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[2];
    memcpy(v, iov, (size_t)n * sizeof *v);
    int i = 0;
    while (i < n) {
        ssize_t r = fops->writev(fd, v + i, n - i);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (i < n && (size_t)r >= v[i].iov_len) {
            r -= (ssize_t)v[i].iov_len;
            i++;
        }
        if (i < n) {
            v[i].iov_base = (char *)v[i].iov_base + r;
            v[i].iov_len -= (size_t)r;
        }
    }
    return 0;
}

/* Seal the current segment and open the next; on failure stay on the old
 * one (a full disk may let the next attempt succeed). */
static int cut_locked(struct wal *w, struct saba_err *err)
{
    /* Invariant 3: the old segment is durable before the next one exists. */
    if (fops->fsync(w->fd) != 0) {
        w->io_failed = true;
        return err_set(err, SABA_EIO, 0, "fsync WAL segment: %s", strerror(errno));
    }
    w->synced = w->written;
    int oldfd = w->fd;
    uint64_t oldbytes = w->seg_bytes;
    uint32_t oldseg = w->seg;
    int rc = open_segment(w, w->seg + 1, err);
    if (rc) {
        w->fd = oldfd;
        w->seg = oldseg;
        w->seg_bytes = oldbytes;
        if (err && errno == ENOSPC)
            err->code = rc = SABA_ENOSPC;
        return rc;
    }
    fops->close(oldfd);
    w->old_bytes += oldbytes;
    return 0;
}

int wal_cut(struct wal *w, uint32_t *sealed, struct saba_err *err)
{
    pthread_mutex_lock(&w->mu);
    int rc = w->io_failed ? err_set(err, SABA_EIO, 0, "WAL is read-only after an I/O error")
                          : cut_locked(w, err);
    if (rc == 0)
        *sealed = w->seg - 1;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void wal_remove_before(struct wal *w, uint32_t seg)
{
    pthread_mutex_lock(&w->mu);
    for (uint32_t s = w->first_seg; s < seg && s < w->seg; s++) {
        char *path = seg_path(w, s);
        struct stat st;
        if (stat(path, &st) == 0 && fops->unlink(path) == 0)
            w->old_bytes -=
                (uint64_t)st.st_size < w->old_bytes ? (uint64_t)st.st_size : w->old_bytes;
        free(path);
    }
    if (seg > w->first_seg)
        w->first_seg = seg < w->seg ? seg : w->seg;
    pthread_mutex_unlock(&w->mu);
}

int wal_append(struct wal *w, const void *payload, size_t n, uint64_t *lsn, struct saba_err *err)
{
    if (n > WAL_MAX_RECORD_BYTES)
        return err_set(err, SABA_ETOOBIG, 0, "WAL record of %zu bytes is too large", n);
    if (n == 0)
        return err_set(err, SABA_EINVAL, 0, "empty WAL record");
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (w->io_failed) {
        rc = err_set(err, SABA_EIO, 0, "WAL is read-only after an I/O error (see the log)");
        goto out;
    }
    if (w->seg_bytes > 0 && w->seg_bytes + WAL_HEADER_BYTES + n > (uint64_t)w->opt.segment_bytes) {
        /* Invariant 3: the old segment is durable before the next one exists. */
        rc = cut_locked(w, err);
        if (rc)
            goto out;
    }
    uint8_t hdr[WAL_HEADER_BYTES];
    uint32_t crc = crc32c(0, payload, n);
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(n >> (8 * i));
        hdr[4 + i] = (uint8_t)(crc >> (8 * i));
    }
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, n}};
    if (write_all(w->fd, iov, 2) != 0) {
        int e = errno;
        /* Cut a partial record so a later append cannot follow garbage. */
        if (fops->ftruncate(w->fd, (off_t)w->seg_bytes) != 0)
            w->io_failed = true;
        if (e == ENOSPC || e == EDQUOT)
            rc = err_set(err, SABA_ENOSPC, 0,
                         "disk full: the write was not stored (WAL: %s); retry once space is "
                         "freed",
                         strerror(e));
        else
            rc = err_set(err, SABA_EIO, 0, "write WAL: %s", strerror(e));
        goto out;
    }
    w->seg_bytes += sizeof hdr + n;
    w->written += sizeof hdr + n;
    *lsn = w->written;
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static int sync_locked(struct wal *w, uint64_t lsn, struct saba_err *err)
{
    if (w->synced >= lsn)
        return 0;
    if (w->io_failed)
        return err_set(err, SABA_EIO, 0, "WAL is read-only after an I/O error (see the log)");
    uint64_t target = w->written;
    if (fops->fsync(w->fd) != 0) {
        w->io_failed = true;
        log_error("wal", "msg=\"fsync failed; refusing writes\" err=\"%s\"", strerror(errno));
        return err_set(err, SABA_EIO, 0, "fsync WAL: %s", strerror(errno));
    }
    w->synced = target;
    return 0;
}

int wal_sync(struct wal *w, uint64_t lsn, struct saba_err *err)
{
    if (w->opt.fsync_interval_ms > 0)
        return 0;
    pthread_mutex_lock(&w->mu);
    int rc = sync_locked(w, lsn, err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_flush(struct wal *w, struct saba_err *err)
{
    pthread_mutex_lock(&w->mu);
    int rc = sync_locked(w, w->written, err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t wal_size(struct wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->old_bytes + w->seg_bytes;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    if (w->flusher_running) {
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_cond_signal(&w->stop_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->flusher, NULL);
    }
    struct saba_err err = {0};
    if (wal_flush(w, &err) != 0)
        log_error("wal", "msg=\"final fsync failed\" err=\"%s\"", err.msg);
    fops->close(w->fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->stop_cv);
    free(w->dir);
    free(w);
}
