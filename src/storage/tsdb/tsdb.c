/*
 * tsdb.c - the embedded engine: data directory lock, WAL, head, blocks,
 * and the maintenance that moves data from one to the other.
 *
 * Maintenance (a background thread, one round per maintenance interval):
 * when the head spans more than 1.5 block durations, the samples before a
 * block-aligned time T are written as a block, the WAL is rotated, the head
 * drops them and the rest of the head is checkpointed, so old WAL segments go
 * and restart replays only recent writes. Then blocks are compacted and raw
 * blocks past retention deleted. A failure at any step is logged and leaves
 * the data where it was (the head and WAL keep what the block did not take).
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
#include "base/par.h"
#include "base/timeutil.h"
#include "storage/tsdb/block.h"
#include "storage/tsdb/checkpoint.h"
#include "storage/tsdb/compact.h"
#include "storage/tsdb/fileops.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/record.h"
#include "storage/tsdb/rollup.h"
#include "storage/tsdb/rollup_chunk.h"
#include "storage/tsdb/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct tsdb {
    struct storage base;
    char *dir, *waldir, *blocks_dir;
    int lock_fd;
    struct tsdb_options opt;
    pthread_rwlock_t lock; /* write: append, block list changes; read: queries */
    struct head *head;
    struct wal *wal;
    struct block **blocks; /* open blocks, any order; guarded by lock */
    size_t nblocks;
    uint64_t next_seq;
    int64_t cut_t;            /* every sample before this is in blocks */
    pthread_mutex_t maint_mu; /* one maintenance round at a time */
    pthread_t maint;
    bool maint_running, stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    /* test hooks (tsdb.h) */
    int crash_scope; /* 0 none, 1 cut, 2 compact */
    uint64_t crash_at;
    bool no_compact;
    struct tsdb_block_stats bstats; /* counters, updated with __atomic builtins */
};

enum { CRASH_NONE, CRASH_CUT, CRASH_COMPACT };

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
    struct record_replay *replay;
    uint64_t samples, bad;
};

static int replay_record(void *arg, const uint8_t *p, size_t n)
{
    struct replay_ctx *c = arg;
    struct saba_err err = {0};
    if (record_replay_apply(c->replay, p, n, &c->samples, &err) != 0) {
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

/* ---- reading: head and blocks merged ---- */

struct src_series {
    struct series_data *d;
    uint64_t prio; /* block seq; the head is UINT64_MAX */
};

static int cmp_src(const void *a, const void *b)
{
    const struct src_series *x = a, *y = b;
    int c = labels_cmp(&x->d->labels, &y->d->labels);
    if (c)
        return c;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

struct tsample {
    int64_t t;
    double v;
    uint64_t prio;
};

static int cmp_tsample(const void *a, const void *b)
{
    const struct tsample *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

/* Merge the samples of one series from several sources into dst: on equal
 * timestamps the higher prio (newer block, or the head) wins. */
static void merge_samples(struct src_series *g, size_t n, struct series_data *dst)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += g[i].d->n;
    /* sources that follow one another in time (blocks of consecutive
     * windows, then the head) just concatenate */
    const struct series_data **ord = xmalloc(n * sizeof *ord);
    size_t no = 0;
    for (size_t i = 0; i < n; i++) {
        const struct series_data *d = g[i].d;
        if (!d->n)
            continue;
        size_t j = no++;
        while (j > 0 && ord[j - 1]->t[0] > d->t[0]) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = d;
    }
    bool disjoint = true;
    for (size_t i = 1; i < no && disjoint; i++)
        disjoint = ord[i]->t[0] > ord[i - 1]->t[ord[i - 1]->n - 1];
    if (disjoint) {
        dst->t = xmalloc((total ? total : 1) * sizeof *dst->t);
        dst->v = xmalloc((total ? total : 1) * sizeof *dst->v);
        dst->n = 0;
        for (size_t i = 0; i < no; i++) {
            memcpy(dst->t + dst->n, ord[i]->t, ord[i]->n * sizeof *dst->t);
            memcpy(dst->v + dst->n, ord[i]->v, ord[i]->n * sizeof *dst->v);
            dst->n += ord[i]->n;
        }
        free(ord);
        return;
    }
    free(ord);
    struct tsample *s = xmalloc((total ? total : 1) * sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < g[i].d->n; j++)
            s[k++] = (struct tsample){g[i].d->t[j], g[i].d->v[j], g[i].prio};
    qsort(s, k, sizeof *s, cmp_tsample);
    dst->t = xmalloc((k ? k : 1) * sizeof *dst->t);
    dst->v = xmalloc((k ? k : 1) * sizeof *dst->v);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (m && dst->t[m - 1] == s[i].t) {
            dst->v[m - 1] = s[i].v;
            continue;
        }
        dst->t[m] = s[i].t;
        dst->v[m++] = s[i].v;
    }
    dst->n = m;
    free(s);
}

/* Combine result sets (sets[i] from a source of priority prio[i]) into out. */
static void merge_sets(struct series_set *sets, const uint64_t *prio, size_t nsets, bool samples,
                       struct series_set *out)
{
    size_t total = 0;
    for (size_t i = 0; i < nsets; i++)
        total += sets[i].n;
    if (nsets == 1) {
        *out = sets[0];
        sets[0] = (struct series_set){0};
        return;
    }
    struct src_series *all = xmalloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < nsets; i++)
        for (size_t j = 0; j < sets[i].n; j++)
            all[k++] = (struct src_series){&sets[i].v[j], prio[i]};
    qsort(all, k, sizeof *all, cmp_src);
    out->v = xmalloc((k ? k : 1) * sizeof *out->v);
    out->n = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && labels_cmp(&all[j].d->labels, &all[i].d->labels) == 0)
            j++;
        struct series_data *dst = &out->v[out->n++];
        *dst = (struct series_data){0};
        dst->labels = all[i].d->labels; /* move */
        all[i].d->labels = (struct labels){0};
        if (samples) {
            if (j - i == 1) {
                dst->n = all[i].d->n;
                dst->t = all[i].d->t;
                dst->v = all[i].d->v;
                all[i].d->t = NULL;
                all[i].d->v = NULL;
            } else {
                merge_samples(all + i, j - i, dst);
            }
        }
        i = j;
    }
    free(all);
    for (size_t i = 0; i < nsets; i++)
        series_set_free(&sets[i]);
}

static bool block_usable(const struct block *b, int64_t mint, int64_t maxt)
{
    const struct block_meta *m = block_get_meta(b);
    return m->resolution_ms == 0 && !block_is_corrupt(b) && m->maxt >= mint && m->mint <= maxt;
}

static bool has_rollup(const struct tsdb *db, uint64_t seq, int64_t res);

/* Raw selection over head and blocks; caller holds the read lock. With
 * skip_res, raw blocks already summarized at that resolution are left out. */
static int select_locked(struct tsdb *db, struct matcher *const *m, size_t nm, int64_t mint,
                         int64_t maxt, bool samples, int64_t skip_res, struct series_set *out,
                         struct saba_err *err)
{
    struct series_set *sets = xcalloc(db->nblocks + 1, sizeof *sets);
    uint64_t *prio = xcalloc(db->nblocks + 1, sizeof *prio);
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        if (!block_usable(db->blocks[i], mint, maxt) ||
            (skip_res && has_rollup(db, block_get_meta(db->blocks[i])->seq, skip_res)))
            continue;
        struct saba_err e2 = {0};
        /* a corrupt chunk marks the block corrupt (logged by name); the rest
         * keeps serving */
        if (block_select(db->blocks[i], m, nm, mint, maxt, samples, BLOCK_KIND_RAW, &sets[n],
                         &e2) != 0)
            continue;
        prio[n++] = block_get_meta(db->blocks[i])->seq;
    }
    rc = head_select(db->head, m, nm, mint, maxt, samples, &sets[n], err);
    prio[n++] = UINT64_MAX;
    if (rc == 0) {
        merge_sets(sets, prio, n, samples, out);
    } else {
        for (size_t i = 0; i < n; i++)
            series_set_free(&sets[i]);
    }
    free(sets);
    free(prio);
    return rc;
}

