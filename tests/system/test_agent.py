"""`saba agent` against a real `saba server`: registration and host status,
metrics delivery, plugins, checks, retirement, and no data loss while the
server is down."""
import json
import os
import signal
import time

import pytest

from agentlib import agent_binary, Agent, run_agent, wait_for  # noqa: F401 (a fixture)

# every test here runs with `saba agent` and with the lean `saba-agent`
pytestmark = pytest.mark.usefixtures("agent_binary")


def hosts(saba, **params):
    r = saba.get("/api/v0/hosts", **params)
    assert r.status == 200, r.body
    return r.json()["hosts"]


def host(saba, hid):
    r = saba.get("/api/v0/hosts/" + hid)
    assert r.status == 200, r.body
    return r.json()


def series_values(saba, selector, t, window="10m"):
    return saba.raw(selector, t, window)


BASIC = """
interval: 1s
host:
  name: web-1
  display_name: Web server 1
  custom_identifier: i-0abc
roles: [blog:web, blog:app]
host_status:
  on_start: working
  on_stop: standby
"""


def test_registers_ships_metrics_and_goes_standby_on_stop(saba, tmp_path):
    a = Agent(tmp_path, saba, config=BASIC, args=["--api-key", "k-123"]).start()
    try:
        hid = wait_for(a.host_id, what="host id in the state directory")
        h = wait_for(lambda: [x for x in hosts(saba) if x["id"] == hid], what="host listed")[0]
        assert h["name"] == "web-1" and h["display_name"] == "Web server 1"
        assert h["custom_identifier"] == "i-0abc"
        assert h["roles"] == ["blog:app", "blog:web"]
        assert h["status"] == "working"
        meta = h["meta"]
        assert meta["cpu"]["count"] == os.cpu_count()
        assert meta["memory_bytes"] > 0 and meta["kernel"]["name"] == "Linux"
        assert meta["kernel"]["release"] == os.uname().release
        assert meta["os"] and meta["agent_version"]
        assert isinstance(meta["interfaces"], list)
        # role filters, as an inventory for other tools
        assert [x["id"] for x in hosts(saba, service="blog", role="web")] == [hid]
        assert hosts(saba, service="blog", role="db") == []
        # metrics arrive every interval with the host label
        def loads():
            v = series_values(saba, 'node_load1{host="web-1"}', time.time())
            return v and len(list(v.values())[0]) >= 3
        wait_for(loads, what="three node_load1 samples")
        r = saba.query('node_filesystem_size_bytes{host="web-1",mountpoint="/"}')
        assert r.json()["data"]["result"], r.body
    finally:
        a.stop()
    assert host(saba, hid)["status"] == "standby"
    # a restart keeps the host id and updates the same host
    b = Agent(tmp_path, saba, config=BASIC).start()
    try:
        wait_for(lambda: host(saba, hid)["status"] == "working", what="working again")
        assert len(hosts(saba)) == 1
    finally:
        b.stop()
    # retire: the host disappears from the list, its record says when
    r = run_agent(["retire", "--server", saba.http, "--state-dir", a.state])
    assert hid in r.stdout
    assert hosts(saba) == []
    assert host(saba, hid)["retired_at"] is not None
    assert [x["id"] for x in hosts(saba, retired="true")] == [hid]
    assert a.host_id() is None
    r = run_agent(["retire", "--server", saba.http, "--state-dir", a.state], check=False)
    assert r.returncode != 0 and "not registered" in r.stderr


def test_plugins_formats_bad_lines_and_timeouts(saba, tmp_path):
    plug = tmp_path / "plug.sh"
    plug.write_text("#!/bin/sh\n"
                    "now=$(date +%s)\n"
                    "printf 'custom.app.requests\\t42\\t%s\\n' $now\n"
                    "echo \"custom.app.latency 0.25 $now\"\n"
                    "echo 'this is not a metric line at all'\n"
                    "echo '# HELP app_queue queue length'\n"
                    "echo 'app_queue{queue=\"mail\"} 7'\n"
                    "echo 'app_bad{queue=\"mail\" 7'\n"
                    "echo \"env_value $PLUGIN_FACTOR\"\n")
    plug.chmod(0o755)
    cfg = """
interval: 1s
host: {name: plug-host}
plugins:
  - name: app
    command: ["%s"]
    env: {PLUGIN_FACTOR: "3.5"}
  - name: hung
    command: ["sleep", "100"]
    timeout: 1s
  - name: shell-one
    command: "echo shell_metric $((6*7))"
    shell: true
""" % plug
    a = Agent(tmp_path, saba, config=cfg).start()
    try:
        def got(q):
            r = saba.query(q)
            res = r.json()["data"]["result"]
            return res and res[0]["value"][1]
        assert wait_for(lambda: got('{__name__="custom.app.requests",host="plug-host"}'),
                        what="mackerel-format metric") == "42"
        assert got('{__name__="custom.app.latency"}') == "0.25"
        assert got('app_queue{queue="mail",host="plug-host"}') == "7"
        assert got("env_value") == "3.5"
        assert got("shell_metric") == "42"
        wait_for(lambda: "plugin timed out" in a.log(), what="timeout log")
        log = a.log()
        assert 'plugin="app" line=3' in log, log
        assert 'plugin="app" line=6' in log, log
        assert 'plugin="hung"' in log
        # the agent keeps collecting after the hung plugin was killed
        n0 = len(list(saba.raw('node_load1{host="plug-host"}', time.time(), "5m").values())[0])
        wait_for(lambda: len(list(saba.raw('node_load1{host="plug-host"}', time.time(),
                                           "5m").values())[0]) > n0, what="more samples")
    finally:
        a.stop()
    assert a.proc.returncode == 0


