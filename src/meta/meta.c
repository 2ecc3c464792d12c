/*
 * meta.c - the SQLite-backed metadata store (see meta.h).
 *
 * Schema (version 1, in user_version):
 *   hosts(id PK, name, display_name, custom_identifier, status, meta JSON text,
 *         created_at, updated_at, retired_at NULL)      times in Unix ms
 *   host_roles(host_id, service, role)                    for role filters
 *   check_status(host_id, name, status, message, occurred_at, interval)  latest
 *   check_history(id, host_id, name, status, message, occurred_at)       bounded
 * The database runs in WAL mode with synchronous=NORMAL: a crash loses at
 * most the last transactions, never corrupts the file; agents re-register
 * and re-report on their own, so the inventory heals.
 */
#include "meta/meta.h"
#include "base/alloc.h"
#include "base/num.h"
#include "base/timeutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct meta {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS hosts(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " display_name TEXT NOT NULL DEFAULT '', custom_identifier TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'working', meta TEXT NOT NULL DEFAULT '{}',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, retired_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS hosts_custom ON hosts(custom_identifier);"
    "CREATE TABLE IF NOT EXISTS host_roles(host_id TEXT NOT NULL, service TEXT NOT NULL,"
    " role TEXT NOT NULL, PRIMARY KEY(host_id, service, role));"
    "CREATE TABLE IF NOT EXISTS check_status(host_id TEXT NOT NULL, name TEXT NOT NULL,"
    " status TEXT NOT NULL, message TEXT NOT NULL, occurred_at INTEGER NOT NULL,"
    " interval INTEGER NOT NULL, PRIMARY KEY(host_id, name));"
    "CREATE TABLE IF NOT EXISTS check_history(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " host_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL,"
    " occurred_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS check_history_key ON check_history(host_id, name, id);"
    "PRAGMA user_version=1;";

static int db_err(struct meta *m, struct saba_err *err, const char *what)
{
    return err_set(err, SABA_EIO, 0, "metadata store: %s: %s", what, sqlite3_errmsg(m->db));
}

