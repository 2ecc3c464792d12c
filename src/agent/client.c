/*
 * client.c - the part of the agent's HTTP transport that does not depend on
 * the implementation (see client.h): the common fields, dispatch through the
 * implementation's ops table, and gzip.
 */
#include "agent/client_internal.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

struct client *client_alloc(const char *base_url, const char *api_key, long timeout_ms)
{
    struct client *c = xcalloc(1, sizeof *c);
    c->base = xstrdup(base_url);
    size_t n = strlen(c->base);
    while (n && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    if (api_key && *api_key)
        c->api_key = xstrdup(api_key);
    c->timeout_ms = timeout_ms;
    return c;
}

void client_user_agent(char *out, size_t n)
{
    snprintf(out, n, "saba-agent/%s", SABA_VERSION);
}

bool client_url_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return !strncasecmp(url, scheme, n) && !strncmp(url + n, "://", 3);
}

void client_free(struct client *c)
{
    if (!c)
        return;
    if (c->ops)
        c->ops->free_impl(c->impl);
    free(c->base);
    free(c->api_key);
    free(c);
}

long client_request(struct client *c, const char *method, const char *path, const void *body,
                    size_t n, bool gzip, struct buf *resp, char *why, size_t why_len)
{
    char ignored[8];
    if (!why) {
        why = ignored;
        why_len = sizeof ignored;
    }
    return c->ops->request(c, method, path, body, n, gzip, resp, why, why_len);
}

const char *client_kind(const struct client *c)
{
    return c->ops ? c->ops->name : "none";
}

void gzip_compress(const void *data, size_t n, struct buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    buf_reserve(out, deflateBound(&zs, n));
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)(out->cap - out->len);
    int rc = deflate(&zs, Z_FINISH);
    if (rc != Z_STREAM_END)
        abort(); /* deflateBound guarantees room */
    out->len += zs.total_out;
    out->data[out->len] = '\0';
    deflateEnd(&zs);
}
