/*
 * scrape.h - scraping Prometheus exposition endpoints into storage.
 *
 * A scraper runs one loop (thread) per target of a struct scrape_config. Each
 * loop starts at an offset inside its interval derived from the target's
 * identity (so targets spread over the interval instead of firing together,
 * and a target keeps its phase across reloads and restarts), fetches the
 * endpoint with libcurl (Accept: OpenMetrics, then text; gzip), parses it
 * (ingest/exposition.h), and appends one batch per scrape through the sink:
 * the samples with the target's labels (honor_labels semantics), staleness
 * markers for series that disappeared since the previous scrape, and the
 * series Prometheus adds per scrape (up, scrape_duration_seconds,
 * scrape_samples_scraped, scrape_samples_post_metric_relabeling,
 * scrape_series_added). When a scrape fails, up is 0 and every series of the
 * target's previous scrape gets a staleness marker. When a target goes away
 * (reload) or the scraper stops (shutdown), its series and its report series
 * are marked stale too.
 */
#ifndef SABA_SCRAPE_SCRAPE_H
#define SABA_SCRAPE_SCRAPE_H

#include "base/err.h"
#include "scrape/scrape_config.h"
#include "storage/batch.h"

/* Where scraped batches go: append b durably, 0 or a SABA_E* code with err set.
 * Called from the scrape threads concurrently. */
typedef int (*scrape_sink_fn)(void *ctx, const struct batch *b, struct saba_err *err);

/* The value Prometheus writes to mark a series stale (a NaN no computation
 * yields); query/eval.h names the same bits. */
#define SCRAPE_STALE_NAN_BITS 0x7ff0000000000002ULL

struct scraper;

/* Start a scraper with no targets. limits apply to each scrape (the body
 * size limit is max_body_bytes); they and ctx must outlive the scraper.
 * Never fails: libcurl is initialized here, before any thread exists. */
struct scraper *scraper_new(const struct batch_limits *limits, scrape_sink_fn sink, void *ctx);
/* Make the running targets those of cfg: loops whose target is no longer
 * configured (or changed) stop and mark their series stale; new targets
 * start; unchanged ones go on undisturbed. Call from one thread at a time. */
void scraper_apply(struct scraper *s, const struct scrape_config *cfg);
/* Number of running target loops. */
size_t scraper_targets(const struct scraper *s);
/* Stop every loop (in-flight scrapes are aborted), write the final
 * staleness markers, and free. scraper_free(NULL) does nothing. */
void scraper_free(struct scraper *s);

#endif
