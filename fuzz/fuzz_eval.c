/*
 * fuzz_eval.c - fuzzes PromQL evaluation: every input that parses is
 * evaluated as an instant query and as a short range query against a small
 * tsdb (counters, gauges, a histogram, NaN and a staleness marker) made once
 * in a temporary directory, with a small max_samples budget.
 * Checks: no memory or UB fault, no leak, no hang; an error is an execution
 * or bad-data error with a message; a result's series are sorted and unique
 * and their points lie on the query's steps in time order.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fuzz_common.h"
#include "query/ast.h"
#include "query/eval.h"
#include "storage/batch.h"
#include "storage/storage.h"
#include "storage/tsdb/tsdb.h"

#define T0 1732250000000LL

static struct storage *st;
static char dir[64];

static void put(struct batch *b, const char *name, const char *k, const char *v, int64_t t,
                double val)
{
    struct saba_err err = {0};
    batch_series_begin(b);
    batch_label(b, "__name__", 8, name, strlen(name), &err);
    if (k)
        batch_label(b, k, strlen(k), v, strlen(v), &err);
    batch_series_end(b, t, val, &err);
}

static void cleanup(void)
{
    if (st)
        storage_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_eval: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    snprintf(dir, sizeof dir, "/tmp/saba-fuzz-eval-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    struct tsdb_options o = {.dir = dir, .fsync_interval_ms = 1000};
    struct saba_err err = {0};
    if (tsdb_open(&o, &st, &err) != 0) {
        fprintf(stderr, "tsdb_open: %s\n", err.msg);
        abort();
    }
    atexit(cleanup);
    struct batch b;
    batch_init(&b, NULL);
    b.now_ms = T0 + 3600 * 1000LL;
    static const char *const le[] = {"0.1", "1", "10", "+Inf"};
    uint64_t stale_bits = STALE_NAN_BITS;
    double stale;
    memcpy(&stale, &stale_bits, sizeof stale);
    for (int i = 0; i < 60; i++) {
        int64_t t = T0 + i * 15000LL;
        put(&b, "c", "job", "a", t, i * 3.0);
        put(&b, "c", "job", "b", t, (i % 20) * 7.0); /* resets */
        put(&b, "g", "zone", "x", t, sin(i) * 50);
        put(&b, "g", "zone", "y", t, i % 11 ? i : NAN);
        for (int k = 0; k < 4; k++)
            put(&b, "h_bucket", "le", le[k], t, i * (k + 1.0));
        put(&b, "s", NULL, NULL, t, i == 30 ? stale : i);
    }
    if (st->ops->append(st, &b, &err) != 0) {
        fprintf(stderr, "append: %s\n", err.msg);
        abort();
    }
    batch_free(&b);
    return 0;
}

static void check_result(const struct query_result *r, int64_t start, int64_t step, size_t nsteps)
{
    if (r->type != VAL_VECTOR && r->type != VAL_MATRIX)
        return;
    for (size_t i = 0; i < r->set.n; i++) {
        const struct series_data *s = &r->set.v[i];
        if (i)
            FUZZ_CHECK(labels_cmp(&r->set.v[i - 1].labels, &s->labels) < 0 || r->type == VAL_VECTOR,
                       "series not sorted and unique");
        for (size_t k = 1; k < s->n; k++)
            FUZZ_CHECK(s->t[k - 1] < s->t[k], "points out of time order");
        if (step && r->type == VAL_MATRIX)
            for (size_t k = 0; k < s->n; k++)
                FUZZ_CHECK((s->t[k] - start) % step == 0 &&
                               (size_t)((s->t[k] - start) / step) < nsteps,
                           "point off the step grid");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = '\0';
    struct node *n = NULL;
    struct saba_err err = {0};
    if (promql_parse(q, &n, &err) == 0) {
        struct eval_opts o = {5 * 60 * 1000, st, 200000};
        struct query_result r;
        int rc = eval_instant(&o, n, T0 + 600 * 1000, &r, &err);
        FUZZ_CHECK(rc == 0 || ((rc == SABA_EEXEC || rc == SABA_EINVAL) && err.msg[0]),
                   "instant: rc=%d msg=%s", rc, err.msg);
        if (rc == 0)
            check_result(&r, 0, 0, 0);
        query_result_free(&r);
        enum value_type t = node_value_type(n);
        if (t == VAL_SCALAR || t == VAL_VECTOR) {
            memset(&err, 0, sizeof err);
            rc = eval_range(&o, n, T0, T0 + 900 * 1000, 60 * 1000, &r, &err);
            FUZZ_CHECK(rc == 0 || ((rc == SABA_EEXEC || rc == SABA_EINVAL) && err.msg[0]),
                       "range: rc=%d msg=%s", rc, err.msg);
            if (rc == 0)
                check_result(&r, T0, 60 * 1000, 16);
            query_result_free(&r);
        }
        node_free(n);
    }
    free(q);
    return 0;
}
