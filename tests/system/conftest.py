"""Fixtures for system tests: a real `saba server` on a free loopback port.

SABA_BIN names the binary under test (default: ./saba at the repo root). Each
server gets a fresh data directory, listens on port 0 (the kernel picks a free
port) and the tests read the chosen ports from its log, so tests can run in
parallel with anything else on the machine.
"""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SABA_BIN = os.environ.get("SABA_BIN", os.path.join(ROOT, "saba"))


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)


class Saba:
    """One server process and helpers to talk to it."""

    def __init__(self, data_dir, args=(), config=None, start_timeout=30, env=None):
        self.data_dir = data_dir
        self.env = env  # extra environment variables for the server process
        self.args = list(args)
        self.config = config
        self.start_timeout = start_timeout
        self.proc = None
        self.http = None
        self.graphite = None
        self.log_path = None
        self.config_path = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, wait_ready=True):
        cmd = [SABA_BIN, "server", "--data", self.data_dir, "--listen", "127.0.0.1:0",
               "--graphite-listen", "127.0.0.1:0"]
        if self.config is not None:
            path = os.path.join(os.path.dirname(self.data_dir), "saba-%d.yml" % id(self))
            with open(path, "w") as f:
                f.write(self.config)
            self.config_path = path
            cmd += ["--config", path]
        cmd += self.args
        # the log lives beside the data directory, in pytest's tmp_path
        parent = os.path.dirname(os.path.abspath(self.data_dir))
        os.makedirs(parent, exist_ok=True)
        fd, self.log_path = tempfile.mkstemp(prefix="saba-log-", suffix=".txt", dir=parent)
        os.close(fd)
        self.log_file = open(self.log_path, "w")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=self.log_file, env=env)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            log = self.log()
            m = re.search(r"sub=http msg=listening addr=([\d.]+):(\d+)", log)
            g = re.search(r"sub=graphite msg=listening addr=([\d.]+):(\d+)", log)
            if m:
                self.http = "http://127.0.0.1:%s" % m.group(2)
            if g:
                self.graphite = int(g.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError("saba exited with %s:\n%s" % (self.proc.returncode, log))
            if self.http and (not wait_ready or "msg=ready" in log):
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("saba did not start:\n" + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    # -- HTTP ----------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, params=None, timeout=30):
        url = self.http + path
        if params:
            url += ("&" if "?" in path else "?") + urllib.parse.urlencode(params, doseq=True)
        if isinstance(body, str):
            body = body.encode()
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.read().decode(), dict(r.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode(), dict(e.headers))

    def get(self, path, **params):
        return self.request("GET", path, params=params or None)

    def write_lp(self, body, precision=None, path="/write", headers=None, params=None):
        p = dict(params or {})
        if precision:
            p["precision"] = precision
        return self.request("POST", path, body=body, headers=headers, params=p or None)

    def write_json(self, items):
        return self.request("POST", "/api/v0/metrics", body=json.dumps(items),
                            headers={"Content-Type": "application/json"})

    def graphite_send(self, data):
        with socket.create_connection(("127.0.0.1", self.graphite), timeout=10) as s:
            s.sendall(data.encode() if isinstance(data, str) else data)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)  # wait for the server to close: every line has been handled

    def query(self, q, t=None):
        params = {"query": q}
        if t is not None:
            params["time"] = t
        return self.get("/api/v1/query", **params)

    def query_range(self, q, start, end, step):
        return self.get("/api/v1/query_range", query=q, start=start, end=end, step=step)

    def values(self, q, start, end, step=1):
        """{labels-tuple: [(t, value_str), ...]} from a range query that must succeed."""
        r = self.query_range(q, start, end, step)
        assert r.status == 200, r.body
        out = {}
        for s in r.json()["data"]["result"]:
            out[tuple(sorted(s["metric"].items()))] = [(float(t), v) for t, v in s["values"]]
        return out

    def raw(self, selector, t, window="1h"):
        """Raw samples of a selector in (t-window, t] via a range-vector instant query."""
        r = self.query("%s[%s]" % (selector, window), t)
        assert r.status == 200, r.body
        return {tuple(sorted(s["metric"].items())): [(float(a), b) for a, b in s["values"]]
                for s in r.json()["data"]["result"]}

    def metric(self, name):
        body = self.get("/metrics").body
        total = 0.0
        found = False
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        assert found, "metric %s not exported" % name
        return total


@pytest.fixture
def datadir(tmp_path):
    d = tmp_path / "data"
    return str(d)


def shutdown(s):
    """Stop a server that is still running with SIGTERM and require exit status 0:
    under AddressSanitizer this is where LeakSanitizer reports leaks."""
    if s.proc and s.proc.poll() is None:
        rc = s.stop()
        assert rc == 0, "saba exited with %s on SIGTERM:\n%s" % (rc, s.log()[-4000:])


@pytest.fixture
def saba(datadir):
    s = Saba(datadir).start()
    yield s
    shutdown(s)


@pytest.fixture
def make_saba(tmp_path):
    """Factory for servers with custom args/config; all are killed at the end."""
    made = []

    def factory(data_dir=None, args=(), config=None, start=True, wait_ready=True, env=None):
        s = Saba(data_dir or str(tmp_path / ("data%d" % len(made))), args=args, config=config,
                 env=env)
        made.append(s)
        if start:
            s.start(wait_ready=wait_ready)
        return s

    yield factory
    for s in made:
        shutdown(s)


def gz(text):
    return gzip.compress(text.encode())
