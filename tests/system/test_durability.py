"""kill -9 at random moments: every acknowledged sample survives, nothing is half-written.

A writer sends batches (one per request) with fsync "always"; each batch
carries a unique id as both label and value. The server is SIGKILLed at a
random moment while requests are in flight, restarted, and then:
  - every batch that got a 2xx is fully present with the right values;
  - every other batch is either fully present or fully absent (a WAL record
    is one batch, so a batch is never half-applied).
"""
import random
import threading
import time

ITERATIONS = 12
SERIES_PER_BATCH = 20


def writer(saba, start_id, acked, sent, stop, t0):
    bid = start_id
    while not stop.is_set():
        body = "\n".join("dur,s=%d,b=%d v=%d %d" % (k, bid, bid, t0 + bid)
                         for k in range(SERIES_PER_BATCH))
        sent.append(bid)
        try:
            r = saba.write_lp(body, precision="s")
            if r.status == 204:
                acked.add(bid)
        except Exception:
            pass  # the server died mid-request: not acknowledged
        bid += 1


def batches_present(saba, t0, max_id):
    """{batch id: number of samples present with the right value}."""
    r = saba.query("dur_v[%ds]" % (max_id + 1), t0 + max_id)
    assert r.status == 200, r.body
    count = {}
    for s in r.json()["data"]["result"]:
        bid = int(s["metric"]["b"])
        assert s["values"] == [[t0 + bid, str(bid)]], s
        count[bid] = count.get(bid, 0) + 1
    return count


def test_kill9_loses_nothing_acknowledged(make_saba):
    rng = random.Random(1234)
    t0 = int(time.time()) - 4 * 3600
    srv = make_saba(args=["--fsync", "always"])
    acked, sent = set(), []
    next_id = 0
    for it in range(ITERATIONS):
        stop = threading.Event()
        th = threading.Thread(target=writer, args=(srv, next_id, acked, sent, stop, t0))
        th.start()
        time.sleep(rng.uniform(0.05, 0.6))
        srv.kill()  # SIGKILL while the writer is busy
        stop.set()
        th.join()
        next_id = max(sent) + 1
        srv.start()
        present = batches_present(srv, t0, next_id)
        lost = [b for b in acked if present.get(b) != SERIES_PER_BATCH]
        assert not lost, "acknowledged batches lost after kill -9 #%d: %s" % (it, lost[:10])
        partial = {b: n for b, n in present.items() if n != SERIES_PER_BATCH}
        assert not partial, "half-applied batches: %s" % partial
    assert len(acked) > ITERATIONS * 5, "the writer should have got many acknowledgements"
    assert "WAL replayed" in srv.log()