int meta_open(const char *data_dir, struct meta **out, struct saba_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.db", data_dir);
    struct meta *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    int rc = sqlite3_open_v2(
        path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, SABA_EIO, 0, "cannot open %s: %s", path,
                m->db ? sqlite3_errmsg(m->db) : "out of memory");
        meta_close(m);
        return SABA_EIO;
    }
    sqlite3_busy_timeout(m->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(m->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_exec(m->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, SABA_EIO, 0, "cannot initialize %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        meta_close(m);
        return SABA_EIO;
    }
    *out = m;
    return 0;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    sqlite3_close(m->db);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

bool meta_status_valid(const char *s)
{
    return !strcmp(s, "working") || !strcmp(s, "standby") || !strcmp(s, "maintenance") ||
           !strcmp(s, "poweroff");
}

/* Prepare, bind texts/ints by a format ("s" text, "i" int64), step once. */
static sqlite3_stmt *prep(struct meta *m, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 's') {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    return st;
}

/* Run a statement to completion. 0 or -1. */
static int exec1(sqlite3_stmt *st)
{
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void new_id(char out[META_HOST_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[META_HOST_ID_LEN];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        abort(); /* the kernel's CSPRNG does not fail after boot */
    for (int i = 0; i < META_HOST_ID_LEN; i++)
        out[i] = alphabet[r[i] % 62];
    out[META_HOST_ID_LEN] = '\0';
}

static int put_roles(struct meta *m, const char *id, const struct meta_host_in *h)
{
    if (exec1(prep(m, "DELETE FROM host_roles WHERE host_id=?", "s", id)))
        return -1;
    for (size_t i = 0; i < h->nroles; i++) {
        const char *colon = strchr(h->roles[i], ':');
        char svc[64];
        snprintf(svc, sizeof svc, "%.*s", (int)(colon - h->roles[i]), h->roles[i]);
        if (exec1(prep(m, "INSERT OR IGNORE INTO host_roles VALUES(?,?,?)", "sss", id, svc,
                       colon + 1)))
            return -1;
    }
    return 0;
}

/* With m->mu held, inside a transaction. */
static int update_locked(struct meta *m, const char *id, const struct meta_host_in *h)
{
    if (exec1(prep(m,
                   "UPDATE hosts SET name=?, display_name=?, custom_identifier=?, meta=?,"
                   " updated_at=? WHERE id=? AND retired_at IS NULL",
                   "ssssis", h->name, h->display_name, h->custom_identifier, h->meta_json, now_ms(),
                   id)))
        return -1;
    return put_roles(m, id, h);
}

static bool active_host_exists(struct meta *m, const char *id)
{
    sqlite3_stmt *st = prep(m, "SELECT 1 FROM hosts WHERE id=? AND retired_at IS NULL", "s", id);
    bool found = st && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int txn(struct meta *m, const char *sql)
{
    return sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int meta_host_create(struct meta *m, const struct meta_host_in *h,
                     char id_out[META_HOST_ID_LEN + 1], bool *created, struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (txn(m, "BEGIN IMMEDIATE")) {
        rc = db_err(m, err, "begin");
        goto out;
    }
    char id[META_HOST_ID_LEN + 1] = "";
    if (h->custom_identifier[0]) {
        sqlite3_stmt *st = prep(m,
                                "SELECT id FROM hosts WHERE custom_identifier=? AND retired_at IS "
                                "NULL ORDER BY created_at LIMIT 1",
                                "s", h->custom_identifier);
        if (st && sqlite3_step(st) == SQLITE_ROW)
            snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    *created = !id[0];
    int bad;
    if (id[0]) {
        bad = update_locked(m, id, h);
    } else {
        new_id(id);
        int64_t now = now_ms();
        bad = exec1(prep(m,
                         "INSERT INTO hosts(id,name,display_name,custom_identifier,meta,"
                         "created_at,updated_at) VALUES(?,?,?,?,?,?,?)",
                         "sssssii", id, h->name, h->display_name, h->custom_identifier,
                         h->meta_json, now, now)) ||
              put_roles(m, id, h);
    }
    if (bad || txn(m, "COMMIT")) {
        rc = db_err(m, err, "register host");
        txn(m, "ROLLBACK");
        goto out;
    }
    memcpy(id_out, id, sizeof id);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int meta_host_update(struct meta *m, const char *id, const struct meta_host_in *h,
                     struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (txn(m, "BEGIN IMMEDIATE")) {
        rc = db_err(m, err, "begin");
    } else if (!active_host_exists(m, id)) {
        txn(m, "ROLLBACK");
        rc = err_set(err, SABA_ENOTFOUND, 0, "no host with id \"%s\"", id);
    } else if (update_locked(m, id, h) || txn(m, "COMMIT")) {
        rc = db_err(m, err, "update host");
        txn(m, "ROLLBACK");
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Run one UPDATE on an active host; SABA_ENOTFOUND if it changed nothing. */
static int update_one(struct meta *m, sqlite3_stmt *st, const char *id, struct saba_err *err)
{
    int rc = 0;
    if (!st || sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(m, err, "update host");
    else if (sqlite3_changes(m->db) == 0)
        rc = err_set(err, SABA_ENOTFOUND, 0, "no host with id \"%s\"", id);
    sqlite3_finalize(st);
    return rc;
}

int meta_host_set_status(struct meta *m, const char *id, const char *status, struct saba_err *err)
{
    if (!meta_status_valid(status))
        return err_set(err, SABA_EINVAL, 0,
                       "invalid status \"%.40s\" (working, standby, maintenance or poweroff)",
                       status);
    pthread_mutex_lock(&m->mu);
    int rc = update_one(m,
                        prep(m,
                             "UPDATE hosts SET status=?, updated_at=? WHERE id=? AND retired_at "
                             "IS NULL",
                             "sis", status, now_ms(), id),
                        id, err);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int meta_host_retire(struct meta *m, const char *id, struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    int64_t now = now_ms();
    int rc = update_one(m,
                        prep(m,
                             "UPDATE hosts SET retired_at=?, updated_at=? WHERE id=? AND "
                             "retired_at IS NULL",
                             "iis", now, now, id),
                        id, err);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void put_col_str(struct buf *b, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    buf_put_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

#define HOST_COLS                                                                                  \
    "id, name, display_name, custom_identifier, status, meta, created_at, updated_at, "            \
    "retired_at"

/* One row of HOST_COLS as a JSON object (roles looked up). */
static void put_host(struct meta *m, sqlite3_stmt *st, struct buf *b)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    buf_puts(b, "{\"id\":");
    put_col_str(b, st, 0);
    buf_puts(b, ",\"name\":");
    put_col_str(b, st, 1);
    buf_puts(b, ",\"display_name\":");
    put_col_str(b, st, 2);
    buf_puts(b, ",\"custom_identifier\":");
    put_col_str(b, st, 3);
    buf_puts(b, ",\"status\":");
    put_col_str(b, st, 4);
    buf_puts(b, ",\"roles\":[");
    sqlite3_stmt *rs =
        prep(m, "SELECT service, role FROM host_roles WHERE host_id=? ORDER BY 1,2", "s", id);
    for (int i = 0; rs && sqlite3_step(rs) == SQLITE_ROW; i++) {
        char role[160];
        snprintf(role, sizeof role, "%s:%s", (const char *)sqlite3_column_text(rs, 0),
                 (const char *)sqlite3_column_text(rs, 1));
        if (i)
            buf_putc(b, ',');
        buf_put_json_str(b, role, strlen(role));
    }
    sqlite3_finalize(rs);
    /* meta was stored as jansson's compact dump of a validated object */
    buf_printf(b, "],\"meta\":%s,\"created_at\":", (const char *)sqlite3_column_text(st, 5));
    num_put_ts(b, sqlite3_column_int64(st, 6));
    buf_puts(b, ",\"updated_at\":");
    num_put_ts(b, sqlite3_column_int64(st, 7));
    buf_puts(b, ",\"retired_at\":");
    if (sqlite3_column_type(st, 8) == SQLITE_NULL)
        buf_puts(b, "null");
    else
        num_put_ts(b, sqlite3_column_int64(st, 8));
    buf_putc(b, '}');
}

int meta_host_get_json(struct meta *m, const char *id, struct buf *out, struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    sqlite3_stmt *st = prep(m, "SELECT " HOST_COLS " FROM hosts WHERE id=?", "s", id);
    int step = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (step == SQLITE_ROW)
        put_host(m, st, out);
    else if (step == SQLITE_DONE)
        rc = err_set(err, SABA_ENOTFOUND, 0, "no host with id \"%s\"", id);
    else
        rc = db_err(m, err, "get host");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int meta_hosts_list_json(struct meta *m, const struct meta_host_filter *f, struct buf *out,
                         struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    sqlite3_stmt *st =
        prep(m,
             "SELECT " HOST_COLS " FROM hosts h WHERE (?1 OR retired_at IS NULL)"
             " AND (?2 IS NULL OR name=?2) AND (?3 IS NULL OR status=?3)"
             " AND (?4 IS NULL OR EXISTS(SELECT 1 FROM host_roles r WHERE r.host_id=h.id"
             " AND r.service=?4 AND (?5 IS NULL OR r.role=?5)))"
             " ORDER BY name, id",
             "issss", (int64_t)f->retired, f->name, f->status, f->service, f->role);
    int rc = 0;
    buf_putc(out, '[');
    int step, n = 0;
    while (st && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++)
            buf_putc(out, ',');
        put_host(m, st, out);
    }
    buf_putc(out, ']');
    if (!st)
        rc = db_err(m, err, "list hosts");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int meta_check_report(struct meta *m, const char *host_id, const struct meta_report_in *r,
                      struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    char msg[META_MAX_MESSAGE + 1];
    size_t n = strlen(r->message);
    if (n > META_MAX_MESSAGE) {
        n = META_MAX_MESSAGE;
        while (n && ((unsigned char)r->message[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(msg, r->message, n);
    msg[n] = '\0';
    if (txn(m, "BEGIN IMMEDIATE")) {
        rc = db_err(m, err, "begin");
        goto out;
    }
    if (!active_host_exists(m, host_id)) {
        txn(m, "ROLLBACK");
        rc = err_set(err, SABA_ENOTFOUND, 0, "no host with id \"%s\"", host_id);
        goto out;
    }
    /* a report older than the stored one (a late retry) goes to history only */
    bool bad =
        exec1(prep(m,
                   "INSERT INTO check_status VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(host_id, name)"
                   " DO UPDATE SET status=?3, message=?4, occurred_at=?5, interval=?6"
                   " WHERE excluded.occurred_at >= check_status.occurred_at",
                   "ssssii", host_id, r->name, r->status, msg, r->occurred_ms, r->interval_s)) ||
        exec1(prep(m,
                   "INSERT INTO check_history(host_id,name,status,message,occurred_at)"
                   " VALUES(?,?,?,?,?)",
                   "ssssi", host_id, r->name, r->status, msg, r->occurred_ms)) ||
        exec1(prep(m,
                   "DELETE FROM check_history WHERE host_id=?1 AND name=?2 AND id <= (SELECT id"
                   " FROM check_history WHERE host_id=?1 AND name=?2 ORDER BY id DESC LIMIT 1"
                   " OFFSET ?3)",
                   "ssi", host_id, r->name, (int64_t)META_CHECK_HISTORY));
    if (bad || txn(m, "COMMIT")) {
        rc = db_err(m, err, "store check report");
        txn(m, "ROLLBACK");
    }
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void put_report(sqlite3_stmt *st, struct buf *b, bool with_interval)
{
    buf_puts(b, "{\"host_id\":");
    put_col_str(b, st, 0);
    buf_puts(b, ",\"name\":");
    put_col_str(b, st, 1);
    buf_puts(b, ",\"status\":");
    put_col_str(b, st, 2);
    buf_puts(b, ",\"message\":");
    put_col_str(b, st, 3);
    buf_puts(b, ",\"occurred_at\":");
    num_put_ts(b, sqlite3_column_int64(st, 4));
    if (with_interval)
        buf_printf(b, ",\"interval\":%lld", (long long)sqlite3_column_int64(st, 5));
    buf_putc(b, '}');
}

/* Append the rows of st (report columns) as a JSON array, finalize st and
 * unlock m->mu (taken by the caller before preparing st). */
static int reports_json(struct meta *m, sqlite3_stmt *st, bool with_interval, const char *what,
                        struct buf *out, struct saba_err *err)
{
    buf_putc(out, '[');
    for (int n = 0; st && sqlite3_step(st) == SQLITE_ROW; n++) {
        if (n)
            buf_putc(out, ',');
        put_report(st, out, with_interval);
    }
    buf_putc(out, ']');
    int rc = st ? 0 : db_err(m, err, what);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int meta_checks_list_json(struct meta *m, const char *host_id, struct buf *out,
                          struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    sqlite3_stmt *st = prep(m,
                            "SELECT host_id, name, status, message, occurred_at, interval FROM"
                            " check_status WHERE ?1 IS NULL OR host_id=?1 ORDER BY host_id, name",
                            "s", host_id);
    return reports_json(m, st, true, "list checks", out, err);
}

int meta_check_history_json(struct meta *m, const char *host_id, const char *name, int limit,
                            struct buf *out, struct saba_err *err)
{
    pthread_mutex_lock(&m->mu);
    sqlite3_stmt *st = prep(m,
                            "SELECT host_id, name, status, message, occurred_at FROM check_history"
                            " WHERE host_id=? AND name=? ORDER BY id DESC LIMIT ?",
                            "ssi", host_id, name, (int64_t)limit);
    return reports_json(m, st, false, "check history", out, err);
}
