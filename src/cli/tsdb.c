/*
 * tsdb.c - `saba tsdb inspect DIR`: what a data directory holds.
 *
 * Reads the blocks read-only (no lock: it works beside a running server; a
 * block deleted by a compaction meanwhile is reported as gone) and the WAL
 * directory, and prints per block its tier, time range, series, samples,
 * bytes and bytes per sample (and of them the index's, and the block format
 * version), the totals, and the label names with the most
 * distinct values (the usual cause of memory and index growth). A block that
 * does not verify is named with the reason, and the exit status is 1.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "cli/cli.h"
#include "storage/storage.h"
#include "storage/tsdb/block.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TOP_LABELS 10

static void fmt_time(int64_t ms, char *out, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct card {
    char *name;
    struct strlist values;
};

static int cmp_card(const void *a, const void *b)
{
    const struct card *x = a, *y = b;
    if (x->values.n != y->values.n)
        return x->values.n < y->values.n ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int inspect(const char *dir)
{
    struct buf bd = BUF_INIT;
    buf_printf(&bd, "%s/blocks", dir);
    DIR *d = opendir(bd.data);
    struct strlist names = {0};
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strlen(de->d_name) == 16 && strspn(de->d_name, "0123456789abcdef") == 16)
                strlist_add(&names, de->d_name);
        closedir(d);
    } else {
        struct stat st;
        if (stat(dir, &st) != 0) {
            fprintf(stderr, "saba tsdb inspect: %s: no such directory\n", dir);
            buf_free(&bd);
            return 1;
        }
    }
    if (names.n)
        qsort(names.v, names.n, sizeof *names.v, cmp_str);
    int status = 0;
    uint64_t tot_bytes = 0, raw_samples = 0, raw_bytes = 0, raw_index = 0;
    size_t ncards = 0, nblocks = 0;
    struct card *cards = NULL;
    printf("%-16s  %-5s  %-20s  %-20s  %8s  %11s  %11s  %8s  %11s  %3s\n", "BLOCK", "TIER",
           "MIN TIME", "MAX TIME", "SERIES", "SAMPLES", "BYTES", "B/SAMPLE", "INDEX BYTES", "FMT");
    for (size_t i = 0; i < names.n; i++) {
        struct buf p = BUF_INIT;
        buf_printf(&p, "%s/%s", bd.data, names.v[i]);
        struct block *b;
        struct saba_err err = {0};
        if (block_open(p.data, &b, &err) != 0) {
            printf("%-16s  corrupt or unreadable: %s\n", names.v[i], err.msg);
            status = 1;
            buf_free(&p);
            continue;
        }
        buf_free(&p);
        nblocks++;
        const struct block_meta *m = block_get_meta(b);
        char t1[32], t2[32], tier[32];
        fmt_time(m->mint, t1, sizeof t1);
        fmt_time(m->maxt, t2, sizeof t2);
        if (m->resolution_ms == 0)
            snprintf(tier, sizeof tier, "raw");
        else if (m->resolution_ms % 3600000 == 0)
            snprintf(tier, sizeof tier, "%lldh", (long long)(m->resolution_ms / 3600000));
        else if (m->resolution_ms % 60000 == 0)
            snprintf(tier, sizeof tier, "%lldm", (long long)(m->resolution_ms / 60000));
        else
            snprintf(tier, sizeof tier, "%llds", (long long)(m->resolution_ms / 1000));
        printf("%-16s  %-5s  %-20s  %-20s  %8llu  %11llu  %11llu  %8.2f  %11llu  v%u\n", names.v[i],
               tier, t1, t2, (unsigned long long)m->nseries, (unsigned long long)m->nsamples,
               (unsigned long long)m->bytes,
               m->nsamples ? (double)m->bytes / (double)m->nsamples : 0.0,
               (unsigned long long)block_index_bytes(b), block_version(b));
        tot_bytes += m->bytes;
        if (m->resolution_ms == 0) {
            raw_samples += m->nsamples;
            raw_bytes += m->bytes;
            raw_index += block_index_bytes(b);
            struct strlist ln = {0};
            block_label_names(b, &ln);
            for (size_t k = 0; k < ln.n; k++) {
                size_t c = 0;
                while (c < ncards && strcmp(cards[c].name, ln.v[k]))
                    c++;
                if (c == ncards) {
                    cards = xrealloc(cards, (ncards + 1) * sizeof *cards);
                    cards[ncards++] = (struct card){xstrdup(ln.v[k]), {0}};
                }
                block_label_values(b, ln.v[k], &cards[c].values);
                strlist_sort_unique(&cards[c].values);
            }
            strlist_free(&ln);
        }
        block_close(b);
    }
    printf("\n%zu blocks, %llu bytes; raw: %llu samples in %llu bytes (%.3f bytes/sample, "
           "index %.3f)\n",
           nblocks, (unsigned long long)tot_bytes, (unsigned long long)raw_samples,
           (unsigned long long)raw_bytes,
           raw_samples ? (double)raw_bytes / (double)raw_samples : 0.0,
           raw_samples ? (double)raw_index / (double)raw_samples : 0.0);
    /* the head: WAL segments and the checkpoint */
    buf_reset(&bd);
    buf_printf(&bd, "%s/wal", dir);
    d = opendir(bd.data);
    uint64_t wal_bytes = 0, ck_bytes = 0;
    int nseg = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            struct buf p = BUF_INIT;
            buf_printf(&p, "%s/%s", bd.data, de->d_name);
            struct stat st;
            if (stat(p.data, &st) == 0 && S_ISREG(st.st_mode)) {
                if (!strncmp(de->d_name, "checkpoint.", 11))
                    ck_bytes += (uint64_t)st.st_size;
                else if (strlen(de->d_name) == 8) {
                    wal_bytes += (uint64_t)st.st_size;
                    nseg++;
                }
            }
            buf_free(&p);
        }
        closedir(d);
    }
    printf("head: %d WAL segment%s, %llu bytes; checkpoint %llu bytes\n", nseg,
           nseg == 1 ? "" : "s", (unsigned long long)wal_bytes, (unsigned long long)ck_bytes);
    if (ncards) {
        qsort(cards, ncards, sizeof *cards, cmp_card);
        printf("\nlabels with the most distinct values (raw blocks):\n");
        for (size_t c = 0; c < ncards && c < TOP_LABELS; c++)
            printf("  %-30s %zu\n", cards[c].name, cards[c].values.n);
    }
    for (size_t c = 0; c < ncards; c++) {
        free(cards[c].name);
        strlist_free(&cards[c].values);
    }
    free(cards);
    strlist_free(&names);
    buf_free(&bd);
    return status;
}

int tsdb_main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "inspect")) {
        log_set_level(LOG_LVL_ERROR);
        return inspect(argv[2]);
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: saba tsdb inspect DIR\n");
        return 0;
    }
    fprintf(stderr, "usage: saba tsdb inspect DIR\n");
    return 2;
}
