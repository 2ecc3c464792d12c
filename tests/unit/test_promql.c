/*
 * test_promql.c - unit tests for the PromQL parser (src/query/ast.h).
 *
 * Trees are rendered to a compact, fully parenthesised text so that shape,
 * precedence and modifiers can be asserted in one line.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/num.h"
#include "query/ast.h"
#include "storage/matcher.h"

#include "unit.h"

static const char *const binop_names[] = {
    "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"};

static void render_strs(struct buf *b, const char *what, char **v, size_t n)
{
    buf_printf(b, "%s(", what);
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%s", i ? "," : "", v[i]);
    buf_putc(b, ')');
}

static void render_mods(struct buf *b, const struct node *n)
{
    if (n->offset_ms)
        buf_printf(b, " offset %lldms", (long long)n->offset_ms);
    if (n->at == AT_TIME)
        buf_printf(b, " @%lldms", (long long)n->at_ms);
    else if (n->at == AT_START)
        buf_puts(b, " @start");
    else if (n->at == AT_END)
        buf_puts(b, " @end");
}

static void render(struct buf *b, const struct node *n)
{
    switch (n->type) {
    case NODE_NUMBER:
        num_put_float(b, n->num);
        break;
    case NODE_STRING:
        buf_puts(b, "str:");
        buf_put_json_str(b, n->str, strlen(n->str));
        break;
    case NODE_VECTOR:
        buf_putc(b, '{');
        for (size_t i = 0; i < n->nmatchers; i++)
            buf_printf(b, "%s%s", i ? "," : "", matcher_string(n->matchers[i]));
        buf_putc(b, '}');
        render_mods(b, n);
        break;
    case NODE_MATRIX:
        render(b, n->inner);
        buf_printf(b, "[%lldms]", (long long)n->range_ms);
        render_mods(b, n);
        break;
    case NODE_SUBQUERY:
        render(b, n->inner);
        buf_printf(b, "[%lldms:%lldms]", (long long)n->range_ms, (long long)n->step_ms);
        render_mods(b, n);
        break;
    case NODE_PAREN:
        buf_puts(b, "paren(");
        render(b, n->inner);
        buf_putc(b, ')');
        break;
    case NODE_UNARY:
        buf_printf(b, "(%c", n->unary_op);
        render(b, n->inner);
        buf_putc(b, ')');
        break;
    case NODE_BINARY:
        buf_putc(b, '(');
        render(b, n->lhs);
        buf_printf(b, " %s", binop_names[n->op]);
        if (n->return_bool)
            buf_puts(b, " bool");
        if (n->has_matching) {
            buf_putc(b, ' ');
            render_strs(b, n->on ? "on" : "ignoring", n->match_labels, n->nmatch_labels);
        }
        if (n->group) {
            buf_putc(b, ' ');
            render_strs(b, n->group == 1 ? "group_left" : "group_right", n->include_labels,
                        n->ninclude_labels);
        }
        buf_putc(b, ' ');
        render(b, n->rhs);
        buf_putc(b, ')');
        break;
    case NODE_CALL:
        buf_printf(b, "%s(", n->func);
        for (size_t i = 0; i < n->nargs; i++) {
            if (i)
                buf_puts(b, ", ");
            render(b, n->args[i]);
        }
        buf_putc(b, ')');
        break;
    case NODE_AGG:
        buf_puts(b, n->func);
        if (n->has_grouping) {
            buf_putc(b, ' ');
            render_strs(b, n->without ? "without" : "by", n->grouping, n->ngrouping);
        }
        buf_putc(b, '(');
        if (n->param) {
            render(b, n->param);
            buf_puts(b, ", ");
        }
        render(b, n->inner);
        buf_putc(b, ')');
        break;
    }
}

static void check(const char *q, const char *want)
{
    struct node *n = NULL;
    struct saba_err err = {0};
    int rc = promql_parse(q, &n, &err);
    if (rc != 0)
        fail_msg("parse \"%s\": %s", q, err.msg);
    assert_non_null(n);
    struct buf b = BUF_INIT;
    render(&b, n);
    if (strcmp(b.data, want) != 0)
        fail_msg("parse \"%s\":\n  got  %s\n  want %s", q, b.data, want);
    buf_free(&b);
    node_free(n);
}

static void check_type(const char *q, enum value_type t)
{
    struct node *n = NULL;
    struct saba_err err = {0};
    assert_int_equal(promql_parse(q, &n, &err), 0);
    assert_int_equal(node_value_type(n), t);
    node_free(n);
}

/* The error must read "L:C: parse error: ...", start with prefix and mention contains. */
static void check_err(const char *q, const char *prefix, const char *contains)
{
    struct node *n = (struct node *)0x1;
    struct saba_err err = {0};
    int rc = promql_parse(q, &n, &err);
    if (rc != SABA_EINVAL)
        fail_msg("parse \"%s\": rc %d, want SABA_EINVAL", q, rc);
    assert_ptr_equal(n, (struct node *)0x1); /* *out untouched */
    assert_int_equal(err.code, SABA_EINVAL);
    int line = 0, col = 0, used = 0;
    if (sscanf(err.msg, "%d:%d: parse error: %n", &line, &col, &used) != 2 || used == 0 ||
        line < 1 || col < 1)
        fail_msg("parse \"%s\": \"%s\" is not \"L:C: parse error: ...\"", q, err.msg);
    assert_int_equal(err.line, line);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("parse \"%s\": \"%s\" does not start with \"%s\"", q, err.msg, prefix);
    if (contains && !strstr(err.msg, contains))
        fail_msg("parse \"%s\": \"%s\" does not mention \"%s\"", q, err.msg, contains);
}

