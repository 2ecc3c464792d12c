/*
 * client_curl.c - the agent's HTTP transport on libcurl (see client.h).
 *
 * libcurl is called through a table (curl_api.h), so this file serves both
 * `saba agent` (libcurl linked) and `saba-agent` for https:// (libcurl
 * loaded with dlopen). One easy handle per client keeps the connection alive.
 */
#include "agent/client_internal.h"
#include "agent/curl_api.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct curl_client {
    const struct curl_api *api;
    CURL *h;
    char *key_header; /* "X-Api-Key: ..." or NULL */
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    if (ud)
        buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

static long curl_request(struct client *c, const char *method, const char *path, const void *body,
                         size_t n, bool gzip, struct buf *resp, char *why, size_t why_len)
{
    struct curl_client *cc = c->impl;
    const struct curl_api *api = cc->api;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    struct curl_slist *h = NULL;
    h = api->slist_append(h, "Content-Type: application/json");
    h = api->slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (gzip)
        h = api->slist_append(h, "Content-Encoding: gzip");
    if (cc->key_header)
        h = api->slist_append(h, cc->key_header);
    char ua[64];
    client_user_agent(ua, sizeof ua);
    CURL *e = cc->h;
    api->easy_reset(e);
    api->easy_setopt(e, CURLOPT_URL, url);
    api->easy_setopt(e, CURLOPT_USERAGENT, ua);
    api->easy_setopt(e, CURLOPT_HTTPHEADER, h);
    api->easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    api->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    api->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
    api->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    api->easy_setopt(e, CURLOPT_WRITEDATA, resp);
    api->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        api->easy_setopt(e, CURLOPT_POSTFIELDS, body);
        api->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    } else if (strcmp(method, "GET")) {
        api->easy_setopt(e, CURLOPT_POSTFIELDS, "");
        api->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    CURLcode rc = api->easy_perform(e);
    long status = 0;
    if (rc == CURLE_OK)
        api->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(why, why_len, "%s", api->easy_strerror(rc));
    api->slist_free_all(h);
    return status;
}

static void curl_free_impl(void *impl)
{
    struct curl_client *cc = impl;
    cc->api->easy_cleanup(cc->h);
    free(cc->key_header);
    free(cc);
}

static const struct client_ops curl_ops = {"curl", curl_request, curl_free_impl};

int client_curl_init(struct client *c, const struct curl_api *api, char *why, size_t why_len)
{
    /* once per process: curl_global_init is not thread-safe and the agent has one thread */
    static const struct curl_api *inited;
    if (inited != api) {
        if (api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(why, why_len, "curl_global_init failed");
            return -1;
        }
        inited = api;
    }
    struct curl_client *cc = xcalloc(1, sizeof *cc);
    cc->api = api;
    cc->h = api->easy_init();
    if (!cc->h)
        abort();
    if (c->api_key) {
        size_t len = strlen(c->api_key) + 16;
        cc->key_header = xmalloc(len);
        snprintf(cc->key_header, len, "X-Api-Key: %s", c->api_key);
    }
    c->ops = &curl_ops;
    c->impl = cc;
    return 0;
}
