/*
 * fuzz_agent_config.c - fuzzes the agent's YAML configuration parser,
 * agent_config_parse() (agent/config.h), over libfyaml.
 * Checks: no memory or UB fault and no leak; an error carries SABA_EINVAL
 * and a "file:line: reason" message; a success leaves a consistent config
 * (interval >= 1s, every plugin and check with a name and a non-empty argv,
 * valid roles).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/config.h"
#include "fuzz_common.h"

/* libfyaml 0.8 (Debian 12) leaks a scanner buffer on the error path of a long
 * quoted key (fuzz/crashes/agent_config-libfyaml-leak.bin); it is not ours
 * to fix, and a config is parsed once per process. Suppress leaks whose
 * allocation stack is inside libfyaml only, so that the agent's own leaks
 * are still found. FUZZ_NO_WORKAROUNDS shows it again. */
#ifndef FUZZ_NO_WORKAROUNDS
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfyaml.so\n";
}
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void check_cmds(const struct agent_cmd *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(c[i].name && c[i].name[0], "cmd %zu without a name", i);
        FUZZ_CHECK(c[i].argv && c[i].argv[0] && c[i].argv[0][0], "cmd %zu without argv", i);
        FUZZ_CHECK(c[i].timeout_ms >= 1, "cmd %zu timeout", i);
        for (size_t k = 0; c[i].env && c[i].env[k]; k++)
            FUZZ_CHECK(strchr(c[i].env[k], '=') != NULL, "env entry");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_config c;
    agent_config_defaults(&c);
    struct saba_err err = {0};
    int rc = agent_config_parse(&c, (const char *)data, size, "agent.yml", &err);
    if (rc) {
        FUZZ_CHECK(rc == SABA_EINVAL && err.code == rc, "rc=%d", rc);
        FUZZ_CHECK(!strncmp(err.msg, "agent.yml:", 10), "message: %s", err.msg);
    } else {
        FUZZ_CHECK(c.interval_ms >= AGENT_MIN_INTERVAL_MS, "interval %lld",
                   (long long)c.interval_ms);
        for (size_t i = 0; c.roles[i]; i++)
            FUZZ_CHECK(agent_role_valid(c.roles[i]), "role %s", c.roles[i]);
        check_cmds(c.plugins, c.nplugins);
        check_cmds(c.checks, c.nchecks);
    }
    agent_config_free(&c);
    return 0;
}
