/*
 * config.c - loading saba.yml with libfyaml (see config.h).
 *
 * The file is a mapping of known keys; each key names a setting and a
 * parser for its scalar. Nested sections (wal:, limits:, ...) are walked
 * recursively with dotted names ("wal.fsync").
 */
#include "server/config.h"
#include "query/eval.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/num.h"
#include "base/timeutil.h"
#include "storage/labels.h"
#include "storage/tsdb/tsdb.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct saba_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen = xstrdup(SABA_DEFAULT_LISTEN);
    c->graphite_listen = xstrdup(SABA_DEFAULT_GRAPHITE_LISTEN);
    c->data_dir = xstrdup("./data");
    c->log_level = xstrdup("info");
    c->fsync_interval_ms = 1000; /* DESIGN.md: default fsync every 1000 ms */
    c->wal_segment_bytes = 128 << 20;
    c->lookback_ms = 5 * 60 * 1000; /* Prometheus' default lookback delta */
    c->query_max_samples = EVAL_DEFAULT_MAX_SAMPLES;
    c->http_max_connections = 512;
    c->block_duration_ms = TSDB_DEFAULT_BLOCK_DURATION_MS;
    c->max_block_duration_ms = TSDB_DEFAULT_MAX_BLOCK_DURATION_MS;
    c->retention_ms = TSDB_DEFAULT_RETENTION_MS;
    c->maintenance_interval_ms = TSDB_DEFAULT_MAINTENANCE_MS;
    c->rollup_res_ms[0] = TSDB_DEFAULT_ROLLUP1_MS;
    c->rollup_res_ms[1] = TSDB_DEFAULT_ROLLUP2_MS;
    c->rollup_retention_ms[0] = TSDB_DEFAULT_ROLLUP1_RETENTION_MS;
    c->rollup_retention_ms[1] = TSDB_DEFAULT_ROLLUP2_RETENTION_MS;
    c->limits = batch_limits_default;
    scrape_config_defaults(&c->scrape);
}

