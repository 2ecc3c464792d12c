/*
 * record.c - encoding and replaying WAL batch records (see record.h).
 */
#include "storage/tsdb/record.h"
#include "base/alloc.h"

#include <pthread.h>
#include <stdbool.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool small_int(double v, int64_t *out)
{
    /* |v| < 2^53 are exact integers; -0.0 must stay a float to round-trip */
    if (!(fabs(v) < 9007199254740992.0) || v != (double)(int64_t)v || (v == 0 && signbit(v)))
        return false;
    *out = (int64_t)v;
    return true;
}

void record_encode_batch(struct buf *out, const struct batch *b, const uint32_t *ids,
                         const uint32_t *new_samples, size_t n_new)
{
    buf_putc(out, RECORD_BATCH);
    buf_put_uvarint(out, n_new);
    for (size_t k = 0; k < n_new; k++) {
        const struct batch_sample *s = &b->samples[new_samples[k]];
        buf_put_uvarint(out, ids[new_samples[k]]);
        buf_put_uvarint(out, s->nlabels);
        for (uint16_t i = 0; i < s->nlabels; i++) {
            const struct batch_label *l = &b->labels[s->label_off + i];
            buf_put_uvarint(out, l->name_len);
            buf_append(out, batch_str(b, l->name_off), l->name_len);
            buf_put_uvarint(out, l->value_len);
            buf_append(out, batch_str(b, l->value_off), l->value_len);
        }
    }
    buf_put_uvarint(out, b->nsamples);
    int64_t prev_id = 0, prev_t = 0;
    for (size_t i = 0; i < b->nsamples; i++) {
        const struct batch_sample *s = &b->samples[i];
        int64_t iv;
        bool is_int = small_int(s->v, &iv);
        buf_put_uvarint(out, zigzag_enc((int64_t)ids[i] - prev_id) << 1 | is_int);
        buf_put_uvarint(out, zigzag_enc(s->t - prev_t));
        if (is_int) {
            buf_put_uvarint(out, zigzag_enc(iv));
        } else {
            uint64_t bits;
            memcpy(&bits, &s->v, 8);
            buf_put_u64le(out, bits);
        }
        prev_id = ids[i];
        prev_t = s->t;
    }
}

static int get_str(const uint8_t **p, const uint8_t *end, const char **s, uint32_t *n)
{
    uint64_t len;
    if (uvarint_read(p, end, &len) || len > (uint64_t)(end - *p))
        return -1;
    *s = (const char *)*p;
    *n = (uint32_t)len;
    *p += len;
    return 0;
}

void record_encode_delete(struct buf *out, struct matcher *const *m, size_t nm, int64_t mint,
                          int64_t maxt)
{
    buf_putc(out, RECORD_DELETE);
    buf_put_uvarint(out, nm);
    for (size_t i = 0; i < nm; i++) {
        const char *name = matcher_name(m[i]), *value = matcher_value(m[i]);
        buf_putc(out, (char)matcher_type(m[i]));
        buf_put_uvarint(out, strlen(name));
        buf_puts(out, name);
        buf_put_uvarint(out, strlen(value));
        buf_puts(out, value);
    }
    buf_put_uvarint(out, zigzag_enc(mint));
    buf_put_uvarint(out, zigzag_enc(maxt));
}

static int apply_delete(struct head *h, const uint8_t *p, const uint8_t *end, struct saba_err *err)
{
    uint64_t nm, zmin, zmax;
    if (uvarint_read(&p, end, &nm) || nm > 64)
        return err_set(err, SABA_ECORRUPT, 0, "bad matcher count");
    struct matcher *m[64];
    size_t got = 0;
    int rc = 0;
    for (uint64_t i = 0; i < nm && rc == 0; i++) {
        const char *name, *value;
        uint32_t nl, vl;
        if (p == end || *p > MATCH_NRE) {
            rc = err_set(err, SABA_ECORRUPT, 0, "bad matcher type");
            break;
        }
        enum matcher_type t = (enum matcher_type) * p++;
        if (get_str(&p, end, &name, &nl) || get_str(&p, end, &value, &vl)) {
            rc = err_set(err, SABA_ECORRUPT, 0, "truncated matcher");
            break;
        }
        char *ns = xstrndup(name, nl), *vs = xstrndup(value, vl);
        struct saba_err e2 = {0};
        if (matcher_new(t, ns, vs, &m[got], &e2) == 0)
            got++;
        else
            rc = err_set(err, SABA_ECORRUPT, 0, "bad matcher: %s", e2.msg);
        free(ns);
        free(vs);
    }
    if (rc == 0 && (uvarint_read(&p, end, &zmin) || uvarint_read(&p, end, &zmax) || p != end))
        rc = err_set(err, SABA_ECORRUPT, 0, "bad deletion range");
    if (rc == 0)
        head_delete(h, m, got, zigzag_dec(zmin), zigzag_dec(zmax));
    for (size_t i = 0; i < got; i++)
        matcher_free(m[i]);
    return rc;
}

