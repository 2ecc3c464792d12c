/*
 * http.h - saba's HTTP server: libmicrohttpd underneath, a route table on top.
 *
 * The server reads each request body whole (bounded by max_body_bytes,
 * gzip-decoded when Content-Encoding says so, form fields of urlencoded
 * POSTs parsed) and then calls the route's handler on the connection's
 * thread. Handlers fill in a struct http_resp; they never see libmicrohttpd.
 */
#ifndef SABA_HTTP_HTTP_H
#define SABA_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct http_server;
struct http_req;

struct http_resp {
    int status;
    const char *content_type; /* static string */
    struct buf body;
};

typedef void (*http_handler)(void *ctx, struct http_req *req, struct http_resp *resp);

struct http_route {
    const char *method; /* "GET", "POST", or "GET,POST" */
    const char *path;   /* exact path, or a prefix ending in '*' */
    http_handler fn;
};

struct http_options {
    int listen_fd;          /* a bound, listening socket (the server takes ownership) */
    int max_connections;    /* concurrent connections, one thread each; more are refused */
    int64_t max_body_bytes; /* after decompression; larger bodies get 413 */
    const struct http_route *routes;
    void *ctx; /* passed to every handler */
};

int http_start(const struct http_options *o, struct http_server **out, struct saba_err *err);
/* Stop accepting, finish requests in flight, free. http_stop(NULL) does nothing. */
void http_stop(struct http_server *s);

/* Request accessors. Returned strings are borrowed from the request and stay
 * valid until the handler returns. */
const char *http_method(const struct http_req *r);
const char *http_path(const struct http_req *r);
/* A query-string or form parameter (the first if repeated), or NULL. */
const char *http_param(const struct http_req *r, const char *name);
/* All values of a repeated parameter (match[]); returns the count and sets *out
 * to a borrowed array. */
size_t http_params(struct http_req *r, const char *name, const char *const **out);
const char *http_header(const struct http_req *r, const char *name);
const char *http_body(const struct http_req *r, size_t *len);

/* Response helpers. */
void http_reply(struct http_resp *resp, int status, const char *content_type, const char *text);
/* {"error": msg, "line": line?} with the given status. */
void http_reply_error(struct http_resp *resp, int status, long line, const char *msg);

#endif
