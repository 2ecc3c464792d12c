/*
 * eval_func.c - the PromQL function library (signatures in functions.c).
 *
 * Each function follows Prometheus 2.x to the bit where it matters: rate()'s
 * extrapolation to the window edges, the least-squares fit of deriv() and
 * predict_linear(), histogram_quantile()'s bucket interpolation, Go's regexp
 * template expansion in label_replace(), Go's math.Max/Min NaN rules in
 * clamp(). Functions drop the metric name except last_over_time, sort,
 * sort_desc, label_replace and label_join, as Prometheus does.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/par.h"
#include "query/eval_impl.h"
#include "query/functions.h"
#include "storage/labels.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- functions over a range vector ---- */

struct window {
    const int64_t *t;
    const double *v;
    size_t n;
    int64_t ref, range; /* the window is [ref - range, ref] */
    int64_t ts;         /* the evaluation step's time */
    double a1, a2;      /* scalar arguments at this step */
    bool no_resets;     /* known: no v[i] < v[i - 1] in the window, and v[0] >= 0 */
};

/* Prometheus' extrapolatedRate: delta, increase and rate. */
static bool extrapolated_rate(const struct window *w, bool counter, bool is_rate, double *out)
{
    if (w->n < 2)
        return false;
    const int64_t *t = w->t;
    const double *v = w->v;
    size_t n = w->n;
    double result = v[n - 1] - v[0];
    if (counter && !w->no_resets) {
        double last = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < last)
                result += last;
            last = v[i];
        }
    }
    double to_start = ((double)t[0] - ((double)w->ref - (double)w->range)) / 1000;
    double to_end = ((double)w->ref - (double)t[n - 1]) / 1000;
    double sampled = (double)(t[n - 1] - t[0]) / 1000;
    double avg_gap = sampled / (double)(n - 1);
    if (counter && result > 0 && v[0] >= 0) {
        /* a counter cannot go below zero: extrapolate at most to where it was 0 */
        double to_zero = sampled * (v[0] / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg_gap * 1.1, interval = sampled;
    interval += to_start < threshold ? to_start : avg_gap / 2;
    interval += to_end < threshold ? to_end : avg_gap / 2;
    result = result * (interval / sampled);
    if (is_rate)
        result /= (double)w->range / 1000;
    *out = result;
    return true;
}

/* irate and idelta: the last two samples. */
static bool instant_value(const struct window *w, bool is_rate, double *out)
{
    if (w->n < 2)
        return false;
    double last = w->v[w->n - 1], prev = w->v[w->n - 2];
    double result = is_rate && last < prev ? last : last - prev;
    int64_t interval = w->t[w->n - 1] - w->t[w->n - 2];
    if (interval == 0)
        return false;
    if (is_rate)
        result /= (double)interval / 1000;
    *out = result;
    return true;
}

static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Least squares over the window with x in seconds relative to intercept_t. */
static void linear_regression(const struct window *w, int64_t intercept_t, double *slope,
                              double *intercept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = w->v[0];
    bool const_y = true;
    for (size_t i = 0; i < w->n; i++) {
        if (const_y && i > 0 && w->v[i] != init_y)
            const_y = false;
        n += 1;
        double x = (double)(w->t[i] - intercept_t) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(w->v[i], &sy, &cy);
        kahan_inc(x * w->v[i], &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = *intercept = NAN;
            return;
        }
        *slope = 0;
        *intercept = init_y;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

static double holt_winters(const struct window *w, double sf, double tf)
{
    double s0 = 0, s1 = w->v[0], b = w->v[1] - w->v[0];
    for (size_t i = 1; i < w->n; i++) {
        double x = sf * w->v[i];
        if (i > 1) /* the trend starts from the first difference */
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    return s1;
}

static bool range_value(enum func_id id, const struct window *w, double *out)
{
    const double *v = w->v;
    size_t n = w->n;
    switch (id) {
    case F_RATE:
        return extrapolated_rate(w, true, true, out);
    case F_INCREASE:
        return extrapolated_rate(w, true, false, out);
    case F_DELTA:
        return extrapolated_rate(w, false, false, out);
    case F_IRATE:
        return instant_value(w, true, out);
    case F_IDELTA:
        return instant_value(w, false, out);
    case F_DERIV: {
        if (n < 2)
            return false;
        double intercept;
        linear_regression(w, w->t[0], out, &intercept);
        return true;
    }
    case F_PREDICT_LINEAR: {
        if (n < 2)
            return false;
        double slope, intercept;
        linear_regression(w, w->ts, &slope, &intercept);
        *out = slope * w->a1 + intercept;
        return true;
    }
    case F_HOLT_WINTERS:
        if (n < 2)
            return false;
        *out = holt_winters(w, w->a1, w->a2);
        return true;
    case F_CHANGES:
    case F_RESETS: {
        double c = 0;
        for (size_t i = 1; i < n; i++) {
            if (id == F_RESETS ? v[i] < v[i - 1]
                               : v[i] != v[i - 1] && !(isnan(v[i]) && isnan(v[i - 1])))
                c++;
        }
        *out = c;
        return true;
    }
    case F_COUNT_OVER_TIME:
        *out = (double)n;
        return true;
    case F_PRESENT_OVER_TIME:
        *out = 1;
        return true;
    case F_LAST_OVER_TIME:
        *out = v[n - 1];
        return true;
    case F_SUM_OVER_TIME: {
        double s = 0, c = 0;
        for (size_t i = 0; i < n; i++)
            kahan_inc(v[i], &s, &c);
        *out = isinf(s) ? s : s + c;
        return true;
    }
    case F_AVG_OVER_TIME: {
        double mean = 0, c = 0, count = 0;
        for (size_t i = 0; i < n; i++) {
            count++;
            if (isinf(mean)) {
                if (isinf(v[i]) && (mean > 0) == (v[i] > 0))
                    continue;
                if (!isinf(v[i]) && !isnan(v[i]))
                    continue;
            }
            kahan_inc(v[i] / count - mean / count, &mean, &c);
        }
        *out = isinf(mean) ? mean : mean + c;
        return true;
    }
    case F_MIN_OVER_TIME:
    case F_MAX_OVER_TIME: {
        double acc = v[0];
        for (size_t i = 1; i < n; i++)
            if ((id == F_MIN_OVER_TIME ? v[i] < acc : v[i] > acc) || isnan(acc))
                acc = v[i];
        *out = acc;
        return true;
    }
    case F_STDDEV_OVER_TIME:
    case F_STDVAR_OVER_TIME: {
        double count = 0, mean = 0, cm = 0, aux = 0, ca = 0;
        for (size_t i = 0; i < n; i++) {
            count++;
            double delta = v[i] - (mean + cm);
            kahan_inc(delta / count, &mean, &cm);
            kahan_inc(delta * (v[i] - (mean + cm)), &aux, &ca);
        }
        double var = (aux + ca) / count;
        *out = id == F_STDVAR_OVER_TIME ? var : sqrt(var);
        return true;
    }
    case F_QUANTILE_OVER_TIME: {
        double *tmp = xmalloc(n * sizeof *tmp);
        memcpy(tmp, v, n * sizeof *tmp);
        *out = quantile_of(w->a1, tmp, n);
        free(tmp);
        return true;
    }
    default:
        return false;
    }
}

/* ---- deriv and predict_linear over sliding windows ----
 *
 * In a range query whose step is shorter than the range, consecutive steps'
 * windows over a series overlap, so the least-squares sums slide: the samples
 * entering are added and those leaving subtracted, instead of summing every
 * window afresh (240 samples and 4 compensated sums per step for [1h] at
 * 15 s). Prometheus sums x (seconds from the intercept time) and y with
 * Neumaier compensation, which makes its sums nearly correctly rounded; the
 * sliding sums are kept more exactly than that so that, rounded, they land
 * within an ulp or two of Prometheus': x in integer milliseconds from a
 * per-series origin with Σx and Σx² in exact 128-bit integers, Σy and Σxy in
 * double-double (products exact by fma), moved to the intercept time only
 * when a step's fit is made. The fit then
 * uses Prometheus' formula. That formula cancels (cov = Σxy - ΣxΣy/n), and
 * where it cancels badly two nearly equal sums can give answers that differ
 * more than the differential test's 1e-9: lsq_fit bounds that difference and,
 * above LSQ_TOL, falls back to Prometheus' own computation of that window, as
 * it does for windows holding NaN, infinities or values near the ends of the
 * double range, whose sums cannot slide.
 */

/* A double-double: the unevaluated sum hi + lo, |lo| <= ulp(hi) / 2. */
struct dd {
    double hi, lo;
};

static struct dd two_sum(double a, double b)
{
    double s = a + b, bb = s - a;
    return (struct dd){s, (a - (s - bb)) + (b - bb)};
}

/* two_sum when |a| >= |b| (or a == 0) */
static struct dd fast_two_sum(double a, double b)
{
    double s = a + b;
    return (struct dd){s, b - (s - a)};
}

/* a + b with an absolute error of at most about 2^-105 max(|a|, |b|) (the
 * "sloppy" addition of Hida, Li and Bailey's QD library): under cancellation
 * the error is not small next to the result, but lsq_move keeps the values
 * that pass through the sums within 2^16 of the window's mean |v|, so what
 * the sliding loses stays some 2^-80 below the sums. */
static struct dd dd_add(struct dd a, struct dd b)
{
    struct dd s = two_sum(a.hi, b.hi);
    return fast_two_sum(s.hi, s.lo + (a.lo + b.lo));
}

/* a * b exactly (barring underflow, which the safe range of values excludes) */
static struct dd two_prod(double a, double b)
{
    double p = a * b;
    return (struct dd){p, fma(a, b, -p)};
}

static struct dd dd_mul_d(struct dd a, double b)
{
    struct dd p = two_prod(a.hi, b);
    return fast_two_sum(p.hi, p.lo + a.lo * b);
}

static double dd_val(struct dd a)
{
    return a.hi + a.lo;
}

/* Values whose products with times and sums of squares stay far from
 * overflow and underflow in double-double; windows with others (NaN, ±Inf,
 * 1e300, 1e-300) are computed as Prometheus does. */
static bool lsq_safe(double v)
{
    double a = fabs(v);
    return v == 0 || (a >= 0x1p-900 && a <= 0x1p900);
}

/* The largest difference, relative to the answer, allowed between the
 * sliding fit and Prometheus' before the window is computed Prometheus' way:
 * lsq_fit's bound is a worst case, and the differential test allows 1e-9. */
#define LSQ_TOL 1e-10

__extension__ typedef __int128 i128; /* GCC and Clang on 64-bit targets */

/* x, in ms from the origin, stays below 2^40 (35 years): Σx² of 2^40 samples
 * stays below 2^120. */
#define LSQ_XMAX ((int64_t)1 << 40)

/* The sums over the samples [lo, hi) of one series. */
struct lsq {
    size_t lo, hi;
    int64_t origin;          /* x = t - origin, in ms */
    i128 sx, sxx;            /* Σx, Σx² */
    struct dd sy, sxy, sabs; /* Σv, Σxv, Σ|v| */
    double big;              /* the largest |v| added since the last rebase */
    size_t unsafe;           /* samples in [lo, hi) that are not lsq_safe, or too far from origin */
    size_t chg;              /* the last i < hi with v[i] != v[i - 1], else 0 */
    size_t moves;            /* samples added and removed since the last rebase */
};

static void lsq_add(struct lsq *q, const struct series_data *s, size_t i, bool add)
{
    double v = s->v[i];
    if (add && i > 0 && v != s->v[i - 1])
        q->chg = i;
    int64_t x = sat_sub(s->t[i], q->origin);
    if (!lsq_safe(v) || x >= LSQ_XMAX) {
        q->unsafe += add ? 1 : (size_t)-1;
        return;
    }
    double sv = add ? v : -v;
    q->sx += add ? x : -x;
    q->sxx += add ? (i128)x * x : -(i128)x * x;
    q->sy = dd_add(q->sy, (struct dd){sv, 0});
    q->sxy = dd_add(q->sxy, two_prod((double)x, sv));
    q->sabs = dd_add(q->sabs, (struct dd){add ? fabs(v) : -fabs(v), 0});
    if (add && fabs(v) > q->big)
        q->big = fabs(v);
}

/* Sum [lo, hi) afresh, with x measured from the window's first sample. */
static void lsq_rebase(struct lsq *q, const struct series_data *s, size_t lo, size_t hi)
{
    size_t chg = q->chg;
    *q = (struct lsq){.lo = lo, .hi = hi, .origin = lo < s->n ? s->t[lo] : 0, .chg = chg};
    for (size_t i = lo; i < hi; i++)
        lsq_add(q, s, i, true);
}

/* Move the sums to the window [lo, hi) (lo and hi never decrease). They are
 * summed afresh when the windows do not overlap, after about four windows'
 * worth of updates (so x stays small next to the window's span), when x
 * nears LSQ_XMAX, and when a value more than 2^16 times the mean |v| has left
 * the window (so that what it left in the low parts of the sums stays far
 * below the sums' last bits). */
static void lsq_move(struct lsq *q, const struct series_data *s, size_t lo, size_t hi)
{
    if (lo >= q->hi || q->moves > 4 * (hi - lo) + 64 ||
        sat_sub(s->t[hi - 1], q->origin) >= LSQ_XMAX / 2) {
        lsq_rebase(q, s, lo, hi);
        return;
    }
    q->moves += (lo - q->lo) + (hi - q->hi);
    for (size_t i = q->lo; i < lo; i++)
        lsq_add(q, s, i, false);
    for (size_t i = q->hi; i < hi; i++)
        lsq_add(q, s, i, true);
    q->lo = lo;
    q->hi = hi;
    if (q->big * (double)(hi - lo) > 0x1p16 * dd_val(q->sabs))
        lsq_rebase(q, s, lo, hi);
}

/* deriv (intercept at the window's first sample) or predict_linear (at the
 * step's time, a1 seconds ahead) of the window w = [q->lo, q->hi), n >= 2,
 * from the sums, or from the samples as Prometheus does when the sums cannot
 * be trusted to give its answer. */
static bool lsq_fit(const struct lsq *q, enum func_id id, const struct window *w, double *out)
{
    const double u = 0x1p-53; /* the unit roundoff */
    if (q->unsafe)
        return range_value(id, w, out);
    if (q->chg <= q->lo) { /* constant, as linear_regression finds it */
        *out = id == F_DERIV ? 0 : 0 * w->a1 + w->v[0];
        return true;
    }
    int64_t D;
    if (__builtin_sub_overflow(id == F_DERIV ? w->t[0] : w->ts, q->origin, &D) || D <= -LSQ_XMAX ||
        D >= LSQ_XMAX)
        return range_value(id, w, out);
    double n = (double)w->n, d = (double)D;
    /* the sums with x in seconds from the intercept time: x = (t - origin - D) / 1000;
     * Σ(x - D) and Σ(x - D)² are exact */
    double sx = (double)(q->sx - (i128)w->n * D) / 1e3;
    double sx2 = (double)(q->sxx - 2 * (i128)D * q->sx + (i128)w->n * D * D) / 1e6;
    double sy = dd_val(q->sy);
    double sxy = dd_val(dd_add(q->sxy, dd_mul_d(q->sy, -d))) / 1e3;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    double slope = cov / var, intercept = sy / n - slope * sx / n;
    /* How far apart can this and Prometheus' answer be? Its sums and these are
     * within 8u of the sums of absolute terms from the exact sums (its inputs
     * x and xv are rounded, its compensated sums add about 3u); both then
     * round the formula's few operations. */
    double ax =
        id == F_DERIV
            ? (double)(w->t[w->n - 1] - w->t[0]) / 1e3
            : fmax(fabs((double)(w->t[0] - w->ts)), fabs((double)(w->t[w->n - 1] - w->ts))) / 1e3;
    double sabs = dd_val(q->sabs);
    double esx = 8 * u * n * ax, esy = 8 * u * sabs, esxy = 8 * u * ax * sabs, esx2 = 8 * u * sx2;
    double ecov =
        esxy + (fabs(sx) * esy + fabs(sy) * esx) / n + 6 * u * (fabs(sxy) + fabs(sx * sy / n));
    double evar = esx2 + 2 * fabs(sx) * esx / n + 6 * u * (sx2 + sx * sx / n);
    double rel = ecov / fabs(cov) + evar / fabs(var) + 4 * u, err, val;
    if (id == F_DERIV) {
        val = slope;
        err = rel * fabs(slope);
    } else {
        val = slope * w->a1 + intercept;
        double eslope = rel * fabs(slope);
        double eint = esy / n + eslope * fabs(sx) / n + fabs(slope) * esx / n +
                      6 * u * (fabs(sy / n) + fabs(slope * sx / n));
        err = eslope * fabs(w->a1) + eint + 6 * u * (fabs(slope * w->a1) + fabs(intercept));
    }
    if (!(err <= LSQ_TOL * fabs(val)))
        return range_value(id, w, out);
    *out = val;
    return true;
}

/* The labels absent() and absent_over_time() give their 1: the equality
 * matchers of a plain selector argument, except names matched twice or by
 * another kind of matcher. */
static struct labels absent_labels(const struct node *arg)
{
    arg = unparen(arg);
    if (arg->type == NODE_MATRIX)
        arg = arg->inner;
    struct lbuild b = {.n = 0};
    if (arg->type != NODE_VECTOR)
        return lb_done(&b);
    const char *drop[LB_MAX];
    size_t ndrop = 0;
    for (size_t i = 0; i < arg->nmatchers; i++) {
        const struct matcher *m = arg->matchers[i];
        const char *name = matcher_name(m);
        if (!strcmp(name, LABEL_NAME))
            continue;
        bool has = false;
        for (size_t j = 0; j < b.n; j++)
            has |= !strcmp(b.v[j].name, name);
        if (matcher_type(m) == MATCH_EQ && !has)
            lb_set(&b, name, matcher_value(m));
        else if (ndrop < LB_MAX)
            drop[ndrop++] = name;
    }
    for (size_t i = 0; i < ndrop; i++)
        lb_del(&b, drop[i]);
    return lb_done(&b);
}

/* One range function over many series: each series is independent, so the
 * series are split over the CPUs (par_for). */
struct range_job {
    struct ev *ev;
    const struct node *m;
    const struct grid *g;
    enum func_id id;
    struct series_set *raw;
    const double *a1, *a2;
    bool fixed;
    bool slide;   /* deriv or predict_linear over overlapping windows: struct lsq */
    bool counter; /* rate or increase: counter resets are looked for once per series */
    int64_t range;
    struct series_data *res; /* one per raw series */
    size_t nres;             /* range_each: entries of res */
    size_t (*nraw)[2];       /* range_each: samples selected, and left without staleness markers */
    bool drop_stale;      /* range_job_run: raw still has a matrix selector's staleness markers */
    _Atomic int64_t kept; /* range_job_run: raw samples left without them */
};

/* f over the windows of one series s, whose labels move into the result.
 * With reuse and one step (an instant query) the value, computed before
 * anything is stored, goes into s's arrays, which become the result's. */
static struct series_data range_series(const struct range_job *j, struct series_data *s, bool reuse)
{
    const struct grid *g = j->g;
    bool in_place = reuse && g->nsteps == 1;
    int64_t one_t = 0;
    double one_v = 0;
    struct series_data r = {0};
    if (in_place) {
        budget_charge(g->budget, 1);
        r.t = &one_t;
        r.v = &one_v;
    } else {
        r = step_series_new(g);
    }
    size_t lo = 0, hi = 0;
    size_t reset = 1; /* rate, increase: the first i > lo with v[i] < v[i - 1], or n */
    struct lsq q = {0};
    for (size_t k = 0; k < g->nsteps; k++) {
        int64_t t = grid_t(g, k), ref = node_ref(j->ev, j->m, t);
        while (hi < s->n && s->t[hi] <= ref)
            hi++;
        while (lo < hi && s->t[lo] < sat_sub(ref, j->range))
            lo++;
        if (j->slide)
            lsq_move(&q, s, lo, hi);
        if (lo == hi)
            continue;
        if (j->counter) {
            if (reset <= lo)
                reset = lo + 1;
            while (reset < s->n && !(s->v[reset] < s->v[reset - 1]))
                reset++;
        }
        struct window w = {s->t + lo,
                           s->v + lo,
                           hi - lo,
                           ref,
                           j->range,
                           j->fixed ? j->ev->qstart : t,
                           j->a1 ? j->a1[k] : 0,
                           j->a2 ? j->a2[k] : 0,
                           j->counter && reset >= hi && s->v[lo] >= 0};
        double v;
        if (j->slide && w.n >= 2 ? lsq_fit(&q, j->id, &w, &v) : range_value(j->id, &w, &v)) {
            r.t[r.n] = t;
            r.v[r.n++] = v;
        }
    }
    if (in_place) {
        /* s's arrays hold at least one sample (else no value) */
        if (r.n) {
            s->t[0] = one_t;
            s->v[0] = one_v;
        }
        r.t = s->t;
        r.v = s->v;
        s->t = NULL;
        s->v = NULL;
    }
    r.labels = s->labels;
    s->labels = (struct labels){0};
    if (j->id != F_LAST_OVER_TIME)
        labels_drop_name(&r.labels);
    return r;
}

static void range_job_run(void *ctx, size_t from, size_t to)
{
    struct range_job *j = ctx;
    int64_t kept = 0;
    for (size_t i = from; i < to; i++) {
        struct series_data *s = &j->raw->v[i];
        /* a matrix selector's staleness markers go here, while the series
         * is read anyway, rather than in a pass of their own */
        if (j->drop_stale)
            s->n = drop_stale_samples(s->t, s->v, s->n);
        kept += (int64_t)s->n;
        /* raw is freed after the call: its labels and arrays may be taken */
        if (!budget_exceeded(j->g))
            j->res[i] = range_series(j, s, true);
    }
    atomic_fetch_add(&j->kept, kept);
}

/* The selection handed over series by series (storage select_each): each
 * series' result is computed while its samples are in the engine's scratch
 * arrays, so the samples of all series are never held at once. */
static void range_each_begin(void *arg, size_t n)
{
    struct range_job *j = arg;
    j->res = xcalloc(n ? n : 1, sizeof *j->res);
    j->nraw = xcalloc(n ? n : 1, sizeof *j->nraw);
    j->nres = n;
}

static void range_each_visit(void *arg, size_t k, struct labels *ls, size_t n, int64_t *t,
                             double *v)
{
    struct range_job *j = arg;
    /* the samples are counted per series and charged to the budget when
     * all are seen (range_each): shared counters would bounce between the
     * CPUs at every series */
    j->nraw[k][0] = n;
    n = drop_stale_samples(t, v, n);
    j->nraw[k][1] = n;
    if (!n || budget_exceeded(j->g)) {
        labels_free(ls);
        return;
    }
    struct series_data s = {*ls, n, t, v};
    j->res[k] = range_series(j, &s, false);
}

static int range_each(struct ev *ev, const struct node *msel, struct range_job *j,
                      struct series_set *out, struct saba_err *err)
{
    const struct grid *g = j->g;
    const struct node *sel = msel->inner;
    struct storage *st = ev->o->storage;
    int64_t first = node_ref(ev, msel, g->start), last = node_ref(ev, msel, g->end);
    int rc = st->ops->select_each(st, sel->matchers, sel->nmatchers, sat_sub(first, msel->range_ms),
                                  last, range_each_begin, range_each_visit, j, err);
    /* the budget sees what select_span and eval_range_func charge for a
     * whole selection: every sample selected (charged now), one point per
     * step and series (step_series_new), then the samples left once the
     * staleness markers are out given back */
    int64_t raw = 0, kept = 0;
    for (size_t i = 0; i < j->nres; i++) {
        raw += (int64_t)j->nraw[i][0];
        kept += (int64_t)j->nraw[i][1];
    }
    budget_charge(g->budget, raw);
    if (!rc && budget_exceeded(g))
        rc = err_set(err, SABA_EEXEC, 0, EVAL_TOO_MANY_SAMPLES);
    size_t cap = 0;
    for (size_t i = 0; i < j->nres; i++) {
        if (!rc && j->res[i].labels.v) /* else never visited */
            set_push(out, &cap, j->res[i]);
        else
            series_data_free(&j->res[i]);
    }
    free(j->res);
    free(j->nraw);
    budget_charge(g->budget, -kept); /* the raw samples are gone */
    return rc ? rc : set_finish(out, err);
}

static int eval_range_func(struct ev *ev, const struct node *n, const struct func_sig *f,
                           const struct grid *g, struct series_set *out, struct saba_err *err)
{
    size_t mi = f->id == F_QUANTILE_OVER_TIME ? 1 : 0;
    const struct node *m = unparen(n->args[mi]), *msel = m;
    struct node slid;
    if (f->id == F_PREDICT_LINEAR && m->at != AT_NONE) {
        /* Prometheus evaluates predict_linear (which depends on the step's
         * time) at every step even with @, having turned the @ into an offset
         * from the query's start: the window slides with the steps, over
         * the samples the @ window selected (msel). */
        slid = *m;
        slid.at = AT_NONE;
        slid.offset_ms = m->offset_ms + (ev->qstart - node_ref(ev, m, ev->qstart) - m->offset_ms);
        m = &slid;
    }
    bool rolled_up;
    int rrc = eval_over_time_rollup(ev, m, f->id, g, out, &rolled_up, err);
    if (rolled_up || rrc)
        return rrc;
    double *a1 = NULL, *a2 = NULL;
    int rc = 0;
    if (f->id == F_QUANTILE_OVER_TIME || f->id == F_PREDICT_LINEAR || f->id == F_HOLT_WINTERS) {
        a1 = xmalloc(g->nsteps * sizeof *a1);
        rc = eval_scalar_steps(ev, n->args[f->id == F_QUANTILE_OVER_TIME ? 0 : 1], g, a1, err);
    }
    if (!rc && f->id == F_HOLT_WINTERS) {
        a2 = xmalloc(g->nsteps * sizeof *a2);
        rc = eval_scalar_steps(ev, n->args[2], g, a2, err);
        for (size_t k = 0; !rc && k < g->nsteps; k++) {
            if (!(a1[k] > 0 && a1[k] < 1))
                rc = err_set(err, SABA_EEXEC, 0,
                             "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", a1[k]);
            else if (!(a2[k] > 0 && a2[k] < 1))
                rc = err_set(err, SABA_EEXEC, 0,
                             "invalid trend factor. Expected: 0 < tf < 1, got: %f", a2[k]);
        }
    }
    /* with @ the call is evaluated once, at the query's start, as in Prometheus */
    bool fixed = m->at != AT_NONE;
    bool slide = (f->id == F_DERIV || f->id == F_PREDICT_LINEAR) && g->nsteps > 1 &&
                 (fixed || g->step < m->range_ms);
    struct range_job job = {.ev = ev,
                            .m = m,
                            .g = g,
                            .id = f->id,
                            .a1 = a1,
                            .a2 = a2,
                            .fixed = fixed,
                            .slide = slide,
                            .counter = f->id == F_RATE || f->id == F_INCREASE,
                            .range = m->range_ms};
    /* Over many steps the series are handed over one by one: the windows
     * of a range query read every sample, and they are read at once. An
     * instant query instead keeps each series' selected samples to store
     * its one value in (range_series' reuse), which costs less than a
     * separate one-point result per series. */
    if (!rc && g->nsteps > 1 && msel->type == NODE_MATRIX && f->id != F_ABSENT_OVER_TIME &&
        ev->o->storage->ops->select_each) {
        rc = range_each(ev, msel, &job, out, err);
        free(a1);
        free(a2);
        return rc;
    }
    struct series_set raw = {0};
    job.drop_stale = f->id != F_ABSENT_OVER_TIME && msel->type == NODE_MATRIX;
    if (!rc)
        rc = eval_range_source(ev, msel, g, !job.drop_stale, &raw, err); /* else the job does */
    if (rc) {
        free(a1);
        free(a2);
        series_set_free(&raw);
        return rc;
    }
    int64_t range = m->range_ms;
    size_t cap = 0;
    if (f->id == F_ABSENT_OVER_TIME) {
        /* 1 at the steps where no series has a sample in the window */
        bool *seen = xcalloc(g->nsteps, sizeof *seen);
        for (size_t i = 0; i < raw.n; i++) {
            const struct series_data *s = &raw.v[i];
            size_t lo = 0, hi = 0;
            for (size_t k = 0; k < g->nsteps; k++) {
                int64_t ref = node_ref(ev, m, grid_t(g, k));
                while (hi < s->n && s->t[hi] <= ref)
                    hi++;
                while (lo < hi && s->t[lo] < sat_sub(ref, range))
                    lo++;
                seen[k] |= lo < hi;
            }
        }
        struct series_data r = step_series_new(g);
        r.labels = absent_labels(m);
        for (size_t k = 0; k < g->nsteps; k++)
            if (!seen[k]) {
                r.t[r.n] = grid_t(g, k);
                r.v[r.n++] = 1;
            }
        free(seen);
        set_push(out, &cap, r);
        series_set_free(&raw);
        return set_finish(out, err);
    }
    job.raw = &raw;
    job.res = xcalloc(raw.n ? raw.n : 1, sizeof(struct series_data));
    par_for(raw.n, 64, range_job_run, &job);
    for (size_t i = 0; i < raw.n; i++)
        set_push(out, &cap, job.res[i]);
    free(job.res);
    free(a1);
    free(a2);
    series_set_free(&raw);
    budget_charge(g->budget, -atomic_load(&job.kept)); /* the raw samples are gone */
    return set_finish(out, err);
}

/* ---- functions over an instant vector ---- */

static double sgn(double v)
{
    return v < 0 ? -1 : v > 0 ? 1 : v;
}

/* Calendar fields of Unix time v (seconds), UTC, as Go's time package. */
static double date_value(enum func_id id, double v)
{
    if (!(v > -1e17 && v < 1e17))
        return NAN;
    time_t secs = (time_t)(int64_t)v;
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return NAN;
    switch (id) {
    case F_DAY_OF_MONTH:
        return tm.tm_mday;
    case F_DAY_OF_WEEK:
        return tm.tm_wday;
    case F_DAY_OF_YEAR:
        return tm.tm_yday + 1;
    case F_HOUR:
        return tm.tm_hour;
    case F_MINUTE:
        return tm.tm_min;
    case F_MONTH:
        return tm.tm_mon + 1;
    case F_YEAR:
        return tm.tm_year + 1900.0;
    case F_DAYS_IN_MONTH: {
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        long y = tm.tm_year + 1900L;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return days[tm.tm_mon] + (tm.tm_mon == 1 && leap);
    }
    default:
        return NAN;
    }
}

static bool map_value(enum func_id id, double v, double a1, double a2, double *out)
{
    switch (id) {
    case F_ABS:
        *out = fabs(v);
        break;
    case F_CEIL:
        *out = ceil(v);
        break;
    case F_FLOOR:
        *out = floor(v);
        break;
    case F_EXP:
        *out = exp(v);
        break;
    case F_LN:
        *out = log(v);
        break;
    case F_LOG2:
        *out = log2(v);
        break;
    case F_LOG10:
        *out = log10(v);
        break;
    case F_SQRT:
        *out = sqrt(v);
        break;
    case F_SGN:
        *out = sgn(v);
        break;
    case F_ACOS:
        *out = acos(v);
        break;
    case F_ACOSH:
        *out = acosh(v);
        break;
    case F_ASIN:
        *out = asin(v);
        break;
    case F_ASINH:
        *out = asinh(v);
        break;
    case F_ATAN:
        *out = atan(v);
        break;
    case F_ATANH:
        *out = atanh(v);
        break;
    case F_COS:
        *out = cos(v);
        break;
    case F_COSH:
        *out = cosh(v);
        break;
    case F_SIN:
        *out = sin(v);
        break;
    case F_SINH:
        *out = sinh(v);
        break;
    case F_TAN:
        *out = tan(v);
        break;
    case F_TANH:
        *out = tanh(v);
        break;
    case F_DEG:
        *out = v * 180 / M_PI;
        break;
    case F_RAD:
        *out = v * M_PI / 180;
        break;
    case F_CLAMP:
        if (a2 < a1)
            return false;
        *out = go_max(a1, go_min(a2, v));
        break;
    case F_CLAMP_MAX:
        *out = go_min(a1, v);
        break;
    case F_CLAMP_MIN:
        *out = go_max(a1, v);
        break;
    case F_ROUND: {
        double inv = 1.0 / a1;
        *out = floor(v * inv + 0.5) / inv;
        break;
    }
    case F_TIMESTAMP:
    case F_SORT:
    case F_SORT_DESC:
        *out = v;
        break;
    default:
        *out = date_value(id, v);
    }
    return true;
}

static int eval_map_func(struct ev *ev, const struct node *n, const struct func_sig *f,
                         const struct grid *g, struct series_set *out, struct saba_err *err)
{
    double *a1 = NULL, *a2 = NULL;
    int rc = 0;
    if (n->nargs > 1) {
        a1 = xmalloc(g->nsteps * sizeof *a1);
        rc = eval_scalar_steps(ev, n->args[1], g, a1, err);
    }
    if (!rc && n->nargs > 2) {
        a2 = xmalloc(g->nsteps * sizeof *a2);
        rc = eval_scalar_steps(ev, n->args[2], g, a2, err);
    }
    const struct node *arg = unparen(n->args[0]);
    if (!rc) {
        if (f->id == F_TIMESTAMP && arg->type == NODE_VECTOR)
            rc = eval_timestamp_selector(ev, arg, g, out, err);
        else
            rc = eval_grid(ev, arg, g, out, err);
    }
    bool keep_name = f->id == F_SORT || f->id == F_SORT_DESC;
    for (size_t i = 0; !rc && i < out->n; i++) {
        struct series_data *s = &out->v[i];
        size_t k = 0;
        for (size_t j = 0; j < s->n; j++) {
            size_t st = (size_t)((s->t[j] - g->start) / g->step);
            double v = s->v[j];
            if (f->id == F_TIMESTAMP && arg->type != NODE_VECTOR)
                v = (double)s->t[j] / 1000;
            double r;
            if (map_value(f->id, v,
                          f->id == F_ROUND && !a1 ? 1
                          : a1                    ? a1[st]
                                                  : 0,
                          a2 ? a2[st] : 0, &r)) {
                s->t[k] = s->t[j];
                s->v[k++] = r;
            }
        }
        s->n = k;
        if (!keep_name)
            labels_drop_name(&s->labels);
    }
    free(a1);
    free(a2);
    return rc ? rc : set_finish(out, err);
}

/* ---- label_replace and label_join ---- */

static bool is_label_name(const char *s)
{
    return *s && label_name_is_identifier(s, strlen(s));
}

/* Go's Regexp.ExpandString: $1, ${1}, $name, ${name}, $$. */
static void expand_template(struct buf *out, const char *tpl, const char *src, const PCRE2_SIZE *ov,
                            int ngroups, const pcre2_code *re)
{
    while (*tpl) {
        const char *dollar = strchr(tpl, '$');
        if (!dollar) {
            buf_puts(out, tpl);
            return;
        }
        buf_append(out, tpl, (size_t)(dollar - tpl));
        tpl = dollar + 1;
        if (*tpl == '$') {
            buf_putc(out, '$');
            tpl++;
            continue;
        }
        bool brace = *tpl == '{';
        const char *name = tpl + brace;
        size_t len = 0;
        while (name[len] &&
               (name[len] == '_' || (name[len] >= 'a' && name[len] <= 'z') ||
                (name[len] >= 'A' && name[len] <= 'Z') || (name[len] >= '0' && name[len] <= '9') ||
                (unsigned char)name[len] >= 0x80))
            len++;
        if (!len || (brace && name[len] != '}')) {
            buf_putc(out, '$'); /* malformed: the $ is literal text */
            continue;
        }
        tpl = name + len + brace;
        long num = 0;
        for (size_t i = 0; i < len; i++) {
            if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[i] - '0');
        }
        if (name[0] == '0' && len > 1)
            num = -1;
        if (num < 0) {
            /* a named group; names that are not groups expand to nothing */
            char nm[256];
            if (len >= sizeof nm)
                continue;
            memcpy(nm, name, len);
            nm[len] = 0;
            int idx = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
            if (idx <= 0)
                continue;
            num = idx;
        }
        if (num < ngroups && ov[2 * num] != PCRE2_UNSET)
            buf_append(out, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
}

static int eval_label_func(struct ev *ev, const struct node *n, const struct func_sig *f,
                           const struct grid *g, struct series_set *out, struct saba_err *err)
{
    const char *dst = unparen(n->args[1])->str;
    const char *fname = f->id == F_LABEL_REPLACE ? "label_replace" : "label_join";
    if (!is_label_name(dst))
        return err_set(err, SABA_EEXEC, 0, "invalid destination label name in %s(): %s", fname,
                       dst);
    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    if (f->id == F_LABEL_REPLACE) {
        struct buf pat = BUF_INIT;
        buf_printf(&pat, "^(?:%s)$", unparen(n->args[4])->str);
        int ec;
        PCRE2_SIZE eo;
        re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec,
                           &eo, NULL);
        buf_free(&pat);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return err_set(err, SABA_EEXEC, 0, "invalid regular expression in label_replace(): %s",
                           (const char *)msg);
        }
        md = pcre2_match_data_create_from_pattern(re, NULL);
    } else {
        for (size_t i = 3; i < n->nargs; i++) {
            const char *src = unparen(n->args[i])->str;
            if (!is_label_name(src))
                return err_set(err, SABA_EEXEC, 0, "invalid source label name in label_join(): %s",
                               src);
        }
    }
    int rc = eval_grid(ev, n->args[0], g, out, err);
    struct buf val = BUF_INIT;
    for (size_t i = 0; !rc && i < out->n; i++) {
        struct series_data *s = &out->v[i];
        buf_reset(&val);
        bool set = true;
        if (re) {
            const char *src = labels_get(&s->labels, unparen(n->args[3])->str);
            if (!src)
                src = "";
            int r = pcre2_match(re, (PCRE2_SPTR)src, strlen(src), 0, 0, md, NULL);
            set = r >= 0;
            if (set)
                expand_template(&val, unparen(n->args[2])->str, src, pcre2_get_ovector_pointer(md),
                                r, re);
        } else {
            const char *sep = unparen(n->args[2])->str;
            for (size_t j = 3; j < n->nargs; j++) {
                if (j > 3)
                    buf_puts(&val, sep);
                const char *v = labels_get(&s->labels, unparen(n->args[j])->str);
                buf_puts(&val, v ? v : "");
            }
        }
        if (!set)
            continue;
        struct lbuild b;
        lb_init(&b, &s->labels);
        lb_set(&b, dst, val.data ? val.data : "");
        struct labels nl = lb_done(&b);
        labels_free(&s->labels);
        s->labels = nl;
    }
    buf_free(&val);
    if (md)
        pcre2_match_data_free(md);
    if (re)
        pcre2_code_free(re);
    return rc ? rc : set_finish(out, err);
}

/* ---- histogram_quantile ---- */

struct bucket {
    double upper, count;
};

static int cmp_bucket(const void *pa, const void *pb)
{
    double a = ((const struct bucket *)pa)->upper, b = ((const struct bucket *)pb)->upper;
    return (a > b) - (a < b);
}

/* Prometheus' bucketQuantile. */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    size_t k = 0; /* coalesce buckets with the same upper bound */
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == b[k].upper)
            b[k].count += b[i].count;
        else
            b[++k] = b[i];
    }
    n = k + 1;
    double max = -INFINITY; /* make the counts monotonic */
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }
    if (n < 2)
        return NAN;
    double observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    double rank = q * observations;
    size_t i = 0; /* first bucket with count >= rank among the first n-1 */
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Go's strconv.ParseFloat accepts what strtod does, minus leading space. */
static bool parse_le(const char *s, double *out)
{
    if (!s || !*s || (unsigned char)*s <= ' ')
        return false;
    char *end;
    *out = strtod(s, &end);
    return *end == 0;
}