static int tsdb_select(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                       int64_t maxt, bool samples, struct series_set *out, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    int rc = select_locked(db, m, nm, mint, maxt, samples, 0, out, err);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

/* select_each over a series set built whole (when blocks are involved). */
struct each_job {
    struct series_set *set;
    storage_series_visit visit;
    void *arg;
};

static void each_visit(void *ctx, size_t lo, size_t hi)
{
    struct each_job *j = ctx;
    for (size_t k = lo; k < hi; k++) {
        struct series_data *d = &j->set->v[k];
        struct labels ls = d->labels;
        d->labels = (struct labels){0}; /* now the visitor's */
        if (d->n)
            j->visit(j->arg, k, &ls, d->n, d->t, d->v);
        else
            labels_free(&ls);
    }
}

static int tsdb_select_each(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                            int64_t maxt, storage_select_begin begin, storage_series_visit visit,
                            void *arg, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    bool head_only = true;
    for (size_t i = 0; i < db->nblocks && head_only; i++)
        head_only = !block_usable(db->blocks[i], mint, maxt);
    if (head_only) {
        /* the head alone: decoded series by series, never held whole */
        int rc = head_select_each(db->head, m, nm, mint, maxt, begin, visit, arg, err);
        pthread_rwlock_unlock(&db->lock);
        return rc;
    }
    /* with blocks the set is built whole and owns its samples: visited
     * without the lock, so appends need not wait for the computation */
    struct series_set set = {0};
    int rc = select_locked(db, m, nm, mint, maxt, true, 0, &set, err);
    pthread_rwlock_unlock(&db->lock);
    if (rc == 0) {
        begin(arg, set.n);
        struct each_job j = {&set, visit, arg};
        par_for(set.n, 256, each_visit, &j);
    }
    series_set_free(&set);
    return rc;
}

static size_t tsdb_rollup_resolutions(struct storage *st, int64_t *out)
{
    struct tsdb *db = (struct tsdb *)st;
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        if (db->opt.rollup_res_ms[i] > 0)
            out[n++] = db->opt.rollup_res_ms[i];
    return n;
}

static bool tsdb_rollup_span(struct storage *st, int64_t res, int64_t *from, int64_t *to)
{
    struct tsdb *db = (struct tsdb *)st;
    bool any = false;
    pthread_rwlock_rdlock(&db->lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct block_meta *bm = block_get_meta(db->blocks[i]);
        if (bm->resolution_ms != res || block_is_corrupt(db->blocks[i]))
            continue;
        if (!any || bm->mint < *from)
            *from = bm->mint;
        if (!any || bm->maxt > *to)
            *to = bm->maxt;
        any = true;
    }
    pthread_rwlock_unlock(&db->lock);
    return any;
}

static int64_t bucket_start(int64_t t, int64_t res)
{
    int64_t r = t % res;
    return t - (r < 0 ? r + res : r);
}

static bool has_rollup(const struct tsdb *db, uint64_t seq, int64_t res)
{
    for (size_t j = 0; j < db->nblocks; j++) {
        const struct block_meta *o = block_get_meta(db->blocks[j]);
        if (o->resolution_ms == res && o->source == seq)
            return true;
    }
    return false;
}

/* ---- reading the rollup tiers ----
 *
 * A scan walks the rollup blocks of one resolution (in time order) and the
 * raw samples no rollup holds yet side by side, series by series in label
 * order (every source is sorted by labels), and hands each series' buckets
 * to a visitor. Per series it decodes only the streams asked for, into
 * buffers reused from series to series, so a year over 1,000 series never
 * exists as a whole. */

#define NSTREAMS 6 /* block kinds MIN..LAST_T */

/* One source of buckets: a rollup block or the raw samples. */
struct rsrc {
    struct block *b; /* NULL: the raw series set */
    uint32_t *ids;   /* matching series numbers (blocks) */
    size_t n, pos;
    struct label ls[256];
    struct labels cur; /* labels of the series at pos */
    uint32_t nchunks;
};

struct rscan {
    struct rsrc *src;
    size_t nsrc;
    struct series_set raw;
    int64_t mint, maxt, res;
    bool want[NSTREAMS];
    int first; /* the first wanted stream: its timestamps are the buckets' */
    /* the current series' buckets */
    int64_t *t, *tscratch;
    double *col[NSTREAMS];
    size_t n, cap;
    struct rollup_point *pts;
    size_t pcap;
};

/* Load the labels of the source's series at pos (skipping malformed entries). */
static void rsrc_load(struct rsrc *s, const struct series_set *raw)
{
    for (; s->pos < s->n; s->pos++) {
        if (!s->b) {
            s->cur = raw->v[s->pos].labels;
            return;
        }
        int nl = block_series_labels(s->b, s->ids[s->pos], s->ls, &s->nchunks);
        if (nl >= 0) {
            s->cur = (struct labels){s->ls, (size_t)nl};
            return;
        }
    }
}

static void rscan_reserve(struct rscan *r, size_t n)
{
    if (n <= r->cap)
        return;
    r->cap = n * 2;
    r->t = xrealloc(r->t, r->cap * sizeof *r->t);
    r->tscratch = xrealloc(r->tscratch, r->cap * sizeof *r->tscratch);
    for (int k = 0; k < NSTREAMS; k++)
        if (r->want[k])
            r->col[k] = xrealloc(r->col[k], r->cap * sizeof(double));
}

/* Fold bucket i into bucket k (the same end, from another source). */
static void rscan_fold(struct rscan *r, size_t k, size_t i)
{
    double *const *c = r->col;
    int mn = BLOCK_KIND_MIN - 1, mx = BLOCK_KIND_MAX - 1, sm = BLOCK_KIND_SUM - 1,
        ct = BLOCK_KIND_COUNT - 1, la = BLOCK_KIND_LAST - 1, lt = BLOCK_KIND_LAST_T - 1;
    if (r->want[mn] && (c[mn][i] < c[mn][k] || isnan(c[mn][k])))
        c[mn][k] = c[mn][i];
    if (r->want[mx] && (c[mx][i] > c[mx][k] || isnan(c[mx][k])))
        c[mx][k] = c[mx][i];
    if (r->want[sm])
        c[sm][k] += c[sm][i];
    if (r->want[ct])
        c[ct][k] += c[ct][i];
    if (r->want[lt] && c[lt][i] >= c[lt][k]) {
        if (r->want[la])
            c[la][k] = c[la][i];
        c[lt][k] = c[lt][i];
    }
}

/* Move bucket i to position *k (k <= i), or fold it into the bucket before
 * *k when that has the same end; advances *k for a moved bucket. */
static void rscan_take(struct rscan *r, size_t *k, size_t i)
{
    if (*k > 0 && r->t[*k - 1] == r->t[i]) {
        rscan_fold(r, *k - 1, i);
        return;
    }
    if (*k != i) {
        r->t[*k] = r->t[i];
        for (int s = 0; s < NSTREAMS; s++)
            if (r->want[s])
                r->col[s][*k] = r->col[s][i];
    }
    (*k)++;
}

/* Keep the buckets just appended at [from, to) that lie in [mint, maxt]
 * and that no tombstone of series id of tb (NULL: none) covers, folding one
 * with the same end as the bucket before it (a bucket split between two
 * sources) into that one. */
static void rscan_keep(struct rscan *r, size_t from, size_t to, struct block *tb, uint32_t id)
{
    if (from == to)
        return;
    /* the usual case (the source's buckets ascend): nothing to drop, and at
     * most the first bucket to fold into the previous source's last */
    if (!tb && r->t[from] >= r->mint && r->t[to - 1] <= r->maxt) {
        if (from > 0 && r->t[from - 1] == r->t[from]) {
            rscan_fold(r, from - 1, from);
            size_t m = to - from - 1;
            memmove(r->t + from, r->t + from + 1, m * sizeof *r->t);
            for (int k = 0; k < NSTREAMS; k++)
                if (r->want[k])
                    memmove(r->col[k] + from, r->col[k] + from + 1, m * sizeof(double));
            to--;
        }
        r->n = to;
        return;
    }
    size_t keep = from;
    for (size_t q = from; q < to; q++)
        if (r->t[q] >= r->mint && r->t[q] <= r->maxt && !(tb && block_deleted(tb, id, r->t[q])))
            rscan_take(r, &keep, q);
    r->n = keep;
}

/* Append series id's buckets from block b: rollup chunks (every aggregate
 * in one) and chunks of one aggregate each (blocks written before rollup
 * chunks, or runs the layout could not hold), only the wanted streams. A
 * series whose streams disagree is damaged and left out. */
static void rscan_block(struct rscan *r, struct rsrc *s)
{
    struct block *b = s->b;
    uint32_t id = s->ids[s->pos];
    size_t base = r->n, room[NSTREAMS] = {0}, room_all = 0;
    for (uint32_t j = 0; j < s->nchunks; j++) {
        struct block_chunk c;
        if (block_series_chunk_ref(b, id, j, &c) != 0)
            return;
        if (c.maxt < r->mint || c.mint > r->maxt)
            continue;
        if (c.kind >= BLOCK_KIND_MIN && c.kind <= BLOCK_KIND_LAST_T)
            room[c.kind - BLOCK_KIND_MIN] += c.count;
        else if (c.kind == BLOCK_KIND_ROLLUP && c.enc == BLOCK_ENC_ROLLUP)
            room_all += c.count;
    }
    for (int k = 0; k < NSTREAMS; k++)
        if (r->want[k] && room[k] != room[r->first])
            return;
    size_t total = room_all + room[r->first];
    if (!total)
        return;
    rscan_reserve(r, base + total);
    size_t n = base;
    /* block kinds MIN..LAST_T are these columns of a rollup chunk */
    static const int col_of[NSTREAMS] = {RC_MIN, RC_MAX, RC_SUM, RC_COUNT, RC_LAST, RC_LAST_T};
    for (uint32_t j = 0; room_all && j < s->nchunks; j++) {
        struct block_chunk c;
        if (block_series_chunk_ref(b, id, j, &c) != 0 || c.kind != BLOCK_KIND_ROLLUP ||
            c.enc != BLOCK_ENC_ROLLUP || c.maxt < r->mint || c.mint > r->maxt)
            continue;
        double *cols[RC_NCOLS] = {NULL};
        for (int k = 0; k < NSTREAMS; k++)
            if (r->want[k])
                cols[col_of[k]] = r->col[k] + n;
        if (block_series_chunk(b, id, j, &c) != 0)
            return; /* marked corrupt: skipped from now on */
        if (n + c.count > base + total ||
            rollup_chunk_decode(c.data, c.nbytes, c.count, r->t + n, cols) != c.count) {
            block_set_corrupt(b, "rollup chunk does not decode");
            return;
        }
        n += c.count;
    }
    size_t n0 = n;
    for (int k = 0; k < NSTREAMS && room[r->first]; k++) {
        if (!r->want[k])
            continue;
        int64_t *t = k == r->first ? r->t : r->tscratch;
        n = n0;
        for (uint32_t j = 0; j < s->nchunks; j++) {
            struct block_chunk c;
            if (block_series_chunk_ref(b, id, j, &c) != 0 || c.kind != BLOCK_KIND_MIN + k ||
                c.maxt < r->mint || c.mint > r->maxt)
                continue;
            if (block_series_chunk(b, id, j, &c) != 0)
                return; /* marked corrupt: skipped from now on */
            if (n + c.count > base + total ||
                block_chunk_decode(&c, t + n, r->col[k] + n) != c.count) {
                block_set_corrupt(b, "chunk does not decode");
                return;
            }
            n += c.count;
        }
    }
    rscan_keep(r, base, base + total, block_series_has_tombstones(b, id) ? b : NULL, id);
}

/* Append the buckets of raw series sd. */
static void rscan_raw(struct rscan *r, const struct series_data *sd)
{
    if (sd->n > r->pcap) {
        r->pcap = sd->n * 2;
        r->pts = xrealloc(r->pts, r->pcap * sizeof *r->pts);
    }
    size_t k = rollup_bucketize(sd->t, sd->v, sd->n, r->res, r->pts);
    size_t base = r->n;
    rscan_reserve(r, base + k);
    for (size_t q = 0; q < k; q++) {
        r->t[base + q] = r->pts[q].t;
        for (int s = 0; s < NSTREAMS; s++)
            if (r->want[s])
                r->col[s][base + q] =
                    rollup_value(&r->pts[q], (enum block_kind)(BLOCK_KIND_MIN + s));
    }
    rscan_keep(r, base, base + k, NULL, 0);
}

static int cmp_rpoint(const void *a, const void *b)
{
    const struct rollup_point *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->last_t > y->last_t) - (x->last_t < y->last_t);
}

