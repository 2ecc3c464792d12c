/*
 * fuzz_promql.c - fuzzes the PromQL lexer and parser: promql_parse() and
 * node_free() (query/ast.h) over the input as a NUL-terminated string.
 * Checks: no memory or UB fault, no leak, no unbounded recursion; success
 * yields a tree whose value type is defined; failure yields SABA_EINVAL with
 * a "... parse error ..." message and leaves *out untouched.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "query/ast.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = '\0';
    struct node *n = NULL;
    struct saba_err err = {0};
    int rc = promql_parse(q, &n, &err);
    if (rc == 0) {
        FUZZ_CHECK(n != NULL, "success without a tree");
        enum value_type t = node_value_type(n);
        FUZZ_CHECK(t == VAL_SCALAR || t == VAL_STRING || t == VAL_VECTOR || t == VAL_MATRIX,
                   "value type %d", (int)t);
        FUZZ_CHECK(value_type_name(t) != NULL, "no name for value type %d", (int)t);
        node_free(n);
    } else {
        FUZZ_CHECK(rc == SABA_EINVAL, "rc=%d", rc);
        FUZZ_CHECK(err.code == rc && strstr(err.msg, "parse error") != NULL,
                   "error report: code=%d msg=%s", err.code, err.msg);
        FUZZ_CHECK(n == NULL, "failure returned a tree");
    }
    free(q);
    return 0;
}
