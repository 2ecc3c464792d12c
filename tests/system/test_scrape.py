"""Scraping Prometheus exposition endpoints (scrape_configs).

Targets are a tiny exporter in this process (http.server, whose metrics,
status and content type the tests set) and a real prometheus-node-exporter
started on a free loopback port; one test feeds the same scrape_configs to
Debian's Prometheus and compares what both store. Checked: target labels and honor_labels,
exposed timestamps, OpenMetrics (# EOF, _created, timestamps in seconds),
gzip and the request headers, the up/scrape_* series, staleness markers when
a series disappears, when a target fails, on reload and on shutdown, and
config errors with file:line.
"""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Exporter:
    """An HTTP endpoint serving whatever metrics text the test sets."""

    def __init__(self):
        self.lock = threading.Lock()
        self.body = ""
        self.content_type = "text/plain; version=0.0.4; charset=utf-8"
        self.status = 200
        self.requests = []  # (path, headers) of every request
        self.delay = 0  # seconds before answering
        self.release = threading.Event()  # ends every delay early (close)
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with exporter.lock:
                    exporter.requests.append((self.path, dict(self.headers)))
                    body, ct, status = exporter.body.encode(), exporter.content_type, exporter.status
                    delay = exporter.delay
                if delay:
                    exporter.release.wait(delay)
                headers = {"Content-Type": ct}
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.address = "127.0.0.1:%d" % self.server.server_address[1]

    def set(self, body=None, status=None, content_type=None):
        with self.lock:
            if body is not None:
                self.body = body
            if status is not None:
                self.status = status
            if content_type is not None:
                self.content_type = content_type
            return len(self.requests)

    def served_since(self, n):
        with self.lock:
            return len(self.requests) - n

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter():
    e = Exporter()
    yield e
    e.close()


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def instant(s, q, t=None):
    """{frozenset(labels): value_str} of an instant query that must succeed."""
    r = s.query(q, t if t is not None else "%.3f" % time.time())
    assert r.status == 200, r.body
    return {frozenset(x["metric"].items()): x["value"][1] for x in r.json()["data"]["result"]}


def one(s, q):
    res = instant(s, q)
    assert len(res) == 1, (q, res)
    return next(iter(res.items()))


def job_config(jobs, interval="1s"):
    out = "global:\n  scrape_interval: %s\n  scrape_timeout: 900ms\nscrape_configs:\n" % interval
    for j in jobs:
        out += j
    return out


def wait_scrapes(exporter, n=2, timeout=15):
    """Wait until the exporter has been scraped n more times, then a moment for the append."""
    start = exporter.served_since(0)
    wait_for(lambda: exporter.served_since(start) >= n, timeout, "%d scrapes" % n)
    time.sleep(0.3)


BASIC = """# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1"} 10
b 2
conflict{job="exported-job",instance="exported-inst",exported_job="taken"} 3
"""


def test_target_labels_report_series_and_headers(make_saba, exporter):
    exporter.set(BASIC)
    s = make_saba(config=job_config(["""  - job_name: app
    static_configs:
      - targets: ["%s"]
        labels: {env: test}
""" % exporter.address]))
    inst = exporter.address
    wait_for(lambda: instant(s, "a_total"), what="first scrape")
    labels, v = one(s, "a_total")
    assert dict(labels) == {"__name__": "a_total", "x": "1", "job": "app", "instance": inst,
                            "env": "test"}
    assert v == "10"
    # honor_labels: false - the target's job/instance win, the exposed ones are kept
    # as exported_*; exported_job was taken, so the job becomes exported_exported_job
    labels, v = one(s, "conflict")
    assert dict(labels) == {"__name__": "conflict", "job": "app", "instance": inst, "env": "test",
                            "exported_job": "taken", "exported_exported_job": "exported-job",
                            "exported_instance": "exported-inst"}
    # the report series, with the target labels
    want = {"__name__": "up", "job": "app", "instance": inst, "env": "test"}
    labels, v = one(s, "up")
    assert dict(labels) == want and v == "1"
    assert one(s, "scrape_samples_scraped")[1] == "3"
    assert one(s, "scrape_samples_post_metric_relabeling")[1] == "3"
    assert 0 < float(one(s, "scrape_duration_seconds")[1]) < 0.9
    wait_scrapes(exporter, 1)
    assert one(s, "scrape_series_added")[1] == "0"  # nothing new after the first scrape
    r = s.query("max_over_time(scrape_series_added[1h])")
    assert r.json()["data"]["result"][0]["value"][1] == "3"
    # what saba asked for: OpenMetrics first, gzip, and the timeout
    path, headers = exporter.requests[-1]
    assert path == "/metrics"
    assert headers["Accept"].startswith("application/openmetrics-text;version=1.0.0")
    assert "text/plain;version=0.0.4" in headers["Accept"]
    assert "gzip" in headers["Accept-Encoding"]
    assert headers["X-Prometheus-Scrape-Timeout-Seconds"] == "0.9"
    assert headers["User-Agent"].startswith("saba/")
    assert s.metric('saba_ingested_samples_total{protocol="scrape"}') > 0


