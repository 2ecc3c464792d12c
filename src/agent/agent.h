/*
 * agent.h - `saba agent`: the process every monitored host runs.
 *
 *   saba agent [flags]           collect every interval and ship to the server
 *   saba agent once [flags]      collect once, print Prometheus text, send nothing
 *   saba agent retire [flags]    retire this host on the server
 *
 * Data flow: collectors + plugins -> mset -> saba JSON -> gzip -> outbox
 * (memory, then spool) -> POST /api/v0/metrics; checks -> POST
 * /api/v0/checks/report; host metadata -> POST/PUT /api/v0/hosts.
 */
#ifndef SABA_AGENT_AGENT_H
#define SABA_AGENT_AGENT_H

/* Returns the process exit status. */
int agent_main(int argc, char **argv);

#endif
