/*
 * graphite_listener.c - Graphite plaintext over TCP (see graphite_listener.h).
 *
 * Shutdown: an eventfd is polled beside every socket; graphite_stop() makes
 * it readable, so every thread leaves its poll, stores what it has parsed,
 * and exits; the stopper waits until the connection count is zero.
 */
#include "server/graphite_listener.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "ingest/graphite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNECTIONS 1024
#define READ_CHUNK      (64 * 1024)
#define FLUSH_SAMPLES   10000 /* append at least this often within one read burst */

struct graphite_listener {
    struct saba_server *srv;
    int listen_fd, stop_fd;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active; /* connection threads alive */
};

struct gconn {
    struct graphite_listener *g;
    int fd;
    char peer[80];
};

static int64_t bad_line_log_ms, store_fail_log_ms;

static void flush(struct gconn *c, struct batch *b)
{
    if (!b->nsamples)
        return;
    struct saba_err err = {0};
    if (server_append(c->g->srv, PROTO_GRAPHITE, b, &err) != 0 &&
        log_ratelimited(&store_fail_log_ms, 10000))
        log_error("graphite", "msg=\"samples not stored\" peer=%s samples=%zu reason=\"%s\"",
                  c->peer, b->nsamples, err.msg);
    batch_reset(b);
}

static void handle_line(struct gconn *c, struct batch *b, const char *line, size_t n, long lineno)
{
    struct saba_err err = {0};
    if (graphite_parse_line(line, n, b->now_ms, b, &err) != 0) {
        atomic_fetch_add(&c->g->srv->rejected[PROTO_GRAPHITE], 1);
        if (log_ratelimited(&bad_line_log_ms, 5000))
            log_warn("graphite", "msg=\"bad line skipped\" peer=%s line=%ld reason=\"%s\"", c->peer,
                     lineno, err.msg);
    }
}

/* Wait until fd is readable (true) or the listener is stopping (false). */
static bool wait_readable(int fd, int stop_fd)
{
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        return !p[1].revents;
    }
}

static void *conn_main(void *arg)
{
    struct gconn *c = arg;
    struct graphite_listener *g = c->g;
    struct batch b;
    batch_init(&b, &g->srv->limits);
    size_t cap = (size_t)g->srv->limits.max_line_bytes + READ_CHUNK + 2;
    char *buf = xmalloc(cap);
    size_t len = 0;
    long lineno = 0;
    bool skipping = false; /* inside an over-long line: drop until its newline */
    while (wait_readable(c->fd, g->stop_fd)) {
        ssize_t r = read(c->fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (len && !skipping)
                handle_line(c, &b, buf, len, ++lineno); /* last line without newline */
            break;
        }
        len += (size_t)r;
        b.now_ms = now_ms();
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl)
                break;
            size_t n = (size_t)(nl - (buf + start));
            lineno++;
            if (!skipping)
                handle_line(c, &b, buf + start, n, lineno);
            skipping = false;
            start += n + 1;
            if (b.nsamples >= FLUSH_SAMPLES)
                flush(c, &b);
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > (size_t)g->srv->limits.max_line_bytes) {
            /* no newline within the limit: refuse this line, keep the connection */
            lineno++;
            atomic_fetch_add(&g->srv->rejected[PROTO_GRAPHITE], 1);
            if (log_ratelimited(&bad_line_log_ms, 5000))
                log_warn("graphite",
                         "msg=\"bad line skipped\" peer=%s line=%ld reason=\"line "
                         "longer than %lld bytes\"",
                         c->peer, lineno, (long long)g->srv->limits.max_line_bytes);
            len = 0;
            skipping = true;
        }
        flush(c, &b);
    }
    flush(c, &b);
    batch_free(&b);
    free(buf);
    close(c->fd);
    free(c);
    pthread_mutex_lock(&g->mu);
    g->active--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct graphite_listener *g = arg;
    while (wait_readable(g->listen_fd, g->stop_fd)) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(g->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&g->mu);
        bool full = g->active >= MAX_CONNECTIONS;
        if (!full)
            g->active++;
        pthread_mutex_unlock(&g->mu);
        if (full) {
            static int64_t last;
            if (log_ratelimited(&last, 10000))
                log_warn("graphite", "msg=\"connection refused: too many connections\" max=%d",
                         MAX_CONNECTIONS);
            close(fd);
            continue;
        }
        struct gconn *c = xcalloc(1, sizeof *c);
        c->g = g;
        c->fd = fd;
        char h[INET6_ADDRSTRLEN] = "?", pt[16] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, pt, sizeof pt,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->peer, sizeof c->peer, "%s:%s", h, pt);
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, conn_main, c) != 0) {
            close(fd);
            free(c);
            pthread_mutex_lock(&g->mu);
            g->active--;
            pthread_mutex_unlock(&g->mu);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

int graphite_start(struct saba_server *srv, int listen_fd, struct graphite_listener **out,
                   struct saba_err *err)
{
    struct graphite_listener *g = xcalloc(1, sizeof *g);
    g->srv = srv;
    g->listen_fd = listen_fd;
    g->stop_fd = eventfd(0, EFD_CLOEXEC);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (g->stop_fd < 0 || pthread_create(&g->acceptor, NULL, accept_main, g) != 0) {
        if (g->stop_fd >= 0)
            close(g->stop_fd);
        close(listen_fd);
        free(g);
        return err_set(err, SABA_EIO, 0, "cannot start the Graphite listener");
    }
    *out = g;
    return 0;
}

void graphite_stop(struct graphite_listener *g)
{
    if (!g)
        return;
    uint64_t one = 1;
    if (write(g->stop_fd, &one, sizeof one) != sizeof one)
        log_error("graphite", "msg=\"cannot signal stop\"");
    pthread_join(g->acceptor, NULL);
    close(g->listen_fd);
    pthread_mutex_lock(&g->mu);
    while (g->active > 0)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    close(g->stop_fd);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
