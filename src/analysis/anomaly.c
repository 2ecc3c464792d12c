/*
 * anomaly.c - streaming anomaly score (see anomaly.h).
 *
 * The detectors' outputs are z-like numbers (multiples of the series' own
 * typical deviation); the score is the largest of them mapped through
 * 1 - exp(-(z - 3)/3): nothing below 3 "sigmas", 0.5 at about 5, 0.9 at 10.
 * Scales are running means of absolute residuals updated with residuals
 * clipped at a few times the current scale, so one spike does not make the
 * next one look normal, while a real variance change is learnt within ~100
 * samples.
 */
#include "analysis/anomaly.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/changefinder.h"
#include "analysis/sdar.h"
#include "base/alloc.h"

#define AN_MAGIC        "SBAN"
#define AN_VERSION      1
#define AN_BINS         48    /* half-hour daily profile, linearly interpolated */
#define AN_WARMUP       30    /* samples before any score */
#define AN_AR_DISCOUNT  0.02  /* one-step predictors forget with ~50 samples' memory */
#define AN_SCALE_ALPHA  0.02  /* residual scale memory, samples */
#define AN_CLIP         5.0   /* residuals clipped at this many scales when learning the scale */
#define AN_LEVEL_ALPHA  0.01  /* level of the deseasonalized series, ~100 samples */
#define AN_GATE_ALPHA   0.002 /* slow scales for the seasonal gate */
#define AN_BIAS_ALPHA   0.05  /* residual bias: ~20 samples */
#define AN_EXC          4.0   /* z above this is an exceedance: rare for a well-behaved series */
#define AN_EXC_RATE     0.001 /* memory of the exceedance rate: ~1000 samples */
#define AN_EXC_MAG      0.2   /* memory of exceedance magnitudes: ~5 events */
#define AN_EXC_EVENTS   4.0   /* exceedances in memory before any are "routine" ... */
#define AN_EXC_FULL     10.0  /* ... and from how many fully */
#define AN_CF_ALPHA     0.005 /* running level of ChangeFinder's score */
#define AN_SEASON_DAYS  2.0   /* history needed before the daily profile is trusted */
#define AN_SEASON_RATIO 1.1   /* deseasonalized residuals at most this much of the raw ones */
/* |e| / mean|e| of a Gaussian is |e| / (sigma sqrt(2/pi)): rescale to sigmas */
#define MAD_TO_SIGMA 1.2533141373155001

struct predictor {
    struct sdar ar;
    double store[4]; /* sdar_storage(1) */
    double scale;    /* running mean |residual| */
};

struct anomaly {
    struct predictor px, pr; /* on x, and on x minus its daily profile */
    struct changefinder *cf;
    double cf_mean, cf_var;
    double ex_rate;        /* running rate of exceedance onsets (z > AN_EXC) */
    double rbase, rdev;    /* level of x minus profile, and mean |deviation| from it */
    double bias, bias_dev; /* running mean of the raw predictor's residuals, its mean |.| */
    double gx, gr;         /* slow mean |residual| of both predictors: is the profile useful? */
    double dt;             /* typical spacing, seconds */
    float ex_m, ex_s2;     /* mean and variance of log z at exceedance onsets */
    int64_t t_last;
    uint32_t n;            /* samples, saturating (only warm-ups look at it) */
    uint8_t over;          /* the previous sample's z was above q */
    double pref;           /* the profile is kept as float offsets from this (the first x) */
    float prof[AN_BINS];   /* daily profile, half-hour bins */
    uint8_t pcnt[AN_BINS]; /* visits, saturating */
};

static void pred_init(struct predictor *p)
{
    sdar_init(&p->ar, 1, AN_AR_DISCOUNT, p->store);
    p->scale = 0;
}

/* Learn v; return |residual| in sigmas of the predictor's own residuals and
 * the signed residual, clipped at AN_CLIP scales once the scale is known,
 * in *res: what the slower detectors see, so that one burst moves them by a
 * bounded amount while a lasting change still moves them all the way. */
