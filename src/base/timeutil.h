/*
 * timeutil.h - clocks, durations and time parameters.
 *
 * saba's time unit is the int64 millisecond since the Unix epoch, as in
 * Prometheus. Durations use Prometheus' syntax ("1h30m", "5m", "250ms"),
 * and API time parameters accept Unix seconds (float) or RFC 3339.
 */
#ifndef SABA_BASE_TIMEUTIL_H
#define SABA_BASE_TIMEUTIL_H

#include <stdint.h>

/* Wall clock, milliseconds since the epoch. */
int64_t now_ms(void);
/* Monotonic clock, nanoseconds; for measuring intervals only. */
int64_t mono_ns(void);

/* Parse a Prometheus duration: one or more <int><unit> with units y w d h m s ms,
 * in decreasing order ("1h30m"). Returns 0 and writes *ms, or SABA_EINVAL. */
int duration_parse(const char *s, int64_t *ms);
/* Parse a duration as Prometheus' API does for step/timeout: a duration as above
 * or a plain (float) number of seconds. */
int duration_param_parse(const char *s, int64_t *ms);
/* Parse an API time: Unix seconds (float) or RFC 3339 ("2026-11-22T05:00:00Z",
 * fractional seconds and numeric offsets allowed). Returns 0 or SABA_EINVAL. */
int time_param_parse(const char *s, int64_t *ms);
/* Format a duration in Prometheus style ("1h30m", "5m", "0s") into out (>= 32 bytes). */
void duration_format(int64_t ms, char *out, int n);

#endif
