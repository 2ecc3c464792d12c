/*
 * tsdb.c - the embedded engine: data directory lock, WAL, head, locking.
 *
 * Write path: under the write lock, resolve (and create) each sample's
 * series, encode the batch as one WAL record, append it, then apply it to
 * the head; after unlocking, wait for the fsync policy. So the WAL order is
 * the order samples reached the head, and replay rebuilds the same state
 * (including last-write-wins on equal timestamps).
 */
#include "storage/tsdb/tsdb.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/record.h"
#include "storage/tsdb/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct tsdb {
    struct storage base;
    char *dir;
    int lock_fd;
    pthread_rwlock_t lock; /* write: append; read: queries */
    struct head *head;
    struct wal *wal;
};

static int lock_dir(const char *dir, int *fd_out, struct saba_err *err)
{
    struct buf path = BUF_INIT;
    buf_printf(&path, "%s/LOCK", dir);
    int fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = err_set(err, SABA_EIO, 0, "open %s: %s", path.data, strerror(errno));
        buf_free(&path);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        int rc = err_set(err, SABA_ELOCKED, 0,
                         "data directory %s is in use by another saba process (pid %s); stop it "
                         "or choose another --data directory",
                         dir, pid[0] ? pid : "unknown");
        close(fd);
        buf_free(&path);
        return rc;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("tsdb", "msg=\"could not write pid to lock file\" path=%s", path.data);
    buf_free(&path);
    *fd_out = fd;
    return 0;
}

struct replay_ctx {
    struct head *head;
    uint64_t samples, bad;
};

static int replay_record(void *arg, const uint8_t *p, size_t n)
{
    struct replay_ctx *c = arg;
    struct saba_err err = {0};
    if (record_apply(c->head, p, n, &c->samples, &err) != 0) {
        c->bad++;
        log_error("tsdb", "msg=\"WAL record does not decode\" reason=\"%s\"", err.msg);
        return -1;
    }
    return 0;
}

static int tsdb_append(struct storage *st, const struct batch *b, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    if (b->nsamples == 0)
        return 0;
    uint32_t *ids = xmalloc(b->nsamples * sizeof *ids);
    uint32_t *fresh = xmalloc(b->nsamples * sizeof *fresh);
    size_t nfresh = 0;
    struct buf rec = BUF_INIT;
    uint64_t lsn = 0;
    int rc;

    pthread_rwlock_wrlock(&db->lock);
    for (size_t i = 0; i < b->nsamples; i++) {
        bool is_new;
        ids[i] = head_series_for(db->head, b, &b->samples[i], &is_new);
        if (is_new) {
            /* defined once per record even if several samples share it */
            head_set_logged(db->head, ids[i], true);
            fresh[nfresh++] = (uint32_t)i;
        }
    }
    record_encode_batch(&rec, b, ids, fresh, nfresh);
    rc = wal_append(db->wal, rec.data, rec.len, &lsn, err);
    if (rc == 0) {
        for (size_t i = 0; i < b->nsamples; i++)
            head_append(db->head, ids[i], b->samples[i].t, b->samples[i].v);
    } else {
        /* not in the WAL: the next batch that uses them must define them */
        for (size_t k = 0; k < nfresh; k++)
            head_set_logged(db->head, ids[fresh[k]], false);
    }
    pthread_rwlock_unlock(&db->lock);

    if (rc == 0)
        rc = wal_sync(db->wal, lsn, err);
    buf_free(&rec);
    free(ids);
    free(fresh);
    return rc;
}

static int tsdb_select(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                       int64_t maxt, bool samples, struct series_set *out, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    int rc = head_select(db->head, m, nm, mint, maxt, samples, out, err);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

static int tsdb_label_names(struct storage *st, struct strlist *out)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    head_label_names(db->head, out);
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

static int tsdb_label_values(struct storage *st, const char *name, struct strlist *out)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    head_label_values(db->head, name, out);
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

static void tsdb_stats(struct storage *st, struct storage_stats *out)
{
    struct tsdb *db = (struct tsdb *)st;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&db->lock);
    head_stats(db->head, out);
    pthread_rwlock_unlock(&db->lock);
    out->wal_bytes = wal_size(db->wal);
}

static void tsdb_close(struct storage *st)
{
    struct tsdb *db = (struct tsdb *)st;
    wal_close(db->wal);
    head_free(db->head);
    pthread_rwlock_destroy(&db->lock);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    free(db->dir);
    free(db);
}

static const struct storage_ops tsdb_ops = {
    .append = tsdb_append,
    .select = tsdb_select,
    .label_names = tsdb_label_names,
    .label_values = tsdb_label_values,
    .stats = tsdb_stats,
    .close = tsdb_close,
};

int tsdb_open(const struct tsdb_options *opt, struct storage **out, struct saba_err *err)
{
    if (mkdir(opt->dir, 0755) != 0 && errno != EEXIST)
        return err_set(err, SABA_EIO, 0, "create data directory %s: %s", opt->dir, strerror(errno));
    struct tsdb *db = xcalloc(1, sizeof *db);
    db->base.ops = &tsdb_ops;
    db->dir = xstrdup(opt->dir);
    db->lock_fd = -1;
    pthread_rwlock_init(&db->lock, NULL);
    db->head = head_new();
    int rc = lock_dir(opt->dir, &db->lock_fd, err);
    if (rc)
        goto fail;

    struct buf waldir = BUF_INIT;
    buf_printf(&waldir, "%s/wal", opt->dir);
    struct wal_options wo = {.fsync_interval_ms = opt->fsync_interval_ms,
                             .segment_bytes = opt->wal_segment_bytes};
    struct replay_ctx rctx = {.head = db->head};
    struct wal_replay_stats rs;
    int64_t t0 = mono_ns();
    rc = wal_open(waldir.data, &wo, replay_record, &rctx, &rs, &db->wal, err);
    buf_free(&waldir);
    if (rc)
        goto fail;
    log_info("tsdb",
             "msg=\"WAL replayed\" records=%llu samples=%llu series=%u bytes=%llu "
             "truncated_bytes=%llu bad_records=%llu duration_ms=%lld",
             (unsigned long long)rs.records, (unsigned long long)rctx.samples,
             head_num_series(db->head), (unsigned long long)rs.bytes,
             (unsigned long long)rs.truncated_bytes, (unsigned long long)rctx.bad,
             (long long)((mono_ns() - t0) / 1000000));
    *out = &db->base;
    return 0;
fail:
    head_free(db->head);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    pthread_rwlock_destroy(&db->lock);
    free(db->dir);
    free(db);
    return rc;
}
