/*
 * test_agent_plugin.c - metric plugin output (src/agent/plugin_output.h), the
 * command runner (src/agent/proc.h) and check results (src/agent/check.h).
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

#include "agent/check.h"
#include "agent/plugin_output.h"
#include "agent/proc.h"
#include "base/timeutil.h"

#include "unit.h"

struct bad_lines {
    long line[16];
    char why[16][160];
    int n;
};

static void on_bad(void *ctx, long line, const char *reason)
{
    struct bad_lines *b = ctx;
    if (b->n < 16) {
        b->line[b->n] = line;
        snprintf(b->why[b->n], sizeof b->why[0], "%s", reason);
        b->n++;
    }
}

static size_t parse(const char *text, struct mset *m, struct bad_lines *b)
{
    memset(b, 0, sizeof *b);
    return plugin_output_parse(text, strlen(text), 1732250000000LL, m, on_bad, b);
}

static void test_mackerel_and_prometheus_lines(void **state)
{
    (void)state;
    struct mset m;
    mset_init(&m);
    struct bad_lines b;
    size_t bad = parse("custom.foo.bar\t42\t1732250000\n"
                       "custom.foo.baz  1.5   1732250000.25\r\n"
                       "\n"
                       "# HELP x y\n"
                       "no_time 7\n"
                       "prom_metric{a=\"x\",b=\"q\\\"\\\\\"} -Inf 1732250000123\n"
                       "  indented 1e3\n"
                       "nan_value NaN",
                       &m, &b);
    assert_int_equal(bad, 0);
    assert_int_equal(m.n, 6);
    assert_string_equal(mset_str(&m, m.s[0].name_off), "custom.foo.bar");
    assert_true(m.s[0].v == 42 && m.s[0].t_ms == 1732250000000LL);
    assert_true(m.s[1].v == 1.5 && m.s[1].t_ms == 1732250000250LL);
    assert_true(m.s[2].v == 7 && m.s[2].t_ms == 0); /* the collection's time */
    assert_true(isinf(m.s[3].v) && m.s[3].v < 0 && m.s[3].t_ms == 1732250000123LL);
    assert_int_equal(m.s[3].nlabels, 2);
    const char *l = mset_str(&m, m.s[3].labels_off);
    assert_string_equal(l, "a");
    l += 2;
    assert_string_equal(l, "x");
    l += 2;
    assert_string_equal(l, "b");
    l += 2;
    assert_string_equal(l, "q\"\\");
    assert_true(m.s[4].v == 1000);
    assert_true(isnan(m.s[5].v));
    mset_free(&m);
}

static void test_bad_lines_are_skipped_and_named(void **state)
{
    (void)state;
    struct mset m;
    mset_init(&m);
    struct bad_lines b;
    size_t bad = parse("good 1\n"
                       "two words here extra\n" /* 4 fields */
                       "novalue\n"              /* missing value */
                       "x notanumber\n"         /* bad value */
                       "y 1 -5\n"               /* negative time */
                       "z{a=\"1\" 2\n"          /* unterminated labels */
                       "w{host=\"other\"} 3\n"  /* host is the agent's */
                       "v{__x=\"1\"} 3\n"       /* reserved */
                       "u{a=\"1\",a=\"2\"} 3\n" /* duplicate label */
                       "t{a=\"\\q\"} 1\n"       /* bad escape */
                       "$bad 1\n"               /* bad name */
                       "s{a=\"x\\ny\"} 1\n"     /* a newline in a value */
                       "future 1 1732250600\n"  /* 10 min ahead */
                       "fine 2\n",
                       &m, &b);
    assert_int_equal(bad, 12);
    assert_int_equal(m.n, 2);
    assert_int_equal(b.line[0], 2);
    assert_non_null(strstr(b.why[0], "too many fields"));
    assert_non_null(strstr(b.why[1], "missing value"));
    assert_non_null(strstr(b.why[2], "invalid value"));
    assert_non_null(strstr(b.why[3], "invalid time"));
    assert_non_null(strstr(b.why[5], "set by the agent"));
    assert_non_null(strstr(b.why[6], "reserved"));
    assert_non_null(strstr(b.why[7], "twice"));
    assert_non_null(strstr(b.why[8], "escape"));
    assert_int_equal(b.line[9], 11);
    assert_non_null(strstr(b.why[10], "control characters"));
    assert_non_null(strstr(b.why[11], "future"));
    /* a NUL byte in a line */
    mset_reset(&m);
    static const char nul[] = "a 1\nb\0 2\nc 3\n";
    memset(&b, 0, sizeof b);
    assert_int_equal(plugin_output_parse(nul, sizeof nul - 1, 0, &m, on_bad, &b), 1);
    assert_int_equal(m.n, 2);
    mset_free(&m);
}

