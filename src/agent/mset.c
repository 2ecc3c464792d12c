/*
 * mset.c - the agent's sample set and its writers (see mset.h).
 *
 * Strings live in one arena (a buf) so that a collection of a few hundred
 * samples costs no allocation once the arena has grown to its working size.
 */
#include "agent/mset.h"
#include "base/alloc.h"
#include "base/num.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void mset_init(struct mset *m)
{
    memset(m, 0, sizeof *m);
}

void mset_reset(struct mset *m)
{
    buf_reset(&m->strs);
    m->n = 0;
}

void mset_free(struct mset *m)
{
    buf_free(&m->strs);
    free(m->s);
    memset(m, 0, sizeof *m);
}

static uint32_t put_str(struct mset *m, const char *s)
{
    uint32_t off = (uint32_t)m->strs.len;
    buf_append(&m->strs, s, strlen(s) + 1);
    return off;
}

void mset_add(struct mset *m, const char *name, double v, int64_t t_ms, size_t nlabels,
              const char *const *kv)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->s = xrealloc(m->s, m->cap * sizeof *m->s);
    }
    struct mset_sample *s = &m->s[m->n++];
    s->name_off = put_str(m, name);
    s->labels_off = (uint32_t)m->strs.len;
    s->nlabels = 0;
    for (size_t i = 0; i < nlabels; i++) {
        if (!kv[2 * i + 1][0])
            continue;
        put_str(m, kv[2 * i]);
        put_str(m, kv[2 * i + 1]);
        s->nlabels++;
    }
    s->t_ms = t_ms;
    s->v = v;
}

void mset_add0(struct mset *m, const char *name, double v)
{
    mset_add(m, name, v, 0, 0, NULL);
}

void mset_add1(struct mset *m, const char *name, double v, const char *l1, const char *v1)
{
    const char *kv[] = {l1, v1};
    mset_add(m, name, v, 0, 1, kv);
}

void mset_add2(struct mset *m, const char *name, double v, const char *l1, const char *v1,
               const char *l2, const char *v2)
{
    const char *kv[] = {l1, v1, l2, v2};
    mset_add(m, name, v, 0, 2, kv);
}

static void put_prom_value(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\'), buf_putc(b, *s);
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
}

/* The order samples are printed in: grouped by name, first-seen order of the
 * names, and insertion order within a name (a stable sort on the rank of the
 * name's first appearance). */
struct ord {
    size_t rank, idx;
};

static int ord_cmp(const void *a, const void *b)
{
    const struct ord *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void mset_write_prom(const struct mset *m, const char *host, struct buf *out)
{
    if (!m->n)
        return;
    struct ord *o = xmalloc(m->n * sizeof *o);
    /* rank = index of the first sample with the same name; names repeat in
     * runs, so remembering the previous name keeps this near linear */
    for (size_t i = 0; i < m->n; i++) {
        const char *name = mset_str(m, m->s[i].name_off);
        size_t r = i;
        if (i && !strcmp(name, mset_str(m, m->s[o[i - 1].idx].name_off))) {
            r = o[i - 1].rank;
        } else {
            for (size_t j = 0; j < i; j++)
                if (o[j].rank == j && !strcmp(name, mset_str(m, m->s[j].name_off))) {
                    r = j;
                    break;
                }
        }
        o[i].rank = r;
        o[i].idx = i;
    }
    qsort(o, m->n, sizeof *o, ord_cmp);
    for (size_t k = 0; k < m->n; k++) {
        const struct mset_sample *s = &m->s[o[k].idx];
        buf_puts(out, mset_str(m, s->name_off));
        buf_putc(out, '{');
        const char *l = mset_str(m, s->labels_off);
        for (uint16_t i = 0; i < s->nlabels; i++) {
            const char *v = l + strlen(l) + 1;
            buf_printf(out, "%s=\"", l);
            put_prom_value(out, v);
            buf_puts(out, "\",");
            l = v + strlen(v) + 1;
        }
        buf_puts(out, "host=\"");
        put_prom_value(out, host);
        buf_puts(out, "\"} ");
        num_put_float(out, s->v);
        if (s->t_ms)
            buf_printf(out, " %lld", (long long)s->t_ms);
        buf_putc(out, '\n');
    }
    free(o);
}

void mset_write_json(const struct mset *m, const char *host, int64_t now_ms, struct buf *out)
{
    buf_putc(out, '[');
    for (size_t k = 0; k < m->n; k++) {
        const struct mset_sample *s = &m->s[k];
        if (k)
            buf_putc(out, ',');
        buf_puts(out, "{\"name\":");
        const char *name = mset_str(m, s->name_off);
        buf_put_json_str(out, name, strlen(name));
        buf_puts(out, ",\"labels\":{");
        const char *l = mset_str(m, s->labels_off);
        for (uint16_t i = 0; i < s->nlabels; i++) {
            const char *v = l + strlen(l) + 1;
            buf_put_json_str(out, l, strlen(l));
            buf_putc(out, ':');
            buf_put_json_str(out, v, strlen(v));
            buf_putc(out, ',');
            l = v + strlen(v) + 1;
        }
        buf_puts(out, "\"host\":");
        buf_put_json_str(out, host, strlen(host));
        buf_puts(out, "},\"time\":");
        num_put_ts(out, s->t_ms ? s->t_ms : now_ms);
        buf_puts(out, ",\"value\":");
        if (s->v != s->v || s->v - s->v != 0) { /* NaN or ±Inf: JSON has no literal */
            buf_putc(out, '"');
            num_put_float(out, s->v);
            buf_putc(out, '"');
        } else {
            num_put_float(out, s->v);
        }
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
}
