/*
 * graphite_listener.h - the Graphite plaintext TCP listener.
 *
 * One thread accepts; each connection gets a thread that reads lines,
 * parses them (ingest/graphite.h) and appends them in batches. Graphite has
 * no acknowledgement, so each line stands alone: a bad line is counted,
 * logged (rate-limited, with peer and line number) and skipped, and the
 * connection stays open.
 */
#ifndef SABA_SERVER_GRAPHITE_LISTENER_H
#define SABA_SERVER_GRAPHITE_LISTENER_H

#include "base/err.h"
#include "server/server.h"

struct graphite_listener;

/* Start serving on a listening socket (ownership passes to the listener). */
int graphite_start(struct saba_server *srv, int listen_fd, struct graphite_listener **out,
                   struct saba_err *err);
/* Stop accepting, close connections (their complete lines already read are
 * stored), join threads. graphite_stop(NULL) does nothing. */
void graphite_stop(struct graphite_listener *g);

#endif
