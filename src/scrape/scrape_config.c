/*
 * scrape_config.c - parsing scrape_configs and global with libfyaml (see
 * scrape_config.h).
 *
 * Each job is checked whole before the next one: keys, values, then the
 * cross-field rules Prometheus applies (timeout <= interval, unique job
 * names). Targets are flattened into one list with their final labels.
 */
#include "scrape/scrape_config.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/timeutil.h"

#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void scrape_config_defaults(struct scrape_config *c)
{
    memset(c, 0, sizeof *c);
    c->interval_ms = SCRAPE_DEFAULT_INTERVAL_MS;
    c->timeout_ms = SCRAPE_DEFAULT_TIMEOUT_MS;
}

void scrape_target_config_free(struct scrape_target_config *t)
{
    free(t->job);
    free(t->address);
    free(t->url);
    labels_free(&t->labels);
    memset(t, 0, sizeof *t);
}

void scrape_target_config_copy(struct scrape_target_config *dst,
                               const struct scrape_target_config *src)
{
    *dst = *src;
    dst->job = xstrdup(src->job);
    dst->address = xstrdup(src->address);
    dst->url = xstrdup(src->url);
    dst->labels = labels_copy(src->labels.v, src->labels.n);
}

void scrape_config_free(struct scrape_config *c)
{
    for (size_t i = 0; i < c->ntargets; i++)
        scrape_target_config_free(&c->targets[i]);
    free(c->targets);
    c->targets = NULL;
    c->ntargets = c->njobs = 0;
}

char *scrape_target_key(const struct scrape_target_config *t)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s\n%s\n%lld\n%lld\n%d%d", t->job, t->url, (long long)t->interval_ms,
               (long long)t->timeout_ms, t->honor_labels, t->honor_timestamps);
    for (size_t i = 0; i < t->labels.n; i++)
        buf_printf(&b, "\n%s=%s", t->labels.v[i].name, t->labels.v[i].value);
    return buf_steal(&b);
}

/* The line of a node: its own token for a scalar, else its first key or item. */
static int line_of(struct fy_node *n)
{
    for (int depth = 0; n && depth < 8; depth++) {
        if (fy_node_get_type(n) == FYNT_SCALAR) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            return m ? m->line + 1 : 0;
        }
        void *it = NULL;
        if (fy_node_get_type(n) == FYNT_MAPPING) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else {
            n = fy_node_sequence_iterate(n, &it);
        }
    }
    return 0;
}

struct ctx {
    const char *path;
    struct saba_err *err;
};

#define BAD(c, node, ...) bad((c), line_of(node), __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int bad(struct ctx *c, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(c->err, SABA_EINVAL, line, "%s:%d: %s", c->path, line, msg);
}

static const char *scalar(struct fy_node *n)
{
    return n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar0(n) : NULL;
}

static int get_duration(struct ctx *c, const char *key, struct fy_node *v, int64_t *out)
{
    const char *s = scalar(v);
    int64_t ms;
    if (!s || duration_parse(s, &ms) || ms < SCRAPE_MIN_INTERVAL_MS || ms > SCRAPE_MAX_INTERVAL_MS)
        return BAD(c, v,
                   "\"%s\": invalid value \"%s\" (expected a duration like 15s from %dms to 1w)",
                   key, s ? s : "", SCRAPE_MIN_INTERVAL_MS);
    *out = ms;
    return 0;
}

static int get_bool(struct ctx *c, const char *key, struct fy_node *v, bool *out)
{
    const char *s = scalar(v);
    if (s && !strcmp(s, "true"))
        *out = true;
    else if (s && !strcmp(s, "false"))
        *out = false;
    else
        return BAD(c, v, "\"%s\": invalid value \"%s\" (expected true or false)", key, s ? s : "");
    return 0;
}

/* Iterate a mapping's pairs, failing on non-scalar keys. */
#define FOR_PAIRS(map, ks, k, v)                                                                   \
    for (void *it_ = NULL; ((p_ = fy_node_mapping_iterate((map), &it_)) != NULL) &&                \
                           ((k = fy_node_pair_key(p_)), (v = fy_node_pair_value(p_)),              \
                            (ks = scalar(k) ? scalar(k) : ""), 1);)

