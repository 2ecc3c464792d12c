/* genrw.c - deterministic Prometheus-style data for the PromQL query benchmark
 * (bench/promql/README in ../README.md), as remote_write request bodies.
 *
 * H hosts x 34 series, one sample per series every I seconds, T samples, seed S:
 *   http_requests_total{instance,job="api",method,status}      6 counters
 *   http_request_duration_seconds_bucket{instance,job="api",le} 12 buckets (+Inf incl.)
 *   http_request_duration_seconds_sum / _count{instance,job="api"}
 *   node_network_receive_bytes_total{instance,job="node",device}   3 counters
 *   node_network_transmit_bytes_total{instance,job="node",device}  3 counters
 *   node_filesystem_avail_bytes{instance,job="node",mountpoint,fstype}  4 gauges, slow trends
 *   node_filesystem_size_bytes{instance,job="node",mountpoint,fstype}   4 constants
 * Counters restart (drop to 0) with a small probability per host and tick; the
 * histogram's _count is the sum of the host's http_requests_total increments and
 * its buckets follow a log-normal latency whose median drifts.  Values depend
 * only on (seed, host, tick).
 *
 * Output, as gen.c writes it (so load.c replays it): <out>.bin (concatenated
 * request bodies: WriteRequest protobuf, snappy block compressed), <out>.idx
 * (one line per request: offset length samples group), <out>.meta (key=value,
 * with series_<metric>=N per metric name).  Requests are time-major: for each
 * tick, the hosts are cut into groups of ceil(batch/34) hosts and one request
 * carries one group's samples at that tick, so a loader that sends each group's
 * requests in order over one connection keeps every series in time order.
 * Labels are sorted by name in every TimeSeries, as Prometheus' sender does.
 *
 * Build: cc -O2 -o genrw genrw.c -lsnappy -lm
 * Usage: genrw -o OUTPREFIX [-H 1000] [-T 540] [-i 15] [-s START_UNIX] [-S 42] [-b 2000]
 */
#include <math.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- series table ---------- */
enum kind { K_REQ, K_BUCKET, K_HSUM, K_HCOUNT, K_RX, K_TX, K_AVAIL, K_SIZE };

typedef struct {
    const char *name;
    int kind, idx;           /* idx: method/status pair, bucket, device or mountpoint */
    const char *k[3], *v[3]; /* extra labels besides __name__, instance, job */
    const char *job;
} series_t;

static const char *METHOD[6] = {"GET", "GET", "GET", "POST", "POST", "POST"};
static const char *STATUS[6] = {"200", "404", "500", "200", "404", "500"};
static const double SHARE[6] = {0.70, 0.05, 0.005, 0.22, 0.02, 0.005};
#define NB 12
static const double LE[NB] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, INFINITY};
static const char *LES[NB] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                              "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
static const char *DEV[3] = {"eth0", "eth1", "lo"};
static const double DEVRATE[3] = {1.0, 0.1, 0.02};
static const char *MOUNT[4] = {"/", "/var", "/home", "/data"};
static const double FSGIB[4] = {50, 100, 200, 1000};

#define NSMAX 64
static series_t SER[NSMAX];
static int NS;

static void add(const char *name, int kind, int idx, const char *job, const char *k0,
                const char *v0, const char *k1, const char *v1)
{
    series_t *s = &SER[NS++];
    s->name = name;
    s->kind = kind;
    s->idx = idx;
    s->job = job;
    s->k[0] = k0;
    s->v[0] = v0;
    s->k[1] = k1;
    s->v[1] = v1;
}

