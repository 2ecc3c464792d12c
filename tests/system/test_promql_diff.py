"""Differential test: saba's PromQL against the real Prometheus.

Debian's Prometheus (2.42, with its remote-write receiver) and saba get the
same generated data over remote write: counters with resets, gauges, a
histogram, NaN and infinities, a series that ends with a staleness marker and
one with a gap. Every query of promql_corpus.txt then runs against both, as
instant queries at several times and as range queries, and the answers must
be identical: same status and error type, same series with the same labels,
the same timestamps, values equal within 1e-9 relative (NaN equals NaN).
"""
import json
import math
import os
import random
import time

import pytest

from conftest import Saba, shutdown
from prom import Prometheus, STALE_NAN, remote_write

HERE = os.path.dirname(os.path.abspath(__file__))
STEP_MS = 15_000
REL_TOL = 1e-9
ABS_TOL = 1e-12  # values that should be 0 but come out of a sum as 1e-17


def corpus():
    with open(os.path.join(HERE, "promql_corpus.txt")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def generate(t0, t1):
    """{labels tuple: [(t_ms, v)]}, deterministic for a given t0."""
    rnd = random.Random(42)
    data = {}

    def series(labels, fn, jitter=True):
        off = rnd.randrange(0, STEP_MS)
        out = []
        state = {}
        for i, t in enumerate(range(t0 + off, t1, STEP_MS)):
            if jitter:
                t += rnd.randrange(-40, 40)
            v = fn(i, t, state)
            if v is not None:
                out.append((t, v))
        data[tuple(sorted(labels.items()))] = out

    inst = ["i0", "i1", "i2", "i3"]
    for ins in inst:
        for method in ("get", "post"):
            for status in ("200", "500"):
                rate = rnd.uniform(0.5, 20) * (0.05 if status == "500" else 1)
                reset_at = rnd.randrange(100, 400) if (ins, method) == ("i1", "get") else -1

                def counter(i, t, st, rate=rate, reset_at=reset_at):
                    st["v"] = 0 if i == reset_at else st.get("v", rnd.uniform(0, 1000)) + \
                        rnd.expovariate(1 / rate) * 15
                    return round(st["v"])
                series({"__name__": "http_requests_total", "job": "api", "instance": ins,
                        "method": method, "status": status}, counter)
        def walk(i, t, st):
            st["v"] = st.get("v", rnd.uniform(1e9, 4e9)) + rnd.gauss(-2e5, 5e6)
            return st["v"]
        series({"__name__": "node_memory_free_bytes", "job": "node", "instance": ins}, walk)
        for zone in ("a", "b"):
            series({"__name__": "cpu_temp_celsius", "instance": ins, "zone": zone},
                   lambda i, t, st: round(rnd.uniform(-10, 90)) if i % 7 else 30)
        series({"__name__": "up", "job": "api", "instance": ins},
               lambda i, t, st: 0 if (ins == "i3" and 200 < i < 230) else 1, jitter=False)
        bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
        counts = {}

        def observe(i, ins=ins):
            # one scrape's cumulative buckets, shared by the bucket series of i
            if i not in counts:
                prev = counts.get(i - 1, [0.0] * len(bounds) + [0.0])
                n = rnd.randrange(0, 30)
                obs = [rnd.expovariate(3) for _ in range(n)]
                cur = [prev[k] + sum(1 for o in obs if o <= float(b)) for k, b in enumerate(bounds)]
                counts[i] = cur + [prev[-1] + sum(obs)]
            return counts[i]
        for k, b in enumerate(bounds):
            series({"__name__": "request_duration_seconds_bucket", "instance": ins, "le": b},
                   lambda i, t, st, k=k: observe(i)[k], jitter=False)
        series({"__name__": "request_duration_seconds_count", "instance": ins},
               lambda i, t, st: observe(i)[len(bounds) - 1], jitter=False)
        series({"__name__": "request_duration_seconds_sum", "instance": ins},
               lambda i, t, st: observe(i)[-1], jitter=False)
    n = (t1 - t0) // STEP_MS
    series({"__name__": "flaky", "instance": "i0"},
           lambda i, t, st: STALE_NAN if i == n // 2 else (None if i > n // 2 else float(i % 5)))
    series({"__name__": "flaky", "instance": "i1"},
           lambda i, t, st: None if n // 3 < i < n // 3 + 60 else float(i % 3))
    # (no subnormals: Go's amd64 math.Log gets them wrong, see README)
    specials = [math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, -0.0, 1e-300]
    series({"__name__": "weird", "instance": "i0"},
           lambda i, t, st: specials[i % len(specials)] if i % 11 == 0 else rnd.uniform(-5, 5))
    series({"__name__": "disk_used_bytes", "device": "/dev/sda1", "mountpoint": "/"},
           lambda i, t, st: 1e10 + i * 1e6 + rnd.uniform(0, 1e5))
    series({"__name__": "disk_used_bytes", "device": "/dev/sdb1", "mountpoint": "/var"},
           lambda i, t, st: 5e11 - i * 3e5)
    return data


def push(url, data, t0, t1):
    """Remote-write the data in 5-minute slices, oldest first (as Prometheus would)."""
    for lo in range(t0, t1, 300_000):
        batch = []
        for labels, samples in data.items():
            s = [(t, v) for t, v in samples if lo <= t < lo + 300_000]
            if s:
                batch.append((dict(labels), s))
        st, body = remote_write(url, batch)
        assert st in (200, 204), (url, st, body)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("diff")
    now = int(time.time()) * 1000
    t0 = now - 110 * 60_000
    t1 = now - 5 * 60_000
    t0 -= t0 % 60_000
    data = generate(t0, t1)
    prom = Prometheus(str(base / "prom")).start()
    saba = Saba(str(base / "saba" / "data")).start()
    try:
        push(prom.url + "/api/v1/write", data, t0, t1)
        push(saba.http + "/api/v1/write", data, t0, t1)
        yield prom, saba, t0, t1
    finally:
        prom.stop()
        shutdown(saba)


def parse_value(s):
    return float(s)  # "NaN", "+Inf" and "-Inf" parse too


def same_value(a, b):
    x, y = parse_value(a), parse_value(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if x == y:
        return True
    return abs(x - y) <= max(REL_TOL * max(abs(x), abs(y)), ABS_TOL)


def key(metric):
    return tuple(sorted(metric.items()))


def compare(q, want, got, ordered):
    """None if the answers agree, else a description of the first difference."""
    if want["status"] != got["status"]:
        return "status: prometheus %s (%s) vs saba %s (%s)" % (
            want["status"], want.get("error"), got["status"], got.get("error"))
    if want["status"] != "success":
        if want.get("errorType") != got.get("errorType"):
            return "errorType: prometheus %s (%s) vs saba %s (%s)" % (
                want.get("errorType"), want.get("error"), got.get("errorType"), got.get("error"))
        return None
    w, g = want["data"], got["data"]
    if w["resultType"] != g["resultType"]:
        return "resultType %s vs %s" % (w["resultType"], g["resultType"])
    rt = w["resultType"]
    if rt in ("scalar", "string"):
        if w["result"][0] != g["result"][0]:
            return "time %s vs %s" % (w["result"][0], g["result"][0])
        if rt == "string":
            return None if w["result"][1] == g["result"][1] else "string %r vs %r" % (
                w["result"][1], g["result"][1])
        return None if same_value(w["result"][1], g["result"][1]) else "scalar %s vs %s" % (
            w["result"][1], g["result"][1])
    if ordered and rt == "vector":
        wv = [s["value"][1] for s in w["result"]]
        gv = [s["value"][1] for s in g["result"]]
        if len(wv) != len(gv) or not all(same_value(a, b) for a, b in zip(wv, gv)):
            return "order of values: %s vs %s" % (wv[:10], gv[:10])
    wm = {key(s["metric"]): s for s in w["result"]}
    gm = {key(s["metric"]): s for s in g["result"]}
    if set(wm) != set(gm):
        return "series only in prometheus: %s; only in saba: %s" % (
            sorted(set(wm) - set(gm))[:3], sorted(set(gm) - set(wm))[:3])
    for k in wm:
        if rt == "vector":
            a, b = wm[k]["value"], gm[k]["value"]
            if a[0] != b[0] or not same_value(a[1], b[1]):
                return "%s: %s vs %s" % (dict(k), a, b)
        else:
            a, b = wm[k]["values"], gm[k]["values"]
            ta, tb = [p[0] for p in a], [p[0] for p in b]
            if ta != tb:
                return "%s: timestamps differ (%d vs %d points; first diff at %s)" % (
                    dict(k), len(ta), len(tb),
                    next((x for x, y in zip(ta, tb) if x != y), None))
            for p, r in zip(a, b):
                if not same_value(p[1], r[1]):
                    return "%s at %s: %s vs %s" % (dict(k), p[0], p[1], r[1])
    return None


def ask(prom, saba, path, params):
    st, body = prom.get(path, params)
    want = json.loads(body)
    r = saba.get(path, **params)
    got = json.loads(r.body)
    return want, got


def test_corpus_is_big_enough():
    assert len(corpus()) >= 300


def test_promql_matches_prometheus(servers):
    prom, saba, t0, t1 = servers
    queries = corpus()
    sec = lambda ms: "%.3f" % (ms / 1000)
    instants = [t0 + 40 * 60_000 + 7_000, t1 - 61_000, t1 + 3 * 60_000]
    ranges = [(t0 + 20 * 60_000, t1 + 4 * 60_000, "60"), (t0 + 51 * 60_000, t0 + 80 * 60_000, "37")]
    failures = []
    for q in queries:
        ordered = q.startswith("sort")
        for t in instants:
            want, got = ask(prom, saba, "/api/v1/query", {"query": q, "time": sec(t)})
            d = compare(q, want, got, ordered)
            if d:
                failures.append("instant %s @ %s: %s" % (q, sec(t), d))
        for start, end, step in ranges:
            want, got = ask(prom, saba, "/api/v1/query_range",
                            {"query": q, "start": sec(start), "end": sec(end), "step": step})
            d = compare(q, want, got, False)
            if d:
                failures.append("range %s [%s..%s/%s]: %s" % (q, sec(start), sec(end), step, d))
    assert not failures, "%d differences from Prometheus:\n%s" % (
        len(failures), "\n".join(failures[:60]))
