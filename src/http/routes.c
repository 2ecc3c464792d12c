/*
 * routes.c - the route table of `saba server` (see api.h).
 */
#include "http/api.h"

const struct http_route api_routes[] = {
    {"GET,HEAD", "/-/healthy", api_healthy},
    {"GET,HEAD", "/-/ready", api_ready},
    {"GET", "/metrics", api_metrics},
    {"POST", "/write", api_write_influx_v1},
    {"POST", "/api/v2/write", api_write_influx_v2},
    {"POST", "/api/v0/metrics", api_v0_metrics},
    {"POST", "/api/v1/write", api_v1_write},
    {"GET,POST", "/api/v1/query", api_v1_query},
    {"GET,POST", "/api/v1/query_range", api_v1_query_range},
    {"GET,POST", "/api/v1/series", api_v1_series},
    {"GET,POST", "/api/v1/labels", api_v1_labels},
    {"GET", "/api/v1/label/*", api_v1_label_values},
    {"GET", "/api/v1/status/buildinfo", api_v1_buildinfo},
    {"GET", "/api/v1/metadata", api_v1_metadata},
    {"GET,POST", "/api/v1/query_exemplars", api_v1_query_exemplars},
    {"GET,POST", "/api/v0/hosts", api_v0_hosts},
    {"GET,PUT,POST", "/api/v0/hosts/*", api_v0_host},
    {"POST", "/api/v0/checks/report", api_v0_checks_report},
    {"GET", "/api/v0/checks", api_v0_checks},
    {"GET", "/api/v0/checks/history", api_v0_checks_history},
    {"POST", "/api/v0/admin/tsdb/flush", api_v0_admin_tsdb_flush},
    {"POST,PUT", "/api/v1/admin/tsdb/delete_series", api_v1_admin_tsdb_delete_series},
    {NULL, NULL, NULL},
};
