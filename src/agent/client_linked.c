/*
 * client_linked.c - client_new for the full `saba` binary: every URL goes to
 * client_curl.c over the libcurl linked into the binary (see client.h; the
 * lean `saba-agent` has its own client_new in lean/client_select.c).
 */
#include "agent/client_internal.h"
#include "agent/curl_api.h"

#include <stdio.h>

const struct curl_api *curl_api_linked(void)
{
    static const struct curl_api api = {
        curl_global_init,  curl_easy_init,      curl_easy_cleanup, curl_easy_reset,
        curl_easy_setopt,  curl_easy_perform,   curl_easy_getinfo, curl_easy_strerror,
        curl_slist_append, curl_slist_free_all,
    };
    return &api;
}

struct client *client_new(const char *base_url, const char *api_key, long timeout_ms, char *why,
                          size_t why_len)
{
    if (!client_url_is(base_url, "http") && !client_url_is(base_url, "https")) {
        snprintf(why, why_len, "\"%s\" is not an http:// or https:// URL", base_url);
        return NULL;
    }
    struct client *c = client_alloc(base_url, api_key, timeout_ms);
    if (client_curl_init(c, curl_api_linked(), why, why_len) != 0) {
        client_free(c);
        return NULL;
    }
    return c;
}
