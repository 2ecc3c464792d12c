/*
 * server.c - `saba server`: configuration, listeners, storage, shutdown.
 *
 * Start order: config -> listeners bound (so a busy port fails fast, and
 * /-/healthy answers during replay) -> storage opened and WAL replayed ->
 * ready. Signals are blocked in every thread and taken by sigwait() in the
 * main thread, so SIGTERM/SIGINT lead to an orderly stop: listeners first
 * (in-flight requests finish), then storage (final WAL fsync), exit 0.
 * The scrape loops start once storage is ready and stop first (writing their
 * staleness markers); SIGHUP re-reads scrape_configs from the config file.
 */
#include "server/server.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "http/api.h"
#include "meta/meta.h"
#include "server/graphite_listener.h"
#include "scrape/scrape.h"
#include "server/listen.h"
#include "storage/tsdb/tsdb.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const ingest_proto_names[PROTO_COUNT] = {"influx", "json", "graphite", "remote_write",
                                                     "scrape"};

int server_append(struct saba_server *srv, enum ingest_proto proto, const struct batch *b,
                  struct saba_err *err)
{
    struct storage *st = atomic_load(&srv->storage);
    if (!st) {
        atomic_fetch_add(&srv->failed[proto], 1);
        return err_set(err, SABA_EIO, 0, "saba is starting: replaying its WAL; retry shortly");
    }
    int rc = st->ops->append(st, b, err);
    if (rc) {
        atomic_fetch_add(&srv->failed[proto], 1);
        static int64_t last;
        if (log_ratelimited(&last, 10000))
            log_error("storage", "msg=\"%s\" reason=\"%s\"",
                      rc == SABA_ENOSPC ? "disk full: writes refused until space is freed"
                                        : "write failed",
                      err->msg);
        return rc;
    }
    atomic_fetch_add(&srv->ingested[proto], b->nsamples);
    return 0;
}

static int scrape_sink(void *ctx, const struct batch *b, struct saba_err *err)
{
    return server_append(ctx, PROTO_SCRAPE, b, err);
}

/* SIGHUP: read the config file again and apply its scrape_configs (the only
 * settings that change without a restart). A bad file changes nothing. */
static void reload(const char *config_path, struct scraper *scraper)
{
    if (!config_path) {
        log_warn("server", "msg=\"SIGHUP without --config: nothing to reload\"");
        return;
    }
    struct saba_config nc;
    config_defaults(&nc);
    struct saba_err err = {0};
    if (config_load(&nc, config_path, &err) != 0) {
        log_error("server",
                  "msg=\"reload failed, keeping the running configuration\" reason=\"%s\"",
                  err.msg);
    } else {
        scraper_apply(scraper, &nc.scrape);
        log_info("server", "msg=\"configuration reloaded\" scrape_targets=%zu", nc.scrape.ntargets);
    }
    config_free(&nc);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: saba server [--config FILE] [--data DIR] [--listen ADDR]\n"
            "                   [--graphite-listen ADDR] [--fsync always|DURATION]\n"
            "                   [--log-level debug|info|warn|error]\n"
            "\n"
            "  --config FILE           YAML configuration (see README); flags override it\n"
            "  --data DIR              data directory (default ./data)\n"
            "  --listen ADDR           HTTP host:port (default " SABA_DEFAULT_LISTEN
            "; port 0 = any free port)\n"
            "  --graphite-listen ADDR  Graphite plaintext host:port "
            "(default " SABA_DEFAULT_GRAPHITE_LISTEN "; \"\" = off)\n"
            "  --fsync POLICY          WAL fsync: \"always\" or an interval like 1s (default 1s)\n"
            "  --log-level LEVEL       default info\n"
            "\n"
            "SIGTERM or SIGINT stops the server; SIGHUP reloads scrape_configs from --config.\n");
}

