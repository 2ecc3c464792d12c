/*
 * eval_binop.c - PromQL binary operators: arithmetic, comparison (with and
 * without bool), and/or/unless, with on / ignoring and group_left /
 * group_right vector matching, as Prometheus 2.x evaluates them.
 *
 * Vector matching is done step by step (which series match can change from
 * one step to the next), but the per-series work — the matching signature
 * and the result's labels — is computed once per series, not per step.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/hashmap.h"
#include "query/eval_impl.h"
#include "storage/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static bool is_comparison(enum binop op)
{
    return op >= OP_EQ && op <= OP_LE;
}

static bool is_set_op(enum binop op)
{
    return op >= OP_AND;
}

/* Prometheus' vectorElemBinop: the value and whether a comparison holds. */
static double elem_binop(enum binop op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case OP_ADD:
        return l + r;
    case OP_SUB:
        return l - r;
    case OP_MUL:
        return l * r;
    case OP_DIV:
        return l / r;
    case OP_POW:
        return pow(l, r);
    case OP_MOD:
        return fmod(l, r);
    case OP_ATAN2:
        return atan2(l, r);
    case OP_EQ:
        *keep = l == r;
        return l;
    case OP_NE:
        *keep = l != r;
        return l;
    case OP_GT:
        *keep = l > r;
        return l;
    case OP_LT:
        *keep = l < r;
        return l;
    case OP_GE:
        *keep = l >= r;
        return l;
    case OP_LE:
        *keep = l <= r;
        return l;
    default:
        return NAN;
    }
}

/* Prometheus drops the metric name for the arithmetic operators other than
 * atan2, and for comparisons with bool (shouldDropMetricName). */
static bool drops_name(const struct node *n)
{
    return (n->op >= OP_ADD && n->op <= OP_POW) || n->return_bool;
}

static int scalar_scalar(const struct node *n, const struct grid *g, struct series_set *l,
                         struct series_set *r, struct series_set *out)
{
    double *lv = xmalloc(g->nsteps * sizeof *lv), *rv = xmalloc(g->nsteps * sizeof *rv);
    for (size_t k = 0; k < g->nsteps; k++)
        lv[k] = rv[k] = NAN;
    for (size_t j = 0; l->n && j < l->v[0].n; j++)
        lv[(l->v[0].t[j] - g->start) / g->step] = l->v[0].v[j];
    for (size_t j = 0; r->n && j < r->v[0].n; j++)
        rv[(r->v[0].t[j] - g->start) / g->step] = r->v[0].v[j];
    struct series_data s = step_series_new(g);
    s.labels = labels_copy(NULL, 0);
    for (size_t k = 0; k < g->nsteps; k++) {
        bool keep;
        double v = elem_binop(n->op, lv[k], rv[k], &keep);
        s.t[s.n] = grid_t(g, k);
        s.v[s.n++] = is_comparison(n->op) ? keep : v;
    }
    free(lv);
    free(rv);
    size_t cap = 0;
    set_push(out, &cap, s);
    return 0;
}

/* vector op scalar, or scalar op vector when swap. */
static int vector_scalar(const struct node *n, const struct grid *g, struct series_set *vec,
                         struct series_set *sc, bool swap, struct series_set *out,
                         struct saba_err *err)
{
    double *sv = xmalloc(g->nsteps * sizeof *sv);
    for (size_t k = 0; k < g->nsteps; k++)
        sv[k] = NAN;
    for (size_t j = 0; sc->n && j < sc->v[0].n; j++)
        sv[(sc->v[0].t[j] - g->start) / g->step] = sc->v[0].v[j];
    bool drop = drops_name(n);
    for (size_t i = 0; i < vec->n; i++) {
        struct series_data *s = &vec->v[i];
        size_t k = 0;
        for (size_t j = 0; j < s->n; j++) {
            double lv = s->v[j], rv = sv[(s->t[j] - g->start) / g->step];
            if (swap) {
                double x = lv;
                lv = rv;
                rv = x;
            }
            bool keep;
            double v = elem_binop(n->op, lv, rv, &keep);
            if (is_comparison(n->op) && swap)
                v = rv; /* a filter keeps the vector's value, whichever side it is on */
            if (n->return_bool)
                v = keep;
            else if (!keep)
                continue;
            s->t[k] = s->t[j];
            s->v[k++] = v;
        }
        s->n = k;
        if (drop)
            labels_drop_name(&s->labels);
    }
    free(sv);
    *out = *vec;
    memset(vec, 0, sizeof *vec);
    return set_finish(out, err);
}

