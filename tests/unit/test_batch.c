/*
 * test_batch.c - unit tests for batch building and validation
 * (src/storage/batch.h) and the label helpers it relies on (labels.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "storage/batch.h"
#include "storage/labels.h"

#include "unit.h"

#define T0 1700000000000LL

static int label(struct batch *b, const char *n, const char *v, struct saba_err *err)
{
    return batch_label(b, n, strlen(n), v, strlen(v), err);
}

/* Add a series from "name", "value", ... pairs (NULL-terminated); returns
 * the first error. */
static int series(struct batch *b, int64_t t, double v, struct saba_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    batch_series_begin(b);
    int rc = 0;
    for (;;) {
        const char *n = va_arg(ap, const char *);
        if (!n)
            break;
        const char *val = va_arg(ap, const char *);
        if (rc == 0)
            rc = label(b, n, val, err);
    }
    va_end(ap);
    if (rc) {
        batch_series_abort(b);
        return rc;
    }
    return batch_series_end(b, t, v, err);
}

static const char *lname(const struct batch *b, const struct batch_sample *s, size_t i, char *out)
{
    const struct batch_label *l = &b->labels[s->label_off + i];
    memcpy(out, batch_str(b, l->name_off), l->name_len);
    out[l->name_len] = '\0';
    return out;
}

static const char *lvalue(const struct batch *b, const struct batch_sample *s, size_t i, char *out)
{
    const struct batch_label *l = &b->labels[s->label_off + i];
    memcpy(out, batch_str(b, l->value_off), l->value_len);
    out[l->value_len] = '\0';
    return out;
}

static void test_basic_series(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    assert_ptr_equal(b.limits, &batch_limits_default);
    assert_true(b.now_ms > T0);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 0.5, &err, "__name__", "cpu", "host", "a", NULL), 0);
    assert_int_equal(b.nsamples, 1);
    const struct batch_sample *s = &b.samples[0];
    assert_int_equal(s->nlabels, 2);
    assert_int_equal(s->t, T0);
    assert_double_bits_equal(s->v, 0.5);
    char n[300], v[5000];
    assert_string_equal(lname(&b, s, 0, n), "__name__");
    assert_string_equal(lvalue(&b, s, 0, v), "cpu");
    assert_string_equal(lname(&b, s, 1, n), "host");
    assert_string_equal(lvalue(&b, s, 1, v), "a");

    /* NaN and infinities are values like any other */
    assert_int_equal(series(&b, T0, NAN, &err, "__name__", "x", NULL), 0);
    assert_int_equal(series(&b, T0, -INFINITY, &err, "__name__", "x", NULL), 0);
    assert_int_equal(b.nsamples, 3);
    assert_true(isnan(b.samples[1].v));
    assert_true(isinf(b.samples[2].v));

    batch_reset(&b);
    assert_int_equal(b.nsamples, 0);
    assert_int_equal(b.nlabels, 0);
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "y", NULL), 0);
    assert_int_equal(b.nsamples, 1);
    batch_free(&b);
}

static void test_labels_sorted(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 1, &err, "zone", "z", "job", "j", "__name__", "m", "a", "x",
                            "instance", "i", "ab", "y", NULL),
                     0);
    const struct batch_sample *s = &b.samples[0];
    assert_int_equal(s->nlabels, 6);
    const char *want[] = {"__name__", "a", "ab", "instance", "job", "zone"};
    const char *wantv[] = {"m", "x", "y", "i", "j", "z"};
    char n[300], v[5000];
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(lname(&b, s, i, n), want[i]);
        assert_string_equal(lvalue(&b, s, i, v), wantv[i]);
    }
    batch_free(&b);
}

static void test_hash_independent_of_order(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "m", "a", "1", "b", "2", NULL), 0);
    assert_int_equal(series(&b, T0 + 1, 2, &err, "b", "2", "__name__", "m", "a", "1", NULL), 0);
    assert_int_equal(series(&b, T0, 3, &err, "a", "1", "b", "2", "__name__", "m", NULL), 0);
    /* different sets hash differently, even when the bytes concatenate alike */
    assert_int_equal(series(&b, T0, 4, &err, "__name__", "m", "a", "12", "b", "", NULL), 0);
    assert_int_equal(series(&b, T0, 5, &err, "__name__", "m", "a", "1", "b", "3", NULL), 0);
    assert_int_equal(series(&b, T0, 6, &err, "__name__", "m", "a", "1", NULL), 0);
    assert_int_equal(series(&b, T0, 6, &err, "__name__", "m", "a", "1", "c", "", NULL), 0);
    assert_int_equal(b.nsamples, 7);
    assert_int_equal(b.samples[0].hash, b.samples[1].hash);
    assert_int_equal(b.samples[0].hash, b.samples[2].hash);
    assert_int_not_equal(b.samples[0].hash, b.samples[3].hash);
    assert_int_not_equal(b.samples[0].hash, b.samples[4].hash);
    assert_int_not_equal(b.samples[0].hash, b.samples[5].hash);
    /* an empty value is no label at all: same series as without it */
    assert_int_equal(b.samples[5].hash, b.samples[6].hash);
    batch_free(&b);
}

