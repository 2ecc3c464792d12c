/*
 * config.c - agent.yml with libfyaml (see config.h).
 *
 * The document is walked by hand, section by section: the agent's file has
 * lists of commands with nested maps (env), which a flat table of settings
 * (as in server/config.c) does not describe. Every error names file:line.
 */
#include "agent/config.h"
#include "base/alloc.h"
#include "base/num.h"
#include "base/timeutil.h"
#include "storage/labels.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agent_config_defaults(struct agent_config *c)
{
    memset(c, 0, sizeof *c);
    c->interval_ms = AGENT_DEFAULT_INTERVAL_MS;
    c->state_dir = xstrdup(AGENT_DEFAULT_STATE_DIR);
    c->log_level = xstrdup("info");
    c->memory_bytes = AGENT_DEFAULT_MEMORY_BYTES;
    c->spool_bytes = AGENT_DEFAULT_SPOOL_BYTES;
    c->roles = xcalloc(1, sizeof *c->roles);
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void cmd_free(struct agent_cmd *p)
{
    free(p->name);
    free_strv(p->argv);
    free_strv(p->env);
    free(p->user);
}

void agent_config_free(struct agent_config *c)
{
    free(c->server);
    free(c->api_key);
    free(c->state_dir);
    free(c->log_level);
    free(c->host_name);
    free(c->display_name);
    free(c->custom_identifier);
    free_strv(c->roles);
    free(c->status_on_start);
    free(c->status_on_stop);
    free((char *)c->collect.mount_exclude);
    free((char *)c->collect.fstype_exclude);
    free((char *)c->collect.disk_exclude);
    free((char *)c->collect.netdev_exclude);
    free((char *)c->collect.netstat_fields);
    for (size_t i = 0; i < c->nplugins; i++)
        cmd_free(&c->plugins[i]);
    free(c->plugins);
    for (size_t i = 0; i < c->nchecks; i++)
        cmd_free(&c->checks[i]);
    free(c->checks);
    memset(c, 0, sizeof *c);
}

static bool part_valid(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

bool agent_role_valid(const char *s)
{
    const char *colon = strchr(s, ':');
    return colon && part_valid(s, (size_t)(colon - s)) && part_valid(colon + 1, strlen(colon + 1));
}

bool agent_status_valid(const char *s)
{
    return !strcmp(s, "working") || !strcmp(s, "standby") || !strcmp(s, "maintenance") ||
           !strcmp(s, "poweroff");
}

/* ---- walking the document ------------------------------------------------ */

struct walk {
    const char *name;
    struct saba_err *err;
};

/* libfyaml keeps marks on tokens, which only scalars have: a mapping or list
 * is located by its first scalar (its first key or item). */
static int node_line(struct fy_node *n)
{
    for (int depth = 0; n && depth < 64; depth++) {
        void *it = NULL;
        switch (fy_node_get_type(n)) {
        case FYNT_SCALAR: {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            return m ? m->line + 1 : 0;
        }
        case FYNT_MAPPING: {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
            break;
        }
        case FYNT_SEQUENCE:
            n = fy_node_sequence_iterate(n, &it);
            break;
        }
    }
    return 0;
}

#define FAIL(w, node, ...) fail(w, node_line(node), __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int fail(struct walk *w, int line, const char *fmt,
                                                      ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(w->err, SABA_EINVAL, line, "%s:%d: %s", w->name, line, msg);
}

static const char *scalar(struct fy_node *n)
{
    return n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar0(n) : NULL;
}

static int get_str(struct walk *w, const char *key, struct fy_node *v, char **out)
{
    const char *s = scalar(v);
    if (!s)
        return FAIL(w, v, "\"%s\" must be a single value", key);
    free(*out);
    *out = xstrdup(s);
    return 0;
}

static int get_duration(struct walk *w, const char *key, struct fy_node *v, int64_t min,
                        int64_t *out)
{
    const char *s = scalar(v);
    int64_t ms;
    if (!s || duration_parse(s, &ms) || ms < min)
        return FAIL(w, v,
                    "\"%s\": invalid value \"%s\" (expected a duration like 60s, at least %lld ms)",
                    key, s ? s : "", (long long)min);
    *out = ms;
    return 0;
}

static int get_size(struct walk *w, const char *key, struct fy_node *v, int64_t *out)
{
    const char *s = scalar(v);
    int64_t n;
    if (!s || size_parse(s, &n) || n < 0)
        return FAIL(w, v, "\"%s\": invalid value \"%s\" (expected a size like 64MiB)", key,
                    s ? s : "");
    *out = n;
    return 0;
}

static int get_bool(struct walk *w, const char *key, struct fy_node *v, bool *out)
{
    const char *s = scalar(v);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
        *out = true;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
        *out = false;
    else
        return FAIL(w, v, "\"%s\" must be true or false", key);
    return 0;
}

/* Iterate a mapping: calls fn(key, value) for each pair. */
typedef int (*pair_fn)(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                       struct fy_node *v);

/* "section:" with every line under it commented out is an empty section. */
static bool is_null(struct fy_node *n)
{
    const char *s = scalar(n);
    return !n || (s && (!*s || !strcmp(s, "~") || !strcmp(s, "null")) &&
                  fy_node_get_style(n) == FYNS_PLAIN);
}

static int each_pair(struct walk *w, const char *what, struct fy_node *map, void *ctx, pair_fn fn)
{
    if (is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return FAIL(w, map, "\"%s\" must be a mapping", what);
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it))) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *ks = scalar(k);
        if (!ks)
            return FAIL(w, k ? k : map, "keys of \"%s\" must be plain strings", what);
        int rc = fn(w, ctx, ks, k, fy_node_pair_value(p));
        if (rc)
            return rc;
    }
    return 0;
}

