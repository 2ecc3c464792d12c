/*
 * collect.h - the agent's system collectors: /proc and statfs -> samples with
 * node_exporter's metric names, labels and units.
 *
 * One file per source (cpu.c, meminfo.c, filesystem.c, ...), listed in one
 * table in collect.c. A collector that fails (a file missing on this kernel)
 * logs once and leaves the others unaffected.
 */
#ifndef SABA_AGENT_COLLECT_H
#define SABA_AGENT_COLLECT_H

#include "agent/mset.h"
#include "base/err.h"

/* node_exporter 1.5's defaults (as Debian ships it), so that the same
 * filesystems, disks and interfaces appear. All are PCRE2 patterns matched
 * anywhere in the subject, as Go's regexp.MatchString does. */
#define COLLECT_DEFAULT_MOUNT_EXCLUDE                                                              \
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define COLLECT_DEFAULT_FSTYPE_EXCLUDE                                                             \
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"        \
    "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"     \
    "sysfs|tracefs)$"
#define COLLECT_DEFAULT_DISK_EXCLUDE   "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$"
#define COLLECT_DEFAULT_NETDEV_EXCLUDE "^lo$"
#define COLLECT_DEFAULT_NETSTAT_FIELDS                                                             \
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|" \
    "TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|"    \
    "OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|"         \
    "RcvbufErrors|SndbufErrors))$"

struct collect_opts {
    const char *proc_root;      /* "/proc"; tests point it at a fixture tree */
    const char *mount_exclude;  /* mount points to ignore (regex) */
    const char *fstype_exclude; /* filesystem types to ignore */
    const char *disk_exclude;   /* block devices to ignore */
    const char *netdev_exclude; /* network interfaces to ignore */
    const char *netstat_fields; /* Proto_Field names to keep */
};

/* Every field NULL means node_exporter's default above. */
void collect_opts_default(struct collect_opts *o);

struct collectors;

/* Compile the filters. Returns 0 or SABA_EINVAL (a bad regex, named in err).
 * The strings in o are copied. */
int collectors_new(const struct collect_opts *o, struct collectors **out, struct saba_err *err);
/* Run every collector, appending to m. Returns the number of collectors that
 * failed (each is logged, at most once a minute per collector). */
int collectors_run(struct collectors *c, struct mset *m);
void collectors_free(struct collectors *c);

#endif