static void test_empty_value_dropped(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "m", "a", "", "b", "x", NULL), 0);
    assert_int_equal(b.samples[0].nlabels, 2);
    char n[300];
    assert_string_equal(lname(&b, &b.samples[0], 1, n), "b");
    /* an empty name value means no name */
    memset(&err, 0, sizeof err);
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "", "a", "x", NULL), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "missing metric name"));
    assert_int_equal(b.nsamples, 1);
    batch_free(&b);
}

static void test_missing_name(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 1, &err, "job", "x", NULL), SABA_EINVAL);
    assert_int_equal(err.code, SABA_EINVAL);
    assert_non_null(strstr(err.msg, "missing metric name"));
    assert_int_equal(series(&b, T0, 1, &err, NULL), SABA_EINVAL);
    assert_int_equal(b.nsamples, 0);
    /* the failed series left nothing behind */
    assert_int_equal(b.nlabels, 0);
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "ok", NULL), 0);
    assert_int_equal(b.nsamples, 1);
    assert_int_equal(b.samples[0].nlabels, 1);
    batch_free(&b);
}

static void test_duplicate_label_names(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "m", "a", "1", "a", "2", NULL),
                     SABA_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate label name"));
    assert_non_null(strstr(err.msg, "\"a\""));
    memset(&err, 0, sizeof err);
    assert_int_equal(series(&b, T0, 1, &err, "__name__", "m", "__name__", "n", NULL), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate"));
    /* identical pairs are duplicates too */
    assert_int_equal(series(&b, T0, 1, &err, "x", "1", "__name__", "m", "x", "1", NULL),
                     SABA_EINVAL);
    assert_int_equal(b.nsamples, 0);
    assert_int_equal(b.nlabels, 0);
    batch_free(&b);
}

static void test_reserved_label_names(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    batch_series_begin(&b);
    assert_int_equal(label(&b, "__foo", "x", &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "reserved"));
    assert_int_equal(label(&b, "__", "x", &err), SABA_EINVAL);
    /* even with an empty value (validation comes first) */
    assert_int_equal(label(&b, "__meta_x", "", &err), SABA_EINVAL);
    /* a single underscore is fine, and so is __name__ */
    assert_int_equal(label(&b, "_foo", "x", &err), 0);
    assert_int_equal(label(&b, "__name__", "m", &err), 0);
    assert_int_equal(batch_series_end(&b, T0, 1, &err), 0);
    assert_int_equal(b.samples[0].nlabels, 2);
    /* an empty label name */
    batch_series_begin(&b);
    assert_int_equal(batch_label(&b, "", 0, "x", 1, &err), SABA_EINVAL);
    batch_series_abort(&b);
    batch_free(&b);
}

static void test_too_many_labels(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const int max = batch_limits_default.max_labels;
    for (int extra = 0; extra <= 1; extra++) {
        batch_series_begin(&b);
        assert_int_equal(label(&b, "__name__", "m", &err), 0);
        for (int i = 0; i < max - 1 + extra; i++) {
            char n[16];
            snprintf(n, sizeof n, "l%03d", i);
            assert_int_equal(label(&b, n, "v", &err), 0);
        }
        int rc = batch_series_end(&b, T0, 1, &err);
        if (extra) {
            assert_int_equal(rc, SABA_EINVAL);
            assert_non_null(strstr(err.msg, "labels"));
        } else {
            assert_int_equal(rc, 0);
        }
    }
    assert_int_equal(b.nsamples, 1);
    assert_int_equal(b.samples[0].nlabels, max);

    /* custom limits are honoured */
    struct batch_limits lim = batch_limits_default;
    lim.max_labels = 2;
    struct batch c;
    batch_init(&c, &lim);
    assert_int_equal(series(&c, T0, 1, &err, "__name__", "m", "a", "1", NULL), 0);
    assert_int_equal(series(&c, T0, 1, &err, "__name__", "m", "a", "1", "b", "2", NULL),
                     SABA_EINVAL);
    batch_free(&c);
    batch_free(&b);
}

