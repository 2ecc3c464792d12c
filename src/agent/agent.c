/*
 * agent.c - `saba agent`: flags, the main loop, registration and delivery
 * (see agent.h).
 *
 * One thread. The loop sleeps in sigtimedwait() until the next thing is due
 * (a collection, a check, a retry), so SIGTERM/SIGINT are taken between
 * steps and the stop is orderly: host status on_stop is sent, and batches
 * not yet delivered are spooled to disk for the next start. Retries use
 * exponential backoff with jitter (half to full delay) so that a fleet of
 * agents does not hammer a server that is coming back.
 */
#include "agent/agent.h"
#include "agent/check.h"
#include "agent/client.h"
#include "agent/collect.h"
#include "agent/config.h"
#include "agent/hostinfo.h"
#include "agent/mset.h"
#include "agent/outbox.h"
#include "agent/plugin_output.h"
#include "agent/proc.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PLUGIN_MAX_OUTPUT   (1 << 20) /* bytes of stdout kept per metric plugin run */
#define REQUEST_TIMEOUT_MS  10000
#define MAX_PENDING_REPORTS 1000 /* check reports kept while the server is away */
#define SENDS_PER_WAKEUP    256  /* batches sent before the loop looks at its clock again */
#define BAD_LINES_LOGGED    5    /* per plugin run; the rest are counted */

struct agent {
    struct agent_config cfg;
    char host[256];
    struct collectors *col;
    struct mset m;
    struct buf json, gz;
    struct client *cl;
    struct outbox *ob;
    /* registration */
    char host_id[128];
    bool registered;
    int64_t reg_next;
    int reg_fails;
    /* delivery */
    int64_t send_next;
    int send_fails;
    uint64_t sent_batches;
    /* checks */
    int64_t *check_next;
    char *reports[MAX_PENDING_REPORTS]; /* report objects (JSON), oldest first */
    size_t nreports;
    int64_t report_next;
    int report_fails;
};

/* ---- backoff ------------------------------------------------------------------ */

static int64_t backoff_ms(int fails, int64_t cap_ms)
{
    int64_t d = 1000;
    for (int i = 1; i < fails && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    /* jitter: uniformly in [d/2, d) */
    return d / 2 + (int64_t)(((double)rand() / ((double)RAND_MAX + 1)) * (double)(d / 2));
}

static int64_t backoff_cap(const struct agent *a)
{
    /* retry at least once an interval, at most once a minute apart */
    int64_t cap = a->cfg.interval_ms;
    return cap < 2000 ? 2000 : cap > 60000 ? 60000 : cap;
}

/* ---- plugins -------------------------------------------------------------------- */

struct bad_ctx {
    const char *plugin;
    size_t logged;
};

static void on_bad_line(void *ctx, long line, const char *reason)
{
    struct bad_ctx *b = ctx;
    if (b->logged++ < BAD_LINES_LOGGED)
        log_warn("plugin", "msg=\"bad output line skipped\" plugin=\"%s\" line=%ld reason=\"%s\"",
                 b->plugin, line, reason);
}

static void run_plugins(struct agent *a)
{
    size_t n = a->cfg.nplugins;
    if (!n)
        return;
    struct proc_job *jobs = xcalloc(n, sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i].cmd = &a->cfg.plugins[i];
        jobs[i].out_max = PLUGIN_MAX_OUTPUT;
    }
    proc_run_all(jobs, n);
    for (size_t i = 0; i < n; i++) {
        struct proc_job *j = &jobs[i];
        const char *name = j->cmd->name;
        if (!j->started) {
            log_warn("plugin", "msg=\"cannot run plugin\" plugin=\"%s\" reason=\"%s\"", name,
                     j->error);
        } else if (j->timed_out) {
            log_warn("plugin",
                     "msg=\"plugin timed out and was killed; its output is dropped\" "
                     "plugin=\"%s\" timeout_ms=%lld",
                     name, (long long)j->cmd->timeout_ms);
        } else {
            if (j->exit_code != 0)
                log_warn("plugin", "msg=\"plugin failed\" plugin=\"%s\" exit=%d signal=%d", name,
                         j->exit_code, j->signal);
            if (j->truncated)
                log_warn("plugin", "msg=\"plugin output truncated\" plugin=\"%s\" max_bytes=%d",
                         name, PLUGIN_MAX_OUTPUT);
            struct bad_ctx bc = {name, 0};
            size_t bad =
                plugin_output_parse(j->out.data, j->out.len, now_ms(), &a->m, on_bad_line, &bc);
            if (bad > BAD_LINES_LOGGED)
                log_warn("plugin", "msg=\"more bad output lines skipped\" plugin=\"%s\" bad=%zu",
                         name, bad);
        }
        proc_job_free(j);
    }
    free(jobs);
}

