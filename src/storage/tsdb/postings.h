/*
 * postings.h - operations on postings lists: sorted arrays of series ids,
 * shared by the head's and the blocks' label indexes.
 */
#ifndef SABA_STORAGE_TSDB_POSTINGS_H
#define SABA_STORAGE_TSDB_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

/* Keep in a[0..na) only the ids also in b[0..nb) (both sorted ascending);
 * returns the new length of a. */
static inline size_t postings_intersect(uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            a[n++] = a[i];
            i++;
            j++;
        }
    }
    return n;
}

#endif
