/*
 * eval.c - PromQL evaluation: selectors, subqueries, dispatch and the shared
 * series helpers (see eval.h and eval_impl.h).
 *
 * Everything is evaluated over the step grid of the query (one step for an
 * instant query): a vector selector reads its series once for the whole span
 * and walks the steps with one cursor per series, so a range query costs one
 * storage read per selector, not one per step.
 */
#include "query/eval.h"
#include "base/alloc.h"
#include "base/hashmap.h"
#include "base/par.h"
#include "query/eval_impl.h"
#include "query/functions.h"
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

/* ---- series helpers ---- */

bool budget_charge(struct budget *b, int64_t n)
{
    if (!b)
        return true;
    int64_t used = atomic_fetch_add(&b->used, n) + n;
    if (used > b->max)
        atomic_store(&b->exceeded, true);
    return !atomic_load(&b->exceeded);
}

bool budget_exceeded(const struct grid *g)
{
    return g->budget && atomic_load(&g->budget->exceeded);
}

struct series_data step_series_new(const struct grid *g)
{
    struct series_data r = {0};
    budget_charge(g->budget, (int64_t)g->nsteps);
    r.t = xmalloc(g->nsteps * sizeof *r.t);
    r.v = xmalloc(g->nsteps * sizeof *r.v);
    return r;
}

void series_data_free(struct series_data *s)
{
    labels_free(&s->labels);
    free(s->t);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void set_push(struct series_set *set, size_t *cap, struct series_data d)
{
    if (set->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        set->v = xrealloc(set->v, *cap * sizeof *set->v);
    }
    set->v[set->n++] = d;
}

static int cmp_series(const void *a, const void *b)
{
    return labels_cmp(&((const struct series_data *)a)->labels,
                      &((const struct series_data *)b)->labels);
}

/* Merge b's points into a (both in time order); fails on a shared time. */
static bool merge_points(struct series_data *a, struct series_data *b)
{
    size_t n = a->n + b->n, i = 0, j = 0, k = 0;
    int64_t *t = xmalloc((n ? n : 1) * sizeof *t);
    double *v = xmalloc((n ? n : 1) * sizeof *v);
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->t[i] < b->t[j])) {
            t[k] = a->t[i];
            v[k++] = a->v[i++];
        } else if (i == a->n || b->t[j] < a->t[i]) {
            t[k] = b->t[j];
            v[k++] = b->v[j++];
        } else {
            free(t);
            free(v);
            return false;
        }
    }
    free(a->t);
    free(a->v);
    a->t = t;
    a->v = v;
    a->n = k;
    return true;
}

int set_finish(struct series_set *set, struct saba_err *err)
{
    /* Sets often come sorted, with distinct labels (a function of a selection
     * keeps the selection's order): then a look suffices, and no merging. */
    bool distinct = true;
    for (size_t i = 1; i < set->n && distinct; i++)
        distinct = labels_cmp(&set->v[i - 1].labels, &set->v[i].labels) < 0;
    if (!distinct)
        qsort(set->v, set->n, sizeof *set->v, cmp_series);
    size_t keep = 0;
    int rc = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct series_data *s = &set->v[i];
        if (!s->n) {
            series_data_free(s);
            continue;
        }
        if (!distinct && keep && !rc && labels_cmp(&set->v[keep - 1].labels, &s->labels) == 0) {
            if (!merge_points(&set->v[keep - 1], s))
                rc = err_set(err, SABA_EEXEC, 0,
                             "vector cannot contain metrics with the same labelset");
            series_data_free(s);
            continue;
        }
        set->v[keep++] = *s;
    }
    set->n = keep;
    return rc;
}

bool selector_one_name(const struct node *sel)
{
    for (size_t i = 0; i < sel->nmatchers; i++)
        if (matcher_type(sel->matchers[i]) == MATCH_EQ &&
            !strcmp(matcher_name(sel->matchers[i]), LABEL_NAME))
            return true;
    return false;
}

uint64_t labels_hash(const struct labels *ls)
{
    /* each string hashed on its own, seeded with the hash so far: one-shot
     * XXH3 over a short string costs a fraction of a streaming update */
    uint64_t h = ls->n;
    for (size_t i = 0; i < ls->n; i++) {
        h = XXH3_64bits_withSeed(ls->v[i].name, strlen(ls->v[i].name), h);
        h = XXH3_64bits_withSeed(ls->v[i].value, strlen(ls->v[i].value), h);
    }
    return h;
}

