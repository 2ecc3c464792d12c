/*
 * matcher.h - label matchers: the four PromQL kinds =, !=, =~, !~.
 *
 * Regular expressions are PCRE2 (with JIT) and, as in Prometheus, fully
 * anchored: `host=~"web.*"` must match the whole value. PCRE2 accepts the RE2
 * syntax Prometheus users write (classes, (?i), non-greedy repetition); RE2
 * features PCRE2 lacks are rare, and PCRE2-only features (backreferences,
 * lookaround) are rejected so queries stay portable to Prometheus.
 * A matcher applies to a missing label as to the empty string.
 */
#ifndef SABA_STORAGE_MATCHER_H
#define SABA_STORAGE_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum matcher_type { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE };

struct matcher;

/* Build a matcher; name and value are copied. Returns 0 and *out (free with
 * matcher_free), or SABA_EINVAL with the regex error in err. */
int matcher_new(enum matcher_type type, const char *name, const char *value, struct matcher **out,
                struct saba_err *err);
void matcher_free(struct matcher *m);

enum matcher_type matcher_type(const struct matcher *m);
const char *matcher_name(const struct matcher *m);
const char *matcher_value(const struct matcher *m);
/* Does the matcher accept value (n bytes)? A missing label is passed as "". */
bool matcher_matches(const struct matcher *m, const char *value, size_t n);
/* "name=\"value\"" etc., for messages. Owned by m. */
const char *matcher_string(const struct matcher *m);

#endif