static int unknown(struct walk *w, const char *section, const char *key, struct fy_node *k)
{
    return FAIL(w, k, "unknown setting \"%s%s%s\"", section, *section ? "." : "", key);
}

/* ---- sections --------------------------------------------------------------- */

bool agent_host_text_valid(const char *s)
{
    size_t n = strlen(s);
    return n <= 255 && utf8_valid_text(s, n);
}

/* Host fields become the host label of every series and the host's record:
 * text the server accepts, or the agent would have every batch refused. */
static int host_text(struct walk *w, const char *key, struct fy_node *v, char **out)
{
    int rc = get_str(w, key, v, out);
    if (!rc && (!agent_host_text_valid(*out) || (!strcmp(key, "host.name") && !**out)))
        return FAIL(w, v, "\"%s\" must be one line of UTF-8 text, 1 to 255 bytes", key);
    return rc;
}

static int host_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                     struct fy_node *v)
{
    struct agent_config *c = ctx;
    if (!strcmp(key, "name"))
        return host_text(w, "host.name", v, &c->host_name);
    if (!strcmp(key, "display_name"))
        return host_text(w, "host.display_name", v, &c->display_name);
    if (!strcmp(key, "custom_identifier"))
        return host_text(w, "host.custom_identifier", v, &c->custom_identifier);
    return unknown(w, "host", key, k);
}

static int status_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                       struct fy_node *v)
{
    struct agent_config *c = ctx;
    char **field;
    if (!strcmp(key, "on_start"))
        field = &c->status_on_start;
    else if (!strcmp(key, "on_stop"))
        field = &c->status_on_stop;
    else
        return unknown(w, "host_status", key, k);
    const char *s = scalar(v);
    if (!s || !agent_status_valid(s))
        return FAIL(w, v,
                    "\"host_status.%s\": invalid status \"%s\" (expected working, standby, "
                    "maintenance or poweroff)",
                    key, s ? s : "");
    return get_str(w, key, v, field);
}

