/*
 * block.c - writing and reading immutable blocks (see block.h, FORMAT.md).
 *
 * The writer streams chunks: each series' chunks go into the pack of their
 * kind being filled, and a full pack (~64 KiB of content) is compressed and
 * written to `chunks`; its offset is then patched into the references. The
 * index image (series entries, then at commit postings, symbols and tables)
 * is built in memory and compressed whole at commit, so a compaction needs
 * memory for labels and chunk references, not for samples. The reader mmaps
 * `chunks` and reads fixed-width little-endian fields in place (of the
 * mapped v1 index, or of the v2 index decompressed at open), bounds-checking
 * every offset, because a block is input like any other (a bad disk, a bad
 * copy); packs are decompressed on demand into a shared cache.
 *
 * Invariants:
 *  1. A visible block directory (no .tmp suffix) holds complete, fsynced files.
 *  2. Series entries are in ascending labels_cmp order; series numbers in
 *     postings ascend.
 *  3. Every offset in the index points inside the index before the TOC.
 *  4. (v2) A series' chunks of one kind lie in one pack; a chunk reference
 *     names the pack's offset in `chunks` and the chunk's place in the
 *     pack's content.
 */
#include "storage/tsdb/block.h"
#include "storage/tsdb/postings.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "storage/tsdb/chunk.h"
#include "storage/tsdb/fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <xxhash.h>
#include <zstd.h>

#define INDEX_MAGIC  0x58494253u /* "SBIX" */
#define CHUNKS_MAGIC 0x48434253u /* "SBCH" */
#define META_MAGIC   0x544d4253u /* "SBMT" */
#define FORMAT_V1    1
#define FORMAT_V2    2 /* chunk packs, compressed index (what the writer writes) */
#define META_V2      2 /* meta of a rollup block that may hold rollup chunks */
#define INDEX_HDR    8
#define CHUNKS_HDR   8
#define TOC_BYTES    48
#define CHUNK_REF    40
#define NAME_ENTRY   16
#define VALUE_ENTRY  16
#define META_FIXED   88
#define MAX_LABELS   256
#define PACK_HDR     12 /* u32le compressed length, u32le content length, u32le CRC-32C */
/* Content bytes after which the writer closes a pack (at a series boundary).
 * About 60 series of a 2-hour block at 10 s, a few hundred at 1 min: enough
 * for zstd to find the shared timestamps and similar values of neighbouring
 * series (same metric, other hosts), small enough that reading one series
 * decompresses ~64 KiB (tens of microseconds). */
#define PACK_TARGET      (64u << 10)
#define PACK_MAX         (1u << 30) /* largest pack content a reader accepts */
#define IX2_HDR          16         /* v2 index file: magic, version, u64le content length */
#define IX2_TAIL         8          /* CRC-32C, magic */
#define IX2_MAX          ((uint64_t)1 << 36)
#define PACK_ZSTD_LEVEL  9
#define INDEX_ZSTD_LEVEL 9

/* ---- little-endian helpers ---- */

static void put_u16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_append(b, x, 2);
}

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- writer ---- */

struct pvec {
    uint32_t *v;
    uint32_t n, cap;
};

struct block_writer {
    char *dir;   /* blocks dir */
    char *tmp;   /* <dir>/<seq>.tmp */
    char *final; /* <dir>/<seq> */
    struct block_meta meta;
    struct fops_out chunks, index; /* the index is built in memory (index.mem) */
    /* one pack being filled per chunk kind, so that a rollup query reading
     * max decompresses no sum; fix: where in index.b each of their chunk
     * references needs the pack's offset, known when the pack is written */
    struct buf pack[BLOCK_KINDS];
    struct {
        uint64_t *v;
        size_t n, cap;
    } fix[BLOCK_KINDS];
    uint64_t index_file_bytes;
    /* symbols: id -> string, hash -> id */
    char **syms;
    uint32_t nsyms, cap_syms;
    struct hashmap sym_map;
    /* postings per (name, value) symbol pair */
    struct hashmap pair_map; /* name<<32|value -> index into pairs */
    uint64_t *pair_keys;
    struct pvec *pairs;
    uint32_t npairs, cap_pairs;
    uint64_t *series_off;
    uint32_t nseries, cap_series;
    bool failed;
    /* dense encoding scratch */
    ZSTD_CCtx *zc;
    struct buf raw, zbuf, arena;
    struct block_chunk *dense;
    size_t cap_dense;
};

static uint32_t w_sym(struct block_writer *w, const char *s)
{
    size_t n = strlen(s);
    uint64_t h = XXH3_64bits(s, n), id;
    size_t pos;
    for (bool ok = hashmap_find(&w->sym_map, h, &id, &pos); ok;
         ok = hashmap_next(&w->sym_map, h, &id, &pos))
        if (!strcmp(w->syms[id], s))
            return (uint32_t)id;
    if (w->nsyms == w->cap_syms) {
        w->cap_syms = w->cap_syms ? w->cap_syms * 2 : 256;
        w->syms = xrealloc(w->syms, w->cap_syms * sizeof *w->syms);
    }
    w->syms[w->nsyms] = xstrdup(s);
    hashmap_add(&w->sym_map, h, w->nsyms);
    return w->nsyms++;
}

static void w_posting(struct block_writer *w, uint32_t name, uint32_t value, uint32_t series)
{
    uint64_t key = (uint64_t)name << 32 | value, idx;
    size_t pos;
    if (!hashmap_find(&w->pair_map, key, &idx, &pos)) {
        if (w->npairs == w->cap_pairs) {
            w->cap_pairs = w->cap_pairs ? w->cap_pairs * 2 : 256;
            w->pairs = xrealloc(w->pairs, w->cap_pairs * sizeof *w->pairs);
            w->pair_keys = xrealloc(w->pair_keys, w->cap_pairs * sizeof *w->pair_keys);
        }
        idx = w->npairs++;
        w->pairs[idx] = (struct pvec){0};
        w->pair_keys[idx] = key;
        hashmap_add(&w->pair_map, key, idx);
    }
    struct pvec *p = &w->pairs[idx];
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->v = xrealloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = series;
}

static void w_free(struct block_writer *w)
{
    if (w->chunks.fd >= 0)
        fops->close(w->chunks.fd);
    if (w->index.fd >= 0)
        fops->close(w->index.fd);
    buf_free(&w->chunks.b);
    buf_free(&w->index.b);
    for (uint32_t i = 0; i < w->nsyms; i++)
        free(w->syms[i]);
    free(w->syms);
    hashmap_free(&w->sym_map);
    hashmap_free(&w->pair_map);
    for (uint32_t i = 0; i < w->npairs; i++)
        free(w->pairs[i].v);
    free(w->pairs);
    free(w->pair_keys);
    free(w->series_off);
    ZSTD_freeCCtx(w->zc);
    buf_free(&w->raw);
    buf_free(&w->zbuf);
    buf_free(&w->arena);
    for (int k = 0; k < BLOCK_KINDS; k++) {
        buf_free(&w->pack[k]);
        free(w->fix[k].v);
    }
    free(w->dense);
    free(w->dir);
    free(w->tmp);
    free(w->final);
    free(w);
}

void block_writer_abort(struct block_writer *w)
{
    if (!w)
        return;
    if (w->chunks.fd >= 0)
        fops->close(w->chunks.fd);
    if (w->index.fd >= 0)
        fops->close(w->index.fd);
    w->chunks.fd = w->index.fd = -1;
    fops_remove_dir(w->tmp);
    w_free(w);
}

static int w_open_file(struct block_writer *w, const char *name, struct fops_out *o, uint32_t magic,
                       uint32_t version, struct saba_err *err)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/%s", w->tmp, name);
    o->fd = fops->open(p.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o->fd < 0) {
        int rc = err_set(err, SABA_EIO, 0, "create %s: %s", p.data, strerror(errno));
        buf_free(&p);
        return rc;
    }
    buf_free(&p);
    fops_out_u32(o, magic);
    fops_out_u32(o, version);
    return 0;
}

