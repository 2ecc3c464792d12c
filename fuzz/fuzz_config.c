/*
 * fuzz_config.c - fuzzes saba.yml loading (server/config.h), the scrape
 * sections (scrape/scrape_config.h) included: the input is written to an
 * in-memory file and read with config_load. Checks: no memory or UB fault;
 * an error carries a code and a "file:line" reason; a success yields
 * targets that are complete (URL, job and instance labels, timeout <= interval).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "server/config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    fd = memfd_create("saba-fuzz-config", 0);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    struct saba_config c;
    config_defaults(&c);
    struct saba_err err = {0};
    int rc = config_load(&c, path, &err);
    if (rc) {
        FUZZ_CHECK(err.code == rc && err.msg[0], "error report: code=%d msg=%s", err.code, err.msg);
        FUZZ_CHECK(rc == SABA_EINVAL, "rc=%d", rc);
    } else {
        for (size_t i = 0; i < c.scrape.ntargets; i++) {
            const struct scrape_target_config *t = &c.scrape.targets[i];
            FUZZ_CHECK(t->url &&
                           (!strncmp(t->url, "http://", 7) || !strncmp(t->url, "https://", 8)),
                       "target %zu url", i);
            FUZZ_CHECK(labels_get(&t->labels, "job") && labels_get(&t->labels, "instance"),
                       "target %zu labels", i);
            FUZZ_CHECK(t->timeout_ms <= t->interval_ms && t->timeout_ms >= SCRAPE_MIN_INTERVAL_MS,
                       "target %zu timeout %lld interval %lld", i, (long long)t->timeout_ms,
                       (long long)t->interval_ms);
        }
    }
    config_free(&c);
    return 0;
}
