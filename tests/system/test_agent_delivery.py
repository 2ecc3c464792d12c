"""What the agent puts on the wire, against a scripted HTTP server on
loopback: the API key header, gzip-compressed saba JSON, retries after 5xx
in the original order, and a 400 answer dropping only the refused batch."""
import gzip
import http.server
import json
import os
import threading
import time

import pytest

from agentlib import agent_binary, Agent, wait_for  # noqa: F401 (a fixture)

# every test here runs with `saba agent` and with the lean `saba-agent`
pytestmark = pytest.mark.usefixtures("agent_binary")


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers /api/v0/hosts with an id; /api/v0/metrics with the next status
    of the server's script (then 200), recording every metrics request."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        if self.path == "/api/v0/hosts":
            self.reply(201, b'{"id":"fakeHost0001","created":true}')
            return
        if self.path.startswith("/api/v0/hosts/"):
            self.reply(200, b'{"success":true}')
            return
        with srv.lock:
            status = srv.script.pop(0) if srv.script else 200
            srv.requests.append({"status": status, "headers": dict(self.headers), "body": body,
                                 "at": time.time()})
        self.reply(status, b'{"error":"scripted"}' if status >= 300 else b'{"success":true}')

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.lock = threading.Lock()
    srv.requests = []
    srv.script = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def batch_time(req):
    items = json.loads(gzip.decompress(req["body"]))
    times = {it["time"] for it in items}
    assert len(times) == 1, "one batch is one collection"
    return times.pop(), items


def test_api_key_gzip_retry_order_and_refused_batches(fake_server, tmp_path):
    # 400 for the first batch (dropped), then 503 three times (kept and retried)
    fake_server.script = [400, 503, 503, 503]
    url = "http://127.0.0.1:%d" % fake_server.server_address[1]
    a = Agent(tmp_path, url, config="interval: 1s\nhost: {name: wire-host}\n",
              args=["--api-key", "secret-key-1"]).start()
    try:
        wait_for(lambda: len([r for r in fake_server.requests if r["status"] == 200]) >= 5,
                 timeout=60, what="five accepted batches")
    finally:
        a.stop()
    reqs = list(fake_server.requests)
    for r in reqs:
        assert r["headers"]["X-Api-Key"] == "secret-key-1"
        assert r["headers"]["Content-Encoding"] == "gzip"
        assert r["headers"]["Content-Type"] == "application/json"
    t0, items = batch_time(reqs[0])
    assert reqs[0]["status"] == 400
    names = {it["name"] for it in items}
    assert {"node_load1", "node_cpu_seconds_total", "node_memory_MemTotal_bytes"} <= names
    assert all(it["labels"]["host"] == "wire-host" for it in items)
    # the three 503s were for the same (second) batch, retried until accepted
    t1 = batch_time(reqs[1])[0]
    assert [batch_time(r)[0] for r in reqs[1:5]] == [t1] * 4
    assert [r["status"] for r in reqs[1:5]] == [503, 503, 503, 200]
    # accepted batches: each collection once, in time order, the refused one never again
    accepted = [batch_time(r)[0] for r in reqs if r["status"] == 200]
    assert accepted == sorted(accepted) and len(set(accepted)) == len(accepted)
    assert t0 not in accepted and t1 == accepted[0]
    # retries back off (1 s, 2 s, ... jittered to 50-100 %): the 503s were not hammered
    at = [r["at"] for r in reqs[1:5]]
    assert all(b - a_ >= 0.45 for a_, b in zip(at, at[1:])), at
    log = a.log()
    assert "cannot send metrics; keeping them" in log and "server refused a batch" in log


def test_plugin_runs_as_another_user(make_saba, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    s = make_saba()
    cfg = ("interval: 1s\nhost: {name: user-host}\nplugins:\n"
           "  - {name: who, command: [sh, -c, 'echo plugin_uid $(id -u)'], user: nobody}\n")
    a = Agent(tmp_path, s, config=cfg).start()
    try:
        def uid():
            res = s.query('plugin_uid{host="user-host"}').json()["data"]["result"]
            return res and res[0]["value"][1]
        import pwd
        assert wait_for(uid, what="plugin metric") == str(pwd.getpwnam("nobody").pw_uid)
    finally:
        a.stop()