int block_writer_new(const char *blocks_dir, const struct block_meta *meta,
                     struct block_writer **out, struct saba_err *err)
{
    struct block_writer *w = xcalloc(1, sizeof *w);
    w->chunks.fd = w->index.fd = -1;
    w->dir = xstrdup(blocks_dir);
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/%016llx.tmp", blocks_dir, (unsigned long long)meta->seq);
    w->tmp = buf_steal(&b);
    buf_printf(&b, "%s/%016llx", blocks_dir, (unsigned long long)meta->seq);
    w->final = buf_steal(&b);
    w->meta = *meta;
    w->meta.mint = INT64_MAX;
    w->meta.maxt = INT64_MIN;
    w->meta.nseries = w->meta.nsamples = w->meta.nchunks = 0;
    w->zc = ZSTD_createCCtx();
    fops_remove_dir(w->tmp); /* leftover of a crash */
    if (fops->mkdir(w->tmp, 0755) != 0) {
        int rc = err_set(err, SABA_EIO, 0, "create %s: %s", w->tmp, strerror(errno));
        w_free(w);
        return rc;
    }
    int rc = w_open_file(w, "chunks", &w->chunks, CHUNKS_MAGIC, FORMAT_V2, err);
    /* the index image is compressed whole at commit (FORMAT.md "index", version 2) */
    w->index.mem = true;
    fops_out_u32(&w->index, INDEX_MAGIC);
    fops_out_u32(&w->index, FORMAT_V2);
    if (rc) {
        block_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* ---- dense chunks (FORMAT.md "Dense chunk") ---- */

#define DENSE_XOR   0xff /* value mode: XOR'ed float64 bits */
#define DENSE_DOD   0x40 /* flag on k: integers as delta-of-delta (counters) */
#define DENSE_PLAIN 0x80 /* flag on k: integers as they are (noisy gauges) */
#define DENSE_MAXK  BLOCK_DECIMAL_MAXK

const double block_pow10[BLOCK_DECIMAL_MAXK + 1] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

bool block_decimal_at(double v, int k, int64_t *x)
{
    double s = v * block_pow10[k];
    if (!(fabs(s) < 9007199254740992.0))
        return false;
    int64_t r = llround(s);
    if ((double)r / block_pow10[k] != v || (v == 0 && signbit(v)))
        return false;
    *x = r;
    return true;
}

/* The smallest k for which every value is decimal, or DENSE_XOR. */
static int decimal_scale(const double *v, size_t n)
{
    int k = 0;
    int64_t x;
    for (size_t i = 0; i < n; i++) {
        while (k <= DENSE_MAXK && !block_decimal_at(v[i], k, &x))
            k++;
        if (k > DENSE_MAXK)
            return DENSE_XOR;
    }
    return k;
}

/* The content of a plane chunk (FORMAT.md "Plane chunk"): the dense
 * chunk's mode byte and timestamps, then its value codes as byte planes
 * (all low bytes, then all second bytes, ...), which zstd compresses better
 * than varints: the high planes are runs of zeros, and the low planes of
 * neighbouring series line up. z is scratch for n codes. */
static void plane_content(const int64_t *t, const double *v, size_t n, uint64_t *z, struct buf *raw)
{
    buf_reset(raw);
    int k = decimal_scale(v, n);
    int mode_byte = k;
    if (k == DENSE_XOR) {
        uint64_t prev_bits = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t b;
            memcpy(&b, &v[i], 8);
            z[i] = b ^ prev_bits;
            prev_bits = b;
        }
    } else {
        /* Plain integers suit noisy gauges, deltas smooth gauges, deltas of
         * deltas counters with a steady rate: take the one whose numbers need
         * the fewest significant bits (what zstd's entropy stage is left with). */
        size_t bits[3] = {0, 0, 0};
        int64_t px = 0, pd = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t x = 0;
            block_decimal_at(v[i], k, &x);
            int64_t d = (int64_t)((uint64_t)x - (uint64_t)px);
            uint64_t c[3] = {zigzag_enc(x), zigzag_enc(d),
                             zigzag_enc((int64_t)((uint64_t)d - (uint64_t)pd))};
            for (int m = 0; m < 3; m++)
                bits[m] += c[m] ? 64u - (size_t)__builtin_clzll(c[m]) : 0u;
            px = x;
            pd = d;
        }
        int mode = bits[0] < bits[1] && bits[0] <= bits[2] ? 0 : bits[2] < bits[1] ? 2 : 1;
        mode_byte = k | (mode == 0 ? DENSE_PLAIN : mode == 2 ? DENSE_DOD : 0);
        px = pd = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t x = 0;
            block_decimal_at(v[i], k, &x);
            int64_t d = (int64_t)((uint64_t)x - (uint64_t)px);
            z[i] = zigzag_enc(mode == 0   ? x
                              : mode == 2 ? (int64_t)((uint64_t)d - (uint64_t)pd)
                                          : d);
            px = x;
            pd = d;
        }
    }
    uint64_t all = 0;
    for (size_t i = 0; i < n; i++)
        all |= z[i];
    int width = all ? (71 - __builtin_clzll(all)) / 8 : 0;
    buf_putc(raw, (char)mode_byte);
    buf_putc(raw, (char)width);
    int64_t prev_t = 0, delta = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = (int64_t)((uint64_t)t[i] - (uint64_t)prev_t);
        buf_put_uvarint(raw, zigzag_enc(i == 0 ? t[0] : (int64_t)((uint64_t)d - (uint64_t)delta)));
        if (i)
            delta = d;
        prev_t = t[i];
    }
    buf_reserve(raw, (size_t)width * n);
    for (int p = 0; p < width; p++)
        for (size_t i = 0; i < n; i++)
            raw->data[raw->len++] = (char)(z[i] >> (8 * p));
}

/* One zstd decompression context per thread: creating one per chunk costs
 * more than decompressing a chunk. Freed when the thread exits (block.h). */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_init(void)
{
    pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_init);
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d) {
        d = ZSTD_createDCtx();
        if (!d)
            abort(); /* out of memory, as xmalloc */
        pthread_setspecific(dctx_key, d);
    }
    return d;
}

int block_unzstd(const uint8_t *src, size_t n, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    unsigned long long want = ZSTD_getFrameContentSize(src, n);
    if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN || want > max)
        return -1;
    uint8_t *raw = xmalloc(want ? want : 1);
    size_t got = ZSTD_decompressDCtx(thread_dctx(), raw, want, src, n);
    if (ZSTD_isError(got) || got != want) {
        free(raw);
        return -2;
    }
    *out = raw;
    *len = got;
    return 0;
}

/* The mode byte of a dense or plane chunk: scale k (or DENSE_XOR) and the
 * integer mode. Returns 0, or -1 if it is not one the writer makes. */
static int parse_mode(int mode, int *k, bool *dod, bool *plain)
{
    *k = mode;
    *dod = mode != DENSE_XOR && (mode & DENSE_DOD);
    *plain = mode != DENSE_XOR && (mode & DENSE_PLAIN);
    if (mode != DENSE_XOR)
        *k &= ~(DENSE_DOD | DENSE_PLAIN);
    if (*dod && *plain)
        return -1;
    if (*k != DENSE_XOR && *k > DENSE_MAXK)
        return -1;
    return 0;
}

/* count timestamps: zigzag(t0), then zigzag(dod) varints. Returns 0 or -1. */
static int ts_decode(const uint8_t **p, const uint8_t *end, size_t count, int64_t *t)
{
    int64_t prev_t = 0, delta = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t z;
        if (uvarint_read(p, end, &z))
            return -1;
        int64_t x = zigzag_dec(z);
        if (i == 0) {
            t[0] = x;
        } else {
            delta = (int64_t)((uint64_t)delta + (uint64_t)x);
            t[i] = (int64_t)((uint64_t)prev_t + (uint64_t)delta);
        }
        prev_t = t[i];
    }
    return 0;
}

/* Value state across codes: each code (a varint or a plane-chunk value)
 * gives the next value. */
struct vdec {
    int k;
    bool dod, plain;
    int64_t prev_x, prev_d;
    uint64_t prev_bits;
};

static double vdec_next(struct vdec *s, uint64_t z)
{
    double v;
    if (s->k == DENSE_XOR) {
        s->prev_bits ^= z;
        memcpy(&v, &s->prev_bits, 8);
        return v;
    }
    int64_t d = zigzag_dec(z);
    if (s->plain) {
        s->prev_x = d;
    } else {
        if (s->dod)
            d = (int64_t)((uint64_t)s->prev_d + (uint64_t)d);
        s->prev_d = d;
        s->prev_x = (int64_t)((uint64_t)s->prev_x + (uint64_t)d);
    }
    return (double)s->prev_x / block_pow10[s->k];
}

/* Decode the content of a dense chunk (n bytes, count samples); it must be
 * consumed exactly. Returns count or -1. */
static int dense_decode(const uint8_t *raw, size_t n, uint16_t count, int64_t *t, double *v)
{
    struct vdec s = {0};
    if (n < 1 || count == 0 || parse_mode(raw[0], &s.k, &s.dod, &s.plain))
        return -1;
    const uint8_t *p = raw + 1, *end = raw + n;
    if (ts_decode(&p, end, count, t))
        return -1;
    for (size_t i = 0; i < count; i++) {
        uint64_t z;
        if (s.k == DENSE_XOR) {
            if (end - p < 8)
                return -1;
            z = load_u64le(p);
            p += 8;
        } else if (uvarint_read(&p, end, &z)) {
            return -1;
        }
        v[i] = vdec_next(&s, z);
    }
    return p == end ? count : -1;
}

/* Decode the content of a plane chunk (FORMAT.md "Plane chunk"). */
static int plane_decode(const uint8_t *raw, size_t n, uint16_t count, int64_t *t, double *v)
{
    struct vdec s = {0};
    if (n < 2 || count == 0 || parse_mode(raw[0], &s.k, &s.dod, &s.plain) || raw[1] > 8)
        return -1;
    size_t width = raw[1];
    const uint8_t *p = raw + 2, *end = raw + n;
    if (ts_decode(&p, end, count, t) || (size_t)(end - p) != width * count)
        return -1;
    for (size_t i = 0; i < count; i++) {
        uint64_t z = 0;
        for (size_t b = 0; b < width; b++)
            z |= (uint64_t)p[b * count + i] << (8 * b);
        v[i] = vdec_next(&s, z);
    }
    return count;
}

