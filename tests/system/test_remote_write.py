"""Prometheus remote write into saba: POST /api/v1/write (protobuf + snappy).

A real Prometheus server scrapes saba's /metrics and remote-writes what it
scrapes to saba, and the series must arrive; hand-built requests check the
protocol's status codes (204 stored, 400 bad data that the sender must not
retry, 415 wrong encoding) and that staleness markers pass through.
"""
import struct
import time
import urllib.request

import pytest

from prom import Prometheus, STALE_NAN, encode_write_request, remote_write


def now_ms():
    return int(time.time() * 1000)


def test_samples_are_stored(saba):
    t = now_ms() - 60_000
    st, body = remote_write(saba.http + "/api/v1/write", [
        ({"__name__": "rw_test", "job": "a"}, [(t, 1.5), (t + 15_000, 2.5)]),
        ({"__name__": "rw_test", "job": "b"}, [(t, -3)]),
    ])
    assert st == 204, body
    got = saba.raw("rw_test", (t + 15_000) / 1000, "1m")
    assert got == {
        (("__name__", "rw_test"), ("job", "a")): [(t / 1000, "1.5"), ((t + 15_000) / 1000, "2.5")],
        (("__name__", "rw_test"), ("job", "b")): [(t / 1000, "-3")],
    }
    assert saba.metric('saba_ingested_samples_total{protocol="remote_write"}') == 3


def test_stale_marker_ends_the_series(saba):
    t = now_ms() - 120_000
    st, body = remote_write(saba.http + "/api/v1/write", [
        ({"__name__": "rw_stale"}, [(t, 1), (t + 30_000, STALE_NAN)]),
    ])
    assert st == 204, body
    r = saba.query("rw_stale", (t + 10_000) / 1000).json()["data"]["result"]
    assert [s["value"][1] for s in r] == ["1"]
    # after the marker the series is gone at once, not after the 5 m lookback
    r = saba.query("rw_stale", (t + 40_000) / 1000).json()["data"]["result"]
    assert r == []


@pytest.mark.parametrize("series,text", [
    ([({"job": "x"}, [(1, 1.0)])], "series 1, sample 1: missing metric name"),
    ([({"__name__": "ok"}, [(1, 1.0)]),
      ({"__name__": "bad"}, [(1, 1.0), (int(time.time() * 1000) + 10 * 86400_000, 1.0)])],
     "series 2, sample 2: "),
])
def test_bad_series_is_400_and_nothing_is_stored(saba, series, text):
    st, body = remote_write(saba.http + "/api/v1/write", series)
    assert st == 400, body
    assert text in body
    assert saba.query("ok", 1).json()["data"]["result"] == []


def post(saba, body, encoding):
    req = urllib.request.Request(saba.http + "/api/v1/write", data=body, method="POST",
                                 headers={"Content-Encoding": encoding,
                                          "Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_protocol_errors(saba):
    st, body = post(saba, b"\xff\xff\xff\xff not snappy", "snappy")
    assert st == 400 and "snappy" in body
    import snappy
    st, body = post(saba, snappy.compress(b"\x0a\xff\x01garbage"), "snappy")
    assert st == 400 and "protobuf" in body
    st, body = post(saba, encode_write_request([({"__name__": "x"}, [(1, 1)])]), "br")
    assert st == 415 and "Content-Encoding" in body
    # a declared length beyond the body limit is refused before allocating it
    huge = bytes([0xff, 0xff, 0xff, 0xff, 0x0f])  # varint length 4 GiB - 1
    st, body = post(saba, huge, "snappy")
    assert st == 413, body


def test_a_real_prometheus_remote_writes_to_saba(saba, tmp_path):
    """Prometheus scrapes saba's /metrics every second and remote-writes it back."""
    host = saba.http[len("http://"):]
    cfg = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: saba
    static_configs:
      - targets: ['%s']
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
""" % (host, saba.http)
    prom = Prometheus(str(tmp_path / "prom"), cfg).start()
    try:
        deadline = time.time() + 60
        got = []
        while time.time() < deadline:
            got = saba.query('up{job="saba"}').json()["data"]["result"]
            n = saba.query('count({job="saba"})').json()["data"]["result"]
            if got and n and float(n[0]["value"][1]) > 10:
                break
            time.sleep(0.5)
        assert got and got[0]["value"][1] == "1", got
        assert got[0]["metric"]["instance"] == host
        # what Prometheus scraped, saba has: the same series names for the job
        st, body = prom.get("/api/v1/label/__name__/values", {"match[]": '{job="saba"}'})
        assert st == 200
        import json
        prom_names = set(json.loads(body)["data"])
        time.sleep(3)  # let the newest scrape's samples arrive too
        saba_names = set(saba.get("/api/v1/label/__name__/values",
                                  **{"match[]": '{job="saba"}'}).json()["data"])
        assert prom_names and prom_names <= saba_names, prom_names - saba_names
        assert saba.metric('saba_ingest_rejected_total{protocol="remote_write"}') == 0
    finally:
        prom.stop()
