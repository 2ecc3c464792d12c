/*
 * test_analysis_changefinder.c - unit tests for src/analysis/sdar and
 * changefinder: scores equal an independent reference computation (full
 * history, Yule-Walker by Gaussian elimination, smoothing by plain means),
 * synthetic behaviour (spikes low, level shifts and slope changes high within
 * a bounded delay), numerical safety and save/restore.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis/changefinder.h"
#include "analysis/sdar.h"
#include "base/buf.h"

#include "unit.h"

/* ---- deterministic noise (xorshift + Box-Muller), independent of libc rand ---- */

static uint64_t rng_state;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

/* ---- the reference: the recursions written out the long way ---- */

#define REF_K 8
#define REF_N 4096

struct ref_sdar {
    int k;
    double r, mu, sigma2, qn, c[REF_K + 1], w[REF_K];
    double xs[REF_N];
    size_t n;
};

static double ref_past(const struct ref_sdar *s, size_t j) /* x_{t-j}, j >= 1 */
{
    return j <= s->n ? s->xs[s->n - j] : s->xs[0];
}

/* Solve the k x k Toeplitz system sum_i w_i c_|j-i| = c_j by Gaussian
 * elimination with partial pivoting. */
static void ref_solve(const double *c, int k, double *w)
{
    double a[REF_K][REF_K + 1];
    if (!(c[0] > 1e-300)) {
        for (int i = 0; i < k; i++)
            w[i] = 0;
        return;
    }
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < k; i++)
            a[j][i] = c[abs(j - i)];
        a[j][k] = c[j + 1];
    }
    for (int col = 0; col < k; col++) {
        int piv = col;
        for (int r = col + 1; r < k; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col]))
                piv = r;
        for (int i = 0; i <= k; i++) {
            double t = a[col][i];
            a[col][i] = a[piv][i];
            a[piv][i] = t;
        }
        for (int r = 0; r < k; r++) {
            if (r == col)
                continue;
            double f = a[r][col] / a[col][col];
            for (int i = col; i <= k; i++)
                a[r][i] -= f * a[col][i];
        }
    }
    for (int i = 0; i < k; i++)
        w[i] = a[i][k] / a[i][i];
}

static double ref_predict(const struct ref_sdar *s)
{
    double p = s->mu;
    for (int i = 1; i <= s->k; i++)
        p += s->w[i - 1] * (ref_past(s, (size_t)i) - s->mu);
    return p;
}

static double ref_update(struct ref_sdar *s, double x)
{
    double r = s->r, loss = 0, lim = INFINITY;
    if (s->n == 0) {
        s->mu = x;
        s->qn = 1;
        s->xs[s->n++] = x;
        return 0;
    }
    if (s->n >= 2) {
        double var = s->sigma2 / (1 - s->qn);
        double fl = 1e-12 * (s->mu * s->mu + s->c[0]) + 1e-300;
        var = var > fl ? var : fl;
        lim = 4 * sqrt(var);
        double e = fmin(fabs(x - ref_predict(s)), lim);
        /* -log of the Gaussian density, written as the density */
        loss = -log(exp(-e * e / (2 * var)) / sqrt(2 * M_PI * var));
    }
    s->mu = (1 - r) * s->mu + r * x;
    for (int j = 0; j <= s->k; j++) {
        double xj = j == 0 ? x : ref_past(s, (size_t)j);
        s->c[j] = (1 - r) * s->c[j] + r * (x - s->mu) * (xj - s->mu);
    }
    ref_solve(s->c, s->k, s->w);
    double e2 = fmin(fabs(x - ref_predict(s)), lim);
    s->sigma2 = (1 - r) * s->sigma2 + r * e2 * e2;
    s->qn *= 1 - r;
    s->xs[s->n++] = x;
    return loss;
}

struct ref_cf {
    struct ref_sdar s1, s2;
    double l1[REF_N], l2[REF_N];
    size_t n1, n2;
    int t1, t2;
    double score;
};

static double mean_last(const double *v, size_t n, int t)
{
    size_t m = n < (size_t)t ? n : (size_t)t;
    double s = 0;
    for (size_t i = n - m; i < n; i++)
        s += v[i];
    return s / (double)m;
}

static double ref_cf_update(struct ref_cf *c, double x)
{
    double l = ref_update(&c->s1, x);
    if (c->s1.n <= 2)
        return c->score;
    c->l1[c->n1++] = l;
    double y = mean_last(c->l1, c->n1, c->t1);
    double l2 = ref_update(&c->s2, y);
    if (c->s2.n <= 2)
        return c->score;
    c->l2[c->n2++] = l2;
    c->score = mean_last(c->l2, c->n2, c->t2);
    return c->score;
}

