/*
 * eval.c - PromQL evaluation of selectors and literals (see eval.h).
 *
 * Everything is evaluated over the step grid of the query (one step for an
 * instant query): a vector selector reads its series once for the whole
 * span and walks the steps with one cursor per series.
 */
#include "query/eval.h"
#include "base/alloc.h"
#include "base/hashmap.h"
#include "storage/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

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

/* A result series with room for one value per step of the grid. */
static struct series_data step_series_new(const struct grid *g)
{
    struct series_data r = {0};
    r.t = xmalloc(g->nsteps * sizeof *r.t);
    r.v = xmalloc(g->nsteps * sizeof *r.v);
    return r;
}

/* Select the series of selector sel (a NODE_VECTOR) with samples in the
 * window [ref(start) - window, ref(end)], where ref applies modifier node
 * mod's @ and offset. With drop_stale, staleness markers (not samples) are
 * removed, and series left without samples with them, as in Prometheus. */
static int select_span(const struct eval_opts *o, const struct node *sel, const struct node *mod,
                       const struct grid *g, int64_t window, bool drop_stale,
                       struct series_set *out, struct saba_err *err)
{
    int64_t first = at_time(mod, g, g->start) - mod->offset_ms;
    int64_t last = at_time(mod, g, g->end) - mod->offset_ms;
    int rc = o->storage->ops->select(o->storage, sel->matchers, sel->nmatchers, first - window,
                                     last, true, out, err);
    if (rc || !drop_stale)
        return rc;
    size_t keep = 0;
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
        if (!k) {
            labels_free(&s->labels);
            free(s->t);
            free(s->v);
            continue;
        }
        out->v[keep++] = *s;
    }
    out->n = keep;
    return 0;
}

/* Vector selector over the grid: out gets one series_data per series with the
 * step timestamps and values where the series has a value. */
