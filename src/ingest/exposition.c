/*
 * exposition.c - Prometheus text and OpenMetrics text parser (see exposition.h).
 *
 * One pass over the lines. A sample line is read left to right: name, an
 * optional {label set}, the value, an optional timestamp and, in
 * OpenMetrics, an optional exemplar. Unescaped names and values are copied
 * into a scratch buffer owned by the parse, so the callback sees
 * NUL-terminated strings without the parser allocating per sample. The
 * family a sample belongs to is the last # TYPE line's, when the sample's
 * name is that family's name or its name plus a suffix the type allows;
 * both formats keep a family's samples together after its TYPE line.
 */
#include "ingest/exposition.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "storage/labels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum expo_format expo_format_of(const char *content_type)
{
    if (!content_type)
        return EXPO_TEXT;
    while (*content_type == ' ')
        content_type++;
    static const char om[] = "application/openmetrics-text";
    if (!strncasecmp(content_type, om, sizeof om - 1) &&
        (content_type[sizeof om - 1] == '\0' || content_type[sizeof om - 1] == ';' ||
         content_type[sizeof om - 1] == ' '))
        return EXPO_OPENMETRICS;
    return EXPO_TEXT;
}

/* Where one label's unescaped name and value sit in the scratch buffer. */
struct label_pos {
    size_t name_off, name_len, value_off, value_len;
};

struct parser {
    enum expo_format fmt;
    long line;
    struct buf scratch;
    struct label_pos *pos;
    struct expo_label *labels;
    size_t nlabels, cap;
    /* the family of the last # TYPE line */
    char family[256];
    size_t family_len;
    enum expo_type family_type;
    bool have_family;
    struct saba_err *err;
};

static int fail(struct parser *p, int code, const char *fmt, const char *arg)
{
    /* arg is a (possibly long) piece of the input: show at most 64 bytes of it */
    if (arg)
        return err_set(p->err, code, p->line, fmt, arg);
    return err_set(p->err, code, p->line, "%s", fmt);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && is_blank(*s))
        s++;
    return s;
}

static bool name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool name_char(char c, bool metric)
{
    return name_start(c, metric) || (c >= '0' && c <= '9');
}

/* Read a metric (metric=true) or label name at s; returns its length (0: none). */
static size_t read_name(const char *s, const char *end, bool metric)
{
    const char *q = s;
    if (q >= end || !name_start(*q, metric))
        return 0;
    while (q < end && name_char(*q, metric))
        q++;
    return (size_t)(q - s);
}

