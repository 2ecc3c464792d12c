/*
 * api.h - the HTTP endpoints of `saba server` and their route table.
 *
 * Each api_*.c file holds the handlers of one resource; the table in
 * routes.c maps paths to them. Every handler gets the struct saba_server as
 * its context.
 */
#ifndef SABA_HTTP_API_H
#define SABA_HTTP_API_H

#include "http/http.h"

extern const struct http_route api_routes[];

/* health.c */
void api_healthy(void *ctx, struct http_req *req, struct http_resp *resp);
void api_ready(void *ctx, struct http_req *req, struct http_resp *resp);
void api_metrics(void *ctx, struct http_req *req, struct http_resp *resp);
/* api_write.c: InfluxDB v1/v2 line protocol and saba JSON */
void api_write_influx_v1(void *ctx, struct http_req *req, struct http_resp *resp);
void api_write_influx_v2(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v0_metrics(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_write(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_buildinfo(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_metadata(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_query_exemplars(void *ctx, struct http_req *req, struct http_resp *resp);
/* POST /api/v0/admin/tsdb/flush: write the head to blocks now (api_v0_admin.c). */
void api_v0_admin_tsdb_flush(void *ctx, struct http_req *req, struct http_resp *resp);
/* POST /api/v1/admin/tsdb/delete_series: Prometheus' deletion API (api_v0_admin.c). */
void api_v1_admin_tsdb_delete_series(void *ctx, struct http_req *req, struct http_resp *resp);
/* api_v1_query.c */
void api_v1_query(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_query_range(void *ctx, struct http_req *req, struct http_resp *resp);
/* api_v1_meta.c */
void api_v1_series(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_labels(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v1_label_values(void *ctx, struct http_req *req, struct http_resp *resp);
/* api_hosts.c: the host inventory; api_meta() is the server's metadata store,
 * or NULL after answering 503 while the server is starting */
struct meta;
struct meta *api_meta(void *ctx, struct http_resp *resp);
void api_v0_hosts(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v0_host(void *ctx, struct http_req *req, struct http_resp *resp);
/* api_checks.c: check plugin results */
void api_v0_checks_report(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v0_checks(void *ctx, struct http_req *req, struct http_resp *resp);
void api_v0_checks_history(void *ctx, struct http_req *req, struct http_resp *resp);

/* Prometheus-style error: {"status":"error","errorType":type,"error":msg}. */
void api_prom_error(struct http_resp *resp, int status, const char *type, const char *msg);

#endif
