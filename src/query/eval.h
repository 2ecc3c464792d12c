/*
 * eval.h - evaluating a PromQL syntax tree against storage.
 *
 * Semantics follow Prometheus 2.x: an instant vector selector at time t takes,
 * per series, the newest sample in [t - offset - lookback, t - offset]
 * (lookback 5 m by default) unless it is a staleness marker; a range vector
 * selector takes every sample in [t - offset - range, t - offset]. A range
 * query evaluates at start, start + step, ... <= end.
 *
 * The whole language is evaluated: literals, selectors with offset and @,
 * subqueries, unary and binary operators with bool / on / ignoring /
 * group_left / group_right, every aggregation and the function library of
 * functions.h, with Prometheus' results and error messages.
 */
#ifndef SABA_QUERY_EVAL_H
#define SABA_QUERY_EVAL_H

#include <stdint.h>

#include "base/err.h"
#include "query/ast.h"
#include "storage/storage.h"

#define EVAL_DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define EVAL_MAX_POINTS          11000 /* per series in a range query, as Prometheus */
/* A subquery without a resolution uses Prometheus' default evaluation interval. */
#define EVAL_DEFAULT_SUBQUERY_STEP_MS (60 * 1000)
/* As Prometheus' --query.max-samples: about 800 MB of points. */
#define EVAL_DEFAULT_MAX_SAMPLES 50000000
#define EVAL_TOO_MANY_SAMPLES                                                                      \
    "query processing would load too many samples into memory in query execution"
/* Steps one subquery may evaluate (over all steps of the outer query). */
#define EVAL_MAX_SUBQUERY_POINTS 1000000

struct query_result {
    enum value_type type;
    int64_t t;             /* scalar/string: evaluation time */
    double scalar;         /* VAL_SCALAR */
    char *string;          /* VAL_STRING, owned */
    struct series_set set; /* VAL_VECTOR: one sample per series at t; VAL_MATRIX: many */
};

struct eval_opts {
    int64_t lookback_ms;
    struct storage *storage;
    int64_t max_samples; /* points one query may hold; 0: EVAL_DEFAULT_MAX_SAMPLES */
};

/* Instant query at t. Returns 0, or SABA_EEXEC/SABA_EINVAL with err set. */
int eval_instant(const struct eval_opts *o, const struct node *n, int64_t t,
                 struct query_result *out, struct saba_err *err);
/* Range query: the result is VAL_MATRIX (vectors/scalars sampled at each step).
 * Matrix-typed expressions are refused with SABA_EINVAL. */
int eval_range(const struct eval_opts *o, const struct node *n, int64_t start, int64_t end,
               int64_t step, struct query_result *out, struct saba_err *err);
void query_result_free(struct query_result *r);

/* The staleness marker Prometheus writes when a series disappears. */
#define STALE_NAN_BITS 0x7ff0000000000002ULL
int value_is_stale(double v);

#endif