/* ---- selectors ---- */

static void test_selectors(void **state)
{
    (void)state;
    check("foo", "{__name__=\"foo\"}");
    check("foo:bar_baz", "{__name__=\"foo:bar_baz\"}");
    check("foo{}", "{__name__=\"foo\"}");
    check("foo{a=\"b\"}", "{__name__=\"foo\",a=\"b\"}");
    check("foo{a=\"b\", c!=\"d\", e=~\"f.*\", g!~\"h\",}",
          "{__name__=\"foo\",a=\"b\",c!=\"d\",e=~\"f.*\",g!~\"h\"}");
    check("{__name__=\"foo\"}", "{__name__=\"foo\"}");
    check("{__name__=~\"foo|bar\", job=\"x\"}", "{__name__=~\"foo|bar\",job=\"x\"}");
    check("{job=\"x\"}", "{job=\"x\"}");
    /* one non-empty matcher is enough, the others may match "" */
    check("{a=\"\", b=\"x\"}", "{a=\"\",b=\"x\"}");
    check("{a=~\".+\"}", "{a=~\".+\"}");
    check("  foo  ", "{__name__=\"foo\"}");
    check("foo # a comment", "{__name__=\"foo\"}");
    /* keywords and aggregator names are metric names where a selector is expected */
    check("sum", "{__name__=\"sum\"}");
    check("offset", "{__name__=\"offset\"}");
    check("count{a=\"b\"}", "{__name__=\"count\",a=\"b\"}");
    check("bool", "{__name__=\"bool\"}");
}

static void test_matcher_objects_in_tree(void **state)
{
    (void)state;
    struct node *n;
    struct saba_err err = {0};
    assert_int_equal(promql_parse("foo{a=~\"x.*\", b!=\"y\"}", &n, &err), 0);
    assert_int_equal(n->type, NODE_VECTOR);
    assert_string_equal(n->metric, "foo");
    assert_int_equal(n->nmatchers, 3);
    assert_int_equal(matcher_type(n->matchers[0]), MATCH_EQ);
    assert_string_equal(matcher_name(n->matchers[0]), "__name__");
    assert_string_equal(matcher_value(n->matchers[0]), "foo");
    assert_int_equal(matcher_type(n->matchers[1]), MATCH_RE);
    assert_true(matcher_matches(n->matchers[1], "xyz", 3));
    assert_false(matcher_matches(n->matchers[1], "axyz", 4)); /* anchored */
    assert_int_equal(matcher_type(n->matchers[2]), MATCH_NEQ);
    assert_int_equal(n->pos, 0);
    node_free(n);
    node_free(NULL);

    assert_int_equal(promql_parse("{job=\"x\"}", &n, &err), 0);
    assert_null(n->metric);
    node_free(n);
}