bool name_in(const char *name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

void lb_init(struct lbuild *b, const struct labels *ls)
{
    b->n = 0;
    for (size_t i = 0; ls && i < ls->n && b->n < LB_MAX; i++)
        b->v[b->n++] = ls->v[i];
}

void lb_del(struct lbuild *b, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].name, name))
            b->v[k++] = b->v[i];
    b->n = k;
}

void lb_set(struct lbuild *b, const char *name, const char *value)
{
    if (!*value) {
        lb_del(b, name);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) {
            b->v[i].value = value;
            return;
        }
    if (b->n < LB_MAX)
        b->v[b->n++] = (struct label){name, value};
}

void lb_keep(struct lbuild *b, char *const *names, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (name_in(b->v[i].name, names, n))
            b->v[k++] = b->v[i];
    b->n = k;
}

struct labels lb_done(const struct lbuild *b)
{
    return labels_copy(b->v, b->n);
}

struct labels lb_view(const struct lbuild *b)
{
    return (struct labels){(struct label *)b->v, b->n};
}

void labels_drop_name(struct labels *ls)
{
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].name, LABEL_NAME))
            ls->v[k++] = ls->v[i];
    ls->n = k;
}

struct labels labels_without_name(const struct labels *ls)
{
    struct lbuild b;
    lb_init(&b, ls);
    lb_del(&b, LABEL_NAME);
    return lb_done(&b);
}

void outmap_init(struct outmap *m, const struct grid *g)
{
    memset(m, 0, sizeof *m);
    m->idx = xcalloc(1, sizeof *m->idx);
    m->g = g;
}

/* The series with labels ls, or SIZE_MAX; *h gets ls's hash. */
static size_t outmap_find(const struct outmap *m, const struct labels *ls, uint64_t *h)
{
    uint64_t found;
    size_t pos;
    *h = labels_hash(ls);
    for (bool ok = hashmap_find(m->idx, *h, &found, &pos); ok;
         ok = hashmap_next(m->idx, *h, &found, &pos))
        if (labels_cmp(&m->set.v[found].labels, ls) == 0)
            return (size_t)found;
    return SIZE_MAX;
}

static size_t outmap_add_series(struct outmap *m, struct labels ls, uint64_t h)
{
    struct series_data s = step_series_new(m->g);
    s.labels = ls;
    hashmap_add(m->idx, h, m->set.n);
    set_push(&m->set, &m->cap, s);
    return m->set.n - 1;
}

size_t outmap_get(struct outmap *m, struct labels ls)
{
    uint64_t h;
    size_t i = outmap_find(m, &ls, &h);
    if (i != SIZE_MAX) {
        labels_free(&ls);
        return i;
    }
    return outmap_add_series(m, ls, h);
}

size_t outmap_find_or_add(struct outmap *m, const struct labels *ls)
{
    uint64_t h;
    size_t i = outmap_find(m, ls, &h);
    return i != SIZE_MAX ? i : outmap_add_series(m, labels_copy(ls->v, ls->n), h);
}

bool outmap_add(struct outmap *m, size_t i, size_t k, double v)
{
    struct series_data *s = &m->set.v[i];
    int64_t t = grid_t(m->g, k);
    if (s->n && s->t[s->n - 1] == t)
        return false;
    s->t[s->n] = t;
    s->v[s->n++] = v;
    return true;
}

void outmap_done(struct outmap *m, struct series_set *out)
{
    hashmap_free(m->idx);
    free(m->idx);
    *out = m->set;
    struct saba_err ignore = {0};
    set_finish(out, &ignore); /* labels are unique here: only sorts and drops empties */
}

static int cmp_nan_first(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a))
        return isnan(b) ? 0 : -1;
    if (isnan(b))
        return 1;
    return (a > b) - (a < b);
}

double quantile_of(double q, double *v, size_t n)
{
    if (!n)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof *v, cmp_nan_first);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