def test_plain_string_command_needs_shell_true(tmp_path):
    cfg = tmp_path / "agent.yml"
    cfg.write_text("plugins:\n  - name: p\n    command: \"echo hi\"\n")
    r = run_agent(["once", "--config", str(cfg)], check=False)
    assert r.returncode != 0
    assert "agent.yml:3:" in r.stderr and "shell: true" in r.stderr, r.stderr


def test_checks_report_nagios_statuses(saba, tmp_path):
    long_msg = "x" * 3000
    cfg = """
interval: 1s
host: {name: chk-host}
checks:
  - {name: ok, command: ["sh", "-c", "echo all good; exit 0"], interval: 1s}
  - {name: warn, command: ["sh", "-c", "echo disk 85%%; exit 1"], interval: 1s}
  - {name: crit, command: ["sh", "-c", "echo down; exit 2"], interval: 1s}
  - {name: unknown, command: ["sh", "-c", "exit 3"], interval: 1s}
  - {name: odd, command: ["sh", "-c", "exit 42"], interval: 1s}
  - {name: long, command: ["sh", "-c", "printf %s"], interval: 1s}
  - {name: slow, command: ["sleep", "30"], timeout: 1s, interval: 1s}
  - {name: missing, command: ["/nonexistent/check"], interval: 1s}
  - {name: rare, command: ["true"], interval: 1h}
  - {name: json-ish, command: ["printf", '},{"x": "\\u00e9\\n"]'], interval: 1s}
""" % long_msg
    a = Agent(tmp_path, saba, config=cfg).start()
    try:
        hid = wait_for(a.host_id, what="host id")

        def statuses():
            r = saba.get("/api/v0/checks", host_id=hid)
            assert r.status == 200, r.body
            return {c["name"]: c for c in r.json()["checks"]}
        st = wait_for(lambda: len(statuses()) == 10 and statuses(), what="all checks reported")
        assert st["ok"]["status"] == "OK" and st["ok"]["message"] == "all good"
        assert st["warn"]["status"] == "WARNING" and st["warn"]["message"] == "disk 85%"
        assert st["crit"]["status"] == "CRITICAL"
        assert st["unknown"]["status"] == "UNKNOWN" and st["odd"]["status"] == "UNKNOWN"
        assert st["long"]["status"] == "OK" and len(st["long"]["message"]) == 1024
        assert st["slow"]["status"] == "UNKNOWN" and "timed out" in st["slow"]["message"]
        assert st["missing"]["status"] == "UNKNOWN"
        assert st["ok"]["interval"] == 1 and st["rare"]["interval"] == 3600
        # JSON-like text, non-ASCII and several lines travel intact
        assert st["json-ish"]["message"] == '},{"x": "\u00e9\n"]', st["json-ish"]

        def hist(name):
            r = saba.get("/api/v0/checks/history", host_id=hid, name=name)
            assert r.status == 200, r.body
            return r.json()["history"]
        wait_for(lambda: len(hist("ok")) >= 3, what="history of the 1s check")
        h = hist("ok")
        assert all(x["status"] == "OK" for x in h)
        assert h[0]["occurred_at"] > h[-1]["occurred_at"]  # newest first
        assert len(hist("rare")) == 1  # per-check interval: not rerun within the hour
    finally:
        a.stop()