static void test_strings(void **state)
{
    (void)state;
    check("\"a\\\"b\"", "str:\"a\\\"b\"");
    check("'a\\'b'", "str:\"a'b\"");
    check("'a\"b'", "str:\"a\\\"b\"");
    check("\"tab\\there\\nnl\\\\bs\"", "str:\"tab\\there\\nnl\\\\bs\"");
    check("\"\\x41\\101\\u00e9\\U0001F600\"", "str:\"AA\xc3\xa9\xf0\x9f\x98\x80\"");
    check("\"\\a\\b\\f\\r\\v\"", "str:\"\\u0007\\u0008\\u000c\\r\\u000b\"");
    /* raw strings: no escapes, newlines allowed */
    check("`a\\nb\\\"`", "str:\"a\\\\nb\\\\\\\"\"");
    check("`line1\nline2`", "str:\"line1\\nline2\"");
    check("foo{a=`x\\d+`}", "{__name__=\"foo\",a=\"x\\\\d+\"}");
    check("foo{a=\"x\\\\d+\"}", "{__name__=\"foo\",a=\"x\\\\d+\"}");
    check("foo{a='b'}", "{__name__=\"foo\",a=\"b\"}");
    check_type("\"s\"", VAL_STRING);

    check_err("\"abc", "1:1: ", "unterminated quoted string");
    check_err("\"a\nb\"", "1:3: ", "unterminated quoted string");
    check_err("'abc\\", "1:1: ", "unterminated");
    check_err("\"\\q\"", "1:2: ", "unknown escape sequence");
    check_err("\"\\'\"", "1:2: ", "unknown escape sequence");
    check_err("\"\\x4\"", "1:5: ", "illegal character in escape sequence");
    check_err("\"\\uD800\"", "1:", "invalid Unicode code point");
    check_err("\"\\400\"", "1:", "octal escape value > 255");
}

static void test_numbers(void **state)
{
    (void)state;
    check("1", "1");
    check("1.5", "1.5");
    check(".5", "0.5");
    check("1e3", "1000");
    check("1E-2", "0.01");
    check("0x1f", "31");
    check("0X1F", "31");
    check("Inf", "+Inf");
    check("inf", "+Inf");
    check("-Inf", "-Inf");
    check("+Inf", "+Inf");
    check("NaN", "NaN");
    check("nan", "NaN");
    check("-1", "-1");
    check("- 1", "-1");
    check("+1", "1");
    check_type("1", VAL_SCALAR);
    check_err("1x", "1:1: ", "bad number or duration syntax");
    check_err("1.2.3", "1:1: ", "bad number");
    check_err("0x", "1:1: ", "bad number");
}

/* ---- range vectors, offset, @, subqueries ---- */

static void test_ranges_and_modifiers(void **state)
{
    (void)state;
    check("foo[5m]", "{__name__=\"foo\"}[300000ms]");
    check("foo{a=\"b\"}[1h30m]", "{__name__=\"foo\",a=\"b\"}[5400000ms]");
    check("foo[250ms]", "{__name__=\"foo\"}[250ms]");
    check("foo [ 5m ]", "{__name__=\"foo\"}[300000ms]");
    check_type("foo[5m]", VAL_MATRIX);
    check_type("foo", VAL_VECTOR);

    check("foo offset 5m", "{__name__=\"foo\"} offset 300000ms");
    check("foo offset -5m", "{__name__=\"foo\"} offset -300000ms");
    check("foo OFFSET 1d", "{__name__=\"foo\"} offset 86400000ms");
    check("foo[5m] offset 1h", "{__name__=\"foo\"}[300000ms] offset 3600000ms");

    check("foo @ 1609746000", "{__name__=\"foo\"} @1609746000000ms");
    check("foo @ 1609746000.5", "{__name__=\"foo\"} @1609746000500ms");
    check("foo @ -100", "{__name__=\"foo\"} @-100000ms");
    check("foo @ start()", "{__name__=\"foo\"} @start");
    check("foo @ end()", "{__name__=\"foo\"} @end");
    check("foo[5m] @ 100", "{__name__=\"foo\"}[300000ms] @100000ms");
    /* both, in either order */
    check("foo @ 100 offset 5m", "{__name__=\"foo\"} offset 300000ms @100000ms");
    check("foo offset 5m @ 100", "{__name__=\"foo\"} offset 300000ms @100000ms");

    check("foo[5m:1m]", "{__name__=\"foo\"}[300000ms:60000ms]");
    check("foo[5m:]", "{__name__=\"foo\"}[300000ms:0ms]");
    check("foo offset 1m[5m:1m]", "{__name__=\"foo\"} offset 60000ms[300000ms:60000ms]");
    check("rate(foo[5m])[30m:1m]", "rate({__name__=\"foo\"}[300000ms])[1800000ms:60000ms]");
    check("(foo)[5m:] offset 1m", "paren({__name__=\"foo\"})[300000ms:0ms] offset 60000ms");
    check("foo:bar[5m:1m]", "{__name__=\"foo:bar\"}[300000ms:60000ms]");
    check_type("foo[5m:1m]", VAL_MATRIX);
}

