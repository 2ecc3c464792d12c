/*
 * plugin_output.c - the metric plugin output parser (see plugin_output.h).
 *
 * Each line is parsed on its own into a small scratch structure and only
 * appended to the set when the whole line is good, so a bad line leaves no
 * partial sample behind.
 */
#include "agent/plugin_output.h"
#include "base/alloc.h"
#include "storage/labels.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line_parse {
    char name[PLUGIN_MAX_NAME + 1];
    char lname[PLUGIN_MAX_LABELS][PLUGIN_MAX_NAME + 1];
    char *lvalue[PLUGIN_MAX_LABELS];
    size_t nlabels;
    const char *kv[2 * PLUGIN_MAX_LABELS];
    char why[160];
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_char(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (metric && (c == ':' || c == '.' || c == '-'));
}

static int why(struct line_parse *lp, const char *fmt, const char *arg)
{
    snprintf(lp->why, sizeof lp->why, fmt, arg);
    return -1;
}

/* A number as Prometheus and Mackerel plugins print it: decimal or exponent
 * form, NaN, +Inf/-Inf. The whole field must be the number. */
static int parse_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* strtod also takes hex floats and "infinity"; fine for values */
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n)
        return -1;
    *out = v;
    return 0;
}

static void free_values(struct line_parse *lp)
{
    for (size_t i = 0; i < lp->nlabels; i++)
        free(lp->lvalue[i]);
    lp->nlabels = 0;
}

/* name{a="x",b="y"}: p points after '{'; returns the position after '}'. */
static const char *parse_labels(struct line_parse *lp, const char *p, const char *end)
{
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p < end && *p == '}')
            return p + 1;
        const char *ln = p;
        while (p < end && name_char(*p, false))
            p++;
        size_t lnl = (size_t)(p - ln);
        if (lnl == 0 || (ln[0] >= '0' && ln[0] <= '9')) {
            why(lp, "invalid label name%s", "");
            return NULL;
        }
        if (lnl > PLUGIN_MAX_NAME) {
            why(lp, "label name longer than %s bytes", "256");
            return NULL;
        }
        if (lnl >= 2 && ln[0] == '_' && ln[1] == '_') {
            why(lp, "label names starting with __ are reserved%s", "");
            return NULL;
        }
        if (lnl == 4 && !memcmp(ln, "host", 4)) {
            why(lp, "label \"host\" is set by the agent%s", "");
            return NULL;
        }
        if (lp->nlabels == PLUGIN_MAX_LABELS) {
            why(lp, "more than %s labels", "32");
            return NULL;
        }
        while (p < end && is_space(*p))
            p++;
        if (p + 1 >= end || p[0] != '=' || p[1] != '"') {
            why(lp, "expected =\"value\" after a label name%s", "");
            return NULL;
        }
        p += 2;
        size_t i = lp->nlabels;
        memcpy(lp->lname[i], ln, lnl);
        lp->lname[i][lnl] = '\0';
        char *v = xmalloc(PLUGIN_MAX_VALUE + 1);
        size_t vl = 0;
        while (p < end && *p != '"') {
            char ch = *p++;
            if (ch == '\\') {
                if (p >= end)
                    break;
                ch = *p++;
                if (ch == 'n')
                    ch = '\n';
                else if (ch != '\\' && ch != '"') {
                    free(v);
                    why(lp, "invalid escape in a label value%s", "");
                    return NULL;
                }
            }
            if (vl == PLUGIN_MAX_VALUE) {
                free(v);
                why(lp, "label value longer than %s bytes", "4096");
                return NULL;
            }
            v[vl++] = ch;
        }
        if (p >= end) {
            free(v);
            why(lp, "unterminated label value%s", "");
            return NULL;
        }
        p++; /* closing quote */
        v[vl] = '\0';
        if (!utf8_valid_text(v, vl) || memchr(v, '\0', vl)) {
            free(v);
            why(lp, "label value is not UTF-8 text without control characters%s", "");
            return NULL;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(lp->lname[k], lp->lname[i])) {
                free(v);
                why(lp, "label \"%s\" given twice", lp->lname[i]);
                return NULL;
            }
        lp->lvalue[i] = v;
        lp->nlabels++;
        while (p < end && is_space(*p))
            p++;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            return p + 1;
        why(lp, "expected , or } after a label%s", "");
        return NULL;
    }
}

