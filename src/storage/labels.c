/*
 * labels.c - sorted label sets (see labels.h).
 */
#include "storage/labels.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

static int label_cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

struct labels labels_pack(const struct label *v, const uint32_t *len, size_t n)
{
    size_t bytes = n * sizeof(struct label);
    for (size_t i = 0; i < 2 * n; i++)
        bytes += len[i] + 1;
    struct labels ls = {xmalloc(bytes ? bytes : 1), n};
    char *s = (char *)(ls.v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(s, v[i].name, len[2 * i]);
        s[len[2 * i]] = '\0';
        ls.v[i].name = s;
        s += len[2 * i] + 1;
        memcpy(s, v[i].value, len[2 * i + 1]);
        s[len[2 * i + 1]] = '\0';
        ls.v[i].value = s;
        s += len[2 * i + 1] + 1;
    }
    return ls;
}

struct labels labels_copy(const struct label *v, size_t n)
{
    uint32_t stack[64] = {0}, *len = 2 * n <= 64 ? stack : xmalloc(2 * n * sizeof *len);
    for (size_t i = 0; i < n; i++) {
        len[2 * i] = (uint32_t)strlen(v[i].name);
        len[2 * i + 1] = (uint32_t)strlen(v[i].value);
    }
    struct labels ls = labels_pack(v, len, n);
    if (len != stack)
        free(len);
    qsort(ls.v, n, sizeof *ls.v, label_cmp_name);
    return ls;
}

void labels_free(struct labels *ls)
{
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

const char *labels_get(const struct labels *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].name, name) == 0)
            return ls->v[i].value;
    return NULL;
}

int labels_cmp(const struct labels *a, const struct labels *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

void labels_put_json(struct buf *b, const struct labels *ls)
{
    buf_putc(b, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_put_json_str(b, ls->v[i].name, strlen(ls->v[i].name));
        buf_putc(b, ':');
        buf_put_json_str(b, ls->v[i].value, strlen(ls->v[i].value));
    }
    buf_putc(b, '}');
}

bool utf8_valid_text(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    while (s < end) {
        unsigned c = *s;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return false;
            s++;
            continue;
        }
        int len;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - s < len)
            return false;
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* reject overlong forms, surrogates and values beyond Unicode */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        s += len;
    }
    return true;
}

bool label_name_is_identifier(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}
