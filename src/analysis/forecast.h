/*
 * forecast.h - time until a series reaches a capacity ("full in 12d21h").
 *
 * Better than least squares over a window (Prometheus predict_linear) on the
 * cases operators hit: outliers (bucket medians and a Huber fit), daily
 * cycles (removed before fitting; the forecast is when the daily peak
 * touches the capacity), deploys that shift the level or the slope (a
 * piecewise-linear segmentation; only the regime since the last change is
 * fitted), log-rotation sawtooth (growth then drops: the trend of the peaks
 * and the current tooth decide), accelerating growth (a significant positive
 * curvature in the regime is extrapolated), growth in jumps (batch jobs:
 * the trend through the steps) and flat or shrinking usage
 * ("never", as +Inf).
 *
 * A batch computation over the samples of one window (the server reads them
 * through the query engine); O(n) in the samples plus O(B^2) in the fixed
 * number B of buckets; no state between calls.
 */
#ifndef SABA_ANALYSIS_FORECAST_H
#define SABA_ANALYSIS_FORECAST_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct forecast_opts {
    int64_t window_ms; /* look back this far from the last sample (default 7 days) */
};

extern const struct forecast_opts forecast_opts_default;

enum forecast_model {
    FORECAST_FULL,      /* the last value is already at or above the capacity */
    FORECAST_LINEAR,    /* a line through the regime since the last change */
    FORECAST_QUADRATIC, /* the regime accelerates: a parabola */
    FORECAST_SAWTOOTH,  /* growth and drops: the trend of the peaks, or the current tooth */
    FORECAST_STEPS,     /* growth in upward jumps: the trend through the levels */
    FORECAST_FLAT,      /* no significant growth: never */
};

struct forecast_result {
    double seconds;    /* from the last sample until value >= capacity; +Inf = never */
    double seconds_lo; /* uncertainty range of seconds (about 95 %); hi may be +Inf */
    double seconds_hi;
    double slope;    /* growth of the fitted trend at the last sample, per second */
    double slope_lo; /* and its range */
    double slope_hi;
    double level;              /* the fitted trend at the last sample (daily cycle removed) */
    double headroom;           /* what the daily peak and noise add on top of the trend */
    double capacity;           /* the capacity used (the last row's) */
    int64_t window_start_ms;   /* first sample considered */
    int64_t regime_start_ms;   /* first sample of the fitted regime (after the last change) */
    int64_t last_ms;           /* the last sample */
    size_t samples;            /* samples in the window */
    size_t regime_samples;     /* samples in the regime */
    int changes;               /* change points found in the window */
    int drops;                 /* of which drops (sawtooth, cleanups) */
    double seasonal_amplitude; /* peak-to-trough of the daily cycle removed, 0 if none */
    enum forecast_model model;
};

/* The name of a model ("linear", ...). */
const char *forecast_model_name(enum forecast_model m);

/* Forecast from n samples (t in ms, strictly increasing; NaN values are
 * skipped) against capacity (finite). Returns 0 and fills *r, or SABA_EINVAL
 * with the reason in e (fewer than 3 finite samples in the window, a
 * non-finite capacity, unsorted times). */
int forecast_run(const int64_t *t, const double *x, size_t n, double capacity,
                 const struct forecast_opts *o, struct forecast_result *r, struct saba_err *e);

#endif
