#!/bin/sh
# demo/run.sh: runs the workshop demo: the weather and auth services and proxyd on conf/.
# Build first (see README.md). Ctrl-C stops all three.
set -eu
cd "$(dirname "$0")/.."
bin=${PROXYD_BUILDDIR:-.}   # where make put the programs (another folder for VPATH builds)
for prog in proxyd/proxyd demo/weather demo/auth; do
    [ -x "$bin/$prog" ] || { echo "$bin/$prog is not built: run autoreconf -fi && ./configure && make" >&2; exit 1; }
done
"$bin/proxyd/proxyd" -t -c conf/proxyd.yaml
"$bin/demo/weather" -l 127.0.0.1:9001 &
weather=$!
"$bin/demo/auth" -l 127.0.0.1:9002 &
auth=$!
trap 'kill "$weather" "$auth" 2>/dev/null; wait' EXIT
trap 'exit 0' INT TERM
echo "demo: try  curl 'http://127.0.0.1:8080/weather/today?key=supersecret'" >&2
"$bin/proxyd/proxyd" -c conf/proxyd.yaml &
proxyd=$!
trap 'kill "$proxyd" "$weather" "$auth" 2>/dev/null; wait' EXIT
wait "$proxyd"
