/*
 * storage.c - helpers for the result types of the storage interface.
 */
#include "storage/storage.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

void series_set_free(struct series_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        labels_free(&s->v[i].labels);
        free(s->v[i].t);
        free(s->v[i].v);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void strlist_add(struct strlist *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = xstrdup(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strlist_sort_unique(struct strlist *l)
{
    if (!l->n)
        return;
    qsort(l->v, l->n, sizeof *l->v, cmp_str);
    size_t j = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (j && strcmp(l->v[j - 1], l->v[i]) == 0)
            free(l->v[i]);
        else
            l->v[j++] = l->v[i];
    }
    l->n = j;
}

void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}
