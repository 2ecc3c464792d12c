/*
 * scrape.c - the scrape loops (see scrape.h).
 *
 * Each target owns a thread, a libcurl easy handle (kept for the target's
 * life, so connections are reused), and two series sets: the series of its
 * previous scrape and of the current one. A scrape builds one batch:
 * samples, then staleness markers for the previous scrape's series missing
 * from this one, then the report series; the batch is appended whole. Series
 * exposed with their own timestamp are not tracked for staleness (Prometheus
 * does the same: the exporter, not the scraper, owns their timeline).
 *
 * Invariants:
 *  1. Only the target's thread touches its curl handle, body and series sets;
 *     the scraper's thread only sets `stop` (under mu) and joins.
 *  2. Every wait is bounded by the interval and ends early when stop is set;
 *     an in-flight transfer is aborted by the progress callback on stop, so
 *     stopping a target takes at most about a second, not a scrape timeout.
 */
#include "scrape/scrape.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "ingest/exposition.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

/* The series of one scrape: label sets serialized as "name\0value\0..." in
 * keys, found by the batch's label-set hash. */
struct sseries {
    uint64_t hash;
    size_t off, len;
    bool track; /* gets a staleness marker when it disappears */
};

struct sset {
    struct hashmap idx; /* hash -> index in v */
    struct buf keys;
    struct sseries *v;
    size_t n, cap;
};

static void sset_reset(struct sset *s)
{
    hashmap_free(&s->idx);
    buf_reset(&s->keys);
    s->n = 0;
}