static void test_length_limits(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const int maxn = batch_limits_default.max_name_bytes;
    const int maxv = batch_limits_default.max_value_bytes;
    char *s = xmalloc((size_t)maxv + 2);

    /* label name: max ok, max+1 rejected */
    memset(s, 'n', (size_t)maxn + 1);
    batch_series_begin(&b);
    assert_int_equal(batch_label(&b, s, (size_t)maxn, "v", 1, &err), 0);
    assert_int_equal(batch_label(&b, s, (size_t)maxn + 1, "v", 1, &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "longer"));
    batch_series_abort(&b);

    /* metric name: the name limit applies to the value of __name__ */
    batch_series_begin(&b);
    assert_int_equal(batch_label(&b, "__name__", 8, s, (size_t)maxn + 1, &err), SABA_EINVAL);
    assert_int_equal(batch_label(&b, "__name__", 8, s, (size_t)maxn, &err), 0);
    assert_int_equal(batch_series_end(&b, T0, 1, &err), 0);

    /* label value */
    memset(s, 'v', (size_t)maxv + 1);
    batch_series_begin(&b);
    assert_int_equal(label(&b, "__name__", "m", &err), 0);
    assert_int_equal(batch_label(&b, "big", 3, s, (size_t)maxv + 1, &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "big"));
    assert_int_equal(batch_label(&b, "big", 3, s, (size_t)maxv, &err), 0);
    assert_int_equal(batch_series_end(&b, T0, 1, &err), 0);
    char v[5000];
    assert_int_equal(strlen(lvalue(&b, &b.samples[1], 1, v)), (size_t)maxv);
    assert_int_equal(b.nsamples, 2);
    free(s);
    batch_free(&b);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const char *bad[] = {
        "\xff",             /* never valid */
        "a\xc3",            /* truncated sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "\x80",             /* lone continuation */
        "a\x01z",           /* C0 control */
        "a\x7f",            /* DEL */
        "a\nb",             /* newline */
    };
    batch_series_begin(&b);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(label(&b, "v", bad[i], &err), SABA_EINVAL);
        assert_int_equal(label(&b, bad[i], "x", &err), SABA_EINVAL);
    }
    /* NUL inside a value */
    assert_int_equal(batch_label(&b, "v", 1, "a\0b", 3, &err), SABA_EINVAL);
    /* tab: allowed in values, not in names */
    assert_int_equal(label(&b, "t\tab", "x", &err), SABA_EINVAL);
    assert_int_equal(label(&b, "tab", "a\tb", &err), 0);
    /* well-formed multi-byte text is fine */
    assert_int_equal(
        label(&b, "city", "K\xc3\xb6ln \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80", &err), 0);
    assert_int_equal(label(&b, "__name__", "m", &err), 0);
    assert_int_equal(batch_series_end(&b, T0, 1, &err), 0);
    assert_int_equal(b.samples[0].nlabels, 3);
    batch_free(&b);
}

static void test_timestamp_range(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    const int64_t fut = b.now_ms + batch_limits_default.max_future_ms;
    assert_int_equal(series(&b, -1, 1, &err, "__name__", "m", NULL), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "1970"));
    assert_int_equal(series(&b, INT64_MIN, 1, &err, "__name__", "m", NULL), SABA_EINVAL);
    assert_int_equal(series(&b, fut + 1, 1, &err, "__name__", "m", NULL), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "future"));
    assert_int_equal(series(&b, INT64_MAX, 1, &err, "__name__", "m", NULL), SABA_EINVAL);
    assert_int_equal(b.nsamples, 0);
    assert_int_equal(series(&b, 0, 1, &err, "__name__", "m", NULL), 0);
    assert_int_equal(series(&b, fut, 1, &err, "__name__", "m", NULL), 0);
    assert_int_equal(series(&b, b.now_ms, 1, &err, "__name__", "m", NULL), 0);
    assert_int_equal(b.nsamples, 3);
    batch_free(&b);
}

