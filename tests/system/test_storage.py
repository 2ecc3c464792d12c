"""The on-disk tier through a real server: blocks, WAL checkpoints, compaction
crash safety (kill -9 at every file operation), full disks, corrupt blocks.

Block settings are shrunk (1 h blocks, maintenance every 50 ms) and the data
is written an hour of timestamps at a time, so each hour becomes a block.
The hidden hooks SABA_TEST_CRASH and SABA_TEST_COMPACT (see tsdb.h) make the
server kill itself at the N-th file operation of a cut or compaction.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import Saba, shutdown

HOUR = 3600
SERIES = 3
CONFIG = """
storage:
  block_duration: 1h
  max_block_duration: 9h
  maintenance_interval: %s
"""
FAST = CONFIG % "50ms"


def base_hour():
    """A 3h-aligned start a day ago, so hours 0-2 share one compaction window."""
    return (int(time.time()) - 24 * HOUR) // (3 * HOUR) * (3 * HOUR)


def write_hour(srv, t0, h):
    lines = []
    for m in range(60):
        for s in range(SERIES):
            lines.append("st,s=%d v=%d %d" % (s, h * 60 + m, t0 + h * HOUR + m * 60))
    r = srv.write_lp("\n".join(lines), precision="s")
    assert r.status == 204, r.body


def wait_for(cond, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def check_hours(srv, t0, hours):
    """Every series holds each minute of hours [0, hours) exactly once, right values."""
    end = t0 + hours * HOUR
    r = srv.query("st_v[%ds]" % (hours * HOUR + 60), end)
    assert r.status == 200, r.body
    res = r.json()["data"]["result"]
    assert len(res) == SERIES, res
    for s in res:
        got = [(int(float(t)), int(v)) for t, v in s["values"]]
        want = [(t0 + k * 60, k) for k in range(hours * 60)]
        assert got == want, "series %s: %d samples, want %d" % (s["metric"], len(got), len(want))


def make_blocks(srv, t0, hours):
    """Write hours one at a time, each time waiting until the previous is a block."""
    for h in range(hours):
        write_hour(srv, t0, h)
        if h:
            wait_for(lambda: srv.metric("saba_block_samples") >= h * 60 * SERIES,
                     "hour %d to be cut" % (h - 1))


def test_blocks_checkpoint_restart(make_saba):
    t0 = base_hour()
    srv = make_saba(config=FAST)
    make_blocks(srv, t0, 5)
    wait_for(lambda: srv.metric("saba_block_compactions_total") >= 1, "a compaction")
    check_hours(srv, t0, 5)
    wal = os.listdir(os.path.join(srv.data_dir, "wal"))
    assert any(f.startswith("checkpoint.") for f in wal), wal
    assert len([f for f in wal if f.isdigit()]) <= 2, wal  # old segments deleted
    srv.restart()
    check_hours(srv, t0, 5)
    m = re.search(r"WAL replayed\" blocks=(\d+)", srv.log())
    assert m and int(m.group(1)) >= 2, srv.log()[-2000:]
    # label APIs see series that only live in blocks
    r = srv.get("/api/v1/label/s/values")
    assert r.json()["data"] == ["0", "1", "2"]


def prepared_dir(make_saba, tmp_path, scope):
    """A stopped server's data directory where the next maintenance round has a
    cut (scope "cut": 4 hours in the head) or a compaction to do (three 1-hour
    blocks in a complete 3-hour window)."""
    t0 = base_hour()
    if scope == "compact":
        srv = make_saba(config=FAST, env={"SABA_TEST_COMPACT": "off"})
        make_blocks(srv, t0, 4)
        assert srv.metric("saba_blocks") == 3
        hours = 4
    else:
        srv = make_saba(config=CONFIG % "1h")
        for h in range(4):
            write_hour(srv, t0, h)
        hours = 4
    shutdown(srv)
    return srv.data_dir, t0, hours


@pytest.mark.parametrize("scope", ["compact", "cut"])
def test_kill9_at_every_step(make_saba, tmp_path, scope):
    """SIGKILL at the N-th file operation of a compaction (or head cut), for
    every N: after restart every sample is there exactly once, and the blocks
    hold each sample once (old blocks or the new one, never both)."""
    src, t0, hours = prepared_dir(make_saba, tmp_path, scope)
    total = hours * 60 * SERIES
    completed = False
    for n in range(1, 200):
        d = str(tmp_path / ("crash%d" % n))
        shutil.copytree(src, d)
        srv = Saba(d, config=FAST, env={"SABA_TEST_CRASH": "%s:%d" % (scope, n)})
        try:
            srv.start(wait_ready=False)
        except RuntimeError:
            # maintenance may reach the crash point before the server has
            # logged that it listens (a loaded machine): that is a crash too
            if srv.proc.returncode != -signal.SIGKILL:
                raise
        wait_for(lambda: srv.proc.poll() is not None or
                 ("blocks compacted" if scope == "compact" else "head cut into") in srv.log(),
                 "the %s to crash or finish" % scope)
        crashed = srv.proc.poll() is not None
        if crashed:
            assert srv.proc.returncode == -signal.SIGKILL, srv.log()[-2000:]
        else:
            shutdown(srv)
            completed = True
        srv = Saba(d, config=CONFIG % "1h")  # no maintenance during the checks
        srv.start()
        try:
            check_hours(srv, t0, hours)
            in_blocks = srv.metric("saba_block_samples")
            in_head = srv.metric("saba_head_samples")
            # each sample in blocks at most once (a cut may leave a copy in the
            # head too, which queries merge)
            assert in_blocks <= total, (n, in_blocks)
            assert in_blocks + in_head >= total, (n, in_blocks, in_head)
            blocks = os.listdir(os.path.join(d, "blocks"))
            assert not [b for b in blocks if b.endswith((".tmp", ".del"))], blocks
        finally:
            shutdown(srv)
        shutil.rmtree(d)
        if completed:
            break
    assert completed, "the %s never completed within 200 crash points" % scope
    assert n > 10, "too few crash points (%d): the hook is not working" % n


def test_corrupt_block_is_skipped_by_name(make_saba):
    t0 = base_hour()
    srv = make_saba(config=FAST, env={"SABA_TEST_COMPACT": "off"})
    make_blocks(srv, t0, 3)  # blocks for hours 0 and 1, hour 2 in the head
    shutdown(srv)
    blocks = sorted(os.listdir(os.path.join(srv.data_dir, "blocks")))
    bad = os.path.join(srv.data_dir, "blocks", blocks[0], "index")
    with open(bad, "r+b") as f:
        f.seek(20)
        b = f.read(1)
        f.seek(20)
        f.write(bytes([b[0] ^ 0xFF]))
    srv.start()
    assert re.search(r"block does not verify; skipped\" block=\S*%s" % blocks[0], srv.log())
    r = srv.query("count_over_time(st_v[%ds])" % (3 * HOUR), t0 + 3 * HOUR)
    assert r.status == 200, r.body
    # hour 0 is gone with its block; hours 1 and 2 are served
    assert {s["value"][1] for s in r.json()["data"]["result"]} == {"120"}
    assert srv.metric("saba_blocks_corrupt") == 1
    write_hour(srv, t0, 3)  # writes go on


def mount_tmpfs(path, size):
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_refuses_writes_keeps_reads(make_saba, tmp_path):
    mnt = str(tmp_path / "small")
    ok, why = mount_tmpfs(mnt, "4m")
    if not ok:
        pytest.skip("cannot mount a tmpfs: " + why)
    try:
        srv = make_saba(data_dir=os.path.join(mnt, "data"),
                        config="wal:\n  segment_size: 1MiB\n")
        t0 = int(time.time()) - 3 * HOUR
        acked = []
        full = None
        pad = "x" * 200
        for i in range(400):  # bounded: 4 MiB fill up long before
            body = "\n".join("full,k=%d,i=%d,pad=%s v=%d %d" % (k, i, pad, i, t0 + i)
                             for k in range(200))
            r = srv.write_lp(body, precision="s")
            if r.status == 204:
                acked.append(i)
                continue
            full = r
            break
        assert full is not None, "the small filesystem never filled up"
        assert full.status == 507, (full.status, full.body)
        assert "disk full" in full.body, full.body
        assert "disk full: writes refused" in srv.log()
        # reads keep working
        r = srv.query("count(full_v)", t0 + acked[-1])
        assert r.status == 200, r.body
        # space comes back (here: the filesystem grows) and writes resume
        subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
        body = "\n".join("full,k=%d,i=%d v=%d %d" % (k, 9999, 9999, t0 + 9999) for k in range(200))
        r = srv.write_lp(body, precision="s")
        assert r.status == 204, r.body
        srv.restart()
        r = srv.query("count(count_over_time(full_v[%ds]))" % (10000), t0 + 9999)
        assert r.status == 200, r.body
        got = int(r.json()["data"]["result"][0]["value"][1])
        assert got == (len(acked) + 1) * 200, (got, len(acked))
        shutdown(srv)
    finally:
        subprocess.run(["umount", "-l", mnt])


def rollup_value(f, samples, lo, hi):
    """f over the samples with lo <= t <= hi (raw PromQL semantics)."""
    vs = [v for t, v in samples if lo <= t <= hi]
    if not vs:
        return None
    return {"max": max(vs), "min": min(vs), "sum": sum(vs), "count": len(vs),
            "avg": sum(vs) / len(vs), "last": vs[-1]}[f]


def test_rollups_answer_after_raw_retention(make_saba):
    """Raw data past retention is deleted only once rolled up; range queries
    whose step fits a tier are answered from the rollups with the values raw
    samples would give (closed windows, exact boundary samples included)."""
    t0 = base_hour()
    srv = make_saba(config=FAST.replace("9h", "3h") + "  retention:\n    raw: 4h\n")
    samples = {s: [] for s in range(SERIES)}
    lines = []
    for h in range(7):
        for m in range(60):
            for s in range(SERIES):
                t = t0 + h * HOUR + m * 60
                v = ((h * 60 + m) * 7919 + s * 13) % 1000
                samples[s].append((t, v))
                lines.append("st,s=%d v=%d %d" % (s, v, t))
    r = srv.write_lp("\n".join(lines), precision="s")
    assert r.status == 204, r.body
    # hours 0-5 are cut, rolled up at 1m and 1h, then the raw block goes
    wait_for(lambda: "rollup written" in srv.log() and srv.metric("saba_block_samples") == 0,
             "rollups and raw retention")
    r = srv.query("st_v", t0 + 3 * HOUR)
    assert r.json()["data"]["result"] == [], "raw samples should be gone"
    for f in ["max", "min", "sum", "count", "avg", "last"]:
        for rng, step in [("1h", HOUR), ("2h", HOUR), ("5m", 300)]:
            secs = {"1h": HOUR, "2h": 2 * HOUR, "5m": 300}[rng]
            start, end = t0 + 2 * HOUR, t0 + 6 * HOUR
            got = srv.values("%s_over_time(st_v[%s])" % (f, rng), start, end, step)
            assert len(got) == SERIES, (f, rng, got)
            for key, pts in got.items():
                s = int(dict(key)["s"])
                want = []
                for t in range(start, end + 1, step):
                    w = rollup_value(f, samples[s], t - secs, t)
                    if w is not None:
                        want.append((float(t), w))
                assert [(t, float(v)) for t, v in pts] == [(t, float(w)) for t, w in want], \
                    (f, rng, s)
            # an aggregation around the call is folded while the rollups are read
            for agg in ["max", "min", "sum", "avg", "count"]:
                got = srv.values("%s(%s_over_time(st_v[%s]))" % (agg, f, rng), start, end, step)
                want = []
                for t in range(start, end + 1, step):
                    vs = [rollup_value(f, samples[s], t - secs, t) for s in range(SERIES)]
                    vs = [v for v in vs if v is not None]
                    if vs:
                        want.append((float(t), {"max": max, "min": min, "sum": sum, "count": len,
                                                "avg": lambda x: sum(x) / len(x)}[agg](vs)))
                assert list(got) == [()], (agg, f, rng, got)
                pts = got[()]
                assert [t for t, _ in pts] == [t for t, _ in want], (agg, f, rng)
                for (t, v), (_, w) in zip(pts, want):
                    assert abs(float(v) - w) <= 1e-9 * abs(w), (agg, f, rng, t, v, w)
    shutdown(srv)
    srv.start()
    got = srv.values("max_over_time(st_v[1h])", t0 + HOUR, t0 + 5 * HOUR, HOUR)
    assert len(got) == SERIES
    # deleting the samples of hour 2 of one series drops those buckets from
    # the rollup blocks' answers (whole buckets: the range is bucket-aligned)
    lo, hi = t0 + 2 * HOUR + 60, t0 + 3 * HOUR
    r = srv.request("POST", "/api/v1/admin/tsdb/delete_series",
                    params={"match[]": 'st_v{s="1"}', "start": lo, "end": hi})
    assert r.status == 204, r.body
    samples[1] = [(t, v) for t, v in samples[1] if not lo <= t <= hi]
    for restart in [False, True]:
        if restart:
            srv.restart()
        for f in ["max", "count", "avg", "last"]:
            for rng, step in [("1h", HOUR), ("5m", 300)]:
                secs = {"1h": HOUR, "5m": 300}[rng]
                start, end = t0 + HOUR, t0 + 6 * HOUR
                got = srv.values('%s_over_time(st_v{s="1"}[%s])' % (f, rng), start, end, step)
                want = []
                for t in range(start, end + 1, step):
                    w = rollup_value(f, samples[1], t - secs, t)
                    if w is not None:
                        want.append((float(t), float(w)))
                assert [(t, float(v)) for t, v in list(got.values())[0]] == want, (f, rng)


def test_admin_flush_writes_the_head_to_blocks(make_saba):
    t0 = base_hour()
    srv = make_saba()
    write_hour(srv, t0, 0)
    assert srv.metric("saba_blocks") == 0
    r = srv.request("POST", "/api/v0/admin/tsdb/flush", body=b"")
    assert r.status == 200 and r.json()["success"] and r.json()["blocks"] >= 1, r.body
    assert srv.metric("saba_head_samples") == 0
    assert srv.metric("saba_block_samples") == 60 * SERIES
    check_hours(srv, t0, 1)
    srv.restart()
    check_hours(srv, t0, 1)


def test_storage_settings_are_checked(tmp_path):
    from conftest import SABA_BIN
    cases = [
        ("storage:\n  retention:\n    raw: 2d\n",
         "storage.retention.raw must be longer than storage.max_block_duration"),
        ("storage:\n  rollups:\n    fine: 2h\n",
         "storage.rollups.coarse must be wider than storage.rollups.fine"),
        ("storage:\n  block_duration: 10s\n", '"storage.block_duration": invalid value "10s"'),
        ("storage:\n  max_block_duration: 1h\n",
         "storage.max_block_duration must be at least storage.block_duration"),
    ]
    for i, (cfg, want) in enumerate(cases):
        path = tmp_path / ("c%d.yml" % i)
        path.write_text(cfg)
        r = subprocess.run([SABA_BIN, "server", "--config", str(path), "--data",
                            str(tmp_path / "d"), "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and want in r.stderr, (cfg, r.stderr)


def test_delete_series_applied_by_compaction(make_saba):
    """Deleted samples disappear from queries at once, the blocks holding them
    are rewritten without them, and they stay deleted after a restart."""
    t0 = base_hour()
    srv = make_saba(config=FAST)
    make_blocks(srv, t0, 3)  # hours 0-1 in blocks, hour 2 in the head
    lo, hi = t0 + 1800, t0 + 2 * HOUR + 1800
    r = srv.request("POST", "/api/v1/admin/tsdb/delete_series",
                    params={"match[]": 'st_v{s="1"}', "start": lo, "end": hi})
    assert r.status == 204, r.body
    m = re.search(r"series deleted\" .*block_series=(\d+) head_samples=(\d+)", srv.log())
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) == 31, srv.log()[-1500:]

    def check():
        got = srv.raw("st_v", t0 + 3 * HOUR, "4h")
        assert len(got) == SERIES
        for key, vals in got.items():
            ts = [t for t, _ in vals]
            if dict(key)["s"] == "1":
                assert ts == [float(t0 + m * 60) for m in range(180)
                              if not lo <= t0 + m * 60 <= hi], ts[:5]
            else:
                assert len(ts) == 180
    check()
    # compaction rewrites every block that has tombstones
    wait_for(lambda: not any(os.path.exists(os.path.join(srv.data_dir, "blocks", b, "tombstones"))
                             for b in os.listdir(os.path.join(srv.data_dir, "blocks"))),
             "tombstones to be applied")
    check()
    srv.restart()
    check()
    r = srv.request("POST", "/api/v1/admin/tsdb/delete_series")
    assert r.status == 400 and "match[]" in r.body
    r = srv.request("POST", "/api/v1/admin/tsdb/delete_series", params={"match[]": "st_v{"})
    assert r.status == 400 and "invalid parameter" in r.body