/* ---- replay on two threads ----
 *
 * Appending a sample to its series is most of a replay. A worker thread
 * takes the samples of two series groups in three (groups of 64 ids, so two
 * threads seldom write one cache line); this thread decodes every record,
 * defines series and appends the rest. Samples reach the worker in batches
 * through a short queue, so they stay in WAL order per series. */

#define BATCH_SAMPLES 8192
#define QUEUE_DEPTH   8
#define PREFETCH      8 /* samples ahead: head_prefetch, and twice that head_prefetch_series */

struct rsample {
    uint32_t id;
    int64_t t;
    double v;
};

struct rbatch {
    size_t n;
    struct rbatch *next; /* on the spare list */
    struct rsample s[BATCH_SAMPLES];
};

struct record_replay {
    struct head *h;
    bool threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue changed (either way), or stop */
    struct rbatch *q[QUEUE_DEPTH];
    size_t qfirst, qlen;
    bool busy, stop;         /* worker applying a batch; told to stop */
    struct head_tally tally; /* the worker's */
    struct rbatch *fill;     /* being filled for the worker */
    struct rbatch *mine;     /* this thread's share of the record being decoded */
    struct rbatch *spare;    /* applied by the worker, to be filled again */
};

static void prefetch(const struct head *h, const struct rbatch *b, size_t i)
{
    if (i + 2 * PREFETCH < b->n)
        head_prefetch_series(h, b->s[i + 2 * PREFETCH].id);
    if (i + PREFETCH < b->n)
        head_prefetch(h, b->s[i + PREFETCH].id);
}

static bool to_worker(uint32_t id)
{
    return (id >> 6) % 3 != 0;
}