static int eval_histogram_quantile(struct ev *ev, const struct node *n, const struct grid *g,
                                   struct series_set *out, struct saba_err *err)
{
    double *q = xmalloc(g->nsteps * sizeof *q);
    struct series_set in = {0};
    int rc = eval_scalar_steps(ev, n->args[0], g, q, err);
    if (!rc)
        rc = eval_grid(ev, n->args[1], g, &in, err);
    if (rc) {
        free(q);
        series_set_free(&in);
        return rc;
    }
    /* group the bucket series by their labels without le and __name__ */
    struct outmap om;
    outmap_init(&om, g);
    size_t *group = xmalloc((in.n ? in.n : 1) * sizeof *group);
    double *upper = xmalloc((in.n ? in.n : 1) * sizeof *upper);
    size_t *cur = xcalloc(in.n ? in.n : 1, sizeof *cur);
    for (size_t i = 0; i < in.n; i++) {
        if (!parse_le(labels_get(&in.v[i].labels, "le"), &upper[i])) {
            group[i] = SIZE_MAX;
            continue;
        }
        struct lbuild b;
        lb_init(&b, &in.v[i].labels);
        lb_del(&b, LABEL_NAME);
        lb_del(&b, "le");
        struct labels key = lb_view(&b);
        group[i] = outmap_find_or_add(&om, &key);
    }
    size_t ng = om.set.n;
    struct bucket **bk = xcalloc(ng ? ng : 1, sizeof *bk);
    size_t *nb = xcalloc(ng ? ng : 1, sizeof *nb), *capb = xcalloc(ng ? ng : 1, sizeof *capb);
    for (size_t k = 0; k < g->nsteps; k++) {
        int64_t t = grid_t(g, k);
        for (size_t i = 0; i < in.n; i++) {
            const struct series_data *s = &in.v[i];
            if (group[i] == SIZE_MAX || cur[i] >= s->n || s->t[cur[i]] != t)
                continue;
            size_t gi = group[i];
            if (nb[gi] == capb[gi]) {
                capb[gi] = capb[gi] ? capb[gi] * 2 : 16;
                bk[gi] = xrealloc(bk[gi], capb[gi] * sizeof **bk);
            }
            bk[gi][nb[gi]++] = (struct bucket){upper[i], s->v[cur[i]++]};
        }
        for (size_t gi = 0; gi < ng; gi++) {
            if (!nb[gi])
                continue;
            outmap_add(&om, gi, k, bucket_quantile(q[k], bk[gi], nb[gi]));
            nb[gi] = 0;
        }
    }
    for (size_t gi = 0; gi < ng; gi++)
        free(bk[gi]);
    free(bk);
    free(nb);
    free(capb);
    free(group);
    free(upper);
    free(cur);
    free(q);
    series_set_free(&in);
    outmap_done(&om, out);
    return 0;
}