int block_chunk_decode(const struct block_chunk *c, int64_t *t, double *v)
{
    if (c->enc == BLOCK_ENC_GORILLA) {
        size_t n = chunk_decode(c->data, c->nbytes, c->count, INT64_MIN, INT64_MAX, t, v);
        return n == c->count ? (int)n : -1;
    }
    if (c->enc == BLOCK_ENC_RAW)
        return dense_decode(c->data, c->nbytes, c->count, t, v);
    if (c->enc == BLOCK_ENC_PLANES)
        return plane_decode(c->data, c->nbytes, c->count, t, v);
    if (c->enc != BLOCK_ENC_DENSE || c->count == 0)
        return -1;
    /* a varint per timestamp and value (at most 10 bytes each) or 8 bytes per
     * value, plus the mode byte: a frame claiming more is corrupt */
    uint8_t *raw;
    size_t got;
    if (block_unzstd(c->data, c->nbytes, 1 + 20u * c->count, &raw, &got))
        return -1;
    int rc = dense_decode(raw, got, c->count, t, v);
    free(raw);
    return rc;
}

static int cmp_kind(const void *a, const void *b)
{
    const struct block_chunk *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

/* Turn a series' chunks into what the block stores: runs of one kind become
 * plane chunks of up to BLOCK_DENSE_MAX_SAMPLES; plane chunks of at least
 * half that stay as they are. Output chunk data lives in *arena. */
static size_t densify(struct block_writer *w, const struct block_chunk *in, size_t n,
                      struct block_chunk **out, size_t *cap, struct buf *arena)
{
    struct block_chunk *c = xmalloc(n * sizeof *c);
    memcpy(c, in, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_kind);
    size_t no = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i].count;
    int64_t *ts = xmalloc((total ? total : 1) * sizeof *ts);
    double *vs = xmalloc((total ? total : 1) * sizeof *vs);
    uint64_t *zs = xmalloc((total ? total : 1) * sizeof *zs);
    buf_reset(arena);
    for (size_t i = 0; i < n;) {
        if (no + 1 > *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *out = xrealloc(*out, *cap * sizeof **out);
        }
        if ((c[i].enc == BLOCK_ENC_PLANES && c[i].count >= BLOCK_DENSE_MAX_SAMPLES / 2) ||
            c[i].enc == BLOCK_ENC_ROLLUP) {
            /* big enough (compaction's cheap path), or a rollup chunk: stored
             * as it is */
            (*out)[no] = c[i];
            (*out)[no].data = (const uint8_t *)(uintptr_t)arena->len; /* offset for now */
            buf_append(arena, c[i].data, c[i].nbytes);
            no++;
            i++;
            continue;
        }
        /* a run of Gorilla, dense or small plane chunks of one kind, merged
         * up to the dense limit: fewer, longer chunks compress better and
         * cost fewer 40-byte references */
        size_t m = 0, j = i;
        while (j < n && c[j].kind == c[i].kind && m + c[j].count <= BLOCK_DENSE_MAX_SAMPLES &&
               c[j].enc != BLOCK_ENC_ROLLUP &&
               (c[j].enc != BLOCK_ENC_PLANES || c[j].count < BLOCK_DENSE_MAX_SAMPLES / 2)) {
            int got = block_chunk_decode(&c[j], ts + m, vs + m);
            if (got > 0)
                m += (size_t)got;
            j++;
        }
        if (j == i) { /* a single chunk above the limit cannot happen (u16 count) */
            j = i + 1;
        }
        if (m) {
            plane_content(ts, vs, m, zs, &w->raw);
            (*out)[no++] = (struct block_chunk){ts[0],
                                                ts[m - 1],
                                                (const uint8_t *)(uintptr_t)arena->len,
                                                (uint32_t)w->raw.len,
                                                (uint16_t)m,
                                                c[i].kind,
                                                BLOCK_ENC_PLANES};
            buf_append(arena, w->raw.data, w->raw.len);
        }
        i = j;
    }
    for (size_t i = 0; i < no; i++)
        (*out)[i].data = (const uint8_t *)arena->data + (uintptr_t)(*out)[i].data;
    free(c);
    free(ts);
    free(vs);
    free(zs);
    return no;
}

/* Compress the pack of kind k being filled, append it to `chunks` (FORMAT.md
 * "chunks", version 2) and write its offset into the references of its
 * chunks. Returns 0 or -1 with errno set. */
static int flush_pack(struct block_writer *w, int k)
{
    struct buf *pk = &w->pack[k];
    if (!pk->len)
        return 0;
    uint64_t off = w->chunks.off;
    buf_reset(&w->zbuf);
    size_t bound = ZSTD_compressBound(pk->len);
    buf_reserve(&w->zbuf, bound);
    size_t z = ZSTD_compressCCtx(w->zc, w->zbuf.data, bound, pk->data, pk->len, PACK_ZSTD_LEVEL);
    if (ZSTD_isError(z)) { /* cannot happen into ZSTD_compressBound bytes */
        errno = EINVAL;
        return -1;
    }
    struct buf h = BUF_INIT;
    buf_put_u32le(&h, (uint32_t)z);
    buf_put_u32le(&h, (uint32_t)pk->len);
    buf_put_u32le(&h, crc32c(0, w->zbuf.data, z));
    int rc = fops_out_put(&w->chunks, h.data, h.len);
    if (!rc)
        rc = fops_out_put(&w->chunks, w->zbuf.data, z);
    buf_free(&h);
    buf_reset(pk);
    /* the index is in memory (index.mem): patch the references in place */
    for (size_t i = 0; i < w->fix[k].n; i++)
        for (int b = 0; b < 8; b++)
            w->index.b.data[w->fix[k].v[i] + (size_t)b] = (char)(off >> (8 * b));
    w->fix[k].n = 0;
    return rc;
}

static int flush_packs(struct block_writer *w)
{
    int rc = 0;
    for (int k = 0; k < BLOCK_KINDS && rc == 0; k++)
        rc = flush_pack(w, k);
    return rc;
}

int block_writer_add(struct block_writer *w, const struct label *ls, size_t nls,
                     const struct block_chunk *cin, size_t nin, struct saba_err *err)
{
    if (!nin)
        return 0;
    if (w->failed)
        return err_set(err, SABA_EIO, 0, "block writer failed earlier");
    if (nls == 0 || nls > MAX_LABELS)
        return err_set(err, SABA_EINVAL, 0, "series with %zu labels", nls);
    for (size_t k = 0; k < nin; k++)
        if (cin[k].kind >= BLOCK_KINDS)
            return err_set(err, SABA_EINVAL, 0, "chunk of kind %u", cin[k].kind);
    size_t n = densify(w, cin, nin, &w->dense, &w->cap_dense, &w->arena);
    const struct block_chunk *c = w->dense;
    if (!n)
        return 0;
    /* a series' chunks of one kind never straddle two packs; a big one
     * closes its kind's pack first */
    size_t add[BLOCK_KINDS] = {0};
    for (size_t k = 0; k < n; k++)
        if (c[k].enc != BLOCK_ENC_ROLLUP)
            add[c[k].kind] += c[k].nbytes;
    for (int k = 0; k < BLOCK_KINDS; k++) {
        if (w->pack[k].len && w->pack[k].len + add[k] > 2 * PACK_TARGET && flush_pack(w, k) != 0) {
            w->failed = true;
            return err_set(err, SABA_EIO, 0, "write block %s: %s", w->tmp, strerror(errno));
        }
        if (w->pack[k].len + add[k] > PACK_MAX)
            return err_set(err, SABA_EINVAL, 0, "series too large for a block (%zu bytes)", add[k]);
    }
    uint32_t id = w->nseries++;
    if (id == w->cap_series) {
        w->cap_series = w->cap_series ? w->cap_series * 2 : 1024;
        w->series_off = xrealloc(w->series_off, w->cap_series * sizeof *w->series_off);
    }
    w->series_off[id] = w->index.off;
    struct buf e = BUF_INIT;
    put_u16(&e, (uint16_t)nls);
    put_u16(&e, 0);
    buf_put_u32le(&e, (uint32_t)n);
    for (size_t i = 0; i < nls; i++) {
        uint32_t ns = w_sym(w, ls[i].name), vs = w_sym(w, ls[i].value);
        buf_put_u32le(&e, ns);
        buf_put_u32le(&e, vs);
        w_posting(w, ns, vs, id);
    }
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        struct buf *pk = &w->pack[c[k].kind];
        buf_put_u64le(&e, (uint64_t)c[k].mint);
        buf_put_u64le(&e, (uint64_t)c[k].maxt);
        bool direct = c[k].enc == BLOCK_ENC_ROLLUP;
        if (direct) {
            /* a rollup chunk is compressed on its own terms (rollup_chunk.h)
             * and read in place, so that a long-range query decompresses
             * no packs: it goes straight into the chunks file (FORMAT.md) */
            buf_put_u64le(&e, w->chunks.off);
            if (!rc)
                rc = fops_out_put(&w->chunks, c[k].data, c[k].nbytes);
        } else {
            /* the pack's offset, written when the pack is (flush_pack) */
            if (w->fix[c[k].kind].n == w->fix[c[k].kind].cap) {
                w->fix[c[k].kind].cap = w->fix[c[k].kind].cap ? w->fix[c[k].kind].cap * 2 : 256;
                w->fix[c[k].kind].v = xrealloc(w->fix[c[k].kind].v,
                                               w->fix[c[k].kind].cap * sizeof *w->fix[c[k].kind].v);
            }
            w->fix[c[k].kind].v[w->fix[c[k].kind].n++] = w->index.b.len + e.len;
            buf_put_u64le(&e, 0);
        }
        buf_put_u32le(&e, c[k].nbytes);
        buf_put_u32le(&e, crc32c(0, c[k].data, c[k].nbytes));
        put_u16(&e, c[k].count);
        buf_putc(&e, (char)c[k].kind);
        buf_putc(&e, (char)c[k].enc);
        buf_put_u32le(&e, direct ? 0 : (uint32_t)pk->len);
        if (!direct)
            buf_append(pk, c[k].data, c[k].nbytes);
        if (c[k].mint < w->meta.mint)
            w->meta.mint = c[k].mint;
        if (c[k].maxt > w->meta.maxt)
            w->meta.maxt = c[k].maxt;
        if (c[k].kind == BLOCK_KIND_RAW || c[k].kind == BLOCK_KIND_LAST ||
            c[k].kind == BLOCK_KIND_ROLLUP)
            w->meta.nsamples += c[k].count;
        w->meta.nchunks++;
    }
    if (!rc)
        rc = fops_out_put(&w->index, e.data, e.len);
    for (int k = 0; k < BLOCK_KINDS && rc == 0; k++)
        if (w->pack[k].len >= PACK_TARGET)
            rc = flush_pack(w, k);
    buf_free(&e);
    if (rc) {
        w->failed = true;
        return err_set(err, SABA_EIO, 0, "write block %s: %s", w->tmp, strerror(errno));
    }
    w->meta.nseries++;
    return 0;
}

