/*
 * config.h - saba.yml: the server's configuration file.
 *
 * Every setting has a default (config_defaults) so saba runs with no file;
 * a file overrides defaults, and command-line flags override the file.
 * Unknown keys are errors, so a typo never silently keeps a default.
 */
#ifndef SABA_SERVER_CONFIG_H
#define SABA_SERVER_CONFIG_H

#include <stdint.h>

#include "base/err.h"
#include "scrape/scrape_config.h"
#include "storage/batch.h"

#define SABA_DEFAULT_LISTEN          "127.0.0.1:9650"
#define SABA_DEFAULT_GRAPHITE_LISTEN "127.0.0.1:2003"

struct saba_config {
    char *listen;          /* HTTP host:port; port 0 picks a free one */
    char *graphite_listen; /* Graphite plaintext TCP host:port; "" disables */
    char *data_dir;
    char *log_level;
    int64_t fsync_interval_ms; /* 0 = "always" */
    int64_t wal_segment_bytes;
    int64_t lookback_ms;
    int query_max_samples; /* points one query may hold in memory */
    int http_max_connections;
    int64_t block_duration_ms;       /* storage.block_duration */
    int64_t max_block_duration_ms;   /* storage.max_block_duration */
    int64_t retention_ms;            /* storage.retention.raw */
    int64_t maintenance_interval_ms; /* storage.maintenance_interval */
    int64_t rollup_res_ms[2];        /* storage.rollups.fine, .coarse */
    int64_t rollup_retention_ms[2];  /* storage.rollups.fine_retention, .coarse_retention */
    struct batch_limits limits;
    struct scrape_config scrape; /* global: and scrape_configs: */
};

void config_defaults(struct saba_config *c);
/* Read a YAML file over the current values. Returns 0 or SABA_EINVAL/SABA_EIO
 * with "file:line: reason" in err. */
int config_load(struct saba_config *c, const char *path, struct saba_err *err);
/* Replace a string setting (used for flags). */
void config_set_str(char **field, const char *value);
void config_free(struct saba_config *c);

#endif
