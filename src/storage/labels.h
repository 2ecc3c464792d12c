/*
 * labels.h - label sets: the identity of a series.
 *
 * A series is a metric name plus labels; the name is the label "__name__".
 * A label set is kept sorted by name, names are unique, and a label with an
 * empty value is the same as no label (Prometheus' rule), so it is never
 * stored. These helpers are shared by ingestion, storage and query.
 */
#ifndef SABA_STORAGE_LABELS_H
#define SABA_STORAGE_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define LABEL_NAME "__name__"

struct label {
    const char *name;
    const char *value;
};

/* An owned label set: one allocation holds the array and the strings. */
struct labels {
    struct label *v;
    size_t n;
};

/* Copy n labels (sorted or not) into one allocation, sorted by name.
 * The result owns its strings; free with labels_free. */
struct labels labels_copy(const struct label *v, size_t n);
/* labels_copy for labels already sorted by name whose string lengths are
 * known: len[2i] and len[2i+1] are those of v[i].name and v[i].value. */
struct labels labels_pack(const struct label *v, const uint32_t *len, size_t n);
void labels_free(struct labels *ls);
/* Value of name, or NULL if the set has no such label. */
const char *labels_get(const struct labels *ls, const char *name);
/* Compare two sorted label sets like Prometheus' labels.Compare (for sorting results). */
int labels_cmp(const struct labels *a, const struct labels *b);
/* Append {"name":"value",...} as a JSON object. */
void labels_put_json(struct buf *b, const struct labels *ls);

/* True if [s, s+n) is well-formed UTF-8 without NUL or other C0 control characters
 * (tab is allowed in values). */
bool utf8_valid_text(const char *s, size_t n);
/* True if s is a Prometheus identifier for a label name: [a-zA-Z_][a-zA-Z0-9_]*. */
bool label_name_is_identifier(const char *s, size_t n);

#endif
