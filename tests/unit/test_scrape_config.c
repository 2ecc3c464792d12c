/*
 * test_scrape_config.c - unit tests for the scrape sections of saba.yml
 * (src/scrape/scrape_config.h, read through config_load): defaults from
 * global, the timeout rule, target labels, target keys, and errors with
 * file:line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scrape/scrape_config.h"
#include "server/config.h"

#include "unit.h"

static char dir[64];

static int load(const char *yaml, struct saba_config *c, struct saba_err *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/saba.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    config_defaults(c);
    memset(err, 0, sizeof *err);
    return config_load(c, path, err);
}

static void assert_error(const char *yaml, long line, const char *reason)
{
    struct saba_config c;
    struct saba_err err;
    int rc = load(yaml, &c, &err);
    if (rc != SABA_EINVAL || err.line != line || !strstr(err.msg, reason))
        fail_msg("rc %d line %ld \"%s\"; want line %ld \"%s\"", rc, err.line, err.msg, line,
                 reason);
    char where[32];
    snprintf(where, sizeof where, "saba.yml:%ld: ", line);
    if (!strstr(err.msg, where))
        fail_msg("\"%s\" does not name %s", err.msg, where);
    assert_int_equal(c.scrape.ntargets, 0);
    config_free(&c);
}

static void test_defaults_and_labels(void **state)
{
    (void)state;
    struct saba_config c;
    struct saba_err err;
    /* global comes after scrape_configs on purpose: jobs still take its defaults */
    int rc = load("scrape_configs:\n"
                  "  - job_name: node\n"
                  "    static_configs:\n"
                  "      - targets: [\"a:9100\", \"[::1]:9100\"]\n"
                  "        labels: {env: prod}\n"
                  "      - targets: [\"b:9100\"]\n"
                  "        labels: {instance: web-b, job: other}\n"
                  "  - job_name: fast\n"
                  "    scrape_interval: 2s\n"
                  "    metrics_path: /m\n"
                  "    scheme: https\n"
                  "    honor_labels: true\n"
                  "    honor_timestamps: false\n"
                  "    params: {module: [if_mib, \"a b/c\"], x: [\"1\"]}\n"
                  "    static_configs: [{targets: [\"c:1\"]}]\n"
                  "global:\n"
                  "  scrape_interval: 30s\n"
                  "  scrape_timeout: 5s\n",
                  &c, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(c.scrape.njobs, 2);
    assert_int_equal(c.scrape.ntargets, 4);
    const struct scrape_target_config *t = c.scrape.targets;
    assert_string_equal(t[0].url, "http://a:9100/metrics");
    assert_int_equal(t[0].interval_ms, 30000);
    assert_int_equal(t[0].timeout_ms, 5000);
    assert_false(t[0].honor_labels);
    assert_true(t[0].honor_timestamps);
    assert_int_equal(t[0].labels.n, 3);
    assert_string_equal(labels_get(&t[0].labels, "job"), "node");
    assert_string_equal(labels_get(&t[0].labels, "instance"), "a:9100");
    assert_string_equal(labels_get(&t[0].labels, "env"), "prod");
    assert_string_equal(t[1].url, "http://[::1]:9100/metrics");
    /* static labels override job and instance */
    assert_string_equal(labels_get(&t[2].labels, "job"), "other");
    assert_string_equal(labels_get(&t[2].labels, "instance"), "web-b");
    assert_string_equal(t[2].job, "node");
    /* the timeout defaults to min(global timeout, interval) */
    assert_string_equal(t[3].url, "https://c:1/m?module=if_mib&module=a%20b%2Fc&x=1");
    assert_int_equal(t[3].interval_ms, 2000);
    assert_int_equal(t[3].timeout_ms, 2000);
    assert_true(t[3].honor_labels);
    assert_false(t[3].honor_timestamps);

    /* keys: equal for equal targets, different when anything differs */
    struct scrape_target_config copy;
    scrape_target_config_copy(&copy, &t[0]);
    char *k0 = scrape_target_key(&t[0]), *k1 = scrape_target_key(&t[1]),
         *kc = scrape_target_key(&copy);
    assert_string_equal(k0, kc);
    assert_string_not_equal(k0, k1);
    copy.interval_ms++;
    free(kc);
    kc = scrape_target_key(&copy);
    assert_string_not_equal(k0, kc);
    free(k0);
    free(k1);
    free(kc);
    scrape_target_config_free(&copy);
    config_free(&c);
}

