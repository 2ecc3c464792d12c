/*
 * changefinder.c - two-stage SDAR change-point scores (see changefinder.h).
 *
 * Layout: one allocation holds the struct and, behind it, both SDARs'
 * storage and the two moving-average rings. The moving averages keep a
 * running sum (O(1) per update) that is recomputed exactly each time its
 * ring wraps, so rounding drift stays bounded over long streams.
 */
#include "analysis/changefinder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/sdar.h"
#include "base/alloc.h"

#define CF_MAGIC   "SBCF"
#define CF_VERSION 1

const struct cf_params cf_params_default = {
    .order = 1, .discount = 0.005, .smooth1 = 7, .smooth2 = 7};

struct ring {
    double *v;
    double sum, inv_width; /* 1/width: the mean of a full ring without a division */
    int width, pos, fill;
};

struct changefinder {
    struct cf_params p;
    struct sdar s1, s2;
    struct ring m1, m2;
    double score, stage1;
    double mem[]; /* s1, s2 storage, then m1 and m2 rings */
};

int cf_params_check(const struct cf_params *p, struct saba_err *e)
{
    if (p->order < 1 || p->order > SDAR_MAX_ORDER)
        return err_set(e, SABA_EINVAL, 0, "order must be 1..%d, not %d", SDAR_MAX_ORDER, p->order);
    if (!(p->discount > 0 && p->discount < 1))
        return err_set(e, SABA_EINVAL, 0, "discount must be in (0, 1), not %g", p->discount);
    if (p->smooth1 < 1 || p->smooth1 > CF_MAX_SMOOTH || p->smooth2 < 1 ||
        p->smooth2 > CF_MAX_SMOOTH)
        return err_set(e, SABA_EINVAL, 0, "smoothing widths must be 1..%d, not %d and %d",
                       CF_MAX_SMOOTH, p->smooth1, p->smooth2);
    return 0;
}

static double ring_push(struct ring *g, double x)
{
    if (g->fill == g->width)
        g->sum -= g->v[g->pos];
    else
        g->fill++;
    g->v[g->pos] = x;
    g->sum += x;
    if (++g->pos == g->width) {
        g->pos = 0;
        double s = 0;
        for (int i = 0; i < g->fill; i++)
            s += g->v[i];
        g->sum = s;
    }
    return g->fill == g->width ? g->sum * g->inv_width : g->sum / g->fill;
}

struct changefinder *cf_new(const struct cf_params *p)
{
    size_t sd = sdar_storage(p->order);
    size_t nd = 2 * sd + (size_t)p->smooth1 + (size_t)p->smooth2;
    struct changefinder *cf = xcalloc(1, sizeof *cf + nd * sizeof(double));
    cf->p = *p;
    sdar_init(&cf->s1, p->order, p->discount, cf->mem);
    sdar_init(&cf->s2, p->order, p->discount, cf->mem + sd);
    cf->m1 =
        (struct ring){.v = cf->mem + 2 * sd, .width = p->smooth1, .inv_width = 1.0 / p->smooth1};
    cf->m2 = (struct ring){
        .v = cf->mem + 2 * sd + p->smooth1, .width = p->smooth2, .inv_width = 1.0 / p->smooth2};
    return cf;
}

void cf_free(struct changefinder *cf)
{
    free(cf);
}

double cf_update(struct changefinder *cf, double x)
{
    if (!isfinite(x))
        return cf->score;
    /* the first two samples of each stage have no loss yet (see sdar_update) */
    double l1 = sdar_update(&cf->s1, x);
    if (cf->s1.n <= 2)
        return cf->score;
    cf->stage1 = ring_push(&cf->m1, l1);
    double l2 = sdar_update(&cf->s2, cf->stage1);
    if (cf->s2.n <= 2)
        return cf->score;
    cf->score = ring_push(&cf->m2, l2);
    return cf->score;
}

double cf_score(const struct changefinder *cf)
{
    return cf->score;
}

double cf_stage1(const struct changefinder *cf)
{
    return cf->stage1;
}

struct cf_params cf_params_of(const struct changefinder *cf)
{
    return cf->p;
}

size_t cf_state_bytes(const struct changefinder *cf)
{
    size_t nd = 2 * sdar_storage(cf->p.order) + (size_t)cf->p.smooth1 + (size_t)cf->p.smooth2;
    return sizeof *cf + nd * sizeof(double);
}

