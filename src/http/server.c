/*
 * server.c - HTTP server over libmicrohttpd (see http.h).
 *
 * Per request, libmicrohttpd calls on_request repeatedly: once with the
 * headers, then with chunks of the body, then once more with none. The first
 * call checks the route and Content-Length (so an oversized body is refused
 * with 413 before it is read), the middle ones collect the body, and the last
 * one decodes it and runs the handler.
 */
#include "http/http.h"
#include "base/alloc.h"
#include "base/log.h"
#include "storage/labels.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <snappy-c.h>
#include <zlib.h>

struct http_server {
    struct MHD_Daemon *d;
    struct http_options o;
};

struct param {
    char *key, *value;
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;
    const struct http_route *route;
    struct buf body;
    bool too_big;
    struct param *params; /* query string + form fields, in order */
    size_t nparams, cap;
    const char **multi; /* scratch for http_params */
};

static void add_param(struct http_req *r, const char *k, size_t kn, const char *v, size_t vn)
{
    if (r->nparams == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->params = xrealloc(r->params, r->cap * sizeof *r->params);
    }
    r->params[r->nparams++] = (struct param){xstrndup(k, kn), xstrndup(v, vn)};
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct http_req *r = cls;
    add_param(r, key, strlen(key), value ? value : "", value ? strlen(value) : 0);
    return MHD_YES;
}

const char *http_method(const struct http_req *r)
{
    return r->method;
}

const char *http_path(const struct http_req *r)
{
    return r->path;
}

const char *http_param(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].key, name))
            return r->params[i].value;
    return NULL;
}

size_t http_params(struct http_req *r, const char *name, const char *const **out)
{
    free(r->multi);
    r->multi = xmalloc((r->nparams + 1) * sizeof *r->multi);
    size_t n = 0;
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].key, name))
            r->multi[n++] = r->params[i].value;
    *out = r->multi;
    return n;
}

const char *http_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const struct http_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

void http_reply(struct http_resp *resp, int status, const char *content_type, const char *text)
{
    resp->status = status;
    resp->content_type = content_type;
    buf_reset(&resp->body);
    buf_puts(&resp->body, text);
}

void http_reply_error(struct http_resp *resp, int status, long line, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_puts(&resp->body, "{\"error\":");
    buf_put_json_str(&resp->body, msg, strlen(msg));
    if (line > 0)
        buf_printf(&resp->body, ",\"line\":%ld", line);
    buf_puts(&resp->body, "}\n");
}

static bool method_ok(const char *allowed, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allowed; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, method, n))
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

static const struct http_route *find_route(const struct http_server *s, const char *path)
{
    for (const struct http_route *r = s->o.routes; r->path; r++) {
        size_t n = strlen(r->path);
        if (r->path[n - 1] == '*' ? !strncmp(r->path, path, n - 1) : !strcmp(r->path, path))
            return r;
    }
    return NULL;
}

static enum MHD_Result reply_send(struct MHD_Connection *c, struct http_resp *resp)
{
    size_t n = resp->body.len;
    char *data = buf_steal(&resp->body);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
    if (resp->content_type)
        MHD_add_response_header(r, "Content-Type", resp->content_type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
    struct http_resp resp = {0};
    http_reply_error(&resp, status, 0, msg);
    return reply_send(c, &resp);
}

/* Decode a snappy block (remote write's encoding) into out, bounded by max bytes. */
static int unsnappy(const char *in, size_t n, int64_t max, struct buf *out, char *why, size_t wn)
{
    size_t len;
    if (snappy_uncompressed_length(in, n, &len) != SNAPPY_OK) {
        snprintf(why, wn, "invalid snappy body: cannot read its length");
        return -1;
    }
    if ((int64_t)len > max) {
        snprintf(why, wn, "decompressed body larger than %lld bytes", (long long)max);
        return -2;
    }
    buf_reserve(out, len + 1);
    if (snappy_uncompress(in, n, out->data, &len) != SNAPPY_OK) {
        snprintf(why, wn, "invalid snappy body");
        return -1;
    }
    out->len = len;
    out->data[len] = '\0';
    return 0;
}

/* Inflate a gzip or zlib body into out, bounded by max bytes. */
static int gunzip(const char *in, size_t n, int64_t max, struct buf *out, char *why, size_t wn)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) { /* +32: detect gzip or zlib header */
        snprintf(why, wn, "cannot start gzip decoder");
        return -1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        buf_reserve(out, 64 * 1024);
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len - 1);
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len = out->cap - 1 - zs.avail_out;
        out->data[out->len] = '\0';
        if ((int64_t)out->len > max) {
            inflateEnd(&zs);
            snprintf(why, wn, "decompressed body larger than %lld bytes", (long long)max);
            return -2;
        }
        if (rc == Z_STREAM_END && zs.avail_in > 0) {
            /* concatenated gzip members, as gzip(1) may write */
            inflateReset(&zs);
            rc = Z_OK;
        }
    } while (rc == Z_OK);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        snprintf(why, wn, "invalid gzip body: %s", zs.msg ? zs.msg : "truncated");
        return -1;
    }
    return 0;
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    struct http_req *r = cls;
    if (off > 0 && r->nparams && !strcmp(r->params[r->nparams - 1].key, key)) {
        /* a long value arrives in pieces */
        struct param *p = &r->params[r->nparams - 1];
        size_t old = strlen(p->value);
        p->value = xrealloc(p->value, old + size + 1);
        memcpy(p->value + old, data, size);
        p->value[old + size] = '\0';
    } else {
        add_param(r, key, strlen(key), data, size);
    }
    return MHD_YES;
}