static void test_intern_and_label_at(void **state)
{
    (void)state;
    /* one tag interned once, used by several samples */
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    uint32_t nn = batch_intern(&b, "__name__", 8);
    uint32_t hn = batch_intern(&b, "host", 4), hv = batch_intern(&b, "web-1", 5);
    assert_string_equal(batch_str(&b, hv), "web-1");
    for (int i = 0; i < 3; i++) {
        char m[16];
        snprintf(m, sizeof m, "m%d", i);
        uint32_t mv = batch_intern(&b, m, strlen(m));
        batch_series_begin(&b);
        assert_int_equal(batch_label_at(&b, hn, 4, hv, 5, &err), 0);
        assert_int_equal(batch_label_at(&b, nn, 8, mv, (uint32_t)strlen(m), &err), 0);
        assert_int_equal(batch_series_end(&b, T0 + i, i, &err), 0);
    }
    assert_int_equal(b.nsamples, 3);
    char n[300], v[5000];
    for (int i = 0; i < 3; i++) {
        const struct batch_sample *s = &b.samples[i];
        assert_int_equal(s->nlabels, 2);
        assert_string_equal(lname(&b, s, 0, n), "__name__");
        assert_string_equal(lname(&b, s, 1, n), "host");
        assert_string_equal(lvalue(&b, s, 1, v), "web-1");
        assert_int_equal(s->t, T0 + i);
    }
    assert_int_not_equal(b.samples[0].hash, b.samples[1].hash);
    batch_free(&b);
}

static void test_many_samples_grow(void **state)
{
    (void)state;
    struct batch b;
    batch_init(&b, NULL);
    struct saba_err err = {0};
    for (int i = 0; i < 5000; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i % 100);
        assert_int_equal(series(&b, T0 + i, i, &err, "__name__", "m", "i", v, NULL), 0);
    }
    assert_int_equal(b.nsamples, 5000);
    char v[5000];
    for (int i = 0; i < 5000; i += 499) {
        char want[16];
        snprintf(want, sizeof want, "%d", i % 100);
        assert_string_equal(lvalue(&b, &b.samples[i], 1, v), want);
        assert_int_equal(b.samples[i].t, T0 + i);
        assert_int_equal(b.samples[i].hash, b.samples[i % 100].hash);
    }
    batch_free(&b);
}

/* ---- labels.h helpers ---- */

static void test_labels_helpers(void **state)
{
    (void)state;
    const struct label in[] = {{"job", "node"}, {"__name__", "up"}, {"instance", "a:9100"}};
    struct labels ls = labels_copy(in, 3);
    assert_int_equal(ls.n, 3);
    assert_string_equal(ls.v[0].name, "__name__");
    assert_string_equal(ls.v[1].name, "instance");
    assert_string_equal(ls.v[2].name, "job");
    assert_ptr_not_equal(ls.v[0].value, in[1].value); /* copied */
    assert_string_equal(labels_get(&ls, "job"), "node");
    assert_null(labels_get(&ls, "nope"));

    struct buf b = BUF_INIT;
    labels_put_json(&b, &ls);
    assert_string_equal(b.data, "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"}");
    buf_free(&b);

    const struct label in2[] = {{"__name__", "up"}, {"instance", "a:9100"}};
    struct labels l2 = labels_copy(in2, 2);
    assert_true(labels_cmp(&l2, &ls) < 0); /* prefix sorts first */
    assert_true(labels_cmp(&ls, &l2) > 0);
    assert_int_equal(labels_cmp(&ls, &ls), 0);
    struct labels empty = labels_copy(NULL, 0);
    assert_int_equal(empty.n, 0);
    assert_true(labels_cmp(&empty, &l2) < 0);
    struct buf e = BUF_INIT;
    labels_put_json(&e, &empty);
    assert_string_equal(e.data, "{}");
    buf_free(&e);
    labels_free(&empty);
    labels_free(&l2);
    labels_free(&ls);
    assert_null(ls.v);
    assert_int_equal(ls.n, 0);

    assert_true(label_name_is_identifier("job", 3));
    assert_true(label_name_is_identifier("_a1", 3));
    assert_false(label_name_is_identifier("1a", 2));
    assert_false(label_name_is_identifier("a-b", 3));
    assert_false(label_name_is_identifier("a:b", 3));
    assert_false(label_name_is_identifier("", 0));
    assert_true(utf8_valid_text("", 0));
    assert_true(utf8_valid_text("a\tb", 3));
    assert_false(utf8_valid_text("a\rb", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_series),
        cmocka_unit_test(test_labels_sorted),
        cmocka_unit_test(test_hash_independent_of_order),
        cmocka_unit_test(test_empty_value_dropped),
        cmocka_unit_test(test_missing_name),
        cmocka_unit_test(test_duplicate_label_names),
        cmocka_unit_test(test_reserved_label_names),
        cmocka_unit_test(test_too_many_labels),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_timestamp_range),
        cmocka_unit_test(test_intern_and_label_at),
        cmocka_unit_test(test_many_samples_grow),
        cmocka_unit_test(test_labels_helpers),
    };
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
