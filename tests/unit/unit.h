/*
 * unit.h - helpers shared by the cmocka unit tests in tests/unit/.
 *
 * Include after <cmocka.h> (and its prerequisites).
 */
#ifndef SABA_TESTS_UNIT_H
#define SABA_TESTS_UNIT_H

#include <ftw.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Bit pattern of a double, for exact comparisons (NaN payloads, -0.0). */
static inline uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

#define assert_double_bits_equal(a, b) assert_int_equal(dbits(a), dbits(b))

/* |a - b| <= eps (cmocka 1.1 has no assert_double_equal). */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            fail_msg("%.17g != %.17g (eps %g)", a_, b_, (double)(eps));                            \
    } while (0)

/* Silence the log: tests provoke warnings on purpose. */
static inline void unit_quiet_logs(void)
{
    log_set_level((enum log_level)(LOG_LVL_ERROR + 1));
}

/* Create a fresh directory under /tmp; out must hold 64 bytes. */
static inline void unit_mkdtemp(char *out)
{
    snprintf(out, 64, "/tmp/saba-ut-XXXXXX");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

static inline int unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf path */
static inline void unit_rm_rf(const char *path)
{
    nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Length of a file, or -1. */
static inline long unit_file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

#ifdef SABA_STORAGE_BATCH_H
/* The labels of batch sample i as "name=value,name=value" (sorted, as stored). */
static inline const char *unit_sample_labels(const struct batch *b, size_t i, char *out, size_t n)
{
    const struct batch_sample *s = &b->samples[i];
    size_t off = 0;
    out[0] = '\0';
    for (uint16_t k = 0; k < s->nlabels; k++) {
        const struct batch_label *l = &b->labels[s->label_off + k];
        int w = snprintf(out + off, n - off, "%s%.*s=%.*s", k ? "," : "", (int)l->name_len,
                         batch_str(b, l->name_off), (int)l->value_len, batch_str(b, l->value_off));
        if (w < 0 || (size_t)w >= n - off)
            break;
        off += (size_t)w;
    }
    return out;
}
/* Sample i of the batch in a parse result p (a struct with a batch b) has these
 * labels (as unit_sample_labels prints them), timestamp and value bits. */
#define assert_sample(p, i, want_labels, want_t, want_v)                                           \
    do {                                                                                           \
        char lb_[1024];                                                                            \
        assert_true((i) < (p)->b.nsamples);                                                        \
        assert_string_equal(unit_sample_labels(&(p)->b, (i), lb_, sizeof lb_), want_labels);       \
        assert_int_equal((p)->b.samples[i].t, (want_t));                                           \
        assert_double_bits_equal((p)->b.samples[i].v, (double)(want_v));                           \
    } while (0)

#endif

#endif
