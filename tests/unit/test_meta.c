/*
 * test_meta.c - the metadata store (src/meta/meta.h): hosts, roles, status,
 * retirement, check reports and their validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "meta/meta.h"

#include "unit.h"

static char dir[256];

static struct meta *open_store(void)
{
    snprintf(dir, sizeof dir, "/tmp/saba-test-meta-%d", (int)getpid());
    mkdir(dir, 0700);
    struct meta *m = NULL;
    struct saba_err err = {0};
    if (meta_open(dir, &m, &err))
        fail_msg("%s", err.msg);
    return m;
}

static void remove_store(void)
{
    char p[400];
    const char *files[] = {"meta.db", "meta.db-wal", "meta.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void host_in(const char *json, struct meta_host_in *h)
{
    struct saba_err err = {0};
    if (meta_host_parse(json, strlen(json), h, &err))
        fail_msg("%s: %s", json, err.msg);
}

static void test_hosts_lifecycle(void **state)
{
    (void)state;
    struct meta *m = open_store();
    struct saba_err err = {0};
    struct meta_host_in h;
    host_in("{\"name\":\"web-1\",\"roles\":[\"blog:web\",\"blog:app\"],"
            "\"meta\":{\"cpu\":{\"count\":2}},\"custom_identifier\":\"i-1\"}",
            &h);
    char id[META_HOST_ID_LEN + 1], id2[META_HOST_ID_LEN + 1];
    bool created;
    assert_int_equal(meta_host_create(m, &h, id, &created, &err), 0);
    assert_true(created);
    assert_int_equal(strlen(id), META_HOST_ID_LEN);
    /* same custom identifier: the same host */
    assert_int_equal(meta_host_create(m, &h, id2, &created, &err), 0);
    assert_false(created);
    assert_string_equal(id, id2);
    meta_host_in_free(&h);

    host_in("{\"name\":\"db-1\",\"roles\":[\"blog:db\"]}", &h);
    assert_int_equal(meta_host_create(m, &h, id2, &created, &err), 0);
    assert_true(created && strcmp(id, id2));
    meta_host_in_free(&h);

    struct buf b = BUF_INIT;
    struct meta_host_filter f = {.service = "blog", .role = "web"};
    assert_int_equal(meta_hosts_list_json(m, &f, &b, &err), 0);
    assert_non_null(strstr(b.data, "\"name\":\"web-1\""));
    assert_null(strstr(b.data, "db-1"));
    assert_non_null(strstr(b.data, "\"roles\":[\"blog:app\",\"blog:web\"]"));
    assert_non_null(strstr(b.data, "\"meta\":{\"cpu\":{\"count\":2}}"));
    buf_reset(&b);
    struct meta_host_filter all = {0};
    assert_int_equal(meta_hosts_list_json(m, &all, &b, &err), 0);
    assert_true(strstr(b.data, "db-1") < strstr(b.data, "web-1")); /* by name */

    /* update replaces roles */
    host_in("{\"name\":\"web-1b\",\"roles\":[\"shop:web\"]}", &h);
    assert_int_equal(meta_host_update(m, id, &h, &err), 0);
    assert_int_equal(meta_host_update(m, "nope", &h, &err), SABA_ENOTFOUND);
    meta_host_in_free(&h);
    buf_reset(&b);
    assert_int_equal(meta_host_get_json(m, id, &b, &err), 0);
    assert_non_null(strstr(b.data, "\"name\":\"web-1b\""));
    assert_non_null(strstr(b.data, "\"roles\":[\"shop:web\"]"));
    assert_non_null(strstr(b.data, "\"status\":\"working\""));

    assert_int_equal(meta_host_set_status(m, id, "standby", &err), 0);
    assert_int_equal(meta_host_set_status(m, id, "asleep", &err), SABA_EINVAL);
    assert_int_equal(meta_host_set_status(m, "nope", "standby", &err), SABA_ENOTFOUND);
    buf_reset(&b);
    meta_host_get_json(m, id, &b, &err);
    assert_non_null(strstr(b.data, "\"status\":\"standby\""));

    /* retire: gone from the list, still readable, no more updates */
    assert_int_equal(meta_host_retire(m, id, &err), 0);
    assert_int_equal(meta_host_retire(m, id, &err), SABA_ENOTFOUND);
    buf_reset(&b);
    meta_hosts_list_json(m, &all, &b, &err);
    assert_null(strstr(b.data, id));
    buf_reset(&b);
    assert_int_equal(meta_host_get_json(m, id, &b, &err), 0);
    assert_null(strstr(b.data, "\"retired_at\":null"));
    assert_int_equal(meta_host_set_status(m, id, "working", &err), SABA_ENOTFOUND);
    buf_free(&b);

    /* the store survives a reopen */
    meta_close(m);
    m = open_store();
    b = (struct buf)BUF_INIT;
    assert_int_equal(meta_host_get_json(m, id2, &b, &err), 0);
    assert_non_null(strstr(b.data, "db-1"));
    buf_free(&b);
    meta_close(m);
    remove_store();
}

static int store(void *ctx, const char *host_id, const struct meta_report_in *r,
                 struct saba_err *err)
{
    return meta_check_report(ctx, host_id, r, err);
}