/* Label pairs (name<<32 | value symbol ids) by (name string, value string);
 * arg is the symbol table. */
static int cmp_pair(const void *a, const void *b, void *arg)
{
    char **sort_syms = arg;
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    int c = strcmp(sort_syms[x >> 32], sort_syms[y >> 32]);
    if (c)
        return c;
    return strcmp(sort_syms[(uint32_t)x], sort_syms[(uint32_t)y]);
}

static void encode_meta(struct buf *b, const struct block_meta *m)
{
    buf_put_u32le(b, META_MAGIC);
    /* rollup blocks may hold rollup chunks (encoding 2), which readers of
     * version 1 do not know: they refuse the block by name */
    buf_put_u32le(b, m->resolution_ms > 0 ? META_V2 : FORMAT_V1);
    buf_put_u64le(b, m->seq);
    buf_put_u64le(b, (uint64_t)m->mint);
    buf_put_u64le(b, (uint64_t)m->maxt);
    buf_put_u64le(b, (uint64_t)m->resolution_ms);
    buf_put_u32le(b, m->level);
    buf_put_u32le(b, m->nparents);
    buf_put_u64le(b, m->nseries);
    buf_put_u64le(b, m->nsamples);
    buf_put_u64le(b, m->nchunks);
    buf_put_u64le(b, m->bytes);
    buf_put_u64le(b, m->source);
    for (uint32_t i = 0; i < m->nparents; i++)
        buf_put_u64le(b, m->parents[i]);
    buf_put_u32le(b, crc32c(0, b->data, b->len));
}

static int sync_close(struct fops_out *o)
{
    int rc = fops_out_flush(o);
    if (rc == 0)
        rc = fops->fsync(o->fd);
    int e = errno;
    fops->close(o->fd);
    o->fd = -1;
    errno = e;
    return rc;
}

/* The index sections after the series entries: postings, values, names,
 * symbols, series table, TOC. */
static int write_index_tail(struct block_writer *w)
{
    struct fops_out *o = &w->index;
    uint64_t *order = xmalloc((w->npairs ? w->npairs : 1) * sizeof *order);
    uint64_t *poff = xmalloc((w->npairs ? w->npairs : 1) * sizeof *poff);
    for (uint32_t i = 0; i < w->npairs; i++)
        order[i] = w->pair_keys[i];
    qsort_r(order, w->npairs, sizeof *order, cmp_pair, w->syms);
    int rc = 0;
    /* postings, in sorted pair order */
    for (uint32_t i = 0; i < w->npairs && rc == 0; i++) {
        uint64_t idx;
        size_t pos;
        hashmap_find(&w->pair_map, order[i], &idx, &pos);
        poff[i] = o->off;
        for (uint32_t k = 0; k < w->pairs[idx].n && rc == 0; k++)
            rc = fops_out_u32(o, w->pairs[idx].v[k]);
    }
    /* values, grouped by name */
    uint64_t values_off = o->off;
    for (uint32_t i = 0; i < w->npairs && rc == 0; i++) {
        uint64_t idx;
        size_t pos;
        hashmap_find(&w->pair_map, order[i], &idx, &pos);
        rc = fops_out_u32(o, (uint32_t)order[i]);
        if (!rc)
            rc = fops_out_u32(o, w->pairs[idx].n);
        if (!rc)
            rc = fops_out_u64(o, poff[i]);
    }
    /* names */
    uint64_t names_off = o->off, nnames = 0;
    for (uint32_t i = 0; i < w->npairs && rc == 0;) {
        uint32_t j = i;
        while (j < w->npairs && order[j] >> 32 == order[i] >> 32)
            j++;
        rc = fops_out_u32(o, (uint32_t)(order[i] >> 32));
        if (!rc)
            rc = fops_out_u32(o, j - i);
        if (!rc)
            rc = fops_out_u64(o, values_off + (uint64_t)i * VALUE_ENTRY);
        nnames++;
        i = j;
    }
    /* symbols */
    uint64_t symbols_off = o->off;
    if (!rc)
        rc = fops_out_u32(o, w->nsyms);
    uint32_t soff = 0;
    for (uint32_t i = 0; i <= w->nsyms && rc == 0; i++) {
        rc = fops_out_u32(o, soff);
        if (i < w->nsyms)
            soff += (uint32_t)strlen(w->syms[i]) + 1;
    }
    for (uint32_t i = 0; i < w->nsyms && rc == 0; i++)
        rc = fops_out_put(o, w->syms[i], strlen(w->syms[i]) + 1);
    /* series table */
    uint64_t table_off = o->off;
    for (uint32_t i = 0; i < w->nseries && rc == 0; i++)
        rc = fops_out_u64(o, w->series_off[i]);
    /* TOC: the CRC covers everything before it */
    if (!rc) {
        fops_out_u64(o, table_off);
        fops_out_u64(o, w->nseries);
        fops_out_u64(o, symbols_off);
        fops_out_u64(o, names_off);
        rc = fops_out_u64(o, nnames);
    }
    if (!rc)
        rc = fops_out_flush(o);
    if (!rc)
        rc = fops_out_u32(o, o->crc);
    if (!rc)
        rc = fops_out_u32(o, INDEX_MAGIC);
    free(order);
    free(poff);
    return rc;
}

/* Compress the index image built in memory into the file `index` (FORMAT.md
 * "index", version 2), fsynced. Returns 0 or -1 with errno set. */
