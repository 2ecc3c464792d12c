/*
 * eval_agg.c - PromQL aggregation operators with by / without.
 *
 * sum, avg, min, max, count, group, stddev and stdvar fold each input series
 * into its group's per-step accumulators in one pass over the series (the
 * common case, e.g. `sum by (job) (rate(x[5m]))` over many steps). topk,
 * bottomk, quantile and count_values need all of a group's values at a step
 * together, so they walk the steps with a cursor per input series.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/hashmap.h"
#include "base/num.h"
#include "query/eval_impl.h"
#include "storage/labels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum agg {
    AGG_SUM,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_COUNT,
    AGG_GROUP,
    AGG_STDDEV,
    AGG_STDVAR,
    AGG_TOPK,
    AGG_BOTTOMK,
    AGG_QUANTILE,
    AGG_COUNT_VALUES,
};

static const char *const agg_names[] = {"sum",   "avg",     "min",      "max",
                                        "count", "group",   "stddev",   "stdvar",
                                        "topk",  "bottomk", "quantile", "count_values"};

/* The index in m of the group of a series (labels ls) under
 * by(...)/without(...), added if new; the key is only copied then. */
static size_t group_of(struct outmap *m, const struct node *n, const struct labels *ls,
                       const char *extra)
{
    struct lbuild b;
    lb_init(&b, ls);
    if (n->without) {
        for (size_t i = 0; i < n->ngrouping; i++)
            lb_del(&b, n->grouping[i]);
        lb_del(&b, LABEL_NAME);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < b.n; i++)
            if (name_in(b.v[i].name, n->grouping, n->ngrouping) ||
                (extra && !strcmp(b.v[i].name, extra)))
                b.v[k++] = b.v[i];
        b.n = k;
    }
    struct labels key = lb_view(&b); /* sorted: a subset of the sorted ls */
    return outmap_find_or_add(m, &key);
}

void agg_acc_init(struct agg_acc *a, size_t nsteps)
{
    a->val = xcalloc(nsteps ? nsteps : 1, sizeof(double));
    a->mean = xcalloc(nsteps ? nsteps : 1, sizeof(double));
    a->count = xcalloc(nsteps ? nsteps : 1, sizeof(uint32_t));
}

void agg_acc_free(struct agg_acc *a)
{
    free(a->val);
    free(a->mean);
    free(a->count);
}

void agg_acc_add(int a, struct agg_acc *gr, size_t k, double v)
{
    uint32_t c = ++gr->count[k];
    if (c == 1) {
        gr->val[k] = a == AGG_STDDEV || a == AGG_STDVAR ? 0 : v;
        gr->mean[k] = v;
        return;
    }
    switch (a) {
    case AGG_SUM:
        gr->val[k] += v;
        break;
    case AGG_MIN:
        if (gr->val[k] > v || isnan(gr->val[k]))
            gr->val[k] = v;
        break;
    case AGG_MAX:
        if (gr->val[k] < v || isnan(gr->val[k]))
            gr->val[k] = v;
        break;
    case AGG_AVG: {
        double mean = gr->mean[k];
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0))
                break;
            if (!isinf(v) && !isnan(v))
                break;
        }
        gr->mean[k] += v / c - mean / c;
        break;
    }
    case AGG_STDDEV:
    case AGG_STDVAR: {
        double d = v - gr->mean[k];
        gr->mean[k] += d / c;
        gr->val[k] += d * (v - gr->mean[k]);
        break;
    }
    default:
        break;
    }
}

double agg_acc_value(int a, const struct agg_acc *gr, size_t k)
{
    uint32_t c = gr->count[k];
    switch (a) {
    case AGG_COUNT:
        return c;
    case AGG_GROUP:
        return 1;
    case AGG_AVG:
        return gr->mean[k];
    case AGG_STDVAR:
        return gr->val[k] / c;
    case AGG_STDDEV:
        return sqrt(gr->val[k] / c);
    default:
        return gr->val[k];
    }
}

static int agg_fold(const struct node *n, enum agg a, const struct grid *g, struct series_set *in,
                    struct series_set *out)
{
    struct outmap om;
    outmap_init(&om, g);
    struct agg_acc *acc = NULL;
    size_t nacc = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct series_data *s = &in->v[i];
        size_t gi = group_of(&om, n, &s->labels, NULL);
        if (gi == nacc) {
            acc = xrealloc(acc, (nacc + 1) * sizeof *acc);
            agg_acc_init(&acc[nacc++], g->nsteps);
        }
        for (size_t j = 0; j < s->n; j++)
            agg_acc_add(a, &acc[gi], (size_t)((s->t[j] - g->start) / g->step), s->v[j]);
    }
    for (size_t gi = 0; gi < nacc; gi++) {
        for (size_t k = 0; k < g->nsteps; k++)
            if (acc[gi].count[k])
                outmap_add(&om, gi, k, agg_acc_value(a, &acc[gi], k));
        agg_acc_free(&acc[gi]);
    }
    free(acc);
    outmap_done(&om, out);
    return 0;
}