/* Put the buckets in order, combining partial buckets with the same end.
 * Sources come in time order and rscan_keep folds a bucket split between two
 * of them (a raw block starts on a bucket boundary; the sample there belongs
 * to the bucket that ends there), so this only checks, unless sources
 * overlap in time. */
static void rscan_combine(struct rscan *r)
{
    bool ordered = true;
    for (size_t i = 1; i < r->n && ordered; i++)
        ordered = r->t[i - 1] < r->t[i];
    if (ordered)
        return;
    if (r->n > r->pcap) {
        r->pcap = r->n * 2;
        r->pts = xrealloc(r->pts, r->pcap * sizeof *r->pts);
    }
    struct rollup_point *p = r->pts;
    for (size_t i = 0; i < r->n; i++) {
        double f[NSTREAMS];
        for (int k = 0; k < NSTREAMS; k++)
            f[k] = r->want[k] ? r->col[k][i] : 0;
        p[i] = (struct rollup_point){r->t[i], f[0], f[1], f[2], f[3], f[4], (int64_t)f[5]};
    }
    qsort(p, r->n, sizeof *p, cmp_rpoint);
    for (size_t i = 0; i < r->n; i++) {
        r->t[i] = p[i].t;
        for (int s = 0; s < NSTREAMS; s++)
            if (r->want[s])
                r->col[s][i] = rollup_value(&p[i], (enum block_kind)(BLOCK_KIND_MIN + s));
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        rscan_take(r, &k, i);
    r->n = k;
}

static int cmp_block_time(const void *a, const void *b)
{
    const struct block_meta *x = block_get_meta(((const struct rsrc *)a)->b),
                            *y = block_get_meta(((const struct rsrc *)b)->b);
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int tsdb_scan_rollup(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                            int64_t maxt, int64_t res, const enum storage_agg *aggs, size_t naggs,
                            storage_rollup_visit visit, void *arg, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    bool known = false;
    for (int i = 0; i < 2; i++)
        known |= db->opt.rollup_res_ms[i] == res;
    for (size_t i = 0; i < naggs; i++)
        known &= aggs[i] >= STORAGE_AGG_MIN && aggs[i] <= STORAGE_AGG_LAST_T;
    if (!known || !naggs)
        return err_set(err, SABA_EINVAL, 0, "no rollup tier at %lld ms", (long long)res);
    if (naggs > STORAGE_MAX_ROLLUP_AGGS)
        return err_set(err, SABA_EINVAL, 0, "too many rollup aggregates");
    struct rscan r = {.mint = mint, .maxt = maxt, .res = res};
    /* the streams to read: those asked for, and the last time with the last
     * value (partial buckets are combined by it) */
    for (size_t i = 0; i < naggs; i++)
        r.want[aggs[i] - STORAGE_AGG_MIN] = true;
    if (r.want[STORAGE_AGG_LAST - STORAGE_AGG_MIN])
        r.want[STORAGE_AGG_LAST_T - STORAGE_AGG_MIN] = true;
    while (!r.want[r.first])
        r.first++;
    pthread_rwlock_rdlock(&db->lock);
    r.src = xcalloc(db->nblocks + 1, sizeof *r.src);
    for (size_t i = 0; i < db->nblocks; i++) {
        struct block *b = db->blocks[i];
        const struct block_meta *bm = block_get_meta(b);
        if (bm->resolution_ms != res || block_is_corrupt(b) || bm->maxt < mint || bm->mint > maxt)
            continue;
        struct rsrc *s = &r.src[r.nsrc];
        s->b = b;
        s->n = block_match(b, m, nm, &s->ids);
        if (s->n)
            r.nsrc++;
    }
    if (r.nsrc > 1)
        qsort(r.src, r.nsrc, sizeof *r.src, cmp_block_time);
    /* bucket ends in [mint, maxt] take the raw samples in (mint - res, maxt] */
    int rc = select_locked(db, m, nm, mint - res + 1, maxt, true, res, &r.raw, err);
    if (rc == 0 && r.raw.n)
        r.src[r.nsrc++] = (struct rsrc){.n = r.raw.n};
    for (size_t i = 0; i < r.nsrc; i++)
        rsrc_load(&r.src[i], &r.raw);
    size_t *same = xmalloc((r.nsrc ? r.nsrc : 1) * sizeof *same);
    while (rc == 0) {
        /* the least labels among the sources, and every source holding them */
        struct rsrc *lo = NULL;
        size_t ns = 0;
        for (size_t i = 0; i < r.nsrc; i++) {
            struct rsrc *s = &r.src[i];
            if (s->pos >= s->n)
                continue;
            int c = lo ? labels_cmp(&s->cur, &lo->cur) : -1;
            if (c < 0) {
                lo = s;
                ns = 0;
            }
            if (c <= 0)
                same[ns++] = i;
        }
        if (!lo)
            break;
        r.n = 0;
        for (size_t i = 0; i < ns; i++) {
            struct rsrc *s = &r.src[same[i]];
            if (s->b)
                rscan_block(&r, s);
            else
                rscan_raw(&r, &r.raw.v[s->pos]);
        }
        rscan_combine(&r);
        if (r.n) {
            const double *v[STORAGE_MAX_ROLLUP_AGGS];
            for (size_t a = 0; a < naggs; a++)
                v[a] = r.col[aggs[a] - STORAGE_AGG_MIN];
            rc = visit(arg, &lo->cur, r.n, r.t, v);
        }
        for (size_t i = 0; i < ns; i++) {
            r.src[same[i]].pos++;
            rsrc_load(&r.src[same[i]], &r.raw);
        }
    }
    pthread_rwlock_unlock(&db->lock);
    free(same);
    for (size_t i = 0; i < r.nsrc; i++)
        free(r.src[i].ids);
    free(r.src);
    series_set_free(&r.raw);
    free(r.t);
    free(r.tscratch);
    for (int k = 0; k < NSTREAMS; k++)
        free(r.col[k]);
    free(r.pts);
    return rc;
}

/* select_rollup: a scan that keeps what it visits. */
struct collect {
    struct series_set *outs;
    size_t naggs, cap;
};

static int collect_visit(void *arg, const struct labels *ls, size_t n, const int64_t *t,
                         const double *const *v)
{
    struct collect *c = arg;
    if (c->outs[0].n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        for (size_t a = 0; a < c->naggs; a++)
            c->outs[a].v = xrealloc(c->outs[a].v, c->cap * sizeof(struct series_data));
    }
    for (size_t a = 0; a < c->naggs; a++) {
        struct series_data sd = {labels_copy(ls->v, ls->n), n, xmalloc(n * sizeof(int64_t)),
                                 xmalloc(n * sizeof(double))};
        memcpy(sd.t, t, n * sizeof *t);
        memcpy(sd.v, v[a], n * sizeof(double));
        c->outs[a].v[c->outs[a].n++] = sd;
    }
    return 0;
}

static int tsdb_select_rollup(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                              int64_t maxt, int64_t res, const enum storage_agg *aggs, size_t naggs,
                              struct series_set *outs, struct saba_err *err)
{
    for (size_t a = 0; a < naggs; a++)
        outs[a] = (struct series_set){0};
    struct collect c = {outs, naggs, 0};
    int rc = naggs
                 ? tsdb_scan_rollup(st, m, nm, mint, maxt, res, aggs, naggs, collect_visit, &c, err)
                 : 0;
    if (rc)
        for (size_t a = 0; a < naggs; a++)
            series_set_free(&outs[a]);
    return rc;
}

static int tsdb_label_names(struct storage *st, struct strlist *out)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    head_label_names(db->head, out);
    for (size_t i = 0; i < db->nblocks; i++)
        if (block_get_meta(db->blocks[i])->resolution_ms == 0)
            block_label_names(db->blocks[i], out);
    pthread_rwlock_unlock(&db->lock);
    strlist_sort_unique(out);
    return 0;
}

static int tsdb_label_values(struct storage *st, const char *name, struct strlist *out)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_rdlock(&db->lock);
    head_label_values(db->head, name, out);
    for (size_t i = 0; i < db->nblocks; i++)
        if (block_get_meta(db->blocks[i])->resolution_ms == 0)
            block_label_values(db->blocks[i], name, out);
    pthread_rwlock_unlock(&db->lock);
    strlist_sort_unique(out);
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
    struct tsdb_block_stats bs;
    tsdb_block_stats(st, &bs);
    out->blocks = bs.blocks;
    out->block_bytes = bs.block_bytes;
    out->block_samples = bs.block_samples;
    out->compactions = bs.compactions;
    out->corrupt_blocks = bs.corrupt_blocks;
}

