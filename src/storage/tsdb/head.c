/*
 * head.c - in-memory series, chunks and inverted index (see head.h).
 *
 * Memory is what limits how many series one server holds, so a series costs
 * little: a 72-byte struct in a slab indexed by id (no malloc header, no
 * pointer array), its label symbol ids in a shared arena, one slot of a
 * uint32 hash table, and one entry per label in the postings.
 *
 * Invariants:
 *  1. Series ids are dense, 0..nseries-1; a slot with nlabels == 0 is empty
 *     (only a WAL replay that skipped a corrupt segment leaves gaps).
 *  2. A series' closed chunks are ordered by time and do not overlap; the
 *     open chunk's samples are all later than every closed chunk's.
 *  3. Each postings list is strictly ascending (ids only grow).
 */
#include "storage/tsdb/head.h"
#include "storage/tsdb/postings.h"
#include "base/alloc.h"
#include "base/par.h"
#include "base/hashmap.h"
#include "storage/labels.h"
#include "storage/tsdb/chunk.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define ARENA_BLOCK     (64 * 1024) /* bytes of symbol text per block */
#define SLAB_SHIFT      10          /* 1024 series per slab */
#define SLAB_SERIES     (1u << SLAB_SHIFT)
#define LABEL_BLOCK     65536 /* uint32 symbol ids per label-arena block */
#define NO_SERIES       UINT32_MAX
#define HEAD_MAX_LABELS 256

/* A closed chunk. On a little-endian machine its layout is that of a chunk
 * record of a version 2 checkpoint (FORMAT.md), so chunks restored from a
 * mapped checkpoint are used where they lie. */
enum { CHUNK_HEAP, CHUNK_MAPPED = HEAD_CHUNK_RECORD_MAPPED };
struct closed_chunk {
    int64_t min_t, max_t;
    uint32_t nbytes;
    uint16_t count;
    uint8_t where; /* CHUNK_*: malloc'ed, or in the adopted image */
    uint8_t pad;
    uint8_t data[];
};
_Static_assert(offsetof(struct closed_chunk, nbytes) == 16 &&
                   offsetof(struct closed_chunk, count) == 20 &&
                   offsetof(struct closed_chunk, where) == 22 &&
                   offsetof(struct closed_chunk, data) == HEAD_CHUNK_RECORD_HEADER,
               "closed_chunk must match a checkpoint chunk record");

struct hseries {
    uint64_t hash; /* of the label set, as batch_series_end computes it */
    struct closed_chunk **closed;
    struct chunk_enc open;
    uint32_t label_off; /* first of nlabels (name, value) symbol pairs in the label arena */
    uint32_t nclosed;
    uint16_t nlabels; /* 0: empty slot */
    uint8_t logged;
};

struct idvec {
    uint32_t *v;
    uint32_t n, cap;
};

struct head {
    /* symbols */
    char **sym_str;
    uint32_t *sym_len;
    uint32_t nsyms, cap_syms;
    struct hashmap sym_map; /* xxh3(string) -> symbol id */
    char **arena_blocks;
    size_t narena, arena_used;
    /* series */
    struct hseries **slabs;
    uint32_t nslabs, nslabs_used;
    uint32_t nseries;
    uint32_t **label_blocks; /* label arena: blocks of LABEL_BLOCK symbol ids */
    uint32_t nlabel_blocks, label_used;
    uint64_t *table; /* open addressing by label hash: slots (see slot_of), SLOT_EMPTY = empty */
    uint32_t table_cap, table_len;
    /* index */
    struct hashmap postings_map; /* name<<32|value -> index into postings */
    struct idvec *postings;
    uint32_t npostings, cap_postings;
    struct hashmap values_map; /* name symbol -> index into values */
    struct idvec *values;      /* value symbols of a name, in creation order */
    uint32_t nvalues, cap_values;
    const uint8_t *image; /* adopted checkpoint mapping (head_adopt_image), or NULL */
    size_t image_len;
    uint64_t image_refs; /* chunks in the image, +1 until head_adopt_image(NULL) */
    struct head_tally k; /* samples, their time range, chunk memory */
};

static void idvec_push(struct idvec *v, uint32_t x)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap + v->cap / 2 + 1 : 2;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = x;
}

/* The series in slot id, or NULL if there is none. */
/* The slot of series id, whose slab must exist. Unlike series_at it reads
 * nothing the thread creating series writes (see head_append_shard). */
static struct hseries *slot_at(const struct head *h, uint32_t id)
{
    return &h->slabs[id >> SLAB_SHIFT][id & (SLAB_SERIES - 1)];
}

static struct hseries *series_at(const struct head *h, uint32_t id)
{
    if (id >= h->nseries)
        return NULL;
    struct hseries *slab = h->slabs[id >> SLAB_SHIFT];
    if (!slab) /* slabs are allocated on first use: a replay may leave id gaps */
        return NULL;
    struct hseries *s = &slab[id & (SLAB_SERIES - 1)];
    return s->nlabels ? s : NULL;
}

static const uint32_t *series_labels(const struct head *h, const struct hseries *s)
{
    return h->label_blocks[s->label_off / LABEL_BLOCK] + s->label_off % LABEL_BLOCK;
}

static int64_t open_min_t(const struct hseries *s)
{
    return chunk_first_t(s->open.buf);
}

static void table_free(uint64_t *t, uint32_t cap);

/* Atomic: replay threads drop chunks of their own series (head_append_shard). */
static void image_unref(struct head *h)
{
    if (__atomic_sub_fetch(&h->image_refs, 1, __ATOMIC_ACQ_REL) == 0) {
        munmap((void *)h->image, h->image_len);
        h->image = NULL;
    }
}

static void chunk_release(struct head *h, struct closed_chunk *c)
{
    if (c->where == CHUNK_MAPPED)
        image_unref(h);
    else
        free(c);
}

struct head *head_new(void)
{
    return xcalloc(1, sizeof(struct head));
}

void head_free(struct head *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->nseries; i++) {
        struct hseries *s = series_at(h, i);
        if (!s)
            continue;
        for (uint32_t c = 0; c < s->nclosed; c++)
            chunk_release(h, s->closed[c]);
        free(s->closed);
        chunk_enc_free(&s->open);
    }
    for (uint32_t i = 0; i < h->nslabs; i++)
        free(h->slabs[i]);
    free(h->slabs);
    for (uint32_t i = 0; i < h->nlabel_blocks; i++)
        free(h->label_blocks[i]);
    free(h->label_blocks);
    table_free(h->table, h->table_cap);
    for (uint32_t i = 0; i < h->npostings; i++)
        free(h->postings[i].v);
    free(h->postings);
    for (uint32_t i = 0; i < h->nvalues; i++)
        free(h->values[i].v);
    free(h->values);
    for (size_t i = 0; i < h->narena; i++)
        free(h->arena_blocks[i]);
    free(h->arena_blocks);
    if (h->image)
        munmap((void *)h->image, h->image_len);
    free(h->sym_str);
    free(h->sym_len);
    hashmap_free(&h->sym_map);
    hashmap_free(&h->postings_map);
    hashmap_free(&h->values_map);
    free(h);
}

/* ---- symbols ---- */

