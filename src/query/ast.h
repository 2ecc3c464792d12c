/*
 * ast.h - the PromQL syntax tree and its parser.
 *
 * promql_parse() reads the whole Prometheus 2.x expression grammar: number
 * and string literals, vector selectors with the four matcher kinds, range
 * vectors, offset and @ modifiers, subqueries, unary and binary operators
 * with bool / on / ignoring / group_left / group_right, function calls and
 * aggregations with by / without. Errors are Prometheus-style
 * ("1:14: parse error: unexpected ..."). What the evaluator can run is
 * decided in eval.c, not here.
 */
#ifndef SABA_QUERY_AST_H
#define SABA_QUERY_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/matcher.h"

enum node_type {
    NODE_NUMBER,
    NODE_STRING,
    NODE_VECTOR,   /* instant vector selector */
    NODE_MATRIX,   /* range vector selector: inner is a NODE_VECTOR */
    NODE_SUBQUERY, /* inner[range:step] */
    NODE_PAREN,
    NODE_UNARY,
    NODE_BINARY,
    NODE_CALL,
    NODE_AGG,
};

enum value_type { VAL_SCALAR, VAL_STRING, VAL_VECTOR, VAL_MATRIX };

enum binop {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_POW,
    OP_ATAN2,
    OP_EQ,
    OP_NE,
    OP_GT,
    OP_LT,
    OP_GE,
    OP_LE,
    OP_AND,
    OP_OR,
    OP_UNLESS,
};

enum at_kind { AT_NONE, AT_TIME, AT_START, AT_END };

struct node {
    enum node_type type;
    int pos; /* byte offset in the query, for messages */
    /* NUMBER / STRING */
    double num;
    char *str;
    /* VECTOR */
    char *metric; /* the name before {...}, or NULL */
    struct matcher **matchers;
    size_t nmatchers;
    /* VECTOR, MATRIX, SUBQUERY: modifiers */
    int64_t offset_ms;
    enum at_kind at;
    int64_t at_ms;
    /* MATRIX, SUBQUERY */
    int64_t range_ms;
    int64_t step_ms; /* SUBQUERY; 0 = default resolution */
    /* MATRIX, SUBQUERY, PAREN, UNARY (operand), AGG (expression) */
    struct node *inner;
    /* UNARY: '-' or '+'; BINARY */
    char unary_op;
    enum binop op;
    struct node *lhs, *rhs;
    bool return_bool;
    bool has_matching, on; /* on(...) vs ignoring(...) */
    char **match_labels;
    size_t nmatch_labels;
    int group; /* 0 none, 1 group_left, 2 group_right */
    char **include_labels;
    size_t ninclude_labels;
    /* CALL, AGG */
    char *func; /* function or aggregation name */
    struct node **args;
    size_t nargs;
    /* AGG */
    struct node *param; /* topk's k, quantile's phi, count_values' label */
    bool without, has_grouping;
    char **grouping;
    size_t ngrouping;
};

/* Parse a query. Returns 0 and *out (free with node_free), or SABA_EINVAL
 * with a message like "1:5: parse error: unexpected end of input". */
int promql_parse(const char *query, struct node **out, struct saba_err *err);
void node_free(struct node *n);
/* The value type an expression evaluates to. */
enum value_type node_value_type(const struct node *n);
const char *value_type_name(enum value_type t);

#endif
