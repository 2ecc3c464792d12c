#!/usr/bin/python3
"""bench/promql/bench.py - PromQL query latency and remote_write ingest throughput of
saba, Prometheus and VictoriaMetrics, side by side on the same data (issue 3, point 6).

1. Generates (../build/genrw) 1,000 hosts x 34 series of Prometheus-style data at
   a 15 s interval over 2 h 15 min, ending about 5 minutes before now (so
   Prometheus' head accepts it), as snappy remote_write bodies.
2. Starts each target fresh on a free 127.0.0.1 port with its own data dir under
   /tmp/sababench/promql/run/, replays the bodies with ../build/load over 2
   connections (remote_write headers), records the loader's samples/s and wall
   time and the server's CPU seconds, then waits until the server is CPU-quiet
   before the next target is loaded.  With --ingest-rounds N every target is
   loaded N times (fresh each time, order alternating); the last load stays up.
3. Waits until every target answers with exactly the generated series and sample
   counts per metric name.
4. Runs the five queries as range queries over the last hour at a 60 s step and
   as instant queries at the end of the data: for each query, 1 warm-up + --reps
   timed runs per target, targets interleaved (the order rotates every run), the
   whole pass --passes times.  Latency is the client's wall time of the HTTP
   request (loopback, keep-alive connection, response read in full).  Compares
   series and point counts across targets (and saba's values with Prometheus').
5. Stops every server by its PID, writes a JSON result file and prints Markdown.

Stdlib only.  Usage: ./bench.py --help;  ./bench.py --report RESULT.json reprints
the tables.
"""
import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, BENCH)
import targets as T  # noqa: E402  (the peer benchmark's target definitions)

ROOT = "/tmp/sababench/promql"
LIVE = []