static int write_index_file(struct block_writer *w)
{
    const struct buf *img = &w->index.b;
    struct buf f = BUF_INIT, p = BUF_INIT;
    buf_put_u32le(&f, INDEX_MAGIC);
    buf_put_u32le(&f, FORMAT_V2);
    buf_put_u64le(&f, img->len);
    size_t bound = ZSTD_compressBound(img->len);
    buf_reserve(&f, bound + IX2_TAIL);
    size_t z =
        ZSTD_compressCCtx(w->zc, f.data + f.len, bound, img->data, img->len, INDEX_ZSTD_LEVEL);
    int rc = -1;
    if (ZSTD_isError(z)) {
        errno = EINVAL;
        goto out;
    }
    f.len += z;
    buf_put_u32le(&f, crc32c(0, f.data, f.len));
    buf_put_u32le(&f, INDEX_MAGIC);
    buf_printf(&p, "%s/index", w->tmp);
    int fd = fops->open(p.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        goto out;
    rc = fops_write_all(fd, f.data, f.len);
    if (rc == 0)
        rc = fops->fsync(fd);
    int e = errno;
    fops->close(fd);
    errno = e;
    w->index_file_bytes = f.len;
out:
    buf_free(&f);
    buf_free(&p);
    return rc;
}

int block_writer_commit(struct block_writer *w, struct block_meta *meta_out, struct saba_err *err)
{
    int rc = 0;
    if (w->failed) {
        rc = err_set(err, SABA_EIO, 0, "block writer failed earlier");
        goto fail;
    }
    if (w->meta.nseries == 0) {
        if (meta_out) {
            *meta_out = w->meta;
            meta_out->nseries = 0;
        }
        block_writer_abort(w);
        return 0;
    }
    if (flush_packs(w) != 0 || write_index_tail(w) != 0 || sync_close(&w->chunks) != 0 ||
        write_index_file(w) != 0) {
        rc = err_set(err, SABA_EIO, 0, "write block %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    struct buf m = BUF_INIT;
    w->meta.bytes = w->chunks.off + w->index_file_bytes + META_FIXED + 8u * w->meta.nparents + 4;
    encode_meta(&m, &w->meta);
    struct buf mp = BUF_INIT;
    buf_printf(&mp, "%s/meta", w->tmp);
    int fd = fops->open(mp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0 && fops_write_all(fd, m.data, m.len) == 0 && fops->fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        fops->close(fd);
    buf_free(&m);
    buf_free(&mp);
    if (!ok) {
        rc = err_set(err, SABA_EIO, 0, "write block meta in %s: %s", w->tmp, strerror(e));
        goto fail;
    }
    /* Invariant 1: the files are durable before the name appears. */
    if (fops_fsync_dir(w->tmp) != 0 || fops->rename(w->tmp, w->final) != 0) {
        rc = err_set(err, SABA_EIO, 0, "publish block %s: %s", w->final, strerror(errno));
        goto fail;
    }
    if (fops_fsync_dir(w->dir) != 0) {
        /* The block is complete but its name may not survive a power loss:
         * report failure so the caller keeps its data elsewhere too. */
        rc = err_set(err, SABA_EIO, 0, "fsync %s: %s", w->dir, strerror(errno));
        fops_remove_dir(w->final);
        goto fail;
    }
    if (meta_out)
        *meta_out = w->meta;
    w_free(w);
    return 0;
fail:
    block_writer_abort(w);
    return rc;
}

/* ---- reader ---- */

struct tomb {
    uint32_t series;
    int64_t mint, maxt;
};

struct block {
    char *path;
    struct block_meta meta;
    const uint8_t *index, *chunks; /* index: the (decompressed) image */
    size_t index_len, chunks_len;
    size_t index_file_len; /* v2: the compressed file */
    uint32_t version;      /* FORMAT_V1 or FORMAT_V2 */
    uint64_t uid;          /* names the block in the pack cache */
    bool mapped;
    bool index_owned; /* index is malloc'ed (v2) rather than mapped */
    uint64_t toc_off;
    uint64_t table_off, nseries, symbols_off, names_off, nnames;
    uint32_t nsyms;
    const uint8_t *sym_offs, *sym_data;
    size_t sym_data_len;
    atomic_bool corrupt;
    /* deletions not yet applied by a compaction, sorted by series (see
     * block_delete); changed only under the engine's write lock */
    struct tomb *tombs;
    size_t ntombs;
};

static int decode_meta(const uint8_t *p, size_t n, struct block_meta *m, struct saba_err *err,
                       const char *path)
{
    if (n < META_FIXED + 4 || load_u32le(p) != META_MAGIC)
        return err_set(err, SABA_ECORRUPT, 0, "%s: not a block meta file", path);
    if (load_u32le(p + 4) != FORMAT_V1 && load_u32le(p + 4) != META_V2)
        return err_set(err, SABA_ECORRUPT, 0, "%s: unknown version %u", path, load_u32le(p + 4));
    uint32_t np = load_u32le(p + 44);
    if (np > BLOCK_MAX_PARENTS || n != META_FIXED + 8u * np + 4)
        return err_set(err, SABA_ECORRUPT, 0, "%s: bad length", path);
    if (crc32c(0, p, n - 4) != load_u32le(p + n - 4))
        return err_set(err, SABA_ECORRUPT, 0, "%s: checksum mismatch", path);
    memset(m, 0, sizeof *m);
    m->seq = load_u64le(p + 8);
    m->mint = (int64_t)load_u64le(p + 16);
    m->maxt = (int64_t)load_u64le(p + 24);
    m->resolution_ms = (int64_t)load_u64le(p + 32);
    m->level = load_u32le(p + 40);
    m->nparents = np;
    m->nseries = load_u64le(p + 48);
    m->nsamples = load_u64le(p + 56);
    m->nchunks = load_u64le(p + 64);
    m->bytes = load_u64le(p + 72);
    m->source = load_u64le(p + 80);
    for (uint32_t i = 0; i < np; i++)
        m->parents[i] = load_u64le(p + META_FIXED + 8u * i);
    return 0;
}

int block_read_meta(const char *dir, struct block_meta *out, struct saba_err *err)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/meta", dir);
    uint8_t *data;
    size_t n;
    int rc;
    if (fops_read_file(p.data, &data, &n) != 0) {
        rc = err_set(err, SABA_EIO, 0, "read %s: %s", p.data, strerror(errno));
    } else {
        rc = decode_meta(data, n, out, err, p.data);
        free(data);
    }
    buf_free(&p);
    return rc;
}

static const char *sym_str(const struct block *b, uint32_t id)
{
    return (const char *)b->sym_data + load_u32le(b->sym_offs + 4u * id);
}

/* Validate the index image: TOC, checksum, and every table offset. */
static int parse_index(struct block *b, struct saba_err *err)
{
    const uint8_t *p = b->index;
    size_t n = b->index_len;
    const char *name = b->path ? b->path : "index";
#define BAD(why) err_set(err, SABA_ECORRUPT, 0, "%s: index: %s", name, why)
    if (n < INDEX_HDR + TOC_BYTES || load_u32le(p) != INDEX_MAGIC ||
        load_u32le(p + n - 4) != INDEX_MAGIC)
        return BAD("not a block index");
    if (load_u32le(p + 4) != b->version)
        return BAD("unknown version");
    const uint8_t *toc = p + n - TOC_BYTES;
    b->toc_off = n - TOC_BYTES;
    /* a version 2 image came out of a file whose CRC load_index checked */
    if (b->version != FORMAT_V2 && crc32c(0, p, n - 8) != load_u32le(toc + 40))
        return BAD("checksum mismatch");
    b->table_off = load_u64le(toc);
    b->nseries = load_u64le(toc + 8);
    b->symbols_off = load_u64le(toc + 16);
    b->names_off = load_u64le(toc + 24);
    b->nnames = load_u64le(toc + 32);
    uint64_t end = b->toc_off;
    if (b->nseries > UINT32_MAX || b->table_off > end || (end - b->table_off) / 8 < b->nseries ||
        b->symbols_off > end - 4 || b->names_off > end ||
        (end - b->names_off) / NAME_ENTRY < b->nnames)
        return BAD("section out of range");
    b->nsyms = load_u32le(p + b->symbols_off);
    uint64_t offs = b->symbols_off + 4;
    if ((end - offs) / 4 < (uint64_t)b->nsyms + 1)
        return BAD("symbol table out of range");
    b->sym_offs = p + offs;
    b->sym_data = p + offs + 4 * ((uint64_t)b->nsyms + 1);
    b->sym_data_len = (size_t)(end - (offs + 4 * ((uint64_t)b->nsyms + 1)));
    uint32_t prev = 0;
    for (uint32_t i = 0; i <= b->nsyms; i++) {
        uint32_t o = load_u32le(b->sym_offs + 4u * i);
        if (o < prev || o > b->sym_data_len || (i == 0 && o != 0))
            return BAD("symbol offsets out of order");
        if (i > 0 && (o == prev || b->sym_data[o - 1] != 0))
            return BAD("symbol not terminated");
        prev = o;
    }
    for (uint64_t i = 0; i < b->nseries; i++)
        if (load_u64le(p + b->table_off + 8 * i) >= b->table_off)
            return BAD("series offset out of range");
    for (uint64_t i = 0; i < b->nnames; i++) {
        const uint8_t *e = p + b->names_off + NAME_ENTRY * i;
        uint32_t nv = load_u32le(e + 4);
        uint64_t vo = load_u64le(e + 8);
        if (load_u32le(e) >= b->nsyms || vo > end || (end - vo) / VALUE_ENTRY < nv)
            return BAD("label name entry out of range");
        for (uint32_t k = 0; k < nv; k++) {
            const uint8_t *v = p + vo + (uint64_t)VALUE_ENTRY * k;
            uint32_t np = load_u32le(v + 4);
            uint64_t po = load_u64le(v + 8);
            if (load_u32le(v) >= b->nsyms || po > end || (end - po) / 4 < np)
                return BAD("label value entry out of range");
            for (uint32_t j = 0; j < np; j++)
                if (load_u32le(p + po + 4u * j) >= b->nseries ||
                    (j && load_u32le(p + po + 4u * j) <= load_u32le(p + po + 4u * (j - 1))))
                    return BAD("postings out of order");
        }
    }
#undef BAD
    return 0;
}

/* ---- tombstones (FORMAT.md "tombstones") ---- */

#define TOMB_MAGIC 0x53544253u /* "SBTS" */
#define TOMB_ENTRY 24

static int cmp_tomb(const void *a, const void *b)
{
    const struct tomb *x = a, *y = b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

static int read_tombstones(struct block *b, struct saba_err *err)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/tombstones", b->path);
    uint8_t *d;
    size_t n;
    int rc = 0;
    if (fops_read_file(p.data, &d, &n) != 0) {
        if (errno != ENOENT)
            rc = err_set(err, SABA_EIO, 0, "read %s: %s", p.data, strerror(errno));
        buf_free(&p);
        return rc;
    }
    uint32_t cnt = n >= 16 ? load_u32le(d + 8) : 0;
    if (n < 16 || load_u32le(d) != TOMB_MAGIC || load_u32le(d + 4) != FORMAT_V1 ||
        n != 16 + (size_t)cnt * TOMB_ENTRY || crc32c(0, d, n - 4) != load_u32le(d + n - 4)) {
        rc = err_set(err, SABA_ECORRUPT, 0, "%s: not a valid tombstones file", p.data);
    } else {
        b->tombs = xmalloc((cnt ? cnt : 1) * sizeof *b->tombs);
        for (uint32_t i = 0; i < cnt; i++) {
            const uint8_t *e = d + 12 + (size_t)TOMB_ENTRY * i;
            b->tombs[i] = (struct tomb){load_u32le(e), (int64_t)load_u64le(e + 8),
                                        (int64_t)load_u64le(e + 16)};
        }
        b->ntombs = cnt;
        qsort(b->tombs, cnt, sizeof *b->tombs, cmp_tomb);
    }
    free(d);
    buf_free(&p);
    return rc;
}

bool block_has_tombstones(const struct block *b)
{
    return b->ntombs > 0;
}

bool block_deleted(const struct block *b, uint32_t series, int64_t t)
{
    size_t lo = 0, hi = b->ntombs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->tombs[mid].series < series)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < b->ntombs && b->tombs[i].series == series; i++)
        if (t >= b->tombs[i].mint && t <= b->tombs[i].maxt)
            return true;
    return false;
}

bool block_series_has_tombstones(const struct block *b, uint32_t series)
{
    for (size_t i = 0; i < b->ntombs; i++)
        if (b->tombs[i].series == series)
            return true;
    return false;
}

static atomic_uint_fast64_t next_uid = 1;

/* Set b's index image from the index file's bytes: a v1 file is the image;
 * a v2 file is checked (magics, CRC, lengths) and decompressed into memory
 * that b owns. Then validate the image. */
static int load_index(struct block *b, const uint8_t *file, size_t n, struct saba_err *err)
{
    const char *name = b->path ? b->path : "index";
    b->uid = atomic_fetch_add(&next_uid, 1);
    b->index_file_len = n;
    b->version = n >= INDEX_HDR ? load_u32le(file + 4) : 0;
    if (b->version != FORMAT_V2) {
        if (n >= INDEX_HDR && b->version != FORMAT_V1)
            return err_set(err, SABA_ECORRUPT, 0, "%s: index: unknown version", name);
        b->index = file;
        b->index_len = n;
        return parse_index(b, err);
    }
    if (n < IX2_HDR + IX2_TAIL || load_u32le(file) != INDEX_MAGIC ||
        load_u32le(file + n - 4) != INDEX_MAGIC)
        return err_set(err, SABA_ECORRUPT, 0, "%s: index: not a block index", name);
    if (crc32c(0, file, n - IX2_TAIL) != load_u32le(file + n - IX2_TAIL))
        return err_set(err, SABA_ECORRUPT, 0, "%s: index: checksum mismatch", name);
    uint64_t want = load_u64le(file + 8);
    uint8_t *img = NULL;
    size_t got;
    int z = want > IX2_MAX || want < INDEX_HDR + TOC_BYTES
                ? -1
                : block_unzstd(file + IX2_HDR, n - IX2_HDR - IX2_TAIL, want, &img, &got);
    if (z == -2)
        return err_set(err, SABA_ECORRUPT, 0, "%s: index: does not decompress", name);
    if (z || got != want) {
        free(img);
        return err_set(err, SABA_ECORRUPT, 0, "%s: index: bad content length", name);
    }
    b->index = img;
    b->index_len = (size_t)want;
    b->index_owned = true;
    return parse_index(b, err);
}

int block_open_mem(const uint8_t *index, size_t index_len, const uint8_t *chunks, size_t chunks_len,
                   struct block **out, struct saba_err *err)
{
    struct block *b = xcalloc(1, sizeof *b);
    b->chunks = chunks;
    b->chunks_len = chunks_len;
    int rc = load_index(b, index, index_len, err);
    if (rc) {
        if (b->index_owned)
            free((void *)b->index);
        free(b);
        return rc;
    }
    b->meta.nseries = b->nseries;
    *out = b;
    return 0;
}

static int map_file(const char *dir, const char *name, const uint8_t **p, size_t *n,
                    struct saba_err *err)
{
    struct buf path = BUF_INIT;
    buf_printf(&path, "%s/%s", dir, name);
    int fd = fops->open(path.data, O_RDONLY, 0);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = err_set(err, SABA_EIO, 0, "open %s: %s", path.data, strerror(errno));
    } else if (st.st_size == 0) {
        rc = err_set(err, SABA_ECORRUPT, 0, "%s: empty file", path.data);
    } else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            rc = err_set(err, SABA_EIO, 0, "mmap %s: %s", path.data, strerror(errno));
        } else {
            *p = m;
            *n = (size_t)st.st_size;
        }
    }
    if (fd >= 0)
        fops->close(fd);
    buf_free(&path);
    return rc;
}