static int buffer_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                       struct fy_node *v)
{
    struct agent_config *c = ctx;
    if (!strcmp(key, "memory"))
        return get_size(w, "buffer.memory", v, &c->memory_bytes);
    if (!strcmp(key, "spool"))
        return get_size(w, "buffer.spool", v, &c->spool_bytes);
    return unknown(w, "buffer", key, k);
}

static int regex_setting(struct walk *w, const char *key, struct fy_node *v, const char **field)
{
    char *s = (char *)*field;
    int rc = get_str(w, key, v, &s);
    *field = s;
    return rc;
}

static int collector_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                          struct fy_node *v);

struct collector_section {
    struct agent_config *c;
    const char *name;
};

static int collector_setting(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                             struct fy_node *v)
{
    struct collector_section *cs = ctx;
    struct collect_opts *o = &cs->c->collect;
    if (!strcmp(cs->name, "filesystem") && !strcmp(key, "ignored_mount_points"))
        return regex_setting(w, key, v, &o->mount_exclude);
    if (!strcmp(cs->name, "filesystem") && !strcmp(key, "ignored_fs_types"))
        return regex_setting(w, key, v, &o->fstype_exclude);
    if (!strcmp(cs->name, "diskstats") && !strcmp(key, "ignored_devices"))
        return regex_setting(w, key, v, &o->disk_exclude);
    if (!strcmp(cs->name, "netdev") && !strcmp(key, "ignored_devices"))
        return regex_setting(w, key, v, &o->netdev_exclude);
    if (!strcmp(cs->name, "netstat") && !strcmp(key, "fields"))
        return regex_setting(w, key, v, &o->netstat_fields);
    char section[64];
    snprintf(section, sizeof section, "collectors.%s", cs->name);
    return unknown(w, section, key, k);
}

static int collector_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                          struct fy_node *v)
{
    static const char *const known[] = {"filesystem", "diskstats", "netdev", "netstat", NULL};
    for (int i = 0; known[i]; i++)
        if (!strcmp(known[i], key)) {
            struct collector_section cs = {ctx, known[i]};
            return each_pair(w, key, v, &cs, collector_setting);
        }
    return unknown(w, "collectors", key, k);
}

static int strv_from_seq(struct walk *w, const char *what, struct fy_node *seq, char ***out)
{
    if (!seq || fy_node_get_type(seq) != FYNT_SEQUENCE)
        return FAIL(w, seq, "\"%s\" must be a list", what);
    int n = fy_node_sequence_item_count(seq);
    char **v = xcalloc((size_t)n + 1, sizeof *v);
    void *it = NULL;
    struct fy_node *item;
    int i = 0;
    while ((item = fy_node_sequence_iterate(seq, &it))) {
        const char *s = scalar(item);
        if (!s) {
            free_strv(v);
            return FAIL(w, item, "items of \"%s\" must be strings", what);
        }
        v[i++] = xstrdup(s);
    }
    free_strv(*out);
    *out = v;
    return 0;
}

struct cmd_ctx {
    struct agent_cmd *cmd;
    bool is_check;
    struct fy_node *command; /* resolved after the whole item is read (shell: may follow) */
    const char *what;
};

static int env_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                    struct fy_node *v)
{
    struct agent_cmd *p = ctx;
    const char *s = scalar(v);
    if (!s)
        return FAIL(w, v, "env \"%s\" must be a single value", key);
    if (!*key || strchr(key, '='))
        return FAIL(w, k, "invalid environment variable name \"%s\"", key);
    size_t n = 0;
    while (p->env && p->env[n])
        n++;
    p->env = xrealloc(p->env, (n + 2) * sizeof *p->env);
    size_t len = strlen(key) + strlen(s) + 2;
    p->env[n] = xmalloc(len);
    snprintf(p->env[n], len, "%s=%s", key, s);
    p->env[n + 1] = NULL;
    return 0;
}

