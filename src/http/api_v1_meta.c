/*
 * api_v1_meta.c - Prometheus' metadata endpoints: /api/v1/series,
 * /api/v1/labels and /api/v1/label/<name>/values, with match[], start, end.
 */
#include "base/alloc.h"
#include "base/timeutil.h"
#include "http/api.h"
#include "query/ast.h"
#include "server/server.h"
#include "storage/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus' defaults when start/end are absent: all of time. */
#define MIN_TIME (INT64_MIN / 4)
#define MAX_TIME (INT64_MAX / 4)

struct meta_args {
    struct node **sel;
    size_t nsel;
    int64_t start, end;
};

static void meta_args_free(struct meta_args *a)
{
    for (size_t i = 0; i < a->nsel; i++)
        node_free(a->sel[i]);
    free(a->sel);
}

/* Read match[], start, end. Returns 0, or -1 after replying with an error. */
static int meta_args(struct saba_server *srv, struct http_req *req, struct http_resp *resp,
                     struct meta_args *a)
{
    memset(a, 0, sizeof *a);
    if (!atomic_load(&srv->storage)) {
        api_prom_error(resp, 503, "unavailable", "saba is starting: replaying its WAL");
        return -1;
    }
    const char *names[2] = {"start", "end"};
    int64_t *vals[2] = {&a->start, &a->end};
    int64_t defs[2] = {MIN_TIME, MAX_TIME};
    for (int i = 0; i < 2; i++) {
        const char *v = http_param(req, names[i]);
        *vals[i] = defs[i];
        if (v && *v && time_param_parse(v, vals[i]) != 0) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "invalid parameter \"%s\": cannot parse \"%.200s\" to a valid timestamp",
                     names[i], v);
            api_prom_error(resp, 400, "bad_data", msg);
            return -1;
        }
    }
    const char *const *m;
    size_t nm = http_params(req, "match[]", &m);
    a->sel = xcalloc(nm ? nm : 1, sizeof *a->sel);
    for (size_t i = 0; i < nm; i++) {
        struct saba_err err = {0};
        struct node *n;
        if (promql_parse(m[i], &n, &err) != 0) {
            char msg[700];
            snprintf(msg, sizeof msg, "invalid parameter \"match[]\": %s", err.msg);
            api_prom_error(resp, 400, "bad_data", msg);
            meta_args_free(a);
            return -1;
        }
        a->sel[a->nsel++] = n;
        if (n->type != NODE_VECTOR) {
            api_prom_error(resp, 400, "bad_data",
                           "invalid parameter \"match[]\": expected a vector selector");
            meta_args_free(a);
            return -1;
        }
    }
    return 0;
}

/* Union of the series every selector matches, labels only. */
static int select_union(struct storage *st, const struct meta_args *a, struct series_set *out,
                        struct saba_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < a->nsel; i++) {
        struct series_set s;
        int rc = st->ops->select(st, a->sel[i]->matchers, a->sel[i]->nmatchers, a->start, a->end,
                                 false, &s, err);
        if (rc) {
            series_set_free(out);
            return rc;
        }
        if (s.n) {
            out->v = xrealloc(out->v, (out->n + s.n) * sizeof *out->v);
            memcpy(out->v + out->n, s.v, s.n * sizeof *s.v);
            out->n += s.n;
        }
        free(s.v);
    }
    return 0;
}

static int cmp_series(const void *x, const void *y)
{
    return labels_cmp(&((const struct series_data *)x)->labels,
                      &((const struct series_data *)y)->labels);
}

static void reply_strlist(struct http_resp *resp, const struct strlist *l)
{
    resp->status = 200;
    resp->content_type = "application/json";
    struct buf *b = &resp->body;
    buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_put_json_str(b, l->v[i], strlen(l->v[i]));
    }
    buf_puts(b, "]}");
}

