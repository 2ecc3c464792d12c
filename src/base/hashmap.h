/*
 * hashmap.h - an open-addressing map from uint64 keys to uint64 values.
 *
 * The index structures of the head (symbols, series by label hash, postings
 * by label pair) all reduce to "64-bit key -> 64-bit value"; callers that key
 * by strings store the string's hash as the key and resolve collisions
 * themselves with hashmap_next(). Linear probing, power-of-two capacity,
 * load factor <= 0.7. Not thread-safe: the owner locks.
 */
#ifndef SABA_BASE_HASHMAP_H
#define SABA_BASE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap {
    uint64_t *keys;
    uint64_t *vals;
    uint8_t *used;
    size_t cap; /* slots, a power of two or 0 */
    size_t len; /* occupied slots */
};

#define HASHMAP_INIT                                                                               \
    {                                                                                              \
        NULL, NULL, NULL, 0, 0                                                                     \
    }

/* Insert key -> val; duplicates of a key are allowed and all kept (see
 * hashmap_next). */
void hashmap_add(struct hashmap *m, uint64_t key, uint64_t val);
/* Find the first entry of key: returns true and writes *val and the cursor
 * *pos for hashmap_next, or false. */
bool hashmap_find(const struct hashmap *m, uint64_t key, uint64_t *val, size_t *pos);
/* Continue a search for the same key after *pos. */
bool hashmap_next(const struct hashmap *m, uint64_t key, uint64_t *val, size_t *pos);
/* Overwrite the value at a cursor returned by find/next. */
void hashmap_set_at(struct hashmap *m, size_t pos, uint64_t val);
void hashmap_free(struct hashmap *m);
/* Bytes allocated, for memory accounting. */
size_t hashmap_bytes(const struct hashmap *m);

#endif
