"""Helpers for the agent's system tests: run the agent against a test
server, parse Prometheus text, wait for conditions.

The agent is `saba agent` (the full binary) unless a test module asks for
both with `pytestmark = pytest.mark.usefixtures("agent_binary")`: then each
of its tests runs once with `saba agent` and once with the lean `saba-agent`
(SABA_AGENT_BIN, default: saba-agent beside SABA_BIN), whose http:// goes
through libevent's evhttp instead of libcurl."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import SABA_BIN

SABA_AGENT_BIN = os.environ.get("SABA_AGENT_BIN",
                                os.path.join(os.path.dirname(SABA_BIN), "saba-agent"))
AGENTS = {"saba_agent": [SABA_BIN, "agent"], "saba-agent": [SABA_AGENT_BIN]}
agent_cmd = AGENTS["saba_agent"]  # the agent under test; see agent_binary


@pytest.fixture(params=list(AGENTS))
def agent_binary(request):
    """Run the test with each agent binary in turn."""
    global agent_cmd
    saved = agent_cmd
    agent_cmd = AGENTS[request.param]
    try:
        yield request.param
    finally:
        agent_cmd = saved

LINE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:.\-]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_prom(text, drop=("host",)):
    """{(name, frozenset(labels)): float} from Prometheus text; labels with empty
    values are dropped (Prometheus treats them as absent), as are those in drop."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "unparsable exposition line: %r" % line
        labels = {}
        if m.group(3):
            for k, v in LABEL.findall(m.group(3)):
                v = v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                if v and k not in drop:
                    labels[k] = v
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def wait_for(cond, timeout=30, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Agent:
    """One agent process (agent_cmd) with its own state directory and log."""

    def __init__(self, tmp_path, server, config=None, args=(), name="agent"):
        self.dir = str(tmp_path / name)
        os.makedirs(self.dir, exist_ok=True)
        self.state = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.cmd = agent_cmd + ["--state-dir", self.state]
        if server is not None:
            self.cmd += ["--server", server.http if hasattr(server, "http") else server]
        if config is not None:
            path = os.path.join(self.dir, "agent.yml")
            with open(path, "w") as f:
                f.write(config)
            self.cmd += ["--config", path]
        self.cmd += list(args)
        self.proc = None

    def start(self):
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf, stderr=self.logf)
        return self

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=30):
        """SIGTERM and require a clean exit (LeakSanitizer reports at exit)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        self.logf.close()
        assert self.proc.returncode == 0, "agent exited %s:\n%s" % (
            self.proc.returncode, self.log()[-4000:])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def host_id(self):
        p = os.path.join(self.state, "host_id")
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return f.read().strip()


def run_agent(args, timeout=60, check=True):
    r = subprocess.run(agent_cmd + list(args), capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "saba agent %s: exit %d\n%s" % (args, r.returncode, r.stderr)
    return r
