/*
 * check.h - check plugins: Nagios exit codes -> a status and a message, as
 * reported to POST /api/v0/checks/report.
 *
 * Exit 0 is OK, 1 WARNING, 2 CRITICAL, anything else (3, a signal, a
 * timeout, a command that cannot start) UNKNOWN. The message is the check's
 * stdout, at most CHECK_MAX_MESSAGE bytes (cut at a UTF-8 boundary),
 * trailing whitespace removed.
 */
#ifndef SABA_AGENT_CHECK_H
#define SABA_AGENT_CHECK_H

#include <stdint.h>

#include "agent/proc.h"
#include "base/buf.h"

#define CHECK_MAX_MESSAGE 1024

enum check_status { CHECK_OK, CHECK_WARNING, CHECK_CRITICAL, CHECK_UNKNOWN };

const char *check_status_name(enum check_status s);
/* Parse "OK", "WARNING", "CRITICAL", "UNKNOWN". Returns 0 or -1. */
int check_status_parse(const char *s, enum check_status *out);
enum check_status check_status_of(const struct proc_job *j);

/* Append one report object for a finished job:
 *   {"name","status","message","occurred_at":<unix s>,"interval":<s>} */
void check_report_json(const struct proc_job *j, int64_t occurred_ms, struct buf *out);

#endif
