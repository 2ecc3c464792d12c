/*
 * eval_rollup.c - avg/sum/min/max/count/last_over_time answered from the
 * storage's rollup tiers when the query's step and range line up with a
 * tier's buckets, so a year at a 1 h step reads 8,760 buckets per series
 * instead of every raw sample. The answer is the raw evaluation's: each
 * window [ref - range, ref] is a whole number of buckets plus, possibly, the
 * one sample exactly at ref - range, which the bucket ending there holds as
 * its last sample (its last-time stream says so).
 *
 * The buckets stream in series by series (storage scan_rollup) and each
 * series' steps are computed as it passes; an aggregation without grouping
 * around the call (max(max_over_time(x[1h]))) folds them on the spot, so
 * no per-series result exists at all. The steps are split into one slice per
 * CPU, each scanning its own part of the time range.
 */
#include "base/alloc.h"
#include "base/par.h"
#include "query/eval_impl.h"
#include "query/functions.h"
#include "storage/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool rollup_function(enum func_id id)
{
    return id == F_AVG_OVER_TIME || id == F_SUM_OVER_TIME || id == F_MIN_OVER_TIME ||
           id == F_MAX_OVER_TIME || id == F_COUNT_OVER_TIME || id == F_LAST_OVER_TIME;
}

/* The coarsest resolution R that answers the call exactly, or 0: step,
 * range and evaluation times must be whole multiples of R, and the tier must
 * hold part of the range (elsewhere the raw samples are the cheaper source
 * of the same answer). Instant queries (step 1 ms) never qualify. */
static int64_t pick_rollup(struct ev *ev, const struct node *m, const struct grid *g)
{
    struct storage *st = ev->o->storage;
    const struct storage_ops *ops = st->ops;
    if (!ops->rollup_resolutions || !ops->scan_rollup || !ops->rollup_span ||
        m->type != NODE_MATRIX || m->at != AT_NONE)
        return 0;
    int64_t res[STORAGE_MAX_ROLLUPS];
    size_t n = ops->rollup_resolutions(st, res);
    for (size_t i = n; i-- > 0;) {
        int64_t R = res[i];
        int64_t first = sat_sub(g->start, m->offset_ms), last = sat_sub(g->end, m->offset_ms);
        int64_t from, to;
        if (R > 0 && g->step % R == 0 && m->range_ms >= R && m->range_ms % R == 0 &&
            first % R == 0 && ops->rollup_span(st, R, &from, &to) &&
            to >= sat_sub(first, m->range_ms) && from <= last)
            return R;
    }
    return 0;
}

static enum storage_agg agg_of(enum func_id id)
{
    switch (id) {
    case F_MIN_OVER_TIME:
        return STORAGE_AGG_MIN;
    case F_MAX_OVER_TIME:
        return STORAGE_AGG_MAX;
    case F_COUNT_OVER_TIME:
        return STORAGE_AGG_COUNT;
    case F_LAST_OVER_TIME:
        return STORAGE_AGG_LAST;
    default:
        return STORAGE_AGG_SUM; /* sum, and avg's numerator */
    }
}

/* The streams a function reads, in this order: its aggregate, the count
 * (avg), then the last value and its time (the sample at a window's start). */
enum { S_AGG, S_COUNT, S_LAST, S_LAST_T, S_N };

/* One step's value from the buckets [lo, hi) and the edge sample. */
static double combine(enum func_id f, const double *const *v, size_t lo, size_t hi, bool edge,
                      double ev)
{
    const double *s = v[S_AGG];
    double x;
    switch (f) {
    case F_AVG_OVER_TIME: {
        const double *cnt = v[S_COUNT];
        double sum = edge ? ev : 0, n = edge ? 1 : 0;
        for (size_t k = lo; k < hi; k++) {
            sum += s[k];
            n += cnt[k];
        }
        return sum / n;
    }
    case F_SUM_OVER_TIME:
    case F_COUNT_OVER_TIME:
        x = edge ? (f == F_SUM_OVER_TIME ? ev : 1) : 0;
        for (size_t k = lo; k < hi; k++)
            x += s[k];
        return x;
    case F_MIN_OVER_TIME:
        x = edge ? ev : s[lo];
        for (size_t k = edge ? lo : lo + 1; k < hi; k++)
            if (s[k] < x || isnan(x))
                x = s[k];
        return x;
    case F_MAX_OVER_TIME:
        x = edge ? ev : s[lo];
        for (size_t k = edge ? lo : lo + 1; k < hi; k++)
            if (s[k] > x || isnan(x))
                x = s[k];
        return x;
    default:
        return hi > lo ? s[hi - 1] : ev;
    }
}

/* One slice of the steps: its own grid, results and error. */
struct rslice {
    struct rjob *job;
    struct grid g; /* the slice's steps */
    size_t k0;     /* its first step in the job's grid */
    struct series_set out;
    size_t cap;
    struct saba_err err;
    int rc;
};

/* A rollup evaluation: the call and where its results go. */
struct rjob {
    struct ev *ev;
    const struct node *m; /* the matrix selector */
    enum func_id f;
    const struct grid *g;
    int64_t R;
    int agg;              /* the fold of an enclosing aggregation, or -1 */
    struct agg_acc acc;   /* its accumulators, one per step of g */
    struct rslice *slice; /* one per par_for slice (PAR_MAX_THREADS at most) */
    _Atomic size_t next;
};

/* visit_series stops a scan with this once the query is over its budget. */
#define STOP_BUDGET 1

