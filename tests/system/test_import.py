"""saba import (--data and --server, three formats) and saba tsdb inspect."""
import os
import pty
import re
import subprocess
import time

from conftest import SABA_BIN, shutdown

HOUR = 3600


def make_files(d, t0):
    lp = os.path.join(d, "a.lp")
    with open(lp, "w") as f:
        for m in range(600):
            for s in range(4):
                f.write("imp,host=h%d v=%d %d\n" % (s, m * 3 + s, t0 + m * 60))
    prom = os.path.join(d, "b.prom")
    with open(prom, "w") as f:
        f.write("# HELP p_total a counter\n# TYPE p_total counter\n")
        for m in range(600):
            f.write('p_total{path="/x \\"y\\""} %d %d\n' % (m, (t0 + m * 60) * 1000))
    csv = os.path.join(d, "c.csv")
    with open(csv, "w") as f:
        f.write("time,name,value,host\n")
        for m in range(600):
            f.write('%d,c_metric,%d.5,"h,1"\n' % (t0 + m * 60, m))
    return [lp, prom, csv]


def run(*args, **kw):
    return subprocess.run([SABA_BIN] + list(args), capture_output=True, text=True, timeout=120,
                          **kw)


def check_imported(srv, t0):
    end = t0 + 600 * 60
    r = srv.query("count_over_time(imp_v[%ds])" % (700 * 60), end)
    assert sorted(s["value"][1] for s in r.json()["data"]["result"]) == ["600"] * 4, r.body
    raw = srv.raw('p_total', end, "%ds" % (700 * 60))
    (key, vals), = raw.items()
    assert dict(key) == {"__name__": "p_total", "path": '/x "y"'}
    assert vals[-1] == (float(t0 + 599 * 60), "599")
    raw = srv.raw('c_metric', end, "%ds" % (700 * 60))
    (key, vals), = raw.items()
    assert dict(key) == {"__name__": "c_metric", "host": "h,1"}
    assert len(vals) == 600 and vals[1] == (float(t0 + 60), "1.5")


def test_import_data_dir_then_serve_and_inspect(make_saba, tmp_path):
    t0 = (int(time.time()) - 3 * 24 * HOUR) // HOUR * HOUR
    files = make_files(str(tmp_path), t0)
    data = str(tmp_path / "data")
    r = run("import", "--data", data, "--precision", "s", *files)
    assert r.returncode == 0, r.stderr
    assert re.match(r"imported 3600 samples from 3 files", r.stdout), r.stdout
    assert "ETA" not in r.stderr  # no progress bar when stderr is not a terminal
    blocks = os.listdir(os.path.join(data, "blocks"))
    assert len(blocks) == 1, blocks
    srv = make_saba(data_dir=data)
    check_imported(srv, t0)
    # the directory is locked while the server runs
    r = run("import", "--data", data, files[2])
    assert r.returncode == 1 and "in use by another saba process" in r.stderr, r.stderr
    # inspect works beside the running server
    r = run("tsdb", "inspect", data)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^%s\s+raw\s+\S+\s+\S+\s+6\s+3600\s" % blocks[0], r.stdout, re.M), r.stdout
    assert re.search(r"^\s+host\s+5$", r.stdout, re.M), r.stdout
    assert "bytes/sample" in r.stdout


def test_import_to_server(make_saba, tmp_path):
    t0 = (int(time.time()) - 2 * 24 * HOUR) // HOUR * HOUR
    files = make_files(str(tmp_path), t0)
    srv = make_saba()
    r = run("import", "--server", srv.http, "--precision", "s", *files)
    assert r.returncode == 0, r.stderr
    assert "imported 3600 samples" in r.stdout
    check_imported(srv, t0)


def test_import_bad_input_names_file_and_line(make_saba, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,name,value\n1732250000,x,1\n1732250060,x,oops\n")
    r = run("import", "--data", str(tmp_path / "d"), str(bad))
    assert r.returncode == 1
    assert "bad.csv:3: invalid value \"oops\"" in r.stderr, r.stderr
    srv = make_saba()
    r = run("import", "--server", srv.http, str(bad))
    assert r.returncode == 1 and "bad.csv:3:" in r.stderr, r.stderr
    bad = tmp_path / "bad.prom"
    bad.write_text("ok 1 1732250000000\nbad{x=1} 2\n")
    r = run("import", "--data", str(tmp_path / "d"), str(bad))
    assert r.returncode == 1 and "bad.prom:2:" in r.stderr, r.stderr
    r = run("import", "--data", str(tmp_path / "d"), str(tmp_path / "missing.lp"))
    assert r.returncode == 1 and "missing.lp" in r.stderr
    r = run("import", str(bad))
    assert r.returncode == 2 and "usage" in r.stderr
    r = run("tsdb", "inspect", str(tmp_path / "nope"))
    assert r.returncode == 1 and "no such directory" in r.stderr


def test_import_progress_bar_on_a_terminal(tmp_path):
    t0 = (int(time.time()) - 2 * 24 * HOUR) // HOUR * HOUR
    files = make_files(str(tmp_path), t0)
    master, slave = pty.openpty()
    p = subprocess.Popen([SABA_BIN, "import", "--data", str(tmp_path / "d"), "--precision", "s"]
                         + files, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(60)
    os.close(master)
    assert p.returncode == 0
    text = out.decode()
    assert "100%" in text and "ETA" in text and "samples/s" in text, text