/* ---- operators ---- */

static void test_precedence(void **state)
{
    (void)state;
    check("1 + 2 * 3", "(1 + (2 * 3))");
    check("1 * 2 + 3", "((1 * 2) + 3)");
    check("1 - 2 - 3", "((1 - 2) - 3)");
    check("8 / 4 / 2", "((8 / 4) / 2)");
    check("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))");
    check("-2 ^ 2", "(-(2 ^ 2))");
    check("-foo ^ 2", "(-({__name__=\"foo\"} ^ 2))");
    check("-foo * 2", "((-{__name__=\"foo\"}) * 2)");
    check("2 * 3 ^ 2", "(2 * (3 ^ 2))");
    check("2 ^ -1", "(2 ^ -1)");
    check("1 - -1", "(1 - -1)");
    check("(1 + 2) * 3", "(paren((1 + 2)) * 3)");
    check("a % b atan2 c", "(({__name__=\"a\"} % {__name__=\"b\"}) atan2 {__name__=\"c\"})");
    check("a + b > c * d",
          "(({__name__=\"a\"} + {__name__=\"b\"}) > ({__name__=\"c\"} * {__name__=\"d\"}))");
    check("a > b and c < d or e unless f",
          "((({__name__=\"a\"} > {__name__=\"b\"}) and ({__name__=\"c\"} < {__name__=\"d\"})) or "
          "({__name__=\"e\"} unless {__name__=\"f\"}))");
    check("a or b and c", "({__name__=\"a\"} or ({__name__=\"b\"} and {__name__=\"c\"}))");
    check("a == b != c", "(({__name__=\"a\"} == {__name__=\"b\"}) != {__name__=\"c\"})");
    check("a >= 1 <= 2", "(({__name__=\"a\"} >= 1) <= 2)");
    check("-(1)", "(-paren(1))");
    check("- - 1", "1");
    check_type("1 + 2", VAL_SCALAR);
    check_type("foo + 2", VAL_VECTOR);
    check_type("-foo", VAL_VECTOR);
    check_type("(foo[5m])", VAL_MATRIX);
}

static void test_binary_modifiers(void **state)
{
    (void)state;
    check("a > bool b", "({__name__=\"a\"} > bool {__name__=\"b\"})");
    check("1 == bool 2", "(1 == bool 2)");
    check("a * on(x, y) b", "({__name__=\"a\"} * on(x,y) {__name__=\"b\"})");
    check("a * on() b", "({__name__=\"a\"} * on() {__name__=\"b\"})");
    check("a / ignoring(x) b", "({__name__=\"a\"} / ignoring(x) {__name__=\"b\"})");
    check("a * on(x) group_left b", "({__name__=\"a\"} * on(x) group_left() {__name__=\"b\"})");
    check("a * on(x) group_left(y, z) b",
          "({__name__=\"a\"} * on(x) group_left(y,z) {__name__=\"b\"})");
    check("a + ignoring(x) group_right(y) b",
          "({__name__=\"a\"} + ignoring(x) group_right(y) {__name__=\"b\"})");
    check("a > bool on(x) b", "({__name__=\"a\"} > bool on(x) {__name__=\"b\"})");
    check("a and on(x) b", "({__name__=\"a\"} and on(x) {__name__=\"b\"})");
    check("a unless ignoring(x) b", "({__name__=\"a\"} unless ignoring(x) {__name__=\"b\"})");
}

