"""`saba agent once` against the real node_exporter (Debian's
prometheus-node-exporter), scraped on loopback at the same moment.

For every collector saba implements, the metric names and label sets must
be the same (minus the deliberate differences listed in README.md, "Agent:
differences from node_exporter"), and every value must lie between two
node_exporter scrapes taken just before and just after saba's collection
(exactly equal for constants), with a small slack only for gauges that move
both ways.
"""
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from agentlib import parse_prom, run_agent, wait_for

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"

# family patterns of each collector saba implements
COLLECTORS = {
    "cpu": r"node_cpu_(guest_)?seconds_total",
    "stat": r"node_(boot_time_seconds|context_switches_total|forks_total|intr_total|procs_running|procs_blocked)",
    "loadavg": r"node_load(1|5|15)",
    "meminfo": r"node_memory_.*",
    "filesystem": r"node_filesystem_.*",
    "diskstats": r"node_disk_.*",
    "netdev": r"node_network_(receive|transmit)_.*_total",
    "netstat": r"node_netstat_.*",
    "sockstat": r"node_sockstat_.*",
    "uname": r"node_uname_info",
    "time": r"node_time_(seconds|zone_offset_seconds)",
}

# deliberate differences (README: "Agent: differences from node_exporter")
NOT_IN_SABA = {
    "node_network_receive_nohandler_total",  # netlink only; saba reads /proc/net/dev
}

# values that must be equal exactly
CONSTANT = re.compile(
    r"node_(boot_time_seconds|uname_info|disk_info|time_zone_offset_seconds|"
    r"memory_(MemTotal|SwapTotal|Hugepagesize|HugePages_Total|VmallocTotal)(_bytes)?|"
    r"filesystem_(size_bytes|files|readonly|device_error)|cpu_guest_seconds_total)$")

# gauges that move both ways between scrapes: (pattern, absolute slack)
SLACK = [
    (r"node_memory_.*_bytes", 256 << 20),
    (r"node_memory_.*", 64),
    (r"node_filesystem_(free|avail)_bytes", 1 << 30),
    (r"node_filesystem_files_free", 100000),
    (r"node_procs_(running|blocked)", 16),
    (r"node_sockstat_.*_bytes", 1 << 20),
    (r"node_sockstat_.*", 64),
    (r"node_netstat_Tcp_CurrEstab", 64),
    (r"node_disk_io_now", 64),
    (r"node_load.*", 0.5),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def node_exporter(tmp_path):
    assert shutil.which(NODE_EXPORTER) or __import__("os").path.exists(NODE_EXPORTER), \
        "prometheus-node-exporter is not installed (scripts/bootstrap installs it)"
    port = free_port()
    log = open(str(tmp_path / "node_exporter.log"), "w")
    proc = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=log)
    url = "http://127.0.0.1:%d/metrics" % port

    def up():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status == 200
        except OSError:
            return proc.poll() is not None
    wait_for(up, timeout=30, what="node_exporter to listen")
    assert proc.poll() is None, "node_exporter exited: %s" % open(str(tmp_path / "node_exporter.log")).read()
    yield url
    proc.terminate()  # stops only the process this test started, by its pid
    proc.wait(30)
    log.close()


