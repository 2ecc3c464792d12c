/*
 * filesystem.c - mounted filesystems: statfs(2) for each mount in
 * /proc/1/mounts, as node_exporter's filesystem collector.
 *
 *   node_filesystem_{size,free,avail}_bytes, _files, _files_free, _readonly,
 *   _device_error, each {device, mountpoint, fstype}
 *
 * Pseudo and container filesystems are skipped by mount point and type regex
 * (collect.h has the defaults). A mount seen twice (bind mounts of the same
 * device at the same place) is reported once.
 */
#include "agent/collect_internal.h"
#include "storage/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

/* /proc/mounts escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *o = s;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
}

static bool has_option(const char *opts, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = opts; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, want, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

int collect_filesystem(struct collectors *c, struct mset *m)
{
    /* pid 1's view, as node_exporter: the host's mounts even if saba runs in
     * a private mount namespace; our own as a fallback */
    if (proc_read(c, "1/mounts", &c->file) && proc_read(c, "self/mounts", &c->file))
        return -1;
    /* statfs() uses real paths; in tests proc_root is a fixture and the mount
     * points are still looked up on this machine */
    char *p = c->file.data, *line;
    /* seen mounts: (device, mountpoint, fstype) start offsets in c->file */
    const char *seen[512][3];
    int nseen = 0;
    while ((line = next_line(&p))) {
        char *f = line;
        char *dev = next_field(&f), *mp = next_field(&f), *type = next_field(&f),
             *opts = next_field(&f);
        if (!opts)
            continue;
        unescape(dev);
        unescape(mp);
        /* a mount point with a newline (\012) would be a label value the
         * server refuses, and with it the whole batch: skip it */
        if (!utf8_valid_text(dev, strlen(dev)) || !utf8_valid_text(mp, strlen(mp)))
            continue;
        if (re_match(c, c->mount_exclude, mp) || re_match(c, c->fstype_exclude, type))
            continue;
        bool dup = false;
        for (int i = 0; i < nseen && !dup; i++)
            dup = !strcmp(seen[i][0], dev) && !strcmp(seen[i][1], mp) && !strcmp(seen[i][2], type);
        if (dup)
            continue;
        if (nseen < 512) {
            seen[nseen][0] = dev;
            seen[nseen][1] = mp;
            seen[nseen][2] = type;
            nseen++;
        }
        const char *kv[] = {"device", dev, "fstype", type, "mountpoint", mp};
        struct statfs st;
        if (statfs(mp, &st) != 0) {
            mset_add(m, "node_filesystem_device_error", 1, 0, 3, kv);
            continue;
        }
        double bs = (double)st.f_bsize;
        mset_add(m, "node_filesystem_size_bytes", (double)st.f_blocks * bs, 0, 3, kv);
        mset_add(m, "node_filesystem_free_bytes", (double)st.f_bfree * bs, 0, 3, kv);
        mset_add(m, "node_filesystem_avail_bytes", (double)st.f_bavail * bs, 0, 3, kv);
        mset_add(m, "node_filesystem_files", (double)st.f_files, 0, 3, kv);
        mset_add(m, "node_filesystem_files_free", (double)st.f_ffree, 0, 3, kv);
        mset_add(m, "node_filesystem_readonly", has_option(opts, "ro") ? 1 : 0, 0, 3, kv);
        mset_add(m, "node_filesystem_device_error", 0, 0, 3, kv);
    }
    return 0;
}
