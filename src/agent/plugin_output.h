/*
 * plugin_output.h - what metric plugins print: text -> samples, or
 * (line, reason) for each bad line.
 *
 * Two formats, told apart line by line, so a plugin may mix them:
 *
 *   name<TAB>value<TAB>epoch      the Mackerel/Sensu plugin format (any run of
 *   name value epoch              spaces or tabs separates); epoch in seconds
 *   name value                    no time: the collection's time
 *   name{l="v",...} value [ts]    Prometheus text exposition; ts in ms
 *   # HELP / # TYPE / # comment   ignored
 *
 * A third field below 1e11 is Unix seconds (Mackerel), otherwise Unix
 * milliseconds (Prometheus): 1e11 s is the year 5138, 1e11 ms is 1973, so no
 * real timestamp is ambiguous. Names are [A-Za-z0-9_:.-] (Mackerel names
 * have dots); label names are Prometheus identifiers; the agent adds "host"
 * itself, so a plugin cannot set it. Label values are UTF-8 text without
 * control characters (the server's rule); a time more than 5 minutes ahead
 * of now_ms is refused.
 */
#ifndef SABA_AGENT_PLUGIN_OUTPUT_H
#define SABA_AGENT_PLUGIN_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/mset.h"

#define PLUGIN_MAX_NAME   256
#define PLUGIN_MAX_LABELS 32
#define PLUGIN_MAX_VALUE  4096
/* below the server's default limits.max_future (10 min), so that a plugin's
 * clock cannot make the server refuse a whole batch */
#define PLUGIN_MAX_FUTURE_MS (5 * 60 * 1000)

/* Called for each bad line (1-based) with a reason; may be NULL. */
typedef void (*plugin_bad_line_fn)(void *ctx, long line, const char *reason);

/* Parse n bytes of output (need not be NUL-terminated) and append the good
 * samples to m (t_ms 0 for lines without a time). Returns the number of bad
 * lines, each reported through bad(). Never fails as a whole: a plugin's good
 * lines are kept when some are bad. */
size_t plugin_output_parse(const char *text, size_t n, int64_t now_ms, struct mset *m,
                           plugin_bad_line_fn bad, void *ctx);

#endif