QUERIES = [
    ("rate, all hosts", "rate(node_network_receive_bytes_total[5m])"),
    ("sum by instance", "sum by (instance) (rate(http_requests_total[5m]))"),
    ("topk", "topk(10, rate(http_requests_total[5m]))"),
    ("histogram_quantile", "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("predict_linear 1h", "predict_linear(node_filesystem_avail_bytes[1h], 4 * 3600)"),
]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind((T.ADDR, 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Saba(T.Saba):
    def command(self, datadir):
        return [os.environ["SABA_BIN"], "server", "--data", datadir + "/data",
                "--listen", "%s:%d" % (T.ADDR, self.port), "--graphite-listen", T.ADDR + ":0"]


def make_targets(names):
    out = []
    for n in names:
        t = {"saba": Saba, "prometheus": T.Prometheus, "vm": T.VictoriaMetrics}[n]()
        t.key = n
        t.label = {"saba": "saba", "prometheus": "Prometheus", "vm": "VictoriaMetrics"}[n]
        out.append(t)
    return out


def read_meta(prefix):
    meta = {}
    with open(prefix + ".meta") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            meta[k] = int(v) if v.lstrip("-").isdigit() else v
    meta["prefix"] = prefix
    return meta


def generate(args, start):
    d = os.path.join(ROOT, "data")
    shutil.rmtree(d, ignore_errors=True)  # timestamps follow the clock: a fresh set every run
    os.makedirs(d)
    prefix = os.path.join(d, "rw")
    cmd = [os.path.join(BENCH, "build/genrw"), "-o", prefix, "-H", str(args.hosts), "-T", str(args.points),
           "-i", str(args.interval), "-s", str(start), "-S", str(args.seed), "-b", str(args.batch)]
    log("generating:", " ".join(cmd))
    t = time.time()
    subprocess.run(cmd, check=True, timeout=600)
    log("  %.1fs" % (time.time() - t))
    return read_meta(prefix)


def stop(p, timeout=60):
    """SIGTERM our own child by its PID; SIGKILL if it does not exit in time."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log("  pid %d did not stop in %ds: SIGKILL" % (p.pid, timeout))
            p.kill()
            p.wait(30)
    if p in LIVE:
        LIVE.remove(p)


def start_server(t, tag):
    t.port = free_port()
    datadir = os.path.join(ROOT, "run", "%s-%s" % (t.key, tag))
    shutil.rmtree(datadir, ignore_errors=True)
    os.makedirs(datadir)
    t.prepare_files(datadir)
    logf = open(os.path.join(datadir, "server.log"), "w")
    cmd = t.command(datadir)
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=datadir)
    logf.close()
    LIVE.append(p)
    t0 = time.time()
    while not t.ready():
        if p.poll() is not None or time.time() - t0 > 60:
            stop(p)
            raise RuntimeError("%s did not become ready, see %s/server.log" % (t.key, datadir))
        time.sleep(0.2)
    log("%s: pid %d on port %d (%s)" % (t.key, p.pid, t.port, datadir))
    return p, datadir, " ".join(cmd)


def ingest(t, p, meta, args):
    time.sleep(1)
    lcmd = [os.path.join(BENCH, "build/load"), "-p", str(t.port), "-d", meta["prefix"], "-c", str(args.conns),
            "-t", str(args.load_timeout), "-m", "http", "-u", "/api/v1/write"]
    for h in T.RW_HEADERS:
        lcmd += ["-h", h]
    c0 = T.proc_cpu_s(p.pid)
    r = subprocess.run(lcmd, capture_output=True, text=True, timeout=args.load_timeout + 60)
    c1 = T.proc_cpu_s(p.pid)
    load = json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr[-300:]}
    settle = T.wait_cpu_quiet(p.pid, 120)  # background work (flushes, merges) before the next load
    c2 = T.proc_cpu_s(p.pid)
    res = {"samples_per_s": load.get("samples_per_s"), "wall_s": load.get("wall_s"),
           "samples_ok": load.get("samples_ok"), "failed": load.get("failed"),
           "first_error": load.get("first_error"), "server_cpu_s": round(c1 - c0, 2),
           "settle_s": round(settle, 1), "settle_cpu_s": round(c2 - c1, 2),
           "cpu_s_per_1M": round((c1 - c0) / max(1, load.get("samples_ok", 0)) * 1e6, 3), "rss_after_load": None}
    with open("/proc/%d/status" % p.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                res["rss_after_load"] = int(line.split()[1]) * 1024
    log("  %s load: %s samples/s, %.1fs, server cpu %.1fs, failed %s %s; settled in %.0fs"
        % (t.key, res["samples_per_s"], res["wall_s"] or 0, res["server_cpu_s"], res["failed"],
           (res["first_error"] or "")[:120], settle))
    return res


class Client:
    """One keep-alive HTTP connection to a target's query API."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def get(self, path, params, timeout=120):
        url = path + "?" + urllib.parse.urlencode(params)
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(T.ADDR, self.port, timeout=timeout)
            try:
                t = time.perf_counter()
                self.c.request("GET", url)
                r = self.c.getresponse()
                body = r.read()
                dt = time.perf_counter() - t
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, body, dt
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise


def scalar(cl, q, at):
    st, b, _ = cl.get("/api/v1/query", {"query": q, "time": at})
    try:
        r = json.loads(b)["data"]["result"]
        return int(float(r[0]["value"][1])) if r else 0
    except Exception:
        return None


def verify(t, cl, meta, timeout):
    """Wait until the target answers with the generated series and sample counts per metric."""
    span = meta["end"] - meta["start"] + meta["interval_s"]
    at = meta["end"] + 1
    want = {k[7:]: v for k, v in meta.items() if k.startswith("series_") and k != "series_per_host"}
    t0, got = time.time(), {}
    while True:
        got = {}
        for m, ns in want.items():
            s = scalar(cl, "count(last_over_time(%s[%ds]))" % (m, span), at)
            n = scalar(cl, "sum(count_over_time(%s[%ds]))" % (m, span), at)
            got[m] = (s, n)
        ok = all(got[m] == (ns, ns * meta["points"]) for m, ns in want.items())
        if ok or time.time() - t0 > timeout:
            break
        time.sleep(2)
    bad = {m: got[m] for m in want if got[m] != (want[m], want[m] * meta["points"])}
    log("  %s verify: %s after %.1fs%s" % (t.key, "ok" if ok else "MISMATCH", time.time() - t0,
                                           "" if ok else " " + json.dumps(bad)))
    return {"ok": ok, "seconds": round(time.time() - t0, 1), "mismatch": bad}


def shape(body, kind):
    """(series, points, {labels: values}) of a query answer."""
    d = json.loads(body)["data"]
    res = d["result"]
    vals = {}
    if kind == "range":
        pts = sum(len(x["values"]) for x in res)
        for x in res:
            vals[tuple(sorted(x["metric"].items()))] = {v[0]: v[1] for v in x["values"]}
    else:
        pts = len(res)
        for x in res:
            vals[tuple(sorted(x["metric"].items()))] = {x["value"][0]: x["value"][1]}
    return len(res), pts, vals


def max_rel_diff(a, b):
    """Largest relative difference between two answers with the same series; None if they differ."""
    if set(a) != set(b):
        return None
    worst = 0.0
    for k in a:
        if set(a[k]) != set(b[k]):
            return None
        for ts, v in a[k].items():
            x, y = float(v), float(b[k][ts])
            if math.isnan(x) and math.isnan(y) or x == y:
                continue
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-300))
    return worst


def selected_queries(only):
    """QUERIES whose name or text contains one of the comma-separated words of only
    (case-insensitive); all of them when only is empty."""
    words = [w.strip().lower() for w in only.split(",") if w.strip()]
    return [(n, q) for n, q in QUERIES if not words or any(w in n.lower() or w in q.lower() for w in words)]


def run_queries(tg, clients, meta, args):
    end = meta["qend"]
    results = {}
    for kind in args.kinds.split(","):
        for qname, q in selected_queries(args.only):
            params = {"query": q, "time": end} if kind == "instant" else \
                {"query": q, "start": end - args.range_s, "end": end, "step": "%ds" % args.step}
            path = "/api/v1/query" if kind == "instant" else "/api/v1/query_range"
            lat = {t.key: [] for t in tg}
            shapes = {}
            errors = {}
            n = 0
            for ps in range(args.passes):
                for rep in range(args.reps + 1):
                    order = tg[n % len(tg):] + tg[:n % len(tg)]
                    n += 1
                    for t in order:
                        st, b, dt = clients[t.key].get(path, params)
                        if st != 200:
                            errors[t.key] = b[:300].decode(errors="replace")
                            continue
                        if rep == 0:
                            if ps == 0:
                                shapes[t.key] = shape(b, kind)
                        else:
                            lat[t.key].append(dt)
            r = {"query": q, "kind": kind, "params": {k: v for k, v in params.items() if k != "query"},
                 "targets": {}}
            for t in tg:
                xs = lat[t.key]
                e = {"error": errors[t.key]} if t.key in errors else {}
                if xs:
                    e.update({"median_ms": round(statistics.median(xs) * 1e3, 2), "min_ms": round(min(xs) * 1e3, 2),
                              "max_ms": round(max(xs) * 1e3, 2), "runs": len(xs)})
                if t.key in shapes:
                    e["series"], e["points"] = shapes[t.key][0], shapes[t.key][1]
                r["targets"][t.key] = e
            counts = {k: (v[0], v[1]) for k, v in shapes.items()}
            r["same_shape"] = len(set(counts.values())) == 1 and len(counts) == len(tg)
            if not r["same_shape"]:
                r["warning"] = "series/points differ: " + ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in counts.items())
                log("  WARNING %s %s: %s" % (kind, qname, r["warning"]))
            if "saba" in shapes and "prometheus" in shapes:
                r["saba_vs_prometheus_max_rel_diff"] = max_rel_diff(shapes["saba"][2], shapes["prometheus"][2])
            log("  %s %-18s %s" % (kind, qname, "  ".join("%s %s ms" % (k, v.get("median_ms")) for k, v in r["targets"].items())))
            results.setdefault(kind, []).append(dict(r, name=qname))
    return results


