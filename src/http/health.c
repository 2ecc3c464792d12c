/*
 * health.c - liveness, readiness (Prometheus' /-/healthy and /-/ready) and
 * the server's own metrics in Prometheus text format on /metrics.
 */
#include "http/api.h"
#include "server/server.h"

void api_healthy(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    http_reply(resp, 200, "text/plain; charset=utf-8", "saba is Healthy.\n");
}

void api_ready(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)req;
    struct saba_server *srv = ctx;
    if (atomic_load(&srv->storage))
        http_reply(resp, 200, "text/plain; charset=utf-8", "saba is Ready.\n");
    else
        http_reply(resp, 503, "text/plain; charset=utf-8",
                   "Service Unavailable: saba is replaying its WAL.\n");
}

void api_metrics(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)req;
    struct saba_server *srv = ctx;
    struct buf *b = &resp->body;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    buf_puts(b, "# HELP saba_ingested_samples_total Samples acknowledged, by protocol.\n"
                "# TYPE saba_ingested_samples_total counter\n");
    for (int p = 0; p < PROTO_COUNT; p++)
        buf_printf(b, "saba_ingested_samples_total{protocol=\"%s\"} %llu\n", ingest_proto_names[p],
                   (unsigned long long)atomic_load(&srv->ingested[p]));
    buf_puts(b, "# HELP saba_ingest_rejected_total Requests (HTTP) or lines (Graphite) refused "
                "as bad input.\n# TYPE saba_ingest_rejected_total counter\n");
    for (int p = 0; p < PROTO_COUNT; p++)
        buf_printf(b, "saba_ingest_rejected_total{protocol=\"%s\"} %llu\n", ingest_proto_names[p],
                   (unsigned long long)atomic_load(&srv->rejected[p]));
    buf_puts(b, "# HELP saba_ingest_failed_total Writes storage could not take (I/O errors).\n"
                "# TYPE saba_ingest_failed_total counter\n");
    for (int p = 0; p < PROTO_COUNT; p++)
        buf_printf(b, "saba_ingest_failed_total{protocol=\"%s\"} %llu\n", ingest_proto_names[p],
                   (unsigned long long)atomic_load(&srv->failed[p]));
    buf_printf(b,
               "# HELP saba_influx_string_fields_skipped_total Line-protocol string fields "
               "(not numbers, not stored).\n# TYPE saba_influx_string_fields_skipped_total "
               "counter\nsaba_influx_string_fields_skipped_total %llu\n",
               (unsigned long long)atomic_load(&srv->skipped_string_fields));
    buf_printf(b, "# TYPE saba_queries_total counter\nsaba_queries_total %llu\n",
               (unsigned long long)atomic_load(&srv->queries));
    struct storage *st = atomic_load(&srv->storage);
    if (st) {
        struct storage_stats s;
        st->ops->stats(st, &s);
        buf_printf(b,
                   "# TYPE saba_head_series gauge\nsaba_head_series %llu\n"
                   "# TYPE saba_head_samples gauge\nsaba_head_samples %llu\n"
                   "# TYPE saba_head_bytes gauge\nsaba_head_bytes %llu\n"
                   "# TYPE saba_wal_bytes gauge\nsaba_wal_bytes %llu\n"
                   "# TYPE saba_head_out_of_order_samples_total counter\n"
                   "saba_head_out_of_order_samples_total %llu\n"
                   "# TYPE saba_head_overwritten_samples_total counter\n"
                   "saba_head_overwritten_samples_total %llu\n",
                   (unsigned long long)s.series, (unsigned long long)s.samples,
                   (unsigned long long)s.head_bytes, (unsigned long long)s.wal_bytes,
                   (unsigned long long)s.out_of_order, (unsigned long long)s.overwritten);
        buf_printf(b,
                   "# TYPE saba_blocks gauge\nsaba_blocks %llu\n"
                   "# TYPE saba_block_bytes gauge\nsaba_block_bytes %llu\n"
                   "# TYPE saba_block_samples gauge\nsaba_block_samples %llu\n"
                   "# TYPE saba_block_compactions_total counter\n"
                   "saba_block_compactions_total %llu\n"
                   "# TYPE saba_blocks_corrupt gauge\nsaba_blocks_corrupt %llu\n",
                   (unsigned long long)s.blocks, (unsigned long long)s.block_bytes,
                   (unsigned long long)s.block_samples, (unsigned long long)s.compactions,
                   (unsigned long long)s.corrupt_blocks);
    }
}
