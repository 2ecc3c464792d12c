/*
 * test_agent_config.c - the agent's YAML configuration (src/agent/config.h)
 * and its outbox of unsent batches (src/agent/outbox.h).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/outbox.h"

#include "unit.h"

static int parse(struct agent_config *c, const char *text, struct saba_err *err)
{
    agent_config_defaults(c);
    return agent_config_parse(c, text, strlen(text), "agent.yml", err);
}

static void test_full_config(void **state)
{
    (void)state;
    struct agent_config c;
    struct saba_err err = {0};
    int rc = parse(&c,
                   "server: http://mon:9650\n"
                   "api_key: secret\n"
                   "interval: 10s\n"
                   "state_dir: /tmp/x\n"
                   "host: {name: web-1, display_name: Web 1, custom_identifier: i-1}\n"
                   "roles: [blog:web, 'blog:db']\n"
                   "host_status: {on_start: working, on_stop: standby}\n"
                   "buffer: {memory: 1MiB, spool: 10MiB}\n"
                   "collectors:\n"
                   "  filesystem: {ignored_mount_points: '^/boot$', ignored_fs_types: '^tmpfs$'}\n"
                   "  netdev: {ignored_devices: '^(lo|docker.*)$'}\n"
                   "plugins:\n"
                   "  - name: nginx\n"
                   "    command: [/usr/bin/nginx-metrics, --url, 'http://x']\n"
                   "    timeout: 5s\n"
                   "    env: {A: '1', B: two}\n"
                   "    user: nobody\n"
                   "  - name: sh\n"
                   "    command: echo x 1\n"
                   "    shell: true\n"
                   "checks:\n"
                   "  - name: ntp\n"
                   "    command: [check-ntp]\n"
                   "    interval: 5m\n",
                   &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_string_equal(c.server, "http://mon:9650");
    assert_string_equal(c.api_key, "secret");
    assert_int_equal(c.interval_ms, 10000);
    assert_string_equal(c.host_name, "web-1");
    assert_string_equal(c.display_name, "Web 1");
    assert_string_equal(c.roles[1], "blog:db");
    assert_null(c.roles[2]);
    assert_string_equal(c.status_on_stop, "standby");
    assert_int_equal(c.memory_bytes, 1 << 20);
    assert_string_equal(c.collect.fstype_exclude, "^tmpfs$");
    assert_string_equal(c.collect.netdev_exclude, "^(lo|docker.*)$");
    assert_null(c.collect.disk_exclude);
    assert_int_equal(c.nplugins, 2);
    assert_string_equal(c.plugins[0].argv[2], "http://x");
    assert_null(c.plugins[0].argv[3]);
    assert_int_equal(c.plugins[0].timeout_ms, 5000);
    assert_string_equal(c.plugins[0].env[1], "B=two");
    assert_string_equal(c.plugins[0].user, "nobody");
    assert_string_equal(c.plugins[1].argv[0], "/bin/sh");
    assert_string_equal(c.plugins[1].argv[2], "echo x 1");
    assert_int_equal(c.nchecks, 1);
    assert_int_equal(c.checks[0].interval_ms, 300000);
    assert_int_equal(c.checks[0].timeout_ms, AGENT_DEFAULT_TIMEOUT_MS);
    agent_config_free(&c);
}

static void expect_error(const char *text, const char *want)
{
    struct agent_config c;
    struct saba_err err = {0};
    int rc = parse(&c, text, &err);
    agent_config_free(&c);
    if (rc != SABA_EINVAL)
        fail_msg("accepted: %s", text);
    if (!strstr(err.msg, want))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_error("interval: 60s\nbogus: 1\n", "agent.yml:2: unknown setting \"bogus\"");
    expect_error("interval: 500ms\n", "agent.yml:1: \"interval\": invalid value \"500ms\"");
    expect_error("server: ftp://x\n", "not an http:// or https:// URL");
    expect_error("roles: [web]\n", "invalid role \"web\"");
    expect_error("roles: ['a:b:c']\n", "invalid role");
    expect_error("host_status: {on_stop: sleeping}\n", "invalid status \"sleeping\"");
    expect_error("host: {nmae: x}\n", "unknown setting \"host.nmae\"");
    expect_error("collectors: {cpu: {x: 1}}\n", "unknown setting \"collectors.cpu\"");
    expect_error("plugins:\n  - name: p\n    command: echo hi\n", "agent.yml:3:");
    expect_error("plugins:\n  - name: p\n    command: echo hi\n", "shell: true");
    expect_error("plugins:\n  - name: p\n    command: [echo]\n    shell: true\n",
                 "needs the command as one string");
    expect_error("plugins:\n  - command: [echo]\n", "needs a name");
    expect_error("plugins:\n  - name: p\n", "needs a command");
    expect_error("plugins:\n  - {name: p, command: [a]}\n  - {name: p, command: [b]}\n",
                 "defined twice");
    expect_error("plugins:\n  - {name: p, command: [a], interval: 5s}\n",
                 "unknown setting \"plugins.interval\"");
    expect_error("checks:\n  - {name: c, command: []}\n", "empty command");
    expect_error("plugins:\n  - {name: p, command: [a], env: {'A=B': x}}\n",
                 "invalid environment variable name");
    expect_error("buffer: {memory: lots}\n", "expected a size");
    expect_error("interval: [1, 2\n", "invalid YAML");
    expect_error("- a\n- b\n", "must be a mapping");
    expect_error("host: {name: \"web\\n1\"}\n", "\"host.name\" must be one line");
    expect_error("host: {name: ''}\n", "\"host.name\" must be one line");
}

static void test_empty_file_keeps_defaults(void **state)
{
    (void)state;
    struct agent_config c;
    struct saba_err err = {0};
    assert_int_equal(parse(&c, "", &err), 0);
    assert_int_equal(c.interval_ms, AGENT_DEFAULT_INTERVAL_MS);
    assert_null(c.server);
    agent_config_free(&c);
    assert_true(agent_role_valid("blog:web"));
    assert_false(agent_role_valid(":web"));
    assert_false(agent_role_valid("blog:"));
}

/* ---- outbox ---- */