void tsdb_block_stats(struct storage *st, struct tsdb_block_stats *out)
{
    struct tsdb *db = (struct tsdb *)st;
    /* counters are updated atomically: no need to wait for a maintenance round */
    out->cuts = __atomic_load_n(&db->bstats.cuts, __ATOMIC_RELAXED);
    out->compactions = __atomic_load_n(&db->bstats.compactions, __ATOMIC_RELAXED);
    out->rollups = __atomic_load_n(&db->bstats.rollups, __ATOMIC_RELAXED);
    out->corrupt_blocks = __atomic_load_n(&db->bstats.corrupt_blocks, __ATOMIC_RELAXED);
    out->failed_maintenance = __atomic_load_n(&db->bstats.failed_maintenance, __ATOMIC_RELAXED);
    pthread_rwlock_rdlock(&db->lock);
    out->blocks = db->nblocks;
    out->block_bytes = out->block_samples = out->block_series = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct block_meta *m = block_get_meta(db->blocks[i]);
        out->block_bytes += m->bytes;
        if (m->resolution_ms == 0) { /* rollup points are not samples */
            out->block_samples += m->nsamples;
            out->block_series += m->nseries;
        }
    }
    pthread_rwlock_unlock(&db->lock);
}

/* ---- blocks on disk ---- */

