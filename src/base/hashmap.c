/*
 * hashmap.c - open-addressing uint64 -> uint64 map (see hashmap.h).
 */
#include "base/hashmap.h"
#include "base/alloc.h"

#include <stdlib.h>

/* Keys are usually hashes already; this finalizer (from SplitMix64) spreads
 * keys that are not, such as packed symbol-id pairs. */
static inline size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

static void grow(struct hashmap *m)
{
    struct hashmap n = {0};
    n.cap = m->cap ? m->cap * 2 : 16;
    n.keys = xmalloc(n.cap * sizeof *n.keys);
    n.vals = xmalloc(n.cap * sizeof *n.vals);
    n.used = xcalloc(n.cap, 1);
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            hashmap_add(&n, m->keys[i], m->vals[i]);
    hashmap_free(m);
    *m = n;
}

void hashmap_add(struct hashmap *m, uint64_t key, uint64_t val)
{
    if ((m->len + 1) * 10 > m->cap * 7)
        grow(m);
    size_t i = slot_of(key, m->cap);
    while (m->used[i])
        i = (i + 1) & (m->cap - 1);
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->len++;
}

bool hashmap_find(const struct hashmap *m, uint64_t key, uint64_t *val, size_t *pos)
{
    if (!m->cap)
        return false;
    *pos = slot_of(key, m->cap);
    for (size_t i = *pos; m->used[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            *pos = i;
            return true;
        }
    }
    return false;
}

bool hashmap_next(const struct hashmap *m, uint64_t key, uint64_t *val, size_t *pos)
{
    for (size_t i = (*pos + 1) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            *pos = i;
            return true;
        }
    }
    return false;
}

void hashmap_set_at(struct hashmap *m, size_t pos, uint64_t val)
{
    m->vals[pos] = val;
}

void hashmap_free(struct hashmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    m->keys = m->vals = NULL;
    m->used = NULL;
    m->cap = m->len = 0;
}

size_t hashmap_bytes(const struct hashmap *m)
{
    return m->cap * 17;
}