/* A short printable excerpt of the input for error messages. */
static const char *excerpt(const char *s, const char *end, char *out, size_t n)
{
    size_t k = 0;
    while (s < end && k + 1 < n && !is_blank(*s)) {
        unsigned char c = (unsigned char)*s++;
        out[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[k] = '\0';
    return out;
}

/* Parse a float as Prometheus does (Go's strconv.ParseFloat): decimal or
 * exponent notation, NaN, Inf/Infinity with an optional sign. */
static int parse_float(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *u = tmp[0] == '+' || tmp[0] == '-' ? tmp + 1 : tmp;
    if (!strcasecmp(u, "nan")) {
        *out = NAN;
        return 0;
    }
    if (!strcasecmp(u, "inf") || !strcasecmp(u, "infinity")) {
        *out = tmp[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    /* strtod also takes "nan(...)", hex and "infinity" prefixes: only decimals here */
    for (const char *c = u; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' ||
              *c == '-'))
            return -1;
    char *e;
    errno = 0;
    double v = strtod(tmp, &e);
    if (*e || e == tmp || (errno == ERANGE && isinf(v)))
        return -1;
    *out = v;
    return 0;
}

/* Text format timestamp: integer milliseconds. OpenMetrics: float seconds. */
static int parse_timestamp(const struct parser *p, const char *s, size_t n, int64_t *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (p->fmt == EXPO_TEXT) {
        char *e;
        errno = 0;
        long long v = strtoll(tmp, &e, 10);
        if (*e || e == tmp || errno == ERANGE)
            return -1;
        *out = v;
        return 0;
    }
    double d;
    if (parse_float(s, n, &d) || !isfinite(d) || fabs(d) > 9.2e15)
        return -1;
    *out = (int64_t)llround(d * 1000);
    return 0;
}

/* Copy [s, s+n) into scratch, NUL-terminated. With escapes (label values),
 * \\ \" and \n are resolved and any other backslash is kept as it is:
 * Prometheus' scraper does the same rather than fail the whole scrape. */
static void copy_str(struct parser *p, const char *s, size_t n, bool escapes, size_t *off,
                     size_t *len)
{
    *off = p->scratch.len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (escapes && c == '\\' && i + 1 < n &&
            (s[i + 1] == '\\' || s[i + 1] == 'n' || s[i + 1] == '"')) {
            c = s[++i] == 'n' ? '\n' : s[i];
        }
        buf_putc(&p->scratch, c);
    }
    *len = p->scratch.len - *off;
    buf_putc(&p->scratch, '\0');
}

/* Parse {name="value",...} at *sp (which points at '{'); labels are appended to
 * p->pos. On success *sp points after '}'. */
static int parse_labels(struct parser *p, const char **sp, const char *end)
{
    const char *s = *sp + 1;
    char ex[72];
    for (;;) {
        s = skip_blanks(s, end);
        if (s < end && *s == '}')
            break;
        size_t nn = read_name(s, end, false);
        if (nn == 0)
            return fail(p, SABA_EINVAL, "invalid label name at \"%.64s\"",
                        s < end ? excerpt(s, end, ex, sizeof ex) : "end of line");
        const char *name = s;
        s = skip_blanks(s + nn, end);
        if (s >= end || *s != '=')
            return fail(p, SABA_EINVAL, "expected '=' after label name \"%.64s\"",
                        excerpt(name, name + nn, ex, sizeof ex));
        s = skip_blanks(s + 1, end);
        if (s >= end || *s != '"')
            return fail(p, SABA_EINVAL, "expected '\"' to start the value of label \"%.64s\"",
                        excerpt(name, name + nn, ex, sizeof ex));
        const char *v = ++s;
        while (s < end && *s != '"') {
            if (*s == '\\' && s + 1 < end)
                s++;
            s++;
        }
        if (s >= end)
            return fail(p, SABA_EINVAL, "unterminated value of label \"%.64s\"",
                        excerpt(name, name + nn, ex, sizeof ex));
        if (!utf8_valid_text(v, (size_t)(s - v)))
            return fail(p, SABA_EINVAL, "value of label \"%.64s\" is not valid UTF-8 text",
                        excerpt(name, name + nn, ex, sizeof ex));
        for (size_t i = 0; i < p->nlabels; i++)
            if (p->pos[i].name_len == nn && !memcmp(p->scratch.data + p->pos[i].name_off, name, nn))
                return fail(p, SABA_EINVAL, "duplicate label name \"%.64s\"",
                            excerpt(name, name + nn, ex, sizeof ex));
        if (p->nlabels == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 16;
            p->pos = xrealloc(p->pos, p->cap * sizeof *p->pos);
            p->labels = xrealloc(p->labels, p->cap * sizeof *p->labels);
        }
        struct label_pos *lp = &p->pos[p->nlabels];
        copy_str(p, name, nn, false, &lp->name_off, &lp->name_len);
        copy_str(p, v, (size_t)(s - v), true, &lp->value_off, &lp->value_len);
        p->nlabels++;
        s = skip_blanks(s + 1, end);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '}')
            break;
        return fail(p, SABA_EINVAL, "expected ',' or '}' after the value of label \"%.64s\"",
                    excerpt(name, name + nn, ex, sizeof ex));
    }
    *sp = s + 1;
    return 0;
}

static const char *const type_names[] = {
    [EXPO_UNTYPED] = "untyped",
    [EXPO_COUNTER] = "counter",
    [EXPO_GAUGE] = "gauge",
    [EXPO_HISTOGRAM] = "histogram",
    [EXPO_GAUGEHISTOGRAM] = "gaugehistogram",
    [EXPO_SUMMARY] = "summary",
    [EXPO_STATESET] = "stateset",
    [EXPO_INFO] = "info",
};

static int parse_type(const struct parser *p, const char *s, size_t n, enum expo_type *out)
{
    for (int t = 0; t < (int)(sizeof type_names / sizeof *type_names); t++) {
        if (strlen(type_names[t]) != n || memcmp(type_names[t], s, n))
            continue;
        bool om_only = t == EXPO_GAUGEHISTOGRAM || t == EXPO_STATESET || t == EXPO_INFO;
        if (p->fmt == EXPO_TEXT && om_only)
            return -1;
        if (p->fmt == EXPO_OPENMETRICS && t == EXPO_UNTYPED)
            return -1;
        *out = (enum expo_type)t;
        return 0;
    }
    if (p->fmt == EXPO_OPENMETRICS && n == 7 && !memcmp(s, "unknown", 7)) {
        *out = EXPO_UNTYPED;
        return 0;
    }
    return -1;
}

/* A "# ..." line. Text format: HELP and TYPE are read, other comments are
 * ignored. OpenMetrics: only HELP, TYPE, UNIT and EOF exist. Sets *eof. */
static int parse_comment(struct parser *p, const char *s, const char *end, bool *eof)
{
    char ex[72];
    const char *kw = s + 1;
    if (p->fmt == EXPO_OPENMETRICS) {
        if (end - kw == 4 && !memcmp(kw, " EOF", 4)) {
            *eof = true;
            return 0;
        }
        if (kw >= end || *kw != ' ')
            return fail(p, SABA_EINVAL,
                        "invalid comment: want \"# HELP\", \"# TYPE\", "
                        "\"# UNIT\" or \"# EOF\"",
                        NULL);
        kw++;
    } else {
        kw = skip_blanks(kw, end);
    }
    size_t kn = 0;
    while (kw + kn < end && !is_blank(kw[kn]))
        kn++;
    bool help = kn == 4 && !memcmp(kw, "HELP", 4), type = kn == 4 && !memcmp(kw, "TYPE", 4),
         unit = kn == 4 && !memcmp(kw, "UNIT", 4);
    if (p->fmt == EXPO_TEXT && !help && !type)
        return 0; /* a plain comment */
    if (p->fmt == EXPO_OPENMETRICS && !help && !type && !unit)
        return fail(p, SABA_EINVAL, "invalid comment \"%.64s\": want HELP, TYPE, UNIT or EOF",
                    excerpt(kw, end, ex, sizeof ex));
    const char *what = help ? "HELP" : type ? "TYPE" : "UNIT";
    const char *s2 = kw + kn;
    if (s2 >= end || !is_blank(*s2))
        return fail(p, SABA_EINVAL, "# %s needs a metric name", what);
    s2 = skip_blanks(s2, end);
    size_t nn = read_name(s2, end, true);
    if (nn == 0)
        return fail(p, SABA_EINVAL, "# %s: invalid metric name", what);
    const char *name = s2;
    s2 += nn;
    if (s2 < end && !is_blank(*s2))
        return fail(p, SABA_EINVAL, "# %s: invalid metric name", what);
    s2 = skip_blanks(s2, end);
    if (help) { /* not kept: only checked to be text */
        if (!utf8_valid_text(s2, (size_t)(end - s2)))
            return fail(p, SABA_EINVAL, "# HELP: not valid UTF-8 text", NULL);
        return 0;
    }
    if (unit) {
        size_t un = 0;
        while (s2 + un < end && name_char(s2[un], true))
            un++;
        if (s2 + un != end)
            return fail(p, SABA_EINVAL, "# UNIT: invalid unit \"%.64s\"",
                        excerpt(s2, end, ex, sizeof ex));
        /* OpenMetrics: a family with a unit must have the unit as its name's suffix */
        if (un && (nn <= un + 1 || memcmp(name + nn - un, s2, un) || name[nn - un - 1] != '_'))
            return fail(p, SABA_EINVAL, "# UNIT: the metric name does not end with \"_%.64s\"",
                        excerpt(s2, end, ex, sizeof ex));
        return 0;
    }
    size_t tn = 0;
    while (s2 + tn < end && !is_blank(s2[tn]))
        tn++;
    enum expo_type t;
    if (tn == 0 || skip_blanks(s2 + tn, end) != end || parse_type(p, s2, tn, &t))
        return fail(p, SABA_EINVAL, "# TYPE: invalid type \"%.64s\"",
                    tn ? excerpt(s2, end, ex, sizeof ex) : "");
    /* the text format's scrapers let a repeated TYPE pass; OpenMetrics forbids it */
    if (p->fmt == EXPO_OPENMETRICS && p->have_family && p->family_len == nn &&
        !memcmp(p->family, name, nn))
        return fail(p, SABA_EINVAL, "second # TYPE line for \"%.64s\"",
                    excerpt(name, name + nn, ex, sizeof ex));
    if (nn >= sizeof p->family)
        return fail(p, SABA_EINVAL, "# TYPE: metric name longer than %s bytes", "255");
    memcpy(p->family, name, nn);
    p->family_len = nn;
    p->family_type = t;
    p->have_family = true;
    return 0;
}

static bool has_suffix(const char *name, size_t n, size_t fam, const char *suffix)
{
    size_t sl = strlen(suffix);
    return n == fam + sl && !memcmp(name + fam, suffix, sl);
}

/* The type of the family a sample named name[0..n) belongs to; *created is set
 * for a "_created" sample (OpenMetrics) of a counter, histogram or summary. */
static enum expo_type family_of(const struct parser *p, const char *name, size_t n, bool *created)
{
    *created = false;
    size_t fl = p->family_len;
    if (!p->have_family || n < fl || memcmp(name, p->family, fl))
        return EXPO_UNTYPED;
    if (n == fl)
        return p->family_type;
    static const char *const suffixes[][5] = {
        [EXPO_COUNTER] = {"_total", "_created"},
        [EXPO_HISTOGRAM] = {"_bucket", "_sum", "_count", "_created"},
        [EXPO_GAUGEHISTOGRAM] = {"_bucket", "_gsum", "_gcount"},
        [EXPO_SUMMARY] = {"_sum", "_count", "_created"},
        [EXPO_INFO] = {"_info"},
    };
    if (p->family_type >= (int)(sizeof suffixes / sizeof *suffixes))
        return EXPO_UNTYPED;
    for (int i = 0; i < 5 && suffixes[p->family_type][i]; i++) {
        if (has_suffix(name, n, fl, suffixes[p->family_type][i])) {
            *created =
                p->fmt == EXPO_OPENMETRICS && !strcmp(suffixes[p->family_type][i], "_created");
            return p->family_type;
        }
    }
    return EXPO_UNTYPED;
}

/* OpenMetrics exemplar after "# ": {labels} value [timestamp]; checked, then dropped. */
static int parse_exemplar(struct parser *p, const char *s, const char *end)
{
    size_t keep_labels = p->nlabels, keep_scratch = p->scratch.len;
    if (s >= end || *s != '{')
        return fail(p, SABA_EINVAL, "exemplar: expected '{'", NULL);
    int rc = parse_labels(p, &s, end);
    p->nlabels = keep_labels;
    p->scratch.len = keep_scratch;
    if (rc)
        return rc;
    if (s >= end || !is_blank(*s))
        return fail(p, SABA_EINVAL, "exemplar: expected a value", NULL);
    s = skip_blanks(s, end);
    const char *v = s;
    while (s < end && !is_blank(*s))
        s++;
    double d;
    if (parse_float(v, (size_t)(s - v), &d))
        return fail(p, SABA_EINVAL, "exemplar: invalid value", NULL);
    s = skip_blanks(s, end);
    if (s < end) {
        const char *t = s;
        while (s < end && !is_blank(*s))
            s++;
        int64_t ts;
        if (parse_timestamp(p, t, (size_t)(s - t), &ts) || skip_blanks(s, end) != end)
            return fail(p, SABA_EINVAL, "exemplar: invalid timestamp", NULL);
    }
    return 0;
}

static int parse_sample(struct parser *p, const char *s, const char *end, expo_sample_fn fn,
                        void *ctx)
{
    char ex[72];
    p->nlabels = 0;
    buf_reset(&p->scratch);
    size_t nn = read_name(s, end, true);
    if (nn == 0)
        return fail(p, SABA_EINVAL, "invalid metric name at \"%.64s\"",
                    excerpt(s, end, ex, sizeof ex));
    const char *name = s;
    size_t name_off, dummy;
    copy_str(p, name, nn, false, &name_off, &dummy);
    s += nn;
    if (p->fmt == EXPO_TEXT) { /* the text format allows blanks before '{' */
        const char *t = skip_blanks(s, end);
        if (t < end && *t == '{')
            s = t;
    }
    if (s < end && *s == '{') {
        int rc = parse_labels(p, &s, end);
        if (rc)
            return rc;
    }
    if (s >= end || !is_blank(*s))
        return fail(p, SABA_EINVAL,
                    s >= end ? "missing value for \"%.64s\""
                             : "expected a blank before the value of \"%.64s\"",
                    excerpt(name, name + nn, ex, sizeof ex));
    s = skip_blanks(s, end);
    const char *v = s;
    while (s < end && !is_blank(*s))
        s++;
    double value;
    if (v == s)
        return fail(p, SABA_EINVAL, "missing value for \"%.64s\"",
                    excerpt(name, name + nn, ex, sizeof ex));
    if (parse_float(v, (size_t)(s - v), &value))
        return fail(p, SABA_EINVAL, "invalid value \"%.64s\"", excerpt(v, end, ex, sizeof ex));
    s = skip_blanks(s, end);
    bool has_ts = false;
    int64_t ts = 0;
    if (s < end && *s != '#') {
        const char *t = s;
        while (s < end && !is_blank(*s))
            s++;
        if (parse_timestamp(p, t, (size_t)(s - t), &ts))
            return fail(p, SABA_EINVAL, "invalid timestamp \"%.64s\"",
                        excerpt(t, end, ex, sizeof ex));
        has_ts = true;
        s = skip_blanks(s, end);
    }
    if (s < end) {
        if (p->fmt == EXPO_OPENMETRICS && *s == '#' && s + 1 < end && s[1] == ' ') {
            int rc = parse_exemplar(p, skip_blanks(s + 1, end), end);
            if (rc)
                return rc;
        } else {
            return fail(p, SABA_EINVAL, "unexpected \"%.64s\" after the sample",
                        excerpt(s, end, ex, sizeof ex));
        }
    }

    for (size_t i = 0; i < p->nlabels; i++) {
        const struct label_pos *lp = &p->pos[i];
        p->labels[i] =
            (struct expo_label){p->scratch.data + lp->name_off, p->scratch.data + lp->value_off,
                                lp->name_len, lp->value_len};
    }
    struct expo_sample smp = {
        .name = p->scratch.data + name_off,
        .name_len = nn,
        .labels = p->nlabels ? p->labels : NULL,
        .nlabels = p->nlabels,
        .value = value,
        .has_timestamp = has_ts,
        .t_ms = ts,
        .line = p->line,
    };
    smp.type = family_of(p, name, nn, &smp.created);
    int rc = fn(ctx, &smp, p->err);
    if (rc && p->err && p->err->line == 0)
        p->err->line = p->line;
    return rc;
}

int expo_parse(const char *data, size_t n, enum expo_format fmt, int64_t max_line_bytes,
               expo_sample_fn fn, void *ctx, struct saba_err *err)
{
    struct parser p = {.fmt = fmt, .err = err};
    const char *s = data, *end = data + n;
    bool eof = false;
    int rc = 0;
    while (s < end) {
        p.line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (max_line_bytes > 0 && le - s > max_line_bytes) {
            rc = err_set(err, SABA_ETOOBIG, p.line, "line longer than %lld bytes",
                         (long long)max_line_bytes);
            break;
        }
        if (le > s && le[-1] == '\r')
            le--;
        if (memchr(s, '\0', (size_t)(le - s))) {
            rc = fail(&p, SABA_EINVAL, "NUL byte in line", NULL);
            break;
        }
        if (eof) {
            rc = fail(&p, SABA_EINVAL, "content after \"# EOF\"", NULL);
            break;
        }
        const char *ls = fmt == EXPO_TEXT ? skip_blanks(s, le) : s;
        if (ls == le) {
            if (fmt == EXPO_OPENMETRICS) {
                rc = fail(&p, SABA_EINVAL, "blank line (not allowed in OpenMetrics)", NULL);
                break;
            }
        } else if (*ls == '#') {
            rc = parse_comment(&p, ls, le, &eof);
        } else {
            rc = parse_sample(&p, ls, le, fn, ctx);
        }
        if (rc)
            break;
        s = next;
    }
    if (rc == 0 && fmt == EXPO_OPENMETRICS && !eof) {
        p.line++;
        rc = fail(&p, SABA_EINVAL, "missing \"# EOF\" at the end of OpenMetrics input", NULL);
    }
    buf_free(&p.scratch);
    free(p.pos);
    free(p.labels);
    return rc;
}

struct batch_ctx {
    struct batch *b;
    int64_t now_ms;
    struct expo_stats *st;
};

static int to_batch(void *ctx, const struct expo_sample *s, struct saba_err *err)
{
    struct batch_ctx *c = ctx;
    if (s->created) {
        c->st->created++;
        return 0;
    }
    batch_series_begin(c->b);
    int rc = batch_label(c->b, LABEL_NAME, sizeof LABEL_NAME - 1, s->name, s->name_len, err);
    for (size_t i = 0; rc == 0 && i < s->nlabels; i++)
        rc = batch_label(c->b, s->labels[i].name, s->labels[i].name_len, s->labels[i].value,
                         s->labels[i].value_len, err);
    if (rc) {
        batch_series_abort(c->b);
        return rc;
    }
    rc = batch_series_end(c->b, s->has_timestamp ? s->t_ms : c->now_ms, s->value, err);
    if (rc == 0)
        c->st->samples++;
    return rc;
}

int expo_parse_batch(const char *data, size_t n, enum expo_format fmt, int64_t now_ms,
                     struct batch *b, struct expo_stats *st, struct saba_err *err)
{
    struct expo_stats local = {0};
    struct batch_ctx c = {b, now_ms, st ? st : &local};
    return expo_parse(data, n, fmt, b->limits->max_line_bytes, to_batch, &c, err);
}
