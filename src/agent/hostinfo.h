/*
 * hostinfo.h - what the agent tells the server about its host when it
 * registers: name, display name, custom identifier, roles, and metadata
 * (OS, kernel, CPUs, memory, interfaces with addresses, agent version).
 */
#ifndef SABA_AGENT_HOSTINFO_H
#define SABA_AGENT_HOSTINFO_H

#include "agent/config.h"
#include "base/buf.h"

/* The host name metrics are labelled with: host.name from the config, else
 * the kernel's node name (uname -n), as node_exporter's nodename. Writes at
 * most n bytes into out. */
void hostinfo_name(const struct agent_config *c, char *out, size_t n);

/* The body of POST/PUT /api/v0/hosts:
 *   {"name", "display_name", "custom_identifier", "roles": ["svc:role"],
 *    "meta": {"os", "kernel": {"name","release","version","machine"},
 *             "cpu": {"count","model"}, "memory_bytes",
 *             "interfaces": [{"name","mac","addresses":["10.0.0.1/24",...]}],
 *             "agent_version"}}
 * proc_root is "/proc" (tests may point it elsewhere). */
void hostinfo_json(const struct agent_config *c, const char *host, const char *proc_root,
                   struct buf *out);

#endif
