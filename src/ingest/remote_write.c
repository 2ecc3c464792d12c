/*
 * remote_write.c - Prometheus remote-write WriteRequest decoding (see
 * remote_write.h). protobuf-c does the wire format, from remote_write.proto.
 *
 * protobuf-c allocates every message (each label, each sample) separately;
 * with malloc that was most of the cost of a request. It allocates here from
 * an arena instead, freed in one go when the request is decoded.
 */
#include "ingest/remote_write.h"
#include "base/alloc.h"
#include "remote_write.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct arena_block *head;
};

static void *arena_alloc(void *ctx, size_t n)
{
    struct arena *a = ctx;
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 1 << 20 ? n : 1 << 20;
        b = xmalloc(sizeof *b + cap);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx, (void)p; /* everything goes at once in arena_release */
}

static void arena_release(struct arena *a)
{
    while (a->head) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
}

int remote_write_parse(const uint8_t *data, size_t n, struct batch *b,
                       struct remote_write_stats *st, struct saba_err *err)
{
    struct arena arena = {NULL};
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
    Saba__Remote__WriteRequest *req = saba__remote__write_request__unpack(&alloc, n, data);
    if (!req) {
        arena_release(&arena);
        return err_set(err, SABA_EINVAL, 0,
                       "body is not a valid protobuf WriteRequest (is it snappy-compressed "
                       "with Content-Encoding: snappy?)");
    }
    int rc = 0;
    st->metadata += req->n_metadata;
    for (size_t i = 0; i < req->n_timeseries && !rc; i++) {
        const Saba__Remote__TimeSeries *ts = req->timeseries[i];
        st->series++;
        st->exemplars += ts->n_exemplars;
        st->histograms += ts->n_histograms;
        if (!ts->n_samples)
            continue;
        /* intern the labels once, then add them to every sample */
        uint32_t off[2 * 256], len[2 * 256];
        size_t nl = ts->n_labels;
        if (nl > 256) {
            rc = err_set(err, SABA_EINVAL, (long)i + 1, "series %zu has %zu labels, more than 256",
                         i + 1, nl);
            break;
        }
        for (size_t j = 0; j < nl; j++) {
            const char *name = ts->labels[j]->name, *value = ts->labels[j]->value;
            len[2 * j] = (uint32_t)strlen(name);
            len[2 * j + 1] = (uint32_t)strlen(value);
            off[2 * j] = batch_intern(b, name, len[2 * j]);
            off[2 * j + 1] = batch_intern(b, value, len[2 * j + 1]);
        }
        for (size_t k = 0; k < ts->n_samples && !rc; k++) {
            batch_series_begin(b);
            for (size_t j = 0; j < nl && !rc; j++)
                rc = batch_label_at(b, off[2 * j], len[2 * j], off[2 * j + 1], len[2 * j + 1], err);
            if (!rc)
                rc = batch_series_end(b, ts->samples[k]->timestamp, ts->samples[k]->value, err);
            if (rc) {
                batch_series_abort(b);
                char why[sizeof err->msg + 64];
                snprintf(why, sizeof why, "series %zu, sample %zu: %s", i + 1, k + 1, err->msg);
                err_set(err, rc, (long)i + 1, "%s", why);
            }
        }
    }
    arena_release(&arena);
    return rc;
}
