/*
 * eval.c - PromQL evaluation of selectors and literals (see eval.h).
 *
 * Everything is evaluated over the step grid of the query (one step for an
 * instant query): a vector selector reads its series once for the whole
 * span and walks the steps with one cursor per series.
 */
#include "query/eval.h"
#include "base/alloc.h"
#include "storage/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int value_is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b == STALE_NAN_BITS;
}

void query_result_free(struct query_result *r)
{
    free(r->string);
    series_set_free(&r->set);
    memset(r, 0, sizeof *r);
}

struct grid {
    int64_t start, end, step;
    size_t nsteps;
};

static int unsupported(const struct node *n, struct saba_err *err)
{
    switch (n->type) {
    case NODE_CALL:
        return err_set(err, SABA_EEXEC, 0, "function \"%s\" is not supported by saba yet", n->func);
    case NODE_AGG:
        return err_set(err, SABA_EEXEC, 0, "aggregation \"%s\" is not supported by saba yet",
                       n->func);
    case NODE_BINARY:
        return err_set(err, SABA_EEXEC, 0, "binary operators are not supported by saba yet");
    case NODE_SUBQUERY:
        return err_set(err, SABA_EEXEC, 0, "subqueries are not supported by saba yet");
    default:
        return err_set(err, SABA_EEXEC, 0, "expression is not supported by saba yet");
    }
}

static int64_t at_time(const struct node *n, const struct grid *g, int64_t t)
{
    switch (n->at) {
    case AT_TIME:
        return n->at_ms;
    case AT_START:
        return g->start;
    case AT_END:
        return g->end;
    default:
        return t;
    }
}

/* Vector selector over the grid: out gets one series_data per series with the
 * step timestamps and values where the series has a value. */
static int eval_vector(const struct eval_opts *o, const struct node *n, const struct grid *g,
                       struct series_set *out, struct saba_err *err)
{
    int64_t first = at_time(n, g, g->start) - n->offset_ms;
    int64_t last = at_time(n, g, g->end) - n->offset_ms;
    struct series_set raw = {0};
    int rc = o->storage->ops->select(o->storage, n->matchers, n->nmatchers, first - o->lookback_ms,
                                     last, true, &raw, err);
    if (rc)
        return rc;
    out->v = xcalloc(raw.n ? raw.n : 1, sizeof *out->v);
    out->n = 0;
    for (size_t i = 0; i < raw.n; i++) {
        struct series_data *s = &raw.v[i];
        struct series_data r = {.labels = s->labels};
        r.t = xmalloc(g->nsteps * sizeof *r.t);
        r.v = xmalloc(g->nsteps * sizeof *r.v);
        size_t j = 0;
        for (size_t k = 0; k < g->nsteps; k++) {
            int64_t t = g->start + (int64_t)k * g->step;
            int64_t ref = at_time(n, g, t) - n->offset_ms;
            while (j + 1 < s->n && s->t[j + 1] <= ref)
                j++;
            if (s->n && s->t[j] <= ref && s->t[j] >= ref - o->lookback_ms &&
                !value_is_stale(s->v[j])) {
                r.t[r.n] = t;
                r.v[r.n++] = s->v[j];
            }
        }
        s->labels = (struct labels){0}; /* moved into r */
        if (r.n) {
            out->v[out->n++] = r;
        } else {
            labels_free(&r.labels);
            free(r.t);
            free(r.v);
        }
    }
    series_set_free(&raw);
    return 0;
}

/* Remove __name__ from every series; fail if two series then collide. */
static int drop_names(struct series_set *set, struct saba_err *err)
{
    for (size_t i = 0; i < set->n; i++) {
        struct labels *ls = &set->v[i].labels;
        struct label tmp[256];
        size_t k = 0;
        for (size_t j = 0; j < ls->n && k < 256; j++)
            if (strcmp(ls->v[j].name, LABEL_NAME))
                tmp[k++] = ls->v[j];
        struct labels nl = labels_copy(tmp, k);
        labels_free(ls);
        *ls = nl;
    }
    for (size_t i = 0; i < set->n; i++)
        for (size_t j = i + 1; j < set->n; j++)
            if (labels_cmp(&set->v[i].labels, &set->v[j].labels) == 0)
                return err_set(err, SABA_EEXEC, 0,
                               "vector cannot contain metrics with the same labelset");
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    return labels_cmp(&((const struct series_data *)a)->labels,
                      &((const struct series_data *)b)->labels);
}

