"""`saba analyze changepoint|anomaly|forecast`: the offline CLI contracts.

Each test runs the binary under test (SABA_BIN) on CSV written here and
checks the output format, the answers on series whose answer is known, and
the errors for bad input (a message naming the line, a non-zero exit). The
last test runs the quality harness' small set as a regression gate.
"""
import json
import math
import os
import random
import subprocess
import sys

from conftest import ROOT, SABA_BIN

T0 = 1700000000


def analyze(args, data, timeout=60):
    p = subprocess.run([SABA_BIN, "analyze"] + list(args), input=data.encode(),
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def noisy(fn, n, seed=1, step=60):
    rng = random.Random(seed)
    return [(T0 + step * i, fn(i) + rng.gauss(0, 1)) for i in range(n)]


def csv2(rows, header=True):
    out = "timestamp,value\n" if header else ""
    return out + "".join("%d,%.6f\n" % r for r in rows)


def scores(out):
    lines = out.splitlines()
    return [(l.split(",")[0], float(l.split(",")[1])) for l in lines]


def test_changepoint_format_and_behaviour():
    rows = noisy(lambda i: 10 + (6 if i >= 1200 else 0) + (9 if i == 800 else 0), 1500)
    rc, out, err = analyze(["changepoint"], csv2(rows))
    assert rc == 0, err
    sc = scores(out)
    assert len(sc) == len(rows)                      # one line per data row, no header
    assert [s[0] for s in sc] == [str(r[0]) for r in rows]
    assert all(0 <= s[1] <= 1 for s in sc)
    spike = max(s[1] for s in sc[800:900])
    shift = max(s[1] for s in sc[1200:1240])
    assert shift > 0.5 and spike < 0.4 and shift > spike + 0.3


def test_changepoint_options_and_raw():
    rows = noisy(lambda i: 5 + (4 if i >= 300 else 0), 500, seed=2)
    rc, out, err = analyze(["changepoint", "--order", "3", "--discount=0.02", "--smooth", "5",
                            "--smooth2", "9"], csv2(rows))
    assert rc == 0, err
    assert len(out.splitlines()) == 500
    rc2, out2, _ = analyze(["changepoint"], csv2(rows))
    assert out != out2                               # the options changed the model
    rc, raw, _ = analyze(["changepoint", "--raw"], csv2(rows))
    assert rc == 0 and any(float(l.split(",")[1]) > 1 for l in raw.splitlines())
    for bad in (["--order", "0"], ["--discount", "1.5"], ["--smooth", "x"], ["--bogus"]):
        rc, out, err = analyze(["changepoint"] + bad, csv2(rows))
        assert rc == 2 and out == "" and err


def test_anomaly_format_and_spike():
    rows = noisy(lambda i: 50 + (25 if i == 700 else 0), 900, seed=3)
    rc, out, err = analyze(["anomaly"], csv2(rows))
    assert rc == 0, err
    sc = scores(out)
    assert len(sc) == 900 and all(0 <= s[1] <= 1 for s in sc)
    assert sc[700][1] > 0.8
    assert max(s[1] for s in sc[200:690]) < 0.5
    assert max(s[1] for s in sc[720:900]) < 0.5      # falls back after the spike


def test_datetime_timestamps_are_echoed():
    data = "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:10:00,3\n"
    for verb in ("changepoint", "anomaly"):
        rc, out, err = analyze([verb], data)
        assert rc == 0, err
        assert [l.split(",")[0] for l in out.splitlines()] == [
            "2024-01-01 00:00:00", "2024-01-01 00:05:00", "2024-01-01 00:10:00"]


def test_forecast_linear_and_json():
    cap = 1000.0
    rows = noisy(lambda i: 100 + 0.01 * i, 10080, seed=4)
    data = "".join("%d,%.4f,%g\n" % (t, v, cap) for t, v in rows)
    rc, out, err = analyze(["forecast"], data)
    assert rc == 0, err
    want = (cap - (100 + 0.01 * 10079)) / 0.01 * 60
    assert abs(float(out.strip()) - want) < 0.01 * want
    rc, out, err = analyze(["forecast", "--json"], data)
    assert rc == 0, err
    j = json.loads(out)
    assert abs(j["seconds"] - want) < 0.01 * want
    assert j["range"]["seconds_lo"] <= j["seconds"] <= j["range"]["seconds_hi"]
    assert abs(j["slope_per_second"] - 0.01 / 60) < 0.001 / 60
    assert j["window"]["start"] == T0 and j["window"]["end"] == T0 + 60 * 10079
    assert j["window"]["samples"] == 10080 and j["regime"]["start"] == T0
    assert j["model"] == "linear" and j["capacity"] == cap
    # --window: only the last day is considered
    rc, out, err = analyze(["forecast", "--json", "--window", "1d"], data)
    assert rc == 0, err
    j = json.loads(out)
    assert j["window"]["start"] == T0 + 60 * (10079 - 1440) and j["window"]["samples"] == 1441


def test_forecast_never_and_full():
    rows = noisy(lambda i: 500, 3000, seed=5)
    rc, out, err = analyze(["forecast"], "".join("%d,%.4f,1000\n" % r for r in rows))
    assert rc == 0 and out == "inf\n", err
    rc, out, err = analyze(["forecast", "--json"], "".join("%d,%.4f,1000\n" % r for r in rows))
    j = json.loads(out)
    assert j["seconds"] is None and j["full_in"] == "never" and j["model"] == "flat"
    rows = [(T0 + 60 * i, 100 + i) for i in range(10)]
    rc, out, err = analyze(["forecast"], "".join("%d,%d,105\n" % r for r in rows))
    assert rc == 0 and out == "0\n"


def test_forecast_deploy_regime():
    """A deploy 2 days ago triples the slope: fit only since then."""
    d = 10080 - 2880
    f = lambda i: 100 + 0.01 * i if i < d else 250 + 0.01 * d + 0.03 * (i - d)
    rows = noisy(f, 10080, seed=6)
    rc, out, err = analyze(["forecast", "--json"], "".join("%d,%.4f,2000\n" % r for r in rows))
    assert rc == 0, err
    j = json.loads(out)
    want = (2000 - f(10079)) / 0.03 * 60
    assert abs(j["seconds"] - want) < 0.05 * want
    assert abs(j["regime"]["start"] - (T0 + 60 * d)) < 90 * 60


def test_bad_input_names_the_line():
    cases = [
        (["changepoint"], "timestamp,value\n1,2\n2,abc\n", "line 3", "not a number"),
        (["anomaly"], "1,2\n3,2\n2,2\n", "line 3", "sorted"),
        (["anomaly"], "1,2\n1,3\n", "line 2", "duplicate"),
        (["changepoint"], "", "", "no data rows"),
        (["changepoint"], "timestamp,value\n", "", "no data rows"),
        (["changepoint"], "1,2,3\n", "line 1", "expected 2 fields"),
        (["forecast"], "1,2\n", "line 1", "expected 3 fields"),
        (["forecast"], "1,2,x\n", "line 1", "capacity"),
        (["forecast"], "1,2,5\n2,3,5\n", "", "at least 3"),
        (["changepoint"], "1,1\nyesterday,1\n", "line 2", "timestamp \"yesterday\""),
    ]
    for args, data, where, what in cases:
        rc, out, err = analyze(args, data)
        assert rc == 1, (args, data, err)
        assert out == ""
        assert err.startswith("saba analyze") and where in err and what in err, err


def test_usage_errors():
    for args in ([], ["nope"], ["forecast", "--window", "soon"], ["anomaly", "--x"]):
        rc, out, err = analyze(args, "1,2\n")
        assert rc == 2 and err
    rc, out, err = analyze(["--help"], "")
    assert rc == 0 and "changepoint" in out and "forecast" in out


def test_quality_gate_small():
    """saba's forecaster beats least squares (6 h, 1 d, 7 d) on every score of
    the small generated set, and ChangeFinder raises no alarm on spikes."""
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "analysis", "quality.py"),
                        "--small", "--saba", SABA_BIN], capture_output=True, timeout=600)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "gate: pass" in out