static char *arena_alloc(struct head *h, size_t n)
{
    if (n > ARENA_BLOCK / 4) {
        /* large strings get their own block so the current one is not wasted */
        h->arena_blocks = xrealloc(h->arena_blocks, (h->narena + 1) * sizeof *h->arena_blocks);
        char *p = xmalloc(n);
        /* keep the current block last */
        if (h->narena) {
            h->arena_blocks[h->narena] = h->arena_blocks[h->narena - 1];
            h->arena_blocks[h->narena - 1] = p;
        } else {
            h->arena_blocks[0] = p;
            h->arena_used = ARENA_BLOCK;
        }
        h->narena++;
        return p;
    }
    if (!h->narena || h->arena_used + n > ARENA_BLOCK) {
        h->arena_blocks = xrealloc(h->arena_blocks, (h->narena + 1) * sizeof *h->arena_blocks);
        h->arena_blocks[h->narena++] = xmalloc(ARENA_BLOCK);
        h->arena_used = 0;
    }
    char *p = h->arena_blocks[h->narena - 1] + h->arena_used;
    h->arena_used += n;
    return p;
}

/* Symbol id of s, or UINT32_MAX if it was never interned. */
static uint32_t sym_find(const struct head *h, const char *s, size_t n, uint64_t hash)
{
    uint64_t id;
    size_t pos;
    for (bool ok = hashmap_find(&h->sym_map, hash, &id, &pos); ok;
         ok = hashmap_next(&h->sym_map, hash, &id, &pos))
        if (h->sym_len[id] == n && memcmp(h->sym_str[id], s, n) == 0)
            return (uint32_t)id;
    return UINT32_MAX;
}

static uint32_t sym_intern(struct head *h, const char *s, size_t n)
{
    uint64_t hash = XXH3_64bits(s, n);
    uint32_t id = sym_find(h, s, n, hash);
    if (id != UINT32_MAX)
        return id;
    if (h->nsyms == h->cap_syms) {
        h->cap_syms = h->cap_syms ? h->cap_syms * 2 : 1024;
        h->sym_str = xrealloc(h->sym_str, h->cap_syms * sizeof *h->sym_str);
        h->sym_len = xrealloc(h->sym_len, h->cap_syms * sizeof *h->sym_len);
    }
    char *p = arena_alloc(h, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    id = h->nsyms++;
    h->sym_str[id] = p;
    h->sym_len[id] = (uint32_t)n;
    hashmap_add(&h->sym_map, hash, id);
    return id;
}

/* ---- series ---- */

static uint64_t hash_labels(const struct head_label *ls, size_t n)
{
    /* Must equal batch_series_end's hash: "name\xffvalue\xff" for each label.
     * Built in a per-thread buffer when it fits: a restart hashes every
     * series, and a malloc each was a visible part of it. */
    static _Thread_local char stack[1024];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)ls[i].name_len + ls[i].value_len + 2;
    char *b = len <= sizeof stack ? stack : xmalloc(len), *q = b;
    for (size_t i = 0; i < n; i++) {
        memcpy(q, ls[i].name, ls[i].name_len);
        q += ls[i].name_len;
        *q++ = (char)0xff;
        memcpy(q, ls[i].value, ls[i].value_len);
        q += ls[i].value_len;
        *q++ = (char)0xff;
    }
    uint64_t h = XXH3_64bits(b, len);
    if (b != stack)
        free(b);
    return h;
}

static void index_add(struct head *h, uint32_t name, uint32_t value, uint32_t id)
{
    uint64_t key = (uint64_t)name << 32 | value, idx;
    size_t pos;
    if (!hashmap_find(&h->postings_map, key, &idx, &pos)) {
        if (h->npostings == h->cap_postings) {
            h->cap_postings = h->cap_postings ? h->cap_postings * 2 : 256;
            h->postings = xrealloc(h->postings, h->cap_postings * sizeof *h->postings);
        }
        idx = h->npostings++;
        h->postings[idx] = (struct idvec){0};
        hashmap_add(&h->postings_map, key, idx);
        uint64_t vidx;
        if (!hashmap_find(&h->values_map, name, &vidx, &pos)) {
            if (h->nvalues == h->cap_values) {
                h->cap_values = h->cap_values ? h->cap_values * 2 : 64;
                h->values = xrealloc(h->values, h->cap_values * sizeof *h->values);
            }
            vidx = h->nvalues++;
            h->values[vidx] = (struct idvec){0};
            hashmap_add(&h->values_map, name, vidx);
        }
        idvec_push(&h->values[vidx], value);
    }
    idvec_push(&h->postings[idx], id);
}

/* A table slot holds a series id in its low half and the high half of the
 * series' label hash in its high half. The probe starts from that hash half
 * too, so a probe passes over other series, and the table grows, without
 * touching a series (in a large head, each would be a cache miss). */
#define SLOT_EMPTY UINT64_MAX

static uint64_t slot_of(uint64_t hash, uint32_t id)
{
    return (hash & 0xffffffff00000000u) | id;
}

static uint32_t slot_home(uint64_t slot_or_hash, uint32_t cap)
{
    return (uint32_t)(slot_or_hash >> 32) & (cap - 1);
}

static void table_put(uint64_t *table, uint32_t cap, uint64_t slot)
{
    uint32_t i = slot_home(slot, cap);
    while (table[i] != SLOT_EMPTY)
        i = (i + 1) & (cap - 1);
    table[i] = slot;
}

/* The table of a large head is mapped with huge pages when the kernel gives
 * them: every lookup is a random access, and on a virtual machine a TLB miss
 * costs as much as the cache miss. */
#define TABLE_MAP_BYTES ((size_t)4 << 20)

static uint64_t *table_alloc(uint32_t cap)
{
    size_t bytes = (size_t)cap * sizeof(uint64_t);
    void *t = NULL;
    if (bytes >= TABLE_MAP_BYTES) {
        t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (t == MAP_FAILED)
            t = NULL;
        else
            madvise(t, bytes, MADV_HUGEPAGE);
    }
    if (!t)
        t = xmalloc(bytes);
    memset(t, 0xff, bytes);
    return t;
}

static void table_free(uint64_t *t, uint32_t cap)
{
    size_t bytes = (size_t)cap * sizeof(uint64_t);
    if (t && bytes >= TABLE_MAP_BYTES)
        munmap(t, bytes);
    else
        free(t);
}

/* Make room for n series in all (load factor at most 0.7). */
static void table_reserve(struct head *h, uint32_t n)
{
    if ((uint64_t)n * 10 <= (uint64_t)h->table_cap * 7)
        return;
    uint32_t cap = h->table_cap ? h->table_cap : 1024;
    while ((uint64_t)n * 10 > (uint64_t)cap * 7)
        cap *= 2;
    uint64_t *t = table_alloc(cap);
    for (uint32_t i = 0; i < h->table_cap; i++)
        if (h->table[i] != SLOT_EMPTY)
            table_put(t, cap, h->table[i]);
    table_free(h->table, h->table_cap);
    h->table = t;
    h->table_cap = cap;
}

static void table_add(struct head *h, uint64_t hash, uint32_t id)
{
    table_reserve(h, h->table_len + 1);
    table_put(h->table, h->table_cap, slot_of(hash, id));
    h->table_len++;
}

static void slabs_reserve(struct head *h, uint32_t nslabs)
{
    if (nslabs <= h->nslabs)
        return;
    h->slabs = xrealloc(h->slabs, nslabs * sizeof *h->slabs);
    memset(h->slabs + h->nslabs, 0, (nslabs - h->nslabs) * sizeof *h->slabs);
    h->nslabs = nslabs;
}

