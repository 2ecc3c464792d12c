/*
 * hostinfo.c - host metadata for registration (see hostinfo.h): os-release,
 * uname, /proc/cpuinfo, /proc/meminfo and getifaddrs(3).
 */
#include "agent/hostinfo.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

void hostinfo_name(const struct agent_config *c, char *out, size_t n)
{
    struct utsname u;
    if (c->host_name && *c->host_name)
        snprintf(out, n, "%s", c->host_name);
    else if (uname(&u) == 0)
        snprintf(out, n, "%s", u.nodename);
    else
        snprintf(out, n, "localhost");
}

static void put_str(struct buf *b, const char *s)
{
    buf_put_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* The value of KEY= in /etc/os-release, unquoted. */
static void os_pretty_name(char *out, size_t n)
{
    snprintf(out, n, "Linux");
    FILE *f = fopen("/etc/os-release", "r");
    if (!f)
        f = fopen("/usr/lib/os-release", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12))
            continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = '\0';
        size_t l = strlen(v);
        if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0]) {
            v[l - 1] = '\0';
            v++;
        }
        snprintf(out, n, "%.*s", (int)(n - 1), v);
        break;
    }
    fclose(f);
}

static void cpu_model(const char *proc_root, char *out, size_t n)
{
    out[0] = '\0';
    char path[512];
    snprintf(path, sizeof path, "%s/cpuinfo", proc_root);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10))
            continue;
        char *v = strchr(line, ':');
        if (v) {
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, n, "%.*s", (int)(n - 1), v);
        }
        break;
    }
    fclose(f);
}

static double mem_total(const char *proc_root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/meminfo", proc_root);
    FILE *f = fopen(path, "r");
    double v = 0;
    if (!f)
        return 0;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lf kB", &v) == 1)
            break;
    fclose(f);
    return v * 1024;
}

static int prefix_len(const struct sockaddr *mask)
{
    if (!mask)
        return -1;
    const unsigned char *p;
    size_t n;
    if (mask->sa_family == AF_INET) {
        p = (const unsigned char *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        p = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
        n = 16;
    } else {
        return -1;
    }
    int bits = 0;
    for (size_t i = 0; i < n; i++)
        bits += __builtin_popcount(p[i]);
    return bits;
}

static void interfaces(struct buf *b)
{
    struct ifaddrs *ifs;
    buf_putc(b, '[');
    if (getifaddrs(&ifs) != 0) {
        buf_putc(b, ']');
        return;
    }
    /* one entry per interface name, in first-seen order */
    bool first_if = true;
    for (struct ifaddrs *a = ifs; a; a = a->ifa_next) {
        bool seen = false;
        for (struct ifaddrs *x = ifs; x != a; x = x->ifa_next)
            if (!strcmp(x->ifa_name, a->ifa_name))
                seen = true;
        if (seen || (a->ifa_flags & IFF_LOOPBACK))
            continue;
        if (!first_if)
            buf_putc(b, ',');
        first_if = false;
        buf_puts(b, "{\"name\":");
        put_str(b, a->ifa_name);
        char mac[32] = "";
        buf_puts(b, ",\"addresses\":[");
        bool first = true;
        for (struct ifaddrs *x = a; x; x = x->ifa_next) {
            if (strcmp(x->ifa_name, a->ifa_name) || !x->ifa_addr)
                continue;
            int fam = x->ifa_addr->sa_family;
            if (fam == AF_PACKET) {
                const struct sockaddr_ll *ll =
                    (const struct sockaddr_ll *)(const void *)x->ifa_addr;
                if (ll->sll_halen == 6)
                    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0],
                             ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
                             ll->sll_addr[5]);
                continue;
            }
            char addr[INET6_ADDRSTRLEN + 16];
            const void *src =
                fam == AF_INET
                    ? (const void *)&((const struct sockaddr_in *)(const void *)x->ifa_addr)
                          ->sin_addr
                : fam == AF_INET6
                    ? (const void *)&((const struct sockaddr_in6 *)(const void *)x->ifa_addr)
                          ->sin6_addr
                    : NULL;
            if (!src || !inet_ntop(fam, src, addr, INET6_ADDRSTRLEN))
                continue;
            int pl = prefix_len(x->ifa_netmask);
            if (pl >= 0)
                snprintf(addr + strlen(addr), 16, "/%d", pl & 0xff);
            if (!first)
                buf_putc(b, ',');
            first = false;
            put_str(b, addr);
        }
        buf_puts(b, "],\"mac\":");
        put_str(b, mac);
        buf_putc(b, '}');
    }
    freeifaddrs(ifs);
    buf_putc(b, ']');
}

void hostinfo_json(const struct agent_config *c, const char *host, const char *proc_root,
                   struct buf *out)
{
    struct utsname u;
    memset(&u, 0, sizeof u);
    uname(&u);
    char os[256], model[256];
    os_pretty_name(os, sizeof os);
    cpu_model(proc_root, model, sizeof model);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    buf_puts(out, "{\"name\":");
    put_str(out, host);
    buf_puts(out, ",\"display_name\":");
    put_str(out, c->display_name);
    buf_puts(out, ",\"custom_identifier\":");
    put_str(out, c->custom_identifier);
    buf_puts(out, ",\"roles\":[");
    for (size_t i = 0; c->roles && c->roles[i]; i++) {
        if (i)
            buf_putc(out, ',');
        put_str(out, c->roles[i]);
    }
    buf_puts(out, "],\"meta\":{\"os\":");
    put_str(out, os);
    buf_puts(out, ",\"kernel\":{\"name\":");
    put_str(out, u.sysname);
    buf_puts(out, ",\"release\":");
    put_str(out, u.release);
    buf_puts(out, ",\"version\":");
    put_str(out, u.version);
    buf_puts(out, ",\"machine\":");
    put_str(out, u.machine);
    buf_printf(out, "},\"cpu\":{\"count\":%ld,\"model\":", ncpu > 0 ? ncpu : 0);
    put_str(out, model);
    buf_printf(out, "},\"memory_bytes\":%.0f,\"interfaces\":", mem_total(proc_root));
    interfaces(out);
    buf_puts(out, ",\"agent_version\":");
    put_str(out, SABA_VERSION);
    buf_puts(out, "}}");
}
