#!/usr/bin/env bash
# bench/slow_readers.sh: back-pressure. CLIENTS clients (20) each fetch a SIZE
# (1 GiB) response through proxyd, reading at RATE (100k per second, curl's
# --limit-rate); proxyd's VmRSS and the files in its TMPDIR are sampled every
# INTERVAL seconds for DURATION seconds (60). With back-pressure RSS stays flat
# and no file appears: proxyd holds at most upstream.buffer per request.
# Run from the top of the tree after `make`:  bench/slow_readers.sh
set -euo pipefail

CLIENTS=${CLIENTS:-20}
SIZE=${SIZE:-1073741824}
RATE=${RATE:-100k}
DURATION=${DURATION:-60}
INTERVAL=${INTERVAL:-5}
BUILDDIR=${BUILDDIR:-.}
. "$(dirname "$0")/lib.sh"

up=$(free_port); port=$(free_port)
"$BUILDDIR/t/upstream" -l "127.0.0.1:$up" 2>/dev/null & PIDS+=($!)
wait_port "$up"
mkdir "$TMP/spool"
printf 'bench: http://127.0.0.1:%s\n' "$up" >"$TMP/services.yaml"
printf 'listen: 127.0.0.1:%s\nthreads: 1\nregistry: services.yaml\nclient:\n  send_timeout: 10m\n' "$port" >"$TMP/proxyd.yaml"
TMPDIR="$TMP/spool" "$BUILDDIR/proxyd/proxyd" -c "$TMP/proxyd.yaml" 2>"$TMP/proxyd.log" & proxyd=$!
PIDS+=($proxyd)
wait_port "$port"

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
echo "proxyd VmRSS before: $(rss $proxyd) KiB"
for _ in $(seq "$CLIENTS"); do
    curl -s --limit-rate "$RATE" -o /dev/null "http://127.0.0.1:$port/bench/big?size=$SIZE" & PIDS+=($!)
done
echo "$CLIENTS clients reading $SIZE bytes each at $RATE/s:"
printf '%8s %12s %14s\n' seconds 'VmRSS KiB' 'TMPDIR files'
for t in $(seq "$INTERVAL" "$INTERVAL" "$DURATION"); do
    sleep "$INTERVAL"
    printf '%8s %12s %14s\n' "$t" "$(rss $proxyd)" "$(find "$TMP/spool" -type f | wc -l)"
done