void head_reserve(struct head *h, uint32_t nseries)
{
    if (nseries > (1u << 28))
        nseries = 1u << 28;
    table_reserve(h, nseries);
    slabs_reserve(h, (nseries + SLAB_SERIES - 1) >> SLAB_SHIFT);
}

/* Room for n label symbol ids that do not straddle two arena blocks. */
static uint32_t label_alloc(struct head *h, uint32_t n)
{
    if (!h->nlabel_blocks || h->label_used + n > LABEL_BLOCK) {
        h->label_blocks =
            xrealloc(h->label_blocks, (h->nlabel_blocks + 1) * sizeof *h->label_blocks);
        h->label_blocks[h->nlabel_blocks++] = xmalloc(LABEL_BLOCK * sizeof(uint32_t));
        h->label_used = 0;
    }
    uint32_t off = (h->nlabel_blocks - 1) * LABEL_BLOCK + h->label_used;
    h->label_used += n;
    return off;
}

static struct hseries *series_insert(struct head *h, uint32_t id, uint64_t hash,
                                     const struct head_label *ls, size_t n)
{
    slabs_reserve(h, (id >> SLAB_SHIFT) + 1);
    if (!h->slabs[id >> SLAB_SHIFT]) {
        h->slabs[id >> SLAB_SHIFT] = xcalloc(SLAB_SERIES, sizeof(struct hseries));
        h->nslabs_used++;
    }
    struct hseries *s = slot_at(h, id);
    memset(s, 0, sizeof *s);
    s->hash = hash;
    s->nlabels = (uint16_t)n;
    chunk_enc_init(&s->open);
    s->label_off = label_alloc(h, (uint32_t)(2 * n));
    uint32_t *sl = h->label_blocks[s->label_off / LABEL_BLOCK] + s->label_off % LABEL_BLOCK;
    for (size_t i = 0; i < n; i++) {
        sl[2 * i] = sym_intern(h, ls[i].name, ls[i].name_len);
        sl[2 * i + 1] = sym_intern(h, ls[i].value, ls[i].value_len);
    }
    if (id >= h->nseries)
        h->nseries = id + 1;
    table_add(h, hash, id);
    for (size_t i = 0; i < n; i++)
        index_add(h, sl[2 * i], sl[2 * i + 1], id);
    return s;
}

static bool series_equal(const struct head *h, const struct hseries *s, const struct head_label *ls,
                         size_t n)
{
    if (s->nlabels != n)
        return false;
    const uint32_t *sl = series_labels(h, s);
    for (size_t i = 0; i < n; i++) {
        uint32_t ns = sl[2 * i], vs = sl[2 * i + 1];
        if (h->sym_len[ns] != ls[i].name_len || h->sym_len[vs] != ls[i].value_len ||
            memcmp(h->sym_str[ns], ls[i].name, ls[i].name_len) != 0 ||
            memcmp(h->sym_str[vs], ls[i].value, ls[i].value_len) != 0)
            return false;
    }
    return true;
}

/* Id of the series with these labels, or NO_SERIES. */
static uint32_t series_find(const struct head *h, uint64_t hash, const struct head_label *ls,
                            size_t n)
{
    if (!h->table_cap)
        return NO_SERIES;
    uint64_t tag = slot_of(hash, 0);
    for (uint32_t i = slot_home(hash, h->table_cap); h->table[i] != SLOT_EMPTY;
         i = (i + 1) & (h->table_cap - 1)) {
        if ((h->table[i] & 0xffffffff00000000u) != tag)
            continue;
        uint32_t id = (uint32_t)h->table[i];
        const struct hseries *s = series_at(h, id);
        if (s->hash == hash && series_equal(h, s, ls, n))
            return id;
    }
    return NO_SERIES;
}

uint32_t head_series_for(struct head *h, const struct batch *b, const struct batch_sample *s,
                         bool *is_new)
{
    struct head_label ls[HEAD_MAX_LABELS];
    size_t n = s->nlabels < HEAD_MAX_LABELS ? s->nlabels : HEAD_MAX_LABELS;
    for (size_t i = 0; i < n; i++) {
        const struct batch_label *bl = &b->labels[s->label_off + i];
        ls[i] = (struct head_label){batch_str(b, bl->name_off), bl->name_len,
                                    batch_str(b, bl->value_off), bl->value_len};
    }
    uint32_t id = series_find(h, s->hash, ls, n);
    if (id == NO_SERIES) {
        id = h->nseries;
        series_insert(h, id, s->hash, ls, n);
    }
    *is_new = series_at(h, id)->logged == 0;
    return id;
}

int head_series_create(struct head *h, uint32_t id, const struct head_label *ls, size_t n)
{
    if (n == 0 || n > HEAD_MAX_LABELS || id == NO_SERIES)
        return SABA_EINVAL;
    uint64_t hash = hash_labels(ls, n);
    const struct hseries *old = series_at(h, id);
    if (old)
        return series_equal(h, old, ls, n) ? 0 : SABA_EINVAL;
    if (series_find(h, hash, ls, n) != NO_SERIES)
        return SABA_EINVAL;
    series_insert(h, id, hash, ls, n)->logged = 1;
    return 0;
}

void head_set_logged(struct head *h, uint32_t id, bool logged)
{
    series_at(h, id)->logged = logged;
}

bool head_has_series(const struct head *h, uint32_t id)
{
    return series_at(h, id) != NULL;
}

uint32_t head_num_series(const struct head *h)
{
    return h->nseries;
}

/* ---- samples ---- */

/* A malloc'ed closed chunk holding a copy of data, counted in k. */
static struct closed_chunk *closed_new(struct head_tally *k, int64_t min_t, int64_t max_t,
                                       uint16_t count, const uint8_t *data, uint32_t nb)
{
    struct closed_chunk *c = xmalloc(sizeof *c + nb);
    *c = (struct closed_chunk){min_t, max_t, nb, count, CHUNK_HEAP, 0};
    memcpy(c->data, data, nb);
    k->chunk_bytes += sizeof *c + nb;
    return c;
}

static void close_open_chunk(struct head_tally *k, struct hseries *s)
{
    struct closed_chunk *c = closed_new(k, open_min_t(s), s->open.t, s->open.count, s->open.buf,
                                        chunk_enc_len(&s->open));
    s->closed = xrealloc(s->closed, (s->nclosed + 1) * sizeof *s->closed);
    s->closed[s->nclosed++] = c;
    chunk_enc_free(&s->open);
}

/* Decode a chunk into arrays with room for one more sample; returns the count. */
static size_t decode_all(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t **ts,
                         double **vs)
{
    *ts = xmalloc(((size_t)count + 1) * sizeof **ts);
    *vs = xmalloc(((size_t)count + 1) * sizeof **vs);
    struct chunk_iter it;
    chunk_iter_init(&it, data, nbytes, count);
    size_t n = 0;
    while (chunk_iter_next(&it, &(*ts)[n], &(*vs)[n]) == 1)
        n++;
    return n;
}

/* Put (t, v) into sorted arrays of n samples (room for n+1): replaces an equal
 * timestamp, else inserts. Returns the new count. */