static void test_aggregations_and_calls(void **state)
{
    (void)state;
    check("sum(foo)", "sum({__name__=\"foo\"})");
    check("sum by (a, b) (foo)", "sum by(a,b)({__name__=\"foo\"})");
    check("sum(foo) by (a)", "sum by(a)({__name__=\"foo\"})");
    check("sum without (a) (foo)", "sum without(a)({__name__=\"foo\"})");
    check("avg(foo) without (a, b)", "avg without(a,b)({__name__=\"foo\"})");
    check("sum by () (foo)", "sum by()({__name__=\"foo\"})");
    check("SUM(foo)", "sum({__name__=\"foo\"})");
    check("topk(5, foo)", "topk(5, {__name__=\"foo\"})");
    check("bottomk by (a) (3, foo)", "bottomk by(a)(3, {__name__=\"foo\"})");
    check("quantile(0.9, foo)", "quantile(0.9, {__name__=\"foo\"})");
    check("count_values(\"v\", foo)", "count_values(str:\"v\", {__name__=\"foo\"})");
    check("max(rate(foo[5m])) by (job)", "max by(job)(rate({__name__=\"foo\"}[300000ms]))");
    check("sum(a + b)", "sum(({__name__=\"a\"} + {__name__=\"b\"}))");
    check_type("sum(foo)", VAL_VECTOR);

    check("rate(foo[5m])", "rate({__name__=\"foo\"}[300000ms])");
    check("histogram_quantile(0.9, rate(b[5m]))",
          "histogram_quantile(0.9, rate({__name__=\"b\"}[300000ms]))");
    check("time()", "time()");
    check("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
          "label_replace({__name__=\"up\"}, str:\"a\", str:\"$1\", str:\"b\", str:\"(.*)\")");
    check("abs(-foo)", "abs((-{__name__=\"foo\"}))");
    check_type("time()", VAL_SCALAR);
    check_type("rate(foo[5m])", VAL_VECTOR);

    check_err("sum(foo, bar)", "1:1: ", "wrong number of arguments");
    check_err("topk(foo)", "1:1: ", "wrong number of arguments");
    check_err("sum(foo[5m])", "1:5: ", "expected type instant vector in aggregation");
    check_err("sum by (a) (foo) by (b)", "1:", "unexpected");
    check_err("sum by (a b) (foo)", "1:", "grouping opts");
    check_err("sum by (a:b) (foo)", "1:", "grouping opts");
    check_err("rate(foo[5m]", "1:13: ", "unexpected end of input");
    check_err("rate(foo[5m] bar)", "1:", "unexpected");
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    check_err("", "1:1: ", "no expression found in input");
    check_err("   ", "1:1: ", "no expression found in input");
    check_err("# only a comment", "1:1: ", "no expression found in input");
    check_err("foo{", "1:5: ", "unexpected end of input");
    check_err("foo{a=\"b\"", "1:10: ", "unexpected end of input");
    check_err("foo{a=\"b\" c=\"d\"}", "1:11: ", "expected comma");
    check_err("foo{a}", "1:6: ", "label matching operator");
    check_err("foo{a=b}", "1:7: ", "expected string");
    check_err("foo{a:b=\"c\"}", "1:5: ", "label matching");
    check_err("{}", "1:1: ", "at least one non-empty matcher");
    check_err("{a=\"\"}", "1:1: ", "at least one non-empty matcher");
    check_err("1 + {a=~\".*\", b=\"\"}", "1:5: ", "non-empty matcher");
    check_err("{a!=\"x\"}", "1:1: ", "non-empty matcher");
    check_err("foo{__name__=\"x\"}", "1:1: ", "metric name must not be set twice");
    check_err("foo{a=~\"(\"}", "1:5: ", "error parsing regexp");

    /* ranges only on selectors */
    check_err("(foo)[5m]", "1:6: ", "ranges only allowed for vector selectors");
    check_err("1[5m]", "1:2: ", "ranges only allowed");
    check_err("foo[5m][5m]", "1:8: ", "ranges only allowed");
    check_err("rate(foo[5m])[5m]", "1:14: ", "ranges only allowed");
    check_err("foo offset 5m [5m]", "1:15: ", "no offset or @ modifiers allowed before range");
    check_err("foo[5m][5m:1m]", "1:", "subquery is only allowed on instant vector");
    check_err("\"a\"[5m:1m]", "1:", "subquery is only allowed on instant vector");

    /* modifiers */
    check_err("(foo) offset 5m", "1:7: ", "offset modifier must be preceded");
    check_err("1 offset 5m", "1:3: ", "offset modifier");
    check_err("foo offset 5m offset 1m", "1:15: ", "offset may not be set multiple times");
    check_err("foo offset 5", "1:12: ", "expected duration");
    check_err("foo offset", "1:11: ", "expected duration");
    check_err("foo @ 1 @ 2", "1:9: ", "may not be set multiple times");
    check_err("foo @ bar", "1:7: ", "expected timestamp");
    check_err("foo @ Inf", "1:7: ", "timestamp out of bounds");
    check_err("foo @ start", "1:12: ", "unexpected end of input");
    check_err("sum(foo) @ 1", "1:10: ", "@ modifier must be preceded");

    /* scalar comparisons need bool; bool only on comparisons */
    check_err("1 > 2", "1:3: ", "comparisons between scalars must use BOOL modifier");
    check_err("1 == 1", "1:3: ", "BOOL");
    check_err("foo + bool 1", "1:7: ", "bool modifier can only be used on comparison");
    check_err("foo and 1", "1:5: ", "set operator \"and\" not allowed in binary scalar");
    check_err("1 or foo", "1:3: ", "set operator \"or\"");
    check_err("1 + on(a) foo", "1:3: ", "vector matching only allowed between instant vectors");
    check_err("foo[5m] + 1", "1:9: ", "binary expression must contain only scalar and instant");
    check_err("\"a\" + 1", "1:5: ", "binary expression");
    check_err("-foo[5m]", "1:1: ", "unary expression only allowed");
    check_err("-\"a\"", "1:1: ", "unary expression");

    /* bad durations */
    check_err("foo[5x]", "1:5: ", "bad number or duration syntax");
    check_err("foo[5m1h]", "1:5: ", "bad duration syntax");
    check_err("foo[1.5m]", "1:5: ", "bad number or duration syntax");
    check_err("foo[]", "1:5: ", "expected duration");
    check_err("foo[5]", "1:5: ", "expected duration");
    check_err("foo[5m", "1:7: ", "unexpected end of input");
    check_err("foo[5m:1m", "1:10: ", "unexpected end of input");
    check_err("foo[5m:1]", "1:8: ", "unexpected");
    check_err("foo offset 5mm", "1:12: ", "bad duration syntax");

    /* garbage */
    check_err("foo bar", "1:5: ", "unexpected \"bar\"");
    check_err("1 +", "1:4: ", "unexpected end of input");
    check_err("(1", "1:3: ", "unexpected end of input");
    check_err("1)", "1:2: ", "unexpected \")\"");
    check_err("foo !", "1:5: ", "unexpected character after '!'");
    check_err("foo $", "1:5: ", "unexpected character: '$'");
    check_err("*", "1:1: ", "unexpected \"*\"");
    check_err("foo{a=\"b\"}}", "1:11: ", "unexpected");

    /* positions count lines and columns */
    struct node *n;
    struct saba_err err = {0};
    assert_int_equal(promql_parse("foo +\n  {}", &n, &err), SABA_EINVAL);
    assert_int_equal(err.line, 2);
    check_err("foo +\n  {}", "2:3: ", "non-empty matcher");
    check_err("foo\n+\nbar baz", "3:5: ", "unexpected");
    /* err may be NULL */
    assert_int_equal(promql_parse("{}", &n, NULL), SABA_EINVAL);
}