/* The matching signature: the on(...) labels, or all but the ignoring(...)
 * labels and the metric name. */
static uint64_t signature(const struct node *n, const struct labels *ls)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name;
        bool listed = name_in(name, n->match_labels, n->nmatch_labels);
        if (n->on ? !listed : listed || !strcmp(name, LABEL_NAME))
            continue;
        XXH3_64bits_update(&st, name, strlen(name) + 1);
        XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value) + 1);
    }
    return XXH3_64bits_digest(&st);
}

/* Distinct signatures of both sides, numbered densely. */
struct sigtab {
    struct hashmap map;
    size_t n;
};

static size_t sig_slot(struct sigtab *t, uint64_t sig, bool add)
{
    uint64_t v;
    size_t pos;
    if (hashmap_find(&t->map, sig, &v, &pos))
        return (size_t)v;
    if (!add)
        return SIZE_MAX;
    hashmap_add(&t->map, sig, t->n);
    return t->n++;
}

/* "{a="b", c="d"}" for error messages, as Prometheus prints label sets. */
static void put_labels(struct buf *b, const struct labels *ls, const struct node *n, bool matched)
{
    buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < ls->n; i++) {
        if (matched) {
            bool listed = name_in(ls->v[i].name, n->match_labels, n->nmatch_labels);
            if (n->on ? !listed : listed || !strcmp(ls->v[i].name, LABEL_NAME))
                continue;
        }
        buf_printf(b, "%s%s=\"%s\"", first ? "" : ", ", ls->v[i].name, ls->v[i].value);
        first = false;
    }
    buf_putc(b, '}');
}

/* and, or, unless: series keep their labels; membership is per step. */
static int set_operation(const struct node *n, const struct grid *g, struct series_set *l,
                         struct series_set *r, struct series_set *out)
{
    struct sigtab tab = {HASHMAP_INIT, 0};
    size_t *ls = xmalloc((l->n ? l->n : 1) * sizeof *ls);
    size_t *rs = xmalloc((r->n ? r->n : 1) * sizeof *rs);
    for (size_t i = 0; i < l->n; i++)
        ls[i] = sig_slot(&tab, signature(n, &l->v[i].labels), true);
    for (size_t i = 0; i < r->n; i++)
        rs[i] = sig_slot(&tab, signature(n, &r->v[i].labels), true);
    size_t ns = tab.n ? tab.n : 1;
    size_t *lstep = xmalloc(ns * sizeof *lstep), *rstep = xmalloc(ns * sizeof *rstep);
    for (size_t i = 0; i < ns; i++)
        lstep[i] = rstep[i] = SIZE_MAX;
    size_t *lcur = xcalloc(l->n ? l->n : 1, sizeof *lcur);
    size_t *rcur = xcalloc(r->n ? r->n : 1, sizeof *rcur);
    struct outmap om;
    outmap_init(&om, g);
    size_t *lout = xmalloc((l->n ? l->n : 1) * sizeof *lout);
    size_t *rout = xmalloc((r->n ? r->n : 1) * sizeof *rout);
    for (size_t i = 0; i < l->n; i++)
        lout[i] = SIZE_MAX;
    for (size_t i = 0; i < r->n; i++)
        rout[i] = SIZE_MAX;
    for (size_t k = 0; k < g->nsteps; k++) {
        int64_t t = grid_t(g, k);
        for (size_t i = 0; i < l->n; i++)
            if (lcur[i] < l->v[i].n && l->v[i].t[lcur[i]] == t)
                lstep[ls[i]] = k;
        for (size_t i = 0; i < r->n; i++)
            if (rcur[i] < r->v[i].n && r->v[i].t[rcur[i]] == t)
                rstep[rs[i]] = k;
        for (size_t i = 0; i < l->n; i++) {
            if (lcur[i] >= l->v[i].n || l->v[i].t[lcur[i]] != t)
                continue;
            double v = l->v[i].v[lcur[i]++];
            bool in_r = rstep[ls[i]] == k;
            if (n->op == OP_AND ? !in_r : n->op == OP_UNLESS ? in_r : false)
                continue;
            if (lout[i] == SIZE_MAX)
                lout[i] = outmap_find_or_add(&om, &l->v[i].labels);
            outmap_add(&om, lout[i], k, v);
        }
        for (size_t i = 0; i < r->n; i++) {
            if (rcur[i] >= r->v[i].n || r->v[i].t[rcur[i]] != t)
                continue;
            double v = r->v[i].v[rcur[i]++];
            if (n->op != OP_OR || lstep[rs[i]] == k)
                continue;
            if (rout[i] == SIZE_MAX)
                rout[i] = outmap_find_or_add(&om, &r->v[i].labels);
            outmap_add(&om, rout[i], k, v);
        }
    }
    hashmap_free(&tab.map);
    free(ls);
    free(rs);
    free(lstep);
    free(rstep);
    free(lcur);
    free(rcur);
    free(lout);
    free(rout);
    outmap_done(&om, out);
    return 0;
}