static void sset_free(struct sset *s)
{
    hashmap_free(&s->idx);
    buf_free(&s->keys);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bool sset_has(const struct sset *s, uint64_t hash)
{
    uint64_t v;
    size_t pos;
    return hashmap_find(&s->idx, hash, &v, &pos);
}

/* Remember batch sample i (its labels) unless its series is already there. */
static void sset_add(struct sset *s, const struct batch *b, size_t i, bool track)
{
    const struct batch_sample *smp = &b->samples[i];
    if (sset_has(s, smp->hash))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    size_t off = s->keys.len;
    for (uint16_t k = 0; k < smp->nlabels; k++) {
        const struct batch_label *l = &b->labels[smp->label_off + k];
        buf_append(&s->keys, batch_str(b, l->name_off), l->name_len + 1);
        buf_append(&s->keys, batch_str(b, l->value_off), l->value_len + 1);
    }
    s->v[s->n] = (struct sseries){smp->hash, off, s->keys.len - off, track};
    hashmap_add(&s->idx, smp->hash, s->n);
    s->n++;
}

struct scraper;

struct target {
    struct scrape_target_config cfg;
    char *key;
    struct scraper *owner;
    pthread_t thread;
    bool running; /* thread was started */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool stop;
    CURL *curl;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    struct buf body;
    bool body_too_big;
    struct sset prev, cur;
    bool scraped;   /* at least one scrape was written */
    int64_t last_t; /* its timestamp */
    bool was_up;
    int64_t last_complaint;
    int64_t last_newline_complaint;
};

struct scraper {
    const struct batch_limits *limits;
    scrape_sink_fn sink;
    void *ctx;
    struct target **t;
    size_t n;
};

/* Labels a sample may expose: the WAL and the head hold at most 256 per series
 * (limits.max_labels_per_series is capped there), so more can never be stored. */
#define MAX_EXPOSED_LABELS 256

static double stale_nan(void)
{
    uint64_t bits = SCRAPE_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* ---- one sample of a scrape -> the batch, with the target's labels ---- */

struct scrape_ctx {
    struct target *t;
    struct batch *b;
    int64_t ts;
    uint64_t scraped, post, skipped_bounds, skipped_newline;
    long newline_line; /* the first such sample's line, for the log */
};

static bool exposed_has(const struct expo_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (s->labels[i].value_len && !strcmp(s->labels[i].name, name))
            return true;
    return false;
}

static int add_label(struct batch *b, const char *n, const char *v, size_t vlen,
                     struct saba_err *err)
{
    return batch_label(b, n, strlen(n), v, vlen, err);
}

/* honor_labels: false - a target label wins; the exposed label it collides
 * with is kept as exported_<name> (exported_exported_<name>, ... while that
 * name is taken), shorter names first, as Prometheus resolves them. */
static int add_conflicting(struct scrape_ctx *c, const struct expo_sample *s, const size_t *conf,
                           size_t nconf, struct saba_err *err)
{
    size_t order[MAX_EXPOSED_LABELS];
    for (size_t i = 0; i < nconf; i++) {
        size_t j = i;
        while (j > 0 && s->labels[order[j - 1]].name_len > s->labels[conf[i]].name_len) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = conf[i];
    }
    char *done[MAX_EXPOSED_LABELS];
    int rc = 0;
    size_t ndone = 0;
    for (size_t i = 0; rc == 0 && i < nconf; i++) {
        const struct expo_label *l = &s->labels[order[i]];
        struct buf name = BUF_INIT;
        bool taken = true;
        /* bounded: each try is a new name, and at most nlabels + ntarget names are taken */
        for (size_t tries = 0; taken && tries <= s->nlabels + c->t->cfg.labels.n + 1; tries++) {
            buf_reset(&name);
            for (size_t k = 0; k <= tries; k++)
                buf_puts(&name, "exported_");
            buf_puts(&name, l->name);
            taken = labels_get(&c->t->cfg.labels, name.data) || exposed_has(s, name.data);
            for (size_t k = 0; k < ndone && !taken; k++)
                taken = !strcmp(done[k], name.data);
        }
        rc = add_label(c->b, name.data, l->value, l->value_len, err);
        done[ndone++] = buf_steal(&name);
    }
    for (size_t k = 0; k < ndone; k++)
        free(done[k]);
    return rc;
}

static int on_sample(void *ctx, const struct expo_sample *s, struct saba_err *err)
{
    struct scrape_ctx *c = ctx;
    struct target *t = c->t;
    struct batch *b = c->b;
    if (s->created)
        return 0; /* a creation time, not a value (see exposition.h) */
    c->scraped++;
    bool explicit_ts = s->has_timestamp && t->cfg.honor_timestamps;
    int64_t ts = explicit_ts ? s->t_ms : c->ts;
    if (ts < 0 || ts > b->now_ms + b->limits->max_future_ms) {
        c->skipped_bounds++; /* Prometheus: "out of bounds", skipped, the scrape goes on */
        return 0;
    }
    /* An escaped \n in a label value is valid exposition (Prometheus stores it)
     * but saba's label rules refuse control characters: skip that one series
     * and keep the target up, rather than fail the whole scrape. */
    for (size_t i = 0; i < s->nlabels; i++) {
        if (memchr(s->labels[i].value, '\n', s->labels[i].value_len)) {
            if (!c->skipped_newline++)
                c->newline_line = s->line;
            return 0;
        }
    }
    if (s->nlabels > (size_t)b->limits->max_labels || s->nlabels >= MAX_EXPOSED_LABELS)
        return err_set(err, SABA_EINVAL, 0, "series has more than %d labels",
                       b->limits->max_labels);
    const struct labels *tl = &t->cfg.labels;
    size_t conf[MAX_EXPOSED_LABELS], nconf = 0;
    batch_series_begin(b);
    int rc = batch_label(b, LABEL_NAME, sizeof LABEL_NAME - 1, s->name, s->name_len, err);
    for (size_t i = 0; rc == 0 && i < s->nlabels; i++) {
        const struct expo_label *l = &s->labels[i];
        if (!l->value_len)
            continue; /* an empty value is no label */
        if (!t->cfg.honor_labels && labels_get(tl, l->name))
            conf[nconf++] = i;
        else
            rc = add_label(b, l->name, l->value, l->value_len, err);
    }
    for (size_t i = 0; rc == 0 && i < tl->n; i++) {
        if (t->cfg.honor_labels && exposed_has(s, tl->v[i].name))
            continue; /* honor_labels: true - the exposed label wins */
        rc = add_label(b, tl->v[i].name, tl->v[i].value, strlen(tl->v[i].value), err);
    }
    if (rc == 0 && nconf)
        rc = add_conflicting(c, s, conf, nconf, err);
    if (rc) {
        batch_series_abort(b);
        return rc;
    }
    rc = batch_series_end(b, ts, s->value, err);
    if (rc)
        return rc;
    sset_add(&t->cur, b, b->nsamples - 1, !explicit_ts);
    c->post++;
    return 0;
}

/* A series of the target's own (up, scrape_*) with the target labels. */
static int add_report(struct target *t, struct batch *b, const char *name, int64_t ts, double v)
{
    struct saba_err err = {0};
    batch_series_begin(b);
    int rc = add_label(b, LABEL_NAME, name, strlen(name), &err);
    for (size_t i = 0; rc == 0 && i < t->cfg.labels.n; i++)
        rc = add_label(b, t->cfg.labels.v[i].name, t->cfg.labels.v[i].value,
                       strlen(t->cfg.labels.v[i].value), &err);
    if (rc) {
        batch_series_abort(b);
        return rc;
    }
    return batch_series_end(b, ts, v, &err);
}

static const char *const report_names[] = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added"};

/* Staleness markers at ts for the tracked series of set s missing from keep
 * (NULL: all of them). */
static void add_stale(struct batch *b, const struct sset *s, const struct sset *keep, int64_t ts)
{
    double stale = stale_nan();
    for (size_t i = 0; i < s->n; i++) {
        const struct sseries *e = &s->v[i];
        if (!e->track || (keep && sset_has(keep, e->hash)))
            continue;
        batch_series_begin(b);
        const char *p = s->keys.data + e->off, *end = p + e->len;
        int rc = 0;
        struct saba_err err = {0};
        while (rc == 0 && p < end) {
            const char *n = p, *v = n + strlen(n) + 1;
            rc = batch_label(b, n, strlen(n), v, strlen(v), &err);
            p = v + strlen(v) + 1;
        }
        /* these labels passed the same checks when the series was scraped */
        if (rc || batch_series_end(b, ts, stale, &err))
            batch_series_abort(b);
    }
}

/* ---- fetching ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct target *t = arg;
    size_t n = size * nmemb;
    if ((int64_t)(t->body.len + n) > t->owner->limits->max_body_bytes) {
        t->body_too_big = true;
        return 0; /* makes libcurl fail the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&t->body, data, n);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct target *t = arg;
    return atomic_load(&t->stop) ? 1 : 0;
}

static void target_curl_setup(struct target *t)
{
    t->curl = curl_easy_init();
    if (!t->curl) {
        log_error("scrape", "msg=\"curl_easy_init failed\"");
        abort(); /* only fails when out of memory: fatal, as in base/alloc.h */
    }
    char h[64];
    snprintf(h, sizeof h, "X-Prometheus-Scrape-Timeout-Seconds: %g",
             (double)t->cfg.timeout_ms / 1000);
    t->headers = curl_slist_append(NULL, "Accept: " EXPO_ACCEPT_HEADER);
    t->headers = curl_slist_append(t->headers, h);
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, t->cfg.url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "saba/" SABA_VERSION);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip"); /* and decode it */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);            /* threads: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* Prometheus' follow_redirects default */
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
}

