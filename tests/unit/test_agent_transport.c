/*
 * test_agent_transport.c - the agent's HTTP transport (agent/client.h) held
 * to its contract, for both implementations: evhttp (saba-agent's http://)
 * and libcurl (called through the dlopen'ed table, as saba-agent's https://
 * does; the same code serves `saba agent` with libcurl linked).
 *
 * The server is libevent's evhttp server in a thread of this process; it
 * records what arrived and answers with the status the test asks for.
 * Linked against saba-agent's objects (see the Makefile's LEAN_UNIT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "agent/client_internal.h"
#include "agent/curl_api.h"
#include "base/timeutil.h"
#include "unit.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the server ------------------------------------------------------------------ */

struct seen {
    char method[16];
    char uri[256];
    char api_key[64];
    char encoding[32];
    char content_type[64];
    char body[256];
    size_t body_len;
    const void *conn; /* identifies the connection the request came on */
};

struct server {
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    pthread_t thread;
    atomic_int stop;
    int port;
    pthread_mutex_t lock;
    int status; /* the next answers' status */
    struct seen seen[16];
    int nseen;
    const void *conns[16]; /* distinct connections seen */
    int nconns;
};

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t n)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(out, n, "%s", v ? v : "");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    pthread_mutex_lock(&s->lock);
    struct seen *w = &s->seen[s->nseen < 16 ? s->nseen++ : 15];
    static const struct {
        enum evhttp_cmd_type t;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"}, {EVHTTP_REQ_POST, "POST"}, {EVHTTP_REQ_PUT, "PUT"}};
    snprintf(w->method, sizeof w->method, "?");
    for (size_t i = 0; i < 3; i++)
        if (names[i].t == evhttp_request_get_command(req))
            snprintf(w->method, sizeof w->method, "%s", names[i].name);
    snprintf(w->uri, sizeof w->uri, "%s", evhttp_request_get_uri(req));
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    copy_header(h, "X-Api-Key", w->api_key, sizeof w->api_key);
    copy_header(h, "Content-Encoding", w->encoding, sizeof w->encoding);
    copy_header(h, "Content-Type", w->content_type, sizeof w->content_type);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    w->body_len = evbuffer_get_length(in);
    size_t n = w->body_len < sizeof w->body - 1 ? w->body_len : sizeof w->body - 1;
    evbuffer_remove(in, w->body, n);
    w->body[n] = '\0';
    w->conn = evhttp_request_get_connection(req);
    int known = 0;
    for (int i = 0; i < s->nconns; i++)
        known |= s->conns[i] == w->conn;
    if (!known && s->nconns < 16)
        s->conns[s->nconns++] = w->conn;
    int status = s->status;
    pthread_mutex_unlock(&s->lock);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"answer\":%d}", status);
    evhttp_send_reply(req, status, status < 300 ? "OK" : "Error", out);
    evbuffer_free(out);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    if (atomic_load(&s->stop))
        event_base_loopbreak(s->base);
}

