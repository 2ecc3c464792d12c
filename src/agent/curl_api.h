/*
 * curl_api.h - the libcurl functions the agent calls, as a table, so that the
 * same client code (client_curl.c) runs on a libcurl linked into the binary
 * (`saba`: client_linked.c) or loaded with dlopen on first use of an https://
 * URL (`saba-agent`: lean/curl_dlopen.c). Only libcurl's header is needed to
 * compile against it.
 */
#ifndef SABA_AGENT_CURL_API_H
#define SABA_AGENT_CURL_API_H

#include <curl/curl.h>
#include <stddef.h>

struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};

/* The table of the libcurl linked into this binary (client_linked.c). */
const struct curl_api *curl_api_linked(void);
/* The table of libcurl loaded with dlopen (lean/curl_dlopen.c): loaded on the
 * first call, kept for the process's life. Returns NULL, with the reason in
 * why, if no libcurl.so.4 can be loaded. */
const struct curl_api *curl_api_dlopen(char *why, size_t why_len);

#endif
