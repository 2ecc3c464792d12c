"""Graphite plaintext over TCP and saba JSON over HTTP."""
import json
import math
import time

T = int(time.time()) - 3600


def result(saba, q, t):
    r = saba.query(q, t)
    assert r.status == 200, r.body
    return r.json()["data"]["result"]


def test_graphite_dotted_names_and_tags(saba):
    saba.graphite_send("servers.web-1.loadavg5 0.42 %d\nreq.count;env=prod;dc=tokyo 17 %d\n"
                       % (T, T))
    r = result(saba, '{__name__="servers.web-1.loadavg5"}', T)
    assert r[0]["value"][1] == "0.42"
    r = result(saba, '{__name__="req.count", env="prod"}', T)
    assert r[0]["metric"] == {"__name__": "req.count", "env": "prod", "dc": "tokyo"}


def test_graphite_collectd_style(saba):
    # collectd: CRLF line ends, "nan" for unknown values, fractional timestamps
    saba.graphite_send("collectd.host.cpu.idle 99.5 %d.250\r\ncollectd.host.load nan %d\r\n"
                       % (T, T))
    r = saba.raw('{__name__="collectd.host.cpu.idle"}', T + 1, "5s")
    assert list(r.values()) == [[(T + 0.25, "99.5")]]
    r = result(saba, '{__name__="collectd.host.load"}', T)
    assert r[0]["value"][1] == "NaN"


def test_graphite_bad_lines_skipped_and_counted(saba):
    saba.graphite_send("ok.a 1 %d\nbroken\nok.b notanumber %d\nok.c 3 %d\n;x=1 5 %d\n"
                       % (T, T, T, T))
    assert result(saba, '{__name__="ok.a"}', T)[0]["value"][1] == "1"
    assert result(saba, '{__name__="ok.c"}', T)[0]["value"][1] == "3"
    assert saba.metric('saba_ingest_rejected_total{protocol="graphite"}') == 3
    assert "bad line skipped" in saba.log()
    assert saba.metric('saba_ingested_samples_total{protocol="graphite"}') == 2


def test_graphite_missing_timestamp_is_now(saba):
    before = time.time()
    saba.graphite_send("now.metric 5\n")
    r = saba.raw('{__name__="now.metric"}', time.time() + 1, "1m")
    (ts, v), = list(r.values())[0]
    assert before - 1 <= ts <= time.time() + 1 and v == "5"


def test_graphite_many_lines_one_connection(saba):
    lines = "".join("bulk.m%d %d %d\n" % (i % 50, i, T + i // 50) for i in range(20000))
    saba.graphite_send(lines)
    assert saba.metric('saba_ingested_samples_total{protocol="graphite"}') == 20000


def test_json_basic_and_host_shorthand(saba):
    r = saba.write_json([
        {"name": "node_load5", "labels": {"host": "web-1"}, "time": T, "value": 0.42},
        {"name": "node_load1", "host": "web-2", "time": T + 0.5, "value": 1},
        {"name": "weird", "time": T, "value": "NaN"},
        {"name": "posinf", "time": T, "value": "+Inf"},
    ])
    assert r.status == 200 and r.json() == {"success": True, "samples": 4}
    assert result(saba, 'node_load5{host="web-1"}', T)[0]["value"][1] == "0.42"
    raw = saba.raw('node_load1{host="web-2"}', T + 1, "5s")
    assert list(raw.values()) == [[(T + 0.5, "1")]]
    assert result(saba, "weird", T)[0]["value"][1] == "NaN"
    assert result(saba, "posinf", T)[0]["value"][1] == "+Inf"


def test_json_errors_name_the_item(saba):
    good = {"name": "g", "time": T, "value": 1}
    cases = [
        ({"time": T, "value": 1}, '"name" must be a string'),
        ({"name": "x", "time": "now", "value": 1}, '"time" must be a number'),
        ({"name": "x", "time": T, "value": "lots"}, '"value" must be a number'),
        ({"name": "x", "time": T, "value": 1, "extra": 1}, 'unknown key "extra"'),
        ({"name": "x", "time": T, "value": 1, "labels": {"a": 1}}, 'label "a" must be a string'),
        ({"name": "x", "host": "a", "labels": {"host": "b"}, "time": T, "value": 1}, "differ"),
        ({"name": "x", "time": -1, "value": 1}, "out of range"),
    ]
    for bad, reason in cases:
        r = saba.write_json([good, bad])
        assert r.status == 400, bad
        e = r.json()
        assert e["line"] == 2 and e["error"].startswith("item 2:") and reason in e["error"], e
    assert result(saba, "g", T) == []  # nothing of a bad batch is stored


def test_json_syntax_error_reports_line(saba):
    r = saba.request("POST", "/api/v0/metrics", body='[\n{"name": "x",\n "time": }\n]')
    assert r.status == 400
    assert r.json()["line"] == 3 and "invalid JSON" in r.json()["error"]
    r = saba.request("POST", "/api/v0/metrics", body='"a string"')
    assert r.status == 400 and "array" in r.json()["error"]