double cf_score01(double score)
{
    if (!(score > 1))
        return 0;
    return 1 - exp(-(score - 1) / 4);
}

static void ring_save(const struct ring *g, struct buf *out)
{
    buf_put_u32le(out, (uint32_t)g->pos);
    buf_put_u32le(out, (uint32_t)g->fill);
    buf_put_f64le(out, g->sum);
    for (int i = 0; i < g->width; i++)
        buf_put_f64le(out, g->v[i]);
}

static size_t ring_load(struct ring *g, const uint8_t *in, size_t n)
{
    size_t need = 16 + 8 * (size_t)g->width;
    if (n < need)
        return 0;
    uint32_t pos = load_u32le(in), fill = load_u32le(in + 4);
    double sum = load_f64le(in + 8);
    if (pos >= (uint32_t)g->width || fill > (uint32_t)g->width || !isfinite(sum))
        return 0;
    for (int i = 0; i < g->width; i++) {
        double v = load_f64le(in + 16 + 8 * (size_t)i);
        if (!isfinite(v))
            return 0;
        g->v[i] = v;
    }
    g->pos = (int)pos;
    g->fill = (int)fill;
    g->sum = sum; /* the running sum itself, so a restored state continues bit for bit */
    return need;
}

/* Format (little-endian): "SBCF", u32 version, u32 order, u32 T1, u32 T2,
 * f64 discount, f64 score, f64 stage1, SDAR 1, SDAR 2, ring 1, ring 2 (each
 * u32 pos, u32 fill, f64 running sum, width f64 values). */
void cf_save(const struct changefinder *cf, struct buf *out)
{
    buf_append(out, CF_MAGIC, 4);
    buf_put_u32le(out, CF_VERSION);
    buf_put_u32le(out, (uint32_t)cf->p.order);
    buf_put_u32le(out, (uint32_t)cf->p.smooth1);
    buf_put_u32le(out, (uint32_t)cf->p.smooth2);
    buf_put_f64le(out, cf->p.discount);
    buf_put_f64le(out, cf->score);
    buf_put_f64le(out, cf->stage1);
    sdar_save(&cf->s1, out);
    sdar_save(&cf->s2, out);
    ring_save(&cf->m1, out);
    ring_save(&cf->m2, out);
}

struct changefinder *cf_restore(const uint8_t *in, size_t n, struct saba_err *e)
{
    const size_t head = 4 + 16 + 24;
    if (n < head || memcmp(in, CF_MAGIC, 4)) {
        err_set(e, SABA_ECORRUPT, 0, "not a saved ChangeFinder state");
        return NULL;
    }
    uint32_t version = load_u32le(in + 4);
    if (version != CF_VERSION) {
        err_set(e, SABA_ECORRUPT, 0, "ChangeFinder state version %u, this build reads %d", version,
                CF_VERSION);
        return NULL;
    }
    struct cf_params p = {.order = (int)load_u32le(in + 8),
                          .smooth1 = (int)load_u32le(in + 12),
                          .smooth2 = (int)load_u32le(in + 16),
                          .discount = load_f64le(in + 20)};
    if (load_u32le(in + 8) > SDAR_MAX_ORDER || load_u32le(in + 12) > CF_MAX_SMOOTH ||
        load_u32le(in + 16) > CF_MAX_SMOOTH || cf_params_check(&p, e)) {
        err_set(e, SABA_ECORRUPT, 0, "saved ChangeFinder state has bad parameters");
        return NULL;
    }
    struct changefinder *cf = cf_new(&p);
    cf->score = load_f64le(in + 28);
    cf->stage1 = load_f64le(in + 36);
    size_t off = head, used;
    if (!isfinite(cf->score) || !isfinite(cf->stage1))
        goto bad;
    if (!(used = sdar_load(&cf->s1, in + off, n - off)))
        goto bad;
    off += used;
    if (!(used = sdar_load(&cf->s2, in + off, n - off)))
        goto bad;
    off += used;
    if (!(used = ring_load(&cf->m1, in + off, n - off)))
        goto bad;
    off += used;
    if (!(used = ring_load(&cf->m2, in + off, n - off)))
        goto bad;
    off += used;
    if (off != n)
        goto bad;
    return cf;
bad:
    cf_free(cf);
    err_set(e, SABA_ECORRUPT, 0, "saved ChangeFinder state is truncated or damaged");
    return NULL;
}
