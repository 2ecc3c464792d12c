"""InfluxDB line protocol over HTTP: v1 /write and v2 /api/v2/write."""
import gzip
import time

import pytest

T = int(time.time()) - 3600


def one(saba, q, t):
    r = saba.query(q, t)
    assert r.status == 200, r.body
    res = r.json()["data"]["result"]
    assert len(res) == 1, res
    return res[0]


def test_fields_become_series_and_tags_labels(saba):
    r = saba.write_lp("cpu,host=web-1,cpu=cpu0 usage_user=12.5,usage_system=3i %d" % T,
                      precision="s")
    assert r.status == 204, r.body
    s = one(saba, 'cpu_usage_user{host="web-1"}', T)
    assert s["metric"] == {"__name__": "cpu_usage_user", "host": "web-1", "cpu": "cpu0"}
    assert s["value"] == [T, "12.5"]
    assert one(saba, "cpu_usage_system", T)["value"][1] == "3"


@pytest.mark.parametrize("precision,ts", [
    ("s", T), ("ms", T * 1000), ("us", T * 10**6), ("u", T * 10**6), ("ns", T * 10**9),
    ("n", T * 10**9), (None, T * 10**9), ("m", T // 60), ("h", T // 3600),
])
def test_precisions(saba, precision, ts):
    assert saba.write_lp("p v=7 %d" % ts, precision=precision).status == 204
    expect = {"m": (T // 60) * 60, "h": (T // 3600) * 3600}.get(precision, T)
    raw = saba.raw("p_v", expect + 1, "2s")
    assert list(raw.values()) == [[(expect, "7")]]


def test_field_types(saba):
    body = 'ft f=1.5,i=-3i,u=4u,b1=true,b2=F,s="text, with \\"quotes\\"",e=1e3 %d' % T
    assert saba.write_lp(body, precision="s").status == 204
    got = {k: one(saba, "ft_" + k, T)["value"][1] for k in ["f", "i", "u", "b1", "b2", "e"]}
    assert got == {"f": "1.5", "i": "-3", "u": "4", "b1": "1", "b2": "0", "e": "1000"}
    assert saba.query("ft_s", T).json()["data"]["result"] == []
    assert saba.metric("saba_influx_string_fields_skipped_total") == 1


def test_escaping(saba):
    body = r'my\ meas\,x,tag\ key=val\=ue\,1 fi\=eld=1 %d' % T
    assert saba.write_lp(body, precision="s").status == 204, body
    s = one(saba, '{__name__="my meas,x_fi=eld"}', T)
    assert s["metric"]["tag key"] == "val=ue,1"


def test_what_the_influx_cli_sends(saba):
    body = "\n   # a comment\n\n  lead v=1 %d\r\n\t\ntrail v=2 %d\n\n" % (T, T)
    r = saba.request("POST", "/write?precision=s", body=body, headers={"Content-Type": ""})
    assert r.status == 204, r.body
    assert one(saba, "lead_v", T)["value"][1] == "1"
    assert one(saba, "trail_v", T)["value"][1] == "2"


def test_v2_with_org_bucket_token(saba):
    r = saba.write_lp("v2m,host=a v=5 %d" % (T * 1000), path="/api/v2/write",
                      params={"org": "my-org", "bucket": "b", "precision": "ms"},
                      headers={"Authorization": "Token abc123"})
    assert r.status == 204, r.body
    assert one(saba, "v2m_v", T)["value"][1] == "5"


def test_v2_rejects_v1_only_precision_names(saba):
    r = saba.write_lp("x v=1 1", path="/api/v2/write", params={"precision": "fortnight"})
    assert r.status == 400 and "precision" in r.json()["error"]


def test_gzip_body(saba):
    body = "".join("gz,host=h%d v=%d %d\n" % (i, i, T) for i in range(100))
    r = saba.request("POST", "/write?precision=s", body=gzip.compress(body.encode()),
                     headers={"Content-Encoding": "gzip"})
    assert r.status == 204, r.body
    assert len(saba.query("gz_v", T).json()["data"]["result"]) == 100


def test_bad_gzip_and_unknown_encoding(saba):
    r = saba.request("POST", "/write", body=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert r.status == 400 and "gzip" in r.json()["error"]
    r = saba.request("POST", "/write", body=b"x v=1", headers={"Content-Encoding": "br"})
    assert r.status == 415


def test_bad_line_rejects_whole_batch_with_line_number(saba):
    body = "good v=1 %d\ngood v=2 %d\nbad v=oops %d\ngood v=3 %d\n" % (T, T + 1, T + 2, T + 3)
    r = saba.write_lp(body, precision="s")
    assert r.status == 400
    err = r.json()
    assert err["line"] == 3
    assert err["error"].startswith("line 3:") and "invalid number" in err["error"]
    # nothing of the batch was stored
    assert saba.query("good_v", T + 3).json()["data"]["result"] == []
    assert saba.metric('saba_ingest_rejected_total{protocol="influx"}') == 1


@pytest.mark.parametrize("line,reason", [
    ("nofields", "missing fields"),
    ("m v=", "missing field value"),
    ("m v=1 notatime", "invalid timestamp"),
    ('m s="unterminated', "unterminated string"),
    ("m,t v=1", "missing tag value"),
    (",t=1 v=1", "missing measurement"),
    ("m v=12xi", "invalid integer"),
    ("m v=1i2", "invalid number"),
    ("m,__x=1 v=1", "reserved"),
    ("m,a=1,a=2 v=1", "duplicate label"),
    ("m v=1 99999999999999", "future"),
    ("m v=1 -5", "before 1970"),
    ("m v=1e999", "out of range"),
])
def test_bad_lines(saba, line, reason):
    r = saba.write_lp(line, precision="s")
    assert r.status == 400, (line, r.body)
    assert r.json()["line"] == 1
    assert reason in r.json()["error"], r.body


def test_invalid_utf8_is_rejected(saba):
    r = saba.request("POST", "/write?precision=s", body=b"m,host=\xff\xfe v=1 1")
    assert r.status == 400 and "UTF-8" in r.json()["error"]


def test_limits_413_for_huge_line_and_body(make_saba):
    s = make_saba(config="limits:\n  max_line_size: 1KiB\n  max_body_size: 64KiB\n")
    r = s.write_lp("m,t=%s v=1" % ("x" * 2000))
    assert r.status == 413 and r.json()["line"] == 1
    r = s.write_lp("m v=1\n" * 20000)
    assert r.status == 413
    r = s.request("POST", "/write", body=gzip.compress(b"m v=1\n" * 20000),
                  headers={"Content-Encoding": "gzip"})
    assert r.status == 413 and "decompressed" in r.json()["error"]


def test_label_limits(make_saba):
    s = make_saba(config="limits:\n  max_labels_per_series: 3\n  max_label_value_length: 16\n")
    r = s.write_lp("m,a=1,b=2,c=3 v=1")
    assert r.status == 400 and "limit of 3" in r.json()["error"]
    r = s.write_lp("m,a=%s v=1" % ("y" * 17))
    assert r.status == 400 and "longer than 16" in r.json()["error"]


def test_timestamp_missing_means_now(saba):
    before = time.time()
    assert saba.write_lp("now v=1").status == 204
    r = saba.query("now_v[1m]", time.time() + 1).json()["data"]["result"]
    ts = r[0]["values"][0][0]
    assert before - 1 <= ts <= time.time() + 1