static size_t merge_sample(struct head_tally *k, int64_t *ts, double *vs, size_t n, int64_t t,
                           double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && ts[lo] == t) {
        /* an identical resend changes nothing and is not an overwrite */
        if (memcmp(&vs[lo], &v, sizeof v) != 0) {
            vs[lo] = v;
            k->overwritten++;
        }
        return n;
    }
    memmove(ts + lo + 1, ts + lo, (n - lo) * sizeof *ts);
    memmove(vs + lo + 1, vs + lo, (n - lo) * sizeof *vs);
    ts[lo] = t;
    vs[lo] = v;
    k->nsamples++;
    k->ooo++;
    return n + 1;
}

static void encode_all(struct chunk_enc *e, const int64_t *ts, const double *vs, size_t n)
{
    chunk_enc_init(e);
    for (size_t i = 0; i < n; i++)
        chunk_enc_append(e, ts[i], vs[i]);
}

static struct closed_chunk *make_closed(struct head_tally *k, const int64_t *ts, const double *vs,
                                        size_t n)
{
    struct chunk_enc e;
    encode_all(&e, ts, vs, n);
    struct closed_chunk *c = closed_new(k, ts[0], ts[n - 1], (uint16_t)n, e.buf, chunk_enc_len(&e));
    chunk_enc_free(&e);
    return c;
}

static void free_closed(struct head *h, struct head_tally *k, struct closed_chunk *c)
{
    k->chunk_bytes -= sizeof *c + c->nbytes;
    chunk_release(h, c);
}

/* Replace closed chunk c by chunks holding ts/vs (n samples), split so no chunk
 * grows past two targets' worth: out-of-order backfill into old time ranges
 * must not build one endless chunk (and the count field is 16 bits). */
static void replace_closed(struct head *h, struct head_tally *k, struct hseries *s, uint32_t c,
                           const int64_t *ts, const double *vs, size_t n)
{
    size_t pieces =
        n > 2 * CHUNK_TARGET_SAMPLES ? (n + CHUNK_TARGET_SAMPLES - 1) / CHUNK_TARGET_SAMPLES : 1;
    free_closed(h, k, s->closed[c]);
    if (pieces > 1) {
        s->closed = xrealloc(s->closed, (s->nclosed + pieces - 1) * sizeof *s->closed);
        memmove(s->closed + c + pieces, s->closed + c + 1,
                (s->nclosed - c - 1) * sizeof *s->closed);
        s->nclosed += (uint32_t)(pieces - 1);
    }
    size_t per = pieces > 1 ? CHUNK_TARGET_SAMPLES : n;
    for (size_t p = 0; p < pieces; p++) {
        size_t off = p * per, cnt = p + 1 == pieces ? n - off : per;
        s->closed[c + p] = make_closed(k, ts + off, vs + off, cnt);
    }
}

/* Slow path: t is not after the series' newest sample. */
static void insert_behind(struct head *h, struct head_tally *k, struct hseries *s, int64_t t,
                          double v)
{
    /* Target: the first closed chunk whose range reaches t, else the open chunk
     * (or the last closed one if the open chunk is empty). */
    uint32_t c = 0;
    while (c < s->nclosed && s->closed[c]->max_t < t)
        c++;
    int64_t *ts;
    double *vs;
    size_t n;
    if (c == s->nclosed && s->open.count > 0) {
        n = decode_all(s->open.buf, chunk_enc_len(&s->open), s->open.count, &ts, &vs);
        n = merge_sample(k, ts, vs, n, t, v);
        chunk_enc_free(&s->open);
        size_t keep = n;
        if (n > 2 * CHUNK_TARGET_SAMPLES) {
            /* move full chunks out, keep the newest part open */
            size_t off = 0;
            while (n - off > CHUNK_TARGET_SAMPLES) {
                s->closed = xrealloc(s->closed, (s->nclosed + 1) * sizeof *s->closed);
                s->closed[s->nclosed++] = make_closed(k, ts + off, vs + off, CHUNK_TARGET_SAMPLES);
                off += CHUNK_TARGET_SAMPLES;
            }
            memmove(ts, ts + off, (n - off) * sizeof *ts);
            memmove(vs, vs + off, (n - off) * sizeof *vs);
            keep = n - off;
        }
        encode_all(&s->open, ts, vs, keep);
    } else {
        if (c == s->nclosed)
            c--;
        const struct closed_chunk *old = s->closed[c];
        n = decode_all(old->data, old->nbytes, old->count, &ts, &vs);
        n = merge_sample(k, ts, vs, n, t, v);
        replace_closed(h, k, s, c, ts, vs, n);
    }
    free(ts);
    free(vs);
}

static void append_to(struct head *h, struct head_tally *k, struct hseries *s, int64_t t, double v)
{
    if (k->nsamples == 0 || t < k->mint)
        k->mint = t;
    if (k->nsamples == 0 || t > k->maxt)
        k->maxt = t;
    bool empty = s->open.count == 0 && s->nclosed == 0;
    int64_t last = s->open.count ? s->open.t : (s->nclosed ? s->closed[s->nclosed - 1]->max_t : 0);
    if (!empty && t <= last) {
        if (t == last && s->open.count) {
            uint64_t vb;
            memcpy(&vb, &v, 8);
            if (vb == s->open.vbits)
                return; /* exact duplicate: nothing to do */
        }
        insert_behind(h, k, s, t, v);
        return;
    }
    if (s->open.count >= CHUNK_TARGET_SAMPLES)
        close_open_chunk(k, s);
    chunk_enc_append(&s->open, t, v);
    k->nsamples++;
}

void head_append(struct head *h, uint32_t id, int64_t t, double v)
{
    append_to(h, &h->k, series_at(h, id), t, v);
}

