/*
 * forecast.c - time to capacity (see forecast.h).
 *
 * Pipeline, all on at most FC_BUCKETS buckets of the window:
 *   1. bucket medians: one-sample outliers vanish, 7 days of 1-minute data
 *      become 360 points;
 *   2. daily cycle: a half-hour profile of (value - 1-day running median),
 *      subtracted when it explains a good part of the variance;
 *   3. changes: optimal partitioning into linear segments (least squares
 *      cost in units of the noise variance, a BIC-like penalty per segment,
 *      a minimum segment length), on values with isolated bucket spikes
 *      clipped;
 *   4. model: several drops after growth = sawtooth (trend of the peaks, or
 *      the current tooth if it fills before its next drop); several upward
 *      jumps that carry most of the growth = steps (trend through the
 *      segments' levels); otherwise a Huber
 *      line (or a parabola when the regime clearly accelerates) through the
 *      regime since the last change;
 *   5. the answer is when trend + daily peak + noise (the 95th percentile of
 *      the regime's residuals) reaches the capacity; never if the growth is
 *      not significantly positive.
 */
#include "analysis/forecast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define FC_BUCKETS  360 /* O(B^2) segmentation stays well under a millisecond */
#define DAY_S       86400.0
#define SEASON_BINS 48 /* half-hour profile of the daily cycle */
#define MIN_SEG     6  /* buckets: a regime shorter than this has no usable slope */
/* Penalty per extra segment, times log(B): BIC would be ~3 (slope, level,
 * location); real series are autocorrelated, so more evidence is asked for. */
#define SEG_PENALTY     6.0
#define DROP_SIGMAS     8.0 /* a fall this many noise sigmas between segments is a drop */
#define SIGNIFICANT_T   2.0 /* slope t-statistic below this: no growth */
#define ACCEL_T         6.0 /* curvature t-statistic above this: accelerating */
#define STEPS_MIN       3   /* upward jumps that make usage a staircase */
#define SEASON_AGREE    0.6 /* correlation of the two halves' profiles */
#define SEASON_STRENGTH 0.3 /* share of variance the daily profile must explain */
#define NOISE_QUANTILE  0.5 /* noise is measurement, not usage: the median residual */

const struct forecast_opts forecast_opts_default = {.window_ms = 7 * 86400000LL};

const char *forecast_model_name(enum forecast_model m)
{
    switch (m) {
    case FORECAST_FULL:
        return "full";
    case FORECAST_LINEAR:
        return "linear";
    case FORECAST_QUADRATIC:
        return "quadratic";
    case FORECAST_SAWTOOTH:
        return "sawtooth";
    case FORECAST_STEPS:
        return "steps";
    case FORECAST_FLAT:
        return "flat";
    }
    return "?";
}

/* k-th smallest of a[0..n) (reorders a). */
static double select_k(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

static double quantile(double *a, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(q * (double)(n - 1) + 0.5);
    return select_k(a, n, k < n ? k : n - 1);
}

static double median(double *a, size_t n)
{
    return quantile(a, n, 0.5);
}

/* Weighted least squares line y = a + b*t (t centered at tc). Returns 0 if
 * degenerate. */
struct line {
    double a, b, tc, sxx;
};

static int fit_line(const double *t, const double *y, const double *w, size_t n, struct line *l)
{
    double sw = 0, st = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        sw += wi;
        st += wi * t[i];
        sy += wi * y[i];
    }
    if (sw <= 0)
        return 0;
    double tc = st / sw, my = sy / sw, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1, dt = t[i] - tc;
        sxx += wi * dt * dt;
        sxy += wi * dt * (y[i] - my);
    }
    l->tc = tc;
    l->sxx = sxx;
    l->b = sxx > 0 ? sxy / sxx : 0;
    l->a = my;
    return 1;
}

static double line_at(const struct line *l, double t)
{
    return l->a + l->b * (t - l->tc);
}

/* Huber IRLS line; returns the robust residual scale in *scale and the lag-1
 * autocorrelation of the residuals in *rho. */