static char dir[256];

static int count_batches(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".batch") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void push_str(struct outbox *o, int i)
{
    char b[64];
    memset(b, 'a' + i % 26, sizeof b);
    snprintf(b, sizeof b, "batch-%04d", i);
    outbox_push(o, b, sizeof b); /* 64 bytes each */
}

static int peek_num(struct outbox *o)
{
    const void *d;
    size_t n;
    if (outbox_peek(o, &d, &n))
        return -1;
    assert_int_equal(n, 64);
    return atoi((const char *)d + 6);
}

static void test_outbox_order_spill_and_restart(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/saba-test-outbox-%d", (int)getpid());
    struct outbox *o;
    struct saba_err err = {0};
    /* memory holds 2 batches, the spool 5 */
    assert_int_equal(outbox_open(dir, 128, 320, &o, &err), 0);
    for (int i = 0; i < 4; i++)
        push_str(o, i);
    assert_int_equal(outbox_count(o), 4);
    assert_int_equal(outbox_spooled(o), 2);
    assert_int_equal(count_batches(), 2);
    assert_int_equal(peek_num(o), 0); /* oldest first, from the spool */
    outbox_pop(o);
    assert_int_equal(peek_num(o), 1);
    /* overflow the spool: the oldest spooled batches are dropped and counted */
    for (int i = 4; i < 12; i++)
        push_str(o, i);
    assert_int_equal(outbox_spooled(o), 5);
    assert_int_equal(outbox_dropped(o), 4); /* 1, 2, 3, 4 */
    assert_int_equal(peek_num(o), 5);
    /* a restart: memory is spooled on close and everything comes back in order */
    outbox_close(o);
    assert_int_equal(outbox_open(dir, 128, 1 << 20, &o, &err), 0);
    assert_int_equal(outbox_count(o), 5); /* the spool bound drops at close too */
    int prev = -1, n = 0;
    for (int k; (k = peek_num(o)) >= 0; n++) {
        assert_true(k > prev);
        prev = k;
        outbox_pop(o);
    }
    assert_int_equal(n, 5);
    assert_int_equal(prev, 11);
    assert_int_equal(count_batches(), 0);
    /* an unreadable (empty) spooled file is dropped, not sent */
    push_str(o, 20);
    push_str(o, 21);
    outbox_close(o);
    char path[600];
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".batch")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            break;
        }
    closedir(d);
    FILE *f = fopen(path, "w"); /* truncate one of them */
    fclose(f);
    assert_int_equal(outbox_open(dir, 128, 1 << 20, &o, &err), 0);
    assert_int_equal(outbox_count(o), 2);
    int k = peek_num(o);
    assert_true(k == 20 || k == 21);
    outbox_pop(o);
    assert_int_equal(peek_num(o), -1);
    outbox_close(o);
    rmdir(dir);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_empty_file_keeps_defaults),
        cmocka_unit_test(test_outbox_order_spill_and_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