uint32_t head_capacity(const struct head *h)
{
    uint64_t n = (uint64_t)h->nslabs << SLAB_SHIFT;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void head_append_shard(struct head *h, struct head_tally *k, uint32_t id, int64_t t, double v)
{
    append_to(h, k, slot_at(h, id), t, v); /* not series_at: h->nseries may be moving */
}

void head_prefetch_series(const struct head *h, uint32_t id)
{
    __builtin_prefetch(slot_at(h, id), 1);
}

void head_prefetch(const struct head *h, uint32_t id)
{
    const struct hseries *s = slot_at(h, id);
    if (s->open.buf)
        __builtin_prefetch(s->open.buf + (s->open.nbits >> 3), 1);
}

void head_add_tally(struct head *h, const struct head_tally *k)
{
    if (k->nsamples > 0) {
        if (h->k.nsamples == 0 || k->mint < h->k.mint)
            h->k.mint = k->mint;
        if (h->k.nsamples == 0 || k->maxt > h->k.maxt)
            h->k.maxt = k->maxt;
    }
    h->k.nsamples += k->nsamples;
    h->k.ooo += k->ooo;
    h->k.overwritten += k->overwritten;
    h->k.chunk_bytes += k->chunk_bytes;
}

/* ---- selection ---- */

/* A matcher resolved against the symbol table: which value symbols of its
 * label name it accepts, and whether it accepts a missing label. */
struct resolved {
    uint32_t name;       /* symbol, or UINT32_MAX if no series has this name */
    bool matches_empty;  /* accepts series without the label */
    uint8_t *allowed;    /* bitmap over value symbols, nsyms bits */
    struct idvec values; /* accepted value symbols that occur with this name */
};

static void resolve(const struct head *h, const struct matcher *m, struct resolved *r)
{
    const char *name = matcher_name(m);
    memset(r, 0, sizeof *r);
    r->name = sym_find(h, name, strlen(name), XXH3_64bits(name, strlen(name)));
    r->matches_empty = matcher_matches(m, "", 0);
    r->allowed = xcalloc((h->nsyms + 7) / 8 + 1, 1);
    uint64_t vidx;
    size_t pos;
    if (r->name == UINT32_MAX || !hashmap_find(&h->values_map, r->name, &vidx, &pos))
        return;
    const struct idvec *vals = &h->values[vidx];
    if (matcher_type(m) == MATCH_EQ) {
        const char *v = matcher_value(m);
        uint32_t vs = sym_find(h, v, strlen(v), XXH3_64bits(v, strlen(v)));
        if (vs != UINT32_MAX) {
            uint64_t pidx;
            if (hashmap_find(&h->postings_map, (uint64_t)r->name << 32 | vs, &pidx, &pos)) {
                r->allowed[vs / 8] |= (uint8_t)(1u << (vs % 8));
                idvec_push(&r->values, vs);
            }
        }
        return;
    }
    for (uint32_t i = 0; i < vals->n; i++) {
        uint32_t vs = vals->v[i];
        if (matcher_matches(m, h->sym_str[vs], h->sym_len[vs])) {
            r->allowed[vs / 8] |= (uint8_t)(1u << (vs % 8));
            idvec_push(&r->values, vs);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Series ids carrying one of r's accepted values, ascending. */
static struct idvec union_postings(const struct head *h, const struct resolved *r)
{
    struct idvec out = {0};
    for (uint32_t i = 0; i < r->values.n; i++) {
        uint64_t pidx;
        size_t pos;
        if (!hashmap_find(&h->postings_map, (uint64_t)r->name << 32 | r->values.v[i], &pidx, &pos))
            continue;
        const struct idvec *p = &h->postings[pidx];
        for (uint32_t k = 0; k < p->n; k++)
            idvec_push(&out, p->v[k]);
    }
    if (r->values.n > 1)
        qsort(out.v, out.n, sizeof *out.v, cmp_u32);
    return out;
}

static bool series_accepts(const uint32_t *sl, uint16_t n, const struct resolved *r)
{
    for (uint16_t i = 0; i < n; i++) {
        if (sl[2 * i] == r->name) {
            uint32_t vs = sl[2 * i + 1];
            return (r->allowed[vs / 8] >> (vs % 8)) & 1;
        }
    }
    return r->matches_empty;
}

/* Where s overlaps [mint, maxt]: its closed chunks [lo, hi) and whether the
 * open chunk does. By invariant 2 the overlapping closed chunks are a run,
 * found from the newest backwards (queries mostly read recent data), so a
 * window near the end reads one or two chunk headers, or none when it
 * starts in the open chunk, instead of all of them. */
struct span {
    uint32_t lo, hi;
    bool open;
};

static struct span series_span(const struct hseries *s, int64_t mint, int64_t maxt)
{
    struct span sp;
    uint32_t c = s->nclosed;
    if (s->open.count && s->open.t >= mint) {
        int64_t first = open_min_t(s);
        if (first <= mint) {
            /* the window starts in the open chunk: every closed chunk ends
             * before it, so their headers need not be read at all */
            sp.lo = sp.hi = c;
            sp.open = first <= maxt;
            return sp;
        }
    }
    while (c > 0 && s->closed[c - 1]->min_t > maxt)
        c--;
    sp.hi = c;
    while (c > 0 && s->closed[c - 1]->max_t >= mint)
        c--;
    sp.lo = c;
    sp.open = s->open.count && s->open.t >= mint && open_min_t(s) <= maxt;
    return sp;
}

static bool series_overlaps(const struct hseries *s, int64_t mint, int64_t maxt)
{
    struct span sp = series_span(s, mint, maxt);
    return sp.lo < sp.hi || sp.open;
}

/* labels_cmp's order of two series, from their symbols: equal ids are equal
 * strings, so most label pairs are compared without strcmp. */
static int hseries_cmp(const struct head *h, const struct hseries *x, const struct hseries *y)
{
    const uint32_t *lx = series_labels(h, x), *ly = series_labels(h, y);
    uint16_t n = x->nlabels < y->nlabels ? x->nlabels : y->nlabels;
    for (uint16_t i = 0; i < 2 * n; i++) {
        if (lx[i] == ly[i])
            continue;
        return strcmp(h->sym_str[lx[i]], h->sym_str[ly[i]]);
    }
    return (x->nlabels > y->nlabels) - (x->nlabels < y->nlabels);
}

/* A series head_select picked, where it overlaps the window, and its
 * label symbols (kept here so that sorting does not chase s). */
struct pick {
    const struct hseries *s;
    struct span sp;
    const uint32_t *labels;
    uint16_t nlabels;
};

static int cmp_pick(const void *a, const void *b, void *arg)
{
    return hseries_cmp(arg, ((const struct pick *)a)->s, ((const struct pick *)b)->s);
}

static int cmp_sym(const void *a, const void *b, void *arg)
{
    const struct head *h = arg;
    return strcmp(h->sym_str[*(const uint32_t *)a], h->sym_str[*(const uint32_t *)b]);
}

/* hseries_cmp's order, from ranks (rank[sym]: the symbol's place in string
 * order among the symbols being compared; distinct symbols are distinct
 * strings, so ranks never tie). */
static int cmp_pick_rank(const void *a, const void *b, void *arg)
{
    const uint32_t *rank = arg;
    const struct pick *x = a, *y = b;
    uint16_t n = x->nlabels < y->nlabels ? x->nlabels : y->nlabels;
    for (uint16_t i = 0; i < 2 * n; i++) {
        uint32_t sx = x->labels[i], sy = y->labels[i];
        if (sx != sy)
            return rank[sx] < rank[sy] ? -1 : 1;
    }
    return (x->nlabels > y->nlabels) - (x->nlabels < y->nlabels);
}

/* Picks at or above which sorting ranks the symbols first: a large selection
 * compares the same few hundred names and values over and over. The ranks
 * live in an array over all symbols, used only while it stays within
 * RANK_SYMS_PER_PICK entries per pick (a small selection in a head of
 * millions of distinct values sorts by strcmp, as a small one does). */
#define RANK_SORT_MIN      256
#define RANK_SYMS_PER_PICK 64

/* Sort picks by labels. A large selection first ranks the distinct symbols
 * its series use (one strcmp sort of a few hundred strings), then sorts the
 * series comparing integers instead of strings. */
static void sort_picks(const struct head *h, struct pick *p, size_t n)
{
    if (n < RANK_SORT_MIN || h->nsyms / RANK_SYMS_PER_PICK > n) {
        if (n > 1)
            qsort_r(p, n, sizeof *p, cmp_pick, (void *)h);
        return;
    }
    uint32_t *rank = xcalloc(h->nsyms, sizeof *rank); /* 0: not used by any pick */
    struct idvec used = {0};
    for (size_t k = 0; k < n; k++)
        for (uint32_t i = 0; i < 2u * p[k].nlabels; i++)
            if (!rank[p[k].labels[i]]) {
                rank[p[k].labels[i]] = 1;
                idvec_push(&used, p[k].labels[i]);
            }
    qsort_r(used.v, used.n, sizeof *used.v, cmp_sym, (void *)h);
    for (uint32_t r = 0; r < used.n; r++)
        rank[used.v[r]] = r + 1;
    qsort_r(p, n, sizeof *p, cmp_pick_rank, rank);
    free(used.v);
    free(rank);
}

/* Decoding the series head_select picked: one slice per CPU. */
struct select_job {
    struct head *h;
    int64_t mint, maxt;
    bool samples;
    const struct pick *p;
    size_t n;
    struct series_data *out;    /* one per picked series; labels.v NULL if it has no sample */
    storage_series_visit visit; /* instead of out (head_select_each) */
    void *arg;
};

/* s's labels as an owned set: labels_pack, as the symbols' lengths are known
 * and a series' labels are kept sorted by name. */
static struct labels series_label_set(const struct head *h, const struct hseries *s)
{
    const uint32_t *sl = series_labels(h, s);
    struct label ls[HEAD_MAX_LABELS];
    uint32_t len[2 * HEAD_MAX_LABELS];
    for (size_t i = 0; i < s->nlabels; i++) {
        ls[i] = (struct label){h->sym_str[sl[2 * i]], h->sym_str[sl[2 * i + 1]]};
        len[2 * i] = h->sym_len[sl[2 * i]];
        len[2 * i + 1] = h->sym_len[sl[2 * i + 1]];
    }
    return labels_pack(ls, len, s->nlabels);
}

/* Decoding waits mostly for memory: every series' chunks are somewhere
 * else. What series k + PREFETCH_FAR and k + PREFETCH_NEAR will read (their
 * chunk pointers, then the chunks behind them) is asked for early so that
 * those loads overlap the decoding of series k. */
#define PREFETCH_NEAR 2
#define PREFETCH_FAR  4

static void prefetch_ahead(const struct pick *p, size_t k, size_t to)
{
    if (k + PREFETCH_FAR < to) {
        const struct pick *f = &p[k + PREFETCH_FAR];
        if (f->sp.lo < f->sp.hi)
            __builtin_prefetch(&f->s->closed[f->sp.lo]);
        if (f->sp.open)
            __builtin_prefetch(f->s->open.buf);
    }
    if (k + PREFETCH_NEAR < to) {
        const struct pick *q = &p[k + PREFETCH_NEAR];
        for (uint32_t c = q->sp.lo; c < q->sp.hi; c++)
            __builtin_prefetch(q->s->closed[c]);
    }
}

static void select_decode(void *ctx, size_t from, size_t to)
{
    struct select_job *j = ctx;
    struct head *h = j->h;
    int64_t mint = j->mint, maxt = j->maxt;
    /* decoded into scratch arrays reused by the slice's series, then handed
     * to visit or copied into arrays of the exact size (a window reads a
     * fraction of its chunks) */
    int64_t *st = NULL;
    double *sv = NULL;
    size_t scap = 0;
    for (size_t k = from; k < to; k++) {
        const struct hseries *s = j->p[k].s;
        struct span sp = j->p[k].sp;
        if (j->samples)
            prefetch_ahead(j->p, k, to);
        size_t n = 0;
        int64_t *t = NULL;
        double *v = NULL;
        if (j->samples) {
            size_t room = sp.open ? s->open.count : 0;
            for (uint32_t c = sp.lo; c < sp.hi; c++)
                room += s->closed[c]->count;
            if (room > scap) {
                scap = room;
                free(st);
                free(sv);
                st = xmalloc(scap * sizeof *st);
                sv = xmalloc(scap * sizeof *sv);
            }
            for (uint32_t c = sp.lo; c < sp.hi; c++) {
                const struct closed_chunk *cc = s->closed[c];
                n += chunk_decode(cc->data, cc->nbytes, cc->count, mint, maxt, st + n, sv + n);
            }
            if (sp.open)
                n += chunk_decode(s->open.buf, chunk_enc_len(&s->open), s->open.count, mint, maxt,
                                  st + n, sv + n);
            if (!n)
                continue;
            if (j->visit) {
                struct labels ls = series_label_set(h, s);
                j->visit(j->arg, k, &ls, n, st, sv);
                continue;
            }
            t = xmalloc(n * sizeof *t);
            v = xmalloc(n * sizeof *v);
            memcpy(t, st, n * sizeof *t);
            memcpy(v, sv, n * sizeof *v);
        }
        j->out[k] = (struct series_data){series_label_set(h, s), n, t, v};
    }
    free(st);
    free(sv);
}

/* The series matching all of m with samples in [mint, maxt], in label
 * order (*n of them; free the result). */
static struct pick *select_picks(struct head *h, struct matcher *const *m, size_t nm, int64_t mint,
                                 int64_t maxt, size_t *n)
{
    struct resolved *rs = xcalloc(nm ? nm : 1, sizeof *rs);
    struct idvec cand = {0};
    bool have_cand = false;
    for (size_t i = 0; i < nm; i++) {
        resolve(h, m[i], &rs[i]);
        if (rs[i].matches_empty)
            continue;
        struct idvec u = union_postings(h, &rs[i]);
        if (!have_cand) {
            cand = u;
            have_cand = true;
        } else {
            cand.n = (uint32_t)postings_intersect(cand.v, cand.n, u.v, u.n);
            free(u.v);
        }
    }
    if (!have_cand) {
        for (uint32_t id = 0; id < h->nseries; id++)
            if (series_at(h, id))
                idvec_push(&cand, id);
    }
    struct pick *picks = xmalloc((cand.n ? cand.n : 1) * sizeof *picks);
    size_t npick = 0;
    for (uint32_t k = 0; k < cand.n; k++) {
        const struct hseries *s = series_at(h, cand.v[k]);
        if (!s)
            continue;
        struct span sp = series_span(s, mint, maxt);
        bool ok = sp.lo < sp.hi || sp.open;
        for (size_t i = 0; ok && i < nm; i++)
            if (rs[i].matches_empty)
                ok = series_accepts(series_labels(h, s), s->nlabels, &rs[i]);
        if (ok)
            picks[npick++] = (struct pick){s, sp, series_labels(h, s), s->nlabels};
    }
    /* in label order, so that the result is */
    sort_picks(h, picks, npick);
    for (size_t i = 0; i < nm; i++) {
        free(rs[i].allowed);
        free(rs[i].values.v);
    }
    free(rs);
    free(cand.v);
    *n = npick;
    return picks;
}

int head_select(struct head *h, struct matcher *const *m, size_t nm, int64_t mint, int64_t maxt,
                bool samples, struct series_set *out, struct saba_err *err)
{
    (void)err;
    /* pick the series, then decode them on every CPU (par_for): decoding
     * chunks is most of a large query's storage time */
    struct select_job job = {h, mint, maxt, samples, NULL, 0, NULL, NULL, NULL};
    struct pick *picks = select_picks(h, m, nm, mint, maxt, &job.n);
    job.p = picks;
    job.out = xcalloc(job.n ? job.n : 1, sizeof *job.out);
    par_for(job.n, 256, select_decode, &job);
    out->v = NULL;
    out->n = 0;
    for (size_t k = 0; k < job.n; k++) {
        if (!job.out[k].labels.v)
            continue; /* no sample in range */
        if (!out->v)
            out->v = job.out;
        out->v[out->n++] = job.out[k];
    }
    if (!out->v)
        free(job.out);
    free(picks);
    return 0;
}

int head_select_each(struct head *h, struct matcher *const *m, size_t nm, int64_t mint,
                     int64_t maxt, storage_select_begin begin, storage_series_visit visit,
                     void *arg, struct saba_err *err)
{
    (void)err;
    struct select_job job = {h, mint, maxt, true, NULL, 0, NULL, visit, arg};
    struct pick *picks = select_picks(h, m, nm, mint, maxt, &job.n);
    job.p = picks;
    begin(arg, job.n);
    par_for(job.n, 256, select_decode, &job);
    free(picks);
    return 0;
}

void head_label_names(struct head *h, struct strlist *out)
{
    for (size_t i = 0; i < h->values_map.cap; i++)
        if (h->values_map.used[i])
            strlist_add(out, h->sym_str[h->values_map.keys[i]]);
    strlist_sort_unique(out);
}

void head_label_values(struct head *h, const char *name, struct strlist *out)
{
    uint32_t ns = sym_find(h, name, strlen(name), XXH3_64bits(name, strlen(name)));
    uint64_t vidx;
    size_t pos;
    if (ns != UINT32_MAX && hashmap_find(&h->values_map, ns, &vidx, &pos)) {
        const struct idvec *v = &h->values[vidx];
        for (uint32_t i = 0; i < v->n; i++)
            strlist_add(out, h->sym_str[v->v[i]]);
    }
    strlist_sort_unique(out);
}

void head_stats(struct head *h, struct storage_stats *out)
{
    out->series = h->nseries;
    out->samples = h->k.nsamples;
    out->out_of_order = h->k.ooo;
    out->overwritten = h->k.overwritten;
    uint64_t bytes = h->k.chunk_bytes + hashmap_bytes(&h->sym_map) +
                     hashmap_bytes(&h->postings_map) + hashmap_bytes(&h->values_map) +
                     (uint64_t)h->narena * ARENA_BLOCK + (uint64_t)h->table_cap * sizeof *h->table +
                     (uint64_t)h->nslabs_used * SLAB_SERIES * sizeof(struct hseries) +
                     (uint64_t)h->nslabs * sizeof(void *) +
                     (uint64_t)h->nlabel_blocks * LABEL_BLOCK * 4;
    for (uint32_t i = 0; i < h->nseries; i++) {
        const struct hseries *s = series_at(h, i);
        if (s)
            bytes += s->open.cap + 8u * s->nclosed;
    }
    for (uint32_t i = 0; i < h->npostings; i++)
        bytes += 4u * h->postings[i].cap;
    out->head_bytes = bytes;
}

/* ---- cutting blocks and checkpoints ---- */

bool head_time_range(const struct head *h, int64_t *mint, int64_t *maxt)
{
    if (h->k.nsamples == 0)
        return false;
    *mint = h->k.mint;
    *maxt = h->k.maxt;
    return true;
}

static int cmp_series_labels(const void *a, const void *b, void *arg)
{
    const struct head *h = arg;
    return hseries_cmp(h, series_at(h, *(const uint32_t *)a), series_at(h, *(const uint32_t *)b));
}

static int64_t series_first_t(const struct hseries *s)
{
    if (s->nclosed)
        return s->closed[0]->min_t;
    return s->open.count ? open_min_t(s) : INT64_MAX;
}

/* A chunk's samples in [after, before), re-encoded: returns the count (0: none). */
static uint16_t encode_range(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t after,
                             int64_t before, struct chunk_enc *e, int64_t *mint, int64_t *maxt)
{
    struct chunk_iter it;
    chunk_iter_init(&it, data, nbytes, count);
    chunk_enc_init(e);
    int64_t t;
    double v;
    while (chunk_iter_next(&it, &t, &v) == 1 && t < before) {
        if (t < after)
            continue;
        if (!e->count)
            *mint = t;
        *maxt = t;
        chunk_enc_append(e, t, v);
    }
    return e->count;
}

/* Add the part of chunk (data, mint..maxt) in [after, before) to cs: as it is
 * if it lies inside, re-encoded into tmp if it straddles a bound. */
static void visit_chunk(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t mint,
                        int64_t maxt, int64_t after, int64_t before, struct block_chunk *cs,
                        size_t *nc, struct chunk_enc *tmp, size_t *ntmp)
{
    if (maxt < after || mint >= before)
        return;
    struct block_chunk *b = &cs[*nc];
    if (mint >= after && maxt < before) {
        *b = (struct block_chunk){
            mint, maxt, data, nbytes, count, BLOCK_KIND_RAW, BLOCK_ENC_GORILLA};
        (*nc)++;
        return;
    }
    b->count = encode_range(data, nbytes, count, after, before, &tmp[*ntmp], &b->mint, &b->maxt);
    b->data = tmp[*ntmp].buf;
    b->nbytes = chunk_enc_len(&tmp[(*ntmp)++]);
    b->kind = BLOCK_KIND_RAW;
    b->enc = BLOCK_ENC_GORILLA;
    *nc += b->count > 0;
}

static bool series_in(const struct hseries *s, int64_t after, int64_t before)
{
    for (uint32_t c = 0; c < s->nclosed; c++)
        if (s->closed[c]->max_t >= after && s->closed[c]->min_t < before)
            return true;
    return s->open.count && s->open.t >= after && open_min_t(s) < before;
}

int head_visit(struct head *h, int64_t after, int64_t before, bool sorted, head_series_fn fn,
               void *ctx)
{
    uint32_t *ids = xmalloc((h->nseries ? h->nseries : 1) * sizeof *ids);
    uint32_t n = 0;
    for (uint32_t id = 0; id < h->nseries; id++) {
        const struct hseries *s = series_at(h, id);
        if (s && series_in(s, after, before))
            ids[n++] = id;
    }
    if (sorted && n > 1)
        qsort_r(ids, n, sizeof *ids, cmp_series_labels, h);
    struct block_chunk *cs = NULL;
    struct chunk_enc *tmp = NULL;
    size_t cap = 0;
    struct label ls[HEAD_MAX_LABELS];
    int rc = 0;
    for (uint32_t k = 0; k < n && rc == 0; k++) {
        const struct hseries *s = series_at(h, ids[k]);
        if (s->nclosed + 1 > cap) {
            cap = s->nclosed + 1;
            cs = xrealloc(cs, cap * sizeof *cs);
            tmp = xrealloc(tmp, cap * sizeof *tmp);
        }
        size_t nc = 0, ntmp = 0;
        for (uint32_t c = 0; c < s->nclosed; c++) {
            const struct closed_chunk *cc = s->closed[c];
            visit_chunk(cc->data, cc->nbytes, cc->count, cc->min_t, cc->max_t, after, before, cs,
                        &nc, tmp, &ntmp);
        }
        if (s->open.count)
            visit_chunk(s->open.buf, chunk_enc_len(&s->open), s->open.count, open_min_t(s),
                        s->open.t, after, before, cs, &nc, tmp, &ntmp);
        const uint32_t *sl = series_labels(h, s);
        for (uint16_t i = 0; i < s->nlabels; i++)
            ls[i] = (struct label){h->sym_str[sl[2 * i]], h->sym_str[sl[2 * i + 1]]};
        struct head_series_view view = {ids[k], ls, s->nlabels, cs, nc};
        if (nc)
            rc = fn(ctx, &view);
        for (size_t i = 0; i < ntmp; i++)
            chunk_enc_free(&tmp[i]);
    }
    free(cs);
    free(tmp);
    free(ids);
    return rc;
}

/* Keep the samples of a chunk at or after t: returns the count kept, with
 * the arrays in ts and vs (caller frees). */
static size_t suffix_samples(const uint8_t *data, uint32_t nbytes, uint16_t count, int64_t t,
                             int64_t **ts, double **vs)
{
    size_t n = decode_all(data, nbytes, count, ts, vs), k = 0;
    while (k < n && (*ts)[k] < t)
        k++;
    memmove(*ts, *ts + k, (n - k) * sizeof **ts);
    memmove(*vs, *vs + k, (n - k) * sizeof **vs);
    return n - k;
}

uint64_t head_truncate(struct head *h, int64_t t)
{
    uint64_t dropped = 0;
    bool first = true;
    for (uint32_t id = 0; id < h->nseries; id++) {
        struct hseries *s = series_at(h, id);
        if (!s)
            continue;
        uint32_t drop = 0;
        while (drop < s->nclosed && s->closed[drop]->max_t < t) {
            dropped += s->closed[drop]->count;
            free_closed(h, &h->k, s->closed[drop]);
            drop++;
        }
        if (drop) {
            memmove(s->closed, s->closed + drop, (s->nclosed - drop) * sizeof *s->closed);
            s->nclosed -= drop;
        }
        if (s->nclosed && s->closed[0]->min_t < t) {
            const struct closed_chunk *c = s->closed[0];
            int64_t *ts;
            double *vs;
            size_t n = suffix_samples(c->data, c->nbytes, c->count, t, &ts, &vs);
            dropped += c->count - n;
            replace_closed(h, &h->k, s, 0, ts, vs, n); /* n > 0: max_t >= t */
            free(ts);
            free(vs);
        }
        if (!s->nclosed && s->open.count && open_min_t(s) < t) {
            int64_t *ts;
            double *vs;
            size_t n =
                suffix_samples(s->open.buf, chunk_enc_len(&s->open), s->open.count, t, &ts, &vs);
            dropped += s->open.count - n;
            chunk_enc_free(&s->open);
            encode_all(&s->open, ts, vs, n);
            free(ts);
            free(vs);
        }
        if (!s->nclosed && !s->open.count) {
            s->logged = 0;
            continue;
        }
        int64_t ft = series_first_t(s);
        if (first || ft < h->k.mint)
            h->k.mint = ft;
        first = false;
    }
    h->k.nsamples -= dropped;
    return dropped;
}

void head_adopt_image(struct head *h, const void *image, size_t len)
{
    if (image) {
        h->image = image;
        h->image_len = len;
        h->image_refs = 1;
    } else if (h->image) {
        image_unref(h);
    }
}

/* Can the chunk record that c was read from serve as a closed chunk where it
 * lies: inside the adopted image, aligned, and marked for it? */
static bool in_image(const struct head *h, const struct block_chunk *c)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint8_t *rec = c->data - HEAD_CHUNK_RECORD_HEADER;
    return h->image && c->data >= h->image + HEAD_CHUNK_RECORD_HEADER &&
           c->data + c->nbytes <= h->image + h->image_len && (uintptr_t)rec % 8 == 0 &&
           rec[22] == HEAD_CHUNK_RECORD_MAPPED && rec[23] == 0;
#else
    (void)h;
    (void)c;
    return false;
#endif
}

void head_load_chunks(struct head *h, uint32_t id, const struct block_chunk *c, size_t n)
{
    struct hseries *s = series_at(h, id);
    s->closed = xrealloc(s->closed, (s->nclosed + n) * sizeof *s->closed);
    for (size_t i = 0; i < n; i++) {
        if (in_image(h, &c[i])) {
            /* the record holds c's header fields already (the caller read
             * them from it); the image is read-only and never written */
            s->closed[s->nclosed++] = (struct closed_chunk *)(c[i].data - HEAD_CHUNK_RECORD_HEADER);
            h->image_refs++;
            h->k.chunk_bytes += HEAD_CHUNK_RECORD_HEADER + c[i].nbytes;
        } else {
            s->closed[s->nclosed++] =
                closed_new(&h->k, c[i].mint, c[i].maxt, c[i].count, c[i].data, c[i].nbytes);
        }
        if (h->k.nsamples == 0 || c[i].mint < h->k.mint)
            h->k.mint = c[i].mint;
        if (h->k.nsamples == 0 || c[i].maxt > h->k.maxt)
            h->k.maxt = c[i].maxt;
        h->k.nsamples += c[i].count;
    }
}

/* Does series s satisfy every matcher (a missing label counts as "")? */
static bool series_matches(const struct head *h, const struct hseries *s, struct matcher *const *m,
                           size_t nm)
{
    const uint32_t *sl = series_labels(h, s);
    for (size_t i = 0; i < nm; i++) {
        const char *name = matcher_name(m[i]), *v = "";
        uint32_t vlen = 0;
        for (uint16_t k = 0; k < s->nlabels; k++)
            if (!strcmp(h->sym_str[sl[2 * k]], name)) {
                v = h->sym_str[sl[2 * k + 1]];
                vlen = h->sym_len[sl[2 * k + 1]];
                break;
            }
        if (!matcher_matches(m[i], v, vlen))
            return false;
    }
    return true;
}

uint64_t head_delete(struct head *h, struct matcher *const *m, size_t nm, int64_t mint,
                     int64_t maxt)
{
    uint64_t dropped = 0;
    for (uint32_t id = 0; id < h->nseries; id++) {
        struct hseries *s = series_at(h, id);
        if (!s || !series_overlaps(s, mint, maxt) || !series_matches(h, s, m, nm))
            continue;
        size_t total = s->open.count;
        for (uint32_t c = 0; c < s->nclosed; c++)
            total += s->closed[c]->count;
        int64_t *ts = xmalloc((total + 1) * sizeof *ts);
        double *vs = xmalloc((total + 1) * sizeof *vs);
        size_t n = 0;
        for (uint32_t c = 0; c < s->nclosed; c++) {
            struct chunk_iter it;
            chunk_iter_init(&it, s->closed[c]->data, s->closed[c]->nbytes, s->closed[c]->count);
            while (n < total && chunk_iter_next(&it, &ts[n], &vs[n]) == 1)
                n++;
            free_closed(h, &h->k, s->closed[c]);
        }
        if (s->open.count) {
            struct chunk_iter it;
            chunk_iter_init(&it, s->open.buf, chunk_enc_len(&s->open), s->open.count);
            while (n < total && chunk_iter_next(&it, &ts[n], &vs[n]) == 1)
                n++;
        }
        chunk_enc_free(&s->open);
        free(s->closed);
        s->closed = NULL;
        s->nclosed = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (ts[i] < mint || ts[i] > maxt) {
                ts[k] = ts[i];
                vs[k++] = vs[i];
            }
        dropped += n - k;
        /* full chunks closed, the rest open, as appends would leave them */
        size_t off = 0;
        while (k - off > CHUNK_TARGET_SAMPLES) {
            s->closed = xrealloc(s->closed, (s->nclosed + 1) * sizeof *s->closed);
            s->closed[s->nclosed++] = make_closed(&h->k, ts + off, vs + off, CHUNK_TARGET_SAMPLES);
            off += CHUNK_TARGET_SAMPLES;
        }
        encode_all(&s->open, ts + off, vs + off, k - off);
        if (!k)
            s->logged = 0; /* left out of checkpoints: the next use defines it again */
        free(ts);
        free(vs);
    }
    h->k.nsamples -= dropped;
    return dropped;
}