/* ---- the rest ---- */

static void step_series(const struct grid *g, struct series_set *out, struct labels ls,
                        const double *vals, const bool *present)
{
    struct series_data r = step_series_new(g);
    r.labels = ls;
    for (size_t k = 0; k < g->nsteps; k++) {
        if (present && !present[k])
            continue;
        r.t[r.n] = grid_t(g, k);
        r.v[r.n++] = vals ? vals[k] : 1;
    }
    size_t cap = 0;
    set_push(out, &cap, r);
}

int eval_call(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
              struct saba_err *err)
{
    const struct func_sig *f = func_lookup(n->func);
    if (!f)
        return err_set(err, SABA_EINVAL, 0, "unknown function with name \"%s\"", n->func);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < f->nargs && i < n->nargs; i++)
        if (f->args[i] == VAL_MATRIX)
            return eval_range_func(ev, n, f, g, out, err);
    switch (f->id) {
    case F_TIME:
    case F_PI: {
        double *vals = xmalloc(g->nsteps * sizeof *vals);
        for (size_t k = 0; k < g->nsteps; k++)
            vals[k] = f->id == F_PI ? M_PI : (double)grid_t(g, k) / 1000;
        step_series(g, out, labels_copy(NULL, 0), vals, NULL);
        free(vals);
        return 0;
    }
    case F_VECTOR:
    case F_SCALAR: {
        /* vector(s): s as an unlabeled series; scalar(v): the only element, or NaN */
        double *vals = xmalloc(g->nsteps * sizeof *vals);
        int rc;
        if (f->id == F_VECTOR) {
            rc = eval_scalar_steps(ev, n->args[0], g, vals, err);
        } else {
            struct series_set in = {0};
            rc = eval_grid(ev, n->args[0], g, &in, err);
            size_t *count = xcalloc(g->nsteps, sizeof *count);
            for (size_t i = 0; !rc && i < in.n; i++)
                for (size_t j = 0; j < in.v[i].n; j++) {
                    size_t k = (size_t)((in.v[i].t[j] - g->start) / g->step);
                    if (count[k]++ == 0)
                        vals[k] = in.v[i].v[j];
                }
            for (size_t k = 0; k < g->nsteps; k++)
                if (count[k] != 1)
                    vals[k] = NAN;
            free(count);
            series_set_free(&in);
        }
        if (!rc)
            step_series(g, out, labels_copy(NULL, 0), vals, NULL);
        free(vals);
        return rc;
    }
    case F_ABSENT: {
        struct series_set in = {0};
        int rc = eval_grid(ev, n->args[0], g, &in, err);
        if (rc) {
            series_set_free(&in);
            return rc;
        }
        bool *missing = xmalloc(g->nsteps * sizeof *missing);
        for (size_t k = 0; k < g->nsteps; k++)
            missing[k] = true;
        for (size_t i = 0; i < in.n; i++)
            for (size_t j = 0; j < in.v[i].n; j++)
                missing[(size_t)((in.v[i].t[j] - g->start) / g->step)] = false;
        series_set_free(&in);
        step_series(g, out, absent_labels(n->args[0]), NULL, missing);
        free(missing);
        return set_finish(out, err);
    }
    case F_DAYS_IN_MONTH:
    case F_DAY_OF_MONTH:
    case F_DAY_OF_WEEK:
    case F_DAY_OF_YEAR:
    case F_HOUR:
    case F_MINUTE:
    case F_MONTH:
    case F_YEAR:
        if (n->nargs == 0) { /* of vector(time()) */
            double *vals = xmalloc(g->nsteps * sizeof *vals);
            for (size_t k = 0; k < g->nsteps; k++)
                vals[k] = date_value(f->id, (double)(grid_t(g, k) / 1000));
            step_series(g, out, labels_copy(NULL, 0), vals, NULL);
            free(vals);
            return 0;
        }
        return eval_map_func(ev, n, f, g, out, err);
    case F_LABEL_REPLACE:
    case F_LABEL_JOIN:
        return eval_label_func(ev, n, f, g, out, err);
    case F_HISTOGRAM_QUANTILE:
        return eval_histogram_quantile(ev, n, g, out, err);
    default:
        return eval_map_func(ev, n, f, g, out, err);
    }
}
