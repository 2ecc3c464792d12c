/*
 * api_v0_admin.c - administrative endpoints.
 *
 * POST /api/v0/admin/tsdb/flush writes everything the storage holds in
 * memory to its on-disk form now (the head into blocks, then compaction and
 * rollups), so a backup of the data directory or a measurement of its size
 * sees the final form. It answers when that is done.
 *
 * POST /api/v1/admin/tsdb/delete_series?match[]=...&start=...&end=... is
 * Prometheus' deletion API: the samples of the matching series in the range
 * (all time by default) are deleted durably before the 204 answer; blocks
 * drop them at their next compaction.
 */
#include "base/timeutil.h"
#include "http/api.h"
#include "query/ast.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>

void api_v0_admin_tsdb_flush(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)req;
    struct saba_server *srv = ctx;
    struct storage *st = atomic_load(&srv->storage);
    if (!st) {
        http_reply_error(resp, 503, 0, "saba is starting: replaying its WAL; retry shortly");
        return;
    }
    if (!st->ops->flush) {
        http_reply_error(resp, 501, 0, "this storage engine has nothing to flush");
        return;
    }
    struct saba_err err = {0};
    int rc = st->ops->flush(st, &err);
    if (rc) {
        http_reply_error(resp, rc == SABA_ENOSPC ? 507 : 503, 0, err.msg);
        return;
    }
    struct storage_stats s;
    st->ops->stats(st, &s);
    resp->status = 200;
    buf_printf(&resp->body, "{\"success\":true,\"blocks\":%llu,\"block_bytes\":%llu}\n",
               (unsigned long long)s.blocks, (unsigned long long)s.block_bytes);
}

void api_v1_admin_tsdb_delete_series(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct saba_server *srv = ctx;
    struct storage *st = atomic_load(&srv->storage);
    if (!st) {
        api_prom_error(resp, 503, "unavailable", "saba is starting: replaying its WAL");
        return;
    }
    if (!st->ops->delete_series) {
        api_prom_error(resp, 501, "unavailable", "this storage engine cannot delete");
        return;
    }
    const char *names[2] = {"start", "end"};
    int64_t range[2] = {INT64_MIN, INT64_MAX};
    for (int i = 0; i < 2; i++) {
        const char *v = http_param(req, names[i]);
        if (v && *v && time_param_parse(v, &range[i]) != 0) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "invalid parameter \"%s\": cannot parse \"%.200s\" to a valid timestamp",
                     names[i], v);
            api_prom_error(resp, 400, "bad_data", msg);
            return;
        }
    }
    const char *const *m;
    size_t nm = http_params(req, "match[]", &m);
    if (!nm) {
        api_prom_error(resp, 400, "bad_data", "no match[] parameter provided");
        return;
    }
    struct node **sel = calloc(nm, sizeof *sel);
    int rc = 0;
    for (size_t i = 0; i < nm && rc == 0; i++) {
        struct saba_err err = {0};
        if (promql_parse(m[i], &sel[i], &err) != 0 || sel[i]->type != NODE_VECTOR) {
            char msg[700];
            snprintf(msg, sizeof msg, "invalid parameter \"match[]\": %s",
                     err.msg[0] ? err.msg : "expected a vector selector");
            api_prom_error(resp, 400, "bad_data", msg);
            rc = -1;
        }
    }
    for (size_t i = 0; i < nm && rc == 0; i++) {
        struct saba_err err = {0};
        rc = st->ops->delete_series(st, sel[i]->matchers, sel[i]->nmatchers, range[0], range[1],
                                    &err);
        if (rc)
            api_prom_error(resp, rc == SABA_ENOSPC ? 507 : 503, "internal", err.msg);
    }
    for (size_t i = 0; i < nm; i++)
        node_free(sel[i]);
    free(sel);
    if (rc == 0) {
        resp->status = 204;
        resp->content_type = NULL;
    }
}