static double pred_update(struct predictor *p, double v, double tiny, double *res)
{
    double z = 0;
    *res = 0;
    if (p->ar.n > 0) {
        uint64_t m = p->ar.n; /* residuals so far, this one included */
        double d = v - sdar_predict(&p->ar);
        d = d > 1e300 ? 1e300 : d < -1e300 ? -1e300 : d;
        double e = fabs(d), lim = AN_CLIP * p->scale;
        *res = m <= 20 ? d : d > lim ? lim : d < -lim ? -lim : d;
        if (m > 10)
            z = e / (MAD_TO_SIGMA * p->scale + tiny);
        if (m <= 20)
            p->scale += (e - p->scale) / (double)m;
        else
            p->scale +=
                AN_SCALE_ALPHA * ((e < AN_CLIP * p->scale ? e : AN_CLIP * p->scale) - p->scale);
    }
    sdar_update(&p->ar, v);
    return z;
}

struct anomaly *anomaly_new(void)
{
    struct anomaly *a = xcalloc(1, sizeof *a);
    pred_init(&a->px);
    pred_init(&a->pr);
    struct cf_params p = cf_params_default;
    a->cf = cf_new(&p);
    return a;
}

void anomaly_free(struct anomaly *a)
{
    if (!a)
        return;
    cf_free(a->cf);
    free(a);
}

size_t anomaly_state_bytes(const struct anomaly *a)
{
    return sizeof *a + cf_state_bytes(a->cf);
}

/* Expected value from the profile at time of day tod (seconds); the two
 * neighbouring bins and the weight of the second. */
static void bins_of(int64_t t_ms, int *b0, int *b1, double *f)
{
    int64_t tod = (t_ms / 1000) % 86400;
    double h = (double)(tod < 0 ? tod + 86400 : tod) / (86400.0 / AN_BINS) - 0.5;
    if (h < 0)
        h += AN_BINS;
    int i = (int)h;
    *f = h - i;
    *b0 = i % AN_BINS;
    *b1 = (i + 1) % AN_BINS;
}

static double zmap(double z)
{
    if (!(z > 3))
        return 0;
    if (z > 1e6)
        z = 1e6;
    return 1 - exp(-(z - 3) / 3);
}

/* ln of the upper tail of the standard normal, Q(u) = P(U > u), without
 * underflow for large u (asymptotic expansion beyond 5). */
static double ln_q(double u)
{
    if (u < 5)
        return log(0.5 * erfc(u / sqrt(2.0)));
    return -0.5 * u * u - log(u * 2.5066282746310002);
}

/* The series' own tail. Exceedances (z > AN_EXC) are counted (their onsets:
 * a lasting anomaly counts once) and their magnitudes remembered (log z).
 * When they are frequent - a bursty series - a surprise is only as unusual
 * as P(an exceedance at least this big) = rate * P(log z above the usual
 * ones), expressed again in Gaussian sigmas (sqrt(-2 ln p)); a well-behaved
 * series has almost no exceedances and keeps z as it is. */
static double routine(struct anomaly *a, double z)
{
    double zeff = z;
    double events = a->ex_rate / AN_EXC_RATE; /* exceedances in memory */
    double w = (events - AN_EXC_EVENTS) / (AN_EXC_FULL - AN_EXC_EVENTS);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    if (z > AN_EXC && w > 0) {
        double s = sqrt(a->ex_s2) > 0.15 ? sqrt(a->ex_s2) : 0.15;
        double lr = log(a->ex_rate * w) + ln_q((log(z) - a->ex_m) / s);
        if (lr > -0.5 * z * z)
            zeff = sqrt(-2 * lr);
    }
    int over = z > AN_EXC;
    if (over && !a->over) {
        double lz = log(z > 1e300 ? 1e300 : z), d = lz - a->ex_m;
        if (a->ex_rate == 0) {
            a->ex_m = (float)lz;
        } else {
            a->ex_m = (float)(a->ex_m + AN_EXC_MAG * d);
            a->ex_s2 = (float)((1 - AN_EXC_MAG) * (a->ex_s2 + AN_EXC_MAG * d * d));
        }
        a->ex_rate += AN_EXC_RATE * (1 - a->ex_rate);
    } else {
        a->ex_rate -= AN_EXC_RATE * a->ex_rate;
    }
    a->over = (uint8_t)over;
    return zeff;
}