def test_no_gap_while_the_server_is_down(make_saba, tmp_path):
    data = str(tmp_path / "data")
    s1 = make_saba(data_dir=data)
    port = int(s1.http.rsplit(":", 1)[1])
    server_url = s1.http
    # a tiny memory bound so that batches go through the on-disk spool
    cfg = "interval: 1s\nhost: {name: gap-host}\nbuffer: {memory: 1KiB, spool: 64MiB}\n"
    a = Agent(tmp_path, server_url, config=cfg).start()
    try:
        wait_for(lambda: len(list(s1.raw('node_load1{host="gap-host"}', time.time(),
                                          "5m").values() or [[]])[0]) >= 2, what="first samples")
        stop_at = time.time()
        assert s1.stop() == 0
        down_at = time.time()
        spool = os.path.join(a.state, "spool")
        wait_for(lambda: len([f for f in os.listdir(spool) if f.endswith(".batch")]) >= 4,
                 timeout=30, what="batches spooled to disk")
        time.sleep(max(0.0, 6 - (time.time() - down_at)))
        s2 = make_saba(data_dir=data, args=["--listen", "127.0.0.1:%d" % port])
        wait_for(lambda: "server is back" in a.log(), timeout=60, what="agent to resend")
        wait_for(lambda: not [f for f in os.listdir(spool) if f.endswith(".batch")],
                 timeout=60, what="spool drained")
        time.sleep(2.5)
        end = time.time()
        v = s2.raw('node_load1{host="gap-host"}', end, "5m")
        ts = [t for t, _ in list(v.values())[0]]
        assert ts == sorted(ts)
        gaps = [round(b - a_, 3) for a_, b in zip(ts, ts[1:])]
        assert len(ts) >= 10, ts
        assert max(gaps) <= 1.5, "gap in the stored series: %s" % gaps
        # the series spans the outage: samples from before the stop to after it
        assert ts[0] < stop_at and ts[-1] > down_at + 6, (ts, stop_at, down_at)
    finally:
        a.stop()


def test_agent_restart_while_server_down_keeps_spool(make_saba, tmp_path):
    data = str(tmp_path / "data")
    s1 = make_saba(data_dir=data)
    port = int(s1.http.rsplit(":", 1)[1])
    assert s1.stop() == 0
    cfg = "interval: 1s\nhost: {name: spool-host}\n"
    a = Agent(tmp_path, "http://127.0.0.1:%d" % port, config=cfg).start()
    time.sleep(3.2)
    a.stop()  # graceful stop: what is in memory goes to the spool
    spool = os.path.join(a.state, "spool")
    spooled = [f for f in os.listdir(spool) if f.endswith(".batch")]
    assert len(spooled) >= 3, spooled
    s2 = make_saba(data_dir=data, args=["--listen", "127.0.0.1:%d" % port])
    b = Agent(tmp_path, s2, config=cfg).start()
    try:
        wait_for(lambda: not [f for f in os.listdir(spool) if f.endswith(".batch")],
                 timeout=60, what="spool drained after restart")

        def stored():
            v = s2.raw('node_load1{host="spool-host"}', time.time(), "5m")
            return len(list(v.values())[0]) if v else 0

        # the spooled samples and at least one of the new run's (which may
        # land a moment after the spool drained, on a loaded machine)
        wait_for(lambda: stored() >= len(spooled) + 1, timeout=30,
                 what="spooled and new samples stored")
    finally:
        b.stop()


def test_hosts_and_checks_api_validation(saba):
    r = saba.request("POST", "/api/v0/hosts", body="{\"name\": 5}")
    assert r.status == 400 and "name" in r.json()["error"]
    r = saba.request("POST", "/api/v0/hosts", body="{\"name\": \"x\", \"roles\": [\"noColon\"]}")
    assert r.status == 400 and "roles[0]" in r.json()["error"]
    r = saba.request("POST", "/api/v0/hosts", body="{\"name\": ")
    assert r.status == 400 and "invalid JSON" in r.json()["error"]
    r = saba.request("POST", "/api/v0/hosts", body=json.dumps({"name": "db-1", "roles": ["blog:db"]}))
    assert r.status == 201, r.body
    hid = r.json()["id"]
    r = saba.request("PUT", "/api/v0/hosts/nosuchhost", body=json.dumps({"name": "db-1"}))
    assert r.status == 404
    r = saba.request("POST", "/api/v0/hosts/%s/status" % hid, body='{"status": "sleeping"}')
    assert r.status == 400 and "invalid status" in r.json()["error"]
    r = saba.request("POST", "/api/v0/hosts/%s/status" % hid, body='{"status": "maintenance"}')
    assert r.status == 200
    assert host(saba, hid)["status"] == "maintenance"
    rep = {"host_id": hid, "reports": [
        {"name": "a", "status": "OK", "message": "", "occurred_at": time.time()},
        {"name": "b", "status": "BROKEN", "message": "", "occurred_at": time.time()}]}
    r = saba.request("POST", "/api/v0/checks/report", body=json.dumps(rep))
    assert r.status == 400 and "reports[1]" in r.json()["error"]
    assert saba.get("/api/v0/checks").json()["checks"] == []  # accepted or refused whole
    rep["host_id"] = "nosuchhost"
    rep["reports"].pop()
    r = saba.request("POST", "/api/v0/checks/report", body=json.dumps(rep))
    assert r.status == 404
    r = saba.get("/api/v0/checks/history", host_id=hid)
    assert r.status == 400
    # custom_identifier: a second registration with the same identifier is the same host
    body = json.dumps({"name": "vm-a", "custom_identifier": "i-123"})
    r1 = saba.request("POST", "/api/v0/hosts", body=body)
    r2 = saba.request("POST", "/api/v0/hosts", body=body)
    assert r1.status == 201 and r2.status == 200 and r1.json()["id"] == r2.json()["id"]
