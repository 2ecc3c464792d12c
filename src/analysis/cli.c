/*
 * cli.c - `saba analyze changepoint|anomaly|forecast` (see cli.h).
 *
 * Reads all of stdin, parses it with series_csv, runs the engine and prints
 * one line per row (scores) or one answer (forecast). Errors name the input
 * line and exit 1; usage errors exit 2.
 */
#include "analysis/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/anomaly.h"
#include "analysis/changefinder.h"
#include "analysis/forecast.h"
#include "analysis/series_csv.h"
#include "base/buf.h"
#include "base/timeutil.h"

#define STDIN_MAX (4ULL << 30) /* refuse more than 4 GiB of CSV */

static void usage(FILE *f)
{
    fprintf(f, "usage: saba analyze changepoint [--order K] [--discount R] [--smooth T1] "
               "[--smooth2 T2] [--raw] < in.csv\n"
               "       saba analyze anomaly [--raw] < in.csv\n"
               "       saba analyze forecast [--window 7d] [--json] < in.csv\n"
               "\n"
               "changepoint, anomaly: rows timestamp,value (optional header; Unix seconds or\n"
               "  YYYY-MM-DD HH:MM:SS); prints timestamp,score per row, score in [0,1]\n"
               "  (--raw: ChangeFinder's score in nats, or the anomaly detectors' sigmas).\n"
               "  changepoint defaults: --order 1 --discount 0.005 --smooth 7 --smooth2 7\n"
               "forecast: rows timestamp,value,capacity; prints the seconds from the last row\n"
               "  until value >= capacity, or inf; --json prints window, slope, range, regime.\n");
}

static int read_stdin(struct buf *b)
{
    for (;;) {
        buf_reserve(b, 1 << 16);
        size_t got = fread(b->data + b->len, 1, b->cap - b->len - 1, stdin);
        b->len += got;
        b->data[b->len] = '\0';
        if (b->len > STDIN_MAX) {
            fprintf(stderr, "saba analyze: input larger than 4 GiB\n");
            return -1;
        }
        if (got == 0) {
            if (ferror(stdin)) {
                perror("saba analyze: reading stdin");
                return -1;
            }
            return 0;
        }
    }
}

