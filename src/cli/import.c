/*
 * import.c - `saba import`: backfill historical samples from files.
 *
 * With --data DIR (the server stopped: the directory's lock says so) the
 * samples go into the engine's head without the WAL and are written out as
 * blocks every few million samples and at the end, so an import of a year
 * costs block writes, not WAL replays. With --server URL they are streamed
 * to a running server's write endpoints in bounded requests. Input formats:
 * InfluxDB line protocol, Prometheus text exposition, CSV (see src/ingest/).
 * Files are read in slices that end at a line break, so memory stays bounded
 * whatever the file size; errors name the file and line.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/num.h"
#include "base/timeutil.h"
#include "cli/cli.h"
#include "ingest/csv.h"
#include "ingest/influx.h"
#include "ingest/exposition.h"
#include "storage/batch.h"
#include "storage/tsdb/tsdb.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLICE_BYTES   (4 << 20)  /* per parse and per HTTP request */
#define FLUSH_SAMPLES (5000000u) /* head samples written out as a block */

enum fmt { FMT_NONE, FMT_INFLUX, FMT_PROM, FMT_CSV };

struct importer {
    const char *data_dir, *server;
    enum fmt format;
    enum influx_precision prec;
    const char *prec_name;
    struct storage *st;
    CURL *curl;
    uint64_t total_bytes, done_bytes, samples, since_flush;
    int64_t t0, last_draw;
    bool tty;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: saba import (--data DIR | --server URL) [--format influx|prom|csv]\n"
            "                   [--precision ns|us|ms|s] FILE...\n"
            "\n"
            "  --data DIR       write blocks into a data directory (the server must be stopped)\n"
            "  --server URL     send to a running server, e.g. http://127.0.0.1:9650\n"
            "  --format F       influx (line protocol), prom (Prometheus text exposition)\n"
            "                   or csv; default from the file name (.lp .influx, .prom .txt,\n"
            "                   .csv)\n"
            "  --precision P    line protocol timestamps (default ns)\n");
}

static enum fmt format_of(const char *name)
{
    if (!strcmp(name, "influx") || !strcmp(name, "lp"))
        return FMT_INFLUX;
    if (!strcmp(name, "prom") || !strcmp(name, "prometheus"))
        return FMT_PROM;
    if (!strcmp(name, "csv"))
        return FMT_CSV;
    return FMT_NONE;
}

static enum fmt format_of_file(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return FMT_NONE;
    if (!strcmp(dot, ".lp") || !strcmp(dot, ".influx") || !strcmp(dot, ".line"))
        return FMT_INFLUX;
    if (!strcmp(dot, ".prom") || !strcmp(dot, ".txt") || !strcmp(dot, ".om"))
        return FMT_PROM;
    if (!strcmp(dot, ".csv"))
        return FMT_CSV;
    return FMT_NONE;
}

/* ---- progress ---- */

static void human_bytes(char *out, size_t n, double b)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(out, n, "%.1f %s", b, u[i]);
}

static void draw(struct importer *im, bool final)
{
    int64_t now = mono_ns();
    if (!im->tty || (!final && now - im->last_draw < 200000000))
        return;
    im->last_draw = now;
    double secs = (double)(now - im->t0) / 1e9;
    double frac = im->total_bytes ? (double)im->done_bytes / (double)im->total_bytes : 1;
    double rate = secs > 0 ? (double)im->done_bytes / secs : 0;
    double srate = secs > 0 ? (double)im->samples / secs : 0;
    double eta = rate > 0 ? (double)(im->total_bytes - im->done_bytes) / rate : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = '\0';
    char r[32];
    human_bytes(r, sizeof r, rate);
    fprintf(stderr, "\r[%s] %3.0f%%  %s/s  %.0f samples/s  ETA %d:%02d  ", bar, frac * 100, r,
            srate, (int)eta / 60, (int)eta % 60);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ---- sinks ---- */

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    buf_append(ctx, p, size * n);
    return size * n;
}