static int cmd_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                    struct fy_node *v)
{
    struct cmd_ctx *cc = ctx;
    struct agent_cmd *p = cc->cmd;
    if (!strcmp(key, "name"))
        return get_str(w, "name", v, &p->name);
    if (!strcmp(key, "command")) {
        cc->command = v;
        return 0;
    }
    if (!strcmp(key, "shell"))
        return get_bool(w, "shell", v, &p->shell);
    if (!strcmp(key, "timeout"))
        return get_duration(w, "timeout", v, 1, &p->timeout_ms);
    if (!strcmp(key, "user"))
        return get_str(w, "user", v, &p->user);
    if (!strcmp(key, "env"))
        return each_pair(w, "env", v, p, env_pair);
    if (cc->is_check && !strcmp(key, "interval"))
        return get_duration(w, "interval", v, AGENT_MIN_INTERVAL_MS, &p->interval_ms);
    return unknown(w, cc->what, key, k);
}

static int cmd_list(struct walk *w, struct fy_node *seq, bool is_check, struct agent_cmd **list,
                    size_t *count)
{
    const char *what = is_check ? "checks" : "plugins";
    if (is_null(seq))
        return 0;
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return FAIL(w, seq, "\"%s\" must be a list", what);
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &it))) {
        *list = xrealloc(*list, (*count + 1) * sizeof **list);
        struct agent_cmd *p = &(*list)[(*count)++];
        memset(p, 0, sizeof *p);
        p->timeout_ms = AGENT_DEFAULT_TIMEOUT_MS;
        p->interval_ms = AGENT_DEFAULT_INTERVAL_MS;
        p->line = node_line(item);
        struct cmd_ctx cc = {p, is_check, NULL, what};
        int rc = each_pair(w, what, item, &cc, cmd_pair);
        if (rc)
            return rc;
        if (!p->name || !*p->name)
            return FAIL(w, item, "every item of \"%s\" needs a name", what);
        for (size_t i = 0; i + 1 < *count; i++)
            if (!strcmp((*list)[i].name, p->name))
                return FAIL(w, item, "%s \"%s\" is defined twice", what, p->name);
        if (!cc.command)
            return FAIL(w, item, "%s \"%s\" needs a command", what, p->name);
        const char *s = scalar(cc.command);
        if (s) {
            /* a plain string is a shell command line: only when asked for, so
             * that no string is ever handed to a shell by accident */
            if (!p->shell)
                return FAIL(w, cc.command,
                            "%s \"%s\": command is a string; give an argv list "
                            "([\"/path/to/cmd\", \"arg\"]) or set shell: true",
                            what, p->name);
            p->argv = xcalloc(4, sizeof *p->argv);
            p->argv[0] = xstrdup("/bin/sh");
            p->argv[1] = xstrdup("-c");
            p->argv[2] = xstrdup(s);
        } else {
            rc = strv_from_seq(w, "command", cc.command, &p->argv);
            if (rc)
                return rc;
            if (!p->argv[0] || !p->argv[0][0])
                return FAIL(w, cc.command, "%s \"%s\": empty command", what, p->name);
            if (p->shell)
                return FAIL(w, cc.command, "%s \"%s\": shell: true needs the command as one string",
                            what, p->name);
        }
    }
    return 0;
}