static char *block_dir_of(const struct tsdb *db, uint64_t seq)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/%016llx", db->blocks_dir, (unsigned long long)seq);
    return buf_steal(&b);
}

/* Delete a block directory crash-safely: rename it to .del first, so a crash
 * halfway through the removal never leaves a half block that looks whole. */
static int remove_block_dir(const struct tsdb *db, uint64_t seq)
{
    char *dir = block_dir_of(db, seq);
    struct buf del = BUF_INIT;
    buf_printf(&del, "%s.del", dir);
    int rc = fops->rename(dir, del.data);
    if (rc == 0) {
        fops_fsync_dir(db->blocks_dir);
        fops_remove_dir(del.data);
    }
    free(dir);
    buf_free(&del);
    return rc;
}

static void add_block(struct tsdb *db, struct block *b)
{
    db->blocks = xrealloc(db->blocks, (db->nblocks + 1) * sizeof *db->blocks);
    db->blocks[db->nblocks++] = b;
}

struct found {
    uint64_t seq;
    struct block_meta meta;
    bool ok;
};

/* Open every block: clear leftovers of crashed writes and deletions, drop
 * blocks that a compaction replaced, skip (and name) corrupt ones. */
static int load_blocks(struct tsdb *db, struct saba_err *err)
{
    if (fops->mkdir(db->blocks_dir, 0755) != 0 && errno != EEXIST)
        return err_set(err, SABA_EIO, 0, "create %s: %s", db->blocks_dir, strerror(errno));
    DIR *d = opendir(db->blocks_dir);
    if (!d)
        return err_set(err, SABA_EIO, 0, "open %s: %s", db->blocks_dir, strerror(errno));
    struct found *f = NULL;
    size_t nf = 0;
    struct dirent *de;
    struct buf p = BUF_INIT;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (name[0] == '.')
            continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", db->blocks_dir, name);
        size_t len = strlen(name);
        if (len == 20 && (!strcmp(name + 16, ".tmp") || !strcmp(name + 16, ".del"))) {
            fops_remove_dir(p.data); /* an unfinished write or deletion */
            continue;
        }
        if (len != 16 || strspn(name, "0123456789abcdef") != 16)
            continue;
        f = xrealloc(f, (nf + 1) * sizeof *f);
        f[nf] = (struct found){.seq = strtoull(name, NULL, 16)};
        struct saba_err e2 = {0};
        f[nf].ok = block_read_meta(p.data, &f[nf].meta, &e2) == 0 && f[nf].meta.seq == f[nf].seq;
        if (!f[nf].ok)
            log_error("tsdb", "msg=\"block meta unreadable; block skipped\" block=%s reason=\"%s\"",
                      p.data, e2.msg);
        nf++;
    }
    closedir(d);
    buf_free(&p);
    for (size_t i = 0; i < nf; i++)
        if (f[i].seq >= db->next_seq)
            db->next_seq = f[i].seq + 1;
    /* a block named as a parent by a readable block was replaced by it */
    for (size_t i = 0; i < nf; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nf && !replaced; j++) {
            if (!f[j].ok || j == i)
                continue;
            for (uint32_t k = 0; k < f[j].meta.nparents; k++)
                if (f[j].meta.parents[k] == f[i].seq)
                    replaced = true;
            if (f[j].meta.parents[0] >= db->next_seq)
                db->next_seq = f[j].meta.parents[0] + 1;
        }
        if (replaced) {
            log_info("tsdb", "msg=\"removing block replaced by a compaction\" seq=%016llx",
                     (unsigned long long)f[i].seq);
            remove_block_dir(db, f[i].seq);
            f[i].ok = false;
            continue;
        }
        if (!f[i].ok)
            continue;
        char *dir = block_dir_of(db, f[i].seq);
        struct block *b;
        struct saba_err e2 = {0};
        if (block_open(dir, &b, &e2) == 0) {
            add_block(db, b);
        } else {
            __atomic_fetch_add(&db->bstats.corrupt_blocks, 1, __ATOMIC_RELAXED);
            log_error("tsdb", "msg=\"block does not verify; skipped\" block=%s reason=\"%s\"", dir,
                      e2.msg);
        }
        free(dir);
    }
    free(f);
    return 0;
}

/* ---- maintenance ---- */

struct cut_ctx {
    struct block_writer *w;
    struct saba_err *err;
};

static int cut_series(void *arg, const struct head_series_view *s)
{
    struct cut_ctx *c = arg;
    return block_writer_add(c->w, s->ls, s->nls, s->chunks, s->nchunks, c->err);
}

static void crash_scope(struct tsdb *db, int scope)
{
    if (db->crash_scope == scope && db->crash_at) {
        fileops_crash_arm(db->crash_at);
        db->crash_at = 0; /* the first such operation only */
    }
}

static int64_t final_range(const struct tsdb *db);

/* Cut the samples before T out of the head into blocks; caller holds maint_mu. */
static int cut_head(struct tsdb *db, bool all, struct saba_err *err)
{
    int64_t bd = db->opt.block_duration_ms, mint, maxt;
    pthread_rwlock_wrlock(&db->lock);
    int rc = 0;
    if (!head_time_range(db->head, &mint, &maxt))
        goto out;
    int64_t T;
    if (all) {
        T = maxt == INT64_MAX ? INT64_MAX : maxt + 1;
    } else {
        if (maxt - mint < bd + bd / 2)
            goto out;
        int64_t x = maxt - bd / 2;
        T = x - ((x % bd) + bd) % bd;
    }
    if (mint >= T)
        goto out;
    crash_scope(db, CRASH_CUT);
    /* One block per window of the largest compaction size, so that history
     * written in one go (backfill, a long outage) lands in blocks that are
     * final at once and get rolled up window by window. */
    int64_t R = final_range(db);
    struct block_meta meta = {0}, total = {0};
    int nb = 0;
    for (int64_t w = bucket_start(mint, R); w < T && rc == 0; w += R) {
        int64_t before = w + R < T ? w + R : T;
        meta = (struct block_meta){.seq = db->next_seq++};
        struct cut_ctx c = {.err = err};
        rc = block_writer_new(db->blocks_dir, &meta, &c.w, err);
        if (rc)
            break;
        rc = head_visit(db->head, w, before, true, cut_series, &c);
        if (rc) {
            block_writer_abort(c.w);
            break;
        }
        rc = block_writer_commit(c.w, &meta, err);
        if (rc || !meta.nseries)
            continue;
        char *dir = block_dir_of(db, meta.seq);
        struct block *b;
        rc = block_open(dir, &b, err);
        free(dir);
        if (rc)
            break;
        add_block(db, b);
        nb++;
        total.nseries += meta.nseries;
        total.nsamples += meta.nsamples;
        total.bytes += meta.bytes;
    }
    if (rc)
        goto out; /* the head still has everything; blocks written so far are duplicates */
    /* From here on the samples before T are durable in the block. */
    uint32_t sealed;
    rc = wal_cut(db->wal, &sealed, err);
    if (rc)
        goto out; /* head and WAL keep the samples too; queries merge duplicates */
    head_truncate(db->head, T);
    if (T > db->cut_t)
        db->cut_t = T;
    rc = checkpoint_write(db->waldir, sealed, db->cut_t, db->head, err);
    if (rc)
        goto out; /* the WAL still replays everything: nothing is lost */
    wal_remove_before(db->wal, sealed + 1);
    __atomic_fetch_add(&db->bstats.cuts, 1, __ATOMIC_RELAXED);
    log_info("tsdb",
             "msg=\"head cut into blocks\" blocks=%d before=%lld series=%llu samples=%llu "
             "bytes=%llu",
             nb, (long long)T, (unsigned long long)total.nseries,
             (unsigned long long)total.nsamples, (unsigned long long)total.bytes);
out:
    fileops_crash_arm(0);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

/* Replace blocks in[0..n) by out (NULL if the merge left nothing). */
static void swap_blocks(struct tsdb *db, struct block **in, size_t n, struct block *out)
{
    pthread_rwlock_wrlock(&db->lock);
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        bool gone = false;
        for (size_t j = 0; j < n; j++)
            gone |= db->blocks[i] == in[j];
        if (!gone)
            db->blocks[k++] = db->blocks[i];
    }
    db->nblocks = k;
    if (out)
        add_block(db, out);
    pthread_rwlock_unlock(&db->lock);
    /* no reader holds them now: queries take the read lock */
    for (size_t j = 0; j < n; j++) {
        uint64_t seq = block_get_meta(in[j])->seq;
        block_close(in[j]);
        remove_block_dir(db, seq);
    }
}

