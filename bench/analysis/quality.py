#!/usr/bin/env python3
"""Quality harness of saba's analysis engine: labeled synthetic traces, scored.

A deterministic generator (seeded, Python stdlib only) makes two sets:

  forecast traces, each with the true time until the noiseless usage first
  reaches the capacity (or never within a year): linear growth, daily
  cycles, log-rotation sawtooth, growth in steps (batch jobs), deploy-time
  level and slope shifts,
  plateaus, shrinking usage, near-full starts, accelerating growth; half of
  them with outliers.

  change-point traces with labeled onsets: isolated spikes (no change: must
  not alarm), level shifts, slope changes, variance changes, daily-seasonal
  series with and without a change, bursty series (3 % routine 4-8 sigma
  bursts, which are this series' normal) with a level shift.

and scores
  forecasts: median |log(predicted/true)|, "full within 24 h" precision and
    recall, false "never" rate (true finite, predicted never), false "soon"
    rate (true never, predicted within 30 days) - for saba and for least
    squares over 6 h, 1 d and 7 d windows (Prometheus predict_linear);
  change points: precision, recall and median delay of alarm events of
    `saba analyze changepoint` and `saba analyze anomaly` (an event is the
    score crossing the threshold; a hit is the first event within the
    detection window after an onset).

    bench/analysis/quality.py [--small] [--seed N] [--saba PATH] [--json OUT]

--small is the fast regression gate of `make test` (run by
tests/system/test_analyze.py): it exits 1 unless saba beats every least
squares window on every forecast score and ChangeFinder raises no alarm on
the spike traces.
"""
import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys

DAY = 86400.0
HOUR = 3600.0
HORIZON = 365 * DAY      # "never" = not within a year
T0 = 1_700_000_000       # a Tuesday, 22:13:20 UTC; traces start at random offsets after it

# ---------------------------------------------------------------- forecasts