double go_max(double a, double b)
{
    if (isinf(a) && a > 0)
        return a;
    if (isinf(b) && b > 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

double go_min(double a, double b)
{
    if (isinf(a) && a < 0)
        return a;
    if (isinf(b) && b < 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

/* ---- selectors ---- */

int64_t node_ref(const struct ev *ev, const struct node *n, int64_t t)
{
    switch (n->at) {
    case AT_TIME:
        t = n->at_ms;
        break;
    case AT_START:
        t = ev->qstart;
        break;
    case AT_END:
        t = ev->qend;
        break;
    default:
        break;
    }
    return sat_sub(t, n->offset_ms);
}

size_t drop_stale_samples(int64_t *t, double *v, size_t n)
{
    /* most series have none: look for the first one before moving anything */
    size_t k = 0;
    while (k < n && !value_is_stale(v[k]))
        k++;
    for (size_t j = k + 1; j < n; j++) {
        if (value_is_stale(v[j]))
            continue;
        t[k] = t[j];
        v[k++] = v[j];
    }
    return k;
}

/* Remove staleness markers from series [lo, hi) of a set (par_for). */
static void drop_stale_markers(void *ctx, size_t lo, size_t hi)
{
    struct series_set *set = ctx;
    for (size_t i = lo; i < hi; i++) {
        struct series_data *s = &set->v[i];
        s->n = drop_stale_samples(s->t, s->v, s->n);
    }
}

/* Select the series of selector sel (a NODE_VECTOR) with samples in
 * [ref(first step) - window, ref(last step)], where ref applies modifier node
 * mod's @ and offset. With drop_stale, staleness markers (not samples) are
 * removed, and series left without samples with them, as in Prometheus. */
static int select_span(struct ev *ev, const struct node *sel, const struct node *mod,
                       const struct grid *g, int64_t window, bool drop_stale,
                       struct series_set *out, struct saba_err *err)
{
    int64_t first = node_ref(ev, mod, g->start), last = node_ref(ev, mod, g->end);
    struct storage *st = ev->o->storage;
    int rc = st->ops->select(st, sel->matchers, sel->nmatchers, sat_sub(first, window), last, true,
                             out, err);
    if (rc)
        return rc;
    int64_t total = 0;
    for (size_t i = 0; i < out->n; i++)
        total += (int64_t)out->v[i].n;
    if (!budget_charge(g->budget, total)) {
        series_set_free(out);
        return err_set(err, SABA_EEXEC, 0, EVAL_TOO_MANY_SAMPLES);
    }
    if (!drop_stale)
        return 0;
    par_for(out->n, 256, drop_stale_markers, out);
    size_t keep = 0;
    for (size_t i = 0; i < out->n; i++) {
        struct series_data *s = &out->v[i];
        if (!s->n) {
            series_data_free(s);
            continue;
        }
        out->v[keep++] = *s;
    }
    out->n = keep;
    return 0;
}

/* Vector selector over the grid: per series, the newest sample in
 * [ref - lookback, ref] at each step unless it is a staleness marker. With
 * sample_time, the point's value is that sample's timestamp in seconds
 * (what timestamp() of a selector returns). */
static int eval_vector(struct ev *ev, const struct node *n, const struct grid *g, bool sample_time,
                       struct series_set *out, struct saba_err *err)
{
    struct series_set raw = {0};
    int64_t lookback = ev->o->lookback_ms;
    /* stale markers stay: a marker as the newest sample hides the series */
    int rc = select_span(ev, n, n, g, lookback, false, &raw, err);
    if (rc)
        return rc;
    out->v = xcalloc(raw.n ? raw.n : 1, sizeof *out->v);
    out->n = 0;
    int64_t raw_points = 0;
    for (size_t i = 0; i < raw.n; i++)
        raw_points += (int64_t)raw.v[i].n;
    for (size_t i = 0; i < raw.n && !budget_exceeded(g); i++) {
        struct series_data *s = &raw.v[i];
        struct series_data r = step_series_new(g);
        size_t j = 0;
        for (size_t k = 0; k < g->nsteps; k++) {
            int64_t t = grid_t(g, k), ref = node_ref(ev, n, t);
            while (j + 1 < s->n && s->t[j + 1] <= ref)
                j++;
            if (s->n && s->t[j] <= ref && s->t[j] >= sat_sub(ref, lookback) &&
                !value_is_stale(s->v[j])) {
                r.t[r.n] = t;
                r.v[r.n++] = sample_time ? (double)s->t[j] / 1000.0 : s->v[j];
            }
        }
        r.labels = s->labels;
        s->labels = (struct labels){0}; /* moved into r */
        if (r.n)
            out->v[out->n++] = r;
        else
            series_data_free(&r);
    }
    series_set_free(&raw);
    budget_charge(g->budget, -raw_points); /* the raw samples are gone */
    return 0;
}

int eval_timestamp_selector(struct ev *ev, const struct node *n, const struct grid *g,
                            struct series_set *out, struct saba_err *err)
{
    return eval_vector(ev, n, g, true, out, err);
}

/* The subquery's own grid: steps at multiples of its resolution from the
 * first one at or after ref(first outer step) - range, to ref(last step). */
static void subquery_grid(const struct ev *ev, const struct node *sq, const struct grid *g,
                          struct grid *sub)
{
    int64_t step = sq->step_ms > 0 ? sq->step_ms : EVAL_DEFAULT_SUBQUERY_STEP_MS;
    int64_t first = sat_sub(node_ref(ev, sq, g->start), sq->range_ms);
    int64_t last = node_ref(ev, sq, g->end);
    int64_t start = step * (first / step);
    if (start < first)
        start = sat_add(start, step);
    sub->budget = g->budget;
    sub->start = start;
    sub->step = step;
    sub->end = last;
    sub->nsteps = 0;
    if (last >= start) {
        uint64_t span = (uint64_t)last - (uint64_t)start;
        sub->nsteps = span / (uint64_t)step >= EVAL_MAX_SUBQUERY_POINTS
                          ? (size_t)EVAL_MAX_SUBQUERY_POINTS + 1 /* refused by the caller */
                          : (size_t)(span / (uint64_t)step) + 1;
        if (sub->nsteps <= EVAL_MAX_SUBQUERY_POINTS)
            sub->end = start + (int64_t)(sub->nsteps - 1) * step;
    }
}

int eval_range_source(struct ev *ev, const struct node *m, const struct grid *g, bool drop_stale,
                      struct series_set *raw, struct saba_err *err)
{
    while (m->type == NODE_PAREN)
        m = m->inner;
    if (m->type == NODE_MATRIX)
        return select_span(ev, m->inner, m, g, m->range_ms, drop_stale, raw, err);
    if (m->type != NODE_SUBQUERY)
        return err_set(err, SABA_EEXEC, 0, "expected a range vector");
    struct grid sub;
    subquery_grid(ev, m, g, &sub);
    memset(raw, 0, sizeof *raw);
    if (!sub.nsteps)
        return 0;
    if (sub.nsteps > EVAL_MAX_SUBQUERY_POINTS)
        return err_set(err, SABA_EEXEC, 0,
                       "subquery needs more than %d steps: use a coarser resolution or a "
                       "shorter range",
                       EVAL_MAX_SUBQUERY_POINTS);
    return eval_grid(ev, m->inner, &sub, raw, err);
}

int eval_scalar_steps(struct ev *ev, const struct node *n, const struct grid *g, double *vals,
                      struct saba_err *err)
{
    struct series_set s = {0};
    int rc = eval_grid(ev, n, g, &s, err);
    if (!rc) {
        for (size_t k = 0; k < g->nsteps; k++)
            vals[k] = NAN;
        if (s.n)
            for (size_t j = 0; j < s.v[0].n; j++)
                vals[(size_t)((s.v[0].t[j] - g->start) / g->step)] = s.v[0].v[j];
    }
    series_set_free(&s);
    return rc;
}

static void scalar_series(const struct grid *g, double v, struct series_set *out)
{
    out->v = xcalloc(1, sizeof *out->v);
    out->n = 1;
    struct series_data *s = &out->v[0];
    *s = step_series_new(g);
    s->labels = labels_copy(NULL, 0);
    for (size_t k = 0; k < g->nsteps; k++) {
        s->t[k] = grid_t(g, k);
        s->v[k] = v;
    }
    s->n = g->nsteps;
}

static int eval_node(struct ev *ev, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err);

int eval_grid(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
              struct saba_err *err)
{
    int rc = eval_node(ev, n, g, out, err);
    if (!rc && budget_exceeded(g))
        rc = err_set(err, SABA_EEXEC, 0, EVAL_TOO_MANY_SAMPLES);
    if (rc)
        series_set_free(out);
    return rc;
}

static int eval_node(struct ev *ev, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err)
{
    memset(out, 0, sizeof *out);
    switch (n->type) {
    case NODE_NUMBER:
        scalar_series(g, n->num, out);
        return 0;
    case NODE_VECTOR:
        return eval_vector(ev, n, g, false, out, err);
    case NODE_PAREN:
        return eval_grid(ev, n->inner, g, out, err);
    case NODE_UNARY: {
        int rc = eval_grid(ev, n->inner, g, out, err);
        if (rc || n->unary_op == '+')
            return rc;
        bool vec = node_value_type(n->inner) == VAL_VECTOR;
        for (size_t i = 0; i < out->n; i++) {
            for (size_t k = 0; k < out->v[i].n; k++)
                out->v[i].v[k] = -out->v[i].v[k];
            if (vec)
                labels_drop_name(&out->v[i].labels);
        }
        return vec ? set_finish(out, err) : 0;
    }
    case NODE_CALL:
        return eval_call(ev, n, g, out, err);
    case NODE_AGG:
        return eval_aggregation(ev, n, g, out, err);
    case NODE_BINARY:
        return eval_binary(ev, n, g, out, err);
    case NODE_STRING:
        return err_set(err, SABA_EEXEC, 0, "a string is not a scalar or instant vector");
    case NODE_MATRIX:
    case NODE_SUBQUERY:
        return err_set(err, SABA_EEXEC, 0, "a range vector is not a scalar or instant vector");
    }
    return err_set(err, SABA_EEXEC, 0, "unknown expression");
}

static int cmp_value_asc(const void *pa, const void *pb)
{
    const struct series_data *a = pa, *b = pb;
    return cmp_nan_first(a->v, b->v);
}

static int cmp_value_desc(const void *pa, const void *pb)
{
    const struct series_data *a = pa, *b = pb;
    if (isnan(a->v[0]) || isnan(b->v[0]))
        return cmp_nan_first(a->v, b->v);
    return cmp_nan_first(b->v, a->v);
}

int eval_instant(const struct eval_opts *o, const struct node *n, int64_t t,
                 struct query_result *out, struct saba_err *err)
{
    memset(out, 0, sizeof *out);
    out->t = t;
    out->type = node_value_type(n);
    struct ev ev = {o, t, t};
    struct budget budget = {0, o->max_samples > 0 ? o->max_samples : EVAL_DEFAULT_MAX_SAMPLES,
                            false};
    struct grid g = {t, t, 1, 1, &budget};
    const struct node *inner = unparen(n);
    switch (out->type) {
    case VAL_STRING:
        out->string = xstrdup(inner->str);
        return 0;
    case VAL_MATRIX:
        return eval_range_source(&ev, inner, &g, true, &out->set, err);
    case VAL_SCALAR:
    case VAL_VECTOR: {
        int rc = eval_grid(&ev, n, &g, &out->set, err);
        if (rc)
            return rc;
        if (out->type == VAL_SCALAR) {
            out->scalar = out->set.n && out->set.v[0].n ? out->set.v[0].v[0] : NAN;
            series_set_free(&out->set);
        } else if (inner->type == NODE_CALL && out->set.n > 1) {
            /* sort() and sort_desc() order an instant result by value */
            const struct func_sig *f = func_lookup(inner->func);
            if (f->id == F_SORT)
                qsort(out->set.v, out->set.n, sizeof *out->set.v, cmp_value_asc);
            else if (f->id == F_SORT_DESC)
                qsort(out->set.v, out->set.n, sizeof *out->set.v, cmp_value_desc);
        }
        return 0;
    }
    }
    return err_set(err, SABA_EEXEC, 0, "unknown expression type");
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
    struct ev ev = {o, start, end};
    struct budget budget = {0, o->max_samples > 0 ? o->max_samples : EVAL_DEFAULT_MAX_SAMPLES,
                            false};
    struct grid g = {start, end, step, (size_t)((end - start) / step) + 1, &budget};
    out->type = VAL_MATRIX;
    return eval_grid(&ev, n, &g, &out->set, err);
}
