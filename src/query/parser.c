/*
 * parser.c - PromQL lexer and recursive-descent parser (see ast.h).
 *
 * Operator precedence, lowest first, as in Prometheus:
 *   or < and, unless < == != <= < >= > < + - < * / % atan2 < ^ (right-assoc)
 * Unary minus binds weaker than ^ (-2^2 is -4), stronger than the rest.
 */
#include "query/ast.h"
#include "query/functions.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/timeutil.h"
#include "storage/labels.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tok {
    T_EOF,
    T_IDENT,
    T_NUMBER,
    T_STRING,
    T_DURATION,
    T_LBRACE,
    T_RBRACE,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_COLON,
    T_AT,
    T_ADD,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_EQLC,
    T_NEQ,
    T_LSS,
    T_GTR,
    T_LTE,
    T_GTE,
    T_ASSIGN,
    T_EQL_REGEX,
    T_NEQ_REGEX,
};

struct parser {
    const char *q;
    size_t len, pos;
    /* current token */
    enum tok tok;
    size_t tpos, tlen;
    double num;
    int64_t dur;
    struct buf str; /* unquoted string / identifier text */
    struct saba_err *err;
    bool failed;
    int brackets; /* inside [...], ':' separates a subquery's range and step */
    int depth;    /* nesting plus operator-chain length so far, see PROMQL_MAX_DEPTH */
};

/* The parser, node_value_type, node_free and the evaluator recurse over the
 * tree, and a query can be megabytes long (a form-encoded POST): bound the
 * tree's depth so that no query can overflow the stack (or, via a long
 * operator chain, make node_value_type quadratic). */
#define PROMQL_MAX_DEPTH 2000