/* One line (without its '\n'). Returns 1 if a sample was added, 0 for a
 * blank or comment line, -1 for a bad line (reason in lp->why). */
static int parse_line(struct line_parse *lp, const char *p, const char *end, int64_t now_ms,
                      struct mset *m)
{
    while (p < end && is_space(*p))
        p++;
    while (end > p && (end[-1] == '\r' || is_space(end[-1])))
        end--;
    if (p == end || *p == '#')
        return 0;
    lp->nlabels = 0;
    const char *name = p;
    while (p < end && name_char(*p, true))
        p++;
    size_t nl = (size_t)(p - name);
    if (nl == 0)
        return why(lp, "invalid metric name%s", "");
    if (nl > PLUGIN_MAX_NAME)
        return why(lp, "metric name longer than %s bytes", "256");
    memcpy(lp->name, name, nl);
    lp->name[nl] = '\0';
    if (p < end && *p == '{') {
        p = parse_labels(lp, p + 1, end);
        if (!p) {
            free_values(lp);
            return -1;
        }
    }
    if (p < end && !is_space(*p)) {
        free_values(lp);
        return why(lp, "invalid character in the metric name%s", "");
    }
    /* value and optional time */
    const char *f[3];
    size_t fl[3];
    int nf = 0;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        if (nf == 2) {
            free_values(lp);
            return why(lp, "too many fields (expected name, value and time)%s", "");
        }
        f[nf] = p;
        while (p < end && !is_space(*p))
            p++;
        fl[nf] = (size_t)(p - f[nf]);
        nf++;
    }
    double v, t = 0;
    if (nf == 0) {
        free_values(lp);
        return why(lp, "missing value%s", "");
    }
    if (parse_number(f[0], fl[0], &v)) {
        free_values(lp);
        return why(lp, "invalid value%s", "");
    }
    int64_t t_ms = 0;
    if (nf == 2) {
        if (parse_number(f[1], fl[1], &t) || !isfinite(t) || t < 0 || t >= 9.2e15) {
            free_values(lp);
            return why(lp, "invalid time%s", "");
        }
        t_ms = t < 1e11 ? (int64_t)llround(t * 1000) : (int64_t)llround(t);
        /* the server refuses a batch with a sample from the future, which
         * would cost every sample of this interval: refuse the line here */
        if (t_ms > now_ms + PLUGIN_MAX_FUTURE_MS) {
            free_values(lp);
            return why(lp, "time is more than 5 minutes in the future%s", "");
        }
        if (t_ms == 0)
            t_ms = 1; /* 0 means "the collection's time" in an mset */
    }
    for (size_t i = 0; i < lp->nlabels; i++) {
        lp->kv[2 * i] = lp->lname[i];
        lp->kv[2 * i + 1] = lp->lvalue[i];
    }
    mset_add(m, lp->name, v, t_ms, lp->nlabels, lp->kv);
    free_values(lp);
    return 1;
}

size_t plugin_output_parse(const char *text, size_t n, int64_t now_ms, struct mset *m,
                           plugin_bad_line_fn bad, void *ctx)
{
    struct line_parse *lp = xmalloc(sizeof *lp);
    size_t nbad = 0;
    long line = 0;
    const char *p = text, *end = text + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (memchr(p, '\0', (size_t)(le - p))) {
            nbad++;
            if (bad)
                bad(ctx, line, "NUL byte in the line");
        } else if (parse_line(lp, p, le, now_ms, m) < 0) {
            nbad++;
            if (bad)
                bad(ctx, line, lp->why);
        }
        p = nl ? nl + 1 : end;
    }
    free(lp);
    return nbad;
}
