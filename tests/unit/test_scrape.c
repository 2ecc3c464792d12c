/*
 * test_scrape.c - unit tests for the scrape loops (src/scrape/scrape.h)
 * through their sink: a tiny HTTP server in this process serves metrics
 * text, and the sink records every batch, so the tests see the exact bits
 * written - the staleness marker's NaN payload included, which the query
 * API cannot show.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/timeutil.h"
#include "scrape/scrape.h"
#include "storage/batch.h"

#include "unit.h"

/* ---- a one-page HTTP server ---- */

struct page {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    char body[4096];
    int status;
    int requests;
};

static void *serve(void *arg)
{
    struct page *p = arg;
    for (;;) {
        int c = accept(p->fd, NULL, NULL);
        if (c < 0)
            return NULL; /* the listening socket was shut down */
        char req[4096];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        char out[8192];
        pthread_mutex_lock(&p->mu);
        int len = snprintf(out, sizeof out,
                           "HTTP/1.1 %d X\r\nContent-Type: text/plain; version=0.0.4\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           p->status, strlen(p->body), p->body);
        p->requests++;
        pthread_mutex_unlock(&p->mu);
        if (write(c, out, (size_t)len) != len)
            perror("write");
        close(c);
    }
}

static void page_start(struct page *p, const char *body)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    snprintf(p->body, sizeof p->body, "%s", body);
    p->status = 200;
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(p->fd, 16), 0);
    getsockname(p->fd, (struct sockaddr *)&a, &al);
    p->port = ntohs(a.sin_port);
    pthread_create(&p->thread, NULL, serve, p);
}

static void page_set(struct page *p, const char *body, int status)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->body, sizeof p->body, "%s", body);
    p->status = status;
    pthread_mutex_unlock(&p->mu);
}

static void page_stop(struct page *p)
{
    shutdown(p->fd, SHUT_RDWR);
    pthread_join(p->thread, NULL);
    close(p->fd);
    pthread_mutex_destroy(&p->mu);
}

/* ---- a sink that records every sample ---- */

struct rec {
    int batch;
    char labels[256];
    int64_t t;
    uint64_t bits;
};

struct sink {
    pthread_mutex_t mu;
    struct rec *v;
    size_t n, cap;
    int batches;
};