def fmt_ms(x):
    return "—" if x is None else ("%.1f" % x if x >= 10 else "%.2f" % x)


def ratio(a, b):
    return None if a is None or not b else a / b


def fmt_r(x):
    return "—" if x is None else "%.2f×" % x


def report(res):
    out = []
    ds = res["dataset"]
    out.append("Data: %d hosts × %d series = %d series, %d samples each at %d s (%s of data), %d samples in %d "
               "remote_write requests of ≤ %d samples (%.1f MB snappy); loader: %d connections."
               % (ds["hosts"], ds["series_per_host"], ds["series"], ds["points"], ds["interval_s"],
                  "%dh%02dm" % divmod((ds["points"] * ds["interval_s"]) // 60, 60), ds["samples"], ds["batches"],
                  res["args"]["batch"], ds["bytes"] / 1e6, res["args"]["conns"]))
    out.append("")
    ing = res["ingest"]
    keys = [k for k in ("saba", "prometheus", "vm") if k in ing]
    lab = {"saba": "saba", "prometheus": "Prometheus", "vm": "VictoriaMetrics"}
    out.append("| remote_write ingest | " + " | ".join(lab[k] for k in keys) + " | saba / Prometheus | saba / VM |")
    out.append("|---|" + "---:|" * (len(keys) + 2))

    def row(name, f, rf=None):
        vals = {k: [f(r) for r in ing[k]] for k in keys}
        cells = [" / ".join(rf(v) if rf else str(v) for v in vals[k]) for k in keys]
        rat = []
        for o in ("prometheus", "vm"):
            if "saba" in vals and o in vals and len(vals[o]) == len(vals["saba"]):
                rat.append(" / ".join(fmt_r(ratio(a, b)) for a, b in zip(vals["saba"], vals[o])))
            else:
                rat.append("—")
        out.append("| %s | %s | %s |" % (name, " | ".join(cells), " | ".join(rat)))
    row("samples/s (loader wall time)", lambda r: r["samples_per_s"], lambda v: "{:,.0f}k".format(v / 1e3))
    row("loader wall time", lambda r: r["wall_s"], lambda v: "%.1f s" % v)
    row("server CPU-s during load", lambda r: r["server_cpu_s"], lambda v: "%.1f" % v)
    row("server CPU-s per 1M samples", lambda r: r["cpu_s_per_1M"], lambda v: "%.2f" % v)
    row("RSS after load", lambda r: r["rss_after_load"], lambda v: "%.0f MiB" % (v / 1048576))
    out.append("")
    for kind in ("range", "instant"):
        qs = res["queries"].get(kind, [])
        if not qs:
            continue
        p0 = qs[0]["params"]
        if kind == "range":
            head = "range query, last %d s at %s step" % (p0["end"] - p0["start"], p0["step"])
        else:
            head = "instant query at the end of the data"
        out.append("| %s: median ms | saba | Prometheus | VictoriaMetrics | saba / Prom. | saba / VM | "
                   "series, points | goals (≤ 0.7× Prom., ≤ 1× VM) |" % head)
        out.append("|---|---:|---:|---:|---:|---:|---|---|")
        for q in qs:
            m = {k: q["targets"].get(k, {}).get("median_ms") for k in ("saba", "prometheus", "vm")}
            rp, rv = ratio(m["saba"], m["prometheus"]), ratio(m["saba"], m["vm"])
            goal = []
            if rp is not None:
                goal.append("Prom. " + ("met" if rp <= 0.7 else "**missed**"))
            if rv is not None:
                goal.append("VM " + ("met" if rv <= 1.0 else "**missed**"))
            sh = {k: (v.get("series"), v.get("points")) for k, v in q["targets"].items()}
            shs = "%s, %s" % sh.get("saba", (None, None)) if q.get("same_shape") else \
                "; ".join("%s %s, %s" % (k, a, b) for k, (a, b) in sh.items())
            out.append("| `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
                q["query"], fmt_ms(m["saba"]), fmt_ms(m["prometheus"]), fmt_ms(m["vm"]), fmt_r(rp), fmt_r(rv),
                shs, ", ".join(goal)))
        out.append("")
    warn = [(k, q) for k in res["queries"] for q in res["queries"][k] if q.get("warning")]
    for k, q in warn:
        out.append("WARNING %s `%s`: %s" % (k, q["query"], q["warning"]))
    diffs = [(k, q["query"], q.get("saba_vs_prometheus_max_rel_diff")) for k in res["queries"] for q in res["queries"][k]
             if "saba_vs_prometheus_max_rel_diff" in q]
    if diffs:
        out.append("saba vs Prometheus, largest relative value difference per query: " + "; ".join(
            "%s `%s` %s" % (k, qq, "labels/timestamps differ" if d is None else "%.1e" % d) for k, qq, d in diffs))
    if res.get("verify"):
        out.append("Verification (series and samples per metric name equal to what was sent): " + ", ".join(
            "%s %s" % (k, "ok" if v["ok"] else "MISMATCH") for k, v in res["verify"].items()))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="saba,prometheus,vm", help="comma list of saba, prometheus, vm")
    ap.add_argument("--saba", default=os.environ.get("SABA_BIN", os.path.join(os.path.dirname(BENCH), "saba")))
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--points", type=int, default=540, help="samples per series (540 x 15 s = 2 h 15 min)")
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=2000, help="samples per remote_write request")
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--ingest-rounds", type=int, default=1)
    ap.add_argument("--reps", type=int, default=7, help="timed runs per query, target and pass (after 1 warm-up)")
    ap.add_argument("--passes", type=int, default=2, help="passes over all queries")
    ap.add_argument("--only", default="", help="comma list of words: run only the queries whose name or "
                    "text contains one of them, e.g. --only predict_linear,histogram")
    ap.add_argument("--kinds", default="range,instant", help="comma list of range, instant")
    ap.add_argument("--range-s", type=int, default=3600)
    ap.add_argument("--step", type=int, default=60)
    ap.add_argument("--load-timeout", type=int, default=300)
    ap.add_argument("--out", default="", help="result JSON (default /tmp/sababench/promql/results/<stamp>.json)")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data dirs")
    ap.add_argument("--report", default="", help="only print the tables of an earlier result JSON")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            print(report(json.load(f)))
        return
    if not selected_queries(args.only):
        ap.error("--only %r matches no query" % args.only)
    if not args.kinds or any(k not in ("range", "instant") for k in args.kinds.split(",")):
        ap.error("--kinds takes range, instant or range,instant")
    names = [n for n in args.targets.split(",") if n]
    for n in names:
        if n not in ("saba", "prometheus", "vm"):
            ap.error("unknown target " + n)
    os.environ["SABA_BIN"] = os.path.abspath(args.saba)
    tg = make_targets(names)

    def on_signal(sig, frm):
        for p in list(LIVE):
            stop(p, 20)
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # The data ends ~5 min before now, on a whole minute (the queries' end), so that
    # Prometheus' head takes it and VictoriaMetrics' 30 s search latency offset is past.
    qend = (int(time.time()) - 300) // 60 * 60
    start = qend - (args.points - 1) * args.interval
    meta = generate(args, start)
    meta["qend"] = qend
    res = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "args": vars(args),
           "nproc": os.cpu_count(), "loadavg_before": os.getloadavg(),
           "versions": {t.key: t.version() for t in tg},
           "dataset": {k: meta[k] for k in ("hosts", "series_per_host", "series", "points", "interval_s", "start",
                                            "end", "samples", "batches", "bytes")},
           "ingest": {t.key: [] for t in tg}, "commands": {}}
    res["dataset"]["qend"] = qend
    procs = {}
    try:
        for rnd in range(args.ingest_rounds):
            last = rnd == args.ingest_rounds - 1
            for t in (tg if rnd % 2 == 0 else tg[::-1]):
                p, datadir, cmd = start_server(t, "r%d" % rnd)
                res["commands"][t.key] = cmd
                r = ingest(t, p, meta, args)
                r["loadavg"] = os.getloadavg()
                res["ingest"][t.key].append(r)
                if last:
                    procs[t.key] = (p, datadir)
                else:
                    stop(p)
                    if not args.keep:
                        shutil.rmtree(datadir, ignore_errors=True)
        clients = {t.key: Client(t.port) for t in tg}
        res["verify"] = {t.key: verify(t, clients[t.key], meta, 180) for t in tg}
        res["queries"] = run_queries(tg, clients, meta, args)
        res["cpu_total_s"] = {k: T.proc_cpu_s(p.pid) for k, (p, _) in procs.items()}
    finally:
        for k, (p, datadir) in procs.items():
            stop(p)
            if not args.keep:
                shutil.rmtree(datadir, ignore_errors=True)
        for p in list(LIVE):
            stop(p)
    res["loadavg_after"] = os.getloadavg()
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    out = args.out or os.path.join(ROOT, "results", time.strftime("%Y%m%d-%H%M%S") + ".json")
    # paths inside the checkout are written relative to it (no machine-specific paths)
    text = json.dumps(res, indent=1).replace(os.path.dirname(BENCH) + "/", "")
    with open(out, "w") as f:
        f.write(text)
    log("results ->", out)
    print(report(res))


if __name__ == "__main__":
    main()
