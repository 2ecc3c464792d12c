"""Helpers for tests against the real Prometheus: start Debian's `prometheus`
on a free loopback port, and encode remote-write requests.

The WriteRequest encoder is a few lines of protobuf wire format written from
the remote-write spec (so the tests do not depend on saba's own decoder to
produce their input); python3-snappy does the block compression.
"""
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import snappy

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """One Prometheus server with its own data directory, stopped by PID."""

    def __init__(self, workdir, config="global: {}\n", args=()):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.args = list(args)
        self.proc = None

    def start(self, timeout=60):
        cmd = [PROMETHEUS, "--config.file=" + self.config_path,
               "--web.listen-address=127.0.0.1:%d" % self.port,
               "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
               "--web.enable-remote-write-receiver"] + self.args
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + open(self.log_path).read())
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus did not become ready:\n" + open(self.log_path).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path, params):
        url = self.url + path + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


# -- remote write encoding -----------------------------------------------------

def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def encode_write_request(series):
    """series: [(labels dict, [(t_ms, value), ...]), ...] -> snappy-compressed WriteRequest."""
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name in sorted(labels):
            ts += _field(1, _field(1, name.encode()) + _field(2, str(labels[name]).encode()))
        for t, v in samples:
            ts += _field(2, b"\x09" + struct.pack("<d", v) + b"\x10" + _varint(int(t)))
        out += _field(1, bytes(ts))
    return snappy.compress(bytes(out))


def remote_write(url, series, timeout=60):
    """POST a WriteRequest; returns (status, body)."""
    req = urllib.request.Request(url, data=encode_write_request(series), method="POST", headers={
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    })
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
