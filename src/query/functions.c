/*
 * functions.c - the PromQL function table (see functions.h).
 */
#include "query/functions.h"

#include <stdlib.h>
#include <string.h>

#define S   VAL_SCALAR
#define V   VAL_VECTOR
#define M   VAL_MATRIX
#define STR VAL_STRING

/* Sorted by name for bsearch. */
static const struct func_sig table[] = {
    {"abs", F_ABS, V, 1, 0, {V}},
    {"absent", F_ABSENT, V, 1, 0, {V}},
    {"absent_over_time", F_ABSENT_OVER_TIME, V, 1, 0, {M}},
    {"acos", F_ACOS, V, 1, 0, {V}},
    {"acosh", F_ACOSH, V, 1, 0, {V}},
    {"asin", F_ASIN, V, 1, 0, {V}},
    {"asinh", F_ASINH, V, 1, 0, {V}},
    {"atan", F_ATAN, V, 1, 0, {V}},
    {"atanh", F_ATANH, V, 1, 0, {V}},
    {"avg_over_time", F_AVG_OVER_TIME, V, 1, 0, {M}},
    {"ceil", F_CEIL, V, 1, 0, {V}},
    {"changes", F_CHANGES, V, 1, 0, {M}},
    {"clamp", F_CLAMP, V, 3, 0, {V, S, S}},
    {"clamp_max", F_CLAMP_MAX, V, 2, 0, {V, S}},
    {"clamp_min", F_CLAMP_MIN, V, 2, 0, {V, S}},
    {"cos", F_COS, V, 1, 0, {V}},
    {"cosh", F_COSH, V, 1, 0, {V}},
    {"count_over_time", F_COUNT_OVER_TIME, V, 1, 0, {M}},
    {"day_of_month", F_DAY_OF_MONTH, V, 1, 1, {V}},
    {"day_of_week", F_DAY_OF_WEEK, V, 1, 1, {V}},
    {"day_of_year", F_DAY_OF_YEAR, V, 1, 1, {V}},
    {"days_in_month", F_DAYS_IN_MONTH, V, 1, 1, {V}},
    {"deg", F_DEG, V, 1, 0, {V}},
    {"delta", F_DELTA, V, 1, 0, {M}},
    {"deriv", F_DERIV, V, 1, 0, {M}},
    {"exp", F_EXP, V, 1, 0, {V}},
    {"floor", F_FLOOR, V, 1, 0, {V}},
    {"histogram_quantile", F_HISTOGRAM_QUANTILE, V, 2, 0, {S, V}},
    {"holt_winters", F_HOLT_WINTERS, V, 3, 0, {M, S, S}},
    {"hour", F_HOUR, V, 1, 1, {V}},
    {"idelta", F_IDELTA, V, 1, 0, {M}},
    {"increase", F_INCREASE, V, 1, 0, {M}},
    {"irate", F_IRATE, V, 1, 0, {M}},
    {"label_join", F_LABEL_JOIN, V, 4, -1, {V, STR, STR, STR}},
    {"label_replace", F_LABEL_REPLACE, V, 5, 0, {V, STR, STR, STR, STR}},
    {"last_over_time", F_LAST_OVER_TIME, V, 1, 0, {M}},
    {"ln", F_LN, V, 1, 0, {V}},
    {"log10", F_LOG10, V, 1, 0, {V}},
    {"log2", F_LOG2, V, 1, 0, {V}},
    {"max_over_time", F_MAX_OVER_TIME, V, 1, 0, {M}},
    {"min_over_time", F_MIN_OVER_TIME, V, 1, 0, {M}},
    {"minute", F_MINUTE, V, 1, 1, {V}},
    {"month", F_MONTH, V, 1, 1, {V}},
    {"pi", F_PI, S, 0, 0, {S}},
    {"predict_linear", F_PREDICT_LINEAR, V, 2, 0, {M, S}},
    {"present_over_time", F_PRESENT_OVER_TIME, V, 1, 0, {M}},
    {"quantile_over_time", F_QUANTILE_OVER_TIME, V, 2, 0, {S, M}},
    {"rad", F_RAD, V, 1, 0, {V}},
    {"rate", F_RATE, V, 1, 0, {M}},
    {"resets", F_RESETS, V, 1, 0, {M}},
    {"round", F_ROUND, V, 2, 1, {V, S}},
    {"scalar", F_SCALAR, S, 1, 0, {V}},
    {"sgn", F_SGN, V, 1, 0, {V}},
    {"sin", F_SIN, V, 1, 0, {V}},
    {"sinh", F_SINH, V, 1, 0, {V}},
    {"sort", F_SORT, V, 1, 0, {V}},
    {"sort_desc", F_SORT_DESC, V, 1, 0, {V}},
    {"sqrt", F_SQRT, V, 1, 0, {V}},
    {"stddev_over_time", F_STDDEV_OVER_TIME, V, 1, 0, {M}},
    {"stdvar_over_time", F_STDVAR_OVER_TIME, V, 1, 0, {M}},
    {"sum_over_time", F_SUM_OVER_TIME, V, 1, 0, {M}},
    {"tan", F_TAN, V, 1, 0, {V}},
    {"tanh", F_TANH, V, 1, 0, {V}},
    {"time", F_TIME, S, 0, 0, {S}},
    {"timestamp", F_TIMESTAMP, V, 1, 0, {V}},
    {"vector", F_VECTOR, V, 1, 0, {S}},
    {"year", F_YEAR, V, 1, 1, {V}},
};

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct func_sig *)elem)->name);
}

const struct func_sig *func_lookup(const char *name)
{
    return bsearch(name, table, sizeof table / sizeof table[0], sizeof table[0], cmp_name);
}