void api_v1_series(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    struct meta_args a;
    if (meta_args(srv, req, resp, &a))
        return;
    if (a.nsel == 0) {
        api_prom_error(resp, 400, "bad_data", "no match[] parameter provided");
        meta_args_free(&a);
        return;
    }
    struct series_set set;
    struct saba_err err = {0};
    if (select_union(atomic_load(&srv->storage), &a, &set, &err) != 0) {
        api_prom_error(resp, 500, "internal", err.msg);
        meta_args_free(&a);
        return;
    }
    qsort(set.v, set.n, sizeof *set.v, cmp_series);
    resp->status = 200;
    resp->content_type = "application/json";
    struct buf *b = &resp->body;
    buf_puts(b, "{\"status\":\"success\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < set.n; i++) {
        if (i && labels_cmp(&set.v[i - 1].labels, &set.v[i].labels) == 0)
            continue; /* matched by two selectors */
        if (!first)
            buf_putc(b, ',');
        first = false;
        labels_put_json(b, &set.v[i].labels);
    }
    buf_puts(b, "]}");
    series_set_free(&set);
    meta_args_free(&a);
}

/* names (label == NULL) or values of one label, over the selected series or all. */
static void names_or_values(struct saba_server *srv, struct http_req *req, struct http_resp *resp,
                            const char *label)
{
    struct meta_args a;
    if (meta_args(srv, req, resp, &a))
        return;
    struct storage *st = atomic_load(&srv->storage);
    struct strlist out = {0};
    bool all_time = a.start == MIN_TIME && a.end == MAX_TIME;
    if (a.nsel == 0 && all_time) {
        if (label)
            st->ops->label_values(st, label, &out);
        else
            st->ops->label_names(st, &out);
    } else {
        if (a.nsel == 0) {
            /* a time range without match[]: every series with data in it */
            struct saba_err perr = {0};
            struct node *n;
            promql_parse("{__name__=~\".+\"}", &n, &perr);
            a.sel = xrealloc(a.sel, sizeof *a.sel);
            a.sel[a.nsel++] = n;
        }
        struct series_set set;
        struct saba_err err = {0};
        if (select_union(st, &a, &set, &err) != 0) {
            api_prom_error(resp, 500, "internal", err.msg);
            meta_args_free(&a);
            return;
        }
        for (size_t i = 0; i < set.n; i++) {
            const struct labels *ls = &set.v[i].labels;
            for (size_t k = 0; k < ls->n; k++) {
                if (!label)
                    strlist_add(&out, ls->v[k].name);
                else if (!strcmp(ls->v[k].name, label))
                    strlist_add(&out, ls->v[k].value);
            }
        }
        series_set_free(&set);
        strlist_sort_unique(&out);
    }
    reply_strlist(resp, &out);
    strlist_free(&out);
    meta_args_free(&a);
}

void api_v1_labels(void *ctx, struct http_req *req, struct http_resp *resp)
{
    names_or_values(ctx, req, resp, NULL);
}

void api_v1_label_values(void *ctx, struct http_req *req, struct http_resp *resp)
{
    const char *path = http_path(req);
    const char *prefix = "/api/v1/label/", *suffix = "/values";
    size_t n = strlen(path), pn = strlen(prefix), sn = strlen(suffix);
    if (n <= pn + sn || strcmp(path + n - sn, suffix) != 0) {
        api_prom_error(resp, 404, "not_found", "not found");
        return;
    }
    char name[512];
    size_t len = n - pn - sn;
    if (len >= sizeof name) {
        api_prom_error(resp, 400, "bad_data", "invalid label name");
        return;
    }
    memcpy(name, path + pn, len);
    name[len] = '\0';
    /* saba keeps label names from line protocol and Graphite tags as sent, so
     * any text is a name here, not only Prometheus identifiers */
    if (!utf8_valid_text(name, len)) {
        char msg[600];
        snprintf(msg, sizeof msg, "invalid label name: \"%s\"", name);
        api_prom_error(resp, 400, "bad_data", msg);
        return;
    }
    names_or_values(ctx, req, resp, name);
}
