#!/bin/sh
# demo/run.sh: runs the workshop demo: the weather and auth services and proxyd on conf/.
# Build first (see README.md). Ctrl-C stops all three.
set -eu
cd "$(dirname "$0")/.."
for prog in proxyd/proxyd demo/weather demo/auth; do
    [ -x "$prog" ] || { echo "$prog is not built: run autoreconf -fi && ./configure && make" >&2; exit 1; }
done
proxyd/proxyd -t -c conf/proxyd.yaml
demo/weather -l 127.0.0.1:9001 &
weather=$!
demo/auth -l 127.0.0.1:9002 &
auth=$!
trap 'kill "$weather" "$auth" 2>/dev/null; wait' EXIT
trap 'exit 0' INT TERM
echo "demo: try  curl http://127.0.0.1:8080/weather/today" >&2
proxyd/proxyd -c conf/proxyd.yaml &
proxyd=$!
trap 'kill "$proxyd" "$weather" "$auth" 2>/dev/null; wait' EXIT
wait "$proxyd"