static void test_global_defaults(void **state)
{
    (void)state;
    struct saba_config c;
    struct saba_err err;
    assert_int_equal(load("scrape_configs:\n  - job_name: x\n    static_configs: "
                          "[{targets: [\"h:1\"]}]\n",
                          &c, &err),
                     0);
    assert_int_equal(c.scrape.targets[0].interval_ms, 60000);
    assert_int_equal(c.scrape.targets[0].timeout_ms, 10000);
    config_free(&c);
    /* lowering only the global interval lowers the default timeout with it */
    assert_int_equal(load("global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: x\n"
                          "    static_configs: [{targets: [\"h:1\"]}]\n",
                          &c, &err),
                     0);
    assert_int_equal(c.scrape.targets[0].timeout_ms, 5000);
    config_free(&c);
    /* no scrape sections: no targets */
    assert_int_equal(load("listen: \"127.0.0.1:0\"\n", &c, &err), 0);
    assert_int_equal(c.scrape.ntargets, 0);
    config_free(&c);
}

static void test_errors(void **state)
{
    (void)state;
    assert_error("global:\n  scrape_interval: 1s\n  scrape_timeout: 2s\n", 2,
                 "global.scrape_timeout is greater");
    assert_error("global:\n  bogus: 1\n", 2, "unknown setting \"global.bogus\"");
    assert_error("global: 5\n", 1, "\"global\" must be a mapping");
    assert_error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: "
                 "[\"h:1\"]\n        oops: 1\n",
                 5, "unknown setting \"static_configs.oops\"");
    assert_error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: "
                 "[\"h:1\", \"h:1\"]\n",
                 4, "listed twice");
    assert_error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: "
                 "[\"h:99999\"]\n",
                 4, "invalid target \"h:99999\"");
    assert_error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {a: b}\n",
                 4, "needs \"targets\"");
    assert_error("scrape_configs:\n  - job_name: a\n    metrics_path: metrics\n", 3,
                 "must be a path starting with /");
    assert_error("scrape_configs:\n  - job_name: a\n    scrape_interval: 10ms\n", 3,
                 "from 100ms to 1w");
    assert_error("global:\n  scrape_interval: 2w\n", 2, "from 100ms to 1w");
    assert_error("scrape_configs:\n  - job_name: \"\"\n", 2, "non-empty string");
    assert_error("scrape_configs:\n  - job_name: a\n    params: {module: if_mib}\n", 3,
                 "params \"module\": want a list of values");
    assert_error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: "
                 "[\"h:1\"]\n        labels: {\"1x\": y}\n",
                 5, "invalid label name \"1x\"");
    /* not text: refused before the YAML parser sees it */
    assert_error("listen: x\r\nlog_level: \x01\n", 2, "not UTF-8 text");
    assert_error("# \xff\n", 1, "not UTF-8 text");
    /* an error leaves the scrape section of the config as it was */
    struct saba_config c;
    struct saba_err err;
    assert_int_not_equal(load("scrape_configs:\n  - job_name: a\n    static_configs: "
                              "[{targets: [\"h:1\"]}]\n  - job_name: a\n",
                              &c, &err),
                         0);
    assert_int_equal(c.scrape.ntargets, 0);
    config_free(&c);
}

int main(void)
{
    unit_quiet_logs();
    unit_mkdtemp(dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_labels),
        cmocka_unit_test(test_global_defaults),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unit_rm_rf(dir);
    return rc;
}
