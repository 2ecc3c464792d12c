"""Prometheus query API: shapes, matchers, lookback, steps, metadata endpoints, errors."""
import math
import time
import urllib.parse

import pytest

T = (int(time.time()) // 60) * 60 - 7200  # a minute boundary two hours ago


@pytest.fixture
def loaded(saba):
    lines = []
    for host in ["web-1", "web-2", "db-1"]:
        for i in range(0, 30):  # one sample every 10 s for 5 minutes
            lines.append("cpu,host=%s,env=%s usage=%d %d" % (
                host, "prod" if host != "web-2" else "staging", i, T + 10 * i))
    lines.append("mem,host=web-1 used=100 %d" % T)
    lines.append("nolabel value=1 %d" % T)
    assert saba.write_lp("\n".join(lines), precision="s").status == 204
    return saba


def hosts(r):
    return sorted(s["metric"].get("host") for s in r.json()["data"]["result"])


def test_instant_vector_shape(loaded):
    r = loaded.query('cpu_usage{host="web-1"}', T + 100)
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "cpu_usage", "host": "web-1", "env": "prod"},
         "value": [T + 100, "10"]}]}}


def test_four_matcher_types(loaded):
    t = T + 100
    assert hosts(loaded.query('cpu_usage{host="web-1"}', t)) == ["web-1"]
    assert hosts(loaded.query('cpu_usage{host!="web-1"}', t)) == ["db-1", "web-2"]
    assert hosts(loaded.query('cpu_usage{host=~"web-.*"}', t)) == ["web-1", "web-2"]
    assert hosts(loaded.query('cpu_usage{host!~"web-.*"}', t)) == ["db-1"]
    # regexes are anchored: "web" alone matches nothing
    assert hosts(loaded.query('cpu_usage{host=~"web"}', t)) == []
    assert hosts(loaded.query('cpu_usage{host=~"WEB-1|db-1"}', t)) == ["db-1"]
    assert hosts(loaded.query('cpu_usage{host=~"(?i)WEB-1"}', t)) == ["web-1"]
    assert hosts(loaded.query('{__name__=~"cpu_.*", env="staging"}', t)) == ["web-2"]
    # a matcher that accepts "" also selects series without the label
    r = loaded.query('{__name__=~"mem_used|nolabel_value", host!="x"}', t)
    assert len(r.json()["data"]["result"]) == 2


def test_lookback_is_five_minutes_inclusive(loaded):
    last = T + 290  # newest sample of every cpu series
    assert hosts(loaded.query('cpu_usage', last + 300)) == ["db-1", "web-1", "web-2"]
    assert hosts(loaded.query('cpu_usage', last + 301)) == []
    # before the first sample there is nothing
    assert hosts(loaded.query('cpu_usage', T - 1)) == []


def test_offset_and_at(loaded):
    r = loaded.query('cpu_usage{host="web-1"} offset 1m', T + 100)
    assert r.json()["data"]["result"][0]["value"] == [T + 100, "4"]
    r = loaded.query('cpu_usage{host="web-1"} @ %d' % (T + 50), T + 1000)
    assert r.json()["data"]["result"][0]["value"] == [T + 1000, "5"]


def test_range_vector_instant_query_returns_raw_samples(loaded):
    r = loaded.query('cpu_usage{host="web-1"}[30s]', T + 100)
    res = r.json()["data"]
    assert res["resultType"] == "matrix"
    # [t-30s, t] closed: 70, 80, 90, 100
    assert res["result"][0]["values"] == [[T + 70, "7"], [T + 80, "8"], [T + 90, "9"],
                                          [T + 100, "10"]]


def test_query_range_steps_and_shape(loaded):
    r = loaded.query_range('cpu_usage{host="db-1"}', T, T + 120, 60)
    assert r.status == 200
    d = r.json()["data"]
    assert d["resultType"] == "matrix"
    assert d["result"] == [{"metric": {"__name__": "cpu_usage", "host": "db-1", "env": "prod"},
                            "values": [[T, "0"], [T + 60, "6"], [T + 120, "12"]]}]
    # steps are start + k*step, not aligned to step multiples (as in Prometheus)
    r = loaded.query_range('cpu_usage{host="db-1"}', T + 7, T + 30, 10)
    assert [v[0] for v in r.json()["data"]["result"][0]["values"]] == [T + 7, T + 17, T + 27]
    # the step may be a duration string and times may be RFC 3339
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T))
    r = loaded.query_range('cpu_usage{host="db-1"}', start, T + 60, "1m")
    assert len(r.json()["data"]["result"][0]["values"]) == 2
    # points past the lookback window disappear from the series
    r = loaded.query_range('cpu_usage{host="db-1"}', T + 240, T + 840, 60)
    assert [v[0] for v in r.json()["data"]["result"][0]["values"]] == [
        T + 240 + 60 * k for k in range(6)]


