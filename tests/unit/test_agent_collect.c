/*
 * test_agent_collect.c - the agent's collectors (src/agent/collect.h) over a
 * fixture /proc tree (tests/data/agent-proc), and the sample set writers
 * (src/agent/mset.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/collect.h"
#include "agent/mset.h"

#include "unit.h"

#define PROC "tests/data/agent-proc"

/* The labels of sample i as "k=v,k=v" in insertion order. */
static void labels_of(const struct mset *m, size_t i, char *out, size_t n)
{
    const char *l = mset_str(m, m->s[i].labels_off);
    size_t o = 0;
    out[0] = '\0';
    for (uint16_t k = 0; k < m->s[i].nlabels; k++) {
        const char *v = l + strlen(l) + 1;
        o += (size_t)snprintf(out + o, n - o, "%s%s=%s", k ? "," : "", l, v);
        l = v + strlen(v) + 1;
    }
}

static double get(const struct mset *m, const char *name, const char *labels)
{
    char lb[512];
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(mset_str(m, m->s[i].name_off), name))
            continue;
        labels_of(m, i, lb, sizeof lb);
        if (!strcmp(lb, labels))
            return m->s[i].v;
    }
    return NAN;
}

static size_t count(const struct mset *m, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += !strcmp(mset_str(m, m->s[i].name_off), name);
    return n;
}

static struct collectors *fixture(const char *mount_exclude)
{
    struct collect_opts o;
    collect_opts_default(&o);
    o.proc_root = PROC;
    o.mount_exclude = mount_exclude;
    struct collectors *c = NULL;
    struct saba_err err = {0};
    if (collectors_new(&o, &c, &err))
        fail_msg("%s", err.msg);
    return c;
}

static void test_fixture_values(void **state)
{
    (void)state;
    struct collectors *c = fixture(NULL);
    struct mset m;
    mset_init(&m);
    assert_int_equal(collectors_run(c, &m), 0);
    /* cpu: ticks / USER_HZ (100), per cpu, no aggregate "cpu" line */
    assert_true(get(&m, "node_cpu_seconds_total", "cpu=0,mode=user") == 15.0);
    assert_true(get(&m, "node_cpu_seconds_total", "cpu=1,mode=idle") == 850.0);
    assert_true(get(&m, "node_cpu_seconds_total", "cpu=0,mode=steal") == 0.1);
    assert_int_equal(count(&m, "node_cpu_seconds_total"), 16);
    assert_true(get(&m, "node_cpu_guest_seconds_total", "cpu=0,mode=user") == 0.07);
    assert_true(get(&m, "node_cpu_guest_seconds_total", "cpu=0,mode=nice") == 0.03);
    assert_true(get(&m, "node_boot_time_seconds", "") == 1796109205);
    assert_true(get(&m, "node_context_switches_total", "") == 433334);
    assert_true(get(&m, "node_intr_total", "") == 231067);
    assert_true(get(&m, "node_procs_running", "") == 3);
    /* load */
    assert_true(get(&m, "node_load1", "") == 0.24);
    assert_true(get(&m, "node_load15", "") == 0.06);
    /* meminfo: kB -> bytes, parentheses, unitless counts */
    assert_true(get(&m, "node_memory_MemTotal_bytes", "") == 24683652.0 * 1024);
    assert_true(get(&m, "node_memory_Active_anon_bytes", "") == 123456.0 * 1024);
    assert_true(get(&m, "node_memory_SwapFree_bytes", "") == 1048000.0 * 1024);
    assert_true(get(&m, "node_memory_HugePages_Total", "") == 0);
    assert_true(get(&m, "node_memory_Hugepagesize_bytes", "") == 2048.0 * 1024);
    /* diskstats: loop0 and the partition vda1 excluded; sectors are 512 bytes */
    assert_true(get(&m, "node_disk_info", "device=vda,major=254,minor=0") == 1);
    assert_true(isnan(get(&m, "node_disk_info", "device=vda1,major=254,minor=1")));
    assert_true(isnan(get(&m, "node_disk_reads_completed_total", "device=loop0")));
    assert_true(get(&m, "node_disk_read_bytes_total", "device=vda") == 2365306.0 * 512);
    assert_true(get(&m, "node_disk_read_time_seconds_total", "device=vda") == 8.186);
    assert_true(get(&m, "node_disk_io_now", "device=vda") == 2);
    assert_true(get(&m, "node_disk_flush_requests_time_seconds_total", "device=vda") == 0.028);
    /* an old kernel's 11 counters: no discard/flush series */
    assert_true(get(&m, "node_disk_io_time_weighted_seconds_total", "device=sda") == 0.09);
    assert_true(isnan(get(&m, "node_disk_discards_completed_total", "device=sda")));
    /* netdev: lo excluded, names from the header */
    assert_true(isnan(get(&m, "node_network_receive_bytes_total", "device=lo")));
    assert_true(get(&m, "node_network_receive_bytes_total", "device=eth0") == 23461695);
    assert_true(get(&m, "node_network_receive_multicast_total", "device=eth0") == 6);
    assert_true(get(&m, "node_network_transmit_colls_total", "device=eth0") == 10);
    assert_true(get(&m, "node_network_transmit_compressed_total", "device=eth0") == 12);
    /* netstat: filtered by node_exporter's default field regex */
    assert_true(get(&m, "node_netstat_Tcp_CurrEstab", "") == 4);
    assert_true(get(&m, "node_netstat_Tcp_ActiveOpens", "") == 55);
    assert_true(get(&m, "node_netstat_Ip_Forwarding", "") == 1);
    assert_true(isnan(get(&m, "node_netstat_Ip_DefaultTTL", "")));
    assert_true(get(&m, "node_netstat_TcpExt_ListenDrops", "") == 2);
    assert_true(isnan(get(&m, "node_netstat_TcpExt_TW", "")));
    assert_true(get(&m, "node_netstat_IpExt_InOctets", "") == 23515235);
    assert_true(get(&m, "node_netstat_Ip6_InOctets", "") == 900);
    assert_true(get(&m, "node_netstat_UdpLite6_InErrors", "") == 0);
    assert_true(get(&m, "node_netstat_Icmp6_InMsgs", "") == 5);
    assert_true(get(&m, "node_netstat_Udp_NoPorts", "") == 2);
    /* sockstat: mem in pages and bytes */
    assert_true(get(&m, "node_sockstat_sockets_used", "") == 12);
    assert_true(get(&m, "node_sockstat_TCP_mem", "") == 2);
    assert_true(get(&m, "node_sockstat_TCP_mem_bytes", "") == 2.0 * 4096);
    assert_true(get(&m, "node_sockstat_UDP_mem_bytes", "") == 3.0 * 4096);
    assert_true(get(&m, "node_sockstat_FRAG_memory", "") == 0);
    assert_true(get(&m, "node_sockstat_TCP6_inuse", "") == 5);
    /* filesystems: pseudo mounts excluded, the duplicate once, escapes decoded */
    assert_int_equal(count(&m, "node_filesystem_size_bytes"), 1);
    assert_true(get(&m, "node_filesystem_size_bytes", "device=/dev/vda,fstype=ext4,mountpoint=/") >
                0);
    assert_true(get(&m, "node_filesystem_readonly", "device=/dev/vda,fstype=ext4,mountpoint=/") ==
                0);
    assert_true(get(&m, "node_filesystem_device_error",
                    "device=/dev/vdb,fstype=xfs,mountpoint=/no such dir") == 1);
    /* uname and time */
    assert_int_equal(count(&m, "node_uname_info"), 1);
    assert_int_equal(count(&m, "node_time_seconds"), 1);
    mset_free(&m);
    collectors_free(c);
}

