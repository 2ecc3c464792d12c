/*
 * netstat.c - /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6:
 * node_netstat_<Proto>_<Field> (node_netstat_Tcp_CurrEstab, ...), as
 * node_exporter's netstat collector, filtered by the same field regex.
 *
 * netstat and snmp come as pairs of lines, "Proto: Name1 Name2" then
 * "Proto: 1 2"; snmp6 is one "Ip6InOctets 123" per line, the protocol being
 * the name's prefix up to the first lower-case letter after it.
 */
#include "agent/collect_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit(struct collectors *c, struct mset *m, const char *proto, const char *field,
                 const char *value)
{
    char key[160];
    snprintf(key, sizeof key, "%s_%s", proto, field);
    if (!re_match(c, c->netstat_fields, key))
        return;
    char name[192];
    snprintf(name, sizeof name, "node_netstat_%s", key);
    mset_add0(m, name, strtod(value, NULL));
}

static int pairs(struct collectors *c, struct mset *m, const char *rel)
{
    if (proc_read(c, rel, &c->file))
        return -1;
    char *p = c->file.data, *names, *values;
    while ((names = next_line(&p)) && (values = next_line(&p))) {
        char *nf = names, *vf = values;
        char *proto = next_field(&nf), *vproto = next_field(&vf);
        if (!proto || !vproto || strcmp(proto, vproto))
            return -1; /* the file is not in pairs */
        size_t pl = strlen(proto);
        if (pl && proto[pl - 1] == ':')
            proto[pl - 1] = '\0';
        char *n, *v;
        while ((n = next_field(&nf)) && (v = next_field(&vf)))
            emit(c, m, proto, n, v);
    }
    return 0;
}

static int snmp6(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "net/snmp6", &c->file))
        return 0; /* IPv6 disabled: not an error */
    char *p = c->file.data, *line;
    while ((line = next_line(&p))) {
        char *f = line, *key = next_field(&f), *v = next_field(&f);
        if (!v)
            continue;
        /* "Ip6InOctets" -> "Ip6" + "InOctets"; "UdpLite6InErrors" -> "UdpLite6" */
        char *d = key;
        while (*d && !isdigit((unsigned char)*d))
            d++;
        if (!*d)
            continue;
        char proto[64];
        size_t pl = (size_t)(d - key) + 1;
        if (pl >= sizeof proto)
            continue;
        memcpy(proto, key, pl);
        proto[pl] = '\0';
        emit(c, m, proto, d + 1, v);
    }
    return 0;
}

int collect_netstat(struct collectors *c, struct mset *m)
{
    int rc = pairs(c, m, "net/netstat");
    if (pairs(c, m, "net/snmp"))
        rc = -1;
    if (snmp6(c, m))
        rc = -1;
    return rc;
}
