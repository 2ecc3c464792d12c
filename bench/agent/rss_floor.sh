#!/bin/sh
# Build bench/agent/rss_floor.c against the release objects twice (with and
# without libcurl linked) and print each one's RSS. Run `make saba` first.
#   bench/agent/rss_floor.sh
set -eu
cd "$(dirname "$0")/../.."
O=build/release/obj/src
OBJS="$O/agent/collect.o $O/agent/cpu.o $O/agent/loadavg.o $O/agent/meminfo.o $O/agent/filesystem.o
  $O/agent/diskstats.o $O/agent/netdev.o $O/agent/netstat.o $O/agent/sockstat.o $O/agent/uname.o
  $O/agent/clock.o $O/agent/mset.o $O/base/*.o $O/storage/labels.o"
out=$(mktemp -d)
# shellcheck disable=SC2086
cc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/agent/rss_floor.c $OBJS -o "$out/floor" \
  $(pkg-config --libs libpcre2-8 zlib) -lm -pthread
# shellcheck disable=SC2086
cc -std=c17 -D_GNU_SOURCE -O2 -Isrc -DWITH_CURL bench/agent/rss_floor.c $OBJS $O/agent/client.o \
  -o "$out/floor-curl" $(pkg-config --libs libpcre2-8 zlib libcurl) -lm -pthread
echo "collectors + JSON + gzip, without libcurl ($(ldd "$out/floor" | wc -l) shared objects):"
"$out/floor"
echo "the same with libcurl linked, not called ($(ldd "$out/floor-curl" | wc -l) shared objects):"
"$out/floor-curl"
rm -rf "$out"
