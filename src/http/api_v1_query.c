/*
 * api_v1_query.c - Prometheus' /api/v1/query and /api/v1/query_range.
 *
 * Parameters, defaults, error texts and response shapes follow Prometheus'
 * HTTP API so Grafana and other clients work unchanged: values are strings
 * ("1.5", "NaN", "+Inf"), timestamps are Unix seconds as JSON numbers.
 */
#include "base/alloc.h"
#include "base/num.h"
#include "base/par.h"
#include "base/timeutil.h"
#include "http/api.h"
#include "query/ast.h"
#include "query/eval.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_prom_error(struct http_resp *resp, int status, const char *type, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
    buf_put_json_str(&resp->body, msg, strlen(msg));
    buf_puts(&resp->body, "}");
}

static void bad_param(struct http_resp *resp, const char *name, const char *fmt, const char *v)
{
    char msg[600];
    char detail[400];
    snprintf(detail, sizeof detail, fmt, v);
    snprintf(msg, sizeof msg, "invalid parameter \"%s\": %s", name, detail);
    api_prom_error(resp, 400, "bad_data", msg);
}

/* Parse a time parameter; def is used when absent. Returns 0 or replies 400. */
static int time_arg(struct http_req *req, struct http_resp *resp, const char *name, int64_t def,
                    int64_t *out)
{
    const char *v = http_param(req, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (time_param_parse(v, out) != 0) {
        bad_param(resp, name, "cannot parse \"%s\" to a valid timestamp", v);
        return -1;
    }
    return 0;
}

static void put_sample(struct buf *b, int64_t t, double v)
{
    buf_putc(b, '[');
    num_put_ts(b, t);
    buf_puts(b, ",\"");
    num_put_float(b, v);
    buf_puts(b, "\"]");
}

/* Open the i-th series object of a vector or matrix: `,{"metric":{...},` */
static void put_series_head(struct buf *b, size_t i, const struct series_data *s)
{
    if (i)
        buf_putc(b, ',');
    buf_puts(b, "{\"metric\":");
    labels_put_json(b, &s->labels);
    buf_putc(b, ',');
}

/* Series [lo, hi) of a vector or matrix result. */
static void put_series(struct buf *b, const struct query_result *r, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        const struct series_data *s = &r->set.v[i];
        put_series_head(b, i, s);
        if (r->type == VAL_VECTOR) {
            buf_puts(b, "\"value\":");
            put_sample(b, s->t[0], s->v[0]);
            buf_putc(b, '}');
            continue;
        }
        buf_puts(b, "\"values\":[");
        for (size_t k = 0; k < s->n; k++) {
            if (k)
                buf_putc(b, ',');
            put_sample(b, s->t[k], s->v[k]);
        }
        buf_puts(b, "]}");
    }
}

/* A large result is formatted in chunks of series on every CPU (printing
 * floats is a good part of a big query's time), then joined in order. */
#define FORMAT_CHUNK 64

struct format_job {
    const struct query_result *r;
    struct buf *parts;
};

static void format_chunks(void *ctx, size_t lo, size_t hi)
{
    struct format_job *j = ctx;
    for (size_t c = lo; c < hi; c++) {
        size_t from = c * FORMAT_CHUNK, to = from + FORMAT_CHUNK;
        put_series(&j->parts[c], j->r, from, to < j->r->set.n ? to : j->r->set.n);
    }
}

static void put_result(struct buf *b, const struct query_result *r)
{
    static const char *const types[] = {"scalar", "string", "vector", "matrix"};
    buf_printf(
        b, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":", types[r->type]);
    switch (r->type) {
    case VAL_SCALAR:
        put_sample(b, r->t, r->scalar);
        break;
    case VAL_STRING:
        buf_putc(b, '[');
        num_put_ts(b, r->t);
        buf_putc(b, ',');
        buf_put_json_str(b, r->string, strlen(r->string));
        buf_putc(b, ']');
        break;
    case VAL_VECTOR:
    case VAL_MATRIX: {
        buf_putc(b, '[');
        size_t nchunks = (r->set.n + FORMAT_CHUNK - 1) / FORMAT_CHUNK;
        struct format_job j = {r, xcalloc(nchunks ? nchunks : 1, sizeof(struct buf))};
        par_for(nchunks, 4, format_chunks, &j);
        for (size_t c = 0; c < nchunks; c++) {
            buf_append(b, j.parts[c].data, j.parts[c].len);
            buf_free(&j.parts[c]);
        }
        free(j.parts);
        buf_putc(b, ']');
        break;
    }
    }
    buf_puts(b, "}}");
}

