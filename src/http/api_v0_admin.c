/*
 * api_v0_admin.c - administrative endpoints.
 *
 * POST /api/v0/admin/tsdb/flush writes everything the storage holds in
 * memory to its on-disk form now (the head into blocks, then compaction and
 * rollups), so a backup of the data directory or a measurement of its size
 * sees the final form. It answers when that is done.
 */
#include "http/api.h"
#include "server/server.h"

#include <stdio.h>

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