/* Evaluate an instant-vector or scalar expression over the grid. Scalars come
 * back as one series with no labels and a value at every step. */
static int eval_grid(const struct eval_opts *o, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err)
{
    switch (n->type) {
    case NODE_NUMBER: {
        out->v = xcalloc(1, sizeof *out->v);
        out->n = 1;
        struct series_data *s = &out->v[0];
        s->labels = labels_copy(NULL, 0);
        s->t = xmalloc(g->nsteps * sizeof *s->t);
        s->v = xmalloc(g->nsteps * sizeof *s->v);
        for (size_t k = 0; k < g->nsteps; k++) {
            s->t[k] = g->start + (int64_t)k * g->step;
            s->v[k] = n->num;
        }
        s->n = g->nsteps;
        return 0;
    }
    case NODE_VECTOR:
        return eval_vector(o, n, g, out, err);
    case NODE_PAREN:
        return eval_grid(o, n->inner, g, out, err);
    case NODE_UNARY: {
        int rc = eval_grid(o, n->inner, g, out, err);
        if (rc || n->unary_op == '+')
            return rc;
        for (size_t i = 0; i < out->n; i++)
            for (size_t k = 0; k < out->v[i].n; k++)
                out->v[i].v[k] = -out->v[i].v[k];
        if (node_value_type(n->inner) == VAL_VECTOR) {
            rc = drop_names(out, err);
            qsort(out->v, out->n, sizeof *out->v, cmp_series);
        }
        return rc;
    }
    default:
        return unsupported(n, err);
    }
}

static int eval_matrix(const struct eval_opts *o, const struct node *n, int64_t t,
                       struct series_set *out, struct saba_err *err)
{
    const struct node *sel = n->inner;
    struct grid g = {t, t, 1, 1};
    int64_t ref = at_time(n, &g, t) - n->offset_ms;
    (void)sel;
    int rc = o->storage->ops->select(o->storage, sel->matchers, sel->nmatchers, ref - n->range_ms,
                                     ref, true, out, err);
    if (rc)
        return rc;
    /* drop staleness markers: they are not samples */
    for (size_t i = 0; i < out->n; i++) {
        struct series_data *s = &out->v[i];
        size_t k = 0;
        for (size_t j = 0; j < s->n; j++) {
            if (value_is_stale(s->v[j]))
                continue;
            s->t[k] = s->t[j];
            s->v[k++] = s->v[j];
        }
        s->n = k;
    }
    return 0;
}

int eval_instant(const struct eval_opts *o, const struct node *n, int64_t t,
                 struct query_result *out, struct saba_err *err)
{
    memset(out, 0, sizeof *out);
    out->t = t;
    out->type = node_value_type(n);
    const struct node *inner = n;
    while (inner->type == NODE_PAREN)
        inner = inner->inner;
    switch (out->type) {
    case VAL_STRING:
        if (inner->type != NODE_STRING)
            return unsupported(inner, err);
        out->string = xstrdup(inner->str);
        return 0;
    case VAL_MATRIX:
        if (inner->type != NODE_MATRIX)
            return unsupported(inner, err);
        return eval_matrix(o, inner, t, &out->set, err);
    case VAL_SCALAR:
    case VAL_VECTOR: {
        struct grid g = {t, t, 1, 1};
        int rc = eval_grid(o, n, &g, &out->set, err);
        if (rc)
            return rc;
        if (out->type == VAL_SCALAR) {
            out->scalar = out->set.n && out->set.v[0].n ? out->set.v[0].v[0] : NAN;
            series_set_free(&out->set);
        }
        return 0;
    }
    }
    return unsupported(n, err);
}

int eval_range(const struct eval_opts *o, const struct node *n, int64_t start, int64_t end,
               int64_t step, struct query_result *out, struct saba_err *err)
{
    memset(out, 0, sizeof *out);
    enum value_type vt = node_value_type(n);
    if (vt != VAL_SCALAR && vt != VAL_VECTOR)
        return err_set(err, SABA_EINVAL, 0,
                       "invalid expression type \"%s\" for range query, must be Scalar or "
                       "instant Vector",
                       value_type_name(vt));
    struct grid g = {start, end, step, (size_t)((end - start) / step) + 1};
    out->type = VAL_MATRIX;
    return eval_grid(o, n, &g, &out->set, err);
}
