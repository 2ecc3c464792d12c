/*
 * netdev.c - /proc/net/dev: node_network_{receive,transmit}_<field>_total
 * {device}, as node_exporter's netdev collector.
 *
 * The field names come from the file's own header (bytes packets errs drop
 * fifo frame compressed multicast | bytes packets errs drop fifo colls
 * carrier compressed), so a kernel that adds a column is followed.
 */
#include "agent/collect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int collect_netdev(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "net/dev", &c->file))
        return -1;
    char *p = c->file.data;
    char *l1 = next_line(&p), *l2 = next_line(&p);
    if (!l1 || !l2)
        return -1;
    /* header: " face |bytes packets ...|bytes packets ..." */
    char *rx = strchr(l2, '|');
    char *tx = rx ? strchr(rx + 1, '|') : NULL;
    if (!tx)
        return -1;
    *rx++ = '\0';
    *tx++ = '\0';
    char *names[32];
    int nrx = 0, n = 0;
    char *f = rx, *x;
    while (n < 32 && (x = next_field(&f)))
        names[n++] = x, nrx++;
    f = tx;
    while (n < 32 && (x = next_field(&f)))
        names[n++] = x;
    char *line;
    while ((line = next_line(&p))) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *dev = line;
        while (*dev == ' ')
            dev++;
        if (re_match(c, c->netdev_exclude, dev))
            continue;
        f = colon + 1;
        for (int i = 0; i < n && (x = next_field(&f)); i++) {
            char name[96];
            snprintf(name, sizeof name, "node_network_%s_%s_total",
                     i < nrx ? "receive" : "transmit", names[i]);
            mset_add1(m, name, strtod(x, NULL), "device", dev);
        }
    }
    return 0;
}
