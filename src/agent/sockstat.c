/*
 * sockstat.c - /proc/net/sockstat and sockstat6: node_sockstat_<Proto>_<key>,
 * as node_exporter's sockstat collector ("TCP: inuse 4 ... mem 2" gives
 * node_sockstat_TCP_inuse and node_sockstat_TCP_mem, plus
 * node_sockstat_TCP_mem_bytes = pages * page size; "sockets: used N" gives
 * node_sockstat_sockets_used).
 */
#include "agent/collect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int one(struct collectors *c, struct mset *m, const char *rel)
{
    if (proc_read(c, rel, &c->file))
        return -1;
    static double page;
    if (!page) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (double)ps : 4096;
    }
    char *p = c->file.data, *line;
    while ((line = next_line(&p))) {
        char *f = line, *proto = next_field(&f), *k, *v;
        size_t pl = proto ? strlen(proto) : 0;
        if (pl < 2 || proto[pl - 1] != ':')
            continue;
        proto[pl - 1] = '\0';
        while ((k = next_field(&f)) && (v = next_field(&f))) {
            char name[160];
            double x = strtod(v, NULL);
            snprintf(name, sizeof name, "node_sockstat_%s_%s", proto, k);
            mset_add0(m, name, x);
            if (!strcmp(k, "mem")) {
                snprintf(name, sizeof name, "node_sockstat_%s_mem_bytes", proto);
                mset_add0(m, name, x * page);
            }
        }
    }
    return 0;
}

int collect_sockstat(struct collectors *c, struct mset *m)
{
    int rc = one(c, m, "net/sockstat");
    one(c, m, "net/sockstat6"); /* absent without IPv6 */
    return rc;
}
