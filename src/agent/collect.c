/*
 * collect.c - the collector table, the filters and the helpers the collector
 * files share (see collect.h, collect_internal.h).
 *
 * Files under /proc are read with one read(2) loop into a buffer that is kept
 * between collections: the agent's cost per collection is dominated by
 * syscalls, not parsing, so it avoids stdio and allocation.
 */
#include "agent/collect_internal.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    collect_fn fn;
} table[] = {
    {"cpu", collect_cpu},
    {"loadavg", collect_loadavg},
    {"meminfo", collect_meminfo},
    {"filesystem", collect_filesystem},
    {"diskstats", collect_diskstats},
    {"netdev", collect_netdev},
    {"netstat", collect_netstat},
    {"sockstat", collect_sockstat},
    {"uname", collect_uname},
    {"time", collect_clock},
};

void collect_opts_default(struct collect_opts *o)
{
    memset(o, 0, sizeof *o);
}

static int compile(const char *what, const char *pattern, const char *dflt, pcre2_code **out,
                   struct saba_err *err)
{
    const char *p = pattern ? pattern : dflt;
    int ec;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!*out) {
        char msg[160];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
        return err_set(err, SABA_EINVAL, 0, "%s: invalid regular expression at offset %zu: %s",
                       what, (size_t)off, msg);
    }
    /* every collection matches a few hundred names (netstat fields above
     * all); JIT-compiled matching is several times faster than the
     * interpreter. Without JIT support pcre2_match interprets: still right. */
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
    return 0;
}

int collectors_new(const struct collect_opts *o, struct collectors **out, struct saba_err *err)
{
    struct collectors *c = xcalloc(1, sizeof *c);
    c->proc_root = xstrdup(o->proc_root ? o->proc_root : "/proc");
    int rc = compile("ignored mount points", o->mount_exclude, COLLECT_DEFAULT_MOUNT_EXCLUDE,
                     &c->mount_exclude, err);
    if (!rc)
        rc = compile("ignored filesystem types", o->fstype_exclude, COLLECT_DEFAULT_FSTYPE_EXCLUDE,
                     &c->fstype_exclude, err);
    if (!rc)
        rc = compile("ignored disks", o->disk_exclude, COLLECT_DEFAULT_DISK_EXCLUDE,
                     &c->disk_exclude, err);
    if (!rc)
        rc = compile("ignored network devices", o->netdev_exclude, COLLECT_DEFAULT_NETDEV_EXCLUDE,
                     &c->netdev_exclude, err);
    if (!rc)
        rc = compile("netstat fields", o->netstat_fields, COLLECT_DEFAULT_NETSTAT_FIELDS,
                     &c->netstat_fields, err);
    if (rc) {
        collectors_free(c);
        return rc;
    }
    c->md = pcre2_match_data_create(4, NULL);
    *out = c;
    return 0;
}

void collectors_free(struct collectors *c)
{
    if (!c)
        return;
    pcre2_code_free(c->mount_exclude);
    pcre2_code_free(c->fstype_exclude);
    pcre2_code_free(c->disk_exclude);
    pcre2_code_free(c->netdev_exclude);
    pcre2_code_free(c->netstat_fields);
    pcre2_match_data_free(c->md);
    buf_free(&c->file);
    buf_free(&c->file2);
    free(c->proc_root);
    free(c);
}

int collectors_run(struct collectors *c, struct mset *m)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].fn(c, m) != 0) {
            failed++;
            if (log_ratelimited(&c->failed_log, 60000))
                log_warn("agent", "msg=\"collector failed\" collector=%s", table[i].name);
        }
    }
    return failed;
}

int proc_read(struct collectors *c, const char *rel, struct buf *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", c->proc_root, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SABA_EIO;
    buf_reset(out);
    for (;;) {
        buf_reserve(out, 8192);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            out->data[out->len] = '\0';
            return n < 0 ? SABA_EIO : 0;
        }
        out->len += (size_t)n;
    }
}

bool re_match(struct collectors *c, pcre2_code *re, const char *s)
{
    return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, c->md, NULL) >= 0;
}

char *next_line(char **p)
{
    char *s = *p;
    if (!*s)
        return NULL;
    char *e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

char *next_field(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    char *start = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return start;
}
