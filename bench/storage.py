#!/usr/bin/python3
"""storage.py - the long-haul storage benchmark of issue 4, saba beside
VictoriaMetrics on the same generated data (bench/gen.c):

  year     1,000 series of one metric (yr_used{host="host-0000".."host-0999"},
           random walks with two decimals) every 15 min for 365 days (35M
           samples, generated here in gen.c's request format): both servers
           ingest it over line protocol and flush; then two 1-year range
           queries at 1 h steps over all 1,000 series, median of 7 after a
           warm-up, VictoriaMetrics with its caches off. (gen.c's 100 metrics
           per host would collide once *_over_time drops the names.)
  restart  1M series (10,000 hosts x 100) x 100 samples at 1 min = 100M
           samples: saba ingests them, is stopped (SIGTERM) and started again;
           time from exec to /-/ready answering 200, with everything in the
           head (checkpoint + WAL) and again after the head was flushed to
           blocks.

Servers listen on 127.0.0.1 high ports, run from /tmp/sababench/storage/ and
are stopped by their PID. Nothing here runs in make test. Results: JSON on
stdout (RESULTS.md cites them).

  SABA_BIN=$PWD/saba bench/storage.py [--skip-year] [--skip-restart]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from targets import VictoriaMetrics, dir_bytes, http, probe  # noqa: E402

ROOT = "/tmp/sababench/storage"
SABA_PORT = 18700
DAY = 86400


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def gen(name, hosts, points, interval, start):
    d = os.path.join(ROOT, "data", name)
    prefix = os.path.join(d, "lp")
    if not os.path.exists(prefix + ".meta"):
        os.makedirs(d, exist_ok=True)
        cmd = [os.path.join(HERE, "build/gen"), "-f", "lp", "-o", prefix, "-H", str(hosts),
               "-T", str(points), "-i", str(interval), "-s", str(start), "-S", "42",
               "-b", "10000"]
        log("generating:", " ".join(cmd))
        subprocess.run(cmd, check=True, timeout=3600)
    return prefix


def gen_year(start, points, interval, series=1000, batch_ticks=10):
    """Write <prefix>.bin/.idx/.meta as gen.c does: time-major batches."""
    d = os.path.join(ROOT, "data", "year-S%d-T%d-i%d-s%d" % (series, points, interval, start))
    prefix = os.path.join(d, "lp")
    if os.path.exists(prefix + ".meta"):
        return prefix
    os.makedirs(d, exist_ok=True)
    log("generating year data in", d)
    import random
    rnd = random.Random(42)
    level = [rnd.uniform(10, 90) for _ in range(series)]
    hosts = ["host-%04d" % i for i in range(series)]
    off = 0
    with open(prefix + ".bin", "wb") as fb, open(prefix + ".idx", "w") as fi:
        for t0 in range(0, points, batch_ticks):
            lines = []
            for tick in range(t0, min(points, t0 + batch_ticks)):
                ts = (start + tick * interval) * 1000000000
                for i in range(series):
                    level[i] = min(100.0, max(0.0, level[i] + rnd.gauss(0, 0.8)))
                    lines.append("yr,host=%s used=%.2f %d" % (hosts[i], level[i], ts))
            body = ("\n".join(lines) + "\n").encode()
            fb.write(body)
            fi.write("%d %d %d 0\n" % (off, len(body), len(lines)))
            off += len(body)
    with open(prefix + ".meta", "w") as f:
        f.write("format=lp\nsamples=%d\nstart=%d\n" % (series * points, start))
    return prefix


def load(port, prefix):
    cmd = [os.path.join(HERE, "build/load"), "-p", str(port), "-d", prefix, "-c", "2",
           "-t", "1800", "-m", "http", "-u", "/write"]
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=2000)
    res = json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr}
    res["wall_s"] = round(time.time() - t, 2)
    return res


def start_saba(datadir, args=()):
    logf = open(os.path.join(os.path.dirname(datadir), "saba.log"), "a")
    cmd = [os.environ["SABA_BIN"], "server", "--listen", "127.0.0.1:%d" % SABA_PORT,
           "--graphite-listen", "", "--data", datadir] + list(args)
    t = time.time()
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    while not probe(SABA_PORT, "/-/ready", 200):
        if p.poll() is not None or time.time() - t > 600:
            raise RuntimeError("saba did not become ready")
        time.sleep(0.005)
    return p, time.time() - t


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(300)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(port, path, params, reps=7):
    runs, pts = [], None
    for i in range(reps + 1):
        st, b, dt = http("GET", port, path, params, timeout=600)
        if st != 200:
            return {"error": b[:300].decode(errors="replace")}
        if i == 0:
            r = json.loads(b)["data"]["result"]
            pts = sum(len(x["values"]) for x in r)
            first = dt
        else:
            runs.append(dt)
    return {"median_ms": round(statistics.median(runs) * 1e3, 1),
            "min_ms": round(min(runs) * 1e3, 1), "first_ms": round(first * 1e3, 1), "points": pts}


def year(args):
    now = int(time.time())
    start = (now - 365 * DAY) // 3600 * 3600
    points = 365 * 24 * 4
    prefix = gen_year(start, points, 900)
    end = start + (points - 1) * 900
    qstart, qend = start + 3600, end // 3600 * 3600
    queries = {
        "max_1h": 'max(max_over_time(yr_used[1h]))',
        "avg_1h": 'avg(avg_over_time(yr_used[1h]))',
    }
    out = {"samples": 1000 * points, "series": 1000, "query_start": qstart, "query_end": qend,
           "step": "3600s", "queries": queries}
    # saba
    d = os.path.join(ROOT, "run", "year-saba")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    p, _ = start_saba(d + "/data")
    try:
        out["saba_load"] = load(SABA_PORT, prefix)
        t = time.time()
        st, b, _ = http("POST", SABA_PORT, "/api/v0/admin/tsdb/flush", body=b"", timeout=1800)
        out["saba_flush_s"] = round(time.time() - t, 1)
        out["saba_flush"] = b.decode()[:200]
        out["saba_disk_bytes"] = dir_bytes(d + "/data")[1]
        out["saba"] = {k: timed(SABA_PORT, "/api/v1/query_range",
                                {"query": q, "start": qstart, "end": qend, "step": 3600})
                       for k, q in queries.items()}
        log("saba year:", out["saba"])
    finally:
        stop(p)
    r = subprocess.run([os.environ["SABA_BIN"], "tsdb", "inspect", d + "/data"],
                       capture_output=True, text=True)
    out["saba_inspect_tail"] = r.stdout[-1500:]
    # VictoriaMetrics
    vm = VictoriaMetrics()
    d = os.path.join(ROOT, "run", "year-vm")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    logf = open(os.path.join(d, "vm.log"), "w")
    p = subprocess.Popen(vm.command(d), stdout=logf, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        while not vm.ready():
            time.sleep(0.2)
        out["vm_load"] = load(vm.port, prefix)
        out["vm_flush"] = vm.flush(d, {"start": start}, p.pid)
        out["vm"] = {k: timed(vm.port, "/api/v1/query_range",
                              {"query": q, "start": qstart, "end": qend, "step": 3600,
                               "nocache": 1})
                     for k, q in queries.items()}
        log("vm year:", out["vm"])
    finally:
        stop(p)
    return out


def restart(args):
    now = int(time.time())
    start = (now - 100 * 60 - 600) // 60 * 60
    prefix = gen("restart-H10000-T100-i60-s%d" % start, 10000, 100, 60, start)
    d = os.path.join(ROOT, "run", "restart-saba")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = {"series": 1000000, "samples": 100000000}
    # The loader sends 100 minutes of samples in about a minute; maintenance
    # every 5 s (instead of 1 min) keeps the WAL checkpoints in step with that
    # 100x time compression, as they would be at the real pace.
    cfg = os.path.join(d, "saba.yml")
    with open(cfg, "w") as f:
        f.write("storage:\n  maintenance_interval: 5s\n")
    out["config"] = "storage.maintenance_interval: 5s"
    p, t = start_saba(d + "/data", ["--config", cfg])
    out["load"] = load(SABA_PORT, prefix)
    out["rss_after_load_kib"] = rss_kib(p.pid)
    stop(p)
    out["wal_bytes"] = dir_bytes(d + "/data/wal")[1]
    # the head as the checkpoint and the WAL since left it (no cut yet:
    # 100 minutes of data, 2 h blocks)
    out["wal_files"] = sorted(os.listdir(d + "/data/wal"))
    p, t = start_saba(d + "/data", ["--config", cfg])
    out["restart_wal_s"] = round(t, 2)
    out["rss_after_restart_kib"] = rss_kib(p.pid)
    log("restart from WAL: %.2fs" % t)
    st, b, _ = http("POST", SABA_PORT, "/api/v0/admin/tsdb/flush", body=b"", timeout=1800)
    stop(p)
    out["disk_after_flush_bytes"] = dir_bytes(d + "/data")[1]
    p, t = start_saba(d + "/data")
    out["restart_blocks_s"] = round(t, 2)
    log("restart from blocks: %.2fs" % t)
    st, b, _ = http("GET", SABA_PORT, "/api/v1/query",
                    {"query": "count(count_over_time(cpu_usage_user[3h]))"})
    out["check_cpu_usage_user_series"] = b.decode()[:200]
    stop(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-year", action="store_true")
    ap.add_argument("--skip-restart", action="store_true")
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", HERE], check=True)
    res = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if not args.skip_year:
        res["year"] = year(args)
    if not args.skip_restart:
        res["restart"] = restart(args)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
