/*
 * proc.h - running plugin and check commands: fork/exec with a timeout, an
 * environment, an optional user, and stdout captured up to a bound.
 *
 * Several commands run at once (proc_run_all): a slow plugin delays the
 * collection by at most its own timeout, not the sum of all. Each command
 * runs in its own process group, so a timeout kills the command and
 * everything it started (a shell's children too). No shell is involved
 * unless the configuration asked for one (agent_cmd.argv is then
 * /bin/sh -c "...").
 */
#ifndef SABA_AGENT_PROC_H
#define SABA_AGENT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/config.h"
#include "base/buf.h"

struct proc_job {
    const struct agent_cmd *cmd; /* borrowed */
    size_t out_max;              /* stdout beyond this is read and discarded */
    /* results */
    struct buf out;  /* stdout, NUL-terminated */
    bool truncated;  /* stdout was longer than out_max */
    bool timed_out;  /* killed at cmd->timeout_ms */
    bool started;    /* false: could not start (reason in error) */
    int exit_code;   /* exit status, or -1 if killed by a signal */
    int signal;      /* the signal that ended it, 0 if it exited */
    char error[160]; /* why it did not start */
    /* internal */
    pid_t pid;
    int fd;
    long long deadline_ns;
};

/* Run n jobs concurrently until each has exited or been killed at its
 * timeout; fills in the result fields. Callers set cmd and out_max, and free
 * out with proc_job_free. */
void proc_run_all(struct proc_job *jobs, size_t n);
void proc_job_free(struct proc_job *j);

#endif