def test_honor_labels_true(make_saba, exporter):
    exporter.set('conflict{job="exported-job"} 3\nplain 1\n')
    s = make_saba(config=job_config(["""  - job_name: honored
    honor_labels: true
    metrics_path: /custom/path
    params: {module: [x/y]}
    static_configs:
      - targets: ["%s"]
""" % exporter.address]))
    wait_for(lambda: instant(s, "plain"), what="first scrape")
    labels, _ = one(s, "conflict")
    assert dict(labels) == {"__name__": "conflict", "job": "exported-job",
                            "instance": exporter.address}
    assert dict(one(s, "plain")[0])["job"] == "honored"
    assert exporter.requests[-1][0] == "/custom/path?module=x%2Fy"


def test_exposed_timestamps_are_honoured(make_saba, exporter):
    t_ms = int(time.time() * 1000) - 60000
    exporter.set("with_ts 5 %d\nwithout_ts 6\n" % t_ms)
    s = make_saba(config=job_config(["""  - job_name: ts
    static_configs: [{targets: ["%s"]}]
""" % exporter.address, """  - job_name: ts-ignored
    honor_timestamps: false
    static_configs: [{targets: ["%s"]}]
""" % exporter.address]))
    wait_for(lambda: len(instant(s, "without_ts")) == 2, what="first scrape of both jobs")
    r = s.query('with_ts{job="ts"}[10m]')
    vals = r.json()["data"]["result"][0]["values"]
    assert [(round(float(t) * 1000), v) for t, v in vals] == [(t_ms, "5")]
    # honor_timestamps: false stamps it with the scrape time instead
    r = s.query('with_ts{job="ts-ignored"}[10m]')
    ts = [float(t) for t, _ in r.json()["data"]["result"][0]["values"]]
    assert all(t > t_ms / 1000 + 50 for t in ts)


def test_openmetrics(make_saba, exporter):
    t_s = round(time.time() - 30, 3)
    exporter.set("""# TYPE req counter
# UNIT req_seconds seconds
req_total{code="200"} 7 %.3f # {trace_id="abc"} 1.0
req_created{code="200"} 1700000000
# TYPE temp gauge
temp 21.5
# EOF
""" % t_s, content_type="application/openmetrics-text; version=1.0.0; charset=utf-8")
    s = make_saba(config=job_config(["""  - job_name: om
    static_configs: [{targets: ["%s"]}]
""" % exporter.address]))
    wait_for(lambda: instant(s, "temp"), what="first scrape")
    r = s.query("req_total[10m]")
    vals = r.json()["data"]["result"][0]["values"]
    assert vals == [[t_s, "7"]]  # OpenMetrics timestamps are seconds
    assert instant(s, "req_created") == {}  # a creation time, not a value
    assert one(s, "scrape_samples_scraped")[1] == "2"


