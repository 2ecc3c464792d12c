/*
 * compact.c - planning and merging blocks (see compact.h).
 *
 * The merge keeps Gorilla chunks as they are when the inputs of a series do
 * not overlap in time (the usual case: adjacent time windows), so compacting
 * costs little more than a copy; only overlapping series are decoded, merged
 * sample by sample and re-encoded.
 */
#include "storage/tsdb/compact.h"
#include "base/alloc.h"
#include "storage/tsdb/chunk.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 256

static int cmp_by_mint(const void *a, const void *b, void *arg)
{
    const struct block_meta *metas = arg;
    const struct block_meta *x = &metas[*(const size_t *)a];
    const struct block_meta *y = &metas[*(const size_t *)b];
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

size_t compact_plan(const struct block_meta *m, size_t n, const int64_t *ranges, size_t nranges,
                    int64_t done_before, size_t *pick)
{
    if (n < 2)
        return 0;
    size_t *ord = xmalloc(n * sizeof *ord);
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof *ord, cmp_by_mint, (void *)m);
    size_t np = 0;
    /* 1. overlapping blocks, transitively */
    for (size_t i = 0; i < n && np < 2;) {
        int64_t end = m[ord[i]].maxt;
        size_t j = i + 1;
        while (j < n && m[ord[j]].mint <= end) {
            if (m[ord[j]].maxt > end)
                end = m[ord[j]].maxt;
            j++;
        }
        if (j - i >= 2) {
            for (size_t k = i; k < j; k++)
                pick[np++] = ord[k];
        }
        i = j;
    }
    /* 2. complete windows of growing ranges holding two or more blocks */
    for (size_t r = 0; r < nranges && np < 2; r++) {
        int64_t R = ranges[r];
        for (size_t i = 0; i < n && np < 2;) {
            const struct block_meta *b = &m[ord[i]];
            int64_t w = floor_div(b->mint, R);
            int64_t wend = (w + 1) * R;
            size_t j = i;
            np = 0;
            while (j < n && floor_div(m[ord[j]].mint, R) == w) {
                if (m[ord[j]].maxt < wend)
                    pick[np++] = ord[j];
                j++;
            }
            if (wend > done_before || np < 2)
                np = 0;
            i = j;
        }
    }
    free(ord);
    return np >= 2 ? np : 0;
}

/* ---- merging ---- */

struct cursor {
    struct block *b;
    uint32_t i, n;
    struct label ls[MAX_LABELS];
    int nl;
    uint32_t nchunks;
};

static int ls_cmp(const struct label *a, int na, const struct label *b, int nb)
{
    int n = na < nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = strcmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return (na > nb) - (na < nb);
}

static int cursor_load(struct cursor *c)
{
    if (c->i >= c->n)
        return 0;
    c->nl = block_series_labels(c->b, c->i, c->ls, &c->nchunks);
    return c->nl < 0 ? SABA_ECORRUPT : 1;
}

struct tagged {
    int64_t t;
    double v;
    uint64_t prio;
};

