/*
 * request.c - validating the JSON bodies of the hosts and checks endpoints
 * (see meta.h): jansson parses, then every field is checked before anything
 * is stored, and the first problem is named.
 */
#include "base/alloc.h"
#include "meta/meta.h"
#include "storage/labels.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 255

static int bad_json(json_error_t *je, struct saba_err *err)
{
    return err_set(err, SABA_EINVAL, je->line, "invalid JSON: %s", je->text);
}

/* Check output is multi-line text: well-formed UTF-8 where the only control
 * characters are newline and tab. */
static bool multiline_text(const char *s, size_t n)
{
    char *flat = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        flat[i] = s[i] == '\n' ? ' ' : s[i];
    bool ok = utf8_valid_text(flat, n);
    free(flat);
    return ok;
}

/* An optional string member: "" when absent or null. A message may have
 * several lines (Nagios long output); other strings are one line. */
static int opt_str(json_t *o, const char *key, size_t max, const char **out, struct saba_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, SABA_EINVAL, 0, "\"%s\" must be a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max)
        return err_set(err, SABA_EINVAL, 0, "\"%s\" is longer than %zu bytes", key, max);
    bool multiline = !strcmp(key, "message");
    if (strlen(s) != n || !(multiline ? multiline_text(s, n) : utf8_valid_text(s, n)))
        return err_set(err, SABA_EINVAL, 0, "\"%s\" must be text without control characters", key);
    *out = s;
    return 0;
}

static bool part_ok(const char *s, size_t n)
{
    if (!n || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

int meta_host_parse(const char *body, size_t n, struct meta_host_in *out, struct saba_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return bad_json(&je, err);
    struct meta_host_in h;
    memset(&h, 0, sizeof h);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = err_set(err, SABA_EINVAL, 0, "the body must be a JSON object");
        goto fail;
    }
    if ((rc = opt_str(root, "name", MAX_NAME, &h.name, err)) ||
        (rc = opt_str(root, "display_name", MAX_NAME, &h.display_name, err)) ||
        (rc = opt_str(root, "custom_identifier", MAX_NAME, &h.custom_identifier, err)))
        goto fail;
    if (!h.name[0]) {
        rc = err_set(err, SABA_EINVAL, 0, "\"name\" is required");
        goto fail;
    }
    json_t *roles = json_object_get(root, "roles");
    if (roles && !json_is_null(roles)) {
        if (!json_is_array(roles) || json_array_size(roles) > META_MAX_ROLES) {
            rc = err_set(err, SABA_EINVAL, 0, "\"roles\" must be a list of at most %d strings",
                         META_MAX_ROLES);
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const char *r = json_string_value(json_array_get(roles, i));
            const char *colon = r ? strchr(r, ':') : NULL;
            if (!colon || !part_ok(r, (size_t)(colon - r)) ||
                !part_ok(colon + 1, strlen(colon + 1))) {
                rc = err_set(err, SABA_EINVAL, 0,
                             "roles[%zu]: expected \"service:role\" (letters, digits, _ and -)", i);
                goto fail;
            }
            h.roles[h.nroles++] = r;
        }
    }
    json_t *meta = json_object_get(root, "meta");
    if (meta && !json_is_null(meta) && !json_is_object(meta)) {
        rc = err_set(err, SABA_EINVAL, 0, "\"meta\" must be an object");
        goto fail;
    }
    h.meta_json = meta && json_is_object(meta) ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS)
                                               : xstrdup("{}");
    if (!h.meta_json)
        abort();
    h.json = root;
    *out = h;
    return 0;
fail:
    json_decref(root);
    return rc;
}

void meta_host_in_free(struct meta_host_in *h)
{
    free(h->meta_json);
    json_decref(h->json);
    memset(h, 0, sizeof *h);
}

static int one_report(json_t *r, size_t i, struct meta_report_in *out, struct saba_err *err)
{
    struct saba_err e = {0};
    if (!json_is_object(r))
        return err_set(err, SABA_EINVAL, (long)i + 1, "reports[%zu] must be an object", i);
    int rc;
    if ((rc = opt_str(r, "name", MAX_NAME, &out->name, &e)) ||
        (rc = opt_str(r, "status", 16, &out->status, &e)) ||
        (rc = opt_str(r, "message", 4 * META_MAX_MESSAGE, &out->message, &e)))
        return err_set(err, SABA_EINVAL, (long)i + 1, "reports[%zu]: %s", i, e.msg);
    if (!out->name[0])
        return err_set(err, SABA_EINVAL, (long)i + 1, "reports[%zu]: \"name\" is required", i);
    if (strcmp(out->status, "OK") && strcmp(out->status, "WARNING") &&
        strcmp(out->status, "CRITICAL") && strcmp(out->status, "UNKNOWN"))
        return err_set(err, SABA_EINVAL, (long)i + 1,
                       "reports[%zu]: \"status\" must be OK, WARNING, CRITICAL or UNKNOWN", i);
    json_t *t = json_object_get(r, "occurred_at");
    double ts = json_number_value(t);
    if (!json_is_number(t) || !isfinite(ts) || ts < 0 || ts > 1e11)
        return err_set(err, SABA_EINVAL, (long)i + 1,
                       "reports[%zu]: \"occurred_at\" must be Unix seconds", i);
    out->occurred_ms = (int64_t)llround(ts * 1000);
    json_t *iv = json_object_get(r, "interval");
    out->interval_s = 0;
    if (iv && !json_is_null(iv)) {
        if (!json_is_integer(iv) || json_integer_value(iv) < 0 ||
            json_integer_value(iv) > 366 * 86400)
            return err_set(err, SABA_EINVAL, (long)i + 1,
                           "reports[%zu]: \"interval\" must be whole seconds", i);
        out->interval_s = json_integer_value(iv);
    }
    return 0;
}

int meta_reports_parse(const char *body, size_t n, meta_report_fn fn, void *ctx,
                       struct saba_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return bad_json(&je, err);
    int rc = 0;
    const char *host_id = json_string_value(json_object_get(root, "host_id"));
    json_t *reports = json_object_get(root, "reports");
    if (!json_is_object(root) || !host_id || !*host_id || !json_is_array(reports)) {
        rc = err_set(err, SABA_EINVAL, 0,
                     "expected {\"host_id\": \"...\", \"reports\": [...]} as the body");
        goto out;
    }
    size_t count = json_array_size(reports);
    struct meta_report_in r;
    for (size_t i = 0; i < count && !rc; i++)
        rc = one_report(json_array_get(reports, i), i, &r, err);
    for (size_t i = 0; i < count && !rc; i++) {
        one_report(json_array_get(reports, i), i, &r, err);
        if (fn)
            rc = fn(ctx, host_id, &r, err);
    }
out:
    json_decref(root);
    return rc;
}
