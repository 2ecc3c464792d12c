/*
 * anomaly.h - the streaming anomaly score of anomaly monitors.
 *
 * Per series, per sample, a score in [0, 1] that rises at the onset of
 * anything abnormal - a spike that matters, a level shift, a trend change, a
 * broken daily pattern - and falls back soon after, so an alert fires once
 * and early. No labels or training: every part adapts to the series' own
 * normal as it streams:
 *   - surprise of the sample under a one-step SDAR predictor, in units of a
 *     robust running scale of its own residuals (spikes, level shifts);
 *   - once the series has a daily pattern (an interpolated hourly profile
 *     that explains most of its variation), the same surprise measured on the
 *     series minus its profile (a broken pattern is a change there, and the
 *     normal daily swings are not);
 *   - the level of the series minus its profile against its running level
 *     (a day whose peak does not come);
 *   - the running bias of the one-step residuals (a new slope keeps them on
 *     one side: trend changes the one-step surprise misses);
 *   - ChangeFinder's two-stage score (see changefinder.h) against its own
 *     running level.
 * Each detector adapts within tens of samples, which is what makes the
 * score fall back after a change instead of staying high. The instant
 * surprises are judged against the series' own tail (how often, and how
 * big, its exceedances usually are), and the slow detectors see clipped
 * residuals, so a bursty series' routine bursts stop alarming while a shift
 * in it still shows.
 *
 * O(1) time (ChangeFinder of order 1), a fixed-size state of at most 1 KiB,
 * saved and restored as versioned bytes.
 */
#ifndef SABA_ANALYSIS_ANOMALY_H
#define SABA_ANALYSIS_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct anomaly;

/* A fresh state. Never NULL; free with anomaly_free. */
struct anomaly *anomaly_new(void);
/* anomaly_free(NULL) does nothing. */
void anomaly_free(struct anomaly *a);

/* Learn the sample (t in ms since the epoch, increasing; x the value) and
 * return its score in [0, 1]. NaN/Inf x is a gap: nothing is learnt, 0 is
 * returned. The first samples (a warm-up while the detectors learn the
 * series) score 0. Samples with t not after the previous one are ignored
 * (score 0). */
double anomaly_update(struct anomaly *a, int64_t t_ms, double x);
/* Bytes of memory the state occupies. */
size_t anomaly_state_bytes(const struct anomaly *a);

/* Append the state (magic "SBAN", format version, the detectors' state). */
void anomaly_save(const struct anomaly *a, struct buf *out);
/* Rebuild a state from anomaly_save's bytes; NULL with the reason in e if they
 * are not a saved state of a known version or are damaged. */
struct anomaly *anomaly_restore(const uint8_t *in, size_t n, struct saba_err *e);

#endif