/* Fetch the target: 0 with the body and its format, or -1 with the reason. */
static int fetch(struct target *t, enum expo_format *fmt, char *reason, size_t rn)
{
    buf_reset(&t->body);
    t->body_too_big = false;
    t->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(t->curl);
    if (rc != CURLE_OK) {
        if (t->body_too_big)
            snprintf(reason, rn, "body larger than %lld bytes",
                     (long long)t->owner->limits->max_body_bytes);
        else
            snprintf(reason, rn, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        snprintf(reason, rn, "server returned HTTP status %ld", code);
        return -1;
    }
    char *ct = NULL;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &ct);
    *fmt = expo_format_of(ct);
    return 0;
}

/* ---- the loop ---- */

static void append(struct target *t, struct batch *b, const char *what)
{
    struct saba_err err = {0};
    if (t->owner->sink(t->owner->ctx, b, &err) != 0) {
        static int64_t last;
        if (log_ratelimited(&last, 10000))
            log_error("scrape", "msg=\"cannot store %s\" job=\"%s\" instance=\"%s\" reason=\"%s\"",
                      what, t->cfg.job, t->cfg.address, err.msg);
    }
}

static void scrape_once(struct target *t)
{
    int64_t ts = now_ms();
    int64_t t0 = mono_ns();
    char reason[600] = "";
    enum expo_format fmt = EXPO_TEXT;
    struct batch b;
    batch_init(&b, t->owner->limits);
    struct scrape_ctx c = {.t = t, .b = &b, .ts = ts};
    sset_reset(&t->cur);
    bool ok = fetch(t, &fmt, reason, sizeof reason) == 0;
    /* as Prometheus: the time to get the body, not to parse and store it */
    double duration = (double)(mono_ns() - t0) / 1e9;
    if (atomic_load(&t->stop)) {
        batch_free(&b); /* aborted by stop: the end of run writes what is due */
        return;
    }
    if (ok) {
        struct saba_err err = {0};
        int rc = expo_parse(t->body.data ? t->body.data : "", t->body.len, fmt,
                            b.limits->max_line_bytes, on_sample, &c, &err);
        if (rc) {
            ok = false;
            snprintf(reason, sizeof reason, "line %ld: %s", err.line, err.msg);
            batch_reset(&b); /* a bad scrape stores none of its samples */
            sset_reset(&t->cur);
            c.scraped = c.post = 0;
        }
    }
    uint64_t added = 0;
    for (size_t i = 0; i < t->cur.n; i++)
        added += !sset_has(&t->prev, t->cur.v[i].hash);
    add_stale(&b, &t->prev, &t->cur, ts);
    double report[] = {ok ? 1 : 0, duration, (double)c.scraped, (double)c.post, (double)added};
    for (size_t i = 0; i < sizeof report / sizeof *report; i++)
        add_report(t, &b, report_names[i], ts, report[i]);
    append(t, &b, "scrape");
    batch_free(&b);

    if (!ok && t->was_up)
        t->last_complaint = 0; /* always say when a target goes down */
    if (!ok && log_ratelimited(&t->last_complaint, 60000))
        log_warn("scrape", "msg=\"scrape failed\" job=\"%s\" instance=\"%s\" reason=\"%s\"",
                 t->cfg.job, t->cfg.address, reason);
    else if (ok && !t->was_up)
        log_info("scrape", "msg=\"target up\" job=\"%s\" instance=\"%s\" samples=%llu", t->cfg.job,
                 t->cfg.address, (unsigned long long)c.post);
    if (ok && c.skipped_newline && log_ratelimited(&t->last_newline_complaint, 600000))
        log_warn("scrape",
                 "msg=\"series with a newline in a label value skipped\" job=\"%s\" "
                 "instance=\"%s\" n=%llu first_line=%ld",
                 t->cfg.job, t->cfg.address, (unsigned long long)c.skipped_newline, c.newline_line);
    if (ok && c.skipped_bounds)
        log_debug("scrape",
                  "msg=\"samples out of bounds skipped\" job=\"%s\" instance=\"%s\" n=%llu",
                  t->cfg.job, t->cfg.address, (unsigned long long)c.skipped_bounds);
    t->was_up = ok;
    struct sset tmp = t->prev;
    t->prev = t->cur;
    t->cur = tmp;
    t->scraped = true;
    t->last_t = ts;
}

