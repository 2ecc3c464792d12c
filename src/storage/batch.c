/*
 * batch.c - building and validating a batch of samples (see batch.h).
 */
#include "storage/batch.h"
#include "base/alloc.h"
#include "base/timeutil.h"
#include "storage/labels.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

const struct batch_limits batch_limits_default = {
    .max_body_bytes = 64LL << 20, /* 64 MiB, VictoriaMetrics' default is 32 MiB */
    .max_line_bytes = 256 << 10,  /* 256 KiB: far above any real line */
    .max_labels = 64,             /* Prometheus' default label_limit is 0 (unlimited); */
                                  /* 64 catches runaway tag sets early */
    .max_name_bytes = 256,
    .max_value_bytes = 4096,
    .max_future_ms = 10 * 60 * 1000, /* clock skew tolerated for agents */
};

void batch_init(struct batch *b, const struct batch_limits *limits)
{
    memset(b, 0, sizeof *b);
    b->limits = limits ? limits : &batch_limits_default;
    b->now_ms = now_ms();
}

void batch_reset(struct batch *b)
{
    buf_reset(&b->strings);
    b->nlabels = b->nsamples = b->open_label = 0;
    b->now_ms = now_ms();
}

void batch_free(struct batch *b)
{
    buf_free(&b->strings);
    buf_free(&b->scratch);
    free(b->labels);
    free(b->samples);
    memset(b, 0, sizeof *b);
}

uint32_t batch_intern(struct batch *b, const char *s, size_t n)
{
    uint32_t off = (uint32_t)b->strings.len;
    buf_append(&b->strings, s, n);
    buf_putc(&b->strings, '\0');
    return off;
}

void batch_series_begin(struct batch *b)
{
    b->open_label = b->nlabels;
}

void batch_series_abort(struct batch *b)
{
    b->nlabels = b->open_label;
}

int batch_label_at(struct batch *b, uint32_t name_off, uint32_t nlen, uint32_t value_off,
                   uint32_t vlen, struct saba_err *err)
{
    const char *name = batch_str(b, name_off), *value = batch_str(b, value_off);
    bool is_name = nlen == sizeof LABEL_NAME - 1 && memcmp(name, LABEL_NAME, nlen) == 0;
    if (nlen == 0)
        return err_set(err, SABA_EINVAL, 0, "empty label name");
    if (!is_name && nlen > (uint32_t)b->limits->max_name_bytes)
        return err_set(err, SABA_EINVAL, 0, "label name longer than %d bytes",
                       b->limits->max_name_bytes);
    if (is_name && vlen > (uint32_t)b->limits->max_name_bytes)
        return err_set(err, SABA_EINVAL, 0, "metric name longer than %d bytes",
                       b->limits->max_name_bytes);
    if (!is_name && vlen > (uint32_t)b->limits->max_value_bytes)
        return err_set(err, SABA_EINVAL, 0, "value of label \"%.*s\" longer than %d bytes",
                       (int)(nlen > 64 ? 64 : nlen), name, b->limits->max_value_bytes);
    if (!is_name && nlen >= 2 && name[0] == '_' && name[1] == '_')
        return err_set(err, SABA_EINVAL, 0,
                       "label name \"%.*s\" is reserved (names starting with __)",
                       (int)(nlen > 64 ? 64 : nlen), name);
    if (!utf8_valid_text(name, nlen) || memchr(name, '\t', nlen))
        return err_set(err, SABA_EINVAL, 0, "label name is not valid UTF-8 text");
    if (!utf8_valid_text(value, vlen))
        return err_set(err, SABA_EINVAL, 0, "value of label \"%.*s\" is not valid UTF-8 text",
                       (int)(nlen > 64 ? 64 : nlen), name);
    if (vlen == 0)
        return 0;
    if (b->nlabels == b->cap_labels) {
        b->cap_labels = b->cap_labels ? b->cap_labels * 2 : 256;
        b->labels = xrealloc(b->labels, b->cap_labels * sizeof *b->labels);
    }
    b->labels[b->nlabels++] = (struct batch_label){name_off, nlen, value_off, vlen};
    return 0;
}

int batch_label(struct batch *b, const char *name, size_t nlen, const char *value, size_t vlen,
                struct saba_err *err)
{
    uint32_t no = batch_intern(b, name, nlen);
    uint32_t vo = batch_intern(b, value, vlen);
    return batch_label_at(b, no, (uint32_t)nlen, vo, (uint32_t)vlen, err);
}

static int label_cmp(const struct batch *b, const struct batch_label *x,
                     const struct batch_label *y)
{
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(batch_str(b, x->name_off), batch_str(b, y->name_off), n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

int batch_series_end(struct batch *b, int64_t t, double v, struct saba_err *err)
{
    size_t n = b->nlabels - b->open_label;
    /* labels is NULL until the first label is added: no arithmetic on it then */
    struct batch_label *ls = n ? b->labels + b->open_label : NULL;
    /* insertion sort: label sets are small and often nearly sorted already */
    for (size_t i = 1; i < n; i++) {
        struct batch_label x = ls[i];
        size_t j = i;
        while (j > 0 && label_cmp(b, &ls[j - 1], &x) > 0) {
            ls[j] = ls[j - 1];
            j--;
        }
        ls[j] = x;
    }
    int rc = SABA_EINVAL;
    bool has_name = false;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && label_cmp(b, &ls[i - 1], &ls[i]) == 0) {
            err_set(err, rc, 0, "duplicate label name \"%.*s\"",
                    (int)(ls[i].name_len > 64 ? 64 : ls[i].name_len), batch_str(b, ls[i].name_off));
            goto fail;
        }
        if (ls[i].name_len == sizeof LABEL_NAME - 1 &&
            memcmp(batch_str(b, ls[i].name_off), LABEL_NAME, ls[i].name_len) == 0)
            has_name = true;
    }
    if (!has_name) {
        err_set(err, rc, 0, "missing metric name");
        goto fail;
    }
    if (n > (size_t)b->limits->max_labels) {
        err_set(err, rc, 0, "series has %zu labels, more than the limit of %d", n,
                b->limits->max_labels);
        goto fail;
    }
    if (t < 0) {
        err_set(err, rc, 0, "timestamp %lld ms is before 1970", (long long)t);
        goto fail;
    }
    if (t > b->now_ms + b->limits->max_future_ms) {
        err_set(err, rc, 0, "timestamp %lld ms is more than %lld s in the future", (long long)t,
                (long long)(b->limits->max_future_ms / 1000));
        goto fail;
    }
    /* Hash "name\xffvalue\xff..." of the sorted set: 0xff never occurs in UTF-8. */
    buf_reset(&b->scratch);
    for (size_t i = 0; i < n; i++) {
        buf_append(&b->scratch, batch_str(b, ls[i].name_off), ls[i].name_len);
        buf_putc(&b->scratch, (char)0xff);
        buf_append(&b->scratch, batch_str(b, ls[i].value_off), ls[i].value_len);
        buf_putc(&b->scratch, (char)0xff);
    }
    if (b->nsamples == b->cap_samples) {
        b->cap_samples = b->cap_samples ? b->cap_samples * 2 : 256;
        b->samples = xrealloc(b->samples, b->cap_samples * sizeof *b->samples);
    }
    b->samples[b->nsamples++] = (struct batch_sample){
        .hash = XXH3_64bits(b->scratch.data, b->scratch.len),
        .label_off = (uint32_t)b->open_label,
        .nlabels = (uint16_t)n,
        .t = t,
        .v = v,
    };
    b->open_label = b->nlabels;
    return 0;
fail:
    batch_series_abort(b);
    return rc;
}