static int global_parse(struct ctx *c, struct fy_node *g, int64_t *interval, int64_t *timeout,
                        bool *timeout_set)
{
    if (fy_node_get_type(g) != FYNT_MAPPING)
        return BAD(c, g, "\"global\" must be a mapping");
    struct fy_node_pair *p_;
    struct fy_node *k, *v;
    const char *ks;
    FOR_PAIRS(g, ks, k, v)
    {
        int rc;
        if (!strcmp(ks, "scrape_interval")) {
            rc = get_duration(c, "global.scrape_interval", v, interval);
        } else if (!strcmp(ks, "scrape_timeout")) {
            rc = get_duration(c, "global.scrape_timeout", v, timeout);
            *timeout_set = true;
        } else {
            rc = BAD(c, k, "unknown setting \"global.%s\"", ks);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* A target's address: host:port, host not empty, port 1-65535 (a [v6] host too). */
static bool valid_address(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || strchr(a, '/') || strchr(a, ' '))
        return false;
    if (a[0] == '[' && colon[-1] != ']')
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && port >= 1 && port <= 65535;
}

struct job {
    const char *name;
    int line;
    int64_t interval, timeout;
    bool timeout_set, honor_labels, honor_timestamps;
    const char *path, *scheme;
    struct fy_node *static_configs;
    char *query; /* from params: "?a=1&b=2" or "" (owned) */
};

/* Append s percent-encoded as a URL query component (RFC 3986 unreserved kept). */
static void put_query_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~')
            buf_putc(b, (char)ch);
        else
            buf_printf(b, "%%%02X", ch);
    }
}

/* params: {name: [value, ...]} -> the URL's query string, as Prometheus sends it. */
static int parse_params(struct ctx *c, struct fy_node *v, const char *path, char **out)
{
    if (fy_node_get_type(v) != FYNT_MAPPING)
        return BAD(c, v, "\"params\" must be a mapping of names to lists of values");
    struct buf q = BUF_INIT;
    struct fy_node_pair *p_;
    struct fy_node *k, *vals;
    const char *ks;
    FOR_PAIRS(v, ks, k, vals)
    {
        if (!ks[0] || fy_node_get_type(vals) != FYNT_SEQUENCE) {
            buf_free(&q);
            return BAD(c, k, "params \"%s\": want a list of values", ks);
        }
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate(vals, &it))) {
            const char *es = scalar(e);
            if (!es) {
                buf_free(&q);
                return BAD(c, e, "params \"%s\": each value must be a string", ks);
            }
            buf_putc(&q, q.len ? '&' : strchr(path, '?') ? '&' : '?');
            put_query_escaped(&q, ks);
            buf_putc(&q, '=');
            put_query_escaped(&q, es);
        }
    }
    *out = q.len ? buf_steal(&q) : xstrdup("");
    buf_free(&q);
    return 0;
}