static void fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < p->len; i++) {
        if (p->q[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(p->err, SABA_EINVAL, line, "%d:%d: parse error: %s", line, col, msg);
}

static const char *tok_desc(struct parser *p, char *out, size_t n)
{
    if (p->tok == T_EOF)
        return "end of input";
    snprintf(out, n, "\"%.*s\"", (int)(p->tlen > 40 ? 40 : p->tlen), p->q + p->tpos);
    return out;
}

static void unexpected(struct parser *p, const char *context)
{
    char d[64];
    if (context)
        fail(p, p->tpos, "unexpected %s in %s", tok_desc(p, d, sizeof d), context);
    else
        fail(p, p->tpos, "unexpected %s", tok_desc(p, d, sizeof d));
}

/* ---- lexer ---- */

static bool is_ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

static int lex_string(struct parser *p)
{
    char quote = p->q[p->pos++];
    buf_reset(&p->str);
    buf_append(&p->str, "", 0); /* "" must still be a C string: data is NULL before any append */
    while (p->pos < p->len) {
        char c = p->q[p->pos++];
        if (c == quote)
            return 0;
        if (quote == '`') {
            buf_putc(&p->str, c);
            continue;
        }
        if (c == '\n') {
            fail(p, p->pos - 1, "unterminated quoted string");
            return -1;
        }
        if (c != '\\') {
            buf_putc(&p->str, c);
            continue;
        }
        if (p->pos >= p->len)
            break;
        c = p->q[p->pos++];
        switch (c) {
        case 'a':
            buf_putc(&p->str, '\a');
            break;
        case 'b':
            buf_putc(&p->str, '\b');
            break;
        case 'f':
            buf_putc(&p->str, '\f');
            break;
        case 'n':
            buf_putc(&p->str, '\n');
            break;
        case 'r':
            buf_putc(&p->str, '\r');
            break;
        case 't':
            buf_putc(&p->str, '\t');
            break;
        case 'v':
            buf_putc(&p->str, '\v');
            break;
        case '\\':
            buf_putc(&p->str, '\\');
            break;
        case '"':
        case '\'':
            if (c != quote) {
                fail(p, p->pos - 2, "unknown escape sequence \\%c", c);
                return -1;
            }
            buf_putc(&p->str, c);
            break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            if (p->pos + (size_t)nd > p->len) {
                fail(p, p->pos, "escape sequence is too short");
                return -1;
            }
            unsigned long cp = 0;
            for (int i = 0; i < nd; i++) {
                char h = p->q[p->pos++];
                if (!isxdigit((unsigned char)h)) {
                    fail(p, p->pos - 1, "illegal character in escape sequence");
                    return -1;
                }
                cp = cp * 16 +
                     (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
            }
            if (c == 'x') {
                buf_putc(&p->str, (char)cp);
            } else if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                fail(p, p->pos, "escape sequence is an invalid Unicode code point");
                return -1;
            } else if (cp < 0x80) {
                buf_putc(&p->str, (char)cp);
            } else if (cp < 0x800) {
                buf_putc(&p->str, (char)(0xc0 | (cp >> 6)));
                buf_putc(&p->str, (char)(0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
                buf_putc(&p->str, (char)(0xe0 | (cp >> 12)));
                buf_putc(&p->str, (char)(0x80 | ((cp >> 6) & 0x3f)));
                buf_putc(&p->str, (char)(0x80 | (cp & 0x3f)));
            } else {
                buf_putc(&p->str, (char)(0xf0 | (cp >> 18)));
                buf_putc(&p->str, (char)(0x80 | ((cp >> 12) & 0x3f)));
                buf_putc(&p->str, (char)(0x80 | ((cp >> 6) & 0x3f)));
                buf_putc(&p->str, (char)(0x80 | (cp & 0x3f)));
            }
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (p->pos + 2 > p->len || p->q[p->pos] < '0' || p->q[p->pos] > '7' ||
                    p->q[p->pos + 1] < '0' || p->q[p->pos + 1] > '7') {
                    fail(p, p->pos, "illegal character in escape sequence");
                    return -1;
                }
                int v = (c - '0') * 64 + (p->q[p->pos] - '0') * 8 + (p->q[p->pos + 1] - '0');
                if (v > 255) {
                    fail(p, p->pos, "octal escape value > 255");
                    return -1;
                }
                buf_putc(&p->str, (char)v);
                p->pos += 2;
                break;
            }
            fail(p, p->pos - 2, "unknown escape sequence \\%c", c);
            return -1;
        }
    }
    fail(p, p->tpos, "unterminated quoted string");
    return -1;
}

static void next(struct parser *p)
{
    if (p->failed) {
        p->tok = T_EOF;
        return;
    }
    /* skip whitespace and # comments */
    for (;;) {
        while (p->pos < p->len && isspace((unsigned char)p->q[p->pos]))
            p->pos++;
        if (p->pos < p->len && p->q[p->pos] == '#') {
            while (p->pos < p->len && p->q[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    p->tpos = p->pos;
    if (p->pos >= p->len) {
        p->tok = T_EOF;
        p->tlen = 0;
        return;
    }
    const char *s = p->q + p->pos;
    char c = *s, c1 = p->pos + 1 < p->len ? s[1] : '\0';
    size_t adv = 1;
    switch (c) {
    case '{':
        p->tok = T_LBRACE;
        break;
    case '}':
        p->tok = T_RBRACE;
        break;
    case '(':
        p->tok = T_LPAREN;
        break;
    case ')':
        p->tok = T_RPAREN;
        break;
    case '[':
        p->tok = T_LBRACKET;
        p->brackets++;
        break;
    case ']':
        p->tok = T_RBRACKET;
        p->brackets--;
        break;
    case ',':
        p->tok = T_COMMA;
        break;
    case '@':
        p->tok = T_AT;
        break;
    case '+':
        p->tok = T_ADD;
        break;
    case '-':
        p->tok = T_SUB;
        break;
    case '*':
        p->tok = T_MUL;
        break;
    case '/':
        p->tok = T_DIV;
        break;
    case '%':
        p->tok = T_MOD;
        break;
    case '^':
        p->tok = T_POW;
        break;
    case '=':
        if (c1 == '=')
            p->tok = T_EQLC, adv = 2;
        else if (c1 == '~')
            p->tok = T_EQL_REGEX, adv = 2;
        else
            p->tok = T_ASSIGN;
        break;
    case '!':
        if (c1 == '=')
            p->tok = T_NEQ, adv = 2;
        else if (c1 == '~')
            p->tok = T_NEQ_REGEX, adv = 2;
        else {
            fail(p, p->pos, "unexpected character after '!': %c", c1 ? c1 : ' ');
            p->tok = T_EOF;
            return;
        }
        break;
    case '<':
        if (c1 == '=')
            p->tok = T_LTE, adv = 2;
        else
            p->tok = T_LSS;
        break;
    case '>':
        if (c1 == '=')
            p->tok = T_GTE, adv = 2;
        else
            p->tok = T_GTR;
        break;
    case '"':
    case '\'':
    case '`':
        p->tok = T_STRING;
        if (lex_string(p) != 0)
            p->tok = T_EOF;
        p->tlen = p->pos - p->tpos;
        return;
    default:
        if (c == ':' && (p->brackets > 0 || !(p->pos + 1 < p->len && is_ident_char(c1)))) {
            p->tok = T_COLON;
            break;
        }
        if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)c1))) {
            /* a duration is digits followed by a unit; anything else is a number */
            size_t e = p->pos;
            while (e < p->len && isdigit((unsigned char)p->q[e]))
                e++;
            if (e < p->len && p->q[e] && strchr("smhdwy", p->q[e])) {
                size_t d = e;
                while (d < p->len && (isalnum((unsigned char)p->q[d])))
                    d++;
                char tmp[64];
                size_t n = d - p->pos;
                if (n < sizeof tmp) {
                    memcpy(tmp, s, n);
                    tmp[n] = '\0';
                    if (duration_parse(tmp, &p->dur) == 0) {
                        p->tok = T_DURATION;
                        adv = n;
                        break;
                    }
                }
                fail(p, p->pos, "bad duration syntax: \"%.*s\"", (int)(n > 40 ? 40 : n), s);
                p->tok = T_EOF;
                return;
            }
            char *end;
            errno = 0;
            if (c == '0' && (c1 == 'x' || c1 == 'X'))
                p->num = (double)strtoull(s, &end, 16);
            else
                p->num = strtod(s, &end);
            if (end == s || is_ident_char(*end) || *end == '.') {
                fail(p, p->pos, "bad number or duration syntax: \"%.*s\"",
                     (int)(end - s + 1 > 40 ? 40 : end - s + 1), s);
                p->tok = T_EOF;
                return;
            }
            p->tok = T_NUMBER;
            adv = (size_t)(end - s);
            break;
        }
        if (is_ident_start(c)) {
            size_t e = p->pos;
            while (e < p->len && is_ident_char(p->q[e]))
                e++;
            p->tok = T_IDENT;
            adv = e - p->pos;
            buf_reset(&p->str);
            buf_append(&p->str, s, adv);
            if (!strcasecmp(p->str.data, "inf") || !strcasecmp(p->str.data, "nan")) {
                p->tok = T_NUMBER;
                p->num = tolower((unsigned char)p->str.data[0]) == 'i' ? INFINITY : NAN;
            }
            break;
        }
        fail(p, p->pos, "unexpected character: '%c'", c);
        p->tok = T_EOF;
        return;
    }
    p->pos += adv;
    p->tlen = adv;
}

static bool ident_is(struct parser *p, const char *kw)
{
    return p->tok == T_IDENT && !strcasecmp(p->str.data, kw);
}

static bool expect(struct parser *p, enum tok t, const char *context)
{
    if (p->tok != t) {
        unexpected(p, context);
        return false;
    }
    next(p);
    return true;
}

/* ---- nodes ---- */

static struct node *node_new(enum node_type type, int pos)
{
    struct node *n = xcalloc(1, sizeof *n);
    n->type = type;
    n->pos = pos;
    return n;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void node_free(struct node *n)
{
    if (!n)
        return;
    free(n->str);
    free(n->metric);
    for (size_t i = 0; i < n->nmatchers; i++)
        matcher_free(n->matchers[i]);
    free(n->matchers);
    node_free(n->inner);
    node_free(n->lhs);
    node_free(n->rhs);
    free_strs(n->match_labels, n->nmatch_labels);
    free_strs(n->include_labels, n->ninclude_labels);
    free(n->func);
    for (size_t i = 0; i < n->nargs; i++)
        node_free(n->args[i]);
    free(n->args);
    node_free(n->param);
    free_strs(n->grouping, n->ngrouping);
    free(n);
}

enum value_type node_value_type(const struct node *n)
{
    switch (n->type) {
    case NODE_NUMBER:
        return VAL_SCALAR;
    case NODE_STRING:
        return VAL_STRING;
    case NODE_VECTOR:
    case NODE_AGG:
        return VAL_VECTOR;
    case NODE_MATRIX:
    case NODE_SUBQUERY:
        return VAL_MATRIX;
    case NODE_PAREN:
    case NODE_UNARY:
        return node_value_type(n->inner);
    case NODE_BINARY:
        return node_value_type(n->lhs) == VAL_SCALAR && node_value_type(n->rhs) == VAL_SCALAR
                   ? VAL_SCALAR
                   : VAL_VECTOR;
    case NODE_CALL: {
        const struct func_sig *f = func_lookup(n->func);
        return f ? f->ret : VAL_VECTOR;
    }
    }
    return VAL_VECTOR;
}

const char *value_type_name(enum value_type t)
{
    static const char *const names[] = {"scalar", "string", "instant vector", "range vector"};
    return names[t];
}

/* ---- grammar ---- */

static struct node *parse_expr(struct parser *p, int min_prec);

static const char *const aggregators[] = {"sum",          "avg",      "count",  "min",  "max",
                                          "group",        "stddev",   "stdvar", "topk", "bottomk",
                                          "count_values", "quantile", NULL};

static bool is_aggregator(const char *s)
{
    for (int i = 0; aggregators[i]; i++)
        if (!strcasecmp(s, aggregators[i]))
            return true;
    return false;
}

/* ( label, label, ... ) */
static bool parse_label_list(struct parser *p, char ***out, size_t *n)
{
    if (!expect(p, T_LPAREN, "grouping opts"))
        return false;
    while (p->tok != T_RPAREN) {
        if (p->tok != T_IDENT || strchr(p->str.data, ':')) {
            unexpected(p, "grouping opts");
            return false;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = xstrdup(p->str.data);
        next(p);
        if (p->tok == T_COMMA)
            next(p);
        else if (p->tok != T_RPAREN) {
            unexpected(p, "grouping opts");
            return false;
        }
    }
    next(p);
    return true;
}

static bool parse_matchers(struct parser *p, struct node *n)
{
    next(p); /* '{' */
    while (p->tok != T_RBRACE) {
        if (p->tok != T_IDENT && p->tok != T_STRING) {
            unexpected(p, "label matching");
            return false;
        }
        if (p->tok == T_IDENT && strchr(p->str.data, ':')) {
            unexpected(p, "label matching");
            return false;
        }
        char *name = xstrdup(p->str.data);
        size_t npos = p->tpos;
        next(p);
        enum matcher_type mt;
        switch (p->tok) {
        case T_ASSIGN:
            mt = MATCH_EQ;
            break;
        case T_NEQ:
            mt = MATCH_NEQ;
            break;
        case T_EQL_REGEX:
            mt = MATCH_RE;
            break;
        case T_NEQ_REGEX:
            mt = MATCH_NRE;
            break;
        default:
            free(name);
            unexpected(p, "label matching, expected label matching operator");
            return false;
        }
        next(p);
        if (p->tok != T_STRING) {
            free(name);
            unexpected(p, "label matching, expected string");
            return false;
        }
        struct matcher *m;
        struct saba_err merr = {0};
        if (matcher_new(mt, name, p->str.data, &m, &merr) != 0) {
            free(name);
            fail(p, npos, "%s", merr.msg);
            return false;
        }
        free(name);
        n->matchers = xrealloc(n->matchers, (n->nmatchers + 1) * sizeof *n->matchers);
        n->matchers[n->nmatchers++] = m;
        next(p);
        if (p->tok == T_COMMA)
            next(p);
        else if (p->tok != T_RBRACE) {
            unexpected(p, "label matching, expected comma or closing \"}\"");
            return false;
        }
    }
    next(p);
    return true;
}

static struct node *parse_selector(struct parser *p)
{
    struct node *n = node_new(NODE_VECTOR, (int)p->tpos);
    if (p->tok == T_IDENT) {
        n->metric = xstrdup(p->str.data);
        next(p);
    }
    if (p->tok == T_LBRACE && !parse_matchers(p, n))
        goto fail;
    if (n->metric) {
        for (size_t i = 0; i < n->nmatchers; i++) {
            if (!strcmp(matcher_name(n->matchers[i]), LABEL_NAME)) {
                fail(p, (size_t)n->pos, "metric name must not be set twice: \"%s\" or \"%s\"",
                     n->metric, matcher_value(n->matchers[i]));
                goto fail;
            }
        }
        struct matcher *m;
        matcher_new(MATCH_EQ, LABEL_NAME, n->metric, &m, NULL);
        n->matchers = xrealloc(n->matchers, (n->nmatchers + 1) * sizeof *n->matchers);
        memmove(n->matchers + 1, n->matchers, n->nmatchers * sizeof *n->matchers);
        n->matchers[0] = m;
        n->nmatchers++;
    }
    bool nonempty = false;
    for (size_t i = 0; i < n->nmatchers; i++)
        if (!matcher_matches(n->matchers[i], "", 0))
            nonempty = true;
    if (!nonempty) {
        fail(p, (size_t)n->pos, "vector selector must contain at least one non-empty matcher");
        goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

static struct node *parse_call_args(struct parser *p, struct node *n)
{
    if (!expect(p, T_LPAREN, "function call"))
        return NULL;
    while (p->tok != T_RPAREN) {
        struct node *a = parse_expr(p, 0);
        if (!a)
            return NULL;
        n->args = xrealloc(n->args, (n->nargs + 1) * sizeof *n->args);
        n->args[n->nargs++] = a;
        if (p->tok == T_COMMA)
            next(p);
        else if (p->tok != T_RPAREN) {
            unexpected(p, "argument list");
            return NULL;
        }
    }
    next(p);
    return n;
}

/* Argument count and types against the function's signature, with
 * Prometheus' messages. */
static bool check_call(struct parser *p, const struct node *n)
{
    const struct func_sig *f = func_lookup(n->func);
    size_t want = f->nargs;
    if (f->variadic == 0 && n->nargs != want) {
        fail(p, (size_t)n->pos, "expected %zu argument(s) in call to \"%s\", got %zu", want,
             n->func, n->nargs);
        return false;
    }
    if (f->variadic != 0 && n->nargs < want - 1) {
        fail(p, (size_t)n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu",
             want - 1, n->func, n->nargs);
        return false;
    }
    if (f->variadic > 0 && n->nargs > want - 1 + (size_t)f->variadic) {
        fail(p, (size_t)n->pos, "expected at most %zu argument(s) in call to \"%s\", got %zu",
             want - 1 + (size_t)f->variadic, n->func, n->nargs);
        return false;
    }
    for (size_t i = 0; i < n->nargs; i++) {
        if (i >= want && f->variadic != -1)
            break;
        enum value_type t = f->args[i < want ? i : want - 1];
        enum value_type got = node_value_type(n->args[i]);
        if (got != t) {
            fail(p, (size_t)n->args[i]->pos, "expected type %s in call to function \"%s\", got %s",
                 value_type_name(t), n->func, value_type_name(got));
            return false;
        }
    }
    return true;
}

static struct node *parse_aggregation(struct parser *p)
{
    struct node *n = node_new(NODE_AGG, (int)p->tpos);
    n->func = xstrdup(p->str.data);
    for (char *c = n->func; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    next(p);
    if (ident_is(p, "by") || ident_is(p, "without")) {
        n->without = ident_is(p, "without");
        n->has_grouping = true;
        next(p);
        if (!parse_label_list(p, &n->grouping, &n->ngrouping))
            goto fail;
    }
    if (!parse_call_args(p, n))
        goto fail;
    if (!n->has_grouping && (ident_is(p, "by") || ident_is(p, "without"))) {
        n->without = ident_is(p, "without");
        n->has_grouping = true;
        next(p);
        if (!parse_label_list(p, &n->grouping, &n->ngrouping))
            goto fail;
    }
    bool needs_param = !strcmp(n->func, "topk") || !strcmp(n->func, "bottomk") ||
                       !strcmp(n->func, "quantile") || !strcmp(n->func, "count_values");
    size_t want = needs_param ? 2 : 1;
    if (n->nargs != want) {
        fail(p, (size_t)n->pos,
             "wrong number of arguments for aggregate expression provided, "
             "expected %zu, got %zu",
             want, n->nargs);
        goto fail;
    }
    if (needs_param) {
        n->param = n->args[0];
        n->inner = n->args[1];
    } else {
        n->inner = n->args[0];
    }
    free(n->args);
    n->args = NULL;
    n->nargs = 0;
    if (n->param) {
        enum value_type want_t = strcmp(n->func, "count_values") ? VAL_SCALAR : VAL_STRING;
        if (node_value_type(n->param) != want_t) {
            fail(p, (size_t)n->param->pos, "expected type %s in aggregation parameter, got %s",
                 value_type_name(want_t), value_type_name(node_value_type(n->param)));
            goto fail;
        }
    }
    if (node_value_type(n->inner) != VAL_VECTOR) {
        fail(p, (size_t)n->inner->pos,
             "expected type instant vector in aggregation expression, "
             "got %s",
             value_type_name(node_value_type(n->inner)));
        goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

static struct node *parse_primary(struct parser *p)
{
    struct node *n;
    switch (p->tok) {
    case T_NUMBER:
        n = node_new(NODE_NUMBER, (int)p->tpos);
        n->num = p->num;
        next(p);
        return n;
    case T_STRING:
        n = node_new(NODE_STRING, (int)p->tpos);
        n->str = xstrdup(p->str.data);
        next(p);
        return n;
    case T_LPAREN:
        n = node_new(NODE_PAREN, (int)p->tpos);
        next(p);
        n->inner = parse_expr(p, 0);
        if (!n->inner || !expect(p, T_RPAREN, "parenthesized expression")) {
            node_free(n);
            return NULL;
        }
        return n;
    case T_LBRACE:
        return parse_selector(p);
    case T_IDENT: {
        if (is_aggregator(p->str.data)) {
            /* an aggregator name followed by ( or by/without is an aggregation;
             * otherwise it is a metric name (e.g. a series called "sum") */
            size_t save = p->pos;
            while (save < p->len && isspace((unsigned char)p->q[save]))
                save++;
            if (save < p->len && (p->q[save] == '(' || !strncasecmp(p->q + save, "by", 2) ||
                                  !strncasecmp(p->q + save, "without", 7)))
                return parse_aggregation(p);
        }
        size_t save = p->pos;
        while (save < p->len && isspace((unsigned char)p->q[save]))
            save++;
        if (save < p->len && p->q[save] == '(') {
            n = node_new(NODE_CALL, (int)p->tpos);
            n->func = xstrdup(p->str.data);
            if (!func_lookup(n->func)) {
                fail(p, p->tpos, "unknown function with name \"%s\"", n->func);
                node_free(n);
                return NULL;
            }
            next(p);
            if (!parse_call_args(p, n) || !check_call(p, n)) {
                node_free(n);
                return NULL;
            }
            return n;
        }
        return parse_selector(p);
    }
    default:
        unexpected(p, NULL);
        return NULL;
    }
}

static bool parse_offset_at(struct parser *p, struct node *n)
{
    for (;;) {
        if (ident_is(p, "offset")) {
            if (n->type != NODE_VECTOR && n->type != NODE_MATRIX && n->type != NODE_SUBQUERY) {
                fail(p, p->tpos,
                     "offset modifier must be preceded by an instant vector selector "
                     "or range vector selector or a subquery");
                return false;
            }
            if (n->offset_ms) {
                fail(p, p->tpos, "offset may not be set multiple times");
                return false;
            }
            next(p);
            int sign = 1;
            if (p->tok == T_SUB) {
                sign = -1;
                next(p);
            }
            if (p->tok != T_DURATION) {
                unexpected(p, "offset, expected duration");
                return false;
            }
            n->offset_ms = sign * p->dur;
            next(p);
        } else if (p->tok == T_AT) {
            if (n->type != NODE_VECTOR && n->type != NODE_MATRIX && n->type != NODE_SUBQUERY) {
                fail(p, p->tpos,
                     "@ modifier must be preceded by an instant vector selector or "
                     "range vector selector or a subquery");
                return false;
            }
            if (n->at != AT_NONE) {
                fail(p, p->tpos, "@ <timestamp> may not be set multiple times");
                return false;
            }
            next(p);
            int sign = 1;
            if (p->tok == T_SUB || p->tok == T_ADD) {
                sign = p->tok == T_SUB ? -1 : 1;
                next(p);
            }
            if (p->tok == T_NUMBER) {
                /* the time must fit in int64 milliseconds */
                if (!isfinite(p->num) || fabs(p->num) >= 9.2e15) {
                    fail(p, p->tpos, "timestamp out of bounds for @ modifier: %f", p->num);
                    return false;
                }
                n->at = AT_TIME;
                n->at_ms = (int64_t)llround(sign * p->num * 1000);
                next(p);
            } else if (ident_is(p, "start") || ident_is(p, "end")) {
                n->at = ident_is(p, "start") ? AT_START : AT_END;
                next(p);
                if (!expect(p, T_LPAREN, "@ modifier") || !expect(p, T_RPAREN, "@ modifier"))
                    return false;
            } else {
                unexpected(p, "@, expected timestamp");
                return false;
            }
        } else {
            return true;
        }
    }
}

static struct node *parse_postfix(struct parser *p)
{
    struct node *n = parse_primary(p);
    while (n && !p->failed) {
        if (p->tok == T_LBRACKET) {
            size_t bpos = p->tpos;
            next(p);
            if (p->tok != T_DURATION) {
                unexpected(p, "range, expected duration");
                goto fail;
            }
            int64_t range = p->dur;
            next(p);
            if (p->tok == T_COLON) {
                next(p);
                int64_t step = 0;
                if (p->tok == T_DURATION) {
                    step = p->dur;
                    next(p);
                }
                if (!expect(p, T_RBRACKET, "subquery"))
                    goto fail;
                if (node_value_type(n) != VAL_VECTOR) {
                    fail(p, bpos, "subquery is only allowed on instant vector, got %s",
                         value_type_name(node_value_type(n)));
                    goto fail;
                }
                struct node *s = node_new(NODE_SUBQUERY, n->pos);
                s->inner = n;
                s->range_ms = range;
                s->step_ms = step;
                n = s;
            } else {
                if (!expect(p, T_RBRACKET, "range"))
                    goto fail;
                if (n->type != NODE_VECTOR) {
                    fail(p, bpos, "ranges only allowed for vector selectors");
                    goto fail;
                }
                if (n->offset_ms || n->at != AT_NONE) {
                    fail(p, bpos, "no offset or @ modifiers allowed before range");
                    goto fail;
                }
                struct node *m = node_new(NODE_MATRIX, n->pos);
                m->inner = n;
                m->range_ms = range;
                n = m;
            }
            continue;
        }
        if (ident_is(p, "offset") || p->tok == T_AT) {
            if (!parse_offset_at(p, n))
                goto fail;
            continue;
        }
        break;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

/* Binary operator at the current token: precedence (0 = not an operator). */
static int binop_at(struct parser *p, enum binop *op)
{
    switch (p->tok) {
    case T_ADD:
        *op = OP_ADD;
        return 4;
    case T_SUB:
        *op = OP_SUB;
        return 4;
    case T_MUL:
        *op = OP_MUL;
        return 5;
    case T_DIV:
        *op = OP_DIV;
        return 5;
    case T_MOD:
        *op = OP_MOD;
        return 5;
    case T_POW:
        *op = OP_POW;
        return 6;
    case T_EQLC:
        *op = OP_EQ;
        return 3;
    case T_NEQ:
        *op = OP_NE;
        return 3;
    case T_GTR:
        *op = OP_GT;
        return 3;
    case T_LSS:
        *op = OP_LT;
        return 3;
    case T_GTE:
        *op = OP_GE;
        return 3;
    case T_LTE:
        *op = OP_LE;
        return 3;
    case T_IDENT:
        if (ident_is(p, "atan2")) {
            *op = OP_ATAN2;
            return 5;
        }
        if (ident_is(p, "and")) {
            *op = OP_AND;
            return 2;
        }
        if (ident_is(p, "unless")) {
            *op = OP_UNLESS;
            return 2;
        }
        if (ident_is(p, "or")) {
            *op = OP_OR;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static struct node *parse_unary(struct parser *p)
{
    if (p->tok == T_SUB || p->tok == T_ADD) {
        struct node *n = node_new(NODE_UNARY, (int)p->tpos);
        n->unary_op = p->tok == T_SUB ? '-' : '+';
        next(p);
        n->inner = parse_expr(p, 6); /* ^ binds tighter than unary minus */
        if (!n->inner) {
            node_free(n);
            return NULL;
        }
        enum value_type t = node_value_type(n->inner);
        if (t != VAL_SCALAR && t != VAL_VECTOR) {
            fail(p, (size_t)n->pos,
                 "unary expression only allowed on expressions of type scalar "
                 "or instant vector, got %s",
                 value_type_name(t));
            node_free(n);
            return NULL;
        }
        /* fold a negated literal, so "-1" is a number as in Prometheus */
        if (n->inner->type == NODE_NUMBER) {
            struct node *num = n->inner;
            n->inner = NULL;
            if (n->unary_op == '-')
                num->num = -num->num;
            num->pos = n->pos;
            node_free(n);
            return num;
        }
        return n;
    }
    return parse_postfix(p);
}

static bool is_comparison(enum binop op)
{
    return op >= OP_EQ && op <= OP_LE;
}

static bool is_set_op(enum binop op)
{
    return op >= OP_AND;
}

static bool too_deep(struct parser *p)
{
    if (++p->depth <= PROMQL_MAX_DEPTH)
        return false;
    fail(p, p->tpos, "expression too deeply nested or too long (more than %d levels)",
         PROMQL_MAX_DEPTH);
    return true;
}

static struct node *parse_expr(struct parser *p, int min_prec)
{
    int depth = p->depth;
    if (too_deep(p))
        return NULL;
    struct node *lhs = parse_unary(p);
    while (lhs && !p->failed) {
        enum binop op;
        int prec = binop_at(p, &op);
        if (!prec || prec < min_prec)
            break;
        if (too_deep(p)) /* each operator of a chain is one more tree level */
            break;
        struct node *n = node_new(NODE_BINARY, (int)p->tpos);
        n->op = op;
        n->lhs = lhs;
        next(p);
        if (ident_is(p, "bool")) {
            if (!is_comparison(op)) {
                fail(p, p->tpos, "bool modifier can only be used on comparison operators");
                node_free(n);
                return NULL;
            }
            n->return_bool = true;
            next(p);
        }
        if (ident_is(p, "on") || ident_is(p, "ignoring")) {
            n->has_matching = true;
            n->on = ident_is(p, "on");
            next(p);
            if (!parse_label_list(p, &n->match_labels, &n->nmatch_labels)) {
                node_free(n);
                return NULL;
            }
            if (ident_is(p, "group_left") || ident_is(p, "group_right")) {
                n->group = ident_is(p, "group_left") ? 1 : 2;
                next(p);
                if (p->tok == T_LPAREN &&
                    !parse_label_list(p, &n->include_labels, &n->ninclude_labels)) {
                    node_free(n);
                    return NULL;
                }
            }
        }
        /* ^ is right-associative: parse its right side at the same level */
        n->rhs = parse_expr(p, op == OP_POW ? prec : prec + 1);
        if (!n->rhs) {
            node_free(n);
            return NULL;
        }
        enum value_type lt = node_value_type(n->lhs), rt = node_value_type(n->rhs);
        if ((lt != VAL_SCALAR && lt != VAL_VECTOR) || (rt != VAL_SCALAR && rt != VAL_VECTOR)) {
            fail(p, (size_t)n->pos,
                 "binary expression must contain only scalar and instant vector types");
            node_free(n);
            return NULL;
        }
        for (size_t i = 0; n->on && i < n->nmatch_labels; i++)
            for (size_t j = 0; j < n->ninclude_labels; j++)
                if (!strcmp(n->match_labels[i], n->include_labels[j])) {
                    fail(p, (size_t)n->pos,
                         "label \"%s\" must not occur in ON and GROUP clause at once",
                         n->include_labels[j]);
                    node_free(n);
                    return NULL;
                }
        if (is_set_op(op) && n->group && lt == VAL_VECTOR && rt == VAL_VECTOR) {
            fail(p, (size_t)n->pos, "no grouping allowed for \"%s\" operation",
                 op == OP_AND  ? "and"
                 : op == OP_OR ? "or"
                               : "unless");
            node_free(n);
            return NULL;
        }
        if (is_set_op(op) && (lt != VAL_VECTOR || rt != VAL_VECTOR)) {
            fail(p, (size_t)n->pos, "set operator \"%s\" not allowed in binary scalar expression",
                 op == OP_AND  ? "and"
                 : op == OP_OR ? "or"
                               : "unless");
            node_free(n);
            return NULL;
        }
        if (is_comparison(op) && lt == VAL_SCALAR && rt == VAL_SCALAR && !n->return_bool) {
            fail(p, (size_t)n->pos, "comparisons between scalars must use BOOL modifier");
            node_free(n);
            return NULL;
        }
        if (n->has_matching && (lt != VAL_VECTOR || rt != VAL_VECTOR)) {
            fail(p, (size_t)n->pos, "vector matching only allowed between instant vectors");
            node_free(n);
            return NULL;
        }
        lhs = n;
    }
    p->depth = depth;
    if (p->failed) {
        node_free(lhs);
        return NULL;
    }
    return lhs;
}

int promql_parse(const char *query, struct node **out, struct saba_err *err)
{
    struct parser p = {.q = query, .len = strlen(query), .err = err};
    next(&p);
    if (p.tok == T_EOF && !p.failed) {
        fail(&p, 0, "no expression found in input");
        buf_free(&p.str);
        return SABA_EINVAL;
    }
    struct node *n = parse_expr(&p, 0);
    if (n && !p.failed && p.tok != T_EOF)
        unexpected(&p, NULL);
    buf_free(&p.str);
    if (p.failed || !n) {
        node_free(n);
        if (!p.failed)
            err_set(err, SABA_EINVAL, 0, "parse error");
        return SABA_EINVAL;
    }
    *out = n;
    return 0;
}
