/*
 * buf.h - a growable byte buffer.
 *
 * The one string/byte builder of the code base: response bodies, WAL records
 * and log lines are built in a buf. The struct is public on purpose: it is a
 * value type that callers embed and read (data, len) directly, as with
 * Redis' sds or curl's dynbuf. data is always NUL-terminated after any append
 * so it can be handed to C string functions, but may also hold binary bytes.
 */
#ifndef SABA_BASE_BUF_H
#define SABA_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Ensure room for n more bytes (plus the NUL). */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Append v as an unsigned LEB128 varint. */
void buf_put_uvarint(struct buf *b, uint64_t v);
/* Append v as little-endian fixed-width integers. */
void buf_put_u32le(struct buf *b, uint32_t v);
void buf_put_u64le(struct buf *b, uint64_t v);
/* A double as its 8 IEEE-754 bytes, little-endian (exact, NaN payloads kept). */
void buf_put_f64le(struct buf *b, double v);
/* Append s as a JSON string literal, quotes included. s is UTF-8 of length n. */
void buf_put_json_str(struct buf *b, const char *s, size_t n);
/* Forget the contents but keep the allocation. */
void buf_reset(struct buf *b);
/* Take ownership of the data; b is left empty. Never returns NULL. */
char *buf_steal(struct buf *b);
/* Free the allocation; b is left empty and reusable. buf_free on an empty buf does nothing. */
void buf_free(struct buf *b);

/* Read an unsigned LEB128 varint from [*p, end). Returns 0 and advances *p, or -1 on
 * truncation/overflow (then *p is unchanged). */
int uvarint_read(const uint8_t **p, const uint8_t *end, uint64_t *out);

static inline uint64_t zigzag_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

static inline int64_t zigzag_dec(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t load_u64le(const uint8_t *p)
{
    return (uint64_t)load_u32le(p) | (uint64_t)load_u32le(p + 4) << 32;
}

static inline double load_f64le(const uint8_t *p)
{
    uint64_t u = load_u64le(p);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

#endif
