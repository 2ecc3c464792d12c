/*
 * client_evhttp.c - the agent's HTTP transport for http:// on libevent's
 * evhttp client (see client.h), for the lean `saba-agent`.
 *
 * The agent is one thread that blocks on each request, so each request runs
 * the client's own event base until the answer, an error or the deadline
 * (timeout_ms for the whole request: evhttp's own timeout restarts with
 * every byte). The connection is kept alive between requests; when the
 * server closed it while the agent slept, the request that finds it closed
 * is sent once more on a new connection.
 */
#include "agent/client_internal.h"
#include "base/alloc.h"
#include "base/timeutil.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE_BYTES (4 << 20) /* the server's answers are small JSON */

struct evh {
    struct event_base *base;
    struct evhttp_connection *conn; /* NULL until the first request */
    char *host;                     /* to connect to */
    int port;
    char *host_header; /* host[:port] as the URL had it */
    char *prefix;      /* the URL's path without trailing '/', "" if none */
    bool reused;       /* conn has carried a request */
};

/* One request in flight. */
struct call {
    struct buf *resp;
    long status;
    bool done;
    bool expired;
    bool failed; /* the connection failed before an answer */
    enum evhttp_request_error err;
    int sock_err;               /* errno when the request failed */
    struct evhttp_request *req; /* until done: libevent frees it after on_done */
};

static void on_done(struct evhttp_request *req, void *arg)
{
    struct call *k = arg;
    k->done = true;
    k->req = NULL;
    if (!req && !k->failed)
        k->sock_err = errno; /* a failed connect: may hold the socket error */
    if (!req || evhttp_request_get_response_code(req) <= 0)
        return;
    k->status = evhttp_request_get_response_code(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (k->resp && len) {
        buf_reserve(k->resp, len);
        evbuffer_remove(in, k->resp->data + k->resp->len, len);
        k->resp->len += len;
        k->resp->data[k->resp->len] = '\0';
    }
}

static void on_error(enum evhttp_request_error err, void *arg)
{
    struct call *k = arg;
    k->failed = true;
    k->err = err;
    k->sock_err = errno;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct call *k = arg;
    k->expired = true;
    if (k->req) {
        struct evhttp_request *req = k->req;
        k->req = NULL;
        evhttp_cancel_request(req); /* frees req; on_done is not called */
    }
}

static const char *error_text(enum evhttp_request_error err)
{
    switch (err) {
    case EVREQ_HTTP_TIMEOUT:
        return "timeout";
    case EVREQ_HTTP_EOF:
        return "connection closed before an answer";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid answer from the server";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection failed";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "answer too long";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "request cancelled";
    }
    return "error";
}

/* errno values that describe why a connection failed; others are stale */
static bool sock_err_says_why(int e)
{
    return e == ECONNREFUSED || e == ECONNRESET || e == ETIMEDOUT || e == EHOSTUNREACH ||
           e == ENETUNREACH || e == EPIPE || e == ECONNABORTED || e == EADDRNOTAVAIL;
}

static enum evhttp_cmd_type method_type(const char *method)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {
        {"GET", EVHTTP_REQ_GET},       {"POST", EVHTTP_REQ_POST},   {"PUT", EVHTTP_REQ_PUT},
        {"DELETE", EVHTTP_REQ_DELETE}, {"PATCH", EVHTTP_REQ_PATCH}, {"HEAD", EVHTTP_REQ_HEAD},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(methods[i].name, method))
            return methods[i].type;
    return EVHTTP_REQ_POST; /* the agent sends only the methods above */
}

static void drop_connection(struct evh *e)
{
    if (e->conn)
        evhttp_connection_free(e->conn);
    e->conn = NULL;
    e->reused = false;
}

/* One attempt, given ms_left of the request's timeout. Returns the status or
 * 0 (why filled in); *retry says whether a failure found a kept-alive
 * connection closed, so that a new one may help. */
