/*
 * cpu.c - /proc/stat: node_exporter's cpu and stat collectors.
 *
 *   node_cpu_seconds_total{cpu,mode}       user nice system idle iowait irq softirq steal
 *   node_cpu_guest_seconds_total{cpu,mode} user nice (guest time, also inside "user")
 *   node_boot_time_seconds, node_context_switches_total, node_forks_total,
 *   node_intr_total, node_procs_running, node_procs_blocked
 *
 * /proc/stat counts in USER_HZ ticks (sysconf(_SC_CLK_TCK), 100 on Linux).
 */
#include "agent/collect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const modes[] = {"user",   "nice", "system",  "idle",
                                    "iowait", "irq",  "softirq", "steal"};

int collect_cpu(struct collectors *c, struct mset *m)
{
    if (proc_read(c, "stat", &c->file))
        return -1;
    static double hz;
    if (!hz) {
        long t = sysconf(_SC_CLK_TCK);
        hz = t > 0 ? (double)t : 100.0;
    }
    /* the guest family is printed after the cpu family: remember it */
    double guest[256][2];
    char guest_cpu[256][12];
    int nguest = 0;
    char *p = c->file.data, *line;
    while ((line = next_line(&p))) {
        char *f = line, *key = next_field(&f);
        if (!key)
            continue;
        if (!strncmp(key, "cpu", 3) && key[3] >= '0' && key[3] <= '9') {
            const char *cpu = key + 3;
            double v[10] = {0};
            for (int i = 0; i < 10; i++) {
                char *x = next_field(&f);
                if (!x)
                    break;
                v[i] = strtod(x, NULL) / hz;
            }
            for (int i = 0; i < 8; i++)
                mset_add2(m, "node_cpu_seconds_total", v[i], "cpu", cpu, "mode", modes[i]);
            if (nguest < 256) {
                guest[nguest][0] = v[8];
                guest[nguest][1] = v[9];
                snprintf(guest_cpu[nguest], sizeof guest_cpu[0], "%s", cpu);
                nguest++;
            }
            continue;
        }
        char *x = next_field(&f);
        if (!x)
            continue;
        double v = strtod(x, NULL);
        if (!strcmp(key, "btime"))
            mset_add0(m, "node_boot_time_seconds", v);
        else if (!strcmp(key, "ctxt"))
            mset_add0(m, "node_context_switches_total", v);
        else if (!strcmp(key, "processes"))
            mset_add0(m, "node_forks_total", v);
        else if (!strcmp(key, "intr"))
            mset_add0(m, "node_intr_total", v);
        else if (!strcmp(key, "procs_running"))
            mset_add0(m, "node_procs_running", v);
        else if (!strcmp(key, "procs_blocked"))
            mset_add0(m, "node_procs_blocked", v);
    }
    for (int i = 0; i < nguest; i++) {
        mset_add2(m, "node_cpu_guest_seconds_total", guest[i][0], "cpu", guest_cpu[i], "mode",
                  "user");
        mset_add2(m, "node_cpu_guest_seconds_total", guest[i][1], "cpu", guest_cpu[i], "mode",
                  "nice");
    }
    return 0;
}
