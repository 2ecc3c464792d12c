/*
 * fuzz_exposition.c - fuzzes the Prometheus text / OpenMetrics parser
 * (ingest/exposition.h). The first byte picks the format (even: text, odd:
 * OpenMetrics); the rest is the scraped body. Each input is parsed twice:
 * through expo_parse with a callback that checks every sample it is handed
 * (valid metric name, NUL-terminated unique label names, line numbers that
 * only grow), and through expo_parse_batch, after which the batch invariants
 * of fuzz_common.h must hold. Checks: no memory or UB fault; an error has a
 * code, a reason and a line.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "ingest/exposition.h"
#include "storage/batch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static bool metric_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static int check_sample(void *ctx, const struct expo_sample *s, struct saba_err *err)
{
    (void)err;
    long *last_line = ctx;
    FUZZ_CHECK(s->line > *last_line, "line %ld after %ld", s->line, *last_line);
    *last_line = s->line;
    FUZZ_CHECK(s->name_len > 0 && strlen(s->name) == s->name_len, "name length");
    for (size_t i = 0; i < s->name_len; i++)
        FUZZ_CHECK(metric_char(s->name[i], i == 0), "bad metric name char");
    for (size_t i = 0; i < s->nlabels; i++) {
        FUZZ_CHECK(strlen(s->labels[i].name) == s->labels[i].name_len, "label name length");
        FUZZ_CHECK(s->labels[i].value[s->labels[i].value_len] == '\0', "label value NUL");
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s->labels[i].name, s->labels[j].name) != 0, "duplicate label");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum expo_format fmt = data[0] & 1 ? EXPO_OPENMETRICS : EXPO_TEXT;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;

    long last_line = 0;
    struct saba_err err = {0};
    int rc = expo_parse(text, n, fmt, 0, check_sample, &last_line, &err);
    if (rc) {
        FUZZ_CHECK(rc == SABA_EINVAL || rc == SABA_ETOOBIG, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && err.msg[0] && err.line > 0, "error report: line %ld msg %s",
                   err.line, err.msg);
    }

    struct batch b;
    fuzz_batch_init(&b);
    struct saba_err err2 = {0};
    struct expo_stats st = {0};
    rc = expo_parse_batch(text, n, fmt, FUZZ_NOW_MS, &b, &st, &err2);
    if (rc)
        FUZZ_CHECK(err2.code == rc && err2.msg[0] && err2.line > 0, "batch error report");
    else
        FUZZ_CHECK(st.samples == b.nsamples, "stats %llu vs %zu samples",
                   (unsigned long long)st.samples, b.nsamples);
    fuzz_check_batch(&b);
    batch_free(&b);
    return 0;
}