static void *worker_main(void *arg)
{
    struct record_replay *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->qlen && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (!r->qlen)
            break;
        struct rbatch *b = r->q[r->qfirst];
        r->qfirst = (r->qfirst + 1) % QUEUE_DEPTH;
        r->qlen--;
        r->busy = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        for (size_t i = 0; i < b->n; i++) {
            prefetch(r->h, b, i);
            head_append_shard(r->h, &r->tally, b->s[i].id, b->s[i].t, b->s[i].v);
        }
        pthread_mutex_lock(&r->mu);
        b->next = r->spare; /* batches are reused: fresh memory costs page faults */
        r->spare = b;
        r->busy = false;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Queue the batch being filled (if any) for the worker. */
static void hand_over(struct record_replay *r)
{
    if (!r->fill || !r->fill->n)
        return;
    pthread_mutex_lock(&r->mu);
    while (r->qlen == QUEUE_DEPTH)
        pthread_cond_wait(&r->cv, &r->mu);
    r->q[(r->qfirst + r->qlen) % QUEUE_DEPTH] = r->fill;
    r->qlen++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    r->fill = NULL;
}

/* Hand over what is pending and wait until the worker has applied it all. */
static void drain(struct record_replay *r)
{
    if (!r->threaded)
        return;
    hand_over(r);
    pthread_mutex_lock(&r->mu);
    while (r->qlen || r->busy)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

struct record_replay *record_replay_new(struct head *h, bool threaded)
{
    struct record_replay *r = xcalloc(1, sizeof *r);
    r->h = h;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->threaded = threaded && pthread_create(&r->th, NULL, worker_main, r) == 0;
    return r;
}

void record_replay_free(struct record_replay *r)
{
    if (!r)
        return;
    if (r->threaded) {
        hand_over(r);
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
        head_add_tally(r->h, &r->tally);
    }
    free(r->fill);
    free(r->mine);
    while (r->spare) {
        struct rbatch *b = r->spare;
        r->spare = b->next;
        free(b);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* Append this thread's share of the record decoded so far. */
static void apply_mine(struct record_replay *r)
{
    struct rbatch *b = r->mine;
    for (size_t i = 0; b && i < b->n; i++) {
        prefetch(r->h, b, i);
        head_append(r->h, b->s[i].id, b->s[i].t, b->s[i].v);
    }
    if (b)
        b->n = 0;
}

static void append(struct record_replay *r, uint32_t id, int64_t t, double v)
{
    if (!r->threaded || !to_worker(id)) {
        if (!r->mine) {
            r->mine = xmalloc(sizeof *r->mine);
            r->mine->n = 0;
        }
        r->mine->s[r->mine->n++] = (struct rsample){id, t, v};
        if (r->mine->n == BATCH_SAMPLES)
            apply_mine(r);
        return;
    }
    if (!r->fill) {
        pthread_mutex_lock(&r->mu);
        r->fill = r->spare;
        if (r->fill)
            r->spare = r->fill->next;
        pthread_mutex_unlock(&r->mu);
        if (!r->fill)
            r->fill = xmalloc(sizeof *r->fill);
        r->fill->n = 0;
    }
    r->fill->s[r->fill->n++] = (struct rsample){id, t, v};
    if (r->fill->n == BATCH_SAMPLES)
        hand_over(r);
}

/* A series defined by a record: its id must not make the head move its
 * tables while the worker reads them (head.h). */
static int define(struct record_replay *r, uint32_t id, const struct head_label *ls, size_t n)
{
    if (r->threaded && id >= head_capacity(r->h)) {
        drain(r);
        head_reserve(r->h, id + 1 > head_num_series(r->h) * 2 ? id + 1 : head_num_series(r->h) * 2);
    }
    return head_series_create(r->h, id, ls, n);
}

static int apply_record(struct record_replay *r, const uint8_t *p, size_t n, uint64_t *samples,
                        struct saba_err *err)
{
    struct head *h = r->h;
    const uint8_t *end = p + n;
    if (n >= 1 && *p == RECORD_DELETE) {
        drain(r);
        return apply_delete(h, p + 1, end, err);
    }
    if (n < 1 || *p++ != RECORD_BATCH)
        return err_set(err, SABA_ECORRUPT, 0, "unknown WAL record type");
    uint64_t nseries, nsamples;
    if (uvarint_read(&p, end, &nseries))
        return err_set(err, SABA_ECORRUPT, 0, "truncated series count");
    for (uint64_t k = 0; k < nseries; k++) {
        uint64_t id, nl;
        struct head_label ls[256];
        /* ids are dense; a gap can only follow a skipped corrupt segment, so
         * a far-off id is corruption, not a reason to allocate gigabytes */
        if (uvarint_read(&p, end, &id) || id > (uint64_t)head_num_series(h) + (1u << 20) ||
            uvarint_read(&p, end, &nl) || nl > 256)
            return err_set(err, SABA_ECORRUPT, 0, "bad series definition");
        for (uint64_t i = 0; i < nl; i++)
            if (get_str(&p, end, &ls[i].name, &ls[i].name_len) ||
                get_str(&p, end, &ls[i].value, &ls[i].value_len))
                return err_set(err, SABA_ECORRUPT, 0, "truncated label");
        if (define(r, (uint32_t)id, ls, nl) != 0)
            return err_set(err, SABA_ECORRUPT, 0, "series id %llu defined twice",
                           (unsigned long long)id);
    }
    if (uvarint_read(&p, end, &nsamples))
        return err_set(err, SABA_ECORRUPT, 0, "truncated sample count");
    int64_t id = 0, t = 0;
    for (uint64_t i = 0; i < nsamples; i++) {
        uint64_t idz, tz, vz;
        double v;
        if (uvarint_read(&p, end, &idz) || uvarint_read(&p, end, &tz))
            return err_set(err, SABA_ECORRUPT, 0, "truncated sample");
        id += zigzag_dec(idz >> 1);
        t = (int64_t)((uint64_t)t + (uint64_t)zigzag_dec(tz));
        if (idz & 1) {
            if (uvarint_read(&p, end, &vz))
                return err_set(err, SABA_ECORRUPT, 0, "truncated value");
            v = (double)zigzag_dec(vz);
        } else {
            if (end - p < 8)
                return err_set(err, SABA_ECORRUPT, 0, "truncated value");
            uint64_t bits = load_u64le(p);
            p += 8;
            memcpy(&v, &bits, 8);
        }
        if (id < 0 || id >= UINT32_MAX || !head_has_series(h, (uint32_t)id))
            return err_set(err, SABA_ECORRUPT, 0, "sample refers to unknown series %lld",
                           (long long)id);
        append(r, (uint32_t)id, t, v);
        (*samples)++;
    }
    if (p != end)
        return err_set(err, SABA_ECORRUPT, 0, "trailing bytes in record");
    return 0;
}

int record_replay_apply(struct record_replay *r, const uint8_t *p, size_t n, uint64_t *samples,
                        struct saba_err *err)
{
    int rc = apply_record(r, p, n, samples, err);
    apply_mine(r); /* what decoded before a fault is applied too */
    return rc;
}

int record_apply(struct head *h, const uint8_t *p, size_t n, uint64_t *samples,
                 struct saba_err *err)
{
    struct record_replay r = {.h = h};
    int rc = record_replay_apply(&r, p, n, samples, err);
    free(r.mine);
    return rc;
}