/* Data before this time is not expected to change: everything before the
 * last cut is in blocks, and anything older than a maximum block duration is
 * history (backfill into it is possible, and then merged, but rare). Windows
 * that end before it are complete for compaction and rollups. */
static int64_t settled_before(const struct tsdb *db)
{
    int64_t t = now_ms() - db->opt.max_block_duration_ms;
    return db->cut_t > t ? db->cut_t : t;
}

static int compact_once(struct tsdb *db, bool *did, struct saba_err *err)
{
    *did = false;
    pthread_rwlock_rdlock(&db->lock);
    size_t n = 0;
    struct block **bl = xmalloc((db->nblocks + 1) * sizeof *bl);
    for (size_t i = 0; i < db->nblocks; i++)
        if (!block_is_corrupt(db->blocks[i]) && block_get_meta(db->blocks[i])->resolution_ms == 0)
            bl[n++] = db->blocks[i];
    int64_t done_before = settled_before(db);
    pthread_rwlock_unlock(&db->lock);
    struct block_meta *metas = xmalloc((n + 1) * sizeof *metas);
    for (size_t i = 0; i < n; i++)
        metas[i] = *block_get_meta(bl[i]);
    int64_t ranges[16];
    size_t nr = 0;
    for (int64_t r = db->opt.block_duration_ms * 3; r <= db->opt.max_block_duration_ms && nr < 16;
         r *= 3)
        ranges[nr++] = r;
    size_t *pick = xmalloc((n + 1) * sizeof *pick);
    size_t np = compact_plan(metas, n, ranges, nr, done_before, pick);
    if (np > BLOCK_MAX_PARENTS)
        np = BLOCK_MAX_PARENTS;
    for (size_t i = 0; np < 2 && i < n; i++) {
        if (block_has_tombstones(bl[i])) { /* apply its deletions */
            pick[0] = i;
            np = 1;
        }
    }
    int rc = 0;
    if (np >= 1) {
        struct block **in = xmalloc(np * sizeof *in);
        for (size_t i = 0; i < np; i++)
            in[i] = bl[pick[i]];
        crash_scope(db, CRASH_COMPACT);
        struct block_meta meta;
        uint64_t seq = db->next_seq++;
        /* retention deletes whole blocks once they are rolled up; compaction
         * keeps every sample so the rollups can be made from it */
        rc = compact_merge(in, np, db->blocks_dir, seq, INT64_MIN, &meta, err);
        struct block *out = NULL;
        if (rc == 0 && meta.nseries) {
            char *dir = block_dir_of(db, seq);
            rc = block_open(dir, &out, err);
            free(dir);
        }
        if (rc == 0) {
            swap_blocks(db, in, np, out);
            __atomic_fetch_add(&db->bstats.compactions, 1, __ATOMIC_RELAXED);
            *did = true;
            log_info("tsdb",
                     "msg=\"blocks compacted\" inputs=%zu seq=%016llx mint=%lld maxt=%lld "
                     "series=%llu samples=%llu",
                     np, (unsigned long long)seq, (long long)meta.mint, (long long)meta.maxt,
                     (unsigned long long)meta.nseries, (unsigned long long)meta.nsamples);
        }
        fileops_crash_arm(0);
        free(in);
    }
    free(bl);
    free(metas);
    free(pick);
    return rc;
}

/* Retention of a tier: how long blocks of this resolution are kept. */
static int64_t retention_of(const struct tsdb *db, int64_t res)
{
    for (int i = 0; i < 2; i++)
        if (res && db->opt.rollup_res_ms[i] == res)
            return db->opt.rollup_retention_ms[i];
    return db->opt.retention_ms; /* raw, or a tier no longer configured */
}

/* Is raw block i summarized in every rollup tier that would still keep it? */
static bool rolled_up(const struct tsdb *db, const struct block_meta *bm, int64_t now)
{
    for (int t = 0; t < 2; t++) {
        int64_t r = db->opt.rollup_res_ms[t];
        if (r <= 0 || bm->maxt < now - db->opt.rollup_retention_ms[t])
            continue;
        bool have = false;
        for (size_t j = 0; j < db->nblocks && !have; j++) {
            const struct block_meta *o = block_get_meta(db->blocks[j]);
            have = o->resolution_ms == r && o->source == bm->seq;
        }
        if (!have)
            return false;
    }
    return true;
}

/* Delete blocks whose newest sample is past their tier's retention; a raw
 * block waits until its rollups exist (old data imported or backfilled must
 * reach the rollup tiers before its raw samples go). */
static void apply_retention(struct tsdb *db)
{
    int64_t now = now_ms();
    pthread_rwlock_rdlock(&db->lock);
    struct block **old = xmalloc((db->nblocks + 1) * sizeof *old);
    size_t n = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct block_meta *bm = block_get_meta(db->blocks[i]);
        if (bm->maxt < now - retention_of(db, bm->resolution_ms) &&
            (bm->resolution_ms || block_is_corrupt(db->blocks[i]) || rolled_up(db, bm, now)))
            old[n++] = db->blocks[i];
    }
    pthread_rwlock_unlock(&db->lock);
    if (n) {
        log_info("tsdb", "msg=\"deleting blocks past retention\" blocks=%zu", n);
        swap_blocks(db, old, n, NULL);
    }
    free(old);
}

/* The largest compaction window: a raw block whose window of this size is
 * complete will not grow any more. */
static int64_t final_range(const struct tsdb *db)
{
    int64_t r = db->opt.block_duration_ms;
    while (r * 3 <= db->opt.max_block_duration_ms)
        r *= 3;
    return r;
}