/* The target is going away: its series and its report series end now. */
static void end_of_run(struct target *t)
{
    if (!t->scraped)
        return;
    int64_t ts = now_ms();
    if (ts <= t->last_t)
        ts = t->last_t + 1;
    struct batch b;
    batch_init(&b, t->owner->limits);
    add_stale(&b, &t->prev, NULL, ts);
    for (size_t i = 0; i < sizeof report_names / sizeof *report_names; i++)
        add_report(t, &b, report_names[i], ts, stale_nan());
    append(t, &b, "staleness markers");
    batch_free(&b);
}

/* Sleep until the monotonic deadline (ns) or until stop; returns true on stop. */
static bool wait_until(struct target *t, int64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
    pthread_mutex_lock(&t->mu);
    while (!atomic_load(&t->stop) && mono_ns() < deadline)
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    bool stop = atomic_load(&t->stop);
    pthread_mutex_unlock(&t->mu);
    return stop;
}

static void *target_loop(void *arg)
{
    struct target *t = arg;
    int64_t interval = t->cfg.interval_ms;
    /* A fixed phase per target, on the wall clock: scrapes land at
     * k * interval + offset, so targets spread over the interval and keep
     * their phase across restarts, which keeps rate() windows regular. */
    int64_t offset = (int64_t)(XXH3_64bits(t->key, strlen(t->key)) % (uint64_t)interval);
    int64_t wall = now_ms();
    int64_t first = wall - wall % interval + offset;
    if (first < wall)
        first += interval;
    int64_t deadline = mono_ns() + (first - wall) * 1000000;
    bool stop = wait_until(t, deadline);
    while (!stop) {
        scrape_once(t);
        deadline += interval * 1000000;
        int64_t now = mono_ns();
        if (deadline < now) /* a scrape overran: skip the missed ticks */
            deadline += ((now - deadline) / (interval * 1000000) + 1) * interval * 1000000;
        stop = wait_until(t, deadline);
    }
    end_of_run(t);
    return NULL;
}