def _forecast_trace(rng, kind, idx):
    """One trace: (kind, times, observed values, capacity, true seconds or inf)."""
    step = rng.choice([60, 60, 60, 300])
    hist_days = rng.choice([7, 7, 5, 3])
    n = int(hist_days * DAY / step)
    start = T0 + rng.randrange(0, 86400 // 60) * 60
    now = (n - 1) * step                    # seconds since start of the last sample
    level = rng.uniform(20e9, 300e9)        # bytes, as a filesystem
    per_day = level * rng.uniform(0.002, 0.05)   # growth per day
    b = per_day / DAY
    noise = level * rng.uniform(0.0005, 0.004)
    target = math.exp(rng.uniform(math.log(2 * HOUR), math.log(60 * DAY)))

    f = None
    never = False
    if kind == "linear":
        def f(s): return level + b * s
    elif kind == "daily":
        amp = per_day * rng.uniform(0.3, 2.0)
        ph = rng.uniform(0, 2 * math.pi)
        def f(s): return level + b * s + amp * math.sin(2 * math.pi * (start + s) / DAY + ph)
    elif kind == "sawtooth":
        period = rng.choice([6 * HOUR, 12 * HOUR, DAY])
        tooth = per_day * rng.uniform(1.0, 4.0) * period / DAY
        net = b * rng.choice([0.0, 0.3, 1.0])
        if net == 0:
            never = True
        ph = rng.uniform(0, period)
        def f(s): return level + net * s + tooth * (((s + ph) % period) / period)
    elif kind == "staircase":
        # batch jobs: usage jumps every period and is flat in between
        period = rng.choice([6 * HOUR, 8 * HOUR, 10 * HOUR, 30 * HOUR])
        step_up = per_day * period / DAY
        ph = rng.uniform(0, period)
        def f(s): return level + step_up * math.floor((s + ph) / period)
    elif kind == "deploy_level":
        td = now * rng.uniform(0.4, 0.85)
        jump = level * rng.choice([-1, 1]) * rng.uniform(0.05, 0.3)
        def f(s): return level + b * s + (jump if s >= td else 0.0)
    elif kind == "deploy_slope":
        td = now * rng.uniform(0.4, 0.85)
        ratio = rng.choice([0.0, 0.2, 3.0, 6.0])
        b2 = b * ratio
        if ratio == 0.0:
            never = True
        def f(s): return level + b * min(s, td) + b2 * max(0.0, s - td)
    elif kind == "plateau":
        never = True
        amp = noise * rng.choice([0, 5])
        def f(s): return level + amp * math.sin(2 * math.pi * (start + s) / DAY)
    elif kind == "shrinking":
        never = True
        def f(s): return level - b * s
    elif kind == "near_full":
        def f(s): return level + b * 0.3 * s
        target = math.exp(rng.uniform(math.log(1 * HOUR), math.log(2 * DAY)))
    elif kind == "accelerating":
        c = b / (now * rng.uniform(0.3, 1.5))
        def f(s): return level + b * 0.2 * s + c * s * s
    else:
        raise ValueError(kind)

    # capacity: never-traces get headroom that nothing reaches; the others the
    # level their trend reaches at the target time (the truth is then scanned)
    if never:
        cap = max(f(s) for s in range(0, int(now) + 1, step * 10)) * 1.5 + 10 * noise
    elif kind == "sawtooth":
        cap = f(now) + b * rng.uniform(0.3, 1.0) * target + tooth
    else:
        cap = f(now + target) + 3 * noise
        if kind == "near_full":
            cap = max(cap, f(now) + 4 * noise)

    times, values = [], []
    outliers = rng.random() < 0.5
    for i in range(n):
        s = i * step
        v = f(s) + rng.gauss(0, noise)
        if outliers and rng.random() < 0.002:
            v += rng.choice([-1, 1]) * rng.uniform(10, 40) * noise
        times.append(start + s)
        values.append(v)
    truth = _first_passage(f, now, cap)
    return {"kind": kind, "t": times, "x": values, "cap": cap, "truth": truth, "id": idx}


def _first_passage(f, now, cap):
    """Seconds after now until f first reaches cap (10-minute scan, then 10 s), or inf."""
    coarse = 600.0
    prev = now
    s = now + coarse
    if f(now) >= cap:
        return 0.0
    while s - now <= HORIZON:
        if f(s) >= cap:
            lo = prev
            while lo < s:
                if f(lo) >= cap:
                    return lo - now
                lo += 10.0
            return s - now
        prev = s
        s += coarse
    return math.inf


FORECAST_KINDS = ["linear", "daily", "sawtooth", "staircase", "deploy_level", "deploy_slope",
                  "plateau", "shrinking", "near_full", "accelerating"]


def forecast_set(seed, per_kind):
    rng = random.Random(seed)
    return [_forecast_trace(rng, k, i) for k in FORECAST_KINDS for i in range(per_kind)]


def least_squares(tr, window):
    """predict_linear over the last `window` seconds: when the line reaches cap."""
    t_end = tr["t"][-1]
    pts = [(t - t_end, x) for t, x in zip(tr["t"], tr["x"]) if t >= t_end - window]
    n = len(pts)
    mt = sum(p[0] for p in pts) / n
    mx = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mt) ** 2 for p in pts)
    sxy = sum((p[0] - mt) * (p[1] - mx) for p in pts)
    slope = sxy / sxx if sxx > 0 else 0.0
    now_val = mx + slope * (0 - mt)
    if now_val >= tr["cap"]:
        return 0.0
    if slope <= 0:
        return math.inf
    return (tr["cap"] - now_val) / slope