static int add_group(struct ctx *c, const struct job *j, struct fy_node *grp,
                     struct scrape_config *out)
{
    if (fy_node_get_type(grp) != FYNT_MAPPING)
        return BAD(c, grp, "job \"%s\": each static_configs entry must be a mapping", j->name);
    struct fy_node *targets = NULL, *labels = NULL;
    struct fy_node_pair *p_;
    struct fy_node *k, *v;
    const char *ks;
    FOR_PAIRS(grp, ks, k, v)
    {
        if (!strcmp(ks, "targets"))
            targets = v;
        else if (!strcmp(ks, "labels"))
            labels = v;
        else
            return BAD(c, k, "unknown setting \"static_configs.%s\" (want targets, labels)", ks);
    }
    /* the group's labels, checked once */
    struct label extra[64];
    size_t nextra = 0;
    if (labels) {
        if (fy_node_get_type(labels) != FYNT_MAPPING)
            return BAD(c, labels, "\"labels\" must be a mapping of label names to values");
        FOR_PAIRS(labels, ks, k, v)
        {
            const char *vs = scalar(v);
            if (!label_name_is_identifier(ks, strlen(ks)) || (ks[0] == '_' && ks[1] == '_'))
                return BAD(c, k, "invalid label name \"%s\"", ks);
            if (!vs || !utf8_valid_text(vs, strlen(vs)))
                return BAD(c, v, "label \"%s\": the value must be a UTF-8 string", ks);
            if (nextra == sizeof extra / sizeof *extra)
                return BAD(c, k, "more than %zu labels", sizeof extra / sizeof *extra);
            for (size_t i = 0; i < nextra; i++)
                if (!strcmp(extra[i].name, ks))
                    return BAD(c, k, "duplicate label \"%s\"", ks);
            extra[nextra++] = (struct label){ks, vs};
        }
    }
    if (!targets)
        return BAD(c, grp, "job \"%s\": a static_configs entry needs \"targets\"", j->name);
    if (fy_node_get_type(targets) != FYNT_SEQUENCE)
        return BAD(c, targets, "\"targets\" must be a list of host:port");
    void *it = NULL;
    struct fy_node *t;
    while ((t = fy_node_sequence_iterate(targets, &it))) {
        const char *addr = scalar(t);
        if (!addr || !valid_address(addr))
            return BAD(c, t, "job \"%s\": invalid target \"%s\" (want host:port)", j->name,
                       addr ? addr : "");
        if (out->ntargets >= SCRAPE_MAX_TARGETS)
            return BAD(c, t, "more than %d scrape targets", SCRAPE_MAX_TARGETS);
        struct label ls[66];
        size_t n = 0;
        /* job and instance first; static labels override them, as in Prometheus */
        bool has_job = false, has_instance = false;
        for (size_t i = 0; i < nextra; i++) {
            has_job |= !strcmp(extra[i].name, "job");
            has_instance |= !strcmp(extra[i].name, "instance");
            ls[n++] = extra[i];
        }
        if (!has_job)
            ls[n++] = (struct label){"job", j->name};
        if (!has_instance)
            ls[n++] = (struct label){"instance", addr};
        struct scrape_target_config tc = {
            .job = xstrdup(j->name),
            .address = xstrdup(addr),
            .labels = labels_copy(ls, n),
            .interval_ms = j->interval,
            .timeout_ms = j->timeout,
            .honor_labels = j->honor_labels,
            .honor_timestamps = j->honor_timestamps,
        };
        struct buf u = BUF_INIT;
        buf_printf(&u, "%s://%s%s%s", j->scheme, addr, j->path, j->query ? j->query : "");
        tc.url = buf_steal(&u);
        for (size_t i = 0; i < out->ntargets; i++) {
            if (!strcmp(out->targets[i].url, tc.url) && !strcmp(out->targets[i].job, tc.job)) {
                scrape_target_config_free(&tc);
                return BAD(c, t, "job \"%s\": target \"%s\" listed twice", j->name, addr);
            }
        }
        out->targets = xrealloc(out->targets, (out->ntargets + 1) * sizeof *out->targets);
        out->targets[out->ntargets++] = tc;
    }
    return 0;
}

