/*
 * rss_floor.c - how much of the agent's RSS is the agent: five collections
 * (collectors + saba JSON + gzip, what every interval does) in a process
 * linked with only the libraries that work needs, then its RSS.
 *
 * Built twice by rss_floor.sh: with libcurl linked but not called, and
 * without libcurl (gzip from zlib directly), to separate the cost of the
 * HTTP client library from the cost of collecting. Measurement only.
 */
#include <stdio.h>
#include <string.h>

#include "agent/collect.h"
#include "agent/mset.h"
#include "base/buf.h"

#ifdef WITH_CURL
#include "agent/client.h"
#else
#include <zlib.h>
static void gzip_compress(const void *data, size_t n, struct buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    buf_reserve(out, deflateBound(&zs, n));
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)(out->cap - out->len);
    deflate(&zs, Z_FINISH);
    out->len += zs.total_out;
    deflateEnd(&zs);
}
#endif

int main(void)
{
    struct collect_opts o;
    collect_opts_default(&o);
    struct collectors *c;
    struct saba_err err = {0};
    if (collectors_new(&o, &c, &err))
        return 1;
    struct mset m;
    mset_init(&m);
    struct buf json = BUF_INIT, gz = BUF_INIT;
    for (int i = 0; i < 5; i++) {
        mset_reset(&m);
        collectors_run(c, &m);
        buf_reset(&json);
        buf_reset(&gz);
        mset_write_json(&m, "host", 1, &json);
        gzip_compress(json.data, json.len, &gz);
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS", 5) || !strncmp(line, "RssAnon", 7) ||
            !strncmp(line, "RssFile", 7))
            fputs(line, stdout);
    return 0;
}
