/*
 * scrape_config.h - the scrape_configs and global sections of saba.yml.
 *
 * Same shape as Prometheus' configuration, so a prometheus.yml's scrape jobs
 * can be pasted in:
 *
 *   global: {scrape_interval: 1m, scrape_timeout: 10s}
 *   scrape_configs:
 *     - job_name: node
 *       scrape_interval: 15s         # default global.scrape_interval
 *       scrape_timeout: 10s          # default min(global.scrape_timeout, interval)
 *       metrics_path: /metrics
 *       scheme: http                 # or https
 *       honor_labels: false
 *       honor_timestamps: true
 *       params: {module: [if_mib]}   # URL query parameters
 *       static_configs:
 *         - targets: ["127.0.0.1:9100"]
 *           labels: {env: prod}
 *
 * Parsing resolves the defaults and each target's labels (job, instance and
 * the static labels, which may override both), so the scraper gets a flat
 * list of ready targets. Unknown keys and bad values are errors with
 * "file:line: reason".
 */
#ifndef SABA_SCRAPE_SCRAPE_CONFIG_H
#define SABA_SCRAPE_SCRAPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/labels.h"

/* Prometheus' defaults for the global section. */
#define SCRAPE_DEFAULT_INTERVAL_MS (60 * 1000)
#define SCRAPE_DEFAULT_TIMEOUT_MS  (10 * 1000)
/* Each target has a thread of its own: bound them. */
#define SCRAPE_MAX_TARGETS 1024
/* Shortest and longest interval and timeout accepted (the longest keeps the
 * loop's nanosecond deadlines far from overflow). */
#define SCRAPE_MIN_INTERVAL_MS 100
#define SCRAPE_MAX_INTERVAL_MS (7LL * 24 * 3600 * 1000)

/* One resolved target: everything its scrape loop needs. */
struct scrape_target_config {
    char *job;            /* job_name */
    char *address;        /* host:port */
    char *url;            /* scheme://address/metrics_path */
    struct labels labels; /* target labels: job, instance and static labels, sorted */
    int64_t interval_ms, timeout_ms;
    bool honor_labels, honor_timestamps;
};

struct scrape_config {
    int64_t interval_ms, timeout_ms; /* global section */
    struct scrape_target_config *targets;
    size_t ntargets;
    size_t njobs;
};

struct fy_node;

/* Defaults: Prometheus' global interval and timeout, no targets. */
void scrape_config_defaults(struct scrape_config *c);
/* Read the global mapping and the scrape_configs sequence (either may be NULL)
 * of a YAML document from file path into c, replacing its targets. Returns 0
 * or SABA_EINVAL with "path:line: reason" in err; c is unchanged on error. */
int scrape_config_parse(struct scrape_config *c, const char *path, struct fy_node *global,
                        struct fy_node *scrape_configs, struct saba_err *err);
/* An identity string for a target (job, url, labels, interval, timeout, honor
 * flags): two targets with the same key scrape the same way. Caller frees. */
char *scrape_target_key(const struct scrape_target_config *t);
/* Deep copy of one target; free with scrape_target_config_free. */
void scrape_target_config_copy(struct scrape_target_config *dst,
                               const struct scrape_target_config *src);
void scrape_target_config_free(struct scrape_target_config *t);
void scrape_config_free(struct scrape_config *c);

#endif