static void *server_thread(void *arg)
{
    struct server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

/* idle_timeout_s > 0: the server closes a kept-alive connection idle that long */
static struct server *server_start(int idle_timeout_s)
{
    struct server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->status = 200;
    s->base = event_base_new();
    s->http = evhttp_new(s->base);
    evhttp_set_gencb(s->http, on_request, s);
    if (idle_timeout_s > 0)
        evhttp_set_timeout(s->http, idle_timeout_s);
    struct evhttp_bound_socket *b = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(b);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
    s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    struct timeval tv = {0, 20000};
    event_add(s->tick, &tv);
    pthread_create(&s->thread, NULL, server_thread, s);
    return s;
}

static void server_stop(struct server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    event_free(s->tick);
    evhttp_free(s->http);
    event_base_free(s->base);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the implementations under test ------------------------------------------------ */

enum impl { IMPL_EVHTTP, IMPL_CURL };

static struct client *make_client(enum impl impl, const char *url, const char *key, long timeout_ms)
{
    char why[256] = "";
    struct client *c = client_alloc(url, key, timeout_ms);
    int rc;
    if (impl == IMPL_EVHTTP) {
        rc = client_evhttp_init(c, why, sizeof why);
    } else {
        const struct curl_api *api = curl_api_dlopen(why, sizeof why);
        assert_non_null(api);
        rc = client_curl_init(c, api, why, sizeof why);
    }
    if (rc != 0)
        fail_msg("client init: %s", why);
    return c;
}

static double now_s(void)
{
    return mono_ns() / 1e9;
}

/* ---- the contract -------------------------------------------------------------------- */

/* Method, path under the URL's prefix, headers and body arrive; the status and
 * the answer come back; one connection carries every request. */
static void test_requests_headers_and_keep_alive(void **state)
{
    enum impl impl = *(enum impl *)*state;
    struct server *s = server_start(0);
    char url[128], why[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/pre/", s->port);
    struct client *c = make_client(impl, url, "k-123", 5000);
    struct buf resp = BUF_INIT;

    s->status = 201;
    long st = client_request(c, "POST", "/api/v0/metrics", "\x1f\x8b\x00zz", 5, true, &resp, why,
                             sizeof why);
    assert_int_equal(st, 201);
    assert_string_equal(resp.data, "{\"answer\":201}");
    s->status = 503;
    st = client_request(c, "PUT", "/api/v0/hosts/h1", "{}", 2, false, NULL, why, sizeof why);
    assert_int_equal(st, 503);
    s->status = 200;
    buf_reset(&resp);
    st = client_request(c, "POST", "/api/v0/hosts/h1/retire", NULL, 0, false, &resp, why,
                        sizeof why);
    assert_int_equal(st, 200);
    assert_string_equal(resp.data, "{\"answer\":200}");

    pthread_mutex_lock(&s->lock);
    assert_int_equal(s->nseen, 3);
    assert_string_equal(s->seen[0].method, "POST");
    assert_string_equal(s->seen[0].uri, "/pre/api/v0/metrics");
    assert_string_equal(s->seen[0].api_key, "k-123");
    assert_string_equal(s->seen[0].encoding, "gzip");
    assert_string_equal(s->seen[0].content_type, "application/json");
    assert_int_equal(s->seen[0].body_len, 5);
    assert_memory_equal(s->seen[0].body, "\x1f\x8b\x00zz", 5);
    assert_string_equal(s->seen[1].method, "PUT");
    assert_string_equal(s->seen[1].encoding, "");
    assert_string_equal(s->seen[1].body, "{}");
    assert_string_equal(s->seen[2].uri, "/pre/api/v0/hosts/h1/retire");
    assert_int_equal(s->seen[2].body_len, 0);
    assert_int_equal(s->nconns, 1); /* kept alive */
    pthread_mutex_unlock(&s->lock);

    buf_free(&resp);
    client_free(c);
    server_stop(s);
}

/* Without an API key no X-Api-Key header is sent. */
static void test_no_api_key(void **state)
{
    enum impl impl = *(enum impl *)*state;
    struct server *s = server_start(0);
    char url[128], why[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    struct client *c = make_client(impl, url, NULL, 5000);
    assert_int_equal(client_request(c, "POST", "/x", "{}", 2, false, NULL, why, sizeof why), 200);
    pthread_mutex_lock(&s->lock);
    assert_string_equal(s->seen[0].uri, "/x");
    assert_string_equal(s->seen[0].api_key, "");
    pthread_mutex_unlock(&s->lock);
    client_free(c);
    server_stop(s);
}

/* The server closed the kept-alive connection while the client was idle: the
 * next request still gets its answer, on a new connection. */
static void test_server_closed_idle_connection(void **state)
{
    enum impl impl = *(enum impl *)*state;
    struct server *s = server_start(1);
    char url[128], why[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    struct client *c = make_client(impl, url, NULL, 5000);
    assert_int_equal(client_request(c, "POST", "/a", "{}", 2, false, NULL, why, sizeof why), 200);
    usleep(2200 * 1000); /* the server's idle timeout is 1 s (checked each second) */
    why[0] = '\0';
    long st = client_request(c, "POST", "/b", "{}", 2, false, NULL, why, sizeof why);
    if (st != 200)
        fail_msg("second request: %ld %s", st, why);
    pthread_mutex_lock(&s->lock);
    assert_int_equal(s->nseen, 2);
    assert_int_equal(s->nconns, 2);
    pthread_mutex_unlock(&s->lock);
    client_free(c);
    server_stop(s);
}

/* Nothing listens: 0 at once, with a reason. */
static void test_connection_refused(void **state)
{
    enum impl impl = *(enum impl *)*state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd); /* a port that was free a moment ago: nothing listens on it */
    char url[128], why[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sin.sin_port));
    struct client *c = make_client(impl, url, NULL, 5000);
    double t0 = now_s();
    struct buf resp = BUF_INIT;
    assert_int_equal(client_request(c, "POST", "/x", "{}", 2, false, &resp, why, sizeof why), 0);
    assert_true(now_s() - t0 < 2);
    if (!strstr(why, "onnect")) /* "cannot connect to ...", "Couldn't connect to server" */
        fail_msg("reason: \"%s\"", why);
    assert_int_equal(resp.len, 0);
    /* and again: a failed connection does not break the client */
    why[0] = '\0';
    assert_int_equal(client_request(c, "POST", "/x", "{}", 2, false, NULL, why, sizeof why), 0);
    assert_true(why[0] != '\0');
    buf_free(&resp);
    client_free(c);
}

/* A server that accepts the connection and never answers: the request ends at
 * its timeout with 0 and a reason. */
static void test_hung_server_times_out(void **state)
{
    enum impl impl = *(enum impl *)*state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 8), 0); /* the kernel completes handshakes; nobody reads */
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    char url[128], why[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sin.sin_port));
    struct client *c = make_client(impl, url, NULL, 400);
    double t0 = now_s();
    assert_int_equal(client_request(c, "POST", "/x", "{}", 2, false, NULL, why, sizeof why), 0);
    double took = now_s() - t0;
    if (took < 0.35 || took > 3)
        fail_msg("took %.3f s for a 0.4 s timeout", took);
    assert_true(why[0] != '\0');
    client_free(c);
    close(fd);
}

