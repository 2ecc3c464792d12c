/*
 * fuzz_meta_request.c - fuzzes the parsers of the hosts and checks endpoints,
 * meta_host_parse() and meta_reports_parse() (meta/meta.h), over jansson.
 * The first byte picks the parser. Checks: no memory or UB fault and no
 * leak; errors carry SABA_EINVAL and a reason; a parsed host has a name and
 * valid roles, and meta is a JSON object; every report handed on has a
 * known status and a non-negative time.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "meta/meta.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static int on_report(void *ctx, const char *host_id, const struct meta_report_in *r,
                     struct saba_err *err)
{
    (void)ctx;
    (void)err;
    FUZZ_CHECK(host_id && host_id[0], "host id");
    FUZZ_CHECK(r->name[0], "report name");
    FUZZ_CHECK(!strcmp(r->status, "OK") || !strcmp(r->status, "WARNING") ||
                   !strcmp(r->status, "CRITICAL") || !strcmp(r->status, "UNKNOWN"),
               "status %s", r->status);
    FUZZ_CHECK(r->occurred_ms >= 0 && r->interval_s >= 0, "times");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    struct saba_err err = {0};
    int rc;
    if (data[0] & 1) {
        struct meta_host_in h;
        rc = meta_host_parse(body, n, &h, &err);
        if (rc == 0) {
            FUZZ_CHECK(h.name && h.name[0], "host without a name");
            FUZZ_CHECK(h.meta_json && h.meta_json[0] == '{', "meta %s", h.meta_json);
            for (size_t i = 0; i < h.nroles; i++)
                FUZZ_CHECK(strchr(h.roles[i], ':') != NULL, "role %s", h.roles[i]);
            meta_host_in_free(&h);
        }
    } else {
        rc = meta_reports_parse(body, n, on_report, NULL, &err);
    }
    if (rc)
        FUZZ_CHECK(rc == SABA_EINVAL && err.msg[0], "rc=%d msg=%s", rc, err.msg);
    return 0;
}
