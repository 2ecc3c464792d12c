/*
 * fuzz_proc.c - fuzzes the agent's /proc parsers (agent/collect.h): the input
 * is split at lines "@@" into the files of a fixture /proc tree (stat,
 * loadavg, meminfo, diskstats, net/dev, net/netstat, net/snmp, net/snmp6,
 * net/sockstat, net/sockstat6, 1/mounts), written to a private temporary
 * directory, and every collector runs over it.
 * Checks: no memory or UB fault and no leak on any content (a kernel with new
 * columns, truncated reads); every sample has a non-empty name and label
 * names, and no label has an empty value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/collect.h"
#include "fuzz_common.h"

static const char *const files[] = {"stat",         "loadavg",       "meminfo",  "diskstats",
                                    "net/dev",      "net/netstat",   "net/snmp", "net/snmp6",
                                    "net/sockstat", "net/sockstat6", "1/mounts"};
#define NFILES (sizeof files / sizeof files[0])

static char root[64];
static struct collectors *col;

/* remove the fixture tree when libFuzzer exits */
static void cleanup(void)
{
    char path[128];
    for (size_t i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/net", root);
    rmdir(path);
    snprintf(path, sizeof path, "%s/1", root);
    rmdir(path);
    rmdir(root);
    collectors_free(col);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    snprintf(root, sizeof root, "/tmp/saba-fuzz-proc-%d", (int)getpid());
    char path[128];
    mkdir(root, 0700);
    snprintf(path, sizeof path, "%s/net", root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/1", root);
    mkdir(path, 0700);
    struct collect_opts o;
    collect_opts_default(&o);
    o.proc_root = root;
    /* mount points from the input are statfs'ed: keep that to names under
     * the fixture so the fuzzer never touches the machine's mounts */
    o.mount_exclude = "^(?!/tmp/saba-fuzz-proc-)";
    struct saba_err err = {0};
    if (collectors_new(&o, &col, &err) != 0) {
        fprintf(stderr, "fuzz_proc: %s\n", err.msg);
        abort();
    }
    atexit(cleanup);
    return 0;
}

static void write_file(const char *rel, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    if (n)
        fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < NFILES; i++) {
        const uint8_t *cut = p;
        while (cut < end && !(end - cut >= 4 && !memcmp(cut, "\n@@\n", 4)))
            cut++;
        write_file(files[i], p, (size_t)(cut - p));
        p = cut < end ? cut + 4 : end;
    }
    struct mset m;
    mset_init(&m);
    collectors_run(col, &m);
    for (size_t i = 0; i < m.n; i++) {
        FUZZ_CHECK(mset_str(&m, m.s[i].name_off)[0], "sample %zu without a name", i);
        const char *l = mset_str(&m, m.s[i].labels_off);
        for (uint16_t k = 0; k < m.s[i].nlabels; k++) {
            const char *v = l + strlen(l) + 1;
            FUZZ_CHECK(*l && *v, "sample %zu: empty label name or value", i);
            l = v + strlen(v) + 1;
        }
    }
    mset_free(&m);
    return 0;
}