double anomaly_update(struct anomaly *a, int64_t t_ms, double x)
{
    if (!isfinite(x) || (a->n > 0 && t_ms <= a->t_last))
        return 0;
    if (a->n == 0) {
        a->ex_s2 = 0.25f;
        a->pref = x;
    } else {
        double d = ((double)t_ms - (double)a->t_last) / 1000.0; /* no int64 overflow */
        a->dt = a->n == 1 ? d : a->dt + 0.05 * ((d < 4 * a->dt ? d : 4 * a->dt) - a->dt);
    }
    a->t_last = t_ms;
    if (a->n < UINT32_MAX)
        a->n++;

    double dt = a->dt > 0 ? a->dt : 60;
    double tiny = 1e-9 * fabs(a->pref) + 1e-12;

    /* the daily profile's expectation, before learning x */
    int b0, b1;
    double f;
    bins_of(t_ms, &b0, &b1, &f);
    double expect = a->px.ar.n ? a->px.ar.mu : x; /* no profile yet: the running mean */
    if (a->pcnt[b0] && a->pcnt[b1])
        expect = a->pref + (1 - f) * a->prof[b0] + f * a->prof[b1];
    else if (a->pcnt[b0])
        expect = a->pref + a->prof[b0];
    else if (a->pcnt[b1])
        expect = a->pref + a->prof[b1];
    double resid = x - expect;

    double ex_signed, er_signed;
    double ex_raw = a->px.ar.n ? x - sdar_predict(&a->px.ar) : 0;
    double zx = pred_update(&a->px, x, tiny, &ex_signed);
    double zr = pred_update(&a->pr, resid, tiny, &er_signed);

    /* the profile is trusted once it has seen two days and the series minus
     * it is at least as predictable as the series itself (slow scales, as
     * of the previous sample) */
    int seasonal =
        (double)a->n * dt >= AN_SEASON_DAYS * 86400.0 && a->gr <= AN_SEASON_RATIO * a->gx;

    /* a trend change: the one-step predictor lags behind a new slope, so its
     * residuals keep one sign; their running mean against its own spread */
    double zb = 0;
    a->bias += AN_BIAS_ALPHA * ((seasonal ? er_signed : ex_signed) - a->bias);
    double abias = fabs(a->bias);
    if (a->n <= 100) {
        a->bias_dev += (abias - a->bias_dev) / (double)a->n;
    } else {
        zb = abias / (MAD_TO_SIGMA * a->bias_dev + tiny);
        a->bias_dev +=
            AN_CF_ALPHA *
            ((abias < AN_CLIP * a->bias_dev ? abias : AN_CLIP * a->bias_dev) - a->bias_dev);
    }

    /* learn the profile: each bin remembers about three days */
    double ab = dt / (3 * 3600.0);
    ab = ab < 0.002 ? 0.002 : ab > 0.5 ? 0.5 : ab;
    int bb[2] = {b0, b1};
    double ww[2] = {1 - f, f};
    for (int i = 0; i < 2; i++) {
        int b = bb[i];
        if (ww[i] <= 0)
            continue;
        double al = a->pcnt[b] < 1.0 / ab ? 1.0 / (a->pcnt[b] + 1.0) : ab;
        al *= ww[i] > 0.5 || !a->pcnt[b] ? 1 : 2 * ww[i];
        double pv = a->pcnt[b] ? a->prof[b] : x - a->pref;
        pv += al * (x - a->pref - pv);
        a->prof[b] = (float)pv;
        if (a->pcnt[b] < UINT8_MAX)
            a->pcnt[b]++;
    }

    /* ChangeFinder against its own running level */
    /* ChangeFinder on x with the one-step residual clipped (the same bound):
     * a burst is a bounded blip for it, a level shift still a shift */
    double cs = cf_update(a->cf, x - ex_raw + ex_signed), zc = 0;
    if (a->n > AN_WARMUP) {
        double sd = sqrt(a->cf_var) + 0.05;
        zc = (cs - a->cf_mean) / sd;
        double clipped = cs < a->cf_mean + 4 * sd ? cs : a->cf_mean + 4 * sd;
        double d = clipped - a->cf_mean;
        a->cf_mean += AN_CF_ALPHA * d;
        a->cf_var += AN_CF_ALPHA * (d * d - a->cf_var);
    } else {
        double w = 1.0 / (double)a->n;
        double d = cs - a->cf_mean;
        a->cf_mean += w * d;
        a->cf_var += w * (d * d - a->cf_var);
    }

    /* the level of x minus its profile: a broken daily pattern moves it for
     * hours while each step looks ordinary; it adapts within ~100 samples */
    double zl = 0, dl = fabs(resid - a->rbase);
    if (a->n <= 20) {
        a->rbase += (resid - a->rbase) / (double)a->n;
        a->rdev += (dl - a->rdev) / (double)a->n;
    } else {
        zl = dl / (MAD_TO_SIGMA * a->rdev + tiny);
        a->rbase += AN_LEVEL_ALPHA * (resid - a->rbase);
        a->rdev += AN_SCALE_ALPHA * ((dl < AN_CLIP * a->rdev ? dl : AN_CLIP * a->rdev) - a->rdev);
    }
    /* slow scales of both predictors decide whether the profile helps */
    double ex = a->px.scale, er = a->pr.scale;
    a->gx += (a->n <= 1.0 / AN_GATE_ALPHA ? 1.0 / (double)a->n : AN_GATE_ALPHA) * (ex - a->gx);
    a->gr += (a->n <= 1.0 / AN_GATE_ALPHA ? 1.0 / (double)a->n : AN_GATE_ALPHA) * (er - a->gr);

    if (a->n <= AN_WARMUP)
        return 0;
    /* instant detectors, judged against the series' own tail of surprises;
     * the slow ones see clipped inputs and are normalized by their own
     * running spread (ChangeFinder, less sharp, weighs a little lower) */
    double zi = seasonal ? (zr > zl ? zr : zl) : zx;
    zi = routine(a, zi);
    double zs = zb > 0.8 * zc ? zb : 0.8 * zc;
    return zmap(zi > zs ? zi : zs);
}