/* Make the rollups of final raw blocks that have none yet (one per round). */
static int rollup_once(struct tsdb *db, bool *did, struct saba_err *err)
{
    *did = false;
    int64_t R = final_range(db);
    pthread_rwlock_rdlock(&db->lock);
    struct block *src = NULL;
    int64_t res = 0;
    uint64_t parents[BLOCK_MAX_PARENTS];
    struct block *pblocks[BLOCK_MAX_PARENTS];
    size_t np = 0;
    for (size_t i = 0; i < db->nblocks && !src; i++) {
        struct block *b = db->blocks[i];
        const struct block_meta *bm = block_get_meta(b);
        if (bm->resolution_ms || block_is_corrupt(b) ||
            bucket_start(bm->maxt, R) + R > settled_before(db))
            continue;
        bool overlaps = false; /* wait until compaction merged it */
        for (size_t j = 0; j < db->nblocks; j++) {
            const struct block_meta *o = block_get_meta(db->blocks[j]);
            overlaps |= j != i && !o->resolution_ms && o->mint <= bm->maxt && o->maxt >= bm->mint;
        }
        for (int t = 0; t < 2 && !src && !overlaps; t++) {
            int64_t r = db->opt.rollup_res_ms[t];
            if (r <= 0 || bm->maxt < now_ms() - db->opt.rollup_retention_ms[t])
                continue; /* the tier would not keep it */
            bool have = false;
            for (size_t j = 0; j < db->nblocks; j++) {
                const struct block_meta *o = block_get_meta(db->blocks[j]);
                have |= o->resolution_ms == r && o->source == bm->seq;
            }
            if (have)
                continue;
            src = b;
            res = r;
            /* older rollups of this range (from blocks this one replaced) */
            for (size_t j = 0; j < db->nblocks && np < BLOCK_MAX_PARENTS; j++) {
                const struct block_meta *o = block_get_meta(db->blocks[j]);
                if (o->resolution_ms == r && o->mint > bm->mint - r && o->maxt < bm->maxt + r) {
                    pblocks[np] = db->blocks[j];
                    parents[np++] = o->seq;
                }
            }
        }
    }
    pthread_rwlock_unlock(&db->lock);
    if (!src)
        return 0;
    uint64_t seq = db->next_seq++;
    struct block_meta meta;
    int rc = rollup_write(src, res, db->blocks_dir, seq, parents, np, &meta, err);
    struct block *out = NULL;
    if (rc == 0 && meta.nseries) {
        char *dir = block_dir_of(db, seq);
        rc = block_open(dir, &out, err);
        free(dir);
    }
    if (rc == 0) {
        swap_blocks(db, pblocks, np, out);
        __atomic_fetch_add(&db->bstats.rollups, 1, __ATOMIC_RELAXED);
        *did = true;
        log_info("tsdb",
                 "msg=\"rollup written\" seq=%016llx source=%016llx resolution_ms=%lld "
                 "series=%llu points=%llu replaced=%zu",
                 (unsigned long long)seq, (unsigned long long)block_get_meta(src)->seq,
                 (long long)res, (unsigned long long)meta.nseries,
                 (unsigned long long)meta.nsamples, np);
    }
    return rc;
}

/* The WAL since the last checkpoint may hold at most this much before the
 * head is checkpointed without a cut: replaying a WAL record costs more than
 * loading the same samples from a checkpoint (chunks are copied, not
 * re-appended), so this bounds restart time when the head is large but not
 * yet old enough to cut (many series, or a long block duration). */
#define CHECKPOINT_WAL_BYTES (128ull << 20)

static int checkpoint_if_big(struct tsdb *db, struct saba_err *err)
{
    if (wal_size(db->wal) < CHECKPOINT_WAL_BYTES)
        return 0;
    pthread_rwlock_wrlock(&db->lock);
    uint32_t sealed;
    int rc = wal_cut(db->wal, &sealed, err);
    if (rc == 0)
        rc = checkpoint_write(db->waldir, sealed, db->cut_t, db->head, err);
    if (rc == 0)
        wal_remove_before(db->wal, sealed + 1);
    pthread_rwlock_unlock(&db->lock);
    if (rc == 0)
        log_info("tsdb", "msg=\"head checkpointed\" segment=%u", sealed);
    return rc;
}

int tsdb_maintain(struct storage *st, bool flush_head, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_mutex_lock(&db->maint_mu);
    int rc = cut_head(db, flush_head, err);
    if (rc == 0)
        rc = checkpoint_if_big(db, err);
    /* bounded: each round merges two or more blocks into one */
    for (size_t round = 0; rc == 0 && !db->no_compact && round < 64; round++) {
        bool did;
        rc = compact_once(db, &did, err);
        if (!did)
            break;
    }
    for (size_t round = 0; rc == 0 && !db->no_compact && round < 64; round++) {
        bool did;
        rc = rollup_once(db, &did, err);
        if (!did)
            break;
    }
    apply_retention(db);
    if (rc) {
        __atomic_fetch_add(&db->bstats.failed_maintenance, 1, __ATOMIC_RELAXED);
        log_error("tsdb", "msg=\"maintenance failed; data stays where it was\" reason=\"%s\"",
                  err->msg);
    }
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

/* Blocks first (tombstones written atomically), then the WAL record that
 * replays the deletion into the head, then the head: a crash before the WAL
 * record leaves the deletion unacknowledged and the head unchanged. */
static int tsdb_delete_series(struct storage *st, struct matcher *const *m, size_t nm, int64_t mint,
                              int64_t maxt, struct saba_err *err)
{
    struct tsdb *db = (struct tsdb *)st;
    pthread_mutex_lock(&db->maint_mu); /* no compaction replaces blocks meanwhile */
    pthread_rwlock_wrlock(&db->lock);
    int rc = 0;
    size_t nseries = 0;
    for (size_t i = 0; i < db->nblocks && rc == 0; i++) {
        const struct block_meta *bm = block_get_meta(db->blocks[i]);
        /* a rollup bucket holding a deleted sample goes whole */
        int64_t hi = bm->resolution_ms && maxt <= INT64_MAX - bm->resolution_ms
                         ? maxt + bm->resolution_ms - 1
                         : maxt;
        size_t k = 0;
        rc = block_delete(db->blocks[i], m, nm, mint, hi, &k, err);
        nseries += k;
    }
    uint64_t lsn = 0;
    if (rc == 0) {
        struct buf rec = BUF_INIT;
        record_encode_delete(&rec, m, nm, mint, maxt);
        rc = wal_append(db->wal, rec.data, rec.len, &lsn, err);
        buf_free(&rec);
    }
    uint64_t dropped = 0;
    if (rc == 0)
        dropped = head_delete(db->head, m, nm, mint, maxt);
    pthread_rwlock_unlock(&db->lock);
    pthread_mutex_unlock(&db->maint_mu);
    if (rc == 0)
        rc = wal_flush(db->wal, err); /* a deletion is rare: make it durable now */
    if (rc == 0)
        log_info("tsdb",
                 "msg=\"series deleted\" mint=%lld maxt=%lld block_series=%zu "
                 "head_samples=%llu",
                 (long long)mint, (long long)maxt, nseries, (unsigned long long)dropped);
    return rc;
}

static int tsdb_flush(struct storage *st, struct saba_err *err)
{
    return tsdb_maintain(st, true, err);
}

static void *maint_main(void *arg)
{
    struct tsdb *db = arg;
    pthread_mutex_lock(&db->stop_mu);
    while (!db->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + db->opt.maintenance_interval_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&db->stop_cv, &db->stop_mu, &ts);
        if (db->stopping)
            break;
        pthread_mutex_unlock(&db->stop_mu);
        struct saba_err err = {0};
        tsdb_maintain(&db->base, false, &err);
        pthread_mutex_lock(&db->stop_mu);
    }
    pthread_mutex_unlock(&db->stop_mu);
    return NULL;
}