static int eval_vector(const struct eval_opts *o, const struct node *n, const struct grid *g,
                       struct series_set *out, struct saba_err *err)
{
    struct series_set raw = {0};
    /* stale markers stay: a marker as the newest sample hides the series */
    int rc = select_span(o, n, n, g, o->lookback_ms, false, &raw, err);
    if (rc)
        return rc;
    out->v = xcalloc(raw.n ? raw.n : 1, sizeof *out->v);
    out->n = 0;
    for (size_t i = 0; i < raw.n; i++) {
        struct series_data *s = &raw.v[i];
        struct series_data r = step_series_new(g);
        r.labels = s->labels;
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

/* Sort by labels and fail if two series have the same labels, as they may
 * once __name__ is dropped (Prometheus' ContainsSameLabelset check). */
static int sort_unique(struct series_set *set, struct saba_err *err)
{
    if (set->n > 1)
        qsort(set->v, set->n, sizeof *set->v, cmp_series);
    for (size_t i = 1; i < set->n; i++)
        if (labels_cmp(&set->v[i - 1].labels, &set->v[i].labels) == 0)
            return err_set(err, SABA_EEXEC, 0,
                           "vector cannot contain metrics with the same labelset");
    return 0;
}

/* Copy a label set without __name__ (functions and aggregations drop it). */
static struct labels without_name(const struct labels *ls)
{
    struct label tmp[256];
    size_t k = 0;
    for (size_t j = 0; j < ls->n && k < 256; j++)
        if (strcmp(ls->v[j].name, LABEL_NAME))
            tmp[k++] = ls->v[j];
    return labels_copy(tmp, k);
}

enum over_time {
    OT_AVG,
    OT_SUM,
    OT_MIN,
    OT_MAX,
    OT_COUNT,
    OT_LAST,
    OT_STDDEV,
    OT_STDVAR,
    OT_PRESENT
};

static const char *const over_time_names[] = {
    "avg_over_time",  "sum_over_time",    "min_over_time",    "max_over_time",    "count_over_time",
    "last_over_time", "stddev_over_time", "stdvar_over_time", "present_over_time"};

/* One window [lo, hi) of samples -> the function's value. */
static double over_time(enum over_time f, const double *v, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    double acc = 0, mean = 0, m2 = 0;
    switch (f) {
    case OT_COUNT:
        return (double)n;
    case OT_PRESENT:
        return 1;
    case OT_LAST:
        return v[hi - 1];
    case OT_SUM:
        for (size_t i = lo; i < hi; i++)
            acc += v[i];
        return acc;
    case OT_MIN:
    case OT_MAX:
        acc = v[lo];
        for (size_t i = lo + 1; i < hi; i++)
            if ((f == OT_MIN ? v[i] < acc : v[i] > acc) || isnan(acc))
                acc = v[i];
        return acc;
    case OT_AVG:
        /* a plain sum is exact enough and cheap; Welford below only when the
         * sum overflows although the mean would not */
        for (size_t i = lo; i < hi; i++)
            acc += v[i];
        if (isfinite(acc))
            return acc / (double)n;
        /* fall through */
    case OT_STDDEV:
    case OT_STDVAR:
        /* Welford's running mean and variance, stable for large values */
        for (size_t i = lo; i < hi; i++) {
            double d = v[i] - mean;
            mean += d / (double)(i - lo + 1);
            m2 += d * (v[i] - mean);
        }
        if (f == OT_AVG)
            return mean;
        return f == OT_STDVAR ? m2 / (double)n : sqrt(m2 / (double)n);
    }
    return NAN;
}

/* The coarsest rollup resolution that answers f(m) over grid g exactly, or 0.
 * The step, the range and the evaluation times must be whole multiples of
 * the resolution R, so each window [ref - range, ref] is a whole number of
 * buckets plus, possibly, one sample exactly at ref - range (see
 * eval_over_time_rollup). Instant queries (step 1 ms) never qualify. */
static int64_t pick_rollup(const struct eval_opts *o, const struct node *m, const struct grid *g,
                           enum over_time f)
{
    const struct storage_ops *ops = o->storage->ops;
    if (!ops->rollup_resolutions || !ops->select_rollup || !ops->rollup_span || m->at != AT_NONE ||
        f > OT_LAST)
        return 0;
    int64_t res[STORAGE_MAX_ROLLUPS];
    size_t n = ops->rollup_resolutions(o->storage, res);
    for (size_t i = n; i-- > 0;) {
        int64_t R = res[i];
        int64_t first = g->start - m->offset_ms, last = g->end - m->offset_ms;
        int64_t from, to;
        /* only where the tier holds part of the range: elsewhere the raw
         * samples are the cheaper source of the same answer */
        if (R > 0 && g->step % R == 0 && m->range_ms >= R && m->range_ms % R == 0 &&
            first % R == 0 && ops->rollup_span(o->storage, R, &from, &to) &&
            to >= first - m->range_ms && from <= last)
            return R;
    }
    return 0;
}

static enum storage_agg agg_of(enum over_time f)
{
    static const enum storage_agg a[] = {STORAGE_AGG_SUM, STORAGE_AGG_SUM,   STORAGE_AGG_MIN,
                                         STORAGE_AGG_MAX, STORAGE_AGG_COUNT, STORAGE_AGG_LAST};
    return a[f];
}

/* The series in set whose labels equal ls, searched from *pos on (both
 * sets are sorted by labels), or NULL. */
static struct series_data *find_series(struct series_set *set, size_t *pos, const struct labels *ls)
{
    while (*pos < set->n && labels_cmp(&set->v[*pos].labels, ls) < 0)
        (*pos)++;
    if (*pos < set->n && labels_cmp(&set->v[*pos].labels, ls) == 0)
        return &set->v[*pos];
    return NULL;
}

/* f(selector[range]) from rollup buckets of width R (see pick_rollup): per
 * step, the buckets ending in (ref - range, ref], combined as f needs (avg =
 * sum of sums / sum of counts, count = sum of counts, ...), plus the sample
 * exactly at ref - range when there is one: the bucket ending there has it as
 * its last sample (its last-time stream says so). That keeps the closed
 * window [ref - range, ref] of raw evaluation exact. */
static int eval_over_time_rollup(const struct eval_opts *o, const struct node *call,
                                 const struct grid *g, enum over_time f, int64_t R,
                                 struct series_set *out, struct saba_err *err)
{
    const struct node *m = call->args[0];
    const struct node *sel = m->inner;
    int64_t first = g->start - m->offset_ms, last = g->end - m->offset_ms;
    int64_t lo_t = first - m->range_ms;
    /* sets: the aggregate, counts (avg), last values, last times */
    struct series_set set[4] = {{0}};
    enum storage_agg aggs[4] = {agg_of(f), STORAGE_AGG_COUNT, STORAGE_AGG_LAST, STORAGE_AGG_LAST_T};
    int rc = o->storage->ops->select_rollup(o->storage, sel->matchers, sel->nmatchers, lo_t, last,
                                            R, aggs, 4, set, err);
    if (rc)
        return rc;
    out->v = xcalloc(set[0].n ? set[0].n : 1, sizeof *out->v);
    out->n = 0;
    size_t pos[4] = {0};
    for (size_t i = 0; i < set[0].n; i++) {
        struct series_data *s = &set[0].v[i];
        struct series_data *cnt = find_series(&set[1], &pos[1], &s->labels);
        struct series_data *lv = find_series(&set[2], &pos[2], &s->labels);
        struct series_data *lt = find_series(&set[3], &pos[3], &s->labels);
        /* all streams come from the same buckets */
        if ((f == OT_AVG && (!cnt || cnt->n != s->n)) || !lv || !lt || lv->n != s->n ||
            lt->n != s->n)
            continue;
        struct series_data r = step_series_new(g);
        size_t lo = 0, hi = 0;
        for (size_t step = 0; step < g->nsteps; step++) {
            int64_t t = g->start + (int64_t)step * g->step;
            int64_t ref = t - m->offset_ms;
            while (hi < s->n && s->t[hi] <= ref)
                hi++;
            while (lo < hi && s->t[lo] <= ref - m->range_ms)
                lo++;
            /* the sample exactly at ref - range, if any */
            bool edge = lo > 0 && s->t[lo - 1] == ref - m->range_ms &&
                        lt->v[lo - 1] == (double)(ref - m->range_ms);
            if (lo == hi && !edge)
                continue;
            double ev = edge ? lv->v[lo - 1] : 0, v;
            switch (f) {
            case OT_AVG: {
                double sum = edge ? ev : 0, n = edge ? 1 : 0;
                for (size_t k = lo; k < hi; k++) {
                    sum += s->v[k];
                    n += cnt->v[k];
                }
                v = sum / n;
                break;
            }
            case OT_SUM:
            case OT_COUNT:
                v = edge ? (f == OT_SUM ? ev : 1) : 0;
                for (size_t k = lo; k < hi; k++)
                    v += s->v[k];
                break;
            case OT_MIN:
            case OT_MAX:
                v = edge ? ev : s->v[lo];
                for (size_t k = edge ? lo : lo + 1; k < hi; k++)
                    if ((f == OT_MIN ? s->v[k] < v : s->v[k] > v) || isnan(v))
                        v = s->v[k];
                break;
            default:
                v = hi > lo ? s->v[hi - 1] : ev;
            }
            r.t[r.n] = t;
            r.v[r.n++] = v;
        }
        if (!r.n) {
            free(r.t);
            free(r.v);
            continue;
        }
        if (f == OT_LAST) {
            r.labels = s->labels;
            s->labels = (struct labels){0};
        } else {
            r.labels = without_name(&s->labels);
        }
        out->v[out->n++] = r;
    }
    for (int k = 0; k < 4; k++)
        series_set_free(&set[k]);
    return sort_unique(out, err);
}

/* f(selector[range]) at every step: the samples in [ref - range, ref]. */
static int eval_over_time(const struct eval_opts *o, const struct node *call, const struct grid *g,
                          enum over_time f, struct series_set *out, struct saba_err *err)
{
    const struct node *m = call->args[0];
    int64_t R = pick_rollup(o, m, g, f);
    if (R)
        return eval_over_time_rollup(o, call, g, f, R, out, err);
    struct series_set raw = {0};
    int rc = select_span(o, m->inner, m, g, m->range_ms, true, &raw, err);
    if (rc)
        return rc;
    out->v = xcalloc(raw.n ? raw.n : 1, sizeof *out->v);
    out->n = 0;
    for (size_t i = 0; i < raw.n; i++) {
        struct series_data *s = &raw.v[i];
        struct series_data r = step_series_new(g);
        size_t lo = 0, hi = 0;
        for (size_t step = 0; step < g->nsteps; step++) {
            int64_t t = g->start + (int64_t)step * g->step;
            int64_t ref = at_time(m, g, t) - m->offset_ms;
            while (hi < s->n && s->t[hi] <= ref)
                hi++;
            while (lo < hi && s->t[lo] < ref - m->range_ms)
                lo++;
            if (lo < hi) {
                r.t[r.n] = t;
                r.v[r.n++] = over_time(f, s->v, lo, hi);
            }
        }
        if (r.n) {
            if (f == OT_LAST) {
                /* last_over_time acts like offset: it keeps the name (Prometheus) */
                r.labels = s->labels;
                s->labels = (struct labels){0};
            } else {
                r.labels = without_name(&s->labels);
            }
            out->v[out->n++] = r;
        } else {
            free(r.t);
            free(r.v);
        }
    }
    series_set_free(&raw);
    return sort_unique(out, err);
}

enum agg { AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX, AGG_COUNT, AGG_GROUP, AGG_STDDEV, AGG_STDVAR };

static const char *const agg_names[] = {"sum",   "avg",   "min",    "max",
                                        "count", "group", "stddev", "stdvar"};

static bool in_list(const char *name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

/* The grouping key of a series under by(...)/without(...). */
static struct labels group_labels(const struct node *n, const struct labels *ls)
{
    struct label tmp[256];
    size_t k = 0;
    for (size_t j = 0; j < ls->n && k < 256; j++) {
        bool listed = in_list(ls->v[j].name, n->grouping, n->ngrouping);
        bool keep = n->without ? !listed && strcmp(ls->v[j].name, LABEL_NAME) : listed;
        if (keep)
            tmp[k++] = ls->v[j];
    }
    return labels_copy(tmp, k);
}

struct agg_group {
    struct labels labels;
    double *acc, *mean, *m2; /* per step */
    uint32_t *count;
};

static int eval_grid(const struct eval_opts *o, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err);

static int eval_agg(const struct eval_opts *o, const struct node *n, const struct grid *g,
                    enum agg a, struct series_set *out, struct saba_err *err)
{
    struct series_set in = {0};
    int rc = eval_grid(o, n->inner, g, &in, err);
    if (rc) {
        series_set_free(&in);
        return rc;
    }
    struct agg_group *groups = xcalloc(in.n ? in.n : 1, sizeof *groups);
    size_t ng = 0;
    struct hashmap index = HASHMAP_INIT; /* hash of the group labels -> group */
    struct buf hb = BUF_INIT;
    for (size_t i = 0; i < in.n; i++) {
        const struct series_data *s = &in.v[i];
        struct labels key = group_labels(n, &s->labels);
        buf_reset(&hb);
        for (size_t j = 0; j < key.n; j++) {
            buf_puts(&hb, key.v[j].name);
            buf_putc(&hb, (char)0xff);
            buf_puts(&hb, key.v[j].value);
            buf_putc(&hb, (char)0xff);
        }
        uint64_t h = XXH3_64bits(hb.data ? hb.data : "", hb.len), found;
        size_t pos, gi = ng;
        for (bool ok = hashmap_find(&index, h, &found, &pos); ok;
             ok = hashmap_next(&index, h, &found, &pos))
            if (labels_cmp(&groups[found].labels, &key) == 0) {
                gi = (size_t)found;
                break;
            }
        if (gi == ng)
            hashmap_add(&index, h, ng);
        struct agg_group *gr = &groups[gi];
        if (gi == ng) {
            ng++;
            gr->labels = key;
            gr->acc = xcalloc(g->nsteps, sizeof *gr->acc);
            gr->mean = xcalloc(g->nsteps, sizeof *gr->mean);
            gr->m2 = xcalloc(g->nsteps, sizeof *gr->m2);
            gr->count = xcalloc(g->nsteps, sizeof *gr->count);
        } else {
            labels_free(&key);
        }
        for (size_t k = 0; k < s->n; k++) {
            size_t st = (size_t)((s->t[k] - g->start) / g->step);
            double v = s->v[k];
            uint32_t c = ++gr->count[st];
            switch (a) {
            case AGG_SUM:
                gr->acc[st] += v;
                break;
            case AGG_MIN:
            case AGG_MAX:
                if (c == 1 || (a == AGG_MIN ? v < gr->acc[st] : v > gr->acc[st]) ||
                    isnan(gr->acc[st]))
                    gr->acc[st] = v;
                break;
            default: { /* avg, stddev, stdvar: Welford */
                double d = v - gr->mean[st];
                gr->mean[st] += d / c;
                gr->m2[st] += d * (v - gr->mean[st]);
            }
            }
        }
    }
    series_set_free(&in);
    hashmap_free(&index);
    buf_free(&hb);
    out->v = xcalloc(ng ? ng : 1, sizeof *out->v);
    out->n = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        struct agg_group *gr = &groups[gi];
        struct series_data r = step_series_new(g);
        r.labels = gr->labels;
        for (size_t st = 0; st < g->nsteps; st++) {
            uint32_t c = gr->count[st];
            if (!c)
                continue;
            double v;
            switch (a) {
            case AGG_SUM:
            case AGG_MIN:
            case AGG_MAX:
                v = gr->acc[st];
                break;
            case AGG_COUNT:
                v = c;
                break;
            case AGG_GROUP:
                v = 1;
                break;
            case AGG_AVG:
                v = gr->mean[st];
                break;
            case AGG_STDVAR:
                v = gr->m2[st] / c;
                break;
            default:
                v = sqrt(gr->m2[st] / c);
            }
            r.t[r.n] = g->start + (int64_t)st * g->step;
            r.v[r.n++] = v;
        }
        out->v[out->n++] = r;
        free(gr->acc);
        free(gr->mean);
        free(gr->m2);
        free(gr->count);
    }
    free(groups);
    qsort(out->v, out->n, sizeof *out->v, cmp_series);
    return 0;
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
        *s = step_series_new(g);
        s->labels = labels_copy(NULL, 0);
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
    case NODE_CALL:
        for (int f = 0; f <= OT_PRESENT; f++) {
            if (strcmp(n->func, over_time_names[f]))
                continue;
            if (n->nargs != 1 || n->args[0]->type != NODE_MATRIX)
                return err_set(err, SABA_EINVAL, 0,
                               "expected 1 argument of type range vector in call to function "
                               "\"%s\"",
                               n->func);
            return eval_over_time(o, n, g, (enum over_time)f, out, err);
        }
        return unsupported(n, err);
    case NODE_AGG:
        for (int a = 0; a <= AGG_STDVAR; a++)
            if (!strcmp(n->func, agg_names[a]))
                return eval_agg(o, n, g, (enum agg)a, out, err);
        return unsupported(n, err);
    default:
        return unsupported(n, err);
    }
}

static int eval_matrix(const struct eval_opts *o, const struct node *n, int64_t t,
                       struct series_set *out, struct saba_err *err)
{
    struct grid g = {t, t, 1, 1};
    return select_span(o, n->inner, n, &g, n->range_ms, true, out, err);
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