def test_staleness_when_series_and_target_disappear(make_saba, exporter):
    t_ms = int(time.time() * 1000) - 5000
    exporter.set("keep 1\ngoes_away 2\nexplicit 3 %d\n" % t_ms)
    s = make_saba(config=job_config(["""  - job_name: st
    static_configs: [{targets: ["%s"]}]
""" % exporter.address]))
    wait_for(lambda: instant(s, "goes_away"), what="first scrape")
    assert one(s, "up")[1] == "1"

    # a series missing from a scrape gets a staleness marker: it vanishes at
    # once instead of lingering for the 5m lookback
    exporter.set("keep 1\nexplicit 3 %d\n" % t_ms)
    wait_for(lambda: instant(s, "goes_away") == {}, 10, "goes_away to go stale")
    assert one(s, "keep")[1] == "1"
    assert instant(s, "count_over_time(goes_away[1h])")  # the data is still there
    assert one(s, "up")[1] == "1"

    # the target fails: up is 0 and all of its series are marked stale, but not
    # those it exposed with their own timestamps
    exporter.set(status=500)
    wait_for(lambda: one(s, "up")[1] == "0", 10, "up == 0")
    wait_for(lambda: instant(s, "keep") == {}, 10, "keep to go stale")
    assert one(s, "explicit")[1] == "3"
    assert one(s, "scrape_samples_scraped")[1] == "0"
    assert "server returned HTTP status 500" in s.log()

    # it comes back
    exporter.set(status=200)
    wait_for(lambda: one(s, "up")[1] == "1", 10, "up == 1")
    assert one(s, "keep")[1] == "1"

    # a body that does not parse fails the scrape and names the line
    exporter.set("keep 1\nbad{ 2\n")
    wait_for(lambda: one(s, "up")[1] == "0", 10, "up == 0 on a parse error")
    assert instant(s, "keep") == {}
    assert re.search(r'reason="line 2: [^"]*label', s.log())


