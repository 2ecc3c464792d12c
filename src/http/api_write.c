/*
 * api_write.c - ingestion endpoints: InfluxDB line protocol (v1 /write and
 * v2 /api/v2/write) and saba JSON (/api/v0/metrics).
 *
 * A request is one batch: it is parsed and validated whole before anything
 * is stored, so a bad line rejects the request (400, naming the first bad
 * line) and stores nothing; a good request is acknowledged only once it is
 * in the WAL. InfluxDB's own behaviour (store the good lines of a partly bad
 * batch) would make a client's retry of the whole request double-count
 * nothing but still leave the operator guessing which lines made it.
 */
#include "base/log.h"
#include "base/timeutil.h"
#include "http/api.h"
#include "ingest/influx.h"
#include "ingest/json.h"
#include "ingest/remote_write.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static int status_of(int code)
{
    switch (code) {
    case SABA_EINVAL:
        return 400;
    case SABA_ETOOBIG:
        return 413;
    case SABA_ENOSPC:
        return 507; /* Insufficient Storage: the disk is full; retry once space is back */
    default:
        return 503;
    }
}

/* Parse a line-protocol body, append it, and answer. */
static void write_lines(struct saba_server *srv, struct http_req *req, struct http_resp *resp,
                        const char *precision, bool v2)
{
    enum influx_precision prec;
    if (influx_precision_parse(precision, &prec) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid precision \"%.20s\" (use ns, us, ms, s%s)", precision,
                 v2 ? "" : ", m or h");
        atomic_fetch_add(&srv->rejected[PROTO_INFLUX], 1);
        http_reply_error(resp, 400, 0, msg);
        return;
    }
    size_t n;
    const char *body = http_body(req, &n);
    struct batch b;
    batch_init(&b, &srv->limits);
    struct influx_stats st = {0};
    struct saba_err err = {0};
    int rc = influx_parse(body, n, prec, b.now_ms, &b, &st, &err);
    if (rc) {
        atomic_fetch_add(&srv->rejected[PROTO_INFLUX], 1);
        char msg[sizeof err.msg + 32];
        snprintf(msg, sizeof msg, "line %ld: %s", err.line, err.msg);
        http_reply_error(resp, status_of(rc), err.line, msg);
        goto out;
    }
    atomic_fetch_add(&srv->skipped_string_fields, st.skipped_string_fields);
    rc = server_append(srv, PROTO_INFLUX, &b, &err);
    if (rc) {
        http_reply_error(resp, status_of(rc), 0, err.msg);
        goto out;
    }
    resp->status = 204;
    resp->content_type = NULL;
out:
    batch_free(&b);
}

void api_write_influx_v1(void *ctx, struct http_req *req, struct http_resp *resp)
{
    /* db, rp, u, p and consistency are accepted and ignored: saba has one
     * database, and authentication is by API key. */
    const char *p = http_param(req, "precision");
    write_lines(ctx, req, resp, p ? p : "ns", false);
}

void api_write_influx_v2(void *ctx, struct http_req *req, struct http_resp *resp)
{
    /* org and bucket are accepted and ignored, as is "Authorization: Token". */
    const char *p = http_param(req, "precision");
    write_lines(ctx, req, resp, p ? p : "ns", true);
}

void api_v0_metrics(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    size_t n;
    const char *body = http_body(req, &n);
    struct batch b;
    batch_init(&b, &srv->limits);
    struct saba_err err = {0};
    int rc = saba_json_parse(body, n, &b, &err);
    if (rc) {
        atomic_fetch_add(&srv->rejected[PROTO_JSON], 1);
        http_reply_error(resp, status_of(rc), err.line, err.msg);
        goto out;
    }
    rc = server_append(srv, PROTO_JSON, &b, &err);
    if (rc) {
        http_reply_error(resp, status_of(rc), 0, err.msg);
        goto out;
    }
    resp->status = 200;
    buf_printf(&resp->body, "{\"success\":true,\"samples\":%zu}\n", b.nsamples);
out:
    batch_free(&b);
}

/* Prometheus remote write 1.0. The status codes are the protocol's contract
 * with the sender: 204 stored; 400 (and 413) bad data, which the sender
 * drops rather than retries; 5xx a storage failure, which it retries. */
void api_v1_write(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    size_t n;
    const char *body = http_body(req, &n);
    struct batch b;
    batch_init(&b, &srv->limits);
    struct remote_write_stats st = {0};
    struct saba_err err = {0};
    int rc = remote_write_parse((const uint8_t *)body, n, &b, &st, &err);
    if (rc) {
        atomic_fetch_add(&srv->rejected[PROTO_REMOTE_WRITE], 1);
        http_reply_error(resp, status_of(rc), err.line, err.msg);
        goto out;
    }
    static int64_t skipped_log_ms;
    if ((st.histograms || st.exemplars) && log_ratelimited(&skipped_log_ms, 60000))
        log_warn("http",
                 "msg=\"remote write: native histograms and exemplars are not stored\" "
                 "histograms=%llu exemplars=%llu",
                 (unsigned long long)st.histograms, (unsigned long long)st.exemplars);
    rc = server_append(srv, PROTO_REMOTE_WRITE, &b, &err);
    if (rc) {
        http_reply_error(resp, status_of(rc), 0, err.msg);
        goto out;
    }
    resp->status = 204;
    resp->content_type = NULL;
out:
    batch_free(&b);
}