/* Common front: readiness, query parsing. Returns the tree or NULL (replied). */
static struct node *begin(struct saba_server *srv, struct http_req *req, struct http_resp *resp)
{
    if (!atomic_load(&srv->storage)) {
        api_prom_error(resp, 503, "unavailable", "saba is starting: replaying its WAL");
        return NULL;
    }
    atomic_fetch_add(&srv->queries, 1);
    const char *q = http_param(req, "query");
    struct node *n;
    struct saba_err err = {0};
    if (promql_parse(q ? q : "", &n, &err) != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "invalid parameter \"query\": %s", err.msg);
        api_prom_error(resp, 400, "bad_data", msg);
        return NULL;
    }
    const char *timeout = http_param(req, "timeout");
    int64_t ms;
    if (timeout && *timeout && duration_param_parse(timeout, &ms) != 0) {
        bad_param(resp, "timeout", "cannot parse \"%s\" to a valid duration", timeout);
        node_free(n);
        return NULL;
    }
    return n;
}

static void finish(struct http_resp *resp, int rc, struct saba_err *err, struct query_result *r)
{
    if (rc == 0) {
        resp->status = 200;
        resp->content_type = "application/json";
        put_result(&resp->body, r);
    } else if (rc == SABA_EINVAL) {
        api_prom_error(resp, 400, "bad_data", err->msg);
    } else if (rc == SABA_EEXEC) {
        api_prom_error(resp, 422, "execution", err->msg);
    } else {
        api_prom_error(resp, 500, "internal", err->msg);
    }
    query_result_free(r);
}

void api_v1_query(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    struct node *n = begin(srv, req, resp);
    if (!n)
        return;
    int64_t t;
    if (time_arg(req, resp, "time", now_ms(), &t) == 0) {
        struct eval_opts o = {srv->cfg->lookback_ms, atomic_load(&srv->storage),
                              srv->cfg->query_max_samples};
        struct query_result r;
        struct saba_err err = {0};
        int rc = eval_instant(&o, n, t, &r, &err);
        finish(resp, rc, &err, &r);
    }
    node_free(n);
}

void api_v1_query_range(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    int64_t start, end, step;
    const char *sv = http_param(req, "start"), *ev = http_param(req, "end");
    const char *stv = http_param(req, "step");
    if (!sv || !*sv) {
        api_prom_error(resp, 400, "bad_data", "invalid parameter \"start\": missing");
        return;
    }
    if (!ev || !*ev) {
        api_prom_error(resp, 400, "bad_data", "invalid parameter \"end\": missing");
        return;
    }
    if (time_arg(req, resp, "start", 0, &start) || time_arg(req, resp, "end", 0, &end))
        return;
    if (end < start) {
        api_prom_error(resp, 400, "bad_data",
                       "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    if (!stv || duration_param_parse(stv, &step) != 0) {
        bad_param(resp, "step", "cannot parse \"%s\" to a valid duration", stv ? stv : "");
        return;
    }
    if (step <= 0) {
        api_prom_error(resp, 400, "bad_data",
                       "invalid parameter \"step\": zero or negative query resolution step "
                       "widths are not accepted. Try a positive integer");
        return;
    }
    if ((end - start) / step >= EVAL_MAX_POINTS) {
        api_prom_error(resp, 400, "bad_data",
                       "exceeded maximum resolution of 11,000 points per timeseries. Try "
                       "decreasing the query resolution (?step=XX)");
        return;
    }
    struct node *n = begin(srv, req, resp);
    if (!n)
        return;
    struct eval_opts o = {srv->cfg->lookback_ms, atomic_load(&srv->storage),
                          srv->cfg->query_max_samples};
    struct query_result r;
    struct saba_err err = {0};
    int rc = eval_range(&o, n, start, end, step, &r, &err);
    finish(resp, rc, &err, &r);
    node_free(n);
}