def test_staleness_on_reload_and_shutdown(make_saba, exporter):
    exporter.set("m 1\n")
    other = Exporter()
    try:
        other.set("n 2\n")
        jobs = ["""  - job_name: one
    static_configs: [{targets: ["%s"]}]
""" % exporter.address, """  - job_name: two
    static_configs: [{targets: ["%s"]}]
""" % other.address]
        s = make_saba(config=job_config(jobs))
        wait_for(lambda: instant(s, "m") and instant(s, "n"), what="both targets")
        # drop job two and reload with SIGHUP: its series and up go stale at once
        with open(s.config_path, "w") as f:
            f.write(job_config(jobs[:1]))
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: instant(s, "n") == {}, 10, "n to go stale on reload")
        assert set(v for _, v in instant(s, "up").items()) == {"1"}
        assert len(instant(s, "up")) == 1
        assert "configuration reloaded" in s.log()
        seen = other.served_since(0)
        time.sleep(1.5)
        assert other.served_since(seen) == 0  # no longer scraped
        assert one(s, "m")[1] == "1"

        # a bad file on reload keeps the running configuration
        with open(s.config_path, "w") as f:
            f.write("scrape_configs:\n  - job_name: x\n    bogus: 1\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in s.log(), 10, "reload failure logged")
        wait_scrapes(exporter, 1)
        assert one(s, "m")[1] == "1"

        # shutdown marks everything stale: after a restart without scraping,
        # m is gone although its last sample is within the lookback
        stopped = time.time()
        assert s.stop() == 0
        s2 = make_saba(data_dir=s.data_dir)
        assert instant(s2, "m") == {}
        assert instant(s2, "up") == {}
        assert instant(s2, "m", "%.3f" % (stopped - 0.5)) != {}
    finally:
        other.close()


def test_timeout_and_prompt_shutdown_during_a_scrape(make_saba, exporter):
    exporter.set("m 1\n")
    s = make_saba(config=job_config([
        "  - job_name: slow\n    scrape_interval: 1s\n    scrape_timeout: 500ms\n"
        "    static_configs: [{targets: [\"%s\"]}]\n" % exporter.address,
        "  - job_name: hanging\n    scrape_interval: 8s\n    scrape_timeout: 7s\n"
        "    metrics_path: /hang\n"
        "    static_configs: [{targets: [\"%s\"]}]\n" % exporter.address]))
    wait_for(lambda: instant(s, 'up{job="slow"}'), what="first scrape")
    exporter.delay = 60
    wait_for(lambda: one(s, 'up{job="slow"}')[1] == "0", 10, "up == 0 on timeout")
    assert re.search(r'job="slow".*reason="[^"]*[Tt]imed? ?out', s.log()), s.log()[-2000:]
    assert 0.45 < float(one(s, 'scrape_duration_seconds{job="slow"}')[1]) < 2
    # a scrape hanging for its 7s timeout does not hold up a SIGTERM: it is aborted
    wait_for(lambda: any(p == "/hang" for p, _ in exporter.requests), 12, "a /hang scrape")
    time.sleep(0.3)
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 3


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def test_node_exporter(make_saba):
    port = free_port()
    ne = subprocess.Popen(["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % port],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d/metrics" % port

        def fetch():
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return None

        body = wait_for(fetch, 15, "node exporter to listen")
        boot = re.search(r"^node_boot_time_seconds (\S+)$", body, re.M).group(1)
        nsamples = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        s = make_saba(config=job_config(["""  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:%d"]
        labels: {role: "blog:web"}
""" % port]))
        wait_for(lambda: instant(s, "up") and one(s, "up")[1] == "1", 15, "up == 1")
        labels, v = one(s, "node_boot_time_seconds")
        assert dict(labels) == {"__name__": "node_boot_time_seconds", "job": "node",
                                "instance": "127.0.0.1:%d" % port, "role": "blog:web"}
        assert float(v) == float(boot)
        cpus = instant(s, 'node_cpu_seconds_total{mode="idle"}')
        assert len(cpus) == os.cpu_count()
        assert all(dict(k)["cpu"].isdigit() for k in cpus)
        scraped = float(one(s, "scrape_samples_scraped")[1])
        assert abs(scraped - nsamples) < nsamples * 0.2, (scraped, nsamples)
        assert float(one(s, "scrape_series_added")[1]) >= 0
    finally:
        ne.terminate()
        ne.wait(10)


@pytest.mark.parametrize("config, line, reason", [
    ("scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    bogus: 1\n", 4,
     'unknown setting "scrape_configs.bogus"'),
    ("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n", 3,
     'unknown setting "global.evaluation_interval"'),
    ("scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s\n", 2,
     "scrape_timeout is greater than scrape_interval"),
    ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [localhost]\n", 4,
     'invalid target "localhost" (want host:port)'),
    ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", 3, 'job_name "a" is used twice'),
    ("scrape_configs:\n  - scrape_interval: 1s\n", 2, 'needs a "job_name"'),
    ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", 3, 'invalid value "ftp"'),
    ("scrape_configs:\n  - job_name: a\n    scrape_interval: soon\n", 3,
     '"scrape_interval": invalid value "soon"'),
    ("scrape_configs:\n  - job_name: a\n    honor_labels: yes please\n", 3,
     "expected true or false"),
    ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"h:1\"]\n"
     "        labels: {__bad: x}\n", 5, 'invalid label name "__bad"'),
    ("scrape_configs: {job_name: a}\n", 1, "must be a list of jobs"),
])
def test_config_errors(make_saba, config, line, reason):
    s = make_saba(config=config, start=False)
    with pytest.raises(RuntimeError) as e:
        s.start()
    msg = str(e.value)
    assert re.search(r"saba-\d+\.yml:%d: " % line, msg), msg
    assert reason in msg, msg


def test_body_size_limit(make_saba, exporter):
    # about 2.5 KB, far less once gzipped: the limit applies to the decoded body
    exporter.set("".join("series_%d 1\n" % i for i in range(200)))
    s = make_saba(config="limits:\n  max_body_size: 1KiB\n" + job_config([
        "  - job_name: big\n    static_configs: [{targets: [\"%s\"]}]\n" % exporter.address]))
    wait_for(lambda: instant(s, "up"), what="first scrape")
    assert one(s, "up")[1] == "0"
    assert instant(s, "series_1") == {}
    assert 'reason="body larger than 1024 bytes"' in s.log()
    # within the limit it works
    exporter.set("series_1 1\n")
    wait_for(lambda: one(s, "up")[1] == "1", 10, "up == 1")
    assert one(s, "series_1")[1] == "1"


def test_newline_in_label_value_skips_only_that_series(make_saba, exporter):
    # valid exposition (Prometheus stores it), but saba's labels hold no control characters
    exporter.set('ok 1\nnl{q="a\\nb"} 2\nalso_ok 3\n')
    s = make_saba(config=job_config([
        "  - job_name: nl\n    static_configs: [{targets: [\"%s\"]}]\n" % exporter.address]))
    wait_for(lambda: instant(s, "up"), what="first scrape")
    assert one(s, "up")[1] == "1"
    assert one(s, "ok")[1] == "1" and one(s, "also_ok")[1] == "3"
    assert instant(s, "nl") == {}
    assert one(s, "scrape_samples_scraped")[1] == "3"
    assert one(s, "scrape_samples_post_metric_relabeling")[1] == "2"
    assert re.search(r'newline in a label value skipped.* n=1 first_line=2', s.log())


class Prometheus:
    """Debian's prometheus on a free loopback port, with its own data directory."""

    def __init__(self, workdir, config):
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.url = "http://127.0.0.1:%d" % free_port()
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + self.config_path,
             "--web.listen-address=" + self.url[len("http://"):],
             "--storage.tsdb.path=" + os.path.join(workdir, "data")],
            stdout=self.log, stderr=self.log)

    def query(self, q):
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = json.loads(r.read())
        except OSError:
            return None  # not up yet
        return {frozenset(x["metric"].items()): x["value"][1] for x in data["data"]["result"]}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


