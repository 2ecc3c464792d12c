#!/bin/sh
# `make bench-promql`: PromQL query latency and remote_write ingest of saba,
# Prometheus and VictoriaMetrics side by side (see ../README.md, "PromQL
# benchmark").  Extra arguments go to bench.py, e.g.
#   bench/promql/run.sh --hosts 200 --passes 1
set -eu
cd "$(dirname "$0")"
../../scripts/bootstrap --check --bench >/dev/null 2>&1 || ../../scripts/bootstrap --bench
make -s -C ..
[ -x ../../saba ] || make -s -C ../.. saba
exec /usr/bin/python3 bench.py --saba "$(cd ../.. && pwd)/saba" "$@"
