/*
 * uname.c - node_uname_info{sysname,release,version,machine,nodename,
 * domainname} = 1, from uname(2), as node_exporter's uname collector.
 */
#include "agent/collect_internal.h"

#include <sys/utsname.h>

int collect_uname(struct collectors *c, struct mset *m)
{
    (void)c;
    struct utsname u;
    if (uname(&u) != 0)
        return -1;
    const char *kv[] = {"domainname", u.domainname, "machine", u.machine, "nodename", u.nodename,
                        "release",    u.release,    "sysname", u.sysname, "version",  u.version};
    mset_add(m, "node_uname_info", 1, 0, 6, kv);
    return 0;
}
