/*
 * changefinder.h - ChangeFinder change-point scores, one series at a time.
 *
 * Two-stage learning (Yamanishi & Takeuchi, KDD 2002; Takeuchi & Yamanishi,
 * IEEE TKDE 2006): stage 1, an SDAR model of order k with discount r, gives
 * each sample's log-loss; a moving average of width T1 smooths it; stage 2, a
 * second SDAR on the smoothed losses, gives their log-loss, and its moving
 * average of width T2 is the change-point score. A one-sample outlier makes
 * one large stage-1 loss that the T1 average dilutes and stage 2 barely
 * notices; a persistent change keeps stage-1 losses high for a while, which
 * stage 2 sees as a change in the loss series itself.
 *
 * Made for streaming inside the server: a per-series state of O(k + T1 + T2)
 * doubles in one allocation, O(k^2) time per update, save/restore to a
 * versioned byte string. Scores are in nats and do not depend on the
 * series' unit (stage 2 models losses, whose spread is scale-free).
 */
#ifndef SABA_ANALYSIS_CHANGEFINDER_H
#define SABA_ANALYSIS_CHANGEFINDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct cf_params {
    int order;       /* k, AR order, 1..SDAR_MAX_ORDER (default 1) */
    double discount; /* r, 0 < r < 1 (default 0.005: a memory of ~200 samples) */
    int smooth1;     /* T1, width of the first moving average, 1..CF_MAX_SMOOTH (default 7) */
    int smooth2;     /* T2, width of the second moving average, 1..CF_MAX_SMOOTH (default 7) */
};

#define CF_MAX_SMOOTH 1024
/* The defaults above; a value type so callers can copy and change one field. */
extern const struct cf_params cf_params_default;

struct changefinder;

/* Check p; 0, or SABA_EINVAL with the reason in e. */
int cf_params_check(const struct cf_params *p, struct saba_err *e);
/* A fresh state for p (which must pass cf_params_check). Never NULL; free with cf_free. */
struct changefinder *cf_new(const struct cf_params *p);
/* Free cf; cf_free(NULL) does nothing. */
void cf_free(struct changefinder *cf);

/* Learn x and return the change-point score after it (nats; larger = more
 * change). NaN and +-Inf are gaps: nothing is learnt and the previous score is
 * returned. The first samples score low while the models fill. */
double cf_update(struct changefinder *cf, double x);
/* The last score returned by cf_update (0 before any sample). */
double cf_score(const struct changefinder *cf);
/* The smoothed stage-1 log-loss after the last sample (the input of stage 2). */
double cf_stage1(const struct changefinder *cf);
/* The parameters cf was made with. */
struct cf_params cf_params_of(const struct changefinder *cf);
/* Bytes of memory the state occupies. */
size_t cf_state_bytes(const struct changefinder *cf);

/* Map a score monotonically (non-decreasing) into [0, 1]: 0 for scores at or
 * below a well-modelled series' typical stage-2 loss, 1 - exp(-(s - 1)/4)
 * above it, so 0.5 is ~3.8 nats of excess surprise. */
double cf_score01(double score);

/* Append the state (magic "SBCF", format version, parameters, model state)
 * to out; restoring it continues exactly where cf left off. */
void cf_save(const struct changefinder *cf, struct buf *out);
/* Rebuild a state from cf_save's bytes. NULL with the reason in e if the
 * bytes are not a saved state of a known version or are damaged. */
struct changefinder *cf_restore(const uint8_t *in, size_t n, struct saba_err *e);

#endif