def saba_forecast(saba, tr):
    rows = "".join("%d,%.6f,%.6f\n" % (t, x, tr["cap"]) for t, x in zip(tr["t"], tr["x"]))
    out = subprocess.run([saba, "analyze", "forecast"], input=rows.encode(), capture_output=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError("saba analyze forecast failed: " + out.stderr.decode())
    s = out.stdout.decode().strip()
    return math.inf if s == "inf" else float(s)


def score_forecasts(preds, traces):
    """preds[i] for traces[i] -> dict of scores."""
    errs, tp, fp, fn, never_wrong, finite, soon_wrong, infinite = [], 0, 0, 0, 0, 0, 0, 0
    clamp_hi = 10 * HORIZON
    for p, tr in zip(preds, traces):
        t = tr["truth"]
        if math.isfinite(t):
            finite += 1
            pp = min(max(p, 60.0), clamp_hi)
            errs.append(abs(math.log(pp / max(t, 60.0))))
            if not math.isfinite(p):
                never_wrong += 1
        else:
            infinite += 1
            if p <= 30 * DAY:
                soon_wrong += 1
        true_soon = t <= DAY
        pred_soon = p <= DAY
        tp += true_soon and pred_soon
        fp += (not true_soon) and pred_soon
        fn += true_soon and not pred_soon
    return {
        "median_abs_log_ratio": statistics.median(errs) if errs else 0.0,
        "full_24h_precision": tp / (tp + fp) if tp + fp else 1.0,
        "full_24h_recall": tp / (tp + fn) if tp + fn else 1.0,
        "false_never_rate": never_wrong / finite if finite else 0.0,
        "false_soon_rate": soon_wrong / infinite if infinite else 0.0,
        "traces": len(traces),
    }


def beats(saba, base):
    """saba at least as good on every score and strictly better on the median error."""
    return (saba["median_abs_log_ratio"] < base["median_abs_log_ratio"]
            and saba["full_24h_precision"] >= base["full_24h_precision"]
            and saba["full_24h_recall"] >= base["full_24h_recall"]
            and saba["false_never_rate"] <= base["false_never_rate"]
            and saba["false_soon_rate"] <= base["false_soon_rate"])

# ------------------------------------------------------------- change points


def _cp_trace(rng, kind, idx):
    """(kind, times, values, onsets): sigma-1 noise around a level, onsets labeled."""
    step = 60 if kind != "seasonal" and kind != "seasonal_shift" else 300
    n = 2000 if step == 60 else 2016 * 1  # seasonal: 7 days of 5-minute samples
    start = T0 + rng.randrange(0, 1440) * 60
    level = rng.uniform(5, 500)
    sd = level * rng.uniform(0.01, 0.05)
    onset = rng.randrange(int(n * 0.55), int(n * 0.8))
    onsets = []
    ar = 0.0
    phi = rng.uniform(0.0, 0.5)
    spikes = set()
    if kind == "spikes":
        spikes = set(rng.sample(range(int(n * 0.5), n - 5), 4))
    vals = []
    for i in range(n):
        ar = phi * ar + rng.gauss(0, 1) * math.sqrt(1 - phi * phi)
        e = ar
        v = level
        if kind == "level_shift" and i >= onset:
            v += sd * rng.choice([5.0]) * (1 if idx % 2 == 0 else -1)
        if kind == "slope_change" and i >= onset:
            v += sd * 0.15 * (i - onset) * (1 if idx % 2 == 0 else -1)
        if kind == "variance_change" and i >= onset:
            e *= 4.0
        if kind == "bursty":
            # routine bursts (3 % of samples, 4-8 sigma): this series' normal
            if rng.random() < 0.03:
                e += rng.uniform(4, 8)
            if i >= onset:
                v += sd * 8
        if kind in ("seasonal", "seasonal_shift"):
            v += sd * 6 * math.sin(2 * math.pi * (start + i * step) / DAY)
            if kind == "seasonal_shift" and i >= onset:
                v += sd * 6
        if i in spikes:
            v += sd * rng.uniform(6, 10) * rng.choice([-1, 1])
        vals.append(v + sd * e)
    if kind in ("level_shift", "slope_change", "variance_change", "seasonal_shift", "bursty"):
        onsets.append(onset)
    times = [start + i * step for i in range(n)]
    return {"kind": kind, "t": times, "x": vals, "onsets": onsets, "spikes": sorted(spikes),
            "id": idx}


CP_KINDS = ["spikes", "level_shift", "slope_change", "variance_change", "seasonal",
            "seasonal_shift", "bursty"]


def cp_set(seed, per_kind):
    rng = random.Random(seed + 1)
    return [_cp_trace(rng, k, i) for k in CP_KINDS for i in range(per_kind)]


def saba_scores(saba, verb, tr):
    rows = "timestamp,value\n" + "".join("%d,%.6f\n" % (t, x) for t, x in zip(tr["t"], tr["x"]))
    out = subprocess.run([saba, "analyze", verb], input=rows.encode(), capture_output=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError("saba analyze %s failed: %s" % (verb, out.stderr.decode()))
    return [float(line.split(",")[1]) for line in out.stdout.decode().splitlines()]


def score_cp(all_scores, traces, threshold, window=100, warmup=0.4, spikes_are_anomalies=False):
    """Alarm events = upward crossings of threshold after the warm-up fraction.

    For change points a spike is not a change (any alarm on a spike trace is
    false); for the anomaly score each spike is an anomaly to be flagged
    within 5 samples."""
    tp = fp = fn = 0
    delays = []
    durations = []  # samples the score stays at or above the threshold after a hit
    spike_alarms = 0
    per_kind = {}
    for sc, tr in zip(all_scores, traces):
        n = len(sc)
        events = [i for i in range(max(1, int(n * warmup)), n)
                  if sc[i] >= threshold and sc[i - 1] < threshold]
        k = per_kind.setdefault(tr["kind"], {"tp": 0, "fp": 0, "fn": 0})
        used = set()
        labeled = [(o, window) for o in tr["onsets"]]
        if spikes_are_anomalies:
            labeled += [(s, 5) for s in tr["spikes"]]
        for o, win in labeled:
            hit = [e for e in events if o <= e <= o + win]
            if hit:
                tp += 1
                k["tp"] += 1
                delays.append(hit[0] - o)
                used.update(hit)
                d = hit[0]
                while d < n and sc[d] >= threshold:
                    d += 1
                durations.append(d - hit[0])
            else:
                fn += 1
                k["fn"] += 1
        extra = [e for e in events if e not in used]
        fp += len(extra)
        k["fp"] += len(extra)
        if tr["kind"] == "spikes":
            spike_alarms += len(extra if spikes_are_anomalies else events)
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "median_delay_samples": statistics.median(delays) if delays else None,
        "median_alarm_samples": statistics.median(durations) if durations else None,
        "spike_alarms": spike_alarms,
        "per_kind": per_kind,
        "threshold": threshold,
    }

# ---------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="the quick regression gate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--saba", default=os.environ.get("SABA_BIN", "./saba"))
    ap.add_argument("--json", help="write all figures to this file")
    a = ap.parse_args()

    per_kind = 3 if a.small else 20
    traces = forecast_set(a.seed, per_kind)
    preds = {"saba": [saba_forecast(a.saba, tr) for tr in traces]}
    for name, w in (("lsq_6h", 6 * HOUR), ("lsq_1d", DAY), ("lsq_7d", 7 * DAY)):
        preds[name] = [least_squares(tr, w) for tr in traces]
    fscores = {k: score_forecasts(v, traces) for k, v in preds.items()}
    per_kind_err = {}
    for k in FORECAST_KINDS:
        idx = [i for i, tr in enumerate(traces) if tr["kind"] == k]
        sub = [traces[i] for i in idx]
        per_kind_err[k] = {m: round(score_forecasts([preds[m][i] for i in idx], sub)
                                    ["median_abs_log_ratio"], 3) for m in preds}

    cps = cp_set(a.seed, 2 if a.small else 10)
    cscores = {}
    for verb in ("changepoint", "anomaly"):
        sc = [saba_scores(a.saba, verb, tr) for tr in cps]
        cscores[verb] = score_cp(sc, cps, 0.5, spikes_are_anomalies=verb == "anomaly")

    print("forecast: %d traces (%d per kind), seed %d" % (len(traces), per_kind, a.seed))
    print("%-8s %10s %10s %10s %12s %11s" % ("method", "med|logr|", "24h prec", "24h rec",
                                            "false never", "false soon"))
    for k, s in fscores.items():
        print("%-8s %10.3f %10.3f %10.3f %12.3f %11.3f" % (
            k, s["median_abs_log_ratio"], s["full_24h_precision"], s["full_24h_recall"],
            s["false_never_rate"], s["false_soon_rate"]))
    print("median |log ratio| per kind:")
    for k, v in per_kind_err.items():
        print("  %-13s %s" % (k, "  ".join("%s %.3f" % (m, e) for m, e in v.items())))
    print("change points: %d traces, alarm = score crossing 0.5 (for anomaly, each spike is an"
          " anomaly; spike alarms = alarms on spike traces not at a spike)" % len(cps))
    for verb, s in cscores.items():
        print("  %-11s precision %.3f recall %.3f median delay %s samples, alarm lasts %s samples"
              " (median), spike alarms %d" % (verb, s["precision"], s["recall"],
                                               s["median_delay_samples"],
                                               s["median_alarm_samples"], s["spike_alarms"]))
        for k, v in s["per_kind"].items():
            print("    %-15s tp %d fp %d fn %d" % (k, v["tp"], v["fp"], v["fn"]))

    won = {b: beats(fscores["saba"], fscores[b]) for b in ("lsq_6h", "lsq_1d", "lsq_7d")}
    print("saba beats least squares on every score: " +
          ", ".join("%s %s" % (b, "yes" if w else "NO") for b, w in won.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"forecast": fscores, "forecast_per_kind": per_kind_err,
                       "changepoint": cscores, "beats": won}, f, indent=1)
    ok = all(won.values()) and cscores["changepoint"]["spike_alarms"] == 0
    if a.small:
        print("gate: " + ("pass" if ok else "FAIL"))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
