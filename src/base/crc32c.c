/*
 * crc32c.c - CRC-32C, hardware-accelerated where available (see crc32c.h).
 *
 * The crc32 instruction has a latency of three cycles and a throughput of
 * one, so long inputs run three lanes of LANE bytes at once and join their
 * CRCs: by linearity crc(c, A||B) = zeros(crc(c, A)) ^ crc(0, B), where
 * zeros() runs the register over LANE zero bytes (four table lookups; the
 * technique of Mark Adler's crc32c.c). Verifying chunks when they are read
 * took a fifth of a year-long rollup query before this.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t table[256];
#define LANE 256                   /* bytes per lane: three lanes per round */
static uint32_t zeros_tab[4][256]; /* the register after LANE zero bytes, by byte */
static bool have_sse42;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        table[i] = c;
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i << (8 * k);
            for (int n = 0; n < LANE; n++)
                c = table[c & 0xff] ^ (c >> 8);
            zeros_tab[k][i] = c;
        }
#if defined(__x86_64__)
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
static uint32_t zeros(uint32_t c)
{
    return zeros_tab[0][c & 0xff] ^ zeros_tab[1][(c >> 8) & 0xff] ^ zeros_tab[2][(c >> 16) & 0xff] ^
           zeros_tab[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c = crc;
    while (n >= 3 * LANE) {
        uint64_t c1 = 0, c2 = 0;
        for (const uint8_t *e = p + LANE; p < e; p += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p, 8);
            memcpy(&w1, p + LANE, 8);
            memcpy(&w2, p + 2 * LANE, 8);
            c = __builtin_ia32_crc32di(c, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
        }
        c = zeros((uint32_t)c) ^ (uint32_t)c1;
        c = zeros((uint32_t)c) ^ (uint32_t)c2;
        p += 2 * LANE;
        n -= 3 * LANE;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&init_once, crc32c_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (have_sse42)
        return ~crc32c_hw(crc, p, n);
#endif
    return ~crc32c_sw(crc, p, n);
}