def test_scalar_string_and_unary(loaded):
    r = loaded.query("3.5", T)
    assert r.json()["data"] == {"resultType": "scalar", "result": [T, "3.5"]}
    r = loaded.query('"hello"', T)
    assert r.json()["data"] == {"resultType": "string", "result": [T, "hello"]}
    r = loaded.query('-cpu_usage{host="web-1"}', T + 100)
    assert r.json()["data"]["result"] == [{"metric": {"host": "web-1", "env": "prod"},
                                           "value": [T + 100, "-10"]}]
    r = loaded.query_range("2", T, T + 20, 10)
    assert r.json()["data"]["result"] == [{"metric": {}, "values": [[T, "2"], [T + 10, "2"],
                                                                    [T + 20, "2"]]}]


def test_special_values(saba):
    saba.write_json([{"name": "sv", "labels": {"k": k}, "time": T, "value": v}
                     for k, v in [("nan", "NaN"), ("pinf", "+Inf"), ("ninf", "-Inf"),
                                  ("big", 1e300), ("tiny", 1e-300), ("neg", -0.5)]])
    got = {s["metric"]["k"]: s["value"][1] for s in saba.query("sv", T).json()["data"]["result"]}
    assert got["nan"] == "NaN" and got["pinf"] == "+Inf" and got["ninf"] == "-Inf"
    assert got["neg"] == "-0.5"
    assert float(got["big"]) == 1e300 and "e" not in got["big"]
    assert float(got["tiny"]) == 1e-300