void config_set_str(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

void config_free(struct saba_config *c)
{
    free(c->listen);
    free(c->graphite_listen);
    free(c->data_dir);
    free(c->log_level);
    scrape_config_free(&c->scrape);
    memset(c, 0, sizeof *c);
}

enum kind { K_STR, K_DURATION, K_FSYNC, K_SIZE, K_INT };

struct setting {
    const char *key;
    enum kind kind;
    size_t off; /* offset in struct saba_config */
    int64_t min;
    int64_t max; /* K_INT only */
};

#define OFF(f) offsetof(struct saba_config, f)

static const struct setting settings[] = {
    {"listen", K_STR, OFF(listen), 0, 0},
    {"graphite_listen", K_STR, OFF(graphite_listen), 0, 0},
    {"data_dir", K_STR, OFF(data_dir), 0, 0},
    {"log_level", K_STR, OFF(log_level), 0, 0},
    {"wal.fsync", K_FSYNC, OFF(fsync_interval_ms), 0, 0},
    {"wal.segment_size", K_SIZE, OFF(wal_segment_bytes), 1 << 20, 0},
    {"query.lookback_delta", K_DURATION, OFF(lookback_ms), 1, 0},
    {"query.max_samples", K_INT, OFF(query_max_samples), 1000, 1000000000},
    {"http.max_connections", K_INT, OFF(http_max_connections), 1, 100000},
    /* blocks of at least a minute: smaller ones would only be overhead */
    {"storage.block_duration", K_DURATION, OFF(block_duration_ms), 60000, 0},
    {"storage.max_block_duration", K_DURATION, OFF(max_block_duration_ms), 60000, 0},
    {"storage.retention.raw", K_DURATION, OFF(retention_ms), 60000, 0},
    {"storage.maintenance_interval", K_DURATION, OFF(maintenance_interval_ms), 10, 0},
    {"storage.rollups.fine", K_DURATION, OFF(rollup_res_ms[0]), 1000, 0},
    {"storage.rollups.fine_retention", K_DURATION, OFF(rollup_retention_ms[0]), 60000, 0},
    {"storage.rollups.coarse", K_DURATION, OFF(rollup_res_ms[1]), 1000, 0},
    {"storage.rollups.coarse_retention", K_DURATION, OFF(rollup_retention_ms[1]), 60000, 0},
    {"limits.max_body_size", K_SIZE, OFF(limits.max_body_bytes), 1024, 0},
    {"limits.max_line_size", K_SIZE, OFF(limits.max_line_bytes), 256, 0},
    /* the WAL record and the head hold at most 256 labels per series */
    {"limits.max_labels_per_series", K_INT, OFF(limits.max_labels), 2, 256},
    {"limits.max_name_length", K_INT, OFF(limits.max_name_bytes), 16, 65536},
    {"limits.max_label_value_length", K_INT, OFF(limits.max_value_bytes), 16, 1 << 20},
    {"limits.max_future", K_DURATION, OFF(limits.max_future_ms), 0, 0},
    {NULL, K_STR, 0, 0, 0},
};

static int node_line(struct fy_node *n)
{
    struct fy_token *t = fy_node_get_scalar_token(n);
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    return m ? m->line + 1 : 0;
}

static int apply(struct saba_config *c, const char *path, const char *key, struct fy_node *kn,
                 struct fy_node *vn, struct saba_err *err)
{
    const struct setting *s = settings;
    while (s->key && strcmp(s->key, key))
        s++;
    int line = node_line(kn);
    if (!s->key) {
        /* a known section? then recurse */
        bool section = false;
        for (const struct setting *t = settings; t->key; t++)
            if (!strncmp(t->key, key, strlen(key)) && t->key[strlen(key)] == '.')
                section = true;
        if (!section)
            return err_set(err, SABA_EINVAL, line, "%s:%d: unknown setting \"%s\"", path, line,
                           key);
        if (fy_node_get_type(vn) != FYNT_MAPPING)
            return err_set(err, SABA_EINVAL, line, "%s:%d: \"%s\" must be a mapping", path, line,
                           key);
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(vn, &it))) {
            struct fy_node *k = fy_node_pair_key(p);
            const char *ks = k ? fy_node_get_scalar0(k) : NULL;
            if (!ks)
                return err_set(err, SABA_EINVAL, line, "%s:%d: bad key in \"%s\"", path, line, key);
            char full[128];
            snprintf(full, sizeof full, "%s.%s", key, ks);
            int rc = apply(c, path, full, k, fy_node_pair_value(p), err);
            if (rc)
                return rc;
        }
        return 0;
    }
    const char *v = vn && fy_node_get_type(vn) == FYNT_SCALAR ? fy_node_get_scalar0(vn) : NULL;
    if (!v)
        return err_set(err, SABA_EINVAL, line, "%s:%d: \"%s\" must be a single value", path, line,
                       key);
    char *field = (char *)c + s->off;
    int64_t n = 0;
    int bad = 0;
    switch (s->kind) {
    case K_STR:
        config_set_str((char **)field, v);
        return 0;
    case K_FSYNC:
        if (!strcmp(v, "always")) {
            *(int64_t *)field = 0;
            return 0;
        }
        bad = duration_parse(v, &n) || n <= 0;
        if (!bad)
            *(int64_t *)field = n;
        break;
    case K_DURATION:
        bad = duration_parse(v, &n) || n < s->min;
        if (!bad)
            *(int64_t *)field = n;
        break;
    case K_SIZE:
        bad = size_parse(v, &n) || n < s->min;
        if (!bad)
            *(int64_t *)field = n;
        break;
    case K_INT: {
        char *end;
        long x = strtol(v, &end, 10);
        bad = *end || end == v || x < s->min || x > s->max;
        if (!bad)
            *(int *)field = (int)x;
        break;
    }
    }
    if (bad) {
        static const char *const want[] = {"a string", "a duration like 5m",
                                           "\"always\" or a duration like 1s", "a size like 64MiB",
                                           "a whole number"};
        char range[64] = "";
        if (s->kind == K_INT)
            snprintf(range, sizeof range, " from %lld to %lld", (long long)s->min,
                     (long long)s->max);
        else if (s->min > 0)
            snprintf(range, sizeof range, " of at least %lld", (long long)s->min);
        return err_set(err, SABA_EINVAL, line,
                       "%s:%d: \"%s\": invalid value \"%s\" (expected %s%s)", path, line, key, v,
                       want[s->kind], range);
    }
    return 0;
}