static void test_node_positions(void **state)
{
    (void)state;
    struct node *n;
    struct saba_err err = {0};
    assert_int_equal(promql_parse("foo + bar * 2", &n, &err), 0);
    assert_int_equal(n->type, NODE_BINARY);
    assert_int_equal(n->op, OP_ADD);
    assert_int_equal(n->pos, 4);
    assert_int_equal(n->lhs->pos, 0);
    assert_int_equal(n->rhs->type, NODE_BINARY);
    assert_int_equal(n->rhs->op, OP_MUL);
    assert_int_equal(n->rhs->lhs->pos, 6);
    assert_int_equal(n->rhs->rhs->type, NODE_NUMBER);
    assert_true(n->rhs->rhs->num == 2);
    node_free(n);
    assert_string_equal(value_type_name(VAL_SCALAR), "scalar");
    assert_string_equal(value_type_name(VAL_STRING), "string");
    assert_string_equal(value_type_name(VAL_VECTOR), "instant vector");
    assert_string_equal(value_type_name(VAL_MATRIX), "range vector");
}

/* Regression test (was a bug): parsing a chain of binary operators takes quadratic time: each
 * iteration of parse_expr's operator loop calls node_value_type() on the
 * whole left-hand tree built so far (which recurses to its leftmost leaf).
 * "1+1+...+1" with 20,000 terms takes seconds (100,000 terms, a 200 KB
 * form-encoded POST, take about 100 s of CPU), where it should take a few
 * milliseconds. */