static int cmp_tagged(const void *a, const void *b)
{
    const struct tagged *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

struct chunkv {
    struct block_chunk *v;
    size_t n, cap;
};

static void cv_push(struct chunkv *cv, const struct block_chunk *c)
{
    if (cv->n == cv->cap) {
        cv->cap = cv->cap ? cv->cap * 2 : 16;
        cv->v = xrealloc(cv->v, cv->cap * sizeof *cv->v);
    }
    cv->v[cv->n++] = *c;
}

static int cmp_chunk_idx(const void *a, const void *b, void *arg)
{
    const struct block_chunk *chunks = arg;
    const struct block_chunk *x = &chunks[*(const size_t *)a];
    const struct block_chunk *y = &chunks[*(const size_t *)b];
    return (x->mint > y->mint) - (x->mint < y->mint);
}

/* Merge the chunks of one series (from several blocks, each tagged with its
 * block's seq in `prio`) into out, re-encoding only if they overlap. */
static void merge_series(struct chunkv *in, const uint64_t *prio, struct chunkv *out,
                         struct chunk_enc **encs, size_t *nencs, size_t *cap_encs)
{
    size_t *ord = xmalloc((in->n ? in->n : 1) * sizeof *ord);
    for (size_t i = 0; i < in->n; i++)
        ord[i] = i;
    qsort_r(ord, in->n, sizeof *ord, cmp_chunk_idx, in->v);
    bool overlap = false;
    for (size_t i = 1; i < in->n; i++)
        if (in->v[ord[i]].mint <= in->v[ord[i - 1]].maxt)
            overlap = true;
    if (!overlap) {
        for (size_t i = 0; i < in->n; i++)
            cv_push(out, &in->v[ord[i]]);
        free(ord);
        return;
    }
    free(ord);
    size_t total = 0;
    for (size_t i = 0; i < in->n; i++)
        total += in->v[i].count;
    struct tagged *s = xmalloc((total ? total : 1) * sizeof *s);
    size_t ns = 0;
    for (size_t i = 0; i < in->n; i++) {
        int64_t *t = xmalloc((in->v[i].count + 1u) * sizeof *t);
        double *v = xmalloc((in->v[i].count + 1u) * sizeof *v);
        int got = block_chunk_decode(&in->v[i], t, v);
        for (int k = 0; k < got && ns < total; k++)
            s[ns++] = (struct tagged){t[k], v[k], prio[i]};
        free(t);
        free(v);
    }
    qsort(s, ns, sizeof *s, cmp_tagged);
    /* last (highest prio) of each timestamp wins */
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        if (k && s[k - 1].t == s[i].t)
            s[k - 1] = s[i];
        else
            s[k++] = s[i];
    }
    for (size_t off = 0; off < k; off += CHUNK_TARGET_SAMPLES) {
        size_t cnt = k - off < CHUNK_TARGET_SAMPLES ? k - off : CHUNK_TARGET_SAMPLES;
        if (*nencs == *cap_encs) {
            *cap_encs = *cap_encs ? *cap_encs * 2 : 16;
            *encs = xrealloc(*encs, *cap_encs * sizeof **encs);
        }
        struct chunk_enc *e = &(*encs)[(*nencs)++];
        chunk_enc_init(e);
        for (size_t i = 0; i < cnt; i++)
            chunk_enc_append(e, s[off + i].t, s[off + i].v);
        struct block_chunk c = {s[off].t,         s[off + cnt - 1].t, e->buf,
                                chunk_enc_len(e), (uint16_t)cnt,      BLOCK_KIND_RAW,
                                BLOCK_ENC_GORILLA};
        cv_push(out, &c);
    }
    free(s);
}