/* The labels of a result element (Prometheus' resultMetric). */
static struct labels result_labels(const struct node *n, const struct labels *many,
                                   const struct labels *one)
{
    struct lbuild b;
    lb_init(&b, many);
    if (drops_name(n))
        lb_del(&b, LABEL_NAME);
    if (!n->group) {
        if (n->on)
            lb_keep(&b, n->match_labels, n->nmatch_labels);
        else
            for (size_t i = 0; i < n->nmatch_labels; i++)
                lb_del(&b, n->match_labels[i]);
    }
    for (size_t i = 0; i < n->ninclude_labels; i++) {
        const char *v = labels_get(one, n->include_labels[i]);
        if (v)
            lb_set(&b, n->include_labels[i], v);
        else
            lb_del(&b, n->include_labels[i]);
    }
    return lb_done(&b);
}

/* Arithmetic and comparisons between two vectors. The "one" side of the
 * matching is the right one (the left one for group_right). */
static int vector_vector(const struct node *n, const struct grid *g, struct series_set *lhs,
                         struct series_set *rhs, struct series_set *out, struct saba_err *err)
{
    bool swap = n->group == 2;
    struct series_set *many = swap ? rhs : lhs, *one = swap ? lhs : rhs;
    struct sigtab tab = {HASHMAP_INIT, 0};
    size_t *oslot = xmalloc((one->n ? one->n : 1) * sizeof *oslot);
    size_t *mslot = xmalloc((many->n ? many->n : 1) * sizeof *mslot);
    for (size_t i = 0; i < one->n; i++)
        oslot[i] = sig_slot(&tab, signature(n, &one->v[i].labels), true);
    for (size_t i = 0; i < many->n; i++)
        mslot[i] = sig_slot(&tab, signature(n, &many->v[i].labels), false);
    size_t ns = tab.n ? tab.n : 1;
    size_t *sstep = xmalloc(ns * sizeof *sstep), *sser = xmalloc(ns * sizeof *sser);
    size_t *matched = xmalloc(ns * sizeof *matched);
    double *sval = xmalloc(ns * sizeof *sval);
    for (size_t i = 0; i < ns; i++)
        sstep[i] = matched[i] = SIZE_MAX;
    size_t *ocur = xcalloc(one->n ? one->n : 1, sizeof *ocur);
    size_t *mcur = xcalloc(many->n ? many->n : 1, sizeof *mcur);
    size_t *mout = xmalloc((many->n ? many->n : 1) * sizeof *mout);
    size_t *mout_one = xmalloc((many->n ? many->n : 1) * sizeof *mout_one);
    for (size_t i = 0; i < many->n; i++)
        mout[i] = mout_one[i] = SIZE_MAX;
    struct outmap om;
    outmap_init(&om, g);
    int rc = 0;
    for (size_t k = 0; k < g->nsteps && !rc; k++) {
        int64_t t = grid_t(g, k);
        for (size_t i = 0; i < one->n && !rc; i++) {
            if (ocur[i] >= one->v[i].n || one->v[i].t[ocur[i]] != t)
                continue;
            size_t s = oslot[i];
            if (sstep[s] == k) {
                struct buf b = BUF_INIT;
                buf_puts(&b, "found duplicate series for the match group ");
                put_labels(&b, &one->v[i].labels, n, true);
                buf_printf(&b, " on the %s hand-side of the operation: [", swap ? "left" : "right");
                put_labels(&b, &one->v[i].labels, n, false);
                buf_puts(&b, ", ");
                put_labels(&b, &one->v[sser[s]].labels, n, false);
                buf_puts(&b, "];many-to-many matching not allowed: matching labels must be unique "
                             "on one side");
                rc = err_set(err, SABA_EEXEC, 0, "%s", b.data);
                buf_free(&b);
                break;
            }
            sstep[s] = k;
            sser[s] = i;
            sval[s] = one->v[i].v[ocur[i]++];
        }
        for (size_t i = 0; i < many->n && !rc; i++) {
            if (mcur[i] >= many->v[i].n || many->v[i].t[mcur[i]] != t)
                continue;
            double mv = many->v[i].v[mcur[i]++];
            size_t s = mslot[i];
            if (s == SIZE_MAX || sstep[s] != k)
                continue;
            double vl = mv, vr = sval[s];
            if (swap) {
                vl = sval[s];
                vr = mv;
            }
            bool keep;
            double v = elem_binop(n->op, vl, vr, &keep);
            if (n->return_bool)
                v = keep;
            else if (!keep)
                continue;
            if (!n->group) {
                if (matched[s] == k) {
                    rc = err_set(err, SABA_EEXEC, 0,
                                 "multiple matches for labels: many-to-one matching must be "
                                 "explicit (group_left/group_right)");
                    break;
                }
                matched[s] = k;
            }
            size_t j = sser[s];
            if (mout[i] == SIZE_MAX || (n->group && mout_one[i] != j)) {
                mout[i] = outmap_get(&om, result_labels(n, &many->v[i].labels, &one->v[j].labels));
                mout_one[i] = j;
            }
            if (!outmap_add(&om, mout[i], k, v)) {
                rc = err_set(err, SABA_EEXEC, 0,
                             n->group ? "multiple matches for labels: grouping labels must ensure "
                                        "unique matches"
                                      : "vector cannot contain metrics with the same labelset");
                break;
            }
        }
    }
    hashmap_free(&tab.map);
    free(oslot);
    free(mslot);
    free(sstep);
    free(sser);
    free(matched);
    free(sval);
    free(ocur);
    free(mcur);
    free(mout);
    free(mout_one);
    outmap_done(&om, out);
    if (rc)
        series_set_free(out);
    return rc;
}

int eval_binary(struct ev *ev, const struct node *n, const struct grid *g, struct series_set *out,
                struct saba_err *err)
{
    struct series_set l = {0}, r = {0};
    int rc = eval_grid(ev, n->lhs, g, &l, err);
    if (!rc)
        rc = eval_grid(ev, n->rhs, g, &r, err);
    if (!rc) {
        bool lvec = node_value_type(n->lhs) == VAL_VECTOR;
        bool rvec = node_value_type(n->rhs) == VAL_VECTOR;
        if (!lvec && !rvec)
            rc = scalar_scalar(n, g, &l, &r, out);
        else if (lvec && !rvec)
            rc = vector_scalar(n, g, &l, &r, false, out, err);
        else if (!lvec)
            rc = vector_scalar(n, g, &r, &l, true, out, err);
        else if (is_set_op(n->op))
            rc = set_operation(n, g, &l, &r, out);
        else
            rc = vector_vector(n, g, &l, &r, out, err);
    }
    series_set_free(&l);
    series_set_free(&r);
    return rc;
}