static int visit_series(void *arg, const struct labels *ls, size_t n, const int64_t *t,
                        const double *const *v)
{
    struct rslice *sl = arg;
    struct rjob *j = sl->job;
    const struct grid *g = &sl->g;
    const struct node *m = j->m;
    struct series_data r = {0};
    if (j->agg < 0) {
        if (budget_exceeded(g))
            return STOP_BUDGET;
        r = step_series_new(g);
    }
    size_t lo = 0, hi = 0;
    const double *lv = v[S_LAST], *lt = v[S_LAST_T];
    for (size_t k = 0; k < g->nsteps; k++) {
        int64_t st = grid_t(g, k), ref = sat_sub(st, m->offset_ms);
        int64_t start = sat_sub(ref, m->range_ms);
        while (hi < n && t[hi] <= ref)
            hi++;
        while (lo < hi && t[lo] <= start)
            lo++;
        /* the sample exactly at ref - range, if any */
        bool edge = lo > 0 && t[lo - 1] == start && lt[lo - 1] == (double)start;
        if (lo == hi && !edge)
            continue;
        double x = combine(j->f, v, lo, hi, edge, edge ? lv[lo - 1] : 0);
        if (j->agg >= 0) {
            agg_acc_add(j->agg, &j->acc, sl->k0 + k, x);
        } else {
            r.t[r.n] = st;
            r.v[r.n++] = x;
        }
    }
    if (j->agg < 0) {
        r.labels = j->f == F_LAST_OVER_TIME ? labels_copy(ls->v, ls->n) : labels_without_name(ls);
        set_push(&sl->out, &sl->cap, r);
    }
    return 0;
}

static void run_slice(void *ctx, size_t lo, size_t hi)
{
    struct rjob *j = ctx;
    struct rslice *sl = &j->slice[atomic_fetch_add(&j->next, 1)];
    const struct node *m = j->m, *sel = m->inner;
    sl->job = j;
    sl->k0 = lo;
    sl->g = *j->g;
    sl->g.start = grid_t(j->g, lo);
    sl->g.end = grid_t(j->g, hi - 1);
    sl->g.nsteps = hi - lo;
    int64_t first = sat_sub(sl->g.start, m->offset_ms), last = sat_sub(sl->g.end, m->offset_ms);
    enum storage_agg aggs[S_N] = {agg_of(j->f), STORAGE_AGG_COUNT, STORAGE_AGG_LAST,
                                  STORAGE_AGG_LAST_T};
    struct storage *st = j->ev->o->storage;
    sl->rc = st->ops->scan_rollup(st, sel->matchers, sel->nmatchers, sat_sub(first, m->range_ms),
                                  last, j->R, aggs, S_N, visit_series, sl, &sl->err);
    if (sl->rc == STOP_BUDGET)
        sl->rc = 0;
}

/* Steps per slice below which one thread does the whole call. */
#define MIN_PARALLEL_STEPS 256

/* Evaluate f(m) over g from the rollups at resolution R: per series into
 * out, or, with agg >= 0, folded into the accumulators acc. */
static int run_job(struct ev *ev, const struct node *m, enum func_id f, const struct grid *g,
                   int64_t R, int agg, struct agg_acc *acc, struct series_set *out,
                   struct saba_err *err)
{
    struct rjob j = {ev, m, f, g, R, agg, acc ? *acc : (struct agg_acc){0}, NULL, 0};
    /* as many slices as par_for may make, whatever par_threads says later */
    j.slice = xcalloc(PAR_MAX_THREADS, sizeof *j.slice);
    par_for(g->nsteps, 2 * MIN_PARALLEL_STEPS, run_slice, &j);
    int rc = 0;
    size_t used = atomic_load(&j.next), cap = 0;
    for (size_t i = 0; i < used; i++) {
        struct rslice *sl = &j.slice[i];
        if (sl->rc && !rc) {
            rc = sl->rc;
            *err = sl->err;
        }
        for (size_t q = 0; q < sl->out.n; q++) {
            if (out && !rc)
                set_push(out, &cap, sl->out.v[q]);
            else
                series_data_free(&sl->out.v[q]);
        }
        free(sl->out.v);
    }
    free(j.slice);
    if (out)
        rc = rc ? rc : set_finish(out, err);
    return rc;
}

int eval_over_time_rollup(struct ev *ev, const struct node *m, enum func_id f, const struct grid *g,
                          struct series_set *out, bool *used, struct saba_err *err)
{
    *used = false;
    if (!rollup_function(f))
        return 0;
    int64_t R = pick_rollup(ev, m, g);
    if (!R)
        return 0;
    *used = true;
    return run_job(ev, m, f, g, R, -1, NULL, out, err);
}

int eval_agg_rollup(struct ev *ev, const struct node *call, int agg, const struct grid *g,
                    struct series_set *out, bool *used, struct saba_err *err)
{
    *used = false;
    call = unparen(call);
    if (call->type != NODE_CALL || call->nargs != 1)
        return 0;
    const struct func_sig *f = func_lookup(call->func);
    const struct node *m = unparen(call->args[0]);
    if (!f || !rollup_function(f->id) || m->type != NODE_MATRIX || !selector_one_name(m->inner))
        return 0;
    int64_t R = pick_rollup(ev, m, g);
    if (!R)
        return 0;
    *used = true;
    struct agg_acc acc;
    agg_acc_init(&acc, g->nsteps);
    int rc = run_job(ev, m, f->id, g, R, agg, &acc, NULL, err);
    if (!rc) {
        struct series_data r = step_series_new(g);
        for (size_t k = 0; k < g->nsteps; k++)
            if (acc.count[k]) {
                r.t[r.n] = grid_t(g, k);
                r.v[r.n++] = agg_acc_value(agg, &acc, k);
            }
        r.labels = labels_copy(NULL, 0);
        size_t cap = 0;
        *out = (struct series_set){0};
        set_push(out, &cap, r);
        rc = set_finish(out, err);
    }
    agg_acc_free(&acc);
    return rc;
}