static void pred_save(const struct predictor *p, struct buf *out)
{
    buf_put_f64le(out, p->scale);
    sdar_save(&p->ar, out);
}

static size_t pred_load(struct predictor *p, const uint8_t *in, size_t n)
{
    if (n < 8)
        return 0;
    p->scale = load_f64le(in);
    if (!isfinite(p->scale) || p->scale < 0)
        return 0;
    size_t used = sdar_load(&p->ar, in + 8, n - 8);
    return used ? used + 8 : 0;
}

/* Format (little-endian): "SBAN", u32 version, u32 cf length, cf state
 * (cf_save), 2 predictors (f64 scale, SDAR), f64 cf_mean, cf_var, ex_rate,
 * rbase, rdev, bias, bias_dev, gx, gr, dt, pref, f32 ex_m, ex_s2, i64 t_last, u64 n, u8 over,
 * AN_BINS x (f32 profile offset, u8 count). */
void anomaly_save(const struct anomaly *a, struct buf *out)
{
    struct buf cfb = BUF_INIT;
    cf_save(a->cf, &cfb);
    buf_append(out, AN_MAGIC, 4);
    buf_put_u32le(out, AN_VERSION);
    buf_put_u32le(out, (uint32_t)cfb.len);
    buf_append(out, cfb.data, cfb.len);
    buf_free(&cfb);
    pred_save(&a->px, out);
    pred_save(&a->pr, out);
    const double d[] = {a->cf_mean,  a->cf_var, a->ex_rate, a->rbase, a->rdev, a->bias,
                        a->bias_dev, a->gx,     a->gr,      a->dt,    a->pref};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        buf_put_f64le(out, d[i]);
    uint32_t fm, fs;
    memcpy(&fm, &a->ex_m, 4);
    memcpy(&fs, &a->ex_s2, 4);
    buf_put_u32le(out, fm);
    buf_put_u32le(out, fs);
    buf_put_u64le(out, (uint64_t)a->t_last);
    buf_put_u64le(out, a->n);
    buf_putc(out, (char)a->over);
    for (int b = 0; b < AN_BINS; b++) {
        uint32_t u;
        memcpy(&u, &a->prof[b], 4);
        buf_put_u32le(out, u);
        buf_putc(out, (char)a->pcnt[b]);
    }
}

