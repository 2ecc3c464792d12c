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
    {"GET,POST", "/api/v1/query", api_v1_query},
    {"GET,POST", "/api/v1/query_range", api_v1_query_range},
    {"GET,POST", "/api/v1/series", api_v1_series},
    {"GET,POST", "/api/v1/labels", api_v1_labels},
    {"GET", "/api/v1/label/*", api_v1_label_values},
    {"POST", "/api/v0/admin/tsdb/flush", api_v0_admin_tsdb_flush},
    {"POST,PUT", "/api/v1/admin/tsdb/delete_series", api_v1_admin_tsdb_delete_series},
    {NULL, NULL, NULL},
};
