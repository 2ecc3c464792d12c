/*
 * functions.h - the PromQL function library: names and signatures.
 *
 * One table serves both halves of the engine: the parser checks a call's
 * argument count and types against it (Prometheus reports those as parse
 * errors), and the evaluator dispatches on the entry's id. The signatures
 * are Prometheus 2.x's.
 */
#ifndef SABA_QUERY_FUNCTIONS_H
#define SABA_QUERY_FUNCTIONS_H

#include <stddef.h>

#include "query/ast.h"

enum func_id {
    F_ABS,
    F_ABSENT,
    F_ABSENT_OVER_TIME,
    F_ACOS,
    F_ACOSH,
    F_ASIN,
    F_ASINH,
    F_ATAN,
    F_ATANH,
    F_AVG_OVER_TIME,
    F_CEIL,
    F_CHANGES,
    F_CLAMP,
    F_CLAMP_MAX,
    F_CLAMP_MIN,
    F_COS,
    F_COSH,
    F_COUNT_OVER_TIME,
    F_DAYS_IN_MONTH,
    F_DAY_OF_MONTH,
    F_DAY_OF_WEEK,
    F_DAY_OF_YEAR,
    F_DEG,
    F_DELTA,
    F_DERIV,
    F_EXP,
    F_FLOOR,
    F_HISTOGRAM_QUANTILE,
    F_HOLT_WINTERS,
    F_HOUR,
    F_IDELTA,
    F_INCREASE,
    F_IRATE,
    F_LABEL_JOIN,
    F_LABEL_REPLACE,
    F_LAST_OVER_TIME,
    F_LN,
    F_LOG10,
    F_LOG2,
    F_MAX_OVER_TIME,
    F_MIN_OVER_TIME,
    F_MINUTE,
    F_MONTH,
    F_PI,
    F_PREDICT_LINEAR,
    F_PRESENT_OVER_TIME,
    F_QUANTILE_OVER_TIME,
    F_RAD,
    F_RATE,
    F_RESETS,
    F_ROUND,
    F_SCALAR,
    F_SGN,
    F_SIN,
    F_SINH,
    F_SORT,
    F_SORT_DESC,
    F_SQRT,
    F_STDDEV_OVER_TIME,
    F_STDVAR_OVER_TIME,
    F_SUM_OVER_TIME,
    F_TAN,
    F_TANH,
    F_TIME,
    F_TIMESTAMP,
    F_VECTOR,
    F_YEAR,
};

struct func_sig {
    const char *name;
    enum func_id id;
    enum value_type ret;
    unsigned char nargs;     /* declared argument types */
    signed char variadic;    /* 0 exact, n > 0 up to n optional, -1 unbounded */
    enum value_type args[5]; /* the last one repeats for variadic calls */
};

/* The signature of function name, or NULL if PromQL has no such function. */
const struct func_sig *func_lookup(const char *name);

#endif