int tsdb_append_unlogged(struct storage *st, const struct batch *b, struct saba_err *err)
{
    (void)err;
    struct tsdb *db = (struct tsdb *)st;
    pthread_rwlock_wrlock(&db->lock);
    for (size_t i = 0; i < b->nsamples; i++) {
        bool is_new;
        uint32_t id = head_series_for(db->head, b, &b->samples[i], &is_new);
        head_append(db->head, id, b->samples[i].t, b->samples[i].v);
    }
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

static void free_db(struct tsdb *db)
{
    for (size_t i = 0; i < db->nblocks; i++)
        block_close(db->blocks[i]);
    free(db->blocks);
    head_free(db->head);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->maint_mu);
    pthread_mutex_destroy(&db->stop_mu);
    pthread_cond_destroy(&db->stop_cv);
    free(db->dir);
    free(db->waldir);
    free(db->blocks_dir);
    free(db);
}

static void tsdb_close(struct storage *st)
{
    struct tsdb *db = (struct tsdb *)st;
    if (db->maint_running) {
        pthread_mutex_lock(&db->stop_mu);
        db->stopping = true;
        pthread_cond_signal(&db->stop_cv);
        pthread_mutex_unlock(&db->stop_mu);
        pthread_join(db->maint, NULL);
    }
    wal_close(db->wal);
    free_db(db);
}

static const struct storage_ops tsdb_ops = {
    .append = tsdb_append,
    .select = tsdb_select,
    .select_each = tsdb_select_each,
    .label_names = tsdb_label_names,
    .label_values = tsdb_label_values,
    .stats = tsdb_stats,
    .close = tsdb_close,
    .delete_series = tsdb_delete_series,
    .flush = tsdb_flush,
    .rollup_resolutions = tsdb_rollup_resolutions,
    .rollup_span = tsdb_rollup_span,
    .select_rollup = tsdb_select_rollup,
    .scan_rollup = tsdb_scan_rollup,
};

static void read_test_hooks(struct tsdb *db)
{
    const char *c = getenv("SABA_TEST_CRASH");
    if (c) {
        unsigned long long n = 0;
        if (sscanf(c, "cut:%llu", &n) == 1)
            db->crash_scope = CRASH_CUT;
        else if (sscanf(c, "compact:%llu", &n) == 1)
            db->crash_scope = CRASH_COMPACT;
        db->crash_at = n;
    }
    const char *nc = getenv("SABA_TEST_COMPACT");
    db->no_compact = nc && !strcmp(nc, "off");
}

int tsdb_open(const struct tsdb_options *opt, struct storage **out, struct saba_err *err)
{
    if (mkdir(opt->dir, 0755) != 0 && errno != EEXIST)
        return err_set(err, SABA_EIO, 0, "create data directory %s: %s", opt->dir, strerror(errno));
    struct tsdb *db = xcalloc(1, sizeof *db);
    db->base.ops = &tsdb_ops;
    db->opt = *opt;
    if (db->opt.block_duration_ms <= 0)
        db->opt.block_duration_ms = TSDB_DEFAULT_BLOCK_DURATION_MS;
    if (db->opt.max_block_duration_ms <= 0)
        db->opt.max_block_duration_ms = TSDB_DEFAULT_MAX_BLOCK_DURATION_MS;
    if (db->opt.retention_ms <= 0)
        db->opt.retention_ms = TSDB_DEFAULT_RETENTION_MS;
    if (db->opt.maintenance_interval_ms <= 0)
        db->opt.maintenance_interval_ms = TSDB_DEFAULT_MAINTENANCE_MS;
    static const int64_t def_res[2] = {TSDB_DEFAULT_ROLLUP1_MS, TSDB_DEFAULT_ROLLUP2_MS};
    static const int64_t def_ret[2] = {TSDB_DEFAULT_ROLLUP1_RETENTION_MS,
                                       TSDB_DEFAULT_ROLLUP2_RETENTION_MS};
    for (int i = 0; i < 2; i++) {
        if (db->opt.rollup_res_ms[i] == 0)
            db->opt.rollup_res_ms[i] = def_res[i];
        if (db->opt.rollup_retention_ms[i] <= 0)
            db->opt.rollup_retention_ms[i] = def_ret[i];
    }
    db->dir = xstrdup(opt->dir);
    db->opt.dir = db->dir;
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/wal", opt->dir);
    db->waldir = buf_steal(&b);
    buf_printf(&b, "%s/blocks", opt->dir);
    db->blocks_dir = buf_steal(&b);
    db->lock_fd = -1;
    db->next_seq = 1;
    db->cut_t = INT64_MIN;
    pthread_rwlock_init(&db->lock, NULL);
    pthread_mutex_init(&db->maint_mu, NULL);
    pthread_mutex_init(&db->stop_mu, NULL);
    pthread_cond_init(&db->stop_cv, NULL);
    db->head = head_new();
    read_test_hooks(db);
    int rc = lock_dir(opt->dir, &db->lock_fd, err);
    if (rc)
        goto fail;
    int64_t t0 = mono_ns();
    rc = load_blocks(db, err);
    if (rc)
        goto fail;
    if (mkdir(db->waldir, 0755) != 0 && errno != EEXIST) {
        rc = err_set(err, SABA_EIO, 0, "create %s: %s", db->waldir, strerror(errno));
        goto fail;
    }
    int64_t ckseg;
    int64_t t1 = mono_ns();
    struct checkpoint_check *check;
    rc = checkpoint_load(db->waldir, db->head, &ckseg, &db->cut_t, &check, err);
    if (rc)
        goto fail;
    if (ckseg >= 0)
        log_info("tsdb", "msg=\"checkpoint loaded\" checkpoint=%lld series=%u duration_ms=%lld",
                 (long long)ckseg, head_num_series(db->head),
                 (long long)((mono_ns() - t1) / 1000000));
    struct wal_options wo = {.fsync_interval_ms = opt->fsync_interval_ms,
                             .segment_bytes = opt->wal_segment_bytes,
                             .replay_from = ckseg + 1};
    /* The WAL is replayed while the checkpoint's check may still run, its
     * samples appended on two threads where there are two CPUs. */
    struct replay_ctx rctx = {.replay = record_replay_new(db->head, par_threads() > 1)};
    struct wal_replay_stats rs;
    rc = wal_open(db->waldir, &wo, replay_record, &rctx, &rs, &db->wal, err);
    record_replay_free(rctx.replay);
    struct saba_err cerr = {0};
    if (checkpoint_check_finish(check, &cerr) != 0) {
        if (rc == 0)
            wal_close(db->wal);
        rc = err_set(err, cerr.code ? cerr.code : SABA_ECORRUPT, 0, "%s", cerr.msg);
    }
    if (rc)
        goto fail;
    log_info("tsdb",
             "msg=\"WAL replayed\" blocks=%zu checkpoint=%lld records=%llu samples=%llu series=%u "
             "bytes=%llu truncated_bytes=%llu bad_records=%llu duration_ms=%lld",
             db->nblocks, (long long)ckseg, (unsigned long long)rs.records,
             (unsigned long long)rctx.samples, head_num_series(db->head),
             (unsigned long long)rs.bytes, (unsigned long long)rs.truncated_bytes,
             (unsigned long long)rctx.bad, (long long)((mono_ns() - t0) / 1000000));
    if (!opt->no_maintenance) {
        if (pthread_create(&db->maint, NULL, maint_main, db) != 0) {
            rc = err_set(err, SABA_EIO, 0, "start tsdb maintenance thread");
            wal_close(db->wal);
            goto fail;
        }
        db->maint_running = true;
    }
    *out = &db->base;
    return 0;
fail:
    free_db(db);
    return rc;
}