/* ---- choosing the implementation (saba-agent's client_new) ------------------------------ */

static void test_client_new_picks_by_scheme(void **state)
{
    (void)state;
    char why[256] = "";
    struct client *c = client_new("http://127.0.0.1:1", NULL, 1000, why, sizeof why);
    assert_non_null(c);
    assert_string_equal(client_kind(c), "evhttp");
    client_free(c);
    c = client_new("https://127.0.0.1:1", "k", 1000, why, sizeof why);
    assert_non_null(c); /* libcurl is a build dependency, so it is there to load */
    assert_string_equal(client_kind(c), "curl");
    client_free(c);
    why[0] = '\0';
    assert_null(client_new("ftp://127.0.0.1:1", NULL, 1000, why, sizeof why));
    assert_non_null(strstr(why, "not an http"));
    why[0] = '\0';
    assert_null(client_new("http://", NULL, 1000, why, sizeof why));
    assert_true(why[0] != '\0');
    client_free(NULL);
}

static enum impl evhttp_impl = IMPL_EVHTTP, curl_impl = IMPL_CURL;

/* each test twice, named by the implementation */
#define BOTH(t)                                                                                    \
    {#t " (evhttp)", t, NULL, NULL, &evhttp_impl},                                                 \
    {                                                                                              \
#t " (curl)", t, NULL, NULL, &curl_impl                                                    \
    }

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        BOTH(test_requests_headers_and_keep_alive),
        BOTH(test_no_api_key),
        BOTH(test_server_closed_idle_connection),
        BOTH(test_connection_refused),
        BOTH(test_hung_server_times_out),
        cmocka_unit_test(test_client_new_picks_by_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