static void test_mount_regex_and_bad_regex(void **state)
{
    (void)state;
    struct collectors *c = fixture("^/$");
    struct mset m;
    mset_init(&m);
    collectors_run(c, &m);
    /* "/" is now ignored and /dev/shm (a tmpfs, not an ignored type) is not */
    assert_true(
        isnan(get(&m, "node_filesystem_size_bytes", "device=/dev/vda,fstype=ext4,mountpoint=/")));
    assert_true(
        get(&m, "node_filesystem_size_bytes", "device=tmpfs,fstype=tmpfs,mountpoint=/dev/shm") > 0);
    mset_free(&m);
    collectors_free(c);

    struct collect_opts o;
    collect_opts_default(&o);
    o.disk_exclude = "([a-";
    struct saba_err err = {0};
    c = (struct collectors *)1;
    assert_int_equal(collectors_new(&o, &c, &err), SABA_EINVAL);
    assert_non_null(strstr(err.msg, "ignored disks"));
}

static void test_missing_files_fail_per_collector(void **state)
{
    (void)state;
    struct collect_opts o;
    collect_opts_default(&o);
    o.proc_root = "tests/data/no-such-proc";
    struct collectors *c = NULL;
    struct saba_err err = {0};
    assert_int_equal(collectors_new(&o, &c, &err), 0);
    struct mset m;
    mset_init(&m);
    /* every /proc collector fails; uname and time still report */
    assert_int_equal(collectors_run(c, &m), 8);
    assert_int_equal(count(&m, "node_uname_info"), 1);
    mset_free(&m);
    collectors_free(c);
}

static void test_writers(void **state)
{
    (void)state;
    struct mset m;
    mset_init(&m);
    mset_add1(&m, "a_total", 1, "x", "1");
    mset_add0(&m, "b", 0.5);
    mset_add1(&m, "a_total", 2, "x", "q\"\\\n");
    mset_add1(&m, "c", NAN, "empty", ""); /* empty label values are dropped */
    const char *kv[] = {"k", "v"};
    mset_add(&m, "d", -INFINITY, 1732250000123LL, 1, kv);
    struct buf b = BUF_INIT;
    mset_write_prom(&m, "web-1", &b);
    assert_string_equal(b.data, "a_total{x=\"1\",host=\"web-1\"} 1\n"
                                "a_total{x=\"q\\\"\\\\\\n\",host=\"web-1\"} 2\n"
                                "b{host=\"web-1\"} 0.5\n"
                                "c{host=\"web-1\"} NaN\n"
                                "d{k=\"v\",host=\"web-1\"} -Inf 1732250000123\n");
    buf_reset(&b);
    mset_write_json(&m, "web-1", 1732250000000LL, &b);
    assert_non_null(strstr(b.data, "{\"name\":\"b\",\"labels\":{\"host\":\"web-1\"},"
                                   "\"time\":1732250000,\"value\":0.5}"));
    assert_non_null(strstr(b.data, "\"value\":\"NaN\""));
    assert_non_null(strstr(b.data, "\"time\":1732250000.123,\"value\":\"-Inf\""));
    buf_free(&b);
    mset_reset(&m);
    assert_int_equal(m.n, 0);
    mset_free(&m);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_values),
        cmocka_unit_test(test_mount_regex_and_bad_regex),
        cmocka_unit_test(test_missing_files_fail_per_collector),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