/* "--name value" or "--name=value": returns the value and advances *i, or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc) {
        (*i)++;
        return argv[*i];
    }
    return NULL;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < -1000000 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_input(int ncols, struct buf *in, struct series_csv *s)
{
    if (read_stdin(in))
        return 1;
    struct saba_err e = {0};
    if (series_csv_parse(in->data, in->len, ncols, s, &e)) {
        if (e.line > 0)
            fprintf(stderr, "saba analyze: line %ld: %s\n", e.line, e.msg);
        else
            fprintf(stderr, "saba analyze: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static void put_row(struct buf *out, const struct series_csv *s, size_t i, double v, int raw)
{
    buf_append(out, s->ts[i], s->ts_len[i]);
    if (raw)
        buf_printf(out, ",%.6g\n", v);
    else
        buf_printf(out, ",%.6f\n", v);
    if (out->len > (1 << 16)) {
        fwrite(out->data, 1, out->len, stdout);
        buf_reset(out);
    }
}

static int finish(struct buf *out)
{
    fwrite(out->data ? out->data : "", 1, out->len, stdout);
    buf_free(out);
    if (fflush(stdout) || ferror(stdout)) {
        perror("saba analyze: writing stdout");
        return 1;
    }
    return 0;
}

static int cmd_changepoint(int argc, char **argv)
{
    struct cf_params p = cf_params_default;
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int bad = 0;
        if ((v = opt_value(argc, argv, &i, "--order")))
            bad = parse_int(v, &p.order);
        else if ((v = opt_value(argc, argv, &i, "--discount"))) {
            char *end;
            p.discount = strtod(v, &end);
            bad = end == v || *end;
        } else if ((v = opt_value(argc, argv, &i, "--smooth2")))
            bad = parse_int(v, &p.smooth2);
        else if ((v = opt_value(argc, argv, &i, "--smooth")))
            bad = parse_int(v, &p.smooth1);
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else {
            fprintf(stderr, "saba analyze changepoint: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "saba analyze changepoint: bad value for %s\n", argv[i - 1]);
            return 2;
        }
    }
    struct saba_err e = {0};
    if (cf_params_check(&p, &e)) {
        fprintf(stderr, "saba analyze changepoint: %s\n", e.msg);
        return 2;
    }
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct series_csv s = {0};
    if (parse_input(1, &in, &s)) {
        buf_free(&in);
        return 1;
    }
    struct changefinder *cf = cf_new(&p);
    for (size_t i = 0; i < s.n; i++) {
        double sc = cf_update(cf, s.v[0][i]);
        put_row(&out, &s, i, raw ? sc : cf_score01(sc), raw);
    }
    cf_free(cf);
    series_csv_free(&s);
    buf_free(&in);
    return finish(&out);
}

static int cmd_anomaly(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        fprintf(stderr, "saba analyze anomaly: unknown option \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct series_csv s = {0};
    if (parse_input(1, &in, &s)) {
        buf_free(&in);
        return 1;
    }
    struct anomaly *a = anomaly_new();
    for (size_t i = 0; i < s.n; i++)
        put_row(&out, &s, i, anomaly_update(a, s.t[i], s.v[0][i]), 0);
    anomaly_free(a);
    series_csv_free(&s);
    buf_free(&in);
    return finish(&out);
}

static void put_num(struct buf *b, double v)
{
    if (isfinite(v))
        buf_printf(b, "%.10g", v);
    else
        buf_puts(b, "null");
}

static void put_human(struct buf *b, double secs)
{
    char d[32];
    if (!isfinite(secs)) {
        buf_puts(b, "\"never\"");
        return;
    }
    double ms = secs * 1000 > 9e15 ? 9e15 : secs * 1000;
    duration_format((int64_t)(ms / 60000) * 60000, d, sizeof d);
    buf_printf(b, "\"%s\"", d);
}

static int cmd_forecast(int argc, char **argv)
{
    struct forecast_opts o = forecast_opts_default;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--window"))) {
            if (duration_param_parse(v, &o.window_ms) || o.window_ms <= 0) {
                fprintf(stderr,
                        "saba analyze forecast: bad --window \"%s\" (a duration like 7d, "
                        "6h, or seconds)\n",
                        v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "saba analyze forecast: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct series_csv s = {0};
    if (parse_input(2, &in, &s)) {
        buf_free(&in);
        return 1;
    }
    struct forecast_result r;
    struct saba_err e = {0};
    int rc = forecast_run(s.t, s.v[0], s.n, s.v[1][s.n - 1], &o, &r, &e);
    series_csv_free(&s);
    buf_free(&in);
    if (rc) {
        fprintf(stderr, "saba analyze forecast: %s\n", e.msg);
        return 1;
    }
    if (!json) {
        if (isfinite(r.seconds))
            buf_printf(&out, "%.0f\n", r.seconds);
        else
            buf_puts(&out, "inf\n");
        return finish(&out);
    }
    buf_puts(&out, "{\"seconds\":");
    put_num(&out, r.seconds);
    buf_puts(&out, ",\"full_in\":");
    put_human(&out, r.seconds);
    buf_puts(&out, ",\"range\":{\"seconds_lo\":");
    put_num(&out, r.seconds_lo);
    buf_puts(&out, ",\"seconds_hi\":");
    put_num(&out, r.seconds_hi);
    buf_printf(&out, "},\"model\":\"%s\",\"slope_per_second\":", forecast_model_name(r.model));
    put_num(&out, r.slope);
    buf_puts(&out, ",\"slope_range\":[");
    put_num(&out, r.slope_lo);
    buf_putc(&out, ',');
    put_num(&out, r.slope_hi);
    buf_puts(&out, "],\"level\":");
    put_num(&out, r.level);
    buf_puts(&out, ",\"headroom\":");
    put_num(&out, r.headroom);
    buf_puts(&out, ",\"capacity\":");
    put_num(&out, r.capacity);
    buf_puts(&out, ",\"window\":{\"start\":");
    put_num(&out, (double)r.window_start_ms / 1000);
    buf_puts(&out, ",\"end\":");
    put_num(&out, (double)r.last_ms / 1000);
    buf_printf(&out, ",\"samples\":%zu},\"regime\":{\"start\":", r.samples);
    put_num(&out, (double)r.regime_start_ms / 1000);
    buf_printf(&out, ",\"samples\":%zu},\"changes\":%d,\"drops\":%d,\"seasonal_amplitude\":",
               r.regime_samples, r.changes, r.drops);
    put_num(&out, r.seasonal_amplitude);
    buf_puts(&out, "}\n");
    return finish(&out);
}

int analyze_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (!strcmp(sub, "changepoint"))
        return cmd_changepoint(argc - 1, argv + 1);
    if (!strcmp(sub, "anomaly"))
        return cmd_anomaly(argc - 1, argv + 1);
    if (!strcmp(sub, "forecast"))
        return cmd_forecast(argc - 1, argv + 1);
    fprintf(stderr, "saba analyze: unknown analysis \"%s\" (changepoint, anomaly, forecast)\n",
            sub);
    return 2;
}
