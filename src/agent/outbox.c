/*
 * outbox.c - memory queue + disk spool of unsent batches (see outbox.h).
 */
#include "agent/outbox.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct item {
    uint64_t seq;
    size_t n;
    char *data; /* NULL for a spooled item */
};

/* A FIFO of items: [head, head + count) modulo cap. */
struct fifo {
    struct item *v;
    size_t head, count, cap;
};

struct outbox {
    char *dir;
    int64_t memory_bytes, spool_bytes;
    struct fifo mem, spool;
    int64_t mem_used, spool_used;
    uint64_t next_seq;
    uint64_t dropped;
    struct buf peeked; /* the spooled batch last read by outbox_peek */
    uint64_t peeked_seq;
};

static void fifo_push(struct fifo *f, struct item it)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct item *v = xmalloc(cap * sizeof *v);
        for (size_t i = 0; i < f->count; i++)
            v[i] = f->v[(f->head + i) % f->cap];
        free(f->v);
        f->v = v;
        f->head = 0;
        f->cap = cap;
    }
    f->v[(f->head + f->count++) % f->cap] = it;
}

static struct item *fifo_first(struct fifo *f)
{
    return f->count ? &f->v[f->head] : NULL;
}

static void fifo_shift(struct fifo *f)
{
    f->head = (f->head + 1) % f->cap;
    f->count--;
}

static void spool_path(const struct outbox *o, uint64_t seq, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".%s", o->dir, seq, ext);
}

/* Delete the oldest spooled batch. */
static void spool_drop_first(struct outbox *o)
{
    struct item *it = fifo_first(&o->spool);
    char path[4200];
    spool_path(o, it->seq, "batch", path, sizeof path);
    unlink(path);
    o->spool_used -= (int64_t)it->n;
    fifo_shift(&o->spool);
}

static int write_file(const char *tmp, const char *path, const void *data, size_t n)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fdatasync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Move the oldest memory batch to the spool (invariant 1), making room under
 * spool_bytes first (invariant 2). */
static void spill_first(struct outbox *o)
{
    struct item *it = fifo_first(&o->mem);
    struct item moved = *it;
    fifo_shift(&o->mem);
    o->mem_used -= (int64_t)moved.n;
    uint64_t dropped = 0;
    while (o->spool.count && o->spool_used + (int64_t)moved.n > o->spool_bytes) {
        spool_drop_first(o);
        dropped++;
    }
    bool fits = (int64_t)moved.n <= o->spool_bytes;
    char tmp[4200], path[4200];
    spool_path(o, moved.seq, "tmp", tmp, sizeof tmp);
    spool_path(o, moved.seq, "batch", path, sizeof path);
    if (!fits || write_file(tmp, path, moved.data, moved.n) != 0) {
        dropped++;
        static int64_t last;
        if (log_ratelimited(&last, 60000))
            log_error("agent", "msg=\"cannot spool a batch\" dir=%s reason=\"%s\"", o->dir,
                      fits ? strerror(errno) : "batch larger than buffer.spool");
    } else {
        struct item spooled = {moved.seq, moved.n, NULL};
        fifo_push(&o->spool, spooled);
        o->spool_used += (int64_t)moved.n;
    }
    free(moved.data);
    if (dropped) {
        o->dropped += dropped;
        log_warn("agent",
                 "msg=\"spool full: dropped the oldest batches\" dropped=%" PRIu64
                 " dropped_total=%" PRIu64 " spool_bytes=%lld",
                 dropped, o->dropped, (long long)o->spool_bytes);
    }
}

static int seq_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct item *)a)->seq, y = ((const struct item *)b)->seq;
    return x < y ? -1 : x > y;
}

