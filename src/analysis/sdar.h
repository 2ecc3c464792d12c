/*
 * sdar.h - the sequentially discounting AR model (SDAR) of ChangeFinder.
 *
 * One SDAR of order k with discount r learns, one sample at a time, a running
 * mean mu, autocovariances C_0..C_k (each an exponentially discounted average
 * with weight r on the newest sample), AR coefficients w_1..w_k from the
 * Yule-Walker equations (Levinson-Durbin, O(k^2)) and a residual variance
 * sigma^2 (Yamanishi & Takeuchi, KDD 2002). Each update returns the log-loss
 * -log p(x_t | x_{t-1..t-k}) of the new sample under the model as it was
 * *before* the sample, i.e. how surprising the sample is.
 *
 * Robustness (saba's addition; mu and C learn every sample unchanged): the
 * residual that enters the log-loss and the sigma^2 update is clipped at
 * SDAR_CLIP standard deviations. One wild sample then costs at most a
 * bounded loss and cannot inflate sigma^2 by orders of magnitude (which
 * would blind the model for hundreds of samples), while a lasting change
 * keeps producing clipped-but-high losses until mu and w have caught up.
 *
 * The struct is a value type embedded by changefinder and anomaly; its arrays
 * point into storage the owner provides (see sdar_init), so that a series'
 * whole state is one allocation of O(k) doubles.
 */
#ifndef SABA_ANALYSIS_SDAR_H
#define SABA_ANALYSIS_SDAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Largest supported order (Levinson-Durbin uses a stack buffer of this size). */
#define SDAR_MAX_ORDER 16
/* Log-losses are clamped to +-SDAR_LOSS_MAX so that sums and the second stage
 * stay finite for any input (a value 1e300 away from a constant series). */
#define SDAR_LOSS_MAX 1e6
/* Residuals beyond this many standard deviations count as this many: a
 * Gaussian exceeds 4 sigma once in ~16,000 samples, so normal data is not
 * touched. */
#define SDAR_CLIP 4.0

struct sdar {
    double r;      /* discount in (0, 1) */
    double mu;     /* discounted mean */
    double sigma2; /* discounted residual variance */
    double *c;     /* C_0..C_k: k+1 discounted autocovariances */
    double *w;     /* w_1..w_k: AR coefficients for the next prediction */
    double *hist;  /* x_{t-1}, ..., x_{t-k}: newest first */
    double qn;     /* (1 - r)^(residual updates): for bias-correcting sigma^2 */
    uint64_t n;    /* samples seen */
    int k;         /* order, 1..SDAR_MAX_ORDER */
};

/* Number of doubles of storage an SDAR of order k needs (3k + 1). */
size_t sdar_storage(int k);
/* Set up s with order k (1..SDAR_MAX_ORDER) and discount r (0 < r < 1) over
 * the caller's storage (sdar_storage(k) doubles, zeroed here); the storage
 * must outlive s. */
void sdar_init(struct sdar *s, int k, double r, double *storage);
/* Learn x (finite) and return its log-loss under the previous model, clamped
 * to [-SDAR_LOSS_MAX, SDAR_LOSS_MAX]. The first sample has no past: it
 * initialises the mean and returns 0; the second is learnt but, with no
 * residual variance known yet, also scores 0. Non-finite x must not be passed (the
 * owners treat NaN/Inf as gaps). */
double sdar_update(struct sdar *s, double x);
/* The one-step prediction of the next sample and its variance (>= a small
 * positive floor), from the current model. The variance is bias-corrected
 * for the start of the stream: a discounted average started at 0 has total
 * weight 1 - (1-r)^m after m updates, so it is divided by that (as Adam's
 * moment estimates are); without this the first scores would be huge. */
double sdar_predict(const struct sdar *s);
double sdar_variance(const struct sdar *s);

/* Append the learnt state (mu, sigma2, qn, n, C, w, hist) as little-endian words. */
void sdar_save(const struct sdar *s, struct buf *out);
/* Read what sdar_save wrote into s (already initialised with the same k and
 * r). Returns the bytes consumed, or 0 if in is too short or holds
 * non-finite numbers. */
size_t sdar_load(struct sdar *s, const uint8_t *in, size_t n);
/* Bytes sdar_save writes for order k. */
size_t sdar_saved_size(int k);

#endif