def test_post_form_encoded(loaded):
    body = urllib.parse.urlencode({"query": 'cpu_usage{host="web-2"}', "time": T + 10})
    r = loaded.request("POST", "/api/v1/query", body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and hosts(r) == ["web-2"]
    body = urllib.parse.urlencode({"query": "cpu_usage", "start": T, "end": T + 60, "step": 30})
    r = loaded.request("POST", "/api/v1/query_range", body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and len(r.json()["data"]["result"]) == 3


@pytest.mark.parametrize("params,status,etype,text", [
    ({"query": "cpu_usage{"}, 400, "bad_data", 'invalid parameter "query": 1:11: parse error'),
    ({"query": ""}, 400, "bad_data", "no expression found"),
    ({"query": "{}"}, 400, "bad_data", "at least one non-empty matcher"),
    ({"query": 'x{a=~"("}'}, 400, "bad_data", "error parsing regexp"),
    ({"query": "x", "time": "yesterday"}, 400, "bad_data",
     'invalid parameter "time": cannot parse "yesterday"'),
    ({"query": "label_replace(x, \"1x\", \"\", \"a\", \"\")"}, 422, "execution", "invalid destination label name"),
])
def test_query_errors(saba, params, status, etype, text):
    r = saba.get("/api/v1/query", **params)
    assert r.status == status, r.body
    j = r.json()
    assert j["status"] == "error" and j["errorType"] == etype and text in j["error"], j


@pytest.mark.parametrize("params,text", [
    ({"query": "x", "end": 10, "step": 1}, 'invalid parameter "start"'),
    ({"query": "x", "start": 10, "step": 1}, 'invalid parameter "end"'),
    ({"query": "x", "start": 10, "end": 5, "step": 1}, "end timestamp must not be before start"),
    ({"query": "x", "start": 0, "end": 10, "step": 0}, "zero or negative query resolution"),
    ({"query": "x", "start": 0, "end": 10, "step": "fast"}, 'invalid parameter "step"'),
    ({"query": "x", "start": 0, "end": 100000, "step": 1}, "exceeded maximum resolution"),
    ({"query": "x[5m]", "start": 0, "end": 10, "step": 1}, 'invalid expression type "range vector"'),
])
def test_query_range_errors(saba, params, text):
    r = saba.get("/api/v1/query_range", **params)
    assert r.status == 400, r.body
    assert r.json()["errorType"] == "bad_data" and text in r.json()["error"], r.body


def test_series(loaded):
    r = loaded.request("GET", "/api/v1/series", params={"match[]": ['cpu_usage{env="prod"}',
                                                                    "mem_used"]})
    assert r.status == 200
    assert r.json() == {"status": "success", "data": [
        {"__name__": "cpu_usage", "env": "prod", "host": "db-1"},
        {"__name__": "cpu_usage", "env": "prod", "host": "web-1"},
        {"__name__": "mem_used", "host": "web-1"}]}
    # start/end select series with samples in range
    r = loaded.request("GET", "/api/v1/series",
                       params={"match[]": '{__name__=~".+"}', "start": T + 10, "end": T + 20})
    assert {s["__name__"] for s in r.json()["data"]} == {"cpu_usage"}
    r = loaded.get("/api/v1/series")
    assert r.status == 400 and r.json()["error"] == "no match[] parameter provided"
    r = loaded.request("GET", "/api/v1/series", params={"match[]": "rate(x[1m])"})
    assert r.status == 400 and "match[]" in r.json()["error"]


def test_labels_and_values(loaded):
    r = loaded.get("/api/v1/labels")
    assert r.json() == {"status": "success", "data": ["__name__", "env", "host"]}
    r = loaded.request("GET", "/api/v1/labels", params={"match[]": "mem_used"})
    assert r.json()["data"] == ["__name__", "host"]
    r = loaded.get("/api/v1/label/host/values")
    assert r.json()["data"] == ["db-1", "web-1", "web-2"]
    r = loaded.request("GET", "/api/v1/label/host/values",
                       params={"match[]": 'cpu_usage{env="staging"}'})
    assert r.json()["data"] == ["web-2"]
    r = loaded.get("/api/v1/label/__name__/values")
    assert r.json()["data"] == ["cpu_usage", "mem_used", "nolabel_value"]
    r = loaded.get("/api/v1/label/nothere/values")
    assert r.json()["data"] == []
    r = loaded.get("/api/v1/labels", start=T + 1000, end=T + 2000)
    assert r.json()["data"] == []
    r = loaded.get("/api/v1/labels", start="garbage")
    assert r.status == 400 and 'invalid parameter "start"' in r.json()["error"]


def test_aggregations(loaded):
    t = T + 100  # cpu_usage is 10 on every host at this step
    def res(q):
        r = loaded.query(q, t)
        assert r.status == 200, r.body
        return {tuple(sorted(s["metric"].items())): s["value"][1]
                for s in r.json()["data"]["result"]}
    assert res("sum(cpu_usage)") == {(): "30"}
    assert res("avg(cpu_usage)") == {(): "10"}
    assert res("count by (env) (cpu_usage)") == {(("env", "prod"),): "2",
                                                 (("env", "staging"),): "1"}
    assert res("max without (host) (cpu_usage)") == {(("env", "prod"),): "10",
                                                     (("env", "staging"),): "10"}
    assert res("group(cpu_usage)") == {(): "1"}
    assert res("stddev(cpu_usage)") == {(): "0"}
    assert res('min(cpu_usage{host="nope"})') == {}


def test_over_time_functions(loaded):
    # samples of web-1 in [T+60, T+100] (closed window): 6, 7, 8, 9, 10
    t = T + 100
    def val(f):
        r = loaded.query('%s(cpu_usage{host="web-1"}[40s])' % f, t)
        res = r.json()["data"]["result"]
        # functions drop __name__, except last_over_time (it acts like offset)
        want = {"host": "web-1", "env": "prod"}
        if f == "last_over_time":
            want["__name__"] = "cpu_usage"
        assert res[0]["metric"] == want
        return res[0]["value"][1]
    assert val("avg_over_time") == "8"
    assert val("sum_over_time") == "40"
    assert val("min_over_time") == "6"
    assert val("max_over_time") == "10"
    assert val("count_over_time") == "5"
    assert val("last_over_time") == "10"
    assert val("stdvar_over_time") == "2"
    r = loaded.query_range('avg(avg_over_time(cpu_usage[1m]))', T + 60, T + 120, 60)
    assert r.json()["data"]["result"] == [{"metric": {}, "values": [[T + 60, "3"],
                                                                    [T + 120, "9"]]}]
    r = loaded.query("avg_over_time(cpu_usage)", t)
    assert r.status == 400 and "range vector" in r.json()["error"]


def test_query_max_samples_bounds_a_query(make_saba):
    """A query that would hold more points than query.max_samples is refused
    with Prometheus' 422 "too many samples" instead of exhausting memory."""
    s = make_saba(config="query:\n  max_samples: 5000\n")
    t0 = 1732250000
    lines = "".join("m,k=v%d x=%d %d\n" % (i % 4, i, t0 + i) for i in range(4000))
    assert s.write_lp(lines, precision="s").status == 204
    r = s.query_range("m_x", t0, t0 + 3600, 1)
    assert r.status == 422, r.body
    assert r.json()["errorType"] == "execution"
    assert "too many samples" in r.json()["error"]
    # a coarser step fits
    r = s.query_range("m_x", t0, t0 + 3600, 60)
    assert r.status == 200, r.body
    assert len(r.json()["data"]["result"]) == 4


def test_endpoints_clients_probe(saba):
    """Grafana and other clients probe these before querying."""
    b = saba.get("/api/v1/status/buildinfo").json()
    assert b["status"] == "success" and b["data"]["version"].startswith("2.")
    assert b["data"]["application"] == "saba"
    assert saba.get("/api/v1/metadata").json() == {"status": "success", "data": {}}
    r = saba.get("/api/v1/query_exemplars", query="up", start=1, end=2)
    assert r.json() == {"status": "success", "data": []}