int compact_merge(struct block **in, size_t n, const char *blocks_dir, uint64_t seq,
                  int64_t drop_before, struct block_meta *out, struct saba_err *err)
{
    struct block_meta meta = {.seq = seq};
    meta.resolution_ms = block_get_meta(in[0])->resolution_ms;
    for (size_t i = 0; i < n && i < BLOCK_MAX_PARENTS; i++) {
        const struct block_meta *m = block_get_meta(in[i]);
        if (m->level + 1 > meta.level)
            meta.level = m->level + 1;
        meta.parents[meta.nparents++] = m->seq;
    }
    struct block_writer *w;
    int rc = block_writer_new(blocks_dir, &meta, &w, err);
    if (rc)
        return rc;
    struct cursor *cur = xcalloc(n, sizeof *cur);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cur[i].b = in[i];
        cur[i].n = block_num_series(in[i]);
        if (cursor_load(&cur[i]) < 0)
            rc = err_set(err, SABA_ECORRUPT, 0, "%s: bad series entry", block_path(in[i]));
    }
    struct chunkv chunks = {0}, merged = {0};
    uint64_t *prio = NULL;
    size_t cap_prio = 0;
    struct chunk_enc *encs = NULL;
    size_t nencs = 0, cap_encs = 0;
    uint8_t **owned = NULL; /* copies of pack-resident chunks of the current series */
    size_t nowned = 0, cap_owned = 0;
    while (rc == 0) {
        int best = -1;
        for (size_t i = 0; i < n; i++)
            if (cur[i].i < cur[i].n &&
                (best < 0 || ls_cmp(cur[i].ls, cur[i].nl, cur[best].ls, cur[best].nl) < 0))
                best = (int)i;
        if (best < 0)
            break;
        chunks.n = merged.n = 0;
        nencs = 0;
        size_t np = 0;
        struct label ls[MAX_LABELS];
        int nl = cur[best].nl;
        memcpy(ls, cur[best].ls, (size_t)nl * sizeof *ls);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (cur[i].i >= cur[i].n || ls_cmp(cur[i].ls, cur[i].nl, ls, nl) != 0)
                continue;
            for (uint32_t j = 0; j < cur[i].nchunks && rc == 0; j++) {
                struct block_chunk c;
                rc = block_series_chunk(cur[i].b, cur[i].i, j, &c);
                if (rc) {
                    err_set(err, rc, 0, "%s: chunk checksum mismatch", block_path(cur[i].b));
                    break;
                }
                if (c.maxt < drop_before)
                    continue;
                if (block_series_has_tombstones(cur[i].b, cur[i].i)) {
                    /* apply the deletions: keep the other samples, re-encoded */
                    int64_t *ts = xmalloc((c.count + 1u) * sizeof *ts);
                    double *vs = xmalloc((c.count + 1u) * sizeof *vs);
                    int got = block_chunk_decode(&c, ts, vs);
                    if (nencs == cap_encs) {
                        cap_encs = cap_encs ? cap_encs * 2 : 16;
                        encs = xrealloc(encs, cap_encs * sizeof *encs);
                    }
                    struct chunk_enc *e = &encs[nencs++];
                    chunk_enc_init(e);
                    for (int q = 0; q < got; q++)
                        if (!block_deleted(cur[i].b, cur[i].i, ts[q]))
                            chunk_enc_append(e, ts[q], vs[q]);
                    int64_t first = e->count ? ts[0] : 0;
                    for (int q = 0; q < got; q++)
                        if (!block_deleted(cur[i].b, cur[i].i, ts[q])) {
                            first = ts[q];
                            break;
                        }
                    c = (struct block_chunk){first,    e->t,   e->buf,           chunk_enc_len(e),
                                             e->count, c.kind, BLOCK_ENC_GORILLA};
                    free(ts);
                    free(vs);
                    if (!c.count)
                        continue;
                }
                if (c.enc == BLOCK_ENC_RAW || c.enc == BLOCK_ENC_PLANES) {
                    /* in a decompressed pack held only until the next read
                     * (block.h): keep a copy until the series is written */
                    if (nowned == cap_owned) {
                        cap_owned = cap_owned ? cap_owned * 2 : 16;
                        owned = xrealloc(owned, cap_owned * sizeof *owned);
                    }
                    uint8_t *copy = xmalloc(c.nbytes ? c.nbytes : 1);
                    memcpy(copy, c.data, c.nbytes);
                    owned[nowned++] = copy;
                    c.data = copy;
                }
                if (np == cap_prio) {
                    cap_prio = cap_prio ? cap_prio * 2 : 16;
                    prio = xrealloc(prio, cap_prio * sizeof *prio);
                }
                prio[np++] = block_get_meta(cur[i].b)->seq;
                cv_push(&chunks, &c);
            }
        }
        if (rc)
            break;
        /* cursors advance after the labels were copied: they point into the blocks */
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (cur[i].i >= cur[i].n || ls_cmp(cur[i].ls, cur[i].nl, ls, nl) != 0)
                continue;
            cur[i].i++;
            if (cursor_load(&cur[i]) < 0)
                rc = err_set(err, SABA_ECORRUPT, 0, "%s: bad series entry", block_path(cur[i].b));
        }
        if (rc)
            break;
        merge_series(&chunks, prio, &merged, &encs, &nencs, &cap_encs);
        rc = block_writer_add(w, ls, (size_t)nl, merged.v, merged.n, err);
        for (size_t i = 0; i < nencs; i++)
            chunk_enc_free(&encs[i]);
        nencs = 0;
        for (size_t i = 0; i < nowned; i++)
            free(owned[i]);
        nowned = 0;
    }
    for (size_t i = 0; i < nencs; i++) /* a series left halfway by an error */
        chunk_enc_free(&encs[i]);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(cur);
    free(chunks.v);
    free(merged.v);
    free(prio);
    free(encs);
    if (rc) {
        block_writer_abort(w);
        return rc;
    }
    return block_writer_commit(w, out, err);
}
