/*
 * loadavg.c - /proc/loadavg: node_load1, node_load5, node_load15.
 */
#include "agent/collect_internal.h"

#include <stdlib.h>

int collect_loadavg(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "loadavg", &c->file))
        return -1;
    char *p = c->file.data;
    static const char *const names[] = {"node_load1", "node_load5", "node_load15"};
    for (int i = 0; i < 3; i++) {
        char *x = next_field(&p), *end;
        double v = x ? strtod(x, &end) : 0;
        if (!x || end == x)
            return -1;
        mset_add0(m, names[i], v);
    }
    return 0;
}
