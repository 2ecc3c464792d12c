/*
 * clock.c - node_exporter's time collector: node_time_seconds (the wall
 * clock when collected, with sub-second precision) and
 * node_time_zone_offset_seconds{time_zone}.
 */
#include "agent/collect_internal.h"

#include <time.h>

int collect_clock(struct collectors *c, struct mset *m)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    mset_add0(m, "node_time_seconds", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    struct tm tm;
    time_t now = ts.tv_sec;
    localtime_r(&now, &tm);
    mset_add1(m, "node_time_zone_offset_seconds", (double)tm.tm_gmtoff, "time_zone",
              tm.tm_zone ? tm.tm_zone : "");
    return 0;
}
