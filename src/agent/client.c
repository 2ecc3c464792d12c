/*
 * client.c - libcurl-based HTTP client for the agent (see client.h).
 */
#include "agent/client.h"
#include "base/alloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

struct client {
    CURL *h;
    char *base;
    char *key_header;
    long timeout_ms;
};

struct client *client_new(const char *base_url, const char *api_key, long timeout_ms)
{
    static int inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    struct client *c = xcalloc(1, sizeof *c);
    c->base = xstrdup(base_url);
    size_t n = strlen(c->base);
    while (n && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    if (api_key && *api_key) {
        size_t len = strlen(api_key) + 16;
        c->key_header = xmalloc(len);
        snprintf(c->key_header, len, "X-Api-Key: %s", api_key);
    }
    c->timeout_ms = timeout_ms;
    c->h = curl_easy_init();
    if (!c->h)
        abort();
    return c;
}

void client_free(struct client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c->base);
    free(c->key_header);
    free(c);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    if (ud)
        buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

long client_request(struct client *c, const char *method, const char *path, const void *body,
                    size_t n, bool gzip, struct buf *resp, char *why, size_t why_len)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (gzip)
        h = curl_slist_append(h, "Content-Encoding: gzip");
    if (c->key_header)
        h = curl_slist_append(h, c->key_header);
    char ua[64];
    snprintf(ua, sizeof ua, "saba-agent/%s", SABA_VERSION);
    CURL *e = c->h;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    } else if (strcmp(method, "GET")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    } else if (why) {
        snprintf(why, why_len, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(h);
    return status;
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