/* One collection: system collectors and plugins, all stamped with t. */
static void collect(struct agent *a)
{
    mset_reset(&a->m);
    collectors_run(a->col, &a->m);
    run_plugins(a);
}

/* ---- state directory ------------------------------------------------------------ */

static void state_path(const struct agent *a, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", a->cfg.state_dir, name);
}

static void load_host_id(struct agent *a)
{
    char path[4096];
    state_path(a, "host_id", path, sizeof path);
    a->host_id[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(a->host_id, sizeof a->host_id, f))
        a->host_id[strcspn(a->host_id, "\r\n")] = '\0';
    fclose(f);
}

static int save_host_id(struct agent *a)
{
    char path[4096], tmp[4200];
    state_path(a, "host_id", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%s\n", a->host_id);
    int rc = fflush(f) || fsync(fileno(f));
    rc |= fclose(f);
    if (rc || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- registration ----------------------------------------------------------------- */

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static long send_status(struct agent *a, const char *status)
{
    char path[256], body[64], why[256] = "";
    snprintf(path, sizeof path, "/api/v0/hosts/%s/status", a->host_id);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    long st = client_request(a->cl, "POST", path, body, strlen(body), false, NULL, why, sizeof why);
    if (st == 200)
        log_info("agent", "msg=\"host status set\" host_id=%s status=%s", a->host_id, status);
    else
        log_warn("agent",
                 "msg=\"cannot set host status\" host_id=%s status=%s http=%ld reason=\"%s\"",
                 a->host_id, status, st, why);
    return st;
}

/* POST or PUT the host. Returns true once registered. */
static bool try_register(struct agent *a)
{
    struct buf body = BUF_INIT, resp = BUF_INIT;
    hostinfo_json(&a->cfg, a->host, "/proc", &body);
    char why[256] = "", path[256];
    long st = 0;
    if (a->host_id[0]) {
        snprintf(path, sizeof path, "/api/v0/hosts/%s", a->host_id);
        st = client_request(a->cl, "PUT", path, body.data, body.len, false, &resp, why, sizeof why);
        if (st == 404) {
            log_warn("agent",
                     "msg=\"server does not know our host id; registering anew\" "
                     "host_id=%s",
                     a->host_id);
            a->host_id[0] = '\0';
        }
    }
    if (!a->host_id[0]) {
        buf_reset(&resp);
        st = client_request(a->cl, "POST", "/api/v0/hosts", body.data, body.len, false, &resp, why,
                            sizeof why);
        if (st == 200 || st == 201) {
            json_t *j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
            const char *id = json_string_value(json_object_get(j, "id"));
            if (id && id_valid(id)) {
                snprintf(a->host_id, sizeof a->host_id, "%s", id);
                if (save_host_id(a) != 0)
                    log_error("agent", "msg=\"cannot save the host id\" dir=%s reason=\"%s\"",
                              a->cfg.state_dir, strerror(errno));
            } else {
                st = 0;
                snprintf(why, sizeof why, "no host id in the answer");
            }
            json_decref(j);
        }
    }
    bool ok = st == 200 || st == 201;
    if (ok) {
        log_info("agent", "msg=registered host=%s host_id=%s", a->host, a->host_id);
        if (a->cfg.status_on_start)
            send_status(a, a->cfg.status_on_start);
    } else {
        a->reg_fails++;
        int64_t d = st >= 400 && st < 500 ? 60000 : backoff_ms(a->reg_fails, backoff_cap(a));
        if (a->reg_fails > 1 && a->reg_fails % 10 != 0)
            ; /* a server away for long: say so now and then, not every retry */
        else if (st)
            log_warn("agent",
                     "msg=\"registration failed; retrying\" http=%ld body=\"%.*s\" retry_ms=%lld",
                     st, (int)(resp.len < 200 ? resp.len : 200), resp.data ? resp.data : "",
                     (long long)d);
        else
            log_warn("agent", "msg=\"registration failed; retrying\" reason=\"%s\" retry_ms=%lld",
                     why, (long long)d);
        a->reg_next = now_ms() + d;
    }
    buf_free(&body);
    buf_free(&resp);
    return ok;
}

/* ---- delivery ------------------------------------------------------------------------ */

static void enqueue(struct agent *a, int64_t t)
{
    buf_reset(&a->json);
    buf_reset(&a->gz);
    mset_write_json(&a->m, a->host, t, &a->json);
    gzip_compress(a->json.data, a->json.len, &a->gz);
    outbox_push(a->ob, a->gz.data, a->gz.len);
}

/* Send batches oldest first until the outbox is empty or the server fails. */
static void deliver(struct agent *a)
{
    for (int k = 0; k < SENDS_PER_WAKEUP; k++) {
        const void *data;
        size_t n;
        if (outbox_peek(a->ob, &data, &n) != 0)
            return;
        char why[256] = "";
        struct buf resp = BUF_INIT;
        long st =
            client_request(a->cl, "POST", "/api/v0/metrics", data, n, true, &resp, why, sizeof why);
        if (st >= 200 && st < 300) {
            outbox_pop(a->ob);
            a->sent_batches++;
            if (a->send_fails)
                log_info("agent", "msg=\"server is back; sending buffered batches\" queued=%zu",
                         outbox_count(a->ob));
            a->send_fails = 0;
        } else if (st >= 400 && st < 500 && st != 408 && st != 429) {
            /* the server refuses this batch as bad: retrying cannot help */
            log_error("agent", "msg=\"server refused a batch; dropped\" http=%ld body=\"%.*s\"", st,
                      (int)(resp.len < 300 ? resp.len : 300), resp.data ? resp.data : "");
            outbox_pop(a->ob);
        } else {
            a->send_fails++;
            int64_t d = backoff_ms(a->send_fails, backoff_cap(a));
            a->send_next = now_ms() + d;
            if (a->send_fails == 1 || a->send_fails % 10 == 0)
                log_warn("agent",
                         "msg=\"cannot send metrics; keeping them\" http=%ld reason=\"%s\" "
                         "queued=%zu spooled=%zu retry_ms=%lld",
                         st, st ? "server error" : why, outbox_count(a->ob), outbox_spooled(a->ob),
                         (long long)d);
            buf_free(&resp);
            return;
        }
        buf_free(&resp);
    }
}

/* ---- checks ------------------------------------------------------------------------------ */

static void run_due_checks(struct agent *a, int64_t now)
{
    size_t n = 0;
    struct proc_job *jobs = xcalloc(a->cfg.nchecks ? a->cfg.nchecks : 1, sizeof *jobs);
    for (size_t i = 0; i < a->cfg.nchecks; i++) {
        if (a->check_next[i] > now)
            continue;
        jobs[n].cmd = &a->cfg.checks[i];
        jobs[n].out_max = CHECK_MAX_MESSAGE + 4; /* a little more, to cut on a boundary */
        n++;
        a->check_next[i] = now + a->cfg.checks[i].interval_ms;
    }
    if (n)
        proc_run_all(jobs, n);
    for (size_t i = 0; i < n; i++) {
        if (a->nreports == MAX_PENDING_REPORTS) {
            free(a->reports[0]);
            memmove(a->reports, a->reports + 1, (a->nreports - 1) * sizeof a->reports[0]);
            a->nreports--;
            static int64_t last;
            if (log_ratelimited(&last, 60000))
                log_warn("check", "msg=\"too many unsent check reports; dropping the oldest\"");
        }
        struct buf r = BUF_INIT;
        check_report_json(&jobs[i], now, &r);
        a->reports[a->nreports++] = buf_steal(&r);
        log_debug("check", "msg=\"check ran\" check=\"%s\" status=%s", jobs[i].cmd->name,
                  check_status_name(check_status_of(&jobs[i])));
        proc_job_free(&jobs[i]);
    }
    free(jobs);
}

static void clear_reports(struct agent *a)
{
    for (size_t i = 0; i < a->nreports; i++)
        free(a->reports[i]);
    a->nreports = 0;
}

static void send_reports(struct agent *a)
{
    if (!a->nreports || !a->registered)
        return;
    struct buf body = BUF_INIT, resp = BUF_INIT;
    buf_puts(&body, "{\"host_id\":");
    buf_put_json_str(&body, a->host_id, strlen(a->host_id));
    buf_puts(&body, ",\"reports\":[");
    for (size_t i = 0; i < a->nreports; i++) {
        if (i)
            buf_putc(&body, ',');
        buf_puts(&body, a->reports[i]);
    }
    buf_puts(&body, "]}");
    char why[256] = "";
    long st = client_request(a->cl, "POST", "/api/v0/checks/report", body.data, body.len, false,
                             &resp, why, sizeof why);
    if ((st >= 200 && st < 300) || (st >= 400 && st < 500 && st != 408 && st != 429)) {
        if (st >= 300)
            log_error("check",
                      "msg=\"server refused check reports; dropped\" http=%ld body=\"%.*s\"", st,
                      (int)(resp.len < 300 ? resp.len : 300), resp.data ? resp.data : "");
        clear_reports(a);
        a->report_fails = 0;
    } else {
        a->report_fails++;
        a->report_next = now_ms() + backoff_ms(a->report_fails, backoff_cap(a));
    }
    buf_free(&body);
    buf_free(&resp);
}

/* ---- flags -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: saba agent [--config FILE] [--server URL] [--api-key KEY] [--role SVC:ROLE]...\n"
           "                  [--host NAME] [--interval DURATION] [--state-dir DIR]\n"
           "                  [--log-level LEVEL]\n"
           "       saba agent once [--config FILE] [--host NAME] [--count N]\n"
           "       saba agent retire [--config FILE] [--server URL] [--state-dir DIR]\n"
           "\n"
           "  --config FILE        agent YAML configuration (see README); flags override it\n"
           "  --server URL         the saba server, e.g. http://mon:9650\n"
           "  --api-key KEY        sent as X-Api-Key\n"
           "  --role SVC:ROLE      a role of this host (repeatable)\n"
           "  --host NAME          host name (default: the kernel's node name)\n"
           "  --interval DURATION  collection interval (default 60s, at least 1s)\n"
           "  --state-dir DIR      host id and spool (default " AGENT_DEFAULT_STATE_DIR ")\n"
           "  --count N            once: collect N times (for measuring), print the last\n");
}

enum verb { V_RUN, V_ONCE, V_RETIRE };

static int parse_flags(int argc, char **argv, enum verb verb, struct agent_config *cfg, long *count)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"server", required_argument, NULL, 's'},
        {"api-key", required_argument, NULL, 'k'},
        {"role", required_argument, NULL, 'r'},
        {"host", required_argument, NULL, 'H'},
        {"interval", required_argument, NULL, 'i'},
        {"state-dir", required_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'L'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* the config file first, so that flags override it wherever they are */
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            struct saba_err err = {0};
            if (agent_config_load(cfg, optarg, &err) != 0) {
                fprintf(stderr, "saba agent: %s\n", err.msg);
                return 1;
            }
        }
    }
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 's':
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
                fprintf(stderr, "saba agent: --server: \"%s\" is not an http:// URL\n", optarg);
                return 2;
            }
            free(cfg->server);
            cfg->server = xstrdup(optarg);
            break;
        case 'k':
            free(cfg->api_key);
            cfg->api_key = xstrdup(optarg);
            break;
        case 'r': {
            if (!agent_role_valid(optarg)) {
                fprintf(stderr, "saba agent: --role: invalid role \"%s\" (expected service:role)\n",
                        optarg);
                return 2;
            }
            size_t n = 0;
            while (cfg->roles[n])
                n++;
            cfg->roles = xrealloc(cfg->roles, (n + 2) * sizeof *cfg->roles);
            cfg->roles[n] = xstrdup(optarg);
            cfg->roles[n + 1] = NULL;
            break;
        }
        case 'H':
            if (!*optarg || !agent_host_text_valid(optarg)) {
                fprintf(stderr, "saba agent: --host: want one line of text, 1 to 255 bytes\n");
                return 2;
            }
            free(cfg->host_name);
            cfg->host_name = xstrdup(optarg);
            break;
        case 'i': {
            int64_t ms;
            if (duration_parse(optarg, &ms) || ms < AGENT_MIN_INTERVAL_MS) {
                fprintf(stderr,
                        "saba agent: --interval: want a duration of at least 1s, got \"%s\"\n",
                        optarg);
                return 2;
            }
            cfg->interval_ms = ms;
            break;
        }
        case 'S':
            free(cfg->state_dir);
            cfg->state_dir = xstrdup(optarg);
            break;
        case 'L':
            free(cfg->log_level);
            cfg->log_level = xstrdup(optarg);
            break;
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (verb != V_ONCE || *end || v < 1 || v > 100000000) {
                fprintf(stderr, "saba agent: --count is for 'once' and wants 1..100000000\n");
                return 2;
            }
            *count = v;
            break;
        }
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "saba agent: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    enum log_level lvl;
    if (log_level_parse(cfg->log_level, &lvl) != 0) {
        fprintf(stderr, "saba agent: unknown log level \"%s\"\n", cfg->log_level);
        return 2;
    }
    log_set_level(lvl);
    if (verb != V_ONCE && !cfg->server) {
        fprintf(stderr, "saba agent: no server: give --server URL or server: in the config\n");
        return 2;
    }
    return 0;
}