struct cand {
    double v;
    size_t series;
};

/* topk and bottomk keep their candidates in a heap exactly as Prometheus
 * does (Go's container/heap, NaN ranking lowest), so that among equal
 * values the same series win. */
static bool heap_less(const struct cand *h, size_t i, size_t j, bool top)
{
    if (isnan(h[i].v))
        return true;
    return top ? h[i].v < h[j].v : h[i].v > h[j].v;
}

static void heap_swap(struct cand *h, size_t i, size_t j)
{
    struct cand x = h[i];
    h[i] = h[j];
    h[j] = x;
}

static void heap_up(struct cand *h, size_t j, bool top)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!heap_less(h, j, i, top))
            break;
        heap_swap(h, i, j);
        j = i;
    }
}

static bool heap_down(struct cand *h, size_t i0, size_t n, bool top)
{
    size_t i = i0;
    for (;;) {
        size_t j = 2 * i + 1;
        if (j >= n)
            break;
        if (j + 1 < n && heap_less(h, j + 1, j, top))
            j++;
        if (!heap_less(h, j, i, top))
            break;
        heap_swap(h, i, j);
        i = j;
    }
    return i > i0;
}

/* The k winners among c[0..m) (in input order); returns how many. A full
 * heap takes a candidate that beats its root (or replaces a NaN root) by
 * popping the root and pushing the candidate, in place when k is 1. */
static size_t select_k(const struct cand *c, size_t m, int64_t k, bool top, struct cand *heap)
{
    size_t n = 0;
    for (size_t j = 0; j < m; j++) {
        if (!((int64_t)n < k || (top ? heap[0].v < c[j].v : heap[0].v > c[j].v) ||
              isnan(heap[0].v)))
            continue;
        if ((int64_t)n == k) {
            if (k == 1) {
                heap[0] = c[j];
                continue;
            }
            heap_swap(heap, 0, n - 1);
            heap_down(heap, 0, n - 1, top);
            n--;
        }
        heap[n] = c[j];
        heap_up(heap, n++, top);
    }
    return n;
}