static int record(void *ctx, const struct batch *b, struct saba_err *err)
{
    (void)err;
    struct sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < b->nsamples; i++) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        struct rec *r = &s->v[s->n++];
        r->batch = s->batches;
        unit_sample_labels(b, i, r->labels, sizeof r->labels);
        r->t = b->samples[i].t;
        r->bits = dbits(b->samples[i].v);
    }
    s->batches++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int batches(struct sink *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->batches;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void wait_batches(struct sink *s, int n)
{
    int64_t deadline = now_ms() + 10000;
    while (batches(s) < n) {
        if (now_ms() > deadline)
            fail_msg("timed out waiting for batch %d", n);
        usleep(10000);
    }
}

/* A copy of the sample of batch `batch` whose labels are `labels`, or NULL.
 * The scrape threads go on appending, so the records are read under the lock. */
static const struct rec *find(struct sink *s, int batch, const char *labels)
{
    static struct rec found;
    const struct rec *r = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && !r; i++) {
        if (s->v[i].batch == batch && !strcmp(s->v[i].labels, labels)) {
            found = s->v[i];
            r = &found;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Samples in batch `batch`; with only_bits, those whose value has these bits. */
static size_t count_bits(struct sink *s, int batch, bool only_bits, uint64_t bits)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        n += s->v[i].batch == batch && (!only_bits || s->v[i].bits == bits);
    pthread_mutex_unlock(&s->mu);
    return n;
}

static size_t count(struct sink *s, int batch)
{
    return count_bits(s, batch, false, 0);
}

static void config_one(struct scrape_config *c, int port, bool honor_timestamps)
{
    scrape_config_defaults(c);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    char url[64];
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    struct label ls[] = {{"instance", addr}, {"job", "unit"}};
    c->targets = xcalloc(1, sizeof *c->targets);
    c->targets[0] = (struct scrape_target_config){
        .job = xstrdup("unit"),
        .address = xstrdup(addr),
        .url = xstrdup(url),
        .labels = labels_copy(ls, 2),
        .interval_ms = 100,
        .timeout_ms = 100,
        .honor_timestamps = honor_timestamps,
    };
    c->ntargets = 1;
    c->njobs = 1;
}

static void expect(struct sink *s, int batch, const char *labels, uint64_t bits)
{
    const struct rec *r = find(s, batch, labels);
    if (!r)
        fail_msg("batch %d has no %s", batch, labels);
    if (r->bits != bits)
        fail_msg("batch %d %s: bits %llx, want %llx", batch, labels, (unsigned long long)r->bits,
                 (unsigned long long)bits);
}

#define UP(v) dbits(v)
#define STALE SCRAPE_STALE_NAN_BITS

static void test_scrape_staleness_and_end_of_run(void **state)
{
    (void)state;
    struct page pg;
    page_start(&pg, "a 1\nb{x=\"y\"} 2\n");
    struct sink sk = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct batch_limits lim = batch_limits_default;
    struct scraper *sc = scraper_new(&lim, record, &sk);
    struct scrape_config cfg;
    config_one(&cfg, pg.port, true);
    char il[64];
    snprintf(il, sizeof il, "instance=127.0.0.1:%d,job=unit", pg.port);
    char want[256];
    scraper_apply(sc, &cfg);
    assert_int_equal(scraper_targets(sc), 1);

    /* first scrape: both series with the target labels, and the report */
    wait_batches(&sk, 1);
    snprintf(want, sizeof want, "__name__=a,%s", il);
    expect(&sk, 0, want, UP(1));
    snprintf(want, sizeof want, "__name__=b,%s,x=y", il);
    expect(&sk, 0, want, UP(2));
    snprintf(want, sizeof want, "__name__=up,%s", il);
    expect(&sk, 0, want, UP(1));
    snprintf(want, sizeof want, "__name__=scrape_samples_scraped,%s", il);
    expect(&sk, 0, want, UP(2));
    snprintf(want, sizeof want, "__name__=scrape_series_added,%s", il);
    expect(&sk, 0, want, UP(2));
    assert_int_equal(count(&sk, 0), 2 + 5);
    /* every sample of a scrape has the scrape's timestamp */
    pthread_mutex_lock(&sk.mu);
    for (size_t i = 1; i < sk.n && sk.v[i].batch == 0; i++)
        assert_int_equal(sk.v[i].t, sk.v[0].t);
    pthread_mutex_unlock(&sk.mu);

    /* b disappears: a staleness marker for it, with the exact NaN payload */
    int n = batches(&sk);
    page_set(&pg, "a 1\n", 200);
    wait_batches(&sk, n + 2); /* the one in flight may still have b */
    int last = batches(&sk) - 1;
    bool stale_seen = false;
    for (int bt = n; bt <= last; bt++) {
        snprintf(want, sizeof want, "__name__=b,%s,x=y", il);
        const struct rec *r = find(&sk, bt, want);
        if (r && r->bits == STALE)
            stale_seen = true;
    }
    assert_true(stale_seen);
    snprintf(want, sizeof want, "__name__=b,%s,x=y", il);
    assert_null(find(&sk, last, want)); /* marked once, then nothing */
    snprintf(want, sizeof want, "__name__=scrape_series_added,%s", il);
    expect(&sk, last, want, UP(0));

    /* the target fails: up 0, a marked stale */
    page_set(&pg, "a 1\n", 503);
    n = batches(&sk);
    wait_batches(&sk, n + 2);
    last = batches(&sk) - 1;
    snprintf(want, sizeof want, "__name__=up,%s", il);
    expect(&sk, last, want, UP(0));
    snprintf(want, sizeof want, "__name__=scrape_samples_scraped,%s", il);
    expect(&sk, last, want, UP(0));

    /* it recovers; then stopping marks a and the five report series stale */
    page_set(&pg, "a 1\n", 200);
    n = batches(&sk);
    wait_batches(&sk, n + 2);
    scraper_free(sc);
    last = batches(&sk) - 1;
    assert_int_equal(count(&sk, last), 1 + 5);
    assert_int_equal(count_bits(&sk, last, true, STALE), 1 + 5);
    snprintf(want, sizeof want, "__name__=up,%s", il);
    expect(&sk, last, want, STALE);
    /* no more batches after free */
    int final = batches(&sk);
    usleep(300000);
    assert_int_equal(batches(&sk), final);

    scrape_config_free(&cfg);
    page_stop(&pg);
    free(sk.v);
}

static void test_reload_removes_and_keeps(void **state)
{
    (void)state;
    struct page pg;
    page_start(&pg, "ts_metric 5 1732249990000\nplain 1\n");
    struct sink sk = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct scraper *sc = scraper_new(&batch_limits_default, record, &sk);
    struct scrape_config cfg;
    config_one(&cfg, pg.port, true);
    scraper_apply(sc, &cfg);
    wait_batches(&sk, 1);
    char want[256];
    snprintf(want, sizeof want, "__name__=ts_metric,instance=127.0.0.1:%d,job=unit", pg.port);
    const struct rec *r = find(&sk, 0, want);
    assert_non_null(r);
    assert_int_equal(r->t, 1732249990000LL); /* the exposed timestamp */

    /* the same config again: the loop goes on, nothing is marked */
    int n = batches(&sk);
    scraper_apply(sc, &cfg);
    assert_int_equal(scraper_targets(sc), 1);
    wait_batches(&sk, n + 1);
    for (int bt = n; bt <= n; bt++)
        assert_int_equal(count_bits(&sk, bt, true, STALE), 0);

    /* no targets: the target's series end, but not the one with its own timestamp */
    struct scrape_config empty;
    scrape_config_defaults(&empty);
    scraper_apply(sc, &empty);
    assert_int_equal(scraper_targets(sc), 0);
    int last = batches(&sk) - 1;
    assert_null(find(&sk, last, want));
    snprintf(want, sizeof want, "__name__=plain,instance=127.0.0.1:%d,job=unit", pg.port);
    expect(&sk, last, want, STALE);
    assert_int_equal(count(&sk, last), 1 + 5);
    scraper_free(sc);
    assert_int_equal(batches(&sk), last + 1);

    scrape_config_free(&cfg);
    page_stop(&pg);
    free(sk.v);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_staleness_and_end_of_run),
        cmocka_unit_test(test_reload_removes_and_keeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