static void test_long_operator_chain_parses_in_linear_time(void **state)
{
    (void)state;
    const size_t terms = 20000;
    char *q = malloc(2 * terms);
    assert_non_null(q);
    for (size_t i = 0; i < terms; i++) {
        q[2 * i] = '1';
        q[2 * i + 1] = '+';
    }
    q[2 * terms - 1] = '\0';
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct node *n = NULL;
    struct saba_err err = {0};
    int rc = promql_parse(q, &n, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    free(q);
    if (rc == 0) {
        assert_int_equal(node_value_type(n), VAL_SCALAR);
        node_free(n);
    }
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    if (secs > 0.5)
        fail_msg("parsing %zu terms took %.2f s", terms, secs);
}

/* Regression test (was a bug): the parser recurses once per nesting level (parse_expr ->
 * parse_unary
 * -> parse_postfix -> parse_primary -> parse_expr) with no depth limit, so a
 * deeply nested query overflows the C stack and kills the process (SIGSEGV)
 * instead of failing with a parse error. A query is not small-bounded: a
 * form-encoded POST to /api/v1/query may be up to max_body_bytes (64 MiB),
 * so any client can crash the server with "((((...1...))))" or "- - - ...1".
 * Kept last in this file because the crash ends the process. */
static void test_deep_nesting_is_an_error_not_a_crash(void **state)
{
    (void)state;
    const size_t depth = 1000000;
    char *q = malloc(2 * depth + 2);
    assert_non_null(q);
    memset(q, '(', depth);
    q[depth] = '1';
    memset(q + depth + 1, ')', depth);
    q[2 * depth + 1] = '\0';
    struct node *n = NULL;
    struct saba_err err = {0};
    int rc = promql_parse(q, &n, &err);
    node_free(rc == 0 ? n : NULL);
    memset(q, '-', depth);
    q[depth] = '1';
    q[depth + 1] = '\0';
    int rc2 = promql_parse(q, &n, &err);
    node_free(rc2 == 0 ? n : NULL);
    free(q);
    assert_int_equal(rc, SABA_EINVAL);
    assert_int_equal(rc2, SABA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_matcher_objects_in_tree),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_ranges_and_modifiers),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_binary_modifiers),
        cmocka_unit_test(test_aggregations_and_calls),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_node_positions),
        cmocka_unit_test(test_long_operator_chain_parses_in_linear_time),
        cmocka_unit_test(test_deep_nesting_is_an_error_not_a_crash), /* last: see its note */
    };
    return cmocka_run_group_tests_name("promql", tests, NULL, NULL);
}
