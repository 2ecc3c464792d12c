/*
 * client_select.c - client_new for the lean `saba-agent` (see client.h):
 * http:// goes to libevent's evhttp client (client_evhttp.c), https:// to
 * client_curl.c over a libcurl loaded with dlopen only then (curl_dlopen.c).
 */
#include "agent/client_internal.h"
#include "agent/curl_api.h"

#include <stdio.h>

struct client *client_new(const char *base_url, const char *api_key, long timeout_ms, char *why,
                          size_t why_len)
{
    bool http = client_url_is(base_url, "http");
    if (!http && !client_url_is(base_url, "https")) {
        snprintf(why, why_len, "\"%s\" is not an http:// or https:// URL", base_url);
        return NULL;
    }
    const struct curl_api *api = NULL;
    if (!http && !(api = curl_api_dlopen(why, why_len)))
        return NULL;
    struct client *c = client_alloc(base_url, api_key, timeout_ms);
    int rc = http ? client_evhttp_init(c, why, why_len) : client_curl_init(c, api, why, why_len);
    if (rc != 0) {
        client_free(c);
        return NULL;
    }
    return c;
}
