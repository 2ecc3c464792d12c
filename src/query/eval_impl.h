/*
 * eval_impl.h - what the parts of the evaluator share (not a public API).
 *
 * Every expression is evaluated over a grid of steps: the query's steps for a
 * range query, one step for an instant query, the subquery's own aligned
 * steps inside a subquery. An instant-vector result is a series_set whose
 * series hold points only at grid times, in time order (a series is absent at
 * the steps where it has no point). A scalar result is one unlabeled series
 * with a point at every step.
 */
#ifndef SABA_QUERY_EVAL_IMPL_H
#define SABA_QUERY_EVAL_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/eval.h"
#include "query/functions.h"

/* The points one query may allocate (eval_opts.max_samples), shared by its
 * threads: a query that would need more fails with Prometheus' "too many
 * samples" error instead of exhausting memory. */
struct budget {
    _Atomic int64_t used;
    int64_t max;
    _Atomic bool exceeded;
};

struct grid {
    int64_t start, end, step;
    size_t nsteps;
    struct budget *budget; /* charged by step_series_new and selections */
};

/* Charge n points (negative: give them back); false once over budget. */
bool budget_charge(struct budget *b, int64_t n);
bool budget_exceeded(const struct grid *g);

/* Time arithmetic that saturates instead of overflowing: @ and offset can
 * push a reference time to the ends of int64. */
static inline int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

static inline int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t grid_t(const struct grid *g, size_t k)
{
    return g->start + (int64_t)k * g->step;
}

/* One query's evaluation: options plus the query's own start and end, which
 * @ start() and @ end() refer to at every depth of subqueries. */
struct ev {
    const struct eval_opts *o;
    int64_t qstart, qend;
};

/* n without the parentheses around it. */
static inline const struct node *unparen(const struct node *n)
{
    while (n->type == NODE_PAREN)
        n = n->inner;
    return n;
}

/* Evaluate a scalar or instant-vector expression over g. */
int eval_grid(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
              struct saba_err *err);
/* Evaluate a scalar expression over g into vals[g->nsteps]. */
int eval_scalar_steps(struct ev *ev, const struct node *n, const struct grid *g, double *vals,
                      struct saba_err *err);
/* The raw samples behind a range-vector expression (a matrix selector or a
 * subquery) for every window the steps of g read: per series, all points in
 * [ref(first step) - range, ref(last step)], staleness markers removed. With
 * drop_stale false a matrix selector's markers are left in, for a caller that
 * drops them (drop_stale_samples) as it reads each series. */
int eval_range_source(struct ev *ev, const struct node *m, const struct grid *g, bool drop_stale,
                      struct series_set *raw, struct saba_err *err);
/* timestamp(selector): the timestamps of the samples a selector picks. */
int eval_timestamp_selector(struct ev *ev, const struct node *n, const struct grid *g,
                            struct series_set *out, struct saba_err *err);
/* Remove the staleness markers from n samples in place; returns how many
 * samples are left. */
size_t drop_stale_samples(int64_t *t, double *v, size_t n);
/* The reference time of step time t under n's @ and offset modifiers. */
int64_t node_ref(const struct ev *ev, const struct node *n, int64_t t);

/* avg/sum/min/max/count/last_over_time(m) from a rollup tier when one fits
 * (*used says whether it did; if not, nothing was done). */
int eval_over_time_rollup(struct ev *ev, const struct node *m, enum func_id f, const struct grid *g,
                          struct series_set *out, bool *used, struct saba_err *err);

/* agg(f(m)) for an aggregation without grouping (agg: its fold, as for
 * agg_acc_add) over such a call, folded from a rollup tier while it is
 * read, when one fits (*used says whether it did). */
int eval_agg_rollup(struct ev *ev, const struct node *call, int agg, const struct grid *g,
                    struct series_set *out, bool *used, struct saba_err *err);

/* The per-step accumulators of one group of sum, avg, min, max, count,
 * group, stddev and stdvar (a: the index of the aggregation's name in
 * that order), folded series by series in input order. */
struct agg_acc {
    double *val, *mean;
    uint32_t *count; /* values folded into each step; 0: no point */
};
void agg_acc_init(struct agg_acc *gr, size_t nsteps);
void agg_acc_free(struct agg_acc *gr);
void agg_acc_add(int a, struct agg_acc *gr, size_t k, double v);
/* The result at step k (which has count[k] > 0). */
double agg_acc_value(int a, const struct agg_acc *gr, size_t k);

int eval_call(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
              struct saba_err *err);
int eval_aggregation(struct ev *ev, const struct node *n, const struct grid *g,
                     struct series_set *out, struct saba_err *err);
int eval_binary(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
                struct saba_err *err);

/* ---- series helpers ---- */

/* A series with room for one point per step of g and no labels yet. */
struct series_data step_series_new(const struct grid *g);
void series_data_free(struct series_data *s);
/* Append d to set (growing set->v; *cap tracks its capacity). */
void set_push(struct series_set *set, size_t *cap, struct series_data d);
/* Sort by labels, merge series that ended up with equal labels (their points
 * must fall on different steps, else "vector cannot contain metrics with the
 * same labelset", as Prometheus checks per step) and drop empty series. */
int set_finish(struct series_set *set, struct saba_err *err);
/* Does selector sel (a NODE_VECTOR) pick series of one metric name? Then
 * dropping the name keeps the selection's order and its label sets
 * distinct (each loses the same label). */
bool selector_one_name(const struct node *sel);
/* Hash of a label set, for maps keyed by labels. */
uint64_t labels_hash(const struct labels *ls);
bool name_in(const char *name, char *const *list, size_t n);

/* A label set under construction (Prometheus' labels.Builder). */
#define LB_MAX 300
struct lbuild {
    struct label v[LB_MAX];
    size_t n;
};
void lb_init(struct lbuild *b, const struct labels *ls);
void lb_del(struct lbuild *b, const char *name);
/* Set name to value; an empty value deletes the label. */
void lb_set(struct lbuild *b, const char *name, const char *value);
void lb_keep(struct lbuild *b, char *const *names, size_t n);
struct labels lb_done(const struct lbuild *b);
/* b's labels as a set that borrows b's array and strings (valid while b
 * and the labels it was built from are): for looking a set up without
 * copying it. b must be sorted by name, as lb_init and lb_del keep it. */
struct labels lb_view(const struct lbuild *b);
struct labels labels_without_name(const struct labels *ls);
/* Remove the metric name from ls in place (no allocation: the strings stay
 * in ls's block). */
void labels_drop_name(struct labels *ls);

/* Map from result label sets to the series of a result being built, for
 * operators whose output series are not their input series. */
struct outmap {
    struct series_set set;
    size_t cap;
    struct hashmap *idx;
    const struct grid *g;
};
void outmap_init(struct outmap *m, const struct grid *g);
/* Index of the series with labels ls (taking ownership of ls). */
size_t outmap_get(struct outmap *m, struct labels ls);
/* The same for labels the map only borrows (a sorted set, e.g. lb_view's):
 * they are copied when they name a new series. */
size_t outmap_find_or_add(struct outmap *m, const struct labels *ls);
/* Add a point at step k to series i; false if that series already has one. */
bool outmap_add(struct outmap *m, size_t i, size_t k, double v);
/* Move the result into out (sorted by labels) and free the map. */
void outmap_done(struct outmap *m, struct series_set *out);

/* Prometheus' quantile over values (sorted in place, NaN first). */
double quantile_of(double q, double *v, size_t n);
/* Go's math.Max/Min: NaN if either is NaN. */
double go_max(double a, double b);
double go_min(double a, double b);

#endif
