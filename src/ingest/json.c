/*
 * json.c - saba JSON metrics parser over jansson (see json.h).
 */
#include "ingest/json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int item_error(struct saba_err *err, size_t i, const char *reason)
{
    return err_set(err, SABA_EINVAL, (long)i + 1, "item %zu: %s", i + 1, reason);
}

static int parse_item(json_t *it, size_t i, struct batch *b, struct saba_err *err)
{
    if (!json_is_object(it))
        return item_error(err, i, "not an object");
    const char *key;
    json_t *val;
    json_object_foreach(it, key, val)
    {
        if (strcmp(key, "name") && strcmp(key, "labels") && strcmp(key, "host") &&
            strcmp(key, "time") && strcmp(key, "value")) {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown key \"%.64s\"", key);
            return item_error(err, i, msg);
        }
    }
    json_t *name = json_object_get(it, "name"), *labels = json_object_get(it, "labels");
    json_t *host = json_object_get(it, "host"), *time = json_object_get(it, "time");
    json_t *value = json_object_get(it, "value");
    if (!json_is_string(name))
        return item_error(err, i, "\"name\" must be a string");
    if (!json_is_number(time))
        return item_error(err, i, "\"time\" must be a number (Unix seconds)");
    double v;
    if (json_is_number(value)) {
        v = json_number_value(value);
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        if (!strcmp(s, "NaN"))
            v = NAN;
        else if (!strcmp(s, "+Inf") || !strcmp(s, "Inf"))
            v = INFINITY;
        else if (!strcmp(s, "-Inf"))
            v = -INFINITY;
        else
            return item_error(err, i, "\"value\" must be a number, \"NaN\", \"+Inf\" or \"-Inf\"");
    } else {
        return item_error(err, i, "\"value\" must be a number");
    }
    if (labels && !json_is_object(labels))
        return item_error(err, i, "\"labels\" must be an object");
    if (host && !json_is_string(host))
        return item_error(err, i, "\"host\" must be a string");
    double secs = json_number_value(time);
    if (!isfinite(secs) || secs < 0 || secs > 9.2e15)
        return item_error(err, i, "\"time\" out of range");

    batch_series_begin(b);
    int rc = batch_label(b, "__name__", 8, json_string_value(name), json_string_length(name), err);
    json_object_foreach(labels, key, val)
    {
        if (rc)
            break;
        if (!json_is_string(val)) {
            batch_series_abort(b);
            char msg[128];
            snprintf(msg, sizeof msg, "label \"%.64s\" must be a string", key);
            return item_error(err, i, msg);
        }
        if (host && !strcmp(key, "host") && !json_equal(val, host)) {
            batch_series_abort(b);
            return item_error(err, i, "\"host\" and labels.host differ");
        }
        if (host && !strcmp(key, "host"))
            continue;
        rc = batch_label(b, key, strlen(key), json_string_value(val), json_string_length(val), err);
    }
    if (rc == 0 && host)
        rc = batch_label(b, "host", 4, json_string_value(host), json_string_length(host), err);
    if (rc == 0)
        rc = batch_series_end(b, (int64_t)llround(secs * 1000), v, err);
    else
        batch_series_abort(b);
    if (rc) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return item_error(err, i, msg);
    }
    return 0;
}

int saba_json_parse(const char *data, size_t n, struct batch *b, struct saba_err *err)
{
    json_error_t je;
    /* JSON_ALLOW_NUL off: a NUL in a string is rejected by jansson */
    json_t *root = json_loadb(data, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return err_set(err, SABA_EINVAL, je.line, "invalid JSON at line %d column %d: %s", je.line,
                       je.column, je.text);
    int rc = 0;
    if (json_is_object(root)) {
        /* a single sample object is accepted as a one-item batch */
        rc = parse_item(root, 0, b, err);
    } else if (!json_is_array(root)) {
        rc = err_set(err, SABA_EINVAL, 1, "expected an array of samples");
    } else {
        size_t i;
        json_t *it;
        json_array_foreach(root, i, it)
        {
            rc = parse_item(it, i, b, err);
            if (rc)
                break;
        }
    }
    json_decref(root);
    return rc;
}
