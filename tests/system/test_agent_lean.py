"""The lean `saba-agent` binary itself: what it links, the same output as
`saba agent once`, libevent's evhttp for http:// with no libcurl mapped, and
libcurl loaded with dlopen only for an https:// server. (Everything else the
agent does is tested with both binaries in test_agent.py and
test_agent_delivery.py.)"""
import os
import socket
import subprocess
import threading

import pytest

import agentlib
from agentlib import AGENTS, SABA_AGENT_BIN, Agent, parse_prom, wait_for

# what the full binary links and the lean one must not
SERVER_LIBS = ("libcurl", "libmicrohttpd", "libsqlite3", "libssl", "libcrypto", "libgnutls",
               "libprotobuf-c", "libsnappy", "libzstd")


@pytest.fixture
def lean():
    """The lean binary as the agent under test (agentlib.Agent, run_agent)."""
    saved = agentlib.agent_cmd
    agentlib.agent_cmd = AGENTS["saba-agent"]
    try:
        yield
    finally:
        agentlib.agent_cmd = saved


def mapped(pid, name):
    with open("/proc/%d/maps" % pid) as f:
        return [line.split()[-1] for line in f if name in line]


def test_links_none_of_the_servers_libraries():
    out = subprocess.run(["ldd", SABA_AGENT_BIN], capture_output=True, text=True,
                         check=True).stdout
    assert "libevent_extra" in out and "libevent_core" in out
    for lib in SERVER_LIBS:
        assert lib not in out, "saba-agent links %s:\n%s" % (lib, out)
    # double-conversion's bit of libstdc++ is linked statically (the shared
    # library is ~1 MiB of RSS); the sanitizers' runtime brings it back
    if "libasan" not in out:
        assert "libstdc++" not in out, out
    r = subprocess.run([SABA_AGENT_BIN, "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("saba-agent ")


def test_once_prints_what_saba_agent_once_prints():
    def series(cmd):
        r = subprocess.run(cmd + ["once", "--host", "same-host"], capture_output=True, text=True,
                           timeout=60, check=True)
        return set(parse_prom(r.stdout, drop=()))
    full, lean_ = series(AGENTS["saba_agent"]), series(AGENTS["saba-agent"])
    assert len(full) > 50
    # the same series (names and label sets); a network interface or mount
    # appearing between the two runs would be a real difference, not a flake
    # this machine shows
    assert full == lean_, (sorted(full - lean_)[:5], sorted(lean_ - full)[:5])
    r = subprocess.run(AGENTS["saba-agent"] + ["--server", "ftp://x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "not an http" in r.stderr


def test_http_goes_through_evhttp_without_libcurl(saba, tmp_path, lean):
    a = Agent(tmp_path, saba, config="interval: 1s\nhost: {name: lean-host}\n").start()
    try:
        wait_for(lambda: saba.query('node_load1{host="lean-host"}').json()["data"]["result"],
                 what="metrics from saba-agent")
        assert "transport=evhttp" in a.log()
        for lib in SERVER_LIBS:
            assert not mapped(a.proc.pid, lib), (lib, mapped(a.proc.pid, lib))
    finally:
        a.stop()


def test_https_loads_libcurl_only_then(tmp_path, lean):
    """An https:// server: libcurl is loaded and speaks TLS. The listener here
    is not a TLS server (it closes each connection), so the handshake fails,
    which the agent logs and retries."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    hits = []

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            hits.append(c.recv(1)[:1])  # the first byte of a TLS ClientHello is 0x16
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    url = "https://127.0.0.1:%d" % ls.getsockname()[1]
    a = Agent(tmp_path, url, config="interval: 1s\nhost: {name: tls-host}\n").start()
    try:
        wait_for(lambda: "registration failed" in a.log(), what="a failed TLS registration")
        assert "transport=curl" in a.log()
        assert mapped(a.proc.pid, "libcurl"), "libcurl not loaded for https://"
        assert b"\x16" in hits, hits  # it spoke TLS, not plain HTTP
    finally:
        a.stop()
        ls.close()
