"""promtool (Debian's prometheus package) against a real saba server.

Known samples go in through the line-protocol endpoint; `promtool query
instant|range|series|labels` read them back through saba's Prometheus API,
and the printed output (labels, values, timestamps) is checked line by line.
"""
import shutil
import subprocess
import time

import pytest

# Debian's prometheus package; scripts/bootstrap installs it (TEST_PKGS). A
# missing promtool fails these tests rather than skipping them.
PROMTOOL = shutil.which("promtool") or "promtool"


def promtool(*args, ok=True):
    p = subprocess.run([PROMTOOL, "query"] + list(args), capture_output=True, text=True,
                       timeout=60)
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def lines(p):
    return [line for line in p.stdout.splitlines() if line]


@pytest.fixture
def loaded(saba):
    """A server holding known samples; returns (server, base time T in seconds)."""
    t = int(time.time()) // 60 * 60 - 600
    body = "\n".join([
        "cpu,host=web-1 usage=1.5 %d" % t,
        "cpu,host=web-1 usage=2.5 %d" % (t + 60),
        "cpu,host=web-1 usage=3.5 %d" % (t + 120),
        "cpu,host=web-2 usage=10 %d" % t,
        "cpu,host=web-2 usage=20.25 %d" % (t + 60),
        "mem,host=db-1,role=blog:db used=1024 %d" % t,
    ])
    assert saba.write_lp(body, precision="s").status == 204
    return saba, t


def test_query_instant(loaded):
    s, t = loaded
    p = promtool("instant", "--time=%d" % (t + 120), s.http, "cpu_usage")
    assert lines(p) == ['cpu_usage{host="web-1"} => 3.5 @[%d]' % (t + 120),
                        'cpu_usage{host="web-2"} => 20.25 @[%d]' % (t + 120)]
    p = promtool("instant", "--time=%d" % (t + 60), s.http, 'sum by (host) (cpu_usage)')
    assert lines(p) == ['{host="web-1"} => 2.5 @[%d]' % (t + 60),
                        '{host="web-2"} => 20.25 @[%d]' % (t + 60)]
    p = promtool("instant", "--time=%d" % t, s.http, '{__name__="mem_used",role="blog:db"}')
    assert lines(p) == ['mem_used{host="db-1", role="blog:db"} => 1024 @[%d]' % t]
    # a range vector prints every sample in the window
    p = promtool("instant", "--time=%d" % (t + 120), s.http, 'cpu_usage{host="web-1"}[1m]')
    assert lines(p) == ['cpu_usage{host="web-1"} =>', "2.5 @[%d]" % (t + 60),
                        "3.5 @[%d]" % (t + 120)]
    p = promtool("instant", "--time=%d" % t, s.http, "42")
    assert lines(p) == ["scalar: 42 @[%d]" % t]
    # JSON output is the API's own data
    p = promtool("instant", "-o", "json", "--time=%d" % t, s.http, "count(cpu_usage)")
    assert p.stdout.strip() == '[{"metric":{},"value":[%d,"2"]}]' % t
    # nothing selected
    assert lines(promtool("instant", "--time=%d" % t, s.http, "no_such_metric")) == []


def test_query_range(loaded):
    s, t = loaded
    p = promtool("range", "--start=%d" % t, "--end=%d" % (t + 120), "--step=1m", s.http,
                 "cpu_usage")
    assert lines(p) == [
        'cpu_usage{host="web-1"} =>', "1.5 @[%d]" % t, "2.5 @[%d]" % (t + 60),
        "3.5 @[%d]" % (t + 120),
        # web-2's last sample stays visible for the 5m lookback
        'cpu_usage{host="web-2"} =>', "10 @[%d]" % t, "20.25 @[%d]" % (t + 60),
        "20.25 @[%d]" % (t + 120)]
    p = promtool("range", "--start=%d" % t, "--end=%d" % (t + 60), "--step=30s", s.http,
                 "max(cpu_usage)")
    assert lines(p) == ["{} =>", "10 @[%d]" % t, "10 @[%d]" % (t + 30), "20.25 @[%d]" % (t + 60)]


def test_query_series(loaded):
    s, t = loaded
    p = promtool("series", "--match=cpu_usage", "--match={host=\"db-1\"}",
                 "--start=%d" % t, "--end=%d" % (t + 120), s.http)
    assert lines(p) == ['{__name__="cpu_usage", host="web-1"}',
                        '{__name__="cpu_usage", host="web-2"}',
                        '{__name__="mem_used", host="db-1", role="blog:db"}']
    p = promtool("series", '--match=cpu_usage{host=~"web-2|nope"}', s.http)
    assert lines(p) == ['{__name__="cpu_usage", host="web-2"}']


def test_query_labels(loaded):
    s, t = loaded
    assert lines(promtool("labels", s.http, "host")) == ["db-1", "web-1", "web-2"]
    assert lines(promtool("labels", s.http, "__name__")) == ["cpu_usage", "mem_used"]
    assert lines(promtool("labels", "--match=mem_used", s.http, "role")) == ["blog:db"]
    assert lines(promtool("labels", "--match=cpu_usage", s.http, "host")) == ["web-1", "web-2"]
    assert lines(promtool("labels", s.http, "no_such_label")) == []


def test_errors_reach_promtool(loaded):
    s, t = loaded
    p = promtool("instant", s.http, "sum(", ok=False)
    assert p.returncode == 1
    assert "bad_data" in p.stderr and "parse error" in p.stderr
    # more than 11,000 points per series, refused by saba as by Prometheus
    p = promtool("range", "--start=%d" % (t - 86400), "--end=%d" % t, "--step=1s", s.http,
                 "cpu_usage", ok=False)
    assert p.returncode == 1 and "bad_data" in p.stderr and "maximum resolution" in p.stderr, p.stderr