static int setup_collectors(struct agent *a)
{
    struct saba_err err = {0};
    if (collectors_new(&a->cfg.collect, &a->col, &err) != 0) {
        fprintf(stderr, "saba agent: %s\n", err.msg);
        return 1;
    }
    hostinfo_name(&a->cfg, a->host, sizeof a->host);
    mset_init(&a->m);
    return 0;
}

static void agent_free(struct agent *a)
{
    collectors_free(a->col);
    mset_free(&a->m);
    buf_free(&a->json);
    buf_free(&a->gz);
    clear_reports(a);
    client_free(a->cl);
    free(a->check_next);
    agent_config_free(&a->cfg);
}

/* ---- verbs ------------------------------------------------------------------------------- */

static int agent_once(struct agent *a, long count)
{
    if (setup_collectors(a))
        return 1;
    for (long i = 0; i < count; i++) {
        int64_t t = now_ms();
        collect(a);
        /* the work a delivery does too, so that --count measures a whole collection */
        buf_reset(&a->json);
        buf_reset(&a->gz);
        mset_write_json(&a->m, a->host, t, &a->json);
        gzip_compress(a->json.data, a->json.len, &a->gz);
    }
    struct buf out = BUF_INIT;
    mset_write_prom(&a->m, a->host, &out);
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    buf_free(&out);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int agent_retire(struct agent *a)
{
    load_host_id(a);
    if (!a->host_id[0]) {
        fprintf(stderr,
                "saba agent retire: no host id in %s/host_id: this host is not registered\n",
                a->cfg.state_dir);
        return 1;
    }
    char path[256], why[256] = "";
    a->cl = client_new(a->cfg.server, a->cfg.api_key, REQUEST_TIMEOUT_MS, why, sizeof why);
    if (!a->cl) {
        fprintf(stderr, "saba agent retire: %s\n", why);
        return 1;
    }
    snprintf(path, sizeof path, "/api/v0/hosts/%s/retire", a->host_id);
    struct buf resp = BUF_INIT;
    long st = client_request(a->cl, "POST", path, NULL, 0, false, &resp, why, sizeof why);
    int rc = 0;
    if (st == 200) {
        char hp[4096];
        state_path(a, "host_id", hp, sizeof hp);
        unlink(hp);
        printf("retired host %s\n", a->host_id);
    } else {
        fprintf(stderr, "saba agent retire: %s: %s\n", path,
                st ? (resp.data ? resp.data : "error") : why);
        rc = 1;
    }
    buf_free(&resp);
    return rc;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int agent_run(struct agent *a)
{
    if (setup_collectors(a))
        return 1;
    if (mkdir(a->cfg.state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "saba agent: cannot create state directory %s: %s\n", a->cfg.state_dir,
                strerror(errno));
        return 1;
    }
    char spool[4096];
    state_path(a, "spool", spool, sizeof spool);
    struct saba_err err = {0};
    if (outbox_open(spool, a->cfg.memory_bytes, a->cfg.spool_bytes, &a->ob, &err) != 0) {
        fprintf(stderr, "saba agent: %s\n", err.msg);
        return 1;
    }
    char why[256] = "";
    a->cl = client_new(a->cfg.server, a->cfg.api_key, REQUEST_TIMEOUT_MS, why, sizeof why);
    if (!a->cl) {
        fprintf(stderr, "saba agent: %s\n", why);
        outbox_close(a->ob);
        a->ob = NULL;
        return 1;
    }
    load_host_id(a);
    srand((unsigned)(now_ms() ^ getpid()));
    a->check_next = xcalloc(a->cfg.nchecks ? a->cfg.nchecks : 1, sizeof *a->check_next);

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("agent",
             "msg=started host=%s server=%s transport=%s interval_ms=%lld plugins=%zu checks=%zu",
             a->host, a->cfg.server, client_kind(a->cl), (long long)a->cfg.interval_ms,
             a->cfg.nplugins, a->cfg.nchecks);

    int64_t iv = a->cfg.interval_ms;
    int64_t next_collect = now_ms();
    int sig = 0;
    for (;;) {
        int64_t now = now_ms();
        if (now >= next_collect) {
            int64_t t = now;
            collect(a);
            enqueue(a, t);
            /* the next tick on the interval grid; ticks missed (a slow plugin, a
             * suspended machine) are skipped, not bunched */
            next_collect = (now_ms() / iv + 1) * iv;
        }
        if (a->cfg.nchecks)
            run_due_checks(a, now_ms());
        if (!a->registered && now_ms() >= a->reg_next)
            a->registered = try_register(a);
        if (a->nreports && now_ms() >= a->report_next)
            send_reports(a);
        if (outbox_count(a->ob) && now_ms() >= a->send_next)
            deliver(a);

        /* sleep until the next thing is due */
        int64_t wake = next_collect;
        for (size_t i = 0; i < a->cfg.nchecks; i++)
            wake = min64(wake, a->check_next[i]);
        if (!a->registered)
            wake = min64(wake, a->reg_next);
        if (outbox_count(a->ob))
            wake = min64(wake, a->send_next);
        if (a->nreports && a->registered)
            wake = min64(wake, a->report_next);
        /* wait even when something is already due (d 0): a stop signal must
         * be seen between steps however busy the loop is */
        int64_t d = wake - now_ms();
        if (d < 0)
            d = 0;
        struct timespec ts = {d / 1000, (d % 1000) * 1000000};
        sig = sigtimedwait(&stop, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    log_info("agent", "msg=stopping signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (a->registered && a->cfg.status_on_stop)
        send_status(a, a->cfg.status_on_stop);
    if (outbox_count(a->ob) && a->send_fails == 0)
        deliver(a);
    outbox_close(a->ob);
    a->ob = NULL;
    log_info("agent", "msg=stopped sent_batches=%llu", (unsigned long long)a->sent_batches);
    return 0;
}

int agent_main(int argc, char **argv)
{
    enum verb verb = V_RUN;
    if (argc >= 2 && !strcmp(argv[1], "once"))
        verb = V_ONCE;
    else if (argc >= 2 && !strcmp(argv[1], "retire"))
        verb = V_RETIRE;
    if (verb != V_RUN) {
        argc--;
        argv++;
    }
    struct agent a;
    memset(&a, 0, sizeof a);
    agent_config_defaults(&a.cfg);
    long count = 1;
    int rc = parse_flags(argc, argv, verb, &a.cfg, &count);
    if (rc == 0) {
        switch (verb) {
        case V_ONCE:
            rc = agent_once(&a, count);
            break;
        case V_RETIRE:
            rc = agent_retire(&a);
            break;
        case V_RUN:
            rc = agent_run(&a);
            break;
        }
    } else if (rc < 0) {
        rc = 0; /* --help */
    }
    agent_free(&a);
    return rc;
}