static struct target *target_start(struct scraper *s, const struct scrape_target_config *cfg,
                                   char *key)
{
    struct target *t = xcalloc(1, sizeof *t);
    scrape_target_config_copy(&t->cfg, cfg);
    t->key = key;
    t->owner = s;
    t->was_up = true; /* so the first failure is logged */
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    target_curl_setup(t);
    int rc = pthread_create(&t->thread, NULL, target_loop, t);
    t->running = rc == 0;
    if (rc)
        log_error("scrape", "msg=\"cannot start scrape thread\" job=\"%s\" instance=\"%s\" err=%d",
                  cfg->job, cfg->address, rc);
    return t;
}

static void target_stop(struct target *t)
{
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->stop, true);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->running)
        pthread_join(t->thread, NULL);
    curl_easy_cleanup(t->curl);
    curl_slist_free_all(t->headers);
    buf_free(&t->body);
    sset_free(&t->prev);
    sset_free(&t->cur);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    scrape_target_config_free(&t->cfg);
    free(t->key);
    free(t);
}

struct scraper *scraper_new(const struct batch_limits *limits, scrape_sink_fn sink, void *ctx)
{
    /* not thread-safe: called before any scrape thread exists */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct scraper *s = xcalloc(1, sizeof *s);
    s->limits = limits;
    s->sink = sink;
    s->ctx = ctx;
    return s;
}

void scraper_apply(struct scraper *s, const struct scrape_config *cfg)
{
    struct target **next = xcalloc(cfg->ntargets + 1, sizeof *next);
    char **keys = xcalloc(cfg->ntargets + 1, sizeof *keys);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        keys[i] = scrape_target_key(&cfg->targets[i]);
        for (size_t j = 0; j < s->n; j++) {
            if (s->t[j] && !strcmp(s->t[j]->key, keys[i])) {
                next[i] = s->t[j]; /* unchanged: keeps running */
                s->t[j] = NULL;
                free(keys[i]);
                keys[i] = NULL;
                break;
            }
        }
    }
    size_t stopped = 0, started = 0;
    for (size_t j = 0; j < s->n; j++) {
        if (s->t[j]) {
            log_info("scrape", "msg=\"target removed\" job=\"%s\" instance=\"%s\"",
                     s->t[j]->cfg.job, s->t[j]->cfg.address);
            target_stop(s->t[j]);
            stopped++;
        }
    }
    for (size_t i = 0; i < cfg->ntargets; i++) {
        if (!next[i]) {
            next[i] = target_start(s, &cfg->targets[i], keys[i]);
            started++;
        }
    }
    free(keys);
    free(s->t);
    s->t = next;
    s->n = cfg->ntargets;
    if (started || stopped)
        log_info("scrape", "msg=\"scrape targets\" targets=%zu started=%zu stopped=%zu", s->n,
                 started, stopped);
}

size_t scraper_targets(const struct scraper *s)
{
    return s ? s->n : 0;
}

void scraper_free(struct scraper *s)
{
    if (!s)
        return;
    /* signal every loop first so they wind down in parallel, then join */
    for (size_t i = 0; i < s->n; i++) {
        pthread_mutex_lock(&s->t[i]->mu);
        atomic_store(&s->t[i]->stop, true);
        pthread_cond_broadcast(&s->t[i]->cv);
        pthread_mutex_unlock(&s->t[i]->mu);
    }
    for (size_t i = 0; i < s->n; i++)
        target_stop(s->t[i]);
    free(s->t);
    free(s);
    curl_global_cleanup();
}