static void test_check_reports(void **state)
{
    (void)state;
    struct meta *m = open_store();
    struct saba_err err = {0};
    struct meta_host_in h;
    host_in("{\"name\":\"h\"}", &h);
    char id[META_HOST_ID_LEN + 1];
    bool created;
    assert_int_equal(meta_host_create(m, &h, id, &created, &err), 0);
    meta_host_in_free(&h);
    char body[1024];
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body,
                 "{\"host_id\":\"%s\",\"reports\":[{\"name\":\"disk\",\"status\":\"%s\","
                 "\"message\":\"m%d\",\"occurred_at\":%d,\"interval\":60}]}",
                 id, i == 4 ? "CRITICAL" : "OK", i, 1732250000 + i);
        assert_int_equal(meta_reports_parse(body, strlen(body), store, m, &err), 0);
    }
    /* a late report (older) goes to history but does not replace the latest */
    snprintf(body, sizeof body,
             "{\"host_id\":\"%s\",\"reports\":[{\"name\":\"disk\",\"status\":\"WARNING\","
             "\"message\":\"late\",\"occurred_at\":1732249000}]}",
             id);
    assert_int_equal(meta_reports_parse(body, strlen(body), store, m, &err), 0);
    struct buf b = BUF_INIT;
    assert_int_equal(meta_checks_list_json(m, id, &b, &err), 0);
    assert_non_null(strstr(b.data, "\"status\":\"CRITICAL\",\"message\":\"m4\""));
    assert_non_null(strstr(b.data, "\"interval\":60"));
    buf_reset(&b);
    assert_int_equal(meta_check_history_json(m, id, "disk", 3, &b, &err), 0);
    assert_non_null(strstr(b.data, "late"));
    assert_true(strstr(b.data, "late") < strstr(b.data, "m4"));
    assert_null(strstr(b.data, "m2")); /* limit 3: late, m4, m3 */
    buf_free(&b);

    /* unknown host */
    const char *unknown = "{\"host_id\":\"zzz\",\"reports\":[{\"name\":\"a\",\"status\":\"OK\","
                          "\"message\":\"\",\"occurred_at\":1}]}";
    assert_int_equal(meta_reports_parse(unknown, strlen(unknown), store, m, &err), SABA_ENOTFOUND);
    meta_close(m);
    remove_store();
}

static void expect_host_error(const char *json, const char *want)
{
    struct meta_host_in h;
    struct saba_err err = {0};
    if (meta_host_parse(json, strlen(json), &h, &err) != SABA_EINVAL)
        fail_msg("accepted %s", json);
    if (!strstr(err.msg, want))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
}

static void expect_report_error(const char *json, const char *want)
{
    struct saba_err err = {0};
    if (meta_reports_parse(json, strlen(json), NULL, NULL, &err) != SABA_EINVAL)
        fail_msg("accepted %s", json);
    if (!strstr(err.msg, want))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
}

static void test_validation(void **state)
{
    (void)state;
    expect_host_error("[]", "must be a JSON object");
    expect_host_error("{}", "\"name\" is required");
    expect_host_error("{\"name\":1}", "\"name\" must be a string");
    expect_host_error("{\"name\":\"a\\u0000b\"}", "invalid JSON");
    expect_host_error("{\"name\":\"a\\nb\"}", "without control characters");
    expect_host_error("{\"name\":\"a\",\"roles\":\"x:y\"}", "\"roles\" must be a list");
    expect_host_error("{\"name\":\"a\",\"roles\":[\"x:y z\"]}", "roles[0]");
    expect_host_error("{\"name\":\"a\",\"meta\":[1]}", "\"meta\" must be an object");
    expect_host_error("{\"name\":\"a\",\"name\":\"b\"}", "invalid JSON");
    expect_report_error("{\"reports\":[]}", "host_id");
    expect_report_error("{\"host_id\":\"x\",\"reports\":[{\"name\":\"a\",\"status\":\"OK\"}]}",
                        "occurred_at");
    expect_report_error("{\"host_id\":\"x\",\"reports\":[{\"name\":\"a\",\"status\":\"ok\","
                        "\"occurred_at\":1}]}",
                        "\"status\" must be");
    expect_report_error("{\"host_id\":\"x\",\"reports\":[{\"status\":\"OK\",\"occurred_at\":1}]}",
                        "\"name\" is required");
    /* a message may have several lines, but no other control characters */
    expect_report_error("{\"host_id\":\"x\",\"reports\":[{\"name\":\"a\",\"status\":\"OK\","
                        "\"message\":\"a\\u0001\",\"occurred_at\":1}]}",
                        "without control characters");
    const char *multi = "{\"host_id\":\"x\",\"reports\":[{\"name\":\"a\",\"status\":\"OK\","
                        "\"message\":\"line 1\\nline\\t2 \\u00e9\",\"occurred_at\":1}]}";
    struct saba_err err = {0};
    assert_int_equal(meta_reports_parse(multi, strlen(multi), NULL, NULL, &err), 0);
}

int main(void)
{
    unit_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts_lifecycle),
        cmocka_unit_test(test_check_reports),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