static void build_series(void)
{
    for (int i = 0; i < 6; i++)
        add("http_requests_total", K_REQ, i, "api", "method", METHOD[i], "status", STATUS[i]);
    for (int i = 0; i < NB; i++)
        add("http_request_duration_seconds_bucket", K_BUCKET, i, "api", "le", LES[i], 0, 0);
    add("http_request_duration_seconds_sum", K_HSUM, 0, "api", 0, 0, 0, 0);
    add("http_request_duration_seconds_count", K_HCOUNT, 0, "api", 0, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        add("node_network_receive_bytes_total", K_RX, i, "node", "device", DEV[i], 0, 0);
    for (int i = 0; i < 3; i++)
        add("node_network_transmit_bytes_total", K_TX, i, "node", "device", DEV[i], 0, 0);
    for (int i = 0; i < 4; i++)
        add("node_filesystem_avail_bytes", K_AVAIL, i, "node", "fstype", "ext4", "mountpoint",
            MOUNT[i]);
    for (int i = 0; i < 4; i++)
        add("node_filesystem_size_bytes", K_SIZE, i, "node", "fstype", "ext4", "mountpoint",
            MOUNT[i]);
}

/* ---------- rng: splitmix64, one stream per host ---------- */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline double runi(uint64_t *s)
{
    return (mix(*s += 0x9e3779b97f4a7c15ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double rnorm(uint64_t *s)
{ /* sum of 4 uniforms, sd 1 */
    return (runi(s) + runi(s) + runi(s) + runi(s) - 2.0) * 1.7320508;
}
static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* ---------- host state ---------- */
typedef struct {
    uint64_t rng;
    double reqrate, phase; /* requests/s, phase of the slow load wave */
    double mu, sigma;      /* log-normal latency: ln(median), shape */
    double req[6], bucket[NB], hsum, hcount;
    double netrate[3], rx[3], tx[3];
    double fsize[4], avail[4], fill[4]; /* bytes, bytes, bytes/s consumed */
    double v[NSMAX];                    /* values to emit at this tick */
} host_t;

static void host_init(host_t *h, uint64_t seed, int hi)
{
    memset(h, 0, sizeof *h);
    h->rng = mix(seed ^ mix((uint64_t)hi + 1));
    uint64_t *r = &h->rng;
    double u = runi(r);
    h->reqrate = 5 + 195 * u * u;
    h->phase = 6.2831853 * runi(r);
    h->mu = log(0.02 + 0.15 * runi(r));
    h->sigma = 0.5 + 0.5 * runi(r);
    double age = 1e5 + 1e6 * runi(r); /* seconds since the process started */
    for (int i = 0; i < 6; i++)
        h->req[i] = floor(h->reqrate * SHARE[i] * age);
    h->hcount = h->req[0] + h->req[1] + h->req[2] + h->req[3] + h->req[4] + h->req[5];
    for (int b = 0; b < NB; b++) {
        double z = (log(LE[b]) - h->mu) / h->sigma;
        h->bucket[b] = isinf(LE[b]) ? h->hcount : floor(h->hcount * 0.5 * erfc(-z / sqrt(2)));
    }
    h->hsum = round(h->hcount * exp(h->mu + h->sigma * h->sigma / 2) * 1000) / 1000;
    for (int d = 0; d < 3; d++) {
        h->netrate[d] = 1e6 * DEVRATE[d] * (0.2 + 5 * runi(r));
        h->rx[d] = floor(h->netrate[d] * age);
        h->tx[d] = floor(h->netrate[d] * 0.6 * age);
    }
    for (int f = 0; f < 4; f++) {
        h->fsize[f] = FSGIB[f] * 1073741824.0;
        h->avail[f] = floor(h->fsize[f] * (0.1 + 0.8 * runi(r)) / 4096) * 4096;
        /* up to 0.5 % of the filesystem per hour; a quarter of them are flat */
        h->fill[f] = runi(r) < 0.25 ? 0 : h->fsize[f] * 0.005 / 3600 * runi(r);
    }
}

/* advance by one tick of I seconds (t = tick number); fills h->v[] */
static void host_tick(host_t *h, long t, int I)
{
    uint64_t *r = &h->rng;
    if (t > 0 && runi(r) < 1.0 / 20000) { /* the service restarts: its counters reset */
        memset(h->req, 0, sizeof h->req);
        memset(h->bucket, 0, sizeof h->bucket);
        h->hsum = h->hcount = 0;
    }
    double load = 1 + 0.3 * sin(h->phase + t * I * 6.2831853 / 7200);
    double n = 0;
    for (int i = 0; i < 6; i++) {
        double inc = floor(clamp(h->reqrate * SHARE[i] * load * I * (1 + 0.2 * rnorm(r)), 0, 1e12));
        h->req[i] += inc;
        n += inc;
    }
    h->mu = clamp(h->mu + 0.02 * rnorm(r), log(0.005), log(2));
    for (int b = 0; b < NB; b++) {
        double z = (log(LE[b]) - h->mu) / h->sigma;
        h->bucket[b] += isinf(LE[b]) ? n : floor(n * 0.5 * erfc(-z / sqrt(2)));
    }
    h->hcount += n;
    h->hsum += round(n * exp(h->mu + h->sigma * h->sigma / 2) * 1000) / 1000;
    for (int d = 0; d < 3; d++) {
        h->rx[d] += floor(clamp(h->netrate[d] * load * I * (1 + 0.3 * rnorm(r)), 0, 1e15));
        h->tx[d] += floor(clamp(h->netrate[d] * 0.6 * load * I * (1 + 0.3 * rnorm(r)), 0, 1e15));
    }
    for (int f = 0; f < 4; f++) {
        double a = h->avail[f] - h->fill[f] * I * (1 + 0.5 * rnorm(r));
        if (f == 1 && runi(r) < 0.001) /* log rotation on /var */
            a += h->fsize[f] * 0.05;
        h->avail[f] = floor(clamp(a, 0, h->fsize[f]) / 4096) * 4096;
    }
    for (int i = 0; i < NS; i++) {
        const series_t *s = &SER[i];
        switch (s->kind) {
        case K_REQ:
            h->v[i] = h->req[s->idx];
            break;
        case K_BUCKET:
            h->v[i] = h->bucket[s->idx];
            break;
        case K_HSUM:
            h->v[i] = h->hsum;
            break;
        case K_HCOUNT:
            h->v[i] = h->hcount;
            break;
        case K_RX:
            h->v[i] = h->rx[s->idx];
            break;
        case K_TX:
            h->v[i] = h->tx[s->idx];
            break;
        case K_AVAIL:
            h->v[i] = h->avail[s->idx];
            break;
        case K_SIZE:
            h->v[i] = h->fsize[s->idx];
            break;
        }
    }
}

/* ---------- protobuf ---------- */
typedef struct {
    char *p;
    size_t n, cap;
} buf_t;
static void bgrow(buf_t *b, size_t add)
{
    if (b->n + add <= b->cap)
        return;
    while (b->n + add > b->cap)
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
    b->p = realloc(b->p, b->cap);
    if (!b->p) {
        perror("realloc");
        exit(1);
    }
}
static void bput(buf_t *b, const void *s, size_t n)
{
    bgrow(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void bvar(buf_t *b, uint64_t x)
{
    bgrow(b, 10);
    while (x >= 0x80) {
        b->p[b->n++] = (char)(x | 0x80);
        x >>= 7;
    }
    b->p[b->n++] = (char)x;
}
static int varlen(uint64_t x)
{
    int n = 1;
    while (x >= 0x80) {
        x >>= 7;
        n++;
    }
    return n;
}

/* labels of one series, sorted by name; the instance value is per host */
typedef struct {
    int n;
    const char *k[6], *v[6]; /* v == NULL: the instance */
} lab_t;
static lab_t LAB[NSMAX];

static void build_labels(void)
{
    for (int i = 0; i < NS; i++) {
        lab_t *L = &LAB[i];
        const series_t *s = &SER[i];
        L->k[L->n] = "__name__";
        L->v[L->n++] = s->name;
        L->k[L->n] = "instance";
        L->v[L->n++] = NULL;
        L->k[L->n] = "job";
        L->v[L->n++] = s->job;
        for (int j = 0; j < 2; j++)
            if (s->k[j]) {
                L->k[L->n] = s->k[j];
                L->v[L->n++] = s->v[j];
            }
        for (int a = 1; a < L->n; a++) /* insertion sort by name */
            for (int b = a; b > 0 && strcmp(L->k[b - 1], L->k[b]) > 0; b--) {
                const char *tk = L->k[b], *tv = L->v[b];
                L->k[b] = L->k[b - 1];
                L->v[b] = L->v[b - 1];
                L->k[b - 1] = tk;
                L->v[b - 1] = tv;
            }
    }
}

static size_t label_len(const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    return 1 + varlen(kl) + kl + 1 + varlen(vl) + vl;
}

static void emit_series(buf_t *b, int i, const char *inst, double v, int64_t tms)
{
    const lab_t *L = &LAB[i];
    size_t ts = 0, ll[6];
    for (int j = 0; j < L->n; j++) {
        ll[j] = label_len(L->k[j], L->v[j] ? L->v[j] : inst);
        ts += 1 + varlen(ll[j]) + ll[j];
    }
    size_t smp = 1 + 8 + 1 + varlen((uint64_t)tms);
    ts += 1 + varlen(smp) + smp;
    bvar(b, 1 << 3 | 2); /* WriteRequest.timeseries */
    bvar(b, ts);
    for (int j = 0; j < L->n; j++) {
        const char *val = L->v[j] ? L->v[j] : inst;
        size_t kl = strlen(L->k[j]), vl = strlen(val);
        bvar(b, 1 << 3 | 2); /* TimeSeries.labels */
        bvar(b, ll[j]);
        bvar(b, 1 << 3 | 2);
        bvar(b, kl);
        bput(b, L->k[j], kl);
        bvar(b, 2 << 3 | 2);
        bvar(b, vl);
        bput(b, val, vl);
    }
    bvar(b, 2 << 3 | 2); /* TimeSeries.samples */
    bvar(b, smp);
    bvar(b, 1 << 3 | 1); /* value, little-endian host assumed */
    bput(b, &v, 8);
    bvar(b, 2 << 3 | 0); /* timestamp ms */
    bvar(b, (uint64_t)tms);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: genrw -o OUTPREFIX [-H hosts=1000] [-T points=540] [-i interval_s=15]\n"
            "             [-s start_unix=1700000000] [-S seed=42] [-b batch_samples=2000]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int H = 1000, T = 540, I = 15, B = 2000;
    long start = 1700000000;
    uint64_t seed = 42;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *o = argv[i], *a = argv[++i];
        if (!strcmp(o, "-H"))
            H = atoi(a);
        else if (!strcmp(o, "-T"))
            T = atoi(a);
        else if (!strcmp(o, "-i"))
            I = atoi(a);
        else if (!strcmp(o, "-s"))
            start = atol(a);
        else if (!strcmp(o, "-S"))
            seed = strtoull(a, 0, 10);
        else if (!strcmp(o, "-b"))
            B = atoi(a);
        else if (!strcmp(o, "-o"))
            out = a;
        else
            usage();
    }
    if (!out || H < 1 || T < 1 || I < 1 || B < 1)
        usage();
    build_series();
    build_labels();
    int hpb = (B + NS - 1) / NS;
    if (hpb > H)
        hpb = H;
    int G = (H + hpb - 1) / hpb;

    char path[4096];
    snprintf(path, sizeof path, "%s.bin", out);
    FILE *fb = fopen(path, "wb");
    snprintf(path, sizeof path, "%s.idx", out);
    FILE *fi = fopen(path, "w");
    if (!fb || !fi) {
        perror("open output");
        return 1;
    }
    host_t *hs = malloc(sizeof(host_t) * (size_t)H);
    char(*inst)[24] = malloc(24 * (size_t)H);
    if (!hs || !inst) {
        perror("malloc");
        return 1;
    }
    for (int h = 0; h < H; h++) {
        host_init(&hs[h], seed, h);
        snprintf(inst[h], 24, "host-%05d", h);
    }

    buf_t b = {0}, z = {0};
    uint64_t off = 0, total = 0, nb = 0;
    for (int t = 0; t < T; t++) {
        int64_t tms = ((int64_t)start + (int64_t)t * I) * 1000;
        for (int g = 0; g < G; g++) {
            b.n = 0;
            int h0 = g * hpb, h1 = h0 + hpb < H ? h0 + hpb : H;
            uint64_t ns = 0;
            for (int h = h0; h < h1; h++) {
                host_tick(&hs[h], t, I);
                for (int i = 0; i < NS; i++, ns++)
                    emit_series(&b, i, inst[h], hs[h].v[i], tms);
            }
            size_t cl = snappy_max_compressed_length(b.n);
            if (z.cap < cl) {
                z.cap = cl;
                z.p = realloc(z.p, cl);
                if (!z.p) {
                    perror("realloc");
                    return 1;
                }
            }
            if (snappy_compress(b.p, b.n, z.p, &cl) != SNAPPY_OK) {
                fprintf(stderr, "snappy failed\n");
                return 1;
            }
            if (fwrite(z.p, 1, cl, fb) != cl) {
                perror("write");
                return 1;
            }
            fprintf(fi, "%llu %zu %llu %d\n", (unsigned long long)off, cl, (unsigned long long)ns,
                    g);
            off += cl;
            total += ns;
            nb++;
        }
    }
    if (fclose(fb) || fclose(fi)) {
        perror("close");
        return 1;
    }
    snprintf(path, sizeof path, "%s.meta", out);
    FILE *fm = fopen(path, "w");
    if (!fm) {
        perror(path);
        return 1;
    }
    fprintf(fm,
            "format=rw\nhosts=%d\nseries_per_host=%d\nseries=%lld\npoints=%d\ninterval_s=%d\n"
            "start=%ld\nend=%ld\nseed=%llu\nbatch_hosts=%d\ngroups=%d\nbatches=%llu\n"
            "samples=%llu\nbytes=%llu\n",
            H, NS, (long long)H * NS, T, I, start, start + (long)(T - 1) * I,
            (unsigned long long)seed, hpb, G, (unsigned long long)nb, (unsigned long long)total,
            (unsigned long long)off);
    for (int i = 0; i < NS; i++) /* series per metric name, in table order */
        if (i == 0 || strcmp(SER[i].name, SER[i - 1].name)) {
            int n = 0;
            for (int j = i; j < NS && !strcmp(SER[j].name, SER[i].name); j++)
                n++;
            fprintf(fm, "series_%s=%lld\n", SER[i].name, (long long)n * H);
        }
    fclose(fm);
    return 0;
}
