/*
 * api_v1_status.c - the small Prometheus API endpoints clients probe before
 * they query: /api/v1/status/buildinfo (Grafana reads the version to decide
 * which API features to use), /api/v1/metadata and /api/v1/query_exemplars
 * (saba keeps neither metric metadata nor exemplars: both answer an empty,
 * well-formed result rather than 404, so editors and panels work).
 */
#include "http/api.h"

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

/* The Prometheus HTTP API level saba implements (and is tested against). */
#define PROMETHEUS_API_VERSION "2.42.0"

void api_v1_buildinfo(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"status\":\"success\",\"data\":{\"version\":\"" PROMETHEUS_API_VERSION
                          "\",\"revision\":\"" SABA_VERSION "\",\"branch\":\"saba\","
                          "\"buildUser\":\"saba\",\"buildDate\":\"\",\"goVersion\":\"\","
                          "\"application\":\"saba\"}}\n");
}

void api_v1_metadata(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"status\":\"success\",\"data\":{}}\n");
}

void api_v1_query_exemplars(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"status\":\"success\",\"data\":[]}\n");
}
