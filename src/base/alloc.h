/*
 * alloc.h - allocation wrappers that never return NULL.
 *
 * saba treats out-of-memory as fatal, as Redis does: the wrappers abort with a
 * log line, so no caller carries an allocation-failure branch that is never
 * tested. Everything else that can fail returns an error code.
 */
#ifndef SABA_BASE_ALLOC_H
#define SABA_BASE_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup/strndup, but abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