int server_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'}, {"graphite-listen", required_argument, NULL, 'g'},
        {"fsync", required_argument, NULL, 'f'},  {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *flag[128] = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:l:g:f:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case '?':
            usage(stderr);
            return 2;
        default:
            flag[c] = optarg;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "saba server: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct saba_config cfg;
    config_defaults(&cfg);
    struct saba_err err = {0};
    int status = 1;
    if (config_path && config_load(&cfg, config_path, &err) != 0) {
        fprintf(stderr, "saba server: %s\n", err.msg);
        config_free(&cfg);
        return 1;
    }
    if (flag['d'])
        config_set_str(&cfg.data_dir, flag['d']);
    if (flag['l'])
        config_set_str(&cfg.listen, flag['l']);
    if (flag['g'])
        config_set_str(&cfg.graphite_listen, flag['g']);
    if (flag['L'])
        config_set_str(&cfg.log_level, flag['L']);
    if (flag['f']) {
        int64_t ms;
        if (!strcmp(flag['f'], "always")) {
            cfg.fsync_interval_ms = 0;
        } else if (duration_parse(flag['f'], &ms) == 0 && ms > 0) {
            cfg.fsync_interval_ms = ms;
        } else {
            fprintf(stderr,
                    "saba server: --fsync: want \"always\" or a duration like 1s, got "
                    "\"%s\"\n",
                    flag['f']);
            config_free(&cfg);
            return 2;
        }
    }
    enum log_level lvl;
    if (log_level_parse(cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "saba server: unknown log level \"%s\"\n", cfg.log_level);
        config_free(&cfg);
        return 2;
    }
    log_set_level(lvl);

    /* A query materializes its series' samples and frees them when done. With
     * glibc's defaults (trim at 128 KiB, mmap above 128 KiB) every query gets
     * its memory fresh from the kernel and page-faults it in again, which cost
     * more than the decoding itself; keep up to 64 MiB of freed memory. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    /* Each connection has its own thread; with glibc's default of 8 arenas
     * per core, a new connection often lands on a cold arena and faults its
     * memory in again (queries ran 5 or 11 ms by chance). One arena per core
     * keeps them warm without making threads wait for each other. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, (int)(ncpu > 0 ? ncpu : 2));

    /* Block the stop signals in every thread created from here on. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP); /* reload, not stop */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct saba_server srv = {.cfg = &cfg, .limits = cfg.limits};
    struct http_server *http = NULL;
    struct graphite_listener *graphite = NULL;
    struct storage *st = NULL;
    struct scraper *scraper = NULL;
    struct meta *meta = NULL;
    char bound[128];

    int hfd = listen_tcp(cfg.listen, bound, sizeof bound, &err);
    if (hfd < 0)
        goto fail;
    struct http_options ho = {.listen_fd = hfd,
                              .max_connections = cfg.http_max_connections,
                              .max_body_bytes = cfg.limits.max_body_bytes,
                              .routes = api_routes,
                              .ctx = &srv};
    if (http_start(&ho, &http, &err) != 0) {
        close(hfd);
        goto fail;
    }
    log_info("http", "msg=listening addr=%s", bound);
    if (cfg.graphite_listen[0]) {
        int gfd = listen_tcp(cfg.graphite_listen, bound, sizeof bound, &err);
        if (gfd < 0 || graphite_start(&srv, gfd, &graphite, &err) != 0)
            goto fail;
        log_info("graphite", "msg=listening addr=%s", bound);
    }

    struct tsdb_options to = {
        .dir = cfg.data_dir,
        .fsync_interval_ms = cfg.fsync_interval_ms,
        .wal_segment_bytes = cfg.wal_segment_bytes,
        .block_duration_ms = cfg.block_duration_ms,
        .max_block_duration_ms = cfg.max_block_duration_ms,
        .retention_ms = cfg.retention_ms,
        .maintenance_interval_ms = cfg.maintenance_interval_ms,
        .rollup_res_ms = {cfg.rollup_res_ms[0], cfg.rollup_res_ms[1]},
        .rollup_retention_ms = {cfg.rollup_retention_ms[0], cfg.rollup_retention_ms[1]}};
    if (tsdb_open(&to, &st, &err) != 0)
        goto fail;
    if (meta_open(cfg.data_dir, &meta, &err) != 0)
        goto fail;
    atomic_store(&srv.meta, meta);
    atomic_store(&srv.storage, st);
    log_info("server", "msg=ready data_dir=%s fsync=%s", cfg.data_dir,
             cfg.fsync_interval_ms ? "interval" : "always");

    scraper = scraper_new(&srv.limits, scrape_sink, &srv);
    scraper_apply(scraper, &cfg.scrape);

    int sig = 0;
    for (;;) {
        sigwait(&stop, &sig);
        if (sig != SIGHUP)
            break;
        reload(config_path, scraper);
    }
    log_info("server", "msg=\"stopping\" signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
    goto out;
fail:
    log_error("server", "msg=\"cannot start\" reason=\"%s\"", err.msg);
    fprintf(stderr, "saba server: %s\n", err.msg);
out:
    scraper_free(scraper); /* writes its last staleness markers, so before storage closes */
    http_stop(http);
    graphite_stop(graphite);
    atomic_store(&srv.storage, NULL);
    atomic_store(&srv.meta, NULL);
    storage_close(st);
    meta_close(meta);
    if (status == 0)
        log_info("server", "msg=stopped");
    config_free(&cfg);
    return status;
}