TRICKY = """# TYPE conflict gauge
conflict{job="exported-job",instance="exported-inst",exported_job="taken"} 3
escapes{path="C:\\\\dir\\\\sub",odd="C:\\temp",quote="say \\"hi\\""} 4
empty_value{a="",b="x"} 5
only_target_like{env="exposed-env"} 6
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="+Inf"} 2
h_sum 0.7
h_count 2
goes_away 7
"""


def test_same_series_as_prometheus(make_saba, exporter, tmp_path):
    """The same scrape_configs text, fed to saba and to Prometheus 2.42, scraping
    the same target, gives the same series, labels and values - report series
    included - and both mark a vanished series stale."""
    exporter.set(TRICKY)
    config = job_config([
        "  - job_name: app\n    static_configs:\n      - targets: [\"%s\"]\n"
        "        labels: {env: test}\n" % exporter.address,
        "  - job_name: honored\n    honor_labels: true\n"
        "    static_configs: [{targets: [\"%s\"], labels: {env: test}}]\n" % exporter.address])
    prom = Prometheus(str(tmp_path / "prometheus"), config)
    try:
        s = make_saba(config=config)
        q = '{job=~"app|honored|exported-job"}'
        # both have scraped both jobs at least twice (scrape_series_added is 0 again)
        wait_for(lambda: (prom.query("sum(scrape_series_added) == 0") or None) and
                 len(prom.query("up") or {}) == 2, 30, "Prometheus to scrape")
        wait_for(lambda: len(instant(s, "up")) == 2 and
                 instant(s, "sum(scrape_series_added)") == {frozenset(): "0"}, 30,
                 "saba to scrape")
        theirs, ours = prom.query(q), instant(s, q)
        drop = {"scrape_duration_seconds"}  # a measurement, not comparable
        strip = lambda r: {k: v for k, v in r.items() if dict(k)["__name__"] not in drop}
        assert strip(ours) == strip(theirs)
        assert len(strip(ours)) == 2 * 9 + 2 * 4  # 9 exposed samples and 4 report series per job
        assert {dict(k)["__name__"] for k in ours} >= {
            "up", "scrape_duration_seconds", "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling", "scrape_series_added"}

        exporter.set(TRICKY.replace("goes_away 7\n", ""))
        wait_for(lambda: prom.query("goes_away") == {}, 15, "Prometheus to mark it stale")
        wait_for(lambda: instant(s, "goes_away") == {}, 15, "saba to mark it stale")
    finally:
        prom.stop()