static int parse_job(struct ctx *c, struct fy_node *jn, int64_t gi, int64_t gt,
                     struct scrape_config *out)
{
    if (fy_node_get_type(jn) != FYNT_MAPPING)
        return BAD(c, jn, "each scrape_configs entry must be a mapping");
    struct job j = {
        .line = line_of(jn), .path = "/metrics", .scheme = "http", .honor_timestamps = true};
    bool interval_set = false;
    struct fy_node *params = NULL;
    struct fy_node_pair *p_;
    struct fy_node *k, *v;
    const char *ks;
    FOR_PAIRS(jn, ks, k, v)
    {
        int rc = 0;
        if (!strcmp(ks, "job_name")) {
            j.name = scalar(v);
            if (!j.name || !j.name[0] || !utf8_valid_text(j.name, strlen(j.name)))
                rc = BAD(c, v, "\"job_name\" must be a non-empty string");
        } else if (!strcmp(ks, "scrape_interval")) {
            rc = get_duration(c, "scrape_interval", v, &j.interval);
            interval_set = true;
        } else if (!strcmp(ks, "scrape_timeout")) {
            rc = get_duration(c, "scrape_timeout", v, &j.timeout);
            j.timeout_set = true;
        } else if (!strcmp(ks, "metrics_path")) {
            j.path = scalar(v);
            if (!j.path || j.path[0] != '/' || strpbrk(j.path, " \t\r\n#"))
                rc = BAD(c, v, "\"metrics_path\" must be a path starting with /");
        } else if (!strcmp(ks, "scheme")) {
            j.scheme = scalar(v);
            if (!j.scheme || (strcmp(j.scheme, "http") && strcmp(j.scheme, "https")))
                rc = BAD(c, v, "\"scheme\": invalid value \"%s\" (expected http or https)",
                         j.scheme ? j.scheme : "");
        } else if (!strcmp(ks, "honor_labels")) {
            rc = get_bool(c, "honor_labels", v, &j.honor_labels);
        } else if (!strcmp(ks, "honor_timestamps")) {
            rc = get_bool(c, "honor_timestamps", v, &j.honor_timestamps);
        } else if (!strcmp(ks, "params")) {
            params = v;
        } else if (!strcmp(ks, "static_configs")) {
            if (fy_node_get_type(v) != FYNT_SEQUENCE)
                rc = BAD(c, v, "\"static_configs\" must be a list");
            j.static_configs = v;
        } else {
            rc = BAD(c, k, "unknown setting \"scrape_configs.%s\"", ks);
        }
        if (rc)
            return rc;
    }
    if (!j.name)
        return bad(c, j.line, "a scrape config needs a \"job_name\"");
    if (!interval_set)
        j.interval = gi;
    if (!j.timeout_set)
        j.timeout = gt > j.interval ? j.interval : gt;
    if (j.timeout > j.interval)
        return bad(c, j.line, "job \"%s\": scrape_timeout is greater than scrape_interval", j.name);
    int rc = params ? parse_params(c, params, j.path, &j.query) : 0;
    if (rc == 0 && j.static_configs) {
        void *it = NULL;
        struct fy_node *g;
        while (rc == 0 && (g = fy_node_sequence_iterate(j.static_configs, &it)))
            rc = add_group(c, &j, g, out);
    }
    free(j.query);
    return rc;
}

int scrape_config_parse(struct scrape_config *c, const char *path, struct fy_node *global,
                        struct fy_node *scrape_configs, struct saba_err *err)
{
    struct ctx cx = {path, err};
    struct scrape_config out;
    scrape_config_defaults(&out);
    bool timeout_set = false;
    int rc = 0;
    if (global)
        rc = global_parse(&cx, global, &out.interval_ms, &out.timeout_ms, &timeout_set);
    if (rc == 0 && out.timeout_ms > out.interval_ms) {
        if (timeout_set)
            rc = BAD(&cx, global, "global.scrape_timeout is greater than global.scrape_interval");
        else
            out.timeout_ms = out.interval_ms; /* only the interval was lowered */
    }
    if (rc == 0 && scrape_configs) {
        if (fy_node_get_type(scrape_configs) != FYNT_SEQUENCE) {
            rc = BAD(&cx, scrape_configs, "\"scrape_configs\" must be a list of jobs");
        } else {
            void *it = NULL;
            struct fy_node *jn;
            const char *names[256];
            while (rc == 0 && (jn = fy_node_sequence_iterate(scrape_configs, &it))) {
                rc = parse_job(&cx, jn, out.interval_ms, out.timeout_ms, &out);
                if (rc)
                    break;
                struct fy_node *nn = fy_node_mapping_lookup_by_string(jn, "job_name", -1);
                const char *name = scalar(nn);
                for (size_t i = 0; i < out.njobs && i < 256; i++)
                    if (!strcmp(names[i], name))
                        rc = BAD(&cx, nn, "job_name \"%s\" is used twice", name);
                if (out.njobs < 256)
                    names[out.njobs] = name;
                else
                    rc = BAD(&cx, jn, "more than 256 scrape jobs");
                out.njobs++;
            }
        }
    }
    if (rc) {
        scrape_config_free(&out);
        return rc;
    }
    scrape_config_free(c);
    *c = out;
    return 0;
}