static void check_against_reference(int k, double r, int t1, int t2, int n)
{
    struct cf_params p = {.order = k, .discount = r, .smooth1 = t1, .smooth2 = t2};
    struct changefinder *cf = cf_new(&p);
    struct ref_cf *ref = calloc(1, sizeof *ref);
    ref->s1.k = ref->s2.k = k;
    ref->s1.r = ref->s2.r = r;
    ref->t1 = t1;
    ref->t2 = t2;
    rng_state = 0x9E3779B97F4A7C15ULL;
    double ar = 0;
    for (int i = 0; i < n; i++) {
        /* AR(1) noise with a level shift and a spike: every code path runs */
        ar = 0.6 * ar + gauss();
        double x = 100 + ar + (i > n / 2 ? 6 : 0) + (i == n / 3 ? 20 : 0);
        double got = cf_update(cf, x), want = ref_cf_update(ref, x);
        if (fabs(got - want) > 1e-7 * (1 + fabs(want)))
            fail_msg("k=%d r=%g sample %d: score %.15g, reference %.15g", k, r, i, got, want);
    }
    cf_free(cf);
    free(ref);
}

static void test_cf_matches_reference_k1(void **state)
{
    (void)state;
    check_against_reference(1, 0.02, 7, 7, 2000);
    check_against_reference(1, 0.1, 1, 3, 500);
}

static void test_cf_matches_reference_k3(void **state)
{
    (void)state;
    check_against_reference(3, 0.01, 7, 5, 2000);
    check_against_reference(2, 0.05, 4, 9, 1000);
}

/* ---- behaviour on synthetic series ---- */

/* Max score in [from, to) of white noise sigma 1 around 10 plus f(i). */
static double run_max(double (*f)(int), int n, int from, int to, int *argmax)
{
    struct changefinder *cf = cf_new(&cf_params_default);
    rng_state = 12345;
    double best = -INFINITY;
    for (int i = 0; i < n; i++) {
        double s = cf_update(cf, 10 + gauss() + f(i));
        if (i >= from && i < to && s > best) {
            best = s;
            if (argmax)
                *argmax = i;
        }
    }
    cf_free(cf);
    return best;
}

static double f_none(int i)
{
    (void)i;
    return 0;
}
static double f_spike(int i)
{
    return i == 1000 ? 8 : 0;
}
static double f_shift(int i)
{
    return i >= 1000 ? 5 : 0;
}
static double f_slope(int i)
{
    return i >= 1000 ? 0.25 * (i - 1000) : 0;
}

static void test_cf_spike_low_changes_high(void **state)
{
    (void)state;
    double quiet = run_max(f_none, 1200, 500, 1200, NULL);
    double spike = run_max(f_spike, 1200, 1000, 1100, NULL);
    int at_shift = 0, at_slope = 0;
    double shift = run_max(f_shift, 1200, 1000, 1100, &at_shift);
    double slope = run_max(f_slope, 1200, 1000, 1100, &at_slope);
    /* an 8-sigma one-sample spike looks like noise; a 5-sigma shift and a
     * slope change do not, and peak within 40 samples of their onset */
    assert_true(spike < quiet + 1.0);
    assert_true(shift > 2 * spike && shift > 4);
    assert_true(slope > 1.5 * spike && slope > 3);
    assert_in_range(at_shift, 1000, 1040);
    assert_in_range(at_slope, 1000, 1040);
    /* and in [0, 1] the spike stays below, the changes above 0.5 */
    assert_true(cf_score01(spike) < 0.4);
    assert_true(cf_score01(shift) > 0.5 && cf_score01(slope) > 0.4);
}

static void test_cf_numerically_safe(void **state)
{
    (void)state;
    struct changefinder *cf = cf_new(&cf_params_default);
    /* constant input: zero variance, then a change: finite, and high */
    for (int i = 0; i < 500; i++)
        assert_true(isfinite(cf_update(cf, 42)));
    double before = cf_score(cf);
    double s = 0;
    for (int i = 0; i < 20; i++)
        s = fmax(s, cf_update(cf, 43));
    assert_true(isfinite(s) && s > before);
    /* huge values of both signs, zeros and denormals */
    const double wild[] = {1e300, -1e300, DBL_MAX, -DBL_MAX, 0, 5e-324, 1e-300, 1e308};
    for (int rep = 0; rep < 50; rep++)
        for (size_t i = 0; i < sizeof wild / sizeof *wild; i++) {
            double v = cf_update(cf, wild[i]);
            assert_true(isfinite(v));
            assert_true(isfinite(cf_score01(v)) && cf_score01(v) >= 0 && cf_score01(v) <= 1);
        }
    /* NaN and Inf are gaps: nothing learnt, previous score returned */
    double last = cf_score(cf);
    assert_double_bits_equal(cf_update(cf, NAN), last);
    assert_double_bits_equal(cf_update(cf, INFINITY), last);
    assert_double_bits_equal(cf_update(cf, -INFINITY), last);
    cf_free(cf);

    /* gaps leave the state exactly as without them */
    struct changefinder *a = cf_new(&cf_params_default), *b = cf_new(&cf_params_default);
    rng_state = 7;
    for (int i = 0; i < 300; i++) {
        double x = gauss();
        if (i % 17 == 0)
            cf_update(b, NAN);
        assert_double_bits_equal(cf_update(a, x), cf_update(b, x));
    }
    cf_free(a);
    cf_free(b);
}