/* YAML is UTF-8 text without control characters other than tab, CR and LF.
 * Checked before libfyaml sees the file: libfyaml 0.7 can loop forever on NUL
 * bytes inside a directive (found by fuzz/fuzz_config.c). */
static int check_text(FILE *f, const char *path, struct saba_err *err)
{
    enum { MAX_CONFIG = 4 << 20 };
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&b, chunk, n);
        if (b.len > MAX_CONFIG)
            rc = err_set(err, SABA_EINVAL, 0, "%s: larger than %d MiB", path, MAX_CONFIG >> 20);
    }
    if (rc == 0 && ferror(f))
        rc = err_set(err, SABA_EIO, 0, "cannot read config file %s: %m", path);
    int no = 1;
    for (size_t i = 0; rc == 0 && i < b.len; no++) {
        const char *nl = memchr(b.data + i, '\n', b.len - i);
        size_t end = nl ? (size_t)(nl - b.data) : b.len, next = end + 1;
        if (end > i && b.data[end - 1] == '\r')
            end--;
        if (!utf8_valid_text(b.data + i, end - i))
            rc = err_set(err, SABA_EINVAL, no,
                         "%s:%d: not UTF-8 text (a NUL, control character or bad byte)", path, no);
        i = next;
    }
    buf_free(&b);
    return rc;
}

int config_load(struct saba_config *c, const char *path, struct saba_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, SABA_EIO, 0, "cannot read config file %s: %m", path);
    int trc = check_text(f, path, err);
    fclose(f);
    if (trc)
        return trc;
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    struct fy_diag *diag = fy_diag_create(&dc);
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_document *doc = fy_document_build_from_file(&pc, path);
    int rc = 0;
    if (!doc) {
        void *it = NULL;
        struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
        rc = err_set(err, SABA_EINVAL, e ? e->line + 1 : 0, "%s:%d: invalid YAML: %s", path,
                     e ? e->line + 1 : 0, e && e->msg ? e->msg : "parse error");
        goto out;
    }
    struct fy_node *root = fy_document_root(doc);
    if (!root)
        goto out; /* an empty file keeps every default */
    if (fy_node_get_type(root) != FYNT_MAPPING) {
        rc = err_set(err, SABA_EINVAL, 1, "%s: the top level must be a mapping of settings", path);
        goto out;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    /* the scrape sections are read last: jobs take their defaults from global */
    struct fy_node *global = NULL, *scrape_configs = NULL;
    while (rc == 0 && (p = fy_node_mapping_iterate(root, &it))) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *ks = k ? fy_node_get_scalar0(k) : NULL;
        if (!ks) {
            rc = err_set(err, SABA_EINVAL, 0, "%s: keys must be plain strings", path);
            break;
        }
        if (!strcmp(ks, "global"))
            global = fy_node_pair_value(p);
        else if (!strcmp(ks, "scrape_configs"))
            scrape_configs = fy_node_pair_value(p);
        else
            rc = apply(c, path, ks, k, fy_node_pair_value(p), err);
    }
    if (rc == 0 && (global || scrape_configs))
        rc = scrape_config_parse(&c->scrape, path, global, scrape_configs, err);
    if (rc == 0 && c->max_block_duration_ms < c->block_duration_ms)
        rc =
            err_set(err, SABA_EINVAL, 0,
                    "%s: storage.max_block_duration must be at least storage.block_duration", path);
    /* raw blocks are rolled up once they stop growing: they must live that long */
    if (rc == 0 && c->retention_ms <= c->max_block_duration_ms)
        rc = err_set(err, SABA_EINVAL, 0,
                     "%s: storage.retention.raw must be longer than storage.max_block_duration",
                     path);
    if (rc == 0 && c->rollup_res_ms[1] <= c->rollup_res_ms[0])
        rc = err_set(err, SABA_EINVAL, 0,
                     "%s: storage.rollups.coarse must be wider than storage.rollups.fine", path);
out:
    fy_document_destroy(doc);
    fy_diag_destroy(diag);
    return rc;
}