int outbox_open(const char *dir, int64_t memory_bytes, int64_t spool_bytes, struct outbox **out,
                struct saba_err *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, SABA_EIO, 0, "cannot create spool directory %s: %m", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, SABA_EIO, 0, "cannot open spool directory %s: %m", dir);
    struct outbox *o = xcalloc(1, sizeof *o);
    o->dir = xstrdup(dir);
    o->memory_bytes = memory_bytes;
    o->spool_bytes = spool_bytes;
    struct item *found = NULL;
    size_t nfound = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t seq;
        char ext[16], extra;
        if (sscanf(de->d_name, "%16" SCNx64 ".%15[a-z]%c", &seq, ext, &extra) != 2 ||
            strlen(de->d_name) != 16 + 1 + strlen(ext))
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (!strcmp(ext, "tmp")) { /* torn by a crash before its rename */
            unlink(path);
            continue;
        }
        struct stat st;
        if (strcmp(ext, "batch") || stat(path, &st) != 0)
            continue;
        if (nfound == cap) {
            cap = cap ? cap * 2 : 64;
            found = xrealloc(found, cap * sizeof *found);
        }
        found[nfound++] = (struct item){seq, (size_t)st.st_size, NULL};
    }
    closedir(d);
    if (nfound)
        qsort(found, nfound, sizeof *found, seq_cmp);
    for (size_t i = 0; i < nfound; i++) {
        fifo_push(&o->spool, found[i]);
        o->spool_used += (int64_t)found[i].n;
        o->next_seq = found[i].seq + 1;
    }
    free(found);
    if (nfound)
        log_info("agent", "msg=\"resuming spooled batches\" batches=%zu bytes=%lld", nfound,
                 (long long)o->spool_used);
    *out = o;
    return 0;
}

void outbox_close(struct outbox *o)
{
    if (!o)
        return;
    size_t n = o->mem.count;
    while (o->mem.count)
        spill_first(o);
    if (n)
        log_info("agent", "msg=\"spooled unsent batches\" batches=%zu dir=%s", n, o->dir);
    free(o->mem.v);
    free(o->spool.v);
    buf_free(&o->peeked);
    free(o->dir);
    free(o);
}

void outbox_push(struct outbox *o, const void *data, size_t n)
{
    char *copy = xmalloc(n ? n : 1);
    memcpy(copy, data, n);
    fifo_push(&o->mem, (struct item){o->next_seq++, n, copy});
    o->mem_used += (int64_t)n;
    /* keep at least the newest batch in memory: it is about to be sent */
    while (o->mem.count > 1 && o->mem_used > o->memory_bytes)
        spill_first(o);
}

int outbox_peek(struct outbox *o, const void **data, size_t *n)
{
    while (o->spool.count) {
        struct item *it = fifo_first(&o->spool);
        if (o->peeked.len && o->peeked_seq == it->seq) {
            *data = o->peeked.data;
            *n = o->peeked.len;
            return 0;
        }
        char path[4200];
        spool_path(o, it->seq, "batch", path, sizeof path);
        buf_reset(&o->peeked);
        FILE *f = fopen(path, "rb");
        if (f) {
            char chunk[16384];
            size_t r;
            while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
                buf_append(&o->peeked, chunk, r);
            fclose(f);
        }
        if (!f || !o->peeked.len) {
            log_error("agent", "msg=\"unreadable spooled batch dropped\" file=%s", path);
            o->dropped++;
            spool_drop_first(o);
            continue;
        }
        o->peeked_seq = it->seq;
        *data = o->peeked.data;
        *n = o->peeked.len;
        return 0;
    }
    struct item *it = fifo_first(&o->mem);
    if (!it)
        return SABA_ENOTFOUND;
    *data = it->data;
    *n = it->n;
    return 0;
}

void outbox_pop(struct outbox *o)
{
    if (o->spool.count) {
        spool_drop_first(o);
        buf_reset(&o->peeked);
        return;
    }
    struct item *it = fifo_first(&o->mem);
    if (!it)
        return;
    o->mem_used -= (int64_t)it->n;
    free(it->data);
    fifo_shift(&o->mem);
}

size_t outbox_count(const struct outbox *o)
{
    return o->mem.count + o->spool.count;
}

size_t outbox_spooled(const struct outbox *o)
{
    return o->spool.count;
}

uint64_t outbox_dropped(const struct outbox *o)
{
    return o->dropped;
}
