/*
 * remote_write.c - Prometheus remote-write WriteRequest decoding (see
 * remote_write.h). protobuf-c does the wire format, from remote_write.proto.
 */
#include "ingest/remote_write.h"
#include "remote_write.pb-c.h"

#include <stdio.h>
#include <string.h>

int remote_write_parse(const uint8_t *data, size_t n, struct batch *b,
                       struct remote_write_stats *st, struct saba_err *err)
{
    Saba__Remote__WriteRequest *req = saba__remote__write_request__unpack(NULL, n, data);
    if (!req)
        return err_set(err, SABA_EINVAL, 0,
                       "body is not a valid protobuf WriteRequest (is it snappy-compressed "
                       "with Content-Encoding: snappy?)");
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
        uint32_t off[2 * 256 + 2];
        size_t nl = ts->n_labels;
        if (nl > 256) {
            rc = err_set(err, SABA_EINVAL, (long)i + 1, "series %zu has %zu labels, more than 256",
                         i + 1, nl);
            break;
        }
        for (size_t j = 0; j < nl; j++) {
            const char *name = ts->labels[j]->name, *value = ts->labels[j]->value;
            off[2 * j] = batch_intern(b, name, strlen(name));
            off[2 * j + 1] = batch_intern(b, value, strlen(value));
        }
        for (size_t k = 0; k < ts->n_samples && !rc; k++) {
            batch_series_begin(b);
            for (size_t j = 0; j < nl && !rc; j++)
                rc = batch_label_at(b, off[2 * j], (uint32_t)strlen(ts->labels[j]->name),
                                    off[2 * j + 1], (uint32_t)strlen(ts->labels[j]->value), err);
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
    saba__remote__write_request__free_unpacked(req, NULL);
    return rc;
}