static void test_cf_save_restore(void **state)
{
    (void)state;
    struct cf_params p = {.order = 3, .discount = 0.03, .smooth1 = 5, .smooth2 = 9};
    struct changefinder *a = cf_new(&p), *b = NULL;
    rng_state = 99;
    double xs[1000];
    for (int i = 0; i < 1000; i++)
        xs[i] = 50 + 3 * gauss() + (i > 700 ? 10 : 0);
    for (int i = 0; i < 400; i++)
        cf_update(a, xs[i]);
    struct buf saved = BUF_INIT;
    cf_save(a, &saved);
    struct saba_err e = {0};
    b = cf_restore((const uint8_t *)saved.data, saved.len, &e);
    assert_non_null(b);
    struct cf_params q = cf_params_of(b);
    assert_int_equal(q.order, 3);
    assert_int_equal(q.smooth2, 9);
    for (int i = 400; i < 1000; i++)
        assert_double_bits_equal(cf_update(a, xs[i]), cf_update(b, xs[i]));

    /* every truncation and a flipped version are refused with a reason */
    for (size_t n = 0; n < saved.len; n++) {
        memset(&e, 0, sizeof e);
        assert_null(cf_restore((const uint8_t *)saved.data, n, &e));
        assert_int_equal(e.code, SABA_ECORRUPT);
        assert_true(e.msg[0] != '\0');
    }
    saved.data[4] = 99;
    assert_null(cf_restore((const uint8_t *)saved.data, saved.len, &e));
    assert_non_null(strstr(e.msg, "version"));
    saved.data[4] = 1;
    /* a non-finite number inside is damage */
    double nan = NAN;
    memcpy(saved.data + saved.len - 8, &nan, 8);
    assert_null(cf_restore((const uint8_t *)saved.data, saved.len, &e));
    buf_free(&saved);
    cf_free(a);
    cf_free(b);
}

static void test_cf_params_and_size(void **state)
{
    (void)state;
    struct saba_err e = {0};
    struct cf_params p = cf_params_default;
    assert_int_equal(cf_params_check(&p, &e), 0);
    p.order = 0;
    assert_int_equal(cf_params_check(&p, &e), SABA_EINVAL);
    assert_non_null(strstr(e.msg, "order"));
    p = cf_params_default;
    p.discount = 1;
    assert_int_equal(cf_params_check(&p, &e), SABA_EINVAL);
    p = cf_params_default;
    p.smooth2 = 0;
    assert_int_equal(cf_params_check(&p, &e), SABA_EINVAL);

    /* O(k + T) memory: the defaults and k=3 fit in 1 KiB */
    struct changefinder *cf = cf_new(&cf_params_default);
    assert_true(cf_state_bytes(cf) <= 1024);
    cf_free(cf);
    p = (struct cf_params){.order = 3, .discount = 0.01, .smooth1 = 7, .smooth2 = 7};
    cf = cf_new(&p);
    assert_true(cf_state_bytes(cf) <= 1024);
    size_t k3 = cf_state_bytes(cf);
    cf_free(cf);
    p.smooth1 = 107;
    cf = cf_new(&p);
    assert_int_equal(cf_state_bytes(cf) - k3, 100 * sizeof(double));
    cf_free(cf);

    /* the [0,1] map is monotone and bounded */
    double prev = -1;
    for (double s = -50; s < 500; s += 0.25) {
        double v = cf_score01(s);
        assert_true(v >= prev && v >= 0 && v <= 1);
        prev = v;
    }
}

static void test_sdar_predicts_ar_process(void **state)
{
    (void)state;
    /* an AR(1) with coefficient 0.8: the learnt w_1 approaches 0.8 */
    double st[64];
    struct sdar s;
    sdar_init(&s, 1, 0.005, st);
    rng_state = 4242;
    double x = 0;
    for (int i = 0; i < 20000; i++) {
        x = 0.8 * x + gauss();
        sdar_update(&s, 5 + x);
    }
    assert_true(fabs(s.w[0] - 0.8) < 0.08);
    assert_true(fabs(s.mu - 5) < 0.5);
    assert_true(fabs(sdar_variance(&s) - 1) < 0.25);
    assert_true(fabs(sdar_predict(&s) - (5 + s.w[0] * (x + 5 - s.mu) + s.mu - 5)) < 1e-9);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cf_matches_reference_k1),
        cmocka_unit_test(test_cf_matches_reference_k3),
        cmocka_unit_test(test_cf_spike_low_changes_high),
        cmocka_unit_test(test_cf_numerically_safe),
        cmocka_unit_test(test_cf_save_restore),
        cmocka_unit_test(test_cf_params_and_size),
        cmocka_unit_test(test_sdar_predicts_ar_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
