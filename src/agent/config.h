/*
 * config.h - the agent's configuration file (agent.yml, see README).
 *
 * Every key is optional except what `saba agent` needs to send (server);
 * unknown keys are errors reported as file:line, so a typo never silently
 * keeps a default. Command-line flags override the file.
 */
#ifndef SABA_AGENT_CONFIG_H
#define SABA_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collect.h"
#include "base/err.h"

#define AGENT_DEFAULT_INTERVAL_MS  60000 /* Mackerel's and a typical scrape interval */
#define AGENT_MIN_INTERVAL_MS      1000
#define AGENT_DEFAULT_TIMEOUT_MS   30000 /* a plugin's or check's run time */
#define AGENT_DEFAULT_STATE_DIR    "/var/lib/saba-agent"
#define AGENT_DEFAULT_MEMORY_BYTES (8 << 20)   /* compressed batches kept in memory */
#define AGENT_DEFAULT_SPOOL_BYTES  (256 << 20) /* and on disk beyond that */

/* A metric plugin or a check: a command the agent runs. */
struct agent_cmd {
    char *name;
    char **argv; /* NULL-terminated; with shell: {"/bin/sh", "-c", command, NULL} */
    bool shell;
    int64_t timeout_ms;
    int64_t interval_ms; /* checks only */
    char **env;          /* "KEY=value", NULL-terminated, added to the agent's environment */
    char *user;          /* run as this user (the agent must be root), NULL = the agent's */
    int line;            /* where it is defined, for messages */
};

struct agent_config {
    char *server;  /* base URL, "http://host:port" */
    char *api_key; /* sent as X-Api-Key */
    int64_t interval_ms;
    char *state_dir; /* host id and spool */
    char *log_level;
    char *host_name; /* default: the machine's host name */
    char *display_name;
    char *custom_identifier;
    char **roles;                           /* "service:role", NULL-terminated */
    char *status_on_start, *status_on_stop; /* NULL = do not send */
    struct collect_opts collect;            /* its strings are owned by the config */
    int64_t memory_bytes, spool_bytes;
    struct agent_cmd *plugins;
    size_t nplugins;
    struct agent_cmd *checks;
    size_t nchecks;
};

void agent_config_defaults(struct agent_config *c);
/* Parse YAML text (name is the file name used in messages) over the current
 * values. Returns 0 or SABA_EINVAL with "name:line: reason" in err. */
int agent_config_parse(struct agent_config *c, const char *text, size_t n, const char *name,
                       struct saba_err *err);
/* Read and parse a file. SABA_EIO if it cannot be read. */
int agent_config_load(struct agent_config *c, const char *path, struct saba_err *err);
/* Check a role: "service:role", each part [A-Za-z0-9_-], 1..63 bytes. */
bool agent_role_valid(const char *s);
/* Check a host name, display name or custom identifier: one line of UTF-8
 * text (no control characters), at most 255 bytes. */
bool agent_host_text_valid(const char *s);
/* Check a host status name (working, standby, maintenance, poweroff). */
bool agent_status_valid(const char *s);
void agent_config_free(struct agent_config *c);

#endif
