/*
 * diskstats.c - /proc/diskstats: node_exporter's diskstats collector.
 *
 * Each line is "major minor name" and 11 (kernel < 4.18), 15 (< 5.5) or 17
 * counters; sectors are 512 bytes whatever the device's sector size, times
 * are milliseconds (reported in seconds). Partitions are skipped by the
 * device regex (collect.h).
 */
#include "agent/collect_internal.h"

#include <stdlib.h>
#include <string.h>

/* name and scale of each counter, in /proc/diskstats order */
static const struct {
    const char *name;
    double scale;
} fields[17] = {
    {"node_disk_reads_completed_total", 1},
    {"node_disk_reads_merged_total", 1},
    {"node_disk_read_bytes_total", 512},
    {"node_disk_read_time_seconds_total", 0.001},
    {"node_disk_writes_completed_total", 1},
    {"node_disk_writes_merged_total", 1},
    {"node_disk_written_bytes_total", 512},
    {"node_disk_write_time_seconds_total", 0.001},
    {"node_disk_io_now", 1},
    {"node_disk_io_time_seconds_total", 0.001},
    {"node_disk_io_time_weighted_seconds_total", 0.001},
    {"node_disk_discards_completed_total", 1},
    {"node_disk_discards_merged_total", 1},
    {"node_disk_discarded_sectors_total", 1},
    {"node_disk_discard_time_seconds_total", 0.001},
    {"node_disk_flush_requests_total", 1},
    {"node_disk_flush_requests_time_seconds_total", 0.001},
};

int collect_diskstats(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "diskstats", &c->file))
        return -1;
    char *p = c->file.data, *line;
    while ((line = next_line(&p))) {
        char *f = line, *major = next_field(&f), *minor = next_field(&f), *dev = next_field(&f);
        if (!dev || re_match(c, c->disk_exclude, dev))
            continue;
        const char *kv[] = {"device", dev, "major", major, "minor", minor};
        mset_add(m, "node_disk_info", 1, 0, 3, kv);
        for (int i = 0; i < 17; i++) {
            char *x = next_field(&f);
            if (!x)
                break;
            mset_add1(m, fields[i].name, strtod(x, NULL) * fields[i].scale, "device", dev);
        }
    }
    return 0;
}
