/*
 * check.c - check results from exit codes and output (see check.h).
 */
#include "agent/check.h"
#include "storage/labels.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

const char *check_status_name(enum check_status s)
{
    return names[s <= CHECK_UNKNOWN ? s : CHECK_UNKNOWN];
}

int check_status_parse(const char *s, enum check_status *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum check_status)i;
            return 0;
        }
    return -1;
}

enum check_status check_status_of(const struct proc_job *j)
{
    if (!j->started || j->timed_out || j->signal)
        return CHECK_UNKNOWN;
    switch (j->exit_code) {
    case 0:
        return CHECK_OK;
    case 1:
        return CHECK_WARNING;
    case 2:
        return CHECK_CRITICAL;
    default:
        return CHECK_UNKNOWN;
    }
}

void check_report_json(const struct proc_job *j, int64_t occurred_ms, struct buf *out)
{
    char msg[CHECK_MAX_MESSAGE + 160];
    size_t n;
    if (!j->started) {
        n = (size_t)snprintf(msg, sizeof msg, "cannot run the check: %s", j->error);
    } else if (j->timed_out) {
        n = (size_t)snprintf(msg, sizeof msg, "check timed out after %lld ms and was killed",
                             (long long)j->cmd->timeout_ms);
    } else {
        n = j->out.len < CHECK_MAX_MESSAGE ? j->out.len : CHECK_MAX_MESSAGE;
        /* do not cut a UTF-8 sequence: back off over continuation bytes */
        if (n < j->out.len)
            while (n && ((unsigned char)j->out.data[n] & 0xC0) == 0x80)
                n--;
        memcpy(msg, j->out.data ? j->out.data : "", n);
        if (n == 0 && j->signal)
            n = (size_t)snprintf(msg, sizeof msg, "check killed by signal %d", j->signal);
    }
    if (n >= sizeof msg)
        n = sizeof msg - 1;
    while (n &&
           (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ' || msg[n - 1] == '\t'))
        n--;
    /* the message is text: a check printing binary or another encoding gets
     * its non-ASCII bytes replaced, so the report stays valid JSON */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20 && msg[i] != '\n' && msg[i] != '\t')
            msg[i] = '?';
    char flat[sizeof msg];
    for (size_t i = 0; i < n; i++)
        flat[i] = msg[i] == '\n' ? ' ' : msg[i];
    if (!utf8_valid_text(flat, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)msg[i] >= 0x80)
                msg[i] = '?';
    buf_puts(out, "{\"name\":");
    buf_put_json_str(out, j->cmd->name, strlen(j->cmd->name));
    buf_printf(out, ",\"status\":\"%s\",\"message\":", check_status_name(check_status_of(j)));
    buf_put_json_str(out, msg, n);
    buf_printf(out, ",\"occurred_at\":%lld.%03d,\"interval\":%lld}",
               (long long)(occurred_ms / 1000), (int)(occurred_ms % 1000),
               (long long)(j->cmd->interval_ms / 1000));
}
