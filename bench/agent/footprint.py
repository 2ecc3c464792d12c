#!/usr/bin/python3
"""Footprint of the saba agent side by side with node_exporter on this machine.

  bench/agent/footprint.py [--saba ./saba] [--agent ./saba-agent] [--collections 1000]
                           [--daemon-seconds 30]

The agent measured is --agent: the lean `saba-agent` by default (beside
--saba), or the full binary's `saba agent` when --agent names a `saba`
binary. --saba is the full binary that runs the `saba server` the daemon
ships to.

Measures, with plugins off:
  - node_exporter (Debian's prometheus-node-exporter, default collectors):
    CPU time per scrape over N scrapes of /metrics (utime+stime of its
    process from /proc/<pid>/stat), and its RSS after them;
  - the agent: CPU time per collection over N collections of
    `saba-agent once --count N` (collect + saba JSON + gzip, as a delivery
    does; process start included), and, as a daemon shipping to a fresh
    `saba server` every second, its RSS and CPU per interval.
Every process listens on 127.0.0.1 on a free port and is stopped by its PID.
Prints a Markdown table and one JSON line with the raw figures.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def cpu_ns(pid):
    """CPU time of all the process's threads in ns (/proc/<pid>/schedstat), finer
    than the 10 ms ticks of /proc/<pid>/stat."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            total += int(f.read().split()[0])
    return total


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("no answer from " + url)


def node_exporter(n):
    exe = shutil.which("prometheus-node-exporter")
    port = free_port()
    p = subprocess.Popen([exe, "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d/metrics" % port
        for _ in range(5):  # warm up
            wait_http(url)
        c0 = cpu_ns(p.pid)
        t0 = time.time()
        for _ in range(n):
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
        wall = time.time() - t0
        cpu = (cpu_ns(p.pid) - c0) / 1e9
        return {"scrapes": n, "cpu_s": cpu, "cpu_ms_per_scrape": 1000 * cpu / n,
                "wall_s": wall, "rss_kib": rss_kib(p.pid), "hwm_kib": rss_kib(p.pid, "VmHWM"),
                "anon_kib": rss_kib(p.pid, "RssAnon"), "file_kib": rss_kib(p.pid, "RssFile"),
                "pss_kib": pss_kib(p.pid)}
    finally:
        p.terminate()
        p.wait(30)


def agent_cmd(path):
    """argv of the agent: `saba-agent` itself, or `saba agent`."""
    return [path, "agent"] if os.path.basename(path) == "saba" else [path]


def agent_name(path):
    """The agent as the report names it, without this machine's directories."""
    return " ".join([os.path.basename(path)] + agent_cmd(path)[1:])


def agent_once(agent, n):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    subprocess.run(agent_cmd(agent) + ["once", "--count", str(n)], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"collections": n, "cpu_s": cpu, "cpu_ms_per_collection": 1000 * cpu / n,
            "wall_s": wall}


def agent_daemon(saba, agent_path, seconds):
    tmp = tempfile.mkdtemp(prefix="saba-agent-bench-")
    log = open(os.path.join(tmp, "server.log"), "w")
    srv = subprocess.Popen([saba, "server", "--data", os.path.join(tmp, "data"), "--listen",
                            "127.0.0.1:0", "--graphite-listen", ""], stdout=log, stderr=log)
    agent = None
    try:
        deadline = time.time() + 30
        m = None
        while time.time() < deadline and not m:
            time.sleep(0.05)
            m = re.search(r"addr=127\.0\.0\.1:(\d+)", open(log.name).read())
        if not m:
            raise RuntimeError("saba server did not start")
        url = "http://127.0.0.1:" + m.group(1)
        alog = open(os.path.join(tmp, "agent.log"), "w")
        agent = subprocess.Popen(agent_cmd(agent_path) + ["--server", url, "--interval", "1s",
                                                          "--state-dir",
                                                          os.path.join(tmp, "state")],
                                 stdout=alog, stderr=alog)
        time.sleep(3)  # registration, first batches
        c0, t0 = cpu_ns(agent.pid), time.time()
        time.sleep(seconds)
        cpu, wall = (cpu_ns(agent.pid) - c0) / 1e9, time.time() - t0
        with open(alog.name) as f:
            sent = f.read()
        if "msg=registered" not in sent or "cannot send" in sent:
            raise RuntimeError("the agent did not deliver:\n" + sent[-2000:])
        with open("/proc/%d/maps" % agent.pid) as f:
            libs = sorted({ln.split()[-1] for ln in f if ".so" in ln})
        return {"seconds": wall, "cpu_s": cpu, "cpu_ms_per_interval": 1000 * cpu / wall,
                "shared_objects": len(libs),
                "rss_kib": rss_kib(agent.pid), "hwm_kib": rss_kib(agent.pid, "VmHWM"),
                "anon_kib": rss_kib(agent.pid, "RssAnon"), "file_kib": rss_kib(agent.pid, "RssFile"),
                "pss_kib": pss_kib(agent.pid)}
    finally:
        for p in (agent, srv):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--saba", default=os.path.join(os.path.dirname(__file__), "..", "..", "saba"))
    ap.add_argument("--agent", help="saba-agent (default: beside --saba), or a saba binary")
    ap.add_argument("--collections", type=int, default=1000)
    ap.add_argument("--daemon-seconds", type=int, default=30)
    a = ap.parse_args()
    saba = os.path.abspath(a.saba)
    agent = os.path.abspath(a.agent or os.path.join(os.path.dirname(saba), "saba-agent"))
    ne = node_exporter(a.collections)
    once = agent_once(agent, a.collections)
    daemon = agent_daemon(saba, agent, a.daemon_seconds)
    cpu_ratio = once["cpu_ms_per_collection"] / ne["cpu_ms_per_scrape"]
    rss_ratio = daemon["rss_kib"] / ne["rss_kib"]
    print("agent: `%s` (%d shared objects mapped as a daemon)"
          % (agent_name(agent), daemon["shared_objects"]))
    print()
    print("| measure | node_exporter | agent | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print("| CPU per scrape / collection (%d each) | %.2f ms | %.3f ms | %.3f× | ≤ 0.1× |"
          % (a.collections, ne["cpu_ms_per_scrape"], once["cpu_ms_per_collection"], cpu_ratio))
    print("| RSS (node_exporter after the scrapes; agent as a daemon) | %.1f MiB | %.1f MiB | %.3f× | ≤ 0.25× |"
          % (ne["rss_kib"] / 1024, daemon["rss_kib"] / 1024, rss_ratio))
    print("| agent daemon: CPU per 1 s interval incl. delivery | | %.3f ms | | |"
          % daemon["cpu_ms_per_interval"])
    print("| RSS: private (RssAnon) + shared libraries and text (RssFile) | %.1f + %.1f MiB | %.1f + %.1f MiB | %.3f× (private) | |"
          % (ne["anon_kib"] / 1024, ne["file_kib"] / 1024, daemon["anon_kib"] / 1024,
             daemon["file_kib"] / 1024, daemon["anon_kib"] / ne["anon_kib"]))
    print("| PSS (shared pages divided among their users) | %.1f MiB | %.1f MiB | %.3f× | |"
          % (ne["pss_kib"] / 1024, daemon["pss_kib"] / 1024, daemon["pss_kib"] / ne["pss_kib"]))
    print(json.dumps({"agent": agent_name(agent), "node_exporter": ne, "agent_once": once,
                      "agent_daemon": daemon,
                      "cpu_ratio": cpu_ratio, "rss_ratio": rss_ratio}))


if __name__ == "__main__":
    main()