def scrape(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return parse_prom(r.read().decode())


def collector_of(name):
    for c, pat in COLLECTORS.items():
        if re.fullmatch(pat, name):
            return c
    return None


def slack_of(name):
    for pat, s in SLACK:
        if re.fullmatch(pat, name):
            return s
    return 0


def test_same_series_and_values_as_node_exporter(node_exporter):
    for attempt in range(3):
        before = scrape(node_exporter)
        t0 = time.time()
        out = run_agent(["once"]).stdout
        t1 = time.time()
        after = scrape(node_exporter)
        saba = parse_prom(out)
        ne_keys = {k for k in before if collector_of(k[0]) and k[0] not in NOT_IN_SABA}
        if ne_keys == {k for k in after if collector_of(k[0]) and k[0] not in NOT_IN_SABA}:
            break  # the set of series did not change while we looked
    saba_keys = {k for k in saba if collector_of(k[0])}
    missing = sorted(ne_keys - saba_keys)
    extra = sorted(saba_keys - ne_keys)
    assert not missing, "series node_exporter has and saba lacks: %s" % missing[:20]
    assert not extra, "series saba has and node_exporter lacks: %s" % extra[:20]
    # every collector is represented
    seen = {collector_of(k[0]) for k in saba_keys}
    assert seen == set(COLLECTORS), "collectors without series: %s" % (set(COLLECTORS) - seen)

    bad = []
    for k in sorted(ne_keys):
        name = k[0]
        v, a, b = saba[k], before[k], after.get(k, before[k])
        if CONSTANT.match(name):
            if not (v == a == b):
                bad.append("%s: saba %r, node_exporter %r / %r (constant)" % (k, v, a, b))
            continue
        lo, hi = min(a, b), max(a, b)
        if name == "node_time_seconds":
            lo, hi = min(lo, t0), max(hi, t1)
        s = slack_of(name) + 1e-9 * max(abs(lo), abs(hi))
        if not (lo - s <= v <= hi + s):
            bad.append("%s: saba %r not within node_exporter's %r .. %r (slack %r)" % (k, v, lo, hi, s))
    assert not bad, "%d values disagree:\n%s" % (len(bad), "\n".join(bad[:30]))


def test_every_series_has_the_host_label():
    out = run_agent(["once", "--host", "web-7"]).stdout
    lines = [l for l in out.splitlines() if l and not l.startswith("#")]
    assert len(lines) > 50
    for l in lines:
        assert 'host="web-7"' in l, l
    series = parse_prom(out)
    names = {k[0] for k in series}
    for want in ["node_cpu_seconds_total", "node_load1", "node_load5", "node_load15",
                 "node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes",
                 "node_filesystem_size_bytes", "node_filesystem_avail_bytes",
                 "node_network_receive_bytes_total", "node_netstat_Tcp_CurrEstab",
                 "node_sockstat_TCP_inuse", "node_uname_info", "node_boot_time_seconds",
                 "node_time_seconds"]:
        assert want in names, want
    cpu_modes = {dict(k[1])["mode"] for k in series if k[0] == "node_cpu_seconds_total"}
    assert cpu_modes == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}


def test_filesystem_ignore_regex_is_configurable(tmp_path):
    cfg = tmp_path / "agent.yml"
    cfg.write_text("collectors:\n  filesystem:\n    ignored_mount_points: '^/$'\n"
                   "    ignored_fs_types: '^(proc|sysfs)$'\n")
    out = run_agent(["once", "--config", str(cfg)]).stdout
    mps = {dict(k[1])["mountpoint"] for k in parse_prom(out) if k[0] == "node_filesystem_size_bytes"}
    assert "/" not in mps
    # with the pseudo-filesystem type filter narrowed, tmpfs/devpts mounts under /dev appear
    assert any(m.startswith("/dev") or m.startswith("/sys") for m in mps), mps


def test_bad_config_is_a_clear_error(tmp_path):
    cfg = tmp_path / "agent.yml"
    cfg.write_text("interval: 60s\ncollectors:\n  filesystem:\n    ignored_mount_points: '(['\n")
    r = run_agent(["once", "--config", str(cfg)], check=False)
    assert r.returncode != 0
    assert "invalid regular expression" in r.stderr, r.stderr
    cfg.write_text("interval: 60s\nbogus: 1\n")
    r = run_agent(["once", "--config", str(cfg)], check=False)
    assert r.returncode != 0 and "agent.yml:2: unknown setting \"bogus\"" in r.stderr, r.stderr


def test_sample_config_in_contrib_is_valid():
    """contrib/agent.yml parses; its example plugin does not exist here, which
    is logged and does not stop the collection."""
    import os
    from conftest import ROOT
    r = run_agent(["once", "--config", os.path.join(ROOT, "contrib", "agent.yml")])
    assert "node_load1{" in r.stdout
    assert 'plugin="nginx"' in r.stderr