/* topk, bottomk, quantile and count_values: step by step. */
static int agg_steps(struct ev *ev, const struct node *n, enum agg a, const struct grid *g,
                     struct series_set *in, struct series_set *out, struct saba_err *err)
{
    double *param = NULL;
    const char *value_label = NULL;
    int rc = 0;
    if (a == AGG_COUNT_VALUES) {
        const struct node *p = n->param;
        while (p->type == NODE_PAREN)
            p = p->inner;
        value_label = p->str;
        if (!*value_label || !label_name_is_identifier(value_label, strlen(value_label)))
            return err_set(err, SABA_EEXEC, 0, "invalid label name \"%s\"", value_label);
    } else {
        param = xmalloc(g->nsteps * sizeof *param);
        rc = eval_scalar_steps(ev, n->param, g, param, err);
        for (size_t k = 0; !rc && (a == AGG_TOPK || a == AGG_BOTTOMK) && k < g->nsteps; k++)
            if (!(param[k] <= 9.2233720368547758e18 && param[k] >= -9.2233720368547758e18))
                rc = err_set(err, SABA_EEXEC, 0, "Scalar value %s overflows int64",
                             isnan(param[k]) ? "NaN"
                             : param[k] > 0  ? "+Inf"
                                             : "-Inf");
        if (rc) {
            free(param);
            return rc;
        }
    }
    size_t *group = xmalloc((in->n ? in->n : 1) * sizeof *group);
    size_t *cur = xcalloc(in->n ? in->n : 1, sizeof *cur);
    struct outmap groups, om;
    outmap_init(&groups, g);
    outmap_init(&om, g);
    if (a != AGG_COUNT_VALUES)
        for (size_t i = 0; i < in->n; i++)
            group[i] = group_of(&groups, n, &in->v[i].labels, NULL);
    size_t ng = groups.set.n;
    struct cand **cands = xcalloc(ng ? ng : 1, sizeof *cands);
    size_t *nc = xcalloc(ng ? ng : 1, sizeof *nc), *capc = xcalloc(ng ? ng : 1, sizeof *capc);
    size_t *out_of = xmalloc((in->n ? in->n : 1) * sizeof *out_of); /* topk: input -> output */
    for (size_t i = 0; i < in->n; i++)
        out_of[i] = SIZE_MAX;
    double *counts = NULL;
    size_t ncounts = 0, *touched = NULL, ntouched = 0;
    struct buf num = BUF_INIT;
    for (size_t k = 0; k < g->nsteps; k++) {
        int64_t t = grid_t(g, k);
        for (size_t i = 0; i < in->n; i++) {
            const struct series_data *s = &in->v[i];
            if (cur[i] >= s->n || s->t[cur[i]] != t)
                continue;
            double v = s->v[cur[i]++];
            if (a == AGG_COUNT_VALUES) {
                /* Go's FormatFloat(v, 'f', -1, 64), as Prometheus writes it */
                buf_reset(&num);
                num_put_float(&num, v);
                struct lbuild b;
                lb_init(&b, &s->labels);
                lb_set(&b, value_label, num.data);
                struct labels with = lb_done(&b);
                size_t oi = group_of(&om, n, &with, value_label);
                labels_free(&with);
                if (oi >= ncounts) {
                    counts = xrealloc(counts, (oi + 1) * sizeof *counts);
                    touched = xrealloc(touched, (oi + 1) * sizeof *touched);
                    for (size_t j = ncounts; j <= oi; j++)
                        counts[j] = 0;
                    ncounts = oi + 1;
                }
                if (counts[oi]++ == 0)
                    touched[ntouched++] = oi;
                continue;
            }
            size_t gi = group[i];
            if (nc[gi] == capc[gi]) {
                capc[gi] = capc[gi] ? capc[gi] * 2 : 16;
                cands[gi] = xrealloc(cands[gi], capc[gi] * sizeof **cands);
            }
            cands[gi][nc[gi]++] = (struct cand){v, i};
        }
        for (size_t j = 0; j < ntouched; j++) {
            outmap_add(&om, touched[j], k, counts[touched[j]]);
            counts[touched[j]] = 0;
        }
        ntouched = 0;
        for (size_t gi = 0; gi < ng; gi++) {
            size_t m = nc[gi];
            if (!m)
                continue;
            nc[gi] = 0;
            struct cand *c = cands[gi];
            if (a == AGG_QUANTILE) {
                double *vals = xmalloc(m * sizeof *vals);
                for (size_t j = 0; j < m; j++)
                    vals[j] = c[j].v;
                outmap_add(&groups, gi, k, quantile_of(param[k], vals, m));
                free(vals);
                continue;
            }
            int64_t kk = (int64_t)param[k];
            if (kk < 1)
                continue;
            struct cand *heap = xmalloc(m * sizeof *heap);
            size_t nw = select_k(c, m, kk, a == AGG_TOPK, heap);
            for (size_t j = 0; j < nw; j++) {
                size_t i = heap[j].series;
                if (out_of[i] == SIZE_MAX) {
                    struct lbuild b;
                    lb_init(&b, &in->v[i].labels);
                    out_of[i] = outmap_get(&om, lb_done(&b));
                }
                outmap_add(&om, out_of[i], k, heap[j].v);
            }
            free(heap);
        }
    }
    for (size_t gi = 0; gi < ng; gi++)
        free(cands[gi]);
    free(cands);
    free(nc);
    free(capc);
    free(out_of);
    free(counts);
    free(touched);
    buf_free(&num);
    free(group);
    free(cur);
    free(param);
    if (a == AGG_QUANTILE) {
        outmap_done(&groups, out);
        struct series_set empty = {0};
        outmap_done(&om, &empty);
        series_set_free(&empty);
    } else {
        struct series_set g2 = {0};
        outmap_done(&groups, &g2);
        series_set_free(&g2);
        outmap_done(&om, out);
    }
    return 0;
}

int eval_aggregation(struct ev *ev, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err)
{
    int a = -1;
    for (size_t i = 0; i < sizeof agg_names / sizeof agg_names[0]; i++)
        if (!strcmp(n->func, agg_names[i]))
            a = (int)i;
    if (a < 0)
        return err_set(err, SABA_EINVAL, 0, "unknown aggregation \"%s\"", n->func);
    if (a < AGG_TOPK && !n->without && n->ngrouping == 0) {
        /* max(max_over_time(x[1h])) and the like, folded from the rollups */
        bool used;
        int rc = eval_agg_rollup(ev, n->inner, a, g, out, &used, err);
        if (used || rc)
            return rc;
    }
    struct series_set in = {0};
    int rc = eval_grid(ev, n->inner, g, &in, err);
    if (!rc)
        rc = a >= AGG_TOPK ? agg_steps(ev, n, (enum agg)a, g, &in, out, err)
                           : agg_fold(n, (enum agg)a, g, &in, out);
    series_set_free(&in);
    return rc;
}
