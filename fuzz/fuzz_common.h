/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in fuzz/.
 *
 * FUZZ_CHECK aborts (a crash libFuzzer records) when a property does not hold;
 * fuzz_check_batch verifies the invariants every parser promises for the batch
 * it builds (see storage/batch.h), whether the parse succeeded or not.
 */
#ifndef SABA_FUZZ_COMMON_H
#define SABA_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "storage/batch.h"
#include "storage/labels.h"

/* A fixed "now" (2024-11-22T04:33:20Z) so that runs are reproducible. */
#define FUZZ_NOW_MS 1732250000000LL

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Warnings about rejected input are expected by the thousand: keep stderr for findings. */
static inline void fuzz_quiet_logs(void)
{
    log_set_level((enum log_level)(LOG_LVL_ERROR + 1));
}

/* batch_init with the limits every protocol uses and the fixed "now". */
static inline void fuzz_batch_init(struct batch *b)
{
    batch_init(b, &batch_limits_default);
    b->now_ms = FUZZ_NOW_MS;
}

static inline int fuzz_label_cmp(const struct batch *b, const struct batch_label *x,
                                 const struct batch_label *y)
{
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(batch_str(b, x->name_off), batch_str(b, y->name_off), n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Every finished sample has a label run inside the batch, sorted by name without
 * duplicates, with a non-empty __name__, valid UTF-8 strings within the length
 * limits, no empty value, no other reserved "__" name, at most max_labels labels
 * and a timestamp in [0, now + max_future]; no series is left open. */
static inline void fuzz_check_batch(const struct batch *b)
{
    const struct batch_limits *lim = b->limits;
    FUZZ_CHECK(b->nsamples <= b->cap_samples && b->nlabels <= b->cap_labels, "counts");
    FUZZ_CHECK(b->open_label == b->nlabels, "series left open: open_label %zu, nlabels %zu",
               b->open_label, b->nlabels);
    for (size_t i = 0; i < b->nsamples; i++) {
        const struct batch_sample *s = &b->samples[i];
        FUZZ_CHECK(s->nlabels >= 1 && s->nlabels <= lim->max_labels, "sample %zu: %u labels", i,
                   (unsigned)s->nlabels);
        FUZZ_CHECK((size_t)s->label_off + s->nlabels <= b->nlabels, "sample %zu: label run", i);
        FUZZ_CHECK(s->t >= 0 && s->t <= b->now_ms + lim->max_future_ms, "sample %zu: t=%lld", i,
                   (long long)s->t);
        const struct batch_label *ls = &b->labels[s->label_off];
        bool has_name = false;
        for (uint16_t k = 0; k < s->nlabels; k++) {
            const struct batch_label *l = &ls[k];
            FUZZ_CHECK((size_t)l->name_off + l->name_len <= b->strings.len &&
                           (size_t)l->value_off + l->value_len <= b->strings.len,
                       "sample %zu: label %u outside the arena", i, (unsigned)k);
            const char *name = batch_str(b, l->name_off), *value = batch_str(b, l->value_off);
            bool is_name =
                l->name_len == sizeof LABEL_NAME - 1 && !memcmp(name, LABEL_NAME, l->name_len);
            FUZZ_CHECK(is_name || l->name_len < 2 || name[0] != '_' || name[1] != '_',
                       "sample %zu: reserved label name %u", i, (unsigned)k);
            FUZZ_CHECK(is_name ? l->value_len <= (uint32_t)lim->max_name_bytes
                               : l->name_len <= (uint32_t)lim->max_name_bytes &&
                                     l->value_len <= (uint32_t)lim->max_value_bytes,
                       "sample %zu: label %u too long", i, (unsigned)k);
            FUZZ_CHECK(l->name_len > 0 && l->value_len > 0, "sample %zu: empty label %u", i,
                       (unsigned)k);
            FUZZ_CHECK(utf8_valid_text(name, l->name_len) && !memchr(name, '\t', l->name_len),
                       "sample %zu: label name %u is not text", i, (unsigned)k);
            FUZZ_CHECK(utf8_valid_text(value, l->value_len), "sample %zu: value %u is not text", i,
                       (unsigned)k);
            FUZZ_CHECK(k == 0 || fuzz_label_cmp(b, &ls[k - 1], l) < 0,
                       "sample %zu: labels %u and %u not sorted or duplicated", i, (unsigned)k - 1,
                       (unsigned)k);
            has_name |= is_name;
        }
        FUZZ_CHECK(has_name, "sample %zu: no __name__", i);
    }
}

#endif
