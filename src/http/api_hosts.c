/*
 * api_hosts.c - the host inventory: /api/v0/hosts (see meta/meta.h).
 *
 *   GET  /api/v0/hosts                 list (service, role, name, status, retired=true)
 *   POST /api/v0/hosts                 register -> {"id": "...", "created": bool}
 *   GET  /api/v0/hosts/<id>            one host
 *   PUT  /api/v0/hosts/<id>            update what the agent reports
 *   POST /api/v0/hosts/<id>/status     {"status": "working|standby|maintenance|poweroff"}
 *   POST /api/v0/hosts/<id>/retire     retire (no longer listed; its id is never reused)
 */
#include "http/api.h"
#include "meta/meta.h"
#include "server/server.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int status_of(int code)
{
    return code == SABA_EINVAL ? 400 : code == SABA_ENOTFOUND ? 404 : 503;
}

struct meta *api_meta(void *ctx, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    struct meta *m = atomic_load(&srv->meta);
    if (!m)
        http_reply_error(resp, 503, 0, "saba is starting; retry shortly");
    return m;
}

static void reply_err(struct http_resp *resp, int code, const struct saba_err *err)
{
    http_reply_error(resp, status_of(code), err->line, err->msg);
}

void api_v0_hosts(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct meta *m = api_meta(ctx, resp);
    if (!m)
        return;
    struct saba_err err = {0};
    int rc;
    if (!strcmp(http_method(req), "GET")) {
        const char *retired = http_param(req, "retired");
        struct meta_host_filter f = {
            .service = http_param(req, "service"),
            .role = http_param(req, "role"),
            .name = http_param(req, "name"),
            .status = http_param(req, "status"),
            .retired = retired && !strcmp(retired, "true"),
        };
        if (f.role && !f.service) {
            http_reply_error(resp, 400, 0, "role needs service (?service=blog&role=web)");
            return;
        }
        struct buf b = BUF_INIT;
        buf_puts(&b, "{\"hosts\":");
        rc = meta_hosts_list_json(m, &f, &b, &err);
        buf_putc(&b, '}');
        if (rc) {
            buf_free(&b);
            reply_err(resp, rc, &err);
            return;
        }
        resp->body = b;
        return;
    }
    size_t n;
    const char *body = http_body(req, &n);
    struct meta_host_in h;
    rc = meta_host_parse(body ? body : "", n, &h, &err);
    if (rc) {
        reply_err(resp, rc, &err);
        return;
    }
    char id[META_HOST_ID_LEN + 1];
    bool created = false;
    rc = meta_host_create(m, &h, id, &created, &err);
    meta_host_in_free(&h);
    if (rc) {
        reply_err(resp, rc, &err);
        return;
    }
    resp->status = created ? 201 : 200;
    buf_printf(&resp->body, "{\"id\":\"%s\",\"created\":%s}", id, created ? "true" : "false");
}

void api_v0_host(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct meta *m = api_meta(ctx, resp);
    if (!m)
        return;
    const char *rest = http_path(req) + strlen("/api/v0/hosts/");
    char id[64];
    const char *slash = strchr(rest, '/');
    size_t idn = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *action = slash ? slash + 1 : "";
    if (idn == 0 || idn >= sizeof id) {
        http_reply_error(resp, 404, 0, "no such host");
        return;
    }
    memcpy(id, rest, idn);
    id[idn] = '\0';
    const char *method = http_method(req);
    struct saba_err err = {0};
    int rc;
    size_t n;
    const char *body = http_body(req, &n);
    if (!*action && !strcmp(method, "GET")) {
        struct buf b = BUF_INIT;
        rc = meta_host_get_json(m, id, &b, &err);
        if (rc) {
            buf_free(&b);
            reply_err(resp, rc, &err);
            return;
        }
        resp->body = b;
        return;
    }
    if (!*action && !strcmp(method, "PUT")) {
        struct meta_host_in h;
        rc = meta_host_parse(body ? body : "", n, &h, &err);
        if (!rc) {
            rc = meta_host_update(m, id, &h, &err);
            meta_host_in_free(&h);
        }
        if (rc) {
            reply_err(resp, rc, &err);
            return;
        }
        buf_printf(&resp->body, "{\"id\":\"%s\"}", id);
        return;
    }
    if (!strcmp(action, "status") && !strcmp(method, "POST")) {
        json_error_t je;
        json_t *j = json_loadb(body ? body : "", n, 0, &je);
        const char *st = json_string_value(json_object_get(j, "status"));
        if (!st) {
            json_decref(j);
            http_reply_error(resp, 400, 0, "expected {\"status\": \"working|standby|...\"}");
            return;
        }
        rc = meta_host_set_status(m, id, st, &err);
        json_decref(j);
    } else if (!strcmp(action, "retire") && !strcmp(method, "POST")) {
        rc = meta_host_retire(m, id, &err);
    } else if (!strcmp(action, "status") || !strcmp(action, "retire") || !*action) {
        http_reply_error(resp, 405, 0, "method not allowed");
        return;
    } else {
        http_reply_error(resp, 404, 0, "not found");
        return;
    }
    if (rc) {
        reply_err(resp, rc, &err);
        return;
    }
    buf_puts(&resp->body, "{\"success\":true}");
}