static void fit_huber(const double *t, const double *y, size_t n, double *scratch, double *w,
                      struct line *l, double *scale, double *rho)
{
    for (size_t i = 0; i < n; i++)
        w[i] = 1;
    double s = 0;
    fit_line(t, y, NULL, n, l);
    for (int it = 0; it < 5; it++) {
        for (size_t i = 0; i < n; i++)
            scratch[i] = fabs(y[i] - line_at(l, t[i]));
        s = 1.4826 * median(scratch, n);
        if (!(s > 0))
            break;
        for (size_t i = 0; i < n; i++) {
            double r = fabs(y[i] - line_at(l, t[i]));
            w[i] = r <= 1.345 * s ? 1 : 1.345 * s / r;
        }
        fit_line(t, y, w, n, l);
    }
    double num = 0, den = 0, prev = 0;
    for (size_t i = 0; i < n; i++) {
        double r = y[i] - line_at(l, t[i]);
        den += r * r;
        if (i)
            num += r * prev;
        prev = r;
    }
    double rr = den > 0 ? num / den : 0;
    *rho = rr < 0 ? 0 : rr > 0.95 ? 0.95 : rr;
    double sd = n > 2 ? sqrt(den / (double)(n - 2)) : 0;
    *scale = s > 0 ? (sd < 3 * s ? sd : 3 * s) : sd;
}

struct seg {
    size_t lo, hi; /* buckets [lo, hi) */
    struct line l;
};

/* Segment costs from prefix sums of 1, t, t^2, y, ty, y^2. */
struct prefix {
    double *n, *t, *tt, *y, *ty, *yy;
};

static double seg_cost(const struct prefix *p, size_t i, size_t j)
{
    double n = p->n[j] - p->n[i], st = p->t[j] - p->t[i], stt = p->tt[j] - p->tt[i];
    double sy = p->y[j] - p->y[i], sty = p->ty[j] - p->ty[i], syy = p->yy[j] - p->yy[i];
    double vt = stt - st * st / n, vy = syy - sy * sy / n, cty = sty - st * sy / n;
    double rss = vt > 1e-12 ? vy - cty * cty / vt : vy;
    return rss > 0 ? rss : 0;
}

/* Optimal partitioning of buckets [0, nb) into linear segments (least
 * squares cost in units of sigma^2, a penalty per extra segment, a minimum
 * length); writes the segments with their fitted lines, returns their count. */
static size_t segment(const double *bt, const double *yc, size_t nb, double sigma, struct seg *segs)
{
    double pre[6][FC_BUCKETS + 2];
    struct prefix p = {pre[0], pre[1], pre[2], pre[3], pre[4], pre[5]};
    double y0 = yc[nb - 1];
    for (int k = 0; k < 6; k++)
        pre[k][0] = 0;
    for (size_t i = 0; i < nb; i++) {
        double u = bt[i] / DAY_S, z = (yc[i] - y0) / sigma;
        p.n[i + 1] = p.n[i] + 1;
        p.t[i + 1] = p.t[i] + u;
        p.tt[i + 1] = p.tt[i] + u * u;
        p.y[i + 1] = p.y[i] + z;
        p.ty[i + 1] = p.ty[i] + u * z;
        p.yy[i + 1] = p.yy[i] + z * z;
    }
    size_t minseg = nb / 40 > MIN_SEG ? nb / 40 : MIN_SEG;
    double beta = SEG_PENALTY * log((double)nb + 1);
    double best[FC_BUCKETS + 2];
    size_t from[FC_BUCKETS + 2];
    best[0] = 0;
    for (size_t j = 1; j <= nb; j++) {
        best[j] = seg_cost(&p, 0, j);
        from[j] = 0;
        for (size_t i = minseg; i + minseg <= j; i++) {
            double c = best[i] + beta + seg_cost(&p, i, j);
            if (c < best[j]) {
                best[j] = c;
                from[j] = i;
            }
        }
    }
    size_t bounds[FC_BUCKETS + 2], nbnd = 0, nseg = 0;
    for (size_t j = nb; j > 0; j = from[j])
        bounds[nbnd++] = j;
    bounds[nbnd++] = 0;
    for (size_t k = nbnd - 1; k > 0; k--) {
        struct seg *s = &segs[nseg++];
        s->lo = bounds[k];
        s->hi = bounds[k - 1];
        fit_line(bt + s->lo, yc + s->lo, NULL, s->hi - s->lo, &s->l);
    }
    return nseg;
}

