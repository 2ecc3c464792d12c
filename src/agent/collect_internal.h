/*
 * collect_internal.h - what the collector files share: the filters, a reusable
 * read buffer, and small parsing helpers. Not for use outside src/agent/.
 */
#ifndef SABA_AGENT_COLLECT_INTERNAL_H
#define SABA_AGENT_COLLECT_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>

#include "agent/collect.h"
#include "base/buf.h"

struct collectors {
    char *proc_root;
    pcre2_code *mount_exclude, *fstype_exclude, *disk_exclude, *netdev_exclude, *netstat_fields;
    pcre2_match_data *md;
    struct buf file;    /* the file being parsed */
    struct buf file2;   /* a second one (headers/values in two files) */
    int64_t failed_log; /* rate limit for failure logs */
};

/* Read <proc_root>/<rel> whole into out (NUL-terminated). 0 or SABA_EIO. */
int proc_read(struct collectors *c, const char *rel, struct buf *out);
/* True if the pattern matches anywhere in s. */
bool re_match(struct collectors *c, pcre2_code *re, const char *s);
/* Cut the next line from the text at *p: NUL-terminates it in place, advances
 * *p past it and returns its start; NULL at the end of the text. */
char *next_line(char **p);
/* Cut the next field (separated by spaces or tabs) from the line at *p in
 * place; NULL at the end of the line. */
char *next_field(char **p);

typedef int (*collect_fn)(struct collectors *c, struct mset *m);

int collect_cpu(struct collectors *c, struct mset *m); /* also the stat collector */
int collect_loadavg(struct collectors *c, struct mset *m);
int collect_meminfo(struct collectors *c, struct mset *m);
int collect_filesystem(struct collectors *c, struct mset *m);
int collect_diskstats(struct collectors *c, struct mset *m);
int collect_netdev(struct collectors *c, struct mset *m);
int collect_netstat(struct collectors *c, struct mset *m);
int collect_sockstat(struct collectors *c, struct mset *m);
int collect_uname(struct collectors *c, struct mset *m);
int collect_clock(struct collectors *c, struct mset *m);

#endif
