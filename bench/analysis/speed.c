/*
 * speed.c - speed and memory of the analysis engine (bench/analysis/).
 *
 *   make bench-analysis          (builds this and runs it, then quality.py)
 *   build/release/bench/analysis_speed [samples per repetition]
 *
 * Prints, for ChangeFinder (k = 1 and 3, T1 = T2 = 7) and the anomaly score:
 * ns per update on one hot series and round-robin over 10,000 series (each
 * state touched once per round, as a server updating every series once per
 * scrape); the bytes of one series' state and of its saved form; and the
 * median time of a forecast over 7 days of 1-minute data (10,080 samples),
 * plain and with a daily cycle plus log-rotation sawtooth.
 * The input is deterministic noisy data with level shifts. Times are this
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID, so other processes on a busy
 * machine do not count), the best of REPS repetitions.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/anomaly.h"
#include "analysis/changefinder.h"
#include "analysis/forecast.h"
#include "base/buf.h"
#include <time.h>

#define REPS 5

static volatile double sink;

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static uint64_t rng = 88172645463325252ULL;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

#define NSERIES 10000
#define NDATA   4096

static double data[NDATA];

static void make_data(void)
{
    for (int i = 0; i < NDATA; i++)
        data[i] = 100 + gauss() + (i / 700 % 2 ? 5 : 0);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_cf(int k, long samples)
{
    struct cf_params p = cf_params_default;
    p.order = k;
    struct changefinder *one = cf_new(&p);
    double s = 0;
    int64_t hot = INT64_MAX, t0;
    for (int rep = 0; rep < REPS; rep++) {
        t0 = cpu_ns();
        for (long i = 0; i < samples; i++)
            s += cf_update(one, data[i % NDATA]);
        int64_t d = cpu_ns() - t0;
        hot = d < hot ? d : hot;
    }

    struct changefinder **many = malloc(NSERIES * sizeof *many);
    for (int j = 0; j < NSERIES; j++)
        many[j] = cf_new(&p);
    long rounds = samples / NSERIES > 1 ? samples / NSERIES : 1;
    int64_t cold = INT64_MAX;
    for (int rep = 0; rep < REPS; rep++) {
        t0 = cpu_ns();
        for (long r = 0; r < rounds; r++)
            for (int j = 0; j < NSERIES; j++)
                s += cf_update(many[j], data[(r + (long)j * 7) % NDATA]);
        int64_t d = cpu_ns() - t0;
        cold = d < cold ? d : cold;
    }

    struct buf b = BUF_INIT;
    cf_save(one, &b);
    printf("changefinder k=%d: %6.1f ns/update (one series), %6.1f ns/update (round-robin over "
           "%d series); state %zu bytes, saved %zu bytes\n",
           k, (double)hot / (double)samples, (double)cold / (double)(rounds * NSERIES), NSERIES,
           cf_state_bytes(one), b.len);
    buf_free(&b);
    for (int j = 0; j < NSERIES; j++)
        cf_free(many[j]);
    free(many);
    cf_free(one);
    sink = s;
}

static void bench_anomaly(long samples)
{
    struct anomaly *one = anomaly_new();
    double s = 0;
    int64_t hot = INT64_MAX, t0;
    long tick = 0;
    for (int rep = 0; rep < REPS; rep++) {
        t0 = cpu_ns();
        for (long i = 0; i < samples; i++, tick++)
            s += anomaly_update(one, 1700000000000LL + tick * 60000, data[i % NDATA]);
        int64_t d = cpu_ns() - t0;
        hot = d < hot ? d : hot;
    }

    struct anomaly **many = malloc(NSERIES * sizeof *many);
    for (int j = 0; j < NSERIES; j++)
        many[j] = anomaly_new();
    long rounds = samples / NSERIES > 1 ? samples / NSERIES : 1;
    int64_t cold = INT64_MAX;
    tick = 0;
    for (int rep = 0; rep < REPS; rep++) {
        t0 = cpu_ns();
        for (long r = 0; r < rounds; r++, tick++)
            for (int j = 0; j < NSERIES; j++)
                s += anomaly_update(many[j], 1700000000000LL + tick * 60000,
                                    data[(r + (long)j * 7) % NDATA]);
        int64_t d = cpu_ns() - t0;
        cold = d < cold ? d : cold;
    }

    struct buf b = BUF_INIT;
    anomaly_save(one, &b);
    printf("anomaly score:    %6.1f ns/update (one series), %6.1f ns/update (round-robin over "
           "%d series); state %zu bytes, saved %zu bytes\n",
           (double)hot / (double)samples, (double)cold / (double)(rounds * NSERIES), NSERIES,
           anomaly_state_bytes(one), b.len);
    buf_free(&b);
    for (int j = 0; j < NSERIES; j++)
        anomaly_free(many[j]);
    free(many);
    anomaly_free(one);
    sink = s;
}

static void bench_forecast(const char *name, int shaped)
{
    enum { N = 10080, RUNS = 51 };
    int64_t *t = malloc(N * sizeof *t);
    double *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) {
        t[i] = 1700000000000LL + (int64_t)i * 60000;
        x[i] = 1e10 + 1e5 * i + 3e6 * gauss();
        if (shaped)
            x[i] += 2e8 * sin(2 * M_PI * i / 1440.0) + 1e5 * 20 * (i % 600);
    }
    double ms[RUNS];
    struct forecast_result r = {0};
    for (int k = 0; k < RUNS; k++) {
        int64_t t0 = cpu_ns();
        forecast_run(t, x, N, 5e10, &forecast_opts_default, &r, NULL);
        ms[k] = (double)(cpu_ns() - t0) / 1e6;
    }
    qsort(ms, RUNS, sizeof *ms, cmp_d);
    printf("forecast, 7 days of 1-minute data (%d samples), %s: median %.3f ms, max %.3f ms "
           "(model %s)\n",
           N, name, ms[RUNS / 2], ms[RUNS - 1], forecast_model_name(r.model));
    free(t);
    free(x);
}

int main(int argc, char **argv)
{
    long samples = argc > 1 ? atol(argv[1]) : 4000000; /* per repetition */
    if (samples < NSERIES)
        samples = NSERIES;
    make_data();
    bench_cf(1, samples);
    bench_cf(3, samples);
    bench_anomaly(samples / 2);
    bench_forecast("linear + noise", 0);
    bench_forecast("daily cycle + sawtooth", 1);
    return 0;
}