/* A parabola y = a + b d + c (d^2 - mean d^2), d = t - tc, through buckets
 * [lo, nb). Returns 1 if its curvature c is positive with a t-statistic
 * above ACCEL_T (residual autocorrelation inflating the error by infl), and
 * the fitted level and slope at t = 0 (the last sample). */
struct quad {
    double c2, se_c2, level, slope;
};

static int fit_quad(const double *bt, const double *y, size_t lo, size_t nb, double infl,
                    struct quad *q)
{
    double nn = (double)(nb - lo), s2 = 0, s3 = 0, s4 = 0, sy = 0, sty = 0, st2y = 0, my = 0;
    double tc = 0; /* the plain mean time: the normal equations below assume sum(d) = 0 */
    if (nb - lo < 4 * MIN_SEG)
        return 0;
    for (size_t i = lo; i < nb; i++) {
        my += y[i];
        tc += bt[i];
    }
    my /= nn;
    tc /= nn;
    for (size_t i = lo; i < nb; i++) {
        double d = bt[i] - tc, dd = d * d, yy = y[i] - my;
        s2 += dd;
        s3 += dd * d;
        s4 += dd * dd;
        sy += yy;
        sty += d * yy;
        st2y += dd * yy;
    }
    double q2 = s4 - s2 * s2 / nn, q1 = s3, det = s2 * q2 - q1 * q1;
    if (!(det > 0 && s2 > 0))
        return 0;
    double cy = st2y - s2 * sy / nn;
    double c2 = (s2 * cy - q1 * sty) / det, b2 = (q2 * sty - q1 * cy) / det, rss = 0;
    for (size_t i = lo; i < nb; i++) {
        double d = bt[i] - tc, yy = y[i] - my, f = b2 * d + c2 * (d * d - s2 / nn);
        rss += (yy - f) * (yy - f);
    }
    q->c2 = c2;
    q->se_c2 = sqrt(rss / (nn - 3 > 1 ? nn - 3 : 1)) * sqrt(s2 / det) * infl;
    q->level = my - b2 * tc + c2 * (tc * tc - s2 / nn);
    q->slope = b2 - 2 * c2 * tc;
    return c2 > 0 && q->se_c2 > 0 && c2 / q->se_c2 > ACCEL_T;
}

/* First time in [from, from + 1 day] (seconds after the last sample, 5-minute
 * steps) when trend + daily profile + noise reaches capacity; from + 1 day if
 * none (the trend keeps growing, so the next day's peak does). */
static double first_touch(double t_end_s, double from, double level, double slope, double c2,
                          double noise, const double *prof, double capacity)
{
    for (double tau = from; tau <= from + DAY_S; tau += 300) {
        int b = (int)(fmod(t_end_s + tau, DAY_S) / (DAY_S / SEASON_BINS));
        b = b < 0 ? 0 : b >= SEASON_BINS ? SEASON_BINS - 1 : b;
        if (level + slope * tau + c2 * tau * tau + prof[b] + noise >= capacity)
            return tau;
    }
    return from + DAY_S;
}