int block_open(const char *dir, struct block **out, struct saba_err *err)
{
    struct block_meta meta;
    int rc = block_read_meta(dir, &meta, err);
    if (rc)
        return rc;
    const uint8_t *ix = NULL, *ch = NULL;
    size_t ixn = 0, chn = 0;
    rc = map_file(dir, "index", &ix, &ixn, err);
    if (!rc)
        rc = map_file(dir, "chunks", &ch, &chn, err);
    if (!rc && (chn < CHUNKS_HDR || load_u32le(ch) != CHUNKS_MAGIC))
        rc = err_set(err, SABA_ECORRUPT, 0, "%s/chunks: not a chunks file", dir);
    struct block *b = NULL;
    if (!rc) {
        b = xcalloc(1, sizeof *b);
        b->path = xstrdup(dir);
        b->chunks = ch;
        b->chunks_len = chn;
        b->mapped = true;
        rc = load_index(b, ix, ixn, err);
        if (!rc && load_u32le(ch + 4) != b->version)
            rc = err_set(err, SABA_ECORRUPT, 0, "%s/chunks: version %u, index version %u", dir,
                         load_u32le(ch + 4), b->version);
    }
    if (b && b->index_owned && ix) { /* v2: the image is decompressed, the file not needed */
        munmap((void *)ix, ixn);
        ix = NULL;
    }
    if (rc) {
        if (ix)
            munmap((void *)ix, ixn);
        if (ch)
            munmap((void *)ch, chn);
        if (b) {
            if (b->index_owned)
                free((void *)b->index);
            free(b->path);
        }
        free(b);
        return rc;
    }
    b->meta = meta;
    rc = read_tombstones(b, err);
    if (rc) {
        block_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

void block_close(struct block *b)
{
    if (!b)
        return;
    if (b->index_owned)
        free((void *)b->index);
    else if (b->mapped)
        munmap((void *)b->index, b->index_len);
    if (b->mapped)
        munmap((void *)b->chunks, b->chunks_len);
    free(b->path);
    free(b->tombs);
    free(b);
}

const struct block_meta *block_get_meta(const struct block *b)
{
    return &b->meta;
}

const char *block_path(const struct block *b)
{
    return b->path ? b->path : "(memory)";
}

bool block_is_corrupt(const struct block *b)
{
    return atomic_load(&((struct block *)b)->corrupt);
}

uint32_t block_num_series(const struct block *b)
{
    return (uint32_t)b->nseries;
}

uint64_t block_index_bytes(const struct block *b)
{
    return b->index_file_len;
}

uint32_t block_version(const struct block *b)
{
    return b->version;
}

/* The entry of series i, bounds-checked: returns its start or NULL. */
static const uint8_t *series_entry(const struct block *b, uint32_t i, uint32_t *nl, uint32_t *nc)
{
    if (i >= b->nseries)
        return NULL;
    uint64_t off = load_u64le(b->index + b->table_off + 8ull * i);
    if (b->table_off - off < 8)
        return NULL;
    const uint8_t *e = b->index + off;
    *nl = ld16(e);
    *nc = load_u32le(e + 4);
    uint64_t need = 8 + 8ull * *nl + (uint64_t)CHUNK_REF * *nc;
    if (*nl == 0 || *nl > MAX_LABELS || need > b->table_off - off)
        return NULL;
    return e;
}

int block_series_labels(const struct block *b, uint32_t i, struct label *ls, uint32_t *nchunks)
{
    uint32_t nl, nc;
    const uint8_t *e = series_entry(b, i, &nl, &nc);
    if (!e)
        return -1;
    for (uint32_t k = 0; k < nl; k++) {
        uint32_t ns = load_u32le(e + 8 + 8 * k), vs = load_u32le(e + 12 + 8 * k);
        if (ns >= b->nsyms || vs >= b->nsyms)
            return -1;
        ls[k] = (struct label){sym_str(b, ns), sym_str(b, vs)};
    }
    *nchunks = nc;
    return (int)nl;
}

static void mark_corrupt(struct block *b, const char *why)
{
    if (!atomic_exchange(&b->corrupt, true))
        log_error("tsdb", "msg=\"block is corrupt; skipped from now on\" block=%s reason=\"%s\"",
                  block_path(b), why);
}

/* ---- the pack cache ----
 *
 * Decompressed packs of every open block, in a direct-mapped table keyed by
 * (block uid, pack offset) and shared by all threads: a query that reads a
 * series of each of 100 metrics decompresses 100 packs once, and its next
 * run none. Entries are reference-counted: one reference for the table
 * slot, one for each thread that last read a chunk from it (the pin, which
 * keeps block_series_chunk's out->data valid until that thread's next call).
 * Entries of closed blocks are never hit again (uids are not reused) and go
 * when their slot is taken. At most PACK_CACHE_SLOTS x (a pack's content,
 * about PACK_TARGET) bytes stay cached. */

#define PACK_CACHE_SLOTS 512

struct pack_ent {
    uint64_t uid, off;
    uint8_t *data;
    size_t len;
    unsigned refs; /* under cache_mu */
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pack_ent *pack_cache[PACK_CACHE_SLOTS];
static pthread_key_t pin_key;
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void ent_unref_locked(struct pack_ent *e)
{
    if (e && --e->refs == 0) {
        free(e->data);
        free(e);
    }
}

static void pin_release(void *p)
{
    pthread_mutex_lock(&cache_mu);
    ent_unref_locked(p);
    pthread_mutex_unlock(&cache_mu);
}

static void pin_init(void)
{
    pthread_key_create(&pin_key, pin_release);
}

/* Make e (which carries a reference for this) the calling thread's pin. */
static void pin_set(struct pack_ent *e)
{
    pthread_once(&pin_once, pin_init);
    struct pack_ent *old = pthread_getspecific(pin_key);
    pthread_setspecific(pin_key, e);
    if (old)
        pin_release(old);
}

/* The content of the pack at off in b's chunks, verified and pinned for the
 * calling thread. Returns NULL (after mark_corrupt) if it does not verify. */
static struct pack_ent *pack_get(struct block *b, uint64_t off)
{
    /* a series' chunks of one kind share a pack (invariant 4), so after its
     * first chunk the thread's pin is usually the pack wanted: no lock */
    pthread_once(&pin_once, pin_init);
    struct pack_ent *pinned = pthread_getspecific(pin_key);
    if (pinned && pinned->uid == b->uid && pinned->off == off)
        return pinned;
    size_t slot = (size_t)(XXH3_64bits_withSeed(&off, sizeof off, b->uid) % PACK_CACHE_SLOTS);
    pthread_mutex_lock(&cache_mu);
    struct pack_ent *e = pack_cache[slot];
    if (e && e->uid == b->uid && e->off == off)
        e->refs++;
    else
        e = NULL;
    pthread_mutex_unlock(&cache_mu);
    if (e) {
        pin_set(e);
        return e;
    }
    if (off < CHUNKS_HDR || off > b->chunks_len || b->chunks_len - off < PACK_HDR) {
        mark_corrupt(b, "pack reference out of range");
        return NULL;
    }
    const uint8_t *h = b->chunks + off;
    uint32_t zn = load_u32le(h), n = load_u32le(h + 4);
    if (zn > b->chunks_len - off - PACK_HDR || n == 0 || n > PACK_MAX) {
        mark_corrupt(b, "pack out of range");
        return NULL;
    }
    if (crc32c(0, h + PACK_HDR, zn) != load_u32le(h + 8)) {
        mark_corrupt(b, "pack checksum mismatch");
        return NULL;
    }
    uint8_t *data;
    size_t got;
    int z = block_unzstd(h + PACK_HDR, zn, n, &data, &got);
    if (z == -2) {
        mark_corrupt(b, "pack does not decompress");
        return NULL;
    }
    if (z || got != n) {
        free(data);
        mark_corrupt(b, "pack length mismatch");
        return NULL;
    }
    e = xmalloc(sizeof *e);
    *e = (struct pack_ent){b->uid, off, data, n, 2};
    pthread_mutex_lock(&cache_mu);
    struct pack_ent *old = pack_cache[slot];
    pack_cache[slot] = e;
    ent_unref_locked(old);
    pthread_mutex_unlock(&cache_mu);
    pin_set(e);
    return e;
}

int block_series_chunk(struct block *b, uint32_t i, uint32_t j, struct block_chunk *out)
{
    uint32_t nl, nc;
    const uint8_t *e = series_entry(b, i, &nl, &nc);
    if (!e || j >= nc) {
        mark_corrupt(b, "bad series entry");
        return SABA_ECORRUPT;
    }
    const uint8_t *r = e + 8 + 8 * nl + (size_t)CHUNK_REF * j;
    uint64_t off = load_u64le(r + 16);
    uint32_t nb = load_u32le(r + 24);
    const uint8_t *data;
    if (r[35] == BLOCK_ENC_RAW || r[35] == BLOCK_ENC_PLANES) {
        /* v2: off is the pack, the last field the chunk's place in its content */
        struct pack_ent *pe = b->version == FORMAT_V2 ? pack_get(b, off) : NULL;
        uint32_t in = load_u32le(r + 36);
        if (!pe || in > pe->len || nb > pe->len - in) {
            mark_corrupt(b, "chunk reference out of range");
            return SABA_ECORRUPT;
        }
        data = pe->data + in;
    } else {
        if (off < CHUNKS_HDR || off > b->chunks_len || nb > b->chunks_len - off) {
            mark_corrupt(b, "chunk reference out of range");
            return SABA_ECORRUPT;
        }
        data = b->chunks + off;
    }
    if (crc32c(0, data, nb) != load_u32le(r + 28)) {
        mark_corrupt(b, "chunk checksum mismatch");
        return SABA_ECORRUPT;
    }
    out->mint = (int64_t)load_u64le(r);
    out->maxt = (int64_t)load_u64le(r + 8);
    out->data = data;
    out->nbytes = nb;
    out->count = ld16(r + 32);
    out->kind = r[34];
    out->enc = r[35];
    return 0;
}

/* Chunk j's time range and kind without the checksum (for filtering). */
static void chunk_ref(const uint8_t *e, uint32_t nl, uint32_t j, int64_t *mint, int64_t *maxt,
                      uint8_t *kind, uint16_t *count)
{
    const uint8_t *r = e + 8 + 8 * nl + (size_t)CHUNK_REF * j;
    *mint = (int64_t)load_u64le(r);
    *maxt = (int64_t)load_u64le(r + 8);
    *count = ld16(r + 32);
    *kind = r[34];
}

/* Binary search the names table; returns the entry or NULL. */
static const uint8_t *find_name(const struct block *b, const char *name)
{
    uint64_t lo = 0, hi = b->nnames;
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        const uint8_t *e = b->index + b->names_off + NAME_ENTRY * mid;
        int c = strcmp(sym_str(b, load_u32le(e)), name);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct ids {
    uint32_t *v;
    size_t n, cap;
};

static void ids_push(struct ids *s, uint32_t x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void add_postings(const struct block *b, const uint8_t *v, struct ids *out)
{
    uint32_t np = load_u32le(v + 4);
    const uint8_t *p = b->index + load_u64le(v + 8);
    for (uint32_t j = 0; j < np; j++)
        ids_push(out, load_u32le(p + 4u * j));
}

/* Series carrying a value of m's label that m accepts, ascending. */
static struct ids matcher_postings(const struct block *b, const struct matcher *m)
{
    struct ids out = {0};
    const uint8_t *ne = find_name(b, matcher_name(m));
    if (!ne)
        return out;
    uint32_t nv = load_u32le(ne + 4);
    const uint8_t *vals = b->index + load_u64le(ne + 8);
    size_t nvals_hit = 0;
    if (matcher_type(m) == MATCH_EQ) {
        uint32_t lo = 0, hi = nv;
        const char *want = matcher_value(m);
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            int c = strcmp(sym_str(b, load_u32le(vals + VALUE_ENTRY * mid)), want);
            if (c == 0) {
                add_postings(b, vals + VALUE_ENTRY * mid, &out);
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return out;
    }
    for (uint32_t k = 0; k < nv; k++) {
        const char *s = sym_str(b, load_u32le(vals + VALUE_ENTRY * k));
        if (matcher_matches(m, s, strlen(s))) {
            add_postings(b, vals + VALUE_ENTRY * k, &out);
            nvals_hit++;
        }
    }
    if (nvals_hit > 1 && out.n > 1) {
        qsort(out.v, out.n, sizeof *out.v, cmp_u32);
        size_t j = 1;
        for (size_t i = 1; i < out.n; i++)
            if (out.v[i] != out.v[j - 1])
                out.v[j++] = out.v[i];
        out.n = j;
    }
    return out;
}

static bool labels_accept(const struct label *ls, int nl, struct matcher *const *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        const char *v = "";
        for (int k = 0; k < nl; k++)
            if (!strcmp(ls[k].name, matcher_name(m[i]))) {
                v = ls[k].value;
                break;
            }
        if (!matcher_matches(m[i], v, strlen(v)))
            return false;
    }
    return true;
}

/* Series the postings of m's non-empty-matching matchers allow (all series
 * if there are none), ascending; labels still to be checked. */
static struct ids candidates(const struct block *b, struct matcher *const *m, size_t nm)
{
    struct ids cand = {0};
    bool have = false;
    for (size_t i = 0; i < nm; i++) {
        if (matcher_matches(m[i], "", 0))
            continue;
        struct ids u = matcher_postings(b, m[i]);
        if (!have) {
            cand = u;
            have = true;
        } else {
            cand.n = postings_intersect(cand.v, cand.n, u.v, u.n);
            free(u.v);
        }
    }
    if (!have)
        for (uint32_t i = 0; i < b->nseries; i++)
            ids_push(&cand, i);
    return cand;
}

/* Series numbers whose labels satisfy every matcher, ascending. */
static struct ids match_series(const struct block *b, struct matcher *const *m, size_t nm)
{
    struct ids cand = candidates(b, m, nm);
    struct label ls[MAX_LABELS];
    size_t k = 0;
    for (size_t i = 0; i < cand.n; i++) {
        uint32_t nc;
        int nl = block_series_labels(b, cand.v[i], ls, &nc);
        if (nl >= 0 && labels_accept(ls, nl, m, nm))
            cand.v[k++] = cand.v[i];
    }
    cand.n = k;
    return cand;
}

int block_select(struct block *b, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                 bool samples, enum block_kind kind, struct series_set *out, struct saba_err *err)
{
    out->v = NULL;
    out->n = 0;
    if (block_is_corrupt(b))
        return 0;
    struct ids cand = candidates(b, m, nm);
    size_t cap = 0;
    int rc = 0;
    struct label ls[MAX_LABELS];
    for (size_t k = 0; k < cand.n && rc == 0; k++) {
        uint32_t nc;
        int nl = block_series_labels(b, cand.v[k], ls, &nc);
        if (nl < 0) {
            mark_corrupt(b, "bad series entry");
            rc = err_set(err, SABA_ECORRUPT, 0, "%s: bad series entry", block_path(b));
            break;
        }
        if (!labels_accept(ls, nl, m, nm))
            continue;
        uint32_t nl_, nc_;
        const uint8_t *e = series_entry(b, cand.v[k], &nl_, &nc_);
        size_t room = 0;
        for (uint32_t j = 0; j < nc; j++) {
            int64_t a, z;
            uint8_t kd;
            uint16_t cnt;
            chunk_ref(e, nl_, j, &a, &z, &kd, &cnt);
            if (kd == kind && z >= mint && a <= maxt)
                room += cnt;
        }
        if (!room)
            continue;
        struct series_data sd = {0};
        if (samples) {
            sd.t = xmalloc(room * sizeof *sd.t);
            sd.v = xmalloc(room * sizeof *sd.v);
            for (uint32_t j = 0; j < nc && rc == 0; j++) {
                int64_t a, z;
                uint8_t kd;
                uint16_t cnt;
                chunk_ref(e, nl_, j, &a, &z, &kd, &cnt);
                if (kd != kind || z < mint || a > maxt)
                    continue;
                struct block_chunk c;
                if (block_series_chunk(b, cand.v[k], j, &c) != 0) {
                    rc = err_set(err, SABA_ECORRUPT, 0, "%s: chunk checksum mismatch",
                                 block_path(b));
                    break;
                }
                if (c.count > room - sd.n + 0u && c.count > 0) {
                    /* more samples than the references promised: corrupt */
                    mark_corrupt(b, "chunk count mismatch");
                    rc = err_set(err, SABA_ECORRUPT, 0, "%s: chunk count mismatch", block_path(b));
                    break;
                }
                /* decode in place at the end of the arrays, then keep [mint, maxt] */
                int got = block_chunk_decode(&c, sd.t + sd.n, sd.v + sd.n);
                if (got < 0) {
                    mark_corrupt(b, "chunk does not decode");
                    rc = err_set(err, SABA_ECORRUPT, 0, "%s: chunk does not decode", block_path(b));
                    break;
                }
                size_t keep = sd.n;
                bool tomb = b->ntombs && block_series_has_tombstones(b, cand.v[k]);
                for (int q = 0; q < got; q++) {
                    int64_t t = sd.t[sd.n + (size_t)q];
                    if (t < mint || t > maxt || (tomb && block_deleted(b, cand.v[k], t)))
                        continue;
                    sd.t[keep] = t;
                    sd.v[keep++] = sd.v[sd.n + (size_t)q];
                }
                sd.n = keep;
            }
            if (rc || !sd.n) {
                free(sd.t);
                free(sd.v);
                continue;
            }
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->v = xrealloc(out->v, cap * sizeof *out->v);
        }
        sd.labels = labels_copy(ls, (size_t)nl);
        out->v[out->n++] = sd;
    }
    free(cand.v);
    if (rc)
        series_set_free(out);
    return rc;
}

size_t block_match(const struct block *b, struct matcher *const *m, size_t nm, uint32_t **ids)
{
    *ids = NULL;
    if (block_is_corrupt(b))
        return 0;
    struct ids s = match_series(b, m, nm);
    if (!s.n) {
        free(s.v);
        return 0;
    }
    *ids = s.v;
    return s.n;
}

int block_series_chunk_ref(const struct block *b, uint32_t i, uint32_t j, struct block_chunk *out)
{
    uint32_t nl, nc;
    const uint8_t *e = series_entry(b, i, &nl, &nc);
    if (!e || j >= nc)
        return SABA_ECORRUPT;
    const uint8_t *r = e + 8 + 8 * nl + (size_t)CHUNK_REF * j;
    *out = (struct block_chunk){.mint = (int64_t)load_u64le(r),
                                .maxt = (int64_t)load_u64le(r + 8),
                                .nbytes = load_u32le(r + 24),
                                .count = ld16(r + 32),
                                .kind = r[34],
                                .enc = r[35]};
    return 0;
}

void block_set_corrupt(struct block *b, const char *why)
{
    mark_corrupt(b, why);
}

void block_label_names(struct block *b, struct strlist *out)
{
    if (block_is_corrupt(b))
        return;
    for (uint64_t i = 0; i < b->nnames; i++)
        strlist_add(out, sym_str(b, load_u32le(b->index + b->names_off + NAME_ENTRY * i)));
}

void block_label_values(struct block *b, const char *name, struct strlist *out)
{
    if (block_is_corrupt(b))
        return;
    const uint8_t *ne = find_name(b, name);
    if (!ne)
        return;
    uint32_t nv = load_u32le(ne + 4);
    const uint8_t *vals = b->index + load_u64le(ne + 8);
    for (uint32_t k = 0; k < nv; k++)
        strlist_add(out, sym_str(b, load_u32le(vals + VALUE_ENTRY * k)));
}

int block_delete(struct block *b, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                 size_t *nseries, struct saba_err *err)
{
    *nseries = 0;
    if (block_is_corrupt(b) || maxt < b->meta.mint || mint > b->meta.maxt)
        return 0;
    struct ids cand = match_series(b, m, nm);
    size_t n = 0;
    struct tomb *t = xmalloc((b->ntombs + cand.n + 1) * sizeof *t);
    if (b->ntombs)
        memcpy(t, b->tombs, b->ntombs * sizeof *t);
    n = b->ntombs;
    for (size_t k = 0; k < cand.n; k++)
        t[n++] = (struct tomb){cand.v[k], mint, maxt};
    free(cand.v);
    if (n == b->ntombs) {
        free(t);
        return 0;
    }
    struct buf f = BUF_INIT;
    buf_put_u32le(&f, TOMB_MAGIC);
    buf_put_u32le(&f, FORMAT_V1);
    buf_put_u32le(&f, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        buf_put_u32le(&f, t[i].series);
        buf_put_u32le(&f, 0);
        buf_put_u64le(&f, (uint64_t)t[i].mint);
        buf_put_u64le(&f, (uint64_t)t[i].maxt);
    }
    buf_put_u32le(&f, crc32c(0, f.data, f.len));
    int rc = 0;
    if (!b->path) {
        rc = err_set(err, SABA_EINVAL, 0, "block in memory");
    } else if (fops_write_file_atomic(b->path, "tombstones", f.data, f.len) != 0) {
        rc = err_set(err, errno == ENOSPC ? SABA_ENOSPC : SABA_EIO, 0, "write %s/tombstones: %s",
                     b->path, strerror(errno));
    }
    buf_free(&f);
    if (rc) {
        free(t);
        return rc;
    }
    *nseries = n - b->ntombs;
    qsort(t, n, sizeof *t, cmp_tomb);
    free(b->tombs);
    b->tombs = t;
    b->ntombs = n;
    return 0;
}