static long attempt(struct client *c, long ms_left, enum evhttp_cmd_type type, const char *path,
                    const void *body, size_t n, bool gzip, struct buf *resp, char *why,
                    size_t why_len, bool *retry)
{
    struct evh *e = c->impl;
    *retry = false;
    if (!e->conn) {
        e->conn = evhttp_connection_base_new(e->base, NULL, e->host, (unsigned short)e->port);
        if (!e->conn) {
            snprintf(why, why_len, "cannot create a connection to %s", e->host_header);
            return 0;
        }
        struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv(e->conn, &tv);
        evhttp_connection_set_max_body_size(e->conn, MAX_RESPONSE_BYTES);
    }
    bool reused = e->reused;
    size_t resp_len0 = resp ? resp->len : 0;
    struct call k = {.resp = resp};
    struct evhttp_request *req = evhttp_request_new(on_done, &k);
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char ua[64];
    client_user_agent(ua, sizeof ua);
    evhttp_add_header(h, "Host", e->host_header);
    evhttp_add_header(h, "User-Agent", ua);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (gzip)
        evhttp_add_header(h, "Content-Encoding", "gzip");
    if (c->api_key)
        evhttp_add_header(h, "X-Api-Key", c->api_key);
    if (body && n)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, n);
    if (type != EVHTTP_REQ_GET && type != EVHTTP_REQ_HEAD) {
        char len[32];
        snprintf(len, sizeof len, "%zu", body ? n : 0);
        evhttp_add_header(h, "Content-Length", len);
    }
    struct buf uri = BUF_INIT;
    buf_puts(&uri, e->prefix);
    buf_puts(&uri, path);
    k.req = req;
    if (evhttp_make_request(e->conn, req, type, uri.data) != 0) {
        /* libevent has freed req */
        buf_free(&uri);
        snprintf(why, why_len, "cannot send the request");
        drop_connection(e);
        return 0;
    }
    buf_free(&uri);
    e->reused = true;
    struct event *deadline = evtimer_new(e->base, on_deadline, &k);
    struct timeval tv = {ms_left / 1000, (ms_left % 1000) * 1000};
    evtimer_add(deadline, &tv);
    while (!k.done && !k.expired)
        if (event_base_loop(e->base, EVLOOP_ONCE) < 0)
            break;
    event_free(deadline);
    if (k.status > 0)
        return k.status;
    if (resp) /* no answer: drop whatever part of one came */
        resp->len = resp_len0;
    if (k.expired) {
        snprintf(why, why_len, "timeout after %ld ms", c->timeout_ms);
    } else if (k.failed && !reused && k.err == EVREQ_HTTP_EOF) {
        /* libevent reports a name that does not resolve this way too */
        snprintf(why, why_len,
                 "cannot connect to %s, or the server closed the connection unanswered%s%s",
                 e->host_header, sock_err_says_why(k.sock_err) ? ": " : "",
                 sock_err_says_why(k.sock_err) ? strerror(k.sock_err) : "");
    } else if (k.failed) {
        if (sock_err_says_why(k.sock_err))
            snprintf(why, why_len, "%s: %s", error_text(k.err), strerror(k.sock_err));
        else
            snprintf(why, why_len, "%s", error_text(k.err));
        *retry = reused && k.err == EVREQ_HTTP_EOF;
    } else if (sock_err_says_why(k.sock_err)) {
        snprintf(why, why_len, "cannot connect to %s: %s", e->host_header, strerror(k.sock_err));
    } else {
        /* libevent says no more (a refused connection, for one) */
        snprintf(why, why_len, "cannot connect to %s", e->host_header);
    }
    /* a connection that failed is not trusted with the next request */
    drop_connection(e);
    return 0;
}

static long evh_request(struct client *c, const char *method, const char *path, const void *body,
                        size_t n, bool gzip, struct buf *resp, char *why, size_t why_len)
{
    struct evh *e = c->impl;
    /* let libevent see a close of the kept-alive connection that happened
     * while the agent slept, so the request goes on a new connection */
    event_base_loop(e->base, EVLOOP_NONBLOCK);
    enum evhttp_cmd_type type = method_type(method);
    /* timeout_ms bounds the request, a retry included (client.h) */
    int64_t deadline = mono_ns() + (int64_t)c->timeout_ms * 1000000;
    bool retry;
    long st = attempt(c, c->timeout_ms, type, path, body, n, gzip, resp, why, why_len, &retry);
    long left = (long)((deadline - mono_ns()) / 1000000);
    if (!st && retry && left > 0)
        st = attempt(c, left, type, path, body, n, gzip, resp, why, why_len, &retry);
    return st;
}

static void evh_free_impl(void *impl)
{
    struct evh *e = impl;
    drop_connection(e);
    event_base_free(e->base);
    free(e->host);
    free(e->host_header);
    free(e->prefix);
    free(e);
}

static const struct client_ops evh_ops = {"evhttp", evh_request, evh_free_impl};

int client_evhttp_init(struct client *c, char *why, size_t why_len)
{
    struct evhttp_uri *u = evhttp_uri_parse(c->base);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!host || !*host || !client_url_is(c->base, "http") || evhttp_uri_get_userinfo(u) ||
        evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u)) {
        snprintf(why, why_len,
                 "cannot use \"%s\" as the server's URL (want http://host[:port][/path])", c->base);
        if (u)
            evhttp_uri_free(u);
        return -1;
    }
    struct evh *e = xcalloc(1, sizeof *e);
    e->base = event_base_new();
    if (!e->base)
        abort();
    /* an IPv6 literal keeps its brackets in the Host header, not in connect */
    size_t hn = strlen(host);
    if (host[0] == '[' && hn > 2 && host[hn - 1] == ']')
        e->host = xstrndup(host + 1, hn - 2);
    else
        e->host = xstrdup(host);
    int port = evhttp_uri_get_port(u);
    e->port = port > 0 ? port : 80;
    struct buf hh = BUF_INIT;
    buf_puts(&hh, host);
    if (port > 0)
        buf_printf(&hh, ":%d", port);
    e->host_header = buf_steal(&hh);
    const char *p = evhttp_uri_get_path(u);
    e->prefix = xstrdup(p ? p : "");
    evhttp_uri_free(u);
    /* a write to a connection the server closed must fail with EPIPE, not
     * kill the agent (libcurl does the same for the full binary) */
    signal(SIGPIPE, SIG_IGN);
    c->ops = &evh_ops;
    c->impl = e;
    return 0;
}