int forecast_run(const int64_t *t, const double *x, size_t n, double capacity,
                 const struct forecast_opts *o, struct forecast_result *r, struct saba_err *e)
{
    if (!isfinite(capacity))
        return err_set(e, SABA_EINVAL, 0, "capacity must be a finite number");
    if (n == 0)
        return err_set(e, SABA_EINVAL, 0, "no samples");
    for (size_t i = 1; i < n; i++)
        if (t[i] <= t[i - 1])
            return err_set(e, SABA_EINVAL, 0, "sample times must be strictly increasing");
    int64_t window = o && o->window_ms > 0 ? o->window_ms : forecast_opts_default.window_ms;
    const int64_t t_end = t[n - 1];
    size_t i0 = n;
    while (i0 > 0 && t[i0 - 1] >= t_end - window)
        i0--;

    /* finite samples of the window, time in seconds relative to the last sample */
    size_t m = 0;
    for (size_t i = i0; i < n; i++)
        m += isfinite(x[i]) != 0;
    if (m < 3)
        return err_set(e, SABA_EINVAL, 0,
                       "need at least 3 numeric samples in the window, found %zu", m);
    double *ps = xmalloc(m * sizeof *ps), *px = xmalloc(m * sizeof *px);
    double *scratch = xmalloc(m * sizeof *scratch), *wts = xmalloc(m * sizeof *wts);
    m = 0;
    for (size_t i = i0; i < n; i++)
        if (isfinite(x[i])) {
            ps[m] = (double)(t[i] - t_end) / 1000.0;
            px[m] = x[i];
            m++;
        }
    memset(r, 0, sizeof *r);
    r->capacity = capacity;
    r->last_ms = t_end;
    r->samples = m;
    r->window_start_ms = t_end + (int64_t)llround(ps[0] * 1000);
    r->regime_start_ms = r->window_start_ms;
    r->regime_samples = m;
    const double t_end_s = (double)t_end / 1000.0;

    /* full now: the last sample and the median of the last three (so that
     * one outlier does not make a disk "full") */
    double tail3[3] = {px[m - 1], px[m - 2], px[m - 3]};
    if (px[m - 1] >= capacity && median(tail3, 3) >= capacity) {
        r->model = FORECAST_FULL;
        r->level = px[m - 1];
        goto out;
    }

    /* 1. bucket medians */
    double span = -ps[0];
    for (size_t i = 1; i < m; i++)
        scratch[i - 1] = ps[i] - ps[i - 1];
    double dt_med = median(scratch, m - 1);
    double bw = span / FC_BUCKETS > dt_med ? span / FC_BUCKETS : dt_med;
    static const size_t nbmax = FC_BUCKETS + 1;
    double bt[FC_BUCKETS + 1] = {0}, by[FC_BUCKETS + 1] = {0}, yc[FC_BUCKETS + 1] = {0};
    double prof_b[FC_BUCKETS + 1];
    size_t bfirst[FC_BUCKETS + 2];
    size_t nb = 0;
    for (size_t i = 0; i < m;) {
        size_t k = (size_t)((ps[i] - ps[0]) / bw);
        if (k >= nbmax)
            k = nbmax - 1;
        size_t j = i;
        double st = 0;
        while (j < m) {
            size_t kj = (size_t)((ps[j] - ps[0]) / bw);
            if ((kj >= nbmax ? nbmax - 1 : kj) != k)
                break;
            scratch[j - i] = px[j];
            st += ps[j];
            j++;
        }
        bfirst[nb] = i;
        bt[nb] = st / (double)(j - i);
        by[nb] = median(scratch, j - i);
        nb++;
        i = j;
    }
    bfirst[nb] = m;

    /* 2. daily cycle */
    double prof[SEASON_BINS] = {0};
    int seasonal = 0;
    size_t wd = (size_t)(DAY_S / bw + 0.5);
    if (span >= 2 * DAY_S && bw <= DAY_S / SEASON_BINS * 1.5 && nb >= 3 * wd / 2) {
        /* detrend by a moving average over exactly one day: it removes a
         * daily cycle and follows a linear trend (a running median would
         * return the series itself wherever growth makes it monotonic) */
        double res[FC_BUCKETS + 1], cum[FC_BUCKETS + 2];
        int valid[FC_BUCKETS + 1];
        cum[0] = 0;
        for (size_t i = 0; i < nb; i++)
            cum[i + 1] = cum[i] + by[i];
        for (size_t i = 0; i < nb; i++) {
            valid[i] = i >= wd / 2 && i - wd / 2 + wd <= nb;
            res[i] = valid[i] ? by[i] - (cum[i - wd / 2 + wd] - cum[i - wd / 2]) / (double)wd : 0;
        }
        double bins[SEASON_BINS][FC_BUCKETS / 8 + 8];
        size_t cnt[SEASON_BINS] = {0};
        for (size_t i = 0; i < nb; i++) {
            int b = (int)(fmod(t_end_s + bt[i], DAY_S) / (DAY_S / SEASON_BINS));
            b = b < 0 ? 0 : b >= SEASON_BINS ? SEASON_BINS - 1 : b;
            if (valid[i] && cnt[b] < FC_BUCKETS / 8 + 8)
                bins[b][cnt[b]++] = res[i];
        }
        double mean = 0;
        int used = 0;
        for (int b = 0; b < SEASON_BINS; b++)
            if (cnt[b] >= 2) {
                prof[b] = median(bins[b], cnt[b]);
                mean += prof[b];
                used++;
            }
        if (used >= SEASON_BINS / 2) {
            mean /= used;
            double v0 = 0, v1 = 0;
            for (int b = 0; b < SEASON_BINS; b++)
                prof[b] = cnt[b] >= 2 ? prof[b] - mean : 0;
            for (size_t i = 0; i < nb; i++) {
                int b = (int)(fmod(t_end_s + bt[i], DAY_S) / (DAY_S / SEASON_BINS));
                b = b < 0 ? 0 : b >= SEASON_BINS ? SEASON_BINS - 1 : b;
                if (!valid[i])
                    continue;
                v0 += res[i] * res[i];
                v1 += (res[i] - prof[b]) * (res[i] - prof[b]);
            }
            seasonal = v0 > 0 && 1 - v1 / v0 >= SEASON_STRENGTH;
            /* a daily cycle repeats: the profiles of the two halves of the
             * window must agree (a deploy's step leaves a shape in one only) */
            double ha[SEASON_BINS] = {0}, hb[SEASON_BINS] = {0};
            int ca[SEASON_BINS] = {0}, cb[SEASON_BINS] = {0};
            for (size_t i = 0; i < nb; i++) {
                int b = (int)(fmod(t_end_s + bt[i], DAY_S) / (DAY_S / SEASON_BINS));
                b = b < 0 ? 0 : b >= SEASON_BINS ? SEASON_BINS - 1 : b;
                if (!valid[i])
                    continue;
                if (i < nb / 2) {
                    ha[b] += res[i];
                    ca[b]++;
                } else {
                    hb[b] += res[i];
                    cb[b]++;
                }
            }
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, k = 0;
            for (int b = 0; b < SEASON_BINS; b++)
                if (ca[b] && cb[b]) {
                    double u = ha[b] / ca[b], v = hb[b] / cb[b];
                    sa += u;
                    sb += v;
                    saa += u * u;
                    sbb += v * v;
                    sab += u * v;
                    k++;
                }
            double va = saa - sa * sa / (k > 0 ? k : 1), vb = sbb - sb * sb / (k > 0 ? k : 1);
            double corr = va > 0 && vb > 0 ? (sab - sa * sb / k) / sqrt(va * vb) : 0;
            seasonal = seasonal && k >= SEASON_BINS / 2 && corr >= SEASON_AGREE;
        }
        if (!seasonal)
            memset(prof, 0, sizeof prof);
    }
    double pmin = 0, pmax = 0;
    for (int b = 0; b < SEASON_BINS; b++) {
        pmin = prof[b] < pmin ? prof[b] : pmin;
        pmax = prof[b] > pmax ? prof[b] : pmax;
    }
    r->seasonal_amplitude = pmax - pmin;
    for (size_t i = 0; i < nb; i++) {
        int b = (int)(fmod(t_end_s + bt[i], DAY_S) / (DAY_S / SEASON_BINS));
        b = b < 0 ? 0 : b >= SEASON_BINS ? SEASON_BINS - 1 : b;
        prof_b[i] = prof[b];
        by[i] -= prof[b];
    }

    /* noise sigma from second differences (blind to trends and slow cycles) */
    double sigma = 0;
    if (nb >= 3) {
        double d2[FC_BUCKETS + 1];
        for (size_t i = 1; i + 1 < nb; i++)
            d2[i - 1] = fabs(by[i + 1] - 2 * by[i] + by[i - 1]);
        sigma = 1.4826 * median(d2, nb - 2) / sqrt(6.0);
    }
    {
        double lo = by[0], hi = by[0];
        for (size_t i = 0; i < nb; i++) {
            lo = by[i] < lo ? by[i] : lo;
            hi = by[i] > hi ? by[i] : hi;
        }
        double fl = 1e-9 * (fabs(lo) + fabs(hi)) + 1e-300;
        if (!(sigma > fl))
            sigma = fl > 1e-3 * (hi - lo) ? fl : 1e-3 * (hi - lo);
    }
    /* clip isolated bucket spikes to 5 sigma around a 5-bucket running median */
    for (size_t i = 0; i < nb; i++) {
        double win[5];
        size_t lo = i >= 2 ? i - 2 : 0, hi = i + 3 < nb ? i + 3 : nb;
        memcpy(win, by + lo, (hi - lo) * sizeof *win);
        double md = median(win, hi - lo);
        yc[i] = by[i] > md + 5 * sigma   ? md + 5 * sigma
                : by[i] < md - 5 * sigma ? md - 5 * sigma
                                         : by[i];
    }

    /* 3. segmentation, twice: with the noise of the second differences, then
     * with the noise left around that first piecewise fit (leftover cycle,
     * wander), inflated for its lag-1 autocorrelation as a CUSUM test would
     * be, so that autocorrelated noise is not cut into many "regimes" */
    struct seg segs[FC_BUCKETS / MIN_SEG + 2];
    size_t nseg = segment(bt, yc, nb, sigma, segs);
    double sigma_seg = sigma;
    {
        double res[FC_BUCKETS + 1] = {0}, ares[FC_BUCKETS + 1] = {0};
        for (size_t k = 0; k < nseg; k++)
            for (size_t i = segs[k].lo; i < segs[k].hi; i++) {
                res[i] = yc[i] - line_at(&segs[k].l, bt[i]);
                ares[i] = fabs(res[i]);
            }
        double s = 1.4826 * median(ares, nb), num = 0, den = 0;
        for (size_t i = 0; i < nb; i++) {
            double r1 = fabs(res[i]) < 3 * s ? res[i] : 0;
            den += r1 * r1;
            if (i)
                num += r1 * (fabs(res[i - 1]) < 3 * s ? res[i - 1] : 0);
        }
        double rho = den > 0 ? num / den : 0;
        rho = rho < 0 ? 0 : rho > 0.9 ? 0.9 : rho;
        if (s > sigma_seg)
            sigma_seg = s;
        sigma_seg *= sqrt((1 + rho) / (1 - rho));
    }
    if (sigma_seg > sigma * 1.05)
        nseg = segment(bt, yc, nb, sigma_seg, segs);
    r->changes = (int)nseg - 1;

    /* drops between segments */
    size_t drop_at[FC_BUCKETS / MIN_SEG + 2];
    int ndrops = 0, grow_before = 0, nups = 0;
    double jump_rise = 0, seg_rise = 0;
    for (size_t k = 0; k + 1 < nseg; k++) {
        double end = line_at(&segs[k].l, bt[segs[k].hi - 1]);
        double start = line_at(&segs[k + 1].l, bt[segs[k + 1].lo]);
        if (end - start > DROP_SIGMAS * sigma_seg) {
            drop_at[ndrops++] = k;
            grow_before += segs[k].l.b > 0;
        }
        if (start - end > DROP_SIGMAS * sigma_seg) {
            nups++;
            jump_rise += start - end;
        }
    }
    for (size_t k = 0; k < nseg; k++)
        seg_rise += segs[k].l.b * (bt[segs[k].hi - 1] - bt[segs[k].lo]);
    r->drops = ndrops;

    /* the regime: the last segment, or, when the last segments' slopes keep
     * increasing without jumps between them and a parabola fits them well,
     * that whole accelerating stretch */
    size_t rlo = segs[nseg - 1].lo;
    struct line fit;
    double scale, rho;
    struct quad qd = {0};
    int quad = 0;
    if (ndrops < 2) {
        size_t k = nseg - 1;
        while (k > 0 && segs[k - 1].l.b < segs[k].l.b &&
               fabs(line_at(&segs[k - 1].l, bt[segs[k - 1].hi - 1]) -
                    line_at(&segs[k].l, bt[segs[k].lo])) < DROP_SIGMAS * sigma_seg)
            k--;
        if (nseg - k >= 3) {
            fit_huber(bt + segs[k].lo, yc + segs[k].lo, nb - segs[k].lo, scratch, wts, &fit, &scale,
                      &rho);
            if (fit_quad(bt, yc, segs[k].lo, nb, sqrt((1 + rho) / (1 - rho)), &qd)) {
                quad = 1;
                rlo = segs[k].lo;
            }
        }
    }
    size_t rn = nb - rlo;
    r->regime_start_ms = t_end + (int64_t)llround(ps[bfirst[rlo]] * 1000);
    r->regime_samples = m - bfirst[rlo];
    fit_huber(bt + rlo, yc + rlo, rn, scratch, wts, &fit, &scale, &rho);
    double infl = sqrt((1 + rho) / (1 - rho));
    double se_b = fit.sxx > 0 ? scale / sqrt(fit.sxx) * infl : INFINITY;
    double level = line_at(&fit, 0), slope = fit.b;
    double se_level =
        scale * infl * sqrt(1.0 / (double)rn + fit.tc * fit.tc / (fit.sxx > 0 ? fit.sxx : 1));

    /* noise headroom: residuals of the regime's raw samples above trend + cycle */
    size_t nr = 0;
    for (size_t b = rlo; b < nb; b++)
        for (size_t i = bfirst[b]; i < bfirst[b + 1]; i++)
            scratch[nr++] = px[i] - prof_b[b] - line_at(&fit, ps[i]);
    double noise = quantile(scratch, nr, NOISE_QUANTILE);
    if (noise < 0)
        noise = 0;
    double headroom = pmax + noise;
    r->headroom = headroom;

    /* accelerating regime: a significant positive curvature */
    if (!quad)
        quad = fit_quad(bt, yc, rlo, nb, infl, &qd);
    double c2 = quad ? qd.c2 : 0, se_c2 = quad ? qd.se_c2 : 0, b_now = slope;
    if (quad) {
        level = qd.level;
        b_now = qd.slope;
    }
    double need = capacity - headroom - level;
    r->level = level;

    if (nups >= STEPS_MIN && nups > 2 * ndrops && jump_rise > (seg_rise > 0 ? seg_rise : 0)) {
        /* steps: usage grows in jumps (batch jobs, preallocation) and is
         * flat in between, so the regime since the last jump says nothing
         * about growth; the trend through every segment's level does */
        double pt[FC_BUCKETS / MIN_SEG + 2] = {0}, pv[FC_BUCKETS / MIN_SEG + 2] = {0};
        for (size_t k = 0; k < nseg; k++) {
            pt[k] = 0.5 * (bt[segs[k].lo] + bt[segs[k].hi - 1]);
            pv[k] = line_at(&segs[k].l, pt[k]);
        }
        struct line env;
        fit_line(pt, pv, NULL, nseg, &env);
        double res = 0;
        for (size_t k = 0; k < nseg; k++)
            res += (pv[k] - line_at(&env, pt[k])) * (pv[k] - line_at(&env, pt[k]));
        double se = env.sxx > 0 && nseg > 2 ? sqrt(res / (double)(nseg - 2) / env.sxx) : env.b;
        double left = capacity - headroom - level;
        r->model = FORECAST_STEPS;
        r->slope = env.b;
        r->slope_lo = env.b - 2 * se;
        r->slope_hi = env.b + 2 * se;
        r->regime_start_ms = r->window_start_ms;
        r->regime_samples = m;
        if (!(env.b > 0)) {
            r->model = FORECAST_FLAT;
            r->seconds = r->seconds_hi = INFINITY;
            r->seconds_lo = r->slope_hi > 0 ? left / r->slope_hi : INFINITY;
        } else {
            r->seconds = left > 0 ? left / env.b : 0;
            r->seconds_lo = left > 0 ? left / r->slope_hi : 0;
            r->seconds_hi = r->slope_lo > 0 && left > 0 ? left / r->slope_lo : INFINITY;
            if (left <= 0)
                r->seconds_hi = 0;
        }
        goto out;
    }

    if (ndrops >= 2 && grow_before >= 2) {
        /* sawtooth: peaks before each drop */
        double pt[FC_BUCKETS / MIN_SEG + 2], pv[FC_BUCKETS / MIN_SEG + 2];
        for (int k = 0; k < ndrops; k++) {
            const struct seg *s = &segs[drop_at[k]];
            pt[k] = bt[s->hi - 1];
            pv[k] = line_at(&s->l, pt[k]);
        }
        struct line env;
        fit_line(pt, pv, NULL, (size_t)ndrops, &env);
        double period = (pt[ndrops - 1] - pt[0]) / (ndrops - 1);
        double since = -pt[ndrops - 1];
        double to_drop = period - since > 0 ? period - since : 0;
        r->model = FORECAST_SAWTOOTH;
        double tooth = slope > 0 && need > 0 ? need / slope : need <= 0 ? 0 : INFINITY;
        if (tooth <= to_drop * 1.1) {
            r->seconds = tooth;
            r->slope = slope;
            r->slope_lo = slope - 2 * se_b;
            r->slope_hi = slope + 2 * se_b;
            r->seconds_lo = tooth * 0.5;
            r->seconds_hi = to_drop * 1.1 > tooth ? to_drop * 1.1 : tooth;
        } else {
            double peak_now = line_at(&env, 0);
            double left = capacity - noise - peak_now;
            r->slope = env.b;
            r->slope_lo = env.b * 0.5;
            r->slope_hi = env.b * 1.5;
            if (env.b <= 0 || left <= 0) {
                r->seconds = left <= 0 ? to_drop : INFINITY;
                r->seconds_lo = left <= 0 ? 0 : to_drop;
                r->seconds_hi = INFINITY;
                if (left > 0)
                    r->model = FORECAST_FLAT;
            } else {
                r->seconds = left / env.b;
                r->seconds_lo = left / (env.b * 1.5);
                r->seconds_hi = left / (env.b * 0.5);
            }
        }
        goto out;
    }

    r->model = quad ? FORECAST_QUADRATIC : FORECAST_LINEAR;
    r->slope = b_now;
    r->slope_lo = b_now - 2 * se_b;
    r->slope_hi = b_now + 2 * se_b;
    if (need <= 0 && seasonal) {
        r->seconds_lo = 0;
        r->seconds = first_touch(t_end_s, 0, level, b_now, c2, noise, prof, capacity);
        r->seconds_hi = r->seconds;
        goto out;
    }
    if (need <= 0) {
        r->seconds = r->seconds_lo = 0;
        r->seconds_hi = r->slope_lo > 0 ? (need + 2 * se_level) / r->slope_lo : INFINITY;
        if (r->seconds_hi < 0)
            r->seconds_hi = 0;
        goto out;
    }
    if (!(slope > 0) || (!quad && slope < SIGNIFICANT_T * se_b)) {
        r->model = FORECAST_FLAT;
        r->seconds = INFINITY;
        r->seconds_lo = r->slope_hi > 0
                            ? (need - 2 * se_level > 0 ? need - 2 * se_level : 0) / r->slope_hi
                            : INFINITY;
        r->seconds_hi = INFINITY;
        goto out;
    }
    if (quad) {
        double bq = b_now;
        r->seconds = (-bq + sqrt(bq * bq + 4 * c2 * need)) / (2 * c2);
        double ch = c2 + 2 * se_c2, cl = c2 - 2 * se_c2;
        r->seconds_lo = (-bq + sqrt(bq * bq + 4 * ch * need)) / (2 * ch);
        r->seconds_hi = cl > 0   ? (-bq + sqrt(bq * bq + 4 * cl * need)) / (2 * cl)
                        : bq > 0 ? need / bq
                                 : INFINITY;
    } else {
        r->seconds = need / slope;
        double nlo = need - 2 * se_level > 0 ? need - 2 * se_level : 0;
        r->seconds_lo = nlo / r->slope_hi;
        r->seconds_hi = r->slope_lo > 0 ? (need + 2 * se_level) / r->slope_lo : INFINITY;
    }
    /* with a daily cycle, the trend meets capacity - (daily peak) first, but
     * the series touches the capacity at the next daily peak: walk there */
    if (seasonal && isfinite(r->seconds))
        r->seconds = first_touch(t_end_s, r->seconds, level, b_now, c2, noise, prof, capacity);
out:
    free(ps);
    free(px);
    free(scratch);
    free(wts);
    return 0;
}
