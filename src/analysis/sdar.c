/*
 * sdar.c - sequentially discounting AR model (see sdar.h).
 *
 * Numerical safety: differences from the mean are clamped to +-SDAR_DEV_MAX
 * so that squares and products stay finite for any finite input; the
 * variance used for scoring has a floor relative to the series' own scale
 * (a constant series has zero variance, and the first deviation from it must
 * score high, not divide by zero); reflection coefficients are clamped inside
 * the unit circle because discounted autocovariances need not be positive
 * definite.
 */
#include "analysis/sdar.h"

#include <math.h>
#include <string.h>

/* 1e150 squared is 1e300: products of two clamped deviations stay finite. */
#define SDAR_DEV_MAX 1e150
/* Relative variance floor: 1e-12 of the series' power, about the square of
 * the rounding error of a double around the mean (2^-52 ~ 2e-16), widened. */
#define SDAR_VAR_REL 1e-12
#define SDAR_VAR_ABS 1e-300
/* |reflection coefficient| bound: keeps the AR filter stable. */
#define SDAR_KAPPA_MAX 0.9999
#define LOG_2PI        1.8378770664093453

static double dev(double a, double b)
{
    double d = a - b;
    if (d > SDAR_DEV_MAX)
        return SDAR_DEV_MAX;
    if (d < -SDAR_DEV_MAX)
        return -SDAR_DEV_MAX;
    return d;
}

size_t sdar_storage(int k)
{
    return 3 * (size_t)k + 1;
}

void sdar_init(struct sdar *s, int k, double r, double *storage)
{
    memset(storage, 0, sdar_storage(k) * sizeof *storage);
    s->r = r;
    s->k = k;
    s->mu = 0;
    s->sigma2 = 0;
    s->qn = 1;
    s->n = 0;
    s->c = storage;
    s->w = storage + k + 1;
    s->hist = storage + 2 * k + 1;
}

double sdar_predict(const struct sdar *s)
{
    double p = s->mu;
    for (int i = 0; i < s->k; i++)
        p += s->w[i] * dev(s->hist[i], s->mu);
    return p;
}

double sdar_variance(const struct sdar *s)
{
    double m = fmin(fabs(s->mu), SDAR_DEV_MAX);
    double floor = SDAR_VAR_REL * (m * m + s->c[0]) + SDAR_VAR_ABS;
    double v = s->qn == 0 ? s->sigma2 : s->qn < 1 ? s->sigma2 / (1 - s->qn) : 0;
    return v > floor ? v : floor;
}

static double clamp_kappa(double kappa)
{
    if (!(kappa <= SDAR_KAPPA_MAX)) /* also catches NaN */
        return kappa > 0 ? SDAR_KAPPA_MAX : 0;
    return kappa < -SDAR_KAPPA_MAX ? -SDAR_KAPPA_MAX : kappa;
}

/* Levinson-Durbin: solve sum_i w_i C_|j-i| = C_j (j = 1..k) for w. Plain
 * loops instead of memcpy: k is small and this runs for every sample. */
static void yule_walker(const double *c, int k, double *w)
{
    if (!(c[0] > SDAR_VAR_ABS)) {
        for (int i = 0; i < k; i++)
            w[i] = 0;
        return;
    }
    if (k == 1) {
        w[0] = clamp_kappa(c[1] / c[0]);
        return;
    }
    double a[SDAR_MAX_ORDER] = {0}, prev[SDAR_MAX_ORDER];
    double e = c[0];
    for (int m = 0; m < k; m++) {
        double acc = c[m + 1];
        for (int i = 0; i < m; i++)
            acc -= a[i] * c[m - i];
        double kappa = clamp_kappa(e > SDAR_VAR_ABS ? acc / e : 0);
        for (int i = 0; i < m; i++)
            prev[i] = a[i];
        for (int i = 0; i < m; i++)
            a[i] = prev[i] - kappa * prev[m - 1 - i];
        a[m] = kappa;
        e *= 1 - kappa * kappa;
    }
    for (int i = 0; i < k; i++)
        w[i] = a[i];
}

double sdar_update(struct sdar *s, double x)
{
    const double r = s->r, q = 1 - r;
    const int k = s->k;
    if (s->n == 0) {
        /* no past: the unseen x_{t-1..t-k} are taken to equal x */
        s->mu = x;
        for (int i = 0; i < k; i++)
            s->hist[i] = x;
        s->n = 1;
        return 0;
    }

    /* score x under the model learnt from x_1..x_{t-1}; the clip is applied
     * to squares (e^2 <= CLIP^2 var) so no square root is needed */
    double loss = 0, lim2 = INFINITY;
    if (s->n >= 2) {
        double var = sdar_variance(s);
        lim2 = SDAR_CLIP * SDAR_CLIP * var;
        double e = dev(x, sdar_predict(s)), e2 = fmin(e * e, lim2);
        loss = 0.5 * (LOG_2PI + log(var)) + 0.5 * e2 / var;
        if (!(loss <= SDAR_LOSS_MAX))
            loss = SDAR_LOSS_MAX;
        if (loss < -SDAR_LOSS_MAX)
            loss = -SDAR_LOSS_MAX;
    }

    /* learn x: mean, autocovariances (against the updated mean), coefficients */
    s->mu = q * s->mu + r * x;
    double d0 = dev(x, s->mu);
    s->c[0] = q * s->c[0] + r * d0 * d0;
    for (int j = 1; j <= k; j++)
        s->c[j] = q * s->c[j] + r * d0 * dev(s->hist[j - 1], s->mu);
    yule_walker(s->c, k, s->w);
    /* residual of x under the updated model (Yamanishi & Takeuchi's sigma update) */
    double e = dev(x, sdar_predict(s));
    s->sigma2 = q * s->sigma2 + r * fmin(e * e, lim2);
    /* (1-r)^m only matters while it is not negligible; then stop updating
     * it so the hot path has no division by (1 - qn) */
    if (s->qn > 1e-17)
        s->qn *= q;
    else
        s->qn = 0;
    for (int i = k - 1; i > 0; i--)
        s->hist[i] = s->hist[i - 1];
    s->hist[0] = x;
    s->n++;
    return loss;
}

size_t sdar_saved_size(int k)
{
    return 8 * (4 + sdar_storage(k));
}

void sdar_save(const struct sdar *s, struct buf *out)
{
    buf_put_f64le(out, s->mu);
    buf_put_f64le(out, s->sigma2);
    buf_put_f64le(out, s->qn);
    buf_put_u64le(out, s->n);
    size_t m = sdar_storage(s->k);
    for (size_t i = 0; i < m; i++)
        buf_put_f64le(out, s->c[i]); /* c, w and hist are contiguous */
}

size_t sdar_load(struct sdar *s, const uint8_t *in, size_t n)
{
    size_t need = sdar_saved_size(s->k), m = sdar_storage(s->k);
    if (n < need)
        return 0;
    double mu = load_f64le(in), sigma2 = load_f64le(in + 8), qn = load_f64le(in + 16);
    uint64_t cnt = load_u64le(in + 24);
    if (!isfinite(mu) || !isfinite(sigma2) || sigma2 < 0 || !(qn >= 0 && qn <= 1))
        return 0;
    for (size_t i = 0; i < m; i++) {
        double v = load_f64le(in + 32 + 8 * i);
        if (!isfinite(v))
            return 0;
        s->c[i] = v;
    }
    if (s->c[0] < 0)
        return 0;
    s->mu = mu;
    s->sigma2 = sigma2;
    s->qn = qn;
    s->n = cnt;
    return need;
}