static int post(struct importer *im, const char *path, const char *type, const char *body, size_t n,
                struct saba_err *err)
{
    struct buf url = BUF_INIT, resp = BUF_INIT;
    buf_printf(&url, "%s%s", im->server, path);
    struct curl_slist *h = curl_slist_append(NULL, type);
    curl_easy_setopt(im->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(im->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(im->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(im->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(im->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(im->curl, CURLOPT_WRITEDATA, &resp);
    CURLcode cc = curl_easy_perform(im->curl);
    long status = 0;
    curl_easy_getinfo(im->curl, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    if (cc != CURLE_OK)
        rc = err_set(err, SABA_EIO, 0, "%s: %s", url.data, curl_easy_strerror(cc));
    else if (status < 200 || status > 299)
        rc = err_set(err, status == 400 ? SABA_EINVAL : SABA_EIO, 0, "server answered %ld: %.300s",
                     status, resp.data ? resp.data : "");
    curl_slist_free_all(h);
    buf_free(&url);
    buf_free(&resp);
    return rc;
}

/* A batch as saba JSON (POST /api/v0/metrics). */
static void batch_json(const struct batch *b, struct buf *out)
{
    buf_putc(out, '[');
    for (size_t i = 0; i < b->nsamples; i++) {
        const struct batch_sample *s = &b->samples[i];
        buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        const struct batch_label *ls = &b->labels[s->label_off];
        for (uint16_t k = 0; k < s->nlabels; k++)
            if (ls[k].name_len == strlen(LABEL_NAME) &&
                !memcmp(batch_str(b, ls[k].name_off), LABEL_NAME, ls[k].name_len))
                buf_put_json_str(out, batch_str(b, ls[k].value_off), ls[k].value_len);
        buf_puts(out, ",\"labels\":{");
        bool first = true;
        for (uint16_t k = 0; k < s->nlabels; k++) {
            if (ls[k].name_len == strlen(LABEL_NAME) &&
                !memcmp(batch_str(b, ls[k].name_off), LABEL_NAME, ls[k].name_len))
                continue;
            if (!first)
                buf_putc(out, ',');
            first = false;
            buf_put_json_str(out, batch_str(b, ls[k].name_off), ls[k].name_len);
            buf_putc(out, ':');
            buf_put_json_str(out, batch_str(b, ls[k].value_off), ls[k].value_len);
        }
        buf_puts(out, "},\"time\":");
        num_put_ts(out, s->t);
        buf_puts(out, ",\"value\":");
        if (isnan(s->v))
            buf_puts(out, "\"NaN\"");
        else if (isinf(s->v))
            buf_puts(out, s->v > 0 ? "\"+Inf\"" : "\"-Inf\"");
        else
            num_put_float(out, s->v);
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
}

static int sink(struct importer *im, const struct batch *b, const char *raw, size_t rawn,
                struct saba_err *err)
{
    if (!b->nsamples)
        return 0;
    int rc;
    if (im->st) {
        rc = tsdb_append_unlogged(im->st, b, err);
        im->since_flush += b->nsamples;
        if (rc == 0 && im->since_flush >= FLUSH_SAMPLES) {
            rc = tsdb_maintain(im->st, true, err);
            im->since_flush = 0;
        }
    } else if (im->format == FMT_INFLUX) {
        struct buf path = BUF_INIT;
        buf_printf(&path, "/write?precision=%s", im->prec_name);
        rc = post(im, path.data, "Content-Type: text/plain", raw, rawn, err);
        buf_free(&path);
    } else {
        struct buf j = BUF_INIT;
        batch_json(b, &j);
        rc = post(im, "/api/v0/metrics", "Content-Type: application/json", j.data, j.len, err);
        buf_free(&j);
    }
    if (rc == 0)
        im->samples += b->nsamples;
    return rc;
}

/* ---- files ---- */

static int import_file(struct importer *im, const char *path, const char *data, size_t n)
{
    enum fmt f = im->format ? im->format : format_of_file(path);
    if (!f) {
        fprintf(stderr, "saba import: %s: unknown format (use --format influx|prom|csv)\n", path);
        return 2;
    }
    enum fmt saved = im->format;
    im->format = f;
    struct csv_header hdr = {0};
    struct saba_err err = {0};
    size_t off = 0;
    long line0 = 0; /* lines before the current slice */
    int rc = 0;
    if (f == FMT_CSV) {
        const char *nl = memchr(data, '\n', n);
        size_t hl = nl ? (size_t)(nl - data) : n;
        rc = csv_header_parse(data, hl, &hdr, &err);
        off = nl ? hl + 1 : n;
        line0 = 1;
    }
    struct batch b;
    batch_init(&b, &batch_limits_default);
    while (rc == 0 && off < n) {
        size_t len = n - off > SLICE_BYTES ? SLICE_BYTES : n - off;
        if (off + len < n) {
            /* end the slice at a line break */
            const char *p = data + off;
            size_t k = len;
            while (k > 0 && p[k - 1] != '\n')
                k--;
            if (k == 0) {
                const char *nl = memchr(p + len, '\n', n - off - len);
                k = nl ? (size_t)(nl - p) + 1 : n - off;
            }
            len = k;
        }
        batch_reset(&b);
        b.now_ms = now_ms();
        const char *p = data + off;
        struct influx_stats ist = {0};
        struct expo_stats est = {0};
        if (f == FMT_INFLUX)
            rc = influx_parse(p, len, im->prec, b.now_ms, &b, &ist, &err);
        else if (f == FMT_PROM)
            rc = expo_parse_batch(p, len, EXPO_TEXT, b.now_ms, &b, &est, &err);
        else
            rc = csv_parse(&hdr, p, len, &b, &err);
        if (rc) {
            err.line += line0;
            break;
        }
        rc = sink(im, &b, p, len, &err);
        if (rc) {
            err.line = 0;
            break;
        }
        for (size_t i = 0; i < len; i++)
            line0 += p[i] == '\n';
        off += len;
        im->done_bytes += len;
        draw(im, false);
    }
    batch_free(&b);
    csv_header_free(&hdr);
    im->format = saved;
    if (rc) {
        if (im->tty)
            fputc('\n', stderr);
        if (err.line)
            fprintf(stderr, "saba import: %s:%ld: %s\n", path, err.line, err.msg);
        else
            fprintf(stderr, "saba import: %s: %s\n", path, err.msg);
        return 1;
    }
    return 0;
}

int import_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},   {"server", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"precision", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct importer im = {.prec = INFLUX_NS, .prec_name = "ns"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:f:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            im.data_dir = optarg;
            break;
        case 's':
            im.server = optarg;
            break;
        case 'f':
            im.format = format_of(optarg);
            if (!im.format) {
                fprintf(stderr, "saba import: unknown format \"%s\" (influx, prom or csv)\n",
                        optarg);
                return 2;
            }
            break;
        case 'p':
            if (influx_precision_parse(optarg, &im.prec) != 0) {
                fprintf(stderr, "saba import: unknown precision \"%s\" (ns, us, ms, s)\n", optarg);
                return 2;
            }
            im.prec_name = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!im.data_dir == !im.server || optind >= argc) {
        usage(stderr);
        return 2;
    }
    int nfiles = argc - optind;
    struct {
        const char *path;
        char *data;
        size_t n;
    } *files = xcalloc((size_t)nfiles, sizeof *files);
    int status = 0;
    for (int i = 0; i < nfiles && !status; i++) {
        files[i].path = argv[optind + i];
        int fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fprintf(stderr, "saba import: %s: %s\n", files[i].path, strerror(errno));
            status = 1;
        } else if (st.st_size > 0) {
            files[i].n = (size_t)st.st_size;
            files[i].data = mmap(NULL, files[i].n, PROT_READ, MAP_PRIVATE, fd, 0);
            if (files[i].data == MAP_FAILED) {
                fprintf(stderr, "saba import: %s: %s\n", files[i].path, strerror(errno));
                files[i].data = NULL;
                status = 1;
            }
            im.total_bytes += files[i].n;
        }
        if (fd >= 0)
            close(fd);
    }
    struct saba_err err = {0};
    if (!status && im.data_dir) {
        log_set_level(LOG_LVL_WARN);
        struct tsdb_options o = {.dir = im.data_dir, .no_maintenance = true};
        if (tsdb_open(&o, &im.st, &err) != 0) {
            fprintf(stderr, "saba import: %s\n", err.msg);
            status = 1;
        }
    }
    if (!status && im.server) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        im.curl = curl_easy_init();
    }
    im.tty = isatty(STDERR_FILENO);
    im.t0 = mono_ns();
    for (int i = 0; i < nfiles && !status; i++)
        if (files[i].data)
            status = import_file(&im, files[i].path, files[i].data, files[i].n);
    if (!status && im.st && tsdb_maintain(im.st, true, &err) != 0) {
        fprintf(stderr, "saba import: writing blocks: %s\n", err.msg);
        status = 1;
    }
    draw(&im, true);
    double secs = (double)(mono_ns() - im.t0) / 1e9;
    if (!status)
        printf("imported %llu samples from %d file%s (%.1f MB) in %.2f s (%.0f samples/s)%s%s\n",
               (unsigned long long)im.samples, nfiles, nfiles == 1 ? "" : "s",
               (double)im.total_bytes / 1e6, secs, secs > 0 ? (double)im.samples / secs : 0,
               im.data_dir ? " into " : " to ", im.data_dir ? im.data_dir : im.server);
    storage_close(im.st);
    if (im.curl) {
        curl_easy_cleanup(im.curl);
        curl_global_cleanup();
    }
    for (int i = 0; i < nfiles; i++)
        if (files[i].data)
            munmap(files[i].data, files[i].n);
    free(files);
    return status;
}