static void run_handler(struct http_server *s, struct http_req *r, struct http_resp *resp)
{
    const char *ct = http_header(r, "Content-Type");
    if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) && r->body.len) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 64 * 1024, form_field, r);
        if (pp) {
            MHD_post_process(pp, r->body.data, r->body.len);
            MHD_destroy_post_processor(pp);
        }
    }
    r->route->fn(s->o.ctx, r, resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    (void)version;
    struct http_server *s = cls;
    struct http_req *r = *state;
    if (!r) {
        const struct http_route *route = find_route(s, url);
        if (!route)
            return send_error(conn, 404, "not found");
        if (!method_ok(route->method, method))
            return send_error(conn, 405, "method not allowed");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoll(cl, NULL, 10) > s->o.max_body_bytes) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body larger than %lld bytes",
                     (long long)s->o.max_body_bytes);
            return send_error(conn, 413, msg);
        }
        r = xcalloc(1, sizeof *r);
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->route = route;
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, r);
        *state = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big) {
            if ((int64_t)(r->body.len + *upload_size) > s->o.max_body_bytes) {
                r->too_big = true;
                buf_free(&r->body);
            } else {
                buf_append(&r->body, upload_data, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    struct http_resp resp = {.status = 200, .content_type = "application/json"};
    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body larger than %lld bytes",
                 (long long)s->o.max_body_bytes);
        http_reply_error(&resp, 413, 0, msg);
        return reply_send(conn, &resp);
    }
    const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    if (ce && *ce && strcasecmp(ce, "identity")) {
        bool snappy = !strcasecmp(ce, "snappy");
        if (!snappy && strcasecmp(ce, "gzip") && strcasecmp(ce, "x-gzip") &&
            strcasecmp(ce, "deflate")) {
            char msg[128];
            snprintf(msg, sizeof msg, "unsupported Content-Encoding \"%.40s\" (use gzip or snappy)",
                     ce);
            http_reply_error(&resp, 415, 0, msg);
            return reply_send(conn, &resp);
        }
        struct buf plain = BUF_INIT;
        char why[160];
        int rc = (snappy ? unsnappy : gunzip)(r->body.data ? r->body.data : "", r->body.len,
                                              s->o.max_body_bytes, &plain, why, sizeof why);
        if (rc) {
            buf_free(&plain);
            http_reply_error(&resp, rc == -2 ? 413 : 400, 0, why);
            return reply_send(conn, &resp);
        }
        buf_free(&r->body);
        r->body = plain;
    }
    run_handler(s, r, &resp);
    return reply_send(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct http_req *r = *state;
    if (!r)
        return;
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].key);
        free(r->params[i].value);
    }
    free(r->params);
    free(r->multi);
    buf_free(&r->body);
    free(r);
    *state = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static int64_t last;
    if (!log_ratelimited(&last, 10000))
        return;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("http", "msg=\"%s\"", msg);
}

int http_start(const struct http_options *o, struct http_server **out, struct saba_err *err)
{
    struct http_server *s = xcalloc(1, sizeof *s);
    s->o = *o;
    /* A thread per connection: with a worker pool, libmicrohttpd binds each
     * connection to one worker, and two busy keep-alive clients could share a
     * core while the other idles (measured: half the ingest rate). Writers
     * (agents, relays) keep few connections open, so threads stay few. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    /* the logger must come first, or early messages go to MHD's own stderr logger */
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s,
        MHD_OPTION_LISTEN_SOCKET, o->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(o->max_connections > 0 ? o->max_connections : 512), MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return err_set(err, SABA_EIO, 0, "cannot start the HTTP server");
    }
    *out = s;
    return 0;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
