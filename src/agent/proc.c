/*
 * proc.c - the command runner (see proc.h).
 *
 * The agent is single-threaded, so the child may call getpwnam-free but not
 * async-signal-safe functions (setenv) between fork and exec; the user's
 * uid/gid/groups are looked up in the parent. Invariant: every started child
 * is reaped before proc_run_all returns (SIGKILL at the deadline, then a
 * blocking waitpid, which a SIGKILLed process cannot delay).
 */
#include "agent/proc.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void proc_job_free(struct proc_job *j)
{
    buf_free(&j->out);
}

static void start(struct proc_job *j)
{
    const struct agent_cmd *c = j->cmd;
    uid_t uid = 0;
    gid_t gid = 0;
    if (c->user) {
        struct passwd *pw = getpwnam(c->user);
        if (!pw) {
            snprintf(j->error, sizeof j->error, "unknown user \"%s\"", c->user);
            return;
        }
        if (geteuid() != 0 && pw->pw_uid != geteuid()) {
            snprintf(j->error, sizeof j->error, "user \"%s\" needs the agent to run as root",
                     c->user);
            return;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(j->error, sizeof j->error, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(j->error, sizeof j->error, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(p[1], 1);
        /* stderr stays the agent's: plugin complaints land in its log */
        close_range(3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (c->user && (initgroups(c->user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
            dprintf(2, "saba agent: %s: cannot switch to user %s: %s\n", c->name, c->user,
                    strerror(errno));
            _exit(126);
        }
        for (size_t i = 0; c->env && c->env[i]; i++)
            putenv(c->env[i]);
        execvp(c->argv[0], c->argv);
        dprintf(2, "saba agent: %s: cannot run %s: %s\n", c->name, c->argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    j->pid = pid;
    j->fd = p[0];
    j->started = true;
    j->deadline_ns = mono_ns() + (long long)c->timeout_ms * 1000000LL;
}

static void drain(struct proc_job *j)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(j->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(j->fd);
            j->fd = -1;
            return;
        }
        size_t room = j->out.len < j->out_max ? j->out_max - j->out.len : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        if (take)
            buf_append(&j->out, chunk, take);
        if (take < (size_t)n)
            j->truncated = true;
    }
}

static void kill_job(struct proc_job *j)
{
    if (!j->timed_out) {
        j->timed_out = true;
        kill(-j->pid, SIGKILL);
        kill(j->pid, SIGKILL); /* if setpgid had not run yet */
    }
}

void proc_run_all(struct proc_job *jobs, size_t n)
{
    struct pollfd *pfd = xcalloc(n ? n : 1, sizeof *pfd);
    for (size_t i = 0; i < n; i++) {
        struct proc_job *j = &jobs[i];
        j->fd = -1;
        j->pid = 0;
        j->exit_code = -1;
        buf_reset(&j->out);
        buf_puts(&j->out, ""); /* NUL-terminated even when empty */
        start(j);
    }
    /* phase 1: read stdout until EOF or the deadline */
    for (;;) {
        long long now = mono_ns(), wait_ns = -1;
        /* a stop request (SIGTERM/SIGINT, blocked and pending in the agent)
         * cuts every command short: the agent must spool and exit before a
         * service manager loses patience, not wait out a 30 s timeout */
        sigset_t pend;
        if (sigpending(&pend) == 0 && (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT)))
            for (size_t i = 0; i < n; i++)
                if (jobs[i].fd >= 0)
                    jobs[i].deadline_ns = now;
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
            struct proc_job *j = &jobs[i];
            if (j->fd < 0)
                continue;
            if (now >= j->deadline_ns) {
                kill_job(j);
                drain(j);
                if (j->fd >= 0) {
                    close(j->fd);
                    j->fd = -1;
                }
                continue;
            }
            long long left = j->deadline_ns - now;
            if (wait_ns < 0 || left < wait_ns)
                wait_ns = left;
            pfd[np].fd = j->fd;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            np++;
        }
        if (!np)
            break;
        /* wake at least every 100 ms to notice a stop request */
        int ms = wait_ns > 100000000 ? 100 : (int)(wait_ns / 1000000) + 1;
        if (poll(pfd, np, ms) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < n; i++)
            if (jobs[i].fd >= 0)
                drain(&jobs[i]);
    }
    /* phase 2: reap; a command that closed stdout but keeps running is
     * still bounded by its deadline */
    for (size_t i = 0; i < n; i++) {
        struct proc_job *j = &jobs[i];
        if (!j->started)
            continue;
        int st = 0;
        for (;;) {
            pid_t r = waitpid(j->pid, &st, WNOHANG);
            if (r == j->pid || (r < 0 && errno != EINTR))
                break;
            if (mono_ns() >= j->deadline_ns) {
                kill_job(j);
                while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (WIFEXITED(st)) {
            j->exit_code = WEXITSTATUS(st);
        } else if (WIFSIGNALED(st)) {
            j->exit_code = -1;
            j->signal = WTERMSIG(st);
        }
    }
    free(pfd);
}
