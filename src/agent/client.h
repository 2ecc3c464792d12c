/*
 * client.h - the agent's HTTP client to `saba server` (libcurl underneath).
 *
 * One connection is kept alive between requests. Every request carries the
 * API key (X-Api-Key) when one is configured; bodies may be sent
 * gzip-compressed. Timeouts bound every request, so a server that accepts
 * the connection and then hangs cannot stall the agent.
 */
#ifndef SABA_AGENT_CLIENT_H
#define SABA_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

struct client;

/* base_url is "http://host:port" (a trailing '/' is ignored); api_key may be
 * NULL. Both are copied. */
struct client *client_new(const char *base_url, const char *api_key, long timeout_ms);
void client_free(struct client *c);

/* Send method path with body (n bytes, JSON; gzip says the body is already
 * gzip-compressed). Returns the HTTP status (e.g. 200, 404, 503), or 0 if no
 * answer came (connection refused, timeout), with the reason in why. The
 * response body is appended to resp (may be NULL). */
long client_request(struct client *c, const char *method, const char *path, const void *body,
                    size_t n, bool gzip, struct buf *resp, char *why, size_t why_len);

/* Compress n bytes into out as a gzip member (level 1: the agent's CPU
 * matters more than a few bytes on the wire). */
void gzip_compress(const void *data, size_t n, struct buf *out);

#endif
