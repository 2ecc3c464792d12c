/*
 * fuzz_plugin_output.c - fuzzes the metric plugin output parser,
 * plugin_output_parse() (agent/plugin_output.h), with a fixed "now".
 * Checks: no memory or UB fault and no leak; good + bad lines never exceed
 * the lines in the input; every sample kept has a valid name and labels
 * (what the server would accept) and no time beyond now + 5 minutes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/plugin_output.h"
#include "fuzz_common.h"
#include "storage/labels.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void count_bad(void *ctx, long line, const char *reason)
{
    FUZZ_CHECK(line >= 1 && reason && reason[0], "bad line report: %ld", line);
    (*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mset m;
    mset_init(&m);
    size_t reported = 0;
    size_t bad =
        plugin_output_parse((const char *)data, size, FUZZ_NOW_MS, &m, count_bad, &reported);
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FUZZ_CHECK(bad == reported, "%zu bad, %zu reported", bad, reported);
    FUZZ_CHECK(bad + m.n <= lines, "%zu bad + %zu good > %zu lines", bad, m.n, lines);
    for (size_t i = 0; i < m.n; i++) {
        const struct mset_sample *s = &m.s[i];
        const char *name = mset_str(&m, s->name_off);
        size_t nl = strlen(name);
        FUZZ_CHECK(nl > 0 && nl <= PLUGIN_MAX_NAME && utf8_valid_text(name, nl), "name");
        FUZZ_CHECK(s->nlabels <= PLUGIN_MAX_LABELS, "labels");
        FUZZ_CHECK(s->t_ms >= 0 && s->t_ms <= FUZZ_NOW_MS + PLUGIN_MAX_FUTURE_MS, "t=%lld",
                   (long long)s->t_ms);
        const char *l = mset_str(&m, s->labels_off);
        for (uint16_t k = 0; k < s->nlabels; k++) {
            const char *v = l + strlen(l) + 1;
            FUZZ_CHECK(label_name_is_identifier(l, strlen(l)) && strcmp(l, "host") &&
                           strncmp(l, "__", 2),
                       "label name %s", l);
            FUZZ_CHECK(*v && utf8_valid_text(v, strlen(v)), "label value");
            l = v + strlen(v) + 1;
        }
    }
    mset_free(&m);
    return 0;
}
