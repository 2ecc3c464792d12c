/*
 * eval_rollup.c - avg/sum/min/max/count/last_over_time answered from the
 * storage's rollup tiers when the query's step and range line up with a
 * tier's buckets, so a year at a 1 h step reads 8,760 buckets per series
 * instead of every raw sample. The answer is the raw evaluation's: each
 * window [ref - range, ref] is a whole number of buckets plus, possibly, the
 * one sample exactly at ref - range, which the bucket ending there holds as
 * its last sample (its last-time stream says so).
 */
#include "base/alloc.h"
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
    if (!ops->rollup_resolutions || !ops->select_rollup || !ops->rollup_span ||
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

/* One step's value from the buckets [lo, hi) and the edge sample. */
static double combine(enum func_id f, const struct series_data *s, const struct series_data *cnt,
                      size_t lo, size_t hi, bool edge, double ev)
{
    double v;
    switch (f) {
    case F_AVG_OVER_TIME: {
        double sum = edge ? ev : 0, n = edge ? 1 : 0;
        for (size_t k = lo; k < hi; k++) {
            sum += s->v[k];
            n += cnt->v[k];
        }
        return sum / n;
    }
    case F_SUM_OVER_TIME:
    case F_COUNT_OVER_TIME:
        v = edge ? (f == F_SUM_OVER_TIME ? ev : 1) : 0;
        for (size_t k = lo; k < hi; k++)
            v += s->v[k];
        return v;
    case F_MIN_OVER_TIME:
    case F_MAX_OVER_TIME:
        v = edge ? ev : s->v[lo];
        for (size_t k = edge ? lo : lo + 1; k < hi; k++)
            if ((f == F_MIN_OVER_TIME ? s->v[k] < v : s->v[k] > v) || isnan(v))
                v = s->v[k];
        return v;
    default:
        return hi > lo ? s->v[hi - 1] : ev;
    }
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
    const struct node *sel = m->inner;
    int64_t first = sat_sub(g->start, m->offset_ms), last = sat_sub(g->end, m->offset_ms);
    /* sets: the aggregate, counts (avg), last values, last times */
    struct series_set set[4] = {{0}};
    enum storage_agg aggs[4] = {agg_of(f), STORAGE_AGG_COUNT, STORAGE_AGG_LAST, STORAGE_AGG_LAST_T};
    struct storage *st = ev->o->storage;
    int rc = st->ops->select_rollup(st, sel->matchers, sel->nmatchers, sat_sub(first, m->range_ms),
                                    last, R, aggs, 4, set, err);
    if (rc)
        return rc;
    size_t pos[4] = {0}, cap = 0;
    for (size_t i = 0; i < set[0].n && !budget_exceeded(g); i++) {
        struct series_data *s = &set[0].v[i];
        struct series_data *cnt = find_series(&set[1], &pos[1], &s->labels);
        struct series_data *lv = find_series(&set[2], &pos[2], &s->labels);
        struct series_data *lt = find_series(&set[3], &pos[3], &s->labels);
        /* all streams come from the same buckets */
        if ((f == F_AVG_OVER_TIME && (!cnt || cnt->n != s->n)) || !lv || !lt || lv->n != s->n ||
            lt->n != s->n)
            continue;
        struct series_data r = step_series_new(g);
        size_t lo = 0, hi = 0;
        for (size_t k = 0; k < g->nsteps; k++) {
            int64_t t = grid_t(g, k), ref = sat_sub(t, m->offset_ms);
            int64_t start = sat_sub(ref, m->range_ms);
            while (hi < s->n && s->t[hi] <= ref)
                hi++;
            while (lo < hi && s->t[lo] <= start)
                lo++;
            /* the sample exactly at ref - range, if any */
            bool edge = lo > 0 && s->t[lo - 1] == start && lt->v[lo - 1] == (double)start;
            if (lo == hi && !edge)
                continue;
            r.t[r.n] = t;
            r.v[r.n++] = combine(f, s, cnt, lo, hi, edge, edge ? lv->v[lo - 1] : 0);
        }
        if (f == F_LAST_OVER_TIME) {
            r.labels = s->labels;
            s->labels = (struct labels){0};
        } else {
            r.labels = labels_without_name(&s->labels);
        }
        set_push(out, &cap, r);
    }
    for (int k = 0; k < 4; k++)
        series_set_free(&set[k]);
    return set_finish(out, err);
}