static int top_pair(struct walk *w, void *ctx, const char *key, struct fy_node *k,
                    struct fy_node *v)
{
    struct agent_config *c = ctx;
    if (!strcmp(key, "server")) {
        int rc = get_str(w, key, v, &c->server);
        if (!rc && strncmp(c->server, "http://", 7) && strncmp(c->server, "https://", 8))
            return FAIL(w, v, "\"server\": \"%s\" is not an http:// or https:// URL", c->server);
        return rc;
    }
    if (!strcmp(key, "api_key"))
        return get_str(w, key, v, &c->api_key);
    if (!strcmp(key, "interval"))
        return get_duration(w, key, v, AGENT_MIN_INTERVAL_MS, &c->interval_ms);
    if (!strcmp(key, "state_dir"))
        return get_str(w, key, v, &c->state_dir);
    if (!strcmp(key, "log_level"))
        return get_str(w, key, v, &c->log_level);
    if (!strcmp(key, "host"))
        return each_pair(w, key, v, c, host_pair);
    if (!strcmp(key, "host_status"))
        return each_pair(w, key, v, c, status_pair);
    if (!strcmp(key, "buffer"))
        return each_pair(w, key, v, c, buffer_pair);
    if (!strcmp(key, "collectors"))
        return each_pair(w, key, v, c, collector_pair);
    if (!strcmp(key, "roles")) {
        int rc = strv_from_seq(w, key, v, &c->roles);
        for (size_t i = 0; !rc && c->roles[i]; i++)
            if (!agent_role_valid(c->roles[i]))
                rc = FAIL(w, v,
                          "invalid role \"%s\" (expected service:role, letters, digits, _ "
                          "and -)",
                          c->roles[i]);
        return rc;
    }
    if (!strcmp(key, "plugins"))
        return cmd_list(w, v, false, &c->plugins, &c->nplugins);
    if (!strcmp(key, "checks"))
        return cmd_list(w, v, true, &c->checks, &c->nchecks);
    return unknown(w, "", key, k);
}

/* The 1-based line of the first byte that is not well-formed UTF-8 (or a
 * NUL), 0 if all is well. YAML is UTF-8, and libfyaml 0.8 loops forever on
 * some invalid sequences (a directive line "%s\x91..." found by fuzzing), so
 * the text is checked before libfyaml sees it. */
static long bad_utf8_line(const unsigned char *s, size_t n)
{
    long line = 1;
    for (size_t i = 0; i < n;) {
        unsigned char ch = s[i];
        size_t len = ch < 0x80             ? 1
                     : (ch & 0xE0) == 0xC0 ? 2
                     : (ch & 0xF0) == 0xE0 ? 3
                     : (ch & 0xF8) == 0xF0 ? 4
                                           : 0;
        if (ch == 0 || len == 0 || i + len > n)
            return line;
        uint32_t cp = len == 1 ? ch : ch & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return line;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return line;
        line += ch == '\n';
        i += len;
    }
    return 0;
}

int agent_config_parse(struct agent_config *c, const char *text, size_t n, const char *name,
                       struct saba_err *err)
{
    struct walk w = {name, err};
    long bad = bad_utf8_line((const unsigned char *)text, n);
    if (bad)
        return fail(&w, (int)bad, "not UTF-8 text (YAML files are UTF-8)");
    /* libfyaml refuses an empty input; an empty file (or only comments)
     * keeps every default */
    bool empty = true;
    for (size_t i = 0; i < n && empty;) {
        while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
            i++;
        if (i < n && text[i] != '#')
            empty = false;
        while (i < n && text[i] != '\n')
            i++;
    }
    if (empty)
        return 0;
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    struct fy_diag *diag = fy_diag_create(&dc);
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_document *doc = fy_document_build_from_string(&pc, text, n);
    int rc = 0;
    if (!doc) {
        void *it = NULL;
        struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
        rc =
            fail(&w, e ? e->line + 1 : 0, "invalid YAML: %s", e && e->msg ? e->msg : "parse error");
        goto out;
    }
    struct fy_node *root = fy_document_root(doc);
    if (root && !(fy_node_get_type(root) == FYNT_SCALAR && !*fy_node_get_scalar0(root)))
        rc = each_pair(&w, "the top level", root, c, top_pair);
out:
    fy_document_destroy(doc);
    fy_diag_destroy(diag);
    return rc;
}

int agent_config_load(struct agent_config *c, const char *path, struct saba_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, SABA_EIO, 0, "cannot read config file %s: %m", path);
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    int rc = agent_config_parse(c, b.data ? b.data : "", b.len, path, err);
    buf_free(&b);
    return rc;
}
