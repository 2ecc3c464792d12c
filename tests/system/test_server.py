"""The server process: flags, config, health endpoints, signals, data-dir lock, restart."""
import os
import signal
import socket
import subprocess
import time

from conftest import SABA_BIN, Saba


def test_healthy_and_ready(saba):
    r = saba.get("/-/healthy")
    assert r.status == 200 and "Healthy" in r.body
    r = saba.get("/-/ready")
    assert r.status == 200 and "Ready" in r.body


def test_port_zero_logs_chosen_ports(saba):
    log = saba.log()
    assert "sub=http msg=listening addr=127.0.0.1:" in log
    assert "sub=graphite msg=listening addr=127.0.0.1:" in log
    assert not saba.http.endswith(":0")


def test_unknown_route_and_method(saba):
    assert saba.get("/nope").status == 404
    assert saba.request("DELETE", "/api/v1/query").status == 405


def test_sigterm_exits_zero_and_keeps_data(saba):
    t = int(time.time()) - 60
    assert saba.write_lp("m,host=a v=1 %d" % t, precision="s").status == 204
    assert saba.stop(signal.SIGTERM) == 0
    assert "msg=stopped" in saba.log()
    saba.start()
    r = saba.query("m_v", t)
    assert r.json()["data"]["result"][0]["value"][1] == "1"


def test_sigint_exits_zero(saba):
    assert saba.stop(signal.SIGINT) == 0


def test_second_server_on_same_data_dir_is_refused(saba, datadir):
    p = subprocess.run([SABA_BIN, "server", "--data", datadir, "--listen", "127.0.0.1:0",
                        "--graphite-listen", ""], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "in use by another saba process" in p.stderr
    assert str(saba.proc.pid) in p.stderr


def test_config_file_sets_listeners_and_options(make_saba, tmp_path):
    # pick a free port for the config file to name explicitly
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = """
listen: "127.0.0.1:%d"
graphite_listen: ""
log_level: debug
wal:
  fsync: always
query:
  lookback_delta: 1m
limits:
  max_body_size: 2KiB
""" % port
    srv = Saba(str(tmp_path / "d"), config=cfg)
    # flags given by the fixture would override listen; start by hand with only --config
    path = str(tmp_path / "saba.yml")
    with open(path, "w") as f:
        f.write(cfg)
    log = open(str(tmp_path / "log.txt"), "w")
    p = subprocess.Popen([SABA_BIN, "server", "--config", path, "--data", str(tmp_path / "d")],
                         stdout=log, stderr=log)
    try:
        srv.proc = p
        srv.log_path = str(tmp_path / "log.txt")
        srv.http = "http://127.0.0.1:%d" % port
        deadline = time.time() + 20
        while "msg=ready" not in srv.log():
            assert time.time() < deadline, srv.log()
            assert p.poll() is None, srv.log()
            time.sleep(0.05)
        assert "fsync=always" in srv.log()
        assert "sub=graphite msg=listening" not in srv.log()
        # max_body_size 2KiB -> 413
        big = "m v=1\n" * 1000
        assert srv.write_lp(big).status == 413
        # lookback_delta 1m: a sample 90 s old is out of reach
        t = int(time.time())
        assert srv.write_lp("lb v=1 %d" % (t - 90), precision="s").status == 204
        assert srv.query("lb_v", t).json()["data"]["result"] == []
        assert len(srv.query("lb_v", t - 60).json()["data"]["result"]) == 1
    finally:
        p.kill()
        p.wait()


def test_flags_override_config(make_saba, tmp_path):
    cfg = 'listen: "127.0.0.1:1"\n'  # port 1 cannot be bound; the flag must win
    s = make_saba(config=cfg)
    assert s.get("/-/healthy").status == 200


def run_server(*args, timeout=20):
    return subprocess.run([SABA_BIN, "server"] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def test_bad_config_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("listen: 127.0.0.1:0\nwal:\n  fsink: always\n")
    p = run_server("--config", str(path), "--data", str(tmp_path / "d"))
    assert p.returncode != 0
    assert "bad.yml:3" in p.stderr and 'unknown setting "wal.fsink"' in p.stderr

    path.write_text("wal:\n  fsync: sometimes\n")
    p = run_server("--config", str(path), "--data", str(tmp_path / "d"))
    assert p.returncode != 0 and "wal.fsync" in p.stderr and "sometimes" in p.stderr

    path.write_text("listen: [unclosed\n")
    p = run_server("--config", str(path), "--data", str(tmp_path / "d"))
    assert p.returncode != 0 and "invalid YAML" in p.stderr

    p = run_server("--config", str(tmp_path / "missing.yml"))
    assert p.returncode != 0 and "missing.yml" in p.stderr


def test_bad_flags(tmp_path):
    p = run_server("--bogus")
    assert p.returncode == 2 and "usage" in p.stderr
    p = run_server("--fsync", "sometimes", "--data", str(tmp_path / "d"))
    assert p.returncode == 2 and "--fsync" in p.stderr
    p = run_server("--listen", "nonsense", "--data", str(tmp_path / "d"))
    assert p.returncode != 0 and "nonsense" in p.stderr


def test_busy_port_is_a_clear_error(saba, tmp_path):
    port = saba.http.rsplit(":", 1)[1]
    p = run_server("--listen", "127.0.0.1:" + port, "--graphite-listen", "",
                   "--data", str(tmp_path / "other"))
    assert p.returncode != 0 and "cannot listen on 127.0.0.1:" + port in p.stderr


def test_help_and_version():
    p = subprocess.run([SABA_BIN, "help"], capture_output=True, text=True)
    assert p.returncode == 0 and "server" in p.stdout
    p = subprocess.run([SABA_BIN, "version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("saba ")
    p = subprocess.run([SABA_BIN, "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = subprocess.run([SABA_BIN, "server", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--graphite-listen" in p.stdout


def test_self_metrics(saba):
    t = int(time.time()) - 10
    saba.write_lp("a v=1,w=2 %d" % t, precision="s")
    assert saba.metric('saba_ingested_samples_total{protocol="influx"}') == 2
    assert saba.metric("saba_head_series") == 2
    assert saba.metric("saba_wal_bytes") > 0


def test_config_ranges_are_enforced(tmp_path):
    path = tmp_path / "range.yml"
    # the WAL record and the head hold at most 256 labels per series
    path.write_text("limits:\n  max_labels_per_series: 300\n")
    p = run_server("--config", str(path), "--data", str(tmp_path / "d"))
    assert p.returncode != 0
    assert "range.yml:2" in p.stderr and "from 2 to 256" in p.stderr
