/*
 * meminfo.c - /proc/meminfo: node_memory_<Key>_bytes (and swap, which is in
 * the same file), as node_exporter's meminfo collector names them.
 *
 * "Key: N kB" becomes node_memory_Key_bytes = N * 1024; a line without a unit
 * (HugePages_Total) stays a count, node_memory_Key; "Active(anon)" becomes
 * "Active_anon".
 */
#include "agent/collect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int collect_meminfo(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "meminfo", &c->file))
        return -1;
    char *p = c->file.data, *line;
    int n = 0;
    while ((line = next_line(&p))) {
        char *f = line, *key = next_field(&f), *val = next_field(&f), *unit = next_field(&f);
        size_t kl = key ? strlen(key) : 0;
        if (!val || kl < 2 || key[kl - 1] != ':')
            continue;
        key[--kl] = '\0';
        char name[160];
        size_t o = (size_t)snprintf(name, sizeof name, "node_memory_");
        for (size_t i = 0; i < kl && o < sizeof name - 8; i++) {
            if (key[i] == '(')
                name[o++] = '_';
            else if (key[i] != ')')
                name[o++] = key[i];
        }
        name[o] = '\0';
        double v = strtod(val, NULL);
        if (unit && !strcmp(unit, "kB")) {
            memcpy(name + o, "_bytes", 7);
            v *= 1024;
        }
        mset_add0(m, name, v);
        n++;
    }
    return n ? 0 : -1;
}
