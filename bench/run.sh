#!/bin/sh
# `make bench`: saba against VictoriaMetrics, Prometheus and InfluxDB, side by
# side on the same generated data (see README.md here). Extra arguments go to
# peers.py, e.g. ./run.sh --rounds 1 --hc-rounds 0.
set -eu
cd "$(dirname "$0")"
../scripts/bootstrap --check --bench >/dev/null 2>&1 || ../scripts/bootstrap --bench
SABA_BIN="$(cd .. && pwd)/saba"
export SABA_BIN
exec ./peers.sh --targets saba-lp,saba-graphite,vm-lp,prometheus,influxdb "$@"
