/*
 * mset.h - a set of samples the agent collected, and its two serializations.
 *
 * Collectors and plugins append (name, labels, value[, time]) here; the agent
 * then writes the set either as Prometheus text exposition (`saba agent once`)
 * or as the saba JSON body of POST /api/v0/metrics (delivery). Every sample
 * gets the `host` label on output, so collectors never repeat it.
 */
#ifndef SABA_AGENT_MSET_H
#define SABA_AGENT_MSET_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct mset_sample {
    uint32_t name_off;   /* into strs */
    uint32_t labels_off; /* "name\0value\0" pairs into strs */
    uint16_t nlabels;
    int64_t t_ms; /* 0 = the collection's time (given to the writers) */
    double v;
};

struct mset {
    struct buf strs;
    struct mset_sample *s;
    size_t n, cap;
};

void mset_init(struct mset *m);
/* Forget every sample, keep the allocations (one mset serves every collection). */
void mset_reset(struct mset *m);
void mset_free(struct mset *m);

/* Append a sample. kv holds nlabels (name, value) pairs, copied; labels with an
 * empty value are dropped (Prometheus treats them as absent). t_ms 0 means the
 * collection's time. */
void mset_add(struct mset *m, const char *name, double v, int64_t t_ms, size_t nlabels,
              const char *const *kv);
/* Shorthands for the collectors: no label, and name/value label pairs. */
void mset_add0(struct mset *m, const char *name, double v);
void mset_add1(struct mset *m, const char *name, double v, const char *l1, const char *v1);
void mset_add2(struct mset *m, const char *name, double v, const char *l1, const char *v1,
               const char *l2, const char *v2);

static inline const char *mset_str(const struct mset *m, uint32_t off)
{
    return m->strs.data + off;
}

/* Prometheus text exposition (version 0.0.4): samples grouped by metric name
 * (in first-seen order), host="<host>" added to each, no timestamps unless a
 * sample carries its own. */
void mset_write_prom(const struct mset *m, const char *host, struct buf *out);
/* saba JSON for POST /api/v0/metrics: [{"name","labels","time","value"}, ...],
 * with host added to labels and t_ms 0 replaced by now_ms. */
void mset_write_json(const struct mset *m, const char *host, int64_t now_ms, struct buf *out);

#endif