struct anomaly *anomaly_restore(const uint8_t *in, size_t n, struct saba_err *e)
{
    if (n < 12 || memcmp(in, AN_MAGIC, 4)) {
        err_set(e, SABA_ECORRUPT, 0, "not a saved anomaly state");
        return NULL;
    }
    if (load_u32le(in + 4) != AN_VERSION) {
        err_set(e, SABA_ECORRUPT, 0, "anomaly state version %u, this build reads %d",
                load_u32le(in + 4), AN_VERSION);
        return NULL;
    }
    size_t cfl = load_u32le(in + 8), off = 12;
    if (cfl > n - off) {
        err_set(e, SABA_ECORRUPT, 0, "saved anomaly state is truncated");
        return NULL;
    }
    struct changefinder *cf = cf_restore(in + off, cfl, e);
    if (!cf)
        return NULL;
    struct cf_params p = cf_params_of(cf), d0 = cf_params_default;
    if (p.order != d0.order || p.smooth1 != d0.smooth1 || p.smooth2 != d0.smooth2 ||
        p.discount != d0.discount) {
        cf_free(cf);
        err_set(e, SABA_ECORRUPT, 0, "saved anomaly state has other ChangeFinder parameters");
        return NULL;
    }
    off += cfl;
    struct anomaly *a = xcalloc(1, sizeof *a);
    a->cf = cf;
    pred_init(&a->px);
    pred_init(&a->pr);
    size_t used;
    if (!(used = pred_load(&a->px, in + off, n - off)))
        goto bad;
    off += used;
    if (!(used = pred_load(&a->pr, in + off, n - off)))
        goto bad;
    off += used;
    const size_t tail = 11 * 8 + 3 * 8 + 1 + AN_BINS * 5;
    if (n - off != tail)
        goto bad;
    double *d[] = {&a->cf_mean,  &a->cf_var, &a->ex_rate, &a->rbase, &a->rdev, &a->bias,
                   &a->bias_dev, &a->gx,     &a->gr,      &a->dt,    &a->pref};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++, off += 8) {
        *d[i] = load_f64le(in + off);
        if (!isfinite(*d[i]))
            goto bad;
    }
    uint32_t fm = load_u32le(in + off), fs = load_u32le(in + off + 4);
    memcpy(&a->ex_m, &fm, 4);
    memcpy(&a->ex_s2, &fs, 4);
    a->t_last = (int64_t)load_u64le(in + off + 8);
    uint64_t n64 = load_u64le(in + off + 16);
    if (n64 > UINT32_MAX || in[off + 24] > 1 || !(a->dt >= 0) || !isfinite(a->ex_m) ||
        !(a->ex_s2 >= 0 && a->ex_s2 < 1e30f) || !(a->ex_rate >= 0 && a->ex_rate <= 1))
        goto bad; /* never written by anomaly_save */
    a->n = (uint32_t)n64;
    a->over = in[off + 24];
    off += 25;
    for (int b = 0; b < AN_BINS; b++, off += 5) {
        uint32_t u = load_u32le(in + off);
        memcpy(&a->prof[b], &u, 4);
        a->pcnt[b] = in[off + 4];
        if (!isfinite(a->prof[b]))
            goto bad;
    }
    return a;
bad:
    anomaly_free(a);
    err_set(e, SABA_ECORRUPT, 0, "saved anomaly state is truncated or damaged");
    return NULL;
}