static struct agent_cmd cmd(const char *name, char **argv, int64_t timeout_ms)
{
    struct agent_cmd c;
    memset(&c, 0, sizeof c);
    c.name = (char *)name;
    c.argv = argv;
    c.timeout_ms = timeout_ms;
    c.interval_ms = 60000;
    return c;
}

static void test_runner_exit_codes_env_and_timeout(void **state)
{
    (void)state;
    char *a_ok[] = {"sh", "-c", "echo \"v=$FOO\"; exit 0", NULL};
    char *a_warn[] = {"sh", "-c", "echo careful; exit 1", NULL};
    char *a_hang[] = {"sh", "-c", "echo partial; sleep 30; echo never", NULL};
    char *a_missing[] = {"/nonexistent/binary", NULL};
    char *a_big[] = {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL};
    char *env[] = {"FOO=bar", NULL};
    struct agent_cmd c[5] = {cmd("ok", a_ok, 5000), cmd("warn", a_warn, 5000),
                             cmd("hang", a_hang, 300), cmd("missing", a_missing, 5000),
                             cmd("big", a_big, 5000)};
    c[0].env = env;
    struct proc_job j[5];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 5; i++) {
        j[i].cmd = &c[i];
        j[i].out_max = 2000;
    }
    int64_t t0 = mono_ns();
    proc_run_all(j, 5);
    int64_t ms = (mono_ns() - t0) / 1000000;
    /* they ran concurrently and the hung one was killed at its 300 ms */
    assert_true(ms < 5000);
    assert_string_equal(j[0].out.data, "v=bar\n");
    assert_int_equal(check_status_of(&j[0]), CHECK_OK);
    assert_int_equal(check_status_of(&j[1]), CHECK_WARNING);
    assert_true(j[2].timed_out);
    assert_int_equal(check_status_of(&j[2]), CHECK_UNKNOWN);
    assert_int_equal(j[3].exit_code, 127);
    assert_int_equal(check_status_of(&j[3]), CHECK_UNKNOWN);
    assert_true(j[4].truncated && j[4].out.len == 2000 && j[4].exit_code == 0);

    struct buf b = BUF_INIT;
    check_report_json(&j[1], 1732250000500LL, &b);
    assert_string_equal(b.data, "{\"name\":\"warn\",\"status\":\"WARNING\",\"message\":\"careful\","
                                "\"occurred_at\":1732250000.500,\"interval\":60}");
    buf_reset(&b);
    check_report_json(&j[2], 1732250000000LL, &b);
    assert_non_null(strstr(b.data, "\"status\":\"UNKNOWN\""));
    assert_non_null(strstr(b.data, "timed out after 300 ms"));
    buf_reset(&b);
    check_report_json(&j[4], 1732250000000LL, &b);
    assert_non_null(strstr(b.data, "\"message\":\"xxxx"));
    assert_true(b.len < 1024 + 120);
    buf_free(&b);
    for (int i = 0; i < 5; i++)
        proc_job_free(&j[i]);
}

static void test_status_names(void **state)
{
    (void)state;
    enum check_status s;
    assert_int_equal(check_status_parse("CRITICAL", &s), 0);
    assert_int_equal(s, CHECK_CRITICAL);
    assert_int_equal(check_status_parse("critical", &s), -1);
    assert_string_equal(check_status_name(CHECK_UNKNOWN), "UNKNOWN");
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mackerel_and_prometheus_lines),
        cmocka_unit_test(test_bad_lines_are_skipped_and_named),
        cmocka_unit_test(test_runner_exit_codes_env_and_timeout),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
