"""Defined storage behaviour: out-of-order, duplicates, NaN/Inf, far past/future, replay."""
import time

T = (int(time.time()) // 60) * 60 - 7200


def raw(saba, sel, t_end, window="1h"):
    r = saba.raw(sel, t_end, window)
    assert len(r) <= 1, r
    return list(r.values())[0] if r else []


def test_out_of_order_samples_are_inserted_in_time_order(saba):
    for t in [T + 30, T + 10, T + 40, T + 20, T]:
        assert saba.write_lp("ooo v=%d %d" % (t - T, t), precision="s").status == 204
    want = [(T + k, str(k)) for k in (0, 10, 20, 30, 40)]
    assert raw(saba, "ooo_v", T + 40) == want
    assert saba.metric("saba_head_out_of_order_samples_total") == 3
    saba.restart()  # replay rebuilds the same series
    assert raw(saba, "ooo_v", T + 40) == want


def test_out_of_order_across_many_chunks(saba):
    # 500 in-order samples (several chunks), then a backfill of every odd second
    body = "\n".join("bf v=%d %d" % (i, T + 2 * i) for i in range(500))
    assert saba.write_lp(body, precision="s").status == 204
    body = "\n".join("bf v=%d %d" % (i, T + 2 * i + 1) for i in range(500))
    assert saba.write_lp(body, precision="s").status == 204
    got = raw(saba, "bf_v", T + 1000, "20m")
    assert [t for t, _ in got] == [T + k for k in range(1000)]
    saba.restart()
    assert raw(saba, "bf_v", T + 1000, "20m") == got


def test_same_timestamp_last_write_wins(saba):
    assert saba.write_lp("dup v=1 %d" % T, precision="s").status == 204
    assert saba.write_lp("dup v=1 %d" % T, precision="s").status == 204  # exact duplicate
    assert raw(saba, "dup_v", T) == [(T, "1")]
    assert saba.write_lp("dup v=2 %d" % T, precision="s").status == 204
    assert raw(saba, "dup_v", T) == [(T, "2")]
    # within one batch, the later line wins too
    assert saba.write_lp("dup v=3 %d\ndup v=4 %d" % (T, T), precision="s").status == 204
    assert raw(saba, "dup_v", T) == [(T, "4")]
    saba.restart()
    assert raw(saba, "dup_v", T) == [(T, "4")]


def test_nan_and_inf_are_stored(saba):
    saba.write_json([{"name": "spec", "time": T, "value": "NaN"},
                     {"name": "spec", "time": T + 1, "value": "+Inf"},
                     {"name": "spec", "time": T + 2, "value": "-Inf"}])
    assert raw(saba, "spec", T + 2) == [(T, "NaN"), (T + 1, "+Inf"), (T + 2, "-Inf")]


def test_far_future_rejected_far_past_accepted(saba):
    future = int(time.time()) + 11 * 60
    r = saba.write_lp("fut v=1 %d" % future, precision="s")
    assert r.status == 400 and "in the future" in r.json()["error"]
    near = int(time.time()) + 5 * 60  # within the 10 min clock-skew allowance
    assert saba.write_lp("fut v=1 %d" % near, precision="s").status == 204
    # 1971 is fine (backfill), before 1970 is not
    assert saba.write_lp("old v=1 %d" % (365 * 86400), precision="s").status == 204
    assert raw(saba, "old_v", 365 * 86400) == [(365 * 86400, "1")]
    r = saba.write_json([{"name": "older", "time": -10, "value": 1}])
    assert r.status == 400


def test_empty_label_value_means_no_label(saba):
    saba.write_json([{"name": "el", "labels": {"a": "", "b": "x"}, "time": T, "value": 1}])
    r = saba.query("el", T).json()["data"]["result"]
    assert r[0]["metric"] == {"__name__": "el", "b": "x"}


def test_torn_wal_tail_is_truncated_on_restart(saba, datadir):
    import glob
    import os
    assert saba.write_lp("torn v=1 %d" % T, precision="s").status == 204
    saba.stop()
    seg = sorted(glob.glob(os.path.join(datadir, "wal", "*")))[-1]
    with open(seg, "ab") as f:
        f.write(b"\x40\x00\x00\x00\xde\xad\xbe\xefpartial record")
    saba.start()
    assert "truncating torn WAL tail" in saba.log()
    assert raw(saba, "torn_v", T) == [(T, "1")]
    assert saba.write_lp("torn v=2 %d" % (T + 1), precision="s").status == 204
    saba.restart()
    assert raw(saba, "torn_v", T + 1) == [(T, "1"), (T + 1, "2")]
