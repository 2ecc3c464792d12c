/*
 * client.h - the agent's HTTP transport to `saba server`: the contract.
 *
 * Two implementations sit behind it, chosen when a binary is linked:
 *   - client_curl.c, libcurl (http:// and https://): `saba agent` in the full
 *     binary, which links libcurl anyway (client_linked.c);
 *   - lean/client_evhttp.c, libevent's evhttp client (http:// only), in the
 *     lean `saba-agent`, whose https:// goes to client_curl.c over a libcurl
 *     loaded with dlopen only then (lean/client_select.c), so that a host
 *     talking plain http never maps libcurl's tree of ~30 libraries.
 * Both keep one connection alive between requests, send the API key
 * (X-Api-Key) when one is configured, may send gzip-compressed bodies, and
 * bound every request with a timeout, so a server that accepts the
 * connection and then hangs cannot stall the agent.
 * tests/unit/test_agent_transport.c holds both to this contract.
 */
#ifndef SABA_AGENT_CLIENT_H
#define SABA_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

struct client;

/* base_url is "http://host:port[/prefix]" or "https://..." (a trailing '/' is
 * ignored); api_key may be NULL. Both are copied. timeout_ms bounds each
 * request as a whole. Returns NULL, with the reason in why, if this binary
 * cannot serve the URL's scheme (the lean binary without libcurl installed
 * for https://) or the URL cannot be parsed. Free with client_free. */
struct client *client_new(const char *base_url, const char *api_key, long timeout_ms, char *why,
                          size_t why_len);
/* client_free(NULL) does nothing. */
void client_free(struct client *c);

/* Send method path with body (n bytes, JSON; gzip says the body is already
 * gzip-compressed; body NULL sends an empty body). Returns the HTTP status
 * (e.g. 200, 404, 503), or 0 if no answer came (connection refused, timeout),
 * with the reason in why. The response body is appended to resp (may be NULL). */
long client_request(struct client *c, const char *method, const char *path, const void *body,
                    size_t n, bool gzip, struct buf *resp, char *why, size_t why_len);

/* Name of the implementation serving c: "curl" or "evhttp" (for logs and tests). */
const char *client_kind(const struct client *c);

/* Compress n bytes into out as a gzip member (level 1: the agent's CPU
 * matters more than a few bytes on the wire). */
void gzip_compress(const void *data, size_t n, struct buf *out);

#endif
