/*
 * meta.h - the metadata store: the host inventory and check results, in
 * SQLite (DATA/meta.db, as DESIGN.md says).
 *
 * Hosts are registered by agents (POST /api/v0/hosts) and keep a stable id
 * the agent stores; a host has a name, display name, custom identifier,
 * roles ("service:role"), a status (working, standby, maintenance,
 * poweroff) and free-form metadata (a JSON object). Retired hosts stay in the
 * store (for history) but are no longer listed unless asked for. Check
 * reports keep the latest status per (host, check) and a bounded history.
 *
 * All functions are safe to call from several threads (one connection, one
 * mutex: metadata writes are rare next to metric writes). Functions return
 * 0 or a SABA_E* code with err filled in.
 */
#ifndef SABA_META_META_H
#define SABA_META_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define META_HOST_ID_LEN   12   /* [0-9A-Za-z], random */
#define META_CHECK_HISTORY 1000 /* reports kept per (host, check) */
#define META_MAX_ROLES     64
#define META_MAX_MESSAGE   1024

struct meta;

/* A host as the agent sends it (see meta_host_parse). Strings are borrowed. */
struct meta_host_in {
    const char *name;
    const char *display_name;      /* "" if none */
    const char *custom_identifier; /* "" if none */
    const char *roles[META_MAX_ROLES];
    size_t nroles;
    char *meta_json; /* a JSON object, compact; owned (free with meta_host_in_free) */
    void *json;      /* the parsed document the strings point into */
};

struct meta_report_in {
    const char *name;
    const char *status; /* OK WARNING CRITICAL UNKNOWN */
    const char *message;
    int64_t occurred_ms;
    int64_t interval_s;
};

/* Parse and validate the body of POST/PUT /api/v0/hosts. On error nothing
 * needs freeing; on success free with meta_host_in_free. */
int meta_host_parse(const char *body, size_t n, struct meta_host_in *out, struct saba_err *err);
void meta_host_in_free(struct meta_host_in *h);

/* Parse {"host_id": "...", "reports": [{"name","status","message",
 * "occurred_at","interval"?}, ...]}; calls fn for each report after all of
 * them validated (a request is accepted or refused whole). */
typedef int (*meta_report_fn)(void *ctx, const char *host_id, const struct meta_report_in *r,
                              struct saba_err *err);
int meta_reports_parse(const char *body, size_t n, meta_report_fn fn, void *ctx,
                       struct saba_err *err);

/* Open or create DIR/meta.db. */
int meta_open(const char *data_dir, struct meta **out, struct saba_err *err);
void meta_close(struct meta *m);

/* Register a host: a new id, or, when custom_identifier is set and an active
 * host has it, that host updated (its id in id_out, *created false). */
int meta_host_create(struct meta *m, const struct meta_host_in *h,
                     char id_out[META_HOST_ID_LEN + 1], bool *created, struct saba_err *err);
/* Update a registered, not retired host. SABA_ENOTFOUND otherwise. */
int meta_host_update(struct meta *m, const char *id, const struct meta_host_in *h,
                     struct saba_err *err);
int meta_host_set_status(struct meta *m, const char *id, const char *status, struct saba_err *err);
int meta_host_retire(struct meta *m, const char *id, struct saba_err *err);
/* Append the host as a JSON object. SABA_ENOTFOUND if unknown. */
int meta_host_get_json(struct meta *m, const char *id, struct buf *out, struct saba_err *err);

struct meta_host_filter {
    const char *service, *role, *name, *status; /* NULL = any */
    bool retired;                               /* include retired hosts */
};
/* Append a JSON array of hosts, ordered by name. */
int meta_hosts_list_json(struct meta *m, const struct meta_host_filter *f, struct buf *out,
                         struct saba_err *err);

/* Store a check report (latest + history). SABA_ENOTFOUND if the host is
 * unknown or retired. */
int meta_check_report(struct meta *m, const char *host_id, const struct meta_report_in *r,
                      struct saba_err *err);
/* Latest status of every check (of one host if host_id is not NULL). */
int meta_checks_list_json(struct meta *m, const char *host_id, struct buf *out,
                          struct saba_err *err);
/* Newest first, at most limit reports of one check. */
int meta_check_history_json(struct meta *m, const char *host_id, const char *name, int limit,
                            struct buf *out, struct saba_err *err);

bool meta_status_valid(const char *s);

#endif
