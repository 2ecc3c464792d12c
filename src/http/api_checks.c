/*
 * api_checks.c - check plugin results: /api/v0/checks (see meta/meta.h).
 *
 *   POST /api/v0/checks/report    {"host_id", "reports": [{"name", "status",
 *                                  "message", "occurred_at", "interval"}]}
 *   GET  /api/v0/checks           latest status per (host, check); host_id= filters
 *   GET  /api/v0/checks/history   host_id=, name=, limit= (default 100, max 1000)
 *
 * A report request is accepted or refused whole: every report is validated
 * before any is stored. Alerting on checks builds on these tables later.
 */
#include "http/api.h"
#include "meta/meta.h"

#include <stdlib.h>
#include <string.h>

static int store_report(void *ctx, const char *host_id, const struct meta_report_in *r,
                        struct saba_err *err)
{
    return meta_check_report(ctx, host_id, r, err);
}

void api_v0_checks_report(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct meta *m = api_meta(ctx, resp);
    if (!m)
        return;
    size_t n;
    const char *body = http_body(req, &n);
    struct saba_err err = {0};
    /* validate everything first (fn NULL), then store */
    int rc = meta_reports_parse(body ? body : "", n, NULL, NULL, &err);
    if (!rc)
        rc = meta_reports_parse(body, n, store_report, m, &err);
    if (rc) {
        http_reply_error(resp,
                         rc == SABA_EINVAL      ? 400
                         : rc == SABA_ENOTFOUND ? 404
                                                : 503,
                         err.line, err.msg);
        return;
    }
    buf_puts(&resp->body, "{\"success\":true}");
}

void api_v0_checks(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct meta *m = api_meta(ctx, resp);
    if (!m)
        return;
    struct saba_err err = {0};
    struct buf b = BUF_INIT;
    buf_puts(&b, "{\"checks\":");
    int rc = meta_checks_list_json(m, http_param(req, "host_id"), &b, &err);
    buf_putc(&b, '}');
    if (rc) {
        buf_free(&b);
        http_reply_error(resp, 503, 0, err.msg);
        return;
    }
    resp->body = b;
}

void api_v0_checks_history(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct meta *m = api_meta(ctx, resp);
    if (!m)
        return;
    const char *host = http_param(req, "host_id"), *name = http_param(req, "name");
    const char *ls = http_param(req, "limit");
    if (!host || !name) {
        http_reply_error(resp, 400, 0, "host_id and name are required");
        return;
    }
    long limit = 100;
    if (ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (*end || end == ls || limit < 1 || limit > META_CHECK_HISTORY) {
            http_reply_error(resp, 400, 0, "limit must be 1..1000");
            return;
        }
    }
    struct saba_err err = {0};
    struct buf b = BUF_INIT;
    buf_puts(&b, "{\"history\":");
    int rc = meta_check_history_json(m, host, name, (int)limit, &b, &err);
    buf_putc(&b, '}');
    if (rc) {
        buf_free(&b);
        http_reply_error(resp, 503, 0, err.msg);
        return;
    }
    resp->body = b;
}
