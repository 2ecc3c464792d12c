/*
 * server.h - the running server's shared state, and `saba server` itself.
 *
 * One struct saba_server is shared by the HTTP handlers and the Graphite
 * listener: the storage engine (NULL until WAL replay has finished, which is
 * what /-/ready reports), the input limits and query settings, and counters
 * exported on /metrics.
 */
#ifndef SABA_SERVER_SERVER_H
#define SABA_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "server/config.h"
#include "storage/batch.h"
#include "storage/storage.h"

struct meta;

enum ingest_proto {
    PROTO_INFLUX,
    PROTO_JSON,
    PROTO_GRAPHITE,
    PROTO_REMOTE_WRITE,
    PROTO_SCRAPE,
    PROTO_COUNT
};

extern const char *const ingest_proto_names[PROTO_COUNT];

struct saba_server {
    const struct saba_config *cfg;
    struct storage *_Atomic storage; /* set once replay is done */
    struct meta *_Atomic meta;       /* hosts and checks (meta/meta.h), set with storage */
    struct batch_limits limits;
    _Atomic uint64_t ingested[PROTO_COUNT]; /* samples acknowledged */
    _Atomic uint64_t rejected[PROTO_COUNT]; /* requests or lines refused as bad input */
    _Atomic uint64_t failed[PROTO_COUNT];   /* writes that storage could not take */
    _Atomic uint64_t skipped_string_fields; /* line protocol string fields */
    _Atomic uint64_t queries;
};

/* `saba server [flags]`: run until SIGTERM/SIGINT. Returns the exit status. */
int server_main(int argc, char **argv);

/* Append a batch through the server's storage: 0, or a SABA_E* code with err
 * set. SABA_EIO from here means "storage unavailable" (not ready or failing). */
int server_append(struct saba_server *srv, enum ingest_proto proto, const struct batch *b,
                  struct saba_err *err);

#endif
